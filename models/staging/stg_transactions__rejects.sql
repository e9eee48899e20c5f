-- Rows of raw_transactions that could not be staged, as delivered (trimmed), with the reason.

with

ledger as (

    select * from {{ ref('base_transactions') }}

),

final as (

    select
        transaction_id,
        user_id,
        pin_id,
        amount_usd_text,
        status,
        transacted_at_text,
        delivery_rank,
        reject_reason

    from ledger
    where row_status = 'rejected'

)

select * from final
