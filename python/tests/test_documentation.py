"""Every model, seed and column is documented, as `dbt docs generate` sees them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metricbook.warehouse.dbt_runner import run_dbt

pytestmark = pytest.mark.build


def test_every_model_seed_and_column_is_described(seeds_project: Path) -> None:
    result = run_dbt(
        ["docs", "generate", "--target-path", str(seeds_project / "target")],
        project_dir=seeds_project,
        duckdb_path=seeds_project / "metricbook.duckdb",
    )
    assert result.ok, result.output[-3000:]
    manifest = json.loads((seeds_project / "target" / "manifest.json").read_text())
    catalog = json.loads((seeds_project / "target" / "catalog.json").read_text())
    missing = []
    documented = 0
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] not in ("model", "seed"):
            continue
        if not node["description"].strip():
            missing.append(f"{unique_id}: no description")
        built_columns = catalog["nodes"][unique_id]["columns"]
        for column in built_columns:
            described = node["columns"].get(column, {}).get("description", "").strip()
            if not described:
                missing.append(f"{unique_id}.{column}: no description")
            documented += 1
    assert not missing, "\n".join(missing)
    assert documented > 100  # the check looked at the real project


def test_every_mart_carries_its_metric_definition(seeds_project: Path) -> None:
    """Each fct_ model states grain, what it counts, formula and pitfalls in meta.metric."""
    manifest = json.loads((seeds_project / "target" / "manifest.json").read_text())
    marts = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    marts = [n for n in marts if n["name"].startswith("fct_")]
    assert len(marts) >= 8
    incomplete = []
    for node in marts:
        definition = node["config"].get("meta", {}).get("metric", {})
        absent = {"grain", "counts", "formula", "pitfalls"} - {
            k for k, v in definition.items() if v
        }
        if absent:
            incomplete.append(f"{node['name']}: meta.metric lacks {sorted(absent)}")
    assert not incomplete, "\n".join(incomplete)
