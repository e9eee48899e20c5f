"""Golden tests: metricbook.stats against scipy, statsmodels, numpy on raw rows, and hand values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)
from statsmodels.stats.weightstats import CompareMeans

from metricbook.stats import (
    Aggregates,
    absolute_mde,
    adjust_p_values,
    aggregates_from_frame,
    cumulative_looks,
    cuped_mean,
    cuped_ratio,
    default_tau2,
    delta_ratio,
    mde_mean,
    mde_proportion,
    msprt,
    percentile_bootstrap,
    pool,
    power_mean,
    power_proportion,
    sample_size_mean,
    sample_size_proportion,
    srm_test,
    two_proportion_z,
    welch_t,
)

TIGHT = {"rel": 1e-10, "abs": 1e-12}
COLUMNS = ["revenue", "pre_revenue", "clicks", "impressions", "pre_clicks", "pre_impressions"]


def users(n: int, seed: int, lift: float = 0.0) -> pd.DataFrame:
    """Per-user rows with a skewed mean metric, a ratio metric and pre-period covariates."""
    rng = np.random.default_rng(seed)
    activity = rng.gamma(2.0, 1.0, n)
    pre_revenue = rng.lognormal(1.0, 0.8, n) * activity
    revenue = 0.7 * pre_revenue + rng.lognormal(0.5, 0.9, n) + lift
    pre_impressions = rng.poisson(5 * activity) + 1
    impressions = rng.poisson(5 * activity) + 1
    user_ctr = rng.beta(2, 18, n)
    return pd.DataFrame(
        {
            "revenue": revenue,
            "pre_revenue": pre_revenue,
            "clicks": rng.binomial(impressions, np.clip(user_ctr * (1 + lift), 0, 1)),
            "impressions": impressions,
            "pre_clicks": rng.binomial(pre_impressions, user_ctr),
            "pre_impressions": pre_impressions,
            "converted": (rng.random(n) < 0.1 + 0.02 * lift).astype(int),
        }
    )


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return users(1200, seed=1), users(1500, seed=2, lift=0.3)


@pytest.fixture(scope="module")
def arms(frames) -> tuple[Aggregates, Aggregates]:
    columns = [*COLUMNS, "converted"]
    return aggregates_from_frame(frames[0], columns), aggregates_from_frame(frames[1], columns)


# --- aggregates -------------------------------------------------------------------------------


def test_aggregates_from_frame_matches_pandas_moments(frames):
    frame = frames[0]
    aggregates = aggregates_from_frame(frame, COLUMNS)
    assert aggregates.count == len(frame)
    for column in COLUMNS:
        assert aggregates.mean_of(column) == pytest.approx(frame[column].mean(), **TIGHT)
        assert aggregates.var_of(column) == pytest.approx(frame[column].var(ddof=1), **TIGHT)
    expected = frame["clicks"].cov(frame["impressions"], ddof=1)
    assert aggregates.cov_of("clicks", "impressions") == pytest.approx(expected, **TIGHT)
    assert aggregates.cov_of("impressions", "clicks") == aggregates.cov_of("clicks", "impressions")
    assert aggregates.cov_of("revenue", "revenue") == aggregates.var_of("revenue")


def test_missing_covariance_names_the_pair():
    aggregates = Aggregates(count=3, mean={"a": 1.0, "b": 2.0}, var={"a": 1.0, "b": 1.0}, cov={})
    with pytest.raises(KeyError, match=r"\('a', 'b'\)"):
        aggregates.cov_of("a", "b")


def test_aggregates_cannot_be_changed_through_the_input_mapping():
    means = {"a": 1.0}
    aggregates = Aggregates(count=2, mean=means, var={"a": 1.0}, cov={})
    means["a"] = 99.0
    assert aggregates.mean_of("a") == 1.0
    with pytest.raises(TypeError):
        aggregates.mean["a"] = 5.0  # type: ignore[index]


def test_pool_equals_moments_of_concatenated_sample(frames):
    # the arms have different means, so a pool without the between-group term would fail
    first, second = (aggregates_from_frame(frame, COLUMNS) for frame in frames)
    pooled = pool(first, second)
    direct = aggregates_from_frame(pd.concat(frames), COLUMNS)
    assert pooled.count == direct.count
    for a in COLUMNS:
        assert pooled.mean_of(a) == pytest.approx(direct.mean_of(a), **TIGHT)
        for b in COLUMNS:
            assert pooled.cov_of(a, b) == pytest.approx(direct.cov_of(a, b), **TIGHT)


def test_pool_with_an_empty_sample_is_the_other_sample(arms):
    empty = Aggregates(count=0, mean={}, var={}, cov={})
    assert pool(arms[0], empty) is arms[0]
    assert pool(empty, arms[1]) is arms[1]


# --- welch ------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_welch_matches_scipy_on_stats_and_on_raw_rows(frames, arms, alpha):
    control, treatment = arms
    result = welch_t(control, treatment, "revenue", alpha=alpha)
    from_stats = stats.ttest_ind_from_stats(
        treatment.mean_of("revenue"),
        math.sqrt(treatment.var_of("revenue")),
        treatment.count,
        control.mean_of("revenue"),
        math.sqrt(control.var_of("revenue")),
        control.count,
        equal_var=False,
    )
    raw = stats.ttest_ind(frames[1]["revenue"], frames[0]["revenue"], equal_var=False)
    low, high = raw.confidence_interval(confidence_level=1 - alpha)
    assert result.statistic == pytest.approx(from_stats.statistic, **TIGHT)
    assert result.p_value == pytest.approx(from_stats.pvalue, **TIGHT)
    assert result.statistic == pytest.approx(raw.statistic, **TIGHT)
    assert result.p_value == pytest.approx(raw.pvalue, **TIGHT)
    assert result.df == pytest.approx(raw.df, **TIGHT)
    assert (result.diff_ci_low, result.diff_ci_high) == pytest.approx((low, high), **TIGHT)
    compared = CompareMeans.from_data(frames[1]["revenue"], frames[0]["revenue"])
    assert result.diff_se == pytest.approx(compared.std_meandiff_separatevar, **TIGHT)
    assert result.statistic == pytest.approx(result.diff / result.diff_se, **TIGHT)
    assert result.control_se == pytest.approx(stats.sem(frames[0]["revenue"]), **TIGHT)
    assert result.treatment_se == pytest.approx(stats.sem(frames[1]["revenue"]), **TIGHT)
    assert result.diff == pytest.approx(frames[1]["revenue"].mean() - frames[0]["revenue"].mean())
    assert (result.method, result.kind, result.metric) == ("welch_t", "mean", "revenue")
    assert (result.n_control, result.n_treatment) == (1200, 1500)


def test_relative_lift_ci_is_the_delta_method_on_the_log_ratio(arms):
    control, treatment = arms
    result = welch_t(control, treatment, "revenue")
    c, t = control.mean_of("revenue"), treatment.mean_of("revenue")
    var_c = control.var_of("revenue") / control.count
    var_t = treatment.var_of("revenue") / treatment.count
    se_log = math.sqrt(var_c / c**2 + var_t / t**2)
    z = stats.norm.ppf(0.975)
    assert result.rel_lift == pytest.approx(t / c - 1, **TIGHT)
    assert result.rel_lift_ci_low == pytest.approx(t / c * math.exp(-z * se_log) - 1, **TIGHT)
    assert result.rel_lift_ci_high == pytest.approx(t / c * math.exp(z * se_log) - 1, **TIGHT)


def test_relative_lift_ci_is_nan_when_control_is_not_positive():
    control = Aggregates(count=100, mean={"x": -1.0}, var={"x": 4.0}, cov={})
    treatment = Aggregates(count=100, mean={"x": 0.5}, var={"x": 4.0}, cov={})
    result = welch_t(control, treatment, "x")
    assert result.rel_lift == pytest.approx(-1.5)
    assert math.isnan(result.rel_lift_ci_low) and math.isnan(result.rel_lift_ci_high)
    assert math.isfinite(result.p_value)


def test_arm_with_one_user_is_rejected_with_the_metric_name():
    tiny = Aggregates(count=1, mean={"x": 1.0}, var={"x": math.nan}, cov={})
    other = Aggregates(count=50, mean={"x": 1.0}, var={"x": 1.0}, cov={})
    with pytest.raises(ValueError, match="'x'.*control arm has 1 user"):
        welch_t(tiny, other, "x")


def test_constant_metric_in_both_arms_is_rejected_with_the_metric_name():
    flat = Aggregates(count=50, mean={"x": 1.0}, var={"x": 0.0}, cov={})
    with pytest.raises(ValueError, match="'x' has zero variance in both arms"):
        welch_t(flat, flat, "x")


def test_null_variance_from_the_warehouse_is_rejected():
    broken = Aggregates(count=50, mean={"x": 1.0}, var={"x": math.nan}, cov={})
    fine = Aggregates(count=50, mean={"x": 1.0}, var={"x": 1.0}, cov={})
    with pytest.raises(ValueError, match="non-finite"):
        welch_t(broken, fine, "x")


# --- proportions ------------------------------------------------------------------------------


def test_two_proportion_matches_statsmodels_ztest_and_wald_interval(frames, arms):
    control, treatment = arms
    result = two_proportion_z(control, treatment, "converted")
    x_c, x_t = int(frames[0]["converted"].sum()), int(frames[1]["converted"].sum())
    n_c, n_t = len(frames[0]), len(frames[1])
    z, p = proportions_ztest([x_t, x_c], [n_t, n_c])
    low, high = confint_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff")
    assert result.statistic == pytest.approx(z, **TIGHT)
    assert result.p_value == pytest.approx(p, **TIGHT)
    assert (result.diff_ci_low, result.diff_ci_high) == pytest.approx((low, high), **TIGHT)
    # the Wald interval's half-width is z_{0.975} x the unpooled standard error
    assert result.diff_se == pytest.approx((high - low) / (2 * stats.norm.isf(0.025)), **TIGHT)
    assert result.df is None
    assert (result.control_value, result.treatment_value) == (x_c / n_c, x_t / n_t)


def test_two_proportion_hand_example():
    # 100/1000 vs 130/1000: pooled p = 0.115, se0 = sqrt(.115·.885·2/1000), z = 0.03/se0 = 2.10
    control = Aggregates(count=1000, mean={"c": 0.100}, var={}, cov={})
    treatment = Aggregates(count=1000, mean={"c": 0.130}, var={}, cov={})
    result = two_proportion_z(control, treatment, "c")
    assert result.statistic == pytest.approx(0.03 / math.sqrt(0.115 * 0.885 * 0.002), rel=1e-12)
    assert result.p_value == pytest.approx(0.0355, abs=1e-4)


def test_two_proportion_rejects_a_column_that_is_not_zero_one():
    control = Aggregates(count=10, mean={"c": 0.123}, var={}, cov={})
    treatment = Aggregates(count=10, mean={"c": 0.5}, var={}, cov={})
    with pytest.raises(ValueError, match="not a whole number of users"):
        two_proportion_z(control, treatment, "c")


def test_two_proportion_with_no_successes_anywhere_is_rejected():
    none = Aggregates(count=500, mean={"c": 0.0}, var={}, cov={})
    with pytest.raises(ValueError, match="'c'.*same value"):
        two_proportion_z(none, none, "c")


# --- delta method -----------------------------------------------------------------------------


def linearised_ratio(frame: pd.DataFrame, numerator: str, denominator: str) -> np.ndarray:
    """(y − R·x)/mean(x) per user: the influence of each user on the arm's ratio."""
    y, x = frame[numerator].to_numpy(float), frame[denominator].to_numpy(float)
    return (y - y.mean() / x.mean() * x) / x.mean()


