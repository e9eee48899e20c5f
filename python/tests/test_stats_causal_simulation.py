"""Simulation tests of the causal methods: they keep their promises on panels of known truth.

Every simulation is seeded. The panels: units with fixed effects, common date effects (a
weekend bump, a trend of 0.02/day and day-to-day noise shared by all units), AR(1) noise within
unit (ρ = 0.3), a launch on day 0 with a known effect on the treated units. Rates are checked
against binomial 99.9% bands (±3.29 standard errors) around their nominal value, so a correct
method fails about once in a thousand new seeds. The replication counts are small (120 panels
for coverage: a band of ±0.065 around 0.95) because each fit is a full panel regression; BLAS
is limited to one thread, which is faster for these small matrices on a shared machine.

The few-unit event study (`event_study` below 10 units: the gap-series slope test with fixed-b
critical values) is checked on panels shaped like the seed data (`simulate_ratio_panel`): daily
means of a ratio over 2–20 users per unit-day (heteroskedastic), AR(1) noise (ρ = 0.2), a
weekday bump and a common shock on the launch day; 7 units (2 treated, 42 days, launch on day
24) for size, 3 units (1 treated, launch on day 22, the treated unit trending +2%/day) for
power. Its size was about 6% in 2000 reps (see the event_study module docstring), so the
check is the one-sided band 0.05 + 3.29 standard errors.

What is not tested because it does not hold: with 7 units (2 treated, 42 days) the
Driscoll–Kraay pre-trend test (cov_type='kernel') rejected a true null in 29.5% of 200 reps at
α = 0.05, and the clustered DiD CI (t with G − 1 = 6 df) covered in 90.5% — which is why the
DiD's p_value is the randomization p below 10 units per group.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pandas as pd
import pytest

try:  # installed with scikit-learn (the dev extra); only a speed-up
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    from contextlib import nullcontext

    def threadpool_limits(limits: int):  # noqa: ARG001
        return nullcontext()


from metricbook.stats.causal import (
    Panel,
    difference_in_differences,
    event_study,
    naive_pre_post,
    synthetic_control,
)

EFFECT = 1.0
FEW_UNIT_SIZE_REPS = 200
FEW_UNIT_POWER_REPS = 200
THREE_UNIT_SIZE_REPS = 100
COMMON_TREND = 0.02
COVERAGE_REPS = 120
SIZE_REPS = 80
TREND_REPS = 30
Z_999 = 3.29
START = pd.Timestamp("2026-01-05")


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    with threadpool_limits(limits=1):
        yield


def simulate_panel(
    rng: np.random.Generator,
    n_units: int = 30,
    n_treated: int = 10,
    n_days: int = 40,
    pre_days: int = 20,
    effect: float = EFFECT,
    treated_trend: float = 0.0,
    common_shock: float = 0.0,
) -> Panel:
    """A panel under parallel trends, unless treated_trend (per day, from the first day) is set;
    common_shock shifts every unit from the launch on (a concurrent event)."""
    day = np.arange(n_days) - pre_days
    dates = START + pd.to_timedelta(np.arange(n_days), unit="D")
    weekend = np.isin(dates.day_of_week, [5, 6]).astype(float)
    date_effect = 0.8 * weekend + rng.normal(0, 0.3, n_days) + COMMON_TREND * np.arange(n_days)
    unit_effect = rng.normal(0, 1, n_units)
    noise = np.empty((n_units, n_days))
    noise[:, 0] = rng.normal(0, 1, n_units)
    innovations = rng.normal(0, math.sqrt(1 - 0.3**2), (n_units, n_days))
    for k in range(1, n_days):
        noise[:, k] = 0.3 * noise[:, k - 1] + innovations[:, k]
    treated = np.arange(n_units) < n_treated
    post = day >= 0
    y = (
        10
        + unit_effect[:, None]
        + date_effect[None, :]
        + noise
        + effect * np.outer(treated, post)
        + treated_trend * np.outer(treated, np.arange(n_days))
        + common_shock * post[None, :]
    )
    frame = pd.DataFrame(
        {
            "unit": np.repeat([f"u{i:02d}" for i in range(n_units)], n_days),
            "metric_date": np.tile(dates, n_units),
            "is_treated": np.repeat(treated, n_days),
            "is_post": np.tile(post, n_units),
            "relative_day": np.tile(day, n_units),
            "metric": y.ravel(),
        }
    )
    return Panel.from_frame(frame, "metric")


def coverage_band(reps: int, level: float = 0.95) -> float:
    return Z_999 * math.sqrt(level * (1 - level) / reps)


@cache
def parallel_trend_draws() -> dict[str, np.ndarray]:
    """DiD and synthetic control on the same COVERAGE_REPS panels (estimates, coverage), and the
    event study's pre-trend test on the first SIZE_REPS of them."""
    rng = np.random.default_rng(2026)
    out = {k: [] for k in ("did", "did_cover", "sc", "sc_cover", "es_reject")}
    with threadpool_limits(limits=1):
        for _ in range(COVERAGE_REPS):
            panel = simulate_panel(rng)
            did = difference_in_differences(panel, permutations=1, bootstrap_reps=0)
            sc = synthetic_control(panel)
            out["did"].append(did.estimate)
            out["did_cover"].append(did.ci_low <= EFFECT <= did.ci_high)
            out["sc"].append(sc.estimate)
            out["sc_cover"].append(sc.ci_low <= EFFECT <= sc.ci_high)
            if len(out["es_reject"]) < SIZE_REPS:
                study = event_study(panel)
                out["es_reject"].append(study.diagnostics["pre_trend_p"] < 0.05)
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def test_did_is_unbiased_under_parallel_trends():
    estimates = parallel_trend_draws()["did"]
    mc_se = estimates.std(ddof=1) / math.sqrt(len(estimates))
    assert abs(estimates.mean() - EFFECT) < Z_999 * mc_se


