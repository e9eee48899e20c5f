"""Faults of the world outside metricbook: a database that is missing, not a database, damaged,
locked by a running build, never built, or built by a failed, killed or partial run; an
unreachable Postgres; an output that cannot be written; a --write that fails half-way. Each is
one line on stderr naming the path and what to do, with its exit code; and where metricbook
goes on (--allow-stale, odd variant names) the numbers are exactly the reference readout's."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from conftest import build, copy_project, one_line, strict_json

from metricbook import cli
from metricbook.errors import WarehouseError
from metricbook.readout import queries
from metricbook.readout.config import load_config
from metricbook.readout.readout import analyze, result_columns, result_rows
from metricbook.readout.validation import _checks
from metricbook.warehouse.connection import DuckDBWarehouse, PostgresWarehouse, profile_target
from metricbook.warehouse.dbt_runner import REPO_ROOT

EXPERIMENT = "exp_home_feed_ranking_v2"
RESAMPLES = "200"
ANALYZE = ["analyze", "--experiment", EXPERIMENT, "--bootstrap-resamples", RESAMPLES]
METRICBOOK = Path(sys.executable).parent / "metricbook"

# metric x variant rows of the seed readout: every metric the experiment names, one treatment
RESULTS = len(load_config().experiment("exp_home_feed_ranking_v2").metric_names)


# --------------------------------------------------------------------------------------------
# helpers


def later(minutes: int = 5) -> datetime:
    return datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=minutes)


def log_invocation(
    database: Path, command: str, started: datetime, rows: list[tuple[str, str | None, str]]
) -> None:
    """Append one invocation's rows (node, node_path, status) to the build log, as the hooks
    in macros/hooks/ would."""
    invocation = str(uuid.uuid4())
    with duckdb.connect(str(database)) as con:
        for index, (node, path, status) in enumerate(rows):
            con.execute(
                "insert into metricbook_build_log values (?, ?, ?, ?, ?, ?, ?)",
                [invocation, command, started, started + timedelta(seconds=index), node, path,
                 status],
            )  # fmt: skip


def sql(database: Path, *statements: str) -> None:
    with duckdb.connect(str(database)) as con:
        for statement in statements:
            con.execute(statement)


def rows_of(database: Path, query: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(query, params or []).fetchall()


STARTED = ("__invocation__", None, "started")
SUCCEEDED = ("__invocation__", None, "success")
FAILED = ("__invocation__", None, "error")
MARTS = [(mart, f"models/marts/experiments/{mart}.sql", "success") for mart in queries.MARTS]


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def ready_db(seeds_db: Path, tmp_path_factory) -> Path:
    """The built seeds with the experiment marts analyze reads (read-only: tests copy it)."""
    database = tmp_path_factory.mktemp("robustness") / "ready.duckdb"
    shutil.copy(seeds_db, database)
    return database


@pytest.fixture()
def db(ready_db: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "metricbook.duckdb"
    shutil.copy(ready_db, copy)
    return copy


@pytest.fixture(scope="session")
def reference(ready_db: Path) -> dict:
    """The readout analyze gives on the built seeds, as --format json prints it."""
    handle = DuckDBWarehouse(ready_db)
    try:
        readout = analyze(handle, load_config(), EXPERIMENT, bootstrap_resamples=int(RESAMPLES))
    finally:
        handle.close()
    return strict_json(cli._json(readout.to_dict()))


@pytest.fixture()
def run(monkeypatch, capsys):
    def invoke(database: Path | None, *argv) -> tuple[int, str, str]:
        if database is not None:
            monkeypatch.setenv("METRICBOOK_DUCKDB_PATH", str(database))
        code = cli.main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def _close(actual, expected) -> bool:
    """Equal, floats to 1e-9 (another build of the same data sums in another order)."""
    if isinstance(expected, float) and isinstance(actual, float):
        return actual == pytest.approx(expected, rel=1e-9, abs=1e-12)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return actual.keys() == expected.keys() and all(
            _close(actual[k], expected[k]) for k in expected
        )
    return actual == expected


def same_numbers(payload: dict, reference: dict, rename: dict[str, str] | None = None) -> None:
    rename = rename or {}

    def renamed(value):
        # a variant's name, wherever the readout carries it: as a value (variant,
        # control_variant, in the nested sections too) or as a key (capped users per arm)
        if isinstance(value, dict):
            return {rename.get(k, k): renamed(v) for k, v in value.items()}
        if isinstance(value, list):
            return [renamed(v) for v in value]
        return rename.get(value, value) if isinstance(value, str) else value

    expected = renamed(json.loads(json.dumps(reference["results"])))
    assert len(payload["results"]) == len(expected)
    for actual, wanted in zip(payload["results"], expected, strict=True):
        differing = {
            k: (actual.get(k), v) for k, v in wanted.items() if not _close(actual.get(k), v)
        }
        assert not differing, (wanted["metric"], differing)
    assert _close(payload["srm"]["p_value"], reference["srm"]["p_value"])
    assert payload["decision"]["verdict"] == reference["decision"]["verdict"]
    for section in ("balance", "segments", "post_stratification", "over_time", "exposure"):
        assert _same(payload[section], renamed(reference[section])), section


def _same(actual, expected) -> bool:
    """_close, through lists too; the sections' notes are sentences naming the variants, so
    only their number is compared."""
    if isinstance(expected, list) and isinstance(actual, list):
        return len(actual) == len(expected) and all(
            _same(a, e) for a, e in zip(actual, expected, strict=True)
        )
    if isinstance(expected, dict) and isinstance(actual, dict):
        return actual.keys() == expected.keys() and all(
            len(actual[k]) == len(expected[k]) if k == "notes" else _same(actual[k], expected[k])
            for k in expected
        )
    return _close(actual, expected)


# --------------------------------------------------------------------------------------------
# 2. the database file


def _damage(path: Path, ready: Path, kind: str) -> None:
    if kind == "text_file":
        path.write_text("experiment_id,variant\nexp,control\n")
    elif kind == "zero_bytes":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    elif kind == "truncated":
        path.write_bytes(ready.read_bytes()[: ready.stat().st_size // 2])
    elif kind == "truncated_header":
        path.write_bytes(ready.read_bytes()[:4096])
    elif kind == "never_built":
        duckdb.connect(str(path)).close()
    elif kind == "unrelated_database":
        with duckdb.connect(str(path)) as con:
            con.execute("create table customers as select 1 as id")


@pytest.mark.parametrize(
    ("kind", "needle"),
    [
        ("text_file", "not a DuckDB database file"),
        ("zero_bytes", "empty (0 bytes)"),
        ("directory", "is a directory"),
        ("truncated", "damaged or truncated"),
        ("truncated_header", "damaged or truncated"),
        ("never_built", "never built"),
        ("unrelated_database", "never built"),
    ],
    ids=[
        "text_file",
        "zero_bytes",
        "directory",
        "truncated",
        "truncated_header",
        "never_built",
        "unrelated_database",
    ],
)
@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
def test_bad_database_file_is_exit_4_and_untouched(
    run, ready_db, tmp_path, kind, needle, write
) -> None:
    path = tmp_path / "metricbook.duckdb"
    _damage(path, ready_db, kind)
    before = path.read_bytes() if path.is_file() else None
    code, out, err = run(path, *ANALYZE, *(["--write"] if write else []))
    assert code == 4 and out == ""
    one_line(err, str(path), needle)
    if before is not None and not write:
        assert path.read_bytes() == before  # read-only: never initialised, never changed


def test_missing_database_is_not_created(run, tmp_path) -> None:
    path = tmp_path / "nowhere.duckdb"
    for extra in ([], ["--write"]):
        code, _, err = run(path, *ANALYZE, *extra)
        assert code == 4
        one_line(err, str(path), "dbt build")
    assert not path.exists()


def test_damaged_block_found_while_reading_is_exit_4(run, db) -> None:
    """A corrupt block inside a mart (the header and metadata intact) fails at query time."""
    data = bytearray(db.read_bytes())
    block = 262_144
    for start in range(block, len(data) - block, block):
        damaged = bytearray(data)
        damaged[start : start + block] = b"\x00" * block
        db.write_bytes(damaged)
        try:
            with duckdb.connect(str(db), read_only=True) as con:
                con.execute("select * from fct_experiment_user_metrics").fetchall()
                con.execute("select * from metricbook_build_log").fetchall()
        except duckdb.IOException:
            break
        except duckdb.Error:
            continue
    else:
        pytest.skip("no block of fct_experiment_user_metrics found to damage")
    code, _, err = run(db, *ANALYZE)
    assert code == 4
    one_line(err, str(db), "rebuild it with `dbt build`")


@pytest.fixture()
def locked(db: Path):
    """Another process holding a write connection, as a running `dbt build` does."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]);"
         " print('ready', flush=True); time.sleep(120)", str(db)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield db, holder.pid
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
def test_database_locked_by_a_running_build_is_exit_4(run, locked, write) -> None:
    path, pid = locked
    code, _, err = run(path, *ANALYZE, *(["--write"] if write else []))
    assert code == 4
    one_line(err, str(path), "locked by another process", f"PID {pid}", "wait for it")


