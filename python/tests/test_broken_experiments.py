"""A broken experiment is excluded with its reason, not fatal: the shipped seeds plus one
experiment of each broken kind build with exit 0 (a warning), each broken one is in
dim_experiments with its exclusion_reason and in no experiment mart, and the healthy seed
experiment's readout table is what it is without them.

The broken rows are appended to a copy of the seeds only (seeds/manifest.json describes the
shipped seeds, so it is not compared here)."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import copy_project
from pandas.testing import assert_frame_equal
from test_mart_mirrors import assert_mart_equals_mirror

from metricbook.checks.mirrors import experiments as experiment_mirrors
from metricbook.warehouse.dbt_runner import run_dbt

pytestmark = pytest.mark.build

HEALTHY = "exp_home_feed_ranking_v2"
START, END = "2024-03-25T00:00:00Z", "2024-04-07T23:59:59Z"
EXPERIMENT_MARTS = [
    "fct_experiment_assignments",
    "fct_experiment_excluded_users",
    "fct_experiment_user_metrics",
    "fct_experiment_exposures",
    "fct_experiment_user_daily_metrics",
]
# exclusion_reason -> (experiment_id, its variants as (variant, is_control, traffic_share))
BROKEN = {
    "no_variants": ("exp_broken_no_variants", []),
    "single_variant": ("exp_broken_single_variant", [("control", "true", "1.0")]),
    "no_control": ("exp_broken_no_control", [("a", "false", "0.5"), ("b", "false", "0.5")]),
    "several_controls": (
        "exp_broken_two_controls",
        [("control", "true", "0.5"), ("control_b", "true", "0.5")],
    ),
    "traffic_shares_do_not_sum_to_one": (
        "exp_broken_shares_090",
        [("control", "true", "0.45"), ("treatment", "false", "0.45")],
    ),
    # rejected in staging; its variants and assignments are then rejected as unknown_experiment
    "end_not_after_start": (
        "exp_broken_ends_before_start",
        [("control", "true", "0.5"), ("treatment", "false", "0.5")],
    ),
}
# users of the healthy experiment, so the broken ones share users with it
USERS = ["u0001", "u0002", "u0003", "u0004"]


def _append(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open(newline="") as f:
        columns = next(csv.reader(f))
    with path.open("a", newline="") as f:
        csv.DictWriter(f, fieldnames=columns, lineterminator="\n").writerows(rows)


def _plant_broken_experiments(seeds: Path) -> None:
    experiments, variants, assignments = [], [], []
    for reason, (experiment_id, arms) in BROKEN.items():
        start, end = (END, START) if reason == "end_not_after_start" else (START, END)
        experiments.append({"experiment_id": experiment_id, "start_at": start, "end_at": end})
        for variant, is_control, share in arms:
            variants.append(
                {
                    "experiment_id": experiment_id,
                    "variant": variant,
                    "is_control": is_control,
                    "traffic_share": share,
                }
            )
        # a few in-window assignments, round-robin over the declared arms
        names = [arm[0] for arm in arms] or ["control"]
        for i, user_id in enumerate(USERS):
            assignments.append(
                {
                    "experiment_id": experiment_id,
                    "user_id": user_id,
                    "variant": names[i % len(names)],
                    "assigned_at": f"2024-03-2{6 + i}T10:00:00Z",
                }
            )
    _append(seeds / "raw_experiments.csv", experiments)
    _append(seeds / "raw_experiment_variants.csv", variants)
    _append(seeds / "raw_experiment_assignments.csv", assignments)


@pytest.fixture(scope="module")
def broken_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The shipped seeds plus the broken experiments, built; (project, dbt output)."""
    project = copy_project(tmp_path_factory.mktemp("broken_experiments") / "project")
    _plant_broken_experiments(project / "seeds")
    result = run_dbt(
        ["build", "--target-path", str(project / "target")],
        project_dir=project,
        duckdb_path=project / "metricbook.duckdb",
    )
    assert result.ok, result.output[-6000:]
    return project, result.output


@pytest.fixture(scope="module")
def broken_db(broken_build: tuple[Path, str]) -> Path:
    return broken_build[0] / "metricbook.duckdb"


def _read(database: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql, params or []).df()


