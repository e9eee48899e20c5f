-- A warning, not an error: every declared experiment that dim_experiments excludes from
-- readouts, with the reason and the counts behind it. Healthy experiments still build; this
-- makes the build log say WARN with how many are excluded. One row per excluded experiment;
-- stored (store_failures) in the <target schema>_dbt_test__audit schema under this test's name.

{{ config(severity='warn', store_failures=true) }}

with

experiments as (

    select * from {{ ref('dim_experiments') }}

),

final as (

    select
        experiment_id,
        exclusion_reason,
        case
            when exclusion_reason in ('no_variants', 'single_variant') then 'at_least_two_variants'
            when exclusion_reason in ('no_control', 'several_controls') then 'exactly_one_control'
            when exclusion_reason = 'traffic_shares_do_not_sum_to_one'
                then 'traffic_shares_sum_to_one'
            -- any other reason was given by staging (stg_experiments__rejects)
            else 'experiment_is_staged'
        end as broken_rule,
        variants,
        controls,
        total_traffic_share

    from experiments
    where not is_analyzable

)

select * from final
