"""Benchmark steps that run in their own process (so each one's peak memory is its own).

python -m metricbook.checks.bench.steps floor DATA_DIR DATABASE
python -m metricbook.checks.bench.steps pandas DATA_DIR
python -m metricbook.checks.bench.steps experiment-mart USERS DATABASE
python -m metricbook.checks.bench.steps analyze DATABASE pushdown|pandas
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

FLOOR_SQL = Path(__file__).with_name("floor.sql")
BENCH_EXPERIMENT = "exp_bench"


def floor(data_dir: Path, database: Path) -> None:
    """The hand-written DuckDB script: the same marts with no dbt. The plausible-time ceiling is
    the run's start plus metricbook's default tolerance (60 minutes), as in staging. Runs one
    statement at a time and writes each one's seconds to DATABASE.profile.json (where the
    floor's own time goes)."""
    ceiling = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=60)
    script = (
        FLOOR_SQL.read_text()
        .replace("{raw}", str(data_dir))
        .replace("{ceiling}", ceiling.strftime("%Y-%m-%d %H:%M:%S"))
    )
    profile = []
    with duckdb.connect(str(database)) as con:
        # every statement of floor.sql ends with ';' at the end of a line (comments dropped
        # first: a comment may end with one too)
        code_only = "\n".join(
            line for line in script.splitlines() if not line.lstrip().startswith("--")
        )
        for statement in re.split(r";\s*\n", code_only):
            code = [line for line in statement.splitlines() if line.strip()]
            if not code:
                continue
            started = time.perf_counter()
            con.execute(statement)
            profile.append({"statement": code[0][:80], "seconds": time.perf_counter() - started})
    database.with_suffix(".profile.json").write_text(json.dumps(profile, indent=1))


def _read(data_dir: Path, table: str) -> pd.DataFrame:
    with duckdb.connect() as con:
        return con.sql(
            f"select * from read_parquet('{data_dir}/{table}/*.parquet', union_by_name = true)"
        ).df()


def pandas_pipeline(data_dir: Path) -> None:
    """The same marts the pandas way: read the raw files, parse to UTC, drop bad rows, dedupe
    (earliest delivery), then the mirrors."""
    from metricbook.checks.mirrors import content, engagement, retention, revenue

    events = _read(data_dir, "raw_events")
    for column in events.columns:
        events[column] = events[column].str.strip().replace("", None)
    parsed = pd.to_datetime(events["event_at"], utc=True, errors="coerce", format="ISO8601")
    # pandas reads a text without an offset as UTC where the raw contract rejects it; those are
    # a tiny share, and this path is here for its cost, not its rejects
    events = events.assign(event_at=parsed.dt.tz_localize(None))
    events = events[
        events["event_at"].notna()
        & events["event_id"].notna()
        & events["user_id"].notna()
        & events["event_type"].isin(["app_open", "impression", "click", "save", "hide"])
    ]
    events = events.sort_values(["event_id", "event_at"]).drop_duplicates("event_id")
    events["event_date"] = events["event_at"].dt.normalize()

    users = _read(data_dir, "raw_users")
    users["signup_date"] = (
        pd.to_datetime(users["signup_at"], utc=True, errors="coerce", format="ISO8601")
        .dt.tz_localize(None)
        .dt.normalize()
    )
    users = users.dropna(subset=["user_id", "signup_date"]).drop_duplicates("user_id")
    pins = _read(data_dir, "raw_pins").dropna(subset=["pin_id"]).drop_duplicates("pin_id")
    transactions = _read(data_dir, "raw_transactions")
    transactions["transacted_date"] = (
        pd.to_datetime(transactions["transacted_at"], utc=True, errors="coerce", format="ISO8601")
        .dt.tz_localize(None)
        .dt.normalize()
    )
    transactions["amount_usd"] = pd.to_numeric(transactions["amount_usd"], errors="coerce")
    transactions = transactions.dropna(subset=["transaction_id", "transacted_date"])
    transactions = transactions.drop_duplicates("transaction_id")

    active_days = engagement.user_active_days(events)
    engagement.active_users(active_days)
    retention.retention(users, active_days)
    pin_saves = content.weekly_pin_saves(events, pins, users)
    content.category_overlap(pin_saves)
    content.top_categories(content.category_rankings(pin_saves))
    engagement.ctr_summary(engagement.user_ctr(events))
    revenue.daily_revenue(transactions, active_days)


