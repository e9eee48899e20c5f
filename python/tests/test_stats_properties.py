"""Properties of metricbook.stats: for finite inputs every public function returns finite numbers
(or the nan / inf its docstring names), p-values and powers in [0, 1] and ordered intervals, or
raises a one-line ValueError; and every invalid power or SRM argument a user can type is a
one-line ValueError that names the flag.

Warnings are errors here, so a numpy or scipy RuntimeWarning (overflow, 0/0) fails a test too.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metricbook import stats
from metricbook.cli import main
from metricbook.errors import ConfigError
from metricbook.stats import (
    Aggregates,
    absolute_mde,
    adjust_p_values,
    aggregates_from_frame,
    always_valid,
    cumulative_looks,
    cuped_mean,
    cuped_ratio,
    default_tau2,
    delta_ratio,
    mde_mean,
    mde_proportion,
    msprt,
    percentile_bootstrap,
    pool,
    power_mean,
    power_proportion,
    sample_size_mean,
    sample_size_proportion,
    srm_test,
    two_proportion_z,
    welch_t,
)
from metricbook.stats.power import MAX_USERS_PER_ARM

pytestmark = pytest.mark.filterwarnings("error")

PROPERTY = settings(max_examples=100, deadline=None)
METRIC = "metric_under_test"
COLUMNS = ["y", "x", "v", "u"]

# --- strategies -------------------------------------------------------------------------------

SCALES = [1e-12, 1e-6, 1.0, 1e3, 1e12]
ELEMENTS = st.one_of(
    st.floats(-1e12, 1e12, allow_nan=False, allow_subnormal=False),
    st.sampled_from([0.0, 1.0, -1.0, 1e-12, -1e-12, 1e12, -1e12]),
)


@st.composite
def user_values(draw: st.DrawFn, n: int) -> np.ndarray:
    """n per-user values: constant, all zero, mostly zero, seeded noise at one scale (tiny to
    huge, maybe offset from 0), or arbitrary floats up to ±1e12 chosen element by element."""
    kind = draw(st.sampled_from(["constant", "zeros", "sparse", "noise", "elements"]))
    scale = draw(st.sampled_from(SCALES))
    if kind == "zeros":
        return np.zeros(n)
    if kind == "constant":
        return np.full(n, draw(st.sampled_from([-1.0, 0.5, 1.0, 3.0])) * scale)
    if kind == "elements":
        return np.array(draw(st.lists(ELEMENTS, min_size=n, max_size=n)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.standard_normal(n) * scale + draw(st.sampled_from([0.0, 1.0, 10.0])) * scale
    if kind == "sparse":
        values[rng.random(n) < 0.7] = 0.0
    return values


@st.composite
def arm_frame(draw: st.DrawFn, min_size: int = 1) -> pd.DataFrame:
    """One arm's per-user rows: the columns y, x, v, u, each drawn independently."""
    n = draw(st.integers(min_size, 50))
    return pd.DataFrame({column: draw(user_values(n)) for column in COLUMNS})


ARMS = st.tuples(arm_frame(), arm_frame())
ALPHA = st.floats(1e-6, 0.5)


def aggregates(frame: pd.DataFrame) -> Aggregates:
    return aggregates_from_frame(frame, COLUMNS)


# --- checks -----------------------------------------------------------------------------------

P_VALUE_FIELDS = {"p_value", "p_value_always_valid"}
INTERVALS = [
    ("diff_ci_low", "diff_ci_high"),
    ("rel_lift_ci_low", "rel_lift_ci_high"),
    ("ci_low", "ci_high"),
]


def floats_in(value: Any, path: str = "result") -> Iterator[tuple[str, float]]:
    """Every float inside a result (dataclass fields, mappings, sequences), with its path."""
    if dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            yield from floats_in(getattr(value, field.name), field.name)
    elif isinstance(value, dict | MappingProxyType):
        for key, item in value.items():
            yield from floats_in(item, f"{path}[{key!r}]")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from floats_in(item, f"{path}[{index}]")
    elif isinstance(value, float) and not isinstance(value, bool):
        yield path, value


