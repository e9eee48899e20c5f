{#-
    The first date an incremental run rebuilds: the latest date already in the model minus var
    late_data_lookback_days (default 3), so events that arrive up to that many days late are
    still counted, and re-counted correctly. With grain='week' it is the Monday of that date's
    ISO week (weekly models rebuild whole weeks). A scalar subquery on {{ this }}, so the model's
    SELECT and the strategy's DELETE see the same cutoff.
-#}
{% macro late_data_cutoff(date_column, grain='day') -%}
    {%- set latest_minus_lookback = dbt.dateadd(
        'day', -1 * metricbook.integer_var('late_data_lookback_days', 0, 3660), 'max(' ~ date_column ~ ')') -%}
    {%- if grain == 'week' -%}
        (select cast({{ dbt.date_trunc('week', latest_minus_lookback) }} as date) from {{ this }})
    {%- else -%}
        (select cast({{ latest_minus_lookback }} as date) from {{ this }})
    {%- endif -%}
{%- endmacro %}
