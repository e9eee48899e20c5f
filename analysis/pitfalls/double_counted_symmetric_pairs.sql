-- Pitfall: double-counting symmetric pairs. Joining category audiences to themselves on the
-- user returns every pair twice, (a, b) and (b, a), plus the diagonal (a, a) with a "perfect"
-- Jaccard of 1. Wrong: the pairs of the plain self-join. Right: fct_category_overlap
-- (category_a < category_b). Prediction: wrong = 2 * right + categories.

with

pin_saves as (

    select * from {{ ref('int_weekly_pin_saves') }}

),

overlap as (

    select * from {{ ref('fct_category_overlap') }}

),

audiences as (

    select distinct
        category,
        user_id

    from pin_saves

),

naive_pairs as (

    select
        side_a.category as category_a,
        side_b.category as category_b

    from audiences as side_a
    -- the pitfall: no side_a.category < side_b.category
    inner join audiences as side_b
        on side_a.user_id = side_b.user_id
    group by side_a.category, side_b.category

),

final as (

    select
        'category pairs with a shared user' as measure,
        (select count(*) from naive_pairs) as wrong_value,
        (select count(*) from overlap) as right_value,
        (select count(distinct category) from audiences) as categories

)

select * from final
