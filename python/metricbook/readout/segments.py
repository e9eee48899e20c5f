"""Segments and post-stratification: the experiment's effects within pre-assignment segments
(exploratory: BH-adjusted, with SRM per segment and a heterogeneity test), and the
post-stratified estimate when the split is imbalanced on a pre-treatment covariate.

Segment columns are the user mart's columns flagged `meta: {segment: true}` in its YAML: only
attributes fixed before assignment, because a segment defined by what the user did after it
(e.g. "users who saved") is changed by the treatment and manufactures effects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from metricbook import contract
from metricbook.errors import ConfigError
from metricbook.readout import queries
from metricbook.readout.config import ExperimentConfig, Metric
from metricbook.readout.effects import effect_row, estimate, value_columns, without_covariate
from metricbook.readout.queries import DeclaredVariant
from metricbook.stats import (
    Aggregates,
    adjust_p_values,
    cochran_q,
    merge_small_strata,
    pool,
    post_stratified,
    post_stratified_ratio,
    srm_test,
    stratum_imbalance,
)
from metricbook.warehouse.connection import Warehouse

# A segment needs this many users in each arm to be estimated on its own; smaller ones are
# pooled into "other" (an estimate from a handful of users is noise with a confident CI).
MIN_SEGMENT_USERS = 10
MAX_SEGMENTS = 25


@dataclass(frozen=True)
class SegmentSection:
    """Per (dimension, segment, metric, variant): the effect with its CI, the BH-adjusted p
    across the segments of that metric and variant, and the segment's SRM; per (dimension,
    metric, variant): Cochran's Q across the segments."""

    label: str
    rows: list[dict[str, Any]]
    heterogeneity: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PostStratification:
    """The split's balance on the covariates and, per metric and variant, the post-stratified
    estimate; `imbalanced` says whether it is the estimate to read."""

    covariates: tuple[str, ...]
    imbalance: dict[str, dict[str, float]]
    imbalanced: bool
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def segment_columns(experiment: ExperimentConfig, source: str) -> list[str]:
    """The configured segment and post-stratification columns, each a declared segment."""
    declared = contract.flagged_columns(queries.USER_METRICS, "segment")
    for key in ("segments", "post_stratify"):
        for index, column in enumerate(getattr(experiment, key)):
            if column not in declared:
                raise ConfigError(
                    f"{source}: experiments.{experiment.experiment_id}.{key}[{index}]: "
                    f"'{column}' is not a segment column of {queries.USER_METRICS} (segments: "
                    f"{', '.join(declared) or 'none'}); name a pre-assignment attribute"
                )
    return list(dict.fromkeys([*experiment.segments, *experiment.post_stratify]))


def _pairs(metrics: Sequence[Metric]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(p for m in metrics for p in combinations(m.columns, 2)))


def segment_section(
    warehouse: Warehouse,
    experiment: ExperimentConfig,
    metrics: Sequence[Metric],
    declared: Sequence[DeclaredVariant],
) -> SegmentSection | None:
    """The effects of `metrics` (the primary and the guardrails) within each segment."""
    if not experiment.segments:
        return None
    control = next(v.variant for v in declared if v.is_control)
    shares = {v.variant: v.traffic_share for v in declared}
    columns = list(dict.fromkeys(c for m in metrics for c in m.columns))
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for dimension in experiment.segments:
        grouped = queries.grouped_aggregates(
            warehouse, experiment.experiment_id, columns, _pairs(metrics), by=[dimension]
        )
        by_segment: dict[str, dict[str, Aggregates]] = {}
        for (variant, segment), aggregates in grouped.items():
            by_segment.setdefault(segment, {})[variant] = aggregates
        by_segment = _largest(by_segment, dimension, notes)
        for segment in sorted(by_segment):
            arms = by_segment[segment]
            counts = {v: arms[v].count if v in arms else 0 for v in shares}
            try:
                srm = srm_test(counts, shares, experiment.srm_threshold)
            except ValueError as error:
                notes.append(f"{dimension} = {segment}: no SRM check: {error}")
                continue
            for variant in (v for v in shares if v != control):
                if min(counts[control], counts[variant]) < MIN_SEGMENT_USERS:
                    notes.append(
                        f"{dimension} = {segment}: fewer than {MIN_SEGMENT_USERS} users in "
                        f"{control} or {variant}; not estimated"
                    )
                    continue
                for metric in metrics:
                    base = {
                        "dimension": dimension,
                        "segment": segment,
                        "metric": metric.name,
                        "variant": variant,
                        "srm_p_value": srm.p_value,
                        "srm_passed": srm.passed,
                    }
                    try:
                        effect = estimate(metric, arms[control], arms[variant], experiment.alpha)
                    except ValueError as error:
                        notes.append(f"{dimension} = {segment}, {metric.name}, {variant}: {error}")
                        continue
                    rows.append({**base, **effect_row(effect)})
    _adjust_within(rows, "p_value_bh", ("metric", "variant"))
    return SegmentSection(
        label="exploratory: segments were not the pre-registered test; BH-adjusted across "
        "segments, read them as hypotheses",
        rows=rows,
        heterogeneity=_heterogeneity(rows),
        notes=notes,
    )


