"""The one contract between dbt and Python (python/metricbook/contract.py): the mart names, columns
and the marts the readout reads come from the YAML dbt owns, and nothing in Python drifts from it.
Pure and fast: reads YAML and Python source, builds nothing."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import yaml

from metricbook import contract
from metricbook.checks import parity
from metricbook.readout import queries, validation
from metricbook.readout import readout as readout_module
from metricbook.readout.config import load_config
from metricbook.warehouse.dbt_runner import REPO_ROOT

PACKAGE = REPO_ROOT / "python" / "metricbook"
MART_NAME = re.compile(r"^(fct|dim)_\w+$")
NUMERIC = re.compile(r"^(bigint|integer|int|smallint|decimal\(.*\)|numeric.*|double.*|float)$")
# the per-engine double of the contracts (Spark double, elsewhere double precision)
DOUBLE_ANCHOR = "{{ 'double' if target.type == 'spark' else 'double precision' }}"


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _declared_marts() -> dict[str, dict]:
    return {
        model["name"]: model
        for path in sorted(REPO_ROOT.glob("models/marts/*/_*__models.yml"))
        for model in _yaml(path)["models"]
    }


def _exposure_refs(name: str) -> list[str]:
    (exposure,) = [
        e for e in _yaml(REPO_ROOT / "models/exposures.yml")["exposures"] if e["name"] == name
    ]
    return [re.fullmatch(r"ref\('(\w+)'\)", ref).group(1) for ref in exposure["depends_on"]]


def test_public_marts_are_the_models_under_models_marts() -> None:
    declared = _declared_marts()
    assert contract.public_marts() == list(declared)
    assert {path.stem for path in REPO_ROOT.glob("models/marts/*/*.sql")} == set(declared)


def test_every_mart_column_has_a_contracted_type() -> None:
    for name, model in _declared_marts().items():
        assert model["config"]["contract"] == {"enforced": True}, name
        assert contract.mart_columns(name) == {c["name"]: c["data_type"] for c in model["columns"]}


def test_parity_compares_every_public_mart() -> None:
    assert tuple(sorted(_declared_marts())) == parity.MARTS


def test_analyze_reads_the_marts_its_exposure_declares() -> None:
    assert tuple(_exposure_refs("metricbook_analyze")) == queries.MARTS  # in declared order
    assert queries.MARTS[0] == queries.USER_METRICS
    assert contract.exposure_models("metricbook_analyze") == _exposure_refs("metricbook_analyze")


def test_validated_counts_are_the_flagged_numeric_non_id_columns() -> None:
    columns = _declared_marts()[queries.USER_METRICS]["columns"]
    flagged = [c["name"] for c in columns if (c.get("config") or {}).get("meta", {}).get("count")]
    assert tuple(flagged) == readout_module.COUNT_COLUMNS
    types = contract.mart_columns(queries.USER_METRICS)
    for column in readout_module.COUNT_COLUMNS:
        numeric = NUMERIC.match(types[column]) or types[column] == DOUBLE_ANCHOR
        assert numeric, (column, types[column])
        assert not column.endswith("_id"), column
    # the clicks-above-impressions warning needs both among the checked counts
    assert {"clicks", "impressions"} <= set(readout_module.COUNT_COLUMNS)


def test_every_daily_column_has_one_running_total_of_its_type() -> None:
    """The cumulative view reads `<column>_to_date` for every daily column (meta: {daily:
    true}); the YAML must declare exactly those, each typed as its column."""
    types = contract.mart_columns(queries.DAILY)
    running = contract.to_date_columns(queries.DAILY)
    assert sorted(running) == sorted(contract.flagged_columns(queries.DAILY, "daily"))
    for column, to_date in running.items():
        assert to_date == f"{column}_to_date" and types[to_date] == types[column]
    assert "user_day_number" in types


def test_every_column_python_reads_is_in_its_mart_contract() -> None:
    reads = {
        queries.USER_METRICS: {
            "experiment_id",
            "user_id",
            "variant",
            *readout_module.COUNT_COLUMNS,
            *(column for metric in load_config().metrics.values() for column in metric.columns),
        },
        queries.ASSIGNMENTS: {"experiment_id", "user_id", "variant"},
        queries.EXPERIMENTS: {"experiment_id", "is_analyzable", "exclusion_reason"},
        queries.VARIANTS: {"experiment_id", "variant", "traffic_share", "is_control"},
    }
    for mart, columns in reads.items():
        missing = columns - set(contract.mart_columns(mart))
        assert not missing, f"{mart} does not declare {sorted(missing)}"


def test_exposure_covers_every_relation_the_readout_queries() -> None:
    queried = set()
    for module in (queries, validation):
        source = Path(module.__file__).read_text(encoding="utf-8")
        for name in re.findall(r"warehouse\.relation\(([A-Z_]+)\)", source):
            queried.add(getattr(queries, name))
    assert queried and queried <= set(contract.exposure_models("metricbook_analyze"))


def test_no_hard_coded_list_of_mart_names_outside_the_contract() -> None:
    """Two or more mart names in one tuple, list, set or dict literal is a copy of what dbt
    declares: read it from metricbook.contract instead."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "contract.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Tuple | ast.List | ast.Set):
                items = node.elts
            elif isinstance(node, ast.Dict):
                items = [key for key in node.keys if key is not None]
            else:
                continue
            names = [
                item.value
                for item in items
                if isinstance(item, ast.Constant)
                and isinstance(item.value, str)
                and MART_NAME.match(item.value)
            ]
            if len(names) >= 2:
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {names}")
    assert not offenders, "hard-coded mart lists: " + "; ".join(offenders)


