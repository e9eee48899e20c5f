{#- The spellings producers actually send; anything else is NULL (and the caller rejects it). -#}
{% macro parse_boolean(column) -%}
    case
        when lower({{ column }}) in ('true', 't', '1', 'yes', 'y') then true
        when lower({{ column }}) in ('false', 'f', '0', 'no', 'n') then false
    end
{%- endmacro %}
