"""Does the effect differ between segments? Cochran's Q on per-segment effect estimates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Heterogeneity:
    """Cochran's Q test of equal effects across segments, with I² and the pooled effect.

    `pooled` is the inverse-variance (fixed-effect) mean of the segment effects and
    `pooled_se` its standard error; `df` is the number of segments − 1.
    """

    q: float
    df: int
    p_value: float
    i_squared: float
    pooled: float
    pooled_se: float


def cochran_q(effects: Sequence[float], standard_errors: Sequence[float]) -> Heterogeneity:
    """Cochran's (1954) Q test of homogeneity of K independent effect estimates.

    With weights w_k = 1/se_k²:

        pooled = Σ w_k·e_k / Σ w_k,   pooled_se = 1/√(Σ w_k)
        Q      = Σ w_k·(e_k − pooled)²  ~  χ²_{K−1} under H0: every segment has the same effect
        I²     = max(0, (Q − (K − 1)) / Q)   (Higgins & Thompson 2002; 0 when Q = 0)

    p = P(χ²_{K−1} ≥ Q). The same numbers as statsmodels' `combine_effects` (its fixed-effect
    mean, `q`, `i2` and `test_homogeneity`). Assumes the segment estimates are independent
    (disjoint users, e.g. one Welch estimate per platform) and close to normal with known
    standard errors; with few users per segment the plug-in se makes Q somewhat liberal.
    I² is the share of the spread between segments beyond chance: a descriptive figure, not a
    test. A significant Q says the effect differs somewhere, not where.

    ValueError for fewer than 2 segments, lengths that differ, a non-finite effect, or a
    standard error that is not positive and finite.
    """
    e = np.asarray(effects, dtype=float)
    se = np.asarray(standard_errors, dtype=float)
    if e.ndim != 1 or se.ndim != 1 or len(e) != len(se):
        raise ValueError(
            f"effects and standard_errors must be flat sequences of the same length, got "
            f"shapes {e.shape} and {se.shape}"
        )
    if len(e) < 2:
        raise ValueError(f"Cochran's Q needs at least 2 segments, got {len(e)}")
    bad_effects = [int(i) for i in np.flatnonzero(~np.isfinite(e))]
    if bad_effects:
        raise ValueError(f"segment effects must be finite; check segments {bad_effects}")
    bad_se = [int(i) for i in np.flatnonzero(~(np.isfinite(se) & (se > 0)))]
    if bad_se:
        raise ValueError(
            f"standard errors must be positive and finite; check segments {bad_se} "
            f"({[float(se[i]) for i in bad_se]})"
        )
    # weights relative to the most precise segment: 1/se² itself overflows for tiny se
    relative = (se.min() / se) ** 2
    pooled = float(np.sum(relative * e) / np.sum(relative))
    pooled_se = float(se.min() / math.sqrt(np.sum(relative)))
    q = float(np.sum(((e - pooled) / se) ** 2))
    df = len(e) - 1
    i_squared = 0.0 if q <= df else (q - df) / q
    return Heterogeneity(
        q=q,
        df=df,
        p_value=float(stats.chi2.sf(q, df)),
        i_squared=i_squared,
        pooled=pooled,
        pooled_se=pooled_se,
    )