def assert_sane(result: Any, may_be_inf: frozenset[str] = frozenset()) -> None:
    """Finite or nan everywhere (inf only in the documented fields), p-values in [0, 1],
    intervals ordered."""
    for path, value in floats_in(result):
        assert not math.isinf(value) or path in may_be_inf, f"{path} = {value} in {result}"
        if path in P_VALUE_FIELDS:
            assert math.isnan(value) or 0 <= value <= 1, f"{path} = {value}"
    items = result if isinstance(result, list) else [result]
    for item in items:
        for low, high in INTERVALS:
            a, b = getattr(item, low, math.nan), getattr(item, high, math.nan)
            if math.isfinite(a) and math.isfinite(b):
                assert a <= b, f"{low} = {a} > {high} = {b}"


def assert_one_line(error: BaseException, *fragments: str) -> None:
    message = str(error)
    assert message and "\n" not in message, repr(message)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def estimate_or_value_error(method: Callable[[], Any]) -> Any | None:
    """The method's result, or None after checking its ValueError is one line naming the metric."""
    try:
        return method()
    except ValueError as error:
        assert_one_line(error, repr(METRIC))
        return None


# a positive control value tiny next to its standard error overflows exp: documented +inf
EFFECT_INF = frozenset({"rel_lift_ci_high"})


# --- aggregates -------------------------------------------------------------------------------


@PROPERTY
@given(ARMS)
def test_pooled_moments_are_finite_for_finite_rows(frames):
    first, second = (aggregates(frame) for frame in frames)
    pooled = pool(first, second)
    assert pooled.count == first.count + second.count
    for column in COLUMNS:
        assert math.isfinite(pooled.mean_of(column))
        assert math.isfinite(pooled.var_of(column)) and pooled.var_of(column) >= -1e-6 * (
            1 + abs(pooled.mean_of(column)) ** 2
        )
        assert math.isfinite(pooled.cov_of(column, "y"))


def test_aggregates_with_count_zero_are_an_empty_sample_every_test_rejects():
    empty = Aggregates(count=0, mean={"y": math.nan}, var={"y": math.nan}, cov={})
    full = aggregates_from_frame(pd.DataFrame({"y": [1.0, 2.0, 4.0]}), ["y"])
    assert pool(empty, full) is full
    with pytest.raises(ValueError, match="control arm has 0 user"):
        welch_t(empty, full, "y")
    with pytest.raises(ValueError, match="whole number"):
        Aggregates(count=2.5, mean={}, var={}, cov={})  # type: ignore[arg-type]


# --- fixed-horizon tests ----------------------------------------------------------------------


@PROPERTY
@given(ARMS, ALPHA)
def test_welch_is_finite_or_a_named_value_error(frames, alpha):
    control, treatment = (aggregates(frame) for frame in frames)
    result = estimate_or_value_error(
        lambda: welch_t(control, treatment, "y", alpha=alpha, metric=METRIC)
    )
    if result is not None:
        assert_sane(result, EFFECT_INF)
        assert result.df >= 1 and math.isfinite(result.statistic)


def test_welch_with_a_one_user_arm_is_a_value_error_and_one_constant_arm_is_fine():
    one = aggregates_from_frame(pd.DataFrame({"y": [3.0]}), ["y"])
    flat = aggregates_from_frame(pd.DataFrame({"y": [1.0] * 5}), ["y"])
    noisy = aggregates_from_frame(pd.DataFrame({"y": [1.0, 2.0, 4.0, 8.0]}), ["y"])
    with pytest.raises(ValueError, match="1 user"):
        welch_t(one, noisy, "y")
    result = welch_t(flat, noisy, "y")
    assert result.df == pytest.approx(3.0)  # all the sampling error is the noisy arm's
    assert_sane(result)


