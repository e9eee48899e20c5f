"""The depth profile (`metricbook seeds --profile depth`): a three-arm experiment that plants
what the teaching experiment cannot show (a novelty effect, a larger effect for new users, an
assignment bug that skews one arm's platform mix while its overall share stays as designed,
platforms with unlike baseline CTRs), and leaves the other profiles' bytes as they were.

treatment_a also sends more of its sessions to related pins, the surface the readout is about.
The checks read the raw text as a producer delivers it (pandas' ISO-8601 parsing, the first
delivery of an event_id, users assigned to one arm inside the window), independently of the
engine and of the marts; one test builds the set with dbt.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from conftest import query
from scipy.stats import chi2_contingency, chisquare

from metricbook.datagen import seeds, world
from metricbook.datagen.engine import _validate
from metricbook.datagen.profiles import (
    DEPTH,
    ExperimentSpec,
    GeneratorConfig,
    Variant,
    balanced_platform_shares,
)
from metricbook.datagen.seeds import RawDataset, write_csv
from metricbook.datagen.world import MANIFEST_FILE, RAW_COLUMNS
from metricbook.warehouse.dbt_runner import REPO_ROOT

EXPERIMENT = DEPTH.config.experiment
assert EXPERIMENT is not None
ARMS = tuple(v.name for v in EXPERIMENT.variants)
SHARES = {v.name: v.traffic_share for v in EXPERIMENT.variants}
# sha256 of the alternate file set (see _digest) as `metricbook seeds --profile alternate` wrote
# it before the depth profile's options existed: the README's alternate figures depend on it.
ALTERNATE_DIGEST = "4f6f7b9fec2baba1bcf821253049974ae60f72d20ee347bc37a2d26dd9914516"


def _digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for name in [*(f"{table}.csv" for table in RAW_COLUMNS), MANIFEST_FILE]:
        digest.update(name.encode() + b"\0" + (directory / name).read_bytes() + b"\0")
    return digest.hexdigest()


def _utc(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")


@pytest.fixture(scope="module")
def assigned(depth_dataset: RawDataset) -> pd.DataFrame:
    """One row per user assigned to exactly one arm inside the window: arm, first assignment,
    platform, and whether they signed up fewer than 7 UTC days before their assignment day."""
    tables = depth_dataset.tables
    start = pd.Timestamp(DEPTH.config.start, tz="UTC")
    end = start + pd.Timedelta(days=EXPERIMENT.end_day)
    rows = tables["raw_experiment_assignments"]
    rows = rows[(rows["experiment_id"] == EXPERIMENT.experiment_id) & rows["variant"].isin(ARMS)]
    rows = rows.assign(at=_utc(rows["assigned_at"])).dropna(subset=["at"])
    per_user = rows.groupby("user_id").agg(
        arms=("variant", "nunique"), variant=("variant", "min"), at=("at", "min")
    )
    per_user = per_user[(per_user["arms"] == 1) & (per_user["at"] < end)].reset_index()
    users = tables["raw_users"].drop_duplicates("user_id")
    users = users.assign(signup=_utc(users["signup_at"]))[["user_id", "platform", "signup"]]
    per_user = per_user.merge(users, on="user_id")
    tenure = (per_user["at"].dt.floor("D") - per_user["signup"].dt.floor("D")).dt.days
    return per_user.assign(new=tenure < 7)[["user_id", "variant", "at", "platform", "new"]]


@pytest.fixture(scope="module")
def exposures(depth_dataset: RawDataset, assigned: pd.DataFrame) -> pd.DataFrame:
    """Impressions and clicks of the assigned users from their assignment to the window's end,
    with the UTC days since that user's first assignment (0 on its day)."""
    end = pd.Timestamp(DEPTH.config.start, tz="UTC") + pd.Timedelta(days=EXPERIMENT.end_day)
    events = depth_dataset.tables["raw_events"]
    events = events[events["event_type"].isin(["impression", "click"])]
    events = events.drop_duplicates("event_id")  # retries and copies: the first delivery
    events = events.assign(event_at=_utc(events["event_at"])).dropna(subset=["event_at"])
    events = events[["user_id", "event_type", "surface", "event_at"]].merge(assigned, on="user_id")
    events = events[(events["event_at"] >= events["at"]) & (events["event_at"] < end)]
    since = (events["event_at"].dt.floor("D") - events["at"].dt.floor("D")).dt.days
    return events.assign(since=since)


def _ctr(events: pd.DataFrame, by: list[str]) -> pd.Series:
    counts = events.groupby([*by, "event_type"]).size().unstack("event_type", fill_value=0)
    return counts["click"] / counts["impression"]


