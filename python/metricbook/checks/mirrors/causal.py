"""pandas mirror of the causal marts (see models/marts/causal/_causal__models.yml)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from pandas.api.typing import DataFrameGroupBy

UNIT_TYPES = ("country", "platform")
METRICS = [
    "active_users",
    "impressions",
    "clicks",
    "saves",
    "revenue_usd",
    "ctr",
    "saves_per_active_user",
    "revenue_per_active_user",
]


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator as a float, NaN (NULL) when the denominator is 0."""
    return numerator.astype(float) / denominator.astype(float).where(denominator > 0)


@dataclass(frozen=True)
class _PerUnitDay:
    """Aggregates a frame of user rows per (unit, metric_date) of one unit type: users absent
    from `membership` drop out (inner join), and every (unit, date) of `index` gets a value."""

    membership: pd.DataFrame
    index: pd.MultiIndex

    def __call__(
        self,
        frame: pd.DataFrame,
        name: str,
        how: Callable[[DataFrameGroupBy], pd.Series] = lambda grouped: grouped.size(),
    ) -> pd.Series:
        joined = frame.merge(self.membership, on="user_id", how="inner")
        grouped = joined.groupby(["unit", "metric_date"])
        return how(grouped).rename(name).reindex(self.index, fill_value=0)


def unit_daily_metrics(
    stg_events: pd.DataFrame, stg_users: pd.DataFrame, stg_transactions: pd.DataFrame
) -> pd.DataFrame:
    """fct_unit_daily_metrics: every (unit_type, unit) of the staged users on every UTC date
    from the first to the last date with a valid event or transaction; users absent from
    stg_users belong to no unit."""
    event_dates = pd.to_datetime(stg_events["event_date"])
    transaction_dates = pd.to_datetime(stg_transactions["transacted_date"])
    observed = pd.concat([event_dates, transaction_dates])
    dates = pd.date_range(observed.min(), observed.max(), freq="D", name="metric_date")

    events = stg_events.assign(metric_date=event_dates)
    completed = stg_transactions.assign(
        metric_date=transaction_dates, amount_usd=stg_transactions["amount_usd"].astype(float)
    )
    completed = completed[completed["status"] == "completed"]
    saves = events[events["event_type"] == "save"].drop_duplicates(
        ["user_id", "pin_id", "metric_date"]
    )

    frames = []
    for unit_type in UNIT_TYPES:
        membership = stg_users[["user_id", unit_type]].rename(columns={unit_type: "unit"})
        units = sorted(membership["unit"].unique())
        index = pd.MultiIndex.from_product([units, dates], names=["unit", "metric_date"])
        per_unit_day = _PerUnitDay(membership, index)
        result = pd.concat(
            [
                per_unit_day(events, "active_users", lambda g: g["user_id"].nunique()),
                per_unit_day(events[events["event_type"] == "impression"], "impressions"),
                per_unit_day(events[events["event_type"] == "click"], "clicks"),
                per_unit_day(saves, "saves"),
                per_unit_day(completed, "revenue_usd", lambda g: g["amount_usd"].sum()),
            ],
            axis=1,
        ).reset_index()
        result["revenue_usd"] = result["revenue_usd"].astype(float).round(2)
        result.insert(0, "unit_type", unit_type)
        frames.append(result)

    metrics = pd.concat(frames, ignore_index=True)
    metrics["ctr"] = _ratio(metrics["clicks"], metrics["impressions"])
    metrics["saves_per_active_user"] = _ratio(metrics["saves"], metrics["active_users"])
    metrics["revenue_per_active_user"] = _ratio(metrics["revenue_usd"], metrics["active_users"])
    return metrics[["unit_type", "unit", "metric_date", *METRICS]]


def launch_panel(stg_launches: pd.DataFrame, unit_metrics: pd.DataFrame) -> pd.DataFrame:
    """fct_launch_panel: each staged launch beside every unit of its unit_type on every date,
    with is_treated, is_post (from the UTC launch date on) and relative_day in days."""
    headers = stg_launches[["launch_id", "unit_type", "launched_at", "launch_date"]]
    headers = headers.drop_duplicates("launch_id")
    panel = headers.merge(unit_metrics, on="unit_type", how="inner")
    treated = set(zip(stg_launches["launch_id"], stg_launches["treated_unit"], strict=True))
    panel["is_treated"] = [
        (launch, unit) in treated
        for launch, unit in zip(panel["launch_id"], panel["unit"], strict=True)
    ]
    metric_date = pd.to_datetime(panel["metric_date"])
    launch_date = pd.to_datetime(panel["launch_date"])
    panel["is_post"] = metric_date >= launch_date
    panel["relative_day"] = (metric_date - launch_date).dt.days
    return panel[
        [
            "launch_id",
            "unit",
            "metric_date",
            "unit_type",
            "launched_at",
            "launch_date",
            "is_treated",
            "is_post",
            "relative_day",
            *METRICS,
        ]
    ]
