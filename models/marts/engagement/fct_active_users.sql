-- DAU, WAU, MAU, stickiness and next-day retention for every UTC date from the first to the last
-- activity date. WAU and MAU are distinct users over the trailing window, never sums of DAU
-- (the same user active on three days is one weekly user, not three).

with

active_days as (

    select * from {{ ref('int_user_active_days') }}

),

bounds as (

    select
        min(activity_date) as first_date,
        max(activity_date) as last_date

    from active_days

),

calendar as (

    select * from {{ ref('int_calendar_days') }}

),

date_spine as (

    select calendar.calendar_date as activity_date
    from calendar
    cross join bounds
    where calendar.calendar_date between bounds.first_date and bounds.last_date

),

windowed as (

    select
        date_spine.activity_date,
        count(distinct case
            when active_days.activity_date = date_spine.activity_date then active_days.user_id
        end) as dau,
        count(distinct case
            when {{ in_trailing_window('active_days.activity_date', 'date_spine.activity_date', 7) }}
                then active_days.user_id
        end) as wau,
        count(distinct active_days.user_id) as mau

    from date_spine
    left join active_days
        on {{ in_trailing_window('active_days.activity_date', 'date_spine.activity_date', 30) }}
    group by date_spine.activity_date

),

returning_users as (

    select
        today.activity_date,
        count(*) as active_next_day

    from active_days as today
    inner join active_days as tomorrow
        on
            today.user_id = tomorrow.user_id
            and tomorrow.activity_date = {{ dbt.dateadd('day', 1, 'today.activity_date') }}
    group by today.activity_date

),

final as (

    select
        windowed.activity_date,
        windowed.dau,
        windowed.wau,
        windowed.mau,
        {{ safe_divide('windowed.dau', 'windowed.mau') }} as stickiness,
        case
            -- the day after the last date is not observed yet: unknown, not 0%
            when windowed.activity_date < bounds.last_date
                then {{ safe_divide('coalesce(returning_users.active_next_day, 0)', 'windowed.dau') }}
        end as next_day_retention,
        windowed.activity_date >= {{ dbt.dateadd('day', 29, 'bounds.first_date') }}
            as has_full_mau_window

    from windowed
    cross join bounds
    left join returning_users
        on windowed.activity_date = returning_users.activity_date

)

select * from final
