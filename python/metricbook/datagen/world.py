"""The generator's side of the raw contract, declared once: columns, enumerations, timestamp
spellings, the bad-row recipes, the trap vocabulary, the planted experiment effects and the
manifest.

The columns come from models/staging/_raw__sources.yml (metricbook.contract); the enumerations
are the values staging accepts (a test compares them with models/staging). No numpy or pandas
here, so the command line's --help stays light. Adding a raw table: its columns in
_raw__sources.yml, its DEFECTS recipes here, its text in engine._column_sql and the engine step
that simulates its rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from metricbook import contract

RAW_COLUMNS: dict[str, list[str]] = {t: list(c) for t, c in contract.raw_columns().items()}

# --------------------------------------------------------------------------------------------
# Enumerations: what a producer sends as valid values (shares where the generator draws them)

EVENT_TYPES = ("app_open", "impression", "click", "save", "hide")
STATUSES = ("completed", "refunded")
SURFACES = MappingProxyType({"home_feed": 0.6, "search": 0.25, "related_pins": 0.15})
PLATFORMS = MappingProxyType({"ios": 0.45, "android": 0.35, "web": 0.2})
RANKER_MODELS = ("ranker_a", "ranker_b")  # the candidate models raw_ranker_scores replays
CATEGORIES = (
    "art",
    "beauty",
    "diy_crafts",
    "fashion",
    "fitness",
    "gardening",
    "home_decor",
    "recipes",
    "travel",
    "weddings",
)

# country -> (share of users, IANA zones its users live in)
Countries = dict[str, tuple[float, tuple[str, ...]]]
# The teaching world: US daylight saving starts inside a window opening on 2024-03-04.
TEACHING_COUNTRIES: Countries = {
    "US": (0.42, ("America/Los_Angeles", "America/New_York")),
    "GB": (0.12, ("Europe/London",)),
    "DE": (0.10, ("Europe/Berlin",)),
    "JP": (0.14, ("Asia/Tokyo",)),
    "BR": (0.10, ("America/Sao_Paulo",)),
    "AU": (0.08, ("Australia/Sydney",)),
    "KI": (0.04, ("Pacific/Kiritimati",)),  # UTC+14: the earliest clocks on Earth
}
# Untuned zones: half and quarter hours, +13:00 in summer, UTC-10.
ALTERNATE_COUNTRIES: Countries = {
    "US": (0.30, ("America/Chicago", "Pacific/Honolulu")),
    "IN": (0.25, ("Asia/Kolkata",)),  # +05:30
    "NP": (0.05, ("Asia/Kathmandu",)),  # +05:45
    "FR": (0.20, ("Europe/Paris",)),
    "NZ": (0.15, ("Pacific/Auckland",)),
    "WS": (0.05, ("Pacific/Apia",)),
}


def merged_countries() -> Countries:
    """Both worlds' countries and zones (UTC-10 to UTC+14), for data at scale."""
    shares: dict[str, float] = {}
    zones: dict[str, list[str]] = {}
    for countries, weight in ((TEACHING_COUNTRIES, 0.7), (ALTERNATE_COUNTRIES, 0.3)):
        for country, (share, country_zones) in countries.items():
            shares[country] = shares.get(country, 0.0) + weight * share
            known = zones.setdefault(country, [])
            known += [zone for zone in country_zones if zone not in known]
    return {country: (shares[country], tuple(zones[country])) for country in shares}


# --------------------------------------------------------------------------------------------
# Timestamp spellings: every one inside the raw contract (an offset or Z is always there)


@dataclass(frozen=True)
class Spelling:
    """How a client writes an instant: local time with an offset, or UTC with 'Z'."""

    separator: str  # between date and time
    milliseconds: bool
    offset_colon: bool  # '+hh:mm' rather than '+hhmm'
    utc: bool  # send UTC as 'Z' instead of local time

    def strftime(self) -> str:
        return f"%Y-%m-%d{self.separator}%H:%M:%S" + (".%g" if self.milliseconds else "")


SPELLINGS = MappingProxyType(
    {
        "local_colon": Spelling("T", milliseconds=False, offset_colon=True, utc=False),
        "local_space_ms": Spelling(" ", milliseconds=True, offset_colon=False, utc=False),
        "utc_z": Spelling("T", milliseconds=False, offset_colon=True, utc=True),
    }
)

# --------------------------------------------------------------------------------------------
# Bad rows: (table, reject reason) -> {column: replacement}, one defect each, so staging rejects
# the row with exactly that reason. A list is cycled through; NO_OFFSET and UNPARSEABLE stand
# for the row's own timestamp spoiled that way.

