"""What the statistics read from the experiment marts: per-variant aggregates computed in the
warehouse (count, mean, var_samp, covar_samp — never raw sums of squares, which cancel
catastrophically), assignment counts, declared variants, and rows only where a method needs them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
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
EXPOSURES = "fct_experiment_exposures"
DAILY = "fct_experiment_user_daily_metrics"
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


Key = tuple[str, ...]
# a NULL segment value (a user without a staged users row) is a segment of its own
UNKNOWN = "(unknown)"


def _key_text(value) -> str:
    return UNKNOWN if value is None or pd.isna(value) else str(value)


def _moments(
    warehouse: Warehouse,
    from_sql: str,
    where_sql: str,
    params: Mapping[str, object],
    expressions: Mapping[str, str],
    pairs: Sequence[tuple[str, str]],
    keys: Sequence[str],
) -> dict[Key, Aggregates]:
    """count, avg, var_samp of each named expression and covar_samp of each pair, grouped by
    `keys`, in one pushed-down query: one row per group whatever the row count. Aliases are
    positional, so long column names never exceed an engine's identifier limit."""
    grouped, _ = _moments_and_extras(
        warehouse, from_sql, where_sql, params, expressions, pairs, keys, {}
    )
    return grouped


def _moments_and_extras(
    warehouse: Warehouse,
    from_sql: str,
    where_sql: str,
    params: Mapping[str, object],
    expressions: Mapping[str, str],
    pairs: Sequence[tuple[str, str]],
    keys: Sequence[str],
    extras: Mapping[str, str],
) -> tuple[dict[Key, Aggregates], pd.DataFrame]:
    """_moments, with more aggregate expressions (`extras`, name -> SQL) in the same query:
    their values come back as a frame of the raw key columns (named k0, k1, ...) and one
    column per extra, as the engine typed them."""
    double = DOUBLE[warehouse.dialect]
    names = list(expressions)
    as_double = {name: f"cast({expressions[name]} as {double})" for name in names}
    selects = [f"{key} as k{i}" for i, key in enumerate(keys)] + ["count(*) as n"]
    for i, name in enumerate(names):
        selects.append(f"avg({as_double[name]}) as m{i}")
        selects.append(f"var_samp({as_double[name]}) as v{i}")
    for j, (left, right) in enumerate(pairs):
        selects.append(f"covar_samp({as_double[left]}, {as_double[right]}) as c{j}")
    selects.extend(f"{sql} as x{i}" for i, sql in enumerate(extras.values()))
    sql = f"select {', '.join(selects)} from {from_sql} where {where_sql}"
    if keys:
        sql += f" group by {', '.join(keys)}"
    frame = warehouse.frame(sql, params)
    frame.columns = [str(column).lower() for column in frame.columns]
    result = {}
    for row in frame.to_dict("records"):
        key = tuple(_key_text(row[f"k{i}"]) for i in range(len(keys)))
        result[key] = Aggregates(
            count=int(row["n"]),
            mean={name: _to_float(row[f"m{i}"]) for i, name in enumerate(names)},
            var={name: _to_float(row[f"v{i}"]) for i, name in enumerate(names)},
            cov={pair: _to_float(row[f"c{j}"]) for j, pair in enumerate(pairs)},
        )
    key_columns = [f"k{i}" for i in range(len(keys))]
    extra_frame = frame[key_columns + [f"x{i}" for i in range(len(extras))]].copy()
    extra_frame.columns = key_columns + list(extras)
    return result, extra_frame.reset_index(drop=True)


def _capped(column: str, cap: float | None, dialect: str) -> str:
    if cap is None:
        return column
    assert math.isfinite(cap), cap  # computed by pooled_quantile or validated in the config
    return f"least(cast({column} as {DOUBLE[dialect]}), {float(cap)!r})"


