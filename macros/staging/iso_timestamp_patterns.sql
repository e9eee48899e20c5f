{#-
    The raw contract's timestamp shape: ISO-8601 date, 'T' or space, hh:mm:ss with optional
    fraction, then a UTC offset (Z, +hh:mm, +hhmm or +hh; the last is how DuckDB and Postgres
    print a timestamptz cast to text). The same shape without the offset is rejected as
    missing_offset: a wall-clock time with no offset names no instant.
-#}
{% macro iso_timestamp_pattern() -%}
    [0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,9})?
{%- endmacro %}

{% macro iso_offset_pattern() -%}
    (Z|[+-][0-9]{2}(:?[0-9]{2})?)
{%- endmacro %}
