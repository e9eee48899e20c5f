"""The pitfall gallery runs, and every wrong query misleads the way its pitfall predicts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from metricbook.checks.pitfalls import (
    PITFALLS,
    PitfallResult,
    compile_gallery,
    markdown_table,
    run_gallery,
)
from metricbook.warehouse.dbt_runner import REPO_ROOT


@pytest.fixture(scope="module")
def compiled_gallery(seeds_project: Path, seeds_db: Path) -> dict[str, str]:
    return compile_gallery(seeds_project, seeds_project / "target_pitfalls", seeds_db)


@pytest.fixture(scope="module")
def seeds_gallery(compiled_gallery: dict[str, str], seeds_db: Path) -> list[PitfallResult]:
    return run_gallery(compiled_gallery, seeds_db)


def test_every_pitfall_query_has_a_prediction(compiled_gallery: dict[str, str]) -> None:
    assert set(compiled_gallery) == {pitfall.name for pitfall in PITFALLS}


@pytest.mark.parametrize("name", [pitfall.name for pitfall in PITFALLS])
def test_wrong_query_differs_as_predicted_on_the_seeds(
    name: str, seeds_gallery: list[PitfallResult]
) -> None:
    result = next(r for r in seeds_gallery if r.pitfall.name == name)
    assert result.holds, (
        f"{name}: wrong={result.wrong_value} right={result.right_value} {result.details}; "
        f"predicted {result.pitfall.prediction}"
    )


def test_predictions_hold_on_data_nobody_tuned_them_to(
    compiled_gallery: dict[str, str], alternate_db: Path
) -> None:
    results = run_gallery(compiled_gallery, alternate_db)
    failed = [r.pitfall.name for r in results if not r.holds_without_trap]
    assert not failed


def test_readme_gallery_table_shows_the_numbers_the_seeds_produce(
    seeds_gallery: list[PitfallResult],
) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    match = re.search(r"<!-- pitfalls:start -->\n(.*?)\n<!-- pitfalls:end -->", readme, re.S)
    assert match, "README.md lacks the <!-- pitfalls:start --> ... <!-- pitfalls:end --> table"
    assert match.group(1).strip() == markdown_table(seeds_gallery), (
        "README's pitfall table is stale: paste the output of `metricbook pitfalls`"
    )
