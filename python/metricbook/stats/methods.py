"""Two-sided tests of treatment − control from per-variant aggregates.

Every function takes the control and treatment `Aggregates` (see `aggregates.py`) and returns an
`EffectEstimate`. The unit of analysis is the user: each per-user column is one observation per
user, and users are assumed independent within and between arms.

Relative lift, for every method: rel_lift = treatment_value / control_value − 1, with a
confidence interval from the delta method on the log ratio, treating the arm estimates as
independent:

    se_log² = var(treatment_value) / treatment_value² + var(control_value) / control_value²
    CI      = exp(log(treatment_value / control_value) ± z_{1−α/2} · se_log) − 1

where var(·) is the variance of the arm's estimate (e.g. var_samp / n for a mean). The log
needs both arm values positive; if either is ≤ 0 the rel-lift CI is nan (and rel_lift is nan
when control_value is 0). When a positive control value is tiny next to its standard error,
exp overflows and rel_lift_ci_high is +inf (the interval is unbounded above); rel_lift itself
is ±inf only if treatment_value / control_value overflows a float.

What is an error and what is nan, for every method: inputs on which the test is undefined
raise ValueError naming the metric — alpha outside (0, 1), an arm with fewer than 2 users
(an `Aggregates` with count 0 or 1), a non-finite mean, variance or covariance, zero variance
in both arms (zero in one arm is fine: it contributes no sampling error), a ratio whose
denominator has mean 0 in an arm or in the pooled arms, a CUPED covariate without variance,
and an estimate whose variance overflows a float. Otherwise every field is finite, except the
rel-lift fields described above: for finite aggregates p_value is in [0, 1] and
diff_ci_low ≤ diff ≤ diff_ci_high.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from metricbook.stats.aggregates import Aggregates, pool


@dataclass(frozen=True)
class EffectEstimate:
    """The estimated effect of treatment over control on one metric (diff = treatment − control).

    `diff_se` is the standard error of `diff` (the unpooled √(var_c + var_t) of the two arm
    estimates, whose own standard errors are `control_se` and `treatment_se`); `statistic` is t
    (with `df`) or z (`df` is None). For CUPED methods `control_value` and
    `treatment_value` are the CUPED-adjusted arm values, so diff == treatment_value −
    control_value and rel_lift == treatment_value / control_value − 1 hold for every method;
    the plain arm values are in `unadjusted`.
    """

    metric: str
    kind: str
    method: str
    n_control: int
    n_treatment: int
    control_value: float
    treatment_value: float
    diff: float
    diff_se: float
    diff_ci_low: float
    diff_ci_high: float
    rel_lift: float
    rel_lift_ci_low: float
    rel_lift_ci_high: float
    p_value: float
    statistic: float
    df: float | None
    alpha: float
    control_se: float
    treatment_se: float
    variance_reduction: float | None = None
    theta: float | None = None
    unadjusted: EffectEstimate | None = None


@dataclass(frozen=True)
class _Arm:
    """An arm's point estimate and the variance of that estimate (not of the per-user column)."""

    count: int
    value: float
    variance: float


def welch_t(
    control: Aggregates,
    treatment: Aggregates,
    column: str,
    alpha: float = 0.05,
    metric: str | None = None,
) -> EffectEstimate:
    """Welch's unequal-variance t test for a difference of means (Welch 1947).

    With arm means m, sample variances s² (ddof=1) and counts n:

        diff = m_t − m_c,   se² = s_t²/n_t + s_c²/n_c,   t = diff / se
        df   = se⁴ / ((s_t²/n_t)²/(n_t − 1) + (s_c²/n_c)²/(n_c − 1))   (Welch–Satterthwaite)

    p = 2·P(T_df > |t|); CI = diff ± t_{df, 1−α/2}·se. Same numbers as
    scipy.stats.ttest_ind_from_stats(equal_var=False). Assumes independent users and arm
    means close to normal (the CLT for the sample sizes of an online experiment).
    """
    name = metric or column
    _check_alpha(alpha)
    _check_counts(control, treatment, name)
    arms = _mean_arms(control, treatment, column)
    return _welch_estimate(name, "mean", "welch_t", arms[0], arms[1], alpha)


