"""Sample ratio mismatch: are the users split across variants as the design intended?"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from scipy import stats


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

    expected_count_v = share_v / Σ shares · Σ counts;  χ² = Σ_v (count_v − expected_v)² /
    expected_v with (variants − 1) degrees of freedom (scipy.stats.chisquare). A mismatch means
    assignment or logging is broken and the experiment's effects are not trustworthy (Fabijan
    et al. 2019, "Diagnosing Sample Ratio Mismatch in Online Controlled Experiments"). The
    conventional threshold is small (0.001) because the check runs on every experiment.
    `passed` is p_value >= threshold. Shares are normalised, so {"a": 1, "b": 1} means 50/50.
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
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    not_positive = sorted(v for v, share in expected_shares.items() if not share > 0)
    if not_positive:
        raise ValueError(f"expected shares must be positive; check variants {not_positive}")
    negative = sorted(v for v, count in counts.items() if count < 0)
    if negative:
        raise ValueError(f"counts must be non-negative; check variants {negative}")
    variants = list(counts)
    total_share = sum(expected_shares.values())
    shares = {v: expected_shares[v] / total_share for v in variants}
    total = sum(counts.values())
    if total == 0:
        raise ValueError("every variant has 0 users; there is nothing to test")
    expected = {v: shares[v] * total for v in variants}
    statistic, p_value = stats.chisquare(
        [counts[v] for v in variants], [expected[v] for v in variants]
    )
    return SrmResult(
        p_value=float(p_value),
        statistic=float(statistic),
        counts=MappingProxyType(dict(counts)),
        expected_shares=MappingProxyType(shares),
        expected_counts=MappingProxyType(expected),
        passed=bool(p_value >= threshold),
        threshold=threshold,
    )
