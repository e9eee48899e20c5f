-- Every staged transaction's money lands on exactly one day of fct_daily_revenue: the mart's
-- totals equal the staged totals, by status. A join that drops or repeats a day fails here.

with

revenue as (

    select * from {{ ref('fct_daily_revenue') }}

),

transactions as (

    select * from {{ ref('stg_transactions') }}

),

mart_totals as (

    select
        sum(completed_revenue_usd) as completed_usd,
        sum(refunds_usd) as refunds_usd,
        sum(completed_transactions) as completed_transactions

    from revenue

),

staged_totals as (

    select
        coalesce(sum(case when status = 'completed' then amount_usd end), 0) as completed_usd,
        coalesce(sum(case when status = 'refunded' then amount_usd end), 0) as refunds_usd,
        sum(case when status = 'completed' then 1 else 0 end) as completed_transactions

    from transactions

),

final as (

    select
        mart_totals.*,
        staged_totals.completed_usd as staged_completed_usd,
        staged_totals.refunds_usd as staged_refunds_usd,
        staged_totals.completed_transactions as staged_completed_transactions

    from mart_totals
    cross join staged_totals
    where
        mart_totals.completed_usd <> staged_totals.completed_usd
        or mart_totals.refunds_usd <> staged_totals.refunds_usd
        or mart_totals.completed_transactions <> staged_totals.completed_transactions

)

select * from final