def _largest(
    by_segment: dict[str, dict[str, Aggregates]], dimension: str, notes: list[str]
) -> dict[str, dict[str, Aggregates]]:
    """At most MAX_SEGMENTS segments per dimension: the largest, the rest pooled into "other"
    (a dimension with thousands of values would bury the readout and every BH threshold)."""
    if len(by_segment) <= MAX_SEGMENTS:
        return by_segment
    size = {k: sum(a.count for a in arms.values()) for k, arms in by_segment.items()}
    kept = sorted(by_segment, key=lambda k: (-size[k], k))[:MAX_SEGMENTS]
    other: dict[str, Aggregates] = {}
    for segment, arms in by_segment.items():
        if segment in kept:
            continue
        for variant, aggregates in arms.items():
            other[variant] = pool(other[variant], aggregates) if variant in other else aggregates
    notes.append(
        f"{dimension}: {len(by_segment) - MAX_SEGMENTS} smaller segments pooled into 'other' "
        f"(at most {MAX_SEGMENTS} are estimated on their own)"
    )
    result = {k: by_segment[k] for k in kept}
    result["other" if "other" not in result else "other (pooled)"] = other
    return result


def _adjust_within(rows: list[dict[str, Any]], name: str, family: tuple[str, ...]) -> None:
    """Benjamini–Hochberg across every segment row of one (metric, variant)."""
    groups: dict[tuple, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(tuple(row[k] for k in family), []).append(index)
    for positions in groups.values():
        adjusted = adjust_p_values([rows[i]["p_value"] for i in positions], "fdr_bh")
        for position, value in zip(positions, adjusted, strict=True):
            rows[position][name] = value


def _heterogeneity(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Cochran's Q per (dimension, metric, variant): do the segment effects differ by more
    than their standard errors allow?"""
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["dimension"], row["metric"], row["variant"]), []).append(row)
    result = []
    for (dimension, metric, variant), members in groups.items():
        usable = [r for r in members if math.isfinite(r["diff_se"]) and r["diff_se"] > 0]
        if len(usable) < 2:
            continue
        test = cochran_q([r["diff"] for r in usable], [r["diff_se"] for r in usable])
        result.append(
            {
                "dimension": dimension,
                "metric": metric,
                "variant": variant,
                "segments": len(usable),
                "q": test.q,
                "df": test.df,
                "p_value": test.p_value,
                "i_squared": test.i_squared,
            }
        )
    return result


def post_stratification(
    warehouse: Warehouse,
    experiment: ExperimentConfig,
    metrics: Sequence[Metric],
    declared: Sequence[DeclaredVariant],
) -> PostStratification | None:
    """The post-stratified estimate of each metric on the configured covariates (their
    combinations are the strata), and whether the split is imbalanced on them."""
    covariates = tuple(experiment.post_stratify)
    if not covariates:
        return None
    control = next(v.variant for v in declared if v.is_control)
    plain = [without_covariate(m) for m in metrics if m.kind != "quantile"]
    columns = list(dict.fromkeys(c for m in plain for c in value_columns(m)))
    grouped = queries.grouped_aggregates(
        warehouse, experiment.experiment_id, columns, _pairs(plain), by=list(covariates)
    )
    strata: dict[str, dict[str, Aggregates]] = {}
    for (variant, *values), aggregates in grouped.items():
        strata.setdefault(variant, {})[" / ".join(values)] = aggregates
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    imbalance: dict[str, dict[str, float]] = {}
    for variant in (v.variant for v in declared if not v.is_control):
        control_strata, treatment_strata = merge_small_strata(
            strata.get(control, {}), strata.get(variant, {}), MIN_SEGMENT_USERS
        )
        try:
            test = stratum_imbalance(
                {k: a.count for k, a in control_strata.items()},
                {k: a.count for k, a in treatment_strata.items()},
            )
        except ValueError as error:  # one stratum left (after pooling the small ones)
            notes.append(f"{variant}: no balance test on {', '.join(covariates)}: {error}")
            imbalance[variant] = {"statistic": math.nan, "df": 0, "p_value": math.nan}
        else:
            imbalance[variant] = {
                "statistic": test.statistic,
                "df": test.df,
                "p_value": test.p_value,
            }
        for metric in plain:
            try:
                if metric.kind == "ratio":
                    assert metric.denominator is not None
                    effect = post_stratified_ratio(
                        control_strata,
                        treatment_strata,
                        metric.numerator,
                        metric.denominator,
                        experiment.alpha,
                        metric.name,
                    )
                else:
                    effect = post_stratified(
                        control_strata,
                        treatment_strata,
                        metric.numerator,
                        experiment.alpha,
                        metric.name,
                    )
            except ValueError as error:
                notes.append(f"{metric.name}, {variant}: {error}")
                continue
            rows.append(
                {
                    "metric": metric.name,
                    "variant": variant,
                    "strata": len(control_strata),
                    **effect_row(effect),
                }
            )
    imbalanced = any(
        v["p_value"] < experiment.balance_threshold for v in imbalance.values()
    )  # nan: no
    return PostStratification(covariates, imbalance, imbalanced, rows, notes)