@PROPERTY
@given(
    st.tuples(st.integers(2, 50), st.integers(2, 50)).flatmap(
        lambda n: st.tuples(
            st.integers(0, n[0]), st.just(n[0]), st.integers(0, n[1]), st.just(n[1])
        )
    ),
    ALPHA,
)
def test_two_proportion_is_finite_or_a_named_value_error(counts, alpha):
    x_c, n_c, x_t, n_t = counts
    arms = [
        aggregates_from_frame(pd.DataFrame({"c": [1.0] * x + [0.0] * (n - x)}), ["c"])
        for x, n in ((x_c, n_c), (x_t, n_t))
    ]
    result = estimate_or_value_error(
        lambda: two_proportion_z(*arms, "c", alpha=alpha, metric=METRIC)
    )
    if result is not None:
        assert_sane(result, EFFECT_INF)


@PROPERTY
@given(ARMS, ALPHA)
def test_delta_ratio_is_finite_or_a_named_value_error(frames, alpha):
    control, treatment = (aggregates(frame) for frame in frames)
    result = estimate_or_value_error(
        lambda: delta_ratio(control, treatment, "y", "x", alpha=alpha, metric=METRIC)
    )
    if result is not None:
        assert_sane(result, EFFECT_INF)


def test_delta_ratio_with_a_zero_denominator_mean_is_a_value_error():
    arm = aggregates_from_frame(pd.DataFrame({"y": [1.0, 2.0], "x": [1.0, -1.0]}), ["y", "x"])
    with pytest.raises(ValueError, match="denominator 'x' has mean 0"):
        delta_ratio(arm, arm, "y", "x")


@PROPERTY
@given(ARMS, ALPHA)
def test_cuped_mean_is_finite_or_a_named_value_error(frames, alpha):
    control, treatment = (aggregates(frame) for frame in frames)
    result = estimate_or_value_error(
        lambda: cuped_mean(control, treatment, "y", "x", alpha=alpha, metric=METRIC)
    )
    if result is not None:
        assert_sane(result, EFFECT_INF)
        assert math.isfinite(result.theta) and math.isfinite(result.variance_reduction)


@PROPERTY
@given(ARMS, ALPHA)
def test_cuped_ratio_is_finite_or_a_named_value_error(frames, alpha):
    control, treatment = (aggregates(frame) for frame in frames)
    result = estimate_or_value_error(
        lambda: cuped_ratio(control, treatment, "y", "x", "v", "u", alpha=alpha, metric=METRIC)
    )
    if result is not None:
        assert_sane(result, EFFECT_INF)
        assert math.isfinite(result.theta) and math.isfinite(result.variance_reduction)


def test_cuped_ratio_whose_pooled_denominator_mean_is_zero_is_a_value_error():
    # each arm's covariate denominator has a non-zero mean, but the pooled mean is 0
    rows = {"y": [1.0, 2.0, 3.0], "x": [1.0, 2.0, 2.0], "v": [1.0, 0.0, 2.0]}
    control = aggregates_from_frame(pd.DataFrame({**rows, "u": [1.0, 1.0, 1.0]}), COLUMNS)
    treatment = aggregates_from_frame(pd.DataFrame({**rows, "u": [-1.0, -1.0, -1.0]}), COLUMNS)
    with pytest.raises(ValueError, match="covariate denominator 'u' has mean 0 in the pooled"):
        cuped_ratio(control, treatment, "y", "x", "v", "u")


# --- units: rescaling a metric changes no p-value, even at the edges of a float ------------------

EXPONENTS = st.integers(-150, 150)
BASE = {
    "control": Aggregates(
        count=400,
        mean={"y": 2.0, "x": 5.0},
        var={"y": 4.0, "x": 9.0},
        cov={("y", "x"): 3.0},
    ),
    "treatment": Aggregates(
        count=350,
        mean={"y": 2.3, "x": 5.1},
        var={"y": 5.0, "x": 8.0},
        cov={("y", "x"): 2.5},
    ),
}


def in_units(arm: Aggregates, y: float, x: float) -> Aggregates:
    """The arm with column y measured in units 1/y and x in units 1/x."""
    scale = {"y": y, "x": x}
    return Aggregates(
        count=arm.count,
        mean={c: m * scale[c] for c, m in arm.mean.items()},
        var={c: v * scale[c] * scale[c] for c, v in arm.var.items()},
        cov={pair: v * scale[pair[0]] * scale[pair[1]] for pair, v in arm.cov.items()},
    )


