-- The floor: the seven core marts of metricbook, hand-written for DuckDB as the leanest correct
-- script we could write. Same raw contract (trim, UTC with a real offset, plausible time, the
-- row checks, the checks across a request), same dedupe winner, same marts; no ledger, no
-- rejects tables, no tests, intermediates in memory. `{raw}` is the directory `metricbook
-- generate` wrote; `{ceiling}` the plausible-time ceiling (now + 60 min, UTC). The benchmark
-- times it beside dbt and checks every mart equals metricbook's.
set TimeZone = 'UTC';
set preserve_insertion_order = false;

-- the contract's timestamp: ISO date and time, then a real UTC offset; then the plausible window
create or replace temp macro utc(text_value) as case
    when regexp_full_match(
        text_value,
        '[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,9})?'
        || '(Z|[+-](0[0-9]|1[01])(:?[0-5][0-9])?|-12(:?00)?|[+]1[23](:?[0-5][0-9])?|[+]14(:?00)?)'
    ) then cast(try_cast(text_value as timestamptz) at time zone 'UTC' as timestamp)
end;
create or replace temp macro plausible(ts) as
    case when ts between timestamp '2000-01-01' and timestamp '{ceiling}' then ts end;
create or replace temp macro clean(text_value) as nullif(trim(text_value), '');

-- events: the valid deliveries, the earliest of each event_id (ties: every other column), then
-- the checks across a request; one statement, so only the marts' columns are ever stored
create or replace temp table events as
with cleaned as (
    select clean(event_id) as event_id, clean(user_id) as user_id, clean(pin_id) as pin_id,
        clean(request_id) as request_id, clean(event_type) as event_type,
        clean(surface) as surface, clean(position) as position_text,
        clean(event_at) as event_at_text
    from read_parquet('{raw}/raw_events/*.parquet')
),
-- every check is a filter (each expression once: DuckDB repeats an expression a filter
-- inlines); a row that passes has a valid timestamp and position, so a plain cast parses them
valid as (
    select event_id, user_id, pin_id, request_id, event_type, surface, position_text,
        event_at_text, try_cast(position_text as integer) as feed_position,
        cast(try_cast(event_at_text as timestamptz) at time zone 'UTC' as timestamp) as event_at
    from cleaned
    where event_id is not null and user_id is not null
        and utc(event_at_text) between timestamp '2000-01-01' and timestamp '{ceiling}'
        and event_type in ('app_open', 'impression', 'click', 'save', 'hide')
        and (event_type = 'app_open' or (pin_id is not null and request_id is not null))
        and surface in ('home_feed', 'search', 'related_pins')
        and (position_text is null or (regexp_full_match(position_text, '[+-]?[0-9]{1,9}')
            and try_cast(position_text as integer) between 1 and 10000))
        and (event_type <> 'impression' or position_text is not null)
),
-- only an event_id delivered twice needs a sort; a lone delivery is its own winner
copies as (select event_id from valid group by event_id having count(*) > 1),
winners as (
    select event_id, user_id, pin_id, request_id, event_type, surface, feed_position, event_at
    from valid
    where event_id not in (select event_id from copies)
    union all
    select event_id, user_id, pin_id, request_id, event_type, surface, feed_position, event_at
    from valid
    where event_id in (select event_id from copies)
    qualify row_number() over (
        partition by event_id
        order by event_at, event_at_text, user_id, pin_id nulls last, request_id nulls last,
            event_type, surface, position_text nulls last
    ) = 1
),
-- a request is staged whole or not at all: one user and surface, no position or pin twice;
-- an engagement needs its impression. Hash aggregates and joins, not windows.
impressions as (select * from winners where event_type = 'impression'),
requests as (
    select request_id,
        min(user_id) <> max(user_id) or min(surface) <> max(surface)
            or count(*) > count(distinct feed_position) or count(*) > count(distinct pin_id)
            as is_bad
    from impressions
    group by request_id
),
items as (select request_id, pin_id, user_id, true as is_shown from impressions group by all)
select e.user_id, e.pin_id, e.event_type, e.event_at, cast(e.event_at as date) as event_date
from winners as e
left join requests as r on e.request_id = r.request_id
left join items as i
    on e.request_id = i.request_id and e.pin_id = i.pin_id and e.user_id = i.user_id
where e.event_type = 'app_open' or (not r.is_bad and i.is_shown);

