-- Pitfall: counting events instead of users. "Daily actives" computed as count(*) of events is
-- an activity volume, not a number of people: one heavy user counts dozens of times.
-- Wrong: events per day. Right: distinct users per day (fct_active_users.dau).
-- Measure: the average over days.

with

events as (

    select * from {{ ref('stg_events') }}

),

active_users as (

    select * from {{ ref('fct_active_users') }}

),

events_per_day as (

    select
        event_date,
        count(*) as events

    from events
    group by event_date

),

final as (

    select
        'average daily actives' as measure,
        (select avg(events) from events_per_day) as wrong_value,
        (select avg(dau) from active_users) as right_value

)

select * from final
