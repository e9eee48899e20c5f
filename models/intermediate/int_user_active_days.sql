{{ config(materialized='incremental', **replace_recent_days_config('activity_date')) }}

-- One row per user per UTC calendar day with at least one valid, deduped event of any type:
-- the building block of every "active user" metric. Counting users from here, never events,
-- is what keeps DAU, retention and stickiness honest.

with

events as (

    select * from {{ ref('stg_events') }}
    {% if is_incremental() %}
    -- the recent days are rebuilt whole (see replace_recent_days_config)
    where event_date >= {{ late_data_cutoff('activity_date') }}
    {% endif %}

),

user_days as (

    select
        user_id,
        event_date as activity_date,
        count(*) as events

    from events
    group by user_id, event_date

),

final as (

    select * from user_days

)

select * from final
