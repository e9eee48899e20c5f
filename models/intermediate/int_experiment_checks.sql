-- One row per declared experiment (staged or rejected in staging) and whether a readout of it
-- means anything. Without exactly one control there is no "treatment vs control"; without
-- traffic shares adding up to 1 the SRM check has no expected split; a single arm compares
-- nothing. A broken experiment is excluded here, with its reason, so it cannot produce a
-- readout and cannot stop the marts of the healthy ones from building.

with

experiments as (

    select * from {{ ref('stg_experiments') }}

),

experiment_rejects as (

    select * from {{ ref('stg_experiments__rejects') }}

),

variants as (

    select * from {{ ref('stg_experiment_variants') }}

),

rejected_experiments as (

    -- Valid deliveries rank first, so a rejected row ranked 1 is an experiment_id with no
    -- staged delivery at all; a bad retry of a staged experiment ranks 2+ and changes nothing.
    select
        experiment_id,
        reject_reason

    from experiment_rejects
    where
        experiment_id is not null
        and delivery_rank = 1

),

experiment_ids as (

    select experiment_id from experiments
    union distinct
    select experiment_id from rejected_experiments

),

variant_summary as (

    select
        experiment_id,
        count(*) as variants,
        sum(case when is_control then 1 else 0 end) as controls,
        sum(traffic_share) as total_traffic_share

    from variants
    group by experiment_id

),

summarised as (

    select
        experiment_ids.experiment_id,
        experiments.start_at,
        experiments.end_at,
        rejected_experiments.reject_reason,
        coalesce(variant_summary.variants, 0) as variants,
        coalesce(variant_summary.controls, 0) as controls,
        coalesce(variant_summary.total_traffic_share, 0) as total_traffic_share

    from experiment_ids
    left join experiments
        on experiment_ids.experiment_id = experiments.experiment_id
    left join rejected_experiments
        on experiment_ids.experiment_id = rejected_experiments.experiment_id
    left join variant_summary
        on experiment_ids.experiment_id = variant_summary.experiment_id

),

checked as (

    select
        *,
        -- The first failing check, in this order: a reason later in the list may also hold.
        -- Shares are decimals, so 1/3 + 1/3 + 1/3 arrives as 0.999999: hence the tolerance.
        case
            when reject_reason is not null then reject_reason
            when variants = 0 then 'no_variants'
            when variants = 1 then 'single_variant'
            when controls = 0 then 'no_control'
            when controls > 1 then 'several_controls'
            when abs(total_traffic_share - 1) > 0.001 then 'traffic_shares_do_not_sum_to_one'
        end as exclusion_reason

    from summarised

),

final as (

    select
        experiment_id,
        start_at,
        end_at,
        cast(variants as {{ dbt.type_bigint() }}) as variants,
        cast(controls as {{ dbt.type_bigint() }}) as controls,
        cast(total_traffic_share as decimal(18, 6)) as total_traffic_share,
        exclusion_reason is null as is_analyzable,
        exclusion_reason

    from checked

)

select * from final
