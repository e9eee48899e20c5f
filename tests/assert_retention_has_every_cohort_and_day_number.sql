{%- set day_numbers = integer_list_var('retention_day_numbers', 0, 3660) %}
-- fct_retention promises a full (cohort_date x day_number) grid: one row per signup date per
-- configured day number, retained users never above the cohort, and a rate exactly when the
-- row is mature (NULL, never 0, for a day not observed yet). Returns the offending rows.

with

retention as (

    select * from {{ ref('fct_retention') }}

),

users as (

    select * from {{ ref('stg_users') }}

),

expected_grid as (

    select
        count(distinct signup_date) * {{ day_numbers | length }} as expected_rows
    from users

),

actual_grid as (

    select count(*) as actual_rows
    from retention

),

grid_mismatch as (

    select
        'grid' as failure,
        cast(null as date) as cohort_date,
        cast(null as integer) as day_number

    from expected_grid
    cross join actual_grid
    where expected_grid.expected_rows <> actual_grid.actual_rows

),

bad_rows as (

    select
        case
            when retained_users > cohort_users then 'retained above cohort'
            when is_mature and retention_rate is null then 'mature without a rate'
            when not is_mature and retention_rate is not null then 'immature with a rate'
        end as failure,
        cohort_date,
        day_number

    from retention

),

final as (

    select * from grid_mismatch
    union all
    select * from bad_rows
    where failure is not null

)

select * from final
