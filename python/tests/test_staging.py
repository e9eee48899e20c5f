"""Staging loses nothing, rejects exactly the planted bad rows, and the raw switch works."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import build, copy_project, query

from metricbook.datagen.seeds import RawDataset, write_csv
from metricbook.datagen.world import MANIFEST_FILE, RAW_COLUMNS
from metricbook.warehouse.dbt_runner import REPO_ROOT

TABLES = [name.removeprefix("raw_") for name in RAW_COLUMNS]


def test_committed_seeds_are_what_the_generator_writes(
    teaching_dataset: RawDataset, tmp_path: Path
) -> None:
    write_csv(teaching_dataset, tmp_path)
    for name in [*(f"{table}.csv" for table in RAW_COLUMNS), MANIFEST_FILE]:
        committed = (REPO_ROOT / "seeds" / name).read_bytes()
        assert (tmp_path / name).read_bytes() == committed, (
            f"seeds/{name} differs from the generator's output: run `make seeds`"
        )


def _rejects_and_duplicates(database: Path) -> tuple[dict, dict]:
    rejects, duplicates = {}, {}
    for table in TABLES:
        rows = query(
            database,
            f"select reject_reason, count(*) from stg_{table}__rejects group by reject_reason",
        )
        rejects[f"raw_{table}"] = dict(sorted(rows))
        duplicates[f"raw_{table}"] = query(
            database, f"select count(*) from base_{table} where row_status = 'duplicate'"
        )[0][0]
    return rejects, duplicates


@pytest.mark.parametrize("which", ["seeds_db", "alternate_db"])
def test_staging_rejects_and_dedupes_exactly_the_planted_rows(
    which: str, request: pytest.FixtureRequest
) -> None:
    database = request.getfixturevalue(which)
    dataset = request.getfixturevalue(
        "teaching_dataset" if which == "seeds_db" else "alternate_dataset"
    )
    rejects, duplicates = _rejects_and_duplicates(database)
    assert rejects == dataset.manifest["expected_rejects"]
    assert duplicates == dataset.manifest["expected_duplicates"]


@pytest.mark.parametrize("which", ["seeds_db", "alternate_db"])
def test_every_raw_row_is_staged_rejected_or_a_counted_duplicate(
    which: str, request: pytest.FixtureRequest
) -> None:
    database = request.getfixturevalue(which)
    for table in TABLES:
        (raw,) = query(database, f"select count(*) from raw_{table}")[0]
        (staged,) = query(database, f"select count(*) from stg_{table}")[0]
        (rejected,) = query(database, f"select count(*) from stg_{table}__rejects")[0]
        (duplicate,) = query(
            database, f"select count(*) from base_{table} where row_status = 'duplicate'"
        )[0]
        assert raw == staged + rejected + duplicate, table
        assert staged > 0, f"nothing staged from raw_{table}"


def test_staged_event_times_agree_with_pandas_parsing_of_the_raw_text(seeds_db: Path) -> None:
    """An independent parser (pandas, with the offset) gives the same UTC instants."""
    with duckdb.connect(str(seeds_db), read_only=True) as con:
        staged = con.sql(
            "select b.event_at_text, s.event_at "
            "from stg_events as s join base_events as b "
            "on s.event_id = b.event_id and b.row_status = 'staged'"
        ).df()
    expected = pd.to_datetime(staged["event_at_text"], format="ISO8601", utc=True)
    actual = pd.to_datetime(staged["event_at"]).dt.tz_localize("UTC")
    mismatched = staged[expected.to_numpy() != actual.to_numpy()]
    assert mismatched.empty, mismatched.head()


def test_offsets_move_events_to_their_utc_date(
    seeds_db: Path, teaching_dataset: RawDataset
) -> None:
    ids = teaching_dataset.manifest["traps"]["offset_moves_utc_date"]["event_ids"]
    rows = query(
        seeds_db,
        "select b.event_at_text, s.event_date from stg_events as s "
        "join base_events as b on s.event_id = b.event_id and b.row_status = 'staged' "
        "where s.event_id in (select unnest(?))",
        [ids],
    )
    assert len(rows) == len(ids) >= 3
    for text, utc_date in rows:
        local_date = pd.Timestamp(text[:10]).date()
        assert utc_date != local_date, f"{text} should fall on another UTC date"


def test_warehouse_switch_reads_the_users_own_tables(
    tmp_path: Path, alternate_dataset: RawDataset, alternate_db: Path
) -> None:
    """raw_source=warehouse reads tables in another schema; the result equals the seed build."""
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("create schema landing")
        for table, frame in alternate_dataset.tables.items():
            con.register("frame", frame.astype(str))
            con.execute(f"create table landing.{table} as select * from frame")
            con.unregister("frame")
    project = copy_project(tmp_path / "project")
    build(project, database, "--vars", "{raw_source: warehouse, raw_schema: landing}")
    (seed_tables,) = query(
        database,
        "select count(*) from information_schema.tables "
        "where table_schema = 'main' and table_name like 'raw_%'",
    )[0]
    assert seed_tables == 0, "the shipped seeds must not load in warehouse mode"
    for table in TABLES:
        columns = ", ".join(
            c for (c,) in query(alternate_db, f"select column_name from (describe stg_{table})")
        )
        via_seeds = query(alternate_db, f"select {columns} from stg_{table} order by all")
        via_tables = query(database, f"select {columns} from stg_{table} order by all")
        assert via_tables == via_seeds, table


def test_typed_timestamptz_columns_keep_their_instant(
    tmp_path: Path, alternate_dataset: RawDataset, alternate_db: Path
) -> None:
    """A user's table with a real TIMESTAMPTZ column (not text) stages to the same UTC times."""
    database = tmp_path / "typed.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("set TimeZone = 'Asia/Kolkata'")  # not UTC, on purpose
        con.execute("create schema landing")
        for table, frame in alternate_dataset.tables.items():
            con.register("frame", frame.astype(str))
            con.execute(f"create table landing.{table} as select * from frame")
            con.unregister("frame")
        con.execute(
            "create or replace table landing.raw_users as select user_id, "
            "try_cast(signup_at as timestamptz) as signup_at, country, platform "
            "from landing.raw_users "
            "where regexp_matches(signup_at, '([+-][0-9]{2}:?[0-9]{2}|Z)$')"
        )
    project = copy_project(tmp_path / "project")
    build(project, database, "--vars", "{raw_source: warehouse, raw_schema: landing}")
    typed = dict(query(database, "select user_id, signup_at from stg_users"))
    from_text = dict(query(alternate_db, "select user_id, signup_at from stg_users"))
    assert len(typed) > 100 and set(typed) <= set(from_text)
    assert typed == {u: from_text[u] for u in typed}


