-- Pitfall: reporting an immature cohort as 0% retention. A cohort that signed up 5 days ago has
-- no day-14 yet; counting it as "0 retained" drags the average down, more so the faster the
-- product grows. Wrong: day-14 retention pooled over all cohorts with unobserved days as 0.
-- Right: pooled over the mature cohorts only (fct_retention, where immature rows are NULL).

with

retention as (

    select * from {{ ref('fct_retention') }}
    where day_number = 14

),

final as (

    select
        'day-14 retention, cohorts pooled' as measure,
        {{ safe_divide('sum(coalesce(retained_users, 0))', 'sum(cohort_users)') }} as wrong_value,
        {{ safe_divide(
            'sum(case when is_mature then retained_users end)',
            'sum(case when is_mature then cohort_users end)'
        ) }} as right_value,
        sum(case when is_mature then 0 else 1 end) as immature_cohorts

    from retention

)

select * from final
