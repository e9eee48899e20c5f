"""The benchmark runs end to end on a small generated data set, and its floor (the hand-written
DuckDB script) computes exactly metricbook's marts: the comparison is like for like."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest

from metricbook.checks.bench import run
from metricbook.checks.bench.plot import scaling_svg


@pytest.mark.build  # the benchmark runs dbt build on generated data
def test_bench_smoke_and_floor_equals_metricbook(tmp_path: Path) -> None:
    progress = run.Progress(run.planned_steps(["50K"], [], pandas_max=10**9), bar=False)
    result = run.bench_size("50K", tmp_path, with_pandas=True, progress=progress)
    assert result["raw_events"] > 30_000
    assert result["floor_differences"] and all(
        count == 0 for count in result["floor_differences"].values()
    ), result["floor_differences"]
    for step in ("dbt_parse", "dbt_run_core", "dbt_run", "dbt_build", "floor", "pandas"):
        assert result[step]["seconds"] > 0 and result[step]["peak_rss_mb"] > 0
    assert result["incremental_build"]["seconds"] > 0
    assert result["slowest_build_nodes"] and result["slowest_incremental_nodes"]
    printed = run.table({"machine": "test", "sizes": [result], "analyze": []})
    assert "| yes |" in printed and "slowest nodes" in printed
    assert not (tmp_path / "50K" / "raw").exists()  # the link to the data is removed
    import duckdb

    with duckdb.connect(str(tmp_path / "50K" / "metricbook.duckdb"), read_only=True) as con:
        for table, _, _ in run.FLOOR_CHECKS:
            assert con.sql(f"select count(*) from {table}").fetchone()[0] > 0, table


def test_progress_counts_every_step_a_run_makes(capsys: pytest.CaptureFixture[str]) -> None:
    total = run.planned_steps(["1M", "10M"], ["1M"], pandas_max=1_000_000)
    assert total == (6 + 1) + 6 + 2  # pandas only where the size is within pandas_max
    bar = run.Progress(total, bar=True)
    for index in range(total):
        bar.step("1M", f"step {index}")
    bar.close()
    assert bar._bar.n == total == bar._bar.total
    plain = run.Progress(total, bar=False)  # a CI log: one plain line per step, no bar
    plain.step("1M", "dbt run")
    assert capsys.readouterr().out == "[1M] dbt run ...\n"


def _fake_size(events: int, seconds: dict[str, float]) -> dict:
    return {
        "raw_events": events,
        **{k: {"seconds": v, "peak_rss_mb": 1} for k, v in seconds.items()},
    }


def test_scaling_plot_is_log_log_with_a_linear_reference() -> None:
    sizes = [
        _fake_size(10**6, {"floor": 2.0, "dbt_build": 10.0, "incremental_build": 5.0}),
        _fake_size(10**7, {"floor": 20.0, "dbt_build": 400.0, "incremental_build": 6.0}),
    ]
    root = ElementTree.fromstring(scaling_svg(sizes))
    ns = "{http://www.w3.org/2000/svg}"
    lines = {p.get("data-step"): p.get("points") for p in root.iter(f"{ns}polyline")}
    assert set(lines) == {"floor", "dbt_build", "incremental_build"}  # absent steps: no line

    def slope(points: str) -> float:
        (x0, y0), (x1, y1) = (tuple(map(float, p.split(","))) for p in points.split())
        return (y1 - y0) / (x1 - x0)

    reference = next(e for e in root.iter(f"{ns}line") if e.get("class") == "linear-reference")
    linear = (float(reference.get("y2")) - float(reference.get("y1"))) / (
        float(reference.get("x2")) - float(reference.get("x1"))
    )
    # the floor grows linearly: parallel to the reference; the build grows faster: steeper
    # (SVG y points down, so steeper is more negative); the incremental day flatter
    assert slope(lines["floor"]) == pytest.approx(linear)
    assert slope(lines["dbt_build"]) < linear < slope(lines["incremental_build"])
    assert "no benchmark results" in scaling_svg([])