# 1e±150 keeps a variance (a square) inside a float, and y/x within 1e±100 the ratio's variance
UNIT_PAIRS = EXPONENTS.flatmap(
    lambda y: st.tuples(st.just(y), st.integers(max(-150, y - 100), min(150, y + 100)))
)


@PROPERTY
@given(UNIT_PAIRS)
def test_p_values_do_not_depend_on_the_units_of_the_metric(exponents):
    y, x = (10.0**exponent for exponent in exponents)
    plain = [BASE["control"], BASE["treatment"]]
    scaled = [in_units(arm, y, x) for arm in plain]
    for method in (
        lambda c, t: welch_t(c, t, "y"),
        lambda c, t: delta_ratio(c, t, "y", "x"),
        lambda c, t: cuped_mean(c, t, "y", "x"),
    ):
        expected, result = method(*plain), method(*scaled)
        assert_sane(result)
        assert result.p_value == pytest.approx(expected.p_value, rel=1e-9)
        assert result.statistic == pytest.approx(expected.statistic, rel=1e-9)
        assert result.rel_lift == pytest.approx(expected.rel_lift, rel=1e-9)
        if result.df is not None:
            assert result.df == pytest.approx(expected.df, rel=1e-9)


@PROPERTY
@given(EXPONENTS)
def test_always_valid_p_value_does_not_depend_on_the_units(exponent):
    k = 10.0**exponent
    expected = always_valid(0.3, 0.01, tau2=0.04)
    result = always_valid(0.3 * k, 0.01 * k * k, tau2=0.04 * k * k)
    assert_sane(result)
    assert result.p_value == pytest.approx(expected.p_value, rel=1e-9)
    assert result.ci_low == pytest.approx(expected.ci_low * k, rel=1e-9)


# --- bootstrap --------------------------------------------------------------------------------


def bootstrap_or_value_error(*args: Any, **kwargs: Any) -> Any | None:
    try:
        return percentile_bootstrap(*args, **kwargs)
    except ValueError as error:
        assert_one_line(error)
        assert any(word in str(error) for word in ("user", "sum to 0", "overflow")), error
        return None


@PROPERTY
@given(ARMS, ALPHA, st.integers(0, 2**16))
def test_bootstrap_is_finite_or_nan_with_ordered_intervals(frames, alpha, seed):
    for statistic, columns in (("mean_diff", "y"), ("ratio_diff", ["y", "x"])):
        control, treatment = (frame[columns].to_numpy() for frame in frames)
        result = bootstrap_or_value_error(
            control, treatment, statistic=statistic, alpha=alpha, n_resamples=60, seed=seed
        )
        if result is not None:
            assert_sane(result)
            assert math.isfinite(result.diff)
            if math.isfinite(result.ci_low):
                assert result.ci_low <= result.ci_high


def test_bootstrap_edge_cases_are_documented_errors_or_nan():
    with pytest.raises(ValueError, match="1 user"):
        percentile_bootstrap(np.array([1.0]), np.array([1.0, 2.0]))
    flat = percentile_bootstrap(np.full(5, 2.0), np.full(7, 3.0), n_resamples=50)
    assert (flat.diff, flat.ci_low, flat.ci_high) == (1.0, 1.0, 1.0)
    assert flat.rel_lift == pytest.approx(0.5)
    zero_control = percentile_bootstrap(np.zeros(4), np.ones(4), n_resamples=50)
    assert math.isnan(zero_control.rel_lift) and math.isnan(zero_control.rel_lift_ci_low)
    with pytest.raises(ValueError, match="denominators sum to 0"):
        percentile_bootstrap(
            np.array([[1.0, 0.0], [2.0, 0.0]]), np.array([[1.0, 1.0], [2.0, 1.0]]), "ratio_diff"
        )
    # a resample of only the user without impressions has no ratio: the CIs are nan
    sparse = percentile_bootstrap(
        np.array([[1.0, 1.0], [0.0, 0.0]]), np.array([[1.0, 2.0], [1.0, 2.0]]), "ratio_diff"
    )
    assert sparse.diff == pytest.approx(-0.5)
    assert math.isnan(sparse.ci_low) and math.isnan(sparse.ci_high)


