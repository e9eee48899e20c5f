"""The readout's fast path: one scan of the user mart feeds both the statistics and the
validation suite, and great-expectations is imported in a background thread while the first
queries run. Neither may change a result or an error."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest

from metricbook.readout import queries
from metricbook.readout.config import load_config
from metricbook.readout.readout import COUNT_COLUMNS, PRE_PERIOD_COLUMNS, analyze
from metricbook.readout.validation import summarise, summary_expressions
from metricbook.warehouse.connection import DuckDBWarehouse

EXPERIMENT = "exp_home_feed_ranking_v2"
PYTHON_DIR = Path(__file__).resolve().parents[1]

# Imports great-expectations through a finder that refuses it, recording which thread asked;
# then runs what argv[1] names. A script file, not `python -c`: under -c, pyspark (which
# great-expectations imports when it is installed) takes the process for a doctest run and
# exits 0 on import.
BLOCKED_IMPORT = """
import importlib.abc, sys, threading

asked = []

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "great_expectations" or name.startswith("great_expectations."):
            asked.append(threading.current_thread().name)
            raise ImportError("great_expectations is broken in this test")
        return None

sys.meta_path.insert(0, Refuse())
if sys.argv[1] == "validation":
    from metricbook.readout import validation

    validation.start_import()
    try:
        validation._great_expectations()
    except ImportError as error:
        print("raised:", error)
    print("asked by:", ",".join(asked))
else:
    from metricbook import cli

    code = cli.main(sys.argv[2:])
    print("asked by:", ",".join(asked))
    sys.exit(code)
