-- Every calendar date between vars calendar_start (inclusive) and calendar_end (exclusive): the
-- spine that lets a daily metric show a day with no activity as a row, not as a gap.

with

spine as (

    {{ dbt.date_spine(
        'day',
        "cast('" ~ date_var('calendar_start') ~ "' as date)",
        "cast('" ~ date_var('calendar_end') ~ "' as date)"
    ) }}

),

final as (

    select cast(date_day as date) as calendar_date
    from spine

)

select * from final
