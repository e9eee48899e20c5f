"""A Bayesian view of an effect beside the frequentist one: the posterior of the relative lift.

Not a different test: the same estimate and standard error, read through a normal prior on
the relative lift, answer "how likely is it that treatment is better?" and "how much do we
expect to lose by shipping it if it is not?".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

Direction = Literal["increase", "decrease"]


@dataclass(frozen=True)
class NormalPrior:
    """A normal prior on the relative lift (treatment / control − 1): N(mean, sd²).

    The default N(0, 0.3²) says a product change moves a metric by less than ±30% about two
    times in three and by less than ±60% almost always: a lift of ±30% is already large for a
    product change, so the prior is weak where experiments live (a few percent) and only
    tempers implausibly large estimates from small samples. When the data are precise
    (relative se ≪ 0.3) the posterior barely moves from the estimate: with a relative se of
    0.02 the estimate is shrunk by 0.02²/(0.02² + 0.3²) ≈ 0.4%. Fit the mean and sd to past
    experiments' lifts to make it informative. ValueError for a non-finite mean or an sd
    that is not positive and finite.
    """

    mean: float = 0.0
    sd: float = 0.3

    def __post_init__(self) -> None:
        if not math.isfinite(self.mean):
            raise ValueError(f"the prior mean must be finite, got {self.mean}")
        if not (math.isfinite(self.sd) and self.sd > 0):
            raise ValueError(f"the prior sd must be positive and finite, got {self.sd}")


@dataclass(frozen=True)
class BayesianResult:
    """The posterior of the relative lift and the decision quantities read from it.

    `ci_low`/`ci_high` bound the equal-tailed (1 − α) credible interval; `chance_to_win` is
    the posterior probability that the lift is in the wanted direction; `expected_loss` is
    the expected relative loss of shipping treatment, E[max(0, −sign·lift)], in the units of
    the lift (0.01 = one percent of the control value).
    """

    prior_mean: float
    prior_sd: float
    posterior_mean: float
    posterior_sd: float
    ci_low: float
    ci_high: float
    chance_to_win: float
    expected_loss: float


def bayesian_view(
    diff: float,
    diff_se: float,
    control_value: float,
    prior: NormalPrior | None = None,
    direction: Direction = "increase",
    alpha: float = 0.05,
) -> BayesianResult:
    """Conjugate normal posterior of the relative lift, from an effect's diff and its se.

    Likelihood (first-order delta method, the control value treated as known):

        rel = diff / control_value  ~  N(lift, se_rel²),   se_rel = diff_se / |control_value|

    With the prior N(m₀, s₀²) the posterior is N(μ, σ²):

        σ² = s₀²·se_rel² / (s₀² + se_rel²),   μ = (m₀·se_rel² + rel·s₀²) / (s₀² + se_rel²)

    credible interval μ ± z_{1−α/2}·σ. With sign = +1 for "increase", −1 for "decrease":

        chance_to_win = Φ(sign·μ/σ)
        expected_loss = E[max(0, −sign·lift)] = σ·φ(μ/σ) − sign·μ·Φ(−sign·μ/σ)

    the expected loss of the risk-based decision rule (Stucchio 2015, "Bayesian A/B Testing
    at VWO"); GrowthBook's Gaussian engine (gbstats) reads the relative lift the same way.
    Assumes diff is approximately normal and the control value is estimated much more
    precisely than the diff (true for a control mean over many users; the delta method's
    second-order terms and the control's own noise are ignored), and a prior chosen before
    seeing the data. ValueError for non-finite inputs, diff_se ≤ 0, control_value = 0, an
    unknown direction or alpha outside (0, 1).
    """
    prior = prior or NormalPrior()
    for label, value in (("diff", diff), ("diff_se", diff_se), ("control_value", control_value)):
        if not math.isfinite(value):
            raise ValueError(f"{label} must be finite, got {value}")
    if not diff_se > 0:
        raise ValueError(f"diff_se must be positive, got {diff_se}")
    if control_value == 0:
        raise ValueError("control_value is 0: the relative lift is undefined")
    if direction not in ("increase", "decrease"):
        raise ValueError(f"direction must be 'increase' or 'decrease', got {direction!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    rel = diff / control_value
    se_rel = diff_se / abs(control_value)
    if not (math.isfinite(rel) and math.isfinite(se_rel) and se_rel > 0):
        raise ValueError(
            f"the relative lift {rel} or its se {se_rel} is not finite and positive: "
            "control_value is too small next to diff or diff_se"
        )
    # shrinkage towards the prior as a share, never squaring or inverting one variance alone
    ratio = prior.sd / se_rel
    shrink = 1 / (1 + ratio * ratio)
    mean = rel + shrink * (prior.mean - rel)
    sd = se_rel * math.sqrt(1 - shrink) if shrink < 0.5 else prior.sd * math.sqrt(shrink)
    z = float(stats.norm.isf(alpha / 2))
    sign = 1.0 if direction == "increase" else -1.0
    standardised = sign * mean / sd
    # φ(a) for |a| beyond ~1e154 squares to inf inside scipy: it is 0 there, as it should be
    with np.errstate(over="ignore"):
        density = float(stats.norm.pdf(standardised))
    return BayesianResult(
        prior_mean=prior.mean,
        prior_sd=prior.sd,
        posterior_mean=mean,
        posterior_sd=sd,
        ci_low=mean - z * sd,
        ci_high=mean + z * sd,
        chance_to_win=float(stats.norm.cdf(standardised)),
        expected_loss=float(sd * (density - standardised * stats.norm.cdf(-standardised))),
    )
