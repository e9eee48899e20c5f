-- Every staged experiment declares exactly one control and traffic shares that add up to 1:
-- without them neither the SRM check nor "treatment vs control" has a meaning.

with

variants as (

    select * from {{ ref('stg_experiment_variants') }}

),

experiments as (

    select * from {{ ref('stg_experiments') }}

),

per_experiment as (

    select
        experiments.experiment_id,
        count(variants.variant) as variants,
        sum(case when variants.is_control then 1 else 0 end) as controls,
        sum(variants.traffic_share) as total_traffic_share

    from experiments
    left join variants
        on experiments.experiment_id = variants.experiment_id
    group by experiments.experiment_id

),

final as (

    select * from per_experiment
    where
        variants < 2
        or controls <> 1
        or abs(total_traffic_share - 1) > 0.001

)

select * from final
