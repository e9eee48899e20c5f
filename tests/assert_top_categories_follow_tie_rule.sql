-- fct_top_categories against an independent definition of each tie rule, by counting rivals
-- instead of using window functions: a category makes the top N when fewer than N categories
-- are ahead of it, where "ahead" means
--   row_number: more saves, or as many saves and an alphabetically earlier name
--   rank:       more saves
--   dense_rank: a strictly higher distinct save count
-- Returns categories that are in one set and not the other.

with

rankings as (

    select * from {{ ref('fct_category_rankings') }}

),

top_categories as (

    select * from {{ ref('fct_top_categories') }}

),

rivals as (

    select
        candidate.week_start,
        candidate.country,
        candidate.category,
        sum(case
            when
                rival.saves > candidate.saves
                or (rival.saves = candidate.saves and rival.category < candidate.category)
                then 1
            else 0
        end) as ahead_row_number,
        sum(case when rival.saves > candidate.saves then 1 else 0 end) as ahead_rank,
        count(distinct case when rival.saves > candidate.saves then rival.saves end)
            as ahead_dense_rank

    from rankings as candidate
    inner join rankings as rival
        on
            candidate.week_start = rival.week_start
            and candidate.country = rival.country
    group by candidate.week_start, candidate.country, candidate.category

),

expected as (

    select
        week_start,
        country,
        category

    from rivals
    where ahead_{{ var('tie_rule') }} < {{ integer_var('top_n', 1, 1000) }}

),

missing as (

    select
        'expected but missing' as failure,
        expected.*

    from expected
    left join top_categories
        on
            expected.week_start = top_categories.week_start
            and expected.country = top_categories.country
            and expected.category = top_categories.category
    where top_categories.category is null

),

unexpected as (

    select
        'present but not expected' as failure,
        top_categories.week_start,
        top_categories.country,
        top_categories.category

    from top_categories
    left join expected
        on
            top_categories.week_start = expected.week_start
            and top_categories.country = expected.country
            and top_categories.category = expected.category
    where expected.category is null

),

final as (

    select * from missing
    union all
    select * from unexpected

)

select * from final
