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
from metricbook.readout.balance import Balance, balance_check
from metricbook.readout.config import Config, ExperimentConfig, Guardrail, Metric
from metricbook.readout.effects import effect_row, estimate
from metricbook.readout.exposure import Exposure, exposure_section
from metricbook.readout.over_time import OverTime, over_time
from metricbook.readout.queries import DeclaredVariant
from metricbook.readout.segments import (
    PostStratification,
    SegmentSection,
    post_stratification,
    segment_columns,
    segment_section,
)
from metricbook.readout.validation import (
    ValidationReport,
    likely_cached,
    start_import,
    summary_expressions,
    validate_experiment,
)
from metricbook.stats import (
    Aggregates,
    CtrDecomposition,
    EffectEstimate,
    NormalPrior,
    QuantileArm,
    SrmResult,
    adjust_p_values,
    always_valid,
    bayesian_view,
    ctr_decomposition,
    percentile_bootstrap,
    quantile_difference,
    quantile_ranks,
    srm_test,
)
from metricbook.warehouse.connection import ColumnKind, Warehouse

Verdict = Literal["ship", "do not ship", "inconclusive"]
GuardrailStatus = Literal["ok", "harmed", "inconclusive"]
# The counts and amounts validation checks: fct_experiment_user_metrics's columns flagged
# `meta: {count: true}` in its contract (models/marts/experiments/_experiments__models.yml).
COUNT_COLUMNS = tuple(contract.count_columns(queries.USER_METRICS))
# The columns the pre-period balance check reads (flagged `meta: {pre_period: true}`).
PRE_PERIOD_COLUMNS = tuple(contract.flagged_columns(queries.USER_METRICS, "pre_period"))


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
    # what capping changed: the cap, how it was set, the users capped per arm, the uncapped test
    cap: dict[str, Any] | None = None
    # the normal-approximation posterior of the relative lift (never the decision, unless
    # the experiment's bayesian.decide says so)
    bayesian: dict[str, Any] | None = None
    # the post-stratified estimate, and whether the decision used it (imbalanced split)
    post_stratified: dict[str, Any] | None = None
    # which p-value `p_value_adjusted` and `significant` are about: fixed_horizon or
    # always_valid (sequential: true)
    decision_p: str = "fixed_horizon"


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
    # the depth sections (None when the experiment does not configure them)
    balance: Balance | None = None
    segments: SegmentSection | None = None
    post_stratification: PostStratification | None = None
    over_time: OverTime | None = None
    exposure: Exposure | None = None
    # threats to validity beside SRM: pre-period imbalance, an imbalanced split on a
    # covariate, treatment changing who is exposed
    validity_warnings: tuple[str, ...] = ()

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
            "validity_warnings": list(self.validity_warnings),
            **{
                name: None if section is None else _jsonable(asdict(section))
                for name, section in (
                    ("balance", self.balance),
                    ("segments", self.segments),
                    ("post_stratification", self.post_stratification),
                    ("over_time", self.over_time),
                    ("exposure", self.exposure),
                )
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


@dataclass(frozen=True)
class _PrimaryEvidence:
    """What the decision reads of the primary: did it move in the wanted direction, the wrong
    one, and how to say so."""

    wins: bool
    loses: bool
    summary: str


def _primary_evidence(primary: MetricResult, experiment: ExperimentConfig) -> _PrimaryEvidence:
    wanted = 1 if experiment.primary_direction == "increase" else -1
    settings = experiment.bayesian
    if settings.decide and primary.bayesian is not None:
        chance = primary.bayesian["chance_to_win"]
        return _PrimaryEvidence(
            wins=chance >= settings.min_chance_to_win,
            loses=chance <= 1 - settings.min_chance_to_win,
            summary=f"primary {primary.metric} {primary.rel_lift:+.2%}, chance to win "
            f"{chance:.1%} (the Bayesian rule: ship at >= {settings.min_chance_to_win:.0%}; "
            f"prior N({settings.prior_mean:g}, {settings.prior_sd:g}) on the relative lift)",
        )
    stratified = primary.post_stratified
    if stratified and stratified.get("used_in_decision"):
        significant = stratified["p_value_adjusted"] < primary.alpha
        sign = math.copysign(1, stratified["diff"])
        return _PrimaryEvidence(
            wins=significant and sign == wanted,
            loses=significant and sign != wanted,
            summary=f"primary {primary.metric} post-stratified {stratified['rel_lift']:+.2%} (CI "
            f"{stratified['rel_lift_ci_low']:+.2%} to {stratified['rel_lift_ci_high']:+.2%}, "
            f"adjusted p = {stratified['p_value_adjusted']:.3g}; the split is imbalanced, the "
            f"unadjusted lift is {primary.rel_lift:+.2%})",
        )
    sign = math.copysign(1, primary.diff)
    which = "always-valid adjusted p" if primary.decision_p == "always_valid" else "adjusted p"
    return _PrimaryEvidence(
        wins=primary.significant and sign == wanted,
        loses=primary.significant and sign != wanted,
        summary=f"primary {primary.metric} {primary.rel_lift:+.2%} (CI "
        f"{primary.rel_lift_ci_low:+.2%} to {primary.rel_lift_ci_high:+.2%}, "
        f"{which} = {primary.p_value_adjusted:.3g})",
    )


def decide(
    experiment: ExperimentConfig, srm: SrmResult, results: Sequence[MetricResult]
) -> Decision:
    """ship: SRM passed, the primary metric significant (after correction) in the intended
    direction, and no guardrail harmed or left inconclusive. do not ship: the primary
    significant the wrong way, or a guardrail harmed beyond its margin. Otherwise
    inconclusive. With several treatments each gets a verdict; the experiment ships when one
    does (the one with the largest primary lift).

    "Significant" is the experiment's rule: the fixed-horizon adjusted p by default, the
    always-valid one with `sequential: true`, the post-stratified estimate when the split is
    imbalanced on a post_stratify covariate, and the chance to win with `bayesian.decide`."""
    by_variant = []
    for variant in dict.fromkeys(r.variant for r in results):
        rows = [r for r in results if r.variant == variant]
        primary = next(r for r in rows if r.role == "primary")
        evidence = _primary_evidence(primary, experiment)
        reasons: list[str] = []
        verdict: Verdict = "inconclusive"
        if not srm.passed:
            reasons.append(
                f"SRM failed (p = {srm.p_value:.2g} < {srm.threshold}): the split is not the "
                "designed one, so no result can be trusted; find the cause first"
            )
        elif evidence.loses:
            verdict = "do not ship"
            reasons.append(f"moved the wrong way: {evidence.summary}")
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
            if evidence.wins:
                reasons.insert(0, evidence.summary)
                if not unclear:
                    verdict = "ship"
                    reasons.append("SRM passed; every guardrail within its margin")
            else:
                reasons.insert(0, f"not significant: {evidence.summary}")
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


def _capped_aggregates(
    warehouse: Warehouse,
    experiment_id: str,
    metric: Metric,
    pairs: Sequence[tuple[str, str]],
) -> tuple[dict[str, Aggregates], dict[str, Any]]:
    """The metric's aggregates with its numerator capped, and what the capping did: the cap
    (a pooled percentile computed in the warehouse, or the configured value) and the users
    above it per arm."""
    if metric.cap_value is not None:
        cap, how = metric.cap_value, f"the configured value {metric.cap_value:g}"
    else:
        assert metric.cap_percentile is not None
        cap = queries.pooled_quantile(
            warehouse, experiment_id, metric.numerator, metric.cap_percentile
        )
        how = f"the {metric.cap_percentile:g} quantile of both arms pooled"
    if not math.isfinite(cap):
        raise DataValidationError(
            f"experiment '{experiment_id}', metric {metric.name}: the cap is undefined (no users)"
        )
    capped = queries.variant_aggregates(
        warehouse, experiment_id, metric.columns, pairs, caps={metric.numerator: cap}
    )
    users = queries.capped_counts(warehouse, experiment_id, metric.numerator, cap)
    return capped, {"column": metric.numerator, "cap": cap, "set_by": how, "capped_users": users}


def quantile_estimate(
    warehouse: Warehouse,
    experiment_id: str,
    metric: Metric,
    counts: Mapping[str, int],
    control: str,
    variant: str,
    alpha: float,
) -> EffectEstimate:
    """The quantile metric's difference from the order statistics the warehouse returns at the
    ranks the order-statistic interval needs (one sort per arm, no rows pulled)."""
    assert metric.quantile is not None
    ranks = {v: quantile_ranks(counts[v], metric.quantile, alpha) for v in (control, variant)}
    wanted = [r for q in ranks.values() for r in (q.point, q.lower, q.upper)]
    values = queries.order_statistics(warehouse, experiment_id, metric.numerator, wanted)
    arms = []
    for v in (control, variant):
        q, at = ranks[v], values.get(v, {})
        arms.append(
            QuantileArm(
                n=counts[v],
                q=metric.quantile,
                value=at.get(q.point, math.nan),
                lower_value=at.get(q.lower, math.nan),
                upper_value=at.get(q.upper, math.nan),
            )
        )
    return quantile_difference(arms[0], arms[1], alpha, metric.name)


def _direction(metric: str, experiment: ExperimentConfig) -> Literal["increase", "decrease"]:
    """The direction in which the metric's change is good."""
    for guardrail in experiment.guardrails:
        if guardrail.metric == metric:
            return "decrease" if guardrail.harmful_direction == "increase" else "increase"
    return experiment.primary_direction if metric == experiment.primary else "increase"


def _bayesian(effect: EffectEstimate, metric: str, experiment: ExperimentConfig) -> dict | None:
    settings = experiment.bayesian
    try:
        view = bayesian_view(
            effect.diff,
            effect.diff_se,
            effect.control_value,
            NormalPrior(mean=settings.prior_mean, sd=settings.prior_sd),
            _direction(metric, experiment),
            experiment.alpha,
        )
    except ValueError:
        return None  # e.g. a control value of 0: no relative lift to put a prior on
    return {**asdict(view), "direction": _direction(metric, experiment)}


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
    if not likely_cached(experiment_id):
        start_import()  # great-expectations loads while the first queries run
    experiment = config.experiment(experiment_id)
    metrics = config.metrics_of(experiment)
    segment_columns(experiment, config.source)
    declared = queries.declared_variants(warehouse, experiment_id)
    controls = [v.variant for v in declared if v.is_control]
    counts = queries.assignment_counts(warehouse, experiment_id)

    columns = list(dict.fromkeys(c for metric in metrics for c in metric.columns))
    available = set(queries.mart_columns(warehouse, queries.USER_METRICS))
    checked = [column for column in COUNT_COLUMNS if column in available]
    pairs = [
        pair
        for metric in metrics
        if metric.kind != "quantile"
        for pair in combinations(metric.columns, 2)
    ]
    balance_columns = [c for c in PRE_PERIOD_COLUMNS if c in available]
    if aggregate is queries.variant_aggregates:
        # one scan of the mart: the statistics' moments (and the balance check's pre-period
        # columns) with the validation suite's per-variant summary; nothing is read from
        # them before the suite has passed
        aggregates, summary = queries.variant_aggregates_with_summary(
            warehouse,
            experiment_id,
            list(dict.fromkeys([*columns, *balance_columns])),
            pairs,
            summary_expressions(checked, warehouse.dialect),
        )
        validation = validate_experiment(
            warehouse, experiment_id, declared, checked, variants=summary
        )
        pre_period: dict[str, Aggregates] | None = aggregates
    else:
        validation = validate_experiment(warehouse, experiment_id, declared, checked)
        aggregates, pre_period = {}, None
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
    if pre_period is None:
        aggregates = aggregate(warehouse, experiment_id, columns, pairs)
    if control not in aggregates:
        raise DataValidationError(
            f"experiment '{experiment_id}' has no users in control '{control}'"
        )
    guardrails = {g.metric: g for g in experiment.guardrails}
    capping = {
        metric.name: _capped_aggregates(
            warehouse, experiment_id, metric, list(combinations(metric.columns, 2))
        )
        for metric in metrics
        if metric.capped
    }
    arm_counts = {variant: a.count for variant, a in aggregates.items()}

    estimates: list[tuple[Metric, str, EffectEstimate, dict[str, Any] | None]] = []
    for variant in [v.variant for v in declared if not v.is_control]:
        if variant not in aggregates:
            raise DataValidationError(f"experiment '{experiment_id}' has no users in '{variant}'")
        for metric in metrics:
            cap = None
            try:
                if metric.kind == "quantile":
                    result = quantile_estimate(
                        warehouse,
                        experiment_id,
                        metric,
                        arm_counts,
                        control,
                        variant,
                        experiment.alpha,
                    )
                elif metric.name in capping:
                    capped, how = capping[metric.name]
                    result = estimate(metric, capped[control], capped[variant], experiment.alpha)
                    plain = estimate(
                        metric, aggregates[control], aggregates[variant], experiment.alpha
                    )
                    cap = {
                        **how,
                        "capped_users": {
                            v: how["capped_users"].get(v, 0) for v in (control, variant)
                        },
                        "uncapped": effect_row(plain),
                    }
                else:
                    result = estimate(
                        metric, aggregates[control], aggregates[variant], experiment.alpha
                    )
            except ValueError as error:  # the data leaves the test undefined (one user, ...)
                raise DataValidationError(
                    f"experiment '{experiment_id}', metric {metric.name}, {variant}: {error}"
                ) from None
            estimates.append((metric, variant, result, cap))

    sequential = [
        always_valid(
            effect.diff,
            effect.diff_se**2,
            experiment.alpha,
            n_control=effect.n_control,
            n_treatment=effect.n_treatment,
        )
        for _, _, effect, _ in estimates
    ]
    deciding_p = [
        bound.p_value if experiment.sequential else effect.p_value
        for (_, _, effect, _), bound in zip(estimates, sequential, strict=True)
    ]
    adjusted = _adjusted_by_family(
        [
            (_role(metric.name, experiment), p)
            for (metric, _, _, _), p in zip(estimates, deciding_p, strict=True)
        ],
        experiment.correction,
    )

    decided = [m for m in metrics if m.name not in experiment.diagnostics]
    stratified = post_stratification(warehouse, experiment, decided, declared)
    stratified_rows = _stratified_primary(stratified, experiment)

    results = []
    for (metric, variant, effect, cap), p_adjusted, bound in zip(
        estimates, adjusted, sequential, strict=True
    ):
        role = _role(metric.name, experiment)
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
                p_value_always_valid=bound.p_value,
                always_valid_ci_low=bound.ci_low,
                always_valid_ci_high=bound.ci_high,
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
                cap=cap,
                bayesian=None
                if role == "diagnostic"
                else _bayesian(effect, metric.name, experiment),
                post_stratified=stratified_rows.get((metric.name, variant)),
                decision_p="always_valid" if experiment.sequential else "fixed_horizon",
            )
        )
    primary_metrics = [m for m in metrics if m.name in (experiment.primary, *guardrails)]
    balance = balance_check(warehouse, experiment, declared, pre_period)
    exposure = exposure_section(warehouse, experiment, decided, declared, aggregates, config.source)
    warnings_ = _validity_warnings(balance, stratified, exposure, experiment)
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
        balance=balance,
        segments=segment_section(warehouse, experiment, primary_metrics, declared),
        post_stratification=stratified,
        over_time=over_time(warehouse, experiment, primary_metrics, declared, aggregates),
        exposure=exposure,
        validity_warnings=warnings_,
    )


