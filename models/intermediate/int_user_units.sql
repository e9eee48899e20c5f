-- One row per staged user per unit type: the unit the user belongs to in a launch panel (the
-- signup country, the signup platform). Attributes are as of signup, so a user never moves
-- between units during a launch. A user absent from stg_users has no unit.

with

users as (

    select * from {{ ref('stg_users') }}

),

country_units as (

    select
        'country' as unit_type,
        country as unit,
        user_id

    from users

),

platform_units as (

    select
        'platform' as unit_type,
        platform as unit,
        user_id

    from users

),

final as (

    select * from country_units
    union all
    select * from platform_units

)

select * from final
