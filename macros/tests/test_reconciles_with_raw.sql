{#-
    Loses nothing: every row of the raw table is staged, rejected with a reason, or a removed
    duplicate. Applied to a base ledger model; counts the raw table, the staged model and the
    rejects model independently and fails with the figures when
        raw rows <> staged rows + rejected rows + duplicate rows.
-#}
{% test reconciles_with_raw(model, raw_table, staged, rejects) %}

with

raw_rows as (

    select count(*) as n from {{ raw_relation(raw_table) }}

),

staged_rows as (

    select count(*) as n from {{ staged }}

),

rejected_rows as (

    select count(*) as n from {{ rejects }}

),

duplicate_rows as (

    select count(*) as n from {{ model }}
    where row_status = 'duplicate'

),

final as (

    select
        '{{ raw_table }}' as raw_table,
        raw_rows.n as raw_rows,
        staged_rows.n as staged_rows,
        rejected_rows.n as rejected_rows,
        duplicate_rows.n as duplicate_rows

    from raw_rows
    cross join staged_rows
    cross join rejected_rows
    cross join duplicate_rows

)

select * from final
where raw_rows <> staged_rows + rejected_rows + duplicate_rows

{% endtest %}
