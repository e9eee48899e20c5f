with

ledger as (

    select * from {{ ref('base_experiments') }}

),

final as (

    select
        ---------- ids
        experiment_id,

        ---------- timestamps (UTC)
        start_at,
        end_at

    from ledger
    where row_status = 'staged'

)

select * from final