def experiment_mart(users: int, database: Path) -> None:
    """A synthetic fct_experiment_user_metrics of `users` users (two arms, a 5% click lift,
    pre-period covariates correlated with the outcome) for the analyze benchmark."""
    with duckdb.connect(str(database)) as con:
        con.execute(
            f"""
            create or replace table dim_experiment_variants as
            select * from (values ('{BENCH_EXPERIMENT}', 'control', 0.5, true),
                                  ('{BENCH_EXPERIMENT}', 'treatment', 0.5, false))
                as t(experiment_id, variant, traffic_share, is_control);
            create or replace table dim_experiments as
            select '{BENCH_EXPERIMENT}' as experiment_id,
                timestamp '2024-03-01' as start_at, timestamp '2024-03-15' as end_at,
                2 as variants, 1 as controls, 1.0 as total_traffic_share,
                true as is_analyzable, cast(null as varchar) as exclusion_reason;
            create or replace table fct_experiment_user_metrics as
            with users as (
                select range as i, hash(range) % 2 = 0 as is_control,
                    -ln(random()) as taste, random() as noise, random() as spend
                from range({users})
            ),
            active as (
                -- a user with no active day has no post-period count (as in the dbt marts)
                select *, cast(least(14, floor(taste * 4)) as bigint) as active_days
                from users
            )
            select '{BENCH_EXPERIMENT}' as experiment_id, 'u' || i as user_id,
                case when is_control then 'control' else 'treatment' end as variant,
                is_control, timestamp '2024-03-01' as first_assigned_at,
                cast(sign(active_days) * floor(taste * 40) as bigint) as impressions,
                cast(sign(active_days) * floor(taste * 40 * 0.12
                    * case when is_control then 1 else 1.05 end + noise * 2) as bigint) as clicks,
                cast(sign(active_days) * floor(taste * 3 + noise) as bigint) as saves,
                cast(sign(active_days) * floor(noise * 2) as bigint) as hides,
                active_days,
                cast(sign(active_days) * round(spend * spend * 10, 2) as decimal(18, 2))
                    as revenue_usd,
                case when active_days > 0 and taste * 3 + noise >= 1 then 1 else 0 end
                    as has_saved,
                cast(floor(taste * 36) as bigint) as pre_impressions,
                cast(floor(taste * 36 * 0.12 + random() * 2) as bigint) as pre_clicks,
                cast(floor(taste * 2.7 + random()) as bigint) as pre_saves,
                cast(least(14, floor(taste * 3.6)) as bigint) as pre_active_days
            from active;
            create or replace table fct_experiment_assignments as
            select experiment_id, user_id, variant, first_assigned_at
            from fct_experiment_user_metrics;
            -- the marts every readout reads beside the user mart: position CTR, exposures (none
            -- declared: the bench experiment names no surface) and the daily mart, one row per
            -- active day of each user (its active_days first days): each count spread evenly,
            -- the remainder on the first days, revenue on the first, so the days add up to the
            -- user mart and the running totals are closed forms (a window is the dbt build's)
            create or replace table fct_experiment_position_ctr as
            select '{BENCH_EXPERIMENT}' as experiment_id, variant, 'home_feed' as surface,
                cast(p as integer) as feed_position, cast(1000000 // p as bigint) as impressions,
                cast(120000 // p * case when variant = 'control' then 1 else 1.05 end as bigint)
                    as clicks,
                cast(100000 // p as bigint) as users
            from (values ('control'), ('treatment')) as v(variant), range(1, 11) as r(p);
            create or replace table fct_experiment_exposures (experiment_id varchar,
                user_id varchar, surface varchar, variant varchar, first_exposed_at timestamp,
                impressions bigint);
            create or replace macro spread(total, days, k) as
                cast(total // days + case when k < total % days then 1 else 0 end as bigint);
            create or replace macro spread_to_date(total, days, k) as
                cast((k + 1) * (total // days) + least(k + 1, total % days) as bigint);
            create or replace table fct_experiment_user_daily_metrics as
            select m.experiment_id, m.user_id,
                cast(date '2024-03-01' + cast(d.k as integer) as date) as metric_date,
                m.variant, date '2024-03-01' as first_assigned_date,
                cast(d.k as integer) as days_since_assignment,
                spread(m.impressions, m.active_days, d.k) as impressions,
                spread(m.clicks, m.active_days, d.k) as clicks,
                spread(m.saves, m.active_days, d.k) as saves,
                spread(m.hides, m.active_days, d.k) as hides,
                cast(1 as bigint) as active_days,
                cast(case when d.k = 0 then m.revenue_usd else 0 end as decimal(38, 2))
                    as revenue_usd,
                spread_to_date(m.impressions, m.active_days, d.k) as impressions_to_date,
                spread_to_date(m.clicks, m.active_days, d.k) as clicks_to_date,
                spread_to_date(m.saves, m.active_days, d.k) as saves_to_date,
                spread_to_date(m.hides, m.active_days, d.k) as hides_to_date,
                cast(d.k + 1 as bigint) as active_days_to_date,
                cast(m.revenue_usd as decimal(38, 2)) as revenue_usd_to_date,
                cast(d.k + 1 as integer) as user_day_number
            from fct_experiment_user_metrics as m
            inner join range(14) as d(k) on d.k < m.active_days;
            """
        )


