-- Pitfall: comparing raw CTR across arms when the treatment moved impressions between feed
-- positions. The teaching treatment ends sessions earlier (it keeps 80% of each feed, from the
-- top), so its impressions sit higher up, where every arm clicks more: pooled CTR rises with no
-- change at any position. Wrong: the raw lift of pooled CTR. Right: the position-adjusted lift,
-- the within-position rate effect over control's pooled CTR, weighing each (surface, position)
-- slot by control's share of impressions there (the readout's CTR decomposition; a slot one arm
-- never showed borrows the other arm's rate).

with

position_ctr as (

    select * from {{ ref('fct_experiment_position_ctr') }}

),

variants as (

    select * from {{ ref('dim_experiment_variants') }}

),

experiment as (

    -- the seeds hold one experiment; with several, the first by id
    select min(experiment_id) as experiment_id from position_ctr

),

slots as (

    select
        position_ctr.surface,
        position_ctr.feed_position,
        sum(case when variants.is_control then position_ctr.impressions else 0 end) as control_impressions,
        sum(case when variants.is_control then position_ctr.clicks else 0 end) as control_clicks,
        sum(case when variants.is_control then 0 else position_ctr.impressions end) as treatment_impressions,
        sum(case when variants.is_control then 0 else position_ctr.clicks end) as treatment_clicks

    from position_ctr
    inner join experiment
        on position_ctr.experiment_id = experiment.experiment_id
    inner join variants
        on
            position_ctr.experiment_id = variants.experiment_id
            and position_ctr.variant = variants.variant
    group by position_ctr.surface, position_ctr.feed_position

),

rates as (

    select
        control_impressions,
        treatment_impressions,
        control_clicks,
        treatment_clicks,
        case
            when control_impressions > 0 then 1.0 * control_clicks / control_impressions
            else 1.0 * treatment_clicks / treatment_impressions
        end as control_rate,
        case
            when treatment_impressions > 0 then 1.0 * treatment_clicks / treatment_impressions
            else 1.0 * control_clicks / control_impressions
        end as treatment_rate

    from slots
    where control_impressions + treatment_impressions > 0

),

pooled as (

    select
        1.0 * sum(control_clicks) / sum(control_impressions) as control_ctr,
        1.0 * sum(treatment_clicks) / sum(treatment_impressions) as treatment_ctr,
        sum((treatment_rate - control_rate) * control_impressions) / sum(control_impressions)
            as rate_effect

    from rates

),

final as (

    select
        'CTR lift of the treatment' as measure,
        treatment_ctr / control_ctr - 1 as wrong_value,
        rate_effect / control_ctr as right_value

    from pooled

)

select * from final