def grouped_aggregates(
    warehouse: Warehouse,
    experiment_id: str,
    columns: Sequence[str],
    pairs: Iterable[tuple[str, str]] | None = None,
    *,
    by: Sequence[str] = (),
    caps: Mapping[str, float] | None = None,
    surface: str | None = None,
) -> dict[Key, Aggregates]:
    """Aggregates of the user mart per (variant, *by): `caps` replaces a column by
    least(column, cap) before aggregating; `surface` keeps only the users exposed on it
    (fct_experiment_exposures). `by` columns must be columns of the mart."""
    columns = list(dict.fromkeys(columns))
    check_columns(warehouse, [*columns, *by])
    caps = dict(caps or {})
    pairs = list(combinations(columns, 2)) if pairs is None else list(dict.fromkeys(pairs))
    from_sql = f"{warehouse.relation(USER_METRICS)} as metrics"
    params: dict[str, object] = {"experiment_id": experiment_id}
    if surface is not None:
        from_sql += (
            f" inner join {warehouse.relation(EXPOSURES)} as exposures"
            " on exposures.experiment_id = metrics.experiment_id"
            " and exposures.user_id = metrics.user_id"
            f" and exposures.surface = {warehouse.param('surface')}"
        )
        params["surface"] = surface
    expressions = {
        column: _capped(f"metrics.{column}", caps.get(column), warehouse.dialect)
        for column in columns
    }
    return _moments(
        warehouse,
        from_sql,
        f"metrics.experiment_id = {warehouse.param('experiment_id')}",
        params,
        expressions,
        pairs,
        ["metrics.variant", *(f"metrics.{column}" for column in by)],
    )


def variant_aggregates(
    warehouse: Warehouse,
    experiment_id: str,
    columns: Sequence[str],
    pairs: Iterable[tuple[str, str]] | None = None,
    *,
    caps: Mapping[str, float] | None = None,
    surface: str | None = None,
) -> dict[str, Aggregates]:
    """Per variant: count, and mean / var_samp of every column and covar_samp of each pair in
    `pairs` (default: every pair), in one pushed-down query; the result has one row per
    variant whatever the user count. Pass only the pairs the methods need: a covariance costs
    as much to aggregate as a mean."""
    grouped = grouped_aggregates(
        warehouse, experiment_id, columns, pairs, caps=caps, surface=surface
    )
    return {key[0]: aggregates for key, aggregates in grouped.items()}


def variant_aggregates_with_summary(
    warehouse: Warehouse,
    experiment_id: str,
    columns: Sequence[str],
    pairs: Iterable[tuple[str, str]],
    summary: Mapping[str, str],
) -> tuple[dict[str, Aggregates], pd.DataFrame]:
    """variant_aggregates (no caps, every assigned user) and, from the same scan, the
    aggregate expressions of `summary` (name -> SQL over the mart's columns) per variant: a
    frame with a `variant` column (the raw value, NULL included) and one column per name.
    One pass over the mart feeds both the validation suite and the statistics."""
    columns = list(dict.fromkeys(columns))
    check_columns(warehouse, columns)
    pairs = list(dict.fromkeys(pairs))
    grouped, extras = _moments_and_extras(
        warehouse,
        f"{warehouse.relation(USER_METRICS)} as metrics",
        f"metrics.experiment_id = {warehouse.param('experiment_id')}",
        {"experiment_id": experiment_id},
        {column: f"metrics.{column}" for column in columns},
        pairs,
        ["metrics.variant"],
        summary,
    )
    extras = extras.rename(columns={"k0": "variant"})
    return {key[0]: aggregates for key, aggregates in grouped.items()}, extras


def pooled_quantile(warehouse: Warehouse, experiment_id: str, column: str, q: float) -> float:
    """The q-quantile of `column` over every assigned user of both arms (linear interpolation,
    the same definition on the three engines), computed in the warehouse."""
    check_columns(warehouse, [column])
    value = f"cast({column} as {DOUBLE[warehouse.dialect]})"
    quantile = {
        "duckdb": f"quantile_cont({value}, {q!r})",
        "postgres": f"percentile_cont({q!r}) within group (order by {value})",
        "spark": f"percentile({value}, {q!r})",
    }[warehouse.dialect]
    sql = (
        f"select {quantile} as q from {warehouse.relation(USER_METRICS)} "
        f"where experiment_id = {warehouse.param('experiment_id')}"
    )
    frame = warehouse.frame(sql, {"experiment_id": experiment_id})
    return _to_float(frame.iloc[0, 0]) if len(frame) else math.nan