def bench_config():
    from metricbook.readout.config import parse_config

    return parse_config(
        {
            "metrics": {
                "ctr": {
                    "kind": "ratio",
                    "numerator": "clicks",
                    "denominator": "impressions",
                    "covariate": {"numerator": "pre_clicks", "denominator": "pre_impressions"},
                },
                "clicks_per_user": {
                    "kind": "mean",
                    "numerator": "clicks",
                    "covariate": "pre_clicks",
                },
                "saves_per_user": {"kind": "mean", "numerator": "saves", "covariate": "pre_saves"},
                "active_days_per_user": {
                    "kind": "mean",
                    "numerator": "active_days",
                    "covariate": "pre_active_days",
                },
                "revenue_per_user": {"kind": "mean", "numerator": "revenue_usd"},
                "hides_per_user": {"kind": "mean", "numerator": "hides"},
                "saver_rate": {"kind": "proportion", "numerator": "has_saved"},
            },
            "experiments": {
                BENCH_EXPERIMENT: {
                    "primary": "ctr",
                    "secondary": [
                        "clicks_per_user",
                        "saves_per_user",
                        "active_days_per_user",
                        "revenue_per_user",
                        "saver_rate",
                    ],
                    "guardrails": [
                        {"metric": "hides_per_user", "harmful_direction": "increase", "margin": 0.1}
                    ],
                }
            },
        }
    )


def pandas_aggregates(warehouse, experiment_id, columns, pairs=None):
    """variant_aggregates the pandas way: every row pulled, moments computed in pandas."""
    from metricbook.stats import aggregates_from_frame

    rows = warehouse.frame(
        f"select variant, {', '.join(columns)} from fct_experiment_user_metrics "
        "where experiment_id = $experiment_id",
        {"experiment_id": experiment_id},
    )
    rows[list(columns)] = rows[list(columns)].astype(float)
    return {
        str(name): aggregates_from_frame(group, columns) for name, group in rows.groupby("variant")
    }


def analyze(database: Path, mode: str) -> None:
    """The same `analyze` (validation, SRM, every metric, decision) with the aggregates pushed
    down (`pushdown`) or computed from every row pulled into pandas (`pandas`)."""
    from metricbook.readout.queries import variant_aggregates
    from metricbook.readout.readout import analyze as run_analysis
    from metricbook.warehouse.connection import DuckDBWarehouse

    # a cold readout: no kept validation result (readout.validation's cache) is read
    os.environ["METRICBOOK_CACHE_DIR"] = ""
    aggregate = variant_aggregates if mode == "pushdown" else pandas_aggregates
    run_analysis(DuckDBWarehouse(database), bench_config(), BENCH_EXPERIMENT, aggregate=aggregate)


def main(argv: list[str]) -> None:
    step, *args = argv
    started = time.perf_counter()
    if step == "floor":
        floor(Path(args[0]), Path(args[1]))
    elif step == "pandas":
        pandas_pipeline(Path(args[0]))
    elif step == "experiment-mart":
        experiment_mart(int(args[0]), Path(args[1]))
    elif step == "analyze":
        analyze(Path(args[0]), args[1])
    else:
        raise SystemExit(f"unknown step {step}")
    print(f"{step}: {time.perf_counter() - started:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
