-- The per-request ranking metrics at each cutoff k of var ranking_cutoffs, for every order in
-- int_ranked_request_items: the served order 'logged' (computed once, in
-- int_logged_request_ranking_metrics) and each candidate model. The one definition
-- (macro request_ranking_metrics) behind fct_request_ranking, fct_ranker_offline_eval and the
-- experiment marts' NDCG.

with

logged as (

    select * from {{ ref('int_logged_request_ranking_metrics') }}

),

model_ranks as (

    select * from {{ ref('int_ranked_request_items') }}
    where model_id <> 'logged'

),

model_metrics as (

    {{ request_ranking_metrics('model_ranks') | indent(4) }}

),

final as (

    -- both branches are request_ranking_metrics' columns, in its order (hence the noqa)
    select * from logged
    union all
    select * from model_metrics

)

select * from final  -- noqa: AM04