def test_locked_database_through_the_installed_command(locked) -> None:
    path, _ = locked
    result = subprocess.run(
        [str(METRICBOOK), *ANALYZE],
        capture_output=True,
        text=True,
        env={**os.environ, "METRICBOOK_DUCKDB_PATH": str(path)},
        timeout=300,
    )
    assert result.returncode == 4
    one_line(result.stderr, "locked")


# --------------------------------------------------------------------------------------------
# 2. Postgres and profiles.yml


@pytest.mark.parametrize(
    ("environment", "needle"),
    [
        ({"METRICBOOK_PG_PORT": "1", "METRICBOOK_PG_PASSWORD": "x"}, "cannot connect to Postgres"),
        ({"METRICBOOK_PG_PORT": "abc", "METRICBOOK_PG_PASSWORD": "x"}, "not a number"),
        ({"METRICBOOK_PG_PASSWORD": None}, "METRICBOOK_PG_PASSWORD"),
    ],
    ids=["closed_port", "port_not_a_number", "missing_password"],
)
def test_unreachable_postgres_is_exit_4(run, monkeypatch, environment, needle) -> None:
    for name, value in environment.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("METRICBOOK_PG_HOST", "127.0.0.1")
    code, out, err = run(None, *ANALYZE, "--target", "postgres")
    assert code == 4 and out == ""
    one_line(err, needle)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (None, "no profiles.yml"),
        ("metricbook: [unclosed\n", "not valid YAML"),
        ("other_profile: {}\n", "needs a profile `metricbook:`"),
        (
            "metricbook:\n  target: duckdb\n  outputs:\n    duckdb:\n      type: duckdb\n"
            "      path: \"{{ env_vars('X') }}\"\n",
            "outputs.duckdb.path does not render",
        ),
        ("metricbook:\n  target: gone\n  outputs:\n    duckdb: {type: duckdb}\n", "no target"),
    ],
    ids=["missing", "not_yaml", "no_profile", "bad_jinja", "default_target_missing"],
)
def test_profile_errors_are_one_line(tmp_path, text, needle) -> None:
    if text is not None:
        (tmp_path / "profiles.yml").write_text(text)
    with pytest.raises(WarehouseError) as failure:
        profile_target(None, tmp_path)
    message = str(failure.value)
    assert needle in message and "\n" not in message