def two_proportion_z(
    control: Aggregates,
    treatment: Aggregates,
    column: str,
    alpha: float = 0.05,
    metric: str | None = None,
) -> EffectEstimate:
    """Two-proportion z test for a 0/1 per-user column (e.g. converted, retained).

    Successes per arm are round(mean·count) (ValueError if that is not close to an integer).
    With shares p_c, p_t and the pooled share p = (x_c + x_t)/(n_c + n_t):

        z  = (p_t − p_c) / sqrt(p·(1 − p)·(1/n_c + 1/n_t))       (pooled, as under H0)
        CI = (p_t − p_c) ± z_{1−α/2}·sqrt(p_c(1 − p_c)/n_c + p_t(1 − p_t)/n_t)   (Wald, unpooled)

    p = 2·Φ(−|z|). Matches statsmodels' proportions_ztest and confint_proportions_2indep(
    method="wald"). Assumes independent users and enough successes and failures per arm for
    the normal approximation (a rule of thumb: at least 10 of each).
    """
    name = metric or column
    _check_alpha(alpha)
    _check_counts(control, treatment, name)
    successes = [_successes(a, column, name) for a in (control, treatment)]
    shares = [x / a.count for x, a in zip(successes, (control, treatment), strict=True)]
    arms = [
        _Arm(a.count, p, p * (1 - p) / a.count)
        for a, p in zip((control, treatment), shares, strict=True)
    ]
    if arms[0].variance == 0 and arms[1].variance == 0:
        raise ValueError(
            f"metric {name!r}: within each arm every user has the same value of {column!r} "
            f"(shares {shares[0]} and {shares[1]}); there is nothing to test"
        )
    pooled = sum(successes) / (control.count + treatment.count)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / control.count + 1 / treatment.count))
    statistic = (arms[1].value - arms[0].value) / se_pooled
    return _estimate(
        name, "proportion", "two_proportion_z", arms[0], arms[1], alpha, statistic, df=None
    )


def delta_ratio(
    control: Aggregates,
    treatment: Aggregates,
    numerator: str,
    denominator: str,
    alpha: float = 0.05,
    metric: str | None = None,
) -> EffectEstimate:
    """z test for a ratio of means (e.g. clicks / impressions) with the user as the unit.

    Per arm R = m_y / m_x for numerator y and denominator x. Users are independent but a
    user's events are not, so the variance comes from the delta method on the two per-user
    means (Deng, Knoblich & Lu 2018, "Applying the Delta Method in Metric Analytics"):

        var(R) ≈ (1/n)·(s_y²/m_x² − 2·m_y·s_xy/m_x³ + m_y²·s_x²/m_x⁴)

    diff = R_t − R_c, se² = var(R_t) + var(R_c), z = diff/se, p = 2·Φ(−|z|),
    CI = diff ± z_{1−α/2}·se. Assumes the arm means of x and y are jointly close to normal and
    m_x is well away from 0.
    """
    name = metric or f"{numerator}/{denominator}"
    _check_alpha(alpha)
    _check_counts(control, treatment, name)
    arms = _ratio_arms(control, treatment, numerator, denominator, name)
    return _z_estimate(name, "ratio", "delta_method_z", arms[0], arms[1], alpha)


def cuped_mean(
    control: Aggregates,
    treatment: Aggregates,
    column: str,
    covariate: str,
    alpha: float = 0.05,
    metric: str | None = None,
) -> EffectEstimate:
    """Welch t test on a CUPED-adjusted mean (Deng, Xu, Kohavi & Walker 2013).

    θ = cov(Y, X) / var(X) on the pooled arms (`pool`), with X a pre-experiment covariate
    (e.g. the metric before assignment). Per arm, with X̄ the pooled covariate mean:

        adjusted mean = m_Y − θ·(m_X − X̄)
        adjusted var  = s_Y² − 2θ·s_XY + θ²·s_X²

    then `welch_t` on the adjusted moments. `control_value` / `treatment_value` are the adjusted
    arm means (X̄ cancels in the diff); `unadjusted` is the plain `welch_t` result and
    variance_reduction = 1 − se²(adjusted diff) / se²(unadjusted diff), ≈ ρ²(X, Y). Assumes X is
    unaffected by treatment (measured before assignment); θ is treated as known, which is
    exact asymptotically.
    """
    name = metric or column
    unadjusted = welch_t(control, treatment, column, alpha, metric=name)
    pooled = pool(control, treatment)
    covariate_var = pooled.var_of(covariate)
    if not covariate_var > 0:
        raise ValueError(
            f"metric {name!r}: covariate {covariate!r} has zero variance; CUPED needs a "
            "covariate that varies between users"
        )
    theta = pooled.cov_of(column, covariate) / covariate_var
    arms = []
    for a in (control, treatment):
        value = a.mean_of(column) - theta * (a.mean_of(covariate) - pooled.mean_of(covariate))
        # θ·(θ·s_X²) rather than θ²·s_X²: θ is large exactly when s_X² is small
        per_user_var = (
            a.var_of(column)
            - 2 * theta * a.cov_of(column, covariate)
            + theta * (theta * a.var_of(covariate))
        )
        arms.append(_Arm(a.count, value, max(per_user_var, 0.0) / a.count))
    estimate = _welch_estimate(name, "mean", "cuped_welch_t", arms[0], arms[1], alpha)
    plain = _mean_arms(control, treatment, column)
    return _with_cuped(estimate, arms, plain, theta, unadjusted)


