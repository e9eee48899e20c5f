-- Every delivered row of raw_events, trimmed, parsed and checked, before any dedupe: the
-- input of both the ledger (base_events, which ranks deliveries) and the incremental path of
-- stg_events (which ranks only the deliveries of recent days).

with

source as (

    select * from {{ raw_relation('raw_events') }}

),

cleaned as (

    select
        ---------- ids
        {{ clean_text('event_id') }} as event_id,
        {{ clean_text('user_id') }} as user_id,
        {{ clean_text('pin_id') }} as pin_id,
        {{ clean_text('request_id') }} as request_id,

        ---------- strings
        {{ clean_text('event_type') }} as event_type,
        {{ clean_text('surface') }} as surface,
        {{ clean_text('position') }} as position_text,
        {{ clean_text('event_at') }} as event_at_text

    from source

),

parsed as (

    select
        *,
        {{ parse_integer('position_text') }} as feed_position,
        {{ plausible_utc_timestamp('event_at_text') }} as event_at

    from cleaned

),

validated as (

    select
        *,
        -- Checked in this order; the first failing check is the reason.
        case
            when event_id is null then 'missing_event_id'
            when user_id is null then 'missing_user_id'
            when event_at is null then {{ timestamp_reject_reason('event_at_text', 'event_at', 'event_at') }}
            when event_type is null
                or event_type not in ('app_open', 'impression', 'click', 'save', 'hide')
                then 'unknown_event_type'
            when event_type <> 'app_open' and pin_id is null then 'missing_pin_id'
            -- the request ties an engagement to the impression it follows (see base_events)
            when event_type <> 'app_open' and request_id is null then 'missing_request_id'
            when surface is null or surface not in ('home_feed', 'search', 'related_pins')
                then 'unknown_surface'
            when position_text is not null and coalesce(feed_position, 0) not between 1 and 10000
                then 'invalid_position'
            when event_type = 'impression' and feed_position is null then 'invalid_position'
        end as reject_reason

    from parsed

),

final as (

    select * from validated

)

select * from final
