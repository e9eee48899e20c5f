-- The declared arms of every staged experiment, analyzable or not (dim_experiments says which
-- may be analysed): the marts' one place to ask which variant is the control and what share
-- of traffic each arm should get. The types are cast here because the model contract fixes
-- them on every engine.

with

variants as (

    select * from {{ ref('stg_experiment_variants') }}

),

final as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(variant as {{ dbt.type_string() }}) as variant,
        cast(is_control as {{ dbt.type_boolean() }}) as is_control,
        cast(traffic_share as decimal(9, 6)) as traffic_share

    from variants

)

select * from final
