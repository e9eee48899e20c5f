"""The depth sections of the experiment readout as terminal text: validity checks beside SRM
(pre-period balance, stratum balance, exposure balance), capping, quantiles, the Bayesian
view, segments, results over time and the triggered analysis."""

from __future__ import annotations

import math
from typing import Any

from metricbook.readout.plots import (
    BLUE,
    GREY,
    ORANGE,
    Interval,
    Series,
    SeriesPoint,
    forest,
    series,
)
from metricbook.readout.readout import Readout


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:+.2%}"


def _p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _p_is(value: float | None) -> str:
    """'p = 0.0420' or 'p < 0.0001', for sentences."""
    text = _p(value)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def _ci(row: dict) -> str:
    return f"{_pct(row['rel_lift_ci_low'])} to {_pct(row['rel_lift_ci_high'])}"


def read_with_care(readout: Readout) -> list[str]:
    """What should temper a reading of the decided lifts, beside the decision: a flagged change
    of the effect over days since assignment (novelty or primacy)."""
    if readout.over_time is None:
        return []
    return [
        f"{row['metric']} ({row['variant']}): {row['pattern']}: the effect was "
        f"{row['early_diff']:+.4g} in days 0-{row['window_days'] - 1} since assignment and "
        f"{row['late_diff']:+.4g} in days {row['window_days']}-{2 * row['window_days'] - 1} "
        f"({_p_is(row['p_value'])}); the average over the window is not the lasting effect"
        for row in readout.over_time.novelty
        if row["flagged"]
    ]


def depth_text(readout: Readout) -> list[str]:
    lines: list[str] = []
    if readout.validity_warnings:
        lines += ["", "VALIDITY WARNINGS (beside SRM):"]
        lines += [f"  - {warning}" for warning in readout.validity_warnings]
    if readout.balance is not None:
        balance = readout.balance
        worst = min((r["p_value_adjusted"] for r in balance.rows), default=math.nan)
        checked = ", ".join(dict.fromkeys(r["column"] for r in balance.rows))
        lines += [
            "",
            f"pre-period balance (an A/A on {checked}):"
            f" {'passed' if balance.passed else 'FAILED'}, smallest Holm-adjusted p = {_p(worst)}"
            f" (threshold {balance.threshold})",
        ]
    capped = [r for r in readout.results if r.cap]
    for r in capped:
        cap = r.cap or {}
        users = ", ".join(f"{v} {n}" for v, n in cap["capped_users"].items())
        lines.append(
            f"capping: {r.metric} ({cap['column']}) capped at {cap['cap']:.4g}, {cap['set_by']}; "
            f"users capped: {users}; uncapped lift {_pct(cap['uncapped']['rel_lift'])}"
        )
    bayes = [r for r in readout.results if r.bayesian]
    if bayes:
        first = bayes[0].bayesian or {}
        lines += [
            "",
            f"Bayesian view (normal prior N({first['prior_mean']:g}, {first['prior_sd']:g}) on the "
            "relative lift; descriptive unless bayesian.decide):",
        ]
        for r in bayes:
            view = r.bayesian or {}
            lines.append(
                f"  {r.metric:<22}{r.variant:<11} posterior {_pct(view['posterior_mean'])} "
                f"({_pct(view['ci_low'])} to {_pct(view['ci_high'])}), chance to win "
                f"{view['chance_to_win']:.1%}, expected loss {view['expected_loss']:.2%}"
            )
    if readout.post_stratification is not None:
        ps = readout.post_stratification
        lines += [
            "",
            f"post-stratified on {', '.join(ps.covariates)} "
            f"({'IMBALANCED: the decision uses it' if ps.imbalanced else 'split balanced'}; "
            + ", ".join(f"{v} p = {_p(i['p_value'])}" for v, i in ps.imbalance.items())
            + "):",
        ]
        for row in ps.rows:
            lines.append(
                f"  {row['metric']:<22}{row['variant']:<11} {_pct(row['rel_lift'])} ({_ci(row)}), "
                f"p = {_p(row['p_value'])}"
            )
    if readout.segments is not None:
        seg = readout.segments
        lines += ["", f"segments ({seg.label}):"]
        for row in seg.rows:
            srm = "" if row["srm_passed"] else "  SRM FAILED in this segment"
            lines.append(
                f"  {row['dimension'] + ' = ' + row['segment']:<24}{row['metric']:<16}"
                f"{row['variant']:<11}{_pct(row['rel_lift']):>9} ({_ci(row)}), p = "
                f"{_p(row['p_value'])}, BH p = {_p(row['p_value_bh'])}{srm}"
            )
        for h in seg.heterogeneity:
            lines.append(
                f"  heterogeneity by {h['dimension']} ({h['metric']}, {h['variant']}): Cochran's "
                f"Q = {h['q']:.2f} on {h['df']} df, p = {_p(h['p_value'])}, "
                f"I² = {h['i_squared']:.0%}"
            )
        lines += [f"  note: {note}" for note in seg.notes]
    if readout.over_time is not None:
        ot = readout.over_time
        lines += ["", "results over time (daily and cumulative lift: see the HTML report):"]
        for row in ot.novelty:
            lines.append(
                f"  novelty check {row['metric']} ({row['variant']}): effect in days "
                f"0-{row['window_days'] - 1} {row['early_diff']:+.4g}, days "
                f"{row['window_days']}-{2 * row['window_days'] - 1} {row['late_diff']:+.4g}, "
                f"change {_p_is(row['p_value'])} on {row['n_control']} + {row['n_treatment']} "
                f"users assigned by {row['assigned_by']}: {row['pattern']}"
            )
        lines += [f"  note: {note}" for note in ot.notes]
    if readout.exposure is not None:
        ex = readout.exposure
        rates = ", ".join(f"{v} {r:.1%}" for v, r in ex.balance.get("rates", {}).items())
        lines += [
            "",
            f"exposure on {ex.surface}: {rates} of assigned users exposed "
            f"(balance p = {_p(ex.balance.get('p_value'))}); intention-to-treat stays the primary "
            "analysis; triggered on exposed users, diluted back to everyone:",
        ]
        for row in ex.rows:
            lines.append(
                f"  {row['metric']:<22}{row['variant']:<11} triggered "
                f"{_pct(row['triggered']['rel_lift'])}, diluted {_pct(row['diluted']['rel_lift'])}"
                f" (share {row['diluted']['share']:.1%}), ITT {_pct(row['itt']['rel_lift'])}"
            )
        lines += [f"  note: {note}" for note in ex.notes]
    return lines


