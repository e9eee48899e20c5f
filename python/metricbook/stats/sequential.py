"""Always-valid inference: p-values and confidence sequences that survive peeking.

A fixed-horizon test read at every look inflates the false-positive rate far above alpha. The
mixture sequential probability ratio test (mSPRT) of Johari, Koomen, Pekelis & Walsh (2017),
"Peeking at A/B Tests: Why it matters, and what to do about it" (KDD), gives a p-value that
may be read at any look, any number of times, and stops being valid only never.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from metricbook.stats.aggregates import Aggregates, pool

# default mixing variance, in units of the per-user variance: τ = 0.1 standard deviations
DEFAULT_TAU2_PER_USER_VARIANCE = 0.01


@dataclass(frozen=True)
class SequentialLook:
    """The always-valid state of a difference of means after one look (diff = t − c)."""

    look: int
    n_control: int
    n_treatment: int
    diff: float
    p_value_always_valid: float
    ci_low: float
    ci_high: float
    reject: bool


def default_tau2(control: Aggregates, treatment: Aggregates, column: str) -> float:
    """The default mixing variance: τ² = 0.01 · (pooled per-user variance of `column`).

    It puts the mixture's weight on effects around 0.1 per-user standard deviations. The
    mSPRT stays valid for any τ² fixed in advance; τ² only trades power between small and
    large effects, and the boundary is flat over a wide range. Johari et al. (2017) fit τ² to
    the effects seen in past experiments; pass `tau2` to `msprt` to do that. `msprt` computes
    the default on the first look only, so later looks never change the p-values already
    reported.
    """
    variance = pool(control, treatment).var_of(column)
    if not (math.isfinite(variance) and variance > 0):
        raise ValueError(
            f"column {column!r} has no positive variance at the first look; pass tau2 explicitly"
        )
    return DEFAULT_TAU2_PER_USER_VARIANCE * variance


def msprt(
    looks: Sequence[tuple[Aggregates, Aggregates]],
    column: str,
    alpha: float = 0.05,
    tau2: float | None = None,
) -> list[SequentialLook]:
    """mSPRT with a normal mixture for a difference of means (Johari et al. 2017).

    `looks` are cumulative (control, treatment) aggregates, one pair per look. At look k the
    estimate d̂ = m_t − m_c has variance s² = s_t²/n_t + s_c²/n_c (plug-in). With a N(0, τ²)
    mixture over the true difference δ, the mixture likelihood ratio against H0: δ = 0 is

        Λ_k = sqrt(s²/(s² + τ²)) · exp(τ²·d̂² / (2·s²·(s² + τ²)))

    (the paper's two-sample formula with s² = 2σ²/n). By Ville's inequality
    P(sup_k Λ_k ≥ 1/α) ≤ α under H0, so the always-valid p-value p_k = min(p_{k−1}, 1/Λ_k)
    (p_0 = 1) is valid at any stopping time. Inverting Λ_k(δ) < 1/α gives the confidence
    sequence

        d̂ ± sqrt(s²·(s² + τ²)/τ² · (2·log(1/α) + log((s² + τ²)/s²)))

    intersected with the intervals of earlier looks (the set of δ whose running p-value is
    still > α). `reject` is p_k ≤ α. Assumes d̂ is approximately normal at every look and the
    looks are fixed by time or count, not by the data; s² is estimated, which the paper's
    known-variance guarantee only covers asymptotically. `tau2` defaults to `default_tau2`
    on the first look.

    If the intersection becomes empty (no single effect is consistent with every look, e.g.
    because the variance estimate moved a lot between looks), ci_low and ci_high are nan from
    that look on; every δ, 0 included, has then been rejected, so `reject` is True. A look
    with fewer than 2 users in an arm, or zero or undefined variance, is a ValueError.
    """
    if not looks:
        raise ValueError("msprt needs at least one look")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if tau2 is None:
        tau2 = default_tau2(*looks[0], column)
    if not (math.isfinite(tau2) and tau2 > 0):
        raise ValueError(f"tau2 must be positive, got {tau2}")
    results: list[SequentialLook] = []
    p_value, ci_low, ci_high = 1.0, -math.inf, math.inf
    previous = (0, 0)
    for index, (control, treatment) in enumerate(looks, start=1):
        counts = (control.count, treatment.count)
        if counts[0] < previous[0] or counts[1] < previous[1]:
            raise ValueError(
                f"look {index} has fewer users than look {index - 1} ({counts} < {previous}); "
                "looks must be cumulative"
            )
        if min(counts) < 2:
            raise ValueError(f"look {index} has fewer than 2 users in an arm: {counts}")
        previous = counts
        diff = treatment.mean_of(column) - control.mean_of(column)
        s2 = treatment.var_of(column) / treatment.count + control.var_of(column) / control.count
        if not (math.isfinite(s2) and s2 > 0):
            raise ValueError(f"look {index}: column {column!r} has zero or undefined variance")
        look = always_valid(diff, s2, alpha, tau2)
        p_value = min(p_value, look.p_value)
        ci_low, ci_high = max(ci_low, look.ci_low), min(ci_high, look.ci_high)
        empty = ci_low > ci_high
        results.append(
            SequentialLook(
                look=index,
                n_control=control.count,
                n_treatment=treatment.count,
                diff=diff,
                p_value_always_valid=p_value,
                ci_low=math.nan if empty else ci_low,
                ci_high=math.nan if empty else ci_high,
                reject=p_value <= alpha,
            )
        )
    return results


@dataclass(frozen=True)
class AlwaysValid:
    """One look's always-valid p-value and confidence interval (no running min/intersection)."""

    p_value: float
    ci_low: float
    ci_high: float
    tau2: float


def always_valid(
    diff: float,
    variance: float,
    alpha: float = 0.05,
    tau2: float | None = None,
    n_control: int | None = None,
    n_treatment: int | None = None,
) -> AlwaysValid:
    """The mSPRT statistic of `msprt` for any asymptotically normal estimate d̂ with variance
    s² (a delta-method ratio, a CUPED-adjusted difference): p = min(1, 1/Λ) with
    Λ = sqrt(s²/(s² + τ²)) · exp(τ²·d̂²/(2·s²·(s² + τ²))), and the matching interval
    d̂ ± sqrt(s²·(s² + τ²)/τ² · (2·log(1/α) + log((s² + τ²)/s²))) (Johari et al. 2017).

    Valid at this look whatever looks came before it. Without `tau2` the default mirrors
    `default_tau2`: 0.01 × the per-user variance that s² implies, s² / (1/n_c + 1/n_t), which
    needs the arm sizes.

    ValueError, like the fixed-horizon tests, when the look is undefined: a non-finite diff,
    a variance that is 0, negative or nan (a constant metric has no always-valid p-value),
    alpha outside (0, 1), a tau2 that is not positive and finite, or arm sizes below 1. For
    finite inputs p_value is in [0, 1] (0 when Λ overflows) and the interval is finite unless
    its half-width overflows a float (τ² vanishingly small next to s²): then it is ±inf.
    """
    if not math.isfinite(diff):
        raise ValueError(f"the estimate's diff must be finite, got {diff}")
    if not (math.isfinite(variance) and variance > 0):
        raise ValueError(f"the estimate's variance must be positive, got {variance}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if tau2 is None:
        if not (n_control and n_treatment):
            raise ValueError("always_valid needs tau2, or n_control and n_treatment for it")
        if not (n_control >= 1 and n_treatment >= 1):
            raise ValueError(
                f"arm sizes must be at least 1, got n_control={n_control}, "
                f"n_treatment={n_treatment}"
            )
        per_user_variance = variance / (1 / n_control + 1 / n_treatment)
        tau2 = DEFAULT_TAU2_PER_USER_VARIANCE * per_user_variance
    if not (math.isfinite(tau2) and tau2 > 0):
        raise ValueError(f"tau2 must be positive and finite, got {tau2}")
    s2 = variance
    # log Λ = −½·log(1 + τ²/s²) + ½·z²·τ²/(s² + τ²) with z = d̂/s, in a form that neither
    # squares d̂ (OverflowError) nor multiplies two small variances (0, then ZeroDivisionError)
    log_spread = _log1p_ratio(tau2, s2)
    z = diff / math.sqrt(s2)
    log_lambda = -0.5 * log_spread + 0.5 * z * z * (tau2 / (s2 + tau2))
    half_width = (
        math.sqrt(s2)
        * math.hypot(1.0, math.sqrt(s2) / math.sqrt(tau2))
        * math.sqrt(-2 * math.log(alpha) + log_spread)
    )
    return AlwaysValid(
        p_value=1.0 if log_lambda <= 0 else math.exp(-log_lambda),
        ci_low=diff - half_width,
        ci_high=diff + half_width,
        tau2=tau2,
    )


def _log1p_ratio(a: float, b: float) -> float:
    """log(1 + a/b) for positive a, b, also when a/b overflows a float."""
    ratio = a / b
    return math.log1p(ratio) if math.isfinite(ratio) else math.log(a) - math.log(b)


def cumulative_looks(
    control: np.ndarray, treatment: np.ndarray, n_looks: int, column: str = "value"
) -> list[tuple[Aggregates, Aggregates]]:
    """Aggregates of growing prefixes of per-user arrays: look k sees the first ⌈k·n/K⌉ users.

    For tests and notebooks; in production each look is a warehouse query up to a timestamp.
    """
    if n_looks < 1:
        raise ValueError(f"n_looks must be positive, got {n_looks}")
    for label, values in (("control", control), ("treatment", treatment)):
        if not np.isfinite(np.asarray(values, dtype=float)).all():
            raise ValueError(f"{label}: the arm has non-finite values; drop or fill them first")
    arms = [
        _prefix_aggregates(np.asarray(values, dtype=float), n_looks, column)
        for values in (control, treatment)
    ]
    return list(zip(arms[0], arms[1], strict=True))


def _prefix_aggregates(values: np.ndarray, n_looks: int, column: str) -> list[Aggregates]:
    if values.ndim != 1 or len(values) < 2 * n_looks:
        raise ValueError(
            f"need a 1-D array with at least 2 users per look, got shape {values.shape} "
            f"for {n_looks} looks"
        )
    ends = np.ceil(np.arange(1, n_looks + 1) * len(values) / n_looks).astype(int)
    # centring first keeps the running sum of squares from cancelling catastrophically; values
    # beyond ~1e154 overflow to an infinite variance, which `msprt` rejects by name
    with np.errstate(over="ignore", invalid="ignore"):
        centred = values - values.mean()
        sums = np.cumsum(centred)[ends - 1]
        squares = np.cumsum(centred**2)[ends - 1]
        means = sums / ends
        # rounding can leave a constant prefix a variance of −1e−30; a variance is never < 0
        variances = np.maximum((squares - ends * means**2) / (ends - 1), 0.0)
    return [
        Aggregates(
            count=int(n), mean={column: float(m + values.mean())}, var={column: float(v)}, cov={}
        )
        for n, m, v in zip(ends, means, variances, strict=True)
    ]
