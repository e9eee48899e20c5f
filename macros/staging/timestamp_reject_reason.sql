{#-
    Why a raw timestamp could not be staged, or NULL when it was parsed. Reasons, in order:
    missing_<name> (null or blank), <name>_missing_offset (a wall-clock time with no offset names
    no instant), <name>_unparseable (anything else, including Feb 30 and 25:00).
-#}
{% macro timestamp_reject_reason(text_column, parsed_column, name) -%}
    case
        when {{ text_column }} is null then 'missing_{{ name }}'
        when {{ parsed_column }} is not null then null
        when {{ metricbook.regex_full_match(text_column, metricbook.iso_timestamp_pattern()) }}
            then '{{ name }}_missing_offset'
        else '{{ name }}_unparseable'
    end
{%- endmacro %}
