"""pandas mirror of the retention mart (see models/marts/retention/_retention__models.yml)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

DEFAULT_DAY_NUMBERS = (1, 7, 14, 30)


def retention(
    users: pd.DataFrame,
    active_days: pd.DataFrame,
    day_numbers: Sequence[int] = DEFAULT_DAY_NUMBERS,
    as_of_date: date | None = None,
) -> pd.DataFrame:
    """fct_retention from stg_users (user_id, signup_date) and int_user_active_days
    (user_id, activity_date): one row per (cohort_date, day_number)."""
    users = users.assign(signup_date=pd.to_datetime(users["signup_date"]))
    active = active_days.assign(activity_date=pd.to_datetime(active_days["activity_date"]))
    as_of = pd.Timestamp(as_of_date) if as_of_date else active["activity_date"].max()

    cohorts = (
        users.groupby("signup_date", as_index=False)
        .agg(cohort_users=("user_id", "nunique"))
        .rename(columns={"signup_date": "cohort_date"})
    )
    grid = cohorts.merge(pd.DataFrame({"day_number": list(day_numbers)}), how="cross")
    grid["retention_date"] = grid["cohort_date"] + pd.to_timedelta(grid["day_number"], unit="D")

    activity = users[["user_id", "signup_date"]].merge(active, on="user_id")
    activity["day_number"] = (activity["activity_date"] - activity["signup_date"]).dt.days
    retained = (
        activity[activity["day_number"].isin(list(day_numbers))]
        .groupby(["signup_date", "day_number"], as_index=False)
        .agg(retained_users=("user_id", "nunique"))
        .rename(columns={"signup_date": "cohort_date"})
    )

    result = grid.merge(retained, on=["cohort_date", "day_number"], how="left")
    result["is_mature"] = result["retention_date"] <= as_of
    result["retained_users"] = result["retained_users"].fillna(0).where(result["is_mature"])
    result["retention_rate"] = result["retained_users"] / result["cohort_users"]
    result["as_of_date"] = as_of
    return result[
        [
            "cohort_date",
            "day_number",
            "retention_date",
            "cohort_users",
            "retained_users",
            "retention_rate",
            "is_mature",
            "as_of_date",
        ]
    ]
