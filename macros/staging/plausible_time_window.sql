{#-
    The plausible-time rule: an instant is staged only inside [floor, ceiling].
    floor   = var timestamp_floor (default 2000-01-01 UTC): older is a default or a broken clock;
    ceiling = the build's start (run_started_at, UTC) + var future_tolerance_minutes (default 60):
              a client clock a little fast is tolerated, an event from next year is not.
    Rows outside are rejected as <column>_too_early / <column>_in_future, so no as-of date,
    date spine or window can be moved by one impossible row. Both bounds are SQL literals.
-#}
{% macro timestamp_floor() -%}
    {{ return(metricbook.utc_timestamp_literal(metricbook.date_var('timestamp_floor') ~ ' 00:00:00')) }}
{%- endmacro %}

{% macro timestamp_ceiling() -%}
    {#- at most a week (10080 minutes): a clock further ahead is broken, not fast -#}
    {%- set tolerance = metricbook.integer_var('future_tolerance_minutes', 0, 10080) -%}
    {%- set ceiling = run_started_at + modules.datetime.timedelta(minutes=tolerance) -%}
    {{ return(metricbook.utc_timestamp_literal(ceiling.strftime('%Y-%m-%d %H:%M:%S'))) }}
{%- endmacro %}

{#- A timestamp-without-time-zone literal; Spark's plain timestamp is zoned, so it says ntz. -#}
{% macro utc_timestamp_literal(text) -%}
    {{ return(adapter.dispatch('utc_timestamp_literal', 'metricbook')(text)) }}
{%- endmacro %}

{% macro default__utc_timestamp_literal(text) -%}
    cast('{{ text }}' as timestamp)
{%- endmacro %}

{% macro spark__utc_timestamp_literal(text) -%}
    cast('{{ text }}' as timestamp_ntz)
{%- endmacro %}
