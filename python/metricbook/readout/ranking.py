"""The offline ranking-model evaluation readout (`metricbook ranking`): read the two ranker
marts once, pick the best model by NDCG@k and the best calibrated one, render text, JSON and a
self-contained HTML page (metric tables and an inline SVG reliability diagram).

What it reads (the marts' column contract; the definitions are in their YAML and in the pandas
mirror checks/mirrors/ranking.py):
- fct_ranker_offline_eval, one row per (model_id, k): the request-level means (NDCG, MAP, MRR,
  recall, precision) over the requests with at least one relevant item, the request counts
  (evaluated, without a relevant item, not scored completely: the last two are excluded from
  the means), and the score quality of the model (AUC, log loss, ECE over its scored
  impressions), the same for every k and NULL for 'logged', the served order, which has no
  scores.
- fct_ranker_calibration, one row per (model_id, bin) with bin = least(floor(score * 10), 9):
  impressions, mean score and click rate; only non-empty bins, none for 'logged'.

Both marts are aggregates (models x cutoffs, models x 10 bins), so they are read whole and
filtered here; nothing the user types reaches the SQL. Choosing: the best by NDCG@k is the
candidate (not 'logged') with the highest mean_ndcg at that k; the best calibrated is the model
with the lowest ECE; ties go to the first model_id. A NULL metric is not a value: it never wins.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from metricbook.errors import ConfigError, DataValidationError, WarehouseError
from metricbook.readout import plots
from metricbook.warehouse.connection import Warehouse, check_build

EVAL = "fct_ranker_offline_eval"
CALIBRATION = "fct_ranker_calibration"
MARTS = (EVAL, CALIBRATION)
LOGGED = "logged"  # the pseudo-model: the order the feed was served in
TEMPLATES = Path(__file__).parent / "templates"

CUTOFF_METRICS = ("mean_ndcg", "map", "mrr", "mean_recall", "mean_precision")
REQUEST_COUNTS = ("requests_evaluated", "requests_without_relevant", "requests_unscored")
SCORE_METRICS = ("auc", "log_loss", "ece")
EVAL_COLUMNS = ("model_id", "k", *REQUEST_COUNTS, *CUTOFF_METRICS, "impressions", *SCORE_METRICS)
CALIBRATION_COLUMNS = ("model_id", "bin", "impressions", "mean_score", "click_rate")
# series colours of the reliability diagram, in model order (colour-blind-safe, Okabe & Ito)
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")


# --------------------------------------------------------------------------------------------
# values


@dataclass(frozen=True)
class CutoffMetrics:
    """One row of fct_ranker_offline_eval: a model's ranking quality at cutoff k."""

    k: int
    requests_evaluated: int | None
    requests_without_relevant: int | None
    requests_unscored: int | None
    mean_ndcg: float | None
    map: float | None
    mrr: float | None
    mean_recall: float | None
    mean_precision: float | None
    impressions: int | None


@dataclass(frozen=True)
class CalibrationBin:
    """One row of fct_ranker_calibration: impressions whose score fell in [bin/10, (bin+1)/10)."""

    bin: int
    impressions: int | None
    mean_score: float | None
    click_rate: float | None


@dataclass(frozen=True)
class ModelEvaluation:
    """Everything the marts say about one model."""

    model_id: str
    cutoffs: tuple[CutoffMetrics, ...]
    calibration: tuple[CalibrationBin, ...]
    auc: float | None = None
    log_loss: float | None = None
    ece: float | None = None

    @property
    def is_logged(self) -> bool:
        return self.model_id == LOGGED

    @property
    def scored(self) -> bool:
        """The model has scores: a score metric or a calibration bin."""
        return bool(self.calibration) or any(
            value is not None for value in (self.auc, self.log_loss, self.ece)
        )

    @property
    def impressions(self) -> int | None:
        """Scored impressions (the mart repeats them on every k)."""
        return next((c.impressions for c in self.cutoffs if c.impressions is not None), None)

    def at(self, k: int) -> CutoffMetrics | None:
        return next((c for c in self.cutoffs if c.k == k), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "scored": self.scored,
            "impressions": self.impressions,
            "auc": self.auc,
            "log_loss": self.log_loss,
            "ece": self.ece,
            "cutoffs": [asdict(cutoff) for cutoff in self.cutoffs],
            "calibration": [asdict(row) for row in self.calibration],
        }


