"""What the statistics read from the experiment marts: per-variant aggregates computed in the
warehouse (count, mean, var_samp, covar_samp — never raw sums of squares, which cancel
catastrophically), assignment counts, declared variants, and rows only where a method needs them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

import pandas as pd

from metricbook import contract
from metricbook.errors import ConfigError, DataValidationError
from metricbook.readout.config import Metric
from metricbook.stats import Aggregates
from metricbook.warehouse.connection import Warehouse, WarehouseError

USER_METRICS = "fct_experiment_user_metrics"
ASSIGNMENTS = "fct_experiment_assignments"
EXPERIMENTS = "dim_experiments"
VARIANTS = "dim_experiment_variants"
POSITION_CTR = "fct_experiment_position_ctr"
# Every mart a readout reads, as exposure metricbook_analyze declares them (models/exposures.yml):
# `metricbook analyze` checks their build before reading them. Facts before dimensions, the
# user-level mart first (reverse name order), so a stale-build message names the mart the
# statistics read first.
MARTS = tuple(contract.exposure_models(contract.ANALYZE_EXPOSURE))
DOUBLE = {"duckdb": "double", "postgres": "double precision", "spark": "double"}
# Column types a metric can average, as the three engines spell them in their catalogs.
NUMERIC_TYPE = re.compile(
    r"(u?(tiny|small|big|huge)?int(eger)?\d*|int[248]|long|short|byte|float\d*|real"
    r"|double( precision)?|decimal|numeric)(\(.*\))?"
)


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


def check_metric_columns(warehouse: Warehouse, metrics: Iterable[Metric]) -> None:
    """Every column a metric reads exists in the mart and holds numbers; the error names the
    metric's key in experiments.yml. One catalog query, no scan of the mart."""
    types = warehouse.column_types(USER_METRICS)
    for metric in metrics:
        roles = [("numerator", metric.numerator), ("denominator", metric.denominator)]
        if metric.covariate_denominator:
            roles += [
                ("covariate.numerator", metric.covariate),
                ("covariate.denominator", metric.covariate_denominator),
            ]
        else:
            roles.append(("covariate", metric.covariate))
        for role, column in roles:
            if column is None:
                continue
            where = f"experiments.yml metrics.{metric.name}.{role}"
            if column not in types:
                raise ConfigError(
                    f"{where}: column '{column}' is not in {USER_METRICS} "
                    f"(columns: {', '.join(sorted(types))}); name one of them"
                )
            if not NUMERIC_TYPE.fullmatch(types[column]):
                raise ConfigError(
                    f"{where}: column '{column}' of {USER_METRICS} is {types[column]}, not a "
                    "number; name a numeric column"
                )


def declared_variants(warehouse: Warehouse, experiment_id: str) -> list[DeclaredVariant]:
    """The experiment's variants from the experiment marts, after dim_experiments says the
    experiment can be read at all (staging did not reject it, one control, shares sum to 1)."""
    sql = (
        "select experiments.is_analyzable, experiments.exclusion_reason, variants.variant, "
        "variants.traffic_share, variants.is_control "
        f"from {warehouse.relation(EXPERIMENTS)} as experiments "
        f"left join {warehouse.relation(VARIANTS)} as variants "
        "on variants.experiment_id = experiments.experiment_id "
        f"where experiments.experiment_id = {warehouse.param('experiment_id')} "
        "order by variants.variant"
    )
    frame = warehouse.frame(sql, {"experiment_id": experiment_id})
    frame.columns = [str(column).lower() for column in frame.columns]
    if frame.empty:
        raise DataValidationError(
            f"experiment '{experiment_id}' is not in {EXPERIMENTS}: it was never delivered in "
            "raw_experiments, or this build predates it; check the id and run `dbt build`"
        )
    first = frame.iloc[0]
    analyzable = first["is_analyzable"]
    if analyzable is None or pd.isna(analyzable) or not bool(analyzable):
        reason = first["exclusion_reason"]
        reason = "no reason recorded" if reason is None or pd.isna(reason) else str(reason)
        raise DataValidationError(
            f"experiment '{experiment_id}' is excluded from analysis in {EXPERIMENTS} "
            f"({reason}); fix its rows in raw_experiments / raw_experiment_variants and run "
            "`dbt build`"
        )
    frame = frame[frame["variant"].notna()]
    if frame.empty:
        raise DataValidationError(
            f"experiment '{experiment_id}' has no variants in {VARIANTS}; run `dbt build`"
        )
    return [
        DeclaredVariant(str(row.variant), float(row.traffic_share), bool(row.is_control))
        for row in frame.itertuples(index=False)
    ]


def position_counts(
    warehouse: Warehouse, experiment_id: str
) -> dict[str, dict[tuple[str, int], tuple[int, int]]]:
    """Per variant, (surface, feed_position) -> (impressions, clicks) of the post period."""
    sql = (
        f"select variant, surface, feed_position, impressions, clicks "
        f"from {warehouse.relation(POSITION_CTR)} "
        f"where experiment_id = {warehouse.param('experiment_id')}"
    )
    frame = warehouse.frame(sql, {"experiment_id": experiment_id})
    counts: dict[str, dict[tuple[str, int], tuple[int, int]]] = {}
    for variant, surface, position, impressions, clicks in frame.itertuples(index=False):
        slot = (str(surface), int(position))
        counts.setdefault(str(variant), {})[slot] = (int(impressions), int(clicks))
    return counts


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
