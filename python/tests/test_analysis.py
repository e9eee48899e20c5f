"""The experiment readout end to end on the built seeds: pushed-down aggregates, validation,
SRM, decision, CLI output, the HTML report and --write."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

from metricbook import cli
from metricbook.readout import queries
from metricbook.readout.config import ConfigError, load_config, parse_config
from metricbook.readout.readout import MetricResult, analyze, decide
from metricbook.readout.report import html_report, text_table
from metricbook.readout.validation import ValidationError
from metricbook.stats import SrmResult, aggregates_from_frame
from metricbook.warehouse.connection import DuckDBWarehouse, WarehouseError

EXPERIMENT = "exp_home_feed_ranking_v2"
CONTRACT_FIELDS = {
    "metric", "kind", "method", "numerator", "denominator", "covariate", "variant",
    "control_variant", "n_control", "n_treatment", "control_value", "treatment_value", "diff",
    "diff_se", "diff_ci_low", "diff_ci_high", "rel_lift", "rel_lift_ci_low", "rel_lift_ci_high",
    "p_value", "p_value_adjusted",
}  # fmt: skip

# metric x variant rows of the seed readout: every metric the experiment names, one treatment
RESULTS = len(load_config().experiment("exp_home_feed_ranking_v2").metric_names)


@pytest.fixture(scope="module")
def warehouse(seeds_db: Path):
    handle = DuckDBWarehouse(seeds_db)
    yield handle
    handle.close()


@pytest.fixture()
def scratch_db(seeds_db: Path, tmp_path: Path) -> Path:
    """A writable copy of the built seeds database, for tests that break the data."""
    copy = tmp_path / "metricbook.duckdb"
    shutil.copy(seeds_db, copy)
    return copy


def _run_cli(monkeypatch, capsys, database: Path, *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("METRICBOOK_DUCKDB_PATH", str(database))
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_pushed_down_aggregates_equal_pandas_moments(warehouse) -> None:
    columns = ["clicks", "impressions", "pre_clicks", "revenue_usd", "has_saved"]
    pushed = queries.variant_aggregates(warehouse, EXPERIMENT, columns)
    rows = queries.user_rows(warehouse, EXPERIMENT, columns)
    for variant, group in rows.groupby("variant"):
        expected = aggregates_from_frame(group.astype({c: float for c in columns}), columns)
        actual = pushed[variant]
        assert actual.count == expected.count
        for column in columns:
            assert actual.mean_of(column) == pytest.approx(expected.mean_of(column), rel=1e-12)
            assert actual.var_of(column) == pytest.approx(expected.var_of(column), rel=1e-9)
        assert actual.cov_of("clicks", "impressions") == pytest.approx(
            expected.cov_of("clicks", "impressions"), rel=1e-9
        )


def test_readout_splits_the_ctr_change_into_rate_and_position_mix(warehouse) -> None:
    readout = analyze(warehouse, load_config(), EXPERIMENT, bootstrap_resamples=10)
    split = readout.ctr_decomposition["treatment"]
    pooled = warehouse.frame(
        "select variant, sum(clicks) * 1.0 / sum(impressions) as ctr "
        "from fct_experiment_position_ctr where experiment_id = $experiment_id group by variant",
        {"experiment_id": EXPERIMENT},
    ).set_index("variant")["ctr"]
    assert split.control_ctr == pytest.approx(pooled["control"], rel=1e-12)
    assert split.treatment_ctr == pytest.approx(pooled["treatment"], rel=1e-12)
    assert split.rate_effect + split.mix_effect == pytest.approx(split.diff, abs=1e-12)
    # the seeds lift clicks at every slot (x1.15) and cut the treatment's feeds to their top
    # 80%: a rate effect near +15% and a mix effect of the same size that the raw lift mixes in
    assert split.rate_effect > 0 and split.mix_effect > 0.5 * split.rate_effect
    assert 0 < split.position_adjusted_lift < 0.3
    assert split.raw_lift > split.position_adjusted_lift + 0.05
    assert split.slots > 10 and split.unplaced_clicks == 0
    assert readout.to_dict()["ctr_decomposition"]["treatment"]["rate_effect"] == split.rate_effect
    assert "position-mix effect" in text_table(readout)


def test_experiment_id_is_a_bound_parameter_not_sql(warehouse) -> None:
    injected = f"{EXPERIMENT}' or '1'='1"
    assert queries.assignment_counts(warehouse, injected) == {}
    assert queries.assignment_counts(warehouse, EXPERIMENT)


def test_unknown_metric_column_is_a_clear_error(warehouse) -> None:
    with pytest.raises(WarehouseError, match="no column.*clickz"):
        queries.variant_aggregates(warehouse, EXPERIMENT, ["clicks", "clickz"])


def test_readout_on_the_seeds(warehouse) -> None:
    readout = analyze(warehouse, load_config(), EXPERIMENT, bootstrap_resamples=500)
    assert readout.srm.passed
    assert readout.srm.counts == {"control": 112, "treatment": 123}
    by_metric = {r.metric: r for r in readout.results}
    assert set(by_metric) == {
        "ctr", "clicks_per_user", "saves_per_user", "active_days_per_user",
        "revenue_per_user", "hides_per_user", "saver_rate",
        "ndcg_at_10", "mean_click_position", "top3_impression_share", "creators_per_user",
        "categories_per_user", "top_creator_share", "median_impressions_per_user",
        "p90_impressions_per_user",
    }  # fmt: skip
    ctr = by_metric["ctr"]
    # the seeds plant a +15% click lift per position, and shorter feeds move the treatment's
    # impressions up: the pooled CTR lift is significant and larger than the planted one
    assert ctr.rel_lift_ci_low > 0 and ctr.significant
    assert ctr.rel_lift > 0.15
    assert ctr.method == "cuped_delta_method_z" and ctr.variance_reduction > 0.2
    # CUPED narrows the interval (its p-value can still be higher: it also removes the
    # pre-period imbalance that flattered the unadjusted difference)
    plain_width = ctr.unadjusted["diff_ci_high"] - ctr.unadjusted["diff_ci_low"]
    assert ctr.diff_ci_high - ctr.diff_ci_low < 0.85 * plain_width
    assert by_metric["saver_rate"].method == "two_proportion_z"
    assert by_metric["revenue_per_user"].bootstrap["n_resamples"] == 500
    assert by_metric["hides_per_user"].guardrail["status"] in {"ok", "inconclusive", "harmed"}
    assert readout.decision.verdict in {"ship", "inconclusive", "do not ship"}
    assert readout.decision.reasons
    # diagnostics: estimated with CIs, never corrected, never "significant", not in the decision
    diagnostics = [r for r in readout.results if r.role == "diagnostic"]
    assert {r.metric for r in diagnostics} == {
        "ndcg_at_10", "mean_click_position", "top3_impression_share", "creators_per_user",
        "categories_per_user", "top_creator_share", "median_impressions_per_user",
        "p90_impressions_per_user",
    }  # fmt: skip
    assert all(r.p_value_adjusted == r.p_value and not r.significant for r in diagnostics)
    assert by_metric["ndcg_at_10"].method == "delta_method_z"
    # shorter feeds: clicks sit higher, more of the feed is its top 3
    assert by_metric["mean_click_position"].rel_lift_ci_high < 0
    assert by_metric["top3_impression_share"].rel_lift_ci_low > 0
    assert not any(
        r.metric in {d.metric for d in diagnostics}
        for r in readout.results
        if r.role != "diagnostic"
    )
    assert "diagnostics (descriptive" in text_table(readout)


def test_alternate_data_without_an_effect_is_not_shipped(alternate_db: Path) -> None:
    handle = DuckDBWarehouse(alternate_db)
    try:
        readout = analyze(handle, load_config(), "exp_pin_closeup_redesign")
    finally:
        handle.close()
    assert readout.srm.passed
    assert readout.decision.verdict != "ship"


def test_validation_failure_stops_the_analysis_naming_rows(scratch_db: Path) -> None:
    with duckdb.connect(str(scratch_db)) as con:
        con.execute("update fct_experiment_user_metrics set clicks = -3 where user_id = 'u0002'")
    handle = DuckDBWarehouse(scratch_db)
    try:
        with pytest.raises(ValidationError) as failure:
            analyze(handle, load_config(), EXPERIMENT)
    finally:
        handle.close()
    message = str(failure.value)
    assert "expect_column_values_to_be_between" in message and "clicks is never negative" in message
    assert "u0002" in message


def test_missing_assigned_user_fails_validation(scratch_db: Path) -> None:
    with duckdb.connect(str(scratch_db)) as con:
        con.execute("delete from fct_experiment_user_metrics where user_id = 'u0315'")
    handle = DuckDBWarehouse(scratch_db)
    try:
        with pytest.raises(ValidationError, match="every assigned user is present"):
            analyze(handle, load_config(), EXPERIMENT)
    finally:
        handle.close()


def test_sample_ratio_mismatch_makes_the_readout_untrustworthy(scratch_db: Path) -> None:
    # drop 60 treatment users from every mart: consistent data, but a broken 50/50 split
    with duckdb.connect(str(scratch_db)) as con:
        dropped = (
            "select user_id from fct_experiment_assignments where variant = 'treatment' "
            "order by user_id limit 60"
        )
        con.execute(f"delete from fct_experiment_user_daily_metrics where user_id in ({dropped})")
        con.execute(f"delete from fct_experiment_user_metrics where user_id in ({dropped})")
        con.execute(f"delete from fct_experiment_assignments where user_id in ({dropped})")
    handle = DuckDBWarehouse(scratch_db)
    try:
        readout = analyze(handle, load_config(), EXPERIMENT)
    finally:
        handle.close()
    assert not readout.srm.passed and readout.srm.p_value < 0.001
    assert readout.decision.verdict == "inconclusive"
    assert any("SRM failed" in reason for reason in readout.decision.reasons)


def _result(metric: str, role: str, diff: float, p: float, ci: tuple[float, float], **extra):
    return MetricResult(
        metric=metric, role=role, kind="mean", method="welch_t", numerator=metric,
        denominator=None, covariate=None, variant="treatment", control_variant="control",
        n_control=1000, n_treatment=1000, control_value=1.0, treatment_value=1.0 + diff,
        diff=diff, diff_se=(ci[1] - ci[0]) / 3.92, diff_ci_low=ci[0], diff_ci_high=ci[1],
        rel_lift=diff, rel_lift_ci_low=ci[0], rel_lift_ci_high=ci[1], p_value=p,
        p_value_adjusted=p, alpha=0.05, significant=p < 0.05,
        **extra,
    )  # fmt: skip


PASSED_SRM = SrmResult(0.5, 0.4, {"control": 1, "treatment": 1}, {}, {}, True, 0.001)
FAILED_SRM = SrmResult(1e-6, 30.0, {"control": 1, "treatment": 1}, {}, {}, False, 0.001)


def _guardrail(status: str) -> dict:
    return {"harmful_direction": "increase", "margin": 0.1, "status": status}


@pytest.mark.parametrize(
    ("primary", "guardrail", "srm", "verdict"),
    [
        ((0.05, 0.001, (0.02, 0.08)), "ok", PASSED_SRM, "ship"),
        ((0.05, 0.001, (0.02, 0.08)), "harmed", PASSED_SRM, "do not ship"),
        ((0.05, 0.001, (0.02, 0.08)), "inconclusive", PASSED_SRM, "inconclusive"),
        ((-0.05, 0.001, (-0.08, -0.02)), "ok", PASSED_SRM, "do not ship"),
        ((0.01, 0.40, (-0.01, 0.03)), "ok", PASSED_SRM, "inconclusive"),
        ((0.05, 0.001, (0.02, 0.08)), "ok", FAILED_SRM, "inconclusive"),
    ],
    ids=[
        "significant_win_ships",
        "harmed_guardrail_blocks",
        "unproven_guardrail_blocks",
        "wrong_direction_does_not_ship",
        "no_effect_is_inconclusive",
        "srm_failure_overrides_a_win",
    ],
)
def test_decision_rule(primary, guardrail, srm, verdict) -> None:
    config = load_config().experiment(EXPERIMENT)
    diff, p, ci = primary
    results = [
        _result("ctr", "primary", diff, p, ci),
        _result(
            "hides_per_user", "guardrail", 0.0, 0.9, (-0.05, 0.05), guardrail=_guardrail(guardrail)
        ),
    ]
    assert decide(config, srm, results).verdict == verdict


def test_cli_json_carries_the_contract(monkeypatch, capsys, seeds_db: Path) -> None:
    code, out, _ = _run_cli(
        monkeypatch, capsys, seeds_db, "analyze", "--experiment", EXPERIMENT, "--format", "json"
    )
    assert code == 0
    payload = json.loads(out)
    assert {"experiment_id", "srm", "results", "decision"} <= set(payload)
    assert {"p_value", "counts", "expected_shares", "passed"} <= set(payload["srm"])
    assert len(payload["results"]) == RESULTS
    for entry in payload["results"]:
        assert set(entry) >= CONTRACT_FIELDS, CONTRACT_FIELDS - set(entry)
        assert entry["kind"] in {"mean", "ratio", "proportion", "quantile"}
    assert payload["decision"]["verdict"] in {"ship", "do not ship", "inconclusive"}


def test_cli_table_and_self_contained_html_report(
    monkeypatch, capsys, seeds_db: Path, tmp_path: Path
) -> None:
    report = tmp_path / "readout.html"
    code, out, _ = _run_cli(
        monkeypatch, capsys, seeds_db, "analyze", "--experiment", EXPERIMENT, "--report",
        str(report),
    )  # fmt: skip
    assert code == 0
    assert "SRM: passed" in out and "DECISION:" in out and "ctr" in out
    html = report.read_text()
    # viewable offline: nothing fetched from anywhere, no scripts
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "<svg" in html and "Sample ratio mismatch check" in html
    assert "CUPED variance reduction" in html and "Guardrails" in html
    assert "Decision:" in html


def test_cli_write_replaces_the_experiment_results(monkeypatch, capsys, scratch_db: Path) -> None:
    for _ in range(2):
        code, _, _ = _run_cli(
            monkeypatch, capsys, scratch_db, "analyze", "--experiment", EXPERIMENT, "--write"
        )
        assert code == 0
    with duckdb.connect(str(scratch_db), read_only=True) as con:
        rows = con.execute(
            "select metric, p_value, decision from experiment_results where experiment_id = ?",
            [EXPERIMENT],
        ).fetchall()
    assert len(rows) == RESULTS  # written twice, replaced, not appended


def test_cli_unknown_experiment_is_a_one_line_error(monkeypatch, capsys, seeds_db: Path) -> None:
    code, _, err = _run_cli(monkeypatch, capsys, seeds_db, "analyze", "--experiment", "nope")
    assert code == 2
    assert "experiment 'nope' is not configured" in err and len(err.strip().splitlines()) == 1


def test_cli_power_answers_sample_size_and_mde(monkeypatch, capsys, seeds_db: Path) -> None:
    from metricbook import stats

    code, out, _ = _run_cli(
        monkeypatch, capsys, seeds_db, "power", "mean", "--sd", "2", "--mde", "0.1",
        "--format", "json",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["n_control"] == stats.sample_size_mean(0.1, 2).n_control
    code, out, _ = _run_cli(
        monkeypatch, capsys, seeds_db, "power", "proportion", "--baseline", "0.3", "--n",
        "5000", "--format", "json",
    )  # fmt: skip
    assert json.loads(out)["mde"] == pytest.approx(stats.mde_proportion(0.3, 5000))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"metrics": {"m": {"kind": "ratio", "numerator": "clicks"}}}, "needs `denominator`"),
        ({"metrics": {"m": {"kind": "median", "numerator": "x"}}}, "'median' is not one of"),
        (
            {"metrics": {}, "experiments": {"e": {"primary": "ctr"}}},
            "metric 'ctr' is not declared",
        ),
        (
            {
                "metrics": {"m": {"kind": "mean", "numerator": "x"}},
                "experiments": {"e": {"primary": "m", "alpha": 5}},
            },
            "must be a number in",
        ),
    ],
)
def test_config_errors_name_the_key(raw, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_srm_counts_match_the_assignment_mart(warehouse, seeds_db: Path) -> None:
    with duckdb.connect(str(seeds_db), read_only=True) as con:
        expected = dict(
            con.execute(
                "select variant, count(distinct user_id) from fct_experiment_assignments "
                "where experiment_id = ? group by variant",
                [EXPERIMENT],
            ).fetchall()
        )
    readout = analyze(warehouse, load_config(), EXPERIMENT, bootstrap_resamples=200)
    assert dict(readout.srm.counts) == expected


def test_html_report_escapes_names(warehouse) -> None:
    import dataclasses

    readout = analyze(warehouse, load_config(), EXPERIMENT, bootstrap_resamples=200)
    hostile = "<script>alert(1)</script>"
    results = [dataclasses.replace(r, metric=hostile) for r in readout.results]
    html = html_report(dataclasses.replace(readout, results=results))
    assert hostile not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_readout_matches_scipy_and_statsmodels_on_the_rows(warehouse) -> None:
    """The wiring: each metric reads the right columns and arms (checked on pulled rows)."""
    from scipy import stats as scipy_stats
    from statsmodels.stats.proportion import proportions_ztest

    readout = analyze(warehouse, load_config(), EXPERIMENT, bootstrap_resamples=200)
    by_metric = {r.metric: r for r in readout.results}
    rows = queries.user_rows(warehouse, EXPERIMENT, ["revenue_usd", "hides", "has_saved"])
    control = rows[rows["variant"] == "control"]
    treatment = rows[rows["variant"] == "treatment"]
    # revenue_per_user is capped at the pooled 99th percentile (experiments.yml): the test runs
    # on the clipped values, and the uncapped test is reported beside it
    cap = float(np.quantile(rows["revenue_usd"].astype(float), 0.99))
    cases = (
        ("revenue_per_user", "revenue_usd", cap, by_metric["revenue_per_user"].__dict__),
        (
            "revenue_per_user",
            "revenue_usd",
            math.inf,
            by_metric["revenue_per_user"].cap["uncapped"],
        ),
        ("hides_per_user", "hides", math.inf, by_metric["hides_per_user"].__dict__),
    )
    for _, column, upper, result in cases:
        values = {
            name: arm[column].astype(float).clip(upper=upper)
            for name, arm in (("control", control), ("treatment", treatment))
        }
        expected = scipy_stats.ttest_ind(values["treatment"], values["control"], equal_var=False)
        assert result["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
        assert result["diff"] == pytest.approx(
            values["treatment"].mean() - values["control"].mean()
        )
    assert by_metric["revenue_per_user"].cap["cap"] == pytest.approx(cap, rel=1e-12)
    saves = [int(treatment["has_saved"].sum()), int(control["has_saved"].sum())]
    _, p_value = proportions_ztest(saves, [len(treatment), len(control)])
    assert by_metric["saver_rate"].p_value == pytest.approx(p_value, rel=1e-9)
