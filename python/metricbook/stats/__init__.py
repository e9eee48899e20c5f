"""Experiment statistics from per-variant aggregates: pure functions, frozen results, no I/O."""

from metricbook.stats.aggregates import Aggregates, aggregates_from_frame, pool
from metricbook.stats.bootstrap import BootstrapResult, percentile_bootstrap
from metricbook.stats.ctr_decomposition import CtrDecomposition, ctr_decomposition
from metricbook.stats.methods import (
    EffectEstimate,
    cuped_mean,
    cuped_ratio,
    delta_ratio,
    two_proportion_z,
    welch_t,
)
from metricbook.stats.multiple_testing import adjust_p_values
from metricbook.stats.power import (
    SampleSize,
    absolute_mde,
    mde_mean,
    mde_proportion,
    power_mean,
    power_proportion,
    sample_size_mean,
    sample_size_proportion,
)
from metricbook.stats.sequential import (
    AlwaysValid,
    SequentialLook,
    always_valid,
    cumulative_looks,
    default_tau2,
    msprt,
)
from metricbook.stats.srm import SrmResult, srm_test

__all__ = [
    "Aggregates",
    "AlwaysValid",
    "BootstrapResult",
    "CtrDecomposition",
    "EffectEstimate",
    "SampleSize",
    "SequentialLook",
    "SrmResult",
    "absolute_mde",
    "adjust_p_values",
    "aggregates_from_frame",
    "always_valid",
    "ctr_decomposition",
    "cumulative_looks",
    "cuped_mean",
    "cuped_ratio",
    "default_tau2",
    "delta_ratio",
    "mde_mean",
    "mde_proportion",
    "msprt",
    "percentile_bootstrap",
    "pool",
    "power_mean",
    "power_proportion",
    "sample_size_mean",
    "sample_size_proportion",
    "srm_test",
    "two_proportion_z",
    "welch_t",
]