# --------------------------------------------------------------------------------------------
# 3. stale or half-built marts (the build log of macros/hooks/)


def _no_log(database: Path) -> None:
    sql(database, "drop table metricbook_build_log")


def _killed(database: Path) -> None:
    log_invocation(database, "build", later(), [STARTED])


def _killed_run(database: Path) -> None:
    log_invocation(database, "run", later(), [STARTED, MARTS[0]])


def _failed_build(database: Path) -> None:
    log_invocation(database, "build", later(), [STARTED, *MARTS, FAILED])


def _failed_test(database: Path) -> None:
    log_invocation(database, "test", later(), [STARTED, FAILED])


def _stale_staging(database: Path) -> None:
    stg = ("stg_events", "models/staging/stg_events.sql", "success")
    log_invocation(database, "run", later(), [STARTED, stg, SUCCEEDED])


def _stale_intermediate(database: Path) -> None:
    node = ("int_user_active_days", "models/intermediate/int_user_active_days.sql", "success")
    log_invocation(database, "run", later(), [STARTED, node, SUCCEEDED])


def _mart_skipped(database: Path) -> None:
    skipped = ("fct_experiment_assignments", MARTS[1][1], "skipped")
    log_invocation(database, "run", later(), [STARTED, skipped, SUCCEEDED])


def _mart_not_logged(database: Path) -> None:
    sql(database, "delete from metricbook_build_log where node = 'dim_experiments'")


def _empty_log(database: Path) -> None:
    sql(database, "delete from metricbook_build_log")


BUILD_FAULTS = [
    (_no_log, ["without a build log or not built", "run `dbt build`"]),
    (
        _killed,
        ["the last dbt build (started", "UTC) never finished", "still running or was killed"],
    ),
    (_killed_run, ["the last dbt run", "never finished"]),
    (_failed_build, ["the last dbt build", "failed; fix it and run `dbt build`"]),
    (_failed_test, ["the last dbt test", "failed"]),
    (_stale_staging, ["fct_experiment_user_metrics is stale", "stg_events"]),
    (_stale_intermediate, ["is stale", "int_user_active_days"]),
    (_mart_skipped, ["fct_experiment_assignments did not build", "status skipped"]),
    (_mart_not_logged, ["dim_experiments is not in the build log"]),
    (_empty_log, ["build log metricbook_build_log is empty"]),
]
BUILD_IDS = [fault.__name__.strip("_") for fault, _ in BUILD_FAULTS]


