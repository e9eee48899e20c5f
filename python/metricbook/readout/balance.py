"""Pre-period balance: an A/A test on what the users did before the experiment. Treatment
cannot have changed the pre-period, so a difference beyond chance means the arms were not
comparable (a broken randomisation, a leak of the treatment, or a targeting bug): a validity
warning beside SRM. The pre-period columns are the user mart's columns flagged
`meta: {pre_period: true}`; Holm across them keeps the false-warning rate at the threshold."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from metricbook import contract
from metricbook.readout import queries
from metricbook.readout.config import ExperimentConfig
from metricbook.readout.effects import effect_row
from metricbook.readout.queries import DeclaredVariant
from metricbook.stats import Aggregates, adjust_p_values, welch_t
from metricbook.warehouse.connection import Warehouse


@dataclass(frozen=True)
class Balance:
    threshold: float
    passed: bool
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def balance_check(
    warehouse: Warehouse,
    experiment: ExperimentConfig,
    declared: Sequence[DeclaredVariant],
    aggregates: Mapping[str, Aggregates] | None = None,
) -> Balance | None:
    """`aggregates`: per-variant moments the readout already has (every assigned user); used
    when they cover every pre-period column, else the columns are aggregated here."""
    columns = contract.flagged_columns(queries.USER_METRICS, "pre_period")
    if not columns:
        return None
    if aggregates is None or not all(
        column in a.mean and column in a.var for a in aggregates.values() for column in columns
    ):
        aggregates = queries.variant_aggregates(warehouse, experiment.experiment_id, columns, [])
    control = next(v.variant for v in declared if v.is_control)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for variant in (v.variant for v in declared if not v.is_control):
        if control not in aggregates or variant not in aggregates:
            continue
        for column in columns:
            try:
                effect = welch_t(aggregates[control], aggregates[variant], column, experiment.alpha)
            except ValueError as error:
                notes.append(f"{column}, {variant}: {error}")
                continue
            pooled_sd = math.sqrt(
                (aggregates[control].var_of(column) + aggregates[variant].var_of(column)) / 2
            )
            rows.append(
                {
                    "column": column,
                    "variant": variant,
                    "standardized_diff": effect.diff / pooled_sd if pooled_sd > 0 else math.nan,
                    **effect_row(effect),
                }
            )
    adjusted = adjust_p_values([r["p_value"] for r in rows], "holm")
    for row, value in zip(rows, adjusted, strict=True):
        row["p_value_adjusted"] = value
        row["imbalanced"] = value < experiment.balance_threshold
    passed = not any(r["imbalanced"] for r in rows)
    return Balance(experiment.balance_threshold, passed, rows, notes)
