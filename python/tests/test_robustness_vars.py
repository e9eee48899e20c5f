"""Vars a user passes with --vars reach SQL only as what they claim to be: a malformed one stops
the compile with one line naming the var (macros/vars/), before any SQL runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import copy_project

from metricbook.warehouse.dbt_runner import run_dbt

pytestmark = pytest.mark.build

CASES = [
    ("top_n", '"3; drop table x"', "fct_top_categories"),
    ("top_n", "0", "fct_top_categories"),
    ("top_n", "true", "fct_top_categories"),
    ("retention_day_numbers", "[1, true]", "fct_retention"),
    ("retention_day_numbers", "[]", "fct_retention"),
    ("retention_day_numbers", "[7, 7]", "fct_retention"),
    ("retention_as_of_date", '"2024-02-30"', "fct_retention"),
    ("calendar_start", '"yesterday"', "int_calendar_days"),
    ("timestamp_floor", '"2000-01-01; drop table x"', "base_users"),
    ("future_tolerance_minutes", "-5", "base_users"),
    ("future_tolerance_minutes", "1.5", "base_users"),
    ("max_amount_usd", '"1e9"', "base_transactions"),
    ("experiment_pre_period_days", "-1", "fct_experiment_user_metrics"),
    ("new_user_days", "0", "fct_experiment_user_metrics"),
    ("new_user_days", '"7 or 1=1"', "fct_experiment_user_metrics"),
    ("late_data_lookback_days", "99999", "stg_events"),
    ("session_gap_minutes", "0", "fct_sessions"),
    ("session_gap_minutes", "2.5", "fct_sessions"),
    ("session_gap_minutes", '"30 or 1=1"', "fct_sessions"),
    ("session_gap_minutes", ".inf", "fct_sessions"),
    ("top_n", ".nan", "fct_top_categories"),
    ("retention_day_numbers", "[1, .inf]", "fct_retention"),
    ("ranking_cutoffs", "[3, 3]", "fct_ranker_offline_eval"),
    ("ranking_cutoffs", "[0]", "int_request_ranking_metrics"),
    ("ranking_cutoffs", '"3"', "fct_request_ranking"),
    ("ranking_cutoffs", "[3, .inf]", "fct_request_ranking"),
    # well formed, but NDCG@10 in the experiment readout needs 10 among them
    ("ranking_cutoffs", "[3, 5]", "fct_experiment_user_metrics"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("vars") / "project")


@pytest.mark.parametrize(("name", "value", "model"), CASES, ids=[f"{n}={v}" for n, v, _ in CASES])
def test_a_malformed_var_stops_the_compile_naming_it(
    name: str, value: str, model: str, project: Path, tmp_path: Path
) -> None:
    result = run_dbt(
        ["compile", "--select", model, "--vars", f"{{{name}: {value}}}",
         "--target-path", str(tmp_path / "target")],
        project_dir=project,
        duckdb_path=tmp_path / "unused.duckdb",
    )  # fmt: skip
    assert not result.ok
    assert f"var {name} must be" in result.output, result.output[-2000:]
