{{ config(materialized='incremental', **replace_recent_days_config('event_date')) }}
-- depends_on: {{ ref('base_events') }}
-- depends_on: {{ ref('base_events__parsed') }}

-- A full build stages the ledger's winners. An incremental run rebuilds only the days from
-- late_data_cutoff on: it ranks the deliveries of those days together with the rows already
-- staged for the same event_ids on earlier days, so a late duplicate of an event loaded in an
-- earlier batch loses to it (the earliest valid delivery wins across batches too). The checks
-- across rows see the impressions already staged for the same requests; a request that
-- straddles the cutoff and turns bad only with its later rows cannot un-stage its earlier ones:
-- base_events then rejects the whole request and the reconciliation test fails until a
-- --full-refresh.

with

{% if is_incremental() %}

deliveries as (

    select * from {{ ref('base_events__parsed') }}

),

already_staged as (

    select * from {{ this }}

),

window_start as (

    select {{ late_data_cutoff('event_date') }} as cutoff_date

),

recent_deliveries as (

    select deliveries.*
    from deliveries
    cross join window_start
    where
        -- cheap text prefilter before parsing: an ISO timestamp's local date is at most one
        -- day before its UTC date (offsets are within -12:00 to +14:00)
        substr(deliveries.event_at_text, 1, 10) >= cast(
            cast({{ dbt.dateadd('day', -1, 'window_start.cutoff_date') }} as date)
            as {{ dbt.type_string() }}
        )
        and deliveries.event_at >= cast(window_start.cutoff_date as {{ dbt.type_timestamp() }})

),

earlier_winners as (

    -- staged before the window; a later delivery of the same event must not replace them
    select
        already_staged.event_id,
        already_staged.user_id,
        already_staged.pin_id,
        already_staged.request_id,
        already_staged.event_type,
        already_staged.surface,
        cast(null as {{ dbt.type_string() }}) as position_text,
        cast(null as {{ dbt.type_string() }}) as event_at_text,
        already_staged.feed_position,
        already_staged.event_at,
        cast(null as {{ dbt.type_string() }}) as reject_reason

    from already_staged
    cross join window_start
    where
        already_staged.event_date < window_start.cutoff_date
        and already_staged.event_id in (select recent_deliveries.event_id from recent_deliveries)

),

candidates as (

    select
        event_id,
        user_id,
        pin_id,
        request_id,
        event_type,
        surface,
        position_text,
        event_at_text,
        feed_position,
        event_at,
        reject_reason

    from recent_deliveries
    union all
    select * from earlier_winners

),

ranked as (

    select
        *,
        {{ rank_event_deliveries() }} as delivery_rank

    from candidates

),

row_winners as (

    select ranked.*
    from ranked
    cross join window_start
    where
        ranked.delivery_rank = 1
        and ranked.reject_reason is null
        and ranked.event_at >= cast(window_start.cutoff_date as {{ dbt.type_timestamp() }})

),

earlier_impressions as (

    -- a request near the cutoff: its impressions staged before the window count in its checks
    select already_staged.*
    from already_staged
    cross join window_start
    where
        already_staged.event_date < window_start.cutoff_date
        and already_staged.event_type = 'impression'
        and already_staged.request_id in (select row_winners.request_id from row_winners)

),

served as (

    select
        event_id,
        user_id,
        pin_id,
        request_id,
        event_type,
        surface,
        feed_position,
        event_at,
        true as is_served_row,
        false as is_context

    from row_winners
    union all
    select
        event_id,
        user_id,
        pin_id,
        request_id,
        event_type,
        surface,
        feed_position,
        event_at,
        true as is_served_row,
        true as is_context

    from earlier_impressions

),

checked as (

    {{ request_reject_reasons('served') | indent(4) }}

),

winners as (

    select * from checked
    where not is_context and request_reject_reason is null

),

{% else %}

ledger as (

    select * from {{ ref('base_events') }}

),

winners as (

    select * from ledger
    where row_status = 'staged'

),

{% endif %}

final as (

    select
        ---------- ids
        event_id,
        user_id,
        pin_id,
        request_id,

        ---------- strings
        event_type,
        surface,

        ---------- numerics
        feed_position,

        ---------- timestamps (UTC)
        event_at,
        cast(event_at as date) as event_date

    from winners

)

select * from final
