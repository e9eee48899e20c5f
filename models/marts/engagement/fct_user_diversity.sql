-- How varied each user's feed was: distinct categories and creators among the pins the user
-- was shown, and the share of their impressions from the top 1% of creators. A feed that
-- optimises clicks alone tends to narrow; these are the guardrails that show it.

with

events as (

    select * from {{ ref('stg_events') }}
    where event_type = 'impression'

),

pins as (

    select * from {{ ref('stg_pins') }}

),

creators as (

    select * from {{ ref('int_creator_impression_ranks') }}

),

final as (

    select
        cast(events.user_id as {{ dbt.type_string() }}) as user_id,
        cast(count(*) as {{ dbt.type_bigint() }}) as impressions,
        cast(count(distinct pins.category) as {{ dbt.type_bigint() }}) as distinct_categories,
        cast(count(distinct pins.creator_id) as {{ dbt.type_bigint() }}) as distinct_creators,
        cast(sum(case when creators.is_top_creator then 1 else 0 end) as {{ dbt.type_bigint() }})
            as top_creator_impressions,
        {{ safe_divide('sum(case when creators.is_top_creator then 1 else 0 end)', 'count(*)') }}
            as top_creator_share

    from events
    -- an impression of a pin missing from stg_pins has no category or creator: left out
    inner join pins
        on events.pin_id = pins.pin_id
    inner join creators
        on pins.creator_id = creators.creator_id
    group by events.user_id

)

select * from final
