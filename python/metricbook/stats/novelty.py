"""Novelty (or learning) effects: does the effect change between early and late days?

A novelty effect fades as users get used to a change; a learning effect grows. The check
compares, within the same users, the effect in an early window of days since assignment
[0, k) with a late window [k, 2k), among the users observed for at least 2k days. Because
each user contributes to both windows, the early and late estimates are correlated: testing
them as if they were independent samples gets the variance of the change wrong (too large
when a user's level persists), and a per-day regression that treats each user-day as an
independent observation overstates the precision and can fake significance. Here the unit
stays the user: the test is on each user's own late − early change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from metricbook.stats.aggregates import Aggregates
from metricbook.stats.methods import _check_alpha, _check_counts

Window = str | tuple[str, str]


@dataclass(frozen=True)
class NoveltyResult:
    """The effect (treatment − control) early and late, and the change late − early.

    `statistic` is Welch's t with `df` for a mean metric, z (df None) for a ratio.
    """

    early_diff: float
    early_se: float
    late_diff: float
    late_se: float
    change: float
    change_se: float
    change_ci_low: float
    change_ci_high: float
    p_value: float
    n_control: int
    n_treatment: int
    statistic: float = math.nan
    df: float | None = None
    metric: str = ""


def novelty_test(
    control: Aggregates,
    treatment: Aggregates,
    early: Window,
    late: Window,
    alpha: float = 0.05,
    metric: str = "",
) -> NoveltyResult:
    """Test whether the effect in the late window differs from the effect in the early one.

    `early` and `late` name per-user columns of the same users (only users observed for the
    whole of both windows): a column name for a mean metric, or a (numerator, denominator)
    pair for a ratio metric. change = (late effect) − (early effect).

    Mean metric: each user's d = late − early has, per arm, mean m_l − m_e and variance
    s_l² + s_e² − 2·cov(e, l) (the covariance is what the same users share). The test is
    Welch's t (Welch 1947) on d, exactly scipy.stats.ttest_ind(equal_var=False) on the
    per-user differences:

        change = d̄_t − d̄_c,   se² = s²_{d,t}/n_t + s²_{d,c}/n_c,   Welch–Satterthwaite df

    Ratio metric: per arm R_e = ȳ_e/x̄_e and R_l = ȳ_l/x̄_l; the arm's change R_l − R_e has,
    by the delta method on the means of (y_e, x_e, y_l, x_l) with their 4 × 4 sample
    covariance Σ (Deng, Knoblich & Lu 2018),

        var(R_l − R_e) = gᵀΣg / n,   g = (−1/x̄_e, ȳ_e/x̄_e², 1/x̄_l, −ȳ_l/x̄_l²)

    and change is tested with z = change / √(var_t + var_c). The early and late effects and
    their se are the single-window Welch / delta-method figures.

    Assumes the treatment does not change who is observed for 2k days (check the counts),
    independent users, and near-normal arm means. The covariances between every pair of the
    columns must be aggregated (KeyError naming the pair otherwise). ValueError, naming the
    metric, for alpha outside (0, 1), fewer than 2 users in an arm, windows of different
    kinds, non-finite aggregates, a denominator with mean 0, or a change with zero variance
    in both arms.
    """
    _check_alpha(alpha)
    for label, window in (("early", early), ("late", late)):
        if not isinstance(window, str) and not (
            isinstance(window, tuple)
            and len(window) == 2
            and all(isinstance(c, str) for c in window)
        ):
            raise ValueError(
                f"{label} must be a column name or a (numerator, denominator) pair of column "
                f"names, got {window!r}"
            )
    if isinstance(early, str) != isinstance(late, str):
        raise ValueError(
            f"early {early!r} and late {late!r} must both be mean columns or both "
            "(numerator, denominator) pairs"
        )
    name = metric or f"{_label(early)} → {_label(late)}"
    _check_counts(control, treatment, name)
    if isinstance(early, str) and isinstance(late, str):
        return _mean_novelty(control, treatment, early, late, alpha, name)
    assert not isinstance(early, str) and not isinstance(late, str)
    return _ratio_novelty(control, treatment, (*early, *late), alpha, name)


def _mean_novelty(
    control: Aggregates, treatment: Aggregates, early: str, late: str, alpha: float, name: str
) -> NoveltyResult:
    # each window's value, and the change, as a linear combination of (mean early, mean late)
    combinations = {
        "early": np.array([1.0, 0.0]),
        "late": np.array([0.0, 1.0]),
        "change": np.array([-1.0, 1.0]),
    }
    arms = []
    for a in (control, treatment):
        means, sigma = _moments(a, (early, late), name)
        arms.append(
            {
                k: (float(g @ means), max(float(g @ sigma @ g), 0.0), a.count)
                for k, g in combinations.items()
            }
        )
    return _result(arms, alpha, name, welch=True)


def _ratio_novelty(
    control: Aggregates,
    treatment: Aggregates,
    columns: tuple[str, ...],
    alpha: float,
    name: str,
) -> NoveltyResult:
    arms = []
    for a in (control, treatment):
        means, sigma = _moments(a, columns, name)
        y_e, x_e, y_l, x_l = means
        for column, mean in ((columns[1], x_e), (columns[3], x_l)):
            if mean == 0:
                raise ValueError(
                    f"metric {name!r}: denominator {column!r} has mean 0 in an arm, so the "
                    "ratio is undefined"
                )
        r_e, r_l = y_e / x_e, y_l / x_l
        g_early = np.array([1 / x_e, -r_e / x_e, 0.0, 0.0])
        g_late = np.array([0.0, 0.0, 1 / x_l, -r_l / x_l])
        values = {"early": r_e, "late": r_l, "change": r_l - r_e}
        gradients = {"early": g_early, "late": g_late, "change": g_late - g_early}
        with np.errstate(over="ignore", invalid="ignore"):
            arms.append(
                {
                    k: (values[k], max(float(g @ sigma @ g), 0.0), a.count)
                    for k, g in gradients.items()
                }
            )
    return _result(arms, alpha, name, welch=False)


def _moments(a: Aggregates, columns: tuple[str, ...], name: str) -> tuple[np.ndarray, np.ndarray]:
    means = np.array([a.mean_of(c) for c in columns])
    sigma = np.array([[a.cov_of(p, q) for q in columns] for p in columns])
    if not (np.isfinite(means).all() and np.isfinite(sigma).all()):
        raise ValueError(
            f"metric {name!r}: non-finite mean, variance or covariance among {list(columns)}; "
            "check the warehouse query for nulls"
        )
    return means, sigma


def _result(
    arms: list[dict[str, tuple[float, float, int]]], alpha: float, name: str, welch: bool
) -> NoveltyResult:
    """arms[i][window] = (arm value, per-user variance, count) for control (0) and treatment."""

    def effect(window: str) -> tuple[float, float, list[float]]:
        (v_c, s2_c, n_c), (v_t, s2_t, n_t) = arms[0][window], arms[1][window]
        variances = [s2_c / n_c, s2_t / n_t]
        return v_t - v_c, math.sqrt(sum(variances)), variances

    early_diff, early_se, _ = effect("early")
    late_diff, late_se, _ = effect("late")
    change, change_se, variances = effect("change")
    if not (math.isfinite(change) and math.isfinite(change_se)):
        raise ValueError(f"metric {name!r}: the change or its variance is not finite")
    if change_se == 0:
        raise ValueError(
            f"metric {name!r}: every user's late − early change is the same within each arm "
            "(zero variance in both arms); there is nothing to test"
        )
    statistic = change / change_se
    counts = (arms[0]["change"][2], arms[1]["change"][2])
    df: float | None = None
    if welch:
        largest = max(variances)
        scaled = [v / largest for v in variances]
        df = sum(scaled) ** 2 / sum(v * v / (n - 1) for v, n in zip(scaled, counts, strict=True))
        critical = float(stats.t.isf(alpha / 2, df))
        p_value = float(2 * stats.t.sf(abs(statistic), df))
    else:
        critical = float(stats.norm.isf(alpha / 2))
        p_value = float(2 * stats.norm.sf(abs(statistic)))
    return NoveltyResult(
        early_diff=early_diff,
        early_se=early_se,
        late_diff=late_diff,
        late_se=late_se,
        change=change,
        change_se=change_se,
        change_ci_low=change - critical * change_se,
        change_ci_high=change + critical * change_se,
        p_value=p_value,
        n_control=counts[0],
        n_treatment=counts[1],
        statistic=statistic,
        df=df,
        metric=name,
    )


def _label(window: Window) -> str:
    return window if isinstance(window, str) else f"{window[0]}/{window[1]}"
