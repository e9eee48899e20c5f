{{ config(materialized='incremental', **replace_recent_days_config('week_start', grain='week')) }}

-- One row per user, pin and UTC ISO week in which the user saved the pin: a pin saved twice in
-- a week is one save here, so category counts measure pins saved, not save clicks. Carries the
-- pin's category and the saver's country so content marts need no further joins.

with

events as (

    select * from {{ ref('stg_events') }}
    {% if is_incremental() %}
    -- whole ISO weeks from the cutoff's week on are rebuilt (distinct saves span the week)
    where event_date >= {{ late_data_cutoff('week_start', grain='week') }}
    {% endif %}

),

pins as (

    select * from {{ ref('stg_pins') }}

),

users as (

    select * from {{ ref('stg_users') }}

),

save_events as (

    select
        user_id,
        pin_id,
        event_at,
        -- Monday of the UTC ISO week (DuckDB, Postgres and Spark all truncate weeks to Monday)
        cast({{ dbt.date_trunc('week', 'event_date') }} as date) as week_start

    from events
    where event_type = 'save'

),

weekly_saves as (

    select
        week_start,
        user_id,
        pin_id,
        count(*) as save_events,
        min(event_at) as first_saved_at

    from save_events
    group by week_start, user_id, pin_id

),

final as (

    select
        weekly_saves.week_start,
        weekly_saves.user_id,
        weekly_saves.pin_id,
        pins.category,
        users.country,
        weekly_saves.save_events,
        weekly_saves.first_saved_at

    from weekly_saves
    -- a save of an unknown pin has no category and one of an unknown user no country; the
    -- relationships tests on stg_events warn about both
    inner join pins
        on weekly_saves.pin_id = pins.pin_id
    inner join users
        on weekly_saves.user_id = users.user_id

)

select * from final
