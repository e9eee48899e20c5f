"""Difference in differences: two-way fixed effects with unit-clustered errors, and its
small-sample inference (randomization inference and the wild cluster bootstrap).

The model, for unit i on date t (Angrist & Pischke 2009, ch. 5; Bertrand, Duflo & Mullainathan
2004 for clustering by unit):

    y_it = α_i + λ_t + β · (is_treated_i × is_post_t) + ε_it

β is the average effect per treated unit-day in the post period (with a single launch date the
TWFE estimate is the classic 2×2 DiD of means on a balanced panel, and its regression analogue
on an unbalanced one). Fitted with linearmodels PanelOLS(entity_effects=True, time_effects=True),
cov_type='clustered', cluster_entity=True, debiased=True, group_debias=True, counting the
absorbed effects (auto_df=False, count_effects=True): that is the correction
G/(G − 1) · (n − 1)/(n − k) of a dummy-variable OLS clustered by unit (statsmodels'
cov_type='cluster' default; Stata's `regress ..., vce(cluster unit)`), k counting every dummy.

With G clusters, the CI is β ± t_{G−1, 1−α/2} · se and clustered_p = 2·P(T_{G−1} > |β/se|)
(Cameron & Miller 2015, §VI: use G − 1 degrees of freedom with few clusters).

Error vs nan: ValueError for alpha outside (0, 1), permutations < 1, bootstrap_reps < 0, and a
treatment indicator collinear with the effects; wild_bootstrap_p is None when bootstrap_reps = 0.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from linearmodels import PanelOLS
from scipy import stats

from metricbook.stats.causal._twfe import CLUSTERED_FIT, Projection
from metricbook.stats.causal.panel import Panel
from metricbook.stats.causal.result import (
    CausalResult,
    check_alpha,
    make_result,
    treated_post_mean,
)

MAX_ENUMERATED_ASSIGNMENTS = 5000
RANDOMIZATION_UNITS_THRESHOLD = 10
_WEBB_WEIGHTS = np.array(
    [-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)]
)
_CHUNK = 256

DID_ASSUMPTIONS = (
    "Parallel trends: without the launch, the treated units' metric would have moved like the "
    "control units' (same date-to-date changes on average).",
    "No anticipation: the launch does not change the metric before its launch date.",
    "No spillovers: the launch does not change the control units' metric.",
    "Treatment is not chosen because of unit-specific shocks around the launch date.",
)


def difference_in_differences(
    panel: Panel,
    alpha: float = 0.05,
    permutations: int = 999,
    bootstrap_reps: int = 999,
    seed: int = 0,
) -> CausalResult:
    """Two-way fixed-effects DiD (see the module docstring) with three p-values.

    - clustered_p: the unit-clustered t test with G − 1 degrees of freedom.
    - randomization_p (Fisher randomization inference, e.g. Imbens & Rubin 2015 ch. 5): the
      treatment is re-assigned to every set of units of the real size (all C(N, N_treated) sets
      when there are at most 5000, else `permutations` sets drawn with `seed`) and the DiD
      re-estimated; p = share of assignments with |β| ≥ |β_real|, the real assignment counted
      (enumerated: it is one of the sets; sampled: (1 + #≥)/(1 + permutations)).
    - wild_bootstrap_p: the restricted wild cluster bootstrap-t (WCR: the null β = 0 imposed,
      Cameron, Gelbach & Miller 2008) with Webb's six-point weights (Webb 2013; MacKinnon &
      Webb 2017), p = share of the `bootstrap_reps` |t*| ≥ |t|.

    p_value is the randomization p when the treated or the control group has fewer than 10 units
    (the clustered t is unreliable with so few clusters on one side; MacKinnon & Webb 2017) and
    the clustered p otherwise; diagnostics["p_value_source"] names it. The CI is always the
    clustered one (diagnostics["ci_source"]); with few treated units it can be too narrow, which
    is why the randomization p is the one to read then.
    """
    check_alpha(alpha)
    if permutations < 1:
        raise ValueError(f"permutations must be at least 1, got {permutations}")
    if bootstrap_reps < 0:
        raise ValueError(f"bootstrap_reps must be non-negative, got {bootstrap_reps}")
    frame = panel.frame
    beta, se, n_clusters = _panel_ols(frame)
    projection = Projection.of(frame)
    d = (frame["is_treated"] & frame["is_post"]).to_numpy(float)
    y_tilde = projection.residualise(frame["y"].to_numpy(float)[:, None])
    d_tilde = projection.residualise(d[:, None])
    fast_beta, fast_se = projection.fit(d_tilde, y_tilde)
    assert math.isclose(fast_beta[0], beta, rel_tol=1e-6, abs_tol=1e-9 * (1 + abs(beta)))
    assert math.isclose(fast_se[0], se, rel_tol=1e-6)
    if not se > 0:
        raise ValueError("the DiD standard error is 0: the metric fits the fixed effects exactly")
    t_stat = beta / se
    df = n_clusters - 1
    critical = float(stats.t.isf(alpha / 2, df))
    clustered_p = float(2 * stats.t.sf(abs(t_stat), df))
    rng = np.random.default_rng(seed)
    randomization_p, n_assignments, enumerated = _randomization_p(
        frame, projection, y_tilde, beta, permutations, rng
    )
    wild_p = (
        _wild_bootstrap_p(projection, d_tilde, y_tilde, t_stat, bootstrap_reps, rng)
        if bootstrap_reps > 0
        else None
    )
    n_treated, n_control = len(panel.treated_units), len(panel.control_units)
    few = min(n_treated, n_control) < RANDOMIZATION_UNITS_THRESHOLD
    source = "randomization" if few else "clustered"
    return make_result(
        method="did",
        estimate=beta,
        ci=(beta - critical * se, beta + critical * se),
        p_value=randomization_p if few else clustered_p,
        treated_post=treated_post_mean(panel),
        assumptions=DID_ASSUMPTIONS,
        diagnostics={
            "n_treated_units": n_treated,
            "n_control_units": n_control,
            "n_clusters": n_clusters,
            "n_obs": len(frame),
            "n_dropped_rows": panel.n_dropped_rows,
            "se": se,
            "t_stat": t_stat,
            "df": df,
            "clustered_p": clustered_p,
            "randomization_p": randomization_p,
            "wild_bootstrap_p": wild_p,
            "n_assignments": n_assignments,
            "assignments_enumerated": enumerated,
            "bootstrap_reps": bootstrap_reps,
            "p_value_source": source,
            "ci_source": "clustered by unit (debiased, G/(G-1)·(n-1)/(n-k)), t with G-1 df",
        },
    )


def _panel_ols(frame: pd.DataFrame) -> tuple[float, float, int]:
    indexed = frame.set_index(["unit", "metric_date"])
    exog = (indexed["is_treated"] & indexed["is_post"]).astype(float).rename("treated_post")
    model = PanelOLS(
        indexed["y"], exog.to_frame(), entity_effects=True, time_effects=True, check_rank=False
    )
    fit = model.fit(**CLUSTERED_FIT)
    beta = float(fit.params["treated_post"])
    if not math.isfinite(beta):
        raise ValueError("is_treated × is_post is collinear with the unit and date effects")
    return beta, float(fit.std_errors["treated_post"]), int(frame["unit"].nunique())


def _randomization_p(
    frame: pd.DataFrame,
    projection: Projection,
    y_tilde: np.ndarray,
    beta: float,
    permutations: int,
    rng: np.random.Generator,
) -> tuple[float, int, bool]:
    n_units = projection.n_units
    n_treated = int(frame.groupby("unit")["is_treated"].first().sum())
    post = frame["is_post"].to_numpy(bool)
    total = math.comb(n_units, n_treated)
    enumerated = total <= MAX_ENUMERATED_ASSIGNMENTS
    if enumerated:
        sets = np.array(list(itertools.combinations(range(n_units), n_treated)))
    else:
        sets = np.array([rng.permutation(n_units)[:n_treated] for _ in range(permutations)])
    estimates = []
    for start in range(0, len(sets), _CHUNK):
        chunk = sets[start : start + _CHUNK]
        flags = np.zeros((len(chunk), n_units), dtype=bool)
        flags[np.arange(len(chunk))[:, None], chunk] = True
        d = (flags[:, projection.unit_codes].T & post[:, None]).astype(float)
        d_tilde = projection.residualise(d)
        dd = np.einsum("ij,ij->j", d_tilde, d_tilde)
        estimates.append((d_tilde.T @ y_tilde[:, 0]) / dd)
    values = np.abs(np.concatenate(estimates))
    # ties within rounding count as "at least as extreme" (the real one must count itself)
    at_least = int((values >= abs(beta) * (1 - 1e-9) - 1e-12).sum())
    if enumerated:
        return at_least / total, total, True
    return (1 + at_least) / (1 + permutations), permutations, False


def _wild_bootstrap_p(
    projection: Projection,
    d_tilde: np.ndarray,
    y_tilde: np.ndarray,
    t_stat: float,
    reps: int,
    rng: np.random.Generator,
) -> float:
    """WCR bootstrap: y* = restricted fit + ũ·w_g, ũ the residual of the effects-only model."""
    restricted_residual = y_tilde[:, 0]
    exceed = 0
    for start in range(0, reps, _CHUNK):
        size = min(_CHUNK, reps - start)
        weights = rng.choice(_WEBB_WEIGHTS, size=(projection.n_units, size))
        # the restricted fitted values lie in the effects' span, so ỹ* = M(ũ·w)
        y_star = projection.residualise(
            restricted_residual[:, None] * weights[projection.unit_codes]
        )
        beta_star, se_star = projection.fit(np.repeat(d_tilde, size, axis=1), y_star)
        exceed += int((np.abs(beta_star / se_star) >= abs(t_stat)).sum())
    return exceed / reps
