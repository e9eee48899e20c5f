"""The semantic layer (models/semantic/) defines no metric of its own: each one names the mart
column that defines it, and MetricFlow's answer equals that column, on DuckDB and Postgres.

"One concept, one place": a metric's meta.defined_by ("fct_active_users.wau") is the single
link between the semantic definition and the mart's prose (its YAML meta.metric) and SQL. The
pure tests below check the link resolves; the build tests use the same link to decide what
`mf query` must return, so a defined_by that lies fails the build tests too.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from conftest import copy_project, postgres_connection

from metricbook.warehouse.dbt_runner import REPO_ROOT, run_dbt

pytestmark = pytest.mark.build

SEMANTIC_DIR = REPO_ROOT / "models" / "semantic"


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


METRICS: list[dict] = _load(SEMANTIC_DIR / "_metrics.yml")["metrics"]
SEMANTIC_MODELS: list[dict] = _load(SEMANTIC_DIR / "_semantic_models.yml")["semantic_models"]
METRIC_NAMES = [metric["name"] for metric in METRICS]


def _defined_by(metric: Mapping) -> tuple[str, str]:
    """(mart, column) from the metric's meta.defined_by 'mart.column'."""
    defined_by = metric.get("config", {}).get("meta", {}).get("defined_by", "")
    mart, _, column = defined_by.partition(".")
    assert mart and column, f"metric {metric['name']}: meta.defined_by must be 'mart.column'"
    return mart, column


@functools.cache
def _model_entries() -> dict[str, tuple[Path, dict]]:
    """Every model's YAML entry under models/, by name, with the file it is in."""
    entries = {}
    for path in sorted((REPO_ROOT / "models").rglob("*.yml")):
        for entry in _load(path).get("models") or []:
            entries[entry["name"]] = (path, entry)
    return entries


# ------------------------------------------------------------------ pure: the YAML agrees


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_each_metric_is_defined_by_a_column_its_mart_prose_names(name: str) -> None:
    metric = next(metric for metric in METRICS if metric["name"] == name)
    mart, column = _defined_by(metric)
    entries = _model_entries()
    assert mart in entries, f"{name}: defined_by names {mart}, which has no YAML entry"
    path, entry = entries[mart]
    assert column in {c["name"] for c in entry.get("columns", [])}, (
        f"{name}: {mart}.{column} is not a documented column ({path.name})"
    )
    prose = entry.get("config", {}).get("meta", {}).get("metric")
    assert prose, f"{name}: {mart} has no meta.metric ({path.name})"
    assert re.search(rf"\b{re.escape(column)}\b", yaml.safe_dump(prose)), (
        f"{name}: {mart}'s meta.metric never mentions {column} ({path.name})"
    )


def test_metric_names_are_unique_and_each_has_a_description() -> None:
    assert len(set(METRIC_NAMES)) == len(METRIC_NAMES)
    assert all(metric.get("description", "").strip() for metric in METRICS)
    assert {"dau", "wau", "mau", "stickiness", "pooled_ctr", "mean_user_ctr", "saves"} <= set(
        METRIC_NAMES
    )
    assert {"revenue", "revenue_per_active_user"} <= set(METRIC_NAMES)


def test_active_users_are_counted_in_one_place_over_the_time_spine() -> None:
    """wau and mau are cumulative windows over the measure dau counts, never sums of dau, and
    every metric built on active users (stickiness, revenue per active user) divides by dau."""
    by_name = {metric["name"]: metric for metric in METRICS}
    for name, days in [("wau", 7), ("mau", 30)]:
        params = by_name[name]["type_params"]
        assert by_name[name]["type"] == "cumulative"
        assert params["measure"] == by_name["dau"]["type_params"]["measure"]["name"]
        assert params["cumulative_type_params"] == {"window": f"{days} days"}
    assert by_name["stickiness"]["type_params"] == {"numerator": "dau", "denominator": "mau"}
    assert by_name["revenue_per_active_user"]["type_params"]["denominator"] == "dau"
    counts_users = [
        (model["name"], measure["name"])
        for model in SEMANTIC_MODELS
        for measure in model.get("measures", [])
        if measure["agg"] == "count_distinct"
    ]
    assert counts_users == [("active_user_days", "active_users")]
    spine = _model_entries()["int_calendar_days"][1]
    assert spine["time_spine"] == {"standard_granularity_column": "calendar_date"}