"""


def _blocked(tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    script = tmp_path / "blocked_import.py"
    script.write_text(BLOCKED_IMPORT)
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PYTHON_DIR), **(env or {})},
        timeout=120,
    )


def test_a_failed_background_import_is_raised_by_the_foreground_one(tmp_path: Path) -> None:
    done = _blocked(tmp_path, "validation")
    assert done.returncode == 0, done.stderr
    assert "raised: great_expectations is broken in this test" in done.stdout
    # tried first in the background thread, then again (and raised) in the foreground
    asked = done.stdout.split("asked by: ")[1].splitlines()[0].split(",")
    assert asked[0] == "import great_expectations" and "MainThread" in asked


def _same(actual, expected) -> bool:
    if isinstance(expected, float) and isinstance(actual, float):
        if math.isnan(expected):
            return math.isnan(actual)
        return math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-15)
    if isinstance(expected, dict):
        return expected.keys() == actual.keys() and all(
            _same(actual[key], expected[key]) for key in expected
        )
    if isinstance(expected, list | tuple):
        return len(actual) == len(expected) and all(
            _same(a, e) for a, e in zip(actual, expected, strict=True)
        )
    return actual == expected


@pytest.fixture(scope="module")
def warehouse(seeds_db: Path):
    handle = DuckDBWarehouse(seeds_db)
    yield handle
    handle.close()


def test_one_scan_equals_the_separate_aggregate_and_summary_queries(warehouse) -> None:
    config = load_config()
    metrics = config.metrics_of(config.experiment(EXPERIMENT))
    columns = list(dict.fromkeys(c for m in metrics for c in m.columns))
    pairs = [p for m in metrics if m.kind != "quantile" for p in combinations(m.columns, 2)]
    counts = list(COUNT_COLUMNS)
    folded, summary = queries.variant_aggregates_with_summary(
        warehouse,
        EXPERIMENT,
        [*columns, *PRE_PERIOD_COLUMNS],
        pairs,
        summary_expressions(counts, warehouse.dialect),
    )
    separate = queries.variant_aggregates(warehouse, EXPERIMENT, columns, pairs)
    pre_period = queries.variant_aggregates(warehouse, EXPERIMENT, PRE_PERIOD_COLUMNS, [])
    assert folded.keys() == separate.keys() == pre_period.keys()
    for variant, aggregates in folded.items():
        assert aggregates.count == separate[variant].count
        for column in columns:
            assert _same(aggregates.mean_of(column), separate[variant].mean_of(column))
            assert _same(aggregates.var_of(column), separate[variant].var_of(column))
        for left, right in pairs:
            assert _same(aggregates.cov_of(left, right), separate[variant].cov_of(left, right))
        for column in PRE_PERIOD_COLUMNS:
            assert _same(aggregates.var_of(column), pre_period[variant].var_of(column))

    own, _ = summarise(warehouse, EXPERIMENT, counts)
    given, _ = summarise(warehouse, EXPERIMENT, counts, summary)
    by_variant = lambda frame: {  # noqa: E731
        row["variant"]: row for row in frame.to_dict("records")
    }
    assert list(own.columns) == list(given.columns)
    assert _same(by_variant(given), by_variant(own))
    assert list(own.dtypes) == list(given.dtypes)


def test_readout_from_one_scan_equals_the_readout_from_separate_queries(warehouse) -> None:
    """`aggregate=` anything but queries.variant_aggregates takes the path with separate
    queries (the benchmark's pandas mode): the readouts agree to the last few bits."""
    config = load_config()
    folded = analyze(warehouse, config, EXPERIMENT).to_dict()

    def separate(*args, **kwargs):
        return queries.variant_aggregates(*args, **kwargs)

    assert _same(analyze(warehouse, config, EXPERIMENT, aggregate=separate).to_dict(), folded)


def test_a_broken_great_expectations_is_one_line_from_analyze(
    tmp_path: Path, seeds_db: Path
) -> None:
    done = _blocked(
        tmp_path,
        "cli",
        "analyze",
        "--experiment",
        EXPERIMENT,
        env={"METRICBOOK_DUCKDB_PATH": str(seeds_db)},
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("metricbook: internal error: ImportError: great_expectations is")
    assert "Traceback" not in done.stderr
    assert "asked by: import great_expectations" in done.stdout


def test_cumulative_view_in_one_pass_equals_each_days_totals(seeds_db: Path) -> None:
    """cumulative_active_aggregates sums changes of running totals in one pass; the reference
    recomputes every active-so-far user's totals for each day of the daily mart in pandas."""
    import duckdb

    columns, pairs = ["clicks", "impressions", "saves"], [("clicks", "impressions")]
    result = queries.cumulative_active_aggregates(
        DuckDBWarehouse(seeds_db), EXPERIMENT, columns, pairs
    )
    with duckdb.connect(str(seeds_db), read_only=True) as con:
        daily = con.sql(
            "select d.* from fct_experiment_user_daily_metrics as d inner join "
            "fct_experiment_user_metrics as m using (experiment_id, user_id) "
            f"where d.experiment_id = '{EXPERIMENT}'"
        ).df()
        days = con.sql(
            "select distinct metric_date from fct_experiment_user_daily_metrics "
            f"where experiment_id = '{EXPERIMENT}' order by 1"
        ).df()["metric_date"]
    expected = 0
    for day in days:
        totals = daily[daily["metric_date"] <= day].groupby(["variant", "user_id"])[columns].sum()
        for variant, users in totals.astype(float).groupby(level="variant"):
            expected += 1
            got = result[(variant, queries._key_text(day))]
            assert got.count == len(users)
            for column in columns:
                assert got.mean[column] == pytest.approx(users[column].mean(), rel=1e-12)
                assert got.var[column] == pytest.approx(users[column].var(ddof=1), rel=1e-9)
            assert got.cov[pairs[0]] == pytest.approx(
                users["clicks"].cov(users["impressions"]), rel=1e-9
            )
    assert expected == len(result) > 10


def test_missing_users_come_from_fingerprints_and_the_join_only_when_they_differ(
    seeds_db: Path, tmp_path: Path
) -> None:
    """The same users: counted missing 0 by the fingerprint alone, no join issued. One
    assigned user swapped for another in the user mart (the same count, so a count check
    passes): the fingerprints differ and the join counts the one missing user."""
    import shutil

    import duckdb

    class Recording(DuckDBWarehouse):
        issued: list[str] = []

        def frame(self, sql, params=None):
            self.issued.append(sql)
            return super().frame(sql, params)

    def missing(database: Path) -> tuple[int, bool]:
        Recording.issued = []
        handle = Recording(database)
        try:
            _, totals = summarise(handle, EXPERIMENT, list(COUNT_COLUMNS))
        finally:
            handle.close()
        joined = any("left join" in sql for sql in Recording.issued)
        return int(totals["missing_users"].iloc[0]), joined

    assert missing(seeds_db) == (0, False)
    copy = tmp_path / "swapped.duckdb"
    shutil.copy(seeds_db, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "update main.fct_experiment_user_metrics set user_id = 'u_never_assigned' "
            "where experiment_id = ? and user_id = (select min(user_id) from "
            "main.fct_experiment_user_metrics where experiment_id = ?)",
            [EXPERIMENT, EXPERIMENT],
        )
    assert missing(copy) == (1, True)


def _analyze_json(tmp_path: Path, database: Path, cache: Path, blocked: bool = False):
    env = {"METRICBOOK_DUCKDB_PATH": str(database), "METRICBOOK_CACHE_DIR": str(cache)}
    args = ("cli", "analyze", "--experiment", EXPERIMENT, "--format", "json")
    if blocked:
        return _blocked(tmp_path, *args, env=env)
    return subprocess.run(
        [sys.executable, "-m", "metricbook.cli", *args[1:]],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PYTHON_DIR), **env},
        timeout=300,
    )


