"""The benchmark runs end to end on a small generated data set, and its floor (the hand-written
DuckDB script) computes exactly metricbook's marts: the comparison is like for like."""

from __future__ import annotations

from pathlib import Path

import pytest

from metricbook.checks.bench import run


@pytest.mark.build  # the benchmark runs dbt build on generated data
def test_bench_smoke_and_floor_equals_metricbook(tmp_path: Path) -> None:
    progress = run.Progress(run.planned_steps(["50K"], [], pandas_max=10**9), bar=False)
    result = run.bench_size("50K", tmp_path, with_pandas=True, progress=progress)
    assert result["raw_events"] > 30_000
    assert result["floor_differences"] and all(
        count == 0 for count in result["floor_differences"].values()
    ), result["floor_differences"]
    for step in ("dbt_run", "dbt_build", "floor", "pandas", "incremental_build"):
        assert result[step]["seconds"] > 0 and result[step]["peak_rss_mb"] > 0
    printed = run.table({"machine": "test", "sizes": [result], "analyze": []})
    assert "| yes |" in printed
    import duckdb

    with duckdb.connect(str(tmp_path / "50K" / "metricbook.duckdb"), read_only=True) as con:
        for table, _, _ in run.FLOOR_CHECKS:
            assert con.sql(f"select count(*) from {table}").fetchone()[0] > 0, table


def test_progress_counts_every_step_a_run_makes(capsys: pytest.CaptureFixture[str]) -> None:
    total = run.planned_steps(["1M", "10M"], ["1M"], pandas_max=1_000_000)
    assert total == (5 + 1) + 5 + 2  # pandas only where the size is within pandas_max
    bar = run.Progress(total, bar=True)
    for index in range(total):
        bar.step("1M", f"step {index}")
    bar.close()
    assert bar._bar.n == total == bar._bar.total
    plain = run.Progress(total, bar=False)  # a CI log: one plain line per step, no bar
    plain.step("1M", "dbt run")
    assert capsys.readouterr().out == "[1M] dbt run ...\n"
