-- Rows of raw_experiment_assignments that could not be staged, as delivered (trimmed), with the reason.

with

ledger as (

    select * from {{ ref('base_experiment_assignments') }}

),

final as (

    select
        experiment_id,
        user_id,
        variant,
        assigned_at_text,
        delivery_rank,
        reject_reason

    from ledger
    where row_status = 'rejected'

)

select * from final
