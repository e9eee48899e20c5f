-- One row per assigned user per UTC day with anything to count in the post period: the daily
-- values of fct_experiment_user_metrics, under the same column names, so a metric defined on
-- the user mart maps onto its days (cumulative and per-day-since-assignment readouts). Sparse:
-- a day without a post-period event or completed transaction has no row (its values are 0).
-- The window is the user mart's (in_experiment_post_period), so summed over a user's days each
-- daily column equals the user's total (tests/assert_daily_metrics_sum_to_user_metrics.sql).
-- Each daily column also has its running total through the day (<column>_to_date, flagged
-- meta: {to_date_of: <column>}; tests/assert_daily_to_date_columns_are_running_totals.sql).

with

assignments as (

    select * from {{ ref('fct_experiment_assignments') }}

),

experiments as (

    select * from {{ ref('stg_experiments') }}

),

events as (

    select * from {{ ref('stg_events') }}

),

transactions as (

    select * from {{ ref('stg_transactions') }}

),

assigned_users as (

    select
        assignments.experiment_id,
        assignments.user_id,
        assignments.variant,
        assignments.first_assigned_at,
        cast(assignments.first_assigned_at as date) as first_assigned_date,
        experiments.end_at

    from assignments
    inner join experiments
        on assignments.experiment_id = experiments.experiment_id

),

daily_events as (

    -- any event makes the UTC day active, as in the user mart's active_days
    select
        assigned_users.experiment_id,
        assigned_users.user_id,
        events.event_date as metric_date,
        sum(case when events.event_type = 'impression' then 1 else 0 end) as impressions,
        sum(case when events.event_type = 'click' then 1 else 0 end) as clicks,
        sum(case when events.event_type = 'save' then 1 else 0 end) as saves,
        sum(case when events.event_type = 'hide' then 1 else 0 end) as hides

    from assigned_users
    inner join events
        on
            assigned_users.user_id = events.user_id
            and {{ in_experiment_post_period('assigned_users', 'events.event_at') }}
    group by assigned_users.experiment_id, assigned_users.user_id, events.event_date

),

daily_revenue as (

    -- completed money only, on the UTC date of the transaction (a refund is not revenue)
    select
        assigned_users.experiment_id,
        assigned_users.user_id,
        transactions.transacted_date as metric_date,
        sum(transactions.amount_usd) as revenue_usd

    from assigned_users
    inner join transactions
        on
            assigned_users.user_id = transactions.user_id
            and {{ in_experiment_post_period('assigned_users', 'transactions.transacted_at') }}
    where transactions.status = 'completed'
    group by assigned_users.experiment_id, assigned_users.user_id, transactions.transacted_date

),

user_days as (

    -- a day with a purchase and no event is a row too: inactive, with its revenue
    select
        experiment_id,
        user_id,
        metric_date
    from daily_events

    union

    select
        experiment_id,
        user_id,
        metric_date
    from daily_revenue

),

joined as (

    select
        user_days.experiment_id,
        user_days.user_id,
        user_days.metric_date,
        assigned_users.variant,
        assigned_users.first_assigned_date,
        {{ dbt.datediff('assigned_users.first_assigned_date', 'user_days.metric_date', 'day') }}
            as days_since_assignment,
        daily_events.impressions,
        daily_events.clicks,
        daily_events.saves,
        daily_events.hides,
        case when daily_events.metric_date is null then 0 else 1 end as active_days,
        daily_revenue.revenue_usd

    from user_days
    inner join assigned_users
        on
            user_days.experiment_id = assigned_users.experiment_id
            and user_days.user_id = assigned_users.user_id
    left join daily_events
        on
            user_days.experiment_id = daily_events.experiment_id
            and user_days.user_id = daily_events.user_id
            and user_days.metric_date = daily_events.metric_date
    left join daily_revenue
        on
            user_days.experiment_id = daily_revenue.experiment_id
            and user_days.user_id = daily_revenue.user_id
            and user_days.metric_date = daily_revenue.metric_date

),

daily as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(metric_date as date) as metric_date,
        cast(variant as {{ dbt.type_string() }}) as variant,
        cast(first_assigned_date as date) as first_assigned_date,
        cast(days_since_assignment as integer) as days_since_assignment,
        cast(coalesce(impressions, 0) as {{ dbt.type_bigint() }}) as impressions,
        cast(coalesce(clicks, 0) as {{ dbt.type_bigint() }}) as clicks,
        cast(coalesce(saves, 0) as {{ dbt.type_bigint() }}) as saves,
        cast(coalesce(hides, 0) as {{ dbt.type_bigint() }}) as hides,
        cast(active_days as {{ dbt.type_bigint() }}) as active_days,
        -- the user mart's decimal(38, 2), so the days sum to its revenue_usd exactly
        cast(coalesce(revenue_usd, 0) as decimal(38, 2)) as revenue_usd

    from joined

),

final as (

    -- each daily column's running total over the user's days through metric_date, and the
    -- day's rank among the user's rows: a readout of the experiment as it stood on a day (the
    -- cumulative view) is then sums over rows, not a window over every row at read time
    select
        daily.experiment_id,
        daily.user_id,
        daily.metric_date,
        daily.variant,
        daily.first_assigned_date,
        daily.days_since_assignment,
        daily.impressions,
        daily.clicks,
        daily.saves,
        daily.hides,
        daily.active_days,
        daily.revenue_usd,
        cast(sum(daily.impressions) over user_days as {{ dbt.type_bigint() }}) as impressions_to_date,
        cast(sum(daily.clicks) over user_days as {{ dbt.type_bigint() }}) as clicks_to_date,
        cast(sum(daily.saves) over user_days as {{ dbt.type_bigint() }}) as saves_to_date,
        cast(sum(daily.hides) over user_days as {{ dbt.type_bigint() }}) as hides_to_date,
        cast(sum(daily.active_days) over user_days as {{ dbt.type_bigint() }}) as active_days_to_date,
        cast(sum(daily.revenue_usd) over user_days as decimal(38, 2)) as revenue_usd_to_date,
        cast(row_number() over user_days as integer) as user_day_number

    from daily
    window user_days as (
        partition by daily.experiment_id, daily.user_id
        order by daily.metric_date
        rows between unbounded preceding and current row
    )

)

select * from final
