"""Synthetic control: the treated units' average series against a weighted mix of controls.

(Abadie & Gardeazabal 2003; Abadie, Diamond & Hainmueller 2010.) With y₁(t) the mean of the
treated units on date t and Y₀(t) the control units' series, the weights w solve

    min_w  Σ_{t pre} (y₁(t) − Y₀(t)·w)²   subject to  w ≥ 0,  Σ w = 1

(solved exactly by one non-negative least squares, see `_weights`: deterministic). The gap is
g(t) = y₁(t) − Y₀(t)·w; the estimate is the mean post-period gap, pre_rmspe and post_rmspe
the root mean squared gaps before and after the launch, rmspe_ratio = post/pre.

Inference by in-space placebos: each control unit in turn is the "treated" series, with a
synthetic control from the other controls. p = (#{units, treated included, with ratio ≥ the
treated's ratio}) / (n placebos + 1) (Abadie et al. 2010, §2.3). The CI is the placebo interval
[estimate − q_{1−α/2}, estimate − q_{α/2}] with q the quantiles (linear interpolation) of the
placebos' mean post gaps: their spread stands in for the estimate's sampling error under the
null. No placebo is excluded (the RMSPE ratio already scales by the pre-period fit);
diagnostics["n_poor_fit_placebos"] counts those whose pre RMSPE exceeds 5× the treated's, the
exclusion rule of Abadie et al. 2010. A single control unit's series is noisier than an average
of several treated units, so with many treated units this interval is conservative (wider than
the nominal level needs); with few placebos its level is coarse (about 2/(n + 1) at best).

Fitted on the common support: the dates on which every unit is observed (a unit-day without
a value, such as a ratio over zero users, leaves that date out for all; diagnostics count
them); ValueError when fewer than 2 pre-period or no post-period dates remain, or with fewer
than 2 control units. ValueError for alpha outside (0, 1).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import nnls

from metricbook.stats.causal.panel import Panel
from metricbook.stats.causal.result import (
    CausalResult,
    check_alpha,
    make_result,
    treated_post_mean,
)

POOR_FIT_FACTOR = 5.0


def synthetic_control(panel: Panel, alpha: float = 0.05) -> CausalResult:
    """The synthetic-control estimate with in-space placebo inference (see the module docstring)."""
    check_alpha(alpha)
    full = panel.frame.pivot(index="metric_date", columns="unit", values="y")
    # the common support: a date a unit lacks (e.g. a ratio over zero users) is left out for all
    wide = full.dropna()
    launch = panel.frame.loc[panel.frame["is_post"], "metric_date"].min()
    if (wide.index < launch).sum() < 2 or not (wide.index >= launch).any():
        raise ValueError(
            f"synthetic control needs 2 pre-period dates and 1 post-period date on which every "
            f"unit is observed; {len(wide)} of {len(full)} dates have every unit"
        )
    controls = panel.control_units
    if len(controls) < 2:
        raise ValueError(
            f"synthetic control needs at least 2 control units, the panel has {len(controls)}"
        )
    post = wide.index >= launch
    treated = wide[panel.treated_units].mean(axis=1).to_numpy(float)
    donors = wide[controls].to_numpy(float)
    weights = _weights(donors[~post], treated[~post])
    synthetic = donors @ weights
    gap = treated - synthetic
    pre_rmspe, post_rmspe = _rmspe(gap[~post]), _rmspe(gap[post])
    ratio = _ratio(post_rmspe, pre_rmspe)
    estimate = float(gap[post].mean())
    placebo_gaps, placebo_ratios, placebo_pre = [], [], []
    for j in range(len(controls)):
        others = np.delete(donors, j, axis=1)
        w = _weights(others[~post], donors[~post, j])
        g = donors[:, j] - others @ w
        placebo_gaps.append(float(g[post].mean()))
        placebo_pre.append(_rmspe(g[~post]))
        placebo_ratios.append(_ratio(_rmspe(g[post]), placebo_pre[-1]))
    at_least = 1 + sum(r >= ratio * (1 - 1e-9) for r in placebo_ratios)
    p_value = at_least / (len(controls) + 1)
    upper, lower = np.quantile(placebo_gaps, [1 - alpha / 2, alpha / 2])
    return make_result(
        method="synthetic_control",
        estimate=estimate,
        ci=(estimate - float(upper), estimate - float(lower)),
        p_value=p_value,
        treated_post=treated_post_mean(panel),
        assumptions=(
            "Without the launch, the treated units' average would have kept following the same "
            "weighted mix of control units that tracked it before the launch.",
            "The control units are not affected by the launch (no spillovers) and suffer no "
            "unit-specific shock after it that the treated units do not.",
            "The pre-period fit is good (small pre RMSPE); a poor fit makes the estimate "
            "unreliable.",
        ),
        diagnostics={
            "weights": {u: float(w) for u, w in zip(controls, weights, strict=True)},
            "pre_rmspe": pre_rmspe,
            "post_rmspe": post_rmspe,
            "rmspe_ratio": ratio,
            "placebo_units": list(controls),
            "placebo_ratios": placebo_ratios,
            "placebo_mean_post_gaps": placebo_gaps,
            "placebo_pre_rmspe": placebo_pre,
            "n_poor_fit_placebos": int(sum(r > POOR_FIT_FACTOR * pre_rmspe for r in placebo_pre)),
            "ci_source": "placebo: estimate minus the (1-a/2, a/2) quantiles of placebo gaps, "
            "no placebo excluded",
            "n_dates_left_out": int(len(full) - len(wide)),
            "dates": [d.date().isoformat() for d in wide.index],
            "treated": treated.tolist(),
            "synthetic": synthetic.tolist(),
        },
    )


def _weights(donors: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Simplex-constrained least squares, exactly, by one non-negative least squares.

    On the simplex, donors·w − target = C·w with C = donors − target·1ᵀ, so the weights are the
    point of minimum norm in the convex hull of C's columns. NNLS of [C; 1ᵀ]·u ≈ [0; 1] (u ≥ 0)
    gives it as w = u / Σu: writing u = s·w, the objective s²‖Cw‖² + (s − 1)² is minimised over
    s at ‖Cw‖² / (1 + ‖Cw‖²), increasing in ‖Cw‖ (the trick of Lawson & Hanson 1974, ch. 23).
    Deterministic, no penalty weight to tune; C is scaled to unit size first, which changes
    nothing but the conditioning.
    """
    if donors.shape[1] == 1:
        return np.ones(1)
    c = donors - target[:, None]
    scale = float(np.sqrt(np.mean(c**2))) or 1.0
    system = np.vstack([c / scale, np.ones((1, c.shape[1]))])
    rhs = np.zeros(system.shape[0])
    rhs[-1] = 1.0
    u, _ = nnls(system, rhs, maxiter=50 * system.shape[1])
    total = u.sum()
    if not total > 0:
        raise ValueError("synthetic-control weights could not be computed (degenerate donors)")
    return u / total


def _rmspe(gap: np.ndarray) -> float:
    return float(math.sqrt(np.mean(gap**2)))


def _ratio(post: float, pre: float) -> float:
    return post / pre if pre > 0 else math.inf
