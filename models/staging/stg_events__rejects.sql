-- Rows of raw_events that could not be staged, as delivered (trimmed), with the reason.

with

ledger as (

    select * from {{ ref('base_events') }}

),

final as (

    select
        event_id,
        user_id,
        pin_id,
        request_id,
        event_type,
        surface,
        position_text,
        event_at_text,
        delivery_rank,
        reject_reason

    from ledger
    where row_status = 'rejected'

)

select * from final
