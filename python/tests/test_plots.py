"""plots.py, the readouts' SVG geometry, without a browser: round 1-2-5 ticks, an axis fitted to
the data (0 and the reference lines always on it), one huge CI clipped with an arrow instead of
squeezing the rest, label columns as wide as their longest label, every tick label inside the
SVG, and the series plot on synthetic daily points."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from metricbook.readout import plots
from metricbook.readout.plots import Interval, Series, SeriesPoint

# the seed readout's relative lifts: revenue's CI (−97.5% to +150.4%) is five times the others'
SEED = [
    ("ctr", 0.3864, 0.1412, 0.6844),
    ("clicks_per_user", 0.0254, -0.2236, 0.3544),
    ("saves_per_user", -0.1699, -0.3599, 0.0765),
    ("active_days_per_user", -0.0300, -0.1814, 0.1494),
    ("revenue_per_user", -0.7507, -0.9752, 1.5040),
    ("saver_rate", -0.0793, -0.1989, 0.0582),
    ("hides_per_user", -0.2005, -0.4904, 0.2543),
]


def _is_nice(step: float) -> bool:
    mantissa = step / 10 ** math.floor(math.log10(step))
    return any(math.isclose(mantissa, m) for m in (1, 2, 5))


def _seed_forest(**kwargs) -> plots.Forest:
    rows = [Interval(label, e, lo, hi, note=f"{e:+.1%} [{lo:+.1%}, {hi:+.1%}]")
            for label, e, lo, hi in SEED]  # fmt: skip
    return plots.forest(rows, references=(0.0, 0.10), **kwargs)


@pytest.mark.parametrize(
    ("raw", "step"), [(0.31, 0.5), (0.07, 0.1), (1.0, 1.0), (1.01, 2.0), (3, 5), (0.0021, 0.005)]
)
def test_nice_step_is_the_next_one_two_five(raw: float, step: float) -> None:
    assert plots.nice_step(raw) == pytest.approx(step)


@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(1e-6, 1e6, allow_nan=False),
    st.integers(2, 10),
)
def test_axis_covers_the_range_with_round_ticks(low: float, span: float, target: int) -> None:
    assume(span >= 1e-6 * abs(low))  # beyond float precision there is nothing to draw
    axis = plots.axis_for(low, low + span, target)
    slack = axis.step * 1e-9  # ticks are rounded to the step's precision
    assert axis.low <= low + slack and axis.high >= low + span - slack
    assert _is_nice(axis.step)
    assert axis.ticks[0] == pytest.approx(axis.low) and axis.ticks[-1] == pytest.approx(axis.high)
    gaps = [b - a for a, b in zip(axis.ticks, axis.ticks[1:], strict=False)]
    assert all(g == pytest.approx(axis.step, rel=1e-4) for g in gaps)
    assert len(axis.ticks) <= 2 * target + 2


def test_ticks_print_round_values() -> None:
    axis = plots.axis_for(0.0, 0.3, 3)  # step 0.1: no 0.30000000000000004
    assert axis.ticks == (0.0, 0.1, 0.2, 0.3)
    assert [plots.percent(t, 0.5) for t in (-1.0, -0.5, 0.0, 0.5)] == [
        "−100%",
        "−50%",
        "0%",
        "+50%",
    ]
    assert plots.percent(0.005, 0.005) == "+0.5%"
    assert plots.number(1.5, 0.5) == "1.5" and plots.signed_number(-0.25, 0.05) == "−0.25"


def test_axis_is_fitted_to_the_data_not_symmetric() -> None:
    axis = plots.fit_axis([0.2, 0.3], [(0.1, 0.4), (0.15, 0.5)])
    assert axis.low == 0.0  # 0 is always shown, but not mirrored to −0.5
    assert 0.5 <= axis.high <= 0.6


def test_reference_lines_are_on_the_axis() -> None:
    axis = plots.fit_axis([0.01], [(-0.02, 0.04)], [0.0, -0.10])
    assert axis.low <= -0.10 and axis.high >= 0.04


def test_one_huge_ci_is_clipped_with_an_arrow_and_does_not_squeeze_the_rest() -> None:
    forest = _seed_forest()
    assert forest.axis.high < 1.504  # revenue's +150% is not on the axis ...
    assert forest.axis.low <= -0.7507  # ... but its estimate is
    rows = {r.label: r for r in forest.rows}
    revenue = rows["revenue_per_user"]
    assert revenue.arrow_high and not revenue.arrow_low and forest.clipped
    assert revenue.x_high == pytest.approx(forest.plot_right)
    assert all(not r.arrow_high and not r.arrow_low for r in forest.rows if r is not revenue)
    # the typical CI gets a usable share of the plot: not a few pixels
    ctr = rows["ctr"]
    assert ctr.x_high - ctr.x_low > 0.2 * (forest.plot_right - forest.plot_left)


def test_no_clamp_when_the_intervals_are_alike() -> None:
    axis = plots.fit_axis([0.1, -0.1], [(-0.3, 0.5), (-0.5, 0.3)])
    assert axis.low <= -0.5 and axis.high >= 0.5


def test_label_column_is_as_wide_as_the_longest_label() -> None:
    forest = _seed_forest()
    longest = max(plots.text_width(label) for label, *_ in SEED)
    assert forest.label_x >= longest  # the label's left end stays inside the SVG
    wider = plots.forest([Interval("x" * 60, 0.1, 0.0, 0.2)])
    assert wider.label_x >= plots.text_width("x" * 60) > forest.label_x
    assert wider.plot_right - wider.plot_left == pytest.approx(forest.plot_right - forest.plot_left)


def test_text_width_is_a_conservative_estimate() -> None:
    # DejaVu Sans at 12 px: digits 7.6 px, "%" 11.4 px; the estimate must not be narrower
    assert plots.text_width("0123456789") >= 10 * 7.6
    assert plots.text_width("%") >= 11.4
    assert plots.text_width("top3_impression_share") > plots.text_width("ctr")


def test_every_tick_label_and_note_is_inside_the_svg() -> None:
    forest = _seed_forest()
    for tick in forest.ticks:
        half = plots.text_width(tick.label) / 2
        assert tick.at - half >= 0 and tick.at + half <= forest.width
    notes = max(plots.text_width(r.note) for r in forest.rows)
    assert forest.note_x + notes <= forest.width
    assert forest.note_x > forest.plot_right + plots.ARROW  # an arrow never runs into a note


def test_tick_labels_never_touch() -> None:
    forest = plots.forest([Interval("a", 0.0, -0.0123, 0.0456)], plot_width=120)
    spacing = forest.ticks[1].at - forest.ticks[0].at
    assert spacing >= max(plots.text_width(t.label) for t in forest.ticks)


def test_mde_band_and_guardrail_margin_are_drawn_on_their_row() -> None:
    rows = [
        Interval("saves", -0.05, -0.15, 0.05, band=0.12),
        Interval("hides", 0.02, -0.08, 0.12, marks=(0.10,)),
    ]
    forest = plots.forest(rows)
    saves, hides = forest.rows
    assert saves.band is not None and saves.band[0] < forest.zero < saves.band[1]
    assert saves.band[1] - forest.zero == pytest.approx(forest.zero - saves.band[0])
    assert hides.band is None and len(hides.marks) == 1 and hides.marks[0] > forest.zero


def test_non_finite_bounds_become_arrows() -> None:
    forest = plots.forest([Interval("a", 0.1, 0.0, 0.2), Interval("b", 0.1, 0.05, math.inf)])
    assert forest.rows[1].arrow_high and forest.rows[1].x_high == pytest.approx(forest.plot_right)


# --------------------------------------------------------------------------------------------
# series


def _daily(days: int = 14) -> tuple[Series, Series]:
    """Synthetic daily and cumulative lifts: the daily CI is wide on day 0 and narrows."""
    daily = tuple(
        SeriesPoint(d, 0.05 + 0.02 * math.sin(d), 0.05 - 0.6 / (d + 1) ** 0.5 - 0.05,
                    0.05 + 0.6 / (d + 1) ** 0.5 + 0.05)
        for d in range(days)
    )  # fmt: skip
    cumulative = tuple(
        SeriesPoint(d, 0.05, 0.05 - 0.3 / (d + 1) ** 0.5, 0.05 + 0.3 / (d + 1) ** 0.5)
        for d in range(days)
    )
    return Series("daily lift", daily, plots.BLUE), Series(
        "cumulative lift", cumulative, plots.ORANGE
    )


def test_series_plot_of_daily_and_cumulative_lift() -> None:
    daily, cumulative = _daily()
    labels = {d: f"2024-03-{d + 1:02d}" for d in range(14)}
    plot = plots.series([daily, cumulative], x_labels=labels, plot_width=600)
    assert len(plot.lines) == 2 and all(s.band for s in plot.lines)
    assert plot.reference is not None  # 0 is on the axis, a line drawn there
    assert plot.axis.low <= 0 <= plot.axis.high and _is_nice(plot.axis.step)
    assert all(len(s.points) == 14 for s in plot.lines)
    # x labels thinned until they do not touch, first and last inside the SVG
    widths = [plots.text_width(t.label) for t in plot.x_ticks]
    gaps = [b.at - a.at for a, b in zip(plot.x_ticks, plot.x_ticks[1:], strict=False)]
    assert all(g >= max(widths) for g in gaps)
    assert plot.x_ticks[0].at - widths[0] / 2 >= 0
    assert plot.x_ticks[-1].at + widths[-1] / 2 <= plot.width
    for tick in plot.y_ticks:
        assert plot.plot_left - 6 - plots.text_width(tick.label) >= 0
        assert plot.plot_top <= tick.at <= plot.plot_bottom


def test_series_clips_a_band_far_wider_than_the_rest() -> None:
    points = [SeriesPoint(0, 0.1, -5.0, 5.0)] + [
        SeriesPoint(d, 0.1, 0.0, 0.2) for d in range(1, 10)
    ]
    plot = plots.series([Series("daily", tuple(points))])
    assert plot.clipped and plot.axis.high < 5.0
    ys = [float(pair.split(",")[1]) for pair in plot.lines[0].band.split()]
    assert all(plot.plot_top - 1e-6 <= y <= plot.plot_bottom + 1e-6 for y in ys)


def test_series_without_bands_or_reference() -> None:
    plot = plots.series(
        [Series("treated", tuple(SeriesPoint(d, 10 + d) for d in range(5)))],
        fmt=plots.number,
        reference=None,
        markers=[(2, "launch")],
    )
    assert plot.lines[0].band == "" and plot.reference is None
    assert plot.axis.low >= 0 and plot.axis.low <= 10  # fitted, not forced down to 0
    assert len(plot.markers) == 1 and plot.markers[0].label == "launch"
    assert plot.x_ticks[0].label == "0"  # round numbers when no labels are given


def test_series_needs_a_point() -> None:
    with pytest.raises(ValueError, match="at least one point"):
        plots.series([Series("empty", ())])
