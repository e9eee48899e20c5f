"""Triggered analysis: the effect among exposed users, and what it means for everyone assigned.

Most users assigned to an experiment never reach the changed feature. Comparing only the
users who did ("triggered") removes their noise; the effect on the whole population is then
the triggered effect diluted by the triggered share, as long as the untriggered users are
unaffected and the treatment does not change who triggers.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from scipy import stats

from metricbook.stats.methods import EffectEstimate


@dataclass(frozen=True)
class DilutedEffect:
    """The whole-population effect implied by a triggered effect (diff = treatment − control)."""

    diff: float
    diff_se: float
    diff_ci_low: float
    diff_ci_high: float
    rel_lift: float
    rel_lift_ci_low: float
    rel_lift_ci_high: float
    share: float


def dilute(triggered: EffectEstimate, share: float, control_value_all: float) -> DilutedEffect:
    """Dilute a triggered effect to the whole assigned population (Deng & Hu 2015, WSDM).

    If untriggered users are unaffected, the population effect is the triggered one times
    the triggered share (Deng & Hu 2015, "Diluted Treatment Effect Estimation for Trigger
    Analysis in Online Controlled Experiments"):

        diff_all    = share · diff_trig,   se_all = share · se_trig,   CI = share · CI_trig
        rel_lift    = diff_all / control_value_all   (CI: the diff CI / control_value_all)

    `share` is, for a mean metric, the triggered users' share of all assigned users (both
    arms), and for a ratio metric the triggered users' share of the control arm's
    denominator total (e.g. their share of all control impressions), so that
    share · diff_trig is the change in the all-user ratio. `control_value_all` is the control
    arm's metric over all assigned users, triggered or not. The share and control_value_all
    are treated as known: both come from all assigned users and are far more precise than the
    triggered diff (Deng & Hu's exact variance adds their sampling error, a second-order
    term at experiment sizes). Assumes the treatment does not change who triggers (check
    `exposure_balance`) and has no effect on untriggered users.

    ValueError for a share outside (0, 1], a non-finite or zero control_value_all.
    """
    if not (math.isfinite(share) and 0 < share <= 1):
        raise ValueError(f"share must be in (0, 1], got {share}")
    if not (math.isfinite(control_value_all) and control_value_all != 0):
        raise ValueError(f"control_value_all must be finite and non-zero, got {control_value_all}")
    low, high = share * triggered.diff_ci_low, share * triggered.diff_ci_high
    relative = sorted((low / control_value_all, high / control_value_all))
    diff = share * triggered.diff
    return DilutedEffect(
        diff=diff,
        diff_se=share * triggered.diff_se,
        diff_ci_low=low,
        diff_ci_high=high,
        rel_lift=diff / control_value_all,
        rel_lift_ci_low=relative[0],
        rel_lift_ci_high=relative[1],
        share=share,
    )


@dataclass(frozen=True)
class ExposureBalance:
    """Chi-square test that the share of assigned users who were exposed is the same per arm."""

    rates: Mapping[str, float]
    statistic: float
    p_value: float
    passed: bool


def exposure_balance(
    exposed: Mapping[str, int], assigned: Mapping[str, int], threshold: float = 0.001
) -> ExposureBalance:
    """Pearson's chi-square test of independence of exposed / not exposed × arm.

    The table has one column per arm: (exposed_v, assigned_v − exposed_v); χ² with
    (arms − 1) degrees of freedom, no continuity correction (scipy.stats.chi2_contingency,
    correction=False). Randomisation makes exposure independent of the arm unless the
    treatment itself changes who is exposed (a faster page that lets marginal users reach
    the feature, a bug that hides it); then the triggered users of the arms are different
    people and the triggered comparison is biased: read the intention-to-treat effect on
    all assigned users. `rates` is exposed/assigned per arm; `passed` is p_value >= threshold
    (0.001 by default, as for SRM: it runs on every experiment). When every arm has exposed
    everyone, or no one, exposure cannot differ: statistic 0, p 1.

    ValueError for arms that differ between the mappings, fewer than 2 arms, counts that are
    not whole non-negative numbers, exposed > assigned, an arm with no assigned users, or a
    threshold outside (0, 1); each names the arm.
    """
    if set(exposed) != set(assigned):
        raise ValueError(
            f"arms must match: exposed has {sorted(exposed)}, assigned has {sorted(assigned)}"
        )
    if len(assigned) < 2:
        raise ValueError(f"an exposure balance test needs at least 2 arms, got {sorted(assigned)}")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    arms = list(assigned)
    for arm in arms:
        for label, value in (("exposed", exposed[arm]), ("assigned", assigned[arm])):
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not (0 <= value < math.inf and float(value).is_integer())
            ):
                raise ValueError(
                    f"arm {arm!r}: the {label} count must be a whole non-negative number of "
                    f"users, got {value!r}"
                )
        if assigned[arm] == 0:
            raise ValueError(f"arm {arm!r} has no assigned users")
        if exposed[arm] > assigned[arm]:
            raise ValueError(
                f"arm {arm!r}: {exposed[arm]} exposed users but only {assigned[arm]} assigned; "
                "exposed users must be a subset of the assigned ones"
            )
    rates = {arm: int(exposed[arm]) / int(assigned[arm]) for arm in arms}
    table = np.array(
        [[int(exposed[arm]) for arm in arms], [int(assigned[arm] - exposed[arm]) for arm in arms]]
    )
    if (table.sum(axis=1) == 0).any():
        statistic, p_value = 0.0, 1.0
    else:
        result = stats.chi2_contingency(table, correction=False)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return ExposureBalance(
        rates=MappingProxyType(rates),
        statistic=statistic,
        p_value=p_value,
        passed=bool(p_value >= threshold),
    )
