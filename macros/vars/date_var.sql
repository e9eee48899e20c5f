{#- A var holding a calendar date, YYYY-MM-DD; null only where `nullable`. -#}
{% macro date_var(name, nullable=false) -%}
    {%- set value = var(name) -%}
    {%- if value is none and nullable -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set text = value | string -%}
    {%- set ok = modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', text) is not none -%}
    {%- if ok -%}
        {%- set parts = text.split('-') | map('int') | list -%}
        {%- set ok = parts[1] >= 1 and parts[1] <= 12 and parts[2] >= 1
            and parts[2] <= [31, 29 if (parts[0] % 4 == 0 and (parts[0] % 100 != 0
                or parts[0] % 400 == 0)) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][parts[1] - 1] -%}
    {%- endif -%}
    {%- if not ok -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be a date written YYYY-MM-DD"
            ~ (" or null" if nullable else "") ~ ", got '" ~ value ~ "'") }}
    {%- endif -%}
    {{ return(text) }}
{%- endmacro %}
