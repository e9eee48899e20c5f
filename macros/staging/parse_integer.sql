{#- An integer parsed from text, or NULL; nine digits at most so the cast cannot overflow. -#}
{% macro parse_integer(column) -%}
    case
        when {{ metricbook.regex_full_match(column, '[+-]?[0-9]{1,9}') }}
            then cast({{ column }} as {{ dbt.type_int() }})
    end
{%- endmacro %}