@pytest.mark.parametrize(("fault", "needles"), BUILD_FAULTS, ids=BUILD_IDS)
def test_bad_build_is_exit_4(run, db, fault, needles) -> None:
    fault(db)
    code, out, err = run(db, *ANALYZE)
    assert code == 4 and out == ""
    one_line(err, str(db), "--allow-stale", *needles)


@pytest.mark.parametrize(("fault", "needles"), BUILD_FAULTS, ids=BUILD_IDS)
def test_allow_stale_warns_and_reads_the_same_numbers(run, db, reference, fault, needles) -> None:
    fault(db)
    code, out, err = run(db, *ANALYZE, "--allow-stale", "--format", "json")
    assert code == 0, err
    assert "Traceback" not in err
    warnings = [line for line in err.strip().splitlines()]
    assert warnings and all(line.startswith("metricbook: warning: ") for line in warnings)
    payload = strict_json(out)
    assert payload["warnings"] and all(needle in payload["warnings"][0] for needle in needles)
    same_numbers(payload, reference)


def test_allow_stale_warning_is_in_the_html(run, db, tmp_path) -> None:
    _killed(db)
    report = tmp_path / "readout.html"
    code, _, err = run(db, *ANALYZE, "--allow-stale", "--report", report)
    assert code == 0, err
    assert "never finished" in report.read_text() and "--allow-stale" in report.read_text()


@pytest.mark.parametrize(
    "rebuild",
    ["everything_after_staging", "marts_after_a_staging_run"],
)
def test_a_later_complete_build_reads_normally(run, db, reference, rebuild) -> None:
    stg = ("stg_events", "models/staging/stg_events.sql", "success")
    if rebuild == "everything_after_staging":
        log_invocation(db, "run", later(5), [STARTED, stg, SUCCEEDED])
        log_invocation(db, "build", later(10), [STARTED, stg, *MARTS, SUCCEEDED])
    else:
        log_invocation(db, "run", later(5), [STARTED, stg, SUCCEEDED])
        log_invocation(db, "run", later(10), [STARTED, *MARTS, SUCCEEDED])
    code, out, err = run(db, *ANALYZE, "--format", "json")
    assert code == 0 and err == ""
    payload = strict_json(out)
    assert payload["warnings"] == []
    same_numbers(payload, reference)


def test_a_missing_mart_is_exit_4_even_with_allow_stale(run, db) -> None:
    sql(db, "drop table dim_experiment_variants")
    code, _, err = run(db, *ANALYZE, "--allow-stale")
    assert code == 4
    one_line(err, str(db), "has no dim_experiment_variants", "run `dbt build`")


# --------------------------------------------------------------------------------------------
# 4. the experiment marts and metric columns


def _config(tmp: Path, change) -> Path:
    raw = yaml.safe_load((REPO_ROOT / "experiments.yml").read_text())
    change(raw)
    path = tmp / "experiments.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_experiment_not_in_dim_experiments_is_exit_3(run, db, tmp_path) -> None:
    odd = "exp_{0}_o'neil"

    def add(raw):
        raw["experiments"][odd] = dict(raw["experiments"][EXPERIMENT])

    config = _config(tmp_path, add)
    code, _, err = run(db, "analyze", "--experiment", odd, "--config", config)
    assert code == 3
    one_line(err, odd, "is not in dim_experiments", "check the id and run `dbt build`")


def test_excluded_experiment_is_exit_3_naming_the_reason(run, db) -> None:
    sql(
        db,
        "update dim_experiments set is_analyzable = false, exclusion_reason = 'several_controls'",
    )
    code, _, err = run(db, *ANALYZE)
    assert code == 3
    one_line(err, EXPERIMENT, "excluded", "several_controls")