def test_delta_ratio_variance_equals_linearisation_on_raw_rows(frames, arms):
    result = delta_ratio(*arms, "clicks", "impressions")
    c, t = (linearised_ratio(f, "clicks", "impressions") for f in frames)
    se = math.sqrt(c.var(ddof=1) / len(c) + t.var(ddof=1) / len(t))
    ratio = [f["clicks"].sum() / f["impressions"].sum() for f in frames]
    assert result.diff == pytest.approx(ratio[1] - ratio[0], **TIGHT)
    assert result.statistic == pytest.approx((ratio[1] - ratio[0]) / se, **TIGHT)
    half_width = stats.norm.ppf(0.975) * se
    assert result.diff_ci_high - result.diff == pytest.approx(half_width, **TIGHT)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(result.statistic)), **TIGHT)
    assert (result.metric, result.method) == ("clicks/impressions", "delta_method_z")


def test_ratio_with_zero_denominator_mean_is_rejected():
    zero = Aggregates(
        count=10, mean={"y": 0.0, "x": 0.0}, var={"y": 0.0, "x": 0.0}, cov={("y", "x"): 0.0}
    )
    fine = Aggregates(
        count=10, mean={"y": 1.0, "x": 2.0}, var={"y": 1.0, "x": 1.0}, cov={("y", "x"): 0.5}
    )
    with pytest.raises(ValueError, match="denominator 'x' has mean 0"):
        delta_ratio(zero, fine, "y", "x")