create or replace temp table users as
select user_id, country, cast(signup_at as date) as signup_date
from (
    select clean(user_id) as user_id, clean(country) as country, clean(platform) as platform,
        clean(signup_at) as signup_at_text, plausible(utc(clean(signup_at))) as signup_at
    from read_parquet('{raw}/raw_users/*.parquet')
)
where user_id is not null and signup_at is not null
    and regexp_full_match(country, '[A-Z]{2}') and platform in ('ios', 'android', 'web')
qualify row_number() over (
    partition by user_id order by signup_at, signup_at_text, country, platform
) = 1;

create or replace temp table pins as
select pin_id, category
from (
    select clean(pin_id) as pin_id, clean(board_id) as board_id,
        clean(creator_id) as creator_id, clean(category) as category,
        clean(is_video) as is_video_text, clean(created_at) as created_at_text,
        plausible(utc(clean(created_at))) as created_at
    from read_parquet('{raw}/raw_pins/*.parquet')
)
where pin_id is not null and created_at is not null and category is not null
    and lower(is_video_text) in ('true', 't', '1', 'yes', 'y', 'false', 'f', '0', 'no', 'n')
qualify row_number() over (
    partition by pin_id
    order by created_at, created_at_text, board_id nulls last, creator_id nulls last, category,
        is_video_text
) = 1;

create or replace temp table transactions as
select user_id, status, amount_usd, cast(transacted_at as date) as transacted_date
from (
    select clean(transaction_id) as transaction_id, clean(user_id) as user_id,
        clean(pin_id) as pin_id, clean(status) as status, clean(amount_usd) as amount_text,
        clean(transacted_at) as transacted_at_text,
        case when regexp_full_match(clean(amount_usd), '[+-]?[0-9]{1,16}([.][0-9]{1,2})?')
            then cast(clean(amount_usd) as decimal(18, 2)) end as amount_usd,
        plausible(utc(clean(transacted_at))) as transacted_at
    from read_parquet('{raw}/raw_transactions/*.parquet')
)
where transaction_id is not null and user_id is not null and transacted_at is not null
    and status in ('completed', 'refunded') and amount_usd > 0 and amount_usd <= 100000
qualify row_number() over (
    partition by transaction_id
    order by transacted_at, transacted_at_text, user_id, pin_id nulls last, status, amount_text
) = 1;

create or replace temp table experiments as
select experiment_id, start_at, end_at
from (
    select clean(experiment_id) as experiment_id, clean(start_at) as start_text,
        clean(end_at) as end_text,
        case when utc(clean(start_at)) >= timestamp '2000-01-01' then utc(clean(start_at)) end
            as start_at,
        case when utc(clean(end_at)) >= timestamp '2000-01-01' then utc(clean(end_at)) end
            as end_at
    from read_parquet('{raw}/raw_experiments/*.parquet')
)
where experiment_id is not null and start_at < end_at
qualify row_number() over (
    partition by experiment_id order by start_at, end_at, start_text, end_text
) = 1;

create or replace temp table variants as
select experiment_id, variant, lower(control_text) in ('true', 't', '1', 'yes', 'y') as is_control,
    traffic_share
from (
    select clean(experiment_id) as experiment_id, clean(variant) as variant,
        clean(is_control) as control_text, clean(traffic_share) as share_text,
        case when regexp_full_match(clean(traffic_share), '[+-]?[0-9]{1,3}([.][0-9]{1,6})?')
            then cast(clean(traffic_share) as decimal(9, 6)) end as traffic_share
    from read_parquet('{raw}/raw_experiment_variants/*.parquet')
)
where variant is not null and experiment_id in (select experiment_id from experiments)
    and lower(control_text) in ('true', 't', '1', 'yes', 'y', 'false', 'f', '0', 'no', 'n')
    and traffic_share > 0 and traffic_share <= 1
qualify row_number() over (
    partition by experiment_id, variant order by control_text, share_text
) = 1;

-- analyzable: two arms or more, exactly one control, shares summing to 1 (within 0.001)
create or replace temp table analyzable as
select experiment_id
from variants
group by experiment_id
having count(*) >= 2 and count(*) filter (where is_control) = 1
    and abs(sum(traffic_share) - 1) <= 0.001;

