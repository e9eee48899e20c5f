-- The floor: the same marts as metricbook, hand-written for DuckDB in one script, no dbt, no
-- ledger, no rejects tables, no tests. `{raw}` is the directory `metricbook generate` wrote.
-- The benchmark times it beside `dbt build` and checks that its marts equal metricbook's.
set TimeZone = 'UTC';

create or replace macro utc(text_value) as case
    when regexp_full_match(
        text_value,
        '[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,9})?(Z|[+-][0-9]{2}(:?[0-9]{2})?)'
    ) then try_cast(text_value as timestamptz) at time zone 'UTC'
end;
create or replace macro clean(text_value) as nullif(trim(text_value), '');

create or replace table events as
with parsed as (
    select
        clean(event_id) as event_id, clean(user_id) as user_id, clean(pin_id) as pin_id,
        clean(request_id) as request_id, clean(event_type) as event_type,
        clean(surface) as surface, clean(position) as position_text,
        clean(event_at) as event_at_text,
        case when regexp_full_match(clean(position), '[+-]?[0-9]{1,9}')
            then cast(clean(position) as integer) end as feed_position,
        utc(clean(event_at)) as event_at
    from read_parquet('{raw}/raw_events/*.parquet', union_by_name = true)
),
winners as (
    select *, event_type = 'impression' as is_impression
    from parsed
    where event_id is not null and user_id is not null and event_at is not null
        and event_type in ('app_open', 'impression', 'click', 'save', 'hide')
        and (event_type = 'app_open' or (pin_id is not null and request_id is not null))
        and not (position_text is not null and coalesce(feed_position, 0) < 1)
        and not (event_type = 'impression' and feed_position is null)
    qualify row_number() over (
        partition by event_id
        order by event_at, event_at_text, user_id, pin_id nulls last, request_id nulls last,
            event_type, surface nulls last, position_text nulls last
    ) = 1
),
-- a request is kept whole or not at all; an engagement needs its impression (CASE, not
-- FILTER, inside the windows: DuckDB evaluates FILTER windows ten times slower here)
copies as (
    select *,
        count(case when is_impression then 1 end) over (partition by request_id, feed_position)
            as position_copies,
        count(case when is_impression then 1 end) over (partition by request_id, pin_id)
            as pin_copies,
        count(case when is_impression then 1 end) over (partition by request_id, pin_id, user_id)
            as shown_to_user
    from winners
),
requests as (
    select *,
        max(case when is_impression then position_copies end) over (partition by request_id)
            as max_position,
        max(case when is_impression then pin_copies end) over (partition by request_id) as max_pin,
        min(case when is_impression then user_id end) over (partition by request_id) as min_user,
        max(case when is_impression then user_id end) over (partition by request_id) as max_user,
        min(case when is_impression then surface end) over (partition by request_id) as min_surface,
        max(case when is_impression then surface end) over (partition by request_id) as max_surface
    from copies
)
select event_id, user_id, pin_id, request_id, event_type, surface, feed_position, event_at,
    cast(event_at as date) as event_date
from requests
where event_type = 'app_open'
    or (coalesce(max_position, 0) <= 1 and coalesce(max_pin, 0) <= 1
        and min_user is not distinct from max_user and min_surface is not distinct from max_surface
        and (is_impression or shown_to_user > 0));

create or replace table users as
select clean(user_id) as user_id, clean(country) as country,
    cast(utc(clean(signup_at)) as date) as signup_date
from read_parquet('{raw}/raw_users/*.parquet', union_by_name = true)
where clean(user_id) is not null and utc(clean(signup_at)) is not null
qualify row_number() over (
    partition by clean(user_id)
    order by utc(clean(signup_at)), clean(signup_at), clean(country) nulls last,
        clean(platform) nulls last
) = 1;

