-- Pitfall: treating impressions as independent trials. The binomial standard error
-- sqrt(p (1 - p) / impressions) assumes every impression is a separate coin flip, but one
-- user's impressions share that user's taste, so they are correlated and the real uncertainty
-- is larger. With the user as the unit (the randomisation unit of an experiment) the delta
-- method gives, for R = mean(clicks) / mean(impressions) over n users:
--   var(R) ~ (var_y / mx^2 - 2 my cov_xy / mx^3 + my^2 var_x / mx^4) / n
-- (Deng, Knoblich & Lu 2018). Wrong: the binomial SE. Right: the delta-method SE.

with

user_ctr as (

    select * from {{ ref('fct_user_ctr') }}

),

moments as (

    select
        count(*) as users,
        sum(impressions) as impressions,
        avg(cast(impressions as double precision)) as mean_x,
        avg(cast(clicks as double precision)) as mean_y,
        var_samp(cast(impressions as double precision)) as var_x,
        var_samp(cast(clicks as double precision)) as var_y,
        covar_samp(cast(clicks as double precision), cast(impressions as double precision)) as cov_xy

    from user_ctr

),

final as (

    select
        'standard error of the pooled CTR' as measure,
        sqrt((mean_y / mean_x) * (1 - mean_y / mean_x) / impressions) as wrong_value,
        sqrt(
            (
                var_y / (mean_x * mean_x)
                - 2 * mean_y * cov_xy / (mean_x * mean_x * mean_x)
                + mean_y * mean_y * var_x / (mean_x * mean_x * mean_x * mean_x)
            ) / users
        ) as right_value,
        users,
        impressions

    from moments

)

select * from final
