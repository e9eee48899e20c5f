-- Weekly category popularity per country, ranked three ways so that a top-N can state its tie
-- rule instead of inheriting whatever order the engine returns. saves counts distinct
-- (user, pin) pairs saved in the week: saving one pin twice is one save.

with

pin_saves as (

    select * from {{ ref('int_weekly_pin_saves') }}

),

category_saves as (

    select
        week_start,
        country,
        category,
        count(*) as saves

    from pin_saves
    group by week_start, country, category

),

final as (

    select
        week_start,
        country,
        category,
        saves,
        -- the contract's bigint: Spark's ranking functions return int
        cast(
            {{ rank_with_tie_rule('row_number', ['week_start', 'country'], 'saves desc', 'category asc') }}
            as {{ dbt.type_bigint() }}
        ) as rank_row_number,
        cast(
            {{ rank_with_tie_rule('rank', ['week_start', 'country'], 'saves desc', 'category asc') }}
            as {{ dbt.type_bigint() }}
        ) as rank_standard,
        cast(
            {{ rank_with_tie_rule('dense_rank', ['week_start', 'country'], 'saves desc', 'category asc') }}
            as {{ dbt.type_bigint() }}
        ) as rank_dense

    from category_saves

)

select * from final
