"""The result every causal method returns, and the naive pre/post comparison.

`estimate` is the absolute effect on the metric per treated unit-day in the post period.
relative_effect = estimate / counterfactual, with counterfactual = (the treated units' post-period
mean) − estimate: what the treated would have averaged without the launch. It is nan when the
counterfactual is 0. relative_ci_low/high are the absolute CI divided by the same
counterfactual (the ends swapped when it is negative), ignoring the counterfactual's own
uncertainty: they are too narrow when it is noisy. diagnostics["counterfactual_post_mean"]
holds the divisor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from metricbook.stats.causal.panel import Panel


@dataclass(frozen=True)
class CausalResult:
    """One method's estimate of the launch's effect; see the module docstring for the fields."""

    method: str
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    relative_effect: float
    relative_ci_low: float
    relative_ci_high: float
    assumptions: tuple[str, ...]
    diagnostics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NaivePrePost:
    """treated post mean − treated pre mean, and that relative to the treated pre mean (nan when
    the pre mean is 0). No comparison group: any concurrent change is attributed to the launch."""

    estimate: float
    relative: float
    pre_mean: float
    post_mean: float


def naive_pre_post(panel: Panel) -> NaivePrePost:
    """The before/after difference of the treated units' unit-day means (the strawman)."""
    treated = panel.frame.loc[panel.frame["is_treated"]]
    pre = treated.loc[~treated["is_post"], "y"]
    post = treated.loc[treated["is_post"], "y"]
    if pre.empty or post.empty:
        raise ValueError("naive pre/post needs treated rows both before and after the launch")
    pre_mean, post_mean = float(pre.mean()), float(post.mean())
    estimate = post_mean - pre_mean
    relative = estimate / pre_mean if pre_mean != 0 else math.nan
    return NaivePrePost(
        estimate=estimate, relative=relative, pre_mean=pre_mean, post_mean=post_mean
    )


def treated_post_mean(panel: Panel) -> float:
    rows = panel.frame.loc[panel.frame["is_treated"] & panel.frame["is_post"], "y"]
    if rows.empty:
        raise ValueError("no treated rows in the post period")
    return float(rows.mean())


def make_result(
    method: str,
    estimate: float,
    ci: tuple[float, float],
    p_value: float,
    treated_post: float,
    assumptions: tuple[str, ...],
    diagnostics: dict[str, Any],
) -> CausalResult:
    """Assemble a CausalResult, deriving the relative fields from the counterfactual mean."""
    counterfactual = treated_post - estimate
    if counterfactual == 0:
        relative = (math.nan, math.nan, math.nan)
    else:
        relative = (estimate / counterfactual, ci[0] / counterfactual, ci[1] / counterfactual)
        if counterfactual < 0:
            relative = (relative[0], relative[2], relative[1])
    return CausalResult(
        method=method,
        estimate=float(estimate),
        ci_low=float(ci[0]),
        ci_high=float(ci[1]),
        p_value=float(p_value),
        relative_effect=float(relative[0]),
        relative_ci_low=float(relative[1]),
        relative_ci_high=float(relative[2]),
        assumptions=assumptions,
        diagnostics={"counterfactual_post_mean": float(counterfactual), **diagnostics},
    )


def check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
