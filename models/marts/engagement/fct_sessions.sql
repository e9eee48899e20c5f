-- Sessions by the gap rule: a user's valid events in time order (ties by event_id); a session
-- starts at the user's first event and whenever the gap to the previous event exceeds var
-- session_gap_minutes. A session that crosses UTC midnight is one session, dated by its start:
-- splitting at midnight (or at a local midnight) invents sessions.

{%- set gap_microseconds = integer_var('session_gap_minutes', 1, 1440) * 60 * 1000000 %}

with

events as (

    select * from {{ ref('stg_events') }}

),

ordered as (

    select
        user_id,
        event_id,
        event_type,
        event_at,
        {{ epoch_microseconds('event_at') }} as event_us,
        lag({{ epoch_microseconds('event_at') }}) over (
            partition by user_id order by event_at, event_id
        ) as previous_us

    from events

),

numbered as (

    select
        *,
        sum(case
            when previous_us is null or event_us - previous_us > {{ gap_microseconds }} then 1
            else 0
        end) over (
            partition by user_id order by event_at, event_id
            rows between unbounded preceding and current row
        ) as session_number

    from ordered

),

sessions as (

    select
        user_id,
        session_number,
        min(event_at) as session_start,
        max(event_at) as session_end,
        min(event_us) as start_us,
        max(event_us) - min(event_us) as duration_us,
        count(*) as events,
        sum(case when event_type = 'impression' then 1 else 0 end) as impressions,
        sum(case when event_type = 'click' then 1 else 0 end) as clicks,
        sum(case when event_type = 'save' then 1 else 0 end) as saves,
        sum(case when event_type = 'hide' then 1 else 0 end) as hides

    from numbered
    group by user_id, session_number

),

final as (

    select
        -- deterministic from the user and the start (whole epoch seconds: two sessions of one
        -- user start at least session_gap_minutes apart), so an id survives a rebuild
        {{ dbt.concat([
            'user_id', "'-'",
            'cast(cast(floor(start_us / 1000000) as ' ~ dbt.type_bigint() ~ ') as ' ~ dbt.type_string() ~ ')'
        ]) }} as session_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        session_start,
        session_end,
        cast(session_start as date) as session_date,
        {{ safe_divide('duration_us', 1000000) }} as duration_seconds,
        cast(events as {{ dbt.type_bigint() }}) as events,
        cast(impressions as {{ dbt.type_bigint() }}) as impressions,
        cast(clicks as {{ dbt.type_bigint() }}) as clicks,
        cast(saves as {{ dbt.type_bigint() }}) as saves,
        cast(hides as {{ dbt.type_bigint() }}) as hides

    from sessions

)

select * from final