def _lifts(events: pd.DataFrame, assigned: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each arm's CTR over the control's: pooled (naive) and post-stratified on platform (each
    platform's CTR weighted by its share of the assigned users)."""
    naive = _ctr(events, ["variant"])
    per_platform = _ctr(events, ["variant", "platform"]).unstack()
    weights = assigned["platform"].value_counts(normalize=True)
    stratified = (per_platform * weights).sum(axis=1)
    return naive / naive["control"] - 1, stratified / stratified["control"] - 1


# --------------------------------------------------------------------------------------------
# The profile and the other profiles


def test_the_depth_profile_is_deterministic(depth_dataset: RawDataset) -> None:
    again = seeds.generate(DEPTH)
    assert again.manifest == depth_dataset.manifest
    for table, frame in depth_dataset.tables.items():
        pd.testing.assert_frame_equal(again.tables[table], frame, obj=table)


def test_the_teaching_and_alternate_profiles_write_what_they_wrote_before(
    teaching_dataset: RawDataset, alternate_dataset: RawDataset, tmp_path: Path
) -> None:
    """The depth options are off by default: the seeds stay the committed ones and the
    alternate set keeps its bytes (its digest from before the options existed)."""
    write_csv(teaching_dataset, tmp_path / "teaching")
    write_csv(alternate_dataset, tmp_path / "alternate")
    assert _digest(tmp_path / "teaching") == _digest(REPO_ROOT / "seeds")
    assert _digest(tmp_path / "alternate") == ALTERNATE_DIGEST
    for dataset in (teaching_dataset, alternate_dataset):
        assert "effects" not in dataset.manifest


def test_the_depth_manifest_names_what_it_plants(depth_dataset: RawDataset) -> None:
    manifest = depth_dataset.manifest
    assert manifest["profile"] == "depth"
    assert set(manifest["traps"]) == set(world.TRAPS)
    effects = manifest["effects"]
    assert set(effects) == set(world.EFFECTS)
    for name, effect in effects.items():
        assert effect["description"] == world.EFFECTS[name]
    assert effects["novelty_effect"]["variants"] == {
        "treatment_a": {
            "click_multiplier": 1.15,
            "novelty_boost": 0.4,
            "novelty_half_life_days": 3.0,
        }
    }
    assert effects["novelty_effect"]["surface"] == "related_pins"
    skew = effects["platform_assignment_skew"]
    assert set(skew["variants"]) == {"treatment_b"}
    assert skew["shares_by_platform"]["android"]["treatment_b"] == 0.45
    assert effects["platform_ctr_gap"]["platform_click_factors"]["android"] == 1.6
    # the traps at the generator's default rates: staging still has work to do
    traps = {name: trap["count"] for name, trap in manifest["traps"].items()}
    for name in (
        "exact_duplicate_events",
        "retried_events",
        "late_events",
        "duplicate_users",
        "assigned_twice_same_variant",
        "assigned_to_two_variants",
        "assigned_after_end",
        "assigned_without_activity",
    ):
        assert traps[name] > 0, name
    assert sum(manifest["expected_rejects"]["raw_events"].values()) > 100
    # the unknown-variant recipe names treatment_b, an arm here: the rows name a retired one
    variants = set(depth_dataset.tables["raw_experiment_assignments"]["variant"])
    assert "treatment_b_retired" in variants
    assert manifest["expected_rejects"]["raw_experiment_assignments"]["unknown_variant"] > 0


def test_platform_shares_are_balanced_and_refused_where_they_cannot_hold() -> None:
    shares = dict(balanced_platform_shares(0.3, "android", 0.45, "ios"))
    overall = sum(
        world.PLATFORMS[p] * shares.get(p, 0.3) for p in world.PLATFORMS
    )  # the designed share, whatever the platform mix of the users
    assert overall == pytest.approx(0.3)
    assert EXPERIMENT.shares_on("android") == pytest.approx((0.25, 0.3, 0.45))
    assert EXPERIMENT.shares_on("web") == pytest.approx((0.4, 0.3, 0.3))
    too_much = ExperimentSpec(  # android: 0.3 + 0.8 leaves the control -0.1
        variants=(
            Variant("control", 0.4, is_control=True),
            Variant("treatment_a", 0.3),
            Variant("treatment_b", 0.3, platform_shares=(("android", 0.8),)),
        )
    )
    on_control = ExperimentSpec(
        variants=(
            Variant("control", 0.5, is_control=True, platform_shares=(("ios", 0.6),)),
            Variant("treatment", 0.5),
        )
    )
    for experiment, message in ((too_much, "outside"), (on_control, "of a treatment")):
        with pytest.raises(ValueError, match=message):
            _validate(GeneratorConfig(users=100, seed=0, experiment=experiment), 30)
    with pytest.raises(ValueError, match="platform_click_factors"):
        _validate(GeneratorConfig(users=100, seed=0, platform_click_factors=(1.0, 0.0, 1.0)), 30)


# --------------------------------------------------------------------------------------------
# What the raw data shows


def test_three_arms_at_their_designed_shares(assigned: pd.DataFrame) -> None:
    counts = assigned["variant"].value_counts()
    assert set(counts.index) == set(ARMS) and 3000 <= counts.sum() <= 6000
    expected = [SHARES[arm] * counts.sum() for arm in ARMS]
    assert chisquare([counts[arm] for arm in ARMS], expected).pvalue > 0.05  # SRM passes


def test_the_platform_skew_is_in_treatment_b_and_not_in_treatment_a(
    assigned: pd.DataFrame,
) -> None:
    share = pd.crosstab(assigned["platform"], assigned["variant"], normalize="index")
    assert share.loc["android", "treatment_b"] > 0.4 and share.loc["ios", "treatment_b"] < 0.24
    assert (share["treatment_a"] - 0.3).abs().max() < 0.03
    for arm, skewed in (("treatment_a", False), ("treatment_b", True)):
        table = pd.crosstab(assigned["platform"], assigned["variant"] == arm)
        p_value = chi2_contingency(table).pvalue
        assert (p_value < 1e-6) if skewed else (p_value > 0.05), (arm, p_value)


def test_treatment_b_shows_a_spurious_lift_that_post_stratification_removes(
    exposures: pd.DataFrame, assigned: pd.DataFrame
) -> None:
    per_platform = _ctr(exposures[exposures["variant"] == "control"], ["platform"])
    assert per_platform["android"] > 1.3 * max(per_platform["ios"], per_platform["web"])
    naive, stratified = _lifts(exposures, assigned)
    assert naive["treatment_b"] > 0.1
    assert abs(stratified["treatment_b"]) < 0.05


def test_treatment_a_novelty_shows_in_the_first_days_since_assignment(
    exposures: pd.DataFrame,
) -> None:
    """Within users active both on days 0-1 and later (each user their own control, so the
    heavy users' lower CTR cannot move it): treatment_a's early CTR over its later CTR is above
    the control's, and its lift over the control falls with the days since assignment."""
    early = exposures["since"] <= 1
    impressions = exposures[exposures["event_type"] == "impression"]
    both = impressions.assign(early=early).groupby("user_id")["early"].nunique()
    within = exposures[exposures["user_id"].isin(both[both == 2].index)]
    ratio = _ctr(within.assign(early=early), ["variant", "early"]).unstack()
    ratio = ratio[True] / ratio[False]
    assert ratio["treatment_a"] > 1.25 * ratio["control"]
    assert abs(ratio["treatment_b"] / ratio["control"] - 1) < 0.15
    bucket = pd.cut(exposures["since"], [-1, 1, 6, 100], labels=["0-1", "2-6", "7+"])
    lift = _ctr(exposures.assign(bucket=bucket), ["variant", "bucket"]).unstack()
    lift = lift.loc["treatment_a"] / lift.loc["control"]
    assert lift["0-1"] > lift["2-6"] > lift["7+"] > 1.1


def test_treatment_a_lifts_new_users_more_than_tenured_ones(
    exposures: pd.DataFrame, assigned: pd.DataFrame
) -> None:
    lifts = {
        new: _lifts(exposures[exposures["new"] == new], assigned[assigned["new"] == new])[1]
        for new in (True, False)
    }
    assert lifts[True]["treatment_a"] > lifts[False]["treatment_a"] + 0.05
    assert 0.3 < assigned["new"].mean() < 0.7


def test_treatment_a_sends_more_users_to_related_pins_so_its_exposed_users_are_unlike(
    exposures: pd.DataFrame, assigned: pd.DataFrame
) -> None:
    """Filtering to the users who reached the surface compares unlike groups: treatment_a
    exposes many light users (who click more per impression) that the control never does."""
    impressions = exposures[exposures["event_type"] == "impression"]
    on_surface = impressions["surface"] == EXPERIMENT.surface
    share = on_surface.groupby(impressions["variant"]).mean()
    assert share["treatment_a"] > 1.8 * share["control"]
    assert abs(share["treatment_b"] / share["control"] - 1) < 0.1
    exposed_users = set(impressions.loc[on_surface, "user_id"])
    exposed = assigned["user_id"].isin(exposed_users).groupby(assigned["variant"]).mean()
    assert exposed["treatment_a"] > exposed["control"] + 0.15
    everyone = _lifts(exposures, assigned)[0]["treatment_a"]
    in_exposed = exposures["user_id"].isin(exposed_users)
    only_exposed = _lifts(exposures[in_exposed], assigned)[0]["treatment_a"]
    assert only_exposed > everyone + 0.05


# --------------------------------------------------------------------------------------------
# Built with dbt


def test_the_depth_set_builds_and_its_marts_carry_the_three_arms(
    depth_db: Path, depth_dataset: RawDataset, assigned: pd.DataFrame
) -> None:
    arms = dict(
        query(
            depth_db,
            "select variant, count(*) from fct_experiment_user_metrics "
            "where experiment_id = ? group by variant",
            [EXPERIMENT.experiment_id],
        )
    )
    assert set(arms) == set(ARMS)
    assert sum(arms.values()) == pytest.approx(len(assigned), rel=0.02)
    manifest = depth_dataset.manifest
    for table in RAW_COLUMNS:
        name = table.removeprefix("raw_")
        rejects = dict(
            query(depth_db, f"select reject_reason, count(*) from stg_{name}__rejects group by 1")
        )
        assert rejects == manifest["expected_rejects"][table], table
