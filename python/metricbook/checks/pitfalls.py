"""The pitfall gallery: run each wrong-vs-right query of analysis/pitfalls and check that the
wrong answer differs from the right one the way the pitfall predicts.

`metricbook pitfalls` prints the gallery as a Markdown table for the main DuckDB build
(run `make build` first); the README's gallery table is that output, and a test keeps them equal.
"""

from __future__ import annotations

import argparse
import math
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from metricbook.warehouse.connection import duckdb_file_problem
from metricbook.warehouse.dbt_runner import REPO_ROOT, run_dbt

Row = Mapping[str, float]


@dataclass(frozen=True)
class Pitfall:
    name: str
    title: str
    prediction: str
    holds: Callable[[Row], bool]
    # For a pitfall that needs a trap only the teaching seeds plant: what holds on data without
    # it (the alternate data set), so the prediction is still checked on untuned data.
    without_trap: Callable[[Row], bool] | None = None


# How close the wrong and right causal estimates stay on the alternate data, whose launch has no
# concurrent shock and no diverging trend (both differ there only by noise: a few small units).
WITHOUT_SHOCK_GAP = 0.15
WITHOUT_TREND_GAP = 0.15


def _relative_gap(row: Row) -> float:
    return abs(row["wrong_value"] - row["right_value"]) / abs(row["right_value"])


PITFALLS: tuple[Pitfall, ...] = (
    Pitfall(
        "counting_events_not_users_dau",
        "Counting events instead of users (DAU)",
        "wrong > 5 x right",
        lambda r: r["wrong_value"] > 5 * r["right_value"],
    ),
    Pitfall(
        "counting_events_not_users_retention",
        "Counting events instead of users (retention)",
        "wrong > right; wrong can pass 100%",
        lambda r: r["wrong_value"] > r["right_value"],
    ),
    Pitfall(
        "counting_events_not_users_conversion",
        "Counting events instead of users (conversion)",
        "wrong > right",
        lambda r: r["wrong_value"] > r["right_value"],
    ),
    Pitfall(
        "local_dates_instead_of_utc",
        "Local dates instead of UTC",
        "wrong > 0 = right",
        lambda r: r["wrong_value"] > 0 and r["right_value"] == 0,
    ),
    Pitfall(
        "summing_dau_into_wau",
        "Summing DAU into WAU",
        "wrong > right",
        lambda r: r["wrong_value"] > r["right_value"],
    ),
    Pitfall(
        "undefined_tie_top_n",
        "Undefined tie semantics in top-N",
        "wrong > 0 = right",
        lambda r: r["wrong_value"] > 0 and r["right_value"] == 0,
    ),
    Pitfall(
        "double_counted_symmetric_pairs",
        "Double-counted symmetric pairs",
        "wrong = 2 x right + categories",
        lambda r: r["wrong_value"] == 2 * r["right_value"] + r["categories"],
    ),
    Pitfall(
        "averaging_user_ctrs",
        "Averaging user CTRs vs pooled CTR",
        "differ by > 1% (relative)",
        lambda r: _relative_gap(r) > 0.01,
    ),
    Pitfall(
        "impressions_treated_as_independent",
        "Impressions treated as independent",
        "wrong < right (SE understated)",
        lambda r: r["wrong_value"] < r["right_value"],
    ),
    Pitfall(
        "immature_cohort_as_zero",
        "Reporting an immature cohort as 0%",
        "wrong < right",
        lambda r: r["wrong_value"] < r["right_value"],
    ),
    Pitfall(
        "forgetting_to_dedupe",
        "Forgetting to dedupe before counting",
        "wrong > right",
        lambda r: r["wrong_value"] > r["right_value"],
    ),
    Pitfall(
        "sessions_split_at_midnight",
        "Sessions split at UTC midnight",
        "wrong > right",
        lambda r: r["wrong_value"] > r["right_value"],
    ),
    Pitfall(
        "raw_ctr_ignores_position_mix",
        "Raw CTR across arms when positions moved (the mix effect)",
        "wrong > right + 5 points",
        lambda r: r["wrong_value"] > r["right_value"] + 0.05,
        # the alternate treatment keeps whole feeds: no mix, so raw and adjusted agree
        without_trap=lambda r: abs(r["wrong_value"] - r["right_value"]) < 0.03,
    ),
    Pitfall(
        "counting_repeated_saves",
        "Counting repeated saves of one pin",
        "wrong > right",
        lambda r: r["wrong_value"] > r["right_value"],
    ),
    Pitfall(
        "ndcg_empty_requests_as_zero",
        "Averaging NDCG with empty requests as 0 (or 1)",
        "as 0 < right < as 1",
        lambda r: r["wrong_value"] < r["right_value"] < r["wrong_value_as_one"],
    ),
    Pitfall(
        "precision_divided_by_request_length",
        "Precision@k divided by the request length, not k",
        "wrong > right",
        lambda r: r["short_requests"] > 0 and r["wrong_value"] > r["right_value"],
    ),
    Pitfall(
        "pre_post_treated_as_causal",
        "Pre/post movement treated as causal",
        "wrong > right + 20 points",
        lambda r: r["wrong_value"] > r["right_value"] + 0.2,
        # the alternate launch has no concurrent shock: pre/post and DiD stay close
        without_trap=lambda r: abs(r["wrong_value"] - r["right_value"]) < WITHOUT_SHOCK_GAP,
    ),
    Pitfall(
        "comparison_with_different_pre_trends",
        "A comparison group with different pre-trends",
        "wrong > right + 20 points",
        lambda r: r["wrong_value"] > r["right_value"] + 0.2,
        # no launch of the alternate data trends apart: the two estimates stay close
        without_trap=lambda r: abs(r["wrong_value"] - r["right_value"]) < WITHOUT_TREND_GAP,
    ),
)