# --- multiple testing -------------------------------------------------------------------------

P_VALUES = st.lists(
    st.one_of(st.floats(0, 1), st.just(math.nan), st.sampled_from([0.0, 1.0])), max_size=20
)


@PROPERTY
@given(P_VALUES, st.sampled_from(["holm", "fdr_bh"]))
def test_adjusted_p_values_are_in_range_and_never_below_the_raw_ones(p_values, method):
    adjusted = adjust_p_values(p_values, method)
    assert len(adjusted) == len(p_values)
    for raw, new in zip(p_values, adjusted, strict=True):
        assert math.isnan(raw) == math.isnan(new)
        if not math.isnan(raw):
            assert raw <= new <= 1


# --- always-valid -----------------------------------------------------------------------------


@PROPERTY
@given(ARMS, ALPHA, st.one_of(st.none(), st.floats(1e-12, 1e12)))
def test_always_valid_is_finite_or_a_value_error(frames, alpha, tau2):
    control, treatment = (aggregates(frame) for frame in frames)
    diff = treatment.mean_of("y") - control.mean_of("y")
    variance = treatment.var_of("y") / treatment.count + control.var_of("y") / control.count
    try:
        result = always_valid(
            diff, variance, alpha, tau2, n_control=control.count, n_treatment=treatment.count
        )
    except ValueError as error:
        assert_one_line(error, "variance")
        assert not (math.isfinite(variance) and variance > 0)
        return
    assert_sane(result)
    assert math.isfinite(result.ci_low) and result.ci_low <= diff <= result.ci_high


@pytest.mark.parametrize("variance", [0.0, -1.0, math.nan, math.inf], ids=str)
def test_always_valid_without_a_positive_variance_is_a_value_error(variance):
    with pytest.raises(ValueError, match="variance must be positive"):
        always_valid(0.1, variance, tau2=0.01)


@PROPERTY
@given(ARMS, ALPHA, st.integers(1, 3))
def test_msprt_on_cumulative_looks_is_finite_or_a_value_error(frames, alpha, n_looks):
    control, treatment = (frame["y"].to_numpy() for frame in frames)
    try:
        looks = cumulative_looks(control, treatment, n_looks, column="y")
        tau2 = default_tau2(*looks[0], "y")
        result = msprt(looks, "y", alpha=alpha, tau2=tau2)
    except ValueError as error:
        assert_one_line(error)
        return
    assert_sane(result)
    for look in result:
        # the running intersection is an interval, or nan once it is empty (then H0 is rejected)
        assert math.isnan(look.ci_low) == math.isnan(look.ci_high)
        assert math.isfinite(look.ci_low) or look.reject


def test_msprt_interval_is_nan_once_the_looks_contradict_each_other():
    def arms(n: int, diff: float) -> tuple[Aggregates, Aggregates]:
        control = Aggregates(count=n, mean={"y": 0.0}, var={"y": 1.0}, cov={})
        return control, Aggregates(count=n, mean={"y": diff}, var={"y": 1.0}, cov={})

    first, second = msprt([arms(1000, 0.0), arms(2000, 5.0)], "y", tau2=0.01)
    assert first.ci_low < 0 < first.ci_high and not first.reject
    assert math.isnan(second.ci_low) and math.isnan(second.ci_high) and second.reject


# --- power ------------------------------------------------------------------------------------

ANY_FINITE = st.floats(-1e300, 1e300, allow_nan=False)
DESIGN = {
    "alpha": st.one_of(ALPHA, ANY_FINITE),
    "ratio": st.one_of(st.floats(0.01, 100), ANY_FINITE),
}
N_USERS = st.one_of(st.integers(1, 10**7), st.integers(-10, 10**20))
SD = st.one_of(st.floats(1e-6, 1e6), ANY_FINITE)
MDE = st.one_of(st.floats(-10, 10), ANY_FINITE)
SHARE = st.one_of(st.floats(0.001, 0.999), ANY_FINITE)
POWER = st.one_of(st.floats(0.51, 0.99), ANY_FINITE)
FLAGS = ("--alpha", "--power", "--ratio", "--sd", "--mde", "--n", "--baseline")


