{#-
    numerator / denominator as a double, NULL when the denominator is 0 (a rate over nobody is
    unknown, not 0). Double everywhere so engines agree: integer * 1.0 / n is a NUMERIC of
    engine-specific scale on Postgres and a DOUBLE on DuckDB.
-#}
{% macro safe_divide(numerator, denominator) -%}
    {{ return(adapter.dispatch('safe_divide', 'metricbook')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__safe_divide(numerator, denominator) -%}
    cast({{ numerator }} as double precision) / nullif({{ denominator }}, 0)
{%- endmacro %}

{#- Spark has no DOUBLE PRECISION spelling. -#}
{% macro spark__safe_divide(numerator, denominator) -%}
    cast({{ numerator }} as double) / nullif({{ denominator }}, 0)
{%- endmacro %}
