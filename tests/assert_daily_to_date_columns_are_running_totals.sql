-- fct_experiment_user_daily_metrics' running totals, checked by another route than the one
-- that builds them (a running sum): on each of a user's rows, every <column>_to_date (flagged
-- meta: {to_date_of: <column>} in the YAML) minus the day's <column> is the previous row's
-- <column>_to_date (0 on the first row), and user_day_number is the previous row's plus one
-- (1 on the first). With assert_daily_metrics_sum_to_user_metrics this makes the last row's
-- running total the user's total. One row per offending (experiment_id, user_id, metric_date,
-- metric_column) with both values; stored (store_failures) in the <target schema>_dbt_test__audit
-- schema under this test's name.

{{ config(store_failures=true) }}

{%- set to_date_columns = column_meta_values(
    'fct_experiment_user_daily_metrics', 'to_date_of', [['impressions_to_date', 'impressions']]
) %}

with

daily_metrics as (

    select * from {{ ref('fct_experiment_user_daily_metrics') }}

),

with_previous as (

    select
        experiment_id,
        user_id,
        metric_date,
        {%- for to_date, column in to_date_columns %}
        {{ to_date }} - {{ column }} as {{ to_date }}_before,
        lag({{ to_date }}) over user_rows as previous_{{ to_date }},
        {%- endfor %}
        user_day_number,
        lag(user_day_number) over user_rows as previous_user_day_number

    from daily_metrics
    window user_rows as (partition by experiment_id, user_id order by metric_date)

),

broken as (

    {%- for to_date, column in to_date_columns %}

    select
        experiment_id,
        user_id,
        metric_date,
        '{{ to_date }}' as metric_column,
        cast({{ to_date }}_before as decimal(38, 2)) as running_total_before,
        cast(coalesce(previous_{{ to_date }}, 0) as decimal(38, 2)) as previous_running_total
    from with_previous
    where {{ to_date }}_before <> coalesce(previous_{{ to_date }}, 0)

    union all
    {%- endfor %}

    select
        experiment_id,
        user_id,
        metric_date,
        'user_day_number' as metric_column,
        cast(user_day_number as decimal(38, 2)) as running_total_before,
        cast(coalesce(previous_user_day_number, 0) + 1 as decimal(38, 2)) as previous_running_total
    from with_previous
    where user_day_number <> coalesce(previous_user_day_number, 0) + 1

),

final as (

    select * from broken

)

select * from final
