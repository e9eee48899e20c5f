"""Sample ratio mismatch: are the users split across variants as the design intended?"""

from __future__ import annotations

import decimal
import math
import numbers
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from scipy import stats

# how far the designed shares may sum from 1: the warehouse's rule too (int_experiment_checks
# excludes an experiment as traffic_shares_do_not_sum_to_one beyond it), so the two agree
SHARE_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class SrmResult:
    """A chi-square goodness-of-fit check of variant sizes against the designed split."""

    p_value: float
    statistic: float
    counts: Mapping[str, int]
    expected_shares: Mapping[str, float]
    expected_counts: Mapping[str, float]
    passed: bool
    threshold: float


def srm_test(
    counts: Mapping[str, int],
    expected_shares: Mapping[str, float],
    threshold: float = 0.001,
) -> SrmResult:
    """Pearson's chi-square test of observed variant counts against the designed shares.

    expected_v = share_v · Σ counts;  χ² = Σ_v (count_v − expected_v)² / expected_v with
    (variants − 1) degrees of freedom, p = P(χ²_{k−1} ≥ χ²) (as scipy.stats.chisquare). A
    mismatch means assignment or logging is broken and the experiment's effects are not
    trustworthy (Fabijan et al. 2019, "Diagnosing Sample Ratio Mismatch in Online Controlled
    Experiments"). The conventional threshold is small (0.001) because the check runs on every
    experiment. `passed` is p_value >= threshold.

    The shares are the design's traffic shares: each positive and finite, summing to 1 within
    `SHARE_SUM_TOLERANCE` (0.3333 three times is fine, and is rescaled to sum to exactly 1;
    {"a": 1, "b": 1} or 0.45 + 0.45 is a ValueError naming the variants and the sum, never a
    silent 50/50). Counts must be whole non-negative numbers of users, not all 0. Every
    ValueError names the variants at fault. The statistic is finite unless a χ² term overflows
    a float (a share below ~1e-300 that has users, or counts beyond ~1e150): then it is +inf
    and p_value is 0.
    """
    only_counted = sorted(set(counts) - set(expected_shares))
    only_shared = sorted(set(expected_shares) - set(counts))
    if only_counted or only_shared:
        raise ValueError(
            f"variants must match: {only_counted} have counts but no expected share, "
            f"{only_shared} have a share but no count"
        )
    if len(counts) < 2:
        raise ValueError(f"an SRM test needs at least 2 variants, got {sorted(counts)}")
    if not 0 < _number(threshold) < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    variants = list(counts)
    bad_shares = sorted(v for v in variants if not 0 < _number(expected_shares[v]) < math.inf)
    if bad_shares:
        raise ValueError(
            f"expected shares must be positive finite numbers; check variants {bad_shares} "
            f"({reprlib.repr({v: expected_shares[v] for v in bad_shares})})"
        )
    bad_counts = sorted(v for v in variants if not _is_whole_count(counts[v]))
    if bad_counts:
        raise ValueError(
            f"counts must be whole non-negative numbers of users; check variants {bad_counts} "
            f"({reprlib.repr({v: counts[v] for v in bad_counts})})"
        )
    total_share = sum(float(expected_shares[v]) for v in variants)
    if abs(total_share - 1) > SHARE_SUM_TOLERANCE:
        raise ValueError(
            f"expected shares {reprlib.repr(dict(expected_shares))} sum to {total_share:g}, not 1 "
            f"(tolerance {SHARE_SUM_TOLERANCE:g}); give each variant's share of the traffic"
        )
    total = sum(int(counts[v]) for v in variants)
    if total == 0:
        raise ValueError(
            f"every variant of {sorted(variants)} has 0 users; there is nothing to test"
        )
    shares = {v: float(expected_shares[v]) / total_share for v in variants}
    expected = {v: shares[v] * total for v in variants}
    # (c − e)/e · (c − e) overflows to inf instead of raising as (c − e)**2 would
    statistic = sum(
        (counts[v] - expected[v]) / expected[v] * (counts[v] - expected[v]) for v in variants
    )
    p_value = float(stats.chi2.sf(statistic, len(variants) - 1))
    return SrmResult(
        p_value=p_value,
        statistic=statistic,
        counts=MappingProxyType(dict(counts)),
        expected_shares=MappingProxyType(shares),
        expected_counts=MappingProxyType(expected),
        passed=bool(p_value >= threshold),
        threshold=threshold,
    )


def _number(value: object) -> float:
    """`value` as a float; nan (which fails every check) for a bool, a string or None, and inf
    for an int too large for a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | decimal.Decimal):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _is_whole_count(value: object) -> bool:
    number = _number(value)
    return 0 <= number < math.inf and number.is_integer()
