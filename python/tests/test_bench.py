"""The benchmark runs end to end on a small generated data set, and its floor (the hand-written
DuckDB script) computes exactly metricbook's marts: the comparison is like for like."""

from __future__ import annotations

from pathlib import Path

import pytest

from metricbook.checks.bench import run

pytestmark = pytest.mark.build  # the benchmark runs dbt build on generated data


def test_bench_smoke_and_floor_equals_metricbook(tmp_path: Path) -> None:
    result = run.bench_size("50K", tmp_path, with_pandas=True)
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
