with

ledger as (

    select * from {{ ref('base_events') }}

),

final as (

    select
        ---------- ids
        event_id,
        user_id,
        pin_id,

        ---------- strings
        event_type,
        surface,

        ---------- numerics
        feed_position,

        ---------- timestamps (UTC)
        event_at,
        cast(event_at as date) as event_date

    from ledger
    where row_status = 'staged'

)

select * from final
