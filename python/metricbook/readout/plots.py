"""SVG geometry for the readouts' plots: small pure functions (no I/O, no HTML), used by the
experiment, ranking and causal templates alike, so every plot follows the same rules:

- the axis is fitted to the data (points, CIs, 0 and any reference line) with a little padding,
  and its ticks are round (1-2-5 steps: 0.1, 0.2, 0.5, 1, 2, 5, ...);
- one very wide CI does not squeeze the others: CIs far wider than the typical row's are clipped
  at the axis and drawn with an arrow at the clipped end (the hover title keeps the true numbers);
- labels are measured (a conservative per-character width at the font size), and the label
  column, the margins and the SVG's size are computed from them, so no label is ever clipped and
  every tick label lies inside the SVG's viewport; tick labels never overlap (the step grows
  until they fit).

`forest(rows)` draws estimates with intervals, one row each (lifts, event-study bins); `series
(lines)` draws values over an x index with an optional CI band (daily and cumulative lift, a
treated and a comparison average); `strip(...)` is a one-dimensional dot plot (placebos).
Coordinates are in SVG user units (px at scale 1); the templates draw them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

FONT_SIZE = 12.0
# Conservative advance widths in em for DejaVu Sans, the widest of the usual sans fallbacks of
# `system-ui` (digits are 0.636 em there): an estimate that is too wide costs a few pixels of
# margin, one that is too narrow clips a label.
_NARROW = set("iljtfrI.,:;'|!()[] ")
_WIDE = set("mwMW%@—−")
GREY = "#6b7280"
LIGHT = "#9ca3af"
GREEN = "#047857"
AMBER = "#b45309"
RED = "#b91c1c"
BLUE = "#0072b2"
ORANGE = "#d55e00"
TEAL = "#009e73"

Formatter = Callable[[float, float], str]  # (value, tick step) -> label


def text_width(text: str, font_size: float = FONT_SIZE) -> float:
    """An upper estimate of `text`'s rendered width in px at `font_size` (sans-serif)."""
    em = 0.0
    for char in text:
        if char in _NARROW:
            em += 0.4
        elif char in _WIDE:
            em += 1.0
        elif char.isupper():
            em += 0.78
        else:
            em += 0.65
    return em * font_size


# --------------------------------------------------------------------------------------------
# ticks and axes


def nice_step(raw: float) -> float:
    """The smallest 1-2-5 step (…, 0.1, 0.2, 0.5, 1, 2, 5, 10, …) at least `raw`."""
    if not (math.isfinite(raw) and raw > 0):
        raise ValueError(f"a tick step must be positive and finite, got {raw!r}")
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        step = multiple * magnitude
        if step >= raw * (1 - 1e-9):
            return step
    return 10 * magnitude  # pragma: no cover - the loop always returns


def _next_step(step: float) -> float:
    return nice_step(step * 1.0001 * 1.5)  # 1 -> 2 -> 5 -> 10


def _clean(value: float, step: float) -> float:
    digits = max(0, 1 - math.floor(math.log10(step))) + 1
    value = round(value, digits)
    return 0.0 if value == 0 else value


def ticks_for(low: float, high: float, step: float) -> tuple[float, ...]:
    """The multiples of `step` from `low` to `high` (both included when they are multiples)."""
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return tuple(_clean(i * step, step) for i in range(first, last + 1))


@dataclass(frozen=True)
class Axis:
    """A fitted axis: [low, high], both multiples of `step`, and its round ticks."""

    low: float
    high: float
    step: float
    ticks: tuple[float, ...]

    def clip(self, value: float) -> float:
        return min(max(value, self.low), self.high)

    def fraction(self, value: float) -> float:
        """Where `value` (clipped to the axis) lies, 0 at `low` and 1 at `high`."""
        return (self.clip(value) - self.low) / (self.high - self.low)


