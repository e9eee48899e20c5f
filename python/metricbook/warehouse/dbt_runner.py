"""Run dbt as a subprocess against a project directory (used by the CLI and the test suite)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from metricbook.warehouse.paths import REPO_ROOT  # re-exported: tests and tools import it from here


@dataclass(frozen=True)
class DbtResult:
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def dbt_executable() -> str:
    """The dbt installed beside this interpreter (the project's venv), else the one on PATH."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(
    args: Sequence[str],
    project_dir: Path = REPO_ROOT,
    duckdb_path: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> DbtResult:
    """Run `dbt <args>` in project_dir with its own profiles.yml; output is captured."""
    env = dict(os.environ)
    env["DBT_PROFILES_DIR"] = str(project_dir)
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    if duckdb_path is not None:
        duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        env["METRICBOOK_DUCKDB_PATH"] = str(duckdb_path)
    if extra_env:
        env.update(extra_env)
    completed = subprocess.run(
        [dbt_executable(), *args, "--project-dir", str(project_dir), "--no-use-colors"],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return DbtResult(completed.returncode, completed.stdout + completed.stderr)
