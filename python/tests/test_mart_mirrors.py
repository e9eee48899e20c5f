"""Every mart equals its pandas mirror, on the shipped seeds and on the alternate data set.

The mirrors start from the staged tables (themselves checked against the seed manifest), so a
mart and its mirror share nothing but the definition in the YAML.
"""

from __future__ import annotations

import decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from metricbook.checks.mirrors import (
    causal,
    content,
    engagement,
    experiments,
    ranking,
    retention,
    revenue,
)

DATABASES = ["seeds_db", "alternate_db"]


def _read(database: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.sql(sql).df()


def _normalised(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Engine- and pandas-neutral types: dates as datetime64, numbers as float, text as str."""
    result = frame.copy()
    for column in result.columns:
        values = result[column]
        sample = values.dropna()
        first = sample.iloc[0] if len(sample) else None
        if pd.api.types.is_bool_dtype(values) or isinstance(first, bool | np.bool_):
            result[column] = values.astype(bool)
        elif pd.api.types.is_datetime64_any_dtype(values) or hasattr(first, "isoformat"):
            result[column] = pd.to_datetime(values).astype("datetime64[us]")
        elif pd.api.types.is_numeric_dtype(values) or isinstance(first, decimal.Decimal):
            result[column] = values.astype("float64")
        else:
            # one spelling of missing text on both sides (None, NaN and pd.NA all become None)
            result[column] = (
                values.astype(object)
                .where(values.notna(), None)
                .map(lambda value: value if value is None else str(value))
            )
    return result.sort_values(keys).reset_index(drop=True)


def assert_mart_equals_mirror(actual: pd.DataFrame, expected: pd.DataFrame, keys: list[str]):
    assert len(actual) > 0, "the mart is empty: nothing was compared"
    assert sorted(actual.columns) == sorted(expected.columns)
    assert_frame_equal(
        _normalised(actual, keys),
        _normalised(expected[list(actual.columns)], keys),
        check_exact=False,
        rtol=1e-12,
    )


@pytest.fixture(scope="module", params=DATABASES)
def database(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def staged(database: Path) -> dict[str, pd.DataFrame]:
    tables = [
        "stg_events",
        "stg_users",
        "stg_pins",
        "stg_transactions",
        "stg_ranker_scores",
        "stg_launches",
    ]
    return {table: _read(database, f"select * from {table}") for table in tables}


def test_int_user_active_days_equals_mirror(database: Path, staged) -> None:
    assert_mart_equals_mirror(
        _read(database, "select * from int_user_active_days"),
        engagement.user_active_days(staged["stg_events"]),
        ["user_id", "activity_date"],
    )


def test_int_creator_impression_ranks_equals_mirror(database: Path, staged) -> None:
    actual = _read(database, "select * from int_creator_impression_ranks")
    assert actual["is_top_creator"].sum() >= 1
    assert_mart_equals_mirror(
        actual,
        engagement.creator_impression_ranks(staged["stg_events"], staged["stg_pins"]),
        ["creator_id"],
    )


def test_fct_user_diversity_equals_mirror(database: Path, staged) -> None:
    ranks = engagement.creator_impression_ranks(staged["stg_events"], staged["stg_pins"])
    assert_mart_equals_mirror(
        _read(database, "select * from fct_user_diversity"),
        engagement.user_diversity(staged["stg_events"], staged["stg_pins"], ranks),
        ["user_id"],
    )


def test_dim_users_equals_mirror(database: Path, staged) -> None:
    assert_mart_equals_mirror(
        _read(database, "select * from dim_users"),
        engagement.users(staged["stg_users"]),
        ["user_id"],
    )


def test_fct_sessions_equals_mirror(database: Path, staged) -> None:
    actual = _read(database, "select * from fct_sessions")
    expected = engagement.sessions(staged["stg_events"])
    started = pd.to_datetime(actual["session_date"])
    assert (started != actual["session_end"].dt.normalize()).any(), (
        "the data should hold a session that crosses UTC midnight"
    )
    assert_mart_equals_mirror(actual, expected, ["session_id"])


def test_fct_engagement_funnel_equals_mirror(database: Path, staged) -> None:
    assert_mart_equals_mirror(
        _read(database, "select * from fct_engagement_funnel"),
        engagement.engagement_funnel(staged["stg_events"]),
        ["activity_date", "surface"],
    )


def test_fct_position_ctr_equals_mirror(database: Path, staged) -> None:
    assert_mart_equals_mirror(
        _read(database, "select * from fct_position_ctr"),
        engagement.position_ctr(staged["stg_events"]),
        ["surface", "feed_position"],
    )


def test_fct_active_users_equals_mirror(database: Path, staged) -> None:
    expected = engagement.active_users(engagement.user_active_days(staged["stg_events"]))
    actual = _read(database, "select * from fct_active_users")
    assert len(actual) > 30
    assert_mart_equals_mirror(actual, expected, ["activity_date"])


def test_fct_retention_equals_mirror(database: Path, staged) -> None:
    expected = retention.retention(
        staged["stg_users"], engagement.user_active_days(staged["stg_events"])
    )
    actual = _read(database, "select * from fct_retention")
    # both mature and immature rows are compared, not just one kind
    assert actual["is_mature"].any() and not actual["is_mature"].all()
    assert_mart_equals_mirror(actual, expected, ["cohort_date", "day_number"])


def _pin_saves(staged: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return content.weekly_pin_saves(staged["stg_events"], staged["stg_pins"], staged["stg_users"])


def test_int_weekly_pin_saves_equals_mirror(database: Path, staged) -> None:
    expected = content.weekly_pin_saves(
        staged["stg_events"], staged["stg_pins"], staged["stg_users"]
    )
    actual = _read(database, "select * from int_weekly_pin_saves")
    assert (actual["save_events"] > 1).any(), "no repeated save: the trap is missing"
    assert_mart_equals_mirror(actual, expected, ["week_start", "user_id", "pin_id"])


def test_fct_category_overlap_equals_mirror(database: Path, staged) -> None:
    assert_mart_equals_mirror(
        _read(database, "select * from fct_category_overlap"),
        content.category_overlap(_pin_saves(staged)),
        ["category_a", "category_b"],
    )


def test_fct_category_rankings_equals_mirror(database: Path, staged) -> None:
    actual = _read(database, "select * from fct_category_rankings")
    assert (actual["rank_standard"] != actual["rank_row_number"]).any(), "no tie was compared"
    assert_mart_equals_mirror(
        actual, content.category_rankings(_pin_saves(staged)), ["week_start", "country", "category"]
    )


def test_fct_top_categories_equals_mirror(database: Path, staged) -> None:
    # the shipped vars: top 3 by row_number
    assert_mart_equals_mirror(
        _read(database, "select * from fct_top_categories"),
        content.top_categories(content.category_rankings(_pin_saves(staged))),
        ["week_start", "country", "category"],
    )


def test_fct_user_ctr_equals_mirror(database: Path, staged) -> None:
    assert_mart_equals_mirror(
        _read(database, "select * from fct_user_ctr"),
        engagement.user_ctr(staged["stg_events"]),
        ["user_id"],
    )


def test_fct_ctr_summary_equals_mirror(database: Path, staged) -> None:
    assert_mart_equals_mirror(
        _read(database, "select * from fct_ctr_summary"),
        engagement.ctr_summary(engagement.user_ctr(staged["stg_events"])),
        ["population"],
    )


def test_fct_daily_revenue_equals_mirror(database: Path, staged) -> None:
    assert_mart_equals_mirror(
        _read(database, "select * from fct_daily_revenue"),
        revenue.daily_revenue(
            staged["stg_transactions"], engagement.user_active_days(staged["stg_events"])
        ),
        ["revenue_date"],
    )


def _unit_daily_metrics(staged) -> pd.DataFrame:
    return causal.unit_daily_metrics(
        staged["stg_events"], staged["stg_users"], staged["stg_transactions"]
    )


def test_fct_unit_daily_metrics_equals_mirror(database: Path, staged) -> None:
    assert_mart_equals_mirror(
        _read(database, "select * from fct_unit_daily_metrics"),
        _unit_daily_metrics(staged),
        ["unit_type", "unit", "metric_date"],
    )


def test_fct_launch_panel_equals_mirror(database: Path, staged) -> None:
    actual = _read(database, "select * from fct_launch_panel")
    expected = causal.launch_panel(staged["stg_launches"], _unit_daily_metrics(staged))
    if staged["stg_launches"].empty:
        # a data set whose launches were all rejected (or that has none): no panel on either side
        assert actual.empty and expected.empty
        return
    assert_mart_equals_mirror(actual, expected, ["launch_id", "unit", "metric_date"])


@pytest.fixture(scope="module")
def staged_experiments(database: Path) -> dict[str, pd.DataFrame]:
    tables = [
        "stg_experiment_assignments",
        "stg_experiments",
        "stg_experiments__rejects",
        "stg_experiment_variants",
    ]
    return {table: _read(database, f"select * from {table}") for table in tables}


def _experiment_checks(staged_experiments: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return experiments.checks(
        staged_experiments["stg_experiments"],
        staged_experiments["stg_experiments__rejects"],
        staged_experiments["stg_experiment_variants"],
    )


@pytest.mark.parametrize("model", ["int_experiment_checks", "dim_experiments"])
def test_experiment_checks_equal_mirror(database: Path, staged_experiments, model: str):
    # the broken kinds are compared in test_broken_experiments.py; here the healthy seeds
    actual = _read(database, f"select * from {model}")
    assert actual["is_analyzable"].any(), "no analyzable experiment was compared"
    assert_mart_equals_mirror(actual, _experiment_checks(staged_experiments), ["experiment_id"])


def test_int_experiment_user_assignments_equals_mirror(database: Path, staged_experiments):
    expected = experiments.user_assignments(
        staged_experiments["stg_experiment_assignments"], _experiment_checks(staged_experiments)
    )
    actual = _read(database, "select * from int_experiment_user_assignments")
    assert (actual["assignment_status"] != "assigned").any(), "no exclusion was compared"
    assert_mart_equals_mirror(actual, expected, ["experiment_id", "user_id"])


def test_fct_experiment_user_metrics_equals_mirror(database: Path, staged, staged_experiments):
    assigned = experiments.assignments(
        experiments.user_assignments(
            staged_experiments["stg_experiment_assignments"], _experiment_checks(staged_experiments)
        )
    )
    expected = experiments.user_metrics(
        assigned,
        staged_experiments["stg_experiments"],
        staged_experiments["stg_experiment_variants"],
        staged["stg_events"],
        staged["stg_transactions"],
        staged["stg_pins"],
        engagement.creator_impression_ranks(staged["stg_events"], staged["stg_pins"]),
        staged["stg_users"],
    )
    actual = _read(database, "select * from fct_experiment_user_metrics")
    assert (actual["impressions"] == 0).any(), "no inactive user was compared"
    assert {"new", "tenured"} <= set(actual["user_tenure"]), "a tenure segment is missing"
    assert_mart_equals_mirror(actual, expected, ["experiment_id", "user_id"])


def _assigned(staged_experiments: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return experiments.assignments(
        experiments.user_assignments(
            staged_experiments["stg_experiment_assignments"], _experiment_checks(staged_experiments)
        )
    )


def test_fct_experiment_exposures_equals_mirror(database: Path, staged, staged_experiments):
    expected = experiments.exposures(
        _assigned(staged_experiments), staged_experiments["stg_experiments"], staged["stg_events"]
    )
    actual = _read(database, "select * from fct_experiment_exposures")
    assert actual["surface"].nunique() > 1, "a single surface: per-surface exposure is untested"
    assert_mart_equals_mirror(actual, expected, ["experiment_id", "user_id", "surface"])


def test_fct_experiment_user_daily_metrics_equals_mirror(
    database: Path, staged, staged_experiments
):
    expected = experiments.user_daily_metrics(
        _assigned(staged_experiments),
        staged_experiments["stg_experiments"],
        staged["stg_events"],
        staged["stg_transactions"],
    )
    actual = _read(database, "select * from fct_experiment_user_daily_metrics")
    assert (actual["days_since_assignment"] > 0).any(), "only assignment days were compared"
    assert_mart_equals_mirror(actual, expected, ["experiment_id", "user_id", "metric_date"])


def test_fct_experiment_position_ctr_equals_mirror(database: Path, staged, staged_experiments):
    assigned = experiments.assignments(
        experiments.user_assignments(
            staged_experiments["stg_experiment_assignments"], _experiment_checks(staged_experiments)
        )
    )
    expected = experiments.position_ctr(
        assigned, staged_experiments["stg_experiments"], staged["stg_events"]
    )
    actual = _read(database, "select * from fct_experiment_position_ctr")
    assert actual["feed_position"].nunique() > 3
    assert_mart_equals_mirror(
        actual, expected, ["experiment_id", "variant", "surface", "feed_position"]
    )


def test_fct_request_ranking_equals_mirror(database: Path, staged) -> None:
    actual = _read(database, "select * from fct_request_ranking")
    assert actual["ndcg"].isna().any(), "no request without engagement was compared"
    assert (actual["served_items"] < actual["k"]).any(), "no request shorter than k was compared"
    assert_mart_equals_mirror(
        actual, ranking.request_ranking_mart(staged["stg_events"]), ["request_id", "k"]
    )


def test_fct_ranker_calibration_equals_mirror(database: Path, staged) -> None:
    actual = _read(database, "select * from fct_ranker_calibration")
    assert actual["model_id"].nunique() >= 2, "fewer than two candidate models were compared"
    assert_mart_equals_mirror(
        actual,
        ranking.ranker_calibration(staged["stg_events"], staged["stg_ranker_scores"]),
        ["model_id", "bin"],
    )


def test_fct_ranker_offline_eval_equals_mirror(database: Path, staged) -> None:
    actual = _read(database, "select * from fct_ranker_offline_eval")
    candidates = actual[actual["model_id"] != ranking.LOGGED]
    assert len(candidates) and (actual["model_id"] == ranking.LOGGED).any()
    assert (candidates["requests_unscored"] > 0).any(), "no unscored request was compared"
    assert_mart_equals_mirror(
        actual,
        ranking.ranker_offline_eval(staged["stg_events"], staged["stg_ranker_scores"]),
        ["model_id", "k"],
    )
