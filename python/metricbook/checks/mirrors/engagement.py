"""pandas mirrors of the engagement marts (see models/marts/engagement/_engagement__models.yml)."""

from __future__ import annotations

import math

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


def creator_impression_ranks(stg_events: pd.DataFrame, stg_pins: pd.DataFrame) -> pd.DataFrame:
    """int_creator_impression_ranks: creators by impressions of their pins (ties by creator_id),
    the top ceil(1%) flagged."""
    shown = stg_events[stg_events["event_type"] == "impression"].merge(stg_pins, on="pin_id")
    ranks = (
        shown.groupby("creator_id", as_index=False)
        .agg(impressions=("event_id", "size"))
        .sort_values(["impressions", "creator_id"], ascending=[False, True])
    )
    ranks["impression_rank"] = range(1, len(ranks) + 1)
    ranks["is_top_creator"] = ranks["impression_rank"] <= math.ceil(len(ranks) * 0.01)
    return ranks


def user_diversity(
    stg_events: pd.DataFrame, stg_pins: pd.DataFrame, ranks: pd.DataFrame
) -> pd.DataFrame:
    """fct_user_diversity: distinct categories and creators shown to each user, and the share
    of the user's impressions from top creators."""
    shown = (
        stg_events[stg_events["event_type"] == "impression"]
        .merge(stg_pins[["pin_id", "category", "creator_id"]], on="pin_id")
        .merge(ranks[["creator_id", "is_top_creator"]], on="creator_id")
    )
    result = shown.groupby("user_id", as_index=False).agg(
        impressions=("event_id", "size"),
        distinct_categories=("category", "nunique"),
        distinct_creators=("creator_id", "nunique"),
        top_creator_impressions=("is_top_creator", "sum"),
    )
    result["top_creator_share"] = result["top_creator_impressions"] / result["impressions"]
    return result


def users(stg_users: pd.DataFrame) -> pd.DataFrame:
    """dim_users: every staged user once, with the attributes fixed at signup."""
    columns = ["user_id", "platform", "country", "signup_at", "signup_date"]
    assert stg_users["user_id"].is_unique, "stg_users holds one row per user"
    return stg_users[columns].copy()


def sessions(stg_events: pd.DataFrame, gap_minutes: int = 30) -> pd.DataFrame:
    """fct_sessions: the gap rule over each user's events in (event_at, event_id) order."""
    events = stg_events.assign(event_at=pd.to_datetime(stg_events["event_at"]))
    events = events.sort_values(["user_id", "event_at", "event_id"])
    gap = events.groupby("user_id")["event_at"].diff()
    events["session_number"] = (
        (gap.isna() | (gap > pd.Timedelta(minutes=gap_minutes))).groupby(events["user_id"]).cumsum()
    )
    kinds = ["impression", "click", "save", "hide"]
    flags = pd.get_dummies(events["event_type"]).reindex(columns=kinds, fill_value=False)
    events = pd.concat([events, flags.astype("int64")], axis=1)
    grouped = events.groupby(["user_id", "session_number"], as_index=False).agg(
        session_start=("event_at", "min"),
        session_end=("event_at", "max"),
        events=("event_id", "size"),
        **{f"{kind}s": (kind, "sum") for kind in kinds},
    )
    epoch = (grouped["session_start"] - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    grouped["session_id"] = grouped["user_id"] + "-" + epoch.astype("int64").astype(str)
    grouped["session_date"] = grouped["session_start"].dt.date
    grouped["duration_seconds"] = (
        grouped["session_end"] - grouped["session_start"]
    ).dt.total_seconds()
    return grouped.drop(columns="session_number")


def engagement_funnel(stg_events: pd.DataFrame) -> pd.DataFrame:
    """fct_engagement_funnel: users and events per step, per (UTC date, surface), gap-free."""
    events = stg_events[stg_events["event_type"].isin(["impression", "click", "save", "hide"])]
    events = events.assign(activity_date=pd.to_datetime(events["event_date"]))
    per_user = (
        pd.crosstab(
            [events["activity_date"], events["surface"], events["user_id"]], events["event_type"]
        )
        .reindex(columns=["impression", "click", "save", "hide"], fill_value=0)
        .reset_index()
    )
    did = per_user[["impression", "click", "save"]].gt(0)
    per_user = per_user.assign(
        users_with_impression=did["impression"],
        users_with_click=did["click"],
        users_with_save=did["save"],
        users_with_click_and_save=did["click"] & did["save"],
    )
    daily = per_user.groupby(["activity_date", "surface"]).agg(
        users_with_impression=("users_with_impression", "sum"),
        users_with_click=("users_with_click", "sum"),
        users_with_save=("users_with_save", "sum"),
        both=("users_with_click_and_save", "sum"),
        impressions=("impression", "sum"),
        clicks=("click", "sum"),
        saves=("save", "sum"),
        hides=("hide", "sum"),
    )
    dates = pd.date_range(events["activity_date"].min(), events["activity_date"].max(), freq="D")
    spine = pd.MultiIndex.from_product(
        [dates, sorted(events["surface"].unique())], names=["activity_date", "surface"]
    )
    daily = daily.reindex(spine, fill_value=0).reset_index()
    impressions = daily["impressions"].where(daily["impressions"] > 0)
    daily["ctr"] = daily["clicks"] / impressions
    daily["save_rate"] = daily["saves"] / impressions
    daily["click_to_save"] = daily["both"] / daily["users_with_click"].where(
        daily["users_with_click"] > 0
    )
    daily["activity_date"] = daily["activity_date"].dt.date
    return daily.drop(columns="both")


def position_ctr(stg_events: pd.DataFrame) -> pd.DataFrame:
    """fct_position_ctr: impressions and clicks per (surface, feed_position), and CTR relative
    to position 1 of the same surface."""
    events = stg_events[
        stg_events["event_type"].isin(["impression", "click"]) & stg_events["feed_position"].notna()
    ]
    curve = (
        pd.crosstab([events["surface"], events["feed_position"]], events["event_type"])
        .reindex(columns=["impression", "click"], fill_value=0)
        .rename(columns={"impression": "impressions", "click": "clicks"})
        .reset_index()
    )
    curve["ctr"] = curve["clicks"] / curve["impressions"].where(curve["impressions"] > 0)
    top = curve[curve["feed_position"] == 1].set_index("surface")["ctr"]
    top_ctr = curve["surface"].map(top)
    curve["ctr_relative_to_top"] = curve["ctr"] / top_ctr.where(top_ctr > 0)
    curve.columns.name = None
    return curve
