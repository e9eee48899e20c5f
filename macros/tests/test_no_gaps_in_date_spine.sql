{#-
    A daily spine has exactly one row per date from its first to its last: the row count equals
    the number of days spanned. Fails with the figures when a date is missing or repeated.
-#}
{% test no_gaps_in_date_spine(model, date_column) %}

with

summary as (

    select
        count(*) as row_count,
        count(distinct {{ date_column }}) as distinct_dates,
        {{ dbt.datediff('min(' ~ date_column ~ ')', 'max(' ~ date_column ~ ')', 'day') }} + 1
            as days_spanned

    from {{ model }}

)

select * from summary
where row_count <> days_spanned or distinct_dates <> days_spanned

{% endtest %}
