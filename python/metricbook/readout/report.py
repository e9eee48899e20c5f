"""Readouts for people: a terminal table and a self-contained HTML page (inline CSS and SVG, no
scripts, fonts or images fetched from anywhere)."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from statistics import NormalDist

import jinja2

from metricbook.errors import ConfigError
from metricbook.readout import plots
from metricbook.readout.readout import MetricResult, Readout
from metricbook.readout.report_depth import (
    depth_text,
    over_time_plots,
    read_with_care,
    segment_forests,
)

TEMPLATES = Path(__file__).parent / "templates"


def _pct(value: float | None, signed: bool = True, digits: int = 2) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "+∞" if value > 0 else "−∞"
    return f"{value:+.{digits}%}" if signed else f"{value:.{digits}%}"


def _num(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def _p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def text_table(readout: Readout) -> str:
    """The readout as plain text for a terminal."""
    srm = readout.srm
    lines = [
        f"experiment {readout.experiment_id}  (target {readout.target}, alpha {readout.alpha}, "
        f"{readout.correction} correction)",
        f"SRM: {'passed' if srm.passed else 'FAILED'}  p = {_p(srm.p_value)}  counts "
        + ", ".join(f"{k}={v}" for k, v in srm.counts.items())
        + "  expected "
        + ", ".join(f"{k}={v:.0%}" for k, v in srm.expected_shares.items()),
        "",
    ]
    # columns as wide as their longest entry: a long metric or variant name never runs into
    # the next column
    metric_w = max([22, *(len(r.metric) + 1 for r in readout.results)])
    variant_w = max([11, *(len(r.variant) + 1 for r in readout.results)])
    method_w = max([22, *(len(r.method) + 1 for r in readout.results)])
    header = (
        f"{'metric':<{metric_w}}{'role':<12}{'variant':<{variant_w}}{'method':<{method_w}}"
        f"{'control':>10}{'treatment':>11}{'lift':>9}{'lift 95% CI':>22}{'p':>9}{'p adj':>9}  note"
    )
    lines += [header, "-" * len(header)]
    decided = [r for r in readout.results if r.role != "diagnostic"]
    diagnostics = [r for r in readout.results if r.role == "diagnostic"]
    for r in decided + diagnostics:
        if diagnostics and r is diagnostics[0]:
            lines.append("diagnostics (descriptive: uncorrected p, not in the decision):")
        note = []
        if r.variance_reduction is not None:
            note.append(f"CUPED -{r.variance_reduction:.0%} var")
        if r.guardrail:
            note.append(f"guardrail {r.guardrail['status']}")
        if r.significant and r.role != "diagnostic":
            note.append("significant")
        lines.append(
            f"{r.metric:<{metric_w}}{r.role:<12}{r.variant:<{variant_w}}{r.method:<{method_w}}"
            f"{_num(r.control_value):>10}{_num(r.treatment_value):>11}{_pct(r.rel_lift):>9}"
            f"{_pct(r.rel_lift_ci_low) + ' to ' + _pct(r.rel_lift_ci_high):>22}"
            f"{_p(r.p_value):>9}{_p(r.p_value_adjusted):>9}  {', '.join(note)}"
        )
    if readout.ctr_decomposition:
        lines += ["", "CTR by feed position (descriptive; the ctr row above is the test):"]
        for variant, split in readout.ctr_decomposition.items():
            lines.append(
                f"  {variant}: pooled CTR {_num(split.control_ctr)} -> {_num(split.treatment_ctr)}"
                f" ({_pct(split.raw_lift)}) = rate effect {split.rate_effect:+.4f}"
                f" + position-mix effect {split.mix_effect:+.4f}; position-adjusted lift"
                f" {_pct(split.position_adjusted_lift)} over {split.slots} slots"
            )
    if readout.validation.warnings:
        lines += ["", "validation warnings:"]
        lines += [f"  - {w.explain()}" for w in readout.validation.warnings]
    if readout.warnings:
        lines += ["", "read anyway (--allow-stale):"]
        lines += [f"  - {w}" for w in readout.warnings]
    lines += depth_text(readout)
    lines += ["", f"DECISION: {readout.decision.verdict.upper()}"]
    lines += [f"  - {reason}" for reason in readout.decision.reasons]
    care = read_with_care(readout)
    if care:
        lines += ["read with care:", *(f"  - {note}" for note in care)]
    return "\n".join(lines)


def relative_mde(result: MetricResult, alpha: float, power: float = 0.8) -> float | None:
    """The relative minimum detectable effect of the row's test at `power`:
    (z_{1-alpha/2} + z_power) * diff_se / |control_value|, the lift this sample would detect
    with that probability (two-sided normal approximation; Kohavi, Tang & Xu 2020, ch. 17)."""
    if (
        not (math.isfinite(result.diff_se) and math.isfinite(result.control_value))
        or result.control_value == 0
    ):
        return None
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return z * result.diff_se / abs(result.control_value)


def _guardrail_mark(result: MetricResult) -> tuple[float, ...]:
    """The guardrail's margin on its harmful side of 0 (a relative lift)."""
    if not result.guardrail:
        return ()
    margin = float(result.guardrail["margin"])
    return (margin if result.guardrail["harmful_direction"] == "increase" else -margin,)


