"""Post-stratification: the effect re-weighted to the pooled mix of strata (e.g. platforms).

Randomisation balances every stratum in expectation, but a realised split (or a broken one,
or a metric only some users have) can over-represent a stratum in one arm. When the baseline
differs by stratum, the plain difference of means then mixes the effect with the mix. Post-
stratification compares the arms within each stratum and weights the strata alike in both.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from metricbook.stats.aggregates import Aggregates, pool
from metricbook.stats.methods import (
    EffectEstimate,
    _Arm,
    _check_alpha,
    _ratio_linearisation,
    _z_estimate,
)

OTHER_STRATUM = "other"


def post_stratified(
    control: Mapping[str, Aggregates],
    treatment: Mapping[str, Aggregates],
    column: str,
    alpha: float = 0.05,
    metric: str | None = None,
) -> EffectEstimate:
    """Post-stratified difference of means (Miratrix, Sekhon & Yu 2013, JRSS-B 75(2)).

    `control` and `treatment` map each stratum to that arm's aggregates of its users. With
    n_Ck, n_Tk the stratum's users per arm, N = Σ_k (n_Ck + n_Tk) and ȳ, s² the stratum's
    mean and sample variance of `column` in each arm:

        w_k             = (n_Ck + n_Tk) / N                       (the pooled stratum shares)
        control_value   = Σ_k w_k·ȳ_Ck,   treatment_value = Σ_k w_k·ȳ_Tk
        var(diff)       = Σ_k w_k²·(s²_Tk/n_Tk + s²_Ck/n_Ck)

    z = diff/se, p = 2·Φ(−|z|), CI = diff ± z_{1−α/2}·se; the arm standard errors are
    √(Σ w_k²·s²_k/n_k) per arm and the relative-lift CI is the log-ratio delta method of
    `metricbook.stats.methods`. The variance is Miratrix et al.'s variance *conditional on
    the stratum sizes* (their result conditioning on the observed numbers of treated units
    per stratum, in its infinite-population sampling form) with the sample variances plugged
    in, treating the weights as fixed. Their unconditional variance adds a term of order 1/N²
    (from the randomness of the stratum split), which is not added here: it is negligible at
    experiment sizes and the conditional one is the better guide to the realised split. The
    point estimate equals the treatment coefficient of Lin's (2013) fully interacted OLS
    (stratum dummies centred at their pooled means, interacted with treatment), whose HC2
    standard error is close to this one.

    Assumes strata are defined by something the treatment cannot change (a platform or
    country fixed at assignment: a post-treatment stratum biases the estimate), independent
    users, and enough users per stratum and arm for the stratum means to be close to normal.
    The strata must be the same in both arms and each must have at least 2 users per arm: a
    stratum missing from an arm, or with fewer users, is a ValueError naming it (merge small
    strata first with `merge_small_strata`). ValueError too, naming the metric, for alpha
    outside (0, 1), non-finite aggregates, and zero variance everywhere.
    """
    name = metric or column
    _check_alpha(alpha)
    strata = _common_strata(control, treatment, name)
    for stratum in strata:
        for label, arm in (("control", control[stratum]), ("treatment", treatment[stratum])):
            if arm.count < 2:
                raise ValueError(
                    f"metric {name!r}: stratum {stratum!r} has {arm.count} user(s) in the "
                    f"{label} arm; each stratum needs at least 2 per arm to estimate a variance "
                    "(merge small strata first: merge_small_strata)"
                )
            for value in (arm.mean_of(column), arm.var_of(column)):
                if not math.isfinite(value):
                    raise ValueError(
                        f"metric {name!r}: stratum {stratum!r} has a non-finite mean or "
                        f"variance of {column!r} in the {label} arm ({value}); check the "
                        "warehouse query for nulls"
                    )
    sizes = np.array([control[s].count + treatment[s].count for s in strata], dtype=float)
    weights = sizes / sizes.sum()
    arms = []
    for side in (control, treatment):
        means = np.array([side[s].mean_of(column) for s in strata])
        variances = np.array([side[s].var_of(column) / side[s].count for s in strata])
        arms.append(
            _Arm(
                count=sum(side[s].count for s in strata),
                value=float(weights @ means),
                variance=float(weights**2 @ variances),
            )
        )
    return _z_estimate(name, "mean", "post_stratified_z", arms[0], arms[1], alpha)


def merge_small_strata(
    control: Mapping[str, Aggregates],
    treatment: Mapping[str, Aggregates],
    min_users: int,
) -> tuple[dict[str, Aggregates], dict[str, Aggregates]]:
    """Pool every stratum with fewer than `min_users` users in either arm into "other".

    A stratum missing from an arm counts as 0 users there. Each arm pools its own small strata
    (`aggregates.pool`, exact moments of the union); a stratum already named "other" is
    pooled in too, whatever its size, so the name stays unique. The merged "other" may itself
    still be small (it is not merged further: with no other small stratum there is nothing to
    merge it with) and `post_stratified` then names it. Returns new dicts, large strata first
    in their input order, "other" last when there is one. ValueError when min_users is not a
    whole number ≥ 1.
    """
    if isinstance(min_users, bool) or not isinstance(min_users, numbers.Integral):
        raise ValueError(f"min_users must be a whole number of users, got {min_users!r}")
    if min_users < 1:
        raise ValueError(f"min_users must be at least 1, got {min_users}")
    strata = list(dict.fromkeys([*control, *treatment]))

    def users(side: Mapping[str, Aggregates], stratum: str) -> int:
        return side[stratum].count if stratum in side else 0

    small = {
        s
        for s in strata
        if s == OTHER_STRATUM or min(users(control, s), users(treatment, s)) < min_users
    }
    merged: list[dict[str, Aggregates]] = []
    for side in (control, treatment):
        result = {s: side[s] for s in strata if s not in small and s in side}
        pooled: Aggregates | None = None
        for s in strata:
            if s in small and s in side:
                pooled = side[s] if pooled is None else pool(pooled, side[s])
        if pooled is not None:
            result[OTHER_STRATUM] = pooled
        merged.append(result)
    return merged[0], merged[1]


@dataclass(frozen=True)
class Imbalance:
    """Chi-square test of independence of arm and stratum (is the stratum mix the same?)."""

    statistic: float
    df: int
    p_value: float


def stratum_imbalance(
    control_counts: Mapping[str, int], treatment_counts: Mapping[str, int]
) -> Imbalance:
    """Pearson's chi-square test of independence on the 2 × K table arm × stratum.

    χ² = Σ (observed − expected)²/expected with expected = row total · column total / N and
    (K − 1) degrees of freedom, no continuity correction (scipy.stats.chi2_contingency with
    correction=False). A small p says the arms' stratum mixes differ by more than chance:
    with a stratum-dependent baseline the plain difference of means is then confounded and
    `post_stratified` is the estimate to read (or assignment is broken: compare with the SRM
    check). A stratum missing from an arm counts 0 users there; a stratum with 0 users in
    both arms carries no information and is left out.

    ValueError for counts that are not whole non-negative numbers (naming the stratum), an
    arm with no users, or fewer than 2 strata with users.
    """
    strata = list(dict.fromkeys([*control_counts, *treatment_counts]))
    table = []
    for stratum in strata:
        row = []
        for label, counts in (("control", control_counts), ("treatment", treatment_counts)):
            value = counts.get(stratum, 0)
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not (0 <= value < math.inf and float(value).is_integer())
            ):
                raise ValueError(
                    f"stratum {stratum!r}: the {label} count must be a whole non-negative "
                    f"number of users, got {value!r}"
                )
            row.append(int(value))
        if sum(row) > 0:
            table.append(row)
    if len(table) < 2:
        raise ValueError(
            f"an imbalance test needs at least 2 strata with users, got {len(table)} "
            f"(strata {strata})"
        )
    observed = np.array(table).T
    for label, total in zip(("control", "treatment"), observed.sum(axis=1), strict=True):
        if total == 0:
            raise ValueError(f"the {label} arm has no users in any stratum; nothing to compare")
    result = stats.chi2_contingency(observed, correction=False)
    return Imbalance(
        statistic=float(result.statistic), df=int(result.dof), p_value=float(result.pvalue)
    )


def _common_strata(
    control: Mapping[str, Aggregates], treatment: Mapping[str, Aggregates], name: str
) -> list[str]:
    only = {
        "control": [s for s in control if s not in treatment],
        "treatment": [s for s in treatment if s not in control],
    }
    for label, missing in only.items():
        if missing:
            raise ValueError(
                f"metric {name!r}: strata {missing} have users in the {label} arm only; "
                "post-stratification compares arms within a stratum (merge them first: "
                "merge_small_strata)"
            )
    if not control:
        raise ValueError(f"metric {name!r}: no strata given")
    return list(control)


def post_stratified_ratio(
    control: Mapping[str, Aggregates],
    treatment: Mapping[str, Aggregates],
    numerator: str,
    denominator: str,
    alpha: float = 0.05,
    metric: str | None = None,
) -> EffectEstimate:
    """The post-stratified difference of a ratio metric (the user as the unit): as
    `post_stratified`, with each stratum's arm value the ratio of means R_k = ȳ_k / x̄_k and
    its variance the delta-method one, var(y − R_k·x)/(x̄_k²·n_k) (Deng, Knoblich & Lu 2018):

        control_value = Σ_k w_k·R_Ck,   var(diff) = Σ_k w_k²·(var(R_Tk) + var(R_Ck))

    Same assumptions and errors as `post_stratified`, plus a ValueError when a stratum's
    denominator has mean 0 in an arm (its ratio is undefined: merge it into a larger one).
    """
    name = metric or numerator
    _check_alpha(alpha)
    strata = _common_strata(control, treatment, name)
    sizes = np.array([control[s].count + treatment[s].count for s in strata], dtype=float)
    weights = sizes / sizes.sum()
    arms = []
    for label, side in (("control", control), ("treatment", treatment)):
        values, variances = [], []
        for stratum in strata:
            arm = side[stratum]
            if arm.count < 2:
                raise ValueError(
                    f"metric {name!r}: stratum {stratum!r} has {arm.count} user(s) in the "
                    f"{label} arm; each stratum needs at least 2 per arm to estimate a variance "
                    "(merge small strata first: merge_small_strata)"
                )
            ratio, per_user = _ratio_linearisation(
                arm, numerator, denominator, f"{name} ({stratum})"
            )
            values.append(ratio)
            variances.append(per_user / arm.count)
        arms.append(
            _Arm(
                count=sum(side[s].count for s in strata),
                value=float(weights @ np.array(values)),
                variance=float(weights**2 @ np.array(variances)),
            )
        )
    return _z_estimate(name, "ratio", "post_stratified_delta_method_z", arms[0], arms[1], alpha)
