{#- A var holding a non-empty list of distinct whole numbers in [minimum, maximum]. -#}
{% macro integer_list_var(name, minimum, maximum) -%}
    {%- set values = var(name) -%}
    {%- set problem = values is string or values is not iterable or values is mapping
        or values | length == 0 -%}
    {%- if not problem -%}
        {#- a namespace: a plain `set` inside a loop does not outlive the loop in Jinja -#}
        {%- set state = namespace(problem=false) -%}
        {%- for value in values -%}
            {#- range before `| int`, which raises on an infinity; NaN is not equal to itself -#}
            {%- if value is boolean or value is not number or value != value
                or value < minimum or value > maximum or value != value | int -%}
                {%- set state.problem = true -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set problem = state.problem
            or (values | unique | list | length) != (values | length) -%}
    {%- endif -%}
    {%- if problem -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be a list of distinct whole numbers from " ~ minimum ~ " to "
            ~ maximum ~ ", e.g. [1, 7, 14, 30], got '" ~ values ~ "'") }}
    {%- endif -%}
    {{ return(values | map('int') | list) }}
{%- endmacro %}