@dataclass(frozen=True)
class PitfallResult:
    pitfall: Pitfall
    measure: str
    wrong_value: float
    right_value: float
    details: dict[str, float]

    @property
    def row(self) -> Row:
        return {"wrong_value": self.wrong_value, "right_value": self.right_value, **self.details}

    @property
    def holds(self) -> bool:
        return self.pitfall.holds(self.row)

    @property
    def holds_without_trap(self) -> bool:
        """On data without the teaching seeds' planted traps (see Pitfall.without_trap)."""
        check = self.pitfall.without_trap or self.pitfall.holds
        return check(self.row)


def compile_gallery(project_dir: Path, target_path: Path, database: Path) -> dict[str, str]:
    """Compile analysis/pitfalls with dbt; returns {pitfall name: SQL}."""
    compiled = target_path / "compiled" / "metricbook" / "analysis" / "pitfalls"
    shutil.rmtree(compiled, ignore_errors=True)  # no stale query from a renamed file
    result = run_dbt(
        ["compile", "--select", "path:analysis/pitfalls", "--target-path", str(target_path)],
        project_dir=project_dir,
        duckdb_path=database,
    )
    if not result.ok:
        raise RuntimeError(f"dbt compile of analysis/pitfalls failed:\n{result.output[-4000:]}")
    return {path.stem: path.read_text() for path in sorted(compiled.glob("*.sql"))}


def run_gallery(compiled: Mapping[str, str], database: Path) -> list[PitfallResult]:
    """Run every compiled pitfall query against a built DuckDB database."""
    missing = {p.name for p in PITFALLS} ^ set(compiled)
    if missing:
        raise ValueError(f"pitfall queries and PITFALLS disagree on: {sorted(missing)}")
    results = []
    import duckdb  # here, not at import: `metricbook pitfalls --help` stays light

    with duckdb.connect(str(database), read_only=True) as con:
        for pitfall in PITFALLS:
            cursor = con.execute(compiled[pitfall.name])
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
            if len(rows) != 1:
                raise ValueError(f"{pitfall.name}: expected one row, got {len(rows)}")
            row = dict(zip(columns, rows[0], strict=True))
            results.append(
                PitfallResult(
                    pitfall=pitfall,
                    measure=str(row.pop("measure")),
                    wrong_value=float(row.pop("wrong_value")),
                    right_value=float(row.pop("right_value")),
                    details={k: float(v) for k, v in row.items()},
                )
            )
    return results


def _number(value: float) -> str:
    if math.isclose(value, round(value)) and abs(value) >= 1 or value == 0:
        return f"{round(value):,}"
    if abs(value) >= 100:
        return f"{value:,.2f}"
    if abs(value) < 0.01:
        return f"{value:.5f}"
    return f"{value:,.4f}"


def markdown_table(results: list[PitfallResult]) -> str:
    lines = [
        "| Pitfall | Query | Measure | Wrong | Right | Predicted |",
        "|---|---|---|---:|---:|---|",
    ]
    for result in results:
        lines.append(
            f"| {result.pitfall.title} | `{result.pitfall.name}.sql` | {result.measure} "
            f"| {_number(result.wrong_value)} | {_number(result.right_value)} "
            f"| {result.pitfall.prediction} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", type=Path, default=REPO_ROOT / "build" / "metricbook.duckdb")
    args = parser.parse_args(argv)
    # checked before dbt compiles against it: connecting would create a missing file
    problem = duckdb_file_problem(args.database)
    if problem:
        raise SystemExit(f"pitfalls --database {problem}")
    import duckdb

    compiled = compile_gallery(REPO_ROOT, REPO_ROOT / "target", args.database)
    try:
        results = run_gallery(compiled, args.database)
    except duckdb.Error as error:
        first = str(error).splitlines()[0]
        raise SystemExit(
            f"pitfalls --database {args.database}: {first}; is it a complete `make build`?"
        ) from None
    print(markdown_table(results))
    failed = [r.pitfall.name for r in results if not r.holds]
    if failed:
        raise SystemExit(f"prediction does not hold for: {', '.join(failed)}")


if __name__ == "__main__":
    main()
