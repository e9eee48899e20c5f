"""Experiment configuration (experiments.yml): metrics declared once, experiments that use them.

The file is read with a strict YAML loader and validated against a pydantic schema. Every mistake
is refused as a ConfigError (exit code 2) in one line:
`<file>: <key.path>: <what is wrong>; <what to write>`.

The schema (`-` means required):

| key path                           | type / rule                                     | default  |
|------------------------------------|-------------------------------------------------|----------|
| (the document)                     | mapping of only `metrics` and `experiments`     |          |
| metrics                            | mapping: metric name -> metric                  | {}       |
| metrics.<name>                     | [a-z_][a-z0-9_]*, at most 63 characters         |          |
| metrics.<name>.kind                | mean, ratio, proportion or quantile             | -        |
| metrics.<name>.numerator           | a column name ([a-z_][a-z0-9_]*)                | -        |
| metrics.<name>.denominator         | a column name; ratio only, and ratio needs it   | none     |
| metrics.<name>.covariate           | mean: a column; ratio: {numerator, denominator} | none     |
|                                    | (both column names); proportion: not allowed    |          |
| metrics.<name>.bootstrap           | true or false (YAML booleans only)              | false    |
| metrics.<name>.cap                 | mean only: {percentile: p} (0 < p < 1, computed | none     |
|                                    | on both arms pooled) or {value: v} (finite > 0) |          |
| metrics.<name>.quantile            | quantile only, required: 0 < q < 1 (0.5 median) | -        |
| metrics.<name>.description         | text                                            | ""       |
| experiments                        | mapping: experiment id -> experiment            | {}       |
| experiments.<id>                   | non-empty text, no control characters           |          |
| experiments.<id>.primary           | a declared metric                               | -        |
| experiments.<id>.primary_direction | increase or decrease                            | increase |
| experiments.<id>.secondary         | list of declared metrics                        | []       |
| experiments.<id>.guardrails        | list of {metric, harmful_direction, margin}     | []       |
| experiments.<id>.diagnostics       | list of declared metrics, reported per variant  | []       |
|                                    | with CIs but never corrected or decided on      |          |
| ...guardrails[i].metric            | a declared metric                               | -        |
| ...guardrails[i].harmful_direction | increase or decrease                            | -        |
| ...guardrails[i].margin            | finite relative change, 0 <= margin < 10        | -        |
| experiments.<id>.alpha             | finite number, 0 < alpha < 1                    | 0.05     |
| experiments.<id>.correction        | holm or fdr_bh                                  | holm     |
| experiments.<id>.srm_threshold     | finite number, 0 < srm_threshold < 1            | 0.001    |
| experiments.<id>.description       | text                                            | ""       |
| experiments.<id>.segments          | list of segment columns of the user mart (its   | []       |
|                                    | `meta: {segment: true}` columns), exploratory   |          |
| experiments.<id>.post_stratify     | list of segment columns to post-stratify on     | []       |
| experiments.<id>.balance_threshold | finite number in (0, 1): pre-period and stratum | 0.001    |
|                                    | balance p below it is a validity warning        |          |
| experiments.<id>.surface           | the surface whose impressions expose a user     | none     |
|                                    | (a column value, e.g. home_feed)                |          |
| experiments.<id>.novelty_days      | whole number 1..60: the early window [0, k) and | 7        |
|                                    | late window [k, 2k) of days since assignment    |          |
| experiments.<id>.sequential        | true: decide on the always-valid p-value        | false    |
| experiments.<id>.bayesian          | {prior_mean, prior_sd, decide, min_chance_to_win| defaults |
|                                    | }: the prior on the relative lift (0, 0.3), and |          |
|                                    | decide: true to ship on chance to win instead   |          |

Across keys: a metric belongs to one family per experiment (the primary, one secondary, one
guardrail, one diagnostic), never two. Everywhere: unknown keys are refused (the message lists
the allowed ones), types are strict (a boolean is not a number, "no" is not a boolean, a number
is not text), null is refused wherever a value is expected (it means "absent" only for
denominator and covariate), and duplicate keys are refused with both line numbers.

The YAML itself: a regular UTF-8 file (a BOM is fine) of at most MAX_BYTES (1 MiB, a real one is
a few kB); one document; booleans are only true/false (as in YAML 1.2: `yes`, `no`, `on`, `off`
stay text, so `bootstrap: no` is refused rather than read as false); no tags beyond the safe
ones. Anchors, aliases and merge keys (`<<: *base`) work, but a document expanding to more than
MAX_NODES values (an alias bomb), an alias inside its own anchor, or nesting beyond libyaml's
1000 levels is refused before anything is built.
"""

