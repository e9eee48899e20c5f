"""Sample size, minimum detectable effect and power for two-arm, two-sided tests.

All functions use the normal approximation through statsmodels' `NormalIndPower`: with
n_treatment = ratio · n_control and a standardised effect d, the test statistic is
N(d·sqrt(n_eff), 1) with 1/n_eff = 1/n_control + 1/n_treatment, and power counts both
rejection tails. For the sample sizes of online experiments this is indistinguishable from the
t distribution the analysis (`welch_t`) uses; for a handful of users per arm it is slightly
optimistic (statsmodels' TTestIndPower asks for one or two more users per arm at n ≈ 60).

Mean metrics standardise by the per-user standard deviation (assumed equal in both arms):
d = mde / sd. Proportion metrics use Cohen's h (Cohen 1988, ch. 6), the difference of
arcsine-square-root transformed shares, via statsmodels' `proportion_effectsize`:
h = 2·asin(sqrt(baseline + mde)) − 2·asin(sqrt(baseline)), whose estimate has variance
≈ 1/n per arm whatever the baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import optimize
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

_SOLVER = NormalIndPower()


@dataclass(frozen=True)
class SampleSize:
    """Users needed per arm (rounded up) and in total."""

    n_control: int
    n_treatment: int
    total: int


def absolute_mde(relative_mde: float, baseline: float) -> float:
    """An absolute effect from a relative one: relative_mde · baseline (e.g. +2% of 0.10)."""
    return relative_mde * baseline


def sample_size_mean(
    mde: float, sd: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> SampleSize:
    """Users per arm for a two-sided test to detect a difference of means `mde` (absolute).

    n_control solves power(mde/sd, n_control) = power (NormalIndPower); approximately
    n_control = (z_{1−α/2} + z_{power})² · sd² · (1 + 1/ratio) / mde².
    """
    _check_design(alpha, power, ratio)
    _check_positive(mde=mde, sd=sd)
    n_control = _solve(effect_size=mde / sd, nobs1=None, alpha=alpha, power=power, ratio=ratio)
    return _rounded_up(n_control, ratio)


def mde_mean(
    n_control: int, sd: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """The smallest absolute difference of means detected with `power` at `n_control` users."""
    _check_design(alpha, power, ratio)
    _check_positive(n_control=n_control, sd=sd)
    return _solve(effect_size=None, nobs1=n_control, alpha=alpha, power=power, ratio=ratio) * sd


def power_mean(
    n_control: int, mde: float, sd: float, alpha: float = 0.05, ratio: float = 1.0
) -> float:
    """The probability that a two-sided test at `alpha` rejects when the true diff is `mde`."""
    _check_design(alpha, 0.5, ratio)
    _check_positive(n_control=n_control, sd=sd)
    return float(_SOLVER.power(abs(mde) / sd, n_control, alpha, ratio, alternative="two-sided"))


def sample_size_proportion(
    baseline: float, mde_abs: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> SampleSize:
    """Users per arm to detect a change of a share from `baseline` to `baseline + mde_abs`.

    n_control = (z_{1−α/2} + z_{power})² · (1 + 1/ratio) / h² approximately, with Cohen's h.
    """
    _check_design(alpha, power, ratio)
    h = _cohens_h(baseline, mde_abs)
    n_control = _solve(effect_size=h, nobs1=None, alpha=alpha, power=power, ratio=ratio)
    return _rounded_up(n_control, ratio)


def mde_proportion(
    baseline: float, n_control: int, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """The smallest absolute increase of a share from `baseline` detected with `power`.

    Solves for Cohen's h, then maps back: baseline + mde = sin(asin(sqrt(baseline)) + h/2)².
    The arcsine scale is not symmetric, so a decrease of the same size has slightly different
    power; this returns the upward MDE.
    """
    _check_design(alpha, power, ratio)
    _check_share(baseline)
    _check_positive(n_control=n_control)
    h = _solve(effect_size=None, nobs1=n_control, alpha=alpha, power=power, ratio=ratio)
    angle = math.asin(math.sqrt(baseline)) + h / 2
    if angle >= math.pi / 2:
        raise ValueError(
            f"with {n_control} users per arm no share above {baseline} is detectable with "
            f"power {power}; add users"
        )
    return math.sin(angle) ** 2 - baseline


def power_proportion(
    baseline: float, mde_abs: float, n_control: int, alpha: float = 0.05, ratio: float = 1.0
) -> float:
    """The probability that a two-sided test rejects when the share moves by `mde_abs`."""
    _check_design(alpha, 0.5, ratio)
    _check_positive(n_control=n_control)
    h = _cohens_h(baseline, mde_abs)
    return float(_SOLVER.power(h, n_control, alpha, ratio, alternative="two-sided"))


def _solve(
    effect_size: float | None,
    nobs1: float | None,
    alpha: float,
    power: float,
    ratio: float,
) -> float:
    """The missing one of effect_size / nobs1 at which NormalIndPower reaches `power`.

    A bracketing root search (brentq, tolerance 1e-10 relative) on statsmodels' power
    function; statsmodels' own solve_power stops a few 1e-6 short in power.
    """
    if not power > alpha:
        raise ValueError(f"power ({power}) must exceed alpha ({alpha})")
    if effect_size is None:
        assert nobs1 is not None

        def shortfall(x: float) -> float:
            return _SOLVER.power(x, nobs1, alpha, ratio, alternative="two-sided") - power

    else:

        def shortfall(x: float) -> float:
            return _SOLVER.power(effect_size, x, alpha, ratio, alternative="two-sided") - power

    low, high = 1e-12, 1.0
    while shortfall(high) < 0:
        low, high = high, 2 * high
        assert high < 1e300, "power does not reach the target"
    return float(optimize.brentq(shortfall, low, high, xtol=1e-300, rtol=1e-10))


def _cohens_h(baseline: float, mde_abs: float) -> float:
    _check_share(baseline)
    _check_share(baseline + mde_abs, name="baseline + mde_abs")
    if mde_abs == 0:
        raise ValueError("mde_abs must be non-zero")
    return abs(float(proportion_effectsize(baseline + mde_abs, baseline)))


def _rounded_up(n_control: float, ratio: float) -> SampleSize:
    # the tolerance keeps an exact solution like 62.0000000001 from becoming 63
    control = math.ceil(n_control - 1e-9)
    treatment = math.ceil(n_control * ratio - 1e-9)
    return SampleSize(n_control=control, n_treatment=treatment, total=control + treatment)


def _check_design(alpha: float, power: float, ratio: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if not ratio > 0:
        raise ValueError(f"ratio (n_treatment / n_control) must be positive, got {ratio}")


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")


def _check_share(share: float, name: str = "baseline") -> None:
    if not 0 < share < 1:
        raise ValueError(f"{name} must be a share in (0, 1), got {share}")
