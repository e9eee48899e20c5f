"""The raw-data battery: hostile rows appended to the shipped seeds are each rejected with the
reason the contract names, and no mart moves: every mart and staged table equals the build of
the seeds alone. Run on DuckDB always, and on Postgres when the postgres target is reachable
(`make test` runs it inside .ci/with-postgres), so the engines cannot disagree.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import build, copy_project, postgres_connection, query

from metricbook.checks.parity import MARTS as PARITY_MARTS
from metricbook.checks.parity import compare
from metricbook.warehouse.dbt_runner import run_dbt

NOW = datetime.now(UTC)
SOON = (NOW + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
NEXT_YEAR = (NOW + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%S+02:00")
GOOD_TS = "2024-03-20T10:00:00Z"
EXPERIMENT = "exp_home_feed_ranking_v2"


@dataclass(frozen=True)
class Hostile:
    """One raw row (columns not given are copied from a valid template) and its reject."""

    case: str
    table: str
    values: dict[str, str]
    reason: str


EVENT = {
    "user_id": "u0001",
    "pin_id": "p00001",
    "event_type": "impression",
    "surface": "home_feed",
    "position": "2",
    "event_at": GOOD_TS,
}
TRANSACTION = {
    "user_id": "u0001",
    "pin_id": "p00001",
    "amount_usd": "12.50",
    "status": "completed",
    "transacted_at": GOOD_TS,
}
USER = {"signup_at": GOOD_TS, "country": "US", "platform": "ios"}
PIN = {
    "board_id": "b000001",
    "creator_id": "u0001",
    "category": "art",
    "is_video": "false",
    "created_at": GOOD_TS,
}
ASSIGNMENT = {"experiment_id": EXPERIMENT, "variant": "treatment", "assigned_at": GOOD_TS}
# a one-row launch of its own (its own launch_id), so no row's fate depends on another's
LAUNCH = {"launched_at": GOOD_TS, "unit_type": "country", "treated_unit": "GB"}

TIMES = [
    ("far_future", "9999-12-31T23:59:59Z", "in_future"),
    ("next_year", NEXT_YEAR, "in_future"),
    ("beyond_tolerance", SOON, "in_future"),
    ("year_0001", "0001-01-01T00:00:00Z", "too_early"),
    ("epoch", "1970-01-01T00:00:00Z", "too_early"),
    ("just_before_floor", "1999-12-31T23:59:59Z", "too_early"),
    ("offset_99_99", "2024-03-20T10:00:00+99:99", "invalid_offset"),
    ("offset_plus_15", "2024-03-20T10:00:00+15:00", "invalid_offset"),
    ("offset_minus_13", "2024-03-20T10:00:00-13:00", "invalid_offset"),
    ("offset_minutes_60", "2024-03-20T10:00:00+05:60", "invalid_offset"),
    ("offset_plus_14_30", "2024-03-20T10:00:00+14:30", "invalid_offset"),
    ("offset_minus_12_30", "2024-03-20T10:00:00-12:30", "invalid_offset"),
    ("offset_compact_9999", "2024-03-20T10:00:00+9999", "invalid_offset"),
    ("february_30", "2024-02-30T10:00:00Z", "unparseable"),
    ("hour_25", "2024-03-20T25:00:00Z", "unparseable"),
    ("date_only", "2024-03-20", "unparseable"),
    ("words", "yesterday at noon", "unparseable"),
    ("epoch_seconds", "1710928800", "unparseable"),
    ("no_offset", "2024-03-20T10:00:00", "missing_offset"),
    ("blank", "", "missing"),
]


def _time_cases() -> list[Hostile]:
    cases = []
    columns = [
        ("raw_events", "event_at"),
        ("raw_transactions", "transacted_at"),
        ("raw_users", "signup_at"),
        ("raw_pins", "created_at"),
        ("raw_experiment_assignments", "assigned_at"),
        ("raw_launches", "launched_at"),
    ]
    for table, column in columns:
        # every spelling on events and money; the three classes that matter on the others
        spellings = (
            TIMES
            if table in {"raw_events", "raw_transactions"}
            else [t for t in TIMES if t[0] in {"far_future", "year_0001", "offset_99_99"}]
        )
        for name, text, kind in spellings:
            reason = f"missing_{column}" if kind == "missing" else f"{column}_{kind}"
            cases.append(Hostile(f"{table}-{column}-{name}", table, {column: text}, reason))
    return cases


OTHER_CASES = [
    Hostile(
        "amount_three_decimals", "raw_transactions", {"amount_usd": "0.001"}, "invalid_amount_usd"
    ),
    Hostile(
        "amount_rounding_trap", "raw_transactions", {"amount_usd": "12.345"}, "invalid_amount_usd"
    ),
    Hostile("amount_zero", "raw_transactions", {"amount_usd": "0"}, "zero_amount_usd"),
    Hostile("amount_zero_cents", "raw_transactions", {"amount_usd": "0.00"}, "zero_amount_usd"),
    Hostile("amount_minus_zero", "raw_transactions", {"amount_usd": "-0.00"}, "zero_amount_usd"),
    Hostile("amount_negative", "raw_transactions", {"amount_usd": "-5.00"}, "negative_amount_usd"),
    Hostile(
        "amount_above_max", "raw_transactions", {"amount_usd": "100000.01"}, "amount_usd_above_max"
    ),
    Hostile("amount_huge", "raw_transactions", {"amount_usd": "9" * 30}, "invalid_amount_usd"),
    Hostile("amount_scientific", "raw_transactions", {"amount_usd": "1e3"}, "invalid_amount_usd"),
    Hostile("amount_nan", "raw_transactions", {"amount_usd": "NaN"}, "invalid_amount_usd"),
    Hostile(
        "amount_infinity", "raw_transactions", {"amount_usd": "Infinity"}, "invalid_amount_usd"
    ),
    Hostile("amount_trailing_dot", "raw_transactions", {"amount_usd": "12."}, "invalid_amount_usd"),
    Hostile("amount_currency", "raw_transactions", {"amount_usd": "USD 12"}, "invalid_amount_usd"),
    Hostile("amount_blank", "raw_transactions", {"amount_usd": ""}, "missing_amount_usd"),
    Hostile("status_unknown", "raw_transactions", {"status": "chargeback"}, "unknown_status"),
    Hostile("surface_unknown", "raw_events", {"surface": "homefeed"}, "unknown_surface"),
    Hostile("surface_blank", "raw_events", {"surface": ""}, "unknown_surface"),
    Hostile("surface_case", "raw_events", {"surface": "HOME_FEED"}, "unknown_surface"),
    Hostile(
        "surface_sql_injection",
        "raw_events",
        {"surface": "home_feed'); drop table raw_events; --"},
        "unknown_surface",
    ),
    Hostile("position_zero", "raw_events", {"position": "0"}, "invalid_position"),
    Hostile("position_huge", "raw_events", {"position": "10001"}, "invalid_position"),
    Hostile("position_overflow", "raw_events", {"position": "99999999999999"}, "invalid_position"),
    Hostile("position_fraction", "raw_events", {"position": "1.5"}, "invalid_position"),
    Hostile("position_missing", "raw_events", {"position": ""}, "invalid_position"),
    Hostile("event_type_unknown", "raw_events", {"event_type": "purchase"}, "unknown_event_type"),
    Hostile("event_type_unicode", "raw_events", {"event_type": "clíck"}, "unknown_event_type"),
    Hostile("pin_missing", "raw_events", {"pin_id": ""}, "missing_pin_id"),
    Hostile("user_missing", "raw_events", {"user_id": "   "}, "missing_user_id"),
    Hostile("platform_unknown", "raw_users", {"platform": "windows_phone"}, "unknown_platform"),
    Hostile("platform_blank", "raw_users", {"platform": ""}, "unknown_platform"),
    Hostile("country_lowercase", "raw_users", {"country": "us"}, "invalid_country"),
    Hostile("country_name", "raw_users", {"country": "United States"}, "invalid_country"),
    Hostile("pin_category_blank", "raw_pins", {"category": ""}, "missing_category"),
    Hostile("pin_is_video_maybe", "raw_pins", {"is_video": "maybe"}, "invalid_is_video"),
    Hostile(
        "assignment_unknown_variant",
        "raw_experiment_assignments",
        {"variant": "treat{0}"},
        "unknown_variant",
    ),
    Hostile(
        "assignment_unknown_experiment",
        "raw_experiment_assignments",
        {"experiment_id": "exp_'quoted'"},
        "unknown_experiment",
    ),
    Hostile("launch_unit_type_unknown", "raw_launches", {"unit_type": "city"}, "unknown_unit_type"),
    Hostile("launch_unit_type_case", "raw_launches", {"unit_type": "Country"}, "unknown_unit_type"),
    Hostile("launch_unit_blank", "raw_launches", {"treated_unit": " "}, "missing_treated_unit"),
    Hostile("launch_unit_unknown", "raw_launches", {"treated_unit": "ZZ"}, "unknown_unit"),
    Hostile("launch_unit_lowercase", "raw_launches", {"treated_unit": "gb"}, "unknown_unit"),
    Hostile(
        "launch_platform_unknown",
        "raw_launches",
        {"unit_type": "platform", "treated_unit": "windows_phone"},
        "unknown_unit",
    ),
    # a country code under unit_type platform names no unit
    Hostile(
        "launch_unit_of_other_type",
        "raw_launches",
        {"unit_type": "platform", "treated_unit": "GB"},
        "unknown_unit",
    ),
]

CASES = _time_cases() + OTHER_CASES
KEYS = {
    "raw_events": "event_id",
    "raw_transactions": "transaction_id",
    "raw_users": "user_id",
    "raw_pins": "pin_id",
    "raw_launches": "launch_id",
}
STAGED = {table: f"stg_{table.removeprefix('raw_')}" for table in KEYS} | {
    "raw_experiment_assignments": "stg_experiment_assignments"
}


def _key(case: Hostile, index: int) -> dict[str, str]:
    """A key no seed row has, so the row can only be staged or rejected, never a duplicate."""
    table = case.table
    if table == "raw_experiment_assignments":
        return {"user_id": f"hostile_user_{index:03d}"}
    if table == "raw_users":
        return {"user_id": f"hostile_user_{index:03d}"}
    return {KEYS[table]: f"hostile_{index:03d}"}


def _rows(case: Hostile, index: int) -> dict[str, str]:
    template = {
        "raw_events": EVENT,
        "raw_transactions": TRANSACTION,
        "raw_users": USER,
        "raw_pins": PIN,
        "raw_experiment_assignments": ASSIGNMENT,
        "raw_launches": LAUNCH,
    }[case.table]
    # each hostile event is an impression of its own request, so no row's fate depends on
    # another hostile row through the request checks
    own = {"request_id": f"r-hostile-{index}"} if case.table == "raw_events" else {}
    return {**template, **own, **_key(case, index), **case.values}


def _append_hostile_rows(project: Path) -> dict[str, list[tuple[str, str]]]:
    """Append every case's row to its seed CSV; returns (key, case) per table."""
    by_table: dict[str, list[tuple[str, str]]] = {}
    for index, case in enumerate(CASES):
        by_table.setdefault(case.table, []).append((index, case))
    keys: dict[str, list[tuple[str, str]]] = {}
    for table, cases in by_table.items():
        path = project / "seeds" / f"{table}.csv"
        with path.open(newline="") as handle:
            header = next(csv.reader(handle))
        with path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
            for index, case in cases:
                row = _rows(case, index)
                writer.writerow({column: row.get(column, "") for column in header})
                key_column = "user_id" if table == "raw_experiment_assignments" else header[0]
                keys.setdefault(table, []).append((row[key_column], case.case))
    return keys


