{{ config(materialized='table') }}

-- The ledger of raw_events: one row per delivered row, parsed, with its fate.
-- stg_events keeps the 'staged' rows, stg_events__rejects the 'rejected' ones; 'duplicate'
-- rows are deliveries of an event_id that was already staged.
-- A table, unlike the other ledgers: events are the one big raw table, and as a view every
-- test and model reading it would parse and rank every delivery again.

with

validated as (

    select * from {{ ref('base_events__parsed') }}

),

ranked as (

    select
        *,
        -- Earliest delivery wins; ties broken by the remaining columns (see delivery_rank).
        {{ rank_event_deliveries() }} as delivery_rank

    from validated

),

final as (

    select
        event_id,
        delivery_rank,
        user_id,
        pin_id,
        event_type,
        surface,
        position_text,
        event_at_text,
        feed_position,
        event_at,
        reject_reason,
        {{ row_status('reject_reason', 'delivery_rank') }} as row_status

    from ranked

)

select * from final