def power_answer_or_config_error(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, **kwargs)
    except ConfigError as error:
        assert_one_line(error)
        assert any(flag in str(error) for flag in FLAGS), error
        return None


def assert_sample_size(size: Any) -> None:
    if size is not None:
        assert 1 <= size.n_control <= MAX_USERS_PER_ARM
        assert 1 <= size.n_treatment <= MAX_USERS_PER_ARM
        assert size.total == size.n_control + size.n_treatment


def assert_power(power: Any) -> None:
    if power is not None:
        assert isinstance(power, float) and 0 <= power <= 1


def assert_finite(value: Any) -> None:
    if value is not None:
        assert isinstance(value, float) and math.isfinite(value)


@settings(max_examples=200, deadline=None)
@given(N_USERS, MDE, SD, SHARE, POWER, DESIGN["alpha"], DESIGN["ratio"])
def test_power_functions_answer_finitely_or_name_the_flag(
    n, mde, sd, baseline, power, alpha, ratio
):
    design = {"alpha": alpha, "ratio": ratio}
    assert_sample_size(
        power_answer_or_config_error(sample_size_mean, mde, sd, power=power, **design)
    )
    assert_finite(power_answer_or_config_error(mde_mean, n, sd, power=power, **design))
    assert_power(power_answer_or_config_error(power_mean, n, mde, sd, **design))
    assert_sample_size(
        power_answer_or_config_error(sample_size_proportion, baseline, mde, power=power, **design)
    )
    mde_share = power_answer_or_config_error(mde_proportion, baseline, n, power=power, **design)
    assert_finite(mde_share)
    if mde_share is not None:
        assert 0 < mde_share < 1 - baseline
    assert_power(power_answer_or_config_error(power_proportion, baseline, mde, n, **design))


@PROPERTY
@given(ANY_FINITE, ANY_FINITE)
def test_absolute_mde_is_finite_or_a_value_error(relative, baseline):
    try:
        assert math.isfinite(absolute_mde(relative, baseline))
    except ValueError as error:
        assert_one_line(error, "relative_mde · baseline")


# --- SRM --------------------------------------------------------------------------------------


@st.composite
def designs(draw: st.DrawFn) -> tuple[dict[str, int], dict[str, float]]:
    k = draw(st.integers(2, 5))
    weights = draw(st.lists(st.integers(1, 1000), min_size=k, max_size=k))
    counts = draw(st.lists(st.one_of(st.integers(0, 10**9), st.just(0)), min_size=k, max_size=k))
    variants = [f"v{i}" for i in range(k)]
    shares = {v: w / sum(weights) for v, w in zip(variants, weights, strict=True)}
    return dict(zip(variants, counts, strict=True)), shares


@PROPERTY
@given(designs(), st.floats(1e-6, 0.5))
def test_srm_is_finite_for_real_shares(design, threshold):
    counts, shares = design
    try:
        result = srm_test(counts, shares, threshold)
    except ValueError as error:
        assert_one_line(error, "0 users")
        assert sum(counts.values()) == 0
        return
    assert_sane(result)
    assert math.isfinite(result.statistic) and result.statistic >= 0
    assert sum(result.expected_shares.values()) == pytest.approx(1.0, rel=1e-12)
    assert result.passed == (result.p_value >= threshold)


# --- invalid arguments a user can type: table-driven -------------------------------------------

INF, NAN = math.inf, math.nan
HALF = {"control": 0.5, "treatment": 0.5}


def srm(counts: Any = None, shares: Any = HALF, threshold: float = 0.001) -> Any:
    return srm_test(counts or {"control": 500, "treatment": 500}, shares, threshold)


