-- Pitfall: precision@k on requests shorter than k, divided by the request's length instead of
-- k. A request that served 4 pins, 2 of them clicked, has precision@10 = 2 / 10 (the model had
-- ten slots to fill and filled two with something relevant); 2 / 4 = 0.5 rewards a short feed
-- as if it were a good one, so precision rises whenever fewer pins are served. Wrong: the mean
-- over the requests with a relevant item of (relevant in the top k) / least(k, served_items),
-- at the largest k of var ranking_cutoffs. Right: fct_ranker_offline_eval.mean_precision of
-- 'logged' (relevant in the top k / k).

with

requests as (

    select * from {{ ref('fct_request_ranking') }}
    where relevant_items > 0

),

evaluation as (

    select * from {{ ref('fct_ranker_offline_eval') }}
    where model_id = 'logged'

),

largest_k as (

    select max(k) as k from {{ ref('fct_request_ranking') }}

),

at_k as (

    select
        requests.*,
        -- precision = relevant in the top k / k, so this is the relevant count in the top k
        requests.precision * requests.k as relevant_in_top_k

    from requests
    inner join largest_k
        on requests.k = largest_k.k

),

final as (

    select
        'mean precision@k of the served order' as measure,
        (
            select avg(relevant_in_top_k / case when served_items < k then served_items else k end)
            from at_k
        ) as wrong_value,
        (
            select evaluation.mean_precision
            from evaluation
            inner join largest_k
                on evaluation.k = largest_k.k
        ) as right_value,
        (select sum(case when served_items < k then 1 else 0 end) from at_k) as short_requests,
        (select count(*) from at_k) as requests,
        (select k from largest_k) as k

)

select * from final
