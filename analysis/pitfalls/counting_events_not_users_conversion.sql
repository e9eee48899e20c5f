-- Pitfall: counting events instead of users in a conversion rate. "Save conversion" as save
-- events over active users rewards users who save a lot and can pass 100%; the question is
-- what share of users saved anything.
-- Wrong: save events / active users. Right: users with >= 1 save / active users.

with

events as (

    select * from {{ ref('stg_events') }}

),

final as (

    select
        'save conversion of active users' as measure,
        {{ safe_divide(
            "sum(case when event_type = 'save' then 1 else 0 end)", 'count(distinct user_id)'
        ) }} as wrong_value,
        {{ safe_divide(
            "count(distinct case when event_type = 'save' then user_id end)",
            'count(distinct user_id)'
        ) }} as right_value

    from events

)

select * from final
