-- One row per user per UTC calendar day with at least one valid, deduped event of any type:
-- the building block of every "active user" metric. Counting users from here, never events,
-- is what keeps DAU, retention and stickiness honest.

with

events as (

    select * from {{ ref('stg_events') }}

),

user_days as (

    select
        user_id,
        event_date as activity_date,
        count(*) as events

    from events
    group by user_id, event_date

),

final as (

    select * from user_days

)

select * from final
