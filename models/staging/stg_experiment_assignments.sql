with

ledger as (

    select * from {{ ref('base_experiment_assignments') }}

),

final as (

    select
        ---------- ids
        experiment_id,
        user_id,
        variant,

        ---------- timestamps (UTC)
        assigned_at

    from ledger
    where row_status = 'staged'

)

select * from final
