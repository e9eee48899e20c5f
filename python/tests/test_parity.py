"""The cross-engine comparison ignores what engines legitimately differ on and reports the rest."""

from __future__ import annotations

import datetime as dt
import decimal

import pandas as pd

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
