-- Offline evaluation of each candidate ranking model against the served order ('logged'), per
-- cutoff k of var ranking_cutoffs. Ranking quality: the means of the per-request metrics of
-- int_request_ranking_metrics over the requests the model scored completely that hold at least
-- one relevant item (an empty request has no defined NDCG; counting it as 0 or 1 rewards or
-- punishes every model equally and hides the difference). Score quality (AUC, log loss, ECE)
-- is over the impressions of those scored requests, clicked vs not, and is the same on every k.
-- A model is compared on the requests it scored; requests_unscored says how many it skipped.

with

metrics as (

    select * from {{ ref('int_request_ranking_metrics') }}

),

ranked as (

    select * from {{ ref('int_ranked_request_items') }}

),

items as (

    select * from {{ ref('int_request_items') }}

),

scores as (

    select * from {{ ref('stg_ranker_scores') }}

),

calibration as (

    select * from {{ ref('fct_ranker_calibration') }}

),

cutoffs as (

    {% for k in integer_list_var('ranking_cutoffs', 1, 1000) %}
    select {{ k }} as k
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

models as (

    -- every candidate, even one that scored no request completely, and the served order
    select distinct model_id from scores
    union all
    select 'logged' as model_id

),

served_requests as (

    select count(distinct request_id) as requests

    from items

),

request_means as (

    select
        model_id,
        k,
        count(*) as requests_scored,
        sum(case when relevant_items > 0 then 1 else 0 end) as requests_evaluated,
        sum(case when relevant_items = 0 then 1 else 0 end) as requests_without_relevant,
        -- ndcg, recall, AP and RR are NULL on a request without a relevant item, and avg()
        -- skips NULL; precision is not, so it is averaged over the evaluated requests explicitly
        avg(ndcg) as mean_ndcg,
        avg(average_precision) as map,
        avg(reciprocal_rank) as mrr,
        avg(recall) as mean_recall,
        avg(case when relevant_items > 0 then precision end) as mean_precision

    from metrics
    group by model_id, k

),

impressions_by_model as (

    select
        model_id,
        count(*) as impressions

    from ranked
    group by model_id

),

-- AUC from counts per distinct score (exact, and no pairs of impressions are formed): a clicked
-- impression beats every unclicked one with a lower score and ties half of those with its own
score_counts as (

    select
        model_id,
        score,
        cast(sum(case when is_clicked then 1 else 0 end) as {{ dbt.type_bigint() }}) as clicked,
        cast(sum(case when is_clicked then 0 else 1 end) as {{ dbt.type_bigint() }}) as unclicked

    from ranked
    where model_id <> 'logged'
    group by model_id, score

),

score_counts_below as (

    select
        *,
        sum(unclicked) over (
            partition by model_id order by score
            rows between unbounded preceding and current row
        ) - unclicked as unclicked_below

    from score_counts

),

auc_by_model as (

    -- in halves, so every count stays an exact integer until the one division
    select
        model_id,
        {{ safe_divide(
            'sum(clicked * (2 * unclicked_below + unclicked))',
            '2 * sum(clicked) * sum(unclicked)'
        ) }} as auc

    from score_counts_below
    group by model_id

),

clipped as (

    select
        model_id,
        is_clicked,
        -- log loss is infinite at a confident miss: scores are clipped to [1e-15, 1 - 1e-15]
        least(greatest(score, 1e-15), 1 - 1e-15) as p

    from ranked
    where model_id <> 'logged'

),

log_loss_by_model as (

    select
        model_id,
        -avg(case when is_clicked then ln(p) else ln(1 - p) end) as log_loss

    from clipped
    group by model_id

),

ece_by_model as (

    select
        model_id,
        {{ safe_divide(
            'sum(impressions * abs(mean_score - click_rate))', 'sum(impressions)'
        ) }} as ece

    from calibration
    group by model_id

),

final as (

    select
        cast(models.model_id as {{ dbt.type_string() }}) as model_id,
        cast(cutoffs.k as {{ dbt.type_int() }}) as k,
        cast(coalesce(request_means.requests_evaluated, 0) as {{ dbt.type_bigint() }})
            as requests_evaluated,
        cast(coalesce(request_means.requests_without_relevant, 0) as {{ dbt.type_bigint() }})
            as requests_without_relevant,
        cast(
            served_requests.requests - coalesce(request_means.requests_scored, 0)
            as {{ dbt.type_bigint() }}
        ) as requests_unscored,
        {{ safe_divide('request_means.mean_ndcg', 1) }} as mean_ndcg,
        {{ safe_divide('request_means.map', 1) }} as map,
        {{ safe_divide('request_means.mrr', 1) }} as mrr,
        {{ safe_divide('request_means.mean_recall', 1) }} as mean_recall,
        {{ safe_divide('request_means.mean_precision', 1) }} as mean_precision,
        cast(coalesce(impressions_by_model.impressions, 0) as {{ dbt.type_bigint() }})
            as impressions,
        auc_by_model.auc,
        {{ safe_divide('log_loss_by_model.log_loss', 1) }} as log_loss,
        ece_by_model.ece

    from models
    cross join cutoffs
    cross join served_requests
    left join request_means
        on models.model_id = request_means.model_id
            and cutoffs.k = request_means.k
    left join impressions_by_model
        on models.model_id = impressions_by_model.model_id
    left join auc_by_model
        on models.model_id = auc_by_model.model_id
    left join log_loss_by_model
        on models.model_id = log_loss_by_model.model_id
    left join ece_by_model
        on models.model_id = ece_by_model.model_id

)

select * from final
