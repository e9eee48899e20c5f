-- Pitfall: averaging NDCG with the requests that hold nothing relevant counted as 0 (or as 1)
-- instead of excluding them. A request without a click or save has IDCG = 0: its NDCG is 0 / 0,
-- undefined. Counting it as 0 drags the mean down, counting it as 1 pushes it up, by how many
-- empty requests there are, not by how well anything was ranked. Wrong: the mean of NDCG@k of
-- the served order (the largest k of var ranking_cutoffs) over every request, empty ones as 0
-- (wrong_value) or 1 (wrong_value_as_one). Right: fct_ranker_offline_eval.mean_ndcg of 'logged'
-- (the requests with a relevant item only).

with

requests as (

    select * from {{ ref('fct_request_ranking') }}

),

evaluation as (

    select * from {{ ref('fct_ranker_offline_eval') }}
    where model_id = 'logged'

),

largest_k as (

    select max(k) as k from requests

),

at_k as (

    select requests.*
    from requests
    inner join largest_k
        on requests.k = largest_k.k

),

final as (

    select
        'mean NDCG@k of the served order' as measure,
        (select avg(coalesce(ndcg, 0)) from at_k) as wrong_value,
        (
            select evaluation.mean_ndcg
            from evaluation
            inner join largest_k
                on evaluation.k = largest_k.k
        ) as right_value,
        (select avg(coalesce(ndcg, 1)) from at_k) as wrong_value_as_one,
        (select sum(case when relevant_items = 0 then 1 else 0 end) from at_k) as empty_requests,
        (select count(*) from at_k) as requests,
        (select k from largest_k) as k

)

select * from final
