-- The ledger of raw_experiments: one row per delivered row, parsed, with its fate.

with

source as (

    select * from {{ raw_relation('raw_experiments') }}

),

cleaned as (

    select
        ---------- ids
        {{ clean_text('experiment_id') }} as experiment_id,

        ---------- strings
        {{ clean_text('start_at') }} as start_at_text,
        {{ clean_text('end_at') }} as end_at_text

    from source

),

parsed as (

    select
        *,
        {{ plausible_utc_timestamp('start_at_text', allow_future=true) }} as start_at,
        {{ plausible_utc_timestamp('end_at_text', allow_future=true) }} as end_at

    from cleaned

),

validated as (

    select
        *,
        case
            when experiment_id is null then 'missing_experiment_id'
            when start_at is null
                then {{ timestamp_reject_reason('start_at_text', 'start_at', 'start_at') }}
            when end_at is null
                then {{ timestamp_reject_reason('end_at_text', 'end_at', 'end_at') }}
            when end_at <= start_at then 'end_not_after_start'
        end as reject_reason

    from parsed

),

ranked as (

    select
        *,
        {{ delivery_rank(
            partition_by=['experiment_id'],
            order_by=['start_at', 'end_at', 'start_at_text', 'end_at_text'],
            is_valid='reject_reason is null'
        ) }} as delivery_rank

    from validated

),

final as (

    select
        experiment_id,
        delivery_rank,
        start_at_text,
        end_at_text,
        start_at,
        end_at,
        reject_reason,
        {{ row_status('reject_reason', 'delivery_rank') }} as row_status

    from ranked

)

select * from final
