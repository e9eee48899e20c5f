"""The depth data set's three-arm experiment end to end: SRM over all arms, the primary
corrected across the two treatments (Holm), a verdict per arm; the assignment bug that
over-represents android users in treatment_b is caught by the stratum-balance check and the
per-segment SRM while the overall SRM passes, and the decision reads the post-stratified
primary; treatment_a's fading novelty is flagged; its change of who reaches related pins
makes the triggered analysis untrustworthy, and the readout says so. And the two pitfalls the
readout refuses, with numbers: segmenting on a post-treatment attribute and filtering to
exposed users both move a pre-period metric that treatment cannot have changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from metricbook.readout import queries
from metricbook.readout.config import load_config
from metricbook.readout.readout import analyze
from metricbook.readout.report import html_report, text_table
from metricbook.stats import adjust_p_values, welch_t
from metricbook.warehouse.connection import DuckDBWarehouse

EXPERIMENT = "exp_related_pins_layout"


@pytest.fixture(scope="module")
def warehouse(depth_db: Path):
    handle = DuckDBWarehouse(depth_db)
    yield handle
    handle.close()


@pytest.fixture(scope="module")
def readout(warehouse):
    return analyze(warehouse, load_config(), EXPERIMENT)


def _row(readout, metric: str, variant: str):
    return next(r for r in readout.results if r.metric == metric and r.variant == variant)


def test_srm_covers_all_three_arms_and_passes(readout) -> None:
    assert set(readout.srm.counts) == {"control", "treatment_a", "treatment_b"}
    assert readout.srm.passed


def test_primary_is_holm_corrected_across_the_two_treatments(readout) -> None:
    rows = [_row(readout, "ctr", v) for v in ("treatment_a", "treatment_b")]
    expected = adjust_p_values([r.p_value for r in rows], "holm")
    assert [r.p_value_adjusted for r in rows] == pytest.approx(expected)


def test_each_arm_gets_its_own_verdict_and_the_real_effect_ships(readout) -> None:
    verdicts = {d.variant: d.verdict for d in readout.decision.by_variant}
    assert verdicts == {"treatment_a": "ship", "treatment_b": "inconclusive"}
    assert readout.decision.reasons[0] == "ship treatment_a"


def test_the_platform_skew_is_caught_though_the_overall_srm_passes(readout) -> None:
    stratified = readout.post_stratification
    assert stratified.imbalanced
    assert stratified.imbalance["treatment_b"]["p_value"] < 1e-10
    assert any("imbalanced on platform" in w for w in readout.validity_warnings)
    srm = {
        (r["segment"], r["variant"]): r["srm_passed"]
        for r in readout.segments.rows
        if r["dimension"] == "platform" and r["metric"] == "ctr"
    }
    assert not srm[("android", "treatment_b")] and not srm[("ios", "treatment_b")]


def test_post_stratification_removes_treatment_bs_spurious_lift(readout) -> None:
    naive = _row(readout, "ctr", "treatment_b").unadjusted
    stratified = _row(readout, "ctr", "treatment_b").post_stratified
    # treatment_b changes nothing: the android-heavy arm's naive CTR lift is the mix
    assert naive["rel_lift"] > 0.1
    assert abs(stratified["rel_lift"]) < 0.05
    assert stratified["used_in_decision"]


def test_treatment_as_fading_novelty_is_flagged(readout) -> None:
    novelty = {(r["metric"], r["variant"]): r for r in readout.over_time.novelty}
    fading = novelty[("ctr", "treatment_a")]
    assert fading["flagged"] and fading["pattern"].startswith("novelty")
    assert fading["late_diff"] < fading["early_diff"]
    assert not novelty[("ctr", "treatment_b")]["flagged"]


def test_a_treatment_that_changes_exposure_makes_the_triggered_analysis_untrusted(readout) -> None:
    exposure = readout.exposure
    assert exposure.surface == "related_pins"
    assert not exposure.balance["passed"]
    rates = exposure.balance["rates"]
    assert rates["treatment_a"] > 1.5 * rates["control"]
    assert any("changed who is exposed" in w for w in readout.validity_warnings)


def _pre_period_gap(warehouse, where: str) -> float:
    """treatment_a − control in pre_active_days over the users `where` selects: what the
    treatment did before it existed, so anything beyond noise is selection."""
    frame = warehouse.frame(
        "select metrics.variant, metrics.pre_active_days "
        "from main.fct_experiment_user_metrics as metrics left join main.fct_experiment_exposures "
        "as exposures on exposures.experiment_id = metrics.experiment_id and "
        "exposures.user_id = metrics.user_id and exposures.surface = 'related_pins' "
        f"where metrics.experiment_id = $e and metrics.variant <> 'treatment_b' and {where}",
        {"e": EXPERIMENT},
    )
    means = frame.groupby("variant")["pre_active_days"].mean()
    return float(means["treatment_a"] / means["control"] - 1)


def test_pitfall_filtering_to_exposed_users_compares_unlike_users(warehouse) -> None:
    everyone = _pre_period_gap(warehouse, "1 = 1")
    exposed = _pre_period_gap(warehouse, "exposures.user_id is not null")
    # randomised arms agree before the experiment; treatment_a's exposed users are lighter
    assert abs(everyone) < 0.03
    assert exposed < everyone - 0.05


def test_pitfall_a_post_treatment_segment_is_refused_by_the_readout(warehouse) -> None:
    declared = set(queries.mart_columns(warehouse, queries.USER_METRICS))
    from metricbook import contract

    segments = set(contract.flagged_columns(queries.USER_METRICS, "segment"))
    assert "has_saved" in declared and "has_saved" not in segments
    assert segments <= {"platform", "country", "user_tenure"}
    # and it would mislead: savers of the two arms differ before the experiment
    savers = _pre_period_gap(warehouse, "metrics.has_saved = 1")
    everyone = _pre_period_gap(warehouse, "1 = 1")
    assert savers < everyone - 0.03
    aggregates = queries.grouped_aggregates(warehouse, EXPERIMENT, ["pre_active_days"], [], by=[])
    assert (
        welch_t(aggregates[("control",)], aggregates[("treatment_a",)], "pre_active_days").p_value
        > 0.05
    )


def test_the_decision_says_to_read_a_fading_effect_with_care(readout) -> None:
    text = text_table(readout)
    care = text.split("read with care:", 1)[1]
    assert "ctr (treatment_a): novelty (the effect fades)" in care
    assert "treatment_b" not in care.split("\n")[1]
    page = html_report(readout)
    assert "Read with care" in page and "<script" not in page
