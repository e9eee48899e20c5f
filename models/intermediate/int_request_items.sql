-- The served items of every feed request, one row per impression, with what the user did with
-- that pin in that request. Relevance is graded from the request's own events only: a click or
-- save of the same pin in another request says nothing about this ranking. A save counts even
-- without a click (saving straight from the feed is the strongest signal); a hide is kept as a
-- flag and is not relevant.

with

events as (

    select * from {{ ref('stg_events') }}
    -- app_open has no request; every staged click, save and hide has its impression
    where request_id is not null
        and event_type in ('impression', 'click', 'save', 'hide')

),

impressions as (

    select
        request_id,
        pin_id,
        user_id,
        surface,
        feed_position,
        event_at,
        event_date

    from events
    where event_type = 'impression'

),

engagement as (

    select
        request_id,
        pin_id,
        user_id,
        max(case when event_type = 'click' then 1 else 0 end) as clicked,
        max(case when event_type = 'save' then 1 else 0 end) as saved,
        max(case when event_type = 'hide' then 1 else 0 end) as hidden

    from events
    where event_type in ('click', 'save', 'hide')
    group by request_id, pin_id, user_id

),

graded as (

    select
        impressions.*,
        coalesce(engagement.clicked, 0) as clicked,
        coalesce(engagement.saved, 0) as saved,
        coalesce(engagement.hidden, 0) as hidden

    from impressions
    left join engagement
        on impressions.request_id = engagement.request_id
            and impressions.pin_id = engagement.pin_id
            and impressions.user_id = engagement.user_id

),

final as (

    select
        cast(request_id as {{ dbt.type_string() }}) as request_id,
        cast(pin_id as {{ dbt.type_string() }}) as pin_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(surface as {{ dbt.type_string() }}) as surface,
        cast(feed_position as {{ dbt.type_int() }}) as feed_position,
        event_at as impression_at,
        event_date as impression_date,
        clicked = 1 as is_clicked,
        saved = 1 as is_saved,
        hidden = 1 as is_hidden,
        -- 2 saved, 1 clicked (not saved), 0 otherwise: a hide is never relevant
        cast(case when saved = 1 then 2 when clicked = 1 then 1 else 0 end as {{ dbt.type_int() }})
            as relevance

    from graded

)

select * from final
