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

Every argument is checked before any arithmetic, so a result is always a finite number. A bad
value raises `ConfigError` (a `ValueError`) in one line that names the argument as
`metricbook power` spells it (`--n` is `n_control`, `--mde` is `mde` or `mde_abs`) and the range
it must lie in: --alpha and --power in (0, 1) with power > alpha, --baseline and
--baseline + --mde in (0, 1), --sd positive and finite, --ratio from 1e-6 to 1e6, --mde
finite (and non-zero for a sample size), --n a whole number of users from 1 to
`MAX_USERS_PER_ARM` and --n × --ratio (the treatment arm) from 1 to as many. A design that
would need more than `MAX_USERS_PER_ARM` users in an arm is an error too, not an overflow.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Callable
from dataclasses import dataclass

from scipy import optimize
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from metricbook.errors import ConfigError

_SOLVER = NormalIndPower()

# a float counts users exactly only up to 2**53 ≈ 9e15, and no experiment has a quadrillion
MAX_USERS_PER_ARM = 10**15


@dataclass(frozen=True)
class SampleSize:
    """Users needed per arm (rounded up) and in total."""

    n_control: int
    n_treatment: int
    total: int


@dataclass(frozen=True)
class _Allowed:
    """The values an argument may take, as a test and as the words of the error message."""

    words: str
    test: Callable[[float], bool]


_PROBABILITY = _Allowed("in (0, 1)", lambda v: 0 < v < 1)
_SHARE = _Allowed("a share in (0, 1)", lambda v: 0 < v < 1)
_POSITIVE = _Allowed("positive and finite", lambda v: 0 < v < math.inf)
_FINITE = _Allowed("finite", math.isfinite)
# n_treatment / n_control: a million to one either way is already no experiment, and a ratio
# near the smallest float makes the solver's treatment arm exactly 0 users
_RATIO = _Allowed("from 1e-6 to 1e6", lambda v: 1e-6 <= v <= 1e6)
_NON_ZERO = _Allowed("finite and non-zero", lambda v: math.isfinite(v) and v != 0)
_USERS = _Allowed(
    f"a whole number of users from 1 to {MAX_USERS_PER_ARM:.0e}",
    lambda v: 1 <= v <= MAX_USERS_PER_ARM and v == math.floor(v),
)
_ARM_SIZE = _Allowed(
    f"from 1 to {MAX_USERS_PER_ARM:.0e} users", lambda v: 1 <= v <= MAX_USERS_PER_ARM
)


def _checked(flag: str, value: object, allowed: _Allowed) -> float:
    """`value` as a float, or a one-line ConfigError naming the CLI `flag` and its range.

    Anything that is not a real number (a string, None, a bool) is rejected, and nan fails
    every range; an int too large for a float counts as infinite.
    """
    number = math.nan
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf if value > 0 else -math.inf
    if not allowed.test(number):
        text = str(value) if isinstance(value, numbers.Real) else repr(value)
        shown = text if len(text) <= 24 else reprlib.repr(value)
        raise ConfigError(f"{flag} must be {allowed.words}, got {shown}")
    return number


def absolute_mde(relative_mde: float, baseline: float) -> float:
    """An absolute effect from a relative one: relative_mde · baseline (e.g. +2% of 0.10).

    ConfigError if either is not finite or their product overflows a float.
    """
    product = _checked("relative_mde", relative_mde, _FINITE) * _checked(
        "baseline", baseline, _FINITE
    )
    return _checked("relative_mde · baseline", product, _FINITE)


