-- Rows of raw_pins that could not be staged, as delivered (trimmed), with the reason.

with

ledger as (

    select * from {{ ref('base_pins') }}

),

final as (

    select
        pin_id,
        board_id,
        creator_id,
        category,
        is_video_text,
        created_at_text,
        delivery_rank,
        reject_reason

    from ledger
    where row_status = 'rejected'

)

select * from final
