"""Golden tests of the causal methods: each agrees with an independent computation.

The DiD and event-study standard errors are checked against statsmodels' OLS with explicit
unit and date dummies and cov_type='cluster' (its default correction G/(G − 1)·(n − 1)/(n − k)),
which linearmodels' PanelOLS reproduces with debiased=True, group_debias=True and the absorbed
effects counted (count_effects=True). The few-unit event study fits the daily gap series: its
coefficients equal PanelOLS's on a balanced panel and its errors statsmodels' HAC OLS on that
series.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from metricbook.stats.causal import (
    Panel,
    difference_in_differences,
    event_study,
    interrupted_time_series,
    naive_pre_post,
    negative_control,
    placebo_in_space,
    placebo_in_time,
    run,
    synthetic_control,
)
from metricbook.stats.causal.event_study import bartlett_lags, gap_series
from metricbook.stats.causal.its import its_design

LAUNCH = pd.Timestamp("2026-03-02")


def make_frame(
    n_units: int = 8,
    n_treated: int = 3,
    n_days: int = 20,
    pre_days: int = 10,
    effect: float = 0.5,
    seed: int = 1,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = np.arange(n_days) - pre_days
    unit_effect = rng.normal(0, 1, n_units)
    date_effect = rng.normal(0, 0.5, n_days) + 0.1 * days
    rows = []
    for i in range(n_units):
        for k, day in enumerate(days):
            treated = i < n_treated
            value = 5 + unit_effect[i] + date_effect[k] + rng.normal(0, 1)
            rows.append(
                {
                    "unit": f"u{i}",
                    "metric_date": LAUNCH + pd.Timedelta(days=int(day)),
                    "is_treated": treated,
                    "is_post": bool(day >= 0),
                    "relative_day": int(day),
                    "metric": value + (effect if treated and day >= 0 else 0.0),
                }
            )
    return pd.DataFrame(rows)


def unbalanced_frame() -> pd.DataFrame:
    frame = make_frame()
    frame = frame.drop(index=[3, 27, 60, 101]).reset_index(drop=True)
    frame.loc[[10, 90], "metric"] = np.nan
    return frame


def dummy_ols(frame: pd.DataFrame, regressors: pd.DataFrame):
    """statsmodels OLS with explicit unit and date dummies, clustered by unit (default
    correction)."""
    frame = frame.dropna(subset=["metric"])
    regressors = regressors.loc[frame.index]
    dummies = pd.get_dummies(
        frame[["unit"]].assign(date=frame["metric_date"].dt.strftime("%Y-%m-%d")),
        drop_first=True,
    ).astype(float)
    design = sm.add_constant(pd.concat([regressors, dummies], axis=1))
    groups = pd.factorize(frame["unit"])[0]
    return sm.OLS(frame["metric"], design).fit(cov_type="cluster", cov_kwds={"groups": groups})


def test_did_matches_dummy_ols_clustered_on_an_unbalanced_panel():
    frame = unbalanced_frame()
    panel = Panel.from_frame(frame, "metric")
    result = difference_in_differences(panel, permutations=99, bootstrap_reps=99)
    treated_post = (frame["is_treated"] & frame["is_post"]).astype(float).rename("d")
    reference = dummy_ols(frame, treated_post.to_frame())
    assert result.estimate == pytest.approx(reference.params["d"], abs=1e-8)
    assert result.diagnostics["se"] == pytest.approx(reference.bse["d"], abs=1e-8)
    assert result.diagnostics["n_dropped_rows"] == 2
    critical = __import__("scipy").stats.t.isf(0.025, 7)
    assert result.ci_high - result.estimate == pytest.approx(critical * reference.bse["d"])


def test_did_relative_effect_divides_by_the_counterfactual_post_mean():
    panel = Panel.from_frame(make_frame(), "metric")
    result = difference_in_differences(panel, permutations=9, bootstrap_reps=9)
    frame = panel.frame
    treated_post = frame.loc[frame["is_treated"] & frame["is_post"], "y"].mean()
    counterfactual = treated_post - result.estimate
    assert result.relative_effect == pytest.approx(result.estimate / counterfactual)
    assert result.relative_ci_low == pytest.approx(result.ci_low / counterfactual)
    assert result.relative_ci_high == pytest.approx(result.ci_high / counterfactual)


def test_randomization_p_with_complete_enumeration_equals_a_hand_count():
    frame = make_frame(n_units=5, n_treated=2, n_days=6, pre_days=3, effect=1.0, seed=3)
    panel = Panel.from_frame(frame, "metric")
    result = difference_in_differences(panel, bootstrap_reps=0)
    # balanced 2×2: the TWFE DiD is the difference of the treated and control pre→post changes
    change = (
        frame.groupby(["unit", "is_post"])["metric"].mean().unstack()[True]
        - frame.groupby(["unit", "is_post"])["metric"].mean().unstack()[False]
    )
    units = list(change.index)
    real = change.iloc[:2].mean() - change.iloc[2:].mean()
    assert result.estimate == pytest.approx(real, abs=1e-10)
    estimates = []
    for chosen in itertools.combinations(units, 2):
        treated = change.loc[list(chosen)].mean()
        control = change.drop(index=list(chosen)).mean()
        estimates.append(treated - control)
    hand = sum(abs(e) >= abs(real) - 1e-12 for e in estimates) / len(estimates)
    assert result.diagnostics["n_assignments"] == 10
    assert result.diagnostics["randomization_p"] == pytest.approx(hand)
    assert result.diagnostics["p_value_source"] == "randomization"
    assert result.p_value == result.diagnostics["randomization_p"]
    assert result.diagnostics["wild_bootstrap_p"] is None


def test_did_is_deterministic_for_a_seed_and_its_p_values_are_probabilities():
    panel = Panel.from_frame(make_frame(n_units=30, n_treated=10), "metric")
    first = difference_in_differences(panel, permutations=199, bootstrap_reps=199, seed=7)
    second = difference_in_differences(panel, permutations=199, bootstrap_reps=199, seed=7)
    assert first == second
    for key in ("clustered_p", "randomization_p", "wild_bootstrap_p"):
        assert 0 <= first.diagnostics[key] <= 1
    assert first.diagnostics["assignments_enumerated"] is False
    assert first.diagnostics["p_value_source"] == "clustered"
    assert first.p_value == first.diagnostics["clustered_p"]


def test_wild_bootstrap_rejects_a_large_effect_and_not_a_null_one():
    big = Panel.from_frame(make_frame(n_units=12, n_treated=4, effect=5.0), "metric")
    null = Panel.from_frame(make_frame(n_units=12, n_treated=4, effect=0.0, seed=5), "metric")
    assert difference_in_differences(big, bootstrap_reps=199).diagnostics["wild_bootstrap_p"] < 0.01
    assert (
        difference_in_differences(null, bootstrap_reps=199).diagnostics["wild_bootstrap_p"] > 0.05
    )


def test_event_study_clustered_coefficients_match_dummy_ols():
    frame = unbalanced_frame()
    panel = Panel.from_frame(frame, "metric")
    result = event_study(panel, bin_days=3, cov_type="clustered")
    bins = np.floor_divide(frame["relative_day"], 3)
    leads_lags = pd.DataFrame(
        {
            f"bin_{b}": (frame["is_treated"] & (bins == b)).astype(float)
            for b in sorted(bins.unique())
            if b != -1
        }
    )
    reference = dummy_ols(frame, leads_lags)
    table = {row["bin"]: row for row in result.diagnostics["bins"]}
    for name in leads_lags.columns:
        b = int(name.removeprefix("bin_"))
        assert table[b]["coef"] == pytest.approx(reference.params[name], abs=1e-8)
        assert table[b]["se"] == pytest.approx(reference.bse[name], abs=1e-8)
    pre = [c for c in leads_lags.columns if int(c.removeprefix("bin_")) < 0]
    post = [c for c in leads_lags.columns if int(c.removeprefix("bin_")) >= 0]
    beta, cov = reference.params[pre].to_numpy(), reference.cov_params().loc[pre, pre].to_numpy()
    assert result.diagnostics["pre_trend_stat"] == pytest.approx(beta @ np.linalg.solve(cov, beta))
    assert result.diagnostics["pre_trend_df"] == len(pre)
    assert result.estimate == pytest.approx(reference.params[post].mean(), abs=1e-8)
    assert table[-1]["coef"] == 0 and table[-1]["is_pre"]


def test_event_study_uses_the_gap_series_below_ten_units():
    panel = Panel.from_frame(make_frame(), "metric")
    result = event_study(panel, bin_days=3)
    assert result.diagnostics["cov_type"] == "gap_series_hac"
    assert 0 <= result.diagnostics["pre_trend_p"] <= 1
    assert event_study(panel, bin_days=3, cov_type="kernel").diagnostics["cov_type"] == "kernel"
    many = Panel.from_frame(make_frame(n_units=12, n_treated=4), "metric")
    assert event_study(many, bin_days=3).diagnostics["cov_type"] == "clustered"


def test_event_study_gap_series_coefficients_equal_panelols_on_a_balanced_panel():
    panel = Panel.from_frame(make_frame(n_units=7, n_treated=2, n_days=42, pre_days=24), "metric")
    gap_fit = event_study(panel)
    panel_fit = event_study(panel, cov_type="clustered")
    for mine, theirs in zip(
        gap_fit.diagnostics["bins"], panel_fit.diagnostics["bins"], strict=True
    ):
        assert mine["bin"] == theirs["bin"]
        assert mine["coef"] == pytest.approx(theirs["coef"], abs=1e-8)
    assert gap_fit.estimate == pytest.approx(panel_fit.estimate, abs=1e-8)


def test_event_study_gap_series_errors_and_slope_test_match_statsmodels_hac():
    panel = Panel.from_frame(make_frame(n_units=7, n_treated=2, n_days=42, pre_days=24), "metric")
    result = event_study(panel)
    frame = panel.frame
    means = frame.groupby(["relative_day", "is_treated"])["y"].mean().unstack()
    gap = means[True] - means[False]
    day = gap.index.to_numpy()
    bins = np.floor_divide(day, 7)
    names = [b for b in sorted(set(bins)) if b != -1]
    design = sm.add_constant(np.column_stack([(bins == b).astype(float) for b in names]))
    lags = bartlett_lags(len(day))
    reference = sm.OLS(gap.to_numpy(), design).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    table = {row["bin"]: row for row in result.diagnostics["bins"]}
    for j, b in enumerate(names, start=1):
        assert table[b]["se"] == pytest.approx(reference.bse[j], rel=1e-10)
        assert table[b]["ci_low"] < table[b]["coef"] < table[b]["ci_high"]
    pre = day < 0
    slope = sm.OLS(gap.to_numpy()[pre], sm.add_constant(day[pre].astype(float))).fit(
        cov_type="HAC", cov_kwds={"maxlags": bartlett_lags(int(pre.sum()))}
    )
    assert result.diagnostics["pre_trend_stat"] == pytest.approx(slope.tvalues[1] ** 2)
    assert result.diagnostics["pre_trend_df"] == 1
    assert result.diagnostics["hac_lags"] == lags


def test_synthetic_control_recovers_the_weights_of_an_exact_mix():
    rng = np.random.default_rng(11)
    dates = pd.date_range("2026-01-01", periods=30)
    controls = {name: 5 + rng.normal(0, 1, 30).cumsum() for name in "ABCD"}
    treated = 0.3 * controls["A"] + 0.7 * controls["B"]
    day = np.arange(30) - 20
    treated = treated + np.where(day >= 0, 2.5, 0.0)
    rows = [
        {
            "unit": name,
            "metric_date": dates[k],
            "is_treated": name == "T",
            "is_post": bool(day[k] >= 0),
            "relative_day": int(day[k]),
            "metric": series[k],
        }
        for name, series in {**controls, "T": treated}.items()
        for k in range(30)
    ]
    result = synthetic_control(Panel.from_frame(pd.DataFrame(rows), "metric"))
    weights = result.diagnostics["weights"]
    assert weights["A"] == pytest.approx(0.3, abs=1e-6)
    assert weights["B"] == pytest.approx(0.7, abs=1e-6)
    assert weights["C"] == pytest.approx(0, abs=1e-6) and weights["D"] == pytest.approx(0, abs=1e-6)
    assert result.diagnostics["pre_rmspe"] < 1e-6
    assert result.estimate == pytest.approx(2.5, abs=1e-6)
    assert result.p_value == pytest.approx(1 / 5)
    gaps = np.array(result.diagnostics["placebo_mean_post_gaps"])
    assert result.ci_low == pytest.approx(2.5 - np.quantile(gaps, 0.975), abs=1e-6)
    assert len(result.diagnostics["dates"]) == len(result.diagnostics["synthetic"]) == 30


def test_synthetic_control_and_its_use_the_dates_every_unit_has():
    """A unit-day without a value leaves its date out of the fit (the common support): the
    estimates equal those on the panel with those dates dropped by hand."""
    frame = unbalanced_frame()
    present = frame.dropna(subset=["metric"])
    counts = present.groupby("metric_date")["unit"].nunique()
    complete = counts.index[counts == frame["unit"].nunique()]
    trimmed = frame.loc[frame["metric_date"].isin(complete)]
    got = synthetic_control(Panel.from_frame(frame, "metric"))
    want = synthetic_control(Panel.from_frame(trimmed, "metric"))
    assert got.estimate == pytest.approx(want.estimate, abs=1e-12)
    assert got.diagnostics["n_dates_left_out"] == frame["metric_date"].nunique() - len(complete)
    treated_complete = (
        present.loc[present["is_treated"]].groupby("metric_date")["unit"].nunique()
        == frame.loc[frame["is_treated"], "unit"].nunique()
    )
    only_treated = frame.loc[frame["metric_date"].isin(treated_complete.index[treated_complete])]
    assert interrupted_time_series(Panel.from_frame(frame, "metric")).estimate == pytest.approx(
        interrupted_time_series(Panel.from_frame(only_treated, "metric")).estimate, abs=1e-12
    )


def test_synthetic_control_needs_common_pre_period_dates():
    frame = make_frame()
    # one control unit lacks every pre-period date but one
    lacking = (frame["unit"] == frame.loc[~frame["is_treated"], "unit"].iloc[0]) & (
        frame["relative_day"] < -1
    )
    frame.loc[lacking, "metric"] = np.nan
    with pytest.raises(ValueError, match="every unit is observed"):
        synthetic_control(Panel.from_frame(frame, "metric"))


def test_its_matches_a_hand_built_statsmodels_fit():
    frame = make_frame(n_days=35, pre_days=21)
    panel = Panel.from_frame(frame, "metric")
    result = interrupted_time_series(panel, maxlags=2)
    treated = frame.loc[frame["is_treated"]].groupby("metric_date")
    y = treated["metric"].mean()
    day = treated["relative_day"].first().to_numpy(float)
    post = (day >= 0).astype(float)
    weekday = pd.get_dummies(y.index.day_of_week, prefix="wd", drop_first=True).astype(float)
    design = np.column_stack([np.ones_like(day), day, post, day * post, weekday.to_numpy()])
    fit = sm.OLS(y.to_numpy(), design).fit(cov_type="HAC", cov_kwds={"maxlags": 2})
    weights = np.zeros(design.shape[1])
    weights[2], weights[3] = 1.0, day[post == 1].mean()
    assert result.estimate == pytest.approx(weights @ fit.params, abs=1e-10)
    assert result.diagnostics["se"] == pytest.approx(
        math.sqrt(weights @ fit.cov_params() @ weights), abs=1e-10
    )
    assert result.diagnostics["level_change"] == pytest.approx(fit.params[2], abs=1e-10)
    assert np.asarray(its_design(panel)[0], dtype=float) == pytest.approx(design)


def test_its_default_maxlags_is_newey_west_rule():
    panel = Panel.from_frame(make_frame(n_days=35, pre_days=21), "metric")
    assert interrupted_time_series(panel).diagnostics["maxlags"] == math.floor(
        4 * (35 / 100) ** (2 / 9)
    )


def test_naive_pre_post_is_the_treated_before_after_difference():
    frame = make_frame()
    result = naive_pre_post(Panel.from_frame(frame, "metric"))
    treated = frame.loc[frame["is_treated"]]
    pre = treated.loc[~treated["is_post"], "metric"].mean()
    post = treated.loc[treated["is_post"], "metric"].mean()
    assert result.estimate == pytest.approx(post - pre)
    assert result.relative == pytest.approx((post - pre) / pre)


def test_placebo_p_counts_the_real_estimate():
    panel = Panel.from_frame(make_frame(n_units=10, n_treated=3, effect=0.0), "metric")
    space = placebo_in_space(panel)
    assert space.labels == tuple(panel.control_units)
    exceed = sum(abs(e) >= abs(space.real_estimate) for e in space.estimates)
    assert space.p_value == pytest.approx((1 + exceed) / (1 + len(space.estimates)))
    time = placebo_in_time(panel, min_days=3)
    assert len(time.estimates) == 10 - 2 * 3 + 1
    assert time.labels[0] == (LAUNCH - pd.Timedelta(days=7)).date().isoformat()
    exceed = sum(abs(e) >= abs(time.real_estimate) for e in time.estimates)
    assert time.p_value == pytest.approx((1 + exceed) / (1 + len(time.estimates)))


def test_run_returns_the_methods_in_order_and_negative_control_is_a_did():
    panel = Panel.from_frame(make_frame(n_days=28, pre_days=14), "metric")
    for result in run(panel):
        json.dumps(result.diagnostics)
        assert result.assumptions and all(isinstance(a, str) for a in result.assumptions)
    results = run(panel, methods=("its", "did"))
    assert [r.method for r in results] == ["its", "did"]
    assert (
        negative_control(panel, permutations=9, bootstrap_reps=9).method == "negative_control_did"
    )
    with pytest.raises(ValueError, match="unknown causal methods"):
        run(panel, methods=("cuped",))


def _dup(frame):
    return pd.concat([frame, frame.iloc[[0]]])


def _vary(frame):
    frame = frame.copy()
    frame.loc[0, "is_treated"] = not frame.loc[0, "is_treated"]
    return frame


def _all(column, value):
    return lambda frame: frame.assign(**{column: value})


def _post_only(frame):
    return frame.loc[frame["is_post"]]


def _pre_only(frame):
    return frame.loc[~frame["is_post"]]


def _one_pre_date(frame):
    return frame.loc[frame["relative_day"] >= -1]


def _inconsistent(frame):
    frame = frame.copy()
    frame.loc[0, "is_post"] = True
    return frame


def _inf(frame):
    frame = frame.copy()
    frame.loc[5, "metric"] = np.inf
    return frame


def _treated_nan(frame):
    frame = frame.copy()
    frame.loc[frame["is_treated"], "metric"] = np.nan
    return frame


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda f: f.drop(columns="relative_day"), "missing columns"),
        (lambda f: f.drop(columns="metric"), "missing columns"),
        (_dup, "duplicated"),
        (_vary, "varies within"),
        (_all("is_treated", False), "no treated unit"),
        (_all("is_treated", True), "no control unit"),
        (_treated_nan, "no treated unit"),
        (_post_only, "no pre-period"),
        (_pre_only, "no post-period"),
        (_one_pre_date, "at least 2"),
        (_inconsistent, "is_post disagrees"),
        (_inf, "infinite"),
        (_all("metric", 3.0), "no variation"),
        (_all("is_post", "yes"), "boolean"),
        (_all("relative_day", 0.5), "whole numbers"),
        (_all("metric", "x"), "not numbers"),
    ],
)
def test_panel_rejects_invalid_input_in_one_line(corrupt, message):
    with pytest.raises(ValueError, match=message) as error:
        Panel.from_frame(corrupt(make_frame()), "metric")
    assert "\n" not in str(error.value)


def test_panel_drops_nan_rows_and_counts_them():
    panel = Panel.from_frame(unbalanced_frame(), "metric")
    assert panel.n_dropped_rows == 2
    assert not panel.is_balanced
    assert panel.frame["y"].notna().all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: difference_in_differences(p, alpha=1.5), "alpha"),
        (lambda p: difference_in_differences(p, permutations=0), "permutations"),
        (lambda p: event_study(p, bin_days=0), "bin_days"),
        (lambda p: event_study(p, bin_days=30), "pre-period bin"),
        (lambda p: placebo_in_time(p, min_days=20), "placebo in time needs"),
        (lambda p: interrupted_time_series(p, maxlags=-1), "maxlags"),
    ],
)
def test_methods_reject_undefined_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call(Panel.from_frame(make_frame(), "metric"))


def test_panel_accepts_python_dates_and_the_event_study_runs_on_an_unbalanced_panel():
    frame = unbalanced_frame()
    frame["metric_date"] = frame["metric_date"].dt.date
    panel = Panel.from_frame(frame, "metric")
    for cov_type in ("gap_series_hac", "kernel"):
        result = event_study(panel, bin_days=3, cov_type=cov_type)
        assert result.diagnostics["cov_type"] == cov_type
        assert math.isfinite(result.estimate) and result.ci_low < result.estimate < result.ci_high
    # the gap series averages the units present on each date
    present = panel.frame.groupby(["relative_day", "is_treated"])["y"].mean().unstack()
    gap = (present[True] - present[False]).to_numpy()
    assert np.allclose(gap_series(panel.frame)["g"].to_numpy(), gap)
    assert difference_in_differences(panel, bootstrap_reps=0).diagnostics["n_obs"] == len(
        panel.frame
    )