def _close(left, right) -> bool:
    """Equal JSON values, floats within 1e-9 relative (NaN equal to NaN) at any depth."""
    if isinstance(left, float) or isinstance(right, float):
        if not isinstance(left, int | float) or not isinstance(right, int | float):
            return False
        return (math.isnan(left) and math.isnan(right)) or math.isclose(
            left, right, rel_tol=1e-9, abs_tol=1e-12
        )
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_close(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_close, left, right))
    return left == right


def test_a_passing_validation_is_kept_and_reused_without_great_expectations(
    seeds_db: Path, tmp_path: Path
) -> None:
    """The second readout of unchanged data reads the kept result: great-expectations is not
    even imported (it is blocked, and nothing asks for it), and the readout is the same."""
    import json

    cache = tmp_path / "cache"
    first = _analyze_json(tmp_path, seeds_db, cache)
    assert first.returncode == 0, first.stderr
    assert len(list(cache.glob("validation-*.json"))) == 1
    second = _analyze_json(tmp_path, seeds_db, cache, blocked=True)
    assert second.returncode == 0, second.stderr
    readout = second.stdout.split("asked by:")[0]
    # the same readout, up to the last digits a parallel sum in the engine may change
    assert _close(json.loads(readout), json.loads(first.stdout))
    assert second.stdout.split("asked by:")[1].strip() == ""


def test_changed_data_a_corrupt_entry_or_a_failure_run_the_suite_again(
    seeds_db: Path, tmp_path: Path
) -> None:
    import shutil

    import duckdb

    cache = tmp_path / "cache"
    assert _analyze_json(tmp_path, seeds_db, cache).returncode == 0
    (entry,) = cache.glob("validation-*.json")
    # a corrupt entry is no entry: the suite runs (and asks for great-expectations)
    entry.write_text("{not json")
    corrupt = _analyze_json(tmp_path, seeds_db, cache, blocked=True)
    assert corrupt.returncode == 1 and "great_expectations is broken" in corrupt.stderr
    # other data: another key, the suite runs; a failed suite is never kept
    copy = tmp_path / "negative.duckdb"
    shutil.copy(seeds_db, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "update main.fct_experiment_user_metrics set clicks = -3 where user_id = 'u0002'"
        )
    for _ in range(2):
        failed = _analyze_json(tmp_path, copy, cache)
        assert failed.returncode == 3 and "clicks is never negative" in failed.stderr
    assert list(cache.glob("validation-*.json")) == [entry]


def test_an_unwritable_cache_is_no_cache(seeds_db: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    done = _analyze_json(tmp_path, seeds_db, blocker / "cache")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