@pytest.mark.parametrize(
    ("metric", "needle"),
    [
        ({"kind": "mean", "numerator": "variant"}, "'variant' of fct_experiment_user_metrics is"),
        ({"kind": "mean", "numerator": "first_assigned_at"}, "not a number"),
        ({"kind": "mean", "numerator": "clickz"}, "'clickz' is not in fct_experiment_user_metrics"),
        (
            {"kind": "ratio", "numerator": "clicks", "denominator": "user_id"},
            "broken.denominator: column 'user_id'",
        ),
    ],
    ids=["text_column", "timestamp_column", "missing_column", "text_denominator"],
)
def test_metric_over_a_non_numeric_column_is_exit_2(run, db, tmp_path, metric, needle) -> None:
    def add(raw):
        raw["metrics"]["broken"] = metric
        raw["experiments"][EXPERIMENT]["secondary"].append("broken")

    code, _, err = run(db, *ANALYZE, "--config", _config(tmp_path, add))
    assert code == 2
    one_line(err, "metrics.broken", needle)


def test_validation_failure_is_exit_3_on_one_line(run, db) -> None:
    sql(db, "update fct_experiment_user_metrics set clicks = -3 where user_id = 'u0002'")
    code, _, err = run(db, *ANALYZE)
    assert code == 3
    one_line(err, "failed validation", "clicks is never negative", "u0002")


def test_a_constant_metric_is_a_one_line_data_error(run, db) -> None:
    """Data that leave a metric's test undefined are the data's problem (exit 3), named."""
    sql(db, "update fct_experiment_user_metrics set hides = 0")
    code, _, err = run(db, *ANALYZE)
    assert code == 3
    one_line(err, "exp_home_feed_ranking_v2", "hides_per_user")


# --------------------------------------------------------------------------------------------
# 5. user values never pasted into SQL


@pytest.fixture(scope="session")
def odd_names_db(tmp_path_factory) -> Path:
    """The seeds with the control named o'neil and the treatment treat{0}, built."""
    project = copy_project(tmp_path_factory.mktemp("odd_names") / "project")
    rename = {"control": "o'neil", "treatment": "treat{0}"}
    for name in ("raw_experiment_variants.csv", "raw_experiment_assignments.csv"):
        path = project / "seeds" / name
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame["variant"] = frame["variant"].map(lambda v: rename.get(v, v))
        frame.to_csv(path, index=False)
    database = project / "metricbook.duckdb"
    build(project, database)
    return database


ODD = {"control": "o'neil", "treatment": "treat{0}"}


def test_odd_variant_names_read_to_the_same_readout(run, odd_names_db, reference, tmp_path):
    copy = tmp_path / "odd.duckdb"
    shutil.copy(odd_names_db, copy)
    report = tmp_path / "readout.html"
    code, out, err = run(copy, *ANALYZE, "--format", "json", "--write", "--report", report)
    assert code == 0, err
    payload = strict_json(out)
    assert payload["srm"]["counts"] == {ODD[k]: v for k, v in reference["srm"]["counts"].items()}
    same_numbers(payload, reference, ODD)
    assert "o&#39;neil" in report.read_text() and "treat{0}" in report.read_text()
    stored = rows_of(copy, "select distinct variant, control_variant from experiment_results")
    assert stored == [("treat{0}", "o'neil")]


def test_every_sampler_runs_with_odd_variant_names(odd_names_db) -> None:
    handle = DuckDBWarehouse(odd_names_db)
    try:
        declared = queries.declared_variants(handle, EXPERIMENT)
        assert {v.variant for v in declared} == set(ODD.values())
        checks = _checks(handle, EXPERIMENT, declared, ["clicks", "impressions"], 0.01)
        samplers = [check.samples for check in checks if check.samples is not None]
        assert len(samplers) >= 5
        for sample in samplers:
            assert sample().empty  # the built seeds break no expectation
    finally:
        handle.close()


# --------------------------------------------------------------------------------------------
# 6. outputs


@pytest.mark.parametrize(
    ("kind", "needle"),
    [
        ("directory", "is a directory"),
        ("under_a_file", "is a file, not a directory"),
        ("missing_parent", "does not exist"),
        ("unwritable", "cannot write in"),
    ],
    ids=["directory", "under_a_file", "missing_parent", "unwritable"],
)
def test_bad_report_is_exit_2_before_writing_results(run, db, tmp_path, kind, needle) -> None:
    report = {
        "directory": tmp_path,
        "under_a_file": db / "out.html",
        "missing_parent": tmp_path / "missing" / "out.html",
        "unwritable": Path("/proc/readout.html"),
    }[kind]
    code, out, err = run(db, *ANALYZE, "--write", "--report", report)
    assert code == 2 and out == ""
    one_line(err, "--report", needle)
    tables = rows_of(db, "select table_name from information_schema.tables")
    assert ("experiment_results",) not in tables


