"""pandas mirrors of the content marts (see models/marts/content/_content__models.yml)."""

from __future__ import annotations

from typing import Literal

import pandas as pd

TieRule = Literal["row_number", "rank", "dense_rank"]
RANK_COLUMNS: dict[str, str] = {
    "row_number": "rank_row_number",
    "rank": "rank_standard",
    "dense_rank": "rank_dense",
}
WEEK = ["week_start", "country"]


def weekly_pin_saves(events: pd.DataFrame, pins: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    """int_weekly_pin_saves from stg_events, stg_pins and stg_users."""
    saves = events[events["event_type"] == "save"]
    event_date = pd.to_datetime(saves["event_date"])
    saves = saves.assign(
        week_start=event_date - pd.to_timedelta(event_date.dt.day_of_week, unit="D")
    )
    weekly = saves.groupby(["week_start", "user_id", "pin_id"], as_index=False).agg(
        save_events=("event_id", "size"), first_saved_at=("event_at", "min")
    )
    return weekly.merge(pins[["pin_id", "category"]], on="pin_id").merge(
        users[["user_id", "country"]], on="user_id"
    )


def category_overlap(pin_saves: pd.DataFrame) -> pd.DataFrame:
    """fct_category_overlap: Jaccard of category audiences, unordered pairs a < b."""
    members = pin_saves[["category", "user_id"]].drop_duplicates()
    sizes = members.groupby("category").size()
    pairs = members.merge(members, on="user_id", suffixes=("_a", "_b"))
    pairs = pairs[pairs["category_a"] < pairs["category_b"]]
    result = pairs.groupby(["category_a", "category_b"], as_index=False).agg(
        users_both=("user_id", "nunique")
    )
    result["users_a"] = result["category_a"].map(sizes)
    result["users_b"] = result["category_b"].map(sizes)
    result["users_either"] = result["users_a"] + result["users_b"] - result["users_both"]
    result["jaccard"] = result["users_both"] / result["users_either"]
    return result[
        ["category_a", "category_b", "users_a", "users_b", "users_both", "users_either", "jaccard"]
    ]


def category_rankings(pin_saves: pd.DataFrame) -> pd.DataFrame:
    """fct_category_rankings: distinct (user, pin) saves per week, country and category, with
    row_number (ties by category), rank and dense_rank by saves desc."""
    distinct_saves = pin_saves.drop_duplicates(["week_start", "country", "user_id", "pin_id"])
    result = (
        distinct_saves.groupby([*WEEK, "category"], as_index=False)
        .agg(saves=("pin_id", "size"))
        .sort_values([*WEEK, "saves", "category"], ascending=[True, True, False, True])
    )
    by_week = result.groupby(WEEK)
    result["rank_row_number"] = by_week.cumcount() + 1
    result["rank_standard"] = by_week["saves"].rank(method="min", ascending=False).astype(int)
    result["rank_dense"] = by_week["saves"].rank(method="dense", ascending=False).astype(int)
    return result.reset_index(drop=True)


def top_categories(rankings: pd.DataFrame, top_n: int = 3, tie_rule: TieRule = "row_number"):
    """fct_top_categories: rankings rows whose rank under `tie_rule` is within `top_n`."""
    rank_column = RANK_COLUMNS[tie_rule]
    kept = rankings[rankings[rank_column] <= top_n]
    return kept.assign(category_rank=kept[rank_column], tie_rule=tie_rule, top_n=top_n)[
        [*WEEK, "category", "saves", "category_rank", "tie_rule", "top_n"]
    ]
