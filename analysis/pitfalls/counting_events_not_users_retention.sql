-- Pitfall: counting events instead of users in retention. Day-7 "retention" as the cohort's
-- events on day 7 over the cohort's size can exceed 100%: a returning user brings many events.
-- Wrong: day-7 events / cohort users. Right: day-7 retained users / cohort users
-- (fct_retention), both pooled over the mature cohorts.

with

users as (

    select * from {{ ref('stg_users') }}

),

events as (

    select * from {{ ref('stg_events') }}

),

retention as (

    select * from {{ ref('fct_retention') }}
    where day_number = 7 and is_mature

),

day_7_events as (

    select count(*) as events

    from users
    inner join events
        on users.user_id = events.user_id
    inner join retention
        on
            users.signup_date = retention.cohort_date
            and events.event_date = retention.retention_date

),

cohort_totals as (

    select
        sum(cohort_users) as cohort_users,
        sum(retained_users) as retained_users

    from retention

),

final as (

    select
        'day-7 retention, mature cohorts pooled' as measure,
        {{ safe_divide('day_7_events.events', 'cohort_totals.cohort_users') }} as wrong_value,
        {{ safe_divide('cohort_totals.retained_users', 'cohort_totals.cohort_users') }}
            as right_value

    from day_7_events
    cross join cohort_totals

)

select * from final
