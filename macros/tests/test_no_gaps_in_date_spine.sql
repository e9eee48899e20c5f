{#-
    A daily spine has exactly one row per date from its first to its last: the row count equals
    the number of days spanned. With `partition_by` (a list of columns), each partition is its
    own spine (e.g. one per unit) and every partition must span the same dates as the whole
    model. Fails with the figures when a date is missing or repeated.
-#}
{% test no_gaps_in_date_spine(model, date_column, partition_by=none) %}

{%- set partition = partition_by or [] %}

with

bounds as (

    select
        min({{ date_column }}) as first_date,
        max({{ date_column }}) as last_date

    from {{ model }}

),

summary as (

    select
        {%- for column in partition %}
        {{ column }},
        {%- endfor %}
        count(*) as row_count,
        count(distinct {{ date_column }}) as distinct_dates,
        min({{ date_column }}) as first_date,
        max({{ date_column }}) as last_date,
        {{ dbt.datediff('min(' ~ date_column ~ ')', 'max(' ~ date_column ~ ')', 'day') }} + 1
            as days_spanned

    from {{ model }}
    {%- if partition %}
    group by {{ partition | join(', ') }}
    {%- endif %}

)

select summary.*
from summary
cross join bounds
where
    summary.row_count <> summary.days_spanned
    or summary.distinct_dates <> summary.days_spanned
    or summary.first_date <> bounds.first_date
    or summary.last_date <> bounds.last_date

{% endtest %}
