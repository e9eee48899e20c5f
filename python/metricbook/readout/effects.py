"""The estimate a metric's kind calls for, shared by the readout and its sections (segments,
results over time, exposure), and the compact row every section reports an effect as."""

from __future__ import annotations

import dataclasses
from typing import Any

from metricbook.readout.config import Metric
from metricbook.stats import (
    Aggregates,
    EffectEstimate,
    cuped_mean,
    cuped_ratio,
    delta_ratio,
    two_proportion_z,
    welch_t,
)


def estimate(
    metric: Metric, control: Aggregates, treatment: Aggregates, alpha: float
) -> EffectEstimate:
    """The method the metric's kind and covariate call for (quantile metrics are estimated
    from order statistics, not aggregates: see readout.quantile_estimate)."""
    if metric.kind == "ratio":
        assert metric.denominator is not None
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


def without_covariate(metric: Metric) -> Metric:
    """The metric without CUPED: where the pre-period columns are not aggregated (the daily
    mart) or the adjustment is another one (post-stratification)."""
    return dataclasses.replace(metric, covariate=None, covariate_denominator=None)


def value_columns(metric: Metric) -> tuple[str, ...]:
    """The columns of the metric itself (numerator, denominator), without its covariate."""
    return tuple(c for c in (metric.numerator, metric.denominator) if c)


def effect_row(effect: EffectEstimate) -> dict[str, Any]:
    """The fields every section reports for one effect."""
    return {
        "method": effect.method,
        "n_control": effect.n_control,
        "n_treatment": effect.n_treatment,
        "control_value": effect.control_value,
        "treatment_value": effect.treatment_value,
        "diff": effect.diff,
        "diff_se": effect.diff_se,
        "diff_ci_low": effect.diff_ci_low,
        "diff_ci_high": effect.diff_ci_high,
        "rel_lift": effect.rel_lift,
        "rel_lift_ci_low": effect.rel_lift_ci_low,
        "rel_lift_ci_high": effect.rel_lift_ci_high,
        "p_value": effect.p_value,
    }
