"""Experiment configuration (experiments.yml): metrics declared once, experiments that use them.

Everything a user can get wrong here is reported as a ConfigError naming the key and the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from metricbook.dbt_runner import REPO_ROOT
from metricbook.errors import ConfigError

DEFAULT_CONFIG = REPO_ROOT / "experiments.yml"
MetricKind = Literal["mean", "ratio", "proportion"]
Direction = Literal["increase", "decrease"]
Correction = Literal["holm", "fdr_bh"]


@dataclass(frozen=True)
class Metric:
    name: str
    kind: MetricKind
    numerator: str
    denominator: str | None = None
    covariate: str | None = None
    covariate_denominator: str | None = None
    bootstrap: bool = False
    description: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        """Every mart column the metric reads."""
        names = (self.numerator, self.denominator, self.covariate, self.covariate_denominator)
        return tuple(name for name in names if name)

    @property
    def covariate_label(self) -> str | None:
        if self.covariate and self.covariate_denominator:
            return f"{self.covariate}/{self.covariate_denominator}"
        return self.covariate


@dataclass(frozen=True)
class Guardrail:
    metric: str
    harmful_direction: Direction
    margin: float


@dataclass(frozen=True)
class ExperimentConfig:
    experiment_id: str
    primary: str
    primary_direction: Direction
    secondary: tuple[str, ...]
    guardrails: tuple[Guardrail, ...]
    alpha: float
    correction: Correction
    srm_threshold: float
    description: str = ""

    @property
    def metric_names(self) -> tuple[str, ...]:
        guardrails = tuple(g.metric for g in self.guardrails)
        return tuple(dict.fromkeys((self.primary, *self.secondary, *guardrails)))


@dataclass(frozen=True)
class Config:
    metrics: Mapping[str, Metric]
    experiments: Mapping[str, ExperimentConfig]

    def experiment(self, experiment_id: str) -> ExperimentConfig:
        if experiment_id not in self.experiments:
            known = ", ".join(sorted(self.experiments)) or "none"
            raise ConfigError(
                f"experiment '{experiment_id}' is not configured in experiments.yml "
                f"(configured: {known}); add it under `experiments:`"
            )
        return self.experiments[experiment_id]

    def metrics_of(self, experiment: ExperimentConfig) -> list[Metric]:
        return [self.metrics[name] for name in experiment.metric_names]


def _require(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in mapping or mapping[key] in (None, ""):
        raise ConfigError(f"{where}: `{key}` is required")
    return mapping[key]


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> Any:
    if value not in allowed:
        raise ConfigError(f"{where}: '{value}' is not one of {', '.join(allowed)}")
    return value


def _probability(value: Any, where: str, upper_inclusive: bool = False) -> float:
    if not isinstance(value, int | float) or not 0 < value < 1 + upper_inclusive:
        raise ConfigError(f"{where}: {value!r} must be a number in (0, 1)")
    return float(value)


def _parse_metric(name: str, raw: Mapping[str, Any]) -> Metric:
    where = f"metrics.{name}"
    kind = _choice(_require(raw, "kind", where), ("mean", "ratio", "proportion"), f"{where}.kind")
    numerator = str(_require(raw, "numerator", where))
    denominator = raw.get("denominator")
    if kind == "ratio" and not denominator:
        raise ConfigError(f"{where}: a ratio metric needs `denominator`")
    if kind != "ratio" and denominator:
        raise ConfigError(f"{where}: only a ratio metric has a `denominator` (kind is {kind})")
    covariate = raw.get("covariate")
    covariate_denominator = None
    if isinstance(covariate, Mapping):
        if kind != "ratio":
            raise ConfigError(f"{where}.covariate: a ratio covariate needs a ratio metric")
        covariate_denominator = str(_require(covariate, "denominator", f"{where}.covariate"))
        covariate = str(_require(covariate, "numerator", f"{where}.covariate"))
    elif covariate is not None:
        if kind == "ratio":
            raise ConfigError(
                f"{where}.covariate: a ratio metric needs {{numerator: ..., denominator: ...}}"
            )
        if kind == "proportion":
            raise ConfigError(f"{where}.covariate: CUPED is supported for mean and ratio metrics")
        covariate = str(covariate)
    return Metric(
        name=name,
        kind=kind,
        numerator=numerator,
        denominator=str(denominator) if denominator else None,
        covariate=covariate,
        covariate_denominator=covariate_denominator,
        bootstrap=bool(raw.get("bootstrap", False)),
        description=str(raw.get("description", "")),
    )


def _parse_experiment(
    experiment_id: str, raw: Mapping[str, Any], metrics: Mapping[str, Metric]
) -> ExperimentConfig:
    where = f"experiments.{experiment_id}"

    def known_metric(name: Any, key: str) -> str:
        if name not in metrics:
            raise ConfigError(
                f"{where}.{key}: metric '{name}' is not declared under `metrics:` "
                f"(declared: {', '.join(sorted(metrics))})"
            )
        return str(name)

    guardrails = []
    for index, guardrail in enumerate(raw.get("guardrails") or []):
        at = f"{where}.guardrails[{index}]"
        margin = _require(guardrail, "margin", at)
        if not isinstance(margin, int | float) or margin < 0:
            raise ConfigError(f"{at}.margin: {margin!r} must be a non-negative relative change")
        guardrails.append(
            Guardrail(
                metric=known_metric(_require(guardrail, "metric", at), f"guardrails[{index}]"),
                harmful_direction=_choice(
                    _require(guardrail, "harmful_direction", at),
                    ("increase", "decrease"),
                    f"{at}.harmful_direction",
                ),
                margin=float(margin),
            )
        )
    return ExperimentConfig(
        experiment_id=experiment_id,
        primary=known_metric(_require(raw, "primary", where), "primary"),
        primary_direction=_choice(
            raw.get("primary_direction", "increase"),
            ("increase", "decrease"),
            f"{where}.primary_direction",
        ),
        secondary=tuple(known_metric(m, "secondary") for m in raw.get("secondary") or []),
        guardrails=tuple(guardrails),
        alpha=_probability(raw.get("alpha", 0.05), f"{where}.alpha"),
        correction=_choice(
            raw.get("correction", "holm"), ("holm", "fdr_bh"), f"{where}.correction"
        ),
        srm_threshold=_probability(raw.get("srm_threshold", 0.001), f"{where}.srm_threshold"),
        description=str(raw.get("description", "")),
    )


def parse_config(raw: Any) -> Config:
    if not isinstance(raw, Mapping):
        raise ConfigError("experiments.yml must be a mapping with `metrics:` and `experiments:`")
    raw_metrics = raw.get("metrics") or {}
    metrics = {name: _parse_metric(name, spec or {}) for name, spec in raw_metrics.items()}
    raw_experiments = raw.get("experiments") or {}
    experiments = {
        experiment_id: _parse_experiment(experiment_id, spec or {}, metrics)
        for experiment_id, spec in raw_experiments.items()
    }
    return Config(metrics=metrics, experiments=experiments)


def load_config(path: Path = DEFAULT_CONFIG) -> Config:
    if not path.exists():
        raise ConfigError(f"{path}: no such experiment config file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from error
    return parse_config(raw)
