-- The daily engagement funnel per surface: users who saw, clicked and saved, and the events at
-- each step. Users are counted per step (a user is one user however many events), and
-- click_to_save counts only users who did both: a save without a click (saving straight from
-- the feed) is a save, but not a step after a click.

with

events as (

    select * from {{ ref('stg_events') }}
    where event_type in ('impression', 'click', 'save', 'hide')

),

calendar as (

    select * from {{ ref('int_calendar_days') }}

),

bounds as (

    select
        min(event_date) as first_date,
        max(event_date) as last_date

    from events

),

surfaces as (

    select distinct surface from events

),

-- every (date, surface) from the first to the last date: a quiet day is a row of zeros
date_surface_spine as (

    select
        calendar.calendar_date as activity_date,
        surfaces.surface

    from calendar
    cross join bounds
    cross join surfaces
    where calendar.calendar_date between bounds.first_date and bounds.last_date

),

user_steps as (

    select
        event_date as activity_date,
        surface,
        user_id,
        max(case when event_type = 'impression' then 1 else 0 end) as has_impression,
        max(case when event_type = 'click' then 1 else 0 end) as has_click,
        max(case when event_type = 'save' then 1 else 0 end) as has_save,
        sum(case when event_type = 'impression' then 1 else 0 end) as impressions,
        sum(case when event_type = 'click' then 1 else 0 end) as clicks,
        sum(case when event_type = 'save' then 1 else 0 end) as saves,
        sum(case when event_type = 'hide' then 1 else 0 end) as hides

    from events
    group by event_date, surface, user_id

),

daily as (

    select
        activity_date,
        surface,
        sum(has_impression) as users_with_impression,
        sum(has_click) as users_with_click,
        sum(has_save) as users_with_save,
        sum(has_click * has_save) as users_with_click_and_save,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(saves) as saves,
        sum(hides) as hides

    from user_steps
    group by activity_date, surface

),

final as (

    select
        spine.activity_date,
        cast(spine.surface as {{ dbt.type_string() }}) as surface,
        cast(coalesce(daily.users_with_impression, 0) as {{ dbt.type_bigint() }})
            as users_with_impression,
        cast(coalesce(daily.users_with_click, 0) as {{ dbt.type_bigint() }}) as users_with_click,
        cast(coalesce(daily.users_with_save, 0) as {{ dbt.type_bigint() }}) as users_with_save,
        cast(coalesce(daily.impressions, 0) as {{ dbt.type_bigint() }}) as impressions,
        cast(coalesce(daily.clicks, 0) as {{ dbt.type_bigint() }}) as clicks,
        cast(coalesce(daily.saves, 0) as {{ dbt.type_bigint() }}) as saves,
        cast(coalesce(daily.hides, 0) as {{ dbt.type_bigint() }}) as hides,
        {{ safe_divide('daily.clicks', 'daily.impressions') }} as ctr,
        {{ safe_divide('daily.saves', 'daily.impressions') }} as save_rate,
        {{ safe_divide('daily.users_with_click_and_save', 'daily.users_with_click') }}
            as click_to_save

    from date_surface_spine as spine
    left join daily
        on spine.activity_date = daily.activity_date
            and spine.surface = daily.surface

)

select * from final
