"""Results over time: the effect by calendar day and by days since first assignment, the
cumulative effect as it read on each day (with its always-valid interval), and a novelty
check on the change of the effect between an early and a late window of the same users.

The daily mart is sparse (a row per user per active day); every assigned user is in each
day's population, so the inactive users are pooled in as zeros (aggregates.pool), never
dropped: dropping them inflates every daily mean, differently in each arm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import combinations
from typing import Any

from metricbook import contract
from metricbook.errors import DataValidationError
from metricbook.readout import queries
from metricbook.readout.config import ExperimentConfig, Metric
from metricbook.readout.effects import effect_row, estimate, value_columns, without_covariate
from metricbook.readout.queries import DeclaredVariant, Key
from metricbook.stats import Aggregates, always_valid, novelty_test, pool
from metricbook.warehouse.connection import Warehouse


@dataclass(frozen=True)
class OverTime:
    """Per metric and variant: `daily` (by calendar day), `by_day_since_assignment`,
    `cumulative` (by calendar day, with the always-valid CI) and `novelty`."""

    metrics: list[str]
    daily: list[dict[str, Any]]
    by_day_since_assignment: list[dict[str, Any]]
    cumulative: list[dict[str, Any]]
    novelty: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def _zeros(count: int, columns: Sequence[str], pairs: Sequence[tuple[str, str]]) -> Aggregates:
    """`count` users whose every column is 0."""
    spread = 0.0 if count > 1 else math.nan
    return Aggregates(
        count=count,
        mean={c: 0.0 for c in columns},
        var={c: spread for c in columns},
        cov={p: spread for p in pairs},
    )


def _with_inactive(
    active: Mapping[Key, Aggregates],
    population: Mapping[Key, int],
    columns: Sequence[str],
    pairs: Sequence[tuple[str, str]],
) -> dict[Key, Aggregates]:
    """Each (variant, day)'s active users pooled with its inactive ones as zeros."""
    result = {}
    for key, n in population.items():
        rows = active.get(key)
        k = rows.count if rows else 0
        if k > n:  # a day's active users are a subset of its population: a broken build
            raise DataValidationError(
                f"{queries.DAILY} has {k} active users in {', '.join(key)} of a population of "
                f"{n} in {queries.USER_METRICS}: the two marts are from different builds; "
                "rebuild both (dbt build)"
            )
        zeros = _zeros(n - k, columns, pairs)
        result[key] = pool(rows, zeros) if rows else zeros
    return result