create or replace table pins as
select clean(pin_id) as pin_id, clean(category) as category
from read_parquet('{raw}/raw_pins/*.parquet', union_by_name = true)
where clean(pin_id) is not null and clean(category) is not null
    and lower(clean(is_video)) in ('true', 't', '1', 'yes', 'y', 'false', 'f', '0', 'no', 'n')
    and utc(clean(created_at)) is not null
qualify row_number() over (
    partition by clean(pin_id)
    order by utc(clean(created_at)), clean(created_at), clean(board_id) nulls last,
        clean(creator_id) nulls last, clean(category), clean(is_video)
) = 1;

create or replace table transactions as
with parsed as (
    select clean(transaction_id) as transaction_id, clean(user_id) as user_id,
        clean(status) as status, clean(transacted_at) as transacted_at_text,
        clean(pin_id) as pin_id, clean(amount_usd) as amount_text,
        case when regexp_full_match(clean(amount_usd), '[+-]?[0-9]{1,16}([.][0-9]+)?')
            then cast(clean(amount_usd) as decimal(18, 2)) end as amount_usd,
        utc(clean(transacted_at)) as transacted_at
    from read_parquet('{raw}/raw_transactions/*.parquet', union_by_name = true)
)
select transaction_id, user_id, status, amount_usd, transacted_at,
    cast(transacted_at as date) as transacted_date
from parsed
where transaction_id is not null and user_id is not null and transacted_at is not null
    and status in ('completed', 'refunded') and amount_usd >= 0
qualify row_number() over (
    partition by transaction_id
    order by transacted_at, transacted_at_text, user_id, pin_id nulls last, amount_text, status
) = 1;

create or replace table experiments as
select clean(experiment_id) as experiment_id, utc(clean(start_at)) as start_at,
    utc(clean(end_at)) as end_at
from read_parquet('{raw}/raw_experiments/*.parquet', union_by_name = true)
where clean(experiment_id) is not null and utc(clean(start_at)) < utc(clean(end_at))
qualify row_number() over (partition by clean(experiment_id) order by utc(clean(start_at))) = 1;

create or replace table variants as
select clean(experiment_id) as experiment_id, clean(variant) as variant,
    lower(clean(is_control)) in ('true', 't', '1', 'yes', 'y') as is_control
from read_parquet('{raw}/raw_experiment_variants/*.parquet', union_by_name = true)
where clean(experiment_id) in (select experiment_id from experiments)
qualify row_number() over (
    partition by clean(experiment_id), clean(variant) order by clean(is_control)
) = 1;

create or replace table assignments as
select a.experiment_id, a.user_id, a.variant, min(a.assigned_at) as assigned_at
from (
    select clean(experiment_id) as experiment_id, clean(user_id) as user_id,
        clean(variant) as variant, utc(clean(assigned_at)) as assigned_at
    from read_parquet('{raw}/raw_experiment_assignments/*.parquet', union_by_name = true)
) as a
inner join variants as v on a.experiment_id = v.experiment_id and a.variant = v.variant
where a.user_id is not null and a.assigned_at is not null
group by all;

-- marts ---------------------------------------------------------------------------------
create or replace table user_days as
select user_id, event_date as activity_date, count(*) as events from events group by all;

create or replace table fct_active_users as
with spine as (
    select cast(range as date) as activity_date
    from range(
        (select min(activity_date) from user_days),
        (select max(activity_date) from user_days) + 1,
        interval 1 day
    )
)
select s.activity_date,
    count(distinct d.user_id) filter (where d.activity_date = s.activity_date) as dau,
    count(distinct d.user_id) filter (where d.activity_date > s.activity_date - 7) as wau,
    count(distinct d.user_id) as mau
from spine as s
left join user_days as d
    on d.activity_date <= s.activity_date and d.activity_date > s.activity_date - 30
group by all;

