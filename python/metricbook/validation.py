"""great-expectations checks on the experiment mart, run before any statistic is computed.

A failed error-level expectation stops the analysis with a message that names the expectation
and shows sample rows; a warning-level one (clicks above impressions) is reported and the
analysis goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from metricbook.experiment_data import DeclaredVariant

Severity = Literal["error", "warning"]
SAMPLE_ROWS = 5


class ValidationError(RuntimeError):
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
        if self.unexpected_count is not None:
            detail += f": {self.unexpected_count} unexpected row(s)"
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
            lines = "\n".join(f"  - {o.explain()}" for o in self.failures)
            raise ValidationError(
                f"experiment '{experiment_id}': fct_experiment_user_metrics failed validation; "
                f"fix the data (or the mart) before reading any result:\n{lines}"
            )


def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _run_suite(context, name: str, frame: pd.DataFrame, expectations: Sequence[tuple]) -> list:
    """expectations: (expectation, description, severity) triples, validated on `frame`."""
    import great_expectations as gx

    asset = context.data_sources.add_pandas(f"{name}_source").add_dataframe_asset(name)
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
        batch_parameters={"dataframe": frame}
    )
    suite = gx.ExpectationSuite(name=f"{name}_suite")
    for expectation, _, _ in expectations:
        suite.add_expectation(expectation)
    suite = context.suites.add(suite)
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    by_id = {item.expectation_config.id: item for item in result.results}
    outcomes = []
    for expectation, description, severity in expectations:
        item = by_id[expectation.id]
        indexes = (item.result or {}).get("unexpected_index_list") or []
        outcomes.append(
            ExpectationOutcome(
                expectation=expectation.expectation_type,
                description=description,
                severity=severity,
                success=bool(item.success),
                unexpected_count=(item.result or {}).get("unexpected_count"),
                observed_value=(item.result or {}).get("observed_value"),
                sample_rows=frame.loc[list(indexes)[:SAMPLE_ROWS]].to_dict("records"),
            )
        )
    return outcomes


def validate_experiment_data(
    rows: pd.DataFrame,
    declared: Sequence[DeclaredVariant],
    assigned_users: int,
    count_columns: Sequence[str],
    clicks_above_impressions_tolerance: float = 0.01,
) -> ValidationReport:
    """The suite of the issue: grain unique, variant declared, exactly one control, counts
    non-negative, every assigned user present (errors); clicks not above impressions beyond a
    tolerance (warning)."""
    import great_expectations as gx

    context = _context()
    expect = gx.expectations
    user_expectations: list[tuple] = [
        (
            expect.ExpectCompoundColumnsToBeUnique(column_list=["experiment_id", "user_id"]),
            "one row per (experiment_id, user_id)",
            "error",
        ),
        (
            expect.ExpectColumnValuesToNotBeNull(column="variant"),
            "every user has a variant",
            "error",
        ),
        (
            expect.ExpectColumnValuesToBeInSet(
                column="variant", value_set=[v.variant for v in declared]
            ),
            "variant is one of the declared variants",
            "error",
        ),
        (
            expect.ExpectTableRowCountToEqual(value=int(assigned_users)),
            f"every assigned user is present ({assigned_users} in fct_experiment_assignments)",
            "error",
        ),
    ]
    for column in count_columns:
        user_expectations.append(
            (
                expect.ExpectColumnValuesToBeBetween(column=column, min_value=0),
                f"{column} is not negative",
                "error",
            )
        )
    if {"clicks", "impressions"} <= set(rows.columns):
        user_expectations.append(
            (
                expect.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="impressions",
                    column_B="clicks",
                    or_equal=True,
                    mostly=1 - clicks_above_impressions_tolerance,
                ),
                f"clicks <= impressions for at least {1 - clicks_above_impressions_tolerance:.0%}"
                " of users (a click without its impression is a logging gap)",
                "warning",
            )
        )
    variants = pd.DataFrame(
        {
            "variant": [v.variant for v in declared],
            "is_control": [int(v.is_control) for v in declared],
        }
    )
    variant_expectations = [
        (
            expect.ExpectColumnSumToBeBetween(column="is_control", min_value=1, max_value=1),
            "exactly one declared variant is the control",
            "error",
        ),
    ]
    outcomes = _run_suite(context, "experiment_user_metrics", rows, user_expectations)
    outcomes += _run_suite(context, "experiment_variants", variants, variant_expectations)
    return ValidationReport(tuple(outcomes))
