-- Pitfall: casting ISO-8601 text straight to TIMESTAMP. DuckDB, Postgres and Spark all drop the
-- offset silently, so '2024-03-08T23:30:00-08:00' lands on March 8 instead of March 9 (UTC).
-- Wrong: plain_cast_date. Right: utc_date (staging's to_utc_timestamp, then the date).
-- Compile with `dbt compile -s plain_cast_drops_offset` and run the SQL in target/compiled.

with

events as (

    select * from {{ ref('base_events') }}
    where row_status = 'staged'

),

compared as (

    select
        event_id,
        event_at_text,
        cast(cast(event_at_text as timestamp) as date) as plain_cast_date,
        cast(event_at as date) as utc_date

    from events

),

final as (

    select
        count(*) as staged_events,
        sum(case when plain_cast_date <> utc_date then 1 else 0 end) as events_on_wrong_date

    from compared

)

select * from final
