-- Rows of raw_launches that could not be staged, as delivered (trimmed), with the reason.

with

ledger as (

    select * from {{ ref('base_launches') }}

),

final as (

    select
        launch_id,
        treated_unit,
        unit_type,
        launched_at_text,
        delivery_rank,
        reject_reason

    from ledger
    where row_status = 'rejected'

)

select * from final
