{#-
    Why a raw timestamp could not be staged, or NULL when it was (parsed_column holds
    plausible_utc_timestamp). Reasons, in order: missing_<name> (null or blank),
    <name>_missing_offset (a wall-clock time with no offset names no instant),
    <name>_invalid_offset (an offset outside -12:00..+14:00 or minutes over 59),
    <name>_unparseable (anything else, including Feb 30 and 25:00), <name>_too_early (before
    var timestamp_floor), <name>_in_future (after the build's start plus the tolerance).
    The later branches re-parse, but only for rows that are rejected anyway.
-#}
{% macro timestamp_reject_reason(text_column, parsed_column, name) -%}
    {%- set ts = metricbook.iso_timestamp_pattern() -%}
    case
        when {{ text_column }} is null then 'missing_{{ name }}'
        when {{ parsed_column }} is not null then null
        when {{ metricbook.regex_full_match(text_column, ts) }} then '{{ name }}_missing_offset'
        when {{ metricbook.regex_full_match(text_column, ts ~ '(' ~ metricbook.iso_any_offset_pattern() ~ ')') }}
            and not {{ metricbook.regex_full_match(text_column, ts ~ metricbook.iso_offset_pattern()) }}
            then '{{ name }}_invalid_offset'
        when {{ metricbook.to_utc_timestamp(text_column) }} is null then '{{ name }}_unparseable'
        when {{ metricbook.to_utc_timestamp(text_column) }} < {{ metricbook.timestamp_floor() }}
            then '{{ name }}_too_early'
        else '{{ name }}_in_future'
    end
{%- endmacro %}
