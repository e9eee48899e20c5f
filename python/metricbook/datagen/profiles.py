"""What a data set depends on, and the profiles that ship: `teaching` (the seeds), `alternate`
(other zones, spellings and bad rows, an experiment without effect), `depth` (a three-arm
experiment with a novelty effect, a heterogeneous effect and a platform-skewed assignment bug)
and `scale` (the defaults of `metricbook generate`). Plain dataclasses, no numpy: the command
line's --help imports this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime

from metricbook.datagen.options import (
    DEFAULT_START,
    EVENTS_PER_USER_DAY,
    EXPERIMENT_DAYS,
    EXPERIMENT_ID,
    EXPERIMENT_START_DAY,
    MAX_LATENESS_DAYS,
    MULTIPLIERS,
)
from metricbook.datagen.world import (
    ALTERNATE_COUNTRIES,
    PLATFORMS,
    SURFACES,
    TEACHING_COUNTRIES,
    merged_countries,
)

DAY_MS = 86_400_000
DAILY_SIGNUP_SHARE = 0.004  # new users per day, as a share of the base cohort
# At scale each platform (ios, android, web) spells a timestamp its own way, all inside the raw
# contract: local time with '+hh:mm', local time with a space, milliseconds and '+hhmm', UTC 'Z'.
PLATFORM_SPELLINGS = ("local_colon", "local_space_ms", "utc_z")


def _epoch_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


# --------------------------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True)
class Variant:
    """One arm. The multipliers scale the per-impression click, save and hide probabilities;
    feed_share (in (0, 1]) keeps that share of each session's feed, from the top: a ranking
    that ends sessions earlier moves the arm's impressions to higher positions, so its pooled
    CTR rises with no change in any position's CTR (the position-mix effect)."""

    name: str
    traffic_share: float
    is_control: bool = False
    click_multiplier: float = 1.0
    save_multiplier: float = 1.0
    hide_multiplier: float = 1.0
    feed_share: float = 1.0
    # A novelty effect: the click multiplier is further x (1 + novelty_boost * 0.5 ** (d / h))
    # on the user's d-th UTC day since their first assignment (d = 0 that day), h the half-life.
    novelty_boost: float = 0.0
    novelty_half_life_days: float = 3.0
    # A heterogeneous effect: users who signed up fewer than new_user_days UTC days before their
    # assignment day click x new_user_click_multiplier instead of click_multiplier.
    new_user_click_multiplier: float | None = None
    new_user_days: int = 7
    # An assignment bug: (platform, share) pairs, this arm's share of that platform's users
    # instead of traffic_share. The control absorbs the difference on each platform, so the
    # other arms keep their shares everywhere; pick shares that keep the overall share at
    # traffic_share (profiles.balanced_platform_shares) and only a per-platform check sees it.
    platform_shares: tuple[tuple[str, float], ...] = ()
    # An arm that moves users to a surface: (surface, share) pairs, its sessions' share of that
    # surface instead of world.SURFACES'; the surfaces not named share the rest in proportion.
    surface_shares: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class ExperimentSpec:
    """The experiment: runs over UTC days [start_day, start_day + n_days) of the data set."""

    experiment_id: str = EXPERIMENT_ID
    start_day: int = EXPERIMENT_START_DAY
    n_days: int = EXPERIMENT_DAYS
    variants: tuple[Variant, ...] = (
        Variant("control", 0.5, is_control=True),
        Variant(
            "treatment",
            0.5,
            click_multiplier=MULTIPLIERS["click"],
            save_multiplier=MULTIPLIERS["save"],
            hide_multiplier=MULTIPLIERS["hide"],
        ),
    )
    # the surface the readout is about (the manifest says so; the arms act on every surface)
    surface: str | None = None

    @property
    def end_day(self) -> int:
        """The first day after the window."""
        return self.start_day + self.n_days

    @property
    def skewed(self) -> bool:
        """Whether some arm's share differs by platform (an assignment bug)."""
        return any(v.platform_shares for v in self.variants)

    def surface_mix(self, variant: Variant) -> tuple[float, ...]:
        """A treated session's share of each world.SURFACES surface in this variant."""
        named = dict(variant.surface_shares)
        rest = 1.0 - sum(named.values())
        others = sum(share for surface, share in SURFACES.items() if surface not in named)
        return tuple(
            named[surface] if surface in named else share * rest / (others or 1.0)
            for surface, share in SURFACES.items()
        )

    def shares_on(self, platform: str) -> tuple[float, ...]:
        """Each variant's share of the users of `platform`: a variant's platform_shares entry
        or its traffic_share, the control taking what the others leave."""
        shares = [dict(v.platform_shares).get(platform, v.traffic_share) for v in self.variants]
        control = next(i for i, v in enumerate(self.variants) if v.is_control)
        if self.skewed:
            shares[control] = 1.0 - sum(s for i, s in enumerate(shares) if i != control)
        return tuple(shares)