def cuped_ratio(
    control: Aggregates,
    treatment: Aggregates,
    numerator: str,
    denominator: str,
    cov_numerator: str,
    cov_denominator: str,
    alpha: float = 0.05,
    metric: str | None = None,
) -> EffectEstimate:
    """z test on a CUPED-adjusted ratio metric with a ratio covariate (e.g. pre-period CTR).

    CUPED (Deng, Xu, Kohavi & Walker 2013) applied to the delta-method linearisation of
    both ratios (Deng, Knoblich & Lu 2018). Per arm, with means m and the 4x4 sample covariance
    Σ of (y, x, v, u) = (numerator, denominator, cov_numerator, cov_denominator):

        R = m_y/m_x,  g_R = (1/m_x, −m_y/m_x², 0, 0)
        Q = m_v/m_u,  g_Q = (0, 0, 1/m_u, −m_v/m_u²)
        var(R) = g_Rᵀ Σ g_R / n,  var(Q) = g_Qᵀ Σ g_Q / n,  cov(R, Q) = g_Rᵀ Σ g_Q / n

    θ = cov(R, Q)/var(Q) on the pooled arms; adjusted R = R − θ·(Q − Q̄) with Q̄ the pooled
    covariate ratio; adjusted var = var(R) − 2θ·cov(R, Q) + θ²·var(Q). Then a z test as in
    `delta_ratio`, which is the `unadjusted` result. `control_value` / `treatment_value` are
    the adjusted arm ratios. Assumes the covariate is measured before assignment.
    """
    name = metric or f"{numerator}/{denominator}"
    unadjusted = delta_ratio(control, treatment, numerator, denominator, alpha, metric=name)
    columns = (numerator, denominator, cov_numerator, cov_denominator)
    pooled = pool(control, treatment)
    for role, column in (("denominator", denominator), ("covariate denominator", cov_denominator)):
        # the pooled mean is 0 when the arm means are non-zero but of opposite signs
        for label, a in (
            ("control arm", control),
            ("treatment arm", treatment),
            ("pooled arms", pooled),
        ):
            if a.mean_of(column) == 0:
                raise ValueError(
                    f"metric {name!r}: {role} {column!r} has mean 0 in the {label}, so the "
                    "ratio is undefined; choose a denominator whose mean is positive"
                )
    pooled_rr, pooled_rq, pooled_qq = _linearised_moments(pooled, columns)
    if not pooled_qq > 0:
        raise ValueError(
            f"metric {name!r}: covariate ratio {cov_numerator}/{cov_denominator} has zero "
            "variance; CUPED needs a covariate that varies between users"
        )
    theta = pooled_rq / pooled_qq
    pooled_q = pooled.mean_of(cov_numerator) / pooled.mean_of(cov_denominator)
    arms = []
    for a in (control, treatment):
        rr, rq, qq = _linearised_moments(a, columns)
        ratio = a.mean_of(numerator) / a.mean_of(denominator)
        q = a.mean_of(cov_numerator) / a.mean_of(cov_denominator)
        per_user_var = rr - 2 * theta * rq + theta * (theta * qq)
        arms.append(_Arm(a.count, ratio - theta * (q - pooled_q), max(per_user_var, 0.0) / a.count))
    estimate = _z_estimate(name, "ratio", "cuped_delta_method_z", arms[0], arms[1], alpha)
    plain = _ratio_arms(control, treatment, numerator, denominator, name)
    return _with_cuped(estimate, arms, plain, theta, unadjusted)


