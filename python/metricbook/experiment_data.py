"""What the statistics read from the experiment marts: per-variant aggregates computed in the
warehouse (count, mean, var_samp, covar_samp — never raw sums of squares, which cancel
catastrophically), assignment counts, declared variants, and rows only where a method needs them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

import pandas as pd

from metricbook.stats import Aggregates
from metricbook.warehouse import Warehouse, WarehouseError

USER_METRICS = "fct_experiment_user_metrics"
ASSIGNMENTS = "fct_experiment_assignments"
VARIANTS = "stg_experiment_variants"
DOUBLE = {"duckdb": "double", "postgres": "double precision", "spark": "double"}


@dataclass(frozen=True)
class DeclaredVariant:
    variant: str
    traffic_share: float
    is_control: bool


def mart_columns(warehouse: Warehouse, model: str) -> list[str]:
    frame = warehouse.frame(f"select * from {warehouse.relation(model)} where 1 = 0")
    return [str(column).lower() for column in frame.columns]


def check_columns(warehouse: Warehouse, columns: Iterable[str], model: str = USER_METRICS):
    """Column names come from experiments.yml and become SQL identifiers: only names the mart
    really has are allowed, so a typo is a clear error and nothing else reaches the SQL."""
    available = set(mart_columns(warehouse, model))
    unknown = sorted(set(columns) - available)
    if unknown:
        raise WarehouseError(
            f"{model} has no column(s) {', '.join(unknown)} used in experiments.yml "
            f"(columns: {', '.join(sorted(available))})"
        )


def _to_float(value) -> float:
    return math.nan if value is None or pd.isna(value) else float(value)


def variant_aggregates(
    warehouse: Warehouse,
    experiment_id: str,
    columns: Sequence[str],
    pairs: Iterable[tuple[str, str]] | None = None,
) -> dict[str, Aggregates]:
    """Per variant: count, and mean / var_samp of every column and covar_samp of each pair in
    `pairs` (default: every pair), in one pushed-down query; the result has one row per
    variant whatever the user count. Pass only the pairs the methods need: a covariance costs
    as much to aggregate as a mean."""
    columns = list(dict.fromkeys(columns))
    check_columns(warehouse, columns)
    double = DOUBLE[warehouse.dialect]
    as_double = {column: f"cast({column} as {double})" for column in columns}
    selects = ["variant", "count(*) as n"]
    for column in columns:
        selects.append(f"avg({as_double[column]}) as mean__{column}")
        selects.append(f"var_samp({as_double[column]}) as var__{column}")
    pairs = list(combinations(columns, 2)) if pairs is None else list(dict.fromkeys(pairs))
    for left, right in pairs:
        selects.append(f"covar_samp({as_double[left]}, {as_double[right]}) as cov__{left}__{right}")
    sql = (
        f"select {', '.join(selects)} from {warehouse.relation(USER_METRICS)} "
        f"where experiment_id = {warehouse.param('experiment_id')} group by variant"
    )
    frame = warehouse.frame(sql, {"experiment_id": experiment_id})
    frame.columns = [str(column).lower() for column in frame.columns]
    result = {}
    for row in frame.to_dict("records"):
        result[str(row["variant"])] = Aggregates(
            count=int(row["n"]),
            mean={column: _to_float(row[f"mean__{column}"]) for column in columns},
            var={column: _to_float(row[f"var__{column}"]) for column in columns},
            cov={pair: _to_float(row[f"cov__{pair[0]}__{pair[1]}"]) for pair in pairs},
        )
    return result


def assignment_counts(warehouse: Warehouse, experiment_id: str) -> dict[str, int]:
    sql = (
        f"select variant, count(*) as n from {warehouse.relation(ASSIGNMENTS)} "
        f"where experiment_id = {warehouse.param('experiment_id')} group by variant"
    )
    frame = warehouse.frame(sql, {"experiment_id": experiment_id})
    return {str(v): int(n) for v, n in zip(frame.iloc[:, 0], frame.iloc[:, 1], strict=True)}


def declared_variants(warehouse: Warehouse, experiment_id: str) -> list[DeclaredVariant]:
    sql = (
        f"select variant, traffic_share, is_control from {warehouse.relation(VARIANTS)} "
        f"where experiment_id = {warehouse.param('experiment_id')} order by variant"
    )
    frame = warehouse.frame(sql, {"experiment_id": experiment_id})
    if frame.empty:
        raise WarehouseError(
            f"experiment '{experiment_id}' has no staged variants in {VARIANTS}: "
            "is the id right, and has `dbt build` run on this target?"
        )
    return [
        DeclaredVariant(str(row[0]), float(row[1]), bool(row[2]))
        for row in frame.itertuples(index=False)
    ]


def user_rows(warehouse: Warehouse, experiment_id: str, columns: Sequence[str]) -> pd.DataFrame:
    """Row-level data (one row per assigned user) for the methods that need it (the
    bootstrap). Only the named columns are read."""
    columns = list(dict.fromkeys(["experiment_id", "user_id", "variant", *columns]))
    check_columns(warehouse, columns)
    sql = (
        f"select {', '.join(columns)} from {warehouse.relation(USER_METRICS)} "
        f"where experiment_id = {warehouse.param('experiment_id')} "
        # a fixed order, so a seeded bootstrap resamples the same users on every engine
        "order by user_id"
    )
    frame = warehouse.frame(sql, {"experiment_id": experiment_id})
    frame.columns = [str(column).lower() for column in frame.columns]
    return frame
