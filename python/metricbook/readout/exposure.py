"""Exposure: intention-to-treat (every assigned user) stays the primary analysis; the
triggered analysis compares only the users exposed to the experiment's surface after their
first assignment, and is carried back to the whole population with the dilution formula
(Deng & Hu 2015). It is only a fair comparison when treatment did not change who gets exposed:
the exposure-balance test checks that, and the readout says to trust ITT when it fails."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any

from metricbook.errors import ConfigError
from metricbook.readout import queries
from metricbook.readout.config import ExperimentConfig, Metric
from metricbook.readout.effects import effect_row, estimate, value_columns, without_covariate
from metricbook.readout.queries import DeclaredVariant
from metricbook.stats import Aggregates, dilute, exposure_balance
from metricbook.warehouse.connection import Warehouse


@dataclass(frozen=True)
class Exposure:
    surface: str
    exposed: dict[str, int]
    assigned: dict[str, int]
    balance: dict[str, Any]
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def _share(metric: Metric, exposed: Aggregates, everyone: Aggregates) -> float:
    """The triggered users' share of what the metric averages, in control: of the users for a
    mean, of the denominator's total for a ratio."""
    if metric.denominator:
        total = everyone.count * everyone.mean_of(metric.denominator)
        return exposed.count * exposed.mean_of(metric.denominator) / total
    return exposed.count / everyone.count


def exposure_section(
    warehouse: Warehouse,
    experiment: ExperimentConfig,
    metrics: Sequence[Metric],
    declared: Sequence[DeclaredVariant],
    assigned: Mapping[str, Aggregates],
    source: str = "experiments.yml",
) -> Exposure | None:
    """`assigned`: the readout's per-variant aggregates of every assigned user (ITT); `source`
    names the config file in the error for a surface nobody was exposed on."""
    surface = experiment.surface
    if surface is None:
        return None
    plain = [without_covariate(m) for m in metrics if m.kind in ("mean", "ratio", "proportion")]
    columns = list(dict.fromkeys(c for m in plain for c in value_columns(m)))
    pairs = list(dict.fromkeys(p for m in plain for p in combinations(value_columns(m), 2)))
    experiment_id = experiment.experiment_id
    known = queries.exposure_surfaces(warehouse, experiment_id)
    if known and surface not in known:
        raise ConfigError(
            f"{source}: experiments.{experiment_id}.surface: nobody in the experiment was exposed "
            f"on '{surface}' (surfaces with exposed users: {', '.join(known)}); name one of them"
        )
    # the exposed users of the user mart (the join), so they are a subset of the assigned
    triggered = queries.variant_aggregates(
        warehouse, experiment_id, columns, pairs, surface=surface
    )
    assigned_counts = {
        v.variant: assigned[v.variant].count for v in declared if v.variant in assigned
    }
    exposed_counts = {v: triggered[v].count if v in triggered else 0 for v in assigned_counts}
    control = next(v.variant for v in declared if v.is_control)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    try:
        balance = exposure_balance(exposed_counts, assigned_counts, experiment.balance_threshold)
    except ValueError as error:
        notes.append(f"exposure on {surface}: {error}")
        return Exposure(surface, exposed_counts, assigned_counts, {}, rows, notes)
    if not balance.passed:
        notes.append(
            f"treatment changed who is exposed on {surface} (exposure rates "
            + ", ".join(f"{v} {r:.1%}" for v, r in balance.rates.items())
            + f", p = {balance.p_value:.2g}): the exposed users of the arms are not comparable, "
            "so the triggered analysis is biased; read the intention-to-treat result"
        )
    for variant in (v.variant for v in declared if not v.is_control):
        if control not in triggered or variant not in triggered:
            notes.append(f"{variant}: no exposed users on {surface} in one of the arms")
            continue
        for metric in plain:
            try:
                effect = estimate(metric, triggered[control], triggered[variant], experiment.alpha)
                itt = estimate(metric, assigned[control], assigned[variant], experiment.alpha)
                diluted = dilute(
                    effect, _share(metric, triggered[control], assigned[control]), itt.control_value
                )
            except ValueError as error:
                notes.append(f"{metric.name}, {variant}: {error}")
                continue
            rows.append(
                {
                    "metric": metric.name,
                    "variant": variant,
                    "triggered": effect_row(effect),
                    "diluted": asdict(diluted),
                    "itt": effect_row(itt),
                }
            )
    return Exposure(
        surface=surface,
        exposed={v: exposed_counts.get(v, 0) for v in assigned_counts},
        assigned=assigned_counts,
        balance={
            "rates": dict(balance.rates),
            "statistic": balance.statistic,
            "p_value": balance.p_value,
            "passed": balance.passed,
        },
        rows=rows,
        notes=notes,
    )
