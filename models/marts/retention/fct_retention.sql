-- Day-N retention of signup cohorts. A cohort is the users whose signup_at falls on one UTC
-- date; a user is retained on day N when active on exactly cohort_date + N. Counts users, never
-- events, and reports a cohort whose day N is not observed yet as NULL, not 0%.

with

users as (

    select * from {{ ref('stg_users') }}

),

active_days as (

    select * from {{ ref('int_user_active_days') }}

),

day_numbers as (

    {% for day_number in integer_list_var('retention_day_numbers', 0, 3660) %}
    select {{ day_number }} as day_number
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

observed_until as (

    {% if date_var('retention_as_of_date', nullable=true) %}
    select cast('{{ date_var("retention_as_of_date", nullable=true) }}' as date) as as_of_date
    {% else %}
    -- the last UTC date with any valid event: nothing after it has been observed
    select max(activity_date) as as_of_date
    from active_days
    {% endif %}

),

cohorts as (

    select
        signup_date as cohort_date,
        count(*) as cohort_users

    from users
    group by signup_date

),

cohort_days as (

    select
        cohorts.cohort_date,
        day_numbers.day_number,
        cohorts.cohort_users,
        cast({{ dbt.dateadd('day', 'day_numbers.day_number', 'cohorts.cohort_date') }} as date)
            as retention_date

    from cohorts
    cross join day_numbers

),

retained as (

    select
        users.signup_date as cohort_date,
        day_numbers.day_number,
        count(*) as retained_users

    from users
    inner join active_days
        on users.user_id = active_days.user_id
    inner join day_numbers
        on {{ dbt.datediff('users.signup_date', 'active_days.activity_date', 'day') }}
            = day_numbers.day_number
    group by users.signup_date, day_numbers.day_number

),

final as (

    select
        cohort_days.cohort_date,
        cohort_days.day_number,
        cohort_days.retention_date,
        cohort_days.cohort_users,
        case
            when cohort_days.retention_date <= observed_until.as_of_date
                then coalesce(retained.retained_users, 0)
        end as retained_users,
        case
            when cohort_days.retention_date <= observed_until.as_of_date
                then {{ safe_divide('coalesce(retained.retained_users, 0)', 'cohort_days.cohort_users') }}
        end as retention_rate,
        cohort_days.retention_date <= observed_until.as_of_date as is_mature,
        observed_until.as_of_date

    from cohort_days
    cross join observed_until
    left join retained
        on
            cohort_days.cohort_date = retained.cohort_date
            and cohort_days.day_number = retained.day_number

)

select * from final