def test_the_raw_contract_is_the_sources_yaml_and_the_seeds_follow_it() -> None:
    raw = contract.raw_columns()
    assert list(raw) == [
        "raw_users",
        "raw_pins",
        "raw_events",
        "raw_transactions",
        "raw_experiments",
        "raw_experiment_variants",
        "raw_experiment_assignments",
        "raw_ranker_scores",
        "raw_launches",
    ]
    assert raw["raw_events"][0] == "event_id"
    seeds = {s["name"]: s for s in _yaml(REPO_ROOT / "seeds/_seeds.yml")["seeds"]}
    assert set(seeds) == set(raw)
    for table, columns in raw.items():
        assert tuple(c["name"] for c in seeds[table]["columns"]) == columns, table
        header = (REPO_ROOT / "seeds" / f"{table}.csv").open(encoding="utf-8").readline()
        assert tuple(header.strip().split(",")) == columns, table


def test_python_reads_each_profile_target_as_dbt_renders_it(monkeypatch) -> None:
    """warehouse.connection renders profiles.yml itself (dbt's renderer costs ~1 s of imports
    on every `metricbook analyze`); this keeps the two renderings equal on every target."""
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    from metricbook.warehouse.connection import profile_target

    environment = {
        "METRICBOOK_DUCKDB_PATH": "/data/m.duckdb",
        "METRICBOOK_PG_PORT": "6543",
        "METRICBOOK_PG_PASSWORD": "s3cr{e}t'\"",
        "METRICBOOK_SPARK_DIR": "/tmp/spark here",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    set_invocation_context(dict(os.environ))
    outputs = _yaml(REPO_ROOT / "profiles.yml")["metricbook"]["outputs"]
    for target, output in outputs.items():
        ours = profile_target(target)
        assert ours.pop("target_name") == target
        assert ours == ProfileRenderer({}).render_data(output), target
    assert profile_target("postgres")["port"] == 6543


LAYERS = {"base": 0, "staging": 1, "intermediate": 2, "marts": 3}


def _layer(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT / "models").parts
    return "base" if parts[:2] == ("staging", "base") else parts[0]


def test_layers_read_one_way_and_no_base_model_reads_a_stg_model() -> None:
    """base reads raw relations and other base models; each layer reads only its own or the
    layers below it (base -> staging -> intermediate -> marts), refs in comments included."""
    models = {path.stem: path for path in (REPO_ROOT / "models").rglob("*.sql")}
    assert {_layer(path) for path in models.values()} == set(LAYERS)
    upward = []
    for name, path in models.items():
        sql = path.read_text(encoding="utf-8")
        for ref in re.findall(r"""ref\(\s*['"](\w+)['"]\s*\)""", sql):
            if ref not in models:
                continue  # a seed (raw_*), read through raw_relation
            if LAYERS[_layer(models[ref])] > LAYERS[_layer(path)]:
                upward.append(f"{name} ({_layer(path)}) reads {ref} ({_layer(models[ref])})")
        if _layer(path) == "base":
            assert "stg_" not in re.sub(r"--.*", "", sql), f"{name} names a stg_ model"
    assert not upward, upward


def test_every_unit_test_and_model_name_fits_a_postgres_identifier() -> None:
    """dbt names a unit test's relation after the test: Postgres refuses identifiers over 63
    characters, so a long name passes on DuckDB and fails on Postgres."""
    names = [path.stem for path in (REPO_ROOT / "models").rglob("*.sql")]
    for path in (REPO_ROOT / "models").rglob("*.yml"):
        names += [test["name"] for test in _yaml(path).get("unit_tests") or []]
    too_long = [name for name in names if len(name) > 63]
    assert names and not too_long, too_long
