-- Each request's served items in the order a model would show them: the served order itself
-- (the pseudo-model 'logged': feed position ascending) and every candidate model of
-- stg_ranker_scores (score descending, ties by pin_id ascending, so a rank never depends on
-- the engine). A model ranks only the requests where it scored every served pin: a partial
-- ranking would rank its scored pins above the unscored ones and flatter the model. Scores for
-- pins the request never served are ignored (there is no outcome to judge them by).

with

items as (

    select * from {{ ref('int_request_items') }}

),

scores as (

    select * from {{ ref('stg_ranker_scores') }}

),

served_per_request as (

    select
        request_id,
        count(*) as served_items

    from items
    group by request_id

),

scored_items as (

    select
        scores.model_id,
        items.request_id,
        items.pin_id,
        items.relevance,
        items.is_clicked,
        -- a double on every engine (safe_divide casts), whatever precision staging delivered
        {{ safe_divide('scores.score', 1) }} as score

    from items
    inner join scores
        on items.request_id = scores.request_id
            and items.pin_id = scores.pin_id

),

fully_scored_requests as (

    select
        scored_items.model_id,
        scored_items.request_id

    from scored_items
    inner join served_per_request
        on scored_items.request_id = served_per_request.request_id
    group by scored_items.model_id, scored_items.request_id, served_per_request.served_items
    having count(*) = served_per_request.served_items

),

model_ranks as (

    select
        scored_items.model_id,
        scored_items.request_id,
        scored_items.pin_id,
        row_number() over (
            partition by scored_items.model_id, scored_items.request_id
            order by scored_items.score desc, scored_items.pin_id asc
        ) as item_rank,
        scored_items.relevance,
        scored_items.is_clicked,
        scored_items.score

    from scored_items
    inner join fully_scored_requests
        on scored_items.model_id = fully_scored_requests.model_id
            and scored_items.request_id = fully_scored_requests.request_id

),

logged_ranks as (

    select
        'logged' as model_id,
        request_id,
        pin_id,
        {{ served_item_rank() }} as item_rank,
        relevance,
        is_clicked,
        -- the served order has no score (a NULL double: safe_divide casts)
        {{ safe_divide('null', 1) }} as score

    from items

),

ranked as (

    select * from logged_ranks
    union all
    select * from model_ranks

),

final as (

    select
        cast(model_id as {{ dbt.type_string() }}) as model_id,
        request_id,
        pin_id,
        cast(item_rank as {{ dbt.type_int() }}) as item_rank,
        relevance,
        is_clicked,
        score

    from ranked

)

select * from final
