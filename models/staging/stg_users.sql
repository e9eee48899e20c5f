with

ledger as (

    select * from {{ ref('base_users') }}

),

final as (

    select
        ---------- ids
        user_id,

        ---------- strings
        country,
        platform,

        ---------- timestamps (UTC)
        signup_at,
        cast(signup_at as date) as signup_date

    from ledger
    where row_status = 'staged'

)

select * from final