def axis_for(low: float, high: float, target: int = 5) -> Axis:
    """A round axis covering [low, high] with about `target` intervals between ticks."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"an axis needs finite bounds, got {low!r}, {high!r}")
    if high < low:
        low, high = high, low
    if high == low:
        half = abs(low) * 0.1 or 1.0
        low, high = low - half, high + half
    step = nice_step((high - low) / max(1, target))
    return _snap(low, high, step)


def _snap(low: float, high: float, step: float) -> Axis:
    snapped_low = _clean(math.floor(low / step + 1e-9) * step, step)
    snapped_high = _clean(math.ceil(high / step - 1e-9) * step, step)
    return Axis(snapped_low, snapped_high, step, ticks_for(snapped_low, snapped_high, step))


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def fit_axis(
    points: Sequence[float | None],
    intervals: Sequence[tuple[float | None, float | None]] = (),
    references: Sequence[float | None] = (0.0,),
    *,
    target: int = 5,
    pad: float = 0.0,
    spread: float = 3.0,
) -> Axis:
    """The axis for `points` with their `intervals`, always showing the `references` (0, a
    margin). Every point and reference is inside it, and every interval no more than `spread`
    times as wide as the median interval; a wider interval (one huge CI) is left to be clipped
    at the axis and drawn with an arrow, so it cannot squeeze the others. The bounds snap
    outward to the step (`pad`, a share of the span, widens the data range first)."""
    intervals = [(lo, hi) for lo, hi in intervals if lo is not None and hi is not None]
    widths = sorted(
        hi - lo for lo, hi in intervals if math.isfinite(lo) and math.isfinite(hi) and hi >= lo
    )
    typical = widths[(len(widths) - 1) // 2] if widths else 0.0
    shown = _finite(points) + _finite(references)
    for lo, hi in intervals:
        if math.isfinite(lo) and math.isfinite(hi) and (hi - lo <= spread * typical or not shown):
            shown += [lo, hi]
    if not shown:
        return axis_for(-1.0, 1.0, target)
    low, high = min(shown), max(shown)
    span = high - low or (abs(high) * 0.2 or 1.0)
    return axis_for(low - pad * span, high + pad * span, target)


@dataclass(frozen=True)
class Tick:
    at: float  # px
    label: str


def percent(value: float, step: float) -> str:
    """A signed percentage with as many decimals as the step needs: +50%, −2%, +0.5%, 0%."""
    decimals = max(0, -math.floor(math.log10(step * 100) + 1e-9))
    if abs(value) < step * 1e-6:
        return "0%"
    return f"{value * 100:+.{decimals}f}%".replace("-", "−")


def number(value: float, step: float) -> str:
    """A plain number with as many decimals as the step needs: 0.5, 1.0, 250, −0.25."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if abs(value) < step * 1e-6:
        value = 0.0
    return f"{value:.{decimals}f}".replace("-", "−")


def signed_number(value: float, step: float) -> str:
    text = number(value, step)
    return text if text.startswith("−") or value == 0 or abs(value) < step * 1e-6 else "+" + text


def _readable_axis(
    fitted: Axis,
    length: float,
    fmt: Formatter,
    font_size: float,
    gap: float = 10.0,
    *,
    vertical: bool = False,
) -> Axis:
    """The fitted axis, its step grown until the tick labels do not touch along `length` px
    (side by side; stacked when `vertical`, where a label takes the font's height)."""
    axis = fitted
    for _ in range(12):
        spacing = length * axis.step / (axis.high - axis.low)
        widest = (
            font_size
            if vertical
            else max(text_width(fmt(t, axis.step), font_size) for t in axis.ticks)
        )
        if spacing >= widest + gap and len(axis.ticks) <= 12:
            return axis
        axis = _snap(fitted.low, fitted.high, _next_step(axis.step))
    return axis


# --------------------------------------------------------------------------------------------
# forest: one estimate and interval per row


@dataclass(frozen=True)
class Interval:
    """One row of a forest plot, in data units."""

    label: str
    estimate: float
    low: float | None = None
    high: float | None = None
    colour: str = GREY
    title: str = ""  # hover text: the true numbers, even when the CI is clipped
    note: str = ""  # printed right of the plot, e.g. "+38.6% [+14.1%, +68.4%]"
    band: float | None = None  # a light band ±band around 0 on this row (the MDE)
    marks: tuple[float, ...] = ()  # reference ticks on this row (a guardrail's margin)
    muted: bool = False  # drawn lighter (an omitted or pre-period bin)


@dataclass(frozen=True)
class ForestRow:
    y: float
    label: str
    x: float | None  # the estimate, None when it is not finite
    x_low: float
    x_high: float
    colour: str
    title: str
    note: str
    arrow_low: str  # SVG polygon points of the arrow at a clipped low end, or ""
    arrow_high: str
    band: tuple[float, float] | None
    marks: tuple[float, ...]
    muted: bool


@dataclass(frozen=True)
class Forest:
    width: float
    height: float
    plot_left: float
    plot_right: float
    top: float
    bottom: float  # y of the axis line
    label_x: float  # right edge of the row labels (text-anchor end)
    note_x: float  # left edge of the notes
    row_height: float
    rows: tuple[ForestRow, ...]
    ticks: tuple[Tick, ...]
    zero: float | None  # x of the reference line at 0, when 0 is on the axis
    axis: Axis
    clipped: bool  # some interval runs off the axis (an arrow is drawn)
    axis_label: str = ""