@dataclass(frozen=True)
class Best:
    """The winner of one comparison: the model, the metric, its value (and k for NDCG@k)."""

    model_id: str
    metric: str
    value: float
    k: int | None = None


@dataclass(frozen=True)
class RankingReport:
    target: str
    models: tuple[ModelEvaluation, ...]
    ks: tuple[int, ...]
    best_by_ndcg: tuple[Best, ...]
    best_calibrated: Best | None
    # the plain-language reading: what is missing, who wins, and whether the winners disagree
    summary: tuple[str, ...] = ()
    disagreement: str | None = None
    marts: tuple[str, ...] = field(default=MARTS)

    @property
    def scored_models(self) -> tuple[ModelEvaluation, ...]:
        return tuple(model for model in self.models if model.scored)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `metricbook ranking --format json` (NULLs stay null)."""
        return {
            "target": self.target,
            "marts": list(self.marts),
            "ks": list(self.ks),
            "models": [model.to_dict() for model in self.models],
            "best_by_ndcg": [asdict(best) for best in self.best_by_ndcg],
            "best_calibrated": asdict(self.best_calibrated) if self.best_calibrated else None,
            "disagreement": self.disagreement,
            "summary": list(self.summary),
        }


# --------------------------------------------------------------------------------------------
# reading


def _missing(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


def _float(value: Any) -> float | None:
    return None if _missing(value) else float(value)


def _int(value: Any) -> int | None:
    return None if _missing(value) else int(value)


def _records(warehouse: Warehouse, mart: str, columns: Sequence[str]) -> list[dict[str, Any]]:
    """The mart's rows, after checking it has the contract's columns (a mart built by another
    version of the model is a build problem, not a metricbook crash)."""
    available = warehouse.column_types(mart)
    lacking = [column for column in columns if column not in available]
    if lacking:
        raise WarehouseError(
            f"{warehouse.location}: {mart} has no column(s) {', '.join(lacking)} (it has "
            f"{', '.join(available) or 'none'}): it was built by another version of the "
            "model; run `dbt build`"
        )
    quote = "`" if warehouse.dialect == "spark" else '"'
    selects = ", ".join(f"{quote}{column}{quote}" for column in columns)
    frame = warehouse.frame(f"select {selects} from {warehouse.relation(mart)}")
    frame.columns = [str(column).lower() for column in frame.columns]
    return frame.to_dict("records")


def _check_grain(mart: str, keys: Iterable[tuple[str, int]], columns: str) -> None:
    """A repeated grain would put two rows in one cell of the table: refuse it (exit 3)."""
    seen: set[tuple[str, int]] = set()
    for key in keys:
        if key in seen:
            raise DataValidationError(
                f"{mart} has more than one row for ({columns}) = {key}: its grain is broken; "
                f"run its tests (`dbt build --select {mart}`) and fix the model"
            )
        seen.add(key)


def check_marts(warehouse: Warehouse) -> None:
    """Refuse a warehouse that never built the ranker marts, or built them in a failed, killed
    or partial run, or left them stale (WarehouseError, exit 4), as `analyze` does."""
    problems = check_build(warehouse, MARTS)
    if problems:
        raise WarehouseError(problems[0])


def read_models(warehouse: Warehouse) -> dict[str, ModelEvaluation]:
    """Every model either mart names, by model_id (a model may be in one mart only)."""
    cutoffs: dict[str, list[CutoffMetrics]] = {}
    scores: dict[str, dict[str, float | None]] = {}
    for row in _records(warehouse, EVAL, EVAL_COLUMNS):
        model_id = str(row["model_id"])
        k = _int(row["k"])
        if k is None:
            continue  # a row without its cutoff cannot be placed in the table
        cutoffs.setdefault(model_id, []).append(
            CutoffMetrics(
                k=k,
                **{column: _int(row[column]) for column in REQUEST_COUNTS},
                **{column: _float(row[column]) for column in CUTOFF_METRICS},
                impressions=_int(row["impressions"]),
            )
        )
        # the score metrics repeat on every k of a model: keep the first value that is there
        known = scores.setdefault(model_id, dict.fromkeys(SCORE_METRICS))
        for column in SCORE_METRICS:
            if known[column] is None:
                known[column] = _float(row[column])
    bins: dict[str, list[CalibrationBin]] = {}
    for row in _records(warehouse, CALIBRATION, CALIBRATION_COLUMNS):
        model_id = str(row["model_id"])
        number = _int(row["bin"])
        if number is None:
            continue
        bins.setdefault(model_id, []).append(
            CalibrationBin(
                bin=number,
                impressions=_int(row["impressions"]),
                mean_score=_float(row["mean_score"]),
                click_rate=_float(row["click_rate"]),
            )
        )
    _check_grain(EVAL, ((m, c.k) for m, rows in cutoffs.items() for c in rows), "model_id, k")
    _check_grain(
        CALIBRATION, ((m, b.bin) for m, rows in bins.items() for b in rows), "model_id, bin"
    )
    names = sorted(set(cutoffs) | set(bins), key=lambda name: (name == LOGGED, name))
    return {
        name: ModelEvaluation(
            model_id=name,
            cutoffs=tuple(sorted(cutoffs.get(name, []), key=lambda c: c.k)),
            calibration=tuple(sorted(bins.get(name, []), key=lambda b: b.bin)),
            **scores.get(name, {}),
        )
        for name in names
    }


def select_models(
    models: Mapping[str, ModelEvaluation], wanted: Sequence[str] | None
) -> list[ModelEvaluation]:
    """The models `--models` names, in its order; a name neither mart has is a usage error."""
    if not wanted:
        return list(models.values())
    unknown = [name for name in wanted if name not in models]
    if unknown:
        existing = ", ".join(models) or f"none: {EVAL} and {CALIBRATION} are empty"
        raise ConfigError(
            f"--models: {', '.join(repr(name) for name in unknown)} "
            f"{'is' if len(unknown) == 1 else 'are'} not in {EVAL} or {CALIBRATION} "
            f"(models: {existing}); name one of those"
        )
    return [models[name] for name in dict.fromkeys(wanted)]


# --------------------------------------------------------------------------------------------
# deciding


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def best_by_ndcg(models: Sequence[ModelEvaluation], k: int) -> Best | None:
    """The candidate (never 'logged') with the highest mean NDCG@k; None when none has one."""
    scored = [
        (model.model_id, cutoff.mean_ndcg)
        for model in models
        if not model.is_logged and (cutoff := model.at(k)) is not None and _finite(cutoff.mean_ndcg)
    ]
    if not scored:
        return None
    model_id, value = min(scored, key=lambda item: (-item[1], item[0]))
    return Best(model_id=model_id, metric="mean_ndcg", value=value, k=k)


def best_calibrated(models: Sequence[ModelEvaluation]) -> Best | None:
    """The model with the lowest expected calibration error; None when none has one."""
    scored = [(model.model_id, model.ece) for model in models if _finite(model.ece)]
    if not scored:
        return None
    model_id, value = min(scored, key=lambda item: (item[1], item[0]))
    return Best(model_id=model_id, metric="ece", value=value)


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _disagreement(
    by_model: Mapping[str, ModelEvaluation], ndcg: Sequence[Best], calibrated: Best | None
) -> str | None:
    """One sentence when the best ranker is not the best calibrated model, else None."""
    if calibrated is None:
        return None
    others = [best for best in ndcg if best.model_id != calibrated.model_id]
    if not others:
        return None
    rankers = list(dict.fromkeys(best.model_id for best in others))
    cutoffs = _and([f"NDCG@{best.k}" for best in others])
    eces = [by_model[name].ece for name in rankers]
    against = _and([f"{_fmt(ece)} for {name}" for name, ece in zip(rankers, eces, strict=True)])
    one = len(rankers) == 1
    return (
        f"The two choices disagree: {_and(rankers)} {'ranks' if one else 'rank'} best by "
        f"{cutoffs}, but {calibrated.model_id} is the best calibrated (ECE "
        f"{_fmt(calibrated.value)} against {against}), so order the feed by "
        f"{_and(rankers) if one else 'the ranking winner'} and recalibrate "
        f"{'its' if one else 'their'} scores before reading them as click probabilities."
    )


def _summary(
    models: Sequence[ModelEvaluation],
    ks: Sequence[int],
    ndcg: Sequence[Best],
    calibrated: Best | None,
) -> list[str]:
    lines = []
    if not models:
        lines.append(
            f"{EVAL} and {CALIBRATION} have no rows: no model was evaluated; check that the "
            "ranker inputs were loaded and run `dbt build`."
        )
        return lines
    candidates = [model for model in models if not model.is_logged]
    if not any(model.scored for model in models):
        listed = "'logged' (the served order)" if any(m.is_logged for m in models) else "them"
        lines.append(
            "No model has scores in this warehouse (no calibration bins, AUC, log loss or ECE): "
            f"only the ranking metrics of {listed} can be read, and no model can be judged on "
            "calibration."
        )
    elif not candidates:
        lines.append("Only 'logged' (the served order) is here: there is no candidate to rank.")
    found = {best.k: best for best in ndcg}
    logged = next((model for model in models if model.is_logged), None)
    for k in ks:
        best = found.get(k)
        if best is None:
            if candidates:
                lines.append(f"No candidate model has an NDCG@{k}.")
            continue
        line = f"Best by NDCG@{k}: {best.model_id} ({_fmt(best.value)})."
        served = logged.at(k) if logged else None
        if served is not None and _finite(served.mean_ndcg) and served.mean_ndcg >= best.value:
            line += f" No candidate beats the served order ('logged' {_fmt(served.mean_ndcg)})."
        lines.append(line)
    if calibrated is not None:
        lines.append(
            f"Best calibrated (lowest ECE): {calibrated.model_id} ({_fmt(calibrated.value)})."
        )
    unscored = [m.model_id for m in candidates if not m.scored]
    if unscored and any(m.scored for m in models):
        lines.append(f"No scores for {_and(unscored)}: it is judged on ranking metrics only.")
    return lines


def ranking_report(
    warehouse: Warehouse, target: str, models: Sequence[str] | None = None
) -> RankingReport:
    """Read the ranker marts (after checking their build) and decide; one pass, no return
    trip to the warehouse."""
    check_marts(warehouse)
    return evaluate(read_models(warehouse), target, models)


def evaluate(
    available: Mapping[str, ModelEvaluation], target: str, models: Sequence[str] | None = None
) -> RankingReport:
    chosen = select_models(available, models)
    ks = tuple(sorted({cutoff.k for model in chosen for cutoff in model.cutoffs}))
    ndcg = tuple(best for k in ks if (best := best_by_ndcg(chosen, k)) is not None)
    calibrated = best_calibrated(chosen)
    disagreement = _disagreement({m.model_id: m for m in chosen}, ndcg, calibrated)
    summary = _summary(chosen, ks, ndcg, calibrated)
    if disagreement:
        summary.append(disagreement)
    return RankingReport(
        target=target,
        models=tuple(chosen),
        ks=ks,
        best_by_ndcg=ndcg,
        best_calibrated=calibrated,
        summary=tuple(summary),
        disagreement=disagreement,
    )


# --------------------------------------------------------------------------------------------
# rendering


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def _count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def text_table(report: RankingReport) -> str:
    """The report as plain text for a terminal."""
    lines = [f"ranking evaluation  (target {report.target}; {', '.join(report.marts)})", ""]
    header = (
        f"{'model':<16}{'k':>4}{'NDCG':>8}{'MAP':>8}{'MRR':>8}{'recall':>8}{'prec':>8}"
        f"{'evaluated':>11}{'no relevant':>13}{'unscored':>10}"
    )
    lines += [header, "-" * len(header)]
    for model in report.models:
        if not model.cutoffs:
            lines.append(f"{model.model_id:<16}  (no rows in {EVAL})")
        for c in model.cutoffs:
            lines.append(
                f"{model.model_id:<16}{c.k:>4}{_fmt(c.mean_ndcg):>8}{_fmt(c.map):>8}"
                f"{_fmt(c.mrr):>8}{_fmt(c.mean_recall):>8}{_fmt(c.mean_precision):>8}"
                f"{_count(c.requests_evaluated):>11}{_count(c.requests_without_relevant):>13}"
                f"{_count(c.requests_unscored):>10}"
            )
    scored = report.scored_models
    if scored:
        header = f"{'model':<16}{'impressions':>12}{'AUC':>8}{'log loss':>10}{'ECE':>8}{'bins':>6}"
        lines += ["", header, "-" * len(header)]
        for model in scored:
            lines.append(
                f"{model.model_id:<16}{_count(model.impressions):>12}{_fmt(model.auc):>8}"
                f"{_fmt(model.log_loss):>10}{_fmt(model.ece):>8}{len(model.calibration):>6}"
            )
    if report.summary:
        lines += [""] + [f"- {line}" for line in report.summary]
    return "\n".join(lines)


@dataclass(frozen=True)
class _Point:
    x: float
    y: float
    r: float
    label: str


@dataclass(frozen=True)
class _Series:
    model_id: str
    colour: str
    points: tuple[_Point, ...]

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def _reliability(models: Iterable[ModelEvaluation], size: float = 360) -> dict[str, Any]:
    """Geometry of the reliability diagram: x the mean predicted score of a bin, y its observed
    click rate, both on [0, 1]; a point's area grows with the bin's impressions."""
    plotted = [m for m in models if m.calibration]
    largest = max(
        (b.impressions or 0 for m in plotted for b in m.calibration),
        default=0,
    )

    def at(value: float) -> float:
        return max(0.0, min(1.0, value)) * size

    series = []
    for index, model in enumerate(plotted):
        points = []
        for b in model.calibration:
            if not (_finite(b.mean_score) and _finite(b.click_rate)):
                continue
            share = (b.impressions or 0) / largest if largest else 0.0
            points.append(
                _Point(
                    x=at(b.mean_score),
                    y=size - at(b.click_rate),
                    r=2.5 + 6.5 * math.sqrt(share),
                    label=(
                        f"{model.model_id} bin {b.bin}: mean score {_fmt(b.mean_score, 3)}, "
                        f"click rate {_fmt(b.click_rate, 3)}, {_count(b.impressions)} impressions"
                    ),
                )
            )
        series.append(_Series(model.model_id, PALETTE[index % len(PALETTE)], tuple(points)))
    ticks = [(at(t / 5), f"{t / 5:.1f}") for t in range(6)]
    # the legend right of the square is as wide as the longest model id (plots.text_width)
    legend = max([plots.text_width(s.model_id) for s in series] + [0.0])
    return {
        "size": size,
        "series": series,
        "ticks": ticks,
        "width": math.ceil(50 + size + 20 + 16 + legend + 8),
        "height": math.ceil(size + 60),
    }


def html_report(report: RankingReport) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    environment.filters.update(num=_fmt, whole=_count)
    template = environment.get_template("ranking.html")
    return template.render(report=report, diagram=_reliability(report.models), eval_mart=EVAL)
