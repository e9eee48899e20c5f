{#-
    A decimal parsed from text, or NULL when the text is not a plain decimal number that fits.
    The regex guard replaces try_cast, which Postgres lacks, so one portable version serves every
    engine; it also bounds the integer digits so a huge value is rejected instead of overflowing.
-#}
{% macro parse_decimal(column, precision=18, scale=2) -%}
    case
        when {{ metricbook.regex_full_match(column, '[+-]?[0-9]{1,' ~ (precision - scale) ~ '}([.][0-9]+)?') }}
            then cast({{ column }} as decimal({{ precision }}, {{ scale }}))
    end
{%- endmacro %}
