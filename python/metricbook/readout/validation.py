"""great-expectations checks on the experiment mart, run before any statistic is computed: only
what dbt cannot check when it builds the marts, because it depends on the experiment being read.

dbt's data tests already guard the rest at build time, and `metricbook analyze` refuses marts
whose last build failed a test (the build log, warehouse.check_build), so the suite does not
repeat them: one row per (experiment_id, user_id) is the `grain` test on
fct_experiment_user_metrics, a non-null variant its `not_null` test, and "the mart has exactly
the users of fct_experiment_assignments" the singular test assert_every_assigned_user_has_metrics.
What stays, per experiment at read time: every variant in the mart is one of the variants
declared for it, exactly one declared variant is the control, every count or amount (the
columns flagged `meta: {count: true}` in the mart's contract; no dbt test checks their sign) is
never negative, every assigned user is present (zero-filled when inactive: the one dbt check
repeated here, because a missing user biases every per-user mean of this readout), and clicks
above impressions for at most a tolerance of users (a warning).

The mart can hold millions of users, so the rows never leave the warehouse: one pushed-down
query summarises what each expectation needs (per variant: rows, the minimum of every count
column, users with clicks above impressions; overall: assigned users missing from the mart),
and the great-expectations suite runs on those summary frames. When an expectation fails, the
offending rows are fetched (a few, by a query that names them) so the message shows what is
wrong. An error-level failure stops the analysis; a warning-level one (clicks above
impressions) is reported and the analysis goes on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from metricbook.errors import DataValidationError
from metricbook.readout.queries import ASSIGNMENTS, USER_METRICS, DeclaredVariant
from metricbook.warehouse.connection import Warehouse

Severity = Literal["error", "warning"]
SAMPLE_ROWS = 5


class ValidationError(DataValidationError):
    """The experiment data broke an error-level expectation; the analysis must not run."""


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    description: str
    severity: Severity
    success: bool
    unexpected_count: int | None = None
    observed_value: Any = None
    sample_rows: list[dict[str, Any]] = field(default_factory=list)

    def explain(self) -> str:
        detail = f"{self.expectation} ({self.description})"
        if self.unexpected_count:
            detail += f": {self.unexpected_count} unexpected"
        if self.observed_value is not None:
            detail += f": observed {self.observed_value}"
        if self.sample_rows:
            detail += "; sample rows: " + "; ".join(str(row) for row in self.sample_rows)
        return detail


@dataclass(frozen=True)
class ValidationReport:
    outcomes: tuple[ExpectationOutcome, ...]

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "error"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "warning"]

    @property
    def passed(self) -> bool:
        return not self.failures

    def raise_for_failures(self, experiment_id: str) -> None:
        if self.failures:
            failures = "; ".join(o.explain() for o in self.failures)
            raise ValidationError(
                f"experiment '{experiment_id}': {USER_METRICS} failed validation ({failures}); "
                "fix the data (or the mart) and run `dbt build` before reading any result"
            )


@dataclass(frozen=True)
class _Check:
    """One expectation on a summary frame, and how to fetch the rows behind a failure."""

    frame: str  # "variants" | "totals" | "declared"
    expectation: str  # a great_expectations.expectations class name
    arguments: dict[str, Any]
    description: str
    severity: Severity
    samples: Callable[[], pd.DataFrame] | None = None


def start_import() -> None:
    """Import great-expectations in a background thread (idempotent). Its import costs seconds
    of Python, while the readout's first queries spend theirs inside the warehouse (DuckDB
    releases the GIL), so the two overlap; `_great_expectations` waits for it. A failed
    background import is not reported here: the foreground import repeats it and raises the
    same error where it always did."""
    global _IMPORTING
    with _IMPORT_LOCK:
        if _IMPORTING is None and "great_expectations" not in sys.modules:
            _IMPORTING = threading.Thread(
                target=_import_quietly, name="import great_expectations", daemon=True
            )
            _IMPORTING.start()


_IMPORT_LOCK = threading.Lock()
_IMPORTING: threading.Thread | None = None


def _import_quietly() -> None:
    try:
        import great_expectations  # noqa: F401
        from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: F401
    except BaseException:  # noqa: BLE001 - repeated (and raised) by the foreground import
        return


def _great_expectations():
    """The great_expectations module, after the background import (if one was started)."""
    thread = _IMPORTING
    if thread is not None:
        thread.join()
    import great_expectations as gx

    return gx


def _context():
    gx = _great_expectations()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


# An order-free fingerprint of a set of user ids, as text (the engines' own hash of the id,
# summed exactly: DuckDB's 64-bit hash into a 128-bit sum, 32-bit hashes into a bigint)
USER_FINGERPRINT = {
    "duckdb": "cast(sum(hash(user_id)) as varchar)",
    "postgres": "cast(sum(cast(hashtext(user_id) as bigint)) as text)",
    "spark": "cast(sum(cast(hash(user_id) as bigint)) as string)",
}


def summary_expressions(count_columns: Sequence[str], dialect: str) -> dict[str, str]:
    """The per-variant aggregates the suite checks (name -> SQL over the user mart): users,
    users with clicks above impressions, the minimum of every count column, and the users'
    fingerprint (missing_users). The readout computes them in the same scan as the
    statistics' moments."""
    above = (
        "sum(case when clicks > impressions then 1 else 0 end)"
        if {"clicks", "impressions"} <= set(count_columns)
        else "0"
    )
    return {
        "users": "count(*)",
        "clicks_above_impressions": above,
        **{f"min_{column}": f"min({column})" for column in count_columns},
        "user_fingerprint": USER_FINGERPRINT[dialect],
    }


