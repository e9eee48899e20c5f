"""The readout's depth sections on the built seeds: every pushed-down query equals a pandas
computation on the rows (segments, caps, order statistics, daily, cumulative and windowed
moments with the inactive users as zeros, exposure), the sections' JSON contract, the rules
that change the decision (sequential, Bayesian, an imbalanced split), and config errors."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metricbook import cli
from metricbook.errors import ConfigError
from metricbook.readout import queries
from metricbook.readout.config import load_config
from metricbook.readout.readout import analyze, decide
from metricbook.stats import aggregates_from_frame, sample_quantile_arm
from metricbook.warehouse.connection import DuckDBWarehouse
from metricbook.warehouse.paths import DEFAULT_CONFIG

EXPERIMENT = "exp_home_feed_ranking_v2"


@pytest.fixture(scope="module")
def warehouse(seeds_db: Path):
    handle = DuckDBWarehouse(seeds_db)
    yield handle
    handle.close()


@pytest.fixture(scope="module")
def readout(warehouse):
    return analyze(warehouse, load_config(), EXPERIMENT)


def _users(warehouse, columns) -> pd.DataFrame:
    return warehouse.frame(
        f"select user_id, variant, first_assigned_at, {', '.join(columns)} "
        "from main.fct_experiment_user_metrics where experiment_id = $e order by user_id",
        {"e": EXPERIMENT},
    )


def _daily(warehouse) -> pd.DataFrame:
    return warehouse.frame(
        "select * from main.fct_experiment_user_daily_metrics where experiment_id = $e",
        {"e": EXPERIMENT},
    )


def _assert_same(pushed, mirrored, columns) -> None:
    assert pushed.count == mirrored.count
    for column in columns:
        assert pushed.mean_of(column) == pytest.approx(
            mirrored.mean_of(column), rel=1e-9, abs=1e-12
        )
        assert pushed.var_of(column) == pytest.approx(mirrored.var_of(column), rel=1e-9, abs=1e-12)


def test_segment_aggregates_equal_pandas_groups(warehouse) -> None:
    columns = ["clicks", "impressions"]
    pushed = queries.grouped_aggregates(warehouse, EXPERIMENT, columns, by=["platform"])
    rows = _users(warehouse, [*columns, "platform"])
    rows["platform"] = rows["platform"].fillna(queries.UNKNOWN)
    assert len(pushed) == rows.groupby(["variant", "platform"]).ngroups
    for (variant, platform), group in rows.groupby(["variant", "platform"]):
        mirrored = aggregates_from_frame(group, columns)
        _assert_same(pushed[(variant, platform)], mirrored, columns)
        assert pushed[(variant, platform)].cov_of("clicks", "impressions") == pytest.approx(
            mirrored.cov_of("clicks", "impressions"), rel=1e-9
        )


def test_cap_is_the_pooled_quantile_and_caps_before_aggregating(warehouse) -> None:
    cap = queries.pooled_quantile(warehouse, EXPERIMENT, "revenue_usd", 0.99)
    rows = _users(warehouse, ["revenue_usd"])
    values = rows["revenue_usd"].astype(float)
    assert cap == pytest.approx(float(np.quantile(values, 0.99)), rel=1e-12)
    pushed = queries.variant_aggregates(
        warehouse, EXPERIMENT, ["revenue_usd"], [], caps={"revenue_usd": cap}
    )
    counts = queries.capped_counts(warehouse, EXPERIMENT, "revenue_usd", cap)
    rows["revenue_usd"] = values.clip(upper=cap)
    for variant, group in rows.groupby("variant"):
        _assert_same(
            pushed[variant], aggregates_from_frame(group, ["revenue_usd"]), ["revenue_usd"]
        )
        assert counts[variant] == int((values[group.index] > cap).sum())
    assert sum(counts.values()) >= 1  # the seeds' whales are capped


def test_order_statistics_equal_the_sorted_rows(warehouse) -> None:
    rows = _users(warehouse, ["impressions"])
    for variant, group in rows.groupby("variant"):
        values = group["impressions"].astype(float).to_numpy()
        arm = sample_quantile_arm(values, 0.9, 0.05)
        ranks = [1, len(values) // 2, len(values)]
        pushed = queries.order_statistics(warehouse, EXPERIMENT, "impressions", ranks)[variant]
        ordered = np.sort(values)
        assert pushed == {r: ordered[r - 1] for r in ranks}
        assert arm.value in ordered


def _zero_filled(warehouse, by: str) -> pd.DataFrame:
    """Every assigned user on every day of the population (users assigned by that calendar
    day, or observed that many days after assignment), zeros where the mart has no row."""
    users = _users(warehouse, [])
    users["first_date"] = pd.to_datetime(users["first_assigned_at"]).dt.normalize()
    daily = _daily(warehouse)
    daily["metric_date"] = pd.to_datetime(daily["metric_date"])
    last = pd.Timestamp(
        warehouse.frame(
            "select cast(end_at as date) from main.dim_experiments where experiment_id = $e",
            {"e": EXPERIMENT},
        ).iloc[0, 0]
    )
    first = users["first_date"].min()
    days = pd.date_range(first, last)
    grid = []
    for index, day in enumerate(days):
        if by == "metric_date":
            members = users[users["first_date"] <= day].assign(key=day)
            members["metric_date"] = day
        else:
            members = users[users["first_date"] + timedelta(days=index) <= last].assign(key=index)
            members["metric_date"] = members["first_date"] + timedelta(days=index)
        grid.append(members)
    frame = pd.concat(grid)
    merged = frame.merge(
        daily[["user_id", "metric_date", "clicks", "impressions"]],
        on=["user_id", "metric_date"],
        how="left",
    )
    return merged.fillna({"clicks": 0, "impressions": 0})


@pytest.mark.parametrize("by", ["metric_date", "days_since_assignment"])
def test_daily_effects_count_every_assigned_user_inactive_as_zero(warehouse, readout, by) -> None:
    grid = _zero_filled(warehouse, by)
    series = (
        readout.over_time.daily
        if by == "metric_date"
        else readout.over_time.by_day_since_assignment
    )
    axis = "date" if by == "metric_date" else "day"
    ctr = [r for r in series if r["metric"] == "ctr"]
    assert ctr, "the primary has a daily series"
    for row in ctr:
        key = pd.Timestamp(row[axis]) if axis == "date" else int(row[axis])
        day = grid[grid["key"] == key]
        arms = {v: g for v, g in day.groupby("variant")}
        assert row["n_control"] == len(arms["control"])
        assert row["n_treatment"] == len(arms["treatment"])
        ratio = {v: g["clicks"].sum() / g["impressions"].sum() for v, g in arms.items()}
        assert row["control_value"] == pytest.approx(ratio["control"], rel=1e-9)
        assert row["treatment_value"] == pytest.approx(ratio["treatment"], rel=1e-9)
        assert row["diff_ci_low"] < row["diff"] < row["diff_ci_high"]


def test_cumulative_effect_on_the_last_day_is_the_whole_experiment(warehouse, readout) -> None:
    ctr = [r for r in readout.over_time.cumulative if r["metric"] == "ctr"]
    last = max(ctr, key=lambda r: r["date"])
    whole = next(
        r for r in readout.results if r.metric == "ctr" and r.variant == "treatment"
    ).unadjusted
    assert last["n_control"] + last["n_treatment"] == sum(readout.srm.counts.values())
    assert last["diff"] == pytest.approx(whole["diff"], rel=1e-9)
    assert last["diff_se"] == pytest.approx(whole["diff_se"], rel=1e-9)
    assert all(r["always_valid_ci_low"] <= r["diff_ci_low"] for r in ctr)


def test_novelty_windows_equal_pandas_sums_over_the_same_users(warehouse, readout) -> None:
    row = next(r for r in readout.over_time.novelty if r["metric"] == "hides_per_user")
    days = row["window_days"]
    users = _users(warehouse, [])
    users = users[
        pd.to_datetime(users["first_assigned_at"]).dt.date
        <= pd.Timestamp(row["assigned_by"]).date()
    ]
    daily = _daily(warehouse)
    windows = {}
    for name, (low, high) in {"early": (0, days), "late": (days, 2 * days)}.items():
        part = daily[
            (daily["days_since_assignment"] >= low) & (daily["days_since_assignment"] < high)
        ]
        windows[name] = part.groupby("user_id")["hides"].sum()
    frame = users.set_index("user_id")
    for name, sums in windows.items():
        frame[name] = sums.reindex(frame.index).fillna(0)
    means = frame.groupby("variant")[["early", "late"]].mean()
    assert row["n_control"] == int((frame["variant"] == "control").sum())
    assert row["early_diff"] == pytest.approx(
        means.loc["treatment", "early"] - means.loc["control", "early"]
    )
    assert row["late_diff"] == pytest.approx(
        means.loc["treatment", "late"] - means.loc["control", "late"]
    )


def test_triggered_analysis_reads_only_users_exposed_after_assignment(warehouse, readout) -> None:
    exposure = readout.exposure
    exposed = warehouse.frame(
        "select variant, count(*) as n from main.fct_experiment_exposures "
        "where experiment_id = $e and surface = 'home_feed' group by variant",
        {"e": EXPERIMENT},
    )
    assert exposure.exposed == dict(zip(exposed["variant"], exposed["n"].astype(int), strict=True))
    row = next(r for r in exposure.rows if r["metric"] == "clicks_per_user")
    assert row["triggered"]["n_control"] == exposure.exposed["control"]
    assert row["diluted"]["share"] == pytest.approx(
        exposure.exposed["control"] / exposure.assigned["control"]
    )


def test_segments_are_exploratory_with_bh_srm_and_heterogeneity(readout) -> None:
    segments = readout.segments
    assert segments.label.startswith("exploratory")
    assert {r["dimension"] for r in segments.rows} == {"platform", "country", "user_tenure"}
    for row in segments.rows:
        assert row["p_value"] <= row["p_value_bh"] <= 1
        assert 0 <= row["srm_p_value"] <= 1
    assert {h["dimension"] for h in segments.heterogeneity} == {
        "platform",
        "country",
        "user_tenure",
    }
    assert any("fewer than" in note for note in segments.notes)  # the seeds' tiny countries


def test_balance_checks_every_pre_period_column(readout) -> None:
    assert {r["column"] for r in readout.balance.rows} == {
        "pre_impressions", "pre_clicks", "pre_saves", "pre_active_days"
    }  # fmt: skip
    assert readout.balance.passed and not readout.validity_warnings


def test_json_carries_every_section(monkeypatch, capsys, seeds_db: Path) -> None:
    monkeypatch.setenv("METRICBOOK_DUCKDB_PATH", str(seeds_db))
    assert cli.main(["analyze", "--experiment", EXPERIMENT, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out, parse_constant=lambda token: pytest.fail(token))
    for key in ("balance", "segments", "post_stratification", "over_time", "exposure"):
        assert data[key] is not None, key
    revenue = next(r for r in data["results"] if r["metric"] == "revenue_per_user")
    assert revenue["cap"]["capped_users"] and revenue["cap"]["uncapped"]["rel_lift"] is not None
    primary = next(r for r in data["results"] if r["role"] == "primary")
    assert 0 <= primary["bayesian"]["chance_to_win"] <= 1
    quantile = next(r for r in data["results"] if r["metric"] == "median_impressions_per_user")
    assert quantile["method"] == "quantile_order_statistic_z"


def _primary(readout):
    return next(r for r in readout.results if r.role == "primary")


def test_sequential_decides_on_the_always_valid_p_value(warehouse, readout) -> None:
    config = load_config()
    experiment = dataclasses.replace(config.experiment(EXPERIMENT), sequential=True)
    config = dataclasses.replace(config, experiments={EXPERIMENT: experiment})
    sequential = analyze(warehouse, config, EXPERIMENT)
    primary = _primary(sequential)
    assert primary.decision_p == "always_valid"
    assert primary.p_value_adjusted == pytest.approx(primary.p_value_always_valid)
    assert primary.p_value_adjusted >= _primary(readout).p_value_adjusted
    assert "always-valid" in " ".join(sequential.decision.reasons)


def test_bayesian_rule_only_when_asked(readout) -> None:
    config = load_config()
    experiment = config.experiment(EXPERIMENT)
    primary = _primary(readout)
    decided = decide(
        dataclasses.replace(
            experiment, bayesian=dataclasses.replace(experiment.bayesian, decide=True)
        ),
        readout.srm,
        readout.results,
    )
    assert "chance to win" in " ".join(decided.reasons)
    assert "chance to win" not in " ".join(readout.decision.reasons)
    assert primary.bayesian["chance_to_win"] > 0.95


def test_imbalanced_split_decides_on_the_post_stratified_primary(readout) -> None:
    config = load_config()
    primary = _primary(readout)
    stratified = {**primary.post_stratified, "used_in_decision": True, "p_value_adjusted": 0.5}
    results = [
        dataclasses.replace(r, post_stratified=stratified) if r is primary else r
        for r in readout.results
    ]
    decision = decide(config.experiment(EXPERIMENT), readout.srm, results)
    assert decision.verdict == "inconclusive"
    assert "post-stratified" in decision.reasons[0]


def test_a_segment_that_is_not_declared_is_a_config_error(
    monkeypatch, capsys, seeds_db: Path, tmp_path: Path
) -> None:
    text = Path(DEFAULT_CONFIG).read_text()
    config = tmp_path / "experiments.yml"
    config.write_text(
        text.replace("segments: [platform, country, user_tenure]", "segments: [has_saved]")
    )
    monkeypatch.setenv("METRICBOOK_DUCKDB_PATH", str(seeds_db))
    code = cli.main(["analyze", "--experiment", EXPERIMENT, "--config", str(config)])
    err = capsys.readouterr().err
    assert code == ConfigError.exit_code
    assert err.count("\n") == 1
    assert "segments[0]: 'has_saved' is not a segment column" in err
    assert "pre-assignment" in err


def test_sections_are_off_unless_configured(warehouse) -> None:
    config = load_config()
    experiment = dataclasses.replace(
        config.experiment(EXPERIMENT), segments=(), post_stratify=(), surface=None
    )
    plain = analyze(
        warehouse, dataclasses.replace(config, experiments={EXPERIMENT: experiment}), EXPERIMENT
    )
    assert plain.segments is None and plain.post_stratification is None and plain.exposure is None
    assert math.isfinite(_primary(plain).p_value)


def test_one_stratum_or_segment_is_a_note_not_a_crash(seeds_db: Path, tmp_path: Path) -> None:
    """Every user on one platform: post-stratification has one stratum (no balance test) and
    the platform segment one value (no heterogeneity test); the readout says so and goes on."""
    import shutil

    import duckdb

    copy = tmp_path / "one_platform.duckdb"
    shutil.copy(seeds_db, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("update main.fct_experiment_user_metrics set platform = 'ios'")
    handle = DuckDBWarehouse(copy)
    try:
        readout = analyze(handle, load_config(), EXPERIMENT)
    finally:
        handle.close()
    stratified = readout.post_stratification
    assert not stratified.imbalanced
    assert any("no balance test" in note for note in stratified.notes)
    assert not any(h["dimension"] == "platform" for h in readout.segments.heterogeneity)
    assert math.isfinite(_primary(readout).p_value)


@pytest.mark.parametrize(
    "change",
    [
        # a day of a user the user mart does not hold (read without a join, so it must be caught)
        "insert into main.fct_experiment_user_daily_metrics select experiment_id, "
        "'u_not_in_the_user_mart' as user_id, * exclude (experiment_id, user_id) "
        "from main.fct_experiment_user_daily_metrics where experiment_id = '{e}' limit 1",
        # one click more on one day: the daily mart of another build
        "update main.fct_experiment_user_daily_metrics set clicks = clicks + 1 "
        "where (experiment_id, user_id, metric_date) in (select experiment_id, user_id, "
        "metric_date from main.fct_experiment_user_daily_metrics where experiment_id = '{e}' "
        "limit 1)",
    ],
    ids=["foreign-user", "one-more-click"],
)
def test_a_daily_mart_that_does_not_add_up_is_one_line_exit_3(
    monkeypatch, capsys, seeds_db: Path, tmp_path: Path, change: str
) -> None:
    import shutil

    import duckdb

    copy = tmp_path / "daily.duckdb"
    shutil.copy(seeds_db, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(change.format(e=EXPERIMENT))
    monkeypatch.setenv("METRICBOOK_DUCKDB_PATH", str(copy))
    code = cli.main(["analyze", "--experiment", EXPERIMENT, "--allow-stale"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert err.count("\n") == 1, err
    assert "fct_experiment_user_daily_metrics" in err and "rebuild both" in err


def test_a_surface_nobody_was_exposed_on_is_a_config_error(
    monkeypatch, capsys, seeds_db: Path, tmp_path: Path
) -> None:
    config = tmp_path / "experiments.yml"
    config.write_text(
        Path(DEFAULT_CONFIG).read_text().replace("surface: home_feed", "surface: home_fed")
    )
    monkeypatch.setenv("METRICBOOK_DUCKDB_PATH", str(seeds_db))
    code = cli.main(["analyze", "--experiment", EXPERIMENT, "--config", str(config)])
    err = capsys.readouterr().err
    assert code == ConfigError.exit_code and err.count("\n") == 1
    assert "surface: nobody in the experiment was exposed on 'home_fed'" in err
    assert "home_feed, related_pins, search" in err


def test_a_dimension_with_many_values_keeps_the_largest_and_pools_the_rest(
    warehouse, monkeypatch
) -> None:
    from metricbook.readout import segments

    monkeypatch.setattr(segments, "MAX_SEGMENTS", 2)
    readout = analyze(warehouse, load_config(), EXPERIMENT)
    countries = {r["segment"] for r in readout.segments.rows if r["dimension"] == "country"}
    assert countries <= {"US", "JP", "other"} and "other" in countries
    assert any("smaller segments pooled into 'other'" in n for n in readout.segments.notes)
    other = next(
        r for r in readout.segments.rows
        if r["dimension"] == "country" and r["segment"] == "other" and r["metric"] == "ctr"
    )  # fmt: skip
    us_jp = [
        r for r in readout.segments.rows
        if r["dimension"] == "country" and r["segment"] in ("US", "JP") and r["metric"] == "ctr"
    ]  # fmt: skip
    assert other["n_control"] + sum(r["n_control"] for r in us_jp) == readout.srm.counts["control"]
