"""The benchmark's scaling plot: seconds against raw events, both axes logarithmic, one line per
step and a dashed line of slope 1 through the floor's first point, so a step that grows faster
than linearly bends away from it at a glance. A self-contained SVG (no plotting library)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

# (result key, label, colour)
STEPS = [
    ("floor", "floor (hand-written DuckDB)", "#6b7280"),
    ("dbt_run_core", "dbt run, the floor's marts", "#2563eb"),
    ("dbt_run", "dbt run, whole project", "#7c3aed"),
    ("dbt_build", "dbt build (+ data tests)", "#dc2626"),
    ("incremental_build", "incremental day", "#059669"),
]
WIDTH, HEIGHT = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 230, 20, 50


def _decades(low: float, high: float) -> list[float]:
    return [10.0**e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)]


def _label(value: float, unit: str) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if value >= scale:
            return f"{value / scale:g}{suffix}{unit}"
    return f"{value:g}{unit}"


def scaling_svg(sizes: Sequence[dict]) -> str:
    """The SVG text for the benchmark's per-size results (run.bench_size's dicts)."""
    points = {
        key: [(s["raw_events"], s[key]["seconds"]) for s in sizes if s.get(key)]
        for key, _, _ in STEPS
    }
    xs = [x for line in points.values() for x, _ in line]
    ys = [y for line in points.values() for _, y in line if y > 0]
    if not xs or not ys:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="60">'
            '<text x="10" y="30">no benchmark results</text></svg>'
        )
    x_ticks, y_ticks = _decades(min(xs), max(xs)), _decades(min(ys), max(ys))
    x_low, x_high = math.log10(x_ticks[0]), math.log10(x_ticks[-1])
    y_low, y_high = math.log10(y_ticks[0]), math.log10(y_ticks[-1])
    x_high, y_high = max(x_high, x_low + 1), max(y_high, y_low + 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (math.log10(x) - x_low) / (x_high - x_low) * plot_w

    def py(y: float) -> float:
        return TOP + plot_h - (math.log10(y) - y_low) / (y_high - y_low) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        "<title>metricbook benchmark: seconds against raw events (log-log)</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#d1d5db"/>',
    ]
    for tick in x_ticks:
        x = px(tick)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="#f3f4f6"/>'
            f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">'
            f"{_label(tick, '')}</text>"
        )
    for tick in y_ticks:
        y = py(tick)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#f3f4f6"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(tick, " s")}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 12}" text-anchor="middle">raw events</text>'
        f'<text x="16" y="{TOP + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {TOP + plot_h / 2})">seconds (wall)</text>'
    )
    if points["floor"]:  # linear growth from the floor's smallest size: slope 1 on log-log
        x0, y0 = min(points["floor"])
        x1 = x_ticks[-1]
        y1 = y0 * x1 / x0
        parts.append(
            f'<line x1="{px(x0):.1f}" y1="{py(y0):.1f}" x2="{px(x1):.1f}" y2="{py(y1):.1f}" '
            'stroke="#9ca3af" stroke-dasharray="4 4" class="linear-reference"/>'
        )
    legend_y = TOP + 10
    for key, label, colour in [*STEPS, (None, "linear from the floor", "#9ca3af")]:
        line = sorted(points.get(key, [])) if key else []
        if line:
            coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in line if y > 0)
            parts.append(
                f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2" '
                f'data-step="{key}"/>'
            )
            parts += [
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(label)}: {y:g} s at {x:,} events</title></circle>"
                for x, y in line
                if y > 0
            ]
        if line or key is None:
            dash = ' stroke-dasharray="4 4"' if key is None else ""
            parts.append(
                f'<line x1="{WIDTH - RIGHT + 16}" y1="{legend_y}" x2="{WIDTH - RIGHT + 40}" '
                f'y2="{legend_y}" stroke="{colour}" stroke-width="2"{dash}/>'
                f'<text x="{WIDTH - RIGHT + 46}" y="{legend_y + 4}">{escape(label)}</text>'
            )
            legend_y += 20
    parts.append("</svg>")
    return "\n".join(parts)
