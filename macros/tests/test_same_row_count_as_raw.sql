{#-
    The model has exactly as many rows as the raw table `raw_table` (read through the raw-source
    switch): for a model that keeps every raw row and has no key of its own. Fails with both
    counts.
-#}
{% test same_row_count_as_raw(model, raw_table) %}

with

counts as (

    select
        (select count(*) from {{ model }}) as model_rows,
        (select count(*) from {{ raw_relation(raw_table) }}) as raw_rows

)

select * from counts
where model_rows <> raw_rows

{% endtest %}