def _mean_arms(control: Aggregates, treatment: Aggregates, column: str) -> list[_Arm]:
    return [
        _Arm(a.count, a.mean_of(column), a.var_of(column) / a.count) for a in (control, treatment)
    ]


def _ratio_arms(
    control: Aggregates, treatment: Aggregates, numerator: str, denominator: str, name: str
) -> list[_Arm]:
    arms = []
    for a in (control, treatment):
        value, per_user_var = _ratio_linearisation(a, numerator, denominator, name)
        arms.append(_Arm(a.count, value, per_user_var / a.count))
    return arms


def _ratio_linearisation(
    a: Aggregates, numerator: str, denominator: str, name: str
) -> tuple[float, float]:
    """(m_y/m_x, per-user variance of the linearised ratio (y − R·x)/m_x)."""
    mean_x, mean_y = a.mean_of(denominator), a.mean_of(numerator)
    if mean_x == 0:
        raise ValueError(
            f"metric {name!r}: denominator {denominator!r} has mean 0 in an arm, so the ratio "
            "is undefined; check the denominator column or the arm's users"
        )
    ratio = mean_y / mean_x
    # var(y − R·x) / m_x², dividing by m_x twice: powers of m_x overflow or underflow to 0
    linearised = (
        a.var_of(numerator)
        - 2 * ratio * a.cov_of(numerator, denominator)
        + ratio * (ratio * a.var_of(denominator))
    )
    return ratio, max(linearised / mean_x / mean_x, 0.0)


def _linearised_moments(a: Aggregates, columns: tuple[str, ...]) -> tuple[float, float, float]:
    """Per-user var(R), cov(R, Q), var(Q) of the two linearised ratios; see `cuped_ratio`."""
    y, x, v, u = (a.mean_of(c) for c in columns)
    sigma = np.array([[a.cov_of(p, q) for q in columns] for p in columns])
    # −(y/x)/x, not −y/x²: x² underflows to 0 (or overflows) long before the ratio does
    g_r = np.array([1 / x, -(y / x) / x, 0.0, 0.0])
    g_q = np.array([0.0, 0.0, 1 / u, -(v / u) / u])
    # an overflow gives inf or nan, which the callers reject with the metric's name
    with np.errstate(over="ignore", invalid="ignore"):
        return float(g_r @ sigma @ g_r), float(g_r @ sigma @ g_q), float(g_q @ sigma @ g_q)


def _with_cuped(
    estimate: EffectEstimate,
    adjusted: list[_Arm],
    plain: list[_Arm],
    theta: float,
    unadjusted: EffectEstimate,
) -> EffectEstimate:
    """Attach θ, the unadjusted result and 1 − var(adjusted diff)/var(unadjusted diff)."""
    adjusted_var = adjusted[0].variance + adjusted[1].variance
    plain_var = plain[0].variance + plain[1].variance
    return replace(
        estimate,
        variance_reduction=1 - adjusted_var / plain_var,
        theta=theta,
        unadjusted=unadjusted,
    )


def _welch_estimate(
    name: str, kind: str, method: str, control: _Arm, treatment: _Arm, alpha: float
) -> EffectEstimate:
    _check_arms(name, [control, treatment])
    # Welch–Satterthwaite on variances scaled by the larger one: squaring the raw variances
    # would overflow (or underflow to 0/0) for metrics measured in very large or small units
    largest = max(control.variance, treatment.variance)
    scaled = [arm.variance / largest for arm in (control, treatment)]
    terms = [v * v / (arm.count - 1) for v, arm in zip(scaled, (control, treatment), strict=True)]
    df = sum(scaled) ** 2 / sum(terms)
    se = math.sqrt(control.variance + treatment.variance)
    statistic = (treatment.value - control.value) / se
    return _estimate(name, kind, method, control, treatment, alpha, statistic, df)


def _z_estimate(
    name: str, kind: str, method: str, control: _Arm, treatment: _Arm, alpha: float
) -> EffectEstimate:
    _check_arms(name, [control, treatment])
    se = math.sqrt(control.variance + treatment.variance)
    statistic = (treatment.value - control.value) / se
    return _estimate(name, kind, method, control, treatment, alpha, statistic, df=None)


