-- Every staged user with the attributes fixed at signup: the one place the marts, the semantic
-- layer and analysts slice users by platform, country or signup cohort. Attributes are as of
-- signup (raw_users carries no history), so they are pre-treatment for any later experiment.

with

users as (

    select * from {{ ref('stg_users') }}

),

final as (

    select
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(platform as {{ dbt.type_string() }}) as platform,
        cast(country as {{ dbt.type_string() }}) as country,
        signup_at,
        cast(signup_date as date) as signup_date

    from users

)

select * from final
