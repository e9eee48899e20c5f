{#-
    The per-request ranking metrics at each cutoff k of var ranking_cutoffs, in one place for
    the served order (int_logged_request_ranking_metrics) and the candidate models
    (int_request_ranking_metrics). `relation` has model_id, request_id, item_rank (1-based,
    a permutation within (model_id, request_id)) and relevance (0, 1, 2). Returns one row per
    (model_id, request_id, k); the formulas are in int_request_ranking_metrics' YAML. A request
    with nothing relevant has no defined NDCG, recall, AP or reciprocal rank (NULL, not 0:
    averaging it in as 0 or 1 moves the mean by how many empty requests there are, not by
    ranking quality); precision divides by k even when the request served fewer than k pins.
-#}
{% macro request_ranking_metrics(relation) -%}
    select
        at_cutoff.model_id,
        at_cutoff.request_id,
        cast(at_cutoff.k as {{ dbt.type_int() }}) as k,
        cast(at_cutoff.served_items as {{ dbt.type_bigint() }}) as served_items,
        cast(at_cutoff.relevant_items as {{ dbt.type_bigint() }}) as relevant_items,
        {{ metricbook.safe_divide('at_cutoff.dcg', 1) }} as dcg,
        {{ metricbook.safe_divide('at_cutoff.idcg', 1) }} as idcg,
        -- NULL when the request has nothing relevant (IDCG = 0)
        {{ metricbook.safe_divide('at_cutoff.dcg', 'at_cutoff.idcg') }} as ndcg,
        -- k, not the request's length: a short request cannot fill its top k
        {{ metricbook.safe_divide('at_cutoff.relevant_in_top_k', 'at_cutoff.k') }} as precision,
        {{ metricbook.safe_divide('at_cutoff.relevant_in_top_k', 'at_cutoff.relevant_items') }}
            as recall,
        -- over min(k, relevant): a perfect top k scores 1 even with more relevant items below
        case
            when at_cutoff.relevant_items > 0
                then {{ metricbook.safe_divide(
                    'at_cutoff.precision_sum',
                    'case when at_cutoff.relevant_items < at_cutoff.k'
                    ~ ' then at_cutoff.relevant_items else at_cutoff.k end'
                ) }}
        end as average_precision,
        case
            when at_cutoff.relevant_items = 0 then null
            when at_cutoff.first_relevant_rank is null then {{ metricbook.safe_divide(0, 1) }}
            else {{ metricbook.safe_divide(1, 'at_cutoff.first_relevant_rank') }}
        end as reciprocal_rank

    from (

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
                when discounted.ideal_rank <= cutoffs.k then discounted.ideal_discounted_gain
                else 0
            end) as idcg,
            sum(case
                when discounted.item_rank <= cutoffs.k and discounted.relevance > 0
                    then {{ metricbook.safe_divide('discounted.relevant_so_far', 'discounted.item_rank') }}
                else 0
            end) as precision_sum,
            min(case
                when discounted.item_rank <= cutoffs.k and discounted.relevance > 0
                    then discounted.item_rank
            end) as first_relevant_rank

        from (

            select
                positioned.*,
                -- log2(x) = ln(x) / ln(2), portable
                positioned.gain * ln(2) / ln(positioned.item_rank + 1) as discounted_gain,
                positioned.gain * ln(2) / ln(positioned.ideal_rank + 1) as ideal_discounted_gain

            from (

                select
                    ranked.model_id,
                    ranked.request_id,
                    ranked.item_rank,
                    ranked.relevance,
                    -- the gain 2^rel - 1, spelled out so no engine's power() is needed
                    case ranked.relevance when 2 then 3 when 1 then 1 else 0 end as gain,
                    -- relevant items at ranks 1..item_rank: precision@item_rank = this / item_rank
                    sum(case when ranked.relevance > 0 then 1 else 0 end) over (
                        partition by ranked.model_id, ranked.request_id order by ranked.item_rank
                        rows between unbounded preceding and current row
                    ) as relevant_so_far,
                    -- the rank this item would have in the ideal order (relevance descending);
                    -- which of two equally relevant items comes first does not change the IDCG
                    row_number() over (
                        partition by ranked.model_id, ranked.request_id
                        order by ranked.relevance desc, ranked.item_rank asc
                    ) as ideal_rank

                from {{ relation }} as ranked

            ) as positioned

        ) as discounted
        cross join (
            {%- for k in metricbook.integer_list_var('ranking_cutoffs', 1, 1000) %}
            select {{ k }} as k
            {%- if not loop.last %} union all{% endif %}
            {%- endfor %}
        ) as cutoffs
        group by discounted.model_id, discounted.request_id, cutoffs.k

    ) as at_cutoff
{%- endmacro %}