def test_did_clustered_ci_covers_at_the_nominal_rate():
    coverage = parallel_trend_draws()["did_cover"].mean()
    assert abs(coverage - 0.95) <= coverage_band(COVERAGE_REPS)


def test_synthetic_control_is_unbiased_under_parallel_trends():
    estimates = parallel_trend_draws()["sc"]
    mc_se = estimates.std(ddof=1) / math.sqrt(len(estimates))
    assert abs(estimates.mean() - EFFECT) < Z_999 * mc_se


def test_synthetic_control_placebo_ci_is_conservative_with_ten_treated_units():
    # a placebo is one control unit, noisier than the average of 10 treated: the interval is
    # wider than it needs to be, so coverage is at least nominal (documented in the module)
    coverage = parallel_trend_draws()["sc_cover"].mean()
    assert coverage >= 0.93


def study_cov_type_is_clustered() -> bool:
    panel = simulate_panel(np.random.default_rng(0))
    return event_study(panel).diagnostics["cov_type"] == "clustered"


def test_event_study_pre_trend_test_keeps_its_size_with_thirty_clustered_units():
    rejections = parallel_trend_draws()["es_reject"].mean()
    assert study_cov_type_is_clustered()
    assert rejections <= 0.05 + Z_999 * math.sqrt(0.05 * 0.95 / SIZE_REPS)


def test_event_study_pre_trend_test_detects_diverging_trends():
    rng = np.random.default_rng(7)
    with threadpool_limits(limits=1):
        rejections = [
            event_study(simulate_panel(rng, treated_trend=0.1)).diagnostics["pre_trend_p"] < 0.05
            for _ in range(TREND_REPS)
        ]
    assert np.mean(rejections) >= 0.8


def test_few_units_did_removes_a_common_shock_that_biases_naive_pre_post():
    rng = np.random.default_rng(13)
    reps, shock, effect = 20, 2.0, 3.0
    naive, did, randomization = [], [], []
    with threadpool_limits(limits=1):
        for _ in range(reps):
            panel = simulate_panel(
                rng,
                n_units=7,
                n_treated=2,
                n_days=42,
                pre_days=21,
                effect=effect,
                common_shock=shock,
            )
            naive.append(naive_pre_post(panel).estimate)
            result = difference_in_differences(panel, bootstrap_reps=0)
            did.append(result.estimate)
            randomization.append(result.p_value)
            assert result.diagnostics["p_value_source"] == "randomization"
            assert result.diagnostics["n_assignments"] == 21
    naive, did = np.array(naive), np.array(did)
    # naive pre/post picks up the shock and the common trend (0.02/day over the 21 days between
    # the pre and post mean days); DiD does not
    assert abs(naive.mean() - effect - (shock + COMMON_TREND * 21)) < 0.3
    assert abs(did.mean() - effect) < Z_999 * did.std(ddof=1) / math.sqrt(reps)
    # the effect is large: the real assignment is the most extreme of the C(7, 2) = 21
    assert max(randomization) <= 1 / 21 + 1e-12