def reconcile(
    experiment_id: str,
    active_by_date: Mapping[Key, Aggregates],
    user_totals: Mapping[str, Aggregates],
    columns: Sequence[str],
) -> None:
    """Every column's total per variant over the daily mart's rows equals the user mart's
    (the build test assert_daily_metrics_sum_to_user_metrics, checked again here because the
    views read the daily mart without joining it to the user mart: a day of a user the user
    mart lacks, or marts from two builds, would move them). Means times counts in doubles:
    equal to about 1e-12 relative when the marts agree, off by a whole unit when not."""
    daily: dict[tuple[str, str], float] = {}
    for (variant, _), aggregates in active_by_date.items():
        for column in columns:
            total = aggregates.count * aggregates.mean[column]
            daily[(variant, column)] = daily.get((variant, column), 0.0) + total
    variants = set(user_totals) | {variant for variant, _ in daily}
    for variant in sorted(variants):
        users = user_totals.get(variant)
        for column in columns:
            expected = users.count * users.mean[column] if users and users.count else 0.0
            got = daily.get((variant, column), 0.0)
            if not math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-6):
                raise DataValidationError(
                    f"experiment '{experiment_id}': {queries.DAILY} sums {column} of '{variant}' "
                    f"to {got:.6g} but {queries.USER_METRICS} to {expected:.6g}: the marts are "
                    "from different builds or the daily mart holds other users; rebuild both "
                    "(dbt build)"
                )


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def over_time(
    warehouse: Warehouse,
    experiment: ExperimentConfig,
    metrics: Sequence[Metric],
    declared: Sequence[DeclaredVariant],
    user_totals: Mapping[str, Aggregates],
) -> OverTime | None:
    """The over-time views of the metrics whose columns the daily mart has. `user_totals`
    holds the user mart's moments per variant (the readout's aggregates): the daily mart's
    rows must add up to them (reconcile) before any view is read."""
    daily_columns = set(contract.flagged_columns(queries.DAILY, "daily"))
    usable = [
        without_covariate(m)
        for m in metrics
        if m.kind in ("mean", "ratio") and set(value_columns(m)) <= daily_columns
    ]
    notes = [
        f"{m.name}: not in the daily mart (its columns are not daily columns); no daily view"
        for m in metrics
        if m.kind in ("mean", "ratio", "proportion")
        and m not in usable
        and without_covariate(m) not in usable
    ]
    if not usable:
        return None
    columns = list(dict.fromkeys(c for m in usable for c in value_columns(m)))
    pairs = list(dict.fromkeys(p for m in usable for p in combinations(value_columns(m), 2)))
    first_counts, last_day = queries.first_assignment_counts(warehouse, experiment.experiment_id)
    if not first_counts or last_day is None:
        return None
    first_day = min(day for _, day in first_counts)
    calendar = _days(first_day, last_day)
    variants = [v.variant for v in declared]
    by_date = {
        (v, d.isoformat()): sum(n for (w, f), n in first_counts.items() if w == v and f <= d)
        for v in variants
        for d in calendar
    }
    by_age = {
        (v, str(k)): sum(
            n for (w, f), n in first_counts.items() if w == v and f + timedelta(days=k) <= last_day
        )
        for v in variants
        for k in range(len(calendar))
    }
    experiment_id = experiment.experiment_id
    active_by_date = _text_keys(
        queries.daily_active_aggregates(warehouse, experiment_id, columns, pairs, "metric_date")
    )
    reconcile(experiment_id, active_by_date, user_totals, columns)
    daily = _with_inactive(
        active_by_date,
        by_date,
        columns,
        pairs,
    )
    aged = _with_inactive(
        _text_keys(
            queries.daily_active_aggregates(
                warehouse, experiment_id, columns, pairs, "days_since_assignment"
            )
        ),
        by_age,
        columns,
        pairs,
    )
    cumulative = _with_inactive(
        _text_keys(queries.cumulative_active_aggregates(warehouse, experiment_id, columns, pairs)),
        by_date,
        columns,
        pairs,
    )
    control = next(v.variant for v in declared if v.is_control)
    treatments = [v for v in variants if v != control]
    alpha = experiment.alpha
    result = OverTime(
        metrics=[m.name for m in usable],
        daily=_series(
            daily, usable, control, treatments, [d.isoformat() for d in calendar], alpha, "date"
        ),
        by_day_since_assignment=_series(
            aged, usable, control, treatments, [str(k) for k in range(len(calendar))], alpha, "day"
        ),
        cumulative=_series(
            cumulative,
            usable,
            control,
            treatments,
            [d.isoformat() for d in calendar],
            alpha,
            "date",
            sequential=True,
        ),
        novelty=[],
        notes=notes,
    )
    result.novelty.extend(
        _novelty(warehouse, experiment, usable, control, treatments, first_counts, last_day, notes)
    )
    return result


def _text_keys(grouped: Mapping[Key, Aggregates]) -> dict[Key, Aggregates]:
    """(variant, day) keys as text: dates as ISO dates, day numbers as integers' text."""
    result = {}
    for (variant, day), aggregates in grouped.items():
        text = day
        if len(day) > 10:  # a timestamp's text: keep the date
            text = day[:10]
        elif day.replace(".", "").isdigit() and "." in day:
            text = str(int(float(day)))
        result[(variant, text)] = aggregates
    return result


