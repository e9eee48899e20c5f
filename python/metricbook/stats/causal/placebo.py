"""Placebo tests of the DiD: fake launches where there was none, in time and in space.

In time: the post period is dropped and every pre-period date with at least `min_days` pre-period
dates before it and `min_days` from it on is used as a fake launch date; the DiD of the real
treated vs control units at each is an effect that should be 0 (Abadie, Diamond & Hainmueller
2015 call these in-time placebos). In space: the real treated units are dropped and each control
unit in turn is the (only) treated unit of a fake launch on the real date.

Both compare the placebo estimates with the real DiD estimate, counting the real one (so the
smallest p is 1/(1 + n)): placebo_p = (1 + #{placebo |estimate| ≥ |real|}) / (1 + n).
The estimates are TWFE DiD coefficients (the same as `did`'s, computed by projection, without
inference). ValueError when no placebo can be formed (too few pre-period dates for
`min_days`, fewer than 2 control units).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from metricbook.stats.causal._twfe import did_estimate
from metricbook.stats.causal.panel import Panel


@dataclass(frozen=True)
class PlaceboResult:
    """`labels` name each placebo (the fake launch date, ISO, or the fake treated unit)."""

    kind: str
    real_estimate: float
    estimates: tuple[float, ...]
    labels: tuple[str, ...]
    p_value: float


def placebo_in_time(panel: Panel, min_days: int = 3) -> PlaceboResult:
    """DiD at each fake launch date inside the pre-period (see the module docstring)."""
    if int(min_days) != min_days or min_days < 1:
        raise ValueError(f"min_days must be a positive whole number, got {min_days}")
    real = did_estimate(panel.frame)
    pre = panel.frame.loc[~panel.frame["is_post"]].copy()
    dates = sorted(pre["metric_date"].unique())
    candidates = dates[min_days : len(dates) - min_days + 1]
    if not candidates:
        raise ValueError(
            f"placebo in time needs at least {2 * min_days} pre-period dates with "
            f"min_days={min_days}; the panel has {len(dates)}"
        )
    estimates, labels = [], []
    for fake in candidates:
        fake_post = pre["metric_date"] >= fake
        if not (pre.loc[fake_post, "is_treated"].any() and pre.loc[~fake_post, "is_treated"].any()):
            continue
        frame = pre.assign(is_post=fake_post)
        estimates.append(did_estimate(frame))
        labels.append(pd.Timestamp(fake).date().isoformat())
    if not estimates:
        raise ValueError("no fake launch date has treated rows on both sides of it")
    return _result("in_time", real, estimates, labels)


def placebo_in_space(panel: Panel) -> PlaceboResult:
    """DiD with each control unit as the only treated unit, the real treated units dropped."""
    controls = panel.control_units
    if len(controls) < 2:
        raise ValueError(
            f"placebo in space needs at least 2 control units, the panel has {len(controls)}"
        )
    real = did_estimate(panel.frame)
    frame = panel.frame.loc[~panel.frame["is_treated"]]
    estimates = []
    for unit in controls:
        fake = frame.assign(is_treated=frame["unit"] == unit)
        estimates.append(did_estimate(fake))
    return _result("in_space", real, estimates, controls)


def _result(kind: str, real: float, estimates: list[float], labels: list[str]) -> PlaceboResult:
    exceed = sum(abs(e) >= abs(real) * (1 - 1e-9) for e in estimates)
    return PlaceboResult(
        kind=kind,
        real_estimate=float(real),
        estimates=tuple(float(e) for e in estimates),
        labels=tuple(labels),
        p_value=(1 + exceed) / (1 + len(estimates)),
    )