def _stratified_primary(
    stratified: PostStratification | None, experiment: ExperimentConfig
) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (metric, variant), the post-stratified row; the primary's is adjusted across the
    treatment variants like the primary itself, and is what the decision reads when the split
    is imbalanced."""
    if stratified is None:
        return {}
    rows = {(r["metric"], r["variant"]): dict(r) for r in stratified.rows}
    primary = [key for key in rows if key[0] == experiment.primary]
    adjusted = adjust_p_values([rows[key]["p_value"] for key in primary], experiment.correction)
    for key, value in zip(primary, adjusted, strict=True):
        rows[key]["p_value_adjusted"] = value
        rows[key]["used_in_decision"] = stratified.imbalanced
    return rows


def _validity_warnings(
    balance: Balance | None,
    stratified: PostStratification | None,
    exposure: Exposure | None,
    experiment: ExperimentConfig,
) -> tuple[str, ...]:
    warnings_ = []
    if balance is not None and not balance.passed:
        columns = ", ".join(
            f"{r['column']} ({r['variant']}, adjusted p = {r['p_value_adjusted']:.2g})"
            for r in balance.rows
            if r["imbalanced"]
        )
        warnings_.append(
            f"pre-period imbalance beyond the threshold {balance.threshold}: {columns}; the "
            "arms differed before the experiment (randomisation or targeting broken?)"
        )
    if stratified is not None and stratified.imbalanced:
        detail = ", ".join(
            f"{variant} p = {v['p_value']:.2g}" for variant, v in stratified.imbalance.items()
        )
        warnings_.append(
            f"the split is imbalanced on {', '.join(stratified.covariates)} ({detail} < "
            f"{experiment.balance_threshold}): the primary is decided on its post-stratified "
            "estimate"
        )
    if exposure is not None and not exposure.balance.get("passed", True):
        warnings_.extend(exposure.notes[:1])
    return tuple(warnings_)


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