from __future__ import annotations

import difflib
import math
import re
import stat
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, cast

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from metricbook.errors import ConfigError
from metricbook.warehouse.paths import (
    DEFAULT_CONFIG as DEFAULT_CONFIG,
)  # re-exported: its home is paths

MAX_BYTES = 1024 * 1024
MAX_NODES = 100_000
MetricKind = Literal["mean", "ratio", "proportion", "quantile"]
Direction = Literal["increase", "decrease"]
Correction = Literal["holm", "fdr_bh"]

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_IDENTIFIER_MAX = 63  # PostgreSQL truncates longer identifiers
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


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
    # a quantile metric's q (0.5 is the median); None for every other kind
    quantile: float | None = None
    # capping before the test: a pooled percentile of the numerator, or an absolute value
    cap_percentile: float | None = None
    cap_value: float | None = None

    @property
    def capped(self) -> bool:
        return self.cap_percentile is not None or self.cap_value is not None

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
class BayesianConfig:
    """The normal prior on the relative lift and whether the decision uses the posterior."""

    prior_mean: float = 0.0
    prior_sd: float = 0.3
    decide: bool = False
    min_chance_to_win: float = 0.95


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
    # descriptive: estimated with their CIs per variant, outside every family and the decision
    diagnostics: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    post_stratify: tuple[str, ...] = ()
    balance_threshold: float = 0.001
    surface: str | None = None
    novelty_days: int = 7
    sequential: bool = False
    bayesian: BayesianConfig = field(default_factory=BayesianConfig)

    @property
    def metric_names(self) -> tuple[str, ...]:
        guardrails = tuple(g.metric for g in self.guardrails)
        names = (self.primary, *self.secondary, *guardrails, *self.diagnostics)
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Config:
    metrics: Mapping[str, Metric]
    experiments: Mapping[str, ExperimentConfig]
    source: str = field(default="experiments.yml", compare=False, repr=False)

    def experiment(self, experiment_id: str) -> ExperimentConfig:
        if experiment_id not in self.experiments:
            known = ", ".join(sorted(self.experiments)) or "none"
            raise ConfigError(
                _one_line(
                    f"{self.source}: experiments: experiment {_short(experiment_id)} is not "
                    f"configured (configured: {known}); add it under `experiments:` or pass "
                    "one of those"
                )
            )
        return self.experiments[experiment_id]

    def metrics_of(self, experiment: ExperimentConfig) -> list[Metric]:
        return [self.metrics[name] for name in experiment.metric_names]


# --- small text helpers: every message is one line and shows values the way YAML writes them


def _one_line(text: str) -> str:
    """Escape anything that would break the message over lines or hide characters."""
    return "".join(
        ch if ch == " " or not unicodedata.category(ch).startswith(("C", "Z")) else repr(ch)[1:-1]
        for ch in text
    )


def _short(value: str, limit: int = 60) -> str:
    text = value if len(value) <= limit else value[:limit] + "..."
    return repr(text)


def _number(value: float | int) -> str:
    if isinstance(value, float) and math.isnan(value):
        return ".nan"
    if isinstance(value, float) and math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} digits)"


