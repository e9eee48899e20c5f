-- The two CTRs side by side. pooled_ctr weighs every impression equally (heavy users dominate);
-- mean_user_ctr weighs every user equally. They answer different questions and differ whenever
-- CTR varies with how much a user browses.

with

user_ctr as (

    select * from {{ ref('fct_user_ctr') }}

),

totals as (

    select
        count(*) as users,
        sum(case when impressions > 0 then 1 else 0 end) as users_with_impressions,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        avg(ctr) as mean_user_ctr

    from user_ctr

),

final as (

    select
        -- the contract's types: DuckDB sums integers to a hugeint, Postgres bigints to a numeric
        cast('all_users' as {{ dbt.type_string() }}) as population,
        users,
        cast(users_with_impressions as {{ dbt.type_bigint() }}) as users_with_impressions,
        cast(impressions as {{ dbt.type_bigint() }}) as impressions,
        cast(clicks as {{ dbt.type_bigint() }}) as clicks,
        {{ safe_divide('clicks', 'impressions') }} as pooled_ctr,
        -- avg skips NULL: users with no impressions have no CTR to average
        mean_user_ctr

    from totals

)

select * from final
