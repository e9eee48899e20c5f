"""Golden values, properties and errors of the deeper statistics: heterogeneity,
post-stratification, quantiles, the Bayesian view, novelty, and trigger dilution."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import integrate, stats
from statsmodels.stats.meta_analysis import combine_effects

from metricbook.stats import (
    Aggregates,
    EffectEstimate,
    NormalPrior,
    QuantileArm,
    aggregates_from_frame,
    bayesian_view,
    cochran_q,
    delta_ratio,
    dilute,
    exposure_balance,
    merge_small_strata,
    novelty_test,
    post_stratified,
    post_stratified_ratio,
    quantile_difference,
    quantile_ranks,
    sample_quantile_arm,
    stratum_imbalance,
    welch_t,
)

TIGHT = {"rel": 1e-10, "abs": 1e-12}


# --- heterogeneity ----------------------------------------------------------------------------

EFFECTS = [0.10, 0.30, 0.20, 0.50]
SES = [0.10, 0.15, 0.12, 0.20]


def test_cochran_q_matches_statsmodels_fixed_effect_meta_analysis():
    result = cochran_q(EFFECTS, SES)
    reference = combine_effects(np.array(EFFECTS), np.array(SES) ** 2)
    homogeneity = reference.test_homogeneity()
    assert result.q == pytest.approx(reference.q, **TIGHT)
    assert result.q == pytest.approx(homogeneity.statistic, **TIGHT)
    assert result.p_value == pytest.approx(homogeneity.pvalue, **TIGHT)
    assert result.df == homogeneity.df == 3
    assert result.i_squared == pytest.approx(max(0.0, reference.i2), abs=1e-12)
    assert result.pooled == pytest.approx(reference.mean_effect_fe, **TIGHT)
    assert result.pooled_se == pytest.approx(reference.sd_eff_w_fe, **TIGHT)


def test_cochran_q_i_squared_is_the_share_beyond_chance_on_a_hand_example():
    # two segments, effects 0 and 1, se 0.25 each: pooled 0.5, Q = 2·(0.5/0.25)² = 8, I² = 7/8
    result = cochran_q([0.0, 1.0], [0.25, 0.25])
    assert result.pooled == pytest.approx(0.5)
    assert result.pooled_se == pytest.approx(0.25 / math.sqrt(2))
    assert result.q == pytest.approx(8.0)
    assert result.i_squared == pytest.approx(7 / 8)
    assert result.p_value == pytest.approx(stats.chi2.sf(8.0, 1))


def test_cochran_q_of_equal_effects_is_zero_with_no_heterogeneity():
    result = cochran_q([0.2, 0.2, 0.2], [0.1, 0.3, 1e-3])
    assert result.q == pytest.approx(0.0, abs=1e-20)
    assert result.i_squared == 0.0 and result.p_value == pytest.approx(1.0)


def test_cochran_q_is_unit_free_and_survives_tiny_standard_errors():
    base = cochran_q(EFFECTS, SES)
    scaled = cochran_q([e * 1e-200 for e in EFFECTS], [s * 1e-200 for s in SES])
    assert scaled.q == pytest.approx(base.q, rel=1e-9)
    assert scaled.pooled == pytest.approx(base.pooled * 1e-200, rel=1e-9)


@pytest.mark.parametrize(
    ("effects", "ses", "message"),
    [
        ([0.1], [0.1], "at least 2 segments"),
        ([0.1, 0.2], [0.1], "same length"),
        ([0.1, math.nan], [0.1, 0.1], "effects must be finite; check segments \\[1\\]"),
        ([0.1, math.inf], [0.1, 0.1], "effects must be finite"),
        ([0.1, 0.2], [0.1, 0.0], "positive and finite; check segments \\[1\\]"),
        ([0.1, 0.2], [-0.1, 0.1], "positive and finite; check segments \\[0\\]"),
        ([0.1, 0.2], [0.1, math.nan], "positive and finite"),
    ],
)
def test_cochran_q_rejects_invalid_segments(effects, ses, message):
    with pytest.raises(ValueError, match=message):
        cochran_q(effects, ses)


# --- post-stratification ----------------------------------------------------------------------

PLATFORMS = {"android": 2.0, "ios": 5.0, "web": 3.0}


def stratified_users(seed: int) -> pd.DataFrame:
    """Users on three platforms with different baselines; treatment over-represents android."""
    rng = np.random.default_rng(seed)
    frames = []
    for arm, mix in (("control", [0.3, 0.4, 0.3]), ("treatment", [0.6, 0.2, 0.2])):
        n = 900 if arm == "control" else 700
        platform = rng.choice(list(PLATFORMS), size=n, p=mix)
        baseline = np.array([PLATFORMS[p] for p in platform])
        lift = 0.4 if arm == "treatment" else 0.0
        frames.append(
            pd.DataFrame(
                {
                    "arm": arm,
                    "platform": platform,
                    "revenue": baseline * rng.lognormal(0.0, 0.7, n) + lift * baseline,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def by_stratum(frame: pd.DataFrame, arm: str) -> dict[str, Aggregates]:
    rows = frame[frame["arm"] == arm]
    return {
        platform: aggregates_from_frame(group, ["revenue"])
        for platform, group in rows.groupby("platform", sort=True)
    }


@pytest.fixture(scope="module")
def stratified() -> pd.DataFrame:
    return stratified_users(seed=11)


def test_post_stratified_equals_lins_interacted_ols_coefficient_and_its_hc2_se(stratified):
    # Lin (2013): y ~ T + (D − D̄) + T·(D − D̄), the dummies centred at their pooled means
    frame = stratified
    treated = (frame["arm"] == "treatment").astype(float)
    dummies = pd.get_dummies(frame["platform"], drop_first=True, dtype=float)
    centred = dummies - dummies.mean()
    design = pd.concat(
        [treated.rename("T"), centred, centred.mul(treated, axis=0).add_prefix("T:")], axis=1
    )
    fit = sm.OLS(frame["revenue"], sm.add_constant(design)).fit(cov_type="HC2")
    result = post_stratified(
        by_stratum(frame, "control"), by_stratum(frame, "treatment"), "revenue"
    )
    assert result.diff == pytest.approx(fit.params["T"], **TIGHT)
    # in a saturated model HC2 gives each cell mean the variance s²/n: the two agree exactly
    assert result.diff_se == pytest.approx(fit.bse["T"], rel=1e-9)
    assert result.method == "post_stratified_z" and result.df is None
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(result.diff / result.diff_se)))


def test_post_stratified_arm_values_use_the_pooled_stratum_shares(stratified):
    control, treatment = by_stratum(stratified, "control"), by_stratum(stratified, "treatment")
    total = sum(control[s].count + treatment[s].count for s in control)
    for side, result_value in (
        (control, "control_value"),
        (treatment, "treatment_value"),
    ):
        expected = sum(
            (control[s].count + treatment[s].count) / total * side[s].mean_of("revenue")
            for s in side
        )
        result = post_stratified(control, treatment, "revenue")
        assert getattr(result, result_value) == pytest.approx(expected, **TIGHT)
    assert result.diff == pytest.approx(result.treatment_value - result.control_value, **TIGHT)
    assert result.n_control == sum(a.count for a in control.values())
    # the relative lift CI is methods.py's log-ratio delta method on the two arm values
    z = stats.norm.isf(0.025)
    se_log = math.hypot(
        result.treatment_se / result.treatment_value, result.control_se / result.control_value
    )
    log_ratio = math.log(result.treatment_value / result.control_value)
    assert result.rel_lift_ci_low == pytest.approx(math.expm1(log_ratio - z * se_log), **TIGHT)
    assert result.rel_lift_ci_high == pytest.approx(math.expm1(log_ratio + z * se_log), **TIGHT)


def test_post_stratified_with_one_stratum_is_the_plain_difference_of_means(stratified):
    rows = stratified
    control = aggregates_from_frame(rows[rows["arm"] == "control"], ["revenue"])
    treatment = aggregates_from_frame(rows[rows["arm"] == "treatment"], ["revenue"])
    stratified_result = post_stratified({"all": control}, {"all": treatment}, "revenue")
    welch = welch_t(control, treatment, "revenue")
    assert stratified_result.diff == pytest.approx(welch.diff, **TIGHT)
    assert stratified_result.diff_se == pytest.approx(welch.diff_se, **TIGHT)


def test_post_stratified_removes_the_mix_difference_the_plain_mean_suffers(stratified):
    # the true lift is 0.4·baseline in every stratum: its pooled-share average is the target
    control, treatment = by_stratum(stratified, "control"), by_stratum(stratified, "treatment")
    sizes = {s: control[s].count + treatment[s].count for s in control}
    target = sum(0.4 * PLATFORMS[s] * sizes[s] for s in sizes) / sum(sizes.values())
    result = post_stratified(control, treatment, "revenue")
    assert result.diff_ci_low <= target <= result.diff_ci_high


def _ratio_strata(frame: pd.DataFrame, arm: str) -> dict[str, Aggregates]:
    rows = frame[frame["arm"] == arm].assign(
        clicks=lambda f: f["revenue"], impressions=lambda f: 1.0 + f["revenue"] * 0 + f.index % 3
    )
    return {
        platform: aggregates_from_frame(group, ["clicks", "impressions"])
        for platform, group in rows.groupby("platform", sort=True)
    }


def test_post_stratified_ratio_weights_each_stratums_delta_method_estimate(stratified):
    control, treatment = (
        _ratio_strata(stratified, "control"),
        _ratio_strata(stratified, "treatment"),
    )
    result = post_stratified_ratio(control, treatment, "clicks", "impressions", metric="ctr")
    sizes = {s: control[s].count + treatment[s].count for s in control}
    total = sum(sizes.values())
    per_stratum = {
        s: delta_ratio(control[s], treatment[s], "clicks", "impressions") for s in control
    }
    assert result.diff == pytest.approx(
        sum(sizes[s] / total * per_stratum[s].diff for s in sizes), **TIGHT
    )
    assert result.diff_se == pytest.approx(
        math.sqrt(sum((sizes[s] / total * per_stratum[s].diff_se) ** 2 for s in sizes)), **TIGHT
    )
    assert result.method == "post_stratified_delta_method_z" and result.metric == "ctr"


def test_post_stratified_ratio_with_a_unit_denominator_is_the_mean_version(stratified):
    control, treatment = by_stratum(stratified, "control"), by_stratum(stratified, "treatment")
    ones = {
        side: {
            s: Aggregates(
                count=a.count,
                mean={"revenue": a.mean_of("revenue"), "one": 1.0},
                var={"revenue": a.var_of("revenue"), "one": 0.0},
                cov={("revenue", "one"): 0.0},
            )
            for s, a in strata.items()
        }
        for side, strata in (("control", control), ("treatment", treatment))
    }
    ratio = post_stratified_ratio(ones["control"], ones["treatment"], "revenue", "one")
    mean = post_stratified(control, treatment, "revenue")
    assert ratio.diff == pytest.approx(mean.diff, **TIGHT)
    assert ratio.diff_se == pytest.approx(mean.diff_se, **TIGHT)


def test_post_stratified_ratio_names_a_stratum_whose_denominator_is_zero():
    empty = Aggregates(
        count=5, mean={"c": 0.0, "i": 0.0}, var={"c": 0.0, "i": 0.0}, cov={("c", "i"): 0.0}
    )
    full = Aggregates(
        count=5, mean={"c": 1.0, "i": 4.0}, var={"c": 1.0, "i": 2.0}, cov={("c", "i"): 0.5}
    )
    with pytest.raises(ValueError, match=r"ctr \(web\).*mean 0"):
        post_stratified_ratio(
            {"web": empty, "ios": full}, {"web": full, "ios": full}, "c", "i", metric="ctr"
        )


def test_post_stratified_names_a_stratum_with_too_few_users():
    one = Aggregates(count=1, mean={"y": 1.0}, var={"y": math.nan}, cov={})
    many = Aggregates(count=10, mean={"y": 1.0}, var={"y": 1.0}, cov={})
    with pytest.raises(ValueError, match="stratum 'ios' has 1 user\\(s\\) in the treatment arm"):
        post_stratified({"android": many, "ios": many}, {"android": many, "ios": one}, "y")


def test_post_stratified_names_a_stratum_missing_from_an_arm():
    many = Aggregates(count=10, mean={"y": 1.0}, var={"y": 1.0}, cov={})
    with pytest.raises(ValueError, match="strata \\['web'\\] have users in the control arm only"):
        post_stratified({"android": many, "web": many}, {"android": many}, "y")


@pytest.mark.parametrize(
    ("control", "treatment", "alpha", "message"),
    [
        ({}, {}, 0.05, "no strata"),
        ({"a": "ok"}, {"a": "ok"}, 1.5, "alpha must be in"),
        ({"a": "nan"}, {"a": "ok"}, 0.05, "stratum 'a' has a non-finite mean or variance"),
        ({"a": "constant"}, {"a": "constant"}, 0.05, "zero variance in both arms"),
    ],
)
def test_post_stratified_rejects_undefined_inputs(control, treatment, alpha, message):
    kinds = {
        "ok": Aggregates(count=10, mean={"y": 1.0}, var={"y": 1.0}, cov={}),
        "nan": Aggregates(count=10, mean={"y": 1.0}, var={"y": math.nan}, cov={}),
        "constant": Aggregates(count=10, mean={"y": 1.0}, var={"y": 0.0}, cov={}),
    }
    with pytest.raises(ValueError, match=message):
        post_stratified(
            {k: kinds[v] for k, v in control.items()},
            {k: kinds[v] for k, v in treatment.items()},
            "y",
            alpha,
        )


def test_merge_small_strata_pools_small_and_one_sided_strata_into_other(stratified):
    frame = stratified.copy()
    # tablet: 3 control users and none in treatment; tv: 1 user per arm; both are below 5 in
    # an arm and go to "other", while android, ios and web stay
    extra = pd.DataFrame(
        {
            "arm": ["control"] * 3 + ["control", "treatment"],
            "platform": ["tablet"] * 3 + ["tv", "tv"],
            "revenue": [1.0, 2.0, 4.0, 7.0, 9.0],
        }
    )
    frame = pd.concat([frame, extra], ignore_index=True)
    control, treatment = merge_small_strata(
        by_stratum(frame, "control"), by_stratum(frame, "treatment"), min_users=5
    )
    assert list(control) == ["android", "ios", "web", "other"]
    assert list(treatment) == ["android", "ios", "web", "other"]
    expected = aggregates_from_frame(extra[extra["arm"] == "control"], ["revenue"])
    assert control["other"].count == 4
    assert control["other"].mean_of("revenue") == pytest.approx(expected.mean_of("revenue"))
    assert control["other"].var_of("revenue") == pytest.approx(expected.var_of("revenue"))
    # treatment's "other" is its single tv user: post_stratified then names the stratum
    assert treatment["other"].count == 1
    with pytest.raises(ValueError, match="stratum 'other' has 1 user"):
        post_stratified(control, treatment, "revenue")


def test_merge_small_strata_leaves_large_strata_alone(stratified):
    control, treatment = by_stratum(stratified, "control"), by_stratum(stratified, "treatment")
    merged = merge_small_strata(control, treatment, min_users=2)
    assert merged == (control, treatment)


@pytest.mark.parametrize("min_users", [0, -1, 2.5, True, "5"])
def test_merge_small_strata_rejects_a_minimum_that_is_not_a_positive_count(min_users):
    with pytest.raises(ValueError, match="min_users"):
        merge_small_strata({}, {}, min_users)


def test_stratum_imbalance_matches_scipy_chi2_contingency():
    control = {"android": 300, "ios": 400, "web": 300}
    treatment = {"android": 420, "ios": 300, "web": 280}
    result = stratum_imbalance(control, treatment)
    reference = stats.chi2_contingency(
        np.array([[300, 400, 300], [420, 300, 280]]), correction=False
    )
    assert result.statistic == pytest.approx(reference.statistic, **TIGHT)
    assert result.p_value == pytest.approx(reference.pvalue, **TIGHT)
    assert result.df == 2


def test_stratum_imbalance_counts_a_missing_stratum_as_zero_and_drops_empty_ones():
    result = stratum_imbalance({"a": 10, "b": 5, "c": 0}, {"a": 12})
    reference = stats.chi2_contingency(np.array([[10, 5], [12, 0]]), correction=False)
    assert result.p_value == pytest.approx(reference.pvalue, **TIGHT)
    assert result.df == 1


@pytest.mark.parametrize(
    ("control", "treatment", "message"),
    [
        ({"a": 10}, {"a": 12}, "at least 2 strata"),
        ({"a": 10, "b": -1}, {"a": 12, "b": 3}, "stratum 'b': the control count"),
        ({"a": 10, "b": 2.5}, {"a": 12, "b": 3}, "whole non-negative"),
        ({"a": 10, "b": 3}, {"a": 12, "b": math.nan}, "stratum 'b': the treatment count"),
        ({"a": 10, "b": 3}, {"a": 0, "b": 0}, "treatment arm has no users"),
    ],
)
def test_stratum_imbalance_rejects_invalid_counts(control, treatment, message):
    with pytest.raises(ValueError, match=message):
        stratum_imbalance(control, treatment)


# --- quantiles --------------------------------------------------------------------------------


def test_quantile_ranks_hand_values():
    # n = 400, median: 200 ± 1.96·√100 = 180.4 .. 219.6, rounded outwards
    ranks = quantile_ranks(400, 0.5, 0.05)
    assert (ranks.lower, ranks.point, ranks.upper) == (180, 200, 220)
    # p90: 400·0.9 is 360.00000000000006 in floats, still rank 360; 360 ± 1.96·6
    ranks = quantile_ranks(400, 0.9, 0.05)
    assert (ranks.lower, ranks.point, ranks.upper) == (348, 360, 372)
    # small n: clipped to [1, n]
    ranks = quantile_ranks(3, 0.5, 0.05)
    assert (ranks.lower, ranks.point, ranks.upper) == (1, 2, 3)


@pytest.mark.parametrize("q", [0.1, 0.25, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("n", [1, 2, 7, 100, 401, 10_000])
def test_sample_quantile_is_numpys_inverted_cdf_and_inside_its_interval(n, q):
    values = np.random.default_rng(n).lognormal(0.0, 1.0, n)
    arm = sample_quantile_arm(values, q)
    assert arm.value == np.quantile(values, q, method="inverted_cdf")
    assert arm.lower_value <= arm.value <= arm.upper_value
    ranks = quantile_ranks(n, q)
    assert 1 <= ranks.lower <= ranks.point <= ranks.upper <= n


@pytest.mark.parametrize("q", [0.5, 0.9])
def test_quantile_interval_is_within_one_rank_of_scipys_exact_binomial_interval(q):
    # scipy's quantile_test inverts the exact binomial; ours its normal approximation
    values = np.sort(np.random.default_rng(5).lognormal(0.0, 1.0, 400))
    ranks = quantile_ranks(400, q, 0.05)
    interval = stats.quantile_test(values, q=1.0, p=q).confidence_interval(0.95)
    scipy_lower = int(np.searchsorted(values, interval.low)) + 1
    scipy_upper = int(np.searchsorted(values, interval.high)) + 1
    assert abs(ranks.lower - scipy_lower) <= 1, (ranks, scipy_lower)
    assert abs(ranks.upper - scipy_upper) <= 1, (ranks, scipy_upper)


def test_quantile_difference_se_matches_a_large_bootstrap():
    rng = np.random.default_rng(17)
    n, resamples = 2000, 2000
    control, treatment = rng.lognormal(0.0, 1.0, n), rng.lognormal(0.1, 1.0, n)
    for q in (0.5, 0.9):
        result = quantile_difference(
            sample_quantile_arm(control, q), sample_quantile_arm(treatment, q)
        )
        boot = []
        for values in (control, treatment):
            draws = values[rng.integers(0, n, (resamples, n))]
            boot.append(np.quantile(draws, q, axis=1, method="inverted_cdf"))
        bootstrap_se = np.std(boot[1] - boot[0], ddof=1)
        assert result.diff_se == pytest.approx(bootstrap_se, rel=0.1), (q, bootstrap_se)


def test_quantile_difference_reads_the_se_from_the_interval_width():
    z = stats.norm.isf(0.025)
    control = QuantileArm(n=100, q=0.5, value=10.0, lower_value=9.0, upper_value=11.0)
    treatment = QuantileArm(n=120, q=0.5, value=12.0, lower_value=11.0, upper_value=14.0)
    result = quantile_difference(control, treatment, 0.05, metric="median_revenue")
    assert result.control_se == pytest.approx(2.0 / (2 * z))
    assert result.treatment_se == pytest.approx(3.0 / (2 * z))
    assert result.diff == 2.0
    assert result.diff_se == pytest.approx(math.hypot(2.0, 3.0) / (2 * z))
    assert result.diff_ci_low == pytest.approx(2.0 - math.hypot(2.0, 3.0) / 2)
    assert result.rel_lift == pytest.approx(0.2)
    assert result.method == "quantile_order_statistic_z" and result.kind == "quantile"
    assert result.metric == "median_revenue"
    assert quantile_difference(control, treatment).metric == "p50"


def test_quantile_difference_with_both_quantiles_on_a_tie_is_a_value_error():
    # count data: most users have 0 sessions, so the median and its interval ends are all 0
    values = np.random.default_rng(3).poisson(0.3, 1000).astype(float)
    arm = sample_quantile_arm(values, 0.5)
    assert arm.lower_value == arm.value == arm.upper_value == 0.0
    with pytest.raises(ValueError, match="sits on a tie"):
        quantile_difference(arm, arm)


def test_quantile_difference_with_one_tied_arm_still_tests():
    tied = QuantileArm(n=100, q=0.5, value=1.0, lower_value=1.0, upper_value=1.0)
    spread = QuantileArm(n=100, q=0.5, value=2.0, lower_value=1.0, upper_value=3.0)
    result = quantile_difference(tied, spread)
    assert result.control_se == 0.0 and result.diff_se > 0


@pytest.mark.parametrize(
    ("control", "treatment", "alpha", "message"),
    [
        ((100, 0.5, 1.0, 0.5, 2.0), (100, 0.9, 1.0, 0.5, 2.0), 0.05, "different quantiles"),
        ((1, 0.5, 1.0, 1.0, 1.0), (100, 0.5, 1.0, 0.5, 2.0), 0.05, "control arm has 1 user"),
        ((100, 0.5, math.nan, 0.5, 2.0), (100, 0.5, 1.0, 0.5, 2.0), 0.05, "non-finite"),
        ((100, 0.5, 1.0, 1.5, 2.0), (100, 0.5, 1.0, 0.5, 2.0), 0.05, "not ordered"),
        ((100, 0.5, 1.0, 0.5, 2.0), (100, 0.5, 1.0, 0.5, 2.0), 0.0, "alpha must be in"),
    ],
)
def test_quantile_difference_rejects_invalid_arms(control, treatment, alpha, message):
    with pytest.raises(ValueError, match=message):
        quantile_difference(QuantileArm(*control), QuantileArm(*treatment), alpha)


@pytest.mark.parametrize(
    ("n", "q", "alpha", "message"),
    [
        (0, 0.5, 0.05, "n must be"),
        (2.0, 0.5, 0.05, "n must be"),
        (True, 0.5, 0.05, "n must be"),
        (10, 0.0, 0.05, "q must be in"),
        (10, 1.0, 0.05, "q must be in"),
        (10, math.nan, 0.05, "q must be in"),
        (10, 0.5, 1.0, "alpha must be in"),
    ],
)
def test_quantile_ranks_rejects_invalid_inputs(n, q, alpha, message):
    with pytest.raises(ValueError, match=message):
        quantile_ranks(n, q, alpha)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.array([]), "non-empty 1-D"),
        (np.ones((2, 2)), "non-empty 1-D"),
        (np.array([1.0, math.nan]), "non-finite"),
    ],
)
def test_sample_quantile_arm_rejects_invalid_values(values, message):
    with pytest.raises(ValueError, match=message):
        sample_quantile_arm(values, 0.5)


# --- Bayesian view ----------------------------------------------------------------------------


def posterior_by_quadrature(rel: float, se: float, prior: NormalPrior):
    """Posterior moments, P(lift > 0) and E[max(0, −lift)] by numerical integration."""
    lo, hi = rel - 12 * se, rel + 12 * se

    def density(x: float) -> float:
        return stats.norm.pdf(x, prior.mean, prior.sd) * stats.norm.pdf(rel, x, se)

    def integral(f) -> float:
        return integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0]

    mass = integral(density)
    mean = integral(lambda x: x * density(x)) / mass
    var = integral(lambda x: (x - mean) ** 2 * density(x)) / mass
    win = integrate.quad(density, 0, hi, epsabs=0, epsrel=1e-12)[0] / mass
    loss = integrate.quad(lambda x: -x * density(x), lo, 0, epsabs=0, epsrel=1e-12)[0] / mass
    return mean, math.sqrt(var), win, loss


@pytest.mark.parametrize(
    ("diff", "diff_se", "control_value"),
    [(0.4, 0.5, 10.0), (-0.3, 1.5, 10.0), (0.02, 0.015, 1.0), (2.0, 4.0, 5.0)],
)
def test_bayesian_posterior_matches_numerical_integration(diff, diff_se, control_value):
    prior = NormalPrior(0.01, 0.3)
    result = bayesian_view(diff, diff_se, control_value, prior)
    mean, sd, win, loss = posterior_by_quadrature(
        diff / control_value, diff_se / control_value, prior
    )
    assert result.posterior_mean == pytest.approx(mean, rel=1e-7, abs=1e-12)
    assert result.posterior_sd == pytest.approx(sd, rel=1e-7)
    assert result.chance_to_win == pytest.approx(win, rel=1e-7, abs=1e-12)
    assert result.expected_loss == pytest.approx(loss, rel=1e-6, abs=1e-12)
    z = stats.norm.isf(0.025)
    assert result.ci_low == pytest.approx(mean - z * sd, rel=1e-7, abs=1e-12)


def test_bayesian_expected_loss_matches_monte_carlo_for_a_decrease_metric():
    result = bayesian_view(-0.2, 0.5, 4.0, NormalPrior(0.0, 0.3), direction="decrease")
    draws = np.random.default_rng(0).normal(result.posterior_mean, result.posterior_sd, 10**6)
    assert result.chance_to_win == pytest.approx(np.mean(draws < 0), abs=0.002)
    # shipping a "lower is better" change loses when the lift is positive
    assert result.expected_loss == pytest.approx(np.mean(np.maximum(draws, 0)), rel=0.01)


def test_bayesian_directions_are_complementary():
    up = bayesian_view(0.3, 0.4, 10.0, direction="increase")
    down = bayesian_view(0.3, 0.4, 10.0, direction="decrease")
    assert up.chance_to_win + down.chance_to_win == pytest.approx(1.0)
    # E[max(0, −L)] − E[max(0, L)] = −E[L]
    assert up.expected_loss - down.expected_loss == pytest.approx(-up.posterior_mean)
    assert (up.posterior_mean, up.ci_low) == (down.posterior_mean, down.ci_low)


def test_bayesian_posterior_barely_moves_from_precise_data_under_the_default_prior():
    result = bayesian_view(diff=0.5, diff_se=0.2, control_value=10.0)  # rel 0.05, se 0.02
    assert result.prior_mean == 0.0 and result.prior_sd == 0.3
    assert result.posterior_mean == pytest.approx(0.05, rel=0.005)
    assert result.posterior_sd == pytest.approx(0.02, rel=0.005)


def test_bayesian_negative_control_value_uses_its_magnitude_for_the_se():
    positive = bayesian_view(0.5, 0.2, 10.0)
    negative = bayesian_view(-0.5, 0.2, -10.0)
    assert negative.posterior_mean == pytest.approx(positive.posterior_mean)
    assert negative.posterior_sd == pytest.approx(positive.posterior_sd)


def test_bayesian_view_survives_a_vanishing_standard_error():
    result = bayesian_view(0.5, 1e-300, 10.0)
    assert result.posterior_mean == pytest.approx(0.05)
    assert 0 < result.posterior_sd < 1e-290 and result.chance_to_win == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"diff": math.nan}, "diff must be finite"),
        ({"diff_se": math.inf}, "diff_se must be finite"),
        ({"diff_se": 0.0}, "diff_se must be positive"),
        ({"control_value": 0.0}, "control_value is 0"),
        ({"control_value": math.nan}, "control_value must be finite"),
        ({"control_value": 1e-320}, "too small"),
        ({"direction": "up"}, "direction must be"),
        ({"alpha": 0.0}, "alpha must be in"),
    ],
)
def test_bayesian_view_rejects_invalid_inputs(kwargs, message):
    arguments = {"diff": 0.1, "diff_se": 0.2, "control_value": 1.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        bayesian_view(**arguments)


@pytest.mark.parametrize(
    ("mean", "sd", "message"),
    [(math.nan, 0.3, "prior mean"), (0.0, 0.0, "prior sd"), (0.0, math.inf, "prior sd")],
)
def test_normal_prior_rejects_invalid_parameters(mean, sd, message):
    with pytest.raises(ValueError, match=message):
        NormalPrior(mean, sd)


# --- novelty ----------------------------------------------------------------------------------


def windowed_users(n: int, seed: int, early_lift: float, late_lift: float) -> pd.DataFrame:
    """Per-user metric in the early and late windows; each user keeps a level across both."""
    rng = np.random.default_rng(seed)
    level = rng.gamma(2.0, 1.5, n)
    impressions_early = rng.poisson(10 * level) + 1
    impressions_late = rng.poisson(10 * level) + 1
    ctr = rng.beta(2, 18, n)
    return pd.DataFrame(
        {
            "early": level * rng.lognormal(0.0, 0.5, n) * (1 + early_lift),
            "late": level * rng.lognormal(0.0, 0.5, n) * (1 + late_lift),
            "clicks_early": rng.binomial(impressions_early, np.minimum(ctr * (1 + early_lift), 1)),
            "impressions_early": impressions_early,
            "clicks_late": rng.binomial(impressions_late, np.minimum(ctr * (1 + late_lift), 1)),
            "impressions_late": impressions_late,
        }
    )


NOVELTY_COLUMNS = [
    "early", "late", "clicks_early", "impressions_early", "clicks_late", "impressions_late",
]  # fmt: skip


@pytest.fixture(scope="module")
def novelty_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return windowed_users(800, 21, 0.0, 0.0), windowed_users(900, 22, 0.3, 0.05)


def test_novelty_mean_change_equals_welch_on_per_user_differences(novelty_frames):
    control, treatment = novelty_frames
    result = novelty_test(
        aggregates_from_frame(control, NOVELTY_COLUMNS),
        aggregates_from_frame(treatment, NOVELTY_COLUMNS),
        "early",
        "late",
    )
    differences = [frame["late"] - frame["early"] for frame in (control, treatment)]
    reference = stats.ttest_ind(differences[1], differences[0], equal_var=False)
    assert result.change == pytest.approx(differences[1].mean() - differences[0].mean(), **TIGHT)
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-10)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-10)
    assert result.df == pytest.approx(reference.df, rel=1e-10)
    interval = reference.confidence_interval(0.95)
    assert result.change_ci_low == pytest.approx(interval.low, rel=1e-10)
    assert result.change_ci_high == pytest.approx(interval.high, rel=1e-10)
    assert (result.n_control, result.n_treatment) == (800, 900)
    assert result.metric == "early → late"


def test_novelty_early_and_late_effects_are_the_single_window_welch_estimates(novelty_frames):
    arms = [aggregates_from_frame(f, NOVELTY_COLUMNS) for f in novelty_frames]
    result = novelty_test(*arms, "early", "late", metric="revenue")
    for window, diff, se in (
        ("early", result.early_diff, result.early_se),
        ("late", result.late_diff, result.late_se),
    ):
        welch = welch_t(*arms, window)
        assert diff == pytest.approx(welch.diff, **TIGHT)
        assert se == pytest.approx(welch.diff_se, **TIGHT)
    assert result.metric == "revenue"


def test_novelty_ratio_change_variance_matches_a_numeric_delta_method(novelty_frames):
    arms = [aggregates_from_frame(f, NOVELTY_COLUMNS) for f in novelty_frames]
    early, late = ("clicks_early", "impressions_early"), ("clicks_late", "impressions_late")
    result = novelty_test(*arms, early, late)
    columns = [*early, *late]

    def change(means: np.ndarray) -> float:
        return means[2] / means[3] - means[0] / means[1]

    variance = 0.0
    changes = []
    for frame in novelty_frames:
        values = frame[columns].to_numpy(dtype=float)
        means, sigma = values.mean(axis=0), np.cov(values, rowvar=False)
        step = 1e-6 * np.abs(means)
        gradient = np.array(
            [
                (change(means + np.eye(4)[i] * step[i]) - change(means - np.eye(4)[i] * step[i]))
                / (2 * step[i])
                for i in range(4)
            ]
        )
        variance += gradient @ sigma @ gradient / len(values)
        changes.append(change(means))
    assert result.change == pytest.approx(changes[1] - changes[0], **TIGHT)
    assert result.change_se == pytest.approx(math.sqrt(variance), rel=1e-6)
    assert result.df is None
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(result.statistic)), **TIGHT)
    # and the single-window figures are delta_ratio's
    single = delta_ratio(*arms, *early)
    assert (result.early_diff, result.early_se) == pytest.approx((single.diff, single.diff_se))


def test_novelty_ratio_change_se_agrees_with_a_user_bootstrap(novelty_frames):
    arms = [aggregates_from_frame(f, NOVELTY_COLUMNS) for f in novelty_frames]
    early, late = ("clicks_early", "impressions_early"), ("clicks_late", "impressions_late")
    result = novelty_test(*arms, early, late)
    rng = np.random.default_rng(9)
    boot = np.zeros(2000)
    for sign, frame in zip((-1, 1), novelty_frames, strict=True):
        values = frame[[*early, *late]].to_numpy(dtype=float)
        draws = rng.integers(0, len(values), (2000, len(values)))
        sums = values[draws].sum(axis=1)
        boot += sign * (sums[:, 2] / sums[:, 3] - sums[:, 0] / sums[:, 1])
    assert result.change_se == pytest.approx(np.std(boot, ddof=1), rel=0.1)


def test_novelty_uses_the_within_user_covariance():
    # identical early and late columns: every user's change is 0 → nothing to test
    same = Aggregates(
        count=50, mean={"e": 1.0, "l": 1.0}, var={"e": 2.0, "l": 2.0}, cov={("e", "l"): 2.0}
    )
    with pytest.raises(ValueError, match="zero variance in both arms"):
        novelty_test(same, same, "e", "l")


@pytest.mark.parametrize(
    ("early", "late", "alpha", "message"),
    [
        ("early", ("clicks_late", "impressions_late"), 0.05, "must both be mean columns"),
        ("early", "late", 0.0, "alpha must be in"),
        (("clicks_early",), "late", 0.05, "early must be a column name or a"),
        ("early", ("a", "b", "c"), 0.05, "late must be a column name or a"),
    ],
)
def test_novelty_rejects_invalid_windows(novelty_frames, early, late, alpha, message):
    arms = [aggregates_from_frame(f, NOVELTY_COLUMNS) for f in novelty_frames]
    with pytest.raises(ValueError, match=message):
        novelty_test(*arms, early, late, alpha)


def test_novelty_rejects_an_arm_with_one_user_and_non_finite_moments(novelty_frames):
    control = aggregates_from_frame(novelty_frames[0], NOVELTY_COLUMNS)
    one = aggregates_from_frame(novelty_frames[1].head(1), NOVELTY_COLUMNS)
    with pytest.raises(ValueError, match="treatment arm has 1 user"):
        novelty_test(control, one, "early", "late")
    broken = Aggregates(
        count=10, mean={"e": 1.0, "l": math.nan}, var={"e": 1.0, "l": 1.0}, cov={("e", "l"): 0.5}
    )
    with pytest.raises(ValueError, match="non-finite"):
        novelty_test(broken, broken, "e", "l")


def test_novelty_ratio_with_zero_denominator_mean_is_rejected():
    zero = Aggregates(
        count=10,
        mean={"y1": 1.0, "x1": 0.0, "y2": 1.0, "x2": 1.0},
        var={"y1": 1.0, "x1": 1.0, "y2": 1.0, "x2": 1.0},
        cov={(a, b): 0.0 for a in ("y1", "x1", "y2", "x2") for b in ("y1", "x1", "y2", "x2")},
    )
    with pytest.raises(ValueError, match="denominator 'x1' has mean 0"):
        novelty_test(zero, zero, ("y1", "x1"), ("y2", "x2"))


def test_novelty_missing_covariance_names_the_pair(novelty_frames):
    arm = Aggregates(count=10, mean={"e": 1.0, "l": 2.0}, var={"e": 1.0, "l": 1.0}, cov={})
    with pytest.raises(KeyError, match="\\('e', 'l'\\)"):
        novelty_test(arm, arm, "e", "l")


# --- dilution ---------------------------------------------------------------------------------


def triggered_estimate() -> EffectEstimate:
    control = Aggregates(count=400, mean={"y": 10.0}, var={"y": 16.0}, cov={})
    treatment = Aggregates(count=420, mean={"y": 11.0}, var={"y": 20.0}, cov={})
    return welch_t(control, treatment, "y")


def test_dilute_scales_the_triggered_effect_by_the_share():
    triggered = triggered_estimate()
    result = dilute(triggered, share=0.25, control_value_all=5.0)
    assert result.diff == pytest.approx(0.25 * triggered.diff)
    assert result.diff_se == pytest.approx(0.25 * triggered.diff_se)
    assert result.diff_ci_low == pytest.approx(0.25 * triggered.diff_ci_low)
    assert result.diff_ci_high == pytest.approx(0.25 * triggered.diff_ci_high)
    assert result.rel_lift == pytest.approx(0.25 * triggered.diff / 5.0)
    assert result.rel_lift_ci_low == pytest.approx(result.diff_ci_low / 5.0)
    assert result.share == 0.25


def test_dilute_with_everyone_triggered_is_the_triggered_effect():
    triggered = triggered_estimate()
    result = dilute(triggered, share=1.0, control_value_all=triggered.control_value)
    assert result.diff == triggered.diff and result.rel_lift == pytest.approx(triggered.rel_lift)


def test_dilute_keeps_the_relative_interval_ordered_for_a_negative_control_value():
    result = dilute(triggered_estimate(), share=0.5, control_value_all=-5.0)
    assert result.rel_lift_ci_low <= result.rel_lift <= result.rel_lift_ci_high


@pytest.mark.parametrize(
    ("share", "control_value_all", "message"),
    [
        (0.0, 5.0, "share must be in"),
        (1.5, 5.0, "share must be in"),
        (math.nan, 5.0, "share must be in"),
        (0.5, 0.0, "control_value_all must be finite and non-zero"),
        (0.5, math.inf, "control_value_all must be finite"),
    ],
)
def test_dilute_rejects_invalid_inputs(share, control_value_all, message):
    with pytest.raises(ValueError, match=message):
        dilute(triggered_estimate(), share, control_value_all)


def test_exposure_balance_matches_scipy_chi2_contingency():
    exposed, assigned = {"control": 1200, "treatment": 1320}, {"control": 5000, "treatment": 5010}
    result = exposure_balance(exposed, assigned)
    reference = stats.chi2_contingency(np.array([[1200, 1320], [3800, 3690]]), correction=False)
    assert result.statistic == pytest.approx(reference.statistic, **TIGHT)
    assert result.p_value == pytest.approx(reference.pvalue, **TIGHT)
    assert dict(result.rates) == {"control": 0.24, "treatment": 1320 / 5010}
    assert result.passed == (result.p_value >= 0.001)


def test_exposure_balance_with_everyone_exposed_passes():
    result = exposure_balance({"a": 10, "b": 12}, {"a": 10, "b": 12})
    assert (result.statistic, result.p_value, result.passed) == (0.0, 1.0, True)


@pytest.mark.parametrize(
    ("exposed", "assigned", "threshold", "message"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, 0.001, "arms must match"),
        ({"a": 1}, {"a": 2}, 0.001, "at least 2 arms"),
        ({"a": 1, "b": 1}, {"a": 2, "b": 2}, 0.0, "threshold must be in"),
        ({"a": 3, "b": 1}, {"a": 2, "b": 2}, 0.001, "arm 'a': 3 exposed users but only 2"),
        ({"a": 0, "b": 1}, {"a": 0, "b": 2}, 0.001, "arm 'a' has no assigned users"),
        ({"a": 1.5, "b": 1}, {"a": 2, "b": 2}, 0.001, "arm 'a': the exposed count"),
        ({"a": 1, "b": 1}, {"a": 2, "b": -2}, 0.001, "arm 'b': the assigned count"),
    ],
)
def test_exposure_balance_rejects_invalid_counts(exposed, assigned, threshold, message):
    with pytest.raises(ValueError, match=message):
        exposure_balance(exposed, assigned, threshold)
