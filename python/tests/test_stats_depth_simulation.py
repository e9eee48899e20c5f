"""Simulation tests of the deeper statistics: they keep their promises on data from a known truth.

Every simulation is seeded. With 2000 replications the standard error of a rate near 0.05 is
0.005, so the tolerances below (0.015) are three standard errors, as in test_stats_simulation:
a correct method fails them about once in 400 runs of a new seed, a biased one reliably. A
bias is "far from 0" when the mean over runs is many Monte Carlo standard errors
(sd / √runs) away from it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from test_stats_simulation import batch_aggregates

from metricbook.stats import (
    Aggregates,
    NormalPrior,
    QuantileArm,
    always_valid,
    bayesian_view,
    cochran_q,
    delta_ratio,
    dilute,
    exposure_balance,
    novelty_test,
    post_stratified,
    post_stratified_ratio,
    quantile_difference,
    quantile_ranks,
    welch_t,
)

ALPHA = 0.05
REPS = 2000
RATE_TOLERANCE = 0.015


def one_aggregate(values: np.ndarray) -> Aggregates:
    return Aggregates(
        count=len(values),
        mean={"y": float(values.mean())},
        var={"y": float(values.var(ddof=1))},
        cov={},
    )


def monte_carlo_se(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1) / math.sqrt(len(values)))


# --- heterogeneity ----------------------------------------------------------------------------

SEGMENT_BASELINES = np.array([1.0, 2.0, 3.0, 5.0])


def segment_q_tests(seed: int, effects: np.ndarray, n: int = 400) -> list[float]:
    """Cochran's Q p-value per run, from one Welch estimate per segment on simulated users.

    The segment estimates are welch_t's diff and diff_se (m_t − m_c, √(s_t²/n + s_c²/n)),
    computed for all runs at once: 8000 welch_t calls would take most of this file's budget.
    """
    rng = np.random.default_rng(seed)
    diffs, ses = [], []
    for baseline, effect in zip(SEGMENT_BASELINES, effects, strict=True):
        control = baseline * rng.lognormal(0.0, 0.6, (REPS, n))
        treatment = baseline * rng.lognormal(0.0, 0.6, (REPS, n)) + effect
        diffs.append(treatment.mean(axis=1) - control.mean(axis=1))
        ses.append(np.sqrt((treatment.var(axis=1, ddof=1) + control.var(axis=1, ddof=1)) / n))
    return [
        cochran_q(run_diffs, run_ses).p_value
        for run_diffs, run_ses in zip(np.array(diffs).T, np.array(ses).T, strict=True)
    ]


def test_cochran_q_on_a_homogeneous_effect_rejects_at_alpha():
    p_values = np.array(segment_q_tests(seed=1, effects=np.full(4, 0.2)))
    rate = np.mean(p_values < ALPHA)
    assert rate <= ALPHA + RATE_TOLERANCE, rate
    assert rate >= ALPHA - RATE_TOLERANCE, rate


def test_cochran_q_detects_an_effect_that_differs_by_segment():
    p_values = np.array(segment_q_tests(seed=2, effects=np.array([0.0, 0.2, 0.5, 1.0])))
    power = np.mean(p_values < ALPHA)
    assert power >= 0.9, power


# --- post-stratification ----------------------------------------------------------------------

BASELINES = {"android": 1.0, "ios": 5.0, "web": 3.0}


def stratified_runs(
    seed: int, mix_control: list[float], mix_treatment: list[float], effect: float, n: int = 1000
) -> tuple[np.ndarray, list]:
    """Per run: (naive welch_t, post_stratified); the outcome's baseline differs by platform
    and the treatment adds `effect` to every user."""
    rng = np.random.default_rng(seed)
    naive, stratified = [], []
    for _ in range(REPS):
        strata: list[dict[str, Aggregates]] = []
        whole = []
        for mix, shift in ((mix_control, 0.0), (mix_treatment, effect)):
            counts = rng.multinomial(n, mix)
            values = {
                s: BASELINES[s] * rng.lognormal(0.0, 0.5, k) + shift
                for s, k in zip(BASELINES, counts, strict=True)
            }
            strata.append({s: one_aggregate(v) for s, v in values.items()})
            whole.append(one_aggregate(np.concatenate(list(values.values()))))
        naive.append(welch_t(whole[0], whole[1], "y"))
        stratified.append(post_stratified(strata[0], strata[1], "y"))
    return np.array(naive), stratified


def test_post_stratification_removes_the_bias_of_an_unbalanced_platform_mix():
    # no true effect; treatment is 60% android (the low-baseline platform), control 30%
    naive, stratified = stratified_runs(
        seed=3, mix_control=[0.3, 0.4, 0.3], mix_treatment=[0.6, 0.2, 0.2], effect=0.0
    )
    naive_diffs = np.array([r.diff for r in naive])
    ps_diffs = np.array([r.diff for r in stratified])
    # the plain difference of means is far from 0, many Monte Carlo standard errors away
    assert abs(naive_diffs.mean()) > 20 * monte_carlo_se(naive_diffs), naive_diffs.mean()
    naive_coverage = np.mean([r.diff_ci_low <= 0 <= r.diff_ci_high for r in naive])
    assert naive_coverage < 0.5, naive_coverage
    # the post-stratified one is unbiased and its CI covers 0 at the nominal rate
    assert abs(ps_diffs.mean()) < 3 * monte_carlo_se(ps_diffs), ps_diffs.mean()
    coverage = np.mean([r.diff_ci_low <= 0 <= r.diff_ci_high for r in stratified])
    assert coverage == pytest.approx(1 - ALPHA, abs=RATE_TOLERANCE), coverage
    # its standard error is the spread of its estimates across runs
    reported = np.sqrt(np.mean([r.diff_se**2 for r in stratified]))
    assert reported == pytest.approx(np.std(ps_diffs, ddof=1), rel=0.05)


def test_post_stratified_ci_covers_under_proper_randomisation():
    mix = [0.4, 0.35, 0.25]
    naive, stratified = stratified_runs(seed=4, mix_control=mix, mix_treatment=mix, effect=0.2)
    coverage = np.mean([r.diff_ci_low <= 0.2 <= r.diff_ci_high for r in stratified])
    assert coverage == pytest.approx(1 - ALPHA, abs=RATE_TOLERANCE), coverage
    # and it is more precise than the plain difference when the strata explain the outcome
    ps_spread = np.std([r.diff for r in stratified], ddof=1)
    naive_spread = np.std([r.diff for r in naive], ddof=1)
    assert ps_spread < 0.9 * naive_spread, (ps_spread, naive_spread)


def test_post_stratified_ratio_removes_the_mix_and_covers_under_an_unbalanced_split():
    """A CTR whose level differs by platform (0.05, 0.12, 0.08), no effect at all, and a
    treatment arm with twice the control's share of the high-CTR platform: the pooled ratio is
    biased, the post-stratified one is not and its CI covers."""
    rng = np.random.default_rng(31)
    levels = np.array([0.05, 0.12, 0.08])
    mixes = {"control": [0.5, 0.2, 0.3], "treatment": [0.3, 0.4, 0.3]}
    plain, stratified = [], []
    for _ in range(1000):
        strata = {}
        for arm, mix in mixes.items():
            platform = rng.choice(3, size=1500, p=mix)
            impressions = rng.poisson(20, 1500) + 1
            clicks = rng.binomial(impressions, levels[platform])
            strata[arm] = {
                str(k): batch_aggregates(
                    {
                        "clicks": clicks[platform == k][None, :].astype(float),
                        "impressions": impressions[platform == k][None, :].astype(float),
                    }
                )[0]
                for k in range(3)
            }
            strata[arm + "_all"] = batch_aggregates(
                {
                    "clicks": clicks[None, :].astype(float),
                    "impressions": impressions[None, :].astype(float),
                }
            )[0]
        plain.append(
            delta_ratio(strata["control_all"], strata["treatment_all"], "clicks", "impressions")
        )
        stratified.append(
            post_stratified_ratio(strata["control"], strata["treatment"], "clicks", "impressions")
        )
    plain_diffs = np.array([r.diff for r in plain])
    ps_diffs = np.array([r.diff for r in stratified])
    assert plain_diffs.mean() > 10 * monte_carlo_se(plain_diffs)  # the mix, not an effect
    assert abs(ps_diffs.mean()) < 3 * monte_carlo_se(ps_diffs), ps_diffs.mean()
    coverage = np.mean([r.diff_ci_low <= 0 <= r.diff_ci_high for r in stratified])
    assert coverage == pytest.approx(1 - ALPHA, abs=0.02), coverage


# --- quantiles --------------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.5, 0.9])
def test_quantile_difference_ci_covers_the_true_difference_of_lognormal_quantiles(q):
    n, shift = 400, 0.1
    rng = np.random.default_rng(5 if q == 0.5 else 6)
    ranks = quantile_ranks(n, q, ALPHA)
    arms = []
    for mu in (0.0, shift):
        ordered = np.sort(rng.lognormal(mu, 1.0, (REPS, n)), axis=1)
        arms.append(
            [
                QuantileArm(
                    n=n,
                    q=q,
                    value=float(row[ranks.point - 1]),
                    lower_value=float(row[ranks.lower - 1]),
                    upper_value=float(row[ranks.upper - 1]),
                )
                for row in ordered
            ]
        )
    results = [quantile_difference(c, t, ALPHA) for c, t in zip(*arms, strict=True)]
    true_quantile = math.exp(stats.norm.ppf(q))
    true_diff = true_quantile * (math.exp(shift) - 1)
    coverage = np.mean([r.diff_ci_low <= true_diff <= r.diff_ci_high for r in results])
    # p90 of a lognormal is slightly conservative at n = 400 (0.960 over 40 000 runs: the
    # order statistics of the long right tail overstate the se by ~7%); see quantile_difference
    upper = 1 - ALPHA + (0.025 if q == 0.9 else RATE_TOLERANCE)
    assert 1 - ALPHA - RATE_TOLERANCE <= coverage <= upper, coverage
    rel_coverage = np.mean(
        [r.rel_lift_ci_low <= math.exp(shift) - 1 <= r.rel_lift_ci_high for r in results]
    )
    assert 1 - ALPHA - RATE_TOLERANCE <= rel_coverage <= upper, rel_coverage


# --- Bayesian view ----------------------------------------------------------------------------


def test_bayesian_view_is_calibrated_when_lifts_come_from_the_prior():
    prior = NormalPrior(0.0, 0.3)
    n, reps = 100, 4000
    rng = np.random.default_rng(7)
    lifts = rng.normal(prior.mean, prior.sd, reps)
    control = rng.lognormal(0.0, 0.5, (reps, n))
    treatment = rng.lognormal(0.0, 0.5, (reps, n)) * (1 + lifts[:, None])
    diffs = treatment.mean(axis=1) - control.mean(axis=1)
    ses = np.sqrt(treatment.var(axis=1, ddof=1) / n + control.var(axis=1, ddof=1) / n)
    results = [
        bayesian_view(d, s, c, prior, "increase", ALPHA)
        for d, s, c in zip(diffs, ses, control.mean(axis=1), strict=True)
    ]
    coverage = np.mean(
        [r.ci_low <= lift <= r.ci_high for r, lift in zip(results, lifts, strict=True)]
    )
    assert coverage == pytest.approx(1 - ALPHA, abs=0.01), coverage
    chance = np.array([r.chance_to_win for r in results])
    # among runs that promise a 90%+ chance to win, the lift is positive that often (and the
    # same for a less confident band, where the promise is further from 1)
    for low, high in ((0.9, 1.0), (0.5, 0.9)):
        band = (chance >= low) & (chance < high)
        realised = np.mean(lifts[band] > 0)
        promised = np.mean(chance[band])
        tolerance = 3 * math.sqrt(promised * (1 - promised) / band.sum())
        assert band.sum() > 100, band.sum()
        assert realised == pytest.approx(promised, abs=tolerance), (low, realised, promised)
    # the expected loss is the average loss actually suffered by shipping every time
    losses = np.maximum(0.0, -lifts)
    expected = np.array([r.expected_loss for r in results])
    assert expected.mean() == pytest.approx(losses.mean(), rel=0.1)


# --- novelty ----------------------------------------------------------------------------------


def windowed_arm(
    rng: np.random.Generator, n: int, early_lift: float, late_lift: float
) -> list[Aggregates]:
    """REPS samples of users' metric and clicks/impressions in the early and late windows; a
    user's level persists, so the windows are strongly correlated within users."""
    level = rng.gamma(2.0, 1.5, (REPS, n))
    ctr = rng.beta(2, 18, (REPS, n))
    columns = {}
    for window, lift in (("early", early_lift), ("late", late_lift)):
        impressions = rng.poisson(5 * level) + 1
        columns[window] = level * rng.lognormal(0.0, 0.4, (REPS, n)) * (1 + lift)
        columns[f"clicks_{window}"] = rng.binomial(impressions, ctr * (1 + lift))
        columns[f"impressions_{window}"] = impressions
    return batch_aggregates(columns)