# --- CUPED ------------------------------------------------------------------------------------


def test_cuped_theta_is_the_ols_slope_on_pooled_rows_and_adjusts_each_user(frames, arms):
    result = cuped_mean(*arms, "revenue", "pre_revenue")
    both = pd.concat(frames)
    slope = np.polyfit(both["pre_revenue"], both["revenue"], 1)[0]
    assert result.theta == pytest.approx(slope, rel=1e-9)
    pooled_x = both["pre_revenue"].mean()
    adjusted = [f["revenue"] - slope * (f["pre_revenue"] - pooled_x) for f in frames]
    raw = stats.ttest_ind(adjusted[1], adjusted[0], equal_var=False)
    assert result.control_value == pytest.approx(adjusted[0].mean(), rel=1e-9)
    assert result.treatment_value == pytest.approx(adjusted[1].mean(), rel=1e-9)
    assert result.statistic == pytest.approx(raw.statistic, rel=1e-8)
    assert result.p_value == pytest.approx(raw.pvalue, rel=1e-8, abs=1e-300)
    assert result.df == pytest.approx(raw.df, rel=1e-8)
    plain = welch_t(*arms, "revenue")
    assert result.unadjusted == plain
    se_ratio = (result.diff_ci_high - result.diff) / (plain.diff_ci_high - plain.diff)
    t_ratio = stats.t.ppf(0.975, result.df) / stats.t.ppf(0.975, plain.df)
    assert result.variance_reduction == pytest.approx(1 - (se_ratio / t_ratio) ** 2, rel=1e-9)
    assert result.variance_reduction > 0.3
    assert result.method == "cuped_welch_t"


