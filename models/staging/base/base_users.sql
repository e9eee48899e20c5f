-- The ledger of raw_users: one row per delivered row, parsed, with its fate.

with

source as (

    select * from {{ raw_relation('raw_users') }}

),

cleaned as (

    select
        ---------- ids
        {{ clean_text('user_id') }} as user_id,

        ---------- strings
        {{ clean_text('country') }} as country,
        {{ clean_text('platform') }} as platform,
        {{ clean_text('signup_at') }} as signup_at_text

    from source

),

parsed as (

    select
        *,
        {{ plausible_utc_timestamp('signup_at_text') }} as signup_at

    from cleaned

),

validated as (

    select
        *,
        case
            when user_id is null then 'missing_user_id'
            when signup_at is null
                then {{ timestamp_reject_reason('signup_at_text', 'signup_at', 'signup_at') }}
            -- Segments and launch units are these two columns: an unknown value would be a
            -- segment of its own.
            when country is null or not {{ regex_full_match('country', '[A-Z]{2}') }}
                then 'invalid_country'
            when platform is null or platform not in ('ios', 'android', 'web')
                then 'unknown_platform'
        end as reject_reason

    from parsed

),

ranked as (

    select
        *,
        {{ delivery_rank(
            partition_by=['user_id'],
            order_by=['signup_at', 'signup_at_text', 'country', 'platform'],
            is_valid='reject_reason is null'
        ) }} as delivery_rank

    from validated

),

final as (

    select
        user_id,
        delivery_rank,
        country,
        platform,
        signup_at_text,
        signup_at,
        reject_reason,
        {{ row_status('reject_reason', 'delivery_rank') }} as row_status

    from ranked

)

select * from final
