"""`make bench`: metricbook's cost against the floor, pandas and its own incremental run.

    python -m metricbook.checks.bench.run [--sizes 1M,10M] [--with-100m] [--out build/bench]

For each size it generates (once, then reuses) 90 days of raw Parquet with `metricbook
generate`, and measures, each step in its own process (wall time, peak RSS):
  - `dbt run` of the floor's seven marts and everything upstream of them (like for like with
    the floor), then `dbt run` and `dbt build` of the whole project on a fresh DuckDB (build =
    models + every data test; the unit tests run on fixed inputs, in CI, not per load);
  - the floor: the seven core marts from one lean hand-written DuckDB script (bench/floor.sql),
    and checks that its marts equal metricbook's;
  - the pandas way: raw Parquet into pandas, parse, dedupe, then the mirrors;
  - an incremental `dbt build` after one more day of data, as a share of the full build.
dbt reads the raw files through one fixed path (OUT/SIZE/raw, a link to the data set), so the
incremental day finds the parse the full build saved, as a scheduled job would; the one cold
`dbt parse` is timed on its own. Then `metricbook analyze` on synthetic experiment marts of 1M
and 10M users, pushed down vs pulling every row into pandas. Prints a table and the slowest
nodes, writes OUT/results.json and OUT/scaling.svg (time against size, log-log). Figures are
reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from metricbook.arguments import comma_choices, output_directory, positive_int
from metricbook.checks.bench.plot import scaling_svg
from metricbook.warehouse.dbt_runner import REPO_ROOT, dbt_executable

SIZES = {"50K": 50_000, "1M": 1_000_000, "10M": 10_000_000, "100M": 100_000_000}
DAYS = 90
SEED = 7
ANALYZE_USERS = {"1M": 1_000_000, "10M": 10_000_000}
# (mart, key columns, value columns) compared between the floor and metricbook
FLOOR_CHECKS = [
    ("fct_active_users", ["activity_date"], ["dau", "wau", "mau"]),
    ("fct_retention", ["cohort_date", "day_number"], ["cohort_users", "retained_users"]),
    ("fct_category_rankings", ["week_start", "country", "category"],
     ["saves", "rank_row_number", "rank_standard", "rank_dense"]),
    ("fct_category_overlap", ["category_a", "category_b"], ["users_both"]),
    ("fct_user_ctr", ["user_id"], ["impressions", "clicks"]),
    ("fct_daily_revenue", ["revenue_date"],
     ["completed_revenue_usd", "refunds_usd", "paying_users", "active_users"]),
    ("fct_experiment_user_metrics", ["experiment_id", "user_id"],
     ["variant", "impressions", "clicks", "saves", "hides", "active_days", "pre_clicks",
      "pre_impressions"]),
]  # fmt: skip


def measure(command: list[str], env: dict[str, str] | None = None) -> dict:
    """Run `command` under bench.measure; returns seconds and peak_rss_mb (raises on failure)."""
    wrapped = [sys.executable, "-m", "metricbook.checks.bench.measure", "--", *command]
    completed = subprocess.run(
        wrapped, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False
    )
    report = json.loads(completed.stderr.strip().splitlines()[-1])
    if report["returncode"] != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
        )
    return {"seconds": round(report["seconds"], 2), "peak_rss_mb": round(report["peak_rss_mb"])}


def _dbt(args: list[str], data: Path, target_path: Path) -> list[str]:
    variables = json.dumps({"raw_source": "parquet", "raw_parquet_dir": str(data)})
    return [
        dbt_executable(), *args, "--vars", variables, "--target-path", str(target_path),
        "--project-dir", str(REPO_ROOT), "--profiles-dir", str(REPO_ROOT),
    ]  # fmt: skip


def _raw_events(data: Path) -> int:
    import duckdb  # not at import: `metricbook bench --help` stays light

    with duckdb.connect() as con:
        return con.sql(
            f"select count(*) from read_parquet('{data}/raw_events/*.parquet')"
        ).fetchone()[0]


class Progress:
    """One line per benchmark step: a tqdm bar on a terminal (the step it is on, the time so
    far), plain `[size] step ...` lines in a CI log, where a redrawn bar would be noise."""

    def __init__(self, total: int, *, bar: bool | None = None):
        if bar is None:
            bar = sys.stderr.isatty() and not os.environ.get("CI")
        self._bar = None
        if bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc="bench", unit="step", file=sys.stderr)

    def step(self, label: str, what: str) -> None:
        if self._bar is None:
            print(f"[{label}] {what} ...", flush=True)
            return
        if self._bar.n or self._bar.postfix:  # the step before this one has finished
            self._bar.update()
        self._bar.set_postfix_str(f"{label}: {what}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.update()
            self._bar.close()


def planned_steps(labels: Sequence[str], analyze_labels: Sequence[str], pandas_max: int) -> int:
    """How many `Progress.step` calls a run makes: per size generate (counted even when the data
    is reused), dbt parse + core run, dbt run, dbt build, floor, pandas (small sizes), the
    incremental day; per
    analyze size the mart and its two readouts."""
    sizes = sum(6 + (SIZES[label] <= pandas_max) for label in labels)
    return sizes + 2 * len(analyze_labels)


def ensure_data(label: str, out: Path, progress: Progress) -> Path:
    from metricbook.datagen import engine

    data = out / f"data-{label}"
    complete = (data / engine.STATE_FILE).exists() and engine.read_state(data)["days"] == DAYS
    progress.step(label, "data (reused)" if complete else "generating data")
    if not complete:  # absent, or an interrupted run
        shutil.rmtree(data, ignore_errors=True)
        users = engine.plan_for_events(SIZES[label], DAYS)
        engine.generate(users, DAYS, SEED, data)
    return data


def floor_matches(floor_db: Path, metricbook_db: Path) -> dict[str, int]:
    """Rows that differ between the floor's marts and metricbook's, per mart (0 = equal)."""
    import duckdb

    differences = {}
    with duckdb.connect() as con:
        con.execute(f"attach '{floor_db}' as floor (read_only)")
        con.execute(f"attach '{metricbook_db}' as mb (read_only)")
        for table, keys, values in FLOOR_CHECKS:
            columns = ", ".join(keys + values)
            differences[table] = con.sql(
                f"select count(*) from ((select {columns} from floor.{table} "
                f"except all select {columns} from mb.{table}) union all "
                f"(select {columns} from mb.{table} except all "
                f"select {columns} from floor.{table}))"
            ).fetchone()[0]
    return differences


def _copy_linked(source: Path, destination: Path) -> None:
    """A copy of a generated data set whose files are hard links (instant, no extra disk)."""
    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(source, destination, copy_function=os.link)
    for state in destination.glob("*.json"):  # state files are rewritten: real copies
        state.unlink()
        shutil.copy(source / state.name, state)


def _point_at(link: Path, data: Path) -> None:
    """Make `link` (the one raw path dbt is given) lead to the data set `data`."""
    link.unlink(missing_ok=True)
    link.symlink_to(data.resolve(), target_is_directory=True)


def slowest(rows: list[dict], name: str, seconds: str, top: int) -> list[dict]:
    """The `top` rows by `seconds`, as {"node": row[name], "seconds": ...}."""
    timed = sorted(rows, key=lambda row: row[seconds], reverse=True)[:top]
    return [{"node": row[name], "seconds": round(row[seconds], 2)} for row in timed]


def slowest_nodes(target_path: Path, top: int = 8) -> list[dict]:
    """The `top` nodes of the last dbt invocation by execution time (run_results.json); a
    node is named by the third part of its unique_id (model.metricbook.NAME, test.metricbook.
    NAME.hash)."""
    results = json.loads((target_path / "run_results.json").read_text())["results"]
    named = [{**r, "name": r["unique_id"].split(".")[2]} for r in results]
    return slowest(named, "name", "execution_time", top)


CORE_SELECTION = ["--select", *(f"+{table}" for table, _, _ in FLOOR_CHECKS)]
DATA_TESTS_ONLY = ["--exclude-resource-type", "unit_test"]


def bench_size(label: str, out: Path, with_pandas: bool, progress: Progress) -> dict:
    from metricbook.datagen import engine

    data = ensure_data(label, out, progress)
    work = out / label
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    raw, target = work / "raw", work / "target"
    _point_at(raw, data)
    result: dict = {"size": label, "raw_events": _raw_events(data), "days": DAYS}
    database = work / "metricbook.duckdb"
    env = {"METRICBOOK_DUCKDB_PATH": str(database)}
    progress.step(label, "dbt parse, dbt run (floor's marts)")
    result["dbt_parse"] = measure(_dbt(["parse"], raw, target), env)
    result["dbt_run_core"] = measure(_dbt(["run", *CORE_SELECTION], raw, target), env)
    database.unlink()
    progress.step(label, "dbt run")
    result["dbt_run"] = measure(_dbt(["run"], raw, target), env)
    database.unlink()
    progress.step(label, "dbt build")
    result["dbt_build"] = measure(_dbt(["build", *DATA_TESTS_ONLY], raw, target), env)
    result["slowest_build_nodes"] = slowest_nodes(target)
    progress.step(label, "floor")
    floor_db = work / "floor.duckdb"
    result["floor"] = measure(
        [sys.executable, "-m", "metricbook.checks.bench.steps", "floor", str(data), str(floor_db)]
    )
    result["floor_differences"] = floor_matches(floor_db, database)
    statements = json.loads(floor_db.with_suffix(".profile.json").read_text())
    result["slowest_floor_statements"] = slowest(statements, "statement", "seconds", 4)
    if with_pandas:
        progress.step(label, "pandas")
        result["pandas"] = measure(
            [sys.executable, "-m", "metricbook.checks.bench.steps", "pandas", str(data)]
        )
    progress.step(label, "incremental day")
    grown = work / "data-plus-one-day"
    _copy_linked(data, grown)
    engine.append_day(grown)
    _point_at(raw, grown)  # the same raw path, one more day in it
    incremental_db = work / "incremental.duckdb"
    shutil.copy(database, incremental_db)
    result["incremental_build"] = measure(
        _dbt(["build", *DATA_TESTS_ONLY], raw, target),
        {"METRICBOOK_DUCKDB_PATH": str(incremental_db)},
    )
    result["slowest_incremental_nodes"] = slowest_nodes(target)
    raw.unlink()
    shutil.rmtree(grown)
    for leftover in (floor_db, floor_db.with_suffix(".profile.json"), incremental_db):
        leftover.unlink(missing_ok=True)
    return result


def _has_mart_columns(database: Path) -> bool:
    """The synthetic experiment marts exist, their daily mart with every column its YAML
    declares (a file from an older metricbook is made again)."""
    import duckdb

    from metricbook import contract

    if not database.exists():
        return False
    daily = "fct_experiment_user_daily_metrics"
    with duckdb.connect(str(database), read_only=True) as con:
        present = {row[0] for row in con.execute(f"describe {daily}").fetchall()}
    return set(contract.mart_columns(daily)) <= present


def bench_analyze(label: str, out: Path, progress: Progress) -> dict:
    database = out / f"experiment-{label}.duckdb"
    progress.step(f"analyze {label}", "experiment mart")
    if not _has_mart_columns(database):
        subprocess.run(
            [sys.executable, "-m", "metricbook.checks.bench.steps", "experiment-mart",
             str(ANALYZE_USERS[label]), str(database)],
            check=True,
        )  # fmt: skip
    step = [sys.executable, "-m", "metricbook.checks.bench.steps", "analyze", str(database)]
    progress.step(f"analyze {label}", "pushed down and pandas readouts")
    return {
        "users": ANALYZE_USERS[label],
        "pushdown": measure([*step, "pushdown"]),
        "pandas": measure([*step, "pandas"]),
    }


def _ratio(numerator: dict | None, denominator: dict | None) -> str:
    if not numerator or not denominator:
        return "n/a"
    return f"{numerator['seconds'] / denominator['seconds']:.2f}"


def table(results: dict) -> str:
    lines = [
        f"machine: {results['machine']}",
        "",
        "| events | floor | dbt run, floor's marts | / floor | dbt run | / floor | dbt build "
        "| / floor | peak RSS | incremental day | / build | pandas | floor = metricbook |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size in results["sizes"]:
        pandas = size.get("pandas")
        equal = all(v == 0 for v in size["floor_differences"].values())
        lines.append(
            f"| {size['raw_events']:,} | {size['floor']['seconds']} s "
            + "".join(
                f"| {size[step]['seconds']} s | {_ratio(size[step], size['floor'])} "
                for step in ("dbt_run_core", "dbt_run", "dbt_build")
            )
            + f"| {size['dbt_build']['peak_rss_mb']:,} MB "
            f"| {size['incremental_build']['seconds']} s "
            f"| {_ratio(size['incremental_build'], size['dbt_build'])} "
            f"| {str(pandas['seconds']) + ' s' if pandas else 'skipped'} "
            f"| {'yes' if equal else size['floor_differences']} |"
        )
    for size in results["sizes"]:
        lines += [
            "",
            f"slowest nodes at {size['raw_events']:,} events (dbt parse: "
            f"{size['dbt_parse']['seconds']} s, cold, not in the figures above):",
        ]
        for title, key in (
            ("floor", "slowest_floor_statements"),
            ("full build", "slowest_build_nodes"),
            ("incremental day", "slowest_incremental_nodes"),
        ):
            nodes = ", ".join(f"{n['node']} {n['seconds']} s" for n in size.get(key, []))
            lines.append(f"  {title}: {nodes}")
    lines += [
        "",
        "| experiment users | analyze (pushed down) | peak RSS | rows into pandas | peak RSS "
        "| ratio |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for entry in results["analyze"]:
        lines.append(
            f"| {entry['users']:,} | {entry['pushdown']['seconds']} s "
            f"| {entry['pushdown']['peak_rss_mb']:,} MB | {entry['pandas']['seconds']} s "
            f"| {entry['pandas']['peak_rss_mb']:,} MB "
            f"| {_ratio(entry['pandas'], entry['pushdown'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=comma_choices(SIZES),
        default=("1M", "10M"),
        help=f"comma list of {', '.join(SIZES)}",
    )
    parser.add_argument("--with-100m", action="store_true", help="add the 100M-event size")
    parser.add_argument("--analyze-sizes", type=comma_choices(ANALYZE_USERS), default=("1M", "10M"))
    parser.add_argument("--pandas-max-events", type=positive_int, default=10_000_000)
    parser.add_argument("--out", type=output_directory, default=REPO_ROOT / "build" / "bench")
    args = parser.parse_args(argv)
    labels = list(args.sizes)
    if args.with_100m and "100M" not in labels:
        labels.append("100M")
    args.out.mkdir(parents=True, exist_ok=True)
    progress = Progress(planned_steps(labels, args.analyze_sizes, args.pandas_max_events))
    results = {
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB RAM",
        "sizes": [
            bench_size(label, args.out, SIZES[label] <= args.pandas_max_events, progress)
            for label in labels
        ],
        "analyze": [bench_analyze(label, args.out, progress) for label in args.analyze_sizes],
    }
    progress.close()
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    (args.out / "scaling.svg").write_text(scaling_svg(results["sizes"]))
    print(table(results))
    print(f"\nwritten: {args.out / 'results.json'}, {args.out / 'scaling.svg'}")


if __name__ == "__main__":
    main()
