"""Interrupted time series: the treated units' average series before and after the launch.

The weakest design here: there is no comparison group, so the counterfactual is the pre-launch
trend extrapolated, and any change at the launch date (a holiday, a marketing push, an outage)
is indistinguishable from the launch's effect (Bernal, Cummins & Gasparrini 2017). Model, for
the treated units' mean y(t) on each date, with r(t) = relative_day:

    y(t) = b0 + b1·r(t) + b2·post(t) + b3·r(t)·post(t) + Σ_d c_d·1[weekday(t) = d] + e(t)

(segmented regression; Wagner et al. 2002), with day-of-week dummies (Monday the reference,
weekdays absent from the data left out) and Newey–West HAC errors (statsmodels
OLS.fit(cov_type='HAC', cov_kwds={'maxlags': L}), statsmodels' defaults otherwise: Bartlett
kernel, small-sample correction, normal reference distribution); L defaults to
floor(4·(T/100)^(2/9)) for T dates (Newey & West 1994).

estimate = b2 + b3·mean(r(t) over the post-period dates): the average gap between the post
period and the extrapolated pre trend, i.e. the level change plus the slope change times the
mean days since launch. Its se is √(aᵀVa) with a picking (b2, b3) with weights (1, mean r);
CI = estimate ± z_{1−α/2}·se.

Uses the dates on which every treated unit is observed (so the average is of the same units
throughout; the others are left out, which leaves gaps in the series) and
more dates than coefficients + 2; ValueError naming what is missing otherwise.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from metricbook.stats.causal.panel import Panel
from metricbook.stats.causal.result import (
    CausalResult,
    check_alpha,
    make_result,
    treated_post_mean,
)


def its_design(panel: Panel) -> tuple[pd.DataFrame, pd.Series]:
    """The ITS design matrix and the treated units' average series, one row per date."""
    treated = panel.frame.loc[panel.frame["is_treated"]]
    counts = treated.groupby("metric_date")["unit"].nunique()
    # the average is of the same units throughout: only the dates every treated unit has
    complete = counts.index[counts == treated["unit"].nunique()]
    treated = treated.loc[treated["metric_date"].isin(complete)]
    series = treated.groupby("metric_date").agg(y=("y", "mean"), day=("relative_day", "first"))
    day = series["day"].astype(float)
    post = (day >= 0).astype(float)
    design = pd.DataFrame(
        {"const": 1.0, "time": day, "post": post, "time_since_launch_post": day * post},
        index=series.index,
    )
    weekday = pd.Series(series.index.day_of_week, index=series.index)
    for d in range(1, 7):
        column = (weekday == d).astype(float)
        if column.any():
            design[f"weekday_{d}"] = column
    if len(design) <= design.shape[1] + 2:
        raise ValueError(
            f"interrupted time series needs more than {design.shape[1] + 2} dates, "
            f"the panel has {len(design)}"
        )
    return design, series["y"]


def interrupted_time_series(
    panel: Panel, alpha: float = 0.05, maxlags: int | None = None
) -> CausalResult:
    """Segmented regression of the treated average with HAC errors (see the module docstring)."""
    check_alpha(alpha)
    design, y = its_design(panel)
    n_dates = len(design)
    if maxlags is None:
        maxlags = int(math.floor(4 * (n_dates / 100) ** (2 / 9)))
    if int(maxlags) != maxlags or maxlags < 0:
        raise ValueError(f"maxlags must be a non-negative whole number, got {maxlags}")
    fit = sm.OLS(y.to_numpy(float), design.to_numpy(float)).fit(
        cov_type="HAC", cov_kwds={"maxlags": int(maxlags)}
    )
    if np.linalg.matrix_rank(design.to_numpy(float)) < design.shape[1]:
        raise ValueError("the ITS design is rank-deficient (too few dates on a side of launch?)")
    names = list(design.columns)
    mean_day = float(design.loc[design["post"] == 1, "time"].mean())
    a = np.zeros(len(names))
    a[names.index("post")] = 1.0
    a[names.index("time_since_launch_post")] = mean_day
    params, cov = np.asarray(fit.params), np.asarray(fit.cov_params())
    estimate = float(a @ params)
    se = float(math.sqrt(max(a @ cov @ a, 0.0)))
    if not se > 0:
        raise ValueError("the ITS standard error is 0: the series fits the model exactly")
    critical = float(stats.norm.isf(alpha / 2))
    return make_result(
        method="its",
        estimate=estimate,
        ci=(estimate - critical * se, estimate + critical * se),
        p_value=float(2 * stats.norm.sf(abs(estimate / se))),
        treated_post=treated_post_mean(panel),
        assumptions=(
            "Without the launch, the treated units' average would have continued its "
            "pre-launch linear trend and weekday pattern.",
            "Nothing else changed at the launch date: with no comparison group, a concurrent "
            "shock is indistinguishable from the launch. This is the weakest design here.",
        ),
        diagnostics={
            "level_change": float(params[names.index("post")]),
            "slope_change": float(params[names.index("time_since_launch_post")]),
            "mean_days_since_launch": mean_day,
            "se": se,
            "maxlags": int(maxlags),
            "n_dates": n_dates,
            "coefficients": {n: float(p) for n, p in zip(names, params, strict=True)},
        },
    )
