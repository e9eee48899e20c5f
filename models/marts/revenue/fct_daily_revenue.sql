-- Daily revenue on the UTC calendar. A refund is its own transaction, booked on the date the
-- money went back (cash basis), so completed revenue is never restated when a refund arrives.
-- Revenue per active user divides by DAU, the users with any valid event that day.

with

transactions as (

    select * from {{ ref('stg_transactions') }}

),

active_days as (

    select * from {{ ref('int_user_active_days') }}

),

calendar as (

    select * from {{ ref('int_calendar_days') }}

),

daily_transactions as (

    select
        transacted_date as revenue_date,
        sum(case when status = 'completed' then amount_usd else 0 end) as completed_revenue_usd,
        sum(case when status = 'refunded' then amount_usd else 0 end) as refunds_usd,
        sum(case when status = 'completed' then 1 else 0 end) as completed_transactions,
        count(distinct case when status = 'completed' then user_id end) as paying_users

    from transactions
    group by transacted_date

),

daily_active_users as (

    select
        activity_date,
        count(*) as active_users

    from active_days
    group by activity_date

),

observed_dates as (

    select revenue_date as observed_date from daily_transactions
    union all
    select activity_date as observed_date from daily_active_users

),

bounds as (

    select
        min(observed_date) as first_date,
        max(observed_date) as last_date

    from observed_dates

),

date_spine as (

    select calendar.calendar_date as revenue_date
    from calendar
    cross join bounds
    where calendar.calendar_date between bounds.first_date and bounds.last_date

),

final as (

    select
        date_spine.revenue_date,
        -- the contract's types: each engine widens a sum its own way (DuckDB decimal(38, 2) and
        -- hugeint, Postgres an unbounded numeric, Spark decimal(28, 2))
        cast(coalesce(daily_transactions.completed_revenue_usd, 0) as decimal(38, 2))
            as completed_revenue_usd,
        cast(coalesce(daily_transactions.refunds_usd, 0) as decimal(38, 2)) as refunds_usd,
        cast(
            coalesce(daily_transactions.completed_revenue_usd, 0)
            - coalesce(daily_transactions.refunds_usd, 0)
            as decimal(38, 2)
        ) as net_revenue_usd,
        cast(coalesce(daily_transactions.completed_transactions, 0) as {{ dbt.type_bigint() }})
            as completed_transactions,
        coalesce(daily_transactions.paying_users, 0) as paying_users,
        coalesce(daily_active_users.active_users, 0) as active_users,
        {{ safe_divide(
            'coalesce(daily_transactions.completed_revenue_usd, 0)',
            'daily_active_users.active_users'
        ) }} as revenue_per_active_user,
        {{ safe_divide(
            'daily_transactions.completed_revenue_usd',
            'daily_transactions.paying_users'
        ) }} as revenue_per_paying_user

    from date_spine
    left join daily_transactions
        on date_spine.revenue_date = daily_transactions.revenue_date
    left join daily_active_users
        on date_spine.revenue_date = daily_active_users.activity_date

)

select * from final
