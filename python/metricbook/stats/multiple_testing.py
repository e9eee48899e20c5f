"""Adjusting p-values when one experiment reads many metrics (or many variants)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from statsmodels.stats.multitest import multipletests

AdjustMethod = Literal["holm", "fdr_bh"]


def adjust_p_values(p_values: Sequence[float], method: AdjustMethod) -> list[float]:
    """Adjusted p-values in the input order, as statsmodels' multipletests computes them.

    "holm": Holm (1979) step-down, controls the family-wise error rate;
        p̃_(i) = max_{j ≤ i} min(1, (m − j + 1)·p_(j)) over the sorted p-values.
    "fdr_bh": Benjamini & Hochberg (1995), controls the false discovery rate under
        independence or positive dependence; p̃_(i) = min_{j ≥ i} min(1, m·p_(j)/j).

    NaN p-values (a metric that could not be computed) stay NaN and do not count towards m;
    the others are adjusted among themselves, so an empty list or an all-NaN list comes back
    as it went in. ValueError for a p-value outside [0, 1] (±inf included) or input that is
    not a flat sequence of numbers. Every adjusted p-value is in [p, 1] or NaN.
    """
    if method not in ("holm", "fdr_bh"):
        raise ValueError(f"method must be 'holm' or 'fdr_bh', got {method!r}")
    values = np.asarray(p_values, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"p_values must be a flat sequence, got shape {values.shape}")
    present = ~np.isnan(values)
    if np.any((values[present] < 0) | (values[present] > 1)):
        raise ValueError(f"p-values must be in [0, 1], got {list(p_values)}")
    adjusted = np.full(values.shape, math.nan)
    if present.any():
        adjust = _holm if method == "holm" else _benjamini_hochberg
        adjusted[present] = adjust(values[present])
    return [float(p) for p in adjusted]


def _holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down, the same arithmetic as multipletests(method="holm"), which also runs
    gc.collect() on every call (100+ ms in a process holding a few data frames)."""
    order = np.argsort(p_values)
    m = len(p_values)
    stepped = np.maximum.accumulate(p_values[order] * np.arange(m, 0, -1))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def _benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    return multipletests(p_values, method="fdr_bh")[1]
