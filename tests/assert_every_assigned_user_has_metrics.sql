-- fct_experiment_user_metrics has exactly the users of fct_experiment_assignments, in the same
-- arm: an inactive user who went missing would bias every per-user mean. Returns the users
-- present on one side only, or in different arms, with the rule each breaks; stored
-- (store_failures) in the <target schema>_dbt_test__audit schema under this test's name.

{{ config(store_failures=true) }}

with

assignments as (

    select * from {{ ref('fct_experiment_assignments') }}

),

user_metrics as (

    select * from {{ ref('fct_experiment_user_metrics') }}

),

final as (

    select
        coalesce(assignments.experiment_id, user_metrics.experiment_id) as experiment_id,
        coalesce(assignments.user_id, user_metrics.user_id) as user_id,
        assignments.variant as assigned_variant,
        user_metrics.variant as metrics_variant,
        case
            when user_metrics.user_id is null then 'every_assigned_user_has_metrics'
            when assignments.user_id is null then 'every_metrics_row_is_an_assigned_user'
            else 'metrics_variant_is_the_assigned_variant'
        end as broken_rule

    from assignments
    full outer join user_metrics
        on
            assignments.experiment_id = user_metrics.experiment_id
            and assignments.user_id = user_metrics.user_id
    where
        assignments.user_id is null
        or user_metrics.user_id is null
        or assignments.variant <> user_metrics.variant

)

select * from final
