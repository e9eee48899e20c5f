"""Cross-engine parity: every mart, and the experiment readout, must be the same on every
engine the run has (DuckDB, Postgres, Spark).

    python -m metricbook.checks.parity --targets duckdb,postgres [--reference duckdb]

Rows are compared after normalising what legitimately differs between engines (column order,
row order, integer and decimal widths, timestamp and date types); doubles are compared to 1e-9
relative. A difference is reported with the differing rows, not just a count.
"""

from __future__ import annotations

import argparse
import decimal
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from metricbook import contract
from metricbook.warehouse.connection import (
    Warehouse,
    WarehouseError,
    check_build,
    connect,
    profile_target,
)
from metricbook.warehouse.dbt_runner import REPO_ROOT

if TYPE_CHECKING:  # numpy and pandas load when marts are compared: --help stays light
    import pandas as pd

# Every public mart (models/marts/), from the contract dbt declares.
MARTS = tuple(sorted(contract.public_marts()))
SHOWN_ROWS = 10


@dataclass(frozen=True)
class Difference:
    mart: str
    target: str
    only_in_reference: pd.DataFrame
    only_in_target: pd.DataFrame

    def explain(self, reference: str) -> str:
        lines = [
            f"{self.mart}: {len(self.only_in_reference)} row(s) only in {reference}, "
            f"{len(self.only_in_target)} only in {self.target}"
        ]
        for label, rows in (
            (reference, self.only_in_reference),
            (self.target, self.only_in_target),
        ):
            if len(rows):
                lines.append(f"  rows only in {label}:")
                lines.append(rows.head(SHOWN_ROWS).to_string(index=False))
        return "\n".join(lines)


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Engine-neutral values: lower-case column names in sorted order; dates and timestamps as
    ISO text; integers and decimals as float; doubles rounded to 9 significant digits."""
    import numpy as np
    import pandas as pd

    frame = frame.copy()
    frame.columns = [str(column).lower() for column in frame.columns]
    frame = frame[sorted(frame.columns)]
    for column in frame.columns:
        values = frame[column]
        sample = values.dropna()
        first = sample.iloc[0] if len(sample) else None
        if pd.api.types.is_datetime64_any_dtype(values) or hasattr(first, "isoformat"):
            frame[column] = pd.to_datetime(values).dt.strftime("%Y-%m-%d %H:%M:%S.%f")
        elif pd.api.types.is_bool_dtype(values) or isinstance(first, bool | np.bool_):
            frame[column] = values.map(lambda v: None if v is None or pd.isna(v) else bool(v))
        elif pd.api.types.is_numeric_dtype(values) or isinstance(
            first, int | float | decimal.Decimal
        ):
            frame[column] = values.map(_significant)
        else:
            frame[column] = values.astype(object).where(values.notna(), None)
    return frame


def _significant(value) -> float | None:
    import pandas as pd

    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return None
    number = float(value)
    return float(f"{number:.9g}")


def compare(reference: pd.DataFrame, other: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows (as multisets) present in one frame and not the other."""
    left, right = _normalised(reference), _normalised(other)
    if list(left.columns) != list(right.columns):
        missing = sorted(set(left.columns) ^ set(right.columns))
        raise ValueError(f"the engines disagree on the columns: {missing}")
    columns = list(left.columns)
    left_keys = left.astype(str).apply(tuple, axis=1)
    right_keys = right.astype(str).apply(tuple, axis=1)
    left_counts, right_counts = left_keys.value_counts(), right_keys.value_counts()
    surplus_left = (left_counts - right_counts.reindex(left_counts.index, fill_value=0)).clip(
        lower=0
    )
    surplus_right = (right_counts - left_counts.reindex(right_counts.index, fill_value=0)).clip(
        lower=0
    )
    only_left = left[left_keys.isin(surplus_left[surplus_left > 0].index)]
    only_right = right[right_keys.isin(surplus_right[surplus_right > 0].index)]
    return only_left[columns], only_right[columns]


def read_mart(warehouse: Warehouse, mart: str) -> pd.DataFrame:
    return warehouse.frame(f"select * from {warehouse.relation(mart)}")


def mart_differences(
    warehouses: dict[str, Warehouse], reference: str, marts: Sequence[str] = MARTS
) -> list[Difference]:
    differences = []
    for mart in marts:
        expected = read_mart(warehouses[reference], mart)
        if expected.empty:
            raise ValueError(f"{mart} is empty on {reference}: nothing would be compared")
        for target, warehouse in warehouses.items():
            if target == reference:
                continue
            only_reference, only_target = compare(expected, read_mart(warehouse, mart))
            if len(only_reference) or len(only_target):
                differences.append(Difference(mart, target, only_reference, only_target))
    return differences


def readout_differences(
    warehouses: dict[str, Warehouse], reference: str, experiment_id: str
) -> list[str]:
    """The experiment readout computed from each engine's marts: every number must agree."""
    from metricbook.readout.config import load_config
    from metricbook.readout.readout import analyze

    config = load_config()
    readouts = {
        target: analyze(
            warehouse, config, experiment_id, target=target, bootstrap_resamples=500
        ).to_dict()
        for target, warehouse in warehouses.items()
    }
    problems = []
    expected = readouts.pop(reference)
    for target, readout in readouts.items():
        problems += [
            f"{target} {path}: {a!r} != {b!r} ({reference})"
            for path, a, b in _walk(readout, expected)
        ]
    return problems


def _walk(actual, expected, path: str = ""):
    if isinstance(expected, dict):
        for key in expected:
            if key == "target":
                continue
            yield from _walk(actual.get(key), expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            yield path, actual, expected
            return
        for index, (a, b) in enumerate(zip(actual, expected, strict=True)):
            yield from _walk(a, b, f"{path}[{index}]")
    elif isinstance(expected, float) and isinstance(actual, float):
        if not math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12):
            yield path, actual, expected
    elif actual != expected:
        yield path, actual, expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", required=True, help="comma list of profiles.yml targets")
    parser.add_argument("--reference", default="duckdb")
    parser.add_argument("--experiment", default="exp_home_feed_ranking_v2")
    parser.add_argument("--project-dir", type=Path, default=REPO_ROOT)
    args = parser.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t]
    if args.reference not in targets:
        targets.insert(0, args.reference)
    for target in targets:  # every target named in profiles.yml before any connection opens
        profile_target(target, args.project_dir)
    warehouses = {target: connect(target, args.project_dir) for target in targets}
    try:
        for target, warehouse in warehouses.items():
            # a missing mart (a build older than the code) is one line naming the target, and
            # a failed or stale build is refused: comparing it would report a false difference
            problems = check_build(warehouse, MARTS)
            if problems:
                raise WarehouseError(f"parity --targets {target}: {problems[0]}")
        differences = mart_differences(warehouses, args.reference)
        readout = readout_differences(warehouses, args.reference, args.experiment)
    finally:
        for warehouse in warehouses.values():
            warehouse.close()
    compared = ", ".join(targets)
    if differences or readout:
        for difference in differences:
            print(difference.explain(args.reference), file=sys.stderr)
        for problem in readout[:50]:
            print(f"readout: {problem}", file=sys.stderr)
        print(f"PARITY FAILED across {compared}", file=sys.stderr)
        return 1
    summary = {"targets": targets, "marts": list(MARTS), "readout": args.experiment}
    print(
        f"parity: {len(MARTS)} marts and the {args.experiment} readout identical across "
        f"{compared}\n{json.dumps(summary)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