def _describe(value: Any) -> str:
    """A value as the user wrote it, in a few words."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{'true' if value else 'false'} (a boolean)"
    if isinstance(value, int | float):
        return f"the number {_number(value)}"
    if isinstance(value, str):
        return f"the text {_short(value)}"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, date):
        return f"the date {value.isoformat()}"
    if isinstance(value, bytes):
        return "binary data"
    return f"a {type(value).__name__}"


def _fail(message: str, at: tuple[str | int, ...] = ()) -> NoReturn:
    """Refuse a value; `at` extends the key path of the error (for checks across keys)."""
    raise PydanticCustomError("metricbook", "{message}", {"message": message, "at": at})


# --- value rules


def _identifier(what: str, example: str) -> Any:
    def check(value: str) -> str:
        if not _IDENTIFIER.fullmatch(value) or len(value) > _IDENTIFIER_MAX:
            _fail(
                f"{_short(value)} is not a valid {what}; it becomes a SQL identifier, so use "
                f"lowercase letters, digits and _ (starting with a letter or _, at most "
                f"{_IDENTIFIER_MAX} characters), e.g. {example}"
            )
        return value

    return AfterValidator(check)


def _experiment_id(value: str) -> str:
    if not value.strip():
        _fail("an experiment id must not be empty; write the experiment_id of the assignments")
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        _fail(
            f"the experiment id {_short(value)} contains control or invisible characters; "
            "retype it as plain text"
        )
    return value


def _one_of(*choices: str) -> Any:
    def check(value: str) -> str:
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            _fail(f"{_short(value)} is not one of {', '.join(choices)}{hint}; write one of them")
        return value

    return AfterValidator(check)


def _probability(example: str) -> Any:
    def check(value: float) -> float:
        if not math.isfinite(value) or not 0 < value < 1:
            _fail(
                f"{_number(value)} must be a number in (0, 1), both ends excluded; "
                f"write e.g. {example}"
            )
        return value

    return AfterValidator(check)


def _margin(value: float) -> float:
    if not math.isfinite(value) or not 0 <= value < 10:
        _fail(
            f"{_number(value)} must be a finite relative change with 0 <= margin < 10 "
            "(0.10 means 10%); write e.g. 0.10"
        )
    return value


def _positive_finite(example: str) -> Any:
    def check(value: float) -> float:
        if not math.isfinite(value) or value <= 0:
            _fail(f"{_number(value)} must be a finite number above 0; write e.g. {example}")
        return value

    return AfterValidator(check)


def _finite(value: float) -> float:
    if not math.isfinite(value):
        _fail(f"{_number(value)} must be a finite number; write e.g. 0.0")
    return value


def _novelty_days(value: int) -> int:
    if not 1 <= value <= 60:
        _fail(f"{_number(value)} must be a whole number of days from 1 to 60; write e.g. 7")
    return value


MetricName = Annotated[str, _identifier("metric name", "clicks_per_user")]
ColumnName = Annotated[str, _identifier("column name", "clicks")]
ExperimentId = Annotated[str, AfterValidator(_experiment_id)]
Probability = Annotated[float, _probability("0.05")]
SrmThreshold = Annotated[float, _probability("0.001")]
Margin = Annotated[float, AfterValidator(_margin)]
CapValue = Annotated[float, _positive_finite("500")]
PriorSd = Annotated[float, _positive_finite("0.3")]
QuantileLevel = Annotated[float, _probability("0.5")]
CapPercentile = Annotated[float, _probability("0.999")]
ChanceToWin = Annotated[float, _probability("0.95")]
Finite = Annotated[float, AfterValidator(_finite)]
NoveltyDays = Annotated[int, AfterValidator(_novelty_days)]
SurfaceName = Annotated[str, _identifier("surface", "home_feed")]
KindChoice = Annotated[str, _one_of("mean", "ratio", "proportion", "quantile")]
DirectionChoice = Annotated[str, _one_of("increase", "decrease")]
CorrectionChoice = Annotated[str, _one_of("holm", "fdr_bh")]


# --- the schema


class _Schema(BaseModel):
    """Strict types, no unknown keys, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = tuple(cls.model_fields)
            for key in data:
                if key not in allowed:
                    close = difflib.get_close_matches(str(key), allowed, n=1)
                    hint = f"did you mean `{close[0]}`? " if close else ""
                    _fail(f"unknown key; {hint}allowed keys: {', '.join(allowed)}", at=(key,))
        return data


class _CovariatePair(_Schema):
    numerator: ColumnName
    denominator: ColumnName


def _covariate_shape(value: Any) -> str:
    return "pair" if isinstance(value, dict | _CovariatePair) else "column"


_Covariate = Annotated[
    Annotated[ColumnName, Tag("column")] | Annotated[_CovariatePair, Tag("pair")],
    Discriminator(_covariate_shape),
]
_UNION_TAGS = {"column", "pair"}


class _CapSpec(_Schema):
    percentile: CapPercentile | None = None
    value: CapValue | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> _CapSpec:
        if (self.percentile is None) == (self.value is None):
            _fail(
                "a cap is either a percentile or a value, not both and not neither; write "
                "{percentile: 0.999} (computed on both arms pooled) or {value: 500}"
            )
        return self