@pytest.fixture(scope="module")
def hostile_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    project = copy_project(tmp_path_factory.mktemp("hostile") / "project")
    keys = _append_hostile_rows(project)
    return project, keys


@pytest.fixture(scope="module")
def hostile_db(hostile_project: tuple[Path, dict]) -> Path:
    project, _ = hostile_project
    database = project / "metricbook.duckdb"
    build(project, database)
    return database


def _ledger_reasons(frame_of: Callable[[str], pd.DataFrame], table: str, key_column: str) -> dict:
    name = table.removeprefix("raw_")
    frame = frame_of(f"select {key_column}, reject_reason, row_status from base_{name}")
    return {str(k): (r, s) for k, r, s in frame.itertuples(index=False)}


def test_the_battery_is_big_enough() -> None:
    assert len(CASES) >= 80
    assert len({case.case for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.case for case in CASES])
def test_hostile_row_is_rejected_with_its_reason(
    case: Hostile, hostile_db: Path, hostile_project: tuple[Path, dict]
) -> None:
    _, keys = hostile_project
    key = next(k for k, name in keys[case.table] if name == case.case)
    table = case.table.removeprefix("raw_")
    key_column = (
        "user_id"
        if case.table in {"raw_users", "raw_experiment_assignments"}
        else (KEYS[case.table])
    )
    rows = query(
        hostile_db,
        f"select reject_reason, row_status from base_{table} where {key_column} = ?",
        [key],
    )
    assert rows == [(case.reason, "rejected")], f"{case.case}: {rows}"


