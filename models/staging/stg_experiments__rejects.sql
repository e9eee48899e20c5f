-- Rows of raw_experiments that could not be staged, as delivered (trimmed), with the reason.

with

ledger as (

    select * from {{ ref('base_experiments') }}

),

final as (

    select
        experiment_id,
        start_at_text,
        end_at_text,
        delivery_rank,
        reject_reason

    from ledger
    where row_status = 'rejected'

)

select * from final
