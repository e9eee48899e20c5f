"""The causal readout of a launch without a control group (`metricbook causal`): read one
launch's unit-day panel from fct_launch_panel (one pushed-down query), run the designs of
stats.causal on it, and say what each estimate rests on, in text, JSON and a self-contained
HTML page (inline SVG: treated vs comparison over time, the event study, the placebos).

What it reads: fct_launch_panel, grain (launch_id, unit, metric_date), every unit of the
launch's unit_type on every date of the data, with is_treated, is_post and relative_day. The
metrics a user may name are the columns the mart's YAML flags `meta: {panel_metric: true}`
(contract.panel_metrics): nothing the user types reaches the SQL but the launch id, as a bound
parameter.

The verdict never says "the metric rose after the launch, so the launch caused it". It leads
with the difference-in-differences estimate, names its assumption (parallel trends), and puts
the evidence about that assumption beside it: the event study's pre-trend test, the placebos,
the synthetic control's pre-period fit and, when asked for, a negative-control metric. When
the pre-trend test rejects, the verdict says the estimate is not credible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from metricbook import contract
from metricbook.errors import ConfigError, DataValidationError, WarehouseError
from metricbook.readout import plots
from metricbook.warehouse.connection import Warehouse, check_build

PANEL = "fct_launch_panel"
METHODS = ("did", "event_study", "synthetic_control", "its")
METHOD_NAMES = {
    "did": "difference-in-differences",
    "event_study": "event study",
    "synthetic_control": "synthetic control",
    "its": "interrupted time series",
}
KEYS = ("unit", "metric_date", "is_treated", "is_post", "relative_day")
ALPHA = 0.05
PRE_TREND_ALPHA = 0.05  # the pre-trend test rejecting at this level makes DiD not credible
TEMPLATES = Path(__file__).parent / "templates"


def panel_metrics() -> list[str]:
    """The metrics of the panel a user may name (declared in the mart's YAML)."""
    return contract.flagged_columns(PANEL, "panel_metric")


# --------------------------------------------------------------------------------------------
# values


@dataclass(frozen=True)
class Period:
    start: str
    end: str
    days: int


@dataclass(frozen=True)
class CausalReadout:
    launch_id: str
    metric: str
    unit_type: str
    launched_at: str
    treated_units: tuple[str, ...]
    control_units: tuple[str, ...]
    pre_period: Period
    post_period: Period
    naive_pre_post: dict[str, float]
    results: tuple[dict[str, Any], ...]
    verdict: str
    warnings: tuple[str, ...] = ()
    negative_control: dict[str, Any] | None = None
    target: str = "duckdb"
    # for the plots: the treated and comparison averages by date (not in the JSON)
    series: dict[str, list] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("series")
        return data

    def result(self, method: str) -> dict[str, Any] | None:
        return next((r for r in self.results if r["method"] == method), None)


# --------------------------------------------------------------------------------------------
# reading


def read_panel(warehouse: Warehouse, launch_id: str, metric: str) -> tuple[pd.DataFrame, dict]:
    """The launch's panel (the keys and the metric) and its launch facts; refuses an unbuilt
    or broken mart (exit 4), an unknown launch or metric (exit 2)."""
    metrics = panel_metrics()
    if metric not in metrics:
        raise ConfigError(f"--metric {metric}: not a metric of {PANEL}; use one of {metrics}")
    problems = check_build(warehouse, [PANEL])
    if problems:
        raise WarehouseError(problems[0])
    wanted = ("launch_id", "unit_type", "launched_at", *KEYS, metric)
    available = warehouse.column_types(PANEL)
    lacking = [column for column in wanted if column not in available]
    if lacking:
        raise WarehouseError(
            f"{warehouse.location}: {PANEL} has no column(s) {', '.join(lacking)}: it was built "
            "by another version of the model; run `dbt build`"
        )
    quote = "`" if warehouse.dialect == "spark" else '"'
    relation = warehouse.relation(PANEL)
    launches = warehouse.frame(f"select distinct {quote}launch_id{quote} from {relation}")
    known = sorted(str(value) for value in launches.iloc[:, 0])
    if launch_id not in known:
        hint = f"one of {known}" if known else "none: raw_launches staged no launch"
        raise ConfigError(f"--launch {launch_id}: no such launch in {PANEL} ({hint})")
    selects = ", ".join(f"{quote}{column}{quote}" for column in wanted)
    frame = warehouse.frame(
        f"select {selects} from {relation} where {quote}launch_id{quote} = "
        f"{warehouse.param('launch_id')}",
        {"launch_id": launch_id},
    )
    frame.columns = [str(column).lower() for column in frame.columns]
    facts = {
        "unit_type": str(frame["unit_type"].iloc[0]),
        "launched_at": pd.Timestamp(frame["launched_at"].iloc[0]).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    panel = frame[list(KEYS)].copy()
    panel["unit"] = panel["unit"].astype(str)
    panel["metric_date"] = pd.to_datetime(panel["metric_date"]).dt.normalize()
    for flag in ("is_treated", "is_post"):
        panel[flag] = panel[flag].astype(bool)
    panel["relative_day"] = panel["relative_day"].astype("int64")
    panel[metric] = pd.to_numeric(frame[metric], errors="coerce").astype("float64")
    return panel, facts


# --------------------------------------------------------------------------------------------
# the designs


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _result_dict(result: Any) -> dict[str, Any]:
    data = asdict(result) if hasattr(result, "__dataclass_fields__") else dict(result)
    data["assumptions"] = list(data.get("assumptions") or ())
    return data


def _run_designs(panel: Any, methods: Sequence[str], seed: int) -> list[dict[str, Any]]:
    from metricbook.stats import causal

    results = []
    for method in methods:
        if method == "did":
            did = _result_dict(causal.difference_in_differences(panel, alpha=ALPHA, seed=seed))
            in_time = causal.placebo_in_time(panel)
            in_space = causal.placebo_in_space(panel)
            did["diagnostics"]["placebo_p"] = in_time.p_value
            did["diagnostics"]["placebo_in_time"] = _result_dict(in_time)
            did["diagnostics"]["placebo_space_p"] = in_space.p_value
            did["diagnostics"]["placebo_in_space"] = _result_dict(in_space)
            results.append(did)
        elif method == "event_study":
            results.append(_result_dict(causal.event_study(panel, alpha=ALPHA)))
        elif method == "synthetic_control":
            results.append(_result_dict(causal.synthetic_control(panel, alpha=ALPHA)))
        elif method == "its":
            results.append(_result_dict(causal.interrupted_time_series(panel, alpha=ALPHA)))
    pre_trend = next(
        (r["diagnostics"].get("pre_trend_p") for r in results if r["method"] == "event_study"),
        None,
    )
    for result in results:
        if result["method"] == "did" and pre_trend is not None:
            result["diagnostics"]["pre_trend_p"] = pre_trend
    return results


def _percent(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:+.1%}"


def _p(value: float) -> str:
    return "n/a" if not math.isfinite(value) else ("< 0.001" if value < 0.001 else f"{value:.3f}")


def _p_is(value: float) -> str:
    """'p = 0.042' or 'p < 0.001', for sentences."""
    text = _p(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _verdict(
    metric: str, naive: dict[str, float], results: Sequence[dict[str, Any]]
) -> tuple[str, list[str]]:
    """The verdict (worded as evidence, naming each estimate's assumption) and the warnings."""
    by_method = {r["method"]: r for r in results}
    warnings: list[str] = []
    sentences: list[str] = []
    pre_trend = by_method.get("event_study", {}).get("diagnostics", {}).get("pre_trend_p")
    trends_fail = pre_trend is not None and math.isfinite(pre_trend) and pre_trend < PRE_TREND_ALPHA
    if trends_fail:
        warnings.append(
            f"the event study rejects parallel pre-trends ({_p_is(pre_trend)}): the treated "
            "units were already moving apart from the comparison before the launch"
        )
    did = by_method.get("did")
    if did is not None:
        d = did["diagnostics"]
        source = d.get("p_value_source", "clustered")
        if trends_fail:
            sentences.append(
                f"Difference-in-differences gives {_percent(_number(did['relative_effect']))}, but "
                "it rests on parallel trends, which the pre-period contradicts: it is not credible "
                "evidence of an effect of the launch."
            )
        else:
            low, high = _number(did["relative_ci_low"]), _number(did["relative_ci_high"])
            excludes = _number(did["ci_low"]) > 0 or _number(did["ci_high"]) < 0
            strength = (
                "the data are unlikely under no effect"
                if did["p_value"] < ALPHA
                else "the data are consistent with no effect"
            )
            sentences.append(
                f"If the treated and comparison units would have kept parallel trends, the "
                f"launch changed {metric} by {_percent(_number(did['relative_effect']))} "
                f"(95% CI {_percent(low)} to {_percent(high)}"
                f"{'' if excludes else ', which includes 0'}); {strength} "
                f"({_p_is(did['p_value'])}, {source} inference"
                + (
                    f" over {d['n_assignments']} possible assignments"
                    if source == "randomization" and d.get("n_assignments")
                    else ""
                )
                + ")."
            )
            if pre_trend is not None:
                sentences.append(
                    f"The pre-trend test does not reject parallel trends ({_p_is(pre_trend)}), "
                    "which supports, but cannot prove, the assumption."
                )
            in_time = d.get("placebo_in_time") or {}
            placebos = [e for e in in_time.get("estimates") or () if math.isfinite(e)]
            real = abs(_number(did["estimate"]))
            as_large = sum(abs(e) >= real for e in placebos)
            if placebos and as_large / len(placebos) > ALPHA:
                warnings.append(
                    f"{as_large} of {len(placebos)} placebo launch dates inside the pre-period "
                    f"moved {metric} at least as much as the real launch: the estimate may be "
                    "noise"
                )
    synthetic = by_method.get("synthetic_control")
    if synthetic is not None:
        sentences.append(
            f"Synthetic control (the treated average against a weighted mix of comparison units, "
            f"assuming that mix would have tracked it after the launch as before) gives "
            f"{_percent(_number(synthetic['relative_effect']))} (placebo rank "
            f"{_p_is(synthetic['p_value'])}; its pre-period RMSPE is "
            f"{_fit_share(synthetic, naive)} of the treated pre-period mean, the closer to 0 "
            "the better the counterfactual)."
        )
    its = by_method.get("its")
    if its is not None:
        sentences.append(
            f"The interrupted time series of the treated units alone, the weakest design "
            f"(it cannot tell the launch from anything else that changed that day), gives "
            f"{_percent(_number(its['relative_effect']))}."
        )
    naive_relative = naive.get("relative", float("nan"))
    reference = did if did is not None and not trends_fail else synthetic
    if reference is not None and math.isfinite(naive_relative):
        low, high = _number(reference["relative_ci_low"]), _number(reference["relative_ci_high"])
        if not low <= naive_relative <= high:
            sentences.append(
                f"The naive pre/post change in the treated units ({_percent(naive_relative)}) "
                f"lies outside that interval: it credits the launch with what moved every unit."
            )
    return " ".join(sentences), warnings


def _fit_share(synthetic: dict[str, Any], naive: dict[str, float]) -> str:
    pre_mean = naive.get("pre_mean", float("nan"))
    rmspe = _number(synthetic["diagnostics"].get("pre_rmspe"))
    if not (math.isfinite(pre_mean) and pre_mean and math.isfinite(rmspe)):
        return "n/a"
    return f"{rmspe / abs(pre_mean):.0%}"


def causal_readout(
    warehouse: Warehouse,
    target: str,
    launch_id: str,
    metric: str,
    methods: Sequence[str] = METHODS,
    negative_control: str | None = None,
    seed: int = 0,
) -> CausalReadout:
    """Read the panel once (twice with a negative control), run the designs, decide."""
    from metricbook.stats import causal

    frame, facts = read_panel(warehouse, launch_id, metric)
    try:
        panel = causal.Panel.from_frame(frame, metric)
        naive = causal.naive_pre_post(panel)
        results = _run_designs(panel, methods, seed)
    except ValueError as error:
        raise DataValidationError(f"launch {launch_id}, {metric}: {error}") from None
    naive_dict = {
        "estimate": float(naive.estimate),
        "relative": float(naive.relative),
        "pre_mean": float(naive.pre_mean),
        "post_mean": float(naive.post_mean),
    }
    verdict, warnings = _verdict(metric, naive_dict, results)
    control = None
    if negative_control is not None:
        if negative_control == metric:
            raise ConfigError("--negative-control must name another metric than --metric")
        control_frame, _ = read_panel(warehouse, launch_id, negative_control)
        try:
            control_panel = causal.Panel.from_frame(control_frame, negative_control)
            moved = causal.negative_control(control_panel, alpha=ALPHA, seed=seed)
        except ValueError as error:
            raise DataValidationError(f"launch {launch_id}, {negative_control}: {error}") from None
        control = {"metric": negative_control, **_result_dict(moved)}
        if moved.ci_low > 0 or moved.ci_high < 0:
            warnings.append(
                f"the negative control {negative_control}, which the launch should not move, "
                f"moved ({_percent(moved.relative_effect)}, 95% CI excludes 0): something else "
                "differs between treated and comparison units; distrust the design"
            )
    return CausalReadout(
        launch_id=launch_id,
        metric=metric,
        unit_type=facts["unit_type"],
        launched_at=facts["launched_at"],
        treated_units=tuple(sorted(frame.loc[frame["is_treated"], "unit"].unique())),
        control_units=tuple(sorted(frame.loc[~frame["is_treated"], "unit"].unique())),
        pre_period=_period(frame, pre=True),
        post_period=_period(frame, pre=False),
        naive_pre_post=naive_dict,
        results=tuple(results),
        verdict=verdict,
        warnings=tuple(warnings),
        negative_control=control,
        target=target,
        series=_series(frame, metric),
    )


def _period(frame: pd.DataFrame, *, pre: bool) -> Period:
    dates = frame.loc[frame["is_post"] != pre, "metric_date"]
    if dates.empty:
        return Period("", "", 0)
    return Period(
        f"{dates.min():%Y-%m-%d}", f"{dates.max():%Y-%m-%d}", int(dates.dt.normalize().nunique())
    )


def _series(frame: pd.DataFrame, metric: str) -> dict[str, list]:
    means = frame.groupby(["metric_date", "is_treated"])[metric].mean().unstack()
    return {
        "dates": [f"{d:%Y-%m-%d}" for d in means.index],
        "relative_day": frame.groupby("metric_date")["relative_day"].first().tolist(),
        "treated": [float(v) for v in means.get(True, pd.Series(np.nan, means.index))],
        "comparison": [float(v) for v in means.get(False, pd.Series(np.nan, means.index))],
    }


# --------------------------------------------------------------------------------------------
# rendering


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or not math.isfinite(float(value)):
        return "–"
    return f"{float(value):.{digits}g}" if abs(float(value)) < 1e-3 else f"{float(value):.4f}"


def text_table(readout: CausalReadout) -> str:
    lines = [
        f"launch {readout.launch_id} ({readout.unit_type}: {', '.join(readout.treated_units)} "
        f"treated, {len(readout.control_units)} comparison units), launched "
        f"{readout.launched_at}; metric {readout.metric}",
        f"pre {readout.pre_period.start}..{readout.pre_period.end} "
        f"({readout.pre_period.days} d), post {readout.post_period.start}.."
        f"{readout.post_period.end} ({readout.post_period.days} d)",
        f"naive pre/post in the treated units: {_fmt(readout.naive_pre_post['estimate'])} "
        f"({_percent(readout.naive_pre_post['relative'])})",
        "",
        f"{'method':<26}{'estimate':>10}{'95% CI':>22}{'p':>8}{'relative':>10}  evidence",
    ]
    for result in readout.results:
        d = result["diagnostics"]
        evidence = []
        if "pre_trend_p" in d:
            evidence.append(f"pre-trend p {_p(d['pre_trend_p'])}")
        if "placebo_p" in d:
            evidence.append(f"placebo-in-time p {_p(d['placebo_p'])}")
        if "pre_rmspe" in d:
            evidence.append(f"pre RMSPE {_fmt(d['pre_rmspe'])}")
        if "p_value_source" in d:
            evidence.append(f"p from {d['p_value_source']}")
        ci = f"[{_fmt(result['ci_low'])}, {_fmt(result['ci_high'])}]"
        lines.append(
            f"{METHOD_NAMES.get(result['method'], result['method']):<26}"
            f"{_fmt(result['estimate']):>10}{ci:>22}{_p(_number(result['p_value'])):>8}"
            f"{_percent(_number(result['relative_effect'])):>10}  {'; '.join(evidence)}"
        )
    if readout.negative_control is not None:
        nc = readout.negative_control
        lines.append(
            f"{'negative control ' + nc['metric']:<26}{_fmt(nc['estimate']):>10}"
            f"{'[' + _fmt(nc['ci_low']) + ', ' + _fmt(nc['ci_high']) + ']':>22}"
            f"{_p(_number(nc['p_value'])):>8}{_percent(_number(nc['relative_effect'])):>10}"
        )
    lines += ["", f"verdict: {readout.verdict}"]
    lines += [f"warning: {w}" for w in readout.warnings]
    return "\n".join(lines)


def _time_plot(readout: CausalReadout) -> plots.SeriesPlot | None:
    """Treated and comparison daily means (and the synthetic control) against the date, the
    launch marked; the y axis fitted to the values (plots.series)."""
    series = readout.series
    dates = list(series.get("dates", []))
    lines_in = [
        ("treated average", plots.ORANGE, series.get("treated", [])),
        ("comparison average", plots.BLUE, series.get("comparison", [])),
    ]
    synthetic = readout.result("synthetic_control")
    if synthetic is not None:
        path = synthetic["diagnostics"]
        by_date = dict(
            zip(
                [str(d)[:10] for d in path.get("dates") or []],
                path.get("synthetic") or [],
                strict=False,
            )
        )
        lines_in.append(("synthetic control", plots.TEAL, [by_date.get(d) for d in dates]))
    values = [v for _, _, vs in lines_in for v in vs if v is not None and math.isfinite(v)]
    if not values or len(dates) < 2:
        return None
    lines = [
        plots.Series(
            label,
            tuple(plots.SeriesPoint(i, v) for i, v in enumerate(vs)),
            colour,
            dashed=label == "synthetic control",
        )
        for label, colour, vs in lines_in
    ]
    launch = next((i for i, r in enumerate(series["relative_day"]) if r == 0), None)
    return plots.series(
        lines,
        fmt=plots.number,
        x_labels={i: d[5:] for i, d in enumerate(dates)},
        plot_width=860,
        plot_height=260,
        reference=None,
        markers=() if launch is None else ((launch, "launch"),),
    )


def _event_plot(bins: Sequence[dict[str, Any]]) -> plots.Forest | None:
    """The event-study coefficients with their CIs per bin of days (plots.forest); the omitted
    bin −1 is the reference, drawn muted at 0."""
    rows = []
    for row in bins:
        point = row.get("coef", row.get("estimate"))
        if point is None or not math.isfinite(point):
            continue
        lo, hi = row.get("ci_low"), row.get("ci_high")
        pre = bool(row.get("is_pre", False))
        omitted = lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi))
        label = f"bin {row['bin']}".replace("-", "−")
        text = "reference (omitted)" if omitted else f"{_fmt(point)} [{_fmt(lo)}, {_fmt(hi)}]"
        rows.append(
            plots.Interval(
                label=label,
                estimate=point,
                low=None if omitted else lo,
                high=None if omitted else hi,
                colour=plots.LIGHT if pre else plots.ORANGE,
                title=f"{label}: {text}",
                note=text.replace("-", "−"),
                muted=pre,
            )
        )
    if not rows:
        return None
    return plots.forest(rows, fmt=plots.signed_number, row_height=22, plot_width=520)


def _placebos(readout: CausalReadout) -> plots.Strip | None:
    did = readout.result("did")
    if did is None:
        return None
    in_space = (did["diagnostics"].get("placebo_in_space") or {}).get("estimates", [])
    in_time = (did["diagnostics"].get("placebo_in_time") or {}).get("estimates", [])
    finite = [e for e in [*in_space, *in_time] if e is not None and math.isfinite(e)]
    if not finite:
        return None
    real = did["estimate"]
    return plots.strip(
        [
            ("fake treated unit", [e for e in in_space if e is not None]),
            ("fake launch date", [e for e in in_time if e is not None]),
        ],
        [(real, f"the real estimate, {_fmt(real)}")] if math.isfinite(real) else [],
        fmt=plots.signed_number,
    )


def html_report(readout: CausalReadout) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    environment.filters.update(num=_fmt, pct=lambda v: _percent(_number(v)), p=_p)
    event = readout.result("event_study")
    template = environment.get_template("causal.html")
    return template.render(
        readout=readout,
        names=METHOD_NAMES,
        time_plot=_time_plot(readout),
        event_plot=None if event is None else _event_plot(event["diagnostics"].get("bins", [])),
        placebo_plot=_placebos(readout),
        panel_mart=PANEL,
    )