def test_cuped_ratio_matches_linearisation_on_raw_rows(frames, arms):
    result = cuped_ratio(*arms, "clicks", "impressions", "pre_clicks", "pre_impressions")
    both = pd.concat(frames)
    pooled_r = linearised_ratio(both, "clicks", "impressions")
    pooled_q = linearised_ratio(both, "pre_clicks", "pre_impressions")
    theta = np.cov(pooled_r, pooled_q)[0, 1] / pooled_q.var(ddof=1)
    assert result.theta == pytest.approx(theta, rel=1e-9)

    def arm(frame: pd.DataFrame) -> tuple[float, float, float]:
        r = frame["clicks"].sum() / frame["impressions"].sum()
        q = frame["pre_clicks"].sum() / frame["pre_impressions"].sum()
        influence = linearised_ratio(frame, "clicks", "impressions") - theta * linearised_ratio(
            frame, "pre_clicks", "pre_impressions"
        )
        return r, q, influence.var(ddof=1) / len(frame)

    (r_c, q_c, v_c), (r_t, q_t, v_t) = arm(frames[0]), arm(frames[1])
    assert result.diff == pytest.approx((r_t - r_c) - theta * (q_t - q_c), rel=1e-9)
    assert result.statistic == pytest.approx(result.diff / math.sqrt(v_c + v_t), rel=1e-9)
    q_pooled = both["pre_clicks"].sum() / both["pre_impressions"].sum()
    assert result.control_value == pytest.approx(r_c - theta * (q_c - q_pooled), rel=1e-9)
    assert result.unadjusted == delta_ratio(*arms, "clicks", "impressions")
    assert 0 < result.variance_reduction < 1
    assert result.method == "cuped_delta_method_z"


def test_cuped_ratio_with_zero_covariate_denominator_is_rejected(frames):
    columns = ["clicks", "impressions", "pre_clicks", "pre_impressions"]
    no_history = frames[0].assign(pre_clicks=0, pre_impressions=0)
    control = aggregates_from_frame(no_history, columns)
    treatment = aggregates_from_frame(frames[1], columns)
    with pytest.raises(ValueError, match="covariate denominator 'pre_impressions' has mean 0"):
        cuped_ratio(control, treatment, "clicks", "impressions", "pre_clicks", "pre_impressions")