def test_report_replaces_the_old_one_atomically(run, db, tmp_path, monkeypatch) -> None:
    report = tmp_path / "out" / "readout.html"
    report.parent.mkdir()
    report.write_text("old readout")

    def no_rename(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    code, _, err = run(db, *ANALYZE, "--report", report)
    assert code == 2
    one_line(err, "--report", "No space left on device")
    assert report.read_text() == "old readout"
    assert sorted(p.name for p in report.parent.iterdir()) == ["readout.html"]  # no temp left

    monkeypatch.undo()
    code, _, err = run(db, *ANALYZE, "--report", report)
    assert code == 0, err
    assert report.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in report.parent.iterdir()) == ["readout.html"]


def _results(database: Path, experiment: str = EXPERIMENT) -> list[tuple]:
    return rows_of(
        database,
        "select metric, variant, p_value, decision from experiment_results "
        "where experiment_id = ? order by metric",
        [experiment],
    )


def _metric_set_b(raw) -> None:
    experiment = raw["experiments"][EXPERIMENT]
    experiment["secondary"] = ["saver_rate"]
    experiment["diagnostics"] = []


def _only_plain_means(raw) -> None:
    experiment = raw["experiments"][EXPERIMENT]
    experiment.update(primary="hides_per_user", primary_direction="decrease", secondary=[])
    experiment["guardrails"] = []
    experiment["diagnostics"] = []


def test_write_replaces_this_experiments_rows_only(run, db, tmp_path, reference) -> None:
    other = [("exp_other", "m", "treatment")]
    sql(db, "create table experiment_results (experiment_id varchar, metric varchar, "
        "variant varchar)")  # fmt: skip
    with duckdb.connect(str(db)) as con:
        con.executemany("insert into experiment_results values (?, ?, ?)", other)
    code, _, err = run(db, *ANALYZE, "--write")
    assert code == 0, err
    a = _results(db)
    assert len(a) == len(reference["results"]) == RESULTS
    code, _, err = run(db, *ANALYZE, "--write", "--config", _config(tmp_path, _metric_set_b))
    assert code == 0, err
    b = _results(db)
    assert [row[0] for row in b] == ["ctr", "hides_per_user", "saver_rate"]
    kept = rows_of(db, "select experiment_id, metric, variant from experiment_results "
                   "where experiment_id = 'exp_other'")  # fmt: skip
    assert kept == other


def test_write_adds_columns_an_older_table_lacks(run, db) -> None:
    sql(
        db,
        "create table experiment_results (experiment_id varchar, metric varchar, p_value double)",
        "insert into experiment_results values ('exp_old', 'ctr', 0.5)",
    )
    code, _, err = run(db, *ANALYZE, "--write")
    assert code == 0, err
    listed = "select column_name from information_schema.columns where table_name = ?"
    columns = {name for (name,) in rows_of(db, listed, ["experiment_results"])}
    assert columns == {name for name, _ in result_columns()}
    assert rows_of(db, "select metric, p_value, decision from experiment_results "
                   "where experiment_id = 'exp_old'") == [("ctr", 0.5, None)]  # fmt: skip
    assert len(_results(db)) == RESULTS


def test_write_schema_is_fixed_even_when_a_column_is_all_null(run, db, tmp_path) -> None:
    code, _, err = run(db, *ANALYZE, "--write", "--config", _config(tmp_path, _only_plain_means))
    assert code == 0, err
    assert rows_of(db, "select count(*), count(denominator), count(variance_reduction) "
                   "from experiment_results") == [(1, 0, 0)]  # fmt: skip
    types = dict(rows_of(db, "select column_name, data_type from information_schema.columns "
                         "where table_name = 'experiment_results'"))  # fmt: skip
    spelled = {"text": "VARCHAR", "double": "DOUBLE", "bigint": "BIGINT", "boolean": "BOOLEAN"}
    assert types == {name: spelled[kind] for name, kind in result_columns()}


@pytest.mark.parametrize("failure", ["bug", "database_error"])
def test_a_failed_write_keeps_the_old_rows(run, db, monkeypatch, failure) -> None:
    code, _, _ = run(db, *ANALYZE, "--write")
    assert code == 0
    before = _results(db)

    def broken_insert(self, relation, names, rows):
        if failure == "bug":
            raise RuntimeError("injected half-way through the write")
        raise duckdb.IOException("injected: disk full")

    monkeypatch.setattr(DuckDBWarehouse, "_insert_rows", broken_insert)
    code, _, err = run(db, *ANALYZE, "--write")
    if failure == "bug":
        assert code == 1
        line = one_line(err, "internal error: RuntimeError: injected")
        Path(line.split("traceback saved to ")[1].split(";")[0]).unlink()
    else:
        assert code == 4
        one_line(err, "could not write experiment_results", "nothing was changed")
    assert _results(db) == before