WINDOWS = {
    "mean": ("early", "late"),
    "ratio": (("clicks_early", "impressions_early"), ("clicks_late", "impressions_late")),
}


@pytest.fixture(scope="module")
def constant_effect_arms() -> tuple[list[Aggregates], list[Aggregates]]:
    rng = np.random.default_rng(8)
    return windowed_arm(rng, 300, 0.0, 0.0), windowed_arm(rng, 300, 0.1, 0.1)


@pytest.mark.parametrize("kind", list(WINDOWS))
def test_novelty_test_on_a_constant_effect_rejects_at_alpha(constant_effect_arms, kind):
    early, late = WINDOWS[kind]
    results = [
        novelty_test(c, t, early, late, ALPHA) for c, t in zip(*constant_effect_arms, strict=True)
    ]
    rate = np.mean([r.p_value < ALPHA for r in results])
    assert rate <= ALPHA + RATE_TOLERANCE, rate
    assert rate >= ALPHA - RATE_TOLERANCE, rate
    # the reported se of the change is its spread across runs: the within-user covariance
    # is accounted for; treating the windows as independent samples would overstate it
    changes = np.array([r.change for r in results])
    reported = np.sqrt(np.mean([r.change_se**2 for r in results]))
    assert reported == pytest.approx(np.std(changes, ddof=1), rel=0.05)
    independent = np.sqrt(np.mean([r.early_se**2 + r.late_se**2 for r in results]))
    assert independent > 1.3 * reported, (independent, reported)