# every mart parity compares across engines, and the staged tables and building block below them
MARTS = [
    *PARITY_MARTS,
    "stg_events",
    "stg_users",
    "stg_pins",
    "stg_transactions",
    "stg_experiment_assignments",
    "stg_launches",
    "int_user_active_days",
]


def _frame(database: Path, relation: str) -> pd.DataFrame:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.sql(f"select * from {relation}").df()


def _assert_same(actual: pd.DataFrame, expected: pd.DataFrame, relation: str) -> None:
    """Equal as multisets of rows, after parity's engine-neutral normalisation."""
    assert len(expected), f"{relation} is empty: nothing would be compared"
    only_expected, only_actual = compare(expected, actual)
    assert only_expected.empty and only_actual.empty, (
        f"{relation}: rows only without the hostile rows:\n{only_expected.head(5)}\n"
        f"rows only with them:\n{only_actual.head(5)}"
    )


@pytest.mark.parametrize("relation", MARTS)
def test_hostile_rows_move_no_mart(relation: str, hostile_db: Path, seeds_db: Path) -> None:
    _assert_same(_frame(hostile_db, relation), _frame(seeds_db, relation), relation)


def test_reconciliation_still_holds_with_hostile_rows(hostile_db: Path) -> None:
    for table in ["events", "transactions", "users", "pins", "experiment_assignments", "launches"]:
        (raw,) = query(hostile_db, f"select count(*) from raw_{table}")[0]
        (ledger,) = query(hostile_db, f"select count(*) from base_{table}")[0]
        (staged,) = query(hostile_db, f"select count(*) from stg_{table}")[0]
        (rejected,) = query(hostile_db, f"select count(*) from stg_{table}__rejects")[0]
        (duplicate,) = query(
            hostile_db, f"select count(*) from base_{table} where row_status = 'duplicate'"
        )[0]
        assert raw == ledger == staged + rejected + duplicate, table


