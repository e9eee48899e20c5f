-- Pitfall: averaging per-user CTRs and calling it the platform CTR. The mean of user CTRs
-- weighs a user with 2 impressions like one with 2,000; the share of impressions clicked is
-- sum(clicks) / sum(impressions). Wrong: mean_user_ctr reported as the CTR. Right: pooled_ctr.
-- (Each is right for its own question; see fct_ctr_summary's YAML.)

with

summary as (

    select * from {{ ref('fct_ctr_summary') }}

),

final as (

    select
        'platform CTR' as measure,
        mean_user_ctr as wrong_value,
        pooled_ctr as right_value

    from summary

)

select * from final
