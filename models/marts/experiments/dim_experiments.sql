-- Every declared experiment, staged or rejected, and whether it may be analysed: what
-- `metricbook analyze` reads to refuse an excluded experiment with its reason. The types are
-- cast here because the model contract fixes them on every engine.

with

experiment_checks as (

    select * from {{ ref('int_experiment_checks') }}

),

final as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        start_at,
        end_at,
        cast(variants as {{ dbt.type_bigint() }}) as variants,
        cast(controls as {{ dbt.type_bigint() }}) as controls,
        cast(total_traffic_share as decimal(18, 6)) as total_traffic_share,
        cast(is_analyzable as {{ dbt.type_boolean() }}) as is_analyzable,
        cast(exclusion_reason as {{ dbt.type_string() }}) as exclusion_reason

    from experiment_checks

)

select * from final
