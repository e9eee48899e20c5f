"""Nothing a user can type reaches them as a traceback: every bad flag, value, config path or
output path is one line on stderr naming it, with the documented exit code (cli.py's table).

These cases need no built database: each one fails before the warehouse is opened (the
database path points nowhere, so reaching it would be exit 4, not the expected 2)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import one_line, strict_json

from metricbook import cli, stats
from metricbook.warehouse.dbt_runner import REPO_ROOT

EXPERIMENT = "exp_home_feed_ranking_v2"
METRICBOOK = Path(sys.executable).parent / "metricbook"


@pytest.fixture()
def run(monkeypatch, capsys, tmp_path):
    """cli.main in-process against a database path that does not exist."""
    monkeypatch.setenv("METRICBOOK_DUCKDB_PATH", str(tmp_path / "not-built.duckdb"))

    def invoke(*argv: str) -> tuple[int, str, str]:
        code = cli.main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


# --------------------------------------------------------------------------------------------
# analyze: flags and paths, refused before the warehouse is touched

ANALYZE = ["analyze", "--experiment", EXPERIMENT]


def _config_file(tmp: Path, kind: str) -> Path:
    if kind == "directory":
        return tmp
    if kind == "missing":
        return tmp / "nope.yml"
    path = tmp / "experiments.yml"
    if kind == "not_yaml":
        path.write_text("metrics: [unclosed\n  experiments: {\n")
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe\x00\x81metrics")
    elif kind == "empty_experiment":
        path.write_text("metrics: {}\nexperiments: {}\n")
    elif kind == "nan_alpha":
        text = (REPO_ROOT / "experiments.yml").read_text()
        path.write_text(text.replace("alpha: 0.05", "alpha: .nan", 1))
    return path


@pytest.mark.parametrize(
    ("kind", "needle"),
    [
        ("directory", "is a directory"),
        ("missing", "nope.yml"),
        ("not_yaml", "experiments.yml"),
        ("binary", "experiments.yml"),
        ("empty_experiment", EXPERIMENT),
        ("nan_alpha", "alpha"),
    ],
    ids=lambda value: str(value).replace(" ", "_"),
)
def test_bad_config_path_or_content_is_exit_2(run, tmp_path, kind, needle) -> None:
    code, out, err = run(*ANALYZE, "--config", _config_file(tmp_path, kind))
    assert code == 2 and out == ""
    one_line(err, needle)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["analyze", "--experiment", ""], "--experiment"),
        (["analyze", "--experiment", "   "], "--experiment"),
        (["analyze"], "--experiment"),
        (["analyze", "--experiment", "nope"], "'nope' is not configured"),
        (["analyze", "--experiment", "exp{0}'; drop table x; --"], "is not configured"),
        ([*ANALYZE, "--bootstrap-resamples", "0"], "--bootstrap-resamples"),
        ([*ANALYZE, "--bootstrap-resamples", "-1"], "--bootstrap-resamples"),
        ([*ANALYZE, "--bootstrap-resamples", str(10**12)], "limit of 1,000,000"),
        ([*ANALYZE, "--bootstrap-resamples", "1e6"], "not a whole number"),
        ([*ANALYZE, "--bootstrap-resamples", "nan"], "--bootstrap-resamples"),
        ([*ANALYZE, "--fail-on", "bogus"], "'bogus'"),
        ([*ANALYZE, "--fail-on", ""], "--fail-on"),
        ([*ANALYZE, "--fail-on", "srm,,nope"], "'nope'"),
        ([*ANALYZE, "--fail-on", "SRM"], "'SRM'"),
        ([*ANALYZE, "--format", "xml"], "--format"),
        ([*ANALYZE, "--target", ""], "--target"),
        ([*ANALYZE, "--target", "nope"], "no target 'nope'"),
        ([*ANALYZE, "--no-such-flag"], "--no-such-flag"),
        ([], "command"),
        (["frobnicate"], "frobnicate"),
    ],
    ids=[
        "empty_experiment",
        "blank_experiment",
        "missing_experiment",
        "unknown_experiment",
        "experiment_with_braces_and_quotes",
        "resamples_zero",
        "resamples_negative",
        "resamples_huge",
        "resamples_float",
        "resamples_nan",
        "gate_unknown",
        "gate_empty",
        "gate_unknown_in_list",
        "gate_wrong_case",
        "format_unknown",
        "target_empty",
        "target_unknown",
        "unknown_flag",
        "no_command",
        "unknown_command",
    ],
)
def test_bad_analyze_flag_is_exit_2(run, argv, needle) -> None:
    code, out, err = run(*argv)
    assert code == 2 and out == ""
    one_line(err, needle)


def _report_path(tmp: Path, kind: str) -> Path:
    if kind == "directory":
        return tmp
    if kind == "under_a_file":
        (tmp / "file.txt").write_text("x")
        return tmp / "file.txt" / "out.html"
    if kind == "missing_parent":
        return tmp / "no" / "such" / "dir" / "out.html"
    return Path("/proc/metricbook-readout.html")  # unwritable, even for root


@pytest.mark.parametrize(
    ("kind", "needle"),
    [
        ("directory", "is a directory"),
        ("under_a_file", "file.txt is a file"),
        ("missing_parent", "does not exist"),
        ("unwritable", "cannot write in /proc"),
    ],
    ids=["directory", "under_a_file", "missing_parent", "unwritable"],
)
def test_bad_report_path_is_exit_2_before_the_warehouse(run, tmp_path, kind, needle) -> None:
    code, out, err = run(*ANALYZE, "--report", _report_path(tmp_path, kind), "--write")
    assert code == 2 and out == ""  # exit 4 would mean the warehouse was opened first
    one_line(err, "--report", needle)


def test_missing_database_stays_missing(run, tmp_path) -> None:
    for extra in ([], ["--write"]):
        code, _, err = run(*ANALYZE, *extra)
        assert code == 4
        one_line(err, "not-built.duckdb", "dbt build")
    assert not (tmp_path / "not-built.duckdb").exists()


# --------------------------------------------------------------------------------------------
# power


POWER_MEAN = ["power", "mean", "--sd", "2"]
POWER_PROPORTION = ["power", "proportion", "--baseline", "0.3"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["power", "mean", "--sd", "nan", "--mde", "0.1"], "--sd"),
        (["power", "mean", "--sd", "inf", "--mde", "0.1"], "--sd"),
        (["power", "mean", "--sd", "-1", "--mde", "0.1"], "--sd"),
        (["power", "mean", "--sd", "0", "--mde", "0.1"], "--sd"),
        (["power", "mean", "--sd", "two", "--mde", "0.1"], "--sd"),
        ([*POWER_MEAN, "--mde", "nan"], "--mde"),
        ([*POWER_MEAN, "--mde", "inf"], "--mde"),
        ([*POWER_MEAN, "--mde", "-inf"], "--mde"),
        ([*POWER_MEAN, "--mde", "0"], "mde"),
        ([*POWER_MEAN, "--n", "0"], "--n"),
        ([*POWER_MEAN, "--n", "-5"], "--n"),
        ([*POWER_MEAN, "--n", "1.5"], "--n"),
        ([*POWER_MEAN, "--n", "nan"], "--n"),
        ([*POWER_MEAN, "--mde", "0.1", "--alpha", "0"], "--alpha"),
        ([*POWER_MEAN, "--mde", "0.1", "--alpha", "1"], "--alpha"),
        ([*POWER_MEAN, "--mde", "0.1", "--alpha", "nan"], "--alpha"),
        ([*POWER_MEAN, "--mde", "0.1", "--power", "1.5"], "--power"),
        ([*POWER_MEAN, "--mde", "0.1", "--power", "-inf"], "--power"),
        ([*POWER_MEAN, "--mde", "0.1", "--ratio", "0"], "--ratio"),
        ([*POWER_MEAN, "--mde", "0.1", "--ratio", "inf"], "--ratio"),
        ([*POWER_MEAN, "--mde", "0.1", "--format", "yaml"], "--format"),
        ([*POWER_PROPORTION[:3], "1", "--n", "100"], "--baseline"),
        ([*POWER_PROPORTION[:3], "0", "--n", "100"], "--baseline"),
        ([*POWER_PROPORTION[:3], "nan", "--n", "100"], "--baseline"),
        (["power", "mean", "--mde", "0.1"], "--sd"),
        (["power", "proportion", "--n", "100"], "--baseline"),
        (POWER_MEAN, "--mde"),
        (POWER_PROPORTION, "--mde"),
        (["power", "median", "--sd", "1"], "median"),
    ],
    ids=[
        "sd_nan",
        "sd_inf",
        "sd_negative",
        "sd_zero",
        "sd_text",
        "mde_nan",
        "mde_inf",
        "mde_minus_inf",
        "mde_zero",
        "n_zero",
        "n_negative",
        "n_float",
        "n_nan",
        "alpha_zero",
        "alpha_one",
        "alpha_nan",
        "power_above_one",
        "power_minus_inf",
        "ratio_zero",
        "ratio_inf",
        "format_unknown",
        "baseline_one",
        "baseline_zero",
        "baseline_nan",
        "mean_without_sd",
        "proportion_without_baseline",
        "mean_without_mde_or_n",
        "proportion_without_mde_or_n",
        "unknown_kind",
    ],
)
def test_bad_power_input_is_exit_2(run, argv, needle) -> None:
    code, out, err = run(*argv)
    assert code == 2 and out == ""
    one_line(err, needle)


@pytest.mark.parametrize(
    ("argv", "key", "expected"),
    [
        (
            [*POWER_MEAN, "--mde", "0.1"],
            "n_control",
            lambda: stats.sample_size_mean(0.1, 2).n_control,
        ),
        ([*POWER_MEAN, "--n", "5000"], "mde", lambda: stats.mde_mean(5000, 2)),
        (
            [*POWER_MEAN, "--n", "5000", "--mde", "0.1"],
            "power",
            lambda: stats.power_mean(5000, 0.1, 2),
        ),
        ([*POWER_PROPORTION, "--n", "5000"], "mde", lambda: stats.mde_proportion(0.3, 5000)),
        (
            [*POWER_PROPORTION, "--mde", "0.02"],
            "n_control",
            lambda: stats.sample_size_proportion(0.3, 0.02).n_control,
        ),
    ],
    ids=["mean_sample_size", "mean_mde", "mean_power", "proportion_mde", "proportion_size"],
)
def test_power_json_is_valid_and_right(run, argv, key, expected) -> None:
    code, out, err = run(*argv, "--format", "json")
    assert code == 0 and err == ""
    answer = strict_json(out)
    assert answer[key] == pytest.approx(expected(), rel=1e-12)


def test_json_never_carries_nan_or_infinity() -> None:
    import numpy as np

    payload = {"a": math.nan, "b": [np.float64("inf"), -math.inf, 1.5], "c": {"d": np.int64(3)}}
    assert strict_json(cli._json(payload)) == {"a": None, "b": [None, None, 1.5], "c": {"d": 3}}


# --------------------------------------------------------------------------------------------
# generate


def _generate_out(tmp: Path, kind: str) -> Path:
    if kind == "file":
        (tmp / "data.parquet").write_text("x")
        return tmp / "data.parquet"
    (tmp / "file.txt").write_text("x")
    return tmp / "file.txt" / "out"


GENERATE = ["generate", "--users", "5", "--days", "1"]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--click-multiplier", "nan"], "--click-multiplier"),
        (["--click-multiplier", "inf"], "--click-multiplier"),
        (["--click-multiplier", "-1"], "--click-multiplier"),
        (["--save-multiplier", "nan"], "--save-multiplier"),
        (["--hide-multiplier", "-inf"], "--hide-multiplier"),
        (["--users", "0"], "--users"),
        (["--users", "-3"], "--users"),
        (["--users", "nan"], "--users"),
        (["--days", "0"], "--days"),
        (["--days", "inf"], "--days"),
        (["--seed", "-1"], "--seed"),
        (["--start", "yesterday"], "--start"),
        (["--start", "2024-13-01"], "--start"),
        (["--events-per-user-day", "0"], "--events-per-user-day"),
        (["--events-per-user-day", "nan"], "--events-per-user-day"),
        (["--pins", "0"], "--pins"),
        (["--target-events", "-1"], "--target-events"),
        (["--experiment-days", "0"], "--experiment-days"),
        (["--experiment-start-day", "-1"], "--experiment-start-day"),
        (["--late-events", "0"], "--late-events"),
        (["--max-lateness-days", "0"], "--max-lateness-days"),
        (["--experiment-id", ""], "--experiment-id"),
        (["--target-events", "1000"], "exactly one of --users / --target-events"),
    ],
    ids=[
        "click_multiplier_nan",
        "click_multiplier_inf",
        "click_multiplier_negative",
        "save_multiplier_nan",
        "hide_multiplier_minus_inf",
        "users_zero",
        "users_negative",
        "users_nan",
        "days_zero",
        "days_inf",
        "seed_negative",
        "start_not_a_date",
        "start_month_13",
        "events_per_user_day_zero",
        "events_per_user_day_nan",
        "pins_zero",
        "target_events_negative",
        "experiment_days_zero",
        "experiment_start_day_negative",
        "late_events_zero",
        "max_lateness_days_zero",
        "experiment_id_empty",
        "users_and_target_events",
    ],
)
def test_bad_generate_option_is_exit_2(run, tmp_path, extra, needle) -> None:
    out_dir = tmp_path / "generated"
    code, out, err = run(*GENERATE, "--out", out_dir, *extra)
    assert code == 2 and out == ""
    one_line(err, needle)
    assert not out_dir.exists()


@pytest.mark.parametrize("kind", ["file", "under_a_file"])
def test_generate_out_that_is_a_file_is_exit_2(run, tmp_path, kind) -> None:
    target = _generate_out(tmp_path, kind)
    code, out, err = run(*GENERATE, "--out", target)
    assert code == 2 and out == ""
    one_line(err, "--out", "is a file")


def test_generate_without_days_is_exit_2(run, tmp_path) -> None:
    code, _, err = run("generate", "--users", "5", "--out", tmp_path / "g")
    assert code == 2
    one_line(err, "--days")


def test_generate_with_valid_options_still_works(run, tmp_path) -> None:
    code, out, err = run(*GENERATE, "--out", tmp_path / "g", "--click-multiplier", "1.2")
    assert code == 0, err
    assert "wrote" in out and (tmp_path / "g" / "manifest.json").exists()


# --------------------------------------------------------------------------------------------
# the error plumbing itself


def test_internal_error_is_one_line_with_the_traceback_saved(run, monkeypatch) -> None:
    def broken(args):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli, "_power", broken)
    code, _, err = run(*POWER_MEAN, "--mde", "0.1")
    assert code == 1
    line = one_line(err, "metricbook: internal error: RuntimeError: boom second line")
    saved = Path(line.split("traceback saved to ")[1].split(";")[0])
    assert "Traceback" in saved.read_text() and "broken" in saved.read_text()
    saved.unlink()


def test_value_error_raised_in_stats_is_exit_2_elsewhere_a_bug(run, monkeypatch) -> None:
    monkeypatch.setattr(cli, "_power", lambda args: stats.adjust_p_values([0.5], "bonferroni"))
    code, _, err = run(*POWER_MEAN, "--mde", "0.1")
    assert code == 2
    one_line(err, "metricbook: error:", "bonferroni")

    monkeypatch.setattr(cli, "_power", lambda args: int("not a number"))
    code, _, err = run(*POWER_MEAN, "--mde", "0.1")
    assert code == 1
    line = one_line(err, "internal error: ValueError")
    Path(line.split("traceback saved to ")[1].split(";")[0]).unlink()


def test_keyboard_interrupt_is_130(run, monkeypatch) -> None:
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_power", interrupted)
    code, _, err = run(*POWER_MEAN, "--mde", "0.1")
    assert code == 130
    one_line(err, "interrupted")


def test_help_is_exit_0(run) -> None:
    code, out, _ = run("analyze", "--help")
    assert code == 0 and "--fail-on" in out and "--allow-stale" in out


def test_exit_codes_are_documented() -> None:
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 5 |", "| 130 |"):
        assert code in cli.__doc__


# --------------------------------------------------------------------------------------------
# the installed command, in its own process: no traceback on stderr


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["power", "mean", "--sd", "nan", "--mde", "0.1"], 2, "--sd"),
        (["power", "mean", "--sd", "1", "--mde", "0", "--format", "json"], 2, "mde"),
        (["analyze", "--experiment", EXPERIMENT, "--config", "/"], 2, "is a directory"),
        (["analyze", "--experiment", EXPERIMENT], 4, "no DuckDB database here"),
        (["generate", "--out", "{file}", "--users", "1", "--days", "1"], 2, "is a file"),
    ],
    ids=["power_nan", "power_zero_mde", "config_directory", "no_database", "generate_out_file"],
)
def test_installed_command_prints_one_line(tmp_path, argv, code, needle) -> None:
    environment = {"PATH": "/usr/bin:/bin", "METRICBOOK_DUCKDB_PATH": str(tmp_path / "x.duckdb")}
    (tmp_path / "a-file").write_text("x")
    argv = [arg.replace("{file}", str(tmp_path / "a-file")) for arg in argv]
    result = subprocess.run(
        [str(METRICBOOK), *argv], capture_output=True, text=True, env=environment, timeout=300
    )
    assert result.returncode == code, result.stderr
    one_line(result.stderr, needle)