-- the first in-window assignment of each user with exactly one variant in the window
create or replace temp table assigned as
with staged as (
    select a.experiment_id, a.user_id, a.variant, a.assigned_at
    from (
        select clean(experiment_id) as experiment_id, clean(user_id) as user_id,
            clean(variant) as variant, plausible(utc(clean(assigned_at))) as assigned_at
        from read_parquet('{raw}/raw_experiment_assignments/*.parquet')
    ) as a
    inner join variants using (experiment_id, variant)
    where a.user_id is not null and a.assigned_at is not null
)
select s.experiment_id, s.user_id, min(s.variant) as variant,
    min(s.assigned_at) as first_assigned_at, any_value(x.start_at) as start_at,
    any_value(x.end_at) as end_at
from staged as s
inner join experiments as x using (experiment_id)
where s.experiment_id in (select experiment_id from analyzable)
    and s.assigned_at between x.start_at and x.end_at
group by s.experiment_id, s.user_id
having count(distinct s.variant) = 1;

-- marts ---------------------------------------------------------------------------------
create or replace temp table user_days as
select user_id, event_date as activity_date from events group by all;

-- WAU / MAU as running sums: each active day adds the user to the window from that day (or
-- from the end of the window of the user's previous active day) to the window's end
create or replace table fct_active_users as
with spells as (
    select activity_date,
        lag(activity_date) over (partition by user_id order by activity_date) as previous_date
    from user_days
),
steps as (
    select activity_date as step_date, 1 as dau, 0 as wau, 0 as mau from spells
    union all
    select activity_date + 1, -1, 0, 0 from spells
    union all
    select greatest(activity_date, coalesce(previous_date + 7, activity_date)), 0, 1, 0 from spells
    union all
    select activity_date + 7, 0, -1, 0 from spells
    union all
    select greatest(activity_date, coalesce(previous_date + 30, activity_date)), 0, 0, 1 from spells
    union all
    select activity_date + 30, 0, 0, -1 from spells
),
daily as (
    select cast(step_date as date) as step_date, sum(dau) as dau, sum(wau) as wau, sum(mau) as mau
    from steps group by all
),
spine as (
    select cast(range as date) as activity_date
    from range(
        (select min(activity_date) from user_days),
        (select max(activity_date) from user_days) + 1,
        interval 1 day
    )
)
select s.activity_date,
    sum(coalesce(d.dau, 0)) over w as dau,
    sum(coalesce(d.wau, 0)) over w as wau,
    sum(coalesce(d.mau, 0)) over w as mau
from spine as s
left join daily as d on d.step_date = s.activity_date
window w as (order by s.activity_date rows between unbounded preceding and current row);

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

create or replace temp table weekly_saves as
select distinct date_trunc('week', e.event_date) as week_start, e.user_id, e.pin_id, p.category,
    u.country
from events as e
inner join pins as p using (pin_id)
inner join users as u using (user_id)
where e.event_type = 'save';

create or replace table fct_category_rankings as
with counted as (
    select week_start, country, category, count(*) as saves
    from weekly_saves
    group by all
)
select *,
    row_number() over (partition by week_start, country order by saves desc, category)
        as rank_row_number,
    rank() over (partition by week_start, country order by saves desc) as rank_standard,
    dense_rank() over (partition by week_start, country order by saves desc) as rank_dense
from counted;

create or replace table fct_category_overlap as
with audiences as (select distinct category, user_id from weekly_saves)
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
with daily as (
    select transacted_date as revenue_date,
        sum(amount_usd) filter (where status = 'completed') as completed_revenue_usd,
        sum(amount_usd) filter (where status = 'refunded') as refunds_usd,
        count(distinct user_id) filter (where status = 'completed') as paying_users
    from transactions
    group by all
),
active as (select activity_date, count(*) as active_users from user_days group by all),
spine as (
    select cast(range as date) as revenue_date
    from range(
        least((select min(revenue_date) from daily), (select min(activity_date) from active)),
        greatest((select max(revenue_date) from daily), (select max(activity_date) from active))
            + 1,
        interval 1 day
    )
)
select s.revenue_date, coalesce(d.completed_revenue_usd, 0) as completed_revenue_usd,
    coalesce(d.refunds_usd, 0) as refunds_usd, coalesce(d.paying_users, 0) as paying_users,
    coalesce(a.active_users, 0) as active_users
from spine as s
left join daily as d using (revenue_date)
left join active as a on a.activity_date = s.revenue_date;

create or replace table fct_experiment_user_metrics as
with post as (
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
