-- Containment: every experiment with rows in an experiment mart is analyzable in
-- dim_experiments (one staged row, two or more variants, exactly one control, traffic shares
-- adding up to 1). A broken experiment is excluded, not fatal (tests/warn_excluded_experiments
-- lists it); this fails only if one leaks into a mart, where it could produce a readout.
-- One row per (experiment, mart) that breaks the rule; stored (store_failures) in the
-- <target schema>_dbt_test__audit schema under this test's name.

{{ config(store_failures=true) }}

with

experiments as (

    select * from {{ ref('dim_experiments') }}

),

assignments as (

    select * from {{ ref('fct_experiment_assignments') }}

),

excluded_users as (

    select * from {{ ref('fct_experiment_excluded_users') }}

),

user_metrics as (

    select * from {{ ref('fct_experiment_user_metrics') }}

),

exposures as (

    select * from {{ ref('fct_experiment_exposures') }}

),

user_daily_metrics as (

    select * from {{ ref('fct_experiment_user_daily_metrics') }}

),

mart_rows as (

    select
        experiment_id,
        'fct_experiment_assignments' as mart,
        count(*) as mart_rows
    from assignments
    group by experiment_id

    union all

    select
        experiment_id,
        'fct_experiment_excluded_users' as mart,
        count(*) as mart_rows
    from excluded_users
    group by experiment_id

    union all

    select
        experiment_id,
        'fct_experiment_user_metrics' as mart,
        count(*) as mart_rows
    from user_metrics
    group by experiment_id

    union all

    select
        experiment_id,
        'fct_experiment_exposures' as mart,
        count(*) as mart_rows
    from exposures
    group by experiment_id

    union all

    select
        experiment_id,
        'fct_experiment_user_daily_metrics' as mart,
        count(*) as mart_rows
    from user_daily_metrics
    group by experiment_id

),

final as (

    select
        mart_rows.experiment_id,
        mart_rows.mart,
        mart_rows.mart_rows,
        experiments.exclusion_reason,
        case
            when experiments.experiment_id is null then 'mart_experiment_is_declared'
            else 'only_analyzable_experiments_in_marts'
        end as broken_rule

    from mart_rows
    left join experiments
        on mart_rows.experiment_id = experiments.experiment_id
    where
        experiments.experiment_id is null
        or not experiments.is_analyzable

)

select * from final
