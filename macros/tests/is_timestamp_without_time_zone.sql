{#- Whether a column's reported data type is a timestamp with no time zone attached. -#}
{% macro is_timestamp_without_time_zone(data_type) -%}
    {{ return(adapter.dispatch('is_timestamp_without_time_zone', 'metricbook')(data_type)) }}
{%- endmacro %}

{#- Postgres and DuckDB say 'timestamp [without time zone]'; zoned types mention the zone. -#}
{% macro default__is_timestamp_without_time_zone(data_type) -%}
    {%- set t = data_type | lower -%}
    {{ return(t.startswith('timestamp') and 'with time zone' not in t and 'tz' not in t
              and 'ltz' not in t) }}
{%- endmacro %}

{#- Spark's plain TIMESTAMP is zoned (local time zone); only TIMESTAMP_NTZ has none. -#}
{% macro spark__is_timestamp_without_time_zone(data_type) -%}
    {{ return(data_type | lower == 'timestamp_ntz') }}
{%- endmacro %}
