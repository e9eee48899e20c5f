-- fct_experiment_user_daily_metrics is fct_experiment_user_metrics by day: per (experiment,
-- user), every daily column (flagged meta: {daily: true} in its YAML) summed over the user's
-- days equals the user mart's column of the same name, and no day precedes the assignment. A
-- user missing from the days must have zeros in the user mart; a day of a user not in the user
-- mart breaks the rule too. One row per offending (experiment_id, user_id, metric_column) with
-- both values and the broken rule; stored (store_failures) in the <target schema>_dbt_test__audit
-- schema under this test's name.

{{ config(store_failures=true) }}

{#- the daily columns as the daily mart's YAML flags them -#}
{%- set daily_columns = [] %}
{%- for column, flag in column_meta_values(
    'fct_experiment_user_daily_metrics', 'daily', [['impressions', true]]
) if flag is true %}
{%- do daily_columns.append(column) %}
{%- endfor %}

with

user_metrics as (

    select * from {{ ref('fct_experiment_user_metrics') }}

),

daily_metrics as (

    select * from {{ ref('fct_experiment_user_daily_metrics') }}

),

daily_totals as (

    select
        experiment_id,
        user_id,
        {%- for column in daily_columns %}
        sum({{ column }}) as {{ column }},
        {%- endfor %}
        min(days_since_assignment) as first_day_since_assignment

    from daily_metrics
    group by experiment_id, user_id

),

compared as (

    select
        coalesce(user_metrics.experiment_id, daily_totals.experiment_id) as experiment_id,
        coalesce(user_metrics.user_id, daily_totals.user_id) as user_id,
        user_metrics.user_id is null as is_unknown_user,
        {%- for column in daily_columns %}
        cast(user_metrics.{{ column }} as decimal(38, 2)) as user_{{ column }},
        cast(coalesce(daily_totals.{{ column }}, 0) as decimal(38, 2)) as daily_{{ column }},
        {%- endfor %}
        daily_totals.first_day_since_assignment

    from user_metrics
    full outer join daily_totals
        on
            user_metrics.experiment_id = daily_totals.experiment_id
            and user_metrics.user_id = daily_totals.user_id

),

broken as (

    {%- for column in daily_columns %}

    select
        experiment_id,
        user_id,
        '{{ column }}' as metric_column,
        user_{{ column }} as user_total,
        daily_{{ column }} as daily_sum,
        case
            when is_unknown_user then 'every_daily_row_is_an_assigned_user'
            else 'daily_values_sum_to_the_user_total'
        end as broken_rule
    from compared
    where is_unknown_user or user_{{ column }} <> daily_{{ column }}

    union all
    {%- endfor %}

    select
        experiment_id,
        user_id,
        'days_since_assignment' as metric_column,
        cast(null as decimal(38, 2)) as user_total,
        cast(first_day_since_assignment as decimal(38, 2)) as daily_sum,
        'no_day_before_the_assignment' as broken_rule
    from compared
    where first_day_since_assignment < 0

),

final as (

    select * from broken

)

select * from final