@pytest.mark.parametrize("kind", list(WINDOWS))
def test_novelty_test_detects_an_effect_that_decays_from_30_percent_to_zero(kind):
    rng = np.random.default_rng(9)
    control, treatment = windowed_arm(rng, 300, 0.0, 0.0), windowed_arm(rng, 300, 0.3, 0.0)
    early, late = WINDOWS[kind]
    results = [
        novelty_test(c, t, early, late, ALPHA) for c, t in zip(control, treatment, strict=True)
    ]
    power = np.mean([r.p_value < ALPHA and r.change < 0 for r in results])
    assert power >= 0.9, power


# --- trigger dilution -------------------------------------------------------------------------


def masked_aggregates(values: np.ndarray, mask: np.ndarray) -> list[Aggregates]:
    """Per run (row), the aggregates of the values where mask is True."""
    counts = mask.sum(axis=1)
    means = np.where(mask, values, 0.0).sum(axis=1) / counts
    squares = np.where(mask, (values - means[:, None]) ** 2, 0.0).sum(axis=1)
    return [
        Aggregates(count=int(k), mean={"y": float(m)}, var={"y": float(v / (k - 1))}, cov={})
        for k, m, v in zip(counts, means, squares, strict=True)
    ]


def triggered_runs(
    seed: int, threshold_treatment: float, effect: float, n: int = 2000, reps: int = REPS
):
    """Users with engagement e ~ U(0, 1) and outcome 10·e + noise; a user is exposed when e
    exceeds 0.7 (control) or `threshold_treatment` (treatment); exposed treatment users gain
    `effect`. Returns per run (ITT welch_t, triggered welch_t, exposure balance, share,
    control mean over all)."""
    rng = np.random.default_rng(seed)
    everyone = np.ones((reps, n), dtype=bool)
    itt_arms, triggered_arms, exposed_counts = [], [], []
    for threshold, gain in ((0.7, 0.0), (threshold_treatment, effect)):
        engagement = rng.random((reps, n))
        exposed = engagement > threshold
        outcome = 10 * engagement + rng.normal(0.0, 2.0, (reps, n)) + gain * exposed
        itt_arms.append(masked_aggregates(outcome, everyone))
        triggered_arms.append(masked_aggregates(outcome, exposed))
        exposed_counts.append(exposed.sum(axis=1))
    runs = []
    for r in range(reps):
        exposed_users = {
            "control": int(exposed_counts[0][r]),
            "treatment": int(exposed_counts[1][r]),
        }
        runs.append(
            (
                welch_t(itt_arms[0][r], itt_arms[1][r], "y"),
                welch_t(triggered_arms[0][r], triggered_arms[1][r], "y"),
                exposure_balance(exposed_users, {"control": n, "treatment": n}),
                sum(exposed_users.values()) / (2 * n),
                itt_arms[0][r].mean_of("y"),
            )
        )
    return runs