ARROW = 7.0  # px an arrow head extends beyond the clipped end


def _arrow(x: float, y: float, direction: int) -> str:
    tip = x + direction * ARROW
    return f"{x:.1f},{y - 4:.1f} {tip:.1f},{y:.1f} {x:.1f},{y + 4:.1f}"


def forest(
    rows: Sequence[Interval],
    *,
    fmt: Formatter = percent,
    plot_width: float = 480.0,
    row_height: float = 26.0,
    font_size: float = FONT_SIZE,
    references: Sequence[float] = (0.0,),
    axis_label: str = "",
    spread: float = 3.0,
) -> Forest:
    """Geometry of a forest plot: each row's estimate and interval on one fitted axis, row labels
    in a column as wide as the longest, notes right of the plot, ticks below it."""
    marks = [m for r in rows for m in r.marks]
    bands = [(-r.band, r.band) for r in rows if r.band is not None and math.isfinite(r.band)]
    fitted = fit_axis(
        [r.estimate for r in rows],
        [(r.low, r.high) for r in rows] + bands,
        [*references, *marks],
        spread=spread,
    )
    axis = _readable_axis(fitted, plot_width, fmt, font_size)
    tick_labels = [fmt(t, axis.step) for t in axis.ticks]
    half_first = text_width(tick_labels[0], font_size) / 2 if tick_labels else 0.0
    half_last = text_width(tick_labels[-1], font_size) / 2 if tick_labels else 0.0
    label_width = max([text_width(r.label, font_size) for r in rows] + [0.0])
    note_width = max([text_width(r.note, font_size) for r in rows] + [0.0])
    left = max(label_width + 12, half_first + 2, ARROW + 2) + 2
    plot_left, plot_right = left, left + plot_width
    note_x = plot_right + max(ARROW + 6, 12)
    width = max(note_x + note_width + 4 if note_width else plot_right + ARROW + 4,
                plot_right + half_last + 4)  # fmt: skip
    top = 4.0
    bottom = top + len(rows) * row_height

    def at(value: float) -> float:
        return plot_left + axis.fraction(value) * plot_width

    drawn = []
    clipped = False
    for index, r in enumerate(rows):
        y = top + index * row_height + row_height / 2
        finite_estimate = r.estimate is not None and math.isfinite(r.estimate)
        low = r.low if r.low is not None and not math.isnan(r.low) else r.estimate
        high = r.high if r.high is not None and not math.isnan(r.high) else r.estimate
        arrow_low = arrow_high = ""
        if low is not None and not math.isnan(low) and low < axis.low:
            arrow_low, clipped = _arrow(plot_left, y, -1), True
        if high is not None and not math.isnan(high) and high > axis.high:
            arrow_high, clipped = _arrow(plot_right, y, 1), True
        x = at(r.estimate) if finite_estimate else None
        band = None
        if r.band is not None and math.isfinite(r.band):
            band = (at(-abs(r.band)), at(abs(r.band)))
        drawn.append(
            ForestRow(
                y=y,
                label=r.label,
                x=x,
                x_low=at(low) if low is not None and not math.isnan(low) else (x or plot_left),
                x_high=at(high) if high is not None and not math.isnan(high) else (x or plot_left),
                colour=r.colour,
                title=r.title,
                note=r.note,
                arrow_low=arrow_low,
                arrow_high=arrow_high,
                band=band,
                marks=tuple(at(m) for m in r.marks if axis.low <= m <= axis.high),
                muted=r.muted,
            )
        )
    return Forest(
        width=math.ceil(width),
        height=math.ceil(bottom + font_size + 12 + (font_size + 8 if axis_label else 0)),
        plot_left=plot_left,
        plot_right=plot_right,
        top=top,
        bottom=bottom,
        label_x=plot_left - 12,
        note_x=note_x,
        row_height=row_height,
        rows=tuple(drawn),
        ticks=tuple(Tick(at(t), label) for t, label in zip(axis.ticks, tick_labels, strict=True)),
        zero=at(0.0) if axis.low <= 0 <= axis.high else None,
        axis=axis,
        clipped=clipped,
        axis_label=axis_label,
    )


# --------------------------------------------------------------------------------------------
# series: values over an x index, with an optional CI band


