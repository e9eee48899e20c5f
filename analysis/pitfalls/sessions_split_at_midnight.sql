-- Pitfall: session counts that split at UTC midnight instead of the gap rule. A user scrolling
-- from 23:50 to 00:20 had one session; cutting sessions at the date boundary counts two. Wrong:
-- sessions when a new one also starts whenever the UTC date changes. Right: fct_sessions (a new
-- session only after a gap of more than var session_gap_minutes).

{%- set gap_microseconds = integer_var('session_gap_minutes', 1, 1440) * 60 * 1000000 %}

with

events as (

    select * from {{ ref('stg_events') }}

),

sessions as (

    select * from {{ ref('fct_sessions') }}

),

ordered as (

    select
        event_date,
        {{ epoch_microseconds('event_at') }} as event_us,
        lag({{ epoch_microseconds('event_at') }}) over (
            partition by user_id order by event_at, event_id
        ) as previous_us,
        lag(event_date) over (partition by user_id order by event_at, event_id) as previous_date

    from events

),

final as (

    select
        'sessions' as measure,
        (
            select count(*)
            from ordered
            where previous_us is null
                or event_us - previous_us > {{ gap_microseconds }}
                or event_date <> previous_date
        ) as wrong_value,
        (select count(*) from sessions) as right_value

)

select * from final
