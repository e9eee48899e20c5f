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

spells as (

    -- one pass over each user's active days: the previous one (for the windows) and the next
    -- one (for next-day retention)
    select
        activity_date,
        {{ dbt.dateadd('day', 7, 'lag(activity_date) over (partition by user_id order by activity_date)') }}
            as previous_week_end,
        {{ dbt.dateadd('day', 30, 'lag(activity_date) over (partition by user_id order by activity_date)') }}
            as previous_month_end,
        lead(activity_date) over (partition by user_id order by activity_date) as next_date

    from active_days

),

window_changes as (

    -- A user is in WAU on every date of [d, d + 6] for each active day d: a union of spans,
    -- not a sum. Each active day opens the user's span where the previous active day's span
    -- ends (at d itself, or at p + 7 when p was less than a week before) and closes it after
    -- d + 6; the running sum of opens minus closes is then the distinct count. MAU likewise
    -- with 30 days. One sort of the active days instead of a 30-day range join.
    select
        greatest(activity_date, coalesce(previous_week_end, activity_date)) as change_date,
        1 as wau_change,
        0 as mau_change
    from spells
    union all
    select
        {{ dbt.dateadd('day', 7, 'activity_date') }} as change_date,
        -1 as wau_change,
        0 as mau_change
    from spells
    union all
    select
        greatest(activity_date, coalesce(previous_month_end, activity_date)) as change_date,
        0 as wau_change,
        1 as mau_change
    from spells
    union all
    select
        {{ dbt.dateadd('day', 30, 'activity_date') }} as change_date,
        0 as wau_change,
        -1 as mau_change
    from spells

),

daily_changes as (

    select
        cast(change_date as date) as change_date,
        sum(wau_change) as wau_change,
        sum(mau_change) as mau_change

    from window_changes
    group by cast(change_date as date)

),

daily_users as (

    select
        activity_date,
        count(*) as dau,
        sum(case
            when next_date = {{ dbt.dateadd('day', 1, 'activity_date') }} then 1 else 0
        end) as active_next_day

    from spells
    group by activity_date

),

windowed as (

    select
        date_spine.activity_date,
        coalesce(daily_users.dau, 0) as dau,
        sum(coalesce(daily_changes.wau_change, 0)) over (
            order by date_spine.activity_date rows between unbounded preceding and current row
        ) as wau,
        sum(coalesce(daily_changes.mau_change, 0)) over (
            order by date_spine.activity_date rows between unbounded preceding and current row
        ) as mau,
        daily_users.active_next_day

    from date_spine
    left join daily_users
        on date_spine.activity_date = daily_users.activity_date
    left join daily_changes
        on date_spine.activity_date = daily_changes.change_date

),

final as (

    select
        windowed.activity_date,
        cast(windowed.dau as {{ dbt.type_bigint() }}) as dau,
        cast(windowed.wau as {{ dbt.type_bigint() }}) as wau,
        cast(windowed.mau as {{ dbt.type_bigint() }}) as mau,
        {{ safe_divide('windowed.dau', 'windowed.mau') }} as stickiness,
        case
            -- the day after the last date is not observed yet: unknown, not 0%
            when windowed.activity_date < bounds.last_date
                then {{ safe_divide('coalesce(windowed.active_next_day, 0)', 'windowed.dau') }}
        end as next_day_retention,
        windowed.activity_date >= {{ dbt.dateadd('day', 29, 'bounds.first_date') }}
            as has_full_mau_window

    from windowed
    cross join bounds

)

select * from final
