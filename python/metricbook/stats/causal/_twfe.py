"""Two-way fixed-effects regressions by projection, for the many refits of inference.

The TWFE coefficient of one regressor d is β = d̃'y / d̃'d̃ with d̃ = d residualised on the unit
and date dummies (Frisch–Waugh–Lovell), exact for unbalanced panels too. `Projection` holds an
orthonormal basis Q of the dummies' column space, so residualising many regressors or outcomes
at once is X − Q(Q'X). The clustered variance uses the correction of a dummy-variable OLS in
statsmodels: G/(G − 1) · (n − 1)/(n − k), k = rank of the dummies + 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# PanelOLS.fit arguments for errors clustered by unit with the correction of a dummy-variable
# OLS in statsmodels (G/(G − 1) · (n − 1)/(n − k), k counting the absorbed effects): the one
# choice the DiD and the event study share, and that the golden tests hold to 1e-8.
CLUSTERED_FIT = {
    "cov_type": "clustered",
    "cluster_entity": True,
    "debiased": True,
    "group_debias": True,
    "auto_df": False,
    "count_effects": True,
}


@dataclass(frozen=True)
class Projection:
    q: np.ndarray
    unit_codes: np.ndarray
    n_units: int
    rank: int

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Projection:
        unit_codes, units = pd.factorize(frame["unit"], sort=True)
        date_codes, dates = pd.factorize(frame["metric_date"], sort=True)
        n = len(frame)
        dummies = np.zeros((n, len(units) + len(dates)))
        dummies[np.arange(n), unit_codes] = 1.0
        dummies[np.arange(n), len(units) + date_codes] = 1.0
        u, s, _ = np.linalg.svd(dummies, full_matrices=False)
        rank = int((s > s[0] * 1e-10).sum())
        return cls(q=u[:, :rank], unit_codes=unit_codes, n_units=len(units), rank=rank)

    def residualise(self, x: np.ndarray) -> np.ndarray:
        return x - self.q @ (self.q.T @ x)

    def fit(self, d_tilde: np.ndarray, y_tilde: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """β and clustered se for each column of d̃ (n × m) against each column of ỹ (n × m)."""
        dd = np.einsum("ij,ij->j", d_tilde, d_tilde)
        beta = np.einsum("ij,ij->j", d_tilde, y_tilde) / dd
        residual = y_tilde - d_tilde * beta
        scores = np.zeros((self.n_units, d_tilde.shape[1]))
        np.add.at(scores, self.unit_codes, d_tilde * residual)
        n = d_tilde.shape[0]
        g = self.n_units
        correction = g / (g - 1) * (n - 1) / (n - self.rank - 1)
        se = np.sqrt(correction * (scores**2).sum(axis=0)) / dd
        return beta, se


def did_estimate(frame: pd.DataFrame) -> float:
    """The TWFE DiD coefficient of is_treated × is_post (no inference), for placebos."""
    projection = Projection.of(frame)
    d = (frame["is_treated"] & frame["is_post"]).to_numpy(float)[:, None]
    y = frame["y"].to_numpy(float)[:, None]
    d_tilde = projection.residualise(d)
    dd = float(d_tilde[:, 0] @ d_tilde[:, 0])
    if dd < 1e-12:
        raise ValueError("is_treated × is_post is collinear with the unit and date effects")
    return float(d_tilde[:, 0] @ y[:, 0] / dd)