# ---------------------------------------------------------------- Postgres: the same battery
POSTGRES = pytest.mark.skipif(
    "METRICBOOK_PG_PASSWORD" not in os.environ,
    reason="no Postgres server (make test runs this inside .ci/with-postgres)",
)


@pytest.fixture(scope="module")
def hostile_postgres(hostile_project: tuple[Path, dict]):
    project, _ = hostile_project
    env = {"METRICBOOK_PG_SCHEMA": "hostile"}
    result = run_dbt(
        ["build", "--target", "postgres", "--target-path", str(project / "target_postgres")],
        project_dir=project,
        extra_env=env,
    )
    assert result.ok, result.output[-6000:]
    con = postgres_connection()

    def frame_of(sql: str) -> pd.DataFrame:
        with con.cursor() as cursor:
            cursor.execute("set search_path to hostile")
            cursor.execute(sql)
            return pd.DataFrame(cursor.fetchall(), columns=[d[0] for d in cursor.description])

    yield frame_of
    con.close()


@POSTGRES
@pytest.mark.parametrize("table", sorted({case.table for case in CASES}))
def test_postgres_rejects_every_hostile_row_as_duckdb_does(
    table: str, hostile_postgres, hostile_project: tuple[Path, dict]
) -> None:
    _, keys = hostile_project
    key_column = "user_id" if table in {"raw_users", "raw_experiment_assignments"} else KEYS[table]
    ledger = _ledger_reasons(hostile_postgres, table, key_column)
    expected = {case.case: case.reason for case in CASES if case.table == table}
    actual = {name: ledger[str(key)][0] for key, name in keys[table]}
    assert actual == expected


@POSTGRES
@pytest.mark.parametrize("relation", MARTS)
def test_postgres_marts_with_hostile_rows_equal_duckdb_seeds(
    relation: str, hostile_postgres, seeds_db: Path
) -> None:
    _assert_same(
        hostile_postgres(f"select * from {relation}"), _frame(seeds_db, relation), relation
    )
