"""The engagement marts equal their pandas mirrors, on the seeds and on the alternate data."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from metricbook.mirrors import engagement


def _read(database: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.sql(sql).df()


@pytest.mark.parametrize("which", ["seeds_db", "alternate_db"])
def test_fct_active_users_equals_pandas_mirror(which: str, request: pytest.FixtureRequest) -> None:
    database = request.getfixturevalue(which)
    events = _read(database, "select event_id, user_id, event_date from stg_events")
    expected = engagement.active_users(engagement.user_active_days(events))
    actual = _read(database, "select * from fct_active_users order by activity_date")
    actual["activity_date"] = pd.to_datetime(actual["activity_date"]).dt.date
    for column in ("dau", "wau", "mau"):
        actual[column] = actual[column].astype("int64")
        expected[column] = expected[column].astype("int64")
    assert len(actual) > 30
    assert_frame_equal(actual, expected, check_dtype=False)


@pytest.mark.parametrize("which", ["seeds_db", "alternate_db"])
def test_int_user_active_days_equals_pandas_mirror(
    which: str, request: pytest.FixtureRequest
) -> None:
    database = request.getfixturevalue(which)
    events = _read(database, "select event_id, user_id, event_date from stg_events")
    expected = engagement.user_active_days(events).sort_values(["user_id", "activity_date"])
    actual = _read(database, "select * from int_user_active_days order by user_id, activity_date")
    assert_frame_equal(
        actual.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )


def test_summing_dau_overstates_wau(seeds_db: Path) -> None:
    """The pitfall, measured: a 7-day sum of DAU counts returning users once per day."""
    frame = _read(seeds_db, "select dau, wau from fct_active_users order by activity_date")
    summed = frame["dau"].rolling(7, min_periods=1).sum()
    assert (summed >= frame["wau"]).all()
    assert (summed > frame["wau"] * 1.5).mean() > 0.5
