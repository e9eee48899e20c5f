{#-
    A var that is pasted into SQL must be what it claims to be: a whole number in [minimum,
    maximum], or the build stops at compile time naming the var. (YAML's true is not 1, '3; drop'
    is not 3.)
-#}
{% macro integer_var(name, minimum, maximum) -%}
    {%- set value = var(name) -%}
    {#- range first: `| int` of an infinity raises before the var could be named; NaN is the
        value that is not equal to itself -#}
    {%- if value is boolean or value is not number or value != value
        or value < minimum or value > maximum or value != value | int -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be a whole number from " ~ minimum ~ " to " ~ maximum
            ~ ", got '" ~ value ~ "'") }}
    {%- endif -%}
    {{ return(value | int) }}
{%- endmacro %}