class _MetricSpec(_Schema):
    kind: KindChoice
    numerator: ColumnName
    denominator: ColumnName | None = None
    covariate: _Covariate | None = None
    bootstrap: bool = False
    cap: _CapSpec | None = None
    quantile: QuantileLevel | None = None
    description: str = ""

    @model_validator(mode="after")
    def _quantile_shape(self) -> _MetricSpec:
        if self.kind == "quantile":
            if self.quantile is None:
                _fail("a quantile metric needs `quantile`; write e.g. quantile: 0.5", ("quantile",))
            for key in ("covariate", "cap"):
                if getattr(self, key) is not None:
                    _fail(
                        f"a quantile metric takes no `{key}` (a quantile is already robust to "
                        "heavy tails and has no CUPED form here); remove it",
                        (key,),
                    )
            if self.bootstrap:
                _fail(
                    "a quantile metric's CI is already distribution-free; remove bootstrap",
                    ("bootstrap",),
                )
        elif self.quantile is not None:
            _fail(
                f"only a quantile metric has `quantile` (kind is {self.kind}); remove it or "
                "write kind: quantile",
                ("quantile",),
            )
        if self.cap is not None and self.kind != "mean":
            _fail(
                f"capping is for mean metrics (kind is {self.kind}); remove cap",
                ("cap",),
            )
        return self

    @model_validator(mode="after")
    def _shape(self) -> _MetricSpec:
        if self.kind == "ratio" and self.denominator is None:
            _fail("a ratio metric needs `denominator`; add denominator: <column>", ("denominator",))
        if self.kind != "ratio" and self.denominator is not None:
            _fail(
                f"only a ratio metric has a `denominator` (kind is {self.kind}); remove it or "
                "write kind: ratio",
                ("denominator",),
            )
        if self.kind == "proportion" and self.covariate is not None:
            _fail(
                "CUPED is supported for mean and ratio metrics, not proportion; remove covariate",
                ("covariate",),
            )
        if self.kind == "mean" and isinstance(self.covariate, _CovariatePair):
            _fail(
                "a ratio covariate needs a ratio metric; a mean metric takes one column: "
                "write covariate: <column>",
                ("covariate",),
            )
        if self.kind == "ratio" and isinstance(self.covariate, str):
            _fail(
                "a ratio metric needs a ratio covariate; write "
                "covariate: {numerator: <column>, denominator: <column>}",
                ("covariate",),
            )
        return self


class _GuardrailSpec(_Schema):
    metric: MetricName
    harmful_direction: DirectionChoice
    margin: Margin


class _BayesianSpec(_Schema):
    prior_mean: Finite = 0.0
    prior_sd: PriorSd = 0.3
    decide: bool = False
    min_chance_to_win: ChanceToWin = 0.95


class _ExperimentSpec(_Schema):
    primary: MetricName
    primary_direction: DirectionChoice = "increase"
    secondary: list[MetricName] = Field(default_factory=list)
    guardrails: list[_GuardrailSpec] = Field(default_factory=list)
    diagnostics: list[MetricName] = Field(default_factory=list)
    alpha: Probability = 0.05
    correction: CorrectionChoice = "holm"
    srm_threshold: SrmThreshold = 0.001
    description: str = ""
    segments: list[ColumnName] = Field(default_factory=list)
    post_stratify: list[ColumnName] = Field(default_factory=list)
    balance_threshold: SrmThreshold = 0.001
    surface: SurfaceName | None = None
    novelty_days: NoveltyDays = 7
    sequential: bool = False
    bayesian: _BayesianSpec = Field(default_factory=lambda: _BayesianSpec())

    @model_validator(mode="after")
    def _listed_once(self) -> _ExperimentSpec:
        for key in ("segments", "post_stratify"):
            seen: set[str] = set()
            for index, name in enumerate(getattr(self, key)):
                if name in seen:
                    _fail(f"'{name}' is listed twice; list each column once", (key, index))
                seen.add(name)
        return self

    def references(self) -> Iterator[tuple[str, tuple[str | int, ...]]]:
        """Every metric the experiment names, with its key path inside the experiment."""
        yield self.primary, ("primary",)
        for index, name in enumerate(self.secondary):
            yield name, ("secondary", index)
        for index, guardrail in enumerate(self.guardrails):
            yield guardrail.metric, ("guardrails", index, "metric")
        for index, name in enumerate(self.diagnostics):
            yield name, ("diagnostics", index)

    @model_validator(mode="after")
    def _one_family_per_metric(self) -> _ExperimentSpec:
        first: dict[str, str] = {}
        for name, at in self.references():
            if name in first:
                _fail(
                    f"metric '{name}' is already used as {first[name]}; a metric belongs to one "
                    "family (primary, secondary, guardrails or diagnostics): remove one of the two",
                    at,
                )
            first[name] = _render(at)
        return self


