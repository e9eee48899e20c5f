"""`metricbook causal` on the built seeds: the planted launch (+35% saves per active user in GB
and DE, on the day a campaign lifts every unit by 25%) is recovered by difference-in-differences
within its CI while the naive pre/post is not; the second launch (an Android tab that does nothing,
where Android users' saves were already rising) is flagged by the pre-trend test; the JSON follows
the issue's shape; the HTML has its three plots; and what a user can type wrong ends in one
line with its exit code."""

from __future__ import annotations

from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import pytest
from conftest import one_line, strict_json

from metricbook import cli
from metricbook.datagen.profiles import TEACHING

METRIC = "saves_per_active_user"
LAUNCHES = {launch.launch_id: launch for launch in TEACHING.config.launches}
EFFECTIVE = "launch_idea_pins_eu"
TRENDING = "launch_android_shopping_tab"


def _run(monkeypatch, capsys, database: Path, *args: object) -> tuple[int, str, str]:
    monkeypatch.setenv("METRICBOOK_DUCKDB_PATH", str(database))
    code = cli.main(["causal", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def effective(seeds_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """The readout of the effective launch, as JSON, with its HTML report."""
    report = tmp_path_factory.mktemp("causal") / "causal.html"
    monkeypatch = pytest.MonkeyPatch()
    try:
        monkeypatch.setenv("METRICBOOK_DUCKDB_PATH", str(seeds_db))
        out = StringIO()
        with redirect_stdout(out):
            code = cli.main(
                [
                    "causal",
                    "--launch",
                    EFFECTIVE,
                    "--metric",
                    METRIC,
                    "--method",
                    "all",
                    "--negative-control",
                    "ctr",
                    "--format",
                    "json",
                    "--report",
                    str(report),
                ]
            )
    finally:
        monkeypatch.undo()
    assert code == 0
    return strict_json(out.getvalue()), report


def test_json_has_the_documented_shape(effective) -> None:
    payload, _ = effective
    assert {
        "launch_id",
        "metric",
        "unit_type",
        "treated_units",
        "control_units",
        "pre_period",
        "post_period",
        "naive_pre_post",
        "results",
        "verdict",
    } <= set(payload)
    assert payload["treated_units"] == ["DE", "GB"]
    assert len(payload["control_units"]) == 5
    assert payload["unit_type"] == "country"
    assert {"estimate", "relative"} <= set(payload["naive_pre_post"])
    methods = [result["method"] for result in payload["results"]]
    assert methods == ["did", "event_study", "synthetic_control", "its"]
    for result in payload["results"]:
        assert {"estimate", "ci_low", "ci_high", "p_value", "relative_effect"} <= set(result)
        assert result["assumptions"] and all(isinstance(a, str) for a in result["assumptions"])
        assert isinstance(result["diagnostics"], dict)
    did = payload["results"][0]["diagnostics"]
    assert {"pre_trend_p", "placebo_p"} <= set(did)
    synthetic = payload["results"][2]["diagnostics"]
    assert {"pre_rmspe", "weights"} <= set(synthetic)
    assert sum(synthetic["weights"].values()) == pytest.approx(1.0, abs=1e-6)


def test_did_recovers_the_planted_effect_and_naive_does_not(effective) -> None:
    payload, _ = effective
    planted = LAUNCHES[EFFECTIVE].save_multiplier - 1
    did = payload["results"][0]
    assert did["relative_ci_low"] <= planted <= did["relative_ci_high"]
    naive = payload["naive_pre_post"]["relative"]
    assert not did["relative_ci_low"] <= naive <= did["relative_ci_high"]
    assert naive > planted + 0.15  # the campaign is in it
    assert "parallel trends" in payload["verdict"]
    assert payload["results"][1]["diagnostics"]["pre_trend_p"] >= 0.05


def test_negative_control_reported(effective) -> None:
    payload, _ = effective
    control = payload["negative_control"]
    assert control["metric"] == "ctr"
    # the launch moved saves, not clicks: the negative control's CI holds 0
    assert control["ci_low"] <= 0 <= control["ci_high"]


def test_html_has_its_plots(effective) -> None:
    _, report = effective
    page = report.read_text()
    for element in ('id="time-plot"', 'id="event-plot"', 'id="placebo-plot"', 'id="verdict"'):
        assert element in page
    assert "<script" not in page and "http" not in page.split("<body>", 1)[1]


def test_pre_trend_check_flags_the_trending_launch(monkeypatch, capsys, seeds_db: Path) -> None:
    code, out, _ = _run(
        monkeypatch,
        capsys,
        seeds_db,
        "--launch",
        TRENDING,
        "--metric",
        METRIC,
        "--method",
        "all",
        "--format",
        "json",
    )
    assert code == 0
    payload = strict_json(out)
    event = next(r for r in payload["results"] if r["method"] == "event_study")
    assert event["diagnostics"]["pre_trend_p"] < 0.05
    assert "not credible" in payload["verdict"]
    assert any("parallel pre-trends" in warning for warning in payload["warnings"])


def test_table_output_and_one_method(monkeypatch, capsys, seeds_db: Path) -> None:
    code, out, _ = _run(
        monkeypatch, capsys, seeds_db, "--launch", EFFECTIVE, "--metric", METRIC, "--method", "did"
    )
    assert code == 0
    assert "difference-in-differences" in out and "verdict:" in out
    assert "synthetic control" not in out.split("verdict:")[0]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("--launch", "launch_nope", "--metric", METRIC), 2, "no such launch"),
        (("--launch", "x'; drop table fct_launch_panel; --", "--metric", METRIC), 2, "no such"),
        (("--launch", EFFECTIVE, "--metric", "revenue; drop"), 2, "not a metric"),
        (("--launch", EFFECTIVE, "--metric", "is_treated"), 2, "not a metric"),
        (("--launch", EFFECTIVE, "--metric", METRIC, "--negative-control", METRIC), 2, "another"),
        (("--launch", EFFECTIVE, "--metric", METRIC, "--method", "rdd"), 2, "invalid choice"),
        (("--launch", "", "--metric", METRIC), 2, "--launch"),
        (("--launch", EFFECTIVE, "--metric", METRIC, "--seed", "-1"), 2, "--seed"),
    ],
)
def test_bad_input_is_one_line(monkeypatch, capsys, seeds_db: Path, args, code, needle) -> None:
    got, _, err = _run(monkeypatch, capsys, seeds_db, *args)
    assert got == code
    assert needle in one_line(err)


def test_report_into_a_directory_is_refused(monkeypatch, capsys, seeds_db: Path, tmp_path) -> None:
    got, _, err = _run(
        monkeypatch,
        capsys,
        seeds_db,
        "--launch",
        EFFECTIVE,
        "--metric",
        METRIC,
        "--report",
        tmp_path,
    )
    assert got == 2
    assert "is a directory" in one_line(err)


def test_never_built_warehouse(monkeypatch, capsys, tmp_path: Path) -> None:
    import duckdb

    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    got, _, err = _run(monkeypatch, capsys, empty, "--launch", EFFECTIVE, "--metric", METRIC)
    assert got == 4
    assert "dbt build" in one_line(err)
