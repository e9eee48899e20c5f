-- The per-request ranking metrics at each cutoff k of var ranking_cutoffs, for every order in
-- int_ranked_request_items (the served order 'logged' and each candidate model): the one
-- definition behind fct_request_ranking and fct_ranker_offline_eval. A request with nothing
-- relevant has no defined NDCG, recall, AP or reciprocal rank (NULL, not 0: averaging it in as
-- 0 or 1 moves the mean by how many empty requests there are, not by ranking quality);
-- precision divides by k even when the request served fewer than k pins.

with

ranked as (

    select * from {{ ref('int_ranked_request_items') }}

),

cutoffs as (

    {% for k in integer_list_var('ranking_cutoffs', 1, 1000) %}
    select {{ k }} as k
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

positioned as (

    select
        model_id,
        request_id,
        item_rank,
        relevance,
        -- the gain 2^rel - 1, spelled out so no engine's power() is needed
        case relevance when 2 then 3 when 1 then 1 else 0 end as gain,
        -- relevant items at ranks 1..item_rank: precision@item_rank = this / item_rank
        sum(case when relevance > 0 then 1 else 0 end) over (
            partition by model_id, request_id order by item_rank
            rows between unbounded preceding and current row
        ) as relevant_so_far,
        -- the rank this item would have in the ideal order (relevance descending); which of
        -- two equally relevant items comes first does not change the ideal DCG
        row_number() over (
            partition by model_id, request_id order by relevance desc, item_rank asc
        ) as ideal_rank

    from ranked

),

discounted as (

    select
        *,
        -- log2(x) = ln(x) / ln(2), portable
        gain * ln(2) / ln(item_rank + 1) as discounted_gain,
        gain * ln(2) / ln(ideal_rank + 1) as ideal_discounted_gain

    from positioned

),

at_cutoff as (

    select
        discounted.model_id,
        discounted.request_id,
        cutoffs.k,
        count(*) as served_items,
        sum(case when discounted.relevance > 0 then 1 else 0 end) as relevant_items,
        sum(case
            when discounted.item_rank <= cutoffs.k and discounted.relevance > 0 then 1 else 0
        end) as relevant_in_top_k,
        sum(case
            when discounted.item_rank <= cutoffs.k then discounted.discounted_gain else 0
        end) as dcg,
        sum(case
            when discounted.ideal_rank <= cutoffs.k then discounted.ideal_discounted_gain else 0
        end) as idcg,
        sum(case
            when discounted.item_rank <= cutoffs.k and discounted.relevance > 0
                then {{ safe_divide('discounted.relevant_so_far', 'discounted.item_rank') }}
            else 0
        end) as precision_sum,
        min(case
            when discounted.item_rank <= cutoffs.k and discounted.relevance > 0
                then discounted.item_rank
        end) as first_relevant_rank

    from discounted
    cross join cutoffs
    group by discounted.model_id, discounted.request_id, cutoffs.k

),

final as (

    select
        model_id,
        request_id,
        cast(k as {{ dbt.type_int() }}) as k,
        cast(served_items as {{ dbt.type_bigint() }}) as served_items,
        cast(relevant_items as {{ dbt.type_bigint() }}) as relevant_items,
        {{ safe_divide('dcg', 1) }} as dcg,
        {{ safe_divide('idcg', 1) }} as idcg,
        -- NULL when the request has nothing relevant (IDCG = 0)
        {{ safe_divide('dcg', 'idcg') }} as ndcg,
        -- k, not the request's length: a short request cannot fill its top k
        {{ safe_divide('relevant_in_top_k', 'k') }} as precision,
        {{ safe_divide('relevant_in_top_k', 'relevant_items') }} as recall,
        -- over min(k, relevant): a perfect top k scores 1 even with more relevant items below
        case
            when relevant_items > 0
                then {{ safe_divide(
                    'precision_sum', 'case when relevant_items < k then relevant_items else k end'
                ) }}
        end as average_precision,
        case
            when relevant_items = 0 then null
            when first_relevant_rank is null then {{ safe_divide(0, 1) }}
            else {{ safe_divide(1, 'first_relevant_rank') }}
        end as reciprocal_rank

    from at_cutoff

)

select * from final