def test_parquet_switch_reads_a_directory_whose_name_has_quotes(
    tmp_path: Path, alternate_dataset: RawDataset, alternate_db: Path
) -> None:
    """raw_parquet_dir is a user's path pasted into SQL: quotes in it are quoted, not run."""
    raw_dir = tmp_path / "o'neil's \"raw\" files"
    with duckdb.connect() as con:
        for table, frame in alternate_dataset.tables.items():
            (raw_dir / table).mkdir(parents=True)
            con.register("frame", frame.astype(str))
            target = str(raw_dir / table / "part-0.parquet").replace("'", "''")
            con.execute(f"copy frame to '{target}' (format parquet)")
            con.unregister("frame")
    database = tmp_path / "parquet.duckdb"
    project = copy_project(tmp_path / "project")
    build(
        project,
        database,
        "--vars",
        json.dumps({"raw_source": "parquet", "raw_parquet_dir": str(raw_dir)}),
    )
    for table in TABLES:
        columns = ", ".join(
            c for (c,) in query(alternate_db, f"select column_name from (describe stg_{table})")
        )
        via_seeds = query(alternate_db, f"select {columns} from stg_{table} order by all")
        via_parquet = query(database, f"select {columns} from stg_{table} order by all")
        assert via_parquet == via_seeds, table