def _estimate(
    name: str,
    kind: str,
    method: str,
    control: _Arm,
    treatment: _Arm,
    alpha: float,
    statistic: float,
    df: float | None,
) -> EffectEstimate:
    """Assemble the result; the diff CI uses the unpooled se of the two arm estimates."""
    diff = treatment.value - control.value
    diff_se = math.sqrt(control.variance + treatment.variance)
    half_width = _critical(alpha, df) * diff_se
    # stats.t.sf(x, df), not stats.t(df).sf(x): freezing a distribution builds its docstring,
    # milliseconds per call, which dominated simulations of thousands of experiments
    p_value = stats.norm.sf(abs(statistic)) if df is None else stats.t.sf(abs(statistic), df)
    rel_lift, rel_low, rel_high = _relative_lift(control, treatment, alpha)
    return EffectEstimate(
        metric=name,
        kind=kind,
        method=method,
        n_control=control.count,
        n_treatment=treatment.count,
        control_value=control.value,
        treatment_value=treatment.value,
        diff=diff,
        diff_se=diff_se,
        diff_ci_low=diff - half_width,
        diff_ci_high=diff + half_width,
        rel_lift=rel_lift,
        rel_lift_ci_low=rel_low,
        rel_lift_ci_high=rel_high,
        p_value=float(2 * p_value),
        statistic=statistic,
        df=df,
        alpha=alpha,
        control_se=math.sqrt(control.variance),
        treatment_se=math.sqrt(treatment.variance),
    )


def _critical(alpha: float, df: float | None) -> float:
    """The two-sided critical value: z_{1−α/2}, or t_{df, 1−α/2} when df is given."""
    if df is None:
        return float(stats.norm.isf(alpha / 2))
    return float(stats.t.isf(alpha / 2, df))


def _relative_lift(control: _Arm, treatment: _Arm, alpha: float) -> tuple[float, float, float]:
    """treatment/control − 1 and its log-delta-method CI (see the module docstring)."""
    if control.value == 0:
        return math.nan, math.nan, math.nan
    rel_lift = treatment.value / control.value - 1
    if control.value <= 0 or treatment.value <= 0:
        return rel_lift, math.nan, math.nan
    log_ratio = math.log(treatment.value) - math.log(control.value)
    # relative standard errors, as sd / value: value**2 would underflow to 0 for tiny values
    se_log = math.hypot(
        math.sqrt(treatment.variance) / treatment.value,
        math.sqrt(control.variance) / control.value,
    )
    half_width = _critical(alpha, None) * se_log
    return rel_lift, _expm1(log_ratio - half_width), _expm1(log_ratio + half_width)


def _expm1(x: float) -> float:
    """exp(x) − 1, inf instead of OverflowError (a control value near 0 has a huge log-se)."""
    return math.inf if x > 700 else math.expm1(x)


def _successes(a: Aggregates, column: str, name: str) -> int:
    """round(mean·count), checking the column really is a 0/1 indicator."""
    raw = a.mean_of(column) * a.count
    successes = round(raw)
    if not math.isfinite(raw) or abs(raw - successes) > 1e-6 + 1e-9 * a.count:
        raise ValueError(
            f"metric {name!r}: mean({column}) · count = {raw} is not a whole number of users; "
            "two_proportion_z needs a 0/1 column per user (use welch_t for other means)"
        )
    if not 0 <= successes <= a.count:
        raise ValueError(
            f"metric {name!r}: mean({column}) = {a.mean_of(column)} is outside [0, 1]; "
            "two_proportion_z needs a 0/1 column per user"
        )
    return successes


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _check_counts(control: Aggregates, treatment: Aggregates, name: str) -> None:
    for label, a in (("control", control), ("treatment", treatment)):
        if a.count < 2:
            raise ValueError(
                f"metric {name!r}: the {label} arm has {a.count} user(s); "
                "at least 2 per arm are needed to estimate a variance"
            )


def _check_arms(name: str, arms: list[_Arm]) -> None:
    for arm in arms:
        if not (math.isfinite(arm.value) and math.isfinite(arm.variance)):
            raise ValueError(
                f"metric {name!r}: non-finite aggregate (value {arm.value}, variance "
                f"{arm.variance}); check the warehouse query for nulls or empty arms, or for "
                "a ratio's denominator mean so near 0 that its variance overflows"
            )
    if all(arm.variance == 0 for arm in arms):
        raise ValueError(
            f"metric {name!r} has zero variance in both arms; there is nothing to test "
            "(is the column constant?)"
        )