def capped_counts(
    warehouse: Warehouse, experiment_id: str, column: str, cap: float
) -> dict[str, int]:
    """Per variant, how many users' `column` exceeds `cap` (and so were capped)."""
    check_columns(warehouse, [column])
    value = f"cast({column} as {DOUBLE[warehouse.dialect]})"
    sql = (
        f"select variant, sum(case when {value} > {float(cap)!r} then 1 else 0 end) as n "
        f"from {warehouse.relation(USER_METRICS)} "
        f"where experiment_id = {warehouse.param('experiment_id')} group by variant"
    )
    frame = warehouse.frame(sql, {"experiment_id": experiment_id})
    return {str(v): int(n) for v, n in zip(frame.iloc[:, 0], frame.iloc[:, 1], strict=True)}


def order_statistics(
    warehouse: Warehouse, experiment_id: str, column: str, ranks: Iterable[int]
) -> dict[str, dict[int, float]]:
    """Per variant, the values of `column` at the given 1-based ranks of the arm's ascending
    order (ties broken by user_id, so every engine returns the same rows): the inputs of a
    quantile and its order-statistic confidence interval, one sort in the warehouse."""
    check_columns(warehouse, [column])
    wanted = sorted({int(rank) for rank in ranks if int(rank) >= 1})
    if not wanted:
        return {}
    value = f"cast({column} as {DOUBLE[warehouse.dialect]})"
    sql = (
        "select variant, position, value from ("
        f"select variant, {value} as value, row_number() over "
        f"(partition by variant order by {value}, user_id) as position "
        f"from {warehouse.relation(USER_METRICS)} "
        f"where experiment_id = {warehouse.param('experiment_id')}"
        f") as ranked where position in ({', '.join(str(rank) for rank in wanted)})"
    )
    frame = warehouse.frame(sql, {"experiment_id": experiment_id})
    result: dict[str, dict[int, float]] = {}
    for variant, position, number in frame.itertuples(index=False):
        result.setdefault(str(variant), {})[int(position)] = _to_float(number)
    return result


def first_assignment_counts(
    warehouse: Warehouse, experiment_id: str
) -> tuple[dict[tuple[str, date], int], date | None]:
    """Users per (variant, UTC date of first assignment), and the experiment's last UTC day:
    who is in the population on each day of the over-time views."""
    sql = (
        "select variant, cast(first_assigned_at as date) as first_date, count(*) as n "
        f"from {warehouse.relation(USER_METRICS)} "
        f"where experiment_id = {warehouse.param('experiment_id')} "
        "group by variant, cast(first_assigned_at as date)"
    )
    frame = warehouse.frame(sql, {"experiment_id": experiment_id})
    counts = {
        (str(variant), _as_date(first)): int(n)
        for variant, first, n in frame.itertuples(index=False)
    }
    end = warehouse.frame(
        f"select cast(end_at as date) as end_date from {warehouse.relation(EXPERIMENTS)} "
        f"where experiment_id = {warehouse.param('experiment_id')}",
        {"experiment_id": experiment_id},
    )
    last = _as_date(end.iloc[0, 0]) if len(end) and not pd.isna(end.iloc[0, 0]) else None
    return counts, last


def _as_date(value) -> date:
    return pd.Timestamp(value).date()


