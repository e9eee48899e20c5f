"""Causal impact of a launch without a randomised control group (issue 13).

Pure functions on a validated `Panel` (one row per unit-day of one launch), each returning a
frozen `CausalResult`: difference in differences, an event study, synthetic control and an
interrupted time series, with placebo tests and the naive pre/post comparison they improve on.
Not imported by `metricbook.stats` (linearmodels is slow to import); import this package itself.
"""

from __future__ import annotations

from dataclasses import replace

from metricbook.stats.causal.did import difference_in_differences
from metricbook.stats.causal.event_study import event_study
from metricbook.stats.causal.its import interrupted_time_series
from metricbook.stats.causal.panel import Panel
from metricbook.stats.causal.placebo import PlaceboResult, placebo_in_space, placebo_in_time
from metricbook.stats.causal.result import CausalResult, NaivePrePost, naive_pre_post
from metricbook.stats.causal.synthetic_control import synthetic_control

METHODS = ("did", "event_study", "synthetic_control", "its")


def run(
    panel: Panel,
    methods: tuple[str, ...] = METHODS,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[CausalResult, ...]:
    """The results of `methods` (names from METHODS), in the order given."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown causal methods {unknown}; choose from {METHODS}")
    results = []
    for method in methods:
        if method == "did":
            results.append(difference_in_differences(panel, alpha=alpha, seed=seed))
        elif method == "event_study":
            results.append(event_study(panel, alpha=alpha))
        elif method == "synthetic_control":
            results.append(synthetic_control(panel, alpha=alpha))
        else:
            results.append(interrupted_time_series(panel, alpha=alpha))
    return tuple(results)


def negative_control(
    panel: Panel,
    alpha: float = 0.05,
    permutations: int = 999,
    bootstrap_reps: int = 999,
    seed: int = 0,
) -> CausalResult:
    """DiD on a metric the launch should not move (`panel` built for that metric), method
    'negative_control_did'. A CI excluding 0 (or a small p) points at a bias of the design,
    e.g. a concurrent shock to the treated units; the caller decides how to warn."""
    result = difference_in_differences(
        panel, alpha=alpha, permutations=permutations, bootstrap_reps=bootstrap_reps, seed=seed
    )
    return replace(result, method="negative_control_did")


__all__ = [
    "METHODS",
    "CausalResult",
    "NaivePrePost",
    "Panel",
    "PlaceboResult",
    "difference_in_differences",
    "event_study",
    "interrupted_time_series",
    "naive_pre_post",
    "negative_control",
    "placebo_in_space",
    "placebo_in_time",
    "run",
    "synthetic_control",
]
