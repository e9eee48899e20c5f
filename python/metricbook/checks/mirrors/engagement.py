"""pandas mirrors of the engagement marts (see models/marts/engagement/_engagement__models.yml)."""

from __future__ import annotations

import pandas as pd


def user_active_days(stg_events: pd.DataFrame) -> pd.DataFrame:
    """int_user_active_days: one row per (user_id, UTC activity_date) with its event count."""
    return (
        stg_events.groupby(["user_id", "event_date"], as_index=False)
        .agg(events=("event_id", "size"))
        .rename(columns={"event_date": "activity_date"})
    )


def active_users(active_days: pd.DataFrame) -> pd.DataFrame:
    """fct_active_users from int_user_active_days: dau, wau, mau over a gap-free date spine."""
    days = active_days.assign(activity_date=pd.to_datetime(active_days["activity_date"]))
    spine = pd.date_range(days["activity_date"].min(), days["activity_date"].max(), freq="D")
    # user x date activity matrix; rolling windows over it count distinct users per window
    matrix = (
        pd.crosstab(days["activity_date"], days["user_id"])
        .clip(upper=1)
        .reindex(spine, fill_value=0)
    )
    in_window = {
        width: matrix.rolling(width, min_periods=1).max().gt(0).sum(axis=1) for width in (7, 30)
    }
    dau = matrix.sum(axis=1)
    both_days = (matrix & matrix.shift(-1, fill_value=0)).sum(axis=1)
    next_day = (both_days / dau.where(dau > 0)).where(spine < spine.max())
    result = pd.DataFrame(
        {
            "activity_date": spine.date,
            "dau": dau.to_numpy(),
            "wau": in_window[7].to_numpy(),
            "mau": in_window[30].to_numpy(),
            "stickiness": (dau / in_window[30].where(in_window[30] > 0)).to_numpy(),
            "next_day_retention": next_day.to_numpy(),
            "has_full_mau_window": spine >= spine.min() + pd.Timedelta(days=29),
        }
    )
    return result


def user_ctr(stg_events: pd.DataFrame) -> pd.DataFrame:
    """fct_user_ctr: impressions, clicks and ctr per user with at least one of either."""
    counted = stg_events[stg_events["event_type"].isin(["impression", "click"])]
    counts = (
        pd.crosstab(counted["user_id"], counted["event_type"])
        .reindex(columns=["impression", "click"], fill_value=0)
        .rename(columns={"impression": "impressions", "click": "clicks"})
    )
    counts.columns.name = None
    counts["ctr"] = counts["clicks"] / counts["impressions"].where(counts["impressions"] > 0)
    return counts.reset_index()


def ctr_summary(user_ctr_frame: pd.DataFrame) -> pd.DataFrame:
    """fct_ctr_summary: pooled CTR (impression-weighted) beside mean user CTR (user-weighted)."""
    impressions = user_ctr_frame["impressions"].sum()
    clicks = user_ctr_frame["clicks"].sum()
    return pd.DataFrame(
        {
            "population": ["all_users"],
            "users": [len(user_ctr_frame)],
            "users_with_impressions": [int((user_ctr_frame["impressions"] > 0).sum())],
            "impressions": [impressions],
            "clicks": [clicks],
            "pooled_ctr": [clicks / impressions if impressions else float("nan")],
            "mean_user_ctr": [user_ctr_frame["ctr"].mean()],
        }
    )


def users(stg_users: pd.DataFrame) -> pd.DataFrame:
    """dim_users: every staged user once, with the attributes fixed at signup."""
    columns = ["user_id", "platform", "country", "signup_at", "signup_date"]
    assert stg_users["user_id"].is_unique, "stg_users holds one row per user"
    return stg_users[columns].copy()
