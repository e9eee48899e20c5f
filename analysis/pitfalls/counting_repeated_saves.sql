-- Pitfall: counting save clicks instead of pins saved. A user who saves the same pin twice (a
-- retry, an unsave and resave) is one save of that pin; counting events inflates a category in
-- proportion to how fiddly its users are. Wrong: save events per (week, country, category).
-- Right: fct_category_rankings.saves, distinct (user, pin) per week.
-- Measure: the total over all rows.

with

pin_saves as (

    select * from {{ ref('int_weekly_pin_saves') }}

),

rankings as (

    select * from {{ ref('fct_category_rankings') }}

),

final as (

    select
        'weekly category saves' as measure,
        (select sum(save_events) from pin_saves) as wrong_value,
        (select sum(saves) from rankings) as right_value

)

select * from final