def test_cuped_with_constant_covariate_is_rejected(frames):
    flat = [aggregates_from_frame(f.assign(pre_revenue=1.0), COLUMNS) for f in frames]
    with pytest.raises(ValueError, match="covariate 'pre_revenue' has zero variance"):
        cuped_mean(*flat, "revenue", "pre_revenue")


# --- SRM --------------------------------------------------------------------------------------


def test_srm_hand_example_5050_vs_4950():
    # χ² = 2·50²/5000 = 1 on 1 df; p = P(|Z| > 1) = 0.3173
    result = srm_test({"control": 5050, "treatment": 4950}, {"control": 0.5, "treatment": 0.5})
    assert result.statistic == pytest.approx(1.0, **TIGHT)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(1.0), **TIGHT)
    assert result.passed
    assert dict(result.expected_shares) == {"control": 0.5, "treatment": 0.5}
    assert dict(result.expected_counts) == {"control": 5000.0, "treatment": 5000.0}


def test_srm_matches_scipy_chisquare_for_uneven_shares():
    counts = {"a": 5100, "b": 2400, "c": 2650}
    result = srm_test(counts, {"a": 0.50, "b": 0.25, "c": 0.25})
    expected = [0.5 * 10150, 0.25 * 10150, 0.25 * 10150]
    statistic, p_value = stats.chisquare(list(counts.values()), expected)
    assert result.statistic == pytest.approx(statistic, **TIGHT)
    assert result.p_value == pytest.approx(p_value, **TIGHT)
    assert result.passed == (p_value >= 0.001)


def test_srm_flags_a_broken_split():
    result = srm_test({"control": 5200, "treatment": 4800}, {"control": 0.5, "treatment": 0.5})
    assert result.statistic == pytest.approx(16.0)
    assert not result.passed


def test_srm_names_variants_missing_from_either_side():
    with pytest.raises(ValueError, match=r"\['c'\] have counts.*\['b'\] have a share"):
        srm_test({"a": 10, "c": 10}, {"a": 0.5, "b": 0.5})
    with pytest.raises(ValueError, match="positive"):
        srm_test({"a": 10, "b": 10}, {"a": 1.0, "b": 0.0})


@pytest.mark.parametrize("shares", [{"a": 1, "b": 1}, {"a": 0.45, "b": 0.45}, {"a": 50, "b": 50}])
def test_srm_shares_that_do_not_sum_to_one_are_rejected_not_normalised(shares):
    with pytest.raises(ValueError, match=r"shares \{'a': .*\} sum to [\d.]+, not 1"):
        srm_test({"a": 5000, "b": 5000}, shares)


def test_srm_shares_within_the_tolerance_are_rescaled_to_sum_to_one():
    result = srm_test({"a": 100, "b": 100, "c": 100}, {"a": 0.3333, "b": 0.3333, "c": 0.3333})
    assert dict(result.expected_counts) == pytest.approx({"a": 100.0, "b": 100.0, "c": 100.0})
    assert result.statistic == pytest.approx(0.0, abs=1e-12)


# --- multiple testing -------------------------------------------------------------------------


def test_adjusted_p_values_match_hand_values_and_keep_order():
    # holm: sorted .01·3, .03·2, .04·1 -> running max .03, .06, .06
    assert adjust_p_values([0.01, 0.04, 0.03], "holm") == pytest.approx([0.03, 0.06, 0.06])
    # bh: sorted .01·3/1, .03·3/2, .04·3/3 -> running min from the top .03, .04, .04
    assert adjust_p_values([0.01, 0.04, 0.03], "fdr_bh") == pytest.approx([0.03, 0.04, 0.04])


@pytest.mark.parametrize("method", ["holm", "fdr_bh"])
def test_adjusted_p_values_match_statsmodels_and_ignore_nan(method):
    p_values = list(np.random.default_rng(3).uniform(0, 0.2, 12))
    assert adjust_p_values(p_values, method) == pytest.approx(
        list(multipletests(p_values, method=method)[1]), **TIGHT
    )
    with_nan = [0.01, math.nan, 0.04, 0.03]
    adjusted = adjust_p_values(with_nan, method)
    assert math.isnan(adjusted[1])
    assert [adjusted[i] for i in (0, 2, 3)] == adjust_p_values([0.01, 0.04, 0.03], method)
    assert adjust_p_values([], method) == []


# --- power ------------------------------------------------------------------------------------


