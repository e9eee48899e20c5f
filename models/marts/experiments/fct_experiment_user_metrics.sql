{%- set pre_period_days = integer_var('experiment_pre_period_days', 0, 3660) %}
{%- set new_user_days = integer_var('new_user_days', 1, 3660) %}
{#- whole microseconds in a day: ages are compared exactly, in integers -#}
{%- set day_us = 86400000000 %}
{%- if 10 not in integer_list_var('ranking_cutoffs', 1, 1000) %}
    {{ exceptions.raise_compiler_error(
        "var ranking_cutoffs must be a list that includes 10: fct_experiment_user_metrics reports NDCG@10"
    ) }}
{%- endif %}
-- One row per assigned user per experiment, with what the user did after assignment and
-- before the experiment. Every assigned user is here, zero-filled when inactive: dropping the
-- users who did nothing inflates every per-user mean, differently in each arm. The segments
-- (platform, country, user_tenure) are fixed before assignment, so slicing by them cannot be
-- moved by the treatment; a user without a staged users row stays, with tenure 'unknown'.

with

assignments as (

    select * from {{ ref('fct_experiment_assignments') }}

),

experiments as (

    select * from {{ ref('stg_experiments') }}

),

variants as (

    select * from {{ ref('stg_experiment_variants') }}

),

events as (

    select * from {{ ref('stg_events') }}

),

transactions as (

    select * from {{ ref('stg_transactions') }}

),

pins as (

    select * from {{ ref('stg_pins') }}

),

users as (

    select * from {{ ref('stg_users') }}

),

creators as (

    select * from {{ ref('int_creator_impression_ranks') }}

),

request_items as (

    select * from {{ ref('int_request_items') }}

),

request_ndcg as (

    -- NDCG@10 of each served request (NULL when nothing in it was relevant)
    select * from {{ ref('int_logged_request_ranking_metrics') }}
    where k = 10

),

assigned_users as (

    select
        assignments.experiment_id,
        assignments.user_id,
        assignments.variant,
        variants.is_control,
        assignments.first_assigned_at,
        experiments.start_at,
        experiments.end_at,
        {{ dbt.dateadd('day', -1 * pre_period_days, 'experiments.start_at') }} as pre_period_start_at

    from assignments
    inner join experiments
        on assignments.experiment_id = experiments.experiment_id
    inner join variants
        on
            assignments.experiment_id = variants.experiment_id
            and assignments.variant = variants.variant

),

user_segments as (

    -- age at assignment in whole microseconds: exact on every engine, so a signup exactly
    -- new_user_days days before the assignment is tenured (dbt.dateadd truncates to seconds on
    -- Spark)
    select
        assigned_users.experiment_id,
        assigned_users.user_id,
        users.platform,
        users.country,
        {{ epoch_microseconds('assigned_users.first_assigned_at') }}
        - {{ epoch_microseconds('users.signup_at') }} as signup_age_us

    from assigned_users
    -- a left join: an assigned user without a staged users row is kept, as 'unknown'
    left join users
        on assigned_users.user_id = users.user_id

),

post_period_events as (

    select
        assigned_users.experiment_id,
        assigned_users.user_id,
        sum(case when events.event_type = 'impression' then 1 else 0 end) as impressions,
        sum(case when events.event_type = 'click' then 1 else 0 end) as clicks,
        sum(case when events.event_type = 'save' then 1 else 0 end) as saves,
        sum(case when events.event_type = 'hide' then 1 else 0 end) as hides,
        count(distinct events.event_date) as active_days,
        -- what the user was shown (the diversity guardrails): distinct categories and creators
        -- of impressed pins (known pins only), and impressions from the top 1% of creators
        count(distinct case when events.event_type = 'impression' then pins.category end)
            as distinct_categories,
        count(distinct case when events.event_type = 'impression' then pins.creator_id end)
            as distinct_creators,
        sum(case
            when events.event_type = 'impression' and creators.is_top_creator then 1 else 0
        end) as top_creator_impressions

    from assigned_users
    inner join events
        on
            assigned_users.user_id = events.user_id
            and {{ in_experiment_post_period('assigned_users', 'events.event_at') }}
    -- left joins: every event still counts above; an unknown pin only has no category
    left join pins
        on events.pin_id = pins.pin_id
    left join creators
        on pins.creator_id = creators.creator_id
    group by assigned_users.experiment_id, assigned_users.user_id

),

requests as (

    -- a request belongs to the period its first impression falls in
    select
        request_id,
        user_id,
        min(impression_at) as request_at

    from request_items
    group by request_id, user_id

),

post_period_items as (

    -- the served items: where the clicks were, and how much of the feed was its top
    select
        assigned_users.experiment_id,
        assigned_users.user_id,
        sum(case when request_items.is_clicked then request_items.feed_position else 0 end)
            as clicked_position_sum,
        sum(case when request_items.is_clicked then 1 else 0 end) as clicked_impressions,
        sum(case when request_items.feed_position <= 3 then 1 else 0 end) as top3_impressions

    from assigned_users
    inner join request_items
        on
            assigned_users.user_id = request_items.user_id
            and {{ in_experiment_post_period('assigned_users', 'request_items.impression_at') }}
    group by assigned_users.experiment_id, assigned_users.user_id

),

post_period_requests as (

    -- NDCG@10 over the user's requests that have a defined NDCG (at least one relevant item)
    select
        assigned_users.experiment_id,
        assigned_users.user_id,
        sum(request_ndcg.ndcg) as ndcg_at_10_sum,
        count(request_ndcg.ndcg) as ndcg_at_10_requests

    from assigned_users
    inner join requests
        on
            assigned_users.user_id = requests.user_id
            and {{ in_experiment_post_period('assigned_users', 'requests.request_at') }}
    inner join request_ndcg
        on requests.request_id = request_ndcg.request_id
    group by assigned_users.experiment_id, assigned_users.user_id

),

pre_period_events as (

    select
        assigned_users.experiment_id,
        assigned_users.user_id,
        sum(case when events.event_type = 'impression' then 1 else 0 end) as pre_impressions,
        sum(case when events.event_type = 'click' then 1 else 0 end) as pre_clicks,
        sum(case when events.event_type = 'save' then 1 else 0 end) as pre_saves,
        count(distinct events.event_date) as pre_active_days

    from assigned_users
    inner join events
        on
            assigned_users.user_id = events.user_id
            -- half-open: the experiment's first instant belongs to the post period
            and assigned_users.pre_period_start_at <= events.event_at
            and assigned_users.start_at > events.event_at
    group by assigned_users.experiment_id, assigned_users.user_id

),

post_period_revenue as (

    select
        assigned_users.experiment_id,
        assigned_users.user_id,
        sum(transactions.amount_usd) as revenue_usd

    from assigned_users
    inner join transactions
        on
            assigned_users.user_id = transactions.user_id
            and {{ in_experiment_post_period('assigned_users', 'transactions.transacted_at') }}
    where transactions.status = 'completed'
    group by assigned_users.experiment_id, assigned_users.user_id

),

final as (

    select
        assigned_users.experiment_id,
        assigned_users.user_id,
        assigned_users.variant,
        assigned_users.is_control,
        assigned_users.first_assigned_at,
        cast(user_segments.platform as {{ dbt.type_string() }}) as platform,
        cast(user_segments.country as {{ dbt.type_string() }}) as country,
        -- signup_at > first_assigned_at - new_user_days days, i.e. younger than new_user_days
        cast(case
            when user_segments.signup_age_us is null then 'unknown'
            when user_segments.signup_age_us < {{ new_user_days * day_us }} then 'new'
            else 'tenured'
        end as {{ dbt.type_string() }}) as user_tenure,
        -- floor, not truncation: a signup 1 s after the assignment is day -1, not day 0
        cast(floor(
            cast(user_segments.signup_age_us as {{ metricbook.type_double() }}) / {{ day_us }}
        ) as integer) as days_since_signup,
        cast(coalesce(post_period_events.impressions, 0) as {{ dbt.type_bigint() }}) as impressions,
        cast(coalesce(post_period_events.clicks, 0) as {{ dbt.type_bigint() }}) as clicks,
        cast(coalesce(post_period_events.saves, 0) as {{ dbt.type_bigint() }}) as saves,
        cast(coalesce(post_period_events.hides, 0) as {{ dbt.type_bigint() }}) as hides,
        cast(coalesce(post_period_events.active_days, 0) as {{ dbt.type_bigint() }}) as active_days,
        -- the contract's decimal(38, 2): Spark would widen the sum to decimal(28, 2) only
        cast(coalesce(post_period_revenue.revenue_usd, 0) as decimal(38, 2)) as revenue_usd,
        case when coalesce(post_period_events.saves, 0) > 0 then 1 else 0 end as has_saved,
        cast(coalesce(post_period_events.distinct_categories, 0) as {{ dbt.type_bigint() }})
            as distinct_categories,
        cast(coalesce(post_period_events.distinct_creators, 0) as {{ dbt.type_bigint() }})
            as distinct_creators,
        cast(coalesce(post_period_events.top_creator_impressions, 0) as {{ dbt.type_bigint() }})
            as top_creator_impressions,
        cast(coalesce(post_period_items.clicked_position_sum, 0) as {{ dbt.type_bigint() }})
            as clicked_position_sum,
        cast(coalesce(post_period_items.clicked_impressions, 0) as {{ dbt.type_bigint() }})
            as clicked_impressions,
        cast(coalesce(post_period_items.top3_impressions, 0) as {{ dbt.type_bigint() }})
            as top3_impressions,
        {{ safe_divide('coalesce(post_period_requests.ndcg_at_10_sum, 0)', 1) }} as ndcg_at_10_sum,
        cast(coalesce(post_period_requests.ndcg_at_10_requests, 0) as {{ dbt.type_bigint() }})
            as ndcg_at_10_requests,
        cast(coalesce(pre_period_events.pre_impressions, 0) as {{ dbt.type_bigint() }}) as pre_impressions,
        cast(coalesce(pre_period_events.pre_clicks, 0) as {{ dbt.type_bigint() }}) as pre_clicks,
        cast(coalesce(pre_period_events.pre_saves, 0) as {{ dbt.type_bigint() }}) as pre_saves,
        cast(coalesce(pre_period_events.pre_active_days, 0) as {{ dbt.type_bigint() }}) as pre_active_days

    from assigned_users
    left join user_segments
        on
            assigned_users.experiment_id = user_segments.experiment_id
            and assigned_users.user_id = user_segments.user_id
    left join post_period_events
        on
            assigned_users.experiment_id = post_period_events.experiment_id
            and assigned_users.user_id = post_period_events.user_id
    left join pre_period_events
        on
            assigned_users.experiment_id = pre_period_events.experiment_id
            and assigned_users.user_id = pre_period_events.user_id
    left join post_period_revenue
        on
            assigned_users.experiment_id = post_period_revenue.experiment_id
            and assigned_users.user_id = post_period_revenue.user_id
    left join post_period_items
        on
            assigned_users.experiment_id = post_period_items.experiment_id
            and assigned_users.user_id = post_period_items.user_id
    left join post_period_requests
        on
            assigned_users.experiment_id = post_period_requests.experiment_id
            and assigned_users.user_id = post_period_requests.user_id

)

select * from final
