-- Rows of raw_users that could not be staged, as delivered (trimmed), with the reason.

with

ledger as (

    select * from {{ ref('base_users') }}

),

final as (

    select
        user_id,
        signup_at_text,
        country,
        platform,
        delivery_rank,
        reject_reason

    from ledger
    where row_status = 'rejected'

)

select * from final
