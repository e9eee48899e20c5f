-- Daily metrics per unit (a signup country, a signup platform) on a gap-free UTC calendar: the
-- panel a launch without a control group is read from. Users are assigned to a unit by their
-- signup attribute; events and transactions of users absent from stg_users belong to no unit
-- and are left out (tests/assert_unit_daily_metrics_lose_only_unknown_users.sql checks that
-- nothing else is lost). A unit with nobody active on a day is a row of zeros with NULL ratios.

with

events as (

    select * from {{ ref('stg_events') }}

),

transactions as (

    select * from {{ ref('stg_transactions') }}

),

active_days as (

    select * from {{ ref('int_user_active_days') }}

),

user_units as (

    select * from {{ ref('int_user_units') }}

),

calendar as (

    select * from {{ ref('int_calendar_days') }}

),

-- the data's dates, as fct_daily_revenue: first to last date with any valid event or transaction
observed_dates as (

    select event_date as observed_date from events
    union all
    select transacted_date as observed_date from transactions

),

bounds as (

    select
        min(observed_date) as first_date,
        max(observed_date) as last_date

    from observed_dates

),

units as (

    select distinct
        unit_type,
        unit

    from user_units

),

unit_date_spine as (

    select
        units.unit_type,
        units.unit,
        calendar.calendar_date as metric_date

    from units
    cross join calendar
    cross join bounds
    where calendar.calendar_date between bounds.first_date and bounds.last_date

),

-- a save is a pin saved, not a save click: a user who saves one pin twice that day saved one
-- pin (the counting_repeated_saves pitfall); impressions and clicks count events, as the CTR marts
user_day_engagement as (

    select
        user_id,
        event_date as metric_date,
        sum(case when event_type = 'impression' then 1 else 0 end) as impressions,
        sum(case when event_type = 'click' then 1 else 0 end) as clicks,
        count(distinct case when event_type = 'save' then pin_id end) as saves

    from events
    group by user_id, event_date

),

-- completed money only; a refund is its own transaction and is not revenue (fct_daily_revenue)
user_day_revenue as (

    select
        user_id,
        transacted_date as metric_date,
        sum(amount_usd) as revenue_usd

    from transactions
    where status = 'completed'
    group by user_id, transacted_date

),

unit_activity as (

    select
        user_units.unit_type,
        user_units.unit,
        active_days.activity_date as metric_date,
        count(*) as active_users

    from active_days
    inner join user_units
        on active_days.user_id = user_units.user_id
    group by user_units.unit_type, user_units.unit, active_days.activity_date

),

unit_engagement as (

    select
        user_units.unit_type,
        user_units.unit,
        user_day_engagement.metric_date,
        sum(user_day_engagement.impressions) as impressions,
        sum(user_day_engagement.clicks) as clicks,
        sum(user_day_engagement.saves) as saves

    from user_day_engagement
    inner join user_units
        on user_day_engagement.user_id = user_units.user_id
    group by user_units.unit_type, user_units.unit, user_day_engagement.metric_date

),

unit_revenue as (

    select
        user_units.unit_type,
        user_units.unit,
        user_day_revenue.metric_date,
        sum(user_day_revenue.revenue_usd) as revenue_usd

    from user_day_revenue
    inner join user_units
        on user_day_revenue.user_id = user_units.user_id
    group by user_units.unit_type, user_units.unit, user_day_revenue.metric_date

),

joined as (

    select
        spine.unit_type,
        spine.unit,
        spine.metric_date,
        coalesce(unit_activity.active_users, 0) as active_users,
        coalesce(unit_engagement.impressions, 0) as impressions,
        coalesce(unit_engagement.clicks, 0) as clicks,
        coalesce(unit_engagement.saves, 0) as saves,
        coalesce(unit_revenue.revenue_usd, 0) as revenue_usd

    from unit_date_spine as spine
    left join unit_activity
        on
            spine.unit_type = unit_activity.unit_type
            and spine.unit = unit_activity.unit
            and spine.metric_date = unit_activity.metric_date
    left join unit_engagement
        on
            spine.unit_type = unit_engagement.unit_type
            and spine.unit = unit_engagement.unit
            and spine.metric_date = unit_engagement.metric_date
    left join unit_revenue
        on
            spine.unit_type = unit_revenue.unit_type
            and spine.unit = unit_revenue.unit
            and spine.metric_date = unit_revenue.metric_date

),

final as (

    select
        cast(unit_type as {{ dbt.type_string() }}) as unit_type,
        cast(unit as {{ dbt.type_string() }}) as unit,
        cast(metric_date as date) as metric_date,
        cast(active_users as {{ dbt.type_bigint() }}) as active_users,
        cast(impressions as {{ dbt.type_bigint() }}) as impressions,
        cast(clicks as {{ dbt.type_bigint() }}) as clicks,
        cast(saves as {{ dbt.type_bigint() }}) as saves,
        -- the contract's type: each engine widens a sum its own way (see fct_daily_revenue)
        cast(revenue_usd as decimal(38, 2)) as revenue_usd,
        {{ safe_divide('clicks', 'impressions') }} as ctr,
        {{ safe_divide('saves', 'active_users') }} as saves_per_active_user,
        {{ safe_divide('revenue_usd', 'active_users') }} as revenue_per_active_user

    from joined

)

select * from final