def summarise(
    warehouse: Warehouse,
    experiment_id: str,
    count_columns: Sequence[str],
    variants: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pushed-down summaries the suite checks: per variant (`variants`, when the caller
    computed summary_expressions already), and for the whole mart."""
    metrics = warehouse.relation(USER_METRICS)
    param = warehouse.param("experiment_id")
    if variants is None:
        selects = ", ".join(
            f"{sql} as {name}"
            for name, sql in summary_expressions(count_columns, warehouse.dialect).items()
        )
        variants = warehouse.frame(
            f"select variant, {selects} from {metrics} where experiment_id = {param} "
            "group by variant",
            {"experiment_id": experiment_id},
        )
    else:
        variants = variants.copy()
    variants.columns = [str(c).lower() for c in variants.columns]
    totals = _missing_users(warehouse, experiment_id, variants)
    variants = variants.drop(columns="user_fingerprint")
    variants["clicks_above_impressions_share"] = variants["clicks_above_impressions"].astype(
        float
    ) / variants["users"].astype(float)
    return variants, totals


def _missing_users(
    warehouse: Warehouse, experiment_id: str, variants: pd.DataFrame
) -> pd.DataFrame:
    """missing_users: the assigned users the user mart lacks. When the assignments' user
    count and fingerprint equal the user mart's (summed over its variants), the two hold the
    same users and none is missing: a scan of the assignments, no join. Otherwise the exact
    count, by one hash join of both sides narrowed to the experiment (the correlated `not
    exists` on (experiment_id, user_id) took seconds on 10M users)."""
    metrics = warehouse.relation(USER_METRICS)
    assignments = warehouse.relation(ASSIGNMENTS)
    param = warehouse.param("experiment_id")
    params = {"experiment_id": experiment_id}
    assigned = warehouse.frame(
        f"select count(*) as users, {USER_FINGERPRINT[warehouse.dialect]} as fingerprint "
        f"from {assignments} where experiment_id = {param}",
        params,
    )
    present = (
        int(variants["users"].astype("int64").sum()),
        sum(int(value) for value in variants["user_fingerprint"] if not pd.isna(value)),
    )
    users, fingerprint = assigned.iloc[0, 0], assigned.iloc[0, 1]
    if (int(users), 0 if pd.isna(fingerprint) else int(fingerprint)) == present:
        return pd.DataFrame({"missing_users": [0]})
    totals = warehouse.frame(
        f"with assigned as (select user_id from {assignments} where experiment_id = {param}),"
        f" present as (select user_id from {metrics} where experiment_id = {param})"
        " select count(*) as missing_users from assigned"
        " left join present on present.user_id = assigned.user_id"
        " where present.user_id is null",
        params,
    )
    totals.columns = [str(c).lower() for c in totals.columns]
    return totals


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _render(sql: str, names: Mapping[str, str]) -> str:
    """Substitute `{name}` placeholders in one pass. The template holds only trusted text
    (relation names, mart columns); user data (the experiment id, variant names) is bound as
    parameters, so a variant named `treat{0}` or `o'neil` is never part of the SQL."""
    return _PLACEHOLDER.sub(lambda match: names[match.group(1)], sql)


def _sampler(
    warehouse: Warehouse,
    experiment_id: str,
    sql: str,
    values: Mapping[str, Any] | None = None,
) -> Callable[[], pd.DataFrame]:
    """A query for the offending rows behind a failed expectation. `{metrics}` and
    `{assignments}` are the marts, `{experiment}` the bound experiment id, and each key of
    `values` a placeholder for that bound value."""
    values = dict(values or {})
    names = {
        "metrics": warehouse.relation(USER_METRICS),
        "assignments": warehouse.relation(ASSIGNMENTS),
        "experiment": warehouse.param("experiment_id"),
        **{key: warehouse.param(key) for key in values},
    }
    used = set(_PLACEHOLDER.findall(sql))
    bound = {key: value for key, value in values.items() if key in used}
    if "experiment" in used:
        bound["experiment_id"] = experiment_id

    def fetch() -> pd.DataFrame:
        frame = warehouse.frame(_render(sql, names), bound)
        return frame.head(SAMPLE_ROWS)

    return fetch


def _checks(
    warehouse: Warehouse,
    experiment_id: str,
    declared: Sequence[DeclaredVariant],
    count_columns: Sequence[str],
    tolerance: float,
) -> list[_Check]:
    names = [v.variant for v in declared]
    variant_values = {f"variant_{index}": name for index, name in enumerate(names)}
    variant_markers = ", ".join(f"{{{key}}}" for key in variant_values)

    def sample(sql: str, values: Mapping[str, Any] | None = None) -> Callable[[], pd.DataFrame]:
        return _sampler(warehouse, experiment_id, sql + f" limit {SAMPLE_ROWS}", values)

    checks = [
        _Check(
            "totals",
            "ExpectColumnValuesToBeBetween",
            dict(column="missing_users", max_value=0),
            "every assigned user is present (zero-filled when inactive)",
            "error",
            sample(
                "select assigned.experiment_id, assigned.user_id, assigned.variant "
                "from {assignments} as assigned where assigned.experiment_id = {experiment} "
                "and not exists (select 1 from {metrics} as metrics where "
                "metrics.experiment_id = assigned.experiment_id "
                "and metrics.user_id = assigned.user_id)"
            ),
        ),
        _Check(
            "variants",
            "ExpectColumnValuesToBeInSet",
            dict(column="variant", value_set=names),
            f"variant is one of the declared variants ({', '.join(names)})",
            "error",
            sample(
                "select experiment_id, user_id, variant from {metrics} "
                f"where experiment_id = {{experiment}} and variant not in ({variant_markers})",
                variant_values,
            ),
        ),
        _Check(
            "declared",
            "ExpectColumnSumToBeBetween",
            dict(column="is_control", min_value=1, max_value=1),
            "exactly one declared variant is the control",
            "error",
        ),
    ]
    for column in count_columns:
        checks.append(
            _Check(
                "variants",
                "ExpectColumnValuesToBeBetween",
                dict(column=f"min_{column}", min_value=0),
                f"{column} is never negative",
                "error",
                sample(
                    f"select experiment_id, user_id, variant, {column} from {{metrics}} "
                    f"where experiment_id = {{experiment}} and {column} < 0"
                ),
            )
        )
    if {"clicks", "impressions"} <= set(count_columns):
        checks.append(
            _Check(
                "variants",
                "ExpectColumnValuesToBeBetween",
                dict(column="clicks_above_impressions_share", max_value=tolerance),
                f"clicks > impressions for at most {tolerance:.0%} of users per variant "
                "(a click without its impression is a logging gap)",
                "warning",
                sample(
                    "select experiment_id, user_id, variant, impressions, clicks from {metrics} "
                    "where experiment_id = {experiment} and clicks > impressions"
                ),
            )
        )
    return checks


def validate_experiment(
    warehouse: Warehouse,
    experiment_id: str,
    declared: Sequence[DeclaredVariant],
    count_columns: Sequence[str],
    clicks_above_impressions_tolerance: float = 0.01,
    variants: pd.DataFrame | None = None,
) -> ValidationReport:
    """The read-time suite: variant declared, exactly one control, counts non-negative, every
    assigned user present (errors); clicks not above impressions beyond a tolerance (warning).
    The grain, the non-null variant and "exactly the assigned users" are dbt data tests (see
    the module docstring). Runs on pushed-down summaries, so its cost does not grow with users
    on the Python side. `variants`: the per-variant summary (summary_expressions), when the
    caller computed it in its own scan of the mart."""
    variants, totals = summarise(warehouse, experiment_id, count_columns, variants)
    frames = {
        "variants": variants,
        "totals": totals,
        "declared": pd.DataFrame(
            {
                "variant": [v.variant for v in declared],
                "is_control": [int(v.is_control) for v in declared],
            }
        ),
    }
    checks = _checks(
        warehouse, experiment_id, declared, count_columns, clicks_above_impressions_tolerance
    )
    key = _cache_key(checks, frames)
    cached = _cached(experiment_id, key)
    if cached is not None:
        return cached
    report = _run_suite(checks, frames)
    if all(outcome.success for outcome in report.outcomes):
        _store(experiment_id, key, report)
    return report


def _run_suite(checks: Sequence[_Check], frames: Mapping[str, pd.DataFrame]) -> ValidationReport:
    """The great-expectations suite on the summary frames, and the sample rows behind each
    failed expectation."""
    context = _context()
    gx = _great_expectations()
    outcomes = []
    for name, frame in frames.items():
        mine = [check for check in checks if check.frame == name]
        asset = context.data_sources.add_pandas(f"{name}_source").add_dataframe_asset(name)
        batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
            batch_parameters={"dataframe": frame}
        )
        suite = gx.ExpectationSuite(name=f"{name}_suite")
        expectations = [
            getattr(gx.expectations, check.expectation)(**check.arguments) for check in mine
        ]
        for expectation in expectations:
            suite.add_expectation(expectation)
        suite = context.suites.add(suite)
        by_id = {r.expectation_config.id: r for r in batch.validate(suite).results}
        for check, expectation in zip(mine, expectations, strict=True):
            result = by_id[expectation.id]
            details = result.result or {}
            samples = []
            if not result.success and check.samples is not None:
                samples = check.samples().to_dict("records")
            outcomes.append(
                ExpectationOutcome(
                    expectation=expectation.expectation_type,
                    description=check.description,
                    severity=check.severity,
                    success=bool(result.success),
                    unexpected_count=details.get("unexpected_count"),
                    observed_value=details.get("observed_value"),
                    sample_rows=samples,
                )
            )
    return ValidationReport(tuple(outcomes))


# The suite's result is a function of its checks, the summary frames and the code that runs
# them: a run that passed every check is kept under a key of all three, so a readout of data
# that have not changed (a new config, another --format) skips great-expectations' import, seconds
# here. A failure or warning is never kept: it is run again, with fresh sample rows.
CACHE_DIR_ENV = "METRICBOOK_CACHE_DIR"


def cache_dir() -> Path | None:
    """$METRICBOOK_CACHE_DIR (empty: no cache), else $XDG_CACHE_HOME/metricbook, else
    ~/.cache/metricbook."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured is not None:
        return Path(configured) if configured.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "metricbook"


def _entry_prefix(experiment_id: str) -> str:
    return "validation-" + hashlib.sha256(experiment_id.encode()).hexdigest()[:16]


def _cache_key(checks: Sequence[_Check], frames: Mapping[str, pd.DataFrame]) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("great_expectations")
    except PackageNotFoundError:  # the suite's own import then fails, as it always did
        installed = "not installed"
    digest = hashlib.sha256()
    digest.update(installed.encode())
    digest.update(Path(__file__).read_bytes())
    spec = [(c.frame, c.expectation, c.arguments, c.description, c.severity) for c in checks]
    digest.update(json.dumps(spec, sort_keys=True, default=str).encode())
    for name, frame in frames.items():
        digest.update(name.encode())
        digest.update(json.dumps([str(t) for t in frame.dtypes]).encode())
        digest.update(frame.to_json(orient="split", double_precision=15).encode())
    return digest.hexdigest()


def _entry(experiment_id: str, key: str) -> Path | None:
    directory = cache_dir()
    return None if directory is None else directory / f"{_entry_prefix(experiment_id)}-{key}.json"


def likely_cached(experiment_id: str) -> bool:
    """A passing run of this experiment is kept: its suite will probably not need
    great-expectations (so its import is not started early)."""
    directory = cache_dir()
    try:
        return directory is not None and any(directory.glob(f"{_entry_prefix(experiment_id)}-*"))
    except OSError:
        return False


def _cached(experiment_id: str, key: str) -> ValidationReport | None:
    entry = _entry(experiment_id, key)
    try:
        if entry is None or not entry.is_file():
            return None
        rows = json.loads(entry.read_text(encoding="utf-8"))
        outcomes = tuple(ExpectationOutcome(**row) for row in rows)
    except (OSError, ValueError, TypeError):
        return None  # unreadable or not ours: run the suite
    if not outcomes or not all(o.success for o in outcomes):
        return None
    return ValidationReport(outcomes)


def _store(experiment_id: str, key: str, report: ValidationReport) -> None:
    """Keep a passing result (best effort: a cache that cannot be written is no cache)."""
    entry = _entry(experiment_id, key)
    if entry is None:
        return
    rows = [dataclasses.asdict(outcome) for outcome in report.outcomes]
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        for old in entry.parent.glob(f"{_entry_prefix(experiment_id)}-*"):
            old.unlink(missing_ok=True)  # one entry per experiment
        partial = entry.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(rows, default=str), encoding="utf-8")
        os.replace(partial, entry)
    except OSError:
        return