# (id, call, what the one-line message must name: the CLI flag, or the SRM variant / argument)
INVALID = [
    ("mean-sd-inf", lambda: sample_size_mean(0.1, INF), "--sd"),
    ("mean-sd-zero", lambda: sample_size_mean(0.1, 0.0), "--sd"),
    ("mean-sd-negative", lambda: mde_mean(100, -2.5), "--sd"),
    ("mean-sd-nan", lambda: power_mean(100, 0.1, NAN), "--sd"),
    ("mean-mde-nan", lambda: power_mean(100, NAN, 2.5), "--mde"),
    ("mean-mde-inf", lambda: sample_size_mean(INF, 2.5), "--mde"),
    ("mean-mde-zero-sample-size", lambda: sample_size_mean(0.0, 2.5), "--mde"),
    ("mean-mde-so-small-n-overflows", lambda: sample_size_mean(1e-150, 1.0), "--mde"),
    ("ratio-inf", lambda: sample_size_mean(0.1, 2.5, ratio=INF), "--ratio"),
    ("ratio-zero", lambda: power_mean(100, 0.1, 2.5, ratio=0.0), "--ratio"),
    ("ratio-negative", lambda: mde_mean(100, 2.5, ratio=-1.0), "--ratio"),
    ("ratio-nan", lambda: sample_size_proportion(0.3, 0.01, ratio=NAN), "--ratio"),
    ("ratio-leaves-no-treatment-user", lambda: power_mean(10, 0.1, 2.5, ratio=1e-3), "--ratio"),
    ("ratio-too-lopsided", lambda: sample_size_mean(0.1, 1, ratio=1e-13), "--ratio"),
    # found by hypothesis: a subnormal ratio made the solver's treatment arm 0 users
    (
        "ratio-subnormal",
        lambda: sample_size_mean(1.0, 1.0, alpha=0.5, power=0.75, ratio=2.2250738585e-313),
        "--ratio",
    ),
    ("n-negative", lambda: power_mean(-5, 0.1, 2.5), "--n"),
    ("n-zero", lambda: mde_mean(0, 2.5), "--n"),
    ("n-fractional", lambda: mde_proportion(0.3, 10.5), "--n"),
    ("n-overflows-a-float", lambda: power_proportion(0.3, 0.01, 10**400), "--n"),
    ("n-above-the-cap", lambda: mde_mean(10**16, 2.5), "--n"),
    ("n-too-small-for-any-share", lambda: mde_proportion(0.9, 1), "--n"),
    ("alpha-zero", lambda: sample_size_mean(0.1, 2.5, alpha=0.0), "--alpha"),
    ("alpha-one", lambda: power_mean(100, 0.1, 2.5, alpha=1.0), "--alpha"),
    ("alpha-nan", lambda: mde_mean(100, 2.5, alpha=NAN), "--alpha"),
    ("power-one", lambda: sample_size_mean(0.1, 2.5, power=1.0), "--power"),
    ("power-negative", lambda: mde_proportion(0.3, 100, power=-0.2), "--power"),
    ("power-below-alpha", lambda: sample_size_mean(0.1, 2.5, alpha=0.2, power=0.1), "--power"),
    ("baseline-above-one", lambda: sample_size_proportion(1.2, 0.01), "--baseline"),
    ("baseline-zero", lambda: power_proportion(0.0, 0.01, 100), "--baseline"),
    ("baseline-inf", lambda: mde_proportion(INF, 100), "--baseline"),
    ("mde-pushes-share-above-one", lambda: sample_size_proportion(0.995, 0.01), "--mde"),
    ("mde-pushes-share-below-zero", lambda: power_proportion(0.02, -0.05, 100), "--mde"),
    ("proportion-mde-nan", lambda: power_proportion(0.3, NAN, 100), "--mde"),
    ("text-for-a-number", lambda: power_mean("100", 0.1, 2.5), "--n"),  # type: ignore[arg-type]
    ("srm-shares-sum-to-0.9", lambda: srm(shares={"control": 0.45, "treatment": 0.45}), "0.9"),
    ("srm-shares-are-weights", lambda: srm(shares={"control": 1, "treatment": 1}), "sum to 2"),
    ("srm-share-nan", lambda: srm(shares={"control": NAN, "treatment": 0.5}), "'control'"),
    ("srm-share-inf", lambda: srm(shares={"control": INF, "treatment": 0.5}), "'control'"),
    ("srm-share-zero", lambda: srm(shares={"control": 1.0, "treatment": 0.0}), "'treatment'"),
    ("srm-count-inf", lambda: srm({"control": INF, "treatment": 5}), "'control'"),
    ("srm-count-nan", lambda: srm({"control": 5, "treatment": NAN}), "'treatment'"),
    ("srm-count-negative", lambda: srm({"control": -1, "treatment": 5}), "'control'"),
    ("srm-count-fractional", lambda: srm({"control": 2.5, "treatment": 5}), "'control'"),
    ("srm-no-users", lambda: srm({"control": 0, "treatment": 0}), "0 users"),
    ("srm-threshold-nan", lambda: srm(threshold=NAN), "threshold"),
    ("srm-one-variant", lambda: srm({"control": 5}, {"control": 1.0}), "at least 2 variants"),
]


