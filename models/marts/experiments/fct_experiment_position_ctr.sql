-- Impressions and clicks per experiment arm, surface and feed position, in each assigned
-- user's post period: what the readout needs to split a CTR change into a within-position rate
-- effect and a position-mix effect. A treatment that moves impressions to lower slots lowers
-- pooled CTR at unchanged quality; only the per-position rates show it.

with

assignments as (

    select * from {{ ref('fct_experiment_assignments') }}

),

experiments as (

    select * from {{ ref('stg_experiments') }}

),

events as (

    select * from {{ ref('stg_events') }}
    -- every impression has a position (staging rejects one without); a click logged without
    -- one has no slot to be credited to
    where event_type in ('impression', 'click') and feed_position is not null

),

assigned_users as (

    select
        assignments.experiment_id,
        assignments.user_id,
        assignments.variant,
        assignments.first_assigned_at,
        experiments.end_at

    from assignments
    inner join experiments
        on assignments.experiment_id = experiments.experiment_id

),

by_position as (

    select
        assigned_users.experiment_id,
        assigned_users.variant,
        events.surface,
        events.feed_position,
        sum(case when events.event_type = 'impression' then 1 else 0 end) as impressions,
        sum(case when events.event_type = 'click' then 1 else 0 end) as clicks,
        count(distinct assigned_users.user_id) as users

    from assigned_users
    inner join events
        on
            assigned_users.user_id = events.user_id
            and {{ in_experiment_post_period('assigned_users', 'events.event_at') }}
    group by
        assigned_users.experiment_id,
        assigned_users.variant,
        events.surface,
        events.feed_position

),

final as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(variant as {{ dbt.type_string() }}) as variant,
        cast(surface as {{ dbt.type_string() }}) as surface,
        cast(feed_position as {{ dbt.type_int() }}) as feed_position,
        cast(impressions as {{ dbt.type_bigint() }}) as impressions,
        cast(clicks as {{ dbt.type_bigint() }}) as clicks,
        cast(users as {{ dbt.type_bigint() }}) as users

    from by_position

)

select * from final