def sample_size_mean(
    mde: float, sd: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> SampleSize:
    """Users per arm for a two-sided test to detect a difference of means `mde` (absolute).

    n_control solves power(|mde|/sd, n_control) = power (NormalIndPower); approximately
    n_control = (z_{1−α/2} + z_{power})² · sd² · (1 + 1/ratio) / mde². The sign of `mde` does
    not matter (the test is two-sided); it must be non-zero.
    """
    alpha, ratio = _design(alpha, ratio)
    power = _target_power(power, alpha)
    effect = abs(_checked("--mde", mde, _NON_ZERO)) / _checked("--sd", sd, _POSITIVE)
    return _sample_size(effect, alpha, power, ratio)


def mde_mean(
    n_control: int, sd: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """The smallest absolute difference of means detected with `power` at `n_control` users."""
    alpha, ratio = _design(alpha, ratio)
    power = _target_power(power, alpha)
    n = _arm_size(n_control, ratio)
    sd = _checked("--sd", sd, _POSITIVE)
    mde = _solve_effect(n, alpha, power, ratio) * sd
    if not math.isfinite(mde):
        raise ConfigError(
            f"--sd {sd:g} is so large that the MDE overflows a float; express the metric in "
            "larger units"
        )
    return mde


def power_mean(
    n_control: int, mde: float, sd: float, alpha: float = 0.05, ratio: float = 1.0
) -> float:
    """The probability that a two-sided test at `alpha` rejects when the true diff is `mde`.

    `mde` may be 0 (the power is then alpha) or negative (only |mde| matters).
    """
    alpha, ratio = _design(alpha, ratio)
    n = _arm_size(n_control, ratio)
    effect = abs(_checked("--mde", mde, _FINITE)) / _checked("--sd", sd, _POSITIVE)
    return _power(effect, n, alpha, ratio)


def sample_size_proportion(
    baseline: float, mde_abs: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> SampleSize:
    """Users per arm to detect a change of a share from `baseline` to `baseline + mde_abs`.

    n_control = (z_{1−α/2} + z_{power})² · (1 + 1/ratio) / h² approximately, with Cohen's h.
    `mde_abs` must be non-zero and keep baseline + mde_abs a share in (0, 1).
    """
    alpha, ratio = _design(alpha, ratio)
    power = _target_power(power, alpha)
    h = _cohens_h(baseline, mde_abs, _NON_ZERO)
    return _sample_size(h, alpha, power, ratio)


def mde_proportion(
    baseline: float, n_control: int, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """The smallest absolute increase of a share from `baseline` detected with `power`.

    Solves for Cohen's h, then maps back: baseline + mde = sin(asin(sqrt(baseline)) + h/2)².
    The arcsine scale is not symmetric, so a decrease of the same size has slightly different
    power; this returns the upward MDE. ConfigError if no share below 1 is detectable.
    """
    alpha, ratio = _design(alpha, ratio)
    power = _target_power(power, alpha)
    baseline = _checked("--baseline", baseline, _SHARE)
    n = _arm_size(n_control, ratio)
    h = _solve_effect(n, alpha, power, ratio)
    angle = math.asin(math.sqrt(baseline)) + h / 2
    if angle >= math.pi / 2:
        raise ConfigError(
            f"with --n {n:.0f} users per arm no share above --baseline {baseline} is detectable "
            f"with --power {power}; raise --n"
        )
    return math.sin(angle) ** 2 - baseline


def power_proportion(
    baseline: float, mde_abs: float, n_control: int, alpha: float = 0.05, ratio: float = 1.0
) -> float:
    """The probability that a two-sided test rejects when the share moves by `mde_abs`.

    `mde_abs` may be 0 (the power is then alpha); baseline + mde_abs must be a share in (0, 1).
    """
    alpha, ratio = _design(alpha, ratio)
    n = _arm_size(n_control, ratio)
    h = _cohens_h(baseline, mde_abs, _FINITE)
    return _power(h, n, alpha, ratio)


def _design(alpha: float, ratio: float) -> tuple[float, float]:
    return _checked("--alpha", alpha, _PROBABILITY), _checked("--ratio", ratio, _RATIO)


def _target_power(power: float, alpha: float) -> float:
    power = _checked("--power", power, _PROBABILITY)
    if not power > alpha:
        raise ConfigError(
            f"--power ({power}) must exceed --alpha ({alpha}): with no effect at all a test "
            "already rejects with probability alpha"
        )
    return power


def _arm_size(n_control: int, ratio: float) -> float:
    """n_control, checked along with the treatment arm it implies (n_control · ratio)."""
    n = _checked("--n", n_control, _USERS)
    _checked("--n × --ratio (the treatment arm)", n * ratio, _ARM_SIZE)
    return n


def _cohens_h(baseline: float, mde_abs: float, allowed_mde: _Allowed) -> float:
    baseline = _checked("--baseline", baseline, _SHARE)
    mde_abs = _checked("--mde", mde_abs, allowed_mde)
    target = _checked("--baseline + --mde", baseline + mde_abs, _SHARE)
    return abs(float(proportion_effectsize(target, baseline)))


def _power(effect_size: float, n_control: float, alpha: float, ratio: float) -> float:
    power = _SOLVER.power(effect_size, n_control, alpha, ratio, alternative="two-sided")
    return min(1.0, max(0.0, float(power)))


def _sample_size(effect_size: float, alpha: float, power: float, ratio: float) -> SampleSize:
    """Users per arm at which the design reaches `power`, both arms within MAX_USERS_PER_ARM."""

    def shortfall(n: float) -> float:
        return _power(effect_size, n, alpha, ratio) - power

    n_control = _root(shortfall, MAX_USERS_PER_ARM)
    if n_control is None or n_control * ratio > MAX_USERS_PER_ARM:
        raise ConfigError(
            f"the design needs more than {MAX_USERS_PER_ARM:.0e} users in an arm; raise --mde "
            "(or bring --ratio closer to 1)"
        )
    # the tolerance keeps an exact solution like 62.0000000001 from becoming 63
    control = max(1, math.ceil(n_control - 1e-9))
    treatment = max(1, math.ceil(n_control * ratio - 1e-9))
    return SampleSize(n_control=control, n_treatment=treatment, total=control + treatment)


def _solve_effect(n_control: float, alpha: float, power: float, ratio: float) -> float:
    """The standardised effect at which the design reaches `power` with `n_control` users."""

    def shortfall(effect_size: float) -> float:
        return _power(effect_size, n_control, alpha, ratio) - power

    # with both arms of at least 1 user the answer is below (z_{α/2} + z_power)·sqrt(2) < 100
    effect_size = _root(shortfall, 1e6)
    if effect_size is None:
        raise ConfigError(f"--alpha {alpha} is too small to compute a power; raise --alpha")
    return effect_size


def _root(shortfall: Callable[[float], float], upper: float) -> float | None:
    """The x in [1e-12, upper] where the increasing `shortfall` crosses 0; None if it never
    does. Doubling brackets the root, then brentq (tolerance 1e-10 relative) finds it:
    statsmodels' own solve_power stops a few 1e-6 short in power. Below 1e-12 is 1e-12."""
    low, high = 1e-12, 1.0
    if shortfall(low) >= 0:
        return low
    while shortfall(high) < 0:
        if high >= upper:
            return None
        low, high = high, min(2 * high, upper)
    return float(optimize.brentq(shortfall, low, high, xtol=1e-300, rtol=1e-10))
