"""The test machinery itself: the throwaway Postgres server's password never sits in a file
that another user of the machine could read."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from metricbook.warehouse.dbt_runner import REPO_ROOT

pytestmark = [pytest.mark.build, pytest.mark.postgres]  # starts .ci/with-postgres

# Inside the wrapper: every file under the server's work directory that holds the password,
# with its permission bits; the probe also proves it looked (the data directory is there).
PROBE = r"""
[ -d "$METRICBOOK_PG_WORKDIR/data" ] || { echo "no workdir"; exit 3; }
grep -rlF --null "$METRICBOOK_PG_PASSWORD" "$METRICBOOK_PG_WORKDIR" 2>/dev/null \
    | xargs -0 -r stat -c '%a %n'
echo done
"""


@pytest.mark.skipif(shutil.which("initdb") is None, reason="no PostgreSQL server binaries")
def test_the_postgres_password_is_in_no_world_readable_file() -> None:
    completed = subprocess.run(
        [str(REPO_ROOT / ".ci" / "with-postgres"), "bash", "-c", PROBE],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert lines[-1] == "done"
    for line in lines[:-1]:
        mode, path = line.split(" ", 1)
        assert int(mode[-1]) & 4 == 0, f"{path} holds the password and is world-readable ({mode})"
