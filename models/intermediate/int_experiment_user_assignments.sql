-- One row per (experiment, user) with any staged assignment, and the verdict on it. Only
-- assignments inside [start_at, end_at] count: one logged after the end cannot have changed
-- what the user saw during the test. A user with two distinct variants in the window cannot be
-- attributed to either arm and is excluded; repeated assignments to one variant were collapsed
-- to the first in staging, and the first assignment in the window is when exposure began.
-- Only analyzable experiments (int_experiment_checks) are here, so every experiment mart
-- downstream holds only experiments whose readout means something.

with

assignments as (

    select * from {{ ref('stg_experiment_assignments') }}

),

analyzable_experiments as (

    select * from {{ ref('int_experiment_checks') }}
    where is_analyzable

),

classified as (

    select
        assignments.experiment_id,
        assignments.user_id,
        assignments.variant,
        assignments.assigned_at,
        case
            when assignments.assigned_at < analyzable_experiments.start_at then 'before_start'
            when assignments.assigned_at > analyzable_experiments.end_at then 'after_end'
            else 'in_window'
        end as assignment_timing

    from assignments
    inner join analyzable_experiments
        on assignments.experiment_id = analyzable_experiments.experiment_id

),

per_user as (

    select
        experiment_id,
        user_id,
        count(distinct case when assignment_timing = 'in_window' then variant end)
            as variants_in_window,
        sum(case when assignment_timing = 'in_window' then 1 else 0 end) as assignments_in_window,
        sum(case when assignment_timing = 'before_start' then 1 else 0 end)
            as assignments_before_start,
        sum(case when assignment_timing = 'after_end' then 1 else 0 end) as assignments_after_end,
        min(case when assignment_timing = 'in_window' then variant end) as first_variant_name,
        min(case when assignment_timing = 'in_window' then assigned_at end) as first_assigned_at

    from classified
    group by experiment_id, user_id

),

final as (

    select
        experiment_id,
        user_id,
        case when variants_in_window = 1 then first_variant_name end as variant,
        first_assigned_at,
        variants_in_window,
        assignments_in_window,
        assignments_before_start,
        assignments_after_end,
        case
            when variants_in_window = 1 then 'assigned'
            when variants_in_window > 1 then 'multiple_variants'
            when assignments_after_end > 0 then 'assigned_after_end'
            else 'assigned_before_start'
        end as assignment_status

    from per_user

)

select * from final
