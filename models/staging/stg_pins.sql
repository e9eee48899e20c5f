with

ledger as (

    select * from {{ ref('base_pins') }}

),

final as (

    select
        ---------- ids
        pin_id,
        board_id,
        creator_id,

        ---------- strings
        category,

        ---------- booleans
        is_video,

        ---------- timestamps (UTC)
        created_at

    from ledger
    where row_status = 'staged'

)

select * from final