@pytest.mark.parametrize(
    ("call", "names"), [case[1:] for case in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_argument_is_a_one_line_value_error_naming_it(call, names):
    with pytest.raises(ValueError) as failure:
        call()
    assert_one_line(failure.value, names)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["power", "mean", "--sd", "inf", "--mde", "0.1"], "--sd"),
        (["power", "mean", "--sd", "2.5", "--mde", "nan", "--n", "100"], "--mde"),
        (["power", "mean", "--sd", "2.5", "--mde", "0.1", "--ratio", "inf"], "--ratio"),
        (["power", "mean", "--sd", "2.5", "--mde", "0.1", "--ratio", "0"], "--ratio"),
        (["power", "mean", "--sd", "2.5", "--n", "-5"], "--n"),
        (["power", "proportion", "--baseline", "1.5", "--n", "100"], "--baseline"),
        (["power", "proportion", "--baseline", "0.3", "--mde", "0.01", "--alpha", "2"], "--alpha"),
    ],
    ids=["sd-inf", "mde-nan", "ratio-inf", "ratio-zero", "n-negative", "baseline", "alpha"],
)
def test_cli_power_reports_a_bad_flag_in_one_line_with_exit_code_2(capsys, argv, flag):
    assert main(argv) == ConfigError.exit_code
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_line(Exception(captured.err.strip()), flag)


slot_counts = st.dictionaries(
    st.integers(1, 25),
    st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)).map(lambda t: (t[0], min(t))),
    min_size=1,
).filter(lambda d: sum(n for n, _ in d.values()) > 0)


@given(slot_counts, slot_counts)
def test_rate_plus_mix_is_exactly_the_pooled_ctr_change(control, treatment) -> None:
    result = stats.ctr_decomposition(control, treatment)
    assert result.rate_effect + result.mix_effect == pytest.approx(result.diff, abs=1e-12)
    for counts, pooled in ((control, result.control_ctr), (treatment, result.treatment_ctr)):
        impressions = sum(n for n, _ in counts.values())
        clicks = sum(c for n, c in counts.values() if n > 0)
        assert pooled == pytest.approx(clicks / impressions, abs=1e-12)


def test_every_public_function_has_a_property_here():
    tested = {
        "absolute_mde", "adjust_p_values", "aggregates_from_frame", "always_valid",
        "ctr_decomposition", "cumulative_looks", "cuped_mean", "cuped_ratio", "default_tau2",
        "delta_ratio",
        "mde_mean", "mde_proportion", "msprt", "percentile_bootstrap", "pool", "power_mean",
        "power_proportion", "sample_size_mean", "sample_size_proportion", "srm_test",
        "two_proportion_z", "welch_t",
        # experiment depth: their properties and golden values are in test_stats_depth.py
        "bayesian_view", "cochran_q", "dilute", "exposure_balance", "merge_small_strata",
        "novelty_test", "post_stratified", "post_stratified_ratio", "quantile_difference",
        "quantile_ranks", "sample_quantile_arm", "stratum_imbalance",
    }  # fmt: skip
    functions = {name for name in stats.__all__ if name[0].islower()}
    assert functions == tested
