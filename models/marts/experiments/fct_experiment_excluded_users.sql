-- The audit of assignment exclusions: every (experiment, user) with a staged assignment who is
-- not in fct_experiment_assignments, with the reason and the counts behind it. A large or
-- lopsided list here is itself a finding (a broken assignment service biases the test).

with

user_assignments as (

    select * from {{ ref('int_experiment_user_assignments') }}

),

final as (

    select
        experiment_id,
        user_id,
        assignment_status as exclusion_reason,
        variants_in_window,
        -- the contract's bigint: DuckDB sums integers to a hugeint
        cast(assignments_in_window as {{ dbt.type_bigint() }}) as assignments_in_window,
        cast(assignments_before_start as {{ dbt.type_bigint() }}) as assignments_before_start,
        cast(assignments_after_end as {{ dbt.type_bigint() }}) as assignments_after_end

    from user_assignments
    where assignment_status <> 'assigned'

)

select * from final