NO_OFFSET, UNPARSEABLE = "<no offset>", "<unparseable>"
UNPARSEABLE_TIMESTAMPS = (
    "2024-02-30T10:00:00Z", "yesterday at 5pm", "2024-13-01T09:00:00+01:00",
    "2024-03-11T25:10:00Z", "1710000000", "2024/03/11 10:00:00Z",
)  # fmt: skip
DEFECTS: dict[tuple[str, str], dict[str, object]] = {
    ("raw_users", "missing_user_id"): {"user_id": ""},
    ("raw_users", "signup_at_missing_offset"): {"signup_at": NO_OFFSET},
    ("raw_users", "signup_at_unparseable"): {"signup_at": UNPARSEABLE},
    ("raw_pins", "invalid_is_video"): {"is_video": "maybe"},
    ("raw_pins", "missing_category"): {"category": " "},
    ("raw_pins", "created_at_missing_offset"): {"created_at": NO_OFFSET},
    ("raw_pins", "created_at_unparseable"): {"created_at": UNPARSEABLE},
    ("raw_events", "missing_event_id"): {"event_id": ""},
    ("raw_events", "missing_user_id"): {"user_id": ["", "  "]},
    ("raw_events", "event_at_missing_offset"): {"event_at": NO_OFFSET},
    ("raw_events", "event_at_unparseable"): {"event_at": UNPARSEABLE},
    ("raw_events", "missing_event_at"): {"event_at": ""},
    ("raw_events", "unknown_event_type"): {"event_type": ["purchase", "CLICK", "scroll"]},
    ("raw_events", "missing_pin_id"): {"pin_id": ""},
    ("raw_events", "missing_request_id"): {"request_id": ""},
    ("raw_events", "invalid_position"): {"event_type": "impression",
                                         "position": ["first", "-2", "0"]},
    ("raw_transactions", "negative_amount_usd"): {"amount_usd": "-19.99"},
    ("raw_transactions", "invalid_amount_usd"): {"amount_usd": ["$12.00", "12,50"]},
    ("raw_transactions", "unknown_status"): {"status": "pending"},
    ("raw_transactions", "transacted_at_missing_offset"): {"transacted_at": NO_OFFSET},
    ("raw_transactions", "missing_user_id"): {"user_id": ""},
    ("raw_ranker_scores", "missing_model_id"): {"model_id": ""},
    ("raw_ranker_scores", "invalid_score"): {"score": ["NaN", "high", "0,5"]},
    ("raw_ranker_scores", "score_out_of_range"): {"score": ["1.5", "-0.01", "2e3"]},
    ("raw_experiment_variants", "invalid_traffic_share"): {"traffic_share": "half"},
    ("raw_launches", "unknown_unit_type"): {"unit_type": "region"},
    ("raw_launches", "unknown_unit"): {"treated_unit": "Atlantis"},
    ("raw_launches", "launched_at_missing_offset"): {"launched_at": NO_OFFSET},
    ("raw_experiment_assignments", "unknown_variant"): {"variant": "treatment_b"},
    ("raw_experiment_assignments", "unknown_experiment"): {"experiment_id": "exp_never_declared"},
    ("raw_experiment_assignments", "assigned_at_missing_offset"): {"assigned_at": NO_OFFSET},
    ("raw_experiment_assignments", "missing_user_id"): {"user_id": ""},
}  # fmt: skip

# --------------------------------------------------------------------------------------------
# The trap vocabulary: every trap once, with the table it is in and what staging does with it
# ('duplicate': removed as a duplicate delivery; 'rejected': rejected with a reason although no
# single row is bad; 'staged': kept, a mart must handle it).


@dataclass(frozen=True)
class Trap:
    table: str
    effect: str
    description: str


