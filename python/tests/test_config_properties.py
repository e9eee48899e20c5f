"""Properties of the config loader: no input makes it raise anything but a one-line ConfigError,
and every valid config reads back to exactly the values written."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metricbook.readout.config import (
    Config,
    ConfigError,
    ExperimentConfig,
    Guardrail,
    Metric,
    load_config,
    parse_config,
)

PROPERTY = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
SCHEMA_WORDS = [
    "metrics",
    "experiments",
    "kind",
    "mean",
    "ratio",
    "proportion",
    "numerator",
    "denominator",
    "covariate",
    "bootstrap",
    "description",
    "primary",
    "primary_direction",
    "secondary",
    "guardrails",
    "metric",
    "harmful_direction",
    "increase",
    "decrease",
    "margin",
    "alpha",
    "correction",
    "holm",
    "fdr_bh",
    "srm_threshold",
    "m",
    "e",
]
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
    | st.sampled_from(SCHEMA_WORDS)
)
KEYS = st.sampled_from(SCHEMA_WORDS) | TEXT


def json_like(max_leaves: int) -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
        max_leaves=max_leaves,
    )


JSON_LIKE = json_like(10)
# Shaped like a config, so that the junk reaches the inner keys too.
VALUE = json_like(3)
CONFIG_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "metrics": st.dictionaries(KEYS, st.dictionaries(KEYS, VALUE, max_size=6), max_size=3),
        "experiments": st.dictionaries(KEYS, st.dictionaries(KEYS, VALUE, max_size=8), max_size=3),
    },
)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory) / "experiments.yml"


def _load_or_refuse(path: Path) -> None:
    try:
        config = load_config(path)
    except ConfigError as error:
        assert error.exit_code == 2
        assert "\n" not in str(error) and str(error).startswith(f"{path}: ")
    else:
        assert isinstance(config, Config)


@PROPERTY
@given(document=JSON_LIKE | CONFIG_LIKE)
def test_any_document_loads_or_is_a_config_error(scratch: Path, document: Any) -> None:
    scratch.write_text(yaml.dump(document, Dumper=DUMPER, allow_unicode=True), encoding="utf-8")
    _load_or_refuse(scratch)


@PROPERTY
@given(document=JSON_LIKE | CONFIG_LIKE)
def test_any_python_value_parses_or_is_a_config_error(document: Any) -> None:
    try:
        parse_config(document)
    except ConfigError as error:
        assert "\n" not in str(error)


@PROPERTY
@given(text=st.text(st.characters(exclude_categories=("Cs",)), max_size=200))
def test_any_text_loads_or_is_a_config_error(scratch: Path, text: str) -> None:
    scratch.write_text(text, encoding="utf-8")
    _load_or_refuse(scratch)


@PROPERTY
@given(data=st.binary(max_size=200))
def test_any_bytes_load_or_are_a_config_error(scratch: Path, data: bytes) -> None:
    scratch.write_bytes(data)
    _load_or_refuse(scratch)


# --- valid configs read back exactly

FIRST = "abcdefghijklmnopqrstuvwxyz_"
IDENTIFIER = st.builds(  # [a-z_][a-z0-9_]*, cheaper to draw than st.from_regex
    str.__add__, st.sampled_from(FIRST), st.text(FIRST + "0123456789", max_size=20)
)
OPEN_UNIT = st.floats(min_value=0, max_value=1, exclude_min=True, exclude_max=True)
# Line separators other than \n (NEL, U+2028, U+2029) are folded by YAML itself; not ours to test.
DESCRIPTION = st.text(
    st.characters(exclude_categories=("C", "Zl", "Zp"), include_characters="\n\t"), max_size=40
)
EXPERIMENT_ID = st.text(st.characters(exclude_categories=("C",)), min_size=1, max_size=20).filter(
    str.strip
)
DIRECTION = st.sampled_from(["increase", "decrease"])


@st.composite
def metric_specs(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["mean", "ratio", "proportion"]))
    spec: dict[str, Any] = {"kind": kind, "numerator": draw(IDENTIFIER)}
    if kind == "ratio":
        spec["denominator"] = draw(IDENTIFIER)
    if kind == "mean" and draw(st.booleans()):
        spec["covariate"] = draw(IDENTIFIER)
    if kind == "ratio" and draw(st.booleans()):
        spec["covariate"] = {"numerator": draw(IDENTIFIER), "denominator": draw(IDENTIFIER)}
    if draw(st.booleans()):
        spec["bootstrap"] = draw(st.booleans())
    if draw(st.booleans()):
        spec["description"] = draw(DESCRIPTION)
    return spec


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    metrics = draw(st.dictionaries(IDENTIFIER, metric_specs(), min_size=1, max_size=6))
    experiments = {}
    for experiment_id in draw(st.lists(EXPERIMENT_ID, max_size=3, unique=True)):
        names = draw(st.permutations(list(metrics)))
        n_secondary = draw(st.integers(0, len(names) - 1))
        n_guardrails = draw(st.integers(0, len(names) - 1 - n_secondary))
        spec: dict[str, Any] = {"primary": names[0]}
        if draw(st.booleans()):
            spec["secondary"] = names[1 : 1 + n_secondary]
        if draw(st.booleans()):
            spec["guardrails"] = [
                {
                    "metric": name,
                    "harmful_direction": draw(DIRECTION),
                    "margin": draw(st.floats(min_value=0, max_value=10, exclude_max=True)),
                }
                for name in names[1 + n_secondary : 1 + n_secondary + n_guardrails]
            ]
        optional = {
            "primary_direction": DIRECTION,
            "alpha": OPEN_UNIT,
            "srm_threshold": OPEN_UNIT,
            "correction": st.sampled_from(["holm", "fdr_bh"]),
            "description": DESCRIPTION,
        }
        for key, values in optional.items():
            if draw(st.booleans()):
                spec[key] = draw(values)
        experiments[experiment_id] = spec
    return {"metrics": metrics, "experiments": experiments}


def expected(raw: dict[str, Any]) -> Config:
    """The Config the raw document means, spelled out field by field."""
    metrics = {}
    for name, spec in raw["metrics"].items():
        covariate = spec.get("covariate")
        pair = covariate if isinstance(covariate, dict) else None
        metrics[name] = Metric(
            name=name,
            kind=spec["kind"],
            numerator=spec["numerator"],
            denominator=spec.get("denominator"),
            covariate=pair["numerator"] if pair else covariate,
            covariate_denominator=pair["denominator"] if pair else None,
            bootstrap=spec.get("bootstrap", False),
            description=spec.get("description", ""),
        )
    experiments = {
        experiment_id: ExperimentConfig(
            experiment_id=experiment_id,
            primary=spec["primary"],
            primary_direction=spec.get("primary_direction", "increase"),
            secondary=tuple(spec.get("secondary", [])),
            guardrails=tuple(Guardrail(**g) for g in spec.get("guardrails", [])),
            alpha=spec.get("alpha", 0.05),
            correction=spec.get("correction", "holm"),
            srm_threshold=spec.get("srm_threshold", 0.001),
            description=spec.get("description", ""),
        )
        for experiment_id, spec in raw["experiments"].items()
    }
    return Config(metrics=metrics, experiments=experiments)


@PROPERTY
@given(raw=configs())
def test_valid_configs_parse_to_exactly_their_values(raw: dict[str, Any]) -> None:
    config = parse_config(raw)
    assert config == expected(raw)
    assert list(config.metrics) == list(raw["metrics"])
    for experiment in config.experiments.values():
        assert config.experiment(experiment.experiment_id) is experiment
        assert {m.name for m in config.metrics_of(experiment)} <= set(config.metrics)


@PROPERTY
@given(raw=configs())
def test_valid_configs_round_trip_through_yaml(scratch: Path, raw: dict[str, Any]) -> None:
    text = yaml.dump(raw, Dumper=DUMPER, allow_unicode=True, sort_keys=False)
    scratch.write_text(text, encoding="utf-8")
    assert load_config(scratch) == expected(raw)
