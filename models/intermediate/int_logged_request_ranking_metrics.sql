-- The ranking metrics of the served order (model_id 'logged') of every request, at each cutoff
-- of var ranking_cutoffs. Its own model so that the experiment marts and fct_request_ranking
-- read the served order's NDCG without the candidate models' scores: no ranker score has to be
-- staged or ranked for an experiment readout.

with

items as (

    select * from {{ ref('int_request_items') }}

),

logged_ranks as (

    select
        cast('logged' as {{ dbt.type_string() }}) as model_id,
        request_id,
        {{ served_item_rank() }} as item_rank,
        relevance

    from items

),

metrics as (

    {{ request_ranking_metrics('logged_ranks') | indent(4) }}

),

final as (

    select * from metrics

)

select * from final
