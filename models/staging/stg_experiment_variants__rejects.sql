-- Rows of raw_experiment_variants that could not be staged, as delivered (trimmed), with the reason.

with

ledger as (

    select * from {{ ref('base_experiment_variants') }}

),

final as (

    select
        experiment_id,
        variant,
        is_control_text,
        traffic_share_text,
        delivery_rank,
        reject_reason

    from ledger
    where row_status = 'rejected'

)

select * from final