@dataclass(frozen=True)
class SeriesPoint:
    """One point of a series: `x` a day index (0, 1, ...) or any number, `y` the value, and an
    optional interval [low, high] drawn as a band."""

    x: float
    y: float | None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Series:
    label: str
    points: tuple[SeriesPoint, ...]
    colour: str = BLUE
    dashed: bool = False


@dataclass(frozen=True)
class DrawnPoint:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class DrawnSeries:
    label: str
    colour: str
    dashed: bool
    line: str  # polyline points (finite values only)
    band: str  # polygon points of the CI band, clipped to the axis, or ""
    points: tuple[DrawnPoint, ...]
    clipped: bool  # the band runs off the axis somewhere


@dataclass(frozen=True)
class SeriesPlot:
    width: float
    height: float
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    lines: tuple[DrawnSeries, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    reference: float | None  # y of the reference line (0), when on the axis
    markers: tuple[Tick, ...]  # vertical lines (a launch date), label above the plot
    axis: Axis
    clipped: bool
    x_label: str = ""
    y_label: str = ""
    legend: tuple[tuple[str, str, bool], ...] = field(default=())  # (label, colour, dashed)


def series(
    lines: Sequence[Series],
    *,
    fmt: Formatter = percent,
    x_labels: Mapping[float, str] | None = None,
    plot_width: float = 720.0,
    plot_height: float = 240.0,
    font_size: float = FONT_SIZE,
    reference: float | None = 0.0,
    markers: Sequence[tuple[float, str]] = (),
    x_label: str = "",
    y_label: str = "",
    spread: float = 3.0,
) -> SeriesPlot:
    """Geometry of a line plot of `lines` against their x, each with its CI band when the points
    carry one, on a y axis fitted to the values, the bands (a band far wider than the typical
    one is clipped) and the `reference` line; x ticks are `x_labels` (e.g. dates) thinned until
    they do not overlap, or round numbers."""
    xs = [p.x for s in lines for p in s.points if math.isfinite(p.x)]
    if not xs:
        raise ValueError("a series plot needs at least one point with a finite x")
    x_low, x_high = min(xs), max(xs)
    if x_high == x_low:
        x_low, x_high = x_low - 0.5, x_high + 0.5
    fitted = fit_axis(
        [p.y for s in lines for p in s.points],
        [(p.low, p.high) for s in lines for p in s.points],
        [] if reference is None else [reference],
        spread=spread,
    )
    axis = _readable_axis(fitted, plot_height, fmt, font_size, gap=18, vertical=True)
    y_labels = [fmt(t, axis.step) for t in axis.ticks]
    y_label_width = max(text_width(label, font_size) for label in y_labels)

    if x_labels:
        texts = {float(k): v for k, v in x_labels.items() if x_low <= k <= x_high}
    else:
        x_axis = axis_for(x_low, x_high, 8)
        if all(float(x).is_integer() for x in xs) and x_axis.step < 1:
            x_axis = _snap(x_low, x_high, 1.0)  # day indices: whole days only
        x_axis = _readable_axis(x_axis, plot_width, number, font_size, 16)
        texts = {t: number(t, x_axis.step) for t in x_axis.ticks if x_low <= t <= x_high}
    widest_x = max([text_width(t, font_size) for t in texts.values()] + [0.0])
    half_x = widest_x / 2
    left = max(y_label_width + 10, half_x + 2) + (font_size + 10 if y_label else 0) + 2
    plot_left, plot_right = left, left + plot_width
    # room above the plot for half the top tick label (centred on the top gridline)
    top = font_size / 2 + 6.0 + (font_size + 6 if markers else 0)
    bottom = top + plot_height
    width = plot_right + max(half_x + 4, 8)

    def x_at(value: float) -> float:
        return plot_left + (value - x_low) / (x_high - x_low) * plot_width

    def y_at(value: float) -> float:
        return bottom - axis.fraction(value) * plot_height

    drawn = []
    clipped_any = False
    for s in lines:
        finite = [p for p in s.points if p.y is not None and math.isfinite(p.y)]
        line = " ".join(f"{x_at(p.x):.1f},{y_at(p.y):.1f}" for p in finite)
        banded = [
            p
            for p in s.points
            if p.low is not None and p.high is not None and not math.isnan(p.low)
            and not math.isnan(p.high)
        ]  # fmt: skip
        clipped = any(p.low < axis.low or p.high > axis.high for p in banded)
        clipped_any |= clipped
        band = ""
        if len(banded) >= 2:
            upper = [f"{x_at(p.x):.1f},{y_at(p.high):.1f}" for p in banded]
            lower = [f"{x_at(p.x):.1f},{y_at(p.low):.1f}" for p in reversed(banded)]
            band = " ".join(upper + lower)
        step = axis.step / 10
        points = tuple(
            DrawnPoint(
                x_at(p.x),
                y_at(p.y),
                f"{s.label} at {texts.get(float(p.x), number(p.x, 1))}: {fmt(p.y, step)}"
                + (
                    f" [{fmt(p.low, step)}, {fmt(p.high, step)}]"
                    if p.low is not None
                    and p.high is not None
                    and math.isfinite(p.low)
                    and math.isfinite(p.high)
                    else ""
                ),  # fmt: skip
            )
            for p in finite
        )
        drawn.append(DrawnSeries(s.label, s.colour, s.dashed, line, band, points, clipped))

    # thin the x labels until neighbours do not touch
    keys = sorted(texts)
    chosen = keys
    if x_labels and len(keys) > 1:
        px_per_key = plot_width / max(1, len(keys) - 1)
        every = max(1, math.ceil((widest_x + 12) / px_per_key))
        chosen = keys[::every]
    x_ticks = tuple(Tick(x_at(k), texts[k]) for k in chosen)
    return SeriesPlot(
        width=math.ceil(width),
        height=math.ceil(bottom + font_size + 12 + (font_size + 8 if x_label else 0)),
        plot_left=plot_left,
        plot_right=plot_right,
        plot_top=top,
        plot_bottom=bottom,
        lines=tuple(drawn),
        x_ticks=x_ticks,
        y_ticks=tuple(Tick(y_at(t), label) for t, label in zip(axis.ticks, y_labels, strict=True)),
        reference=None
        if reference is None or not axis.low <= reference <= axis.high
        else y_at(reference),
        markers=tuple(Tick(x_at(x), label) for x, label in markers if x_low <= x <= x_high),
        axis=axis,
        clipped=clipped_any,
        x_label=x_label,
        y_label=y_label,
        legend=tuple((s.label, s.colour, s.dashed) for s in lines),
    )


# --------------------------------------------------------------------------------------------
# strip: a one-dimensional dot plot


@dataclass(frozen=True)
class Strip:
    width: float
    height: float
    plot_left: float
    plot_right: float
    label_x: float
    rows: tuple[tuple[float, str, tuple[float, ...]], ...]  # (y, label, xs)
    lines: tuple[tuple[float, str], ...]  # (x, label) vertical reference lines
    ticks: tuple[Tick, ...]
    axis_y: float


def strip(
    rows: Sequence[tuple[str, Sequence[float]]],
    lines: Sequence[tuple[float, str]] = (),
    *,
    fmt: Formatter = number,
    plot_width: float = 480.0,
    row_height: float = 22.0,
    font_size: float = FONT_SIZE,
) -> Strip:
    """Geometry of labelled rows of dots on one fitted axis, with vertical reference lines
    (the real estimate) and 0 always on it."""
    values = [v for _, xs in rows for v in xs]
    fitted = fit_axis(values, (), [0.0, *(x for x, _ in lines)])
    axis = _readable_axis(fitted, plot_width, fmt, font_size)
    tick_labels = [fmt(t, axis.step) for t in axis.ticks]
    label_width = max([text_width(label, font_size) for label, _ in rows] + [0.0])
    left = max(label_width + 12, text_width(tick_labels[0], font_size) / 2 + 2) + 2
    right = left + plot_width
    line_labels = max([text_width(label, font_size) for _, label in lines] + [0.0])
    width = right + max(text_width(tick_labels[-1], font_size) / 2 + 4, 8)
    width = max(width, right + line_labels / 2 + 4)
    top = 4.0 + (font_size + 6 if lines else 0)

    def at(value: float) -> float:
        return left + axis.fraction(value) * plot_width

    drawn = tuple(
        (top + i * row_height + row_height / 2, label, tuple(at(v) for v in xs if math.isfinite(v)))
        for i, (label, xs) in enumerate(rows)
    )
    axis_y = top + len(rows) * row_height
    return Strip(
        width=math.ceil(width),
        height=math.ceil(axis_y + font_size + 12),
        plot_left=left,
        plot_right=right,
        label_x=left - 12,
        rows=drawn,
        lines=tuple((at(x), label) for x, label in lines if math.isfinite(x)),
        ticks=tuple(Tick(at(t), label) for t, label in zip(axis.ticks, tick_labels, strict=True)),
        axis_y=axis_y,
    )
