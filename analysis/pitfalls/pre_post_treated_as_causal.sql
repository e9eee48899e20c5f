-- Pitfall: reading a launch's pre/post change as its effect. Every unit's saves rose on the
-- launch date (a campaign ran at the same time), so the treated units' pre/post change holds
-- the campaign too. Wrong: the treated units' relative change in mean saves per active user
-- (post vs pre). Right: the difference-in-differences estimate (the treated change minus the
-- comparison units' change), relative to the treated units' counterfactual post mean. The
-- launch: the first by launch_id whose units are countries.

with

panel as (

    select * from {{ ref('fct_launch_panel') }}

),

chosen as (

    select min(launch_id) as launch_id
    from panel
    where unit_type = 'country'

),

cells as (

    select
        panel.is_treated,
        panel.is_post,
        avg(panel.saves_per_active_user) as mean_value

    from panel
    inner join chosen
        on panel.launch_id = chosen.launch_id
    group by panel.is_treated, panel.is_post

),

means as (

    select
        max(case when is_treated and is_post then mean_value end) as treated_post,
        max(case when is_treated and not is_post then mean_value end) as treated_pre,
        max(case when not is_treated and is_post then mean_value end) as control_post,
        max(case when not is_treated and not is_post then mean_value end) as control_pre

    from cells

),

effects as (

    select
        treated_post,
        treated_pre,
        (treated_post - treated_pre) - (control_post - control_pre) as did

    from means

),

final as (

    select
        'relative effect on saves per active user' as measure,
        treated_post / treated_pre - 1 as wrong_value,
        did / (treated_post - did) as right_value

    from effects

)

select * from final
