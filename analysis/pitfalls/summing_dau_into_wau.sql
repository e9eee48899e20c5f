-- Pitfall: summing DAU into WAU. A user active on five days of the week is one weekly active
-- user, not five. Wrong: the sum of the 7 DAUs ending on the last date. Right: the WAU of the
-- last date (fct_active_users.wau, distinct users over the same 7 days).

with

active_users as (

    select * from {{ ref('fct_active_users') }}

),

last_date as (

    select max(activity_date) as activity_date
    from active_users

),

final as (

    select
        'weekly actives on the last date' as measure,
        sum(case
            when {{ in_trailing_window('active_users.activity_date', 'last_date.activity_date', 7) }}
                then active_users.dau
            else 0
        end) as wrong_value,
        max(case
            when active_users.activity_date = last_date.activity_date then active_users.wau
        end) as right_value

    from active_users
    cross join last_date

)

select * from final