class _ConfigSpec(_Schema):
    metrics: dict[MetricName, _MetricSpec] = Field(default_factory=dict)
    experiments: dict[ExperimentId, _ExperimentSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _declared_metrics_only(self) -> _ConfigSpec:
        declared = ", ".join(sorted(self.metrics)) or "none"
        for experiment_id, experiment in self.experiments.items():
            for name, at in experiment.references():
                if name not in self.metrics:
                    close = difflib.get_close_matches(name, list(self.metrics), n=1)
                    hint = f"did you mean {close[0]}? " if close else ""
                    _fail(
                        f"metric '{name}' is not declared under `metrics:` (declared: "
                        f"{declared}); {hint}declare it or fix the name",
                        ("experiments", experiment_id, *at),
                    )
        return self


# --- pydantic's first error as one line

_WRITE = {
    "document": "write a mapping with `metrics:` and `experiments:`",
    "metrics": "write `metrics:` followed by indented `name: {kind: mean, numerator: column}`",
    "metric": "write `kind:` and `numerator:` (and the optional keys) under the metric's name",
    "metric_name": "name metrics with lowercase letters, digits and _, e.g. clicks_per_user",
    "kind": "write mean, ratio or proportion",
    "numerator": "write a column of fct_experiment_user_metrics, e.g. clicks",
    "denominator": "write a column of fct_experiment_user_metrics, e.g. impressions",
    "covariate": "write a column (mean metric) or {numerator: column, denominator: column} "
    "(ratio metric)",
    "bootstrap": "write true or false, unquoted",
    "description": "write text (quote it if it starts with a special character or holds ': ')",
    "experiments": "write `experiments:` followed by indented `experiment_id: {primary: metric}`",
    "experiment": "write `primary: <metric>` (and the optional keys) under the experiment id",
    "experiment_id": "quote the experiment id to make it text, e.g. '2024': ...",
    "primary": "write the name of a metric declared under `metrics:`",
    "primary_direction": "write increase or decrease",
    "secondary": "write a list of metric names, e.g. [clicks_per_user, saver_rate], or []",
    "diagnostics": "write a list of metric names, e.g. [ndcg_at_10, mean_click_position], or []",
    "secondary_item": "write the name of a metric declared under `metrics:`",
    "guardrails": "write a list of `- {metric: name, harmful_direction: increase, margin: 0.1}`"
    " items, or []",
    "guardrail": "write {metric: name, harmful_direction: increase, margin: 0.1}",
    "guardrail_metric": "write the name of a metric declared under `metrics:`",
    "harmful_direction": "write increase or decrease",
    "margin": "write a finite relative change, 0 <= margin < 10, e.g. 0.10 for 10%",
    "alpha": "write a number strictly between 0 and 1, e.g. 0.05",
    "correction": "write holm or fdr_bh",
    "srm_threshold": "write a number strictly between 0 and 1, e.g. 0.001",
    "cap": "write {percentile: 0.999} or {value: 500}",
    "percentile": "write a number strictly between 0 and 1, e.g. 0.999",
    "value": "write a finite number above 0, e.g. 500",
    "quantile": "write a number strictly between 0 and 1, e.g. 0.5 for the median",
    "segments": "write a list of segment columns, e.g. [platform, country, user_tenure], or []",
    "post_stratify": "write a list of segment columns, e.g. [platform], or []",
    "segments_item": "write a segment column of fct_experiment_user_metrics, e.g. platform",
    "balance_threshold": "write a number strictly between 0 and 1, e.g. 0.001",
    "surface": "write a surface name, e.g. home_feed",
    "novelty_days": "write a whole number of days from 1 to 60, e.g. 7",
    "sequential": "write true or false, unquoted",
    "bayesian": "write {prior_mean: 0.0, prior_sd: 0.3, decide: false, min_chance_to_win: 0.95}",
    "prior_mean": "write a finite number, e.g. 0.0",
    "prior_sd": "write a finite number above 0, e.g. 0.3",
    "decide": "write true or false, unquoted",
    "min_chance_to_win": "write a number strictly between 0 and 1, e.g. 0.95",
}

_WRONG_TYPE = {
    "string_type": "expected text",
    "bool_type": "expected true or false",
    "float_type": "expected a number",
    "int_type": "expected a whole number",
    "list_type": "expected a list",
    "dict_type": "expected a mapping of keys to values",
    "model_type": "expected a mapping of keys to values",
    "model_attributes_type": "expected a mapping of keys to values",
}


def _render(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """('experiments', 'exp_x', 'guardrails', 0, 'margin') -> experiments.exp_x.guardrails[0].margin

    Keys that are not plain words are quoted: experiments['exp 1'].alpha.
    """
    text = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif isinstance(part, str) and _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{_short(part) if isinstance(part, str) else repr(part)}]"
    return text or "(top level)"


def _context(parts: list[str | int], is_key: bool) -> str:
    """The schema field a key path points at, to say what to write there."""
    if not parts:
        return "document"
    section, depth = parts[0], len(parts)
    if section == "metrics":
        if depth <= 2:
            return ("metrics", "metric_name" if is_key else "metric")[depth - 1]
        if parts[2] in ("covariate", "cap") and depth > 3:
            return str(parts[3])
        return str(parts[2])
    if section == "experiments":
        if depth <= 2:
            return ("experiments", "experiment_id" if is_key else "experiment")[depth - 1]
        name = str(parts[2])
        if name in ("secondary", "diagnostics") and depth > 3:
            return "secondary_item"
        if name in ("segments", "post_stratify") and depth > 3:
            return "segments_item"
        if name == "bayesian" and depth > 3:
            return str(parts[3])
        if name == "guardrails" and depth > 3:
            if depth == 4:
                return "guardrail"
            return "guardrail_metric" if parts[4] == "metric" else str(parts[4])
        return name
    return "document"


def _why_text(kind: str, value: Any) -> str:
    """Why YAML read what looks like a number or a boolean as text (the classic traps)."""
    if not isinstance(value, str):
        return ""
    if kind == "bool_type" and value.lower() in {"yes", "no", "on", "off", "y", "n"}:
        return " (only unquoted true and false are booleans here)"
    if kind == "float_type":
        try:
            float(value)
        except ValueError:
            return ""
        return " (quoted numbers, and exponents without a dot such as 1e-3, are text in YAML)"
    return ""


def _explain(error: ValidationError, source: str) -> ConfigError:
    detail = error.errors(include_url=False)[0]
    parts = [part for part in detail["loc"] if part not in _UNION_TAGS]
    value = detail.get("input")
    is_key = bool(parts) and parts[-1] == "[key]"
    if is_key:
        parts = parts[:-1]
    kind = detail["type"]
    if kind == "metricbook":
        ctx = detail.get("ctx") or {}
        parts += list(ctx.get("at", ()))
        message = str(ctx.get("message", detail["msg"]))
    else:
        hint = _WRITE.get(_context(parts, is_key), "see the schema in metricbook/config.py")
        if kind == "missing":
            message = f"`{parts[-1]}` is required; {hint}"
        elif is_key:
            message = f"a name must be text, got {_describe(value)}; {hint}"
        elif kind == "float_type" and isinstance(value, int) and not isinstance(value, bool):
            message = f"{_describe(value)} is too large to be a number here; {hint}"
        elif kind in _WRONG_TYPE:
            message = f"{_WRONG_TYPE[kind]}, got {_describe(value)}{_why_text(kind, value)}; {hint}"
        else:
            message = f"{detail['msg']}; {hint}"
    return ConfigError(_one_line(f"{source}: {_render(parts)}: {message}"))


def _build(spec: _ConfigSpec, source: str) -> Config:
    metrics = {}
    for name, raw in spec.metrics.items():
        pair = raw.covariate if isinstance(raw.covariate, _CovariatePair) else None
        metrics[name] = Metric(
            name=name,
            kind=cast(MetricKind, raw.kind),
            numerator=raw.numerator,
            denominator=raw.denominator,
            covariate=pair.numerator if pair else cast("str | None", raw.covariate),
            covariate_denominator=pair.denominator if pair else None,
            bootstrap=raw.bootstrap,
            description=raw.description,
            quantile=None if raw.quantile is None else float(raw.quantile),
            cap_percentile=None
            if raw.cap is None or raw.cap.percentile is None
            else float(raw.cap.percentile),
            cap_value=None if raw.cap is None or raw.cap.value is None else float(raw.cap.value),
        )
    experiments = {
        experiment_id: ExperimentConfig(
            experiment_id=experiment_id,
            primary=raw.primary,
            primary_direction=cast(Direction, raw.primary_direction),
            secondary=tuple(raw.secondary),
            guardrails=tuple(
                Guardrail(
                    metric=g.metric,
                    harmful_direction=cast(Direction, g.harmful_direction),
                    margin=float(g.margin),
                )
                for g in raw.guardrails
            ),
            alpha=float(raw.alpha),
            correction=cast(Correction, raw.correction),
            srm_threshold=float(raw.srm_threshold),
            description=raw.description,
            diagnostics=tuple(raw.diagnostics),
            segments=tuple(raw.segments),
            post_stratify=tuple(raw.post_stratify),
            balance_threshold=float(raw.balance_threshold),
            surface=raw.surface,
            novelty_days=int(raw.novelty_days),
            sequential=raw.sequential,
            bayesian=BayesianConfig(
                prior_mean=float(raw.bayesian.prior_mean),
                prior_sd=float(raw.bayesian.prior_sd),
                decide=raw.bayesian.decide,
                min_chance_to_win=float(raw.bayesian.min_chance_to_win),
            ),
        )
        for experiment_id, raw in spec.experiments.items()
    }
    return Config(metrics=metrics, experiments=experiments, source=source)


def parse_config(raw: Any, source: str = "experiments.yml") -> Config:
    """Validate an already-parsed document (a dict from YAML or from Python)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(
            _one_line(
                f"{source}: (top level): expected a mapping with `metrics:` and `experiments:`, "
                f"got {_describe(raw)}; {_WRITE['document']}"
            )
        )
    try:
        spec = _ConfigSpec.model_validate(dict(raw))
    except ValidationError as error:
        raise _explain(error, source) from None
    return _build(spec, source)


# --- reading the file


class _DuplicateKeyError(yaml.YAMLError):
    def __init__(self, path: tuple[str | int, ...], key: Any, first: int, again: int) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.path, self.key, self.first, self.again = path, key, first, again


_MERGE_TAG = "tag:yaml.org,2002:merge"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_SafeBase: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml caps nesting at 1000


class _StrictLoader(_SafeBase):
    """A SafeLoader that refuses duplicate keys and reads only true/false as booleans."""

    paths: dict[int, tuple[str | int, ...]] = {}

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue  # merged keys may be overridden; that is what `<<:` is for
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:
                        raise _DuplicateKeyError(
                            self.paths.get(id(node), ()),
                            key,
                            seen[key],
                            key_node.start_mark.line + 1,
                        )
                except TypeError:
                    continue  # unhashable: the base constructor says so, with its line
                seen[key] = key_node.start_mark.line + 1
        return cast(dict[Any, Any], super().construct_mapping(node, deep=deep))


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in _SafeBase.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _children(node: yaml.Node) -> Iterator[tuple[str | int, yaml.Node]]:
    if isinstance(node, yaml.SequenceNode):
        yield from enumerate(node.value)
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            label = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            yield label, key_node
            yield label, value_node


def _guard(root: yaml.Node, source: str) -> dict[int, tuple[str | int, ...]]:
    """Before anything is built: refuse alias bombs and recursive aliases; note key paths.

    Aliases share nodes, so the composed graph stays small while the document it stands for can
    be exponentially large; the expanded size is counted once per node (memoised), iteratively.
    """
    paths: dict[int, tuple[str | int, ...]] = {id(root): ()}
    sizes: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            entered.discard(id(node))
            size = 1 + sum(sizes[id(child)] for _, child in _children(node))
            if size > MAX_NODES:
                line = node.start_mark.line + 1
                raise ConfigError(
                    f"{source}: line {line}: the document expands to more than {MAX_NODES} "
                    "values (aliases of aliases?); write the config without nested aliases"
                )
            sizes[id(node)] = size
            continue
        if id(node) in sizes:
            continue
        if id(node) in entered:
            raise ConfigError(
                f"{source}: line {node.start_mark.line + 1}: an alias refers to the node that "
                "contains it (a recursive document); remove the alias"
            )
        entered.add(id(node))
        stack.append((node, True))
        for label, child in _children(node):
            paths.setdefault(id(child), (*paths[id(node)], label))
            stack.append((child, False))
    return paths


def _parse_yaml(text: str, source: str) -> Any:
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        loader.paths = _guard(node, source)
        return loader.construct_document(node)
    except _DuplicateKeyError as error:
        lines = (
            f"twice on line {error.first}"
            if error.first == error.again
            else f"lines {error.first} and {error.again}"
        )
        raise ConfigError(
            _one_line(
                f"{source}: {_render((*error.path, str(error.key)))}: duplicate key "
                f"{_short(str(error.key))} ({lines}); the second "
                "would silently replace the first: keep one"
            )
        ) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(top level)"
        problem = " ".join(p for p in (error.context, error.problem) if p) or "syntax error"
        fix = (
            "write plain values (tags such as !!python/... are not allowed)"
            if "constructor for the tag" in (error.problem or "")
            else "write keys as plain text"
            if isinstance(error, yaml.constructor.ConstructorError)
            else "fix the syntax there (indent with spaces, quote text holding ': ' or "
            "starting with a special character)"
        )
        raise ConfigError(
            _one_line(f"{source}: {where}: not valid YAML: {problem}; {fix}")
        ) from error
    except yaml.reader.ReaderError as error:
        raise ConfigError(
            _one_line(
                f"{source}: offset {error.position}: not valid YAML: unacceptable character "
                f"#x{error.character:04x} ({error.reason}); remove it"
                if isinstance(error.character, int)
                else f"{source}: not valid YAML: {error.reason}; remove the offending character"
            )
        ) from error
    except yaml.YAMLError as error:
        raise ConfigError(
            _one_line(f"{source}: not valid YAML: {error}; fix the syntax")
        ) from error
    except RecursionError:
        raise ConfigError(
            f"{source}: the document is nested too deeply; a config is a few levels deep"
        ) from None
    finally:
        loader.dispose()


def _read_text(path: Path, source: str) -> str:
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise ConfigError(
            f"{source}: no such experiment config file; pass --config PATH to an experiments.yml"
        ) from None
    except PermissionError:
        raise ConfigError(
            f"{source}: cannot read the experiment config (permission denied); make it readable"
        ) from None
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(
            _one_line(f"{source}: cannot read the config ({reason}); check the path")
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(
            f"{source}: is a directory, not a config file; pass the path of experiments.yml"
        )
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{source}: is not a regular file; pass the path of experiments.yml")
    too_big = ConfigError(
        f"{source}: the config is larger than {MAX_BYTES} bytes; an experiments.yml is a few "
        "kilobytes: check that this is the right file"
    )
    if info.st_size > MAX_BYTES:
        raise too_big
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except PermissionError:
        raise ConfigError(
            f"{source}: cannot read the experiment config (permission denied); make it readable"
        ) from None
    except OSError as error:
        raise ConfigError(
            _one_line(
                f"{source}: cannot read the config ({error.strerror or error}); check the file"
            )
        ) from None
    if len(data) > MAX_BYTES:
        raise too_big
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{source}: byte {error.start}: not UTF-8 text (byte 0x{data[error.start]:02x}); "
            "save the file as UTF-8"
        ) from None


def load_config(path: Path | str = DEFAULT_CONFIG) -> Config:
    """Read and validate experiments.yml; every problem is a one-line ConfigError."""
    path = Path(path)
    source = _one_line(str(path))
    raw = _parse_yaml(_read_text(path, source), source)
    if raw is None:
        raise ConfigError(
            f"{source}: the config is empty (or only comments); write `metrics:` and "
            "`experiments:` (see the shipped experiments.yml)"
        )
    return parse_config(raw, source)
