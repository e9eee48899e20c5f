with

ledger as (

    select * from {{ ref('base_launches') }}

),

final as (

    select
        ---------- ids
        launch_id,
        treated_unit,

        ---------- strings
        unit_type,

        ---------- timestamps (UTC)
        launched_at,
        cast(launched_at as date) as launch_date

    from ledger
    where row_status = 'staged'

)

select * from final
