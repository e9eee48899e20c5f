-- fct_unit_daily_metrics leaves out only the users absent from stg_users: for each unit type,
-- its totals equal the totals of the staged events and completed transactions of the staged
-- users. A join that drops a unit, a day or a user, or counts a user in two units, fails here.

{%- set event_day = 'cast(events.event_date as ' ~ dbt.type_string() ~ ')' %}

with

unit_metrics as (

    select * from {{ ref('fct_unit_daily_metrics') }}

),

events as (

    select * from {{ ref('stg_events') }}

),

transactions as (

    select * from {{ ref('stg_transactions') }}

),

users as (

    select * from {{ ref('stg_users') }}

),

unit_types as (

    select 'country' as unit_type
    union all
    select 'platform' as unit_type

),

mart_totals as (

    select
        unit_type,
        sum(active_users) as active_user_days,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(saves) as saves,
        sum(revenue_usd) as revenue_usd

    from unit_metrics
    group by unit_type

),

known_events as (

    select
        events.*,
        {{ dbt.concat(['events.user_id', "'|'", event_day]) }}
            as user_day,
        {{ dbt.concat(['events.user_id', "'|'", 'events.pin_id', "'|'", event_day]) }}
            as user_pin_day

    from events
    inner join users
        on events.user_id = users.user_id

),

event_totals as (

    select
        count(distinct user_day) as active_user_days,
        sum(case when event_type = 'impression' then 1 else 0 end) as impressions,
        sum(case when event_type = 'click' then 1 else 0 end) as clicks,
        count(distinct case when event_type = 'save' then user_pin_day end) as saves

    from known_events

),

revenue_totals as (

    select sum(transactions.amount_usd) as revenue_usd
    from transactions
    inner join users
        on transactions.user_id = users.user_id
    where transactions.status = 'completed'

),

final as (

    select
        unit_types.unit_type,
        mart_totals.active_user_days,
        event_totals.active_user_days as expected_active_user_days,
        mart_totals.impressions,
        event_totals.impressions as expected_impressions,
        mart_totals.clicks,
        event_totals.clicks as expected_clicks,
        mart_totals.saves,
        event_totals.saves as expected_saves,
        mart_totals.revenue_usd,
        revenue_totals.revenue_usd as expected_revenue_usd

    from unit_types
    cross join event_totals
    cross join revenue_totals
    left join mart_totals
        on unit_types.unit_type = mart_totals.unit_type

)

select * from final
where
    coalesce(active_user_days, 0) <> coalesce(expected_active_user_days, 0)
    or coalesce(impressions, 0) <> coalesce(expected_impressions, 0)
    or coalesce(clicks, 0) <> coalesce(expected_clicks, 0)
    or coalesce(saves, 0) <> coalesce(expected_saves, 0)
    or coalesce(revenue_usd, 0) <> coalesce(expected_revenue_usd, 0)