# --- the HTML sections' plots (plots.py geometry; drawn by templates/_depth.html)


def _signed(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:+.{digits}%}".replace("-", "−")


def _lift_points(rows: list[dict], axis: str, index: dict[str, int]) -> tuple[SeriesPoint, ...]:
    return tuple(
        SeriesPoint(
            x=index[str(row[axis])],
            y=row["rel_lift"],
            low=row["rel_lift_ci_low"],
            high=row["rel_lift_ci_high"],
        )
        for row in rows
        if str(row[axis]) in index
    )


def over_time_plots(readout: Readout) -> list[dict[str, Any]]:
    """Per metric and treatment: the daily and the cumulative lift by calendar day, and the
    daily lift by days since first assignment, each with its CI band."""
    ot = readout.over_time
    if ot is None:
        return []
    result = []
    pairs = dict.fromkeys((r["metric"], r["variant"]) for r in ot.daily)
    for metric, variant in pairs:

        def rows(series: list[dict], m: str = metric, v: str = variant) -> list[dict]:
            return [r for r in series if r["metric"] == m and r["variant"] == v]

        daily, cumulative = rows(ot.daily), rows(ot.cumulative)
        dates = sorted({str(r["date"]) for r in daily + cumulative})
        by_date = {d: i for i, d in enumerate(dates)}
        calendar = series(
            [
                Series("daily lift", _lift_points(daily, "date", by_date), colour=BLUE),
                Series(
                    "cumulative lift",
                    _lift_points(cumulative, "date", by_date),
                    colour=ORANGE,
                    dashed=True,
                ),
            ],
            x_labels={i: d[5:] for d, i in by_date.items()},
            x_label="UTC day",
            y_label="relative lift",
        )
        aged = rows(ot.by_day_since_assignment)
        days = sorted({int(r["day"]) for r in aged})
        by_day = {str(d): d for d in days}
        since = series(
            [Series("daily lift", _lift_points(aged, "day", by_day), colour=BLUE)],
            x_label="days since first assignment",
            y_label="relative lift",
        )
        result.append({"metric": metric, "variant": variant, "calendar": calendar, "since": since})
    return result


def segment_forests(readout: Readout) -> list[dict[str, Any]]:
    """Per dimension, metric and treatment: a forest of the segments' lifts, the BH p noted."""
    seg = readout.segments
    if seg is None:
        return []
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in seg.rows:
        groups.setdefault((row["dimension"], row["metric"], row["variant"]), []).append(row)
    result = []
    for (dimension, metric, variant), rows in groups.items():
        intervals = [
            Interval(
                label=f"{row['segment']} ({row['n_control']} vs {row['n_treatment']})",
                estimate=row["rel_lift"],
                low=row["rel_lift_ci_low"],
                high=row["rel_lift_ci_high"],
                colour=GREY if row["p_value_bh"] >= readout.alpha else BLUE,
                title=(
                    f"{dimension} = {row['segment']}: {metric} lift {_signed(row['rel_lift'], 2)} "
                    f"(CI {_signed(row['rel_lift_ci_low'], 2)} to "
                    f"{_signed(row['rel_lift_ci_high'], 2)}), BH p = {_p(row['p_value_bh'])}"
                ),
                note=f"{_signed(row['rel_lift'])}, BH p {_p(row['p_value_bh'])}"
                + ("" if row["srm_passed"] else ", SRM failed"),
            )
            for row in rows
        ]
        result.append(
            {
                "dimension": dimension,
                "metric": metric,
                "variant": variant,
                "forest": forest(intervals),
            }
        )
    return result
