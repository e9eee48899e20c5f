-- Ranking quality of every served feed request, in the order it was served (feed position
-- ascending), at each cutoff k of var ranking_cutoffs. The metrics come from
-- int_logged_request_ranking_metrics, the same SQL (macro request_ranking_metrics) that scores
-- the candidate models in fct_ranker_offline_eval, so the served order and a candidate are
-- judged by one definition.

with

metrics as (

    select * from {{ ref('int_logged_request_ranking_metrics') }}

),

items as (

    select * from {{ ref('int_request_items') }}

),

requests as (

    -- staging guarantees one user and one surface per request
    select
        request_id,
        user_id,
        surface,
        min(impression_date) as request_date

    from items
    group by request_id, user_id, surface

),

final as (

    select
        cast(metrics.request_id as {{ dbt.type_string() }}) as request_id,
        cast(metrics.k as {{ dbt.type_int() }}) as k,
        cast(requests.user_id as {{ dbt.type_string() }}) as user_id,
        cast(requests.surface as {{ dbt.type_string() }}) as surface,
        requests.request_date,
        cast(metrics.served_items as {{ dbt.type_bigint() }}) as served_items,
        cast(metrics.relevant_items as {{ dbt.type_bigint() }}) as relevant_items,
        metrics.dcg,
        metrics.idcg,
        metrics.ndcg,
        metrics.precision,
        metrics.recall,
        metrics.average_precision,
        metrics.reciprocal_rank

    from metrics
    inner join requests
        on metrics.request_id = requests.request_id

)

select * from final
