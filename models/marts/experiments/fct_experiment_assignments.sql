-- Who is in each experiment, in which arm, since when: the denominator of every experiment
-- metric. Excluded users (two variants, or assigned only outside the window) are listed with
-- the reason in fct_experiment_excluded_users, not silently dropped.

with

user_assignments as (

    select * from {{ ref('int_experiment_user_assignments') }}

),

final as (

    select
        experiment_id,
        user_id,
        variant,
        first_assigned_at

    from user_assignments
    where assignment_status = 'assigned'

)

select * from final
