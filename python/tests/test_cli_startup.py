"""`metricbook --help` stays light (nothing heavy imported) and lists every command; each
command's help works and a bad argument to a delegated one is one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from metricbook.cli import DELEGATED
from metricbook.datagen import options

HEAVY = ("numpy", "pandas", "pydantic", "scipy", "duckdb", "great_expectations")
COMMANDS = (
    "analyze",
    "ranking",
    "power",
    "generate",
    "seeds",
    "check-seeds",
    "pitfalls",
    "parity",
    "bench",
)
METRICBOOK = [sys.executable, "-c", "from metricbook.cli import main; raise SystemExit(main())"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*METRICBOOK, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_building_the_parser_imports_nothing_heavy() -> None:
    probe = (
        "import sys; from metricbook import cli; cli.parser(); "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert completed.stdout.strip() == "[]"


def test_help_lists_every_command() -> None:
    completed = _run("--help")
    assert completed.returncode == 0, completed.stderr
    for command in COMMANDS:
        assert command in completed.stdout
    own = {"analyze", "ranking", "power", "generate", "check-seeds"}
    assert set(DELEGATED) | own == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command: str) -> None:
    completed = _run(command, "--help")
    assert completed.returncode == 0, completed.stderr
    assert f"usage: metricbook {command}" in completed.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("parity", "--targets", "nope"),
        ("parity",),
        ("seeds", "--profile", "nope"),
        ("bench", "--no-such-flag"),
        ("pitfalls", "--no-such-flag"),
        ("check-seeds", "a", "b"),
        ("bench", "--sizes", "7Q"),
        ("bench", "--analyze-sizes", "100M"),
        ("bench", "--pandas-max-events", "-1"),
        ("bench", "--out", "Makefile"),
        ("analyze", "--experiment", "x", "--no-such-flag"),
        ("ranking", "--models", " , "),
        ("ranking", "--format", "csv"),
    ],
)
def test_a_bad_argument_is_a_usage_error_not_a_traceback(args: tuple[str, ...]) -> None:
    completed = _run(*args)
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines()[-1].startswith("metricbook")


def test_check_seeds_reports_a_missing_directory_with_exit_3(tmp_path: Path) -> None:
    completed = _run("check-seeds", str(tmp_path / "nothing here"))
    assert completed.returncode == 3
    assert "Traceback" not in completed.stderr


def test_generate_defaults_match_the_teaching_seeds() -> None:
    from metricbook.datagen.engine import ExperimentSpec
    from metricbook.datagen.seeds import PROFILES, TEACHING

    assert TEACHING.experiment_id == options.EXPERIMENT_ID
    assert ExperimentSpec().experiment_id == TEACHING.experiment_id
    assert tuple(PROFILES) == options.SEED_PROFILES, "`metricbook seeds --profile` choices"


def test_pitfalls_on_a_missing_or_unbuilt_database_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "x.duckdb"
    completed = _run("pitfalls", "--database", str(missing))
    assert completed.returncode == 1 and "Traceback" not in completed.stderr
    assert completed.stderr.strip().count("\n") == 0 and "no DuckDB database" in completed.stderr
    assert not missing.exists(), "checking the path must not create the database"


@pytest.mark.parametrize(
    "command",
    ["analyze", "ranking", "power", "seeds", "check-seeds", "pitfalls", "parity", "bench"],
)
def test_a_commands_help_imports_nothing_heavy(command: str) -> None:
    probe = (
        "import sys; from metricbook.cli import main\n"
        f"sys.argv = ['metricbook', {command!r}, '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.stderr.strip().splitlines()[-1] == "[]", completed.stderr