def simulate_ratio_panel(
    rng: np.random.Generator,
    n_units: int = 7,
    n_treated: int = 2,
    n_days: int = 42,
    launch_day: int = 24,
    treated_trend: float = 0.0,
    noise_sd: float | None = None,
) -> Panel:
    """Daily unit means of a ratio near 0.5, like the seed data: a weekend bump and a shock on
    the launch day shared by all units, AR(1) noise (ρ = 0.2) whose sd is that of a mean over
    2–20 users (times a unit-specific factor), or noise_sd when given; treated_trend multiplies
    the treated units by 1 + treated_trend · (day index), a relative trend from the first day."""
    rho = 0.2
    day = np.arange(n_days) - launch_day
    dates = START + pd.to_timedelta(np.arange(n_days), unit="D")
    common = 0.03 * np.isin(dates.day_of_week, [5, 6]) + 0.05 * (day == 0)
    if noise_sd is None:
        users = rng.integers(2, 21, (n_units, n_days))
        sd = np.sqrt(0.25 / users) * rng.uniform(0.5, 1.5, n_units)[:, None]
    else:
        sd = np.full((n_units, n_days), noise_sd)
    noise = np.empty((n_units, n_days))
    noise[:, 0] = sd[:, 0] * rng.normal(0, 1, n_units)
    for k in range(1, n_days):
        innovation = math.sqrt(1 - rho**2) * sd[:, k] * rng.normal(0, 1, n_units)
        noise[:, k] = rho * noise[:, k - 1] + innovation
    treated = np.arange(n_units) < n_treated
    level = 0.5 + rng.normal(0, 0.03, n_units)
    y = level[:, None] * (1 + treated_trend * np.outer(treated, np.arange(n_days)))
    y = y + common[None, :] + noise
    frame = pd.DataFrame(
        {
            "unit": np.repeat([f"c{i}" for i in range(n_units)], n_days),
            "metric_date": np.tile(dates, n_units),
            "is_treated": np.repeat(treated, n_days),
            "is_post": np.tile(day >= 0, n_units),
            "relative_day": np.tile(day, n_units),
            "metric": y.ravel(),
        }
    )
    return Panel.from_frame(frame, "metric")


def test_event_study_gap_series_pre_trend_test_keeps_its_size_with_seven_units():
    rng = np.random.default_rng(2027)
    with threadpool_limits(limits=1):
        results = [event_study(simulate_ratio_panel(rng)) for _ in range(FEW_UNIT_SIZE_REPS)]
    assert {r.diagnostics["cov_type"] for r in results} == {"gap_series_hac"}
    rejections = np.mean([r.diagnostics["pre_trend_p"] < 0.05 for r in results])
    assert rejections <= 0.05 + Z_999 * math.sqrt(0.05 * 0.95 / FEW_UNIT_SIZE_REPS)


def test_event_study_gap_series_pre_trend_test_keeps_its_size_with_three_units():
    rng = np.random.default_rng(2028)
    with threadpool_limits(limits=1):
        rejections = np.mean(
            [
                event_study(
                    simulate_ratio_panel(rng, n_units=3, n_treated=1, launch_day=22)
                ).diagnostics["pre_trend_p"]
                < 0.05
                for _ in range(THREE_UNIT_SIZE_REPS)
            ]
        )
    assert rejections <= 0.05 + Z_999 * math.sqrt(0.05 * 0.95 / THREE_UNIT_SIZE_REPS)


def test_event_study_gap_series_flags_a_two_percent_daily_pre_trend_with_three_units():
    # the platform case of the seed data: 1 treated unit trending +2%/day relative, sd 0.06
    rng = np.random.default_rng(2029)
    with threadpool_limits(limits=1):
        rejections = [
            event_study(
                simulate_ratio_panel(
                    rng, n_units=3, n_treated=1, launch_day=22, treated_trend=0.02, noise_sd=0.06
                )
            ).diagnostics["pre_trend_p"]
            < 0.05
            for _ in range(FEW_UNIT_POWER_REPS)
        ]
    assert np.mean(rejections) >= 0.8