TRAPS = MappingProxyType(
    {
        "exact_duplicate_events": Trap(
            "raw_events", "duplicate", "An event delivered twice, byte for byte."
        ),
        "retried_events": Trap(
            "raw_events",
            "duplicate",
            "An event re-sent 5-240 s later with the same event_id; the first delivery counts.",
        ),
        "late_events": Trap(
            "raw_events", "staged", "Sessions of an earlier day delivered in a later day's file."
        ),
        "sessions_at_utc_midnight": Trap(
            "raw_events",
            "staged",
            "Sessions at exactly 00:00:00Z belong to the day that starts, not the one that ends "
            "(half-open day boundaries).",
        ),
        "offset_moves_utc_date": Trap(
            "raw_events",
            "staged",
            "Events whose local date differs from their UTC date (late evening at a negative "
            "offset, early morning at +09:00/+14:00): a local-date metric puts them on the "
            "wrong day.",
        ),
        "signup_offset_moves_utc_date": Trap(
            "raw_users",
            "staged",
            "Signups whose local date differs from their UTC date: the cohort is the UTC date.",
        ),
        "duplicate_users": Trap("raw_users", "duplicate", "A user delivered twice."),
        "duplicate_pins": Trap("raw_pins", "duplicate", "A pin re-delivered by the catalogue."),
        "duplicate_transactions": Trap(
            "raw_transactions", "duplicate", "A transaction delivered twice (a retried webhook)."
        ),
        "refunds": Trap(
            "raw_transactions",
            "staged",
            "A refund is its own row with its own id and a positive amount, days later.",
        ),
        "assigned_twice_same_variant": Trap(
            "raw_experiment_assignments",
            "duplicate",
            "Users assigned twice to the same variant; the first assignment counts.",
        ),
        "assigned_to_two_variants": Trap(
            "raw_experiment_assignments",
            "staged",
            "Users assigned to two variants; the experiment marts must exclude them.",
        ),
        "assigned_after_end": Trap(
            "raw_experiment_assignments",
            "staged",
            "Assignments after end_at; ignored by the experiment marts.",
        ),
        "assigned_without_activity": Trap(
            "raw_experiment_assignments",
            "staged",
            "Assigned users with no events: they stay in the experiment with zeros.",
        ),
        "requests_without_engagement": Trap(
            "raw_events",
            "staged",
            "Feed requests with no click, save or hide: no relevant item, so NDCG is undefined "
            "(NULL), not 0 or 1.",
        ),
        "saves_without_click": Trap(
            "raw_events",
            "staged",
            "A save straight from the feed, without a click: relevance 2 with no click.",
        ),
        "click_on_unimpressed_pin": Trap(
            "raw_events",
            "rejected",
            "A click on a pin its request never showed (engagement_without_impression).",
        ),
        "repeated_position_in_request": Trap(
            "raw_events",
            "rejected",
            "An impression repeating a feed position of its request: every event of the request "
            "is rejected.",
        ),
        "duplicate_ranker_scores": Trap(
            "raw_ranker_scores", "duplicate", "A model score delivered twice, byte for byte."
        ),
        "conflicting_ranker_scores": Trap(
            "raw_ranker_scores",
            "rejected",
            "A score re-delivered with a different value: both deliveries are rejected "
            "(conflicting_scores).",
        ),
        "tied_ranker_scores": Trap(
            "raw_ranker_scores",
            "staged",
            "Requests where ranker_b (two decimals) gives two served pins the same score: the "
            "re-ranking breaks ties by pin_id.",
        ),
        "unscored_requests": Trap(
            "raw_ranker_scores",
            "staged",
            "Requests no candidate model scored: left out of the offline evaluation and counted.",
        ),
        "duplicate_launch_rows": Trap(
            "raw_launches", "duplicate", "A launch's row for one treated unit delivered twice."
        ),
        "concurrent_shock": Trap(
            "raw_events",
            "staged",
            "Every unit's saves rise from a launch's date (a campaign at the same time): pre/post "
            "in the treated units credits it to the launch; a comparison group removes it.",
        ),
        "diverging_pre_trend": Trap(
            "raw_events",
            "staged",
            "A launch whose treated units' saves were already trending away from the others: "
            "parallel trends fail, and the event study's pre-trend test says so.",
        ),
        "weekday_seasonality": Trap(
            "raw_events",
            "staged",
            "Saves vary by UTC weekday: a pre or post period of unlike weekdays moves the mean.",
        ),
        "weekly_category_tie_rank_1": Trap(
            "raw_events",
            "staged",
            "Saves planted so two categories tie at rank 1 of a week in the largest country.",
        ),
        "weekly_category_tie_rank_3": Trap(
            "raw_events",
            "staged",
            "Saves planted so two categories tie at rank 3 (the top-3 boundary) of a week.",
        ),
    }
)

# --------------------------------------------------------------------------------------------
# Planted experiment behaviour beyond an arm's flat multipliers. A manifest lists the ones its
# profile plants under "effects" (with their parameters), and has no "effects" key when it plants
# none, so the seeds' and the alternate set's manifests are as they were.

EFFECTS = MappingProxyType(
    {
        "novelty_effect": (
            "An arm's click lift is larger on a user's first days since their first assignment "
            "and decays with a half-life: a short experiment, or a readout by days since "
            "assignment, overstates the lasting effect."
        ),
        "heterogeneous_effect": (
            "An arm lifts clicks more for users who signed up shortly before their assignment "
            "than for tenured users: the average effect hides the segments."
        ),
        "surface_exposure_shift": (
            "An arm sends more of its sessions to one surface: more of its users reach it, so a "
            "readout filtered to the users exposed to that surface compares unlike groups."
        ),
        "platform_assignment_skew": (
            "An assignment bug: an arm takes more of one platform's users and fewer of another's "
            "(the control absorbs the difference), with its overall share as designed, so the "
            "overall SRM check passes and a per-platform check fails."
        ),
        "platform_ctr_gap": (
            "Platforms' baseline click-through differs: an arm whose platform mix is off shows a "
            "spurious CTR lift that post-stratification on platform removes."
        ),
    }
)

# --------------------------------------------------------------------------------------------
# The manifest: one file and one schema for the seeds, the alternate set and data at scale

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "metricbook.datagen/2"
EXAMPLE_IDS = 10  # ids listed per trap; counts are always complete
