-- Pitfall: dating events in local time. Casting ISO-8601 text straight to TIMESTAMP drops the
-- offset on DuckDB, Postgres and Spark alike, so '2024-03-08T23:30:00-08:00' lands on March 8
-- instead of March 9 (UTC), and every daily metric shifts.
-- Wrong: DAU by the plain-cast (local) date. Right: DAU by the UTC date (fct_active_users).
-- Measure: the days whose DAU the local date misstates.

with

events as (

    select * from {{ ref('base_events') }}
    where row_status = 'staged'

),

active_users as (

    select * from {{ ref('fct_active_users') }}

),

local_dau as (

    select
        cast(cast(event_at_text as timestamp) as date) as activity_date,
        count(distinct user_id) as dau

    from events
    group by cast(cast(event_at_text as timestamp) as date)

),

compared as (

    select
        active_users.activity_date,
        active_users.dau as utc_dau,
        coalesce(local_dau.dau, 0) as local_dau

    from active_users
    left join local_dau
        on active_users.activity_date = local_dau.activity_date

),

misdated_events as (

    select count(*) as events_on_wrong_date
    from events
    where cast(cast(event_at_text as timestamp) as date) <> cast(event_at as date)

),

final as (

    select
        'days whose DAU is misstated' as measure,
        sum(case when compared.local_dau <> compared.utc_dau then 1 else 0 end) as wrong_value,
        0 as right_value,
        count(*) as days,
        max(misdated_events.events_on_wrong_date) as events_on_wrong_date

    from compared
    cross join misdated_events

)

select * from final