def daily_active_aggregates(
    warehouse: Warehouse,
    experiment_id: str,
    columns: Sequence[str],
    pairs: Sequence[tuple[str, str]],
    by: str,
) -> dict[Key, Aggregates]:
    """Moments of the daily mart's rows (users active that day) per (variant, `by`), `by`
    being metric_date or days_since_assignment. The inactive users of each day are zeros the
    caller pools in (aggregates.pool): the mart is sparse, the population is not. No join to
    the user mart: the caller reconciles the daily totals with it (over_time.reconcile)."""
    assert by in ("metric_date", "days_since_assignment"), by
    check_columns(warehouse, [*columns, by], DAILY)
    return _moments(
        warehouse,
        warehouse.relation(DAILY),
        f"experiment_id = {warehouse.param('experiment_id')}",
        {"experiment_id": experiment_id},
        {column: column for column in dict.fromkeys(columns)},
        list(pairs),
        ["variant", by],
    )


def _spread(n: int, sum_xy: float, sum_x: float, sum_y: float) -> float:
    """The sample covariance (variance when x is y) of n values from their sums."""
    return math.nan if n < 2 else (sum_xy - sum_x * sum_y / n) / (n - 1)


def cumulative_active_aggregates(
    warehouse: Warehouse,
    experiment_id: str,
    columns: Sequence[str],
    pairs: Sequence[tuple[str, str]],
) -> dict[Key, Aggregates]:
    """Per (variant, calendar day d of the daily mart): moments of each active-so-far user's
    totals over the days up to d (the experiment as it read on day d). Zero users are pooled in
    by the caller.

    One aggregate over the daily rows, no window and no join: the mart carries each column's
    running total t (`<column>_to_date`, as its YAML declares), which changes only on the
    user's rows, so the sums over users of t, t² and t·t' change there too, by x, t² - (t-x)²
    and t·t' - (t-x)·(t'-x'), x being the day's value. A user enters on its first row
    (user_day_number 1), where t - x is 0. The engine sums those changes per (variant, day);
    here they are accumulated over the days. Totals are shifted by c, each column's mean over
    the user mart, so (Q - S²/n) / (n - 1) does not cancel away its digits (an entrant then
    brings (t-c)², i.e. the change plus c²); the mean is c + S / n."""
    columns = list(dict.fromkeys(columns))
    # every daily column has one (tests/test_contract.py), and only daily columns come here
    running = contract.to_date_columns(DAILY)
    needed = [*columns, *(running[c] for c in columns), "metric_date", "user_day_number"]
    check_columns(warehouse, needed, DAILY)
    double = DOUBLE[warehouse.dialect]
    param = warehouse.param("experiment_id")
    pairs = list(pairs)
    index = {column: i for i, column in enumerate(columns)}
    shifts = ", ".join(
        f"avg(cast({column} as {double})) as c{i}" for i, column in enumerate(columns)
    )
    # per row: x (the day's value) and t - c (the shifted running total)
    values = ", ".join(
        f"cast(daily.{column} as {double}) as x{i}, "
        f"cast(daily.{running[column]} as {double}) - shift.c{i} as t{i}"
        for i, column in enumerate(columns)
    )

    def change(left: int, right: int) -> str:
        return f"sum(t{left} * t{right} - (t{left} - x{left}) * (t{right} - x{right}))"

    changes = [
        "sum(case when user_day_number = 1 then 1 else 0 end) as n",
        *(f"sum(x{i}) as s{i}" for i in range(len(columns))),
        *(f"{change(i, i)} as q{i}" for i in range(len(columns))),
        *(f"{change(index[left], index[right])} as x{j}" for j, (left, right) in enumerate(pairs)),
        *(f"max(c{i}) as c{i}" for i in range(len(columns))),
    ]
    sql = (
        f"with shift as (select {shifts} from {warehouse.relation(USER_METRICS)} "
        f"where experiment_id = {param}), "
        f"rows_ as (select daily.variant, daily.metric_date, daily.user_day_number, {values}, "
        + ", ".join(f"shift.c{i}" for i in range(len(columns)))
        + f" from {warehouse.relation(DAILY)} as daily cross join shift "
        f"where daily.experiment_id = {param}) "
        f"select variant as k0, metric_date as k1, {', '.join(changes)} "
        "from rows_ group by variant, metric_date"
    )
    frame = warehouse.frame(sql, {"experiment_id": experiment_id})
    frame.columns = [str(column).lower() for column in frame.columns]
    # every day any arm has a row: an arm's totals carry over the days it has none
    calendar = sorted(frame["k1"].dropna().unique().tolist())
    result: dict[Key, Aggregates] = {}
    for variant, group in frame.groupby("k0", dropna=False):
        by_day = {row["k1"]: row for row in group.to_dict("records")}
        n, total = 0, [0.0] * len(columns)
        squares, products = [0.0] * len(columns), [0.0] * len(pairs)
        shift = [_to_float(group[f"c{i}"].iloc[0]) for i in range(len(columns))]
        latest: Aggregates | None = None
        for day in calendar:
            key, row = (_key_text(variant), _key_text(day)), by_day.get(day)
            if row is None:
                if latest is not None:
                    result[key] = latest
                continue
            # the day's entrants: their shifted totals start at -c, not 0
            entrants = int(row["n"])
            n += entrants
            for i in range(len(columns)):
                total[i] += _to_float(row[f"s{i}"]) - entrants * shift[i]
                squares[i] += _to_float(row[f"q{i}"]) + entrants * shift[i] ** 2
            for j, (left, right) in enumerate(pairs):
                products[j] += (
                    _to_float(row[f"x{j}"]) + entrants * shift[index[left]] * shift[index[right]]
                )
            if n == 0:
                continue
            latest = result[key] = Aggregates(
                count=n,
                mean={c: shift[index[c]] + total[index[c]] / n for c in columns},
                var={
                    c: max(0.0, _spread(n, squares[index[c]], total[index[c]], total[index[c]]))
                    for c in columns
                },
                cov={
                    (left, right): _spread(n, products[j], total[index[left]], total[index[right]])
                    for j, (left, right) in enumerate(pairs)
                },
            )
    return result


