{#-
    A probability parsed from text: a plain or exponent-notation number (0.25, .25, 2.5e-01,
    1E-5) cast to a double, or NULL when the text is not such a number (NaN, inf, 'high', 1,5).
    Model scores are printed by code, often in exponent notation, so that is accepted; at most
    20 integer digits and a two-digit exponent keep the cast finite on every engine. The range
    check ([0, 1]) is the caller's: an out-of-range number is a different reject reason.
-#}
{% macro parse_probability(column) -%}
    case
        when {{ metricbook.regex_full_match(column, '[+-]?([0-9]{1,20}([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]{1,2})?') }}
            then cast({{ column }} as {{ metricbook.type_double() }})
    end
{%- endmacro %}
