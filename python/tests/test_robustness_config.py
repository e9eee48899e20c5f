"""Every mistake in experiments.yml is one line naming the file and the key path, exit code 2.

The battery starts from the shipped experiments.yml and breaks it one way at a time (or uses a
small hand-written config), then checks the one-line ConfigError; the positive cases check that
the valid spellings still load to exactly the values written.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from metricbook.readout.config import (
    DEFAULT_CONFIG,
    MAX_BYTES,
    ConfigError,
    ExperimentConfig,
    Guardrail,
    Metric,
    load_config,
    parse_config,
)

SHIPPED = DEFAULT_CONFIG.read_text(encoding="utf-8")
EXP = "experiments.exp_home_feed_ranking_v2"
GUARDRAIL = (
    "      - metric: hides_per_user\n        harmful_direction: increase\n        margin: 0.10\n"
)
CTR = (
    "  ctr:\n    kind: ratio\n    numerator: clicks\n    denominator: impressions\n"
    "    covariate: {numerator: pre_clicks, denominator: pre_impressions}\n"
)
MINI = "metrics:\n  m: {kind: mean, numerator: x}\n  n: {kind: mean, numerator: y}\n"


def mutate(old: str, new: str) -> str:
    """The shipped file with the first `old` replaced by `new` (which must be there)."""
    assert old in SHIPPED, old
    return SHIPPED.replace(old, new, 1)


def experiment(body: str) -> str:
    """MINI plus one experiment `e` whose keys are `body` (flow-mapping contents)."""
    return MINI + "experiments:\n  e: {" + body + "}\n"


def metric(body: str) -> str:
    return "metrics:\n  m: {" + body + "}\n"


def alias_bomb(levels: int = 9) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


BATTERY = [
    # duplicate keys, anywhere
    ("dup_metric", mutate("  clicks_per_user:\n", CTR + "  clicks_per_user:\n"), "metrics.ctr"),
    ("dup_alpha", mutate("    alpha: 0.05\n", "    alpha: 0.05\n    alpha: 0.5\n"), f"{EXP}.alpha"),
    ("dup_top_level", SHIPPED + "experiments: {}\n", "experiments"),
    (
        "dup_guardrail_key",
        mutate("        margin: 0.10\n", "        margin: 0.10\n        margin: 0.5\n"),
        f"{EXP}.guardrails[0].margin",
    ),
    ("dup_in_flow", metric("kind: mean, numerator: x, kind: ratio"), "metrics.m.kind"),
    # unknown keys, anywhere
    ("typo_guardrail", mutate("    guardrails:\n", "    guardrail:\n"), f"{EXP}.guardrail"),
    ("typo_primry", mutate("    primary: ctr\n", "    primry: ctr\n"), f"{EXP}.primry"),
    ("unknown_top_key", SHIPPED + "defaults: {alpha: 0.05}\n", "defaults"),
    ("unknown_metric_key", mutate("    kind: ratio\n", "    kinds: ratio\n"), "metrics.ctr.kinds"),
    (
        "unknown_covariate_key",
        mutate("{numerator: pre_clicks,", "{num: pre_clicks,"),
        "metrics.ctr.covariate.num",
    ),
    (
        "unknown_guardrail_key",
        mutate("        harmful_direction: increase\n", "        direction: increase\n"),
        f"{EXP}.guardrails[0].direction",
    ),
    # wrong types
    ("metrics_as_list", "metrics:\n  - ctr\n  - saver_rate\n", "metrics"),
    ("metrics_null", "metrics:\nexperiments: {}\n", "metrics"),
    ("experiment_as_list", MINI + "experiments:\n  e:\n    - primary: m\n", "experiments.e"),
    ("experiment_null", MINI + "experiments:\n  e:\n", "experiments.e"),
    ("metric_null", "metrics:\n  m:\n", "metrics.m"),
    ("guardrail_null", experiment("primary: m, guardrails: [null]"), "experiments.e.guardrails[0]"),
    (
        "guardrail_string",
        experiment("primary: m, guardrails: [n]"),
        "experiments.e.guardrails[0]",
    ),
    ("guardrails_null", experiment("primary: m, guardrails: null"), "experiments.e.guardrails"),
    ("integer_metric_name", "metrics:\n  1: {kind: mean, numerator: x}\n", "metrics[1]"),
    ("numerator_number", metric("kind: mean, numerator: 7"), "metrics.m.numerator"),
    ("numerator_list", metric("kind: mean, numerator: [a, b]"), "metrics.m.numerator"),
    ("description_list", metric("kind: mean, numerator: x, description: [a]"), ".description"),
    ("description_number", metric("kind: mean, numerator: x, description: 2024"), ".description"),
    (
        "description_date",
        metric("kind: mean, numerator: x, description: 2024-01-01"),
        ".description",
    ),
    ("secondary_string", experiment("primary: m, secondary: n"), "experiments.e.secondary"),
    ("secondary_item_number", experiment("primary: m, secondary: [3]"), "e.secondary[0]"),
    ("covariate_number", metric("kind: mean, numerator: x, covariate: 5"), "metrics.m.covariate"),
    ("kind_number", metric("kind: 1, numerator: x"), "metrics.m.kind"),
    # non-finite and out-of-range numbers; booleans are not numbers
    ("margin_inf", mutate("margin: 0.10", "margin: .inf"), f"{EXP}.guardrails[0].margin"),
    ("margin_nan", mutate("margin: 0.10", "margin: .nan"), f"{EXP}.guardrails[0].margin"),
    ("margin_negative", mutate("margin: 0.10", "margin: -0.1"), f"{EXP}.guardrails[0].margin"),
    ("margin_ten", mutate("margin: 0.10", "margin: 10"), f"{EXP}.guardrails[0].margin"),
    ("margin_text", mutate("margin: 0.10", "margin: 10%"), f"{EXP}.guardrails[0].margin"),
    ("margin_bool", mutate("margin: 0.10", "margin: true"), f"{EXP}.guardrails[0].margin"),
    ("alpha_nan", mutate("alpha: 0.05", "alpha: .nan"), f"{EXP}.alpha"),
    ("alpha_true", mutate("alpha: 0.05", "alpha: true"), f"{EXP}.alpha"),
    ("alpha_zero", mutate("alpha: 0.05", "alpha: 0"), f"{EXP}.alpha"),
    ("alpha_one", mutate("alpha: 0.05", "alpha: 1"), f"{EXP}.alpha"),
    ("alpha_quoted", mutate("alpha: 0.05", "alpha: '0.05'"), f"{EXP}.alpha"),
    ("alpha_exponent_without_dot", mutate("alpha: 0.05", "alpha: 5e-2"), f"{EXP}.alpha"),
    ("alpha_huge_int", mutate("alpha: 0.05", "alpha: 1" + "0" * 400), f"{EXP}.alpha"),
    ("srm_inf", mutate("srm_threshold: 0.001", "srm_threshold: .inf"), f"{EXP}.srm_threshold"),
    ("srm_negative", mutate("srm_threshold: 0.001", "srm_threshold: -1"), f"{EXP}.srm_threshold"),
    # booleans are YAML true/false only
    (
        "bootstrap_quoted_no",
        mutate("    bootstrap: true", '    bootstrap: "no"'),
        "metrics.revenue_per_user.bootstrap",
    ),
    (
        "bootstrap_quoted_false",
        mutate("    bootstrap: true", '    bootstrap: "false"'),
        "metrics.revenue_per_user.bootstrap",
    ),
    (
        "bootstrap_one",
        mutate("    bootstrap: true", "    bootstrap: 1"),
        "metrics.revenue_per_user.bootstrap",
    ),
    (
        "bootstrap_bare_no",
        mutate("    bootstrap: true", "    bootstrap: no"),
        "metrics.revenue_per_user.bootstrap",
    ),
    (
        "bootstrap_bare_yes",
        mutate("    bootstrap: true", "    bootstrap: yes"),
        "metrics.revenue_per_user.bootstrap",
    ),
    # a metric in two families
    ("primary_and_secondary", mutate("[clicks_per_user,", "[ctr,"), f"{EXP}.secondary[0]"),
    (
        "secondary_and_guardrail",
        mutate("[clicks_per_user,", "[hides_per_user,"),
        f"{EXP}.guardrails[0].metric",
    ),
    (
        "primary_and_guardrail",
        mutate("      - metric: hides_per_user", "      - metric: ctr"),
        "[0]",
    ),
    ("secondary_twice", experiment("primary: m, secondary: [n, n]"), "e.secondary[1]"),
    ("two_guardrails_one_metric", mutate(GUARDRAIL, GUARDRAIL * 2), f"{EXP}.guardrails[1].metric"),
    # names become SQL identifiers
    ("metric_name_upper", mutate("  ctr:\n", "  CTR:\n"), "metrics.CTR"),
    ("metric_name_dash", mutate("  ctr:\n", "  ctr-v2:\n"), "metrics.ctr-v2"),
    ("metric_name_long", "metrics:\n  " + "m" * 64 + ": {kind: mean, numerator: x}\n", "mmmm"),
    (
        "numerator_injection",
        mutate("numerator: clicks", "numerator: 'clicks; drop table x'"),
        "metrics.ctr.numerator",
    ),
    ("numerator_empty", metric("kind: mean, numerator: ''"), "metrics.m.numerator"),
    ("denominator_upper", mutate("denominator: impressions", "denominator: Impressions"), "ctr."),
    (
        "covariate_part_bad",
        mutate("{numerator: pre_clicks,", "{numerator: 'pre clicks',"),
        "metrics.ctr.covariate.numerator",
    ),
    ("experiment_id_control", MINI + 'experiments:\n  "exp\\x07": {primary: m}\n', "experiments["),
    ("experiment_id_empty", MINI + 'experiments:\n  "": {primary: m}\n', "experiments["),
    ("experiment_id_integer", MINI + "experiments:\n  2024: {primary: m}\n", "experiments[2024]"),
    # the rules that were already there
    ("kind_median", metric("kind: median, numerator: x"), "metrics.m.kind"),
    ("kind_missing", metric("numerator: x"), "metrics.m.kind"),
    ("numerator_missing", metric("kind: mean"), "metrics.m.numerator"),
    (
        "ratio_without_denominator",
        mutate("    denominator: impressions\n", ""),
        "metrics.ctr.denominator",
    ),
    ("mean_with_denominator", metric("kind: mean, numerator: x, denominator: y"), ".denominator"),
    (
        "ratio_with_column_covariate",
        mutate("covariate: {numerator: pre_clicks, denominator: pre_impressions}", "covariate: c"),
        "metrics.ctr.covariate",
    ),
    (
        "mean_with_pair_covariate",
        mutate("covariate: pre_clicks", "covariate: {numerator: a, denominator: b}"),
        "metrics.clicks_per_user.covariate",
    ),
    ("proportion_covariate", metric("kind: proportion, numerator: x, covariate: y"), ".covariate"),
    (
        "covariate_pair_incomplete",
        mutate(", denominator: pre_impressions}", "}"),
        "metrics.ctr.covariate.denominator",
    ),
    ("direction_sideways", mutate("primary_direction: increase", "primary_direction: up"), EXP),
    (
        "harmful_direction_missing",
        mutate("        harmful_direction: increase\n", ""),
        f"{EXP}.guardrails[0].harmful_direction",
    ),
    (
        "correction_unknown",
        mutate("correction: holm", "correction: bonferroni"),
        f"{EXP}.correction",
    ),
    ("primary_missing", mutate("    primary: ctr\n", ""), f"{EXP}.primary"),
    ("primary_undeclared", mutate("primary: ctr", "primary: ctr_v2"), f"{EXP}.primary"),
    (
        "secondary_undeclared",
        mutate("saves_per_user, active", "saves, active"),
        f"{EXP}.secondary[1]",
    ),
    (
        "guardrail_undeclared",
        mutate("metric: hides_per_user", "metric: hides"),
        f"{EXP}.guardrails[0].metric",
    ),
    # the document itself
    ("empty_file", "", "empty"),
    ("only_comments", "# nothing here yet\n\n# still nothing\n", "empty"),
    ("top_level_list", "- metrics\n- experiments\n", "(top level)"),
    ("top_level_scalar", "metrics\n", "(top level)"),
    ("two_documents", SHIPPED + "---\nmetrics: {}\n", "line "),
    ("tab_indent", mutate("  ctr:\n    kind: ratio", "  ctr:\n\tkind: ratio"), "line "),
    ("unclosed_flow", mutate("[clicks_per_user,", "[[clicks_per_user,"), "line "),
    ("python_tag", "metrics: !!python/object/apply:os.system ['true']\n", "line 1"),
    ("unhashable_key", "metrics: {[a, b]: 1}\n", "line 1"),
    ("nul_character", "metrics: {}\x00\n", "unacceptable character #x0000"),
    ("alias_bomb", alias_bomb(), "expands to more than"),
    ("recursive_alias", "metrics: &a {m: *a}\n", "recursive"),
    ("nested_too_deep", "metrics: " + "[" * 5000 + "]" * 5000 + "\n", "nesting"),
    # experiment depth: caps, quantiles, segments, balance, surface, novelty, the Bayesian view
    (
        "cap_both",
        metric("kind: mean, numerator: x, cap: {percentile: 0.99, value: 5}"),
        "metrics.m.cap",
    ),
    ("cap_neither", metric("kind: mean, numerator: x, cap: {}"), "metrics.m.cap"),
    ("cap_inf", metric("kind: mean, numerator: x, cap: {value: .inf}"), "metrics.m.cap.value"),
    ("cap_zero", metric("kind: mean, numerator: x, cap: {value: 0}"), "metrics.m.cap.value"),
    (
        "cap_percentile_one",
        metric("kind: mean, numerator: x, cap: {percentile: 1.0}"),
        "metrics.m.cap.percentile",
    ),
    (
        "cap_quoted",
        metric("kind: mean, numerator: x, cap: {percentile: '0.99'}"),
        "metrics.m.cap.percentile",
    ),
    ("cap_typo", metric("kind: mean, numerator: x, cap: {pctile: 0.99}"), "metrics.m.cap.pctile"),
    (
        "cap_on_ratio",
        metric("kind: ratio, numerator: x, denominator: y, cap: {value: 3}"),
        "metrics.m.cap",
    ),
    ("quantile_missing", metric("kind: quantile, numerator: x"), "metrics.m.quantile"),
    ("quantile_nan", metric("kind: quantile, numerator: x, quantile: .nan"), "metrics.m.quantile"),
    ("quantile_on_mean", metric("kind: mean, numerator: x, quantile: 0.5"), "metrics.m.quantile"),
    (
        "quantile_with_cap",
        metric("kind: quantile, numerator: x, quantile: 0.5, cap: {value: 3}"),
        "metrics.m.cap",
    ),
    (
        "quantile_bootstrap",
        metric("kind: quantile, numerator: x, quantile: 0.5, bootstrap: true"),
        "metrics.m.bootstrap",
    ),
    (
        "segments_twice",
        experiment("primary: m, segments: [platform, platform]"),
        "experiments.e.segments[1]",
    ),
    ("segments_text", experiment("primary: m, segments: platform"), "experiments.e.segments"),
    (
        "segment_injection",
        experiment("primary: m, segments: ['platform; drop table x']"),
        "experiments.e.segments[0]",
    ),
    (
        "post_stratify_null",
        experiment("primary: m, post_stratify: [null]"),
        "experiments.e.post_stratify[0]",
    ),
    (
        "balance_threshold_one",
        experiment("primary: m, balance_threshold: 1"),
        "experiments.e.balance_threshold",
    ),
    ("surface_spaces", experiment("primary: m, surface: 'home feed'"), "experiments.e.surface"),
    ("novelty_zero", experiment("primary: m, novelty_days: 0"), "experiments.e.novelty_days"),
    ("novelty_float", experiment("primary: m, novelty_days: 7.5"), "experiments.e.novelty_days"),
    ("novelty_bool", experiment("primary: m, novelty_days: true"), "experiments.e.novelty_days"),
    ("sequential_yes", experiment("primary: m, sequential: yes"), "experiments.e.sequential"),
    (
        "bayesian_sd_zero",
        experiment("primary: m, bayesian: {prior_sd: 0}"),
        "experiments.e.bayesian.prior_sd",
    ),
    (
        "bayesian_mean_inf",
        experiment("primary: m, bayesian: {prior_mean: .inf}"),
        "experiments.e.bayesian.prior_mean",
    ),
    (
        "bayesian_typo",
        experiment("primary: m, bayesian: {decides: true}"),
        "experiments.e.bayesian.decides",
    ),
    (
        "bayesian_chance_one",
        experiment("primary: m, bayesian: {min_chance_to_win: 1}"),
        "experiments.e.bayesian.min_chance_to_win",
    ),
    ("bayesian_list", experiment("primary: m, bayesian: [0.3]"), "experiments.e.bayesian"),
]


def write(tmp_path: Path, text: str | bytes, name: str = "experiments.yml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def assert_one_line_config_error(error: ConfigError, *fragments: str) -> None:
    message = str(error)
    assert error.exit_code == 2
    assert "\n" not in message and "\r" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert "; " in message, f"the message does not say what to write: {message}"
    assert "pydantic" not in message and "http" not in message and "Input should" not in message
    assert "see the schema" not in message, f"no hint for this key: {message}"


@pytest.mark.parametrize(
    ("text", "where"), [case[1:] for case in BATTERY], ids=[c[0] for c in BATTERY]
)
def test_each_mistake_is_one_line_naming_the_file_and_key(tmp_path: Path, text, where) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert_one_line_config_error(caught.value, f"{path}: ", where)


def test_the_battery_ids_are_unique_and_many() -> None:
    ids = [case[0] for case in BATTERY]
    assert len(ids) == len(set(ids)) and len(ids) >= 50


def test_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    text = mutate("  clicks_per_user:\n", CTR + "  clicks_per_user:\n")
    with pytest.raises(ConfigError, match=r"metrics\.ctr: duplicate key 'ctr' \(lines 15 and 21\)"):
        load_config(write(tmp_path, text))


def test_unknown_key_says_the_allowed_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"did you mean `guardrails`\? allowed keys: primary, "):
        load_config(write(tmp_path, mutate("    guardrails:\n", "    guardrail:\n")))


def test_two_families_names_both_places(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"secondary\[0\]: metric 'ctr' is already used as primary"
    ):
        load_config(write(tmp_path, mutate("[clicks_per_user,", "[ctr,")))


def test_yaml_traps_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"got the text '5e-2' \(quoted numbers, and exponents"):
        load_config(write(tmp_path, mutate("alpha: 0.05", "alpha: 5e-2")))
    with pytest.raises(ConfigError, match=r"got the text 'no' \(only unquoted true and false"):
        load_config(write(tmp_path, mutate("    bootstrap: true", "    bootstrap: no")))


def test_non_finite_numbers_are_named_as_yaml_writes_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"margin: \.inf must be a finite relative change"):
        load_config(write(tmp_path, mutate("margin: 0.10", "margin: .inf")))


# --- the file itself


def file_cases():
    big = SHIPPED + "#" * (MAX_BYTES + 1) + "\n"
    return [
        ("missing", lambda tmp: tmp / "nope.yml", "no such experiment config file"),
        ("missing_parent", lambda tmp: write(tmp, "x: 1\n", "f") / "x.yml", "no such"),
        ("directory", lambda tmp: tmp, "is a directory"),
        ("not_utf8", lambda tmp: write(tmp, SHIPPED.encode() + b"# caf\xe9\n"), "not UTF-8"),
        ("latin1", lambda tmp: write(tmp, "metrics: {}\n# \xe9\n".encode("latin-1")), "UTF-8"),
        ("huge", lambda tmp: write(tmp, big), "larger than"),
        ("fifo", lambda tmp: _fifo(tmp), "not a regular file"),
    ]


def _fifo(tmp: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    path = tmp / "pipe.yml"
    os.mkfifo(path)
    return path


FILE_CASES = file_cases()


@pytest.mark.parametrize(
    ("make", "fragment"), [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES]
)
def test_each_unreadable_file_is_one_line_naming_the_path(tmp_path: Path, make, fragment) -> None:
    path = make(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert_one_line_config_error(caught.value, f"{path}: ", fragment)


def test_permission_denied_is_a_config_error(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path, SHIPPED)

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert_one_line_config_error(caught.value, f"{path}: ", "permission denied")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, SHIPPED)
    path.chmod(0)
    try:
        with pytest.raises(ConfigError, match="permission denied"):
            load_config(path)
    finally:
        path.chmod(0o600)


def test_an_oversized_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = write(tmp_path, b"")
    with path.open("wb") as handle:
        handle.truncate(50 * MAX_BYTES)  # sparse: cheap to make, would be slow to parse
    with pytest.raises(ConfigError, match="larger than"):
        load_config(path)


def test_parse_config_names_the_source_and_refuses_non_mappings() -> None:
    with pytest.raises(ConfigError, match=r"^experiments\.yml: \(top level\): expected a mapping"):
        parse_config(["metrics"])
    with pytest.raises(ConfigError, match=r"^team\.yml: metrics\.m\.kind: "):
        parse_config({"metrics": {"m": {"kind": "median", "numerator": "x"}}}, source="team.yml")


def test_unknown_experiment_is_one_line_naming_the_configured_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SHIPPED))
    with pytest.raises(ConfigError) as caught:
        config.experiment("exp_nope\n")
    assert_one_line_config_error(caught.value, "experiment 'exp_nope\\n' is not configured")
    assert "exp_home_feed_ranking_v2, exp_pin_closeup_redesign" in str(caught.value)


# --- what must still load, to exactly the values written

SHIPPED_CTR = Metric(
    name="ctr",
    kind="ratio",
    numerator="clicks",
    denominator="impressions",
    covariate="pre_clicks",
    covariate_denominator="pre_impressions",
    bootstrap=False,
    description="Clicks per impression, pooled over users (the user is the unit).",
)
SHIPPED_GUARDRAIL = Guardrail(metric="hides_per_user", harmful_direction="increase", margin=0.1)
SHIPPED_DIAGNOSTICS = (
    "ndcg_at_10",
    "mean_click_position",
    "top3_impression_share",
    "creators_per_user",
    "categories_per_user",
    "top_creator_share",
)
SHIPPED_HOME_FEED = ExperimentConfig(
    experiment_id="exp_home_feed_ranking_v2",
    primary="ctr",
    primary_direction="increase",
    secondary=(
        "clicks_per_user",
        "saves_per_user",
        "active_days_per_user",
        "revenue_per_user",
        "saver_rate",
    ),
    guardrails=(SHIPPED_GUARDRAIL,),
    alpha=0.05,
    correction="holm",
    srm_threshold=0.001,
    description="New home-feed ranking model vs the current one.",
    diagnostics=(*SHIPPED_DIAGNOSTICS, "median_impressions_per_user", "p90_impressions_per_user"),
    segments=("platform", "country", "user_tenure"),
    post_stratify=("platform",),
    balance_threshold=0.001,
    surface="home_feed",
    novelty_days=7,
)


def test_the_shipped_file_loads_to_exactly_its_values() -> None:
    config = load_config()
    assert list(config.metrics) == [
        "ctr",
        "clicks_per_user",
        "saves_per_user",
        "active_days_per_user",
        "revenue_per_user",
        "hides_per_user",
        "saver_rate",
        "creators_per_user",
        "top_creator_share",
        "categories_per_user",
        "median_impressions_per_user",
        "p90_impressions_per_user",
        "ndcg_at_10",
        "mean_click_position",
        "top3_impression_share",
    ]
    assert config.metrics["ctr"] == SHIPPED_CTR
    revenue = config.metrics["revenue_per_user"]
    assert (revenue.cap_percentile, revenue.cap_value, revenue.capped) == (0.99, None, True)
    p90 = config.metrics["p90_impressions_per_user"]
    assert (p90.kind, p90.numerator, p90.quantile) == ("quantile", "impressions", 0.9)
    three = config.experiment("exp_related_pins_layout")
    assert (three.surface, three.novelty_days, three.post_stratify) == (
        "related_pins",
        3,
        ("platform",),
    )
    assert not three.sequential and not three.bayesian.decide
    assert config.metrics["ndcg_at_10"].denominator == "ndcg_at_10_requests"
    assert config.metrics["top_creator_share"] == Metric(
        name="top_creator_share",
        kind="ratio",
        numerator="top_creator_impressions",
        denominator="impressions",
        description="Share of impressions from the top 1% of creators (the user is the unit).",
    )
    assert config.metrics["clicks_per_user"] == Metric(
        name="clicks_per_user",
        kind="mean",
        numerator="clicks",
        covariate="pre_clicks",
        description="Clicks per assigned user in the post period.",
    )
    assert config.metrics["revenue_per_user"].bootstrap is True
    assert config.metrics["saver_rate"] == Metric(
        name="saver_rate",
        kind="proportion",
        numerator="has_saved",
        description="Share of assigned users who saved at least one pin.",
    )
    assert config.experiment("exp_home_feed_ranking_v2") == SHIPPED_HOME_FEED
    closeup = config.experiment("exp_pin_closeup_redesign")
    assert (closeup.correction, closeup.secondary, closeup.guardrails) == (
        "fdr_bh",
        ("clicks_per_user", "saves_per_user", "saver_rate"),
        (SHIPPED_GUARDRAIL,),
    )
    assert [m.name for m in config.metrics_of(closeup)] == [
        "ctr",
        "clicks_per_user",
        "saves_per_user",
        "saver_rate",
        "hides_per_user",
        *SHIPPED_DIAGNOSTICS,
    ]


def _only(config, name: str = "e") -> ExperimentConfig:
    return config.experiment(name)


POSITIVE = [
    (
        "bootstrap_false",
        mutate("    bootstrap: true", "    bootstrap: false"),
        lambda c: c.metrics["revenue_per_user"].bootstrap is False,
    ),
    (
        "bootstrap_capitalised",
        mutate("    bootstrap: true", "    bootstrap: True"),
        lambda c: c.metrics["revenue_per_user"].bootstrap is True,
    ),
    (
        "anchor_reuse",
        mutate("    guardrails:\n", "    guardrails: &shared\n").replace(
            "    guardrails:\n" + GUARDRAIL, "    guardrails: *shared\n"
        ),
        lambda c: (
            c.experiment("exp_pin_closeup_redesign").guardrails == (SHIPPED_GUARDRAIL,)
            and c.experiment(SHIPPED_HOME_FEED.experiment_id) == SHIPPED_HOME_FEED
        ),
    ),
    (
        "merge_key_defaults",
        MINI
        + "experiments:\n  a: &d {primary: m, alpha: 0.1, correction: fdr_bh}\n"
        + "  b: {<<: *d, alpha: 0.2}\n",
        lambda c: (
            (c.experiment("b").alpha, c.experiment("b").correction, c.experiment("a").alpha)
            == (0.2, "fdr_bh", 0.1)
        ),
    ),
    (
        "defaults",
        experiment("primary: m"),
        lambda c: (
            (
                _only(c).primary_direction,
                _only(c).secondary,
                _only(c).guardrails,
                _only(c).alpha,
                _only(c).correction,
                _only(c).srm_threshold,
                _only(c).description,
            )
            == ("increase", (), (), 0.05, "holm", 0.001, "")
        ),
    ),
    (
        "integer_margin_and_exponent_alpha",
        experiment(
            "primary: m, alpha: 1.0e-2, "
            "guardrails: [{metric: n, harmful_direction: decrease, margin: 0}]"
        ),
        lambda c: (
            _only(c).guardrails == (Guardrail("n", "decrease", 0.0),)
            and _only(c).alpha == 0.01
            and isinstance(_only(c).guardrails[0].margin, float)
        ),
    ),
    (
        "yes_and_no_stay_text",
        metric("kind: mean, numerator: x, description: no"),
        lambda c: c.metrics["m"].description == "no",
    ),
    (
        "block_scalar_description",
        "metrics:\n  m:\n    kind: mean\n    numerator: x\n    description: |\n      two\n"
        "      lines\n",
        lambda c: c.metrics["m"].description == "two\nlines\n",
    ),
    (
        "unicode_experiment_id",
        MINI + "experiments:\n  'Café redesign (v2)': {primary: m}\n",
        lambda c: _only(c, "Café redesign (v2)").primary == "m",
    ),
    (
        "explicit_null_optional",
        metric("kind: mean, numerator: x, denominator: null, covariate: ~"),
        lambda c: c.metrics["m"] == Metric(name="m", kind="mean", numerator="x"),
    ),
    ("empty_sections", "metrics: {}\nexperiments: {}\n", lambda c: not c.metrics),
    (
        "alpha_close_to_the_bounds",
        experiment("primary: m, alpha: 0.999, srm_threshold: 1.0e-12"),
        lambda c: (_only(c).alpha, _only(c).srm_threshold) == (0.999, 1e-12),
    ),
]


@pytest.mark.parametrize(("text", "check"), [c[1:] for c in POSITIVE], ids=[c[0] for c in POSITIVE])
def test_valid_spellings_load_to_the_values_written(tmp_path: Path, text, check) -> None:
    assert check(load_config(write(tmp_path, text)))


def test_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, b"\xef\xbb\xbf" + SHIPPED.encode()))
    assert config.experiment(SHIPPED_HOME_FEED.experiment_id) == SHIPPED_HOME_FEED


def test_loaded_numbers_are_finite_floats() -> None:
    for experiment in load_config().experiments.values():
        for number in (experiment.alpha, experiment.srm_threshold):
            assert type(number) is float and math.isfinite(number)


# --- through the CLI: exit code 2, never a traceback

CLI_CASES = ["dup_metric", "typo_guardrail", "margin_nan", "bootstrap_quoted_no", "alias_bomb"]


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_reports_a_bad_config_with_exit_code_2(tmp_path: Path, capsys, case: str) -> None:
    from metricbook.cli import main

    text = next(c[1] for c in BATTERY if c[0] == case)
    path = write(tmp_path, text)
    code = main(["analyze", "--experiment", "x", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err


def test_cli_reports_a_missing_config_and_an_unknown_experiment(tmp_path: Path, capsys) -> None:
    from metricbook.cli import main

    assert main(["analyze", "--experiment", "x", "--config", str(tmp_path / "no.yml")]) == 2
    assert main(["analyze", "--experiment", "x", "--config", str(tmp_path)]) == 2
    path = write(tmp_path, SHIPPED)
    assert main(["analyze", "--experiment", "x", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_a_diagnostic_is_its_own_family(tmp_path: Path) -> None:
    """A diagnostic is estimated but never corrected or decided on, so naming a decided metric
    as a diagnostic too would report it twice under two rules: refused, naming both places."""
    text = MINI + "experiments:\n  e: {primary: m, diagnostics: [m]}\n"
    with pytest.raises(ConfigError, match=r"experiments\.e\.diagnostics\[0\].*already used as"):
        load_config(write(tmp_path, text))
    text = MINI + "experiments:\n  e: {primary: m, diagnostics: [nope]}\n"
    with pytest.raises(ConfigError, match=r"experiments\.e\.diagnostics\[0\]"):
        load_config(write(tmp_path, text))
