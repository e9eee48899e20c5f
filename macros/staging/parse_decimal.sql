{#-
    A decimal parsed from text, or NULL when the text is not a plain decimal number that fits
    exactly: at most precision - scale integer digits and at most `scale` decimals. A value with
    more decimals is refused, not rounded (0.001 would otherwise become a $0.00 sale). The regex
    guard replaces try_cast, which Postgres lacks, so one portable version serves every engine.
-#}
{% macro parse_decimal(column, precision=18, scale=2) -%}
    case
        when {{ metricbook.regex_full_match(column, '[+-]?[0-9]{1,' ~ (precision - scale) ~ '}([.][0-9]{1,' ~ scale ~ '})?') }}
            then cast({{ column }} as decimal({{ precision }}, {{ scale }}))
    end
{%- endmacro %}
