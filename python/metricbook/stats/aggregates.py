"""Per-variant sample moments: the only input the statistics need from the warehouse.

A variant is summarised by its user count and, for each per-user column, the mean, the sample
variance (`var_samp`, ddof=1) and the sample covariance with other columns (`covar_samp`). Every
hypothesis test in `metricbook.stats` is a function of these moments, so SQL can push the
aggregation down and ship a few numbers per variant instead of one row per user.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import pandas as pd


@dataclass(frozen=True)
class Aggregates:
    """Per-variant sample moments of per-user columns, as SQL computes them.

    `var` holds `var_samp` (ddof=1) and `cov` holds `covar_samp`; a covariance may be stored
    under either ordering of its pair and is looked up under both. The mappings are copied into
    read-only views, so an `Aggregates` cannot change after construction.

    `count` must be a whole number ≥ 0 (ValueError otherwise). Count 0 is an empty sample and
    count 1 has no sample variance (SQL's var_samp is null, here nan): both are valid values,
    `pool` treats an empty sample as absent, and every test in `metricbook.stats.methods`
    rejects an arm with fewer than 2 users with a ValueError naming the metric.
    """

    count: int
    mean: Mapping[str, float]
    var: Mapping[str, float]
    cov: Mapping[tuple[str, str], float]

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, numbers.Integral):
            raise ValueError(
                f"Aggregates.count must be a whole number of users, got {self.count!r}"
            )
        if self.count < 0:
            raise ValueError(f"Aggregates.count must be non-negative, got {self.count}.")
        object.__setattr__(self, "count", int(self.count))
        object.__setattr__(self, "mean", MappingProxyType(dict(self.mean)))
        object.__setattr__(self, "var", MappingProxyType(dict(self.var)))
        object.__setattr__(self, "cov", MappingProxyType(dict(self.cov)))

    def mean_of(self, column: str) -> float:
        """The mean of `column`; KeyError naming the column if it was not aggregated."""
        return _lookup(self.mean, column, f"no mean for column {column!r}")

    def var_of(self, column: str) -> float:
        """The sample variance (ddof=1) of `column`."""
        return _lookup(self.var, column, f"no variance for column {column!r}")

    def cov_of(self, a: str, b: str) -> float:
        """The sample covariance of `a` and `b`, in either order; `cov_of(a, a)` is `var_of(a)`."""
        if a == b:
            return self.var_of(a)
        if (a, b) in self.cov:
            return float(self.cov[(a, b)])
        if (b, a) in self.cov:
            return float(self.cov[(b, a)])
        raise KeyError(
            f"no covariance for the pair ({a!r}, {b!r}); aggregate covar_samp({a}, {b}) "
            "in the warehouse query"
        )

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns with a mean, in insertion order."""
        return tuple(self.mean)


def _lookup(values: Mapping[str, float], column: str, message: str) -> float:
    if column not in values:
        raise KeyError(f"{message}; known columns: {sorted(values)}")
    return float(values[column])


def aggregates_from_frame(frame: pd.DataFrame, columns: Sequence[str]) -> Aggregates:
    """Aggregates of `columns` over the rows of `frame` (one row per user), ddof=1 like SQL.

    The pandas mirror of `count(*)`, `avg`, `var_samp` and `covar_samp`; covariances are stored
    for every unordered pair of `columns`. Like SQL, a frame of one row has nan (null) variances
    and covariances, and an empty frame nan means too.
    """
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in the frame; it has {list(frame.columns)}")
    values = frame[list(columns)].astype(float)
    if len(values) < 2:
        # SQL's var_samp of fewer than 2 rows is null: nan here, without numpy's ddof warning
        covariance = pd.DataFrame(math.nan, index=list(columns), columns=list(columns))
    else:
        covariance = values.cov(ddof=1)
    return Aggregates(
        count=len(values),
        mean={column: float(values[column].mean()) for column in columns},
        var={column: float(covariance.loc[column, column]) for column in columns},
        cov={(a, b): float(covariance.loc[a, b]) for a, b in itertools.combinations(columns, 2)},
    )


def pool(a: Aggregates, b: Aggregates) -> Aggregates:
    """The moments of the union of two disjoint samples, computed exactly from their moments.

    With n = n_a + n_b, the pooled mean is (n_a·m_a + n_b·m_b)/n and the pooled co-moment is
    the sum of the within-sample co-moments plus the between-sample term (Chan, Golub & LeVeque
    1979, the parallel update of the sum of squares):

        (n − 1)·cov(x, y) = (n_a − 1)·cov_a(x, y) + (n_b − 1)·cov_b(x, y)
                            + n_a·n_b/n · (m_a(x) − m_b(x))·(m_a(y) − m_b(y))

    Only columns (and pairs) aggregated in both samples are pooled; an empty sample pools to
    the other one unchanged.
    """
    if b.count == 0:
        return a
    if a.count == 0:
        return b
    n = a.count + b.count
    columns = [column for column in a.mean if column in b.mean]

    def pooled_cov(x: str, y: str) -> float:
        within = sum((arm.count - 1) * arm.cov_of(x, y) for arm in (a, b) if arm.count > 1)
        between = (
            a.count * b.count / n * (a.mean_of(x) - b.mean_of(x)) * (a.mean_of(y) - b.mean_of(y))
        )
        return (within + between) / (n - 1)

    mean = {c: (a.count * a.mean_of(c) + b.count * b.mean_of(c)) / n for c in columns}
    var = {c: pooled_cov(c, c) for c in columns if c in a.var and c in b.var}
    cov = {
        (x, y): pooled_cov(x, y)
        for x, y in itertools.combinations(columns, 2)
        if _has_cov(a, x, y) and _has_cov(b, x, y)
    }
    return Aggregates(count=n, mean=mean, var=var, cov=cov)


def _has_cov(sample: Aggregates, x: str, y: str) -> bool:
    return (x, y) in sample.cov or (y, x) in sample.cov