def test_semantic_models_sit_on_intermediates_and_marts() -> None:
    entries = _model_entries()
    for model in SEMANTIC_MODELS:
        ref = re.fullmatch(r"ref\('(\w+)'\)", model["model"])
        assert ref, f"{model['name']}: model must be ref('<model>')"
        path, _ = entries[ref.group(1)]
        layer = path.relative_to(REPO_ROOT / "models").parts[0]
        assert layer in {"intermediate", "marts"}, f"{model['name']} reads {layer}"


# ------------------------------------------------------------------ build: dbt and mf agree


@dataclass(frozen=True)
class MartGrain:
    """How to ask mf for a mart's rows: the group-by that reproduces its grain, and the mart's
    key columns in the same order (dated marts bound the query, which cumulative metrics need:
    without --end-time they run on past the data)."""

    group_by: tuple[str, ...]
    keys: tuple[str, ...]
    dated: bool = False


MART_GRAINS = {
    "fct_active_users": MartGrain(("metric_time__day",), ("activity_date",), dated=True),
    "fct_daily_revenue": MartGrain(("metric_time__day",), ("revenue_date",), dated=True),
    "fct_ctr_summary": MartGrain((), ()),
    "fct_category_rankings": MartGrain(
        ("metric_time__week", "weekly_pin_save__country", "weekly_pin_save__category"),
        ("week_start", "country", "category"),
    ),
}


