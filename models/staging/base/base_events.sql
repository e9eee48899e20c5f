{{ config(materialized='table') }}

-- The ledger of raw_events: one row per delivered row, parsed, with its fate.
-- stg_events keeps the 'staged' rows, stg_events__rejects the 'rejected' ones; 'duplicate'
-- rows are deliveries of an event_id that was already staged. A dedupe winner can still be
-- rejected by the checks across rows (request_reject_reasons): its request is malformed, or it
-- engages with a pin the request never showed.
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

winners as (

    select * from ranked
    where delivery_rank = 1 and reject_reason is null

),

request_checks as (

    -- the checks across rows (a request's impressions, an engagement's impression)
    {{ request_reject_reasons('winners') | indent(4) }}

),

checked as (

    select
        ranked.event_id,
        ranked.delivery_rank,
        ranked.user_id,
        ranked.pin_id,
        ranked.request_id,
        ranked.event_type,
        ranked.surface,
        ranked.position_text,
        ranked.event_at_text,
        ranked.feed_position,
        ranked.event_at,
        coalesce(
            ranked.reject_reason,
            -- only the winner was checked; its duplicate deliveries stay duplicates
            case when ranked.delivery_rank = 1 then request_checks.request_reject_reason end
        ) as reject_reason

    -- an equality-only join (one winner per event_id): a condition on one side in the ON
    -- clause turns DuckDB's hash join into a nested loop
    from ranked
    left join request_checks
        on ranked.event_id = request_checks.event_id

),

final as (

    select
        event_id,
        delivery_rank,
        user_id,
        pin_id,
        request_id,
        event_type,
        surface,
        position_text,
        event_at_text,
        feed_position,
        event_at,
        reject_reason,
        {{ row_status('reject_reason', 'delivery_rank') }} as row_status

    from checked

)

select * from final