def test_broken_experiments_are_a_warning_not_an_error(broken_build: tuple[Path, str]) -> None:
    _, output = broken_build
    assert re.search(rf"WARN {len(BROKEN)}\b[^\n]*warn_excluded_experiments", output), output[
        -3000:
    ]
    assert re.search(r"PASS[^\n]*assert_each_experiment_has_one_control_and_full_traffic", output)


@pytest.mark.parametrize("reason", list(BROKEN))
def test_broken_experiment_is_excluded_with_its_reason(broken_db: Path, reason: str) -> None:
    experiment_id, _ = BROKEN[reason]
    row = _read(
        broken_db,
        "select is_analyzable, exclusion_reason from dim_experiments where experiment_id = ?",
        [experiment_id],
    )
    assert row.to_dict("records") == [{"is_analyzable": False, "exclusion_reason": reason}]
    # the warning's stored rows name it too
    listed = _read(
        broken_db,
        "select exclusion_reason from main_dbt_test__audit.warn_excluded_experiments "
        "where experiment_id = ?",
        [experiment_id],
    )
    assert listed["exclusion_reason"].tolist() == [reason]


@pytest.mark.parametrize("reason", list(BROKEN))
def test_broken_experiment_has_no_rows_in_the_experiment_marts(
    broken_db: Path, reason: str
) -> None:
    experiment_id, _ = BROKEN[reason]
    rows = {
        mart: len(
            _read(broken_db, f"select 1 from {mart} where experiment_id = ?", [experiment_id])
        )
        for mart in EXPERIMENT_MARTS
    }
    assert rows == dict.fromkeys(EXPERIMENT_MARTS, 0)


def test_healthy_experiment_is_analyzable_and_unchanged(broken_db: Path, seeds_db: Path) -> None:
    analyzable = _read(broken_db, "select experiment_id from dim_experiments where is_analyzable")
    assert analyzable["experiment_id"].tolist() == [HEALTHY]
    sql = (
        "select * from fct_experiment_user_metrics where experiment_id = ? "
        "order by experiment_id, user_id"
    )
    expected = _read(seeds_db, sql, [HEALTHY])
    assert len(expected) > 100
    assert_frame_equal(_read(broken_db, sql, [HEALTHY]), expected)


def test_dim_experiments_equals_mirror_on_the_broken_kinds(broken_db: Path) -> None:
    staged = {
        table: _read(broken_db, f"select * from {table}")
        for table in ["stg_experiments", "stg_experiments__rejects", "stg_experiment_variants"]
    }
    expected = experiment_mirrors.checks(
        staged["stg_experiments"],
        staged["stg_experiments__rejects"],
        staged["stg_experiment_variants"],
    )
    actual = _read(broken_db, "select * from dim_experiments")
    assert set(actual["exclusion_reason"].dropna()) == set(BROKEN)
    assert_mart_equals_mirror(actual, expected, ["experiment_id"])


def test_a_leaked_experiment_fails_containment_and_names_itself(
    broken_build: tuple[Path, str], tmp_path: Path
) -> None:
    """The containment test can fail: a broken experiment's row forced into a mart makes it an
    error whose stored rows say which experiment, which mart and which rule."""
    project, _ = broken_build
    database = tmp_path / "leaked.duckdb"
    shutil.copy(project / "metricbook.duckdb", database)
    leaked, _ = BROKEN["no_control"]
    with duckdb.connect(str(database)) as con:
        con.execute(
            "insert into fct_experiment_assignments "
            "select ?, 'u0001', 'a', timestamp '2024-03-26 10:00:00'",
            [leaked],
        )
    test_name = "assert_each_experiment_has_one_control_and_full_traffic"
    result = run_dbt(
        ["test", "--select", test_name, "--target-path", str(tmp_path / "target")],
        project_dir=project,
        duckdb_path=database,
    )
    assert not result.ok
    assert re.search(rf"FAIL 1\b[^\n]*{test_name}", result.output), result.output[-3000:]
    stored = _read(database, f"select * from main_dbt_test__audit.{test_name}")
    assert stored[["experiment_id", "mart", "exclusion_reason", "broken_rule"]].to_dict(
        "records"
    ) == [
        {
            "experiment_id": leaked,
            "mart": "fct_experiment_assignments",
            "exclusion_reason": "no_control",
            "broken_rule": "only_analyzable_experiments_in_marts",
        }
    ]