def _colour(result: MetricResult) -> str:
    if result.guardrail and result.guardrail["status"] == "harmed":
        return plots.RED
    if result.significant and result.role != "diagnostic":
        return plots.GREEN if result.rel_lift > 0 else plots.AMBER
    return plots.GREY


def _forest(results: list[MetricResult], alpha: float, *, with_mde: bool = True) -> plots.Forest:
    """The forest plot of relative lifts with their CIs, one row per metric (and variant when
    there is more than one), each decided row with its MDE band and guardrail margin."""
    several = len({r.variant for r in results}) > 1
    rows = []
    for r in results:
        mde = relative_mde(r, alpha) if with_mde else None
        ci = f"{_pct(r.rel_lift_ci_low, digits=1)}, {_pct(r.rel_lift_ci_high, digits=1)}"
        title = (
            f"{r.metric} ({r.variant} vs {r.control_variant}): lift {_pct(r.rel_lift)}, "
            f"{(1 - alpha):.0%} CI {_pct(r.rel_lift_ci_low)} to {_pct(r.rel_lift_ci_high)}"
        )
        if mde is not None:
            title += f"; MDE at 80% power ±{mde:.1%}"
        if r.guardrail:
            title += (
                f"; guardrail: harmful if it {r.guardrail['harmful_direction']}s by more than "
                f"{r.guardrail['margin']:.0%} ({r.guardrail['status']})"
            )
        rows.append(
            plots.Interval(
                label=f"{r.metric} ({r.variant})" if several else r.metric,
                estimate=r.rel_lift,
                low=r.rel_lift_ci_low,
                high=r.rel_lift_ci_high,
                colour=_colour(r),
                title=title,
                note=f"{_pct(r.rel_lift, digits=1)} [{ci}]".replace("-", "−"),
                band=mde,
                marks=_guardrail_mark(r),
            )
        )
    return plots.forest(rows)


def html_report(readout: Readout) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    environment.filters.update(pct=_pct, num=_num, p=_p)
    template = environment.get_template("readout.html")
    guardrails = [r for r in readout.results if r.guardrail]
    cuped = [r for r in readout.results if r.variance_reduction is not None]
    decided = [r for r in readout.results if r.role != "diagnostic"]
    diagnostics = [r for r in readout.results if r.role == "diagnostic"]
    return template.render(
        readout=readout,
        forest=_forest(decided, readout.alpha) if decided else None,
        diagnostics_forest=_forest(diagnostics, readout.alpha, with_mde=False)
        if diagnostics
        else None,
        several_variants=len({r.variant for r in readout.results}) > 1,
        time_plots=over_time_plots(readout),
        read_with_care=read_with_care(readout),
        segment_plots=segment_forests(readout),
        guardrails=guardrails,
        cuped=cuped,
    )


def check_output_path(path: Path, flag: str = "--report") -> Path:
    """Refuse an output path that cannot be written, before any work: a directory, a path
    under a file, a missing parent directory, a directory we may not write into. Probing
    with a temporary file is the only honest test of writability (root ignores modes)."""
    if path.is_dir():
        raise ConfigError(f"{flag} {path} is a directory; give a file name such as readout.html")
    parent = path.parent
    for ancestor in (parent, *parent.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise ConfigError(f"{flag} {path}: {ancestor} is a file, not a directory")
            break
    if not parent.is_dir():
        raise ConfigError(f"{flag} {path}: directory {parent} does not exist; create it first")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".metricbook-probe-"):
            pass
    except OSError as error:
        raise ConfigError(
            f"{flag} {path}: cannot write in {parent} ({error.strerror}); choose another place"
        ) from None
    return path


def write_atomically(path: Path, text: str) -> Path:
    """Write `text` to a temporary file beside `path`, then rename it over `path`: a reader
    sees the old file or the new one, never half of one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_html_report(readout: Readout, path: Path) -> Path:
    check_output_path(path)
    return write_atomically(path, html_report(readout))