def balanced_platform_shares(
    share: float, skewed: str, skewed_share: float, balancing: str
) -> tuple[tuple[str, float], ...]:
    """platform_shares for an arm of overall share `share` that takes `skewed_share` of the
    `skewed` platform's users and, on the `balancing` platform, whatever keeps its overall share
    at `share` under world.PLATFORMS' mix (the other platforms keep `share`)."""
    mix = dict(PLATFORMS)
    balancing_share = share - (skewed_share - share) * mix[skewed] / mix[balancing]
    assert 0 <= balancing_share <= 1, "the skew is too large to balance on one platform"
    return ((skewed, skewed_share), (balancing, balancing_share))


@dataclass(frozen=True)
class LaunchSpec:
    """A launch without a control group: from the start of UTC day `day`, the users of the
    treated units (their signup country or platform, by `unit_type`) save `save_multiplier`
    times as often. `pre_trend` (relative change per day, over the whole data set, 0 at the
    launch day) makes the treated units drift away from the others: parallel trends violated.
    The raw row says it launched at `hour` UTC of that day, spelled at `utc_offset_minutes`."""

    launch_id: str
    day: int
    unit_type: str  # 'country' or 'platform'
    treated_units: tuple[str, ...]
    save_multiplier: float = 1.0
    pre_trend: float = 0.0
    hour: float = 9.0
    utc_offset_minutes: int = 0


# Saves by UTC weekday, Monday first: people pin more at the weekend.
WEEKDAY_SAVE_FACTORS = (0.92, 0.94, 0.96, 1.0, 1.04, 1.12, 1.1)


@dataclass(frozen=True)
class TrapRates:
    """How often each trap is planted. A float is a share of the rows (or sessions, users) it
    applies to, drawn per row; an int is an exact count over the data set, planted at the first
    chance; 0 turns a trap off. A field named after a trap counts under that name."""

    exact_duplicate_events: float = 0.002
    retried_events: float = 0.002  # re-sent 5-240 s later, same event_id
    late_sessions: float = 0.002  # sessions of day d - k delivered in day d's file
    max_lateness_days: int = MAX_LATENESS_DAYS
    sessions_at_utc_midnight: float = 0.0005
    bad_rows: float = 0.001  # per table, split evenly over the table's DEFECTS reasons
    bad_variant_rows: int = 1  # a declared variant with an invalid traffic_share
    bad_launch_rows: int = 1  # launches of their own, one bad column each (DEFECTS' recipes)
    duplicate_launch_rows: int = 1  # a launch row delivered twice
    duplicate_users: float = 0.002
    duplicate_pins: float = 0.002
    duplicate_transactions: float = 0.01
    assigned_twice_same_variant: float = 0.002
    assigned_to_two_variants: float = 0.002
    assigned_after_end: float = 0.01  # of the unassigned users active the day after the end
    repeated_position_in_request: float = 0.0002  # of requests with 2+ impressions
    click_on_unimpressed_pin: float = 0.0002  # of impressions
    duplicate_ranker_scores: float = 0.001
    conflicting_ranker_scores: float = 0.0002
    unscored_requests: float = 0.001
    # exact bad rows, (table, reason, count): they replace the bad_rows rate for that table
    bad_row_counts: tuple[tuple[str, str, int], ...] = ()


