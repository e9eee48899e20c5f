"""Incremental builds equal a full refresh.

The seed events are delivered in day batches: a first load, then several incremental runs of a
few days each, with some events arriving one or two days late and some delivered again in a
later batch (a duplicate of an event already loaded). After the last batch every model must
equal a full-refresh build of the same raw data, row for row.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import build, copy_project
from pandas.testing import assert_frame_equal

from metricbook.warehouse.dbt_runner import REPO_ROOT

pytestmark = pytest.mark.build

BATCH_ENDS = ["2024-03-31", "2024-04-03", "2024-04-06", "2024-04-09", "2024-04-12", "2024-04-30"]
# the models built incrementally, and every model reading them
COMPARED = [
    "stg_events",
    "int_user_active_days",
    "int_weekly_pin_saves",
    "fct_active_users",
    "fct_retention",
    "fct_category_overlap",
    "fct_category_rankings",
    "fct_top_categories",
    "fct_user_ctr",
    "fct_ctr_summary",
    "fct_daily_revenue",
    "fct_experiment_user_metrics",
    "fct_experiment_exposures",
    "fct_experiment_user_daily_metrics",
]


def _deliveries(seed: int = 11) -> pd.DataFrame:
    """The seed events with the day each is delivered on: its local date, 1-2 days later for
    2% of them (late); a second, identical copy 2 days later for 1% (a duplicate in a later
    batch); and for another 1% a client retry stamped 2 days later and delivered then (the
    earlier delivery, already loaded, must stay the event)."""
    events = pd.read_csv(REPO_ROOT / "seeds" / "raw_events.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    local_day = pd.to_datetime(events["event_at"].str.slice(0, 10), errors="coerce")
    # rows whose text is not a date (planted bad rows) arrive with the first batch
    local_day = local_day.fillna(pd.Timestamp("2024-03-04"))
    lateness = np.where(rng.random(len(events)) < 0.02, rng.integers(1, 3, len(events)), 0)
    delivered = events.assign(delivered_on=local_day + pd.to_timedelta(lateness, unit="D"))
    again = delivered[rng.random(len(events)) < 0.01].copy()
    again["delivered_on"] = again["delivered_on"] + pd.Timedelta(days=2)
    retried = delivered[(rng.random(len(events)) < 0.01) & local_day.notna()].copy()
    retried = retried[retried["event_at"].str.match(r"^\d{4}-\d{2}-\d{2}[T ]")]
    later_day = pd.to_datetime(retried["event_at"].str.slice(0, 10)) + pd.Timedelta(days=2)
    retried["event_at"] = later_day.dt.strftime("%Y-%m-%d") + retried["event_at"].str.slice(10)
    retried["delivered_on"] = retried["delivered_on"] + pd.Timedelta(days=2)
    return pd.concat([delivered, again, retried], ignore_index=True)


def _write_events(project: Path, rows: pd.DataFrame) -> None:
    rows.drop(columns="delivered_on").to_csv(
        project / "seeds" / "raw_events.csv", index=False, lineterminator="\n"
    )


def _tables(database: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(database), read_only=True) as con:
        return {name: con.sql(f"select * from {name}").df() for name in COMPARED}


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


@pytest.fixture(scope="module")
def incremental_and_full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    deliveries = _deliveries()
    root = tmp_path_factory.mktemp("incremental")
    fast = ("--exclude-resource-type", "test", "--exclude-resource-type", "unit_test")

    incremental = copy_project(root / "incremental")
    incremental_db = root / "incremental.duckdb"
    for end in BATCH_ENDS:
        _write_events(incremental, deliveries[deliveries["delivered_on"] <= end])
        build(incremental, incremental_db, *fast)

    full = copy_project(root / "full")
    full_db = root / "full.duckdb"
    _write_events(full, deliveries)
    build(full, full_db, "--full-refresh", *fast)
    return incremental_db, full_db, len(deliveries)


def test_every_batch_was_loaded(incremental_and_full) -> None:
    incremental_db, full_db, raw_rows = incremental_and_full
    for database in (incremental_db, full_db):
        with duckdb.connect(str(database), read_only=True) as con:
            assert con.sql("select count(*) from raw_events").fetchone()[0] == raw_rows


@pytest.mark.parametrize("model", COMPARED)
def test_incremental_runs_equal_a_full_refresh(model: str, incremental_and_full) -> None:
    incremental_db, full_db, _ = incremental_and_full
    incremental = _tables(incremental_db)[model]
    full = _tables(full_db)[model]
    assert len(full) > 0
    assert_frame_equal(
        _sorted(incremental[list(full.columns)]), _sorted(full), check_exact=False, rtol=1e-12
    )


def test_a_late_duplicate_does_not_double_count(incremental_and_full) -> None:
    incremental_db, _, _ = incremental_and_full
    with duckdb.connect(str(incremental_db), read_only=True) as con:
        total, distinct = con.sql(
            "select count(*), count(distinct event_id) from stg_events"
        ).fetchone()
    assert total == distinct
