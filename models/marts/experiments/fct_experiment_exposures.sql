-- One row per (experiment, user, surface) on which the assigned user was shown anything in the
-- post period: where, when first and how often each user actually met the treatment. Only
-- impressions expose (a click, save or hide is what the user did with an exposure, and app_open
-- shows no pin); an impression before first_assigned_at or after end_at is not an exposure to
-- the experiment (in_experiment_post_period). A user with no such impression has no row: this
-- is the exposure log, not the analysis population (fct_experiment_user_metrics is).

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

surface_exposures as (

    select
        assigned_users.experiment_id,
        assigned_users.user_id,
        events.surface,
        assigned_users.variant,
        min(events.event_at) as first_exposed_at,
        count(*) as impressions

    from assigned_users
    inner join events
        on
            assigned_users.user_id = events.user_id
            and {{ in_experiment_post_period('assigned_users', 'events.event_at') }}
    where events.event_type = 'impression'
    group by
        assigned_users.experiment_id,
        assigned_users.user_id,
        events.surface,
        assigned_users.variant

),

final as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(surface as {{ dbt.type_string() }}) as surface,
        cast(variant as {{ dbt.type_string() }}) as variant,
        first_exposed_at,
        cast(impressions as {{ dbt.type_bigint() }}) as impressions

    from surface_exposures

)

select * from final
