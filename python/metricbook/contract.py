"""The one contract between dbt and Python: the raw tables and their columns, what the marts
are, which columns (and types) each declares, and which marts a command reads, read from the
YAML dbt owns.

- `models/staging/_raw__sources.yml`: the raw contract, every raw table with its columns in
  order (the seeds, the generator and the raw-file checks all read it from here).
- `models/marts/<subject>/_<subject>__models.yml`: every mart with an enforced contract (each
  column with its `data_type`), so a mart's columns are declared once, there.
- `models/exposures.yml`: what reads the marts outside dbt; `metricbook_analyze` lists in
  `depends_on` the marts the readout queries.

The files are parsed with PyYAML (no dbt invocation, no target/manifest.json: an installed
user may never have compiled the project) and cached, since they do not change under a
running process. A `data_type` spelled per engine is returned as written (the Jinja expression
of the mart YAML's `&text` / `&utc_timestamp` anchors).

A column counts towards validation's never-negative and minimum checks when its YAML says so:
`config: {meta: {count: true}}` on the column (dbt 1.10 moved column `meta` under `config`; a
bare `meta:` is read too). The metrics `metricbook causal` may analyse are fct_launch_panel's
columns flagged `meta: {panel_metric: true}`. The daily mart's running totals name their
column in `meta: {to_date_of: <column>}`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from metricbook.warehouse.paths import REPO_ROOT

RAW_SOURCES = "models/staging/_raw__sources.yml"
MARTS_GLOB = "models/marts/*/_*__models.yml"
EXPOSURES = "models/exposures.yml"
ANALYZE_EXPOSURE = "metricbook_analyze"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_REF = re.compile(r"""^\s*ref\(\s*['"]([^'"]+)['"]\s*\)\s*$""")


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        # libyaml's loader where PyYAML has it: the mart YAML is read on every readout
        document = yaml.load(handle, Loader=_LOADER)  # noqa: S506 - a safe loader
    assert isinstance(document, dict), f"{path} is not a dbt properties file"
    return document


@lru_cache
def _raw_tables(project_dir: Path) -> dict[str, tuple[str, ...]]:
    (source,) = _load(project_dir / RAW_SOURCES)["sources"]
    return {
        table["name"]: tuple(column["name"] for column in table["columns"])
        for table in source["tables"]
    }


def raw_columns(project_dir: Path = REPO_ROOT) -> dict[str, tuple[str, ...]]:
    """The raw contract: raw table -> its columns, in the order a file delivers them."""
    return dict(_raw_tables(project_dir))


@lru_cache
def _marts(project_dir: Path = REPO_ROOT) -> dict[str, dict[str, Any]]:
    """Every mart's properties, by name, in file order (subjects sorted)."""
    marts: dict[str, dict[str, Any]] = {}
    for path in sorted(project_dir.glob(MARTS_GLOB)):
        for model in _load(path).get("models") or []:
            assert model["name"] not in marts, f"{model['name']} is declared twice"
            marts[model["name"]] = model
    return marts


@lru_cache
def _exposures(project_dir: Path = REPO_ROOT) -> dict[str, dict[str, Any]]:
    exposures = _load(project_dir / EXPOSURES).get("exposures") or []
    return {exposure["name"]: exposure for exposure in exposures}


def public_marts(project_dir: Path = REPO_ROOT) -> list[str]:
    """Every model declared under models/marts/, in file order."""
    return list(_marts(project_dir))


def _model(model: str, project_dir: Path) -> dict[str, Any]:
    marts = _marts(project_dir)
    if model not in marts:
        raise KeyError(f"{model} is not a mart declared in {MARTS_GLOB}")
    return marts[model]


def mart_columns(model: str, project_dir: Path = REPO_ROOT) -> dict[str, str]:
    """The mart's contracted columns, in declared order: name -> data_type as written."""
    columns = _model(model, project_dir).get("columns") or []
    return {column["name"]: str(column["data_type"]) for column in columns}


def _meta(column: dict[str, Any]) -> dict[str, Any]:
    return {**(column.get("meta") or {}), **((column.get("config") or {}).get("meta") or {})}


def flagged_columns(model: str, flag: str, project_dir: Path = REPO_ROOT) -> list[str]:
    """The mart's columns whose YAML says `config: {meta: {<flag>: true}}`, in declared order."""
    columns = _model(model, project_dir).get("columns") or []
    return [column["name"] for column in columns if _meta(column).get(flag) is True]


def to_date_columns(model: str, project_dir: Path = REPO_ROOT) -> dict[str, str]:
    """The mart's running totals: column -> its `<column>_to_date`, the columns whose YAML
    says `config: {meta: {to_date_of: <column>}}`."""
    columns = _model(model, project_dir).get("columns") or []
    return {
        str(_meta(column)["to_date_of"]): column["name"]
        for column in columns
        if _meta(column).get("to_date_of")
    }


def count_columns(model: str, project_dir: Path = REPO_ROOT) -> list[str]:
    """The mart's columns flagged `meta: {count: true}`: counts and amounts that are never
    negative (validation checks their minimum per variant)."""
    return flagged_columns(model, "count", project_dir)


def exposure_models(name: str, project_dir: Path = REPO_ROOT) -> list[str]:
    """The models an exposure's `depends_on` refs, in declared order."""
    exposures = _exposures(project_dir)
    if name not in exposures:
        raise KeyError(f"exposure {name} is not declared in {EXPOSURES}")
    models = []
    for dependency in exposures[name].get("depends_on") or []:
        match = _REF.match(dependency)
        assert match, f"exposure {name}: depends_on {dependency!r} is not ref('model')"
        models.append(match.group(1))
    return models