def test_treatment_that_changes_who_is_exposed_biases_the_triggered_effect_and_is_flagged():
    # no effect on anyone; treatment also exposes the marginal users with e in (0.5, 0.7]; the
    # bias is large, so 500 runs show it
    runs = triggered_runs(seed=10, threshold_treatment=0.5, effect=0.0, reps=500)
    triggered = np.array([r[1].diff for r in runs])
    itt = np.array([r[0].diff for r in runs])
    assert triggered.mean() < -20 * monte_carlo_se(triggered), triggered.mean()
    assert abs(itt.mean()) < 3 * monte_carlo_se(itt), itt.mean()
    assert np.mean([not r[2].passed for r in runs]) > 0.99


def test_diluted_triggered_effect_equals_the_itt_effect_when_exposure_is_random():
    runs = triggered_runs(seed=11, threshold_treatment=0.7, effect=1.0)
    diluted = [dilute(r[1], r[3], r[4]) for r in runs]
    diluted_diffs = np.array([d.diff for d in diluted])
    itt = np.array([r[0].diff for r in runs])
    true_diff = 0.3 * 1.0  # 30% exposed, +1 each
    assert abs(diluted_diffs.mean() - true_diff) < 3 * monte_carlo_se(diluted_diffs)
    assert abs(itt.mean() - true_diff) < 3 * monte_carlo_se(itt)
    coverage = np.mean([d.diff_ci_low <= true_diff <= d.diff_ci_high for d in diluted])
    assert coverage == pytest.approx(1 - ALPHA, abs=RATE_TOLERANCE), coverage
    # the point of triggering: the diluted estimate is less noisy than the ITT one
    assert np.std(diluted_diffs, ddof=1) < 0.8 * np.std(itt, ddof=1)
    assert np.mean([r[2].p_value < ALPHA for r in runs]) == pytest.approx(ALPHA, abs=RATE_TOLERANCE)


