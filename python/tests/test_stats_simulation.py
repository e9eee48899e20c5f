"""Simulation tests: the methods keep their promises on data drawn from a known truth.

Every simulation is seeded. With 2000 replications the standard error of a rate near 0.05 is
0.005, so the tolerances below (0.015) are three standard errors: a correct method fails them
about once in 400 runs of a new seed, a biased one (FPR 0.08, coverage 0.92) fails reliably.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats

from metricbook.stats import (
    Aggregates,
    EffectEstimate,
    cuped_mean,
    cuped_ratio,
    delta_ratio,
    msprt,
    percentile_bootstrap,
    power_proportion,
    sample_size_mean,
    sample_size_proportion,
    two_proportion_z,
    welch_t,
)

ALPHA = 0.05
REPS = 2000
RATE_TOLERANCE = 0.015


def batch_aggregates(columns: dict[str, np.ndarray]) -> list[Aggregates]:
    """Aggregates of many samples at once: each column is (reps, n), one row per sample."""
    names = list(columns)
    n = columns[names[0]].shape[1]
    means = {c: v.mean(axis=1) for c, v in columns.items()}
    centred = {c: v - means[c][:, None] for c, v in columns.items()}
    comoments = {
        (a, b): (centred[a] * centred[b]).sum(axis=1) / (n - 1)
        for i, a in enumerate(names)
        for b in names[i:]
    }
    return [
        Aggregates(
            count=n,
            mean={c: float(means[c][r]) for c in names},
            var={c: float(comoments[(c, c)][r]) for c in names},
            cov={pair: float(v[r]) for pair, v in comoments.items() if pair[0] != pair[1]},
        )
        for r in range(len(means[names[0]]))
    ]


@dataclass(frozen=True)
class Experiment:
    """REPS simulated experiments of one metric with a known true effect."""

    controls: list[Aggregates]
    treatments: list[Aggregates]
    true_diff: float
    true_rel_lift: float


def mean_metric(rng: np.random.Generator, lift: float) -> Experiment:
    # skewed like revenue per user; the treatment scales every user by (1 + lift)
    n, sigma = 500, 0.8
    control = rng.lognormal(0.0, sigma, (REPS, n))
    treatment = rng.lognormal(0.0, sigma, (REPS, n)) * (1 + lift)
    mean = math.exp(sigma**2 / 2)
    return Experiment(
        batch_aggregates({"revenue": control}),
        batch_aggregates({"revenue": treatment}),
        mean * lift,
        lift,
    )


def proportion_metric(rng: np.random.Generator, lift: float) -> Experiment:
    n, share = 2000, 0.10

    def arm(p: float) -> list[Aggregates]:
        successes = rng.binomial(n, p, REPS)
        return [
            Aggregates(
                count=n,
                mean={"converted": k / n},
                var={"converted": k * (n - k) / (n * (n - 1))},
                cov={},
            )
            for k in successes
        ]

    return Experiment(arm(share), arm(share * (1 + lift)), share * lift, lift)


def users_with_history(rng: np.random.Generator, n: int, lift: float) -> dict[str, np.ndarray]:
    """Per-user clicks and impressions now and before assignment; each user keeps a CTR."""
    activity = rng.gamma(2.0, 10.0, (REPS, n))
    ctr = rng.beta(1.0, 9.0, (REPS, n))
    pre_impressions = rng.poisson(activity) + 1
    impressions = rng.poisson(activity) + 1
    return {
        "clicks": rng.binomial(impressions, ctr * (1 + lift)),
        "impressions": impressions,
        "pre_clicks": rng.binomial(pre_impressions, ctr),
        "pre_impressions": pre_impressions,
    }


def ratio_metric(rng: np.random.Generator, lift: float) -> Experiment:
    # E[clicks]/E[impressions] = E[ctr]·(1 + lift) = 0.1·(1 + lift): ctr and activity independent
    return Experiment(
        batch_aggregates(users_with_history(rng, 500, 0.0)),
        batch_aggregates(users_with_history(rng, 500, lift)),
        0.1 * lift,
        lift,
    )


def mean_with_covariate(rng: np.random.Generator, lift: float, rho: float = 0.6) -> Experiment:
    # corr(Y, X) = rho by construction, with a skewed covariate
    def arm(shift: float) -> list[Aggregates]:
        covariate = rng.gamma(2.0, 1.0, (REPS, 500))
        noise = rng.normal(0.0, 1.0, (REPS, 500))
        standardised = (covariate - 2.0) / math.sqrt(2.0)
        outcome = 10.0 + shift + rho * standardised + math.sqrt(1 - rho**2) * noise
        return batch_aggregates({"y": outcome, "x": covariate})

    return Experiment(arm(0.0), arm(10.0 * lift), 10.0 * lift, lift)


Method = Callable[[Aggregates, Aggregates], EffectEstimate]
SCENARIOS: dict[str, tuple[Callable[[np.random.Generator, float], Experiment], Method]] = {
    "welch_t": (mean_metric, lambda c, t: welch_t(c, t, "revenue")),
    "two_proportion_z": (proportion_metric, lambda c, t: two_proportion_z(c, t, "converted")),
    "delta_ratio": (ratio_metric, lambda c, t: delta_ratio(c, t, "clicks", "impressions")),
    "cuped_mean": (mean_with_covariate, lambda c, t: cuped_mean(c, t, "y", "x")),
    "cuped_ratio": (
        ratio_metric,
        lambda c, t: cuped_ratio(c, t, "clicks", "impressions", "pre_clicks", "pre_impressions"),
    ),
}


def run(name: str, lift: float, seed: int) -> tuple[Experiment, list[EffectEstimate]]:
    simulate, method = SCENARIOS[name]
    experiment = simulate(np.random.default_rng(seed), lift)
    results = [
        method(c, t) for c, t in zip(experiment.controls, experiment.treatments, strict=True)
    ]
    return experiment, results


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_aa_false_positive_rate_is_alpha(name):
    _, results = run(name, lift=0.0, seed=101)
    false_positive_rate = np.mean([r.p_value < ALPHA for r in results])
    assert false_positive_rate == pytest.approx(ALPHA, abs=RATE_TOLERANCE), false_positive_rate


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_confidence_intervals_cover_the_true_effect_95_percent_of_the_time(name):
    experiment, results = run(name, lift=0.05, seed=202)
    diff_coverage = np.mean(
        [r.diff_ci_low <= experiment.true_diff <= r.diff_ci_high for r in results]
    )
    rel_coverage = np.mean(
        [r.rel_lift_ci_low <= experiment.true_rel_lift <= r.rel_lift_ci_high for r in results]
    )
    assert diff_coverage == pytest.approx(1 - ALPHA, abs=RATE_TOLERANCE), diff_coverage
    assert rel_coverage == pytest.approx(1 - ALPHA, abs=RATE_TOLERANCE), rel_coverage


def test_cuped_variance_reduction_is_rho_squared_and_real():
    rho = 0.6
    experiment = mean_with_covariate(np.random.default_rng(303), lift=0.02, rho=rho)
    results = [
        cuped_mean(c, t, "y", "x")
        for c, t in zip(experiment.controls, experiment.treatments, strict=True)
    ]
    reported = np.mean([r.variance_reduction for r in results])
    assert reported == pytest.approx(rho**2, abs=0.02)
    # the adjusted diffs really are less spread out across experiments, by the same amount
    adjusted = np.var([r.diff for r in results], ddof=1)
    plain = np.var([r.unadjusted.diff for r in results], ddof=1)
    assert 1 - adjusted / plain == pytest.approx(rho**2, abs=0.05)


def test_cuped_ratio_reported_variance_reduction_matches_the_realised_one():
    experiment = ratio_metric(np.random.default_rng(404), lift=0.0)
    results = [
        cuped_ratio(c, t, "clicks", "impressions", "pre_clicks", "pre_impressions")
        for c, t in zip(experiment.controls, experiment.treatments, strict=True)
    ]
    reported = np.mean([r.variance_reduction for r in results])
    realised = 1 - np.var([r.diff for r in results]) / np.var([r.unadjusted.diff for r in results])
    assert reported > 0.1
    assert realised == pytest.approx(reported, abs=0.05)


def test_delta_ratio_variance_matches_the_sampling_variance_of_the_ratio():
    # brute force: the spread of one arm's ratio over 4000 fresh samples vs the formula
    rng = np.random.default_rng(7)
    data = users_with_history(rng, 400, 0.0)
    data = {"clicks": data["clicks"], "impressions": data["impressions"]}
    arms = batch_aggregates(data)
    ratios = data["clicks"].sum(axis=1) / data["impressions"].sum(axis=1)
    # an arm against itself: the diff's variance is 2·var(R), so var(R) = (half width / z)² / 2
    z = stats.norm.ppf(1 - ALPHA / 2)
    predicted = [
        (delta_ratio(a, a, "clicks", "impressions").diff_ci_high / z) ** 2 / 2 for a in arms
    ]
    assert np.mean(predicted) == pytest.approx(ratios.var(ddof=1), rel=0.06)


# --- power ------------------------------------------------------------------------------------


def test_sample_size_for_a_mean_delivers_the_requested_power():
    mde, sd = 0.25, 1.5
    size = sample_size_mean(mde=mde, sd=sd, power=0.8, ratio=1.5)
    rng = np.random.default_rng(505)
    controls = batch_aggregates({"v": rng.normal(0.0, sd, (REPS, size.n_control))})
    treatments = batch_aggregates({"v": rng.normal(mde, sd, (REPS, size.n_treatment))})
    power = np.mean(
        [welch_t(c, t, "v").p_value < ALPHA for c, t in zip(controls, treatments, strict=True)]
    )
    assert power == pytest.approx(0.8, abs=0.03), power


def test_sample_size_for_a_proportion_delivers_the_requested_power():
    baseline, mde = 0.10, 0.02
    size = sample_size_proportion(baseline, mde, power=0.8)
    rng = np.random.default_rng(606)
    n_c, n_t = size.n_control, size.n_treatment
    control, treatment = rng.binomial(n_c, baseline, REPS), rng.binomial(n_t, baseline + mde, REPS)
    power = np.mean(
        [
            two_proportion_z(
                Aggregates(count=n_c, mean={"c": x_c / n_c}, var={}, cov={}),
                Aggregates(count=n_t, mean={"c": x_t / n_t}, var={}, cov={}),
                "c",
            ).p_value
            < ALPHA
            for x_c, x_t in zip(control, treatment, strict=True)
        ]
    )
    assert power == pytest.approx(0.8, abs=0.03), power
    assert power_proportion(baseline, mde, n_c) == pytest.approx(0.8, abs=0.002)


# --- sequential -------------------------------------------------------------------------------

LOOKS, BATCH, SEQUENTIAL_REPS = 50, 40, 1000


def sequential_experiments(seed: int, effect: float) -> tuple[list[list], np.ndarray]:
    """Per replication, 50 cumulative looks of N(0,1) vs N(effect,1), 40 users per arm per look.

    Also returns the naive Welch p-value at every look, shape (reps, looks).
    """
    rng = np.random.default_rng(seed)
    shape = (SEQUENTIAL_REPS, LOOKS * BATCH)
    ends = np.arange(1, LOOKS + 1) * BATCH
    moments = []
    for values in (rng.normal(0.0, 1.0, shape), rng.normal(effect, 1.0, shape)):
        sums = np.cumsum(values, axis=1)[:, ends - 1]
        squares = np.cumsum(values**2, axis=1)[:, ends - 1]
        means = sums / ends
        moments.append((means, (squares - ends * means**2) / (ends - 1)))
    (mean_c, var_c), (mean_t, var_t) = moments
    naive = stats.ttest_ind_from_stats(
        mean_t, np.sqrt(var_t), ends, mean_c, np.sqrt(var_c), ends, equal_var=False
    ).pvalue
    looks = [
        [
            tuple(
                Aggregates(
                    count=int(ends[k]),
                    mean={"v": float(m[r, k])},
                    var={"v": float(v[r, k])},
                    cov={},
                )
                for m, v in ((mean_c, var_c), (mean_t, var_t))
            )
            for k in range(LOOKS)
        ]
        for r in range(SEQUENTIAL_REPS)
    ]
    return looks, naive


TAU2 = 0.01  # the default for unit variance: effects around 0.1 standard deviations


def test_peeking_inflates_naive_false_positives_but_not_msprt():
    looks, naive = sequential_experiments(seed=707, effect=0.0)
    msprt_fpr = np.mean([msprt(rep, "v", ALPHA, tau2=TAU2)[-1].reject for rep in looks])
    naive_fpr = np.mean((naive < ALPHA).any(axis=1))
    assert msprt_fpr <= ALPHA + 0.01, msprt_fpr
    assert naive_fpr > 2 * ALPHA, naive_fpr
    # and a single test at the planned end is fine: peeking, not the test, is the problem
    assert np.mean(naive[:, -1] < ALPHA) == pytest.approx(ALPHA, abs=0.02)


def test_msprt_detects_a_real_effect_and_its_confidence_sequence_covers_it():
    effect = 0.15
    looks, _ = sequential_experiments(seed=808, effect=effect)
    results = [msprt(rep, "v", ALPHA) for rep in looks]  # default tau2, from the first look
    power = np.mean([r[-1].reject for r in results])
    assert power >= 0.8, power
    # always valid: the interval holds the true effect at every look at once, ≥ 95% of the time
    missed = np.mean(
        [any(not look.ci_low <= effect <= look.ci_high for look in r) for r in results]
    )
    assert missed <= ALPHA + 0.01, missed


# --- bootstrap --------------------------------------------------------------------------------


@pytest.mark.parametrize("statistic", ["mean_diff", "ratio_diff"])
def test_bootstrap_confidence_interval_covers_the_true_effect(statistic):
    reps, n, lift = 200, 300, 0.05
    rng = np.random.default_rng(909)
    covered = []
    for r in range(reps):
        if statistic == "mean_diff":
            control = rng.gamma(2.0, 1.0, n)
            treatment = rng.gamma(2.0, 1.0, n) * (1 + lift)
            true_diff = 2.0 * lift
        else:
            arms = []
            for arm_lift in (0.0, lift):
                impressions = rng.poisson(rng.gamma(2.0, 2.5, n)) + 1
                clicks = rng.binomial(impressions, rng.beta(2.0, 18.0, n) * (1 + arm_lift))
                arms.append(np.column_stack([clicks, impressions]))
            control, treatment = arms
            true_diff = 0.1 * lift
        result = percentile_bootstrap(control, treatment, statistic, n_resamples=1000, seed=r)
        covered.append(result.ci_low <= true_diff <= result.ci_high)
    assert np.mean(covered) == pytest.approx(1 - ALPHA, abs=0.04), np.mean(covered)
