{#-
    The raw contract's timestamp shape: ISO-8601 date, 'T' or space, hh:mm:ss with optional
    fraction, then a UTC offset (Z, +hh:mm, +hhmm or +hh; the last is how DuckDB and Postgres
    print a timestamptz cast to text). The same shape without the offset is rejected as
    missing_offset: a wall-clock time with no offset names no instant.
-#}
{% macro iso_timestamp_pattern() -%}
    [0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,9})?
{%- endmacro %}

{#-
    Offsets that exist on Earth: -12:00 to +14:00, minutes 00-59. Checked by the pattern, not by
    the engine: DuckDB accepts '+99:99' (four days off) where Postgres fails the build, so the
    contract, not the engine, decides.
-#}
{% macro iso_offset_pattern() -%}
    (Z|[+-](0[0-9]|1[01])(:?[0-5][0-9])?|-12(:?00)?|[+]1[23](:?[0-5][0-9])?|[+]14(:?00)?)
{%- endmacro %}

{#- Anything shaped like an offset, real or not: what tells invalid_offset from unparseable. -#}
{% macro iso_any_offset_pattern() -%}
    [+-][0-9]{2}(:?[0-9]{2})?
{%- endmacro %}
