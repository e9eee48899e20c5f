-- Reliability of each candidate model's scores: its scored impressions (the requests it scored
-- completely, int_ranked_request_items) in 10 equal-width score bins, bin =
-- least(floor(score * 10), 9), so a score of exactly 0.3 is in bin 3 and 1.0 in the top bin 9
-- (not an eleventh bin). The served order ('logged') has no scores and no rows. The one
-- definition of the bins: fct_ranker_offline_eval computes ECE from these rows.

with

ranked as (

    select * from {{ ref('int_ranked_request_items') }}
    where model_id <> 'logged'

),

binned as (

    select
        model_id,
        score,
        case when is_clicked then 1 else 0 end as clicked,
        least(cast(floor(score * 10) as {{ dbt.type_int() }}), 9) as score_bin

    from ranked

),

by_bin as (

    select
        model_id,
        score_bin,
        count(*) as impressions,
        avg(score) as mean_score,
        sum(clicked) as clicks

    from binned
    group by model_id, score_bin

),

final as (

    select
        cast(model_id as {{ dbt.type_string() }}) as model_id,
        cast(score_bin as {{ dbt.type_int() }}) as bin,
        cast(impressions as {{ dbt.type_bigint() }}) as impressions,
        {{ safe_divide('mean_score', 1) }} as mean_score,
        {{ safe_divide('clicks', 'impressions') }} as click_rate

    from by_bin

)

select * from final
