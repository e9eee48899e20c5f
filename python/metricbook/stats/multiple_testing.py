"""Adjusting p-values when one experiment reads many metrics (or many variants)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from statsmodels.stats.multitest import multipletests

AdjustMethod = Literal["holm", "fdr_bh"]


def adjust_p_values(p_values: Sequence[float], method: AdjustMethod) -> list[float]:
    """Adjusted p-values in the input order, via statsmodels' multipletests.

    "holm": Holm (1979) step-down, controls the family-wise error rate;
        p̃_(i) = max_{j ≤ i} min(1, (m − j + 1)·p_(j)) over the sorted p-values.
    "fdr_bh": Benjamini & Hochberg (1995), controls the false discovery rate under
        independence or positive dependence; p̃_(i) = min_{j ≥ i} min(1, m·p_(j)/j).

    NaN p-values (a metric that could not be computed) stay NaN and do not count towards m;
    the others are adjusted among themselves.
    """
    if method not in ("holm", "fdr_bh"):
        raise ValueError(f"method must be 'holm' or 'fdr_bh', got {method!r}")
    values = np.asarray(p_values, dtype=float)
    present = ~np.isnan(values)
    if np.any((values[present] < 0) | (values[present] > 1)):
        raise ValueError(f"p-values must be in [0, 1], got {list(p_values)}")
    adjusted = np.full(values.shape, math.nan)
    if present.any():
        adjusted[present] = multipletests(values[present], method=method)[1]
    return [float(p) for p in adjusted]
