"""Percentile bootstrap for when the normal approximation is in doubt (heavy tails, few users).

The one method that needs per-user rows rather than warehouse aggregates.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Literal

import numpy as np

Statistic = Literal["mean_diff", "ratio_diff"]

# resample in chunks of at most this many drawn indices, to bound memory for large arms
_CHUNK_DRAWS = 4_000_000


@dataclass(frozen=True)
class BootstrapResult:
    """The observed effect and its percentile-bootstrap intervals (diff = treatment − control);
    `se` is the standard deviation of the resampled diffs (the bootstrap standard error)."""

    diff: float
    se: float
    ci_low: float
    ci_high: float
    rel_lift: float
    rel_lift_ci_low: float
    rel_lift_ci_high: float
    n_resamples: int


def percentile_bootstrap(
    control: np.ndarray,
    treatment: np.ndarray,
    statistic: Statistic = "mean_diff",
    alpha: float = 0.05,
    n_resamples: int = 2000,
    seed: int = 0,
) -> BootstrapResult:
    """Percentile-bootstrap CIs for the diff and relative lift (Efron & Tibshirani 1993, ch. 13).

    Users are resampled with replacement, independently within each arm (a stratified
    bootstrap that keeps the arm sizes). For "mean_diff" the arrays are 1-D per-user values and
    the arm statistic is the mean; for "ratio_diff" they are (n, 2) arrays of [numerator,
    denominator] per user, rows are resampled whole (so a user's numerator and denominator stay
    together) and the arm statistic is Σ numerator / Σ denominator. Each resample b gives
    s_t*(b) − s_c*(b) and s_t*(b)/s_c*(b) − 1; the CI is their α/2 and 1 − α/2 quantiles.

    Deterministic for a given `seed` (numpy's default Generator). Assumes independent users and
    enough of them that the bootstrap distribution mimics the sampling distribution.

    ValueError for an arm with fewer than 2 users or a non-finite value, and for "ratio_diff"
    when an arm's denominators sum to 0 (the ratio is undefined, as in `delta_ratio`). An arm
    of all-equal values is fine: its statistic never moves. nan, never an exception: rel_lift
    when the control statistic is 0; a CI when any resample's statistic is undefined or
    overflows (a resample whose denominators sum to 0, or whose control statistic is 0 for the
    relative lift), because a percentile of undefined draws means nothing. rel_lift is ±inf
    only if s_t/s_c overflows a float.
    """
    if statistic not in ("mean_diff", "ratio_diff"):
        raise ValueError(f"statistic must be 'mean_diff' or 'ratio_diff', got {statistic!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, numbers.Integral):
        raise ValueError(f"n_resamples must be a whole number, got {n_resamples!r}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    arms = [
        _as_arm(values, statistic, label)
        for values, label in ((control, "control"), (treatment, "treatment"))
    ]
    rng = np.random.default_rng(seed)
    control_stats, treatment_stats = (_resampled_statistic(arm, n_resamples, rng) for arm in arms)
    observed_control, observed_treatment = (
        float(_arm_statistic(arm[np.newaxis])[0]) for arm in arms
    )
    quantiles = [alpha / 2, 1 - alpha / 2]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        diffs = treatment_stats - control_stats
        diff_low, diff_high = _percentiles(diffs, quantiles)
        rel_low, rel_high = _percentiles(treatment_stats / control_stats - 1, quantiles)
    rel_lift = math.nan if observed_control == 0 else observed_treatment / observed_control - 1
    return BootstrapResult(
        diff=observed_treatment - observed_control,
        se=_standard_deviation(diffs),
        ci_low=diff_low,
        ci_high=diff_high,
        rel_lift=rel_lift,
        rel_lift_ci_low=rel_low,
        rel_lift_ci_high=rel_high,
        n_resamples=int(n_resamples),
    )


def _standard_deviation(draws: np.ndarray) -> float:
    """The draws' standard deviation (ddof 1), or nan if any draw is undefined or overflowed."""
    if not np.isfinite(draws).all() or len(draws) < 2:
        return math.nan
    with np.errstate(over="ignore", invalid="ignore"):  # squares of huge draws overflow
        spread = float(np.std(draws, ddof=1))
    return spread if math.isfinite(spread) else math.nan


def _percentiles(draws: np.ndarray, quantiles: list[float]) -> tuple[float, float]:
    """The quantiles of the draws, or nan if any draw is undefined (nan) or overflowed."""
    if not np.isfinite(draws).all():
        return math.nan, math.nan
    low, high = np.quantile(draws, quantiles)
    return float(low), float(high)


def _as_arm(values: np.ndarray, statistic: Statistic, label: str) -> np.ndarray:
    """The arm as an (n, 2) array of [numerator, denominator]; a mean has denominator 1."""
    array = np.asarray(values, dtype=float)
    if statistic == "mean_diff":
        if array.ndim != 1:
            raise ValueError(f"{label}: 'mean_diff' needs a 1-D array, got shape {array.shape}")
        array = np.column_stack([array, np.ones_like(array)])
    elif array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(
            f"{label}: 'ratio_diff' needs an (n, 2) array of [numerator, denominator], "
            f"got shape {array.shape}"
        )
    if len(array) < 2:
        raise ValueError(f"{label}: the arm has {len(array)} user(s); at least 2 are needed")
    if not np.isfinite(array).all():
        raise ValueError(f"{label}: the arm has non-finite values; drop or fill them first")
    with np.errstate(over="ignore"):
        totals = array.sum(axis=0)
    if not np.isfinite(totals).all():
        raise ValueError(f"{label}: the arm's values overflow a float when summed; rescale them")
    if totals[1] == 0:
        raise ValueError(
            f"{label}: the denominators sum to 0, so the arm's ratio is undefined; check the "
            "denominator column"
        )
    return array


def _arm_statistic(resamples: np.ndarray) -> np.ndarray:
    """Σ numerator / Σ denominator per resample, for resamples of shape (b, n, 2)."""
    # a resample's sum may overflow, or its denominators sum to 0: inf or nan, never a warning
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        totals = resamples.sum(axis=1)
        return totals[:, 0] / totals[:, 1]


def _resampled_statistic(arm: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    n = len(arm)
    per_chunk = max(1, _CHUNK_DRAWS // n)
    results = []
    for start in range(0, n_resamples, per_chunk):
        size = min(per_chunk, n_resamples - start)
        indices = rng.integers(0, n, size=(size, n))
        results.append(_arm_statistic(arm[indices]))
    return np.concatenate(results)
