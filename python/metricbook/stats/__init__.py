"""Experiment statistics from per-variant aggregates: pure functions, frozen results, no I/O."""

from metricbook.stats.aggregates import Aggregates, aggregates_from_frame, pool
from metricbook.stats.bayes import BayesianResult, NormalPrior, bayesian_view
from metricbook.stats.bootstrap import BootstrapResult, percentile_bootstrap
from metricbook.stats.ctr_decomposition import CtrDecomposition, ctr_decomposition
from metricbook.stats.dilution import DilutedEffect, ExposureBalance, dilute, exposure_balance
from metricbook.stats.heterogeneity import Heterogeneity, cochran_q
from metricbook.stats.methods import (
    EffectEstimate,
    cuped_mean,
    cuped_ratio,
    delta_ratio,
    two_proportion_z,
    welch_t,
)
from metricbook.stats.multiple_testing import adjust_p_values
from metricbook.stats.novelty import NoveltyResult, novelty_test
from metricbook.stats.poststratification import (
    Imbalance,
    merge_small_strata,
    post_stratified,
    post_stratified_ratio,
    stratum_imbalance,
)
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
from metricbook.stats.quantiles import (
    QuantileArm,
    QuantileRanks,
    quantile_difference,
    quantile_ranks,
    sample_quantile_arm,
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
    "BayesianResult",
    "BootstrapResult",
    "CtrDecomposition",
    "DilutedEffect",
    "EffectEstimate",
    "ExposureBalance",
    "Heterogeneity",
    "Imbalance",
    "NormalPrior",
    "NoveltyResult",
    "QuantileArm",
    "QuantileRanks",
    "SampleSize",
    "SequentialLook",
    "SrmResult",
    "absolute_mde",
    "adjust_p_values",
    "aggregates_from_frame",
    "always_valid",
    "bayesian_view",
    "cochran_q",
    "ctr_decomposition",
    "cumulative_looks",
    "cuped_mean",
    "cuped_ratio",
    "default_tau2",
    "delta_ratio",
    "dilute",
    "exposure_balance",
    "mde_mean",
    "mde_proportion",
    "merge_small_strata",
    "msprt",
    "novelty_test",
    "percentile_bootstrap",
    "pool",
    "post_stratified",
    "post_stratified_ratio",
    "power_mean",
    "power_proportion",
    "quantile_difference",
    "quantile_ranks",
    "sample_quantile_arm",
    "sample_size_mean",
    "sample_size_proportion",
    "srm_test",
    "stratum_imbalance",
    "two_proportion_z",
    "welch_t",
]
