{#-
    No date in a mart lies after the build: the ceiling of the plausible-time rule (the build's
    start plus the future tolerance, as a UTC date). A mart that runs past it was stretched by a
    row staging should have rejected. Returns the offending rows with the column and its value.
-#}
{% test dates_not_after_build_time(model, columns) %}

with

{% for column in columns %}
{{ column }}_after_build as (

    select
        '{{ column }}' as column_name,
        cast({{ column }} as {{ dbt.type_string() }}) as value,
        'after the build time ' || cast(cast({{ metricbook.timestamp_ceiling() }} as date) as {{ dbt.type_string() }})
            as broken_rule

    from {{ model }}
    where cast({{ column }} as date) > cast({{ metricbook.timestamp_ceiling() }} as date)

){{ ',' if not loop.last }}
{% endfor %}

{% for column in columns %}
select * from {{ column }}_after_build
{{ 'union all' if not loop.last }}
{% endfor %}

{% endtest %}
