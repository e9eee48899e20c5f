with

ledger as (

    select * from {{ ref('base_experiment_variants') }}

),

final as (

    select
        ---------- ids
        experiment_id,
        variant,

        ---------- numerics
        traffic_share,

        ---------- booleans
        is_control

    from ledger
    where row_status = 'staged'

)

select * from final
