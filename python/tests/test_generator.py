"""metricbook generate: deterministic, streamed, realistic raw tables that staging reconciles."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from dataclasses import fields
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from conftest import build, copy_project, query

from metricbook.datagen import seeds, world
from metricbook.datagen.engine import (
    NO_TRAPS,
    STATE_FILE,
    ExperimentSpec,
    ParquetSink,
    Variant,
    add_generate_parser,
    append_day,
    append_late_events,
    expected_events,
    generate,
    main,
    plan_for_events,
    read_state,
)
from metricbook.datagen.profiles import ALTERNATE, TEACHING, Profile
from metricbook.datagen.world import RAW_COLUMNS
from metricbook.warehouse.dbt_runner import REPO_ROOT

START = date(2024, 1, 1)
TIMESTAMPS = {
    "raw_users": "signup_at",
    "raw_pins": "created_at",
    "raw_events": "event_at",
    "raw_transactions": "transacted_at",
    "raw_experiment_assignments": "assigned_at",
}
WITHOUT_OFFSET = "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,9})?"
WITH_OFFSET = WITHOUT_OFFSET + "(Z|[+-][0-9]{2}(:?[0-9]{2})?)"
LATE_BATCH = 200


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    return con


def parquet(out: Path, table: str) -> str:
    return f"read_parquet('{out}/{table}/*.parquet', filename = true, file_row_number = true)"


def rows_in_file_order(out: Path, table: str) -> list[tuple]:
    columns = ", ".join(RAW_COLUMNS[table])
    with connect() as con:
        return con.sql(
            f"select parse_filename(filename), {columns} from {parquet(out, table)} "
            "order by parse_filename(filename), file_row_number"
        ).fetchall()


def utc(column: str) -> str:
    """The UTC instant of a raw timestamp, NULL unless it has an offset (as staging does)."""
    return (
        f"case when regexp_full_match({column}, '{WITH_OFFSET}') then "
        f"cast(try_cast({column} as timestamptz) at time zone 'UTC' as timestamp) end"
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~90k events over 6 days, the experiment on days 2-4, then a batch of late events."""
    out = tmp_path_factory.mktemp("generated") / "small"
    generate(1500, 6, 5, out, experiment=ExperimentSpec(start_day=2, n_days=3))
    append_late_events(out, LATE_BATCH)
    return out


@pytest.fixture(scope="module")
def mid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20k users, the default experiment (days 14-27, control/treatment, clicks x1.05) and the
    day after it."""
    out = tmp_path_factory.mktemp("generated") / "mid"
    generate(20_000, 29, 7, out, events_per_user_day=4.0)
    return out


@pytest.fixture(scope="module")
def mid_con(mid: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Events and the cleanly assigned users (one arm, valid rows) of the mid data set."""
    con = connect()
    con.execute(
        f"create table events as select user_id, event_type, try_cast(position as int) as slot, "
        f"{utc('event_at')} as event_at from {parquet(mid, 'raw_events')}"
    )
    con.execute(
        f"create table arms as select user_id, min(variant) as variant, min({utc('assigned_at')})"
        f" as assigned_at from {parquet(mid, 'raw_experiment_assignments')} "
        "where variant in ('control', 'treatment') and experiment_id = 'exp_home_feed_ranking_v2' "
        f"and nullif(trim(user_id), '') is not null and {utc('assigned_at')} is not null "
        "group by user_id having count(distinct variant) = 1"
    )
    yield con
    con.close()


# --------------------------------------------------------------------------------------------
# Determinism and shape


