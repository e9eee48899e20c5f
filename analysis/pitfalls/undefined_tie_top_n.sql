-- Pitfall: a top-N with undefined tie behaviour. "order by saves desc limit 3" (or a
-- row_number() ordered by saves alone) keeps whichever tied category the engine reads first,
-- so the list can change between runs, engines or file layouts with no change in the data.
-- Wrong: the naive top 3 per (week, country). Right: fct_top_categories, whose tie rule (a var,
-- stored in a column) decides every list from the data alone.
-- Measure: the lists whose membership the naive query leaves to scan order, i.e. a category
-- outside its naive top 3 has as many saves as the last one inside.

with

rankings as (

    select * from {{ ref('fct_category_rankings') }}

),

naive_top_3 as (

    select
        week_start,
        country,
        category,
        saves,
        -- the tempting query: no tie-breaker, so the order among equal saves is arbitrary
        row_number() over (partition by week_start, country order by saves desc) as naive_rank

    from rankings

),

cut_off as (

    select
        week_start,
        country,
        min(saves) as last_kept_saves

    from naive_top_3
    where naive_rank <= 3
    group by week_start, country

),

undecided_lists as (

    select distinct
        cut_off.week_start,
        cut_off.country

    from cut_off
    inner join naive_top_3
        on
            cut_off.week_start = naive_top_3.week_start
            and cut_off.country = naive_top_3.country
    where naive_top_3.naive_rank > 3 and naive_top_3.saves = cut_off.last_kept_saves

),

final as (

    select
        'top-3 lists decided by scan order' as measure,
        (select count(*) from undecided_lists) as wrong_value,
        0 as right_value,
        (select count(*) from cut_off) as lists

)

select * from final