def test_sample_size_for_half_a_standard_deviation_is_the_textbook_63_per_arm():
    # normal approximation: 2·(1.96 + 0.8416)²/0.5² = 62.8; the t test needs 64 (Cohen 1988)
    assert sample_size_mean(mde=0.5, sd=1.0).n_control == 63
    assert sample_size_mean(mde=5.0, sd=10.0).total == 126
    assert math.ceil(TTestIndPower().solve_power(0.5, alpha=0.05, power=0.8)) == 64


@pytest.mark.parametrize("ratio", [1.0, 0.5, 3.0])
def test_mean_power_functions_agree_with_statsmodels_normal_ind_power(ratio):
    size = sample_size_mean(mde=0.3, sd=2.0, ratio=ratio)
    exact = NormalIndPower().solve_power(0.15, alpha=0.05, power=0.8, ratio=ratio)
    assert size.n_control == math.ceil(exact)
    assert size.n_treatment == math.ceil(exact * ratio)
    assert power_mean(size.n_control, 0.3, 2.0, ratio=ratio) >= 0.8
    assert power_mean(size.n_control - 1, 0.3, 2.0, ratio=ratio) < 0.8
    assert power_mean(500, 0.3, 2.0, ratio=ratio) == pytest.approx(
        NormalIndPower().power(0.15, 500, 0.05, ratio=ratio), **TIGHT
    )
    mde = mde_mean(500, 2.0, ratio=ratio)
    assert power_mean(500, mde, 2.0, ratio=ratio) == pytest.approx(0.8, abs=1e-6)
    # closed form without the far tail: n = (z_{1-α/2} + z_{1-β})²·sd²·(1 + 1/ratio)/mde²
    closed = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) ** 2 * 4 * (1 + 1 / ratio) / 0.09
    assert exact == pytest.approx(closed, rel=1e-4)


def test_proportion_power_uses_cohens_h():
    size = sample_size_proportion(baseline=0.10, mde_abs=0.01)
    h = proportion_effectsize(0.11, 0.10)
    exact = NormalIndPower().solve_power(h, alpha=0.05, power=0.8)
    assert size.n_control == math.ceil(exact)
    assert 14_000 < size.n_control < 15_500  # the familiar ~14.7k per arm for 10% -> 11%
    assert power_proportion(0.10, 0.01, size.n_control) >= 0.8
    assert power_proportion(0.10, 0.01, size.n_control - 1) < 0.8
    mde = mde_proportion(0.10, size.n_control)
    assert mde == pytest.approx(0.01, rel=1e-3)
    assert mde <= 0.01
    assert absolute_mde(0.10, 0.10) == pytest.approx(0.01)


def test_power_inputs_out_of_range_are_rejected():
    with pytest.raises(ValueError, match="baseline"):
        sample_size_proportion(baseline=1.2, mde_abs=0.01)
    with pytest.raises(ValueError, match="--baseline \\+ --mde"):
        sample_size_proportion(baseline=0.995, mde_abs=0.01)
    with pytest.raises(ValueError, match="sd must be positive"):
        sample_size_mean(mde=1.0, sd=0.0)
    with pytest.raises(ValueError, match="power"):
        sample_size_mean(mde=1.0, sd=1.0, power=1.0)


# --- sequential -------------------------------------------------------------------------------


def test_msprt_matches_the_mixture_likelihood_ratio_by_hand():
    control = Aggregates(count=400, mean={"x": 10.0}, var={"x": 4.0}, cov={})
    treatment = Aggregates(count=500, mean={"x": 10.5}, var={"x": 5.0}, cov={})
    [look] = msprt([(control, treatment)], "x", alpha=0.05, tau2=0.09)
    s2, d, tau2 = 4 / 400 + 5 / 500, 0.5, 0.09
    mixture_lr = math.sqrt(s2 / (s2 + tau2)) * math.exp(tau2 * d**2 / (2 * s2 * (s2 + tau2)))
    assert look.p_value_always_valid == pytest.approx(min(1.0, 1 / mixture_lr), **TIGHT)
    assert look.diff == d

    # the confidence sequence is exactly where the likelihood ratio against δ crosses 1/α
    def lr_against(delta: float) -> float:
        shifted = d - delta
        return math.sqrt(s2 / (s2 + tau2)) * math.exp(tau2 * shifted**2 / (2 * s2 * (s2 + tau2)))

    assert lr_against(look.ci_low) == pytest.approx(20.0, rel=1e-9)
    assert lr_against(look.ci_high) == pytest.approx(20.0, rel=1e-9)
    assert look.reject == (look.p_value_always_valid <= 0.05)