# --- sequential peeking -----------------------------------------------------------------------

DAYS, USERS_PER_DAY = 14, 150


def daily_looks(seed: int, effect: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative daily moments of a skewed metric, (REPS, DAYS) each: the diff, its variance,
    the Welch p-value a fixed-horizon reader would see that day; and the users per arm."""
    rng = np.random.default_rng(seed)
    ends = np.arange(1, DAYS + 1) * USERS_PER_DAY
    moments = []
    for shift in (0.0, effect):
        values = rng.lognormal(0.0, 0.8, (REPS, DAYS * USERS_PER_DAY)) + shift
        # centred first, so the running sum of squares does not cancel
        centre = values.mean(axis=1, keepdims=True)
        sums = np.cumsum(values - centre, axis=1)[:, ends - 1]
        squares = np.cumsum((values - centre) ** 2, axis=1)[:, ends - 1]
        centred_means = sums / ends
        variances = (squares - ends * centred_means**2) / (ends - 1)
        moments.append((centred_means + centre, variances))
    (mean_c, var_c), (mean_t, var_t) = moments
    naive = stats.ttest_ind_from_stats(
        mean_t, np.sqrt(var_t), ends, mean_c, np.sqrt(var_c), ends, equal_var=False
    ).pvalue
    return mean_t - mean_c, var_t / ends + var_c / ends, naive, ends


def test_reading_always_valid_after_every_daily_look_keeps_false_positives_below_alpha():
    # as the readout reads it: one always_valid call per look, default tau2 from the arm sizes
    diff, variance, naive, ends = daily_looks(seed=12, effect=0.0)
    rejected = np.zeros(REPS, dtype=bool)
    for day in range(DAYS):
        for r in range(REPS):
            if not rejected[r]:
                look = always_valid(
                    float(diff[r, day]),
                    float(variance[r, day]),
                    ALPHA,
                    n_control=int(ends[day]),
                    n_treatment=int(ends[day]),
                )
                rejected[r] = look.p_value <= ALPHA
    always_valid_fpr = rejected.mean()
    assert always_valid_fpr <= ALPHA + 0.01, always_valid_fpr
    # the fixed-horizon p read every day and acted on at the first p < alpha: far above alpha
    naive_fpr = np.mean((naive < ALPHA).any(axis=1))
    assert naive_fpr > 2 * ALPHA, naive_fpr
    # while read once, on the last day, it is fine
    assert np.mean(naive[:, -1] < ALPHA) == pytest.approx(ALPHA, abs=RATE_TOLERANCE)


def test_a_post_treatment_segment_manufactures_an_effect_that_itt_does_not_have():
    """The pitfall: treatment makes light users save, so "users who saved" is a different mix
    of users in each arm; clicks depend only on engagement (no effect at all), yet the savers'
    comparison finds one. The intention-to-treat comparison of all users stays unbiased."""
    rng = np.random.default_rng(2024)
    segment, everyone = [], []
    for _ in range(500):
        n = 2000
        engagement = rng.lognormal(0.0, 0.8, (2, n))
        clicks = rng.poisson(2.0 * engagement)
        # control saves with probability rising in engagement; treatment adds light savers
        p_save = np.clip(0.15 * engagement, 0, 1)
        p_save[1] = np.clip(p_save[1] + 0.25 * (engagement[1] < 1.0), 0, 1)
        saved = rng.random((2, n)) < p_save
        segment.append(clicks[1][saved[1]].mean() - clicks[0][saved[0]].mean())
        everyone.append(clicks[1].mean() - clicks[0].mean())
    segment, everyone = np.array(segment), np.array(everyone)
    mc = lambda x: x.std(ddof=1) / np.sqrt(len(x))  # noqa: E731
    assert abs(everyone.mean()) < 3 * mc(everyone)
    assert segment.mean() < -20 * mc(segment)  # a large "harm" that does not exist
