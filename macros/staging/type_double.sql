{#-
    The 8-byte float type. dbt.type_float() is 4 bytes on DuckDB (FLOAT = REAL): a score of 0.7
    would be stored as 0.69999998 and land in calibration bin 6 there but bin 7 on Postgres.
-#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'metricbook')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{#- Spark has no DOUBLE PRECISION spelling. -#}
{% macro spark__type_double() -%}
    double
{%- endmacro %}