def mf_query(
    project: Path,
    database: Path | None,
    metrics: Sequence[str],
    group_by: Sequence[str] = (),
    start: str | None = None,
    end: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """`mf query` run in a built project copy (it reads target/semantic_manifest.json and the
    profile's default target; `database` is the DuckDB file); the rows as text."""
    out = project / f"mf_{uuid.uuid4().hex}.csv"
    args = [str(Path(sys.executable).with_name("mf")), "query", "--metrics", ",".join(metrics)]
    if group_by:
        args += ["--group-by", ",".join(group_by)]
    if start:
        args += ["--start-time", start]
    if end:
        args += ["--end-time", end]
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(project),
        "DBT_PROJECT_DIR": str(project),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **(extra_env or {}),
    }
    if database is not None:
        env["METRICBOOK_DUCKDB_PATH"] = str(database)
    completed = subprocess.run(
        [*args, "--csv", str(out)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0 and out.exists(), (
        " ".join(args) + "\n" + completed.stdout[-4000:] + completed.stderr[-4000:]
    )
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    out.unlink()
    return frame


def _key(value: object) -> str:
    """A key as text: dates and mf's midnight timestamps as YYYY-MM-DD."""
    text = str(value)
    return text[:10] if re.match(r"\d{4}-\d{2}-\d{2}", text) else text


def _number(value: object) -> float:
    """A value as a float; NULL (mf writes an empty field, pandas NaN or NA) as NaN."""
    if isinstance(value, str):
        return float(value) if value.strip() else math.nan
    return math.nan if pd.isna(value) else float(value)


def _same(left: float, right: float) -> bool:
    if math.isnan(left) or math.isnan(right):
        return math.isnan(left) and math.isnan(right)
    return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-9)


def mismatches(
    answer: pd.DataFrame, mart: pd.DataFrame, grain: MartGrain, column: str, metric: str
) -> list[str]:
    """Rows where mf's `metric` differs from the mart's `column`, or exists on one side only
    (mf rows outside a dated mart's range are not the mart's business)."""
    expected = {
        tuple(_key(row[k]) for k in grain.keys): _number(row[column])
        for row in mart.to_dict("records")
    }
    got = {
        tuple(_key(row[c]) for c in grain.group_by): _number(row[metric])
        for row in answer.to_dict("records")
    }
    if grain.dated:
        first, last = min(expected)[0], max(expected)[0]
        got = {key: value for key, value in got.items() if first <= key[0] <= last}
    problems = [f"{key}: mf has no row" for key in expected.keys() - got.keys()]
    problems += [f"{key}: not in {column}" for key in got.keys() - expected.keys()]
    problems += [
        f"{key}: mf {got[key]} != {column} {expected[key]}"
        for key in sorted(expected.keys() & got.keys())
        if not _same(got[key], expected[key])
    ]
    return problems


@dataclass(frozen=True)
class Answers:
    """Each mart's rows and mf's answers for every metric it defines, from one built copy."""

    marts: dict[str, pd.DataFrame]
    answers: dict[tuple[str, ...], pd.DataFrame]


def answer_all(project: Path, database: Path) -> Answers:
    """All metrics in one `mf query` per distinct grain (each call costs a few seconds)."""
    marts = {mart: _read_duckdb(database, mart) for mart in MART_GRAINS}
    by_group: dict[tuple[str, ...], list[str]] = {}
    for metric in METRICS:
        mart, _ = _defined_by(metric)
        by_group.setdefault(MART_GRAINS[mart].group_by, []).append(metric["name"])
    answers = {}
    for group_by, metrics in by_group.items():
        dated = [
            m for m, grain in MART_GRAINS.items() if grain.group_by == group_by and grain.dated
        ]
        bounds = _bounds(marts[m][MART_GRAINS[m].keys[0]] for m in dated)
        answers[group_by] = mf_query(project, database, metrics, group_by, *bounds)
    return Answers(marts, answers)


def _bounds(date_columns: Iterable[pd.Series]) -> tuple[str | None, str | None]:
    dates = [_key(value) for column in date_columns for value in column]
    return (min(dates), max(dates)) if dates else (None, None)


def _read_duckdb(database: Path, mart: str) -> pd.DataFrame:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(f"select * from {mart}").df()


@pytest.fixture(scope="module", params=["seeds", "alternate"])
def answers(request: pytest.FixtureRequest) -> Answers:
    """mf's answers and the marts, on the shipped seeds and on the alternate file set."""
    if request.param == "seeds":
        project = request.getfixturevalue("seeds_project")
        database = project / "metricbook.duckdb"
    else:
        database = request.getfixturevalue("alternate_db")
        project = database.parent / "project"  # where the alternate_db fixture built it
    return answer_all(project, database)


def _check(answers: Answers, name: str) -> None:
    metric = next(metric for metric in METRICS if metric["name"] == name)
    mart, column = _defined_by(metric)
    grain = MART_GRAINS[mart]
    answer = answers.answers[grain.group_by]
    problems = mismatches(answer, answers.marts[mart], grain, column, name)
    assert not problems, f"{name} vs {mart}.{column}:\n" + "\n".join(problems[:20])


def test_dau_wau_mau_equal_fct_active_users(answers: Answers) -> None:
    """The cumulative windows over the time spine equal the mart's distinct-user windows."""
    for name in ["dau", "wau", "mau"]:
        _check(answers, name)
    assert len(answers.marts["fct_active_users"]) >= 30  # 43 seed days, 36 alternate ones


@pytest.mark.parametrize(
    "name", [name for name in METRIC_NAMES if name not in {"dau", "wau", "mau"}]
)
def test_each_metric_equals_the_mart_column_that_defines_it(answers: Answers, name: str) -> None:
    _check(answers, name)


def test_dbt_lists_every_semantic_model_and_metric(seeds_project: Path) -> None:
    result = run_dbt(
        [
            "ls",
            "--resource-type",
            "semantic_model",
            "--resource-type",
            "metric",
            "--output",
            "json",
            "--output-keys",
            "name resource_type",
            "--target-path",
            str(seeds_project / "target"),
            "--quiet",
        ],
        project_dir=seeds_project,
        duckdb_path=seeds_project / "metricbook.duckdb",
    )
    assert result.ok, result.output[-3000:]
    listed = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert sorted(r["name"] for r in listed if r["resource_type"] == "semantic_model") == sorted(
        model["name"] for model in SEMANTIC_MODELS
    )
    assert sorted(r["name"] for r in listed if r["resource_type"] == "metric") == sorted(
        METRIC_NAMES
    )


def test_event_metrics_slice_by_every_dimension_and_add_up(
    seeds_project: Path, seeds_db: Path
) -> None:
    """impressions and clicks by surface, event type, platform, country and category sum to the
    mart's totals: the dimensions exist, and the joins behind them drop and repeat no event."""
    dimensions = ["surface", "event_type", "platform", "country", "category"]
    group_by = [f"event__{d}" for d in dimensions]
    sliced = mf_query(seeds_project, seeds_db, ["impressions", "clicks"], group_by)
    (totals,) = _read_duckdb(seeds_db, "fct_ctr_summary").to_dict("records")
    for measure in ["impressions", "clicks"]:
        assert sliced[measure].astype(int).sum() == totals[measure]
    assert set(sliced["event__surface"]) == {"home_feed", "search", "related_pins"}
    # every event type is a row; only impressions count as impressions, only clicks as clicks
    counts = sliced.astype({"impressions": int, "clicks": int})
    by_type = counts.groupby("event__event_type")[["impressions", "clicks"]].sum()
    assert set(by_type.index) == {"app_open", "impression", "click", "save", "hide"}
    assert set(by_type.index[by_type["impressions"] > 0]) == {"impression"}
    assert set(by_type.index[by_type["clicks"] > 0]) == {"click"}
    assert len(set(sliced["event__category"])) >= 10


def test_active_users_slice_by_the_users_signup_platform_and_country(
    seeds_project: Path, seeds_db: Path
) -> None:
    """dau and mau by user__platform and user__country (through dim_users) equal distinct-user
    counts written directly in SQL, and the platforms' dau add up to fct_active_users.dau (each
    user has one signup platform)."""
    active = _read_duckdb(seeds_db, "fct_active_users")
    start, end = _bounds([active["activity_date"]])
    sliced = mf_query(
        seeds_project,
        seeds_db,
        ["dau", "mau"],
        ["metric_time__day", "user__platform", "user__country"],
        start,
        end,
    )
    with duckdb.connect(str(seeds_db), read_only=True) as con:
        expected = con.execute(
            """
            with days as (
                select activity_date as day from fct_active_users
            ),
            windows as (
                select days.day, users.platform, users.country, active.user_id,
                    active.activity_date = days.day as on_the_day
                from days
                join int_user_active_days as active
                    on active.activity_date between days.day - 29 and days.day
                join dim_users as users on users.user_id = active.user_id
            )
            select cast(day as varchar) as day, platform, country,
                count(distinct case when on_the_day then user_id end) as dau,
                count(distinct user_id) as mau
            from windows group by all
            """
        ).df()
    got = {
        (_key(r["metric_time__day"]), r["user__platform"], r["user__country"]): (
            int(_number(r["dau"]) if _number(r["dau"]) == _number(r["dau"]) else 0),
            int(_number(r["mau"])),
        )
        for r in sliced.to_dict("records")
        if _number(r["mau"]) > 0  # NaN (no row in the window) compares False
    }
    want = {
        (r["day"], r["platform"], r["country"]): (int(r["dau"]), int(r["mau"]))
        for r in expected.to_dict("records")
    }
    assert got == want
    assert set(sliced["user__platform"]) >= {"ios", "android", "web"}
    daily = sliced.assign(dau=sliced["dau"].map(_number).fillna(0))
    by_day = daily.groupby("metric_time__day")["dau"]
    totals = {_key(day): int(total) for day, total in by_day.sum().items()}
    dates = zip(active["activity_date"], active["dau"], strict=True)
    assert totals == {_key(day): int(dau) for day, dau in dates}


# ------------------------------------------------------------------ Postgres: the same answers
POSTGRES = pytest.mark.skipif(
    "METRICBOOK_PG_PASSWORD" not in os.environ,
    reason="no Postgres server (make test runs this inside .ci/with-postgres)",
)


@POSTGRES
def test_dau_wau_mau_equal_fct_active_users_on_postgres(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    schema = f"semantic_layer_{uuid.uuid4().hex[:8]}"
    project = copy_project(tmp_path_factory.mktemp("semantic_postgres") / "project")
    # mf has no --target: it queries the profile's default target, so this copy's is postgres
    profiles = project / "profiles.yml"
    text, count = re.subn(r"(?m)^  target: \S+$", "  target: postgres", profiles.read_text())
    assert count == 1
    profiles.write_text(text)
    env = {"METRICBOOK_PG_SCHEMA": schema}
    result = run_dbt(
        ["build", "--target-path", str(project / "target")], project_dir=project, extra_env=env
    )
    assert result.ok, result.output[-6000:]

    con = postgres_connection()
    try:
        with con.cursor() as cursor:
            cursor.execute(f'select * from "{schema}".fct_active_users')
            mart = pd.DataFrame(cursor.fetchall(), columns=[d[0] for d in cursor.description])
    finally:
        con.close()

    grain = MART_GRAINS["fct_active_users"]
    metrics = ["dau", "wau", "mau", "stickiness"]
    bounds = _bounds([mart["activity_date"]])
    answer = mf_query(project, None, metrics, grain.group_by, *bounds, extra_env=env)
    problems = [
        problem for metric in metrics for problem in mismatches(answer, mart, grain, metric, metric)
    ]
    assert not problems, "\n".join(problems[:20])
    assert len(mart) >= 40
