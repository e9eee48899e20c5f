"""The cross-engine comparison ignores what engines legitimately differ on and reports the rest."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from metricbook.checks.parity import compare


def test_engine_spellings_of_the_same_rows_are_equal() -> None:
    duckdb_like = pd.DataFrame(
        {
            "activity_date": [dt.date(2024, 3, 1), dt.date(2024, 3, 2)],
            "dau": [3, 4],
            "rate": [1 / 3, 0.5],
            "amount": [decimal.Decimal("10.50"), decimal.Decimal("0")],
        }
    )
    spark_like = pd.DataFrame(  # other column order, row order, types and float noise
        {
            "AMOUNT": [0.0, 10.5],
            "rate": [0.5, 0.33333333333333337],
            "dau": [4.0, 3.0],
            "activity_date": pd.to_datetime(["2024-03-02", "2024-03-01"]),
        }
    )
    only_left, only_right = compare(duckdb_like, spark_like)
    assert only_left.empty and only_right.empty


def test_a_changed_value_and_a_duplicated_row_are_reported() -> None:
    reference = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "clicks": [1, 2, 3]})
    other = pd.DataFrame({"user_id": ["u1", "u2", "u2", "u3"], "clicks": [1, 2, 2, 4]})
    only_reference, only_other = compare(reference, other)
    assert only_reference.to_dict("records") == [{"clicks": 3.0, "user_id": "u3"}]
    assert sorted(map(tuple, only_other.to_numpy().tolist())) == [
        (2.0, "u2"),
        (2.0, "u2"),
        (4.0, "u3"),
    ]


@pytest.mark.build
def test_a_build_missing_a_mart_is_one_line_with_exit_4(seeds_db: Path, tmp_path: Path) -> None:
    """A database built before a mart existed: parity names the mart and the target instead of
    an internal error."""
    database = tmp_path / "old.duckdb"
    shutil.copy(seeds_db, database)
    with duckdb.connect(str(database)) as con:
        con.execute("drop table fct_position_ctr")
    completed = subprocess.run(
        [sys.executable, "-c", "from metricbook.cli import main; raise SystemExit(main())",
         "parity", "--targets", "duckdb"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "METRICBOOK_DUCKDB_PATH": str(database)},
    )  # fmt: skip
    assert completed.returncode == 4, completed.stderr
    assert "Traceback" not in completed.stderr
    (line,) = completed.stderr.strip().splitlines()
    assert str(database) in line and "fct_position_ctr" in line
