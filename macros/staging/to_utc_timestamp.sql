{#-
    The UTC rule, in one place: an ISO-8601 string with an offset becomes a TIMESTAMP (no time
    zone) holding the UTC wall-clock time of that instant. Anything else becomes NULL (the
    caller's reject reason says why). Never a plain cast: that silently drops the offset.
-#}
{% macro to_utc_timestamp(column) -%}
    {{ return(adapter.dispatch('to_utc_timestamp', 'metricbook')(column)) }}
{%- endmacro %}

{#- Standard SQL; engines without a safe cast fail the build on a calendar-invalid string. -#}
{% macro default__to_utc_timestamp(column) -%}
    case
        when {{ metricbook.regex_full_match(column, metricbook.iso_timestamp_pattern() ~ metricbook.iso_offset_pattern()) }}
            then cast(cast({{ column }} as timestamp with time zone) at time zone 'UTC' as timestamp)
    end
{%- endmacro %}

{#- DuckDB has try_cast: a calendar-invalid string (Feb 30, 25:00) becomes NULL, not an error. -#}
{% macro duckdb__to_utc_timestamp(column) -%}
    case
        when {{ metricbook.regex_full_match(column, metricbook.iso_timestamp_pattern() ~ metricbook.iso_offset_pattern()) }}
            then cast(try_cast({{ column }} as timestamp with time zone) at time zone 'UTC' as timestamp)
    end
{%- endmacro %}

{#-
    Postgres has no try_cast and raises on Feb 30 or 25:00, so the calendar fields are checked
    before the cast (CASE evaluates its branches in order).
-#}
{% macro postgres__to_utc_timestamp(column) -%}
    case
        when not {{ metricbook.regex_full_match(column, metricbook.iso_timestamp_pattern() ~ metricbook.iso_offset_pattern()) }}
            then null
        when substring({{ column }} from 6 for 2)::int not between 1 and 12
            or substring({{ column }} from 12 for 2)::int > 23
            or substring({{ column }} from 15 for 2)::int > 59
            or substring({{ column }} from 18 for 2)::int > 59
            or substring({{ column }} from 9 for 2)::int not between 1 and extract(day from (
                make_date(substring({{ column }} from 1 for 4)::int, substring({{ column }} from 6 for 2)::int, 1)
                + interval '1 month - 1 day'
            ))::int
            then null
        else cast({{ column }} as timestamp with time zone) at time zone 'UTC'
    end
{%- endmacro %}

{#-
    Spark has no AT TIME ZONE; casting to timestamp honours the offset, and convert_timezone
    renders that instant as UTC wall-clock time (TIMESTAMP_NTZ), whatever the session zone.
    try_cast because Spark 4 runs in ANSI mode, where a bad cast raises.
-#}
{% macro spark__to_utc_timestamp(column) -%}
    case
        when {{ metricbook.regex_full_match(column, metricbook.iso_timestamp_pattern() ~ metricbook.iso_offset_pattern()) }}
            then convert_timezone('UTC', try_cast({{ column }} as timestamp))
    end
{%- endmacro %}