def test_msprt_p_values_never_rise_and_intervals_only_shrink():
    rng = np.random.default_rng(11)
    looks = cumulative_looks(rng.normal(0, 1, 3000), rng.normal(0.02, 1, 3000), n_looks=30)
    result = msprt(looks, "value")
    p_values = [look.p_value_always_valid for look in result]
    assert all(later <= earlier for earlier, later in zip(p_values, p_values[1:], strict=False))
    assert all(
        later.ci_low >= earlier.ci_low and later.ci_high <= earlier.ci_high
        for earlier, later in zip(result, result[1:], strict=False)
    )
    assert [look.look for look in result] == list(range(1, 31))
    assert default_tau2(*looks[0], "value") == pytest.approx(
        0.01 * pool(*looks[0]).var_of("value"), **TIGHT
    )


def test_cumulative_looks_equal_aggregates_of_each_prefix():
    rng = np.random.default_rng(5)
    control, treatment = rng.exponential(3.0, 1001), rng.exponential(3.0, 950)
    looks = cumulative_looks(control, treatment, n_looks=7)
    for k, (c, t) in enumerate(looks, start=1):
        n_c = math.ceil(k * 1001 / 7)
        expected = aggregates_from_frame(pd.DataFrame({"value": control[:n_c]}), ["value"])
        assert c.count == n_c
        assert c.mean_of("value") == pytest.approx(expected.mean_of("value"), **TIGHT)
        assert c.var_of("value") == pytest.approx(expected.var_of("value"), rel=1e-9)
        assert t.count == math.ceil(k * 950 / 7)
    assert looks[-1][0].count == 1001


def test_msprt_rejects_looks_that_are_not_cumulative():
    big = Aggregates(count=100, mean={"x": 0.0}, var={"x": 1.0}, cov={})
    small = Aggregates(count=50, mean={"x": 0.0}, var={"x": 1.0}, cov={})
    with pytest.raises(ValueError, match="cumulative"):
        msprt([(big, big), (small, big)], "x", tau2=0.01)


# --- bootstrap --------------------------------------------------------------------------------


def test_bootstrap_is_deterministic_for_a_seed_and_agrees_with_welch_on_a_large_sample(frames):
    control, treatment = (f["revenue"].to_numpy() for f in frames)
    first = percentile_bootstrap(control, treatment, seed=42)
    assert percentile_bootstrap(control, treatment, seed=42) == first
    assert percentile_bootstrap(control, treatment, seed=43) != first
    welch = welch_t(*(aggregates_from_frame(f, ["revenue"]) for f in frames), "revenue")
    assert first.diff == pytest.approx(welch.diff, **TIGHT)
    width = welch.diff_ci_high - welch.diff_ci_low
    assert first.ci_low == pytest.approx(welch.diff_ci_low, abs=0.08 * width)
    assert first.ci_high == pytest.approx(welch.diff_ci_high, abs=0.08 * width)
    assert first.rel_lift == pytest.approx(welch.rel_lift, **TIGHT)
    assert first.rel_lift_ci_low == pytest.approx(welch.rel_lift_ci_low, abs=0.02)
    assert first.se == pytest.approx(welch.diff_se, rel=0.08)  # the bootstrap's own SE
    assert first.n_resamples == 2000


def test_bootstrap_ratio_resamples_users_and_agrees_with_the_delta_method(frames, arms):
    control, treatment = (f[["clicks", "impressions"]].to_numpy() for f in frames)
    result = percentile_bootstrap(control, treatment, statistic="ratio_diff", seed=1)
    delta = delta_ratio(*arms, "clicks", "impressions")
    width = delta.diff_ci_high - delta.diff_ci_low
    assert result.diff == pytest.approx(delta.diff, **TIGHT)
    assert result.ci_low == pytest.approx(delta.diff_ci_low, abs=0.08 * width)
    assert result.ci_high == pytest.approx(delta.diff_ci_high, abs=0.08 * width)


def test_bootstrap_rejects_arrays_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        percentile_bootstrap(np.ones(10), np.ones(10), statistic="ratio_diff")
