{#-
    The plausible-time rule: an instant is staged only inside [floor, ceiling].
    floor   = var timestamp_floor (default 2000-01-01 UTC): older is a default or a broken clock;
    ceiling = the build's start (run_started_at, UTC) + var future_tolerance_minutes (default 60):
              a client clock a little fast is tolerated, an event from next year is not.
    Rows outside are rejected as <column>_too_early / <column>_in_future, so no as-of date,
    date spine or window can be moved by one impossible row. Both bounds are SQL literals.
-#}
{% macro timestamp_floor() -%}
    {%- set floor = var('timestamp_floor', '2000-01-01') | string -%}
    {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', floor) -%}
        {{ exceptions.raise_compiler_error(
            "var timestamp_floor must be a date written YYYY-MM-DD, got '" ~ floor ~ "'") }}
    {%- endif -%}
    {{ return(metricbook.utc_timestamp_literal(floor ~ ' 00:00:00')) }}
{%- endmacro %}

{% macro timestamp_ceiling() -%}
    {%- set tolerance = var('future_tolerance_minutes', 60) -%}
    {%- if tolerance is not number or tolerance is boolean or tolerance < 0 or tolerance > 10080 -%}
        {{ exceptions.raise_compiler_error(
            "var future_tolerance_minutes must be a whole number of minutes from 0 to 10080 "
            ~ "(a week), got '" ~ tolerance ~ "'") }}
    {%- endif -%}
    {%- set ceiling = run_started_at + modules.datetime.timedelta(minutes=tolerance | int) -%}
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