def test_same_seed_gives_identical_tables_and_another_seed_does_not(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate(800, 3, seed, tmp_path / name, experiment=ExperimentSpec(start_day=1, n_days=2))
    for table in RAW_COLUMNS:
        assert rows_in_file_order(tmp_path / "a", table) == rows_in_file_order(
            tmp_path / "b", table
        )
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.parquet"))
    for file in files:
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file
    assert (tmp_path / "a" / STATE_FILE).read_text() == (tmp_path / "b" / STATE_FILE).read_text()
    assert rows_in_file_order(tmp_path / "a", "raw_events") != rows_in_file_order(
        tmp_path / "c", "raw_events"
    )


def test_every_table_has_the_raw_columns_as_utf8_strings(small: Path) -> None:
    assert sorted(p.name for p in small.iterdir() if p.is_dir()) == sorted(RAW_COLUMNS)
    with connect() as con:
        for table, columns in RAW_COLUMNS.items():
            for file in sorted((small / table).glob("*.parquet")):
                schema = con.sql(
                    "select name, type, converted_type from parquet_schema(?) "
                    "where name <> 'duckdb_schema'",
                    params=[str(file)],
                ).fetchall()
                assert [name for name, _, _ in schema] == columns, file
                assert {(t, c) for _, t, c in schema} == {("BYTE_ARRAY", "UTF8")}, file


def test_every_timestamp_has_an_offset_except_the_planted_missing_offset_rows(small: Path) -> None:
    rejects = read_state(small)["expected_rejects"]
    with connect() as con:
        for table, column in TIMESTAMPS.items():
            planted = rejects[table]
            (without, with_offset, total) = con.sql(
                f"select count(*) filter (where regexp_full_match({column}, '{WITHOUT_OFFSET}')), "
                f"count(*) filter (where regexp_full_match({column}, '{WITH_OFFSET}')), count(*) "
                f"from {parquet(small, table)}"
            ).fetchone()
            assert without == planted.get(f"{column}_missing_offset", 0), table
            spoiled = sum(
                n
                for reason, n in planted.items()
                if reason.startswith((column, "missing_" + column))
            )
            assert with_offset >= total - spoiled > 0, table
        ios, android = "T.*[+-][0-9]{2}:[0-9]{2}", " .*[.][0-9]{3}[+-][0-9]{4}"
        spellings = con.sql(
            "select count(*) filter (where event_at like '%Z'), "
            f"count(*) filter (where regexp_full_match(event_at, '.*{ios}')), "
            f"count(*) filter (where regexp_full_match(event_at, '.*{android}')) "
            f"from {parquet(small, 'raw_events')}"
        ).fetchone()
    assert min(spellings) > 0, "web 'Z', iOS '+hh:mm' and Android '+hhmm' spellings all occur"


def test_volume_is_within_ten_percent_of_the_plan(tmp_path: Path) -> None:
    users = plan_for_events(150_000, 5)
    summary = generate(users, 5, 1, tmp_path / "planned")
    assert abs(summary.events / 150_000 - 1) < 0.10
    assert abs(summary.events / expected_events(users, 5) - 1) < 0.10
    assert summary.bytes_written == sum(p.stat().st_size for p in tmp_path.rglob("*.parquet"))


# --------------------------------------------------------------------------------------------
# Realism


def test_top_one_percent_of_users_do_at_least_a_tenth_of_the_events(
    mid_con: duckdb.DuckDBPyConnection,
) -> None:
    (share,) = mid_con.sql(
        "with per_user as (select user_id, count(*) as n from events group by user_id), "
        "ranked as (select n, row_number() over (order by n desc) as rank, count(*) over () "
        "as users from per_user) "
        "select sum(n) filter (where rank <= users / 100) / sum(n) from ranked"
    ).fetchone()
    assert share >= 0.10


def test_click_through_rate_falls_with_feed_position(mid_con: duckdb.DuckDBPyConnection) -> None:
    ctr = mid_con.sql(
        "select slot, count(*) filter (where event_type = 'click') "
        "/ count(*) filter (where event_type = 'impression') "
        "from events where slot between 1 and 8 group by slot order by slot"
    ).fetchall()
    rates = [rate for _, rate in ctr]
    assert len(rates) == 8 and all(a > b for a, b in zip(rates, rates[1:], strict=False))


def test_treatment_ctr_over_control_ctr_is_close_to_the_planted_multiplier(
    mid_con: duckdb.DuckDBPyConnection,
) -> None:
    """Pooled CTR per arm over the post period, with its delta-method standard error (the user
    is the unit): the ratio lies within three standard errors of the planted 1.05."""
    arms = mid_con.sql(
        "with per_user as ("
        "  select a.variant, a.user_id,"
        "    count(*) filter (where e.event_type = 'click') as clicks,"
        "    count(*) filter (where e.event_type = 'impression') as impressions"
        "  from arms as a join events as e on e.user_id = a.user_id"
        "    and e.event_at >= a.assigned_at and e.event_at < timestamp '2024-01-29'"
        "  group by all)"
        " select variant, count(*), avg(clicks) / avg(impressions),"
        "   (var_samp(clicks) / avg(impressions) ^ 2"
        "    - 2 * avg(clicks) * covar_samp(clicks, impressions) / avg(impressions) ^ 3"
        "    + avg(clicks) ^ 2 * var_samp(impressions) / avg(impressions) ^ 4) / count(*)"
        " from per_user group by variant order by variant"
    ).fetchall()
    (control, n_c, ctr_c, var_c), (treatment, n_t, ctr_t, var_t) = arms
    assert (control, treatment) == ("control", "treatment")
    assert abs(n_t / (n_c + n_t) - 0.5) < 0.02, "the 50/50 split holds"
    ratio = ctr_t / ctr_c
    se = ratio * (var_t / ctr_t**2 + var_c / ctr_c**2) ** 0.5
    assert se < 0.03
    assert abs(ratio - 1.05) < 3 * se, (ratio, se)


def test_planted_multipliers_move_only_the_treatment_arm(tmp_path: Path) -> None:
    """Same seed with and without an effect: every draw is the same, so the treatment arm's
    clicks, saves and hides scale by the multipliers and the control arm does not move."""

    def arm_counts(name: str, click: float, save: float, hide: float) -> dict:
        experiment = ExperimentSpec(
            start_day=1,
            n_days=4,
            variants=(
                Variant("control", 0.5, is_control=True),
                Variant("treatment", 0.5, click_multiplier=click, save_multiplier=save,
                        hide_multiplier=hide),
            ),
        )  # fmt: skip
        out = tmp_path / name
        generate(3000, 5, 11, out, experiment=experiment, traps=NO_TRAPS)
        rows = (
            connect()
            .sql(
                f"select a.variant, e.event_type, count(*) from {parquet(out, 'raw_events')} as e "
                f"join {parquet(out, 'raw_experiment_assignments')} as a using (user_id) "
                f"where {utc('e.event_at')} >= {utc('a.assigned_at')} group by all"
            )
            .fetchall()
        )
        return {(variant, kind): n for variant, kind, n in rows}

    base = arm_counts("base", 1.0, 1.0, 1.0)
    clicks = arm_counts("clicks", 1.2, 1.0, 1.0)
    saves = arm_counts("saves", 1.0, 1.5, 0.5)
    for kind in ("impression", "click", "save", "hide"):
        assert clicks[("control", kind)] == saves[("control", kind)] == base[("control", kind)]
    assert clicks[("treatment", "impression")] == base[("treatment", "impression")]
    assert clicks[("treatment", "click")] / base[("treatment", "click")] == pytest.approx(
        1.2, abs=0.02
    )
    assert saves[("treatment", "click")] == base[("treatment", "click")]
    assert saves[("treatment", "save")] / base[("treatment", "save")] == pytest.approx(
        1.5, abs=0.08
    )
    assert saves[("treatment", "hide")] / base[("treatment", "hide")] == pytest.approx(
        0.5, abs=0.05
    )


def test_pre_period_clicks_predict_post_period_clicks(mid_con: duckdb.DuckDBPyConnection) -> None:
    """What makes CUPED useful: over assigned users, corr(clicks, pre_clicks) >= 0.5 with the
    project's 14-day pre-period."""
    (correlation, users) = mid_con.sql(
        "with per_user as ("
        "  select a.user_id,"
        "    count(*) filter (where e.event_type = 'click' and e.event_at >= a.assigned_at)"
        "      as clicks,"
        "    count(*) filter (where e.event_type = 'click'"
        "      and e.event_at < timestamp '2024-01-15') as pre_clicks"
        "  from arms as a left join events as e on e.user_id = a.user_id"
        "    and e.event_at >= timestamp '2024-01-01' and e.event_at < timestamp '2024-01-29'"
        "  group by a.user_id)"
        " select corr(clicks, pre_clicks), count(*) from per_user"
    ).fetchone()
    assert users > 15_000
    assert correlation >= 0.5


# --------------------------------------------------------------------------------------------
# The manifest


def test_manifest_counts_equal_what_is_in_the_files(small: Path) -> None:
    manifest = state = read_state(small)
    on_disk = {str(p.relative_to(small)) for p in small.rglob("*.parquet")}
    listed = {f: meta for batch in state["batches"] for f, meta in batch["files"].items()}
    assert set(listed) == on_disk
    assert manifest["bytes"] == sum((small / f).stat().st_size for f in on_disk)
    with connect() as con:
        for table in RAW_COLUMNS:
            (rows,) = con.sql(f"select count(*) from {parquet(small, table)}").fetchone()
            assert rows == manifest["raw_rows"][table] > 0, table
        for file, meta in listed.items():
            (rows,) = con.sql(f"select count(*) from read_parquet('{small / file}')").fetchone()
            assert rows == meta["rows"], file
        events = ", ".join(RAW_COLUMNS["raw_events"])
        (exact,) = con.sql(
            f"select count(*) - count(distinct ({events})) from {parquet(small, 'raw_events')}"
        ).fetchone()
        (refunds,) = con.sql(
            "select count(distinct transaction_id) from "
            f"{parquet(small, 'raw_transactions')} where status = 'refunded'"
        ).fetchone()
    traps = {name: trap["count"] for name, trap in manifest["traps"].items()}
    assert exact == traps["exact_duplicate_events"] > 0
    assert refunds == traps["refunds"]
    assert traps["retried_events"] > 0 and traps["sessions_at_utc_midnight"] > 0
    assert traps["offset_moves_utc_date"] > 0
    assert manifest["expected_duplicates"]["raw_events"] == exact + traps["retried_events"]


def test_assignment_traps_in_the_files_match_the_manifest(
    mid: Path, mid_con: duckdb.DuckDBPyConnection
) -> None:
    traps = {name: trap["count"] for name, trap in read_state(mid)["traps"].items()}
    clean = (
        f"select user_id, variant, {utc('assigned_at')} as assigned_at "
        f"from {parquet(mid, 'raw_experiment_assignments')} "
        "where variant in ('control', 'treatment') and experiment_id = 'exp_home_feed_ranking_v2'"
        f" and nullif(trim(user_id), '') is not null and {utc('assigned_at')} is not null"
    )
    (two_arms, after_end) = mid_con.sql(
        f"with clean as ({clean}), per_user as (select user_id, count(distinct variant) as arms,"
        " min(assigned_at) as first_at from clean group by user_id)"
        " select count(*) filter (where arms = 2),"
        "   count(*) filter (where first_at > timestamp '2024-01-28 23:59:59') from per_user"
    ).fetchone()
    assert two_arms == traps["assigned_to_two_variants"] > 0
    assert after_end == traps["assigned_after_end"] > 0
    assert traps["assigned_twice_same_variant"] > 0


@pytest.mark.build
def test_staging_stages_rejects_or_dedupes_every_row_as_the_manifest_says(
    small: Path, tmp_path: Path
) -> None:
    """The contract check: dbt staging over the Parquet files rejects exactly the planted bad
    rows with the planted reasons and removes exactly the planted duplicate deliveries."""
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("create schema landing")
        for table in RAW_COLUMNS:
            files = f"read_parquet('{small}/{table}/*.parquet')"
            con.execute(f"create view landing.{table} as select * from {files}")
    project = copy_project(tmp_path / "project")
    build(
        project,
        database,
        "--select",
        "staging",
        "--indirect-selection",
        "cautious",
        "--vars",
        "{raw_source: warehouse, raw_schema: landing}",
    )
    manifest = read_state(small)
    for table in RAW_COLUMNS:
        name = table.removeprefix("raw_")
        rejects = dict(
            query(database, f"select reject_reason, count(*) from stg_{name}__rejects group by 1")
        )
        statuses = dict(query(database, f"select row_status, count(*) from base_{name} group by 1"))
        assert rejects == manifest["expected_rejects"][table], table
        assert statuses.get("duplicate", 0) == manifest["expected_duplicates"][table], table
        assert sum(statuses.values()) == manifest["raw_rows"][table], table
        assert statuses["staged"] > 0, table


# --------------------------------------------------------------------------------------------
# Appending and streaming


def test_append_day_writes_exactly_the_day_a_longer_generate_writes(tmp_path: Path) -> None:
    experiment = ExperimentSpec(start_day=2, n_days=6)  # day 5 needs the replayed assignments
    generate(1000, 5, 9, tmp_path / "appended", experiment=experiment)
    before = set((tmp_path / "appended").rglob("*.parquet"))
    summary = append_day(tmp_path / "appended")
    generate(1000, 6, 9, tmp_path / "whole", experiment=experiment)
    added = set((tmp_path / "appended").rglob("*.parquet")) - before
    day = "part-day-2024-01-06.parquet"
    per_day = (
        "raw_events",
        "raw_users",
        "raw_transactions",
        "raw_experiment_assignments",
        "raw_ranker_scores",
    )
    assert {(p.parent.name, p.name) for p in added} == {(t, day) for t in per_day}
    for table in per_day:
        appended = (tmp_path / "appended" / table / day).read_bytes()
        assert appended == (tmp_path / "whole" / table / day).read_bytes(), table
    assert read_state(tmp_path / "appended") == read_state(tmp_path / "whole")
    assert summary.files == len(per_day) and summary.events > 0


def test_late_events_land_in_a_later_file_before_that_files_day(small: Path) -> None:
    state = read_state(small)
    with connect() as con:
        per_file = con.sql(
            f"with delivered as (select parse_filename(filename) as file, {utc('event_at')} as t,"
            f" strptime(file[10:19], '%Y-%m-%d') as file_day from {parquet(small, 'raw_events')})"
            " select file, count(*) filter (where t < file_day),"
            "   count(*) filter (where t < file_day - interval 3 day)"
            " from delivered where file like 'part-day-%' group by file"
        ).fetchall()
        (rows, ids, first, last) = con.sql(
            f"select count(*), count(distinct event_id), min({utc('event_at')}), "
            f"max({utc('event_at')}) from read_parquet('{small}/raw_events/part-late-0001.parquet')"
        ).fetchone()
        (clashes,) = con.sql(
            f"select count(*) from {parquet(small, 'raw_events')} as a "
            f"join read_parquet('{small}/raw_events/part-late-0001.parquet') as b using (event_id) "
            "where parse_filename(a.filename) <> 'part-late-0001.parquet'"
        ).fetchone()
    late = {f"part-{b['batch']}.parquet": b["traps"]["late_events"] for b in state["batches"]}
    assert {file: n for file, n, _ in per_file} == {f: n for f, n in late.items() if "day" in f}
    assert sum(n for _, n, _ in per_file) > 0 and all(too == 0 for _, _, too in per_file)
    delivered = pd.Timestamp(START + timedelta(days=state["days"]))
    assert rows == ids == LATE_BATCH and clashes == 0
    assert delivered - pd.Timedelta(days=3) <= first and last < delivered


class RecordingSink(ParquetSink):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, int]] = []

    def write(self, path: Path, frame: pd.DataFrame, select_sql: str) -> int:
        self.calls.append((path.parent.name, path.name, len(frame)))
        return super().write(path, frame, select_sql)


