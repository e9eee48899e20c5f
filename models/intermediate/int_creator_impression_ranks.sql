-- Creators ranked by the impressions their pins received, with the top 1% flagged: the
-- reference set of the concentration metric (share of a user's impressions from top creators).
-- One ranking for the whole data, so a user-level and an experiment-level share use the same
-- creators. Ties by creator_id, so the cut is deterministic.

with

events as (

    select * from {{ ref('stg_events') }}
    where event_type = 'impression'

),

pins as (

    select * from {{ ref('stg_pins') }}

),

creator_impressions as (

    select
        pins.creator_id,
        count(*) as impressions

    from events
    inner join pins
        on events.pin_id = pins.pin_id
    group by pins.creator_id

),

ranked as (

    select
        creator_id,
        impressions,
        row_number() over (order by impressions desc, creator_id asc) as impression_rank,
        count(*) over () as creators

    from creator_impressions

),

final as (

    select
        creator_id,
        cast(impressions as {{ dbt.type_bigint() }}) as impressions,
        cast(impression_rank as {{ dbt.type_bigint() }}) as impression_rank,
        -- the top 1% of creators with any impression, at least one creator
        impression_rank <= ceil(creators * 0.01) as is_top_creator

    from ranked

)

select * from final
