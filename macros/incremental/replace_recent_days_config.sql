{#-
    Incremental config for a model whose recent days are rebuilt on every run: the rows on or
    after late_data_cutoff(date_column) are replaced as a whole, so a row that disappeared (an
    event that turned out to be a later duplicate) disappears from the model too. Use as
    {{ config(materialized='incremental', **replace_recent_days_config('event_date')) }}.
-#}
{% macro replace_recent_days_config(date_column, grain='day') -%}
    {{ return(adapter.dispatch('replace_recent_days_config', 'metricbook')(date_column, grain)) }}
{%- endmacro %}

{% macro default__replace_recent_days_config(date_column, grain) -%}
    {{ return({
        'incremental_strategy': 'replace_date_range',
        'incremental_predicates': [
            date_column ~ ' >= ' ~ metricbook.late_data_cutoff(date_column, grain)
        ],
    }) }}
{%- endmacro %}

{#-
    dbt-spark accepts only its own strategies; insert_overwrite on a table partitioned by the
    date replaces exactly the date partitions the run writes (dynamic partition overwrite).
-#}
{% macro spark__replace_recent_days_config(date_column, grain) -%}
    {{ return({
        'incremental_strategy': 'insert_overwrite',
        'partition_by': [date_column],
        'file_format': 'parquet',
    }) }}
{%- endmacro %}