# Clean data: every trap off (max_lateness_days only bounds late sessions, which are off too).
NO_TRAPS = TrapRates(
    **{
        f.name: type(f.default)(0)
        for f in fields(TrapRates)
        if f.name not in ("max_lateness_days", "bad_row_counts")
    }
)


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything a data set depends on; stored in the manifest so appends continue it."""

    users: int  # the base cohort; DAILY_SIGNUP_SHARE * users more sign up every day
    seed: int
    start: date = DEFAULT_START
    events_per_user_day: float = EVENTS_PER_USER_DAY  # mean of an established user per day
    pins: int | None = None  # default: max(200, users // 2)
    experiment: ExperimentSpec | None = field(default_factory=ExperimentSpec)
    traps: TrapRates = field(default_factory=TrapRates)
    # where users live: country -> (share, zones); default both worlds' countries
    countries: Mapping[str, tuple[float, tuple[str, ...]]] = field(default_factory=merged_countries)
    # the world.SPELLINGS name each platform (ios, android, web) writes timestamps in
    spellings: tuple[str, ...] = PLATFORM_SPELLINGS
    # None: the base cohort signed up before day 0 and new users join daily. A number: the base
    # cohort signs up inside days [0, signup_days), front-loaded, and nobody else joins (so
    # early cohorts are large and late ones still immature).
    signup_days: int | None = None
    ghost_users: int = 0  # signed up, never active; assigned at the experiment's start
    category_ties: bool = False  # plant weekly category ties at ranks 1 and 3
    # u0001, e0000001: short ids numbered through the data set (for data sets written whole)
    compact_ids: bool = False
    launches: tuple[LaunchSpec, ...] = ()
    # every unit's saves: x factor from day on (a campaign at the same time as a launch: what a
    # naive pre/post reading credits to the launch), and x the factor of the UTC weekday
    save_shock: tuple[int, float] | None = None
    weekday_save_factors: tuple[float, ...] = WEEKDAY_SAVE_FACTORS
    # every user's click propensity x the factor of their platform (ios, android, web): unlike
    # baselines, which an arm whose platform mix is off turns into a spurious lift
    platform_click_factors: tuple[float, ...] = (1.0, 1.0, 1.0)

    @property
    def n_pins(self) -> int:
        return self.pins if self.pins is not None else max(200, self.users // 2)

    @property
    def daily_signups(self) -> int:
        return 0 if self.signup_days is not None else round(self.users * DAILY_SIGNUP_SHARE)

    @property
    def start_ms(self) -> int:
        return _epoch_ms(self.start)

    def day_ms(self, day: int) -> int:
        return self.start_ms + day * DAY_MS

    def to_json(self) -> dict:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        data["countries"] = {c: [share, list(z)] for c, (share, z) in self.countries.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping) -> GeneratorConfig:
        experiment = data["experiment"]
        if experiment is not None:
            variants = tuple(
                Variant(
                    **{
                        **v,
                        "platform_shares": tuple(tuple(p) for p in v.get("platform_shares", ())),
                        "surface_shares": tuple(tuple(p) for p in v.get("surface_shares", ())),
                    }
                )
                for v in experiment["variants"]
            )
            experiment = ExperimentSpec(**{**experiment, "variants": variants})
        traps = dict(data["traps"])
        traps["bad_row_counts"] = tuple(tuple(entry) for entry in traps["bad_row_counts"])
        return cls(
            **{
                **data,
                "start": date.fromisoformat(data["start"]),
                "experiment": experiment,
                "traps": TrapRates(**traps),
                "countries": {c: (share, tuple(z)) for c, (share, z) in data["countries"].items()},
                "spellings": tuple(data["spellings"]),
                "launches": tuple(
                    LaunchSpec(**{**launch, "treated_units": tuple(launch["treated_units"])})
                    for launch in data.get("launches", ())
                ),
                "save_shock": tuple(data["save_shock"]) if data.get("save_shock") else None,
                "weekday_save_factors": tuple(
                    data.get("weekday_save_factors", (1.0,) * 7)  # before launches: flat
                ),
                "platform_click_factors": tuple(data.get("platform_click_factors", (1.0,) * 3)),
            }
        )


# --------------------------------------------------------------------------------------------
# Profiles


@dataclass(frozen=True)
class Profile:
    """A named data set: a config and how many days of it. The small profiles are written as
    CSV files (datagen.seeds); `scale` is what `metricbook generate` starts from."""

    name: str
    config: GeneratorConfig
    days: int

    @property
    def experiment_id(self) -> str:
        assert self.config.experiment is not None
        return self.config.experiment.experiment_id


def _arms(click_multiplier: float, feed_share: float = 1.0) -> tuple[Variant, ...]:
    return (
        Variant("control", 0.5, is_control=True),
        Variant("treatment", 0.5, click_multiplier=click_multiplier, feed_share=feed_share),
    )


def _hand_placed(**traps: object) -> TrapRates:
    """Exact counts (ints) for a small profile: no rates, no late sessions; what both seed
    profiles plant, with `traps` (and their named bad rows per (table, reason)) on top."""
    shared = {
        "late_sessions": 0.0,
        "bad_rows": 0.0,
        "sessions_at_utc_midnight": 4,
        "duplicate_users": 1,
        "duplicate_pins": 1,
        "assigned_twice_same_variant": 3,
        "assigned_to_two_variants": 2,
        "assigned_after_end": 2,
        "repeated_position_in_request": 2,
        "click_on_unimpressed_pin": 3,
        "duplicate_ranker_scores": 4,
        "conflicting_ranker_scores": 2,
        "unscored_requests": 3,
        "bad_launch_rows": 3,
        "duplicate_launch_rows": 1,
    }
    return TrapRates(**{**shared, **traps})


# The teaching seeds. With ~250 assigned users the readout has low power for the planted +15%
# click lift (a 95% CI about +-22 points wide): the seed was chosen among the seven tried
# (20240304, 101-103, 105-107) as one whose readout finds the effect with the CI containing
# +15%, so the seeds can teach a significant result; the alternate profile has no effect.
# The treatment's shorter feeds (feed_share 0.8) came later: they leave every earlier draw as it
# was and add the position-mix effect on top (raw CTR lift +38.6%, position-adjusted +11.1%).
TEACHING = Profile(
    name="teaching",
    days=42,
    config=GeneratorConfig(
        users=320,
        seed=102,  # see the note on TEACHING above
        start=date(2024, 3, 4),  # a Monday; US daylight saving starts inside the window (Mar 10)
        events_per_user_day=2.8,
        pins=420,
        experiment=ExperimentSpec(
            EXPERIMENT_ID, start_day=21, n_days=14, variants=_arms(1.15, feed_share=0.8)
        ),
        countries=TEACHING_COUNTRIES,
        spellings=("local_colon", "local_colon", "utc_z"),  # the web sends UTC as 'Z'
        signup_days=34,  # the last cohorts are still immature when the window closes
        ghost_users=6,
        category_ties=True,
        # Two launches without a control group (metricbook causal). Idea pins in GB and DE on
        # Thursday 28 March lift saves by 35%, on the day a spring campaign lifts every unit's
        # saves by 25%: pre/post in GB and DE credits the launch with the campaign too. The
        # Android shopping tab on 26 March does nothing, but Android users' saves were already
        # climbing 4% a day: a difference-in-differences credits the trend to it unless the
        # pre-trend check is read.
        launches=(
            LaunchSpec(
                "launch_idea_pins_eu",
                day=24,
                unit_type="country",
                treated_units=("GB", "DE"),
                save_multiplier=1.35,
                hour=8.5,
                utc_offset_minutes=60,
            ),
            LaunchSpec(
                "launch_android_shopping_tab",
                day=22,
                unit_type="platform",
                treated_units=("android",),
                pre_trend=0.04,
                hour=17.0,
                utc_offset_minutes=-240,
            ),
        ),
        save_shock=(24, 1.25),
        compact_ids=True,
        traps=_hand_placed(
            exact_duplicate_events=12,
            retried_events=10,
            bad_variant_rows=0,
            duplicate_transactions=2,
            bad_row_counts=(
                ("raw_users", "missing_user_id", 1),
                ("raw_users", "signup_at_missing_offset", 1),
                ("raw_users", "signup_at_unparseable", 1),
                ("raw_pins", "invalid_is_video", 1),
                ("raw_pins", "created_at_missing_offset", 1),
                ("raw_events", "missing_user_id", 3),
                ("raw_events", "event_at_missing_offset", 4),
                ("raw_events", "event_at_unparseable", 3),
                ("raw_events", "unknown_event_type", 3),
                ("raw_events", "missing_pin_id", 1),
                ("raw_transactions", "negative_amount_usd", 2),
                ("raw_transactions", "unknown_status", 1),
                ("raw_experiment_assignments", "unknown_variant", 1),
                ("raw_experiment_assignments", "assigned_at_missing_offset", 1),
            ),
        ),
    ),
)

ALTERNATE = Profile(
    name="alternate",
    days=35,
    config=GeneratorConfig(
        users=180,
        seed=7,
        start=date(2024, 10, 21),  # Europe and the US leave daylight saving inside the window
        events_per_user_day=3.0,
        pins=250,
        experiment=ExperimentSpec(
            "exp_pin_closeup_redesign", start_day=14, n_days=14, variants=_arms(1.0)
        ),
        countries=ALTERNATE_COUNTRIES,
        # ' ', milliseconds and '+hhmm' everywhere; web clients do not send 'Z'
        spellings=("local_space_ms",) * 3,
        signup_days=27,
        ghost_users=4,
        category_ties=False,
        # a launch that does nothing, in two of six countries
        launches=(
            LaunchSpec(
                "launch_board_sections",
                day=17,
                unit_type="country",
                treated_units=("FR", "NZ"),
                hour=23.5,  # 00:30+01:00 in Paris: the 7 November UTC, the 8th locally
                utc_offset_minutes=60,
            ),
        ),
        compact_ids=True,
        traps=_hand_placed(
            exact_duplicate_events=20,
            retried_events=25,
            bad_variant_rows=1,
            duplicate_transactions=4,
            bad_row_counts=(
                ("raw_users", "signup_at_unparseable", 2),
                ("raw_pins", "missing_category", 2),
                ("raw_pins", "created_at_unparseable", 1),
                ("raw_events", "missing_event_id", 2),
                ("raw_events", "event_at_unparseable", 5),
                ("raw_events", "missing_event_at", 2),
                ("raw_events", "invalid_position", 3),
                ("raw_events", "unknown_event_type", 2),
                ("raw_transactions", "invalid_amount_usd", 2),
                ("raw_transactions", "transacted_at_missing_offset", 1),
                ("raw_transactions", "missing_user_id", 1),
                ("raw_experiment_assignments", "unknown_experiment", 2),
                ("raw_experiment_assignments", "missing_user_id", 1),
            ),
        ),
    ),
)


# Experiment depth: what the teaching experiment cannot show. Three arms, 40/30/30, read on the
# related pins surface (the arms act on every surface). treatment_a lifts clicks x1.15 for
# tenured users and x1.3 for users who signed up in the 7 days before their assignment, x1.4
# more on the day of a user's first assignment (novelty, half-life 3 days since it), and sends
# 30% of its sessions to related pins instead of 15% (more of its users are exposed there).
# About half of the in-window impressions are on a user's assignment day (most users are light),
# so the window's average lift is well above the lasting one. treatment_b does nothing, but an
# assignment bug puts 45% of android users in it and ~18% of ios users (the control absorbs the
# difference): the overall shares stay 40/30/30 and only a per-platform check sees it. Android
# users click x1.6 more, so the naive treatment_b-vs-control CTR shows a lift that post-
# stratification on platform removes (and the control's thinner android share biases the naive
# treatment_a comparison too). Traps at the generator's default rates (not hand-placed), ids
# compact; not shipped in seeds/ (`metricbook seeds --profile depth --out DIR`).
DEPTH_EXPERIMENT_ID = "exp_related_pins_layout"
DEPTH_SURFACE = "related_pins"
DEPTH = Profile(
    name="depth",
    days=30,
    config=GeneratorConfig(
        users=7000,
        seed=18,  # among 14-23, the one whose readout shows each planted effect most cleanly
        start=date(2025, 2, 3),  # a Monday; no daylight-saving change inside the window
        events_per_user_day=0.8,  # many light users: ~3,700 assigned, ~210,000 events
        pins=900,
        experiment=ExperimentSpec(
            DEPTH_EXPERIMENT_ID,
            start_day=14,
            n_days=14,
            surface=DEPTH_SURFACE,
            variants=(
                Variant("control", 0.4, is_control=True),
                Variant(
                    "treatment_a",
                    0.3,
                    click_multiplier=1.15,
                    novelty_boost=0.4,
                    novelty_half_life_days=3.0,
                    new_user_click_multiplier=1.3,
                    new_user_days=7,
                    surface_shares=((DEPTH_SURFACE, 0.3),),
                ),
                Variant(
                    "treatment_b",
                    0.3,
                    platform_shares=balanced_platform_shares(0.3, "android", 0.45, "ios"),
                ),
            ),
        ),
        signup_days=30,
        ghost_users=8,
        compact_ids=True,
        platform_click_factors=(1.0, 1.6, 1.0),
        # The default rates, except raw_ranker_scores' bad rows: its invalid_score recipe writes
        # "0,5", which a CSV must quote, and DuckDB's CSV sniffer (a 20,480-row sample) does not
        # see a quote first met further down, so dbt seed would fail to load the file.
        traps=TrapRates(
            bad_row_counts=(
                ("raw_ranker_scores", "missing_model_id", 150),
                ("raw_ranker_scores", "score_out_of_range", 150),
            )
        ),
    ),
)


# Data at scale: +10% saves in GB, DE and FR from day 10. Fixed, whatever --days says, so a
# longer generate writes what a shorter one plus --append-day writes (with fewer than 11 days
# there is no post-period yet, and `metricbook causal` says so).
SCALE_LAUNCHES = (
    LaunchSpec(
        "launch_idea_pins_eu",
        day=10,
        unit_type="country",
        treated_units=("GB", "DE", "FR"),
        save_multiplier=1.1,
    ),
)


# The scale profile is GeneratorConfig's defaults, which `metricbook generate` starts from (its
# --users, --days and --seed are the user's); its manifest says profile "scale".
PROFILES = {p.name: p for p in (TEACHING, ALTERNATE, DEPTH)}  # the ones `metricbook seeds` writes
