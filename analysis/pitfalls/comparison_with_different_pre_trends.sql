-- Pitfall: a comparison group whose pre-launch trend differs. Difference-in-differences
-- assumes the treated units would have moved like the comparison; if their gap was already
-- growing before the launch, the estimate carries that growth. Wrong: the difference-in-
-- differences estimate (mean post gap minus mean pre gap, treated minus comparison units).
-- Right, for this data (a straight-line trend): the post gap net of the pre-period's linear
-- trend in the gap, extrapolated. Both relative to the treated units' counterfactual post
-- mean. The launch: the one whose gap has the steepest pre-period trend. The event study of
-- `metricbook causal` is where this is detected: its pre-trend test rejects.

with

panel as (

    select * from {{ ref('fct_launch_panel') }}

),

gaps as (

    select
        launch_id,
        metric_date,
        relative_day,
        is_post,
        avg(case when is_treated then saves_per_active_user end) as treated_value,
        avg(case when is_treated then saves_per_active_user end)
        - avg(case when not is_treated then saves_per_active_user end) as gap

    from panel
    group by launch_id, metric_date, relative_day, is_post

),

pre_trends as (

    select
        launch_id,
        avg(gap) as pre_gap,
        regr_slope(gap, relative_day) as pre_slope,
        regr_intercept(gap, relative_day) as pre_intercept

    from gaps
    where not is_post
    group by launch_id

),

chosen as (

    select
        launch_id,
        pre_gap,
        pre_slope,
        pre_intercept

    from pre_trends
    order by abs(pre_slope) desc, launch_id
    limit 1

),

effects as (

    select
        avg(gaps.treated_value) as treated_post,
        avg(gaps.gap) - max(chosen.pre_gap) as did,
        avg(gaps.gap - (chosen.pre_intercept + chosen.pre_slope * gaps.relative_day))
            as trend_adjusted

    from gaps
    inner join chosen
        on gaps.launch_id = chosen.launch_id
    where gaps.is_post

),

final as (

    select
        'relative effect on saves per active user' as measure,
        did / (treated_post - did) as wrong_value,
        trend_adjusted / (treated_post - trend_adjusted) as right_value

    from effects

)

select * from final
