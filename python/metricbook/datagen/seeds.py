"""Deterministic generator of the raw tables shipped as seeds (and of alternative file sets).

The data is Pinterest-like: users in several countries and time zones open the app, scroll
feeds on three surfaces, click, save and hide pins that live in categories on boards, buy a
few things, and take part in an A/B test. On top of that realistic base every trap the metrics
guard against is planted on purpose, and each planted row is recorded in a `Manifest`, so tests
know what staging must reject, which deliveries are duplicates, and where the traps are.

`generate(profile)` returns tables of strings exactly as a producer would deliver them;
`write_csv` writes them; `python -m metricbook.datagen.seeds --out seeds` regenerates the seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from metricbook import contract

# The raw contract, declared once in models/staging/_raw__sources.yml.
RAW_COLUMNS: dict[str, list[str]] = {t: list(c) for t, c in contract.raw_columns().items()}

CATEGORIES = [
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
]
SURFACES = {"home_feed": 0.6, "search": 0.25, "related_pins": 0.15}
PLATFORMS = {"ios": 0.45, "android": 0.35, "web": 0.2}

Row = dict[str, str]


@dataclass(frozen=True)
class Profile:
    """What to generate: size, shape and which traps. Two profiles ship: TEACHING (the seeds)
    and ALTERNATE (different zones, spellings and bad rows, for tests on untuned data)."""

    name: str
    seed: int
    n_users: int
    n_pins: int
    start: date
    n_days: int
    # country -> (share of users, IANA zones the country's users live in)
    countries: dict[str, tuple[float, tuple[str, ...]]]
    # how offsets are spelled: '+hh:mm' or '+hhmm'; web clients send UTC as 'Z' when True
    offset_colon: bool = True
    web_sends_utc: bool = True
    date_time_separator: str = "T"
    fractional_seconds: bool = False
    n_exact_duplicate_events: int = 12
    n_retried_events: int = 10
    n_duplicate_transactions: int = 2
    experiment_id: str = "exp_home_feed_ranking_v2"
    experiment_start_day: int = 21
    experiment_days: int = 14
    treatment_click_lift: float = 0.15
    # bad rows: (table, reason) -> how many
    bad_rows: dict[tuple[str, str], int] = field(default_factory=dict)


TEACHING = Profile(
    name="teaching",
    seed=20240304,
    n_users=320,
    n_pins=420,
    start=date(2024, 3, 4),  # a Monday; US daylight saving starts inside the window (Mar 10)
    n_days=42,
    countries={
        "US": (0.42, ("America/Los_Angeles", "America/New_York")),
        "GB": (0.12, ("Europe/London",)),
        "DE": (0.10, ("Europe/Berlin",)),
        "JP": (0.14, ("Asia/Tokyo",)),
        "BR": (0.10, ("America/Sao_Paulo",)),
        "AU": (0.08, ("Australia/Sydney",)),
        "KI": (0.04, ("Pacific/Kiritimati",)),  # UTC+14: the earliest clocks on Earth
    },
    bad_rows={
        ("raw_users", "missing_user_id"): 1,
        ("raw_users", "signup_at_missing_offset"): 1,
        ("raw_users", "signup_at_unparseable"): 1,
        ("raw_pins", "invalid_is_video"): 1,
        ("raw_pins", "created_at_missing_offset"): 1,
        ("raw_events", "missing_user_id"): 3,
        ("raw_events", "event_at_missing_offset"): 4,
        ("raw_events", "event_at_unparseable"): 3,
        ("raw_events", "unknown_event_type"): 3,
        ("raw_events", "missing_pin_id"): 1,
        ("raw_transactions", "negative_amount_usd"): 2,
        ("raw_transactions", "unknown_status"): 1,
        ("raw_experiment_assignments", "unknown_variant"): 1,
        ("raw_experiment_assignments", "assigned_at_missing_offset"): 1,
    },
)

ALTERNATE = Profile(
    name="alternate",
    seed=7,
    n_users=180,
    n_pins=250,
    start=date(2024, 10, 21),  # Europe and the US leave daylight saving inside this window
    n_days=35,
    countries={
        "US": (0.30, ("America/Chicago", "Pacific/Honolulu")),
        "IN": (0.25, ("Asia/Kolkata",)),  # +05:30: half-hour offsets
        "NP": (0.05, ("Asia/Kathmandu",)),  # +05:45
        "FR": (0.20, ("Europe/Paris",)),
        "NZ": (0.15, ("Pacific/Auckland",)),  # +13:00 in summer
        "WS": (0.05, ("Pacific/Apia",)),
    },
    offset_colon=False,
    web_sends_utc=False,
    date_time_separator=" ",
    fractional_seconds=True,
    n_exact_duplicate_events=20,
    n_retried_events=25,
    n_duplicate_transactions=4,
    experiment_id="exp_pin_closeup_redesign",
    experiment_start_day=14,
    experiment_days=14,
    treatment_click_lift=0.0,
    bad_rows={
        ("raw_users", "signup_at_unparseable"): 2,
        ("raw_pins", "missing_category"): 2,
        ("raw_pins", "created_at_unparseable"): 1,
        ("raw_events", "missing_event_id"): 2,
        ("raw_events", "event_at_unparseable"): 5,
        ("raw_events", "missing_event_at"): 2,
        ("raw_events", "invalid_position"): 3,
        ("raw_events", "unknown_event_type"): 2,
        ("raw_transactions", "invalid_amount_usd"): 2,
        ("raw_transactions", "transacted_at_missing_offset"): 1,
        ("raw_transactions", "missing_user_id"): 1,
        ("raw_experiment_variants", "invalid_traffic_share"): 1,
        ("raw_experiment_assignments", "unknown_experiment"): 2,
        ("raw_experiment_assignments", "missing_user_id"): 1,
    },
)

PROFILES = {p.name: p for p in (TEACHING, ALTERNATE)}


@dataclass
class Manifest:
    """Ground truth about the planted traps, written beside the CSVs."""

    profile: str
    raw_rows: dict[str, int] = field(default_factory=dict)
    # table -> reason -> rows staging must reject with that reason
    expected_rejects: dict[str, dict[str, int]] = field(default_factory=dict)
    # table -> duplicate deliveries staging must remove
    expected_duplicates: dict[str, int] = field(default_factory=dict)
    # trap name -> human-readable description and the ids involved
    traps: dict[str, dict[str, object]] = field(default_factory=dict)

    def add_trap(self, name: str, description: str, **ids: object) -> None:
        self.traps[name] = {"description": description, **ids}


@dataclass
class RawDataset:
    tables: dict[str, pd.DataFrame]
    manifest: Manifest


# --------------------------------------------------------------------------------------------
# Timestamp spelling


def _format_ts(instant: datetime, zone: str | None, profile: Profile) -> str:
    """Spell an aware instant the way a client in `zone` would; None means 'send UTC as Z'."""
    sep = profile.date_time_separator
    fmt = f"%Y-%m-%d{sep}%H:%M:%S"
    if zone is None:
        utc = instant.astimezone(UTC)
        frac = f".{utc.microsecond // 1000:03d}" if profile.fractional_seconds else ""
        return utc.strftime(fmt) + frac + "Z"
    local = instant.astimezone(ZoneInfo(zone))
    frac = f".{local.microsecond // 1000:03d}" if profile.fractional_seconds else ""
    offset = local.strftime("%z")  # +hhmm
    if profile.offset_colon:
        offset = offset[:3] + ":" + offset[3:]
    return local.strftime(fmt) + frac + offset


def _utc(d: date, seconds: float) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(seconds=seconds)


def _local(d: date, seconds: float, zone: str) -> datetime:
    """An aware instant at `seconds` past local midnight of date d in zone."""
    midnight = datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(zone))
    return (midnight + timedelta(seconds=seconds)).astimezone(UTC)


# --------------------------------------------------------------------------------------------
# The realistic base


@dataclass
class _User:
    user_id: str
    country: str
    zone: str
    platform: str
    signup: datetime
    signup_day: int
    activity: float  # expected sessions per active day, heavy-tailed
    stickiness: float  # base probability of coming back on a day
    favourite_categories: tuple[str, ...]
    click_propensity: float
    is_ghost: bool = False  # signed up, never did anything


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return str(rng.choice(keys, p=p / p.sum()))


def _make_users(rng: np.random.Generator, profile: Profile) -> list[_User]:
    users = []
    country_weights = {c: share for c, (share, _) in profile.countries.items()}
    last_signup_day = profile.n_days - 8
    for i in range(profile.n_users):
        country = _pick(rng, country_weights)
        zones = profile.countries[country][1]
        zone = zones[int(rng.integers(len(zones)))]
        # Signups front-loaded, so early cohorts are large and late cohorts are still immature.
        signup_day = min(int(rng.exponential(last_signup_day / 2.2)), last_signup_day)
        # Local signup time mostly in waking hours, some late in the evening.
        local_seconds = float(rng.uniform(7 * 3600, 23.9 * 3600))
        signup_local_date = profile.start + timedelta(days=signup_day)
        signup = _local(signup_local_date, local_seconds, zone)
        users.append(
            _User(
                user_id=f"u{i + 1:04d}",
                country=country,
                zone=zone,
                platform=_pick(rng, PLATFORMS),
                signup=signup,
                signup_day=signup_day,
                activity=float(min(rng.lognormal(mean=0.0, sigma=0.6), 6.0)),
                stickiness=float(rng.beta(2.0, 3.0)),
                favourite_categories=tuple(
                    rng.choice(
                        CATEGORIES, size=3, replace=False, p=_zipf_weights(len(CATEGORIES), 0.8)
                    )
                ),
                click_propensity=float(rng.beta(2.0, 18.0)),
            )
        )
    # A few users sign up and are never seen again: they exist for "assigned but inactive".
    for user in users[-6:]:
        user.is_ghost = True
    return users


def _zipf_weights(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


@dataclass
class _Pin:
    pin_id: str
    board_id: str
    creator_id: str
    category: str
    is_video: bool
    created: datetime


def _make_pins(rng: np.random.Generator, profile: Profile, users: list[_User]) -> list[_Pin]:
    pins = []
    category_weights = _zipf_weights(len(CATEGORIES), 0.7)
    creators = [u for u in users if not u.is_ghost][:60]
    for i in range(profile.n_pins):
        creator = creators[int(rng.integers(len(creators)))]
        category = str(rng.choice(CATEGORIES, p=category_weights))
        # Pins exist before the window opens; created in the creator's own zone.
        created = _local(
            profile.start - timedelta(days=int(rng.integers(1, 120))),
            float(rng.uniform(0, 86399)),
            creator.zone,
        )
        pins.append(
            _Pin(
                pin_id=f"p{i + 1:05d}",
                board_id=f"b{creator.user_id[1:]}{CATEGORIES.index(category):02d}",
                creator_id=creator.user_id,
                category=category,
                is_video=bool(rng.random() < 0.2),
                created=created,
            )
        )
    return pins


@dataclass
class _Event:
    event_id: str
    user: _User
    pin: _Pin | None
    event_type: str
    surface: str
    position: int | None
    at: datetime


@dataclass
class _Experiment:
    experiment_id: str
    start: datetime
    end: datetime
    variants: dict[str, tuple[bool, float]]  # variant -> (is_control, traffic_share)
    assignment: dict[str, tuple[str, datetime]] = field(default_factory=dict)


class _Generator:
    def __init__(self, profile: Profile):
        self.profile = profile
        self.rng = np.random.default_rng(profile.seed)
        self.manifest = Manifest(profile=profile.name)
        self.users = _make_users(self.rng, profile)
        self.pins = _make_pins(self.rng, profile, self.users)
        self.pins_by_category: dict[str, list[_Pin]] = {}
        for pin in self.pins:
            self.pins_by_category.setdefault(pin.category, []).append(pin)
        self.pin_popularity = {
            c: _zipf_weights(len(ps), 1.1) for c, ps in self.pins_by_category.items()
        }
        start = _utc(profile.start + timedelta(days=profile.experiment_start_day), 0)
        self.experiment = _Experiment(
            experiment_id=profile.experiment_id,
            start=start,
            end=start + timedelta(days=profile.experiment_days) - timedelta(seconds=1),
            variants={"control": (True, 0.5), "treatment": (False, 0.5)},
        )
        self.events: list[_Event] = []
        self.transactions: list[Row] = []
        self._event_counter = 0
        self._transaction_counter = 0

    # -- ids ---------------------------------------------------------------------------------
    def _next_event_id(self) -> str:
        self._event_counter += 1
        return f"e{self._event_counter:07d}"

    def _next_transaction_id(self) -> str:
        self._transaction_counter += 1
        return f"t{self._transaction_counter:05d}"

    def ts(self, instant: datetime, user: _User) -> str:
        zone = None if (self.profile.web_sends_utc and user.platform == "web") else user.zone
        return _format_ts(instant, zone, self.profile)

    # -- behaviour ---------------------------------------------------------------------------
    def _choose_pin(self, user: _User) -> _Pin:
        if self.rng.random() < 0.7:
            category = user.favourite_categories[int(self.rng.choice(3, p=[0.6, 0.3, 0.1]))]
        else:
            category = CATEGORIES[int(self.rng.integers(len(CATEGORIES)))]
        pins = self.pins_by_category.get(category) or self.pins
        weights = self.pin_popularity.get(category)
        if weights is None:
            return pins[int(self.rng.integers(len(pins)))]
        return pins[int(self.rng.choice(len(pins), p=weights))]

    def _assign_if_eligible(self, user: _User, at: datetime) -> str | None:
        """Assignment happens at the first app open inside the experiment window."""
        exp = self.experiment
        if user.user_id in exp.assignment:
            return exp.assignment[user.user_id][0]
        if not (exp.start <= at <= exp.end):
            return None
        variant = "treatment" if self.rng.random() < 0.5 else "control"
        exp.assignment[user.user_id] = (variant, at)
        return variant

    def _session(self, user: _User, day: date) -> None:
        p = self.profile
        # Most sessions in the evening, local time; some cross local or UTC midnight.
        local_seconds = float(np.clip(self.rng.normal(19.5 * 3600, 3.5 * 3600), 0, 86399))
        t = _local(day, local_seconds, user.zone)
        self._emit(user, None, "app_open", "home_feed", None, t)
        variant = self._assign_if_eligible(user, t)
        lift = 1.0 + (p.treatment_click_lift if variant == "treatment" else 0.0)
        surface = _pick(self.rng, SURFACES)
        n_impressions = int(self.rng.poisson(7)) + 1
        for position in range(1, n_impressions + 1):
            t += timedelta(seconds=float(self.rng.exponential(6)) + 1)
            pin = self._choose_pin(user)
            self._emit(user, pin, "impression", surface, position, t)
            # Click-through falls with feed position: the reason position is recorded at all.
            p_click = min(0.95, user.click_propensity * lift * 2.5 / (1 + 0.35 * (position - 1)))
            if self.rng.random() < p_click:
                t += timedelta(seconds=float(self.rng.exponential(4)) + 1)
                self._emit(user, pin, "click", surface, position, t)
                if self.rng.random() < 0.35:
                    t += timedelta(seconds=float(self.rng.exponential(10)) + 1)
                    self._emit(user, pin, "save", surface, position, t)
                if self.rng.random() < 0.04:
                    self._purchase(user, pin, t + timedelta(minutes=float(self.rng.uniform(1, 30))))
            elif self.rng.random() < 0.03:
                t += timedelta(seconds=2)
                self._emit(user, pin, "save", surface, position, t)
            elif self.rng.random() < 0.025:
                t += timedelta(seconds=2)
                self._emit(user, pin, "hide", surface, position, t)

    def _emit(
        self,
        user: _User,
        pin: _Pin | None,
        event_type: str,
        surface: str,
        position: int | None,
        at: datetime,
    ) -> _Event:
        event = _Event(self._next_event_id(), user, pin, event_type, surface, position, at)
        self.events.append(event)
        return event

    def _purchase(self, user: _User, pin: _Pin, at: datetime) -> None:
        amount = round(float(self.rng.lognormal(3.1, 0.6)), 2)
        self.transactions.append(self._transaction_row(user, pin, amount, "completed", at))
        if self.rng.random() < 0.15:
            # A refund is its own money movement with its own id, a positive amount, later on.
            refund_at = at + timedelta(days=float(self.rng.uniform(1, 6)))
            self.transactions.append(
                self._transaction_row(user, pin, amount, "refunded", refund_at)
            )

    def _transaction_row(
        self, user: _User, pin: _Pin, amount: float, status: str, at: datetime
    ) -> Row:
        return {
            "transaction_id": self._next_transaction_id(),
            "user_id": user.user_id,
            "pin_id": pin.pin_id,
            "amount_usd": f"{amount:.2f}",
            "status": status,
            "transacted_at": self.ts(at, user),
        }

    def simulate(self) -> None:
        p = self.profile
        for user in self.users:
            if user.is_ghost:
                continue
            for day_index in range(user.signup_day, p.n_days):
                age = day_index - user.signup_day
                # Day 0 always active; afterwards a decaying, user-specific return probability.
                p_active = 1.0 if age == 0 else user.stickiness * (0.35 + 0.65 * np.exp(-age / 9))
                if self.rng.random() >= p_active:
                    continue
                day = p.start + timedelta(days=day_index)
                for _ in range(1 + int(self.rng.poisson(user.activity * 0.6))):
                    self._session(user, day)
        # Keep only what happened inside the window (sessions can spill past local midnight).
        window_end = _utc(p.start + timedelta(days=p.n_days), 0) + timedelta(hours=12)
        self.events = [e for e in self.events if e.at < window_end]

    # -- rows --------------------------------------------------------------------------------
    def event_row(self, event: _Event) -> Row:
        return {
            "event_id": event.event_id,
            "user_id": event.user.user_id,
            "pin_id": event.pin.pin_id if event.pin else "",
            "event_type": event.event_type,
            "surface": event.surface,
            "position": "" if event.position is None else str(event.position),
            "event_at": self.ts(event.at, event.user),
        }


# --------------------------------------------------------------------------------------------
# Traps


def _plant_traps(g: _Generator) -> dict[str, list[Row]]:
    p, rng, m = g.profile, g.rng, g.manifest
    active = [u for u in g.users if not u.is_ghost]

    # Deliberate clock traps on top of the natural ones.
    by_zone: dict[str, _User] = {}
    for u in active:
        by_zone.setdefault(u.zone, u)
    crossing_events = []
    day = p.start + timedelta(days=4)  # before US daylight saving: Los Angeles is at -08:00
    for zone, local_hour in (
        ("America/Los_Angeles", 23.5),
        ("Asia/Tokyo", 6.0),
        ("Pacific/Kiritimati", 5.0),
        ("Asia/Kolkata", 2.0),
        ("Pacific/Auckland", 7.0),
        ("Pacific/Honolulu", 21.0),
    ):
        user = by_zone.get(zone)
        if user is None:
            continue
        e = g._emit(user, None, "app_open", "home_feed", None, _local(day, local_hour * 3600, zone))
        crossing_events.append(e.event_id)
    m.add_trap(
        "offset_moves_utc_date",
        "Local time and UTC fall on different calendar dates (late evening at a negative "
        "offset, early morning at +09:00/+14:00): a local-date metric puts these on the "
        "wrong day.",
        event_ids=crossing_events,
    )

    midnight_events = []
    for k, u in enumerate(active[:4]):
        at = _utc(p.start + timedelta(days=10 + 7 * k), 0)  # exactly 00:00:00Z
        e = g._emit(u, None, "app_open", "home_feed", None, at)
        midnight_events.append(e.event_id)
    m.add_trap(
        "event_at_utc_midnight",
        "Events at exactly 00:00:00Z belong to the day that starts, not the one that ends "
        "(half-open day boundaries).",
        event_ids=midnight_events,
    )

    # The same pin saved twice by one user (two real save events, different event ids).
    saver = next(u for u in active if u.country == "US" and u.signup_day < 10)
    pin = g._choose_pin(saver)
    first = _local(p.start + timedelta(days=15), 20 * 3600, saver.zone)
    e1 = g._emit(saver, pin, "save", "search", 2, first)
    e2 = g._emit(saver, pin, "save", "home_feed", 5, first + timedelta(days=1, hours=1))
    m.add_trap(
        "same_pin_saved_twice",
        "One user saved one pin twice in the same week: it counts once in saves.",
        user_id=saver.user_id,
        pin_id=pin.pin_id,
        event_ids=[e1.event_id, e2.event_id],
    )

    _plant_category_ties(g)

    rows = {"raw_events": [g.event_row(e) for e in g.events]}

    # Duplicate deliveries: exact copies, and retries of one event_id with a later timestamp.
    candidates = [e for e in g.events if e.event_type != "app_open"]
    exact = rng.choice(len(candidates), size=p.n_exact_duplicate_events, replace=False)
    exact_ids = [candidates[int(i)].event_id for i in exact]
    for i in exact:
        rows["raw_events"].insert(
            int(rng.integers(len(rows["raw_events"]))), g.event_row(candidates[int(i)])
        )
    retry_ids = []
    # Retries include events late in a UTC day, so a retry would move them to the next date.
    late = [e for e in g.events if e.at.hour == 23 and e.at.minute >= 58]
    retry_pool = late[: max(2, p.n_retried_events // 3)] + [
        candidates[int(i)]
        for i in rng.choice(len(candidates), size=p.n_retried_events, replace=False)
    ]
    seen: set[str] = set(exact_ids)
    for e in retry_pool:
        if e.event_id in seen or len(retry_ids) >= p.n_retried_events:
            continue
        seen.add(e.event_id)
        retried = dataclasses.replace(e, at=e.at + timedelta(seconds=float(rng.uniform(5, 240))))
        rows["raw_events"].append(g.event_row(retried))
        retry_ids.append(e.event_id)
    m.add_trap(
        "exact_duplicate_delivery",
        "The same event delivered twice, byte for byte.",
        event_ids=exact_ids,
    )
    m.add_trap(
        "retried_delivery_later_timestamp",
        "The same event_id delivered again with a later timestamp (client retry); the "
        "earliest delivery is the event.",
        event_ids=retry_ids,
    )
    m.expected_duplicates["raw_events"] = len(exact_ids) + len(retry_ids)

    # Transactions: duplicates of a completed purchase (retried webhook).
    tx_rows = list(g.transactions)
    dup_tx = [
        tx_rows[int(i)]
        for i in rng.choice(len(tx_rows), size=p.n_duplicate_transactions, replace=False)
    ]
    for row in dup_tx:
        tx_rows.append(dict(row))
    m.expected_duplicates["raw_transactions"] = len(dup_tx)
    m.add_trap(
        "duplicate_transaction_delivery",
        "A transaction delivered twice.",
        transaction_ids=[r["transaction_id"] for r in dup_tx],
    )
    rows["raw_transactions"] = tx_rows
    return rows


def _plant_category_ties(g: _Generator) -> None:
    """Make weekly category save counts tie, at rank 1 and at the top-3 boundary."""
    p, m = g.profile, g.manifest
    country = max(p.countries, key=lambda c: p.countries[c][0])
    users = [u for u in g.users if u.country == country and not u.is_ghost]
    for week_index, tie_rank in ((1, 1), (3, 3)):
        week_start = p.start + timedelta(days=7 * week_index - p.start.weekday())
        week_end = week_start + timedelta(days=7)
        pairs: dict[str, set[tuple[str, str]]] = {c: set() for c in CATEGORIES}
        for e in g.events:
            d = e.at.date()
            if e.event_type == "save" and e.user.country == country and week_start <= d < week_end:
                pairs[e.pin.category].add((e.user.user_id, e.pin.pin_id))
        ranked = sorted(CATEGORIES, key=lambda c: (-len(pairs[c]), c))
        leader, chaser = ranked[tie_rank - 1], ranked[tie_rank]
        # Raise the chaser to the leader's count with new distinct (user, pin) saves.
        added = []
        for u in users:
            if len(pairs[chaser]) >= len(pairs[leader]):
                break
            for pin in g.pins_by_category[chaser]:
                if (u.user_id, pin.pin_id) not in pairs[chaser]:
                    at = _utc(week_start + timedelta(days=2), 13 * 3600 + 60 * len(added))
                    e = g._emit(u, pin, "save", "search", 1, at)
                    pairs[chaser].add((u.user_id, pin.pin_id))
                    added.append(e.event_id)
                    break
        m.add_trap(
            f"weekly_category_tie_rank_{tie_rank}",
            f"Week of {week_start.isoformat()} in {country}: '{leader}' and '{chaser}' "
            f"have the same number of saves ({len(pairs[leader])}) at rank {tie_rank}.",
            week_start=week_start.isoformat(),
            country=country,
            categories=sorted([leader, chaser]),
            saves=len(pairs[leader]),
            event_ids=added,
        )


def _experiment_rows(g: _Generator) -> dict[str, list[Row]]:
    p, rng, m, exp = g.profile, g.rng, g.manifest, g.experiment
    utc_zone = None
    experiments = [
        {
            "experiment_id": exp.experiment_id,
            "start_at": _format_ts(exp.start, utc_zone, p),
            "end_at": _format_ts(exp.end, utc_zone, p),
        }
    ]
    variants = [
        {
            "experiment_id": exp.experiment_id,
            "variant": v,
            "is_control": "true" if is_control else "false",
            "traffic_share": f"{share:.2f}",
        }
        for v, (is_control, share) in exp.variants.items()
    ]
    users = {u.user_id: u for u in g.users}
    assignments = [
        {
            "experiment_id": exp.experiment_id,
            "user_id": uid,
            "variant": variant,
            "assigned_at": g.ts(at, users[uid]),
        }
        for uid, (variant, at) in sorted(exp.assignment.items())
    ]
    assigned = sorted(exp.assignment)

    # Assigned twice to the same variant (the second, later assignment is a duplicate).
    twice = [assigned[int(i)] for i in rng.choice(len(assigned), size=3, replace=False)]
    for uid in twice:
        variant, at = exp.assignment[uid]
        assignments.append(
            {
                "experiment_id": exp.experiment_id,
                "user_id": uid,
                "variant": variant,
                "assigned_at": g.ts(at + timedelta(hours=5), users[uid]),
            }
        )
    m.expected_duplicates["raw_experiment_assignments"] = len(twice)
    m.add_trap(
        "assigned_twice_same_variant",
        "Users assigned twice to the same variant; the first assignment counts.",
        user_ids=twice,
    )

    # Assigned to both variants: the user saw both experiences, so must be excluded.
    remaining = [u for u in assigned if u not in twice]
    conflicts = [remaining[int(i)] for i in rng.choice(len(remaining), size=2, replace=False)]
    for uid in conflicts:
        variant, at = exp.assignment[uid]
        other = "control" if variant == "treatment" else "treatment"
        assignments.append(
            {
                "experiment_id": exp.experiment_id,
                "user_id": uid,
                "variant": other,
                "assigned_at": g.ts(at + timedelta(days=2), users[uid]),
            }
        )
    m.add_trap(
        "assigned_to_two_variants",
        "Users assigned to both variants; the experiment mart must exclude them.",
        user_ids=conflicts,
    )

    # Assigned after the experiment ended: a valid row that the experiment mart ignores.
    unassigned = [u for u in g.users if u.user_id not in exp.assignment and not u.is_ghost]
    late_users = [unassigned[0].user_id, unassigned[1].user_id] if len(unassigned) > 1 else []
    for uid in late_users:
        assignments.append(
            {
                "experiment_id": exp.experiment_id,
                "user_id": uid,
                "variant": "treatment",
                "assigned_at": g.ts(exp.end + timedelta(days=1, hours=3), users[uid]),
            }
        )
    m.add_trap(
        "assigned_after_end",
        "Assignments after end_at; ignored by the experiment mart.",
        user_ids=late_users,
    )

    # Assigned users with no activity at all (server-side assignment at signup).
    ghosts = [u for u in g.users if u.is_ghost][:4]
    for k, u in enumerate(ghosts):
        variant = "control" if k % 2 == 0 else "treatment"
        assignments.append(
            {
                "experiment_id": exp.experiment_id,
                "user_id": u.user_id,
                "variant": variant,
                "assigned_at": g.ts(exp.start + timedelta(hours=10 + k), u),
            }
        )
    m.add_trap(
        "assigned_without_activity",
        "Assigned users with no events: they stay in the experiment with zeros.",
        user_ids=[u.user_id for u in ghosts],
    )
    return {
        "raw_experiments": experiments,
        "raw_experiment_variants": variants,
        "raw_experiment_assignments": assignments,
    }


# One defect per bad row: (table, reason) -> {column: replacement}. A list is cycled through by
# the row's index; NO_OFFSET and UNPARSEABLE stand for the row's own timestamp spoiled that way.
NO_OFFSET, UNPARSEABLE = "<no offset>", "<unparseable>"
UNPARSEABLE_TIMESTAMPS = [
    "2024-02-30T10:00:00Z", "yesterday at 5pm", "2024-13-01T09:00:00+01:00",
    "2024-03-11T25:10:00Z", "1710000000", "2024/03/11 10:00:00Z",
]  # fmt: skip
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
    ("raw_events", "invalid_position"): {"event_type": "impression",
                                         "position": ["first", "-2", "0"]},
    ("raw_transactions", "negative_amount_usd"): {"amount_usd": "-19.99"},
    ("raw_transactions", "invalid_amount_usd"): {"amount_usd": ["$12.00", "12,50"]},
    ("raw_transactions", "unknown_status"): {"status": "pending"},
    ("raw_transactions", "transacted_at_missing_offset"): {"transacted_at": NO_OFFSET},
    ("raw_transactions", "missing_user_id"): {"user_id": ""},
    ("raw_experiment_variants", "invalid_traffic_share"): {"traffic_share": "half"},
    ("raw_experiment_assignments", "unknown_variant"): {"variant": "treatment_b"},
    ("raw_experiment_assignments", "unknown_experiment"): {"experiment_id": "exp_never_declared"},
    ("raw_experiment_assignments", "assigned_at_missing_offset"): {"assigned_at": NO_OFFSET},
    ("raw_experiment_assignments", "missing_user_id"): {"user_id": ""},
}  # fmt: skip


def _bad_row(g: _Generator, table: str, reason: str, k: int) -> Row:
    """The k-th row that staging must reject with exactly `reason`: a valid row, one defect."""
    p, exp = g.profile, g.experiment
    user = g.users[(7 * k + 3) % len(g.users)]
    at = _local(p.start + timedelta(days=5 + k), 15 * 3600, user.zone)
    good_ts = g.ts(at, user)
    bad_id = f"bad_{table.removeprefix('raw_')}_{reason}_{k}"
    pin = g.pins[k % len(g.pins)]
    valid: dict[str, Row] = {
        "raw_users": {"user_id": f"u9{k:03d}", "signup_at": good_ts, "country": user.country,
                      "platform": "ios"},
        "raw_pins": {"pin_id": f"p9{k:04d}", "board_id": "b_bad", "creator_id": user.user_id,
                     "category": "art", "is_video": "false", "created_at": good_ts},
        "raw_events": {"event_id": bad_id, "user_id": user.user_id, "pin_id": pin.pin_id,
                       "event_type": "click", "surface": "home_feed", "position": "3",
                       "event_at": good_ts},
        "raw_transactions": {"transaction_id": bad_id, "user_id": user.user_id,
                             "pin_id": pin.pin_id, "amount_usd": "19.99", "status": "completed",
                             "transacted_at": good_ts},
        "raw_experiment_variants": {"experiment_id": exp.experiment_id, "variant": f"holdout_{k}",
                                    "is_control": "false", "traffic_share": "0.10"},
        "raw_experiment_assignments": {"experiment_id": exp.experiment_id,
                                       "user_id": user.user_id, "variant": "control",
                                       "assigned_at": g.ts(exp.start + timedelta(hours=1 + k),
                                                           user)},
    }  # fmt: skip
    if (table, reason) not in DEFECTS:
        raise ValueError(f"no recipe for a {table} row rejected as {reason}")
    row = dict(valid[table])
    for column, value in DEFECTS[(table, reason)].items():
        if isinstance(value, list):
            value = value[k % len(value)]
        if value == NO_OFFSET:
            value = at.astimezone(ZoneInfo(user.zone)).strftime("%Y-%m-%dT%H:%M:%S")
        elif value == UNPARSEABLE:
            value = UNPARSEABLE_TIMESTAMPS[k % len(UNPARSEABLE_TIMESTAMPS)]
        row[column] = str(value)
    return row


def _to_frame(table: str, rows: Iterable[Row]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=RAW_COLUMNS[table], dtype="string").fillna("")


def generate(profile: Profile = TEACHING) -> RawDataset:
    g = _Generator(profile)
    g.simulate()
    rows = _plant_traps(g)
    rows.update(_experiment_rows(g))
    m = g.manifest

    users = [
        {
            "user_id": u.user_id,
            "signup_at": g.ts(u.signup, u),
            "country": u.country,
            "platform": u.platform,
        }
        for u in g.users
    ]
    # A user delivered twice by the sign-up pipeline.
    users.append(dict(users[5]))
    m.expected_duplicates["raw_users"] = 1
    signup_crossing = [
        u.user_id
        for u in g.users
        if u.signup.date() != u.signup.astimezone(ZoneInfo(u.zone)).date()
    ]
    m.add_trap(
        "signup_offset_moves_utc_date",
        "Signups whose local date differs from their UTC date: the cohort is the UTC date.",
        user_ids=signup_crossing[:20],
        count=len(signup_crossing),
    )
    rows["raw_users"] = users

    pins = [
        {
            "pin_id": p.pin_id,
            "board_id": p.board_id,
            "creator_id": p.creator_id,
            "category": p.category,
            "is_video": "true" if p.is_video else "false",
            "created_at": _format_ts(p.created, None, profile),
        }
        for p in g.pins
    ]
    pins.insert(40, dict(pins[3]))  # a pin re-delivered by the catalogue sync
    m.expected_duplicates["raw_pins"] = 1
    rows["raw_pins"] = pins

    # Bad rows, spread through each table, one defect each.
    rejects: dict[str, Counter[str]] = {t: Counter() for t in RAW_COLUMNS}
    for (table, reason), n in sorted(profile.bad_rows.items()):
        for k in range(n):
            bad = _bad_row(g, table, reason, k)
            position = int(g.rng.integers(len(rows[table]) + 1))
            rows[table].insert(position, bad)
            rejects[table][reason] += 1
    # Variants rejected as invalid leave their assignments pointing at an unknown variant.
    for table in RAW_COLUMNS:
        m.expected_duplicates.setdefault(table, 0)
    m.expected_rejects = {t: dict(sorted(c.items())) for t, c in rejects.items()}

    tables = {t: _to_frame(t, rows[t]) for t in RAW_COLUMNS}
    m.raw_rows = {t: len(df) for t, df in tables.items()}
    return RawDataset(tables=tables, manifest=m)


def write_csv(dataset: RawDataset, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for table, frame in dataset.tables.items():
        frame.to_csv(out / f"{table}.csv", index=False, lineterminator="\n")
    (out / "manifest.json").write_text(
        json.dumps(dataclasses.asdict(dataset.manifest), indent=2, sort_keys=True) + "\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the CSV files")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="teaching")
    args = parser.parse_args(argv)
    dataset = generate(PROFILES[args.profile])
    write_csv(dataset, args.out)
    sizes = ", ".join(f"{t}={n}" for t, n in dataset.manifest.raw_rows.items())
    print(f"wrote {args.profile} raw tables to {args.out}: {sizes}")


if __name__ == "__main__":
    main()
