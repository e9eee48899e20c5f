-- The ledger of raw_pins: one row per delivered row, parsed, with its fate.

with

source as (

    select * from {{ raw_relation('raw_pins') }}

),

cleaned as (

    select
        ---------- ids
        {{ clean_text('pin_id') }} as pin_id,
        {{ clean_text('board_id') }} as board_id,
        {{ clean_text('creator_id') }} as creator_id,

        ---------- strings
        {{ clean_text('category') }} as category,
        {{ clean_text('is_video') }} as is_video_text,
        {{ clean_text('created_at') }} as created_at_text

    from source

),

parsed as (

    select
        *,
        {{ parse_boolean('is_video_text') }} as is_video,
        {{ plausible_utc_timestamp('created_at_text') }} as created_at

    from cleaned

),

validated as (

    select
        *,
        case
            when pin_id is null then 'missing_pin_id'
            when created_at is null
                then {{ timestamp_reject_reason('created_at_text', 'created_at', 'created_at') }}
            -- A pin without a category would silently fall out of every category metric.
            when category is null then 'missing_category'
            when is_video is null then 'invalid_is_video'
        end as reject_reason

    from parsed

),

ranked as (

    select
        *,
        {{ delivery_rank(
            partition_by=['pin_id'],
            order_by=['created_at', 'created_at_text', 'board_id', 'creator_id', 'category',
                      'is_video_text'],
            is_valid='reject_reason is null'
        ) }} as delivery_rank

    from validated

),

final as (

    select
        pin_id,
        delivery_rank,
        board_id,
        creator_id,
        category,
        is_video_text,
        created_at_text,
        is_video,
        created_at,
        reject_reason,
        {{ row_status('reject_reason', 'delivery_rank') }} as row_status

    from ranked

)

select * from final
