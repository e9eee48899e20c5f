"""An experiment readout: validate the mart, check SRM, estimate every configured metric for
every treatment variant, correct for multiple testing, judge guardrails, decide.

Only per-variant aggregates leave the warehouse, except for validation (the columns the suite
checks) and metrics configured with `bootstrap: true` (that metric's columns).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any, Literal

from metricbook import contract
from metricbook.errors import DataValidationError
from metricbook.readout import queries
from metricbook.readout.config import Config, ExperimentConfig, Guardrail, Metric
from metricbook.readout.queries import DeclaredVariant
from metricbook.readout.validation import ValidationReport, validate_experiment
from metricbook.stats import (
    Aggregates,
    CtrDecomposition,
    EffectEstimate,
    SrmResult,
    adjust_p_values,
    always_valid,
    ctr_decomposition,
    cuped_mean,
    cuped_ratio,
    delta_ratio,
    percentile_bootstrap,
    srm_test,
    two_proportion_z,
    welch_t,
)
from metricbook.warehouse.connection import ColumnKind, Warehouse

Verdict = Literal["ship", "do not ship", "inconclusive"]
GuardrailStatus = Literal["ok", "harmed", "inconclusive"]
# The counts and amounts validation checks: fct_experiment_user_metrics's columns flagged
# `meta: {count: true}` in its contract (models/marts/experiments/_experiments__models.yml).
COUNT_COLUMNS = tuple(contract.count_columns(queries.USER_METRICS))


@dataclass(frozen=True)
class MetricResult:
    """One metric for one treatment variant against the control: a row of the readout."""

    metric: str
    role: Literal["primary", "secondary", "guardrail", "diagnostic"]
    kind: str
    method: str
    numerator: str
    denominator: str | None
    covariate: str | None
    variant: str
    control_variant: str
    n_control: int
    n_treatment: int
    control_value: float
    treatment_value: float
    diff: float
    diff_se: float
    diff_ci_low: float
    diff_ci_high: float
    rel_lift: float
    rel_lift_ci_low: float
    rel_lift_ci_high: float
    p_value: float
    p_value_adjusted: float
    alpha: float
    significant: bool
    variance_reduction: float | None = None
    unadjusted: dict[str, float] | None = None
    p_value_always_valid: float | None = None
    always_valid_ci_low: float | None = None
    always_valid_ci_high: float | None = None
    bootstrap: dict[str, float] | None = None
    guardrail: dict[str, Any] | None = None


@dataclass(frozen=True)
class VariantDecision:
    variant: str
    verdict: Verdict
    reasons: list[str]


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reasons: list[str]
    by_variant: list[VariantDecision] = field(default_factory=list)


@dataclass(frozen=True)
class Readout:
    experiment_id: str
    target: str
    alpha: float
    correction: str
    srm: SrmResult
    results: list[MetricResult]
    decision: Decision
    validation: ValidationReport
    # what the caller was warned about and chose to read anyway (`analyze --allow-stale`)
    warnings: tuple[str, ...] = ()
    # per treatment variant: its pooled CTR change split into rate and position-mix effects
    ctr_decomposition: dict[str, CtrDecomposition] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `metricbook analyze --format json`."""
        srm = self.srm
        return {
            "experiment_id": self.experiment_id,
            "target": self.target,
            "alpha": self.alpha,
            "correction": self.correction,
            "srm": {
                "p_value": srm.p_value,
                "statistic": srm.statistic,
                "counts": dict(srm.counts),
                "expected_shares": dict(srm.expected_shares),
                "expected_counts": dict(srm.expected_counts),
                "threshold": srm.threshold,
                "passed": srm.passed,
            },
            "results": [_jsonable(asdict(result)) for result in self.results],
            "decision": _jsonable(asdict(self.decision)),
            "validation": {
                "passed": self.validation.passed,
                "warnings": [o.explain() for o in self.validation.warnings],
            },
            "warnings": list(self.warnings),
            "ctr_decomposition": {
                variant: _jsonable(asdict(split))
                for variant, split in self.ctr_decomposition.items()
            },
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def estimate(
    metric: Metric, control: Aggregates, treatment: Aggregates, alpha: float
) -> EffectEstimate:
    """The method the metric's kind and covariate call for."""
    if metric.kind == "ratio":
        if metric.covariate and metric.covariate_denominator:
            return cuped_ratio(
                control,
                treatment,
                metric.numerator,
                metric.denominator,
                metric.covariate,
                metric.covariate_denominator,
                alpha,
            )
        return delta_ratio(control, treatment, metric.numerator, metric.denominator, alpha)
    if metric.kind == "proportion":
        return two_proportion_z(control, treatment, metric.numerator, alpha)
    if metric.covariate:
        return cuped_mean(control, treatment, metric.numerator, metric.covariate, alpha)
    return welch_t(control, treatment, metric.numerator, alpha)


def guardrail_status(result: EffectEstimate, guardrail: Guardrail) -> GuardrailStatus:
    """Non-inferiority on the relative lift: harm is a change beyond `margin` in the harmful
    direction. 'ok' when the CI excludes such harm, 'harmed' when the CI lies entirely beyond
    the margin, 'inconclusive' when it straddles it."""
    if guardrail.harmful_direction == "increase":
        if result.rel_lift_ci_high < guardrail.margin:
            return "ok"
        return "harmed" if result.rel_lift_ci_low > guardrail.margin else "inconclusive"
    if result.rel_lift_ci_low > -guardrail.margin:
        return "ok"
    return "harmed" if result.rel_lift_ci_high < -guardrail.margin else "inconclusive"


def _role(
    metric: str, experiment: ExperimentConfig
) -> Literal["primary", "secondary", "guardrail", "diagnostic"]:
    if metric == experiment.primary:
        return "primary"
    if metric in experiment.secondary:
        return "secondary"
    return "diagnostic" if metric in experiment.diagnostics else "guardrail"


def decide(
    experiment: ExperimentConfig, srm: SrmResult, results: Sequence[MetricResult]
) -> Decision:
    """ship: SRM passed, the primary metric significant (after correction) in the intended
    direction, and no guardrail harmed or left inconclusive. do not ship: the primary
    significant the wrong way, or a guardrail harmed beyond its margin. Otherwise
    inconclusive. With several treatments each gets a verdict; the experiment ships when one
    does (the one with the largest primary lift)."""
    by_variant = []
    for variant in dict.fromkeys(r.variant for r in results):
        rows = [r for r in results if r.variant == variant]
        primary = next(r for r in rows if r.role == "primary")
        reasons: list[str] = []
        verdict: Verdict = "inconclusive"
        wanted = 1 if experiment.primary_direction == "increase" else -1
        if not srm.passed:
            reasons.append(
                f"SRM failed (p = {srm.p_value:.2g} < {srm.threshold}): the split is not the "
                "designed one, so no result can be trusted; find the cause first"
            )
        elif primary.significant and math.copysign(1, primary.diff) != wanted:
            verdict = "do not ship"
            reasons.append(
                f"primary {primary.metric} moved the wrong way ({primary.rel_lift:+.2%}, "
                f"adjusted p = {primary.p_value_adjusted:.3g})"
            )
        harmed = [r for r in rows if r.guardrail and r.guardrail["status"] == "harmed"]
        unclear = [r for r in rows if r.guardrail and r.guardrail["status"] == "inconclusive"]
        for row in harmed:
            verdict = "do not ship"
            reasons.append(
                f"guardrail {row.metric} harmed beyond its {row.guardrail['margin']:.0%} margin "
                f"(lift {row.rel_lift:+.2%}, CI {row.rel_lift_ci_low:+.2%} to "
                f"{row.rel_lift_ci_high:+.2%})"
            )
        for row in unclear:
            reasons.append(
                f"guardrail {row.metric}: cannot rule out harm beyond "
                f"{row.guardrail['margin']:.0%} (CI {row.rel_lift_ci_low:+.2%} to "
                f"{row.rel_lift_ci_high:+.2%})"
            )
        if srm.passed and verdict == "inconclusive":
            if primary.significant and math.copysign(1, primary.diff) == wanted:
                reasons.insert(
                    0,
                    f"primary {primary.metric} {primary.rel_lift:+.2%} (CI "
                    f"{primary.rel_lift_ci_low:+.2%} to {primary.rel_lift_ci_high:+.2%}, "
                    f"adjusted p = {primary.p_value_adjusted:.3g})",
                )
                if not unclear:
                    verdict = "ship"
                    reasons.append("SRM passed; every guardrail within its margin")
            else:
                reasons.insert(
                    0,
                    f"primary {primary.metric} not significant (lift {primary.rel_lift:+.2%}, "
                    f"adjusted p = {primary.p_value_adjusted:.3g} >= {primary.alpha})",
                )
        by_variant.append(VariantDecision(variant, verdict, reasons))
    shipping = [d for d in by_variant if d.verdict == "ship"]
    if shipping:
        lift = {r.variant: r.rel_lift for r in results if r.role == "primary"}
        best = max(shipping, key=lambda d: lift[d.variant])
        return Decision("ship", [f"ship {best.variant}", *best.reasons], by_variant)
    if all(d.verdict == "do not ship" for d in by_variant):
        reasons = [f"{d.variant}: {reason}" for d in by_variant for reason in d.reasons]
        return Decision("do not ship", reasons, by_variant)
    reasons = [f"{d.variant}: {reason}" for d in by_variant for reason in d.reasons]
    return Decision("inconclusive", reasons, by_variant)


def analyze(
    warehouse: Warehouse,
    config: Config,
    experiment_id: str,
    target: str = "duckdb",
    bootstrap_resamples: int = 2000,
    seed: int = 0,
    aggregate: Callable[..., dict[str, Aggregates]] = queries.variant_aggregates,
) -> Readout:
    """The readout of one experiment. `aggregate` computes the per-variant aggregates; the
    default pushes them down to the warehouse (the benchmark swaps in a pandas version)."""
    experiment = config.experiment(experiment_id)
    metrics = config.metrics_of(experiment)
    declared = queries.declared_variants(warehouse, experiment_id)
    controls = [v.variant for v in declared if v.is_control]
    counts = queries.assignment_counts(warehouse, experiment_id)

    columns = list(dict.fromkeys(c for metric in metrics for c in metric.columns))
    available = set(queries.mart_columns(warehouse, queries.USER_METRICS))
    checked = [column for column in COUNT_COLUMNS if column in available]
    validation = validate_experiment(warehouse, experiment_id, declared, checked)
    validation.raise_for_failures(experiment_id)
    control = controls[0]

    try:
        srm = srm_test(
            {v.variant: counts.get(v.variant, 0) for v in declared},
            {v.variant: v.traffic_share for v in declared},
            experiment.srm_threshold,
        )
    except ValueError as error:
        raise DataValidationError(f"experiment '{experiment_id}': SRM check: {error}") from None
    pairs = [pair for metric in metrics for pair in combinations(metric.columns, 2)]
    aggregates = aggregate(warehouse, experiment_id, columns, pairs)
    if control not in aggregates:
        raise DataValidationError(
            f"experiment '{experiment_id}' has no users in control '{control}'"
        )
    guardrails = {g.metric: g for g in experiment.guardrails}

    estimates: list[tuple[Metric, str, EffectEstimate]] = []
    for variant in [v.variant for v in declared if not v.is_control]:
        if variant not in aggregates:
            raise DataValidationError(f"experiment '{experiment_id}' has no users in '{variant}'")
        for metric in metrics:
            try:
                result = estimate(
                    metric, aggregates[control], aggregates[variant], experiment.alpha
                )
            except ValueError as error:  # the data leaves the test undefined (one user, ...)
                raise DataValidationError(
                    f"experiment '{experiment_id}', metric {metric.name}, {variant}: {error}"
                ) from None
            estimates.append((metric, variant, result))
    adjusted = _adjusted_by_family(
        [(_role(metric.name, experiment), effect.p_value) for metric, _, effect in estimates],
        experiment.correction,
    )

    results = []
    for (metric, variant, effect), p_adjusted in zip(estimates, adjusted, strict=True):
        role = _role(metric.name, experiment)
        sequential = always_valid(
            effect.diff,
            effect.diff_se**2,
            experiment.alpha,
            n_control=effect.n_control,
            n_treatment=effect.n_treatment,
        )
        guardrail = None
        if metric.name in guardrails:
            rule = guardrails[metric.name]
            guardrail = {
                "harmful_direction": rule.harmful_direction,
                "margin": rule.margin,
                "status": guardrail_status(effect, rule),
            }
        results.append(
            MetricResult(
                metric=metric.name,
                role=role,
                kind=metric.kind,
                method=effect.method,
                numerator=metric.numerator,
                denominator=metric.denominator,
                covariate=metric.covariate_label,
                variant=variant,
                control_variant=control,
                n_control=effect.n_control,
                n_treatment=effect.n_treatment,
                control_value=effect.control_value,
                treatment_value=effect.treatment_value,
                diff=effect.diff,
                diff_se=effect.diff_se,
                diff_ci_low=effect.diff_ci_low,
                diff_ci_high=effect.diff_ci_high,
                rel_lift=effect.rel_lift,
                rel_lift_ci_low=effect.rel_lift_ci_low,
                rel_lift_ci_high=effect.rel_lift_ci_high,
                p_value=effect.p_value,
                p_value_adjusted=p_adjusted,
                alpha=experiment.alpha,
                # a diagnostic describes; it claims nothing, so it is never "significant"
                significant=role != "diagnostic" and p_adjusted < experiment.alpha,
                variance_reduction=effect.variance_reduction,
                unadjusted=_unadjusted(effect),
                p_value_always_valid=sequential.p_value,
                always_valid_ci_low=sequential.ci_low,
                always_valid_ci_high=sequential.ci_high,
                bootstrap=_bootstrap(
                    warehouse,
                    experiment_id,
                    metric,
                    control,
                    variant,
                    experiment.alpha,
                    bootstrap_resamples,
                    seed,
                ),
                guardrail=guardrail,
            )
        )
    return Readout(
        experiment_id=experiment_id,
        target=target,
        alpha=experiment.alpha,
        correction=experiment.correction,
        srm=srm,
        results=results,
        decision=decide(experiment, srm, results),
        validation=validation,
        ctr_decomposition=_ctr_decompositions(warehouse, experiment_id, control, declared),
    )


def _ctr_decompositions(
    warehouse: Warehouse, experiment_id: str, control: str, declared: Sequence[DeclaredVariant]
) -> dict[str, CtrDecomposition]:
    """Each treatment's CTR change against control, split into rate and mix (an arm without a
    positioned impression has no split: it is left out, never an error of the readout)."""
    counts = queries.position_counts(warehouse, experiment_id)
    splits = {}
    for variant in (v.variant for v in declared if not v.is_control):
        try:
            splits[variant] = ctr_decomposition(counts.get(control, {}), counts.get(variant, {}))
        except ValueError:
            continue
    return splits


def _adjusted_by_family(roles_and_p: Sequence[tuple[str, float]], method: str) -> list[float]:
    """Multiple-testing correction within each family: the primary metric (across treatment
    variants: it is pre-registered, so only the number of arms multiplies it), the secondary
    metrics, and the guardrails. Correcting the primary for every secondary metric reported
    beside it would make adding a chart cost power on the decision. Diagnostics are descriptive:
    their p-values are reported as they are (no family, no decision)."""
    adjusted = [p if role == "diagnostic" else math.nan for role, p in roles_and_p]
    for role in ("primary", "secondary", "guardrail"):
        positions = [i for i, (r, _) in enumerate(roles_and_p) if r == role]
        values = adjust_p_values([roles_and_p[i][1] for i in positions], method)
        for position, value in zip(positions, values, strict=True):
            adjusted[position] = value
    return adjusted


def _unadjusted(effect: EffectEstimate) -> dict[str, float] | None:
    plain = effect.unadjusted
    if plain is None:
        return None
    return {
        "method": plain.method,
        "control_value": plain.control_value,
        "treatment_value": plain.treatment_value,
        "diff": plain.diff,
        "diff_se": plain.diff_se,
        "diff_ci_low": plain.diff_ci_low,
        "diff_ci_high": plain.diff_ci_high,
        "rel_lift": plain.rel_lift,
        "p_value": plain.p_value,
    }


def _bootstrap(
    warehouse: Warehouse,
    experiment_id: str,
    metric: Metric,
    control: str,
    variant: str,
    alpha: float,
    n_resamples: int,
    seed: int,
) -> dict[str, float] | None:
    if not metric.bootstrap:
        return None
    columns = [metric.numerator] + ([metric.denominator] if metric.denominator else [])
    rows = queries.user_rows(warehouse, experiment_id, columns)
    arms = {
        name: rows.loc[rows["variant"] == name, columns].astype(float).to_numpy()
        for name in (control, variant)
    }
    if metric.kind == "ratio":
        result = percentile_bootstrap(
            arms[control], arms[variant], "ratio_diff", alpha, n_resamples, seed
        )
    else:
        result = percentile_bootstrap(
            arms[control][:, 0], arms[variant][:, 0], "mean_diff", alpha, n_resamples, seed
        )
    return {
        "method": "percentile_bootstrap",
        "n_resamples": result.n_resamples,
        "diff_se": result.se,
        "diff_ci_low": result.ci_low,
        "diff_ci_high": result.ci_high,
        "rel_lift_ci_low": result.rel_lift_ci_low,
        "rel_lift_ci_high": result.rel_lift_ci_high,
    }


# The columns of `--write`'s table beside MetricResult's scalar fields, and their kinds.
RESULT_ROW_EXTRAS: tuple[tuple[str, ColumnKind], ...] = (
    ("srm_p_value", "double"),
    ("srm_passed", "boolean"),
    ("decision", "text"),
)


def _column_kind(annotation: Any) -> ColumnKind | None:
    """The table type of a MetricResult field; None for the nested (dict) fields."""
    options = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is Literal:
        return "text"
    if options and typing.get_origin(annotation) is not dict:
        return _column_kind(options[0])
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "bigint"
    if annotation is float:
        return "double"
    if annotation is str:
        return "text"
    return None


def result_columns() -> tuple[tuple[str, ColumnKind], ...]:
    """The fixed schema of `--write`'s table, from MetricResult's fields (not from a frame's
    dtypes, so a column that is None in every row keeps its type): the experiment id, every
    scalar field, then the readout-wide columns."""
    hints = typing.get_type_hints(MetricResult)
    fields = [
        (f.name, kind)
        for f in dataclasses.fields(MetricResult)
        if (kind := _column_kind(hints[f.name])) is not None
    ]
    return (("experiment_id", "text"), *fields, *RESULT_ROW_EXTRAS)


def result_rows(readout: Readout) -> list[Mapping[str, Any]]:
    """Rows for `--write`: one per metric and variant, with exactly result_columns()."""
    names = [name for name, _ in result_columns()]
    rows = []
    for result in readout.results:
        flat = asdict(result)
        flat["experiment_id"] = readout.experiment_id
        flat["srm_p_value"] = readout.srm.p_value
        flat["srm_passed"] = readout.srm.passed
        flat["decision"] = readout.decision.verdict
        rows.append({name: flat[name] for name in names})
    return rows
