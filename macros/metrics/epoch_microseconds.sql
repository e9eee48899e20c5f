{#-
    Microseconds since 1970-01-01 00:00:00 of a UTC timestamp without time zone, as a bigint:
    the one way session gaps and durations are measured. Whole microseconds keep a gap of
    exactly `session_gap_minutes` exact on every engine (a double epoch near 1.7e9 s carries
    about 0.2 µs of rounding; dbt.datediff counts second boundaries crossed instead).
-#}
{% macro epoch_microseconds(timestamp) -%}
    {{ return(adapter.dispatch('epoch_microseconds', 'metricbook')(timestamp)) }}
{%- endmacro %}

{#- Postgres: extract(epoch ...) is an exact numeric. -#}
{% macro default__epoch_microseconds(timestamp) -%}
    cast(extract(epoch from {{ timestamp }}) * 1000000 as {{ dbt.type_bigint() }})
{%- endmacro %}

{#- DuckDB: extract(epoch ...) is a double; epoch_us is exact. -#}
{% macro duckdb__epoch_microseconds(timestamp) -%}
    epoch_us({{ timestamp }})
{%- endmacro %}

{#- Spark: extract has no EPOCH field; unix_micros reads the instant (the session zone is UTC,
    so the cast from timestamp_ntz keeps the wall-clock time as UTC). -#}
{% macro spark__epoch_microseconds(timestamp) -%}
    unix_micros(cast({{ timestamp }} as timestamp))
{%- endmacro %}
