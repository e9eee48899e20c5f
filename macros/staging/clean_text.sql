{#- Raw text as delivered, trimmed; an empty string is a missing value, not a value. -#}
{% macro clean_text(column) -%}
    nullif(trim(cast({{ column }} as {{ dbt.type_string() }})), '')
{%- endmacro %}
