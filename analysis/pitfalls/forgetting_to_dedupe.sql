-- Pitfall: counting before deduping. Pipelines deliver some rows twice (at-least-once
-- delivery, client retries), so sums over raw deliveries overstate money and activity.
-- Wrong: completed revenue summed over every valid delivery. Right: fct_daily_revenue, built on
-- one row per transaction_id.

with

deliveries as (

    select * from {{ ref('base_transactions') }}

),

event_deliveries as (

    select * from {{ ref('base_events') }}

),

revenue as (

    select * from {{ ref('fct_daily_revenue') }}

),

final as (

    select
        'completed revenue (USD)' as measure,
        (
            select sum(amount_usd) from deliveries
            where row_status in ('staged', 'duplicate') and status = 'completed'
        ) as wrong_value,
        (select sum(completed_revenue_usd) from revenue) as right_value,
        (
            select count(*) from event_deliveries
            where row_status = 'duplicate'
        ) as duplicate_event_deliveries

)

select * from final