# --------------------------------------------------------------------------------------------
# 7. --fail-on gates; 8. JSON


def _srm_broken(database: Path) -> None:
    dropped = (
        "select user_id from fct_experiment_assignments where variant = 'treatment' "
        "order by user_id limit 60"
    )
    sql(
        database,
        # from every mart that holds them, as a build with fewer treatment users would
        f"delete from fct_experiment_user_daily_metrics where user_id in ({dropped})",
        f"delete from fct_experiment_user_metrics where user_id in ({dropped})",
        f"delete from fct_experiment_assignments where user_id in ({dropped})",
    )


def _clicks_above_impressions(database: Path) -> None:
    """20 shown users with one click more than impressions, in the user mart and (on their
    first day, and in every running total) the daily mart alike, as a build would have them."""
    damaged = (
        "select experiment_id, user_id, impressions + 1 - clicks as more from "
        "fct_experiment_user_metrics where impressions > 0 order by user_id limit 20"
    )
    sql(
        database,
        "update fct_experiment_user_daily_metrics as d set "
        "clicks = d.clicks + case when d.user_day_number = 1 then m.more else 0 end, "
        f"clicks_to_date = d.clicks_to_date + m.more from ({damaged}) as m "
        "where d.experiment_id = m.experiment_id and d.user_id = m.user_id",
        "update fct_experiment_user_metrics as u set clicks = u.impressions + 1 "
        f"from ({damaged}) as m where u.experiment_id = m.experiment_id and u.user_id = m.user_id",
    )


@pytest.mark.parametrize(
    ("gates", "damage", "code", "needle"),
    [
        ("srm", None, 0, None),
        ("srm", _srm_broken, 5, "srm (sample ratio mismatch"),
        ("no-ship", None, 5, "no-ship (the decision is 'inconclusive')"),
        ("guardrail", None, 5, "guardrail (hides_per_user on treatment inconclusive)"),
        ("validation-warning", None, 0, None),
        ("validation-warning", _clicks_above_impressions, 5, "validation-warning (clicks >"),
        ("srm,validation-warning", None, 0, None),
    ],
    ids=[
        "srm_passes",
        "srm_trips",
        "no_ship_trips",
        "guardrail_trips",
        "validation_warning_passes",
        "validation_warning_trips",
        "two_gates_pass",
    ],
)
def test_fail_on_gate(run, db, gates, damage, code, needle) -> None:
    if damage is not None:
        damage(db)
    returned, out, err = run(db, *ANALYZE, "--format", "json", "--fail-on", gates)
    assert returned == code
    strict_json(out)  # the readout printed before the gate's verdict
    if needle is None:
        assert err == ""
    else:
        one_line(err, "--fail-on gate tripped", needle)


def test_json_readout_has_no_nan_even_when_a_value_is_not_finite(reference, ready_db) -> None:
    handle = DuckDBWarehouse(ready_db)
    try:
        readout = analyze(handle, load_config(), EXPERIMENT, bootstrap_resamples=200)
    finally:
        handle.close()
    broken = [dataclasses.replace(r, rel_lift=float("nan"), p_value=float("inf"))
              for r in readout.results]  # fmt: skip
    srm = dataclasses.replace(readout.srm, statistic=float("nan"))
    payload = strict_json(
        cli._json(dataclasses.replace(readout, results=broken, srm=srm).to_dict())
    )
    assert payload["results"][0]["rel_lift"] is None and payload["srm"]["statistic"] is None


def test_result_rows_have_exactly_the_fixed_columns(reference, ready_db) -> None:
    handle = DuckDBWarehouse(ready_db)
    try:
        readout = analyze(handle, load_config(), EXPERIMENT, bootstrap_resamples=200)
    finally:
        handle.close()
    names = [name for name, _ in result_columns()]
    assert all(list(row) == names for row in result_rows(readout))


# --------------------------------------------------------------------------------------------
# Postgres: the same build checks and --write transaction (a throwaway server, .ci/with-postgres)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory) -> dict[str, str]:
    if shutil.which("initdb") is None:
        pytest.skip("no PostgreSQL server binaries (initdb)")
    work = tmp_path_factory.mktemp("postgres")
    environment, stop = work / "environment", work / "stop"
    script = (
        f"env | grep ^METRICBOOK_PG_ > {environment}.tmp && mv {environment}.tmp {environment}; "
        f"while [ ! -e {stop} ]; do sleep 0.2; done"
    )
    server = subprocess.Popen(
        [str(REPO_ROOT / ".ci" / "with-postgres"), "bash", "-c", script],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not environment.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"could not start PostgreSQL: {server.stderr.read()[-2000:]}")
            time.sleep(0.2)
        settings = dict(line.split("=", 1) for line in environment.read_text().splitlines())
        yield settings
    finally:
        stop.touch()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture()
