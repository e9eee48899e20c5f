with

ledger as (

    select * from {{ ref('base_ranker_scores') }}

),

final as (

    select
        ---------- ids
        model_id,
        request_id,
        pin_id,

        ---------- numerics
        score

    from ledger
    where row_status = 'staged'

)

select * from final
