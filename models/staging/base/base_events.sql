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

copies as (

    -- the event_ids delivered more than once: a small share, and the only deliveries that
    -- need the sort a rank costs (a lone delivery is rank 1)
    select event_id
    from validated
    where event_id is not null
    group by event_id
    having count(*) > 1

),

ranked as (

    select
        validated.*,
        1 as delivery_rank

    from validated
    left join copies
        on validated.event_id = copies.event_id
    where validated.event_id is not null and copies.event_id is null

    union all

    select
        *,
        -- Earliest delivery wins; ties broken by the remaining columns (see delivery_rank).
        {{ rank_event_deliveries() }} as delivery_rank

    from validated
    where event_id is null or event_id in (select copies.event_id from copies)

),

served as (

    select
        *,
        delivery_rank = 1 and reject_reason is null as is_served_row

    from ranked

),

checked as (

    -- the checks across rows (a request's impressions, an engagement's impression), on the
    -- dedupe winners only: a winner's duplicate deliveries stay duplicates
    {{ request_reject_reasons('served') | indent(4) }}

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
        coalesce(reject_reason, request_reject_reason) as reject_reason,
        {{ row_status('coalesce(reject_reason, request_reject_reason)', 'delivery_rank') }}
            as row_status

    from checked

)

select * from final
