"""`metricbook ranking`: the offline ranking-model evaluation read from fct_ranker_offline_eval
and fct_ranker_calibration, on small DuckDB files written here by hand (no dbt build): JSON with
its NULLs, the best-by-NDCG and best-calibrated choices and the sentence when they disagree, a
self-contained HTML page with one reliability series per model with bins, and the one-line
errors (an unknown --models name, an unwritable --report, no database, marts never built)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from metricbook import cli
from metricbook.readout import ranking
from metricbook.warehouse.connection import BUILD_LOG, INVOCATION_NODE, DuckDBWarehouse

EVAL_DDL = (
    "model_id varchar, k integer, requests_evaluated bigint, requests_without_relevant bigint, "
    "requests_unscored bigint, mean_ndcg double, map double, mrr double, mean_recall double, "
    "mean_precision double, impressions bigint, auc double, log_loss double, ece double"
)
CALIBRATION_DDL = (
    "model_id varchar, bin integer, impressions bigint, mean_score double, click_rate double"
)
# the teaching trap: ranker_a orders better (higher NDCG at both k) but its scores are
# overconfident (higher ECE); ranker_c was scored but has no calibration rows and a NULL MAP@10;
# 'logged' has no scores at all
EVAL_ROWS = [
    ("ranker_a", 3, 80, 20, 0, 0.52, 0.44, 0.61, 0.35, 0.30, 900, 0.74, 0.58, 0.12),
    ("ranker_a", 10, 80, 20, 0, 0.60, 0.47, 0.63, 0.71, 0.18, 900, 0.74, 0.58, 0.12),
    ("ranker_b", 3, 80, 20, 0, 0.47, 0.40, 0.57, 0.31, 0.27, 900, 0.70, 0.49, 0.03),
    ("ranker_b", 10, 80, 20, 0, 0.55, 0.43, 0.60, 0.66, 0.16, 900, 0.70, 0.49, 0.03),
    ("ranker_c", 3, 70, 20, 10, 0.40, 0.33, 0.50, 0.25, 0.22, 700, 0.61, 0.66, None),
    ("ranker_c", 10, 70, 20, 10, 0.48, None, 0.52, 0.55, 0.14, 700, 0.61, 0.66, None),
    ("logged", 3, 80, 20, 0, 0.42, 0.36, 0.53, 0.28, 0.25, None, None, None, None),
    ("logged", 10, 80, 20, 0, 0.50, 0.40, 0.55, 0.60, 0.15, None, None, None, None),
]
CALIBRATION_ROWS = [
    ("ranker_a", 1, 300, 0.15, 0.05),
    ("ranker_a", 5, 400, 0.55, 0.30),
    ("ranker_a", 9, 200, 0.95, 0.70),
    ("ranker_b", 1, 350, 0.12, 0.10),
    ("ranker_b", 4, 450, 0.45, 0.43),
    ("ranker_b", 8, 100, 0.82, 0.80),
]
# warehouse mode without ranker scores: only the served order was evaluated
LOGGED_ONLY = [row for row in EVAL_ROWS if row[0] == "logged"]


def _database(
    path: Path,
    eval_rows: list[tuple] = EVAL_ROWS,
    calibration_rows: list[tuple] = CALIBRATION_ROWS,
    marts: tuple[str, ...] = ranking.MARTS,
) -> Path:
    """A DuckDB file holding the ranker marts and the build log of one successful `dbt build`
    that built them, the rows the hooks in macros/hooks/ write (what check_build reads)."""
    started = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)
    invocation = str(uuid.uuid4())
    log = [
        (INVOCATION_NODE, None, "started"),
        *((mart, f"models/marts/ranking/{mart}.sql", "success") for mart in marts),
        (INVOCATION_NODE, None, "success"),
    ]
    with duckdb.connect(str(path)) as con:
        con.execute(
            f"create table {BUILD_LOG} (invocation_id varchar, command varchar, "
            "started_at timestamp, logged_at timestamp, node varchar, node_path varchar, "
            "status varchar)"
        )
        con.executemany(
            f"insert into {BUILD_LOG} values (?, 'build', ?, ?, ?, ?, ?)",
            [
                [invocation, started, started + timedelta(seconds=index), node, node_path, status]
                for index, (node, node_path, status) in enumerate(log)
            ],
        )
        if ranking.EVAL in marts:
            con.execute(f"create table {ranking.EVAL} ({EVAL_DDL})")
            if eval_rows:
                con.executemany(
                    f"insert into {ranking.EVAL} values ({', '.join('?' * 14)})", eval_rows
                )
        if ranking.CALIBRATION in marts:
            con.execute(f"create table {ranking.CALIBRATION} ({CALIBRATION_DDL})")
            if calibration_rows:
                con.executemany(
                    f"insert into {ranking.CALIBRATION} values (?, ?, ?, ?, ?)", calibration_rows
                )
    return path


@pytest.fixture(scope="module")
def teaching_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _database(tmp_path_factory.mktemp("ranking") / "ranking.duckdb")


@pytest.fixture(scope="module")
def logged_only_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _database(tmp_path_factory.mktemp("ranking") / "logged.duckdb", LOGGED_ONLY, [])


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _database(tmp_path_factory.mktemp("ranking") / "empty.duckdb", [], [])


def _report(database: Path, models: tuple[str, ...] | None = None) -> ranking.RankingReport:
    warehouse = DuckDBWarehouse(database)
    try:
        return ranking.ranking_report(warehouse, "duckdb", models)
    finally:
        warehouse.close()


def _run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database: Path, *args
) -> tuple[int, str, str]:
    monkeypatch.setenv("METRICBOOK_DUCKDB_PATH", str(database))
    code = cli.main(["ranking", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("metricbook: error: ")
    return lines[0]


# --------------------------------------------------------------------------------------------
# the report as a value and as JSON


def test_best_ranker_and_best_calibrated_disagree_in_one_sentence(teaching_db: Path) -> None:
    report = _report(teaching_db)
    assert [(best.k, best.model_id) for best in report.best_by_ndcg] == [
        (3, "ranker_a"),
        (10, "ranker_a"),
    ]
    assert report.best_calibrated is not None
    assert (report.best_calibrated.model_id, report.best_calibrated.value) == ("ranker_b", 0.03)
    sentence = report.disagreement
    assert sentence is not None and sentence in report.summary
    assert sentence.count(". ") == 0 and sentence.endswith(".")
    assert "ranker_a ranks best by NDCG@3 and NDCG@10" in sentence
    assert "ranker_b is the best calibrated" in sentence


def test_logged_is_never_the_best_ranker_and_agreement_says_nothing(teaching_db: Path) -> None:
    report = _report(teaching_db, ("ranker_b", "logged"))
    assert [best.model_id for best in report.best_by_ndcg] == ["ranker_b", "ranker_b"]
    assert report.disagreement is None
    alone = _report(teaching_db, ("logged",))
    assert alone.best_by_ndcg == () and alone.best_calibrated is None


def test_json_keeps_null_metrics_null(
    teaching_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(monkeypatch, capsys, teaching_db, "--format", "json")
    assert code == 0, err
    payload = json.loads(out)
    models = {model["model_id"]: model for model in payload["models"]}
    assert list(models) == ["ranker_a", "ranker_b", "ranker_c", "logged"]
    assert payload["ks"] == [3, 10]
    logged = models["logged"]
    assert logged["scored"] is False
    assert (logged["auc"], logged["log_loss"], logged["ece"], logged["impressions"]) == (
        None,
        None,
        None,
        None,
    )
    assert logged["calibration"] == []
    ranker_c = models["ranker_c"]
    assert ranker_c["scored"] and ranker_c["ece"] is None and ranker_c["calibration"] == []
    at_10 = next(cutoff for cutoff in ranker_c["cutoffs"] if cutoff["k"] == 10)
    assert at_10["map"] is None and at_10["mean_ndcg"] == 0.48
    assert at_10["requests_unscored"] == 10
    assert payload["best_calibrated"] == {
        "model_id": "ranker_b",
        "metric": "ece",
        "value": 0.03,
        "k": None,
    }
    assert payload["disagreement"].startswith("The two choices disagree")
    assert [b["bin"] for b in models["ranker_a"]["calibration"]] == [1, 5, 9]


def test_non_finite_metric_is_null_in_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [("ranker_a", 3, 1, 0, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 10, 0.6, float("inf"), 0.1)]
    database = _database(tmp_path / "inf.duckdb", rows, [])
    code, out, err = _run(monkeypatch, capsys, database, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["models"][0]["log_loss"] is None


def test_warehouse_without_scores_says_so_and_still_lists_logged(
    logged_only_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(monkeypatch, capsys, logged_only_db)
    assert code == 0, err
    assert "logged" in out and "No model has scores in this warehouse" in out
    report = _report(logged_only_db)
    assert [model.model_id for model in report.models] == ["logged"]
    assert report.scored_models == () and report.disagreement is None
    html = ranking.html_report(report)
    assert "No model has scores here" in html and "<svg" not in html
    assert ">logged<" in html


def test_empty_marts_render_and_say_nothing_was_evaluated(
    empty_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = empty_db
    code, out, err = _run(monkeypatch, capsys, database, "--format", "json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["models"] == [] and payload["ks"] == [] and payload["best_by_ndcg"] == []
    assert "no model was evaluated" in payload["summary"][0]
    code, out, err = _run(monkeypatch, capsys, database, "--report", tmp_path / "empty.html")
    assert code == 0, err
    assert "no model was evaluated" in out
    assert "no model was evaluated" in (tmp_path / "empty.html").read_text(encoding="utf-8")


def test_model_only_in_the_calibration_mart_is_listed_without_cutoffs(tmp_path: Path) -> None:
    database = _database(tmp_path / "orphan.duckdb", LOGGED_ONLY, CALIBRATION_ROWS[:1])
    report = _report(database)
    ranker_a = report.models[0]
    assert (ranker_a.model_id, ranker_a.cutoffs, ranker_a.scored) == ("ranker_a", (), True)
    assert "no rows in fct_ranker_offline_eval" in ranking.text_table(report)
    assert "no rows in fct_ranker_offline_eval" in ranking.html_report(report)


# --------------------------------------------------------------------------------------------
# the HTML page


def test_html_is_self_contained_with_one_reliability_series_per_model_with_bins(
    teaching_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    page = tmp_path / "ranking.html"
    code, out, err = _run(monkeypatch, capsys, teaching_db, "--report", page)
    assert code == 0, err
    assert f"wrote {page}" in err
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"<script|<link|@import|url\(|src=|https?://(?!www\.w3\.org)", html)
    assert html.count("<svg") == 1 and 'class="diagonal"' in html
    series = re.findall(r'<g class="series" data-model="([^"]+)">', html)
    assert series == ["ranker_a", "ranker_b"]  # ranker_c has no bins, logged no scores
    assert html.count("<polyline") == 2 and html.count("<circle") >= 6
    assert "The two choices disagree" in html
    assert "No calibration bins for ranker_c" in html
    for heading in ("NDCG@k", "MAP@k", "MRR@k", "recall@k", "precision@k", "unscored", "ECE"):
        assert heading in html
    assert "ranker_c" in html and "n/a" in html  # the NULL ECE and MAP@10 render as n/a
    assert "ranker_a bin 5: mean score 0.550, click rate 0.300, 400 impressions" in html


def test_text_table_is_compact(
    teaching_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(monkeypatch, capsys, teaching_db, "--models", "ranker_a,logged")
    assert code == 0, err
    assert "ranker_b" not in out.split("\n- ")[0]
    assert max(len(line) for line in out.splitlines() if not line.startswith("- ")) <= 100
    assert "Best by NDCG@3: ranker_a" in out


# --------------------------------------------------------------------------------------------
# errors: one line, the documented exit code


def test_unknown_model_is_a_usage_error_naming_it_and_the_models_there(
    teaching_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(monkeypatch, capsys, teaching_db, "--models", "ranker_a,ranker_z")
    assert code == 2 and out == ""
    line = _one_error_line(err)
    assert "'ranker_z'" in line and "'ranker_a'" not in line
    assert "ranker_a, ranker_b, ranker_c, logged" in line


def test_unwritable_report_path_is_a_usage_error_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no such dir" / "ranking.html"
    # no database at all: the output path is refused first, as analyze does
    code, out, err = _run(monkeypatch, capsys, tmp_path / "none.duckdb", "--report", missing)
    assert code == 2 and out == ""
    assert "does not exist" in _one_error_line(err)
    code, _, err = _run(monkeypatch, capsys, tmp_path / "none.duckdb", "--report", tmp_path)
    assert code == 2 and "is a directory" in _one_error_line(err)


def test_missing_database_is_a_warehouse_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "nowhere.duckdb"
    code, out, err = _run(monkeypatch, capsys, database)
    assert code == 4 and out == ""
    assert "no DuckDB database" in _one_error_line(err)
    assert not database.exists(), "reading must not create the database"


def test_warehouse_without_the_ranker_marts_is_a_warehouse_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = _database(tmp_path / "experiments_only.duckdb", marts=())
    code, _, err = _run(monkeypatch, capsys, database)
    assert code == 4
    line = _one_error_line(err)
    assert "fct_ranker_offline_eval, fct_ranker_calibration" in line and "dbt build" in line


def test_failed_build_is_a_warehouse_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = _database(tmp_path / "failed.duckdb")
    later = datetime.now(UTC).replace(tzinfo=None)
    with duckdb.connect(str(database)) as con:
        con.execute(
            f"insert into {BUILD_LOG} values ('again', 'build', ?, ?, ?, null, 'started')",
            [later, later, INVOCATION_NODE],
        )
    code, _, err = _run(monkeypatch, capsys, database)
    assert code == 4 and "never finished" in _one_error_line(err)


def test_mart_of_another_contract_is_a_warehouse_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = _database(tmp_path / "old.duckdb")
    with duckdb.connect(str(database)) as con:
        con.execute(f"alter table {ranking.CALIBRATION} drop column click_rate")
    code, _, err = _run(monkeypatch, capsys, database)
    assert code == 4 and "has no column(s) click_rate" in _one_error_line(err)


def test_repeated_grain_is_a_data_validation_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = _database(tmp_path / "twice.duckdb", [*EVAL_ROWS, EVAL_ROWS[0]])
    code, _, err = _run(monkeypatch, capsys, database)
    assert code == 3
    assert "more than one row for (model_id, k) = ('ranker_a', 3)" in _one_error_line(err)
