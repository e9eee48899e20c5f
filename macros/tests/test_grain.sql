{#-
    The columns together identify a row: no combination appears twice. NULL counts as a value
    (GROUP BY puts NULLs together), so a NULL key repeated is a failure, not a pass.
    Fails with one row per repeated combination and how many times it appears.
-#}
{% test grain(model, columns) %}

with

grouped as (

    select
        {{ columns | join(', ') }},
        count(*) as rows_with_this_key

    from {{ model }}
    group by {{ columns | join(', ') }}

),

final as (

    select * from grouped
    where rows_with_this_key > 1

)

select * from final

{% endtest %}
