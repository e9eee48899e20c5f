"""Run one command and report its wall time and the peak RSS of its process tree.

    python -m metricbook.checks.bench.measure -- CMD ...   ->  {"seconds": ..., "peak_rss_mb": ...}

Each benchmark step runs under this wrapper in its own process, so RUSAGE_CHILDREN sees only
that step (Linux reports ru_maxrss in KiB).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    command = argv[argv.index("--") + 1 :] if "--" in argv else argv
    started = time.perf_counter()
    completed = subprocess.run(command, check=False)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {"seconds": seconds, "peak_rss_mb": peak_kib / 1024, "returncode": completed.returncode}
        ),
        file=sys.stderr,
    )
    return completed.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
