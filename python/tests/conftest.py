"""Shared fixtures: dbt builds of the project into throwaway DuckDB files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest
from hypothesis import settings

from metricbook.datagen.seeds import ALTERNATE, DEPTH, TEACHING, RawDataset, generate, write_csv
from metricbook.warehouse.dbt_runner import REPO_ROOT, run_dbt

# Property tests draw the same examples on every run, so CI cannot fail by chance; set
# METRICBOOK_HYPOTHESIS_RANDOM=1 to explore new examples locally.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("explore" if os.environ.get("METRICBOOK_HYPOTHESIS_RANDOM") else "repeatable")
# No validation cache under test (every readout runs its great-expectations suite, and
# nothing is written to the home directory); the cache's own tests set a directory.
os.environ["METRICBOOK_CACHE_DIR"] = ""

PROJECT_FILES = [
    "dbt_project.yml",
    "profiles.yml",
    "selectors.yml",
    "models",
    "macros",
    "tests",
    "analysis",
]

# The fixtures that build the dbt project (or start a Postgres server and build there), here and
# in the test modules. A test using one, directly, through another fixture or as the name of a
# parameter (request.getfixturevalue), is marked `build`; `make test-fast` (pytest -m "not
# build") leaves it out. Tests that call build() / run_dbt() in their own body carry the mark
# themselves (pytestmark, or @pytest.mark.build).
BUILD_FIXTURES = {
    "seeds_project",  # here
    "seeds_db",  # here
    "alternate_db",  # here
    "depth_db",  # here
    "broken_build",  # test_broken_experiments.py
    "incremental_and_full",  # test_incremental.py
    "hostile_db",  # test_robustness_raw.py
    "hostile_postgres",  # test_robustness_raw.py
    "odd_names_db",  # test_robustness_faults.py
    "postgres",  # test_robustness_faults.py: the throwaway server (.ci/with-postgres)
}
POSTGRES_FIXTURES = {"hostile_postgres", "postgres"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        if callspec is not None:
            used |= {value for value in callspec.params.values() if isinstance(value, str)}
        if used & BUILD_FIXTURES:
            item.add_marker(pytest.mark.build)
        if used & POSTGRES_FIXTURES:
            item.add_marker(pytest.mark.postgres)
        # the error-rate and coverage simulations (thousands of seeded runs each): `make test`
        # runs them, `make test-fast` does not
        if item.module is not None and item.module.__name__.endswith("_simulation"):
            item.add_marker(pytest.mark.simulation)
        # the generator's own tests write whole data sets (a minute together)
        if item.module is not None and item.module.__name__.startswith("test_generator"):
            item.add_marker(pytest.mark.generator)


def copy_project(destination: Path, seeds: RawDataset | None = None) -> Path:
    """A copy of the dbt project; with `seeds`, its CSVs replace the shipped ones."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name)
        elif source.exists():
            shutil.copy(source, destination / name)
    shutil.copytree(REPO_ROOT / "seeds", destination / "seeds")
    if seeds is not None:
        write_csv(seeds, destination / "seeds")
    return destination


def build(project: Path, database: Path, *extra: str) -> None:
    result = run_dbt(
        ["build", "--target-path", str(project / "target"), *extra],
        project_dir=project,
        duckdb_path=database,
    )
    assert result.ok, result.output[-6000:]


@pytest.fixture(scope="session")
def teaching_dataset() -> RawDataset:
    return generate(TEACHING)


@pytest.fixture(scope="session")
def alternate_dataset() -> RawDataset:
    return generate(ALTERNATE)


@pytest.fixture(scope="session")
def seeds_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project whose shipped seeds are built (every model, data and unit test);
    its database is seeds_project / 'metricbook.duckdb'."""
    project = copy_project(tmp_path_factory.mktemp("seeds_build") / "project")
    build(project, project / "metricbook.duckdb")
    return project


@pytest.fixture(scope="session")
def seeds_db(seeds_project: Path) -> Path:
    return seeds_project / "metricbook.duckdb"


@pytest.fixture(scope="session")
def alternate_db(tmp_path_factory: pytest.TempPathFactory, alternate_dataset: RawDataset) -> Path:
    """The project with its seed CSVs replaced by the alternate file set, built."""
    root = tmp_path_factory.mktemp("alternate_build")
    project = copy_project(root / "project", seeds=alternate_dataset)
    database = root / "metricbook.duckdb"
    build(project, database)
    return database


@pytest.fixture(scope="session")
def depth_dataset() -> RawDataset:
    return generate(DEPTH)


@pytest.fixture(scope="session")
def depth_db(tmp_path_factory: pytest.TempPathFactory, depth_dataset: RawDataset) -> Path:
    """The project with its seed CSVs replaced by the depth file set (the three-arm
    experiment), built: ~210,000 events, ~35-75 s here."""
    root = tmp_path_factory.mktemp("depth_build")
    project = copy_project(root / "project", seeds=depth_dataset)
    database = root / "metricbook.duckdb"
    build(project, database)
    return database


def query(database: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def one_line(err: str, *needles: str) -> str:
    """The one stderr line a refusal prints: no traceback, exactly one line, naming `needles`."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def strict_json(text: str):
    """json.loads that refuses NaN / Infinity tokens (Python's default accepts them)."""

    def refuse(token: str):
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def postgres_connection():
    """A connection to the throwaway server .ci/with-postgres started (its METRICBOOK_PG_*)."""
    import psycopg2

    return psycopg2.connect(
        host=os.environ["METRICBOOK_PG_HOST"],
        port=int(os.environ["METRICBOOK_PG_PORT"]),
        user=os.environ["METRICBOOK_PG_USER"],
        password=os.environ["METRICBOOK_PG_PASSWORD"],
        dbname=os.environ["METRICBOOK_PG_DATABASE"],
    )