def test_generating_n_days_writes_each_day_in_one_bounded_call(tmp_path: Path) -> None:
    """Streaming: the writer gets one frame per table per day, never the whole data set."""
    sizes = {}
    for days in (3, 6):
        with RecordingSink() as sink:
            generate(600, days, 2, tmp_path / str(days), sink=sink)
        events = [(name, rows) for table, name, rows in sink.calls if table == "raw_events"]
        assert [name for name, _ in events] == [
            f"part-day-{START + timedelta(days=d)}.parquet" for d in range(days)
        ]
        per_day = expected_events(600, days) / days
        assert all(rows < 2 * per_day for _, rows in events)
        sizes[days] = max(rows for _, rows in events)
        # base: users, pins, experiments, variants, launches; a day: events, scores, users,
        # transactions, assignments
        assert len(sink.calls) == 5 + 5 * days
    assert sizes[6] < 1.5 * sizes[3], "a call's size does not grow with the number of days"


# --------------------------------------------------------------------------------------------
# Boundaries


def test_refuses_to_overwrite_a_data_set_without_being_asked(small: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--append-day"):
        generate(10, 1, 1, small)
    with pytest.raises(ValueError, match="generate"):
        append_day(tmp_path / "nothing here")
    with pytest.raises(ValueError, match="--users"):
        generate(0, 1, 1, tmp_path / "empty")


def test_the_generate_subcommand_writes_and_extends_a_data_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = argparse.ArgumentParser(prog="metricbook")
    add_generate_parser(root.add_subparsers(dest="command", required=True))
    out = tmp_path / "cli"
    args = root.parse_args(["generate", "--users", "300", "--days", "2", "--out", str(out)])
    assert args.run(args) == 0
    assert main(["--out", str(out), "--append-day", "--late-events", "50"]) == 0
    assert main(["--out", str(out), "--days", "2"]) == 2
    state = json.loads((out / STATE_FILE).read_text())
    assert state["days"] == 3 and state["late_batches"] == 1
    assert "raw_events=" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# One contract, one trap vocabulary, one manifest for every profile


def _accepted_values(model: str, column: str) -> set[str]:
    """What models/staging/_stg__models.yml's accepted_values test allows in model.column."""
    models = yaml.safe_load((REPO_ROOT / "models/staging/_stg__models.yml").read_text())["models"]
    (declared,) = [
        c for m in models if m["name"] == model for c in m["columns"] if c["name"] == column
    ]
    (values,) = [
        t["accepted_values"]["arguments"]["values"]
        for t in declared.get("data_tests", [])
        if isinstance(t, dict) and "accepted_values" in t
    ]
    return set(values)


def _sql_list(model: str, column: str) -> set[str]:
    """The `column not in (...)` list a base model rejects by."""
    sql = (REPO_ROOT / "models/staging/base" / f"{model}.sql").read_text()
    (listed,) = re.findall(rf"{column} not in \(([^)]*)\)", sql)
    return {v.strip().strip("'") for v in listed.split(",")}


@pytest.mark.parametrize(
    ("emitted", "model", "column", "base"),
    [
        (world.EVENT_TYPES, "stg_events", "event_type", "base_events__parsed"),
        (tuple(world.SURFACES), "stg_events", "surface", "base_events__parsed"),
        (tuple(world.PLATFORMS), "stg_users", "platform", "base_users"),
        (world.STATUSES, "stg_transactions", "status", "base_transactions"),
    ],
)
def test_the_values_the_generator_emits_are_exactly_the_ones_staging_accepts(
    emitted: tuple[str, ...], model: str, column: str, base: str
) -> None:
    assert set(emitted) == _accepted_values(model, column) == _sql_list(base, column)


@pytest.mark.parametrize("profile", [TEACHING, ALTERNATE], ids=lambda p: p.name)
def test_a_small_profile_plants_exactly_its_hand_placed_traps(profile: Profile) -> None:
    manifest = seeds.generate(profile).manifest
    traps = profile.config.traps
    planted: dict[str, dict[str, int]] = {t: {} for t in RAW_COLUMNS}
    for table, reason, count in traps.bad_row_counts:
        planted[table][reason] = count
    if traps.bad_variant_rows:
        planted["raw_experiment_variants"]["invalid_traffic_share"] = traps.bad_variant_rows
    # the bad launch rows cycle through raw_launches' recipes, one launch each
    recipes = [reason for table, reason in world.DEFECTS if table == "raw_launches"]
    for k in range(traps.bad_launch_rows):
        reason = recipes[k % len(recipes)]
        planted["raw_launches"][reason] = planted["raw_launches"].get(reason, 0) + 1
    # the traps only a check across rows rejects: one click each; both deliveries of a
    # conflicting score; every event of a request that repeats a position (2+ impressions and
    # the planted one at least)
    planted["raw_events"]["engagement_without_impression"] = traps.click_on_unimpressed_pin
    planted["raw_ranker_scores"]["conflicting_scores"] = 2 * traps.conflicting_ranker_scores
    rejects = {table: dict(reasons) for table, reasons in manifest["expected_rejects"].items()}
    repeated = rejects["raw_events"].pop("repeated_position_in_request")
    assert repeated >= 3 * traps.repeated_position_in_request
    assert rejects == planted
    exact = {f.name: getattr(traps, f.name) for f in fields(traps) if f.name in world.TRAPS}
    for name, count in exact.items():
        if isinstance(count, int):
            assert manifest["traps"][name]["count"] == count, name
    assert manifest["traps"]["assigned_without_activity"]["count"] == profile.config.ghost_users
    assert len(manifest["traps"]["offset_moves_utc_date"]["event_ids"]) == world.EXAMPLE_IDS


def test_the_seeds_tie_two_categories_at_ranks_1_and_3() -> None:
    """Counted from the raw text, independently of the engine: distinct (user, pin) saves per
    UTC ISO week of the tie's country (what fct_category_rankings counts)."""
    tables = seeds.generate(TEACHING).tables
    events, users, pins = tables["raw_events"], tables["raw_users"], tables["raw_pins"]
    country = dict(zip(users["user_id"], users["country"], strict=True))
    category = dict(zip(pins["pin_id"], pins["category"], strict=True))
    saves = events[(events["event_type"] == "save") & (events["pin_id"] != "")].copy()
    saves["at"] = pd.to_datetime(saves["event_at"], format="ISO8601", utc=True, errors="coerce")
    saves = saves.dropna(subset=["at"])
    saves["week"] = saves["at"].dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time.dt.date
    saves["country"] = saves["user_id"].map(country)
    saves["category"] = saves["pin_id"].map(category)
    manifest = seeds.generate(TEACHING).manifest
    for rank in (1, 3):
        tie = manifest["traps"][f"weekly_category_tie_rank_{rank}"]
        week = saves[
            (saves["week"] == date.fromisoformat(tie["week_start"]))
            & (saves["country"] == tie["country"])
        ]
        counts = week.drop_duplicates(["user_id", "pin_id"]).groupby("category").size()
        ranked = counts.sort_values(ascending=False)
        assert set(ranked[ranked == tie["saves"]].index) >= set(tie["categories"]), rank
        assert (ranked > tie["saves"]).sum() < rank <= (ranked >= tie["saves"]).sum() - 1


def test_seeds_and_scale_write_one_manifest_schema(small: Path) -> None:
    scale = read_state(small)
    teaching = seeds.generate(TEACHING).manifest
    assert teaching["format"] == scale["format"] == world.MANIFEST_FORMAT
    assert set(teaching) <= set(scale)
    assert set(teaching["traps"]) == set(scale["traps"]) == set(world.TRAPS)
    for name, trap in teaching["traps"].items():
        assert trap["description"] == scale["traps"][name]["description"]
    assert (small / world.MANIFEST_FILE).exists() and STATE_FILE == world.MANIFEST_FILE