def pg(postgres, monkeypatch, request) -> PostgresWarehouse:
    """A connection to a fresh schema of the throwaway server (the profile's env set)."""
    schema = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:50]
    for name, value in {**postgres, "METRICBOOK_PG_SCHEMA": schema}.items():
        monkeypatch.setenv(name, value)
    handle = PostgresWarehouse(profile_target("postgres"))
    handle.execute(f'drop schema if exists "{schema}" cascade')
    handle.execute(f'create schema "{schema}"')
    yield handle
    handle.close()


def _pg_build_log(pg: PostgresWarehouse, invocations: list[tuple[str, datetime, list]]) -> None:
    log = pg.relation("metricbook_build_log")
    pg.execute(f"create table {log} (invocation_id text, command text, started_at timestamp, "
               "logged_at timestamp, node text, node_path text, status text)")  # fmt: skip
    for mart in queries.MARTS:
        pg.execute(f"create table {pg.relation(mart)} (experiment_id text)")
    for command, started, rows in invocations:
        invocation = str(uuid.uuid4())
        for index, (node, path, status) in enumerate(rows):
            pg.execute(
                f"insert into {log} values (%(i)s, %(c)s, %(s)s, %(l)s, %(n)s, %(p)s, %(t)s)",
                {"i": invocation, "c": command, "s": started,
                 "l": started + timedelta(seconds=index), "n": node, "p": path, "t": status},
            )  # fmt: skip


def test_postgres_never_built_schema_is_exit_4(run, pg) -> None:
    code, _, err = run(None, *ANALYZE, "--target", "postgres")
    assert code == 4
    one_line(err, pg.schema, "never built")


@pytest.mark.parametrize(
    ("invocations", "needle"),
    [
        ([("build", later(0), [STARTED, *MARTS, SUCCEEDED]), ("build", later(5), [STARTED])],
         "never finished"),
        ([("build", later(0), [STARTED, *MARTS, SUCCEEDED]),
          ("run", later(5), [STARTED, ("stg_events", "models/staging/stg_events.sql", "success"),
                             SUCCEEDED])],
         "is stale: stg_events"),
        ([("build", later(0), [STARTED, *MARTS, FAILED])], "failed"),
    ],
    ids=["killed", "stale", "failed"],
)  # fmt: skip
def test_postgres_build_log_is_read_the_same_way(run, pg, invocations, needle) -> None:
    _pg_build_log(pg, invocations)
    code, _, err = run(None, *ANALYZE, "--target", "postgres")
    assert code == 4
    one_line(err, pg.schema, needle)


def _pg_results(pg: PostgresWarehouse) -> list[tuple]:
    frame = pg.frame(
        f"select experiment_id, metric, p_value from {pg.relation('experiment_results')} "
        "order by experiment_id, metric"
    )
    return [tuple(row) for row in frame.itertuples(index=False)]


def test_postgres_write_is_one_transaction(pg, ready_db, monkeypatch) -> None:
    handle = DuckDBWarehouse(ready_db)
    try:
        readout = analyze(handle, load_config(), EXPERIMENT, bootstrap_resamples=200)
    finally:
        handle.close()
    relation = pg.relation("experiment_results")
    pg.execute(f"create table {relation} (experiment_id text, metric text, p_value float8)")
    pg.execute(f"insert into {relation} values ('exp_other', 'm', 0.5)")
    rows = result_rows(readout)
    where = {"experiment_id": EXPERIMENT}
    pg.write_rows("experiment_results", result_columns(), rows, where)  # adds the columns
    pg.write_rows("experiment_results", result_columns(), rows[:3], where)  # metric set B
    after_b = _pg_results(pg)
    assert len(after_b) == 4 and ("exp_other", "m", 0.5) in after_b
    assert set(pg.column_types("experiment_results")) == {n for n, _ in result_columns()}

    def broken_insert(self, cursor, relation, names, rows):
        raise RuntimeError("injected half-way through the write")

    monkeypatch.setattr(PostgresWarehouse, "_insert_rows", broken_insert)
    with pytest.raises(RuntimeError):
        pg.write_rows("experiment_results", result_columns(), rows, where)
    assert _pg_results(pg) == after_b
