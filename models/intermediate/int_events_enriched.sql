{{ config(materialized='view') }}

-- One row per valid, deduped event with the attributes the semantic layer slices by: the
-- user's platform and country and the pin's category. A view, so the build copies no event
-- table (at 100M events a table would cost a full rewrite per build); MetricFlow reads it.

with

events as (

    select * from {{ ref('stg_events') }}

),

users as (

    select * from {{ ref('stg_users') }}

),

pins as (

    select * from {{ ref('stg_pins') }}

),

final as (

    select
        events.event_id,
        events.user_id,
        events.pin_id,
        events.event_type,
        events.surface,
        users.platform,
        users.country,
        pins.category,
        events.feed_position,
        events.event_at,
        events.event_date

    from events
    -- left joins: an event of an unknown user or pin still counts (its platform, country or
    -- category is NULL), so totals here equal stg_events; the relationships tests there warn
    left join users
        on events.user_id = users.user_id
    left join pins
        on events.pin_id = pins.pin_id

)

select * from final
