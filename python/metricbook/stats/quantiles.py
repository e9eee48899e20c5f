"""Quantile metrics (median, p90) with a confidence interval from order statistics.

Designed for pushdown: the warehouse counts the users of an arm, `quantile_ranks` turns the
count into three ranks, and the warehouse returns the order statistics at those ranks (e.g.
`row_number() over (order by value)` filtered to the ranks). No per-user rows leave it, and no
density estimate is needed: the interval is distribution-free.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from scipy import stats

from metricbook.stats.methods import EffectEstimate, _Arm, _check_alpha, _z_estimate


@dataclass(frozen=True)
class QuantileRanks:
    """1-based ranks into an arm's sorted values: the sample quantile and its CI ends."""

    point: int
    lower: int
    upper: int


def quantile_ranks(n: int, q: float, alpha: float = 0.05) -> QuantileRanks:
    """The ranks of the sample q-quantile and of its distribution-free (1 − α) interval.

    With z = z_{1−α/2} and 1-based ranks into the n sorted values x_(1) ≤ … ≤ x_(n):

        point = ⌈n·q⌉                                   (inverse-CDF quantile, Hyndman–Fan
                                                         type 1, numpy method="inverted_cdf")
        lower = max(1, ⌊n·q − z·√(n·q·(1 − q))⌋)
        upper = min(n, ⌈n·q + z·√(n·q·(1 − q))⌉)

    The number of values below the true quantile ξ_q is Binomial(n, q), so
    P(x_(lower) ≤ ξ_q ≤ x_(upper)) ≈ 1 − α by its normal approximation, whatever the
    distribution (continuous); rounding both ends outwards keeps the interval at least that
    wide. This is the interval Deng, Knoblich & Lu (2018, "Applying the Delta Method in
    Metric Analytics", KDD, section on quantile metrics) use to avoid a density estimate; the
    textbook version is Conover (1999, Practical Nonparametric Statistics, §3.2). The exact
    binomial interval of scipy.stats.quantile_test(...).confidence_interval() picks ranks from
    the binomial quantiles instead; at n = 400 its ranks are the same or one further out (an
    upper rank one higher is the "+1" some references add). n·q is rounded to 12 significant
    digits before ⌈·⌉ so that 400 · 0.9 (= 360.00000000000006 in floats) is rank 360.

    ValueError for n not a whole number ≥ 1, q outside (0, 1) or alpha outside (0, 1).
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a whole number of users ≥ 1, got {n!r}")
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1), got {q!r}")
    _check_alpha(alpha)
    z = float(stats.norm.isf(alpha / 2))
    centre = float(f"{n * q:.12g}")
    half_width = z * math.sqrt(n * q * (1 - q))
    return QuantileRanks(
        point=max(1, math.ceil(centre)),
        lower=max(1, math.floor(centre - half_width)),
        upper=min(int(n), math.ceil(centre + half_width)),
    )


@dataclass(frozen=True)
class QuantileArm:
    """One arm's sample q-quantile and the order statistics at its interval's ranks.

    `value`, `lower_value` and `upper_value` are x_(point), x_(lower) and x_(upper) for the
    ranks of `quantile_ranks(n, q, alpha)`, with the alpha later given to
    `quantile_difference` (a different alpha mis-scales the standard error).
    """

    n: int
    q: float
    value: float
    lower_value: float
    upper_value: float


def sample_quantile_arm(values: np.ndarray, q: float, alpha: float = 0.05) -> QuantileArm:
    """The `QuantileArm` of per-user values: the numpy mirror of the warehouse query.

    `value` equals np.quantile(values, q, method="inverted_cdf"). ValueError for an empty,
    non-1-D or non-finite array, or q / alpha outside (0, 1).
    """
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or len(array) == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("values has non-finite entries; drop or fill them first")
    ranks = quantile_ranks(len(array), q, alpha)
    ordered = np.sort(array)
    return QuantileArm(
        n=len(array),
        q=q,
        value=float(ordered[ranks.point - 1]),
        lower_value=float(ordered[ranks.lower - 1]),
        upper_value=float(ordered[ranks.upper - 1]),
    )


def quantile_difference(
    control: QuantileArm, treatment: QuantileArm, alpha: float = 0.05, metric: str = ""
) -> EffectEstimate:
    """z test for the difference of two arms' q-quantiles (Deng, Knoblich & Lu 2018).

    Each arm's order-statistic interval [x_(lower), x_(upper)] (`quantile_ranks`) is, to first
    order, the sample quantile ± z·se; the standard error is read back from its width:

        se_arm  = (upper_value − lower_value) / (2·z_{1−α/2})
        diff    = value_t − value_c,   diff_se = √(se_c² + se_t²)

    z = diff/diff_se, p = 2·Φ(−|z|), CI = diff ± z_{1−α/2}·diff_se, and the relative lift with
    the log-ratio delta method of `metricbook.stats.methods` (nan when a quantile is ≤ 0). This
    avoids estimating the density at the quantile (the asymptotic variance is
    q(1 − q)/(n·f(ξ_q)²)): the order statistics carry it. Assumes independent users and a
    continuous distribution with positive density at the quantile. Measured coverage of the
    95% diff CI for lognormal(σ = 1) arms of 400 users: median 0.950, p90 0.960 (40 000 runs;
    in a long right tail the interval's width overstates the se by ~7% at this n, so the p90
    interval is slightly conservative; at n = 2000 it is 0.957).

    Ties: on discrete data (counts, rounded amounts) the order statistics at the three ranks
    often coincide. The interval then has width 0 (or jumps between grid points), se is 0 or
    badly understated and the CI does not keep its coverage; a difference of two tied medians
    is 0 with no uncertainty. When both arms' se are 0 this is a ValueError saying so; read
    a mean or the share of users above a threshold (a proportion) instead.

    ValueError, naming the metric, for alpha outside (0, 1), arms with different q, an arm
    with fewer than 2 users, non-finite values, or values not ordered lower ≤ value ≤ upper.
    """
    name = metric or f"p{100 * control.q:g}"
    _check_alpha(alpha)
    if control.q != treatment.q:
        raise ValueError(
            f"metric {name!r}: the arms have different quantiles (q = {control.q} and "
            f"{treatment.q}); compare the same quantile"
        )
    z = float(stats.norm.isf(alpha / 2))
    arms = []
    for label, arm in (("control", control), ("treatment", treatment)):
        if arm.n < 2:
            raise ValueError(
                f"metric {name!r}: the {label} arm has {arm.n} user(s); at least 2 per arm are "
                "needed"
            )
        triple = (arm.lower_value, arm.value, arm.upper_value)
        if not all(math.isfinite(v) for v in triple):
            raise ValueError(
                f"metric {name!r}: the {label} arm has a non-finite order statistic {triple}; "
                "check the warehouse query for nulls"
            )
        if not arm.lower_value <= arm.value <= arm.upper_value:
            raise ValueError(
                f"metric {name!r}: the {label} arm's order statistics are not ordered "
                f"lower ≤ value ≤ upper: {triple}; check the ranks (quantile_ranks)"
            )
        se = (arm.upper_value - arm.lower_value) / (2 * z)
        arms.append(_Arm(count=arm.n, value=arm.value, variance=se * se))
    if arms[0].variance == 0 and arms[1].variance == 0:
        raise ValueError(
            f"metric {name!r}: in both arms the quantile sits on a tie (the order statistics "
            f"at its interval's ranks are all equal: {control.value} and {treatment.value}), "
            "so it has no measurable uncertainty; discrete data: use a mean or a share above "
            "a threshold instead"
        )
    return _z_estimate(name, "quantile", "quantile_order_statistic_z", arms[0], arms[1], alpha)
