{#-
    A timestamp column holds UTC wall-clock time with no time zone attached:
    1. its type is a timestamp WITHOUT time zone (a TIMESTAMPTZ renders in the session zone);
    2. when source_text_column is given, every value equals what the raw ISO-8601 text implies,
       derived independently of to_utc_timestamp: the local wall-clock part minus the offset.
       Compared to the second (the arithmetic below ignores fractions).
-#}
{% test utc_timestamp(model, column_name, source_text_column=none) %}

{%- set type_ok = true -%}
{%- set actual_type = 'unknown' -%}
{%- if execute -%}
    {%- set columns = adapter.get_columns_in_relation(model) -%}
    {%- for column in columns if column.name | lower == column_name | lower -%}
        {%- set actual_type = column.data_type -%}
        {%- set type_ok = metricbook.is_timestamp_without_time_zone(column.data_type) -%}
    {%- endfor -%}
{%- endif %}

with

wrong_type as (

    select
        cast(null as {{ dbt.type_string() }}) as source_text,
        cast(null as {{ dbt.type_string() }}) as actual_value,
        'column {{ column_name }} has type {{ actual_type }}, not a timestamp without time zone'
            as failure
    {%- if type_ok %}
    where 1 = 0
    {%- endif %}

)

{%- if source_text_column %},

offsets as (

    select
        {{ column_name }} as actual,
        {{ source_text_column }} as source_text,
        cast(replace(substring({{ source_text_column }}, 1, 19), 'T', ' ') as timestamp)
            as local_wall_clock,
        -- The offset normalised to '+hh:mm' from its four spellings: Z, +hh:mm, +hhmm, +hh.
        case
            when {{ dbt.right(source_text_column, 1) }} = 'Z' then '+00:00'
            when substring({{ source_text_column }}, {{ dbt.length(source_text_column) }} - 2, 1) = ':'
                then {{ dbt.right(source_text_column, 6) }}
            when substring({{ source_text_column }}, {{ dbt.length(source_text_column) }} - 2, 1) in ('+', '-')
                then {{ dbt.concat([dbt.right(source_text_column, 3), "':00'"]) }}
            else {{ dbt.concat([
                "substring(" ~ source_text_column ~ ", " ~ dbt.length(source_text_column) ~ " - 4, 3)",
                "':'",
                dbt.right(source_text_column, 2)]) }}
        end as utc_offset

    from {{ model }}
    where {{ column_name }} is not null

),

parts as (

    select
        actual,
        source_text,
        local_wall_clock,
        (cast(substring(utc_offset, 2, 2) as {{ dbt.type_int() }}) * 60
            + cast(substring(utc_offset, 5, 2) as {{ dbt.type_int() }}))
        * case when substring(utc_offset, 1, 1) = '-' then -1 else 1 end as offset_minutes

    from offsets

),

wrong_value as (

    select
        source_text,
        cast(actual as {{ dbt.type_string() }}) as actual_value,
        'expected ' || cast(
            {{ dbt.dateadd('minute', '-offset_minutes', 'local_wall_clock') }}
            as {{ dbt.type_string() }}
        ) as failure

    from parts
    where {{ dbt.date_trunc('second', 'actual') }}
        <> {{ dbt.dateadd('minute', '-offset_minutes', 'local_wall_clock') }}

)

select * from wrong_type
union all
select * from wrong_value

{%- else %}

select * from wrong_type

{%- endif %}

{% endtest %}
