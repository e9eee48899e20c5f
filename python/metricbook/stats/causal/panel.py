"""The input of every causal method: a validated panel of one launch, one row per unit-day.

A panel is a frame with the columns `unit` (str), `metric_date` (date), `is_treated` (bool,
constant within a unit), `is_post` (bool, metric_date on or after the launch date),
`relative_day` (int, metric_date − launch date in days) and one metric column. Rows whose metric
is NaN (a ratio over zero users, say) are dropped and counted in `n_dropped_rows`; every other
problem is a ValueError of one line naming it: a missing column, a duplicated (unit,
metric_date), is_treated varying within a unit, no treated or no control unit, no pre-period or
no post-period date, is_post ≠ (relative_day >= 0), ±inf in the metric, a metric without
variation, fewer than 2 pre-period dates. The checks after the NaN drop (units, periods,
variation) look at the rows that remain. Unbalanced panels are allowed; the methods that need a
balanced panel (synthetic control, interrupted time series) say so themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("unit", "metric_date", "is_treated", "is_post", "relative_day")


@dataclass(frozen=True)
class Panel:
    """A validated panel: `frame` has the columns of REQUIRED_COLUMNS plus `y` (the metric),
    sorted by (unit, metric_date), with no NaN; treat it as read-only."""

    frame: pd.DataFrame
    metric: str
    n_dropped_rows: int

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, metric: str) -> Panel:
        """Validate `frame` (see the module docstring) and keep the rows with a metric value."""
        missing = [c for c in (*REQUIRED_COLUMNS, metric) if c not in frame.columns]
        if missing:
            raise ValueError(f"panel is missing columns {missing}; expected {REQUIRED_COLUMNS}")
        data = frame[list(REQUIRED_COLUMNS) + [metric]].rename(columns={metric: "y"})
        data = data.reset_index(drop=True)
        data["unit"] = data["unit"].astype(str)
        data["metric_date"] = pd.to_datetime(data["metric_date"])
        for column in ("is_treated", "is_post"):
            if data[column].isna().any() or not set(data[column].unique()) <= {True, False}:
                raise ValueError(f"panel column {column!r} must be boolean (True/False)")
            data[column] = data[column].astype(bool)
        day = pd.to_numeric(data["relative_day"], errors="coerce")
        if day.isna().any() or not np.all(np.mod(day, 1) == 0):
            raise ValueError("panel column 'relative_day' must be whole numbers of days")
        data["relative_day"] = day.astype(np.int64)
        y = pd.to_numeric(data["y"], errors="coerce")
        if y.isna().sum() > data["y"].isna().sum():
            raise ValueError(f"metric {metric!r} has values that are not numbers")
        data["y"] = y.astype(float)
        duplicated = data.duplicated(["unit", "metric_date"])
        if duplicated.any():
            first = data.loc[duplicated].iloc[0]
            raise ValueError(
                f"panel has {int(duplicated.sum())} duplicated (unit, metric_date) rows, e.g. "
                f"({first['unit']!r}, {first['metric_date'].date()}); give one row per unit-day"
            )
        varying = data.groupby("unit")["is_treated"].nunique()
        if (varying > 1).any():
            raise ValueError(
                f"is_treated varies within units {sorted(varying[varying > 1].index)[:5]}; "
                "a unit is either treated by the launch or not"
            )
        inconsistent = data["is_post"] != (data["relative_day"] >= 0)
        if inconsistent.any():
            raise ValueError(
                f"is_post disagrees with relative_day >= 0 on {int(inconsistent.sum())} rows; "
                "is_post must be True exactly from the launch date on"
            )
        if np.isinf(data["y"]).any():
            raise ValueError(f"metric {metric!r} has infinite values; only NaN may be missing")
        kept = data.loc[data["y"].notna()].sort_values(["unit", "metric_date"])
        kept = kept.reset_index(drop=True)
        treated = kept.groupby("unit")["is_treated"].first()
        if not treated.any():
            raise ValueError("panel has no treated unit (with a metric value)")
        if treated.all():
            raise ValueError("panel has no control unit (with a metric value)")
        pre_dates = kept.loc[~kept["is_post"], "metric_date"].nunique()
        if pre_dates == 0:
            raise ValueError("panel has no pre-period date (relative_day < 0)")
        if kept["is_post"].sum() == 0:
            raise ValueError("panel has no post-period date (relative_day >= 0)")
        if pre_dates < 2:
            raise ValueError(f"panel has {pre_dates} pre-period date; at least 2 are needed")
        if kept["y"].nunique() < 2:
            raise ValueError(f"metric {metric!r} has no variation; there is nothing to estimate")
        return cls(frame=kept, metric=metric, n_dropped_rows=int(len(data) - len(kept)))

    @property
    def units(self) -> list[str]:
        return sorted(self.frame["unit"].unique())

    @property
    def treated_units(self) -> list[str]:
        flags = self.frame.groupby("unit")["is_treated"].first()
        return sorted(flags[flags].index)

    @property
    def control_units(self) -> list[str]:
        flags = self.frame.groupby("unit")["is_treated"].first()
        return sorted(flags[~flags].index)

    @property
    def is_balanced(self) -> bool:
        counts = self.frame.groupby("unit").size()
        return bool((counts == self.frame["metric_date"].nunique()).all())