create or replace table fct_retention as
with as_of as (select max(activity_date) as as_of_date from user_days),
cohorts as (select signup_date as cohort_date, count(*) as cohort_users from users group by all),
day_numbers as (select unnest([1, 7, 14, 30]) as day_number),
retained as (
    select u.signup_date as cohort_date, d.activity_date - u.signup_date as day_number,
        count(*) as retained_users
    from users as u inner join user_days as d using (user_id)
    where d.activity_date - u.signup_date in (1, 7, 14, 30)
    group by all
)
select c.cohort_date, n.day_number, c.cohort_users,
    case when c.cohort_date + n.day_number <= as_of.as_of_date
        then coalesce(r.retained_users, 0) end as retained_users
from cohorts as c cross join day_numbers as n cross join as_of
left join retained as r using (cohort_date, day_number);

create or replace table weekly_saves as
select date_trunc('week', e.event_date) as week_start, e.user_id, e.pin_id, p.category,
    u.country
from events as e
inner join pins as p using (pin_id)
inner join users as u using (user_id)
where e.event_type = 'save'
group by all;

create or replace table fct_category_rankings as
with counted as (
    select week_start, country, category, count(*) as saves
    from weekly_saves
    group by week_start, country, category
)
select *,
    row_number() over (partition by week_start, country order by saves desc, category)
        as rank_row_number,
    rank() over (partition by week_start, country order by saves desc) as rank_standard,
    dense_rank() over (partition by week_start, country order by saves desc) as rank_dense
from counted;

create or replace table fct_category_overlap as
with audiences as (select distinct category, user_id from weekly_saves),
sizes as (select category, count(*) as users from audiences group by all)
select a.category as category_a, b.category as category_b, count(*) as users_both
from audiences as a
inner join audiences as b on a.user_id = b.user_id and a.category < b.category
group by all;

create or replace table fct_user_ctr as
select user_id,
    count(*) filter (where event_type = 'impression') as impressions,
    count(*) filter (where event_type = 'click') as clicks
from events
where event_type in ('impression', 'click')
group by all;

create or replace table fct_daily_revenue as
select transacted_date as revenue_date,
    sum(amount_usd) filter (where status = 'completed') as completed_revenue_usd,
    sum(amount_usd) filter (where status = 'refunded') as refunds_usd
from transactions
group by all;

create or replace table fct_experiment_user_metrics as
with in_window as (
    select a.experiment_id, a.user_id, a.variant, a.assigned_at, x.start_at, x.end_at
    from assignments as a inner join experiments as x using (experiment_id)
    where a.assigned_at between x.start_at and x.end_at
),
assigned as (
    select experiment_id, user_id, min(variant) as variant, min(assigned_at) as first_assigned_at,
        any_value(start_at) as start_at, any_value(end_at) as end_at
    from in_window
    group by all
    having count(distinct variant) = 1
),
post as (
    select a.experiment_id, a.user_id,
        count(*) filter (where e.event_type = 'impression') as impressions,
        count(*) filter (where e.event_type = 'click') as clicks,
        count(*) filter (where e.event_type = 'save') as saves,
        count(*) filter (where e.event_type = 'hide') as hides,
        count(distinct e.event_date) as active_days
    from assigned as a
    inner join events as e
        on a.user_id = e.user_id and e.event_at between a.first_assigned_at and a.end_at
    group by all
),
pre as (
    select a.experiment_id, a.user_id,
        count(*) filter (where e.event_type = 'click') as pre_clicks,
        count(*) filter (where e.event_type = 'impression') as pre_impressions
    from assigned as a
    inner join events as e
        on a.user_id = e.user_id
        and e.event_at >= a.start_at - interval 14 day and e.event_at < a.start_at
    group by all
)
select a.experiment_id, a.user_id, a.variant,
    coalesce(post.impressions, 0) as impressions, coalesce(post.clicks, 0) as clicks,
    coalesce(post.saves, 0) as saves, coalesce(post.hides, 0) as hides,
    coalesce(post.active_days, 0) as active_days,
    coalesce(pre.pre_clicks, 0) as pre_clicks, coalesce(pre.pre_impressions, 0) as pre_impressions
from assigned as a
left join post using (experiment_id, user_id)
left join pre using (experiment_id, user_id);