def window_aggregates(
    warehouse: Warehouse,
    experiment_id: str,
    columns: Sequence[str],
    pairs: Sequence[tuple[str, str]],
    days: int,
    assigned_by: date,
) -> dict[str, Aggregates]:
    """Per variant, over the users first assigned on or before `assigned_by` (so both windows
    are observed) with a row in either window: each column summed over days since assignment
    [0, days) as early__<column> and [days, 2·days) as late__<column>. The input of the novelty
    test; the users of no row are zeros the caller pools in."""
    check_columns(warehouse, [*columns, "days_since_assignment", "first_assigned_date"], DAILY)
    columns = list(dict.fromkeys(columns))
    double = DOUBLE[warehouse.dialect]
    windows = {"early": (0, days), "late": (days, 2 * days)}
    sums = ", ".join(
        f"sum(case when days_since_assignment < {high} and days_since_assignment >= {low} "
        f"then cast({column} as {double}) else 0 end) as {window}__{column}"
        for column in columns
        for window, (low, high) in windows.items()
    )
    from_sql = (
        f"(select variant, user_id, {sums} from {warehouse.relation(DAILY)} "
        f"where experiment_id = {warehouse.param('experiment_id')} "
        f"and first_assigned_date <= cast('{assigned_by.isoformat()}' as date) "
        f"and days_since_assignment < {2 * days} group by variant, user_id) as windows"
    )
    grouped = _moments(
        warehouse,
        from_sql,
        "1 = 1",
        {"experiment_id": experiment_id},
        {name: name for name in (f"{w}__{c}" for c in columns for w in windows)},
        list(pairs),
        ["variant"],
    )
    return {key[0]: aggregates for key, aggregates in grouped.items()}


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


def exposure_surfaces(warehouse: Warehouse, experiment_id: str) -> list[str]:
    """The surfaces on which some assigned user of the experiment was exposed."""
    frame = warehouse.frame(
        f"select distinct surface from {warehouse.relation(EXPOSURES)} "
        f"where experiment_id = {warehouse.param('experiment_id')} order by surface",
        {"experiment_id": experiment_id},
    )
    return [str(value) for value in frame.iloc[:, 0]]


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
