with

ledger as (

    select * from {{ ref('base_transactions') }}

),

final as (

    select
        ---------- ids
        transaction_id,
        user_id,
        pin_id,

        ---------- strings
        status,

        ---------- numerics
        amount_usd,

        ---------- timestamps (UTC)
        transacted_at,
        cast(transacted_at as date) as transacted_date

    from ledger
    where row_status = 'staged'

)

select * from final