def _series(
    groups: Mapping[Key, Aggregates],
    metrics: Sequence[Metric],
    control: str,
    treatments: Sequence[str],
    days: Sequence[str],
    alpha: float,
    axis: str,
    sequential: bool = False,
) -> list[dict[str, Any]]:
    rows = []
    for metric in metrics:
        for variant in treatments:
            for day in days:
                arms = groups.get((control, day)), groups.get((variant, day))
                if arms[0] is None or arms[1] is None:
                    continue
                try:
                    effect = estimate(metric, arms[0], arms[1], alpha)
                except ValueError:
                    continue  # a day with too few users, or nothing shown: no point that day
                row = {"metric": metric.name, "variant": variant, axis: day, **effect_row(effect)}
                if sequential:
                    try:
                        bound = always_valid(
                            effect.diff,
                            effect.diff_se**2,
                            alpha,
                            n_control=effect.n_control,
                            n_treatment=effect.n_treatment,
                        )
                    except ValueError:
                        continue
                    row["p_value_always_valid"] = bound.p_value
                    row["always_valid_ci_low"] = bound.ci_low
                    row["always_valid_ci_high"] = bound.ci_high
                rows.append(row)
    return rows


def _novelty(
    warehouse: Warehouse,
    experiment: ExperimentConfig,
    metrics: Sequence[Metric],
    control: str,
    treatments: Sequence[str],
    first_counts: Mapping[tuple[str, date], int],
    last_day: date,
    notes: list[str],
) -> list[dict[str, Any]]:
    """The early-vs-late change of each metric's effect, on the users observed for both (the
    ones without a row in either window pooled in as zeros)."""
    days = experiment.novelty_days
    assigned_by = last_day - timedelta(days=2 * days - 1)
    columns = list(dict.fromkeys(c for m in metrics for c in value_columns(m)))
    windowed = [f"{w}__{c}" for c in columns for w in ("early", "late")]
    # the test reads the covariances among one metric's own windowed columns only; a
    # covariance costs a full aggregate, so no pair across metrics is computed
    pairs = list(
        dict.fromkeys(
            pair
            for m in metrics
            for pair in combinations(
                [w for w in windowed if w.split("__", 1)[1] in value_columns(m)], 2
            )
        )
    )
    active = queries.window_aggregates(
        warehouse, experiment.experiment_id, columns, pairs, days, assigned_by
    )
    observed = {}
    for (variant, first), n in first_counts.items():
        if first <= assigned_by:
            observed[(variant,)] = observed.get((variant,), 0) + n
    groups = {
        key[0]: aggregates
        for key, aggregates in _with_inactive(
            {(variant,): a for variant, a in active.items()}, observed, windowed, pairs
        ).items()
    }
    rows = []
    for metric in metrics:

        def side(window: str, m: Metric = metric) -> str | tuple[str, str]:
            if m.denominator:
                return (f"{window}__{m.numerator}", f"{window}__{m.denominator}")
            return f"{window}__{m.numerator}"

        for variant in treatments:
            if control not in groups or variant not in groups:
                notes.append(
                    f"novelty ({metric.name}, {variant}): no user was assigned by {assigned_by}, "
                    f"so nobody was observed for 2 x {days} days"
                )
                continue
            try:
                test = novelty_test(
                    groups[control],
                    groups[variant],
                    side("early"),
                    side("late"),
                    experiment.alpha,
                    metric.name,
                )
            except ValueError as error:
                notes.append(f"novelty ({metric.name}, {variant}): {error}")
                continue
            decaying = abs(test.late_diff) < abs(test.early_diff)
            flagged = test.p_value < experiment.alpha
            rows.append(
                {
                    "metric": metric.name,
                    "variant": variant,
                    "window_days": days,
                    "assigned_by": assigned_by.isoformat(),
                    "early_diff": test.early_diff,
                    "early_se": test.early_se,
                    "late_diff": test.late_diff,
                    "late_se": test.late_se,
                    "change": test.change,
                    "change_se": test.change_se,
                    "change_ci_low": test.change_ci_low,
                    "change_ci_high": test.change_ci_high,
                    "p_value": test.p_value,
                    "n_control": test.n_control,
                    "n_treatment": test.n_treatment,
                    "flagged": flagged,
                    "pattern": (
                        "novelty (the effect fades)" if decaying else "primacy (the effect grows)"
                    )
                    if flagged
                    else "stable",
                }
            )
    return rows
