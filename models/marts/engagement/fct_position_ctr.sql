-- Click-through by feed position per surface: the position curve. CTR falls with position
-- whatever the ranking does (people look at the top first), so a raw CTR comparison between
-- feeds whose impressions sit at different depths confuses position with quality;
-- ctr_relative_to_top puts every position on the scale of position 1 of the same surface.

with

events as (

    select * from {{ ref('stg_events') }}
    -- every impression has a position (staging rejects one without); a click logged without
    -- one has no place on the curve (fct_user_ctr still counts it)
    where event_type in ('impression', 'click') and feed_position is not null

),

by_position as (

    select
        surface,
        feed_position,
        sum(case when event_type = 'impression' then 1 else 0 end) as impressions,
        sum(case when event_type = 'click' then 1 else 0 end) as clicks

    from events
    group by surface, feed_position

),

with_rate as (

    select
        *,
        {{ safe_divide('clicks', 'impressions') }} as ctr

    from by_position

),

top_position as (

    select
        surface,
        ctr as top_ctr

    from with_rate
    where feed_position = 1

),

final as (

    select
        cast(with_rate.surface as {{ dbt.type_string() }}) as surface,
        cast(with_rate.feed_position as {{ dbt.type_int() }}) as feed_position,
        cast(with_rate.impressions as {{ dbt.type_bigint() }}) as impressions,
        cast(with_rate.clicks as {{ dbt.type_bigint() }}) as clicks,
        with_rate.ctr,
        -- NULL when position 1 of the surface has no impressions or no clicks: no scale
        {{ safe_divide('with_rate.ctr', 'top_position.top_ctr') }} as ctr_relative_to_top

    from with_rate
    left join top_position
        on with_rate.surface = top_position.surface

)

select * from final
