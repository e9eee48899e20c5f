{#-
    True when the whole string matches the pattern. Patterns in this project avoid backslashes
    (Spark string literals eat them): write [0-9] and [.], not \d and \.
-#}
{% macro regex_full_match(column, pattern) -%}
    {{ return(adapter.dispatch('regex_full_match', 'metricbook')(column, pattern)) }}
{%- endmacro %}

{#- regexp_like: Snowflake, Oracle, Databricks, Trino. -#}
{% macro default__regex_full_match(column, pattern) -%}
    regexp_like({{ column }}, '^(?:{{ pattern }})$')
{%- endmacro %}

{#- DuckDB has no regexp_like; regexp_full_match anchors both ends itself. -#}
{% macro duckdb__regex_full_match(column, pattern) -%}
    regexp_full_match({{ column }}, '{{ pattern }}')
{%- endmacro %}

{#- Postgres spells regex match as an operator. -#}
{% macro postgres__regex_full_match(column, pattern) -%}
    ({{ column }} ~ '^(?:{{ pattern }})$')
{%- endmacro %}

{#- Spark's regexp_like exists only from 3.2; rlike is everywhere. -#}
{% macro spark__regex_full_match(column, pattern) -%}
    ({{ column }} rlike '^(?:{{ pattern }})$')
{%- endmacro %}
