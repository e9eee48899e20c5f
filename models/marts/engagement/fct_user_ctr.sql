-- Click-through rate per user: the user, not the impression, is the unit, because one user's
-- impressions are not independent of each other (the experiment statistics use this grain).

with

events as (

    select * from {{ ref('stg_events') }}

),

user_counts as (

    select
        user_id,
        -- the contract's bigint: DuckDB sums integers to a hugeint
        cast(sum(case when event_type = 'impression' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as impressions,
        cast(sum(case when event_type = 'click' then 1 else 0 end) as {{ dbt.type_bigint() }}) as clicks

    from events
    where event_type in ('impression', 'click')
    group by user_id

),

final as (

    select
        user_id,
        impressions,
        clicks,
        -- a user who saw nothing has no CTR (NULL), not a CTR of 0
        {{ safe_divide('clicks', 'impressions') }} as ctr

    from user_counts

)

select * from final
