-- The ledger of raw_transactions: one row per delivered row, parsed, with its fate.
-- A refund is its own row (own transaction_id, positive amount, status 'refunded'), so a
-- retried delivery of a transaction_id is always a duplicate, never a status change.

with

source as (

    select * from {{ raw_relation('raw_transactions') }}

),

cleaned as (

    select
        ---------- ids
        {{ clean_text('transaction_id') }} as transaction_id,
        {{ clean_text('user_id') }} as user_id,
        {{ clean_text('pin_id') }} as pin_id,

        ---------- strings
        {{ clean_text('status') }} as status,
        {{ clean_text('amount_usd') }} as amount_usd_text,
        {{ clean_text('transacted_at') }} as transacted_at_text

    from source

),

parsed as (

    select
        *,
        {{ parse_decimal('amount_usd_text') }} as amount_usd,
        {{ plausible_utc_timestamp('transacted_at_text') }} as transacted_at

    from cleaned

),

validated as (

    select
        *,
        case
            when transaction_id is null then 'missing_transaction_id'
            when user_id is null then 'missing_user_id'
            when transacted_at is null then {{ timestamp_reject_reason(
                'transacted_at_text', 'transacted_at', 'transacted_at') }}
            when status is null or status not in ('completed', 'refunded') then 'unknown_status'
            when amount_usd_text is null then 'missing_amount_usd'
            when amount_usd is null then 'invalid_amount_usd'
            when amount_usd < 0 then 'negative_amount_usd'
            -- A zero sale is a logging default, not revenue; above the ceiling is a unit or
            -- parsing error (cents sent as dollars) that one row would let move a whole day.
            when amount_usd = 0 then 'zero_amount_usd'
            when amount_usd > {{ integer_var('max_amount_usd', 1, 1000000000) }} then 'amount_usd_above_max'
        end as reject_reason

    from parsed

),

ranked as (

    select
        *,
        {{ delivery_rank(
            partition_by=['transaction_id'],
            order_by=['transacted_at', 'transacted_at_text', 'user_id', 'pin_id', 'status',
                      'amount_usd_text'],
            is_valid='reject_reason is null'
        ) }} as delivery_rank

    from validated

),

final as (

    select
        transaction_id,
        delivery_rank,
        user_id,
        pin_id,
        status,
        amount_usd_text,
        transacted_at_text,
        amount_usd,
        transacted_at,
        reject_reason,
        {{ row_status('reject_reason', 'delivery_rank') }} as row_status

    from ranked

)

select * from final
