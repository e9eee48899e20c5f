"""Synthetic raw tables at scale, streamed to Parquet one day at a time (`metricbook generate`).

seed_data.py hand-tunes 320 users into the shipped seeds; this module writes the same raw contract
(RAW_COLUMNS, every value text as a producer sends it, the same event types, surfaces, statuses,
experiment shape and bad-row recipes) for any number of users and days:

    OUT/generation.json                                   parameters + running manifest
    OUT/<raw_table>/part-base.parquet                     the base user cohort, pins, experiment
    OUT/<raw_table>/part-day-2024-01-01.parquet           one file per table per generated day
    OUT/raw_events/part-late-0001.parquet                 a batch from append_late_events

Behaviour. Every user has a persistent, lognormal propensity to open the app (so activity is
heavy-tailed and a user's pre-period predicts their post-period, which is what makes CUPED
useful) and a Beta click propensity. A session is an app_open and a feed of impressions on one
surface; the click probability falls with the feed position; saves and hides are fractions of
impressions and clicks; pins are picked Zipf-like from the user's favourite categories; a few
users buy after a click and some purchases are refunded later (a refund is its own row). One
experiment assigns users at their first session inside its window and multiplies the click, save
and hide probabilities of each variant. The file of day d holds the sessions that start on UTC
date d (their events may spill past midnight), so a local time can fall on another date.

Traps, at configurable rates (TrapRates): exact duplicate deliveries, retries with a later
timestamp, late events (sessions of day d - k delivered in day d's file), sessions at exactly
00:00:00Z, bad rows built from seed_data.DEFECTS (one defect each, so staging rejects them with
exactly that reason), duplicate users, pins and transactions, users assigned twice or to two
variants, and assignments after the end. generation.json counts every one of them under the
names staging uses, so staged + rejected + duplicates reconciles with raw.

Determinism. Every draw comes from np.random.default_rng([seed, stream, ...]) keyed by what it is
about (the base cohort, day d's signups, day d's sessions, late batch b), never from one running
stream, so a day's files depend only on the parameters and the day: append_day writes exactly
the files a longer generate would have written. Memory is bounded by one day's rows: a day is
simulated with vectorised numpy, formatted to text and written by DuckDB, then dropped.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd

from metricbook.datagen import options
from metricbook.datagen.options import (
    DEFAULT_START,
    EVENTS_PER_USER_DAY,
    EXPERIMENT_DAYS,
    EXPERIMENT_ID,
    EXPERIMENT_START_DAY,
    MAX_LATENESS_DAYS,
    MULTIPLIERS,
)
from metricbook.datagen.seeds import (
    ALTERNATE,
    CATEGORIES,
    DEFECTS,
    NO_OFFSET,
    PLATFORMS,
    RAW_COLUMNS,
    SURFACES,
    TEACHING,
    UNPARSEABLE,
    UNPARSEABLE_TIMESTAMPS,
    _zipf_weights,
)

STATE_FILE = "generation.json"
FORMAT = "metricbook.datagen.engine/1"

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

EVENT_TYPES = ("app_open", "impression", "click", "save", "hide")
APP_OPEN, IMPRESSION, CLICK, SAVE, HIDE = range(len(EVENT_TYPES))
STATUSES = ("completed", "refunded")
SURFACE_NAMES = tuple(SURFACES)
SURFACE_SHARES = np.array([SURFACES[s] for s in SURFACE_NAMES])
PLATFORM_NAMES = tuple(PLATFORMS)
PLATFORM_SHARES = np.array([PLATFORMS[p] for p in PLATFORM_NAMES])

# How each platform spells a timestamp, all inside the raw contract: iOS sends local time with
# '+hh:mm', Android local time with a space, milliseconds and '+hhmm', the web sends UTC as 'Z'.
STYLE_COLON, STYLE_COMPACT_MS, STYLE_UTC = 0, 1, 2
PLATFORM_STYLE = np.array(
    [
        {"ios": STYLE_COLON, "android": STYLE_COMPACT_MS, "web": STYLE_UTC}[p]
        for p in PLATFORM_NAMES
    ],
    dtype=np.int8,
)


def _merged_countries() -> dict[str, tuple[float, tuple[str, ...]]]:
    """Both seed profiles' countries and zones (UTC-10 to UTC+14, half and quarter hours)."""
    shares: dict[str, float] = {}
    zones: dict[str, list[str]] = {}
    for profile, weight in ((TEACHING, 0.7), (ALTERNATE, 0.3)):
        for country, (share, country_zones) in profile.countries.items():
            shares[country] = shares.get(country, 0.0) + weight * share
            known = zones.setdefault(country, [])
            known += [zone for zone in country_zones if zone not in known]
    return {country: (shares[country], tuple(zones[country])) for country in shares}


COUNTRIES = _merged_countries()
COUNTRY_NAMES = tuple(COUNTRIES)
COUNTRY_SHARES = np.array([COUNTRIES[c][0] for c in COUNTRY_NAMES])
ZONES = tuple(zone for c in COUNTRY_NAMES for zone in COUNTRIES[c][1])
_ZONE_COUNT = np.array([len(COUNTRIES[c][1]) for c in COUNTRY_NAMES])
_ZONE_FIRST = np.cumsum(_ZONE_COUNT) - _ZONE_COUNT

# Behaviour (the large-scale echo of seed_data._Generator._session).
ACTIVITY_SIGMA = 1.3  # lognormal sigma of sessions per day: the top 1% of users do ~15%
ACTIVITY_CAP = 40.0  # no user averages more than 40x the mean number of sessions
NEW_USER_BOOST_DAYS = 7.0  # new users start at 2x their propensity, decaying with this scale
WEEKDAY_FACTOR = np.array([0.94, 0.94, 0.94, 0.94, 0.94, 1.15, 1.15])  # Mon..Sun, mean 1
DAILY_SIGNUP_SHARE = 0.004  # new users per day, as a share of the base cohort
BASE_SIGNUP_DAYS = 180  # the base cohort signed up over this many days before day 0
EXTRA_IMPRESSIONS = 7.0  # impressions per session: 1 + Poisson(7)
SESSION_HOUR_MEAN, SESSION_HOUR_SD = 19.5, 3.5  # local start time: evenings, some past midnight
FAVOURITE_SHARE = 0.7  # impressions from the user's three favourite categories
FAVOURITE_WEIGHTS = np.array([0.6, 0.3, 0.1])
CATEGORY_ZIPF, PIN_ZIPF, CREATOR_ZIPF = 0.7, 1.05, 1.0
CLICK_BETA = (2.0, 18.0)  # per-user click propensity
CLICK_SCALE, POSITION_DECAY, MAX_CLICK = 2.5, 0.35, 0.95  # p = c * 2.5 / (1 + 0.35 (pos - 1))
SAVE_AFTER_CLICK, SAVE_WITHOUT_CLICK, HIDE_WITHOUT_CLICK = 0.35, 0.03, 0.025
BUYER_SHARE, PURCHASE_PER_CLICK, REFUND_SHARE = 0.08, 0.03, 0.15
VIDEO_SHARE = 0.2

# Id widths: ids are text, but fixed widths keep them sortable and the limits explicit.
USER_DIGITS, PIN_DIGITS, EVENT_DIGITS, TRANSACTION_DIGITS, DAY_DIGITS = 8, 7, 9, 7, 4

# Random streams: np.random.default_rng([seed, stream, ...]).
_BASE_COHORT, _SIGNUPS, _PINS, _DAY, _LATE_BATCH = 1, 2, 3, 4, 5
_SESSIONS, _BEHAVIOUR, _LATE, _TRANSACTIONS, _TRAPS = 0, 1, 2, 3, 4
_ATTRIBUTES, _DELIVERY = 0, 1

TRAP_NAMES = (
    "exact_duplicate_events",
    "retried_events",
    "late_events",
    "sessions_at_utc_midnight",
    "events_local_date_differs_from_utc",
    "duplicate_users",
    "duplicate_pins",
    "duplicate_transactions",
    "refunds",
    "assigned_twice_same_variant",
    "assigned_to_two_variants",
    "assigned_after_end",
)


# --------------------------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True)
class Variant:
    """One arm. The multipliers scale the per-impression click, save and hide probabilities."""

    name: str
    traffic_share: float
    is_control: bool = False
    click_multiplier: float = 1.0
    save_multiplier: float = 1.0
    hide_multiplier: float = 1.0


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

    @property
    def end_day(self) -> int:
        """The first day after the window."""
        return self.start_day + self.n_days


@dataclass(frozen=True)
class TrapRates:
    """How often each trap is planted. Rates are shares of the rows (or sessions, users) they
    apply to; 0 turns a trap off."""

    exact_duplicate_events: float = 0.002
    retried_events: float = 0.002  # re-sent 5-240 s later, same event_id
    late_sessions: float = 0.002  # sessions of day d - k delivered in day d's file
    max_lateness_days: int = MAX_LATENESS_DAYS
    sessions_at_utc_midnight: float = 0.0005
    bad_rows: float = 0.001  # per table, split evenly over the table's DEFECTS reasons
    bad_variant_rows: int = 1  # a declared variant with an invalid traffic_share
    duplicate_users: float = 0.002
    duplicate_pins: float = 0.002
    duplicate_transactions: float = 0.01
    assigned_twice_same_variant: float = 0.002
    assigned_to_two_variants: float = 0.002
    assigned_after_end: float = 0.01  # of the unassigned users active the day after the end


# Clean data: every trap off (max_lateness_days only bounds late sessions, which are off too).
NO_TRAPS = TrapRates(
    **{f.name: type(f.default)(0) for f in fields(TrapRates) if f.name != "max_lateness_days"}
)


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything a data set depends on; stored in generation.json so appends continue it."""

    users: int  # the base cohort; DAILY_SIGNUP_SHARE * users more sign up every day
    seed: int
    start: date = DEFAULT_START
    events_per_user_day: float = EVENTS_PER_USER_DAY  # mean of an established user per day
    pins: int | None = None  # default: max(200, users // 2)
    experiment: ExperimentSpec | None = field(default_factory=ExperimentSpec)
    traps: TrapRates = field(default_factory=TrapRates)

    @property
    def n_pins(self) -> int:
        return self.pins if self.pins is not None else max(200, self.users // 2)

    @property
    def daily_signups(self) -> int:
        return round(self.users * DAILY_SIGNUP_SHARE)

    @property
    def start_ms(self) -> int:
        return _epoch_ms(self.start)

    def day_ms(self, day: int) -> int:
        return self.start_ms + day * DAY_MS

    def to_json(self) -> dict:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        return data

    @classmethod
    def from_json(cls, data: Mapping) -> GeneratorConfig:
        experiment = data["experiment"]
        if experiment is not None:
            variants = tuple(Variant(**v) for v in experiment["variants"])
            experiment = ExperimentSpec(**{**experiment, "variants": variants})
        return cls(
            **{
                **data,
                "start": date.fromisoformat(data["start"]),
                "experiment": experiment,
                "traps": TrapRates(**data["traps"]),
            }
        )


def _validate(config: GeneratorConfig, days: int) -> None:
    """Errors a caller can make, each in one line that says what to do."""
    if config.users < 1:
        raise ValueError(f"--users must be at least 1, got {config.users}")
    if config.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {config.seed}")
    if days < 1:
        raise ValueError(f"--days must be at least 1, got {days}")
    if config.events_per_user_day <= 0:
        raise ValueError("--events-per-user-day must be positive")
    total_users = config.users + config.daily_signups * days
    if total_users >= 10**USER_DIGITS or config.n_pins >= 10**PIN_DIGITS:
        raise ValueError("at most 10^8 users and 10^7 pins: ask for fewer --users")
    if days >= 10**DAY_DIGITS:
        raise ValueError(f"at most {10**DAY_DIGITS - 1} days")
    rates = asdict(config.traps)
    bad = [name for name, rate in rates.items() if isinstance(rate, float) and not 0 <= rate < 1]
    if bad:
        raise ValueError(f"trap rates must be in [0, 1): {', '.join(bad)}")
    if config.traps.max_lateness_days < 1:
        raise ValueError("max_lateness_days must be at least 1")
    experiment = config.experiment
    if experiment is None:
        return
    names = [v.name for v in experiment.variants]
    if experiment.start_day < 0 or experiment.n_days < 1:
        raise ValueError("the experiment needs start_day >= 0 and n_days >= 1")
    if len(set(names)) != len(names) or len(names) < 2:
        raise ValueError(f"an experiment needs two or more distinctly named variants: {names}")
    if sum(v.is_control for v in experiment.variants) != 1:
        raise ValueError("exactly one variant must be the control")
    if not math.isclose(sum(v.traffic_share for v in experiment.variants), 1.0, abs_tol=1e-9):
        raise ValueError("variant traffic shares must add up to 1")
    if any(
        min(v.click_multiplier, v.save_multiplier, v.hide_multiplier) < 0
        for v in experiment.variants
    ):
        raise ValueError("effect multipliers must be non-negative")
    planted = {str(DEFECTS[("raw_experiment_assignments", "unknown_variant")]["variant"])}
    planted |= {f"holdout_{k}" for k in range(config.traps.bad_variant_rows)}
    if planted & set(names):
        raise ValueError(f"variant names {sorted(planted)} are reserved for planted bad rows")


# --------------------------------------------------------------------------------------------
# Results and the manifest


@dataclass(frozen=True)
class GenerationSummary:
    """What one call wrote: raw rows per table, files, bytes and wall time."""

    out: Path
    rows: Mapping[str, int]
    files: int
    bytes_written: int
    seconds: float

    @property
    def events(self) -> int:
        return self.rows.get("raw_events", 0)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


def _empty_batch(name: str, day_index: int | None) -> dict:
    return {
        "batch": name,
        "day_index": day_index,
        "files": {},
        "raw_rows": {t: 0 for t in RAW_COLUMNS},
        "bytes": 0,
        "expected_duplicates": {t: 0 for t in RAW_COLUMNS},
        "expected_rejects": {t: {} for t in RAW_COLUMNS},
        "traps": {name: 0 for name in TRAP_NAMES},
    }


def _totals(batches: Sequence[Mapping]) -> dict:
    """The manifest: the sum over batches, in seed_data.Manifest's field names."""
    rejects: dict[str, Counter[str]] = {t: Counter() for t in RAW_COLUMNS}
    totals = {
        "raw_rows": Counter(),
        "expected_duplicates": Counter(),
        "traps": Counter(),
    }
    for batch in batches:
        for key, counter in totals.items():
            counter.update(batch[key])
        for table, reasons in batch["expected_rejects"].items():
            rejects[table].update(reasons)
    return {
        "raw_rows": {t: totals["raw_rows"][t] for t in RAW_COLUMNS},
        "expected_rejects": {t: dict(sorted(rejects[t].items())) for t in RAW_COLUMNS},
        "expected_duplicates": {t: totals["expected_duplicates"][t] for t in RAW_COLUMNS},
        "traps": {name: totals["traps"][name] for name in TRAP_NAMES},
        "files": sum(len(b["files"]) for b in batches),
        "bytes": sum(b["bytes"] for b in batches),
    }


def read_state(out: Path) -> dict:
    """generation.json of a generated directory."""
    path = Path(out) / STATE_FILE
    if not path.exists():
        raise ValueError(f"{path} not found: run `metricbook generate` into {out} first")
    state = json.loads(path.read_text())
    if state.get("format") != FORMAT:
        raise ValueError(f"{path} was written by another generator version ({state.get('format')})")
    return state


def _save_state(out: Path, state: dict) -> None:
    state["manifest"] = _totals(state["batches"])
    path = out / STATE_FILE
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(temporary, path)


# --------------------------------------------------------------------------------------------
# Writing


class ParquetSink:
    """Formats a numeric frame to text with one SELECT and writes it as one Parquet file.

    Every column is VARCHAR (Parquet BYTE_ARRAY, UTF8). The file appears atomically (written
    under a hidden name, then renamed), so a reader globbing *.parquet never sees half a file.
    """

    def __init__(self, compression: str = "zstd") -> None:
        self.compression = compression
        self._con = duckdb.connect()
        self._con.execute("set preserve_insertion_order = true")

    def write(self, path: Path, frame: pd.DataFrame, select_sql: str) -> int:
        """Write `select_sql` (which reads the relation `frame`) to path; returns bytes."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        self._con.register("frame", frame)
        try:
            self._con.execute(
                f"copy ({select_sql}) to '{_sql_path(temporary)}' "
                f"(format parquet, compression {self.compression}, compression_level 1)"
            )
        finally:
            self._con.unregister("frame")
        os.replace(temporary, path)
        return path.stat().st_size

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _sql_text(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _sql_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_sql_text(v) for v in values) + "]"


def _offset_texts(colon: bool) -> list[str]:
    """'+hh:mm' or '+hhmm' for every quarter hour from -12:00 to +14:00."""
    texts = []
    for minutes in range(-720, 841, 15):
        sign = "-" if minutes < 0 else "+"
        hours, rest = divmod(abs(minutes), 60)
        texts.append(f"{sign}{hours:02d}:{rest:02d}" if colon else f"{sign}{hours:02d}{rest:02d}")
    return texts


_LOCAL_MS = "epoch_ms(utc_ms + utc_offset_min * 60000::bigint)"
_OFFSET_INDEX = "(utc_offset_min + 720) // 15 + 1"
TIMESTAMP_SQL = (
    "case style"
    f" when {STYLE_UTC} then strftime(epoch_ms(utc_ms), '%Y-%m-%dT%H:%M:%S') || 'Z'"
    f" when {STYLE_COMPACT_MS} then strftime({_LOCAL_MS}, '%Y-%m-%d %H:%M:%S.%g')"
    f" || {_sql_list(_offset_texts(colon=False))}[{_OFFSET_INDEX}]"
    f" else strftime({_LOCAL_MS}, '%Y-%m-%dT%H:%M:%S')"
    f" || {_sql_list(_offset_texts(colon=True))}[{_OFFSET_INDEX}] end"
)
# seed_data's NO_OFFSET: the local wall-clock time, offset dropped.
NO_OFFSET_SQL = f"strftime({_LOCAL_MS}, '%Y-%m-%dT%H:%M:%S')"


def _id_sql(prefix: str, column: str, digits: int) -> str:
    return f"'{prefix}' || lpad(({column})::varchar, {digits}, '0')"


def _user_id_sql(column: str) -> str:
    return _id_sql("u", f"{column} + 1", USER_DIGITS)


def _pin_id_sql(column: str) -> str:
    return f"case when {column} >= 0 then {_id_sql('p', f'{column} + 1', PIN_DIGITS)} end"


def _column_sql(table: str, batch_prefix: str = "", experiment_id: str = "") -> dict[str, str]:
    """The clean text of each raw column, from the numeric frame's columns."""
    if table == "raw_events":
        return {
            "event_id": _id_sql(batch_prefix, "seq", EVENT_DIGITS),
            "user_id": _user_id_sql("user_n"),
            "pin_id": _pin_id_sql("pin_n"),
            "event_type": f"{_sql_list(EVENT_TYPES)}[event_type + 1]",
            "surface": f"{_sql_list(SURFACE_NAMES)}[surface + 1]",
            "position": "case when slot > 0 then slot::varchar end",
            "event_at": TIMESTAMP_SQL,
        }
    if table == "raw_users":
        return {
            "user_id": _user_id_sql("user_n"),
            "signup_at": TIMESTAMP_SQL,
            "country": f"{_sql_list(COUNTRY_NAMES)}[country + 1]",
            "platform": f"{_sql_list(PLATFORM_NAMES)}[platform + 1]",
        }
    if table == "raw_pins":
        return {
            "pin_id": _pin_id_sql("pin_n"),
            # seed_data's board: the creator's digits and the category's two.
            "board_id": _id_sql("b", "user_n + 1", USER_DIGITS)
            + " || lpad(category::varchar, 2, '0')",
            "creator_id": _user_id_sql("user_n"),
            "category": f"{_sql_list(CATEGORIES)}[category + 1]",
            "is_video": "case when is_video then 'true' else 'false' end",
            "created_at": TIMESTAMP_SQL,
        }
    if table == "raw_transactions":
        return {
            "transaction_id": _id_sql(batch_prefix, "seq", TRANSACTION_DIGITS),
            "user_id": _user_id_sql("user_n"),
            "pin_id": _pin_id_sql("pin_n"),
            "amount_usd": "(cents // 100)::varchar || '.' || lpad((cents % 100)::varchar, 2, '0')",
            "status": f"{_sql_list(STATUSES)}[status + 1]",
            "transacted_at": TIMESTAMP_SQL,
        }
    if table == "raw_experiment_assignments":
        return {
            "experiment_id": _sql_text(experiment_id),
            "user_id": _user_id_sql("user_n"),
            "variant": "variant_name",
            "assigned_at": TIMESTAMP_SQL,
        }
    raise AssertionError(f"no column SQL for {table}")


@dataclass(frozen=True)
class _Defect:
    """One spelling of a seed_data.DEFECTS recipe: the columns it overrides."""

    code: int
    reason: str
    overrides: Mapping[str, str]


def _defects(table: str) -> list[_Defect]:
    """Every spelling of the table's recipes; a list value or UNPARSEABLE is cycled through like
    seed_data._bad_row does, each spelling getting its own code (0 means a clean row)."""
    defects = []
    for (recipe_table, reason), recipe in DEFECTS.items():
        if recipe_table != table:
            continue
        lengths = [len(v) for v in recipe.values() if isinstance(v, list)]
        if UNPARSEABLE in recipe.values():
            lengths.append(len(UNPARSEABLE_TIMESTAMPS))
        for k in range(max(lengths, default=1)):
            overrides = {}
            for column, value in recipe.items():
                if isinstance(value, list):
                    value = value[k % len(value)]
                if value == UNPARSEABLE:
                    value = UNPARSEABLE_TIMESTAMPS[k % len(UNPARSEABLE_TIMESTAMPS)]
                overrides[column] = str(value)
            defects.append(_Defect(len(defects) + 1, reason, MappingProxyType(overrides)))
    return defects


def _reasons(table: str) -> list[str]:
    return list(dict.fromkeys(d.reason for d in _defects(table)))


def _select_sql(table: str, **context: str) -> str:
    """SELECT of the raw columns in contract order; a row with a defect code gets its recipe."""
    clean = _column_sql(table, **context)
    defects = _defects(table)
    columns = []
    for column in RAW_COLUMNS[table]:
        branches = [
            f"when {d.code} then "
            + (
                NO_OFFSET_SQL
                if d.overrides[column] == NO_OFFSET
                else _sql_text(d.overrides[column])
            )
            for d in defects
            if column in d.overrides
        ]
        expression = clean[column]
        if branches:
            expression = f"case defect {' '.join(branches)} else {expression} end"
        columns.append(f"{expression} as {column}")
    return "select " + ", ".join(columns) + " from frame"


# --------------------------------------------------------------------------------------------
# Clocks


def _epoch_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


class _Offsets:
    """UTC offset in minutes of every zone at every UTC hour of a range (a table lookup).

    The shipped zones change offset only on whole UTC hours, and at most once a day.
    """

    def __init__(self, first_ms: int, last_ms: int) -> None:
        self.first_hour = first_ms // HOUR_MS - 48
        n_hours = last_ms // HOUR_MS + 48 - self.first_hour
        self.table = np.stack([self._zone_hours(zone, n_hours) for zone in ZONES])
        assert (self.table % 15 == 0).all(), "offsets must be whole quarter hours"

    def _zone_hours(self, zone: str, n_hours: int) -> np.ndarray:
        tz = ZoneInfo(zone)

        def minutes(hour: int) -> int:
            instant = datetime.fromtimestamp((self.first_hour + hour) * 3600, tz)
            return int(instant.utcoffset().total_seconds()) // 60

        days = list(range(0, n_hours, 24)) + [n_hours - 1]
        daily = [minutes(h) for h in days]
        hours = np.repeat(np.array(daily[:-1], dtype=np.int16), 24)[:n_hours]
        for i in range(len(days) - 1):
            if daily[i] != daily[i + 1]:
                for h in range(days[i], days[i + 1] + 1):
                    hours[min(h, n_hours - 1)] = minutes(min(h, n_hours - 1))
        return hours

    def minutes(self, zone: np.ndarray, utc_ms: np.ndarray) -> np.ndarray:
        hour = utc_ms // HOUR_MS - self.first_hour
        assert len(hour) == 0 or (hour.min() >= 0 and hour.max() < self.table.shape[1])
        return self.table[zone, hour]


# --------------------------------------------------------------------------------------------
# Users and pins


@dataclass(frozen=True)
class _Users:
    """Per-user attributes, index n is user u{n+1:08d}: the base cohort (ordered by signup),
    then daily_signups users for each day."""

    signup_ms: np.ndarray
    signup_day: np.ndarray
    country: np.ndarray
    zone: np.ndarray
    platform: np.ndarray
    sessions_per_day: np.ndarray  # persistent activity propensity (mean sessions per day)
    click_propensity: np.ndarray
    favourites: np.ndarray  # (n, 3) category indices
    is_buyer: np.ndarray
    variant_draw: np.ndarray  # uniform draw that places the user in an arm

    def __len__(self) -> int:
        return len(self.signup_ms)


def _lognormal_mu(mean: float) -> float:
    """mu such that min(lognormal(mu, ACTIVITY_SIGMA), ACTIVITY_CAP * mean) has this mean."""
    s = ACTIVITY_SIGMA

    def phi(x: float) -> float:
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    cap = math.log(ACTIVITY_CAP)
    kept = phi((cap - s * s / 2) / s) + ACTIVITY_CAP * (1 - phi((cap + s * s / 2) / s))
    return math.log(mean / kept) - s * s / 2


def _draw_users(
    rng: np.random.Generator,
    n: int,
    signup_from_ms: int,
    signup_to_ms: int,
    config: GeneratorConfig,
) -> dict[str, np.ndarray]:
    mean_sessions = config.events_per_user_day / expected_events_per_session()
    country = rng.choice(len(COUNTRY_NAMES), n, p=COUNTRY_SHARES / COUNTRY_SHARES.sum())
    zone = _ZONE_FIRST[country] + (rng.random(n) * _ZONE_COUNT[country]).astype(np.int64)
    sessions = rng.lognormal(_lognormal_mu(mean_sessions), ACTIVITY_SIGMA, n)
    category_weights = _zipf_weights(len(CATEGORIES), CATEGORY_ZIPF)
    users = {
        "signup_ms": rng.integers(signup_from_ms, signup_to_ms, n),
        "country": country.astype(np.int8),
        "zone": zone.astype(np.int16),
        "platform": rng.choice(len(PLATFORM_NAMES), n, p=PLATFORM_SHARES).astype(np.int8),
        "sessions_per_day": np.minimum(sessions, ACTIVITY_CAP * mean_sessions),
        "click_propensity": rng.beta(*CLICK_BETA, n),
        "favourites": rng.choice(len(CATEGORIES), (n, 3), p=category_weights).astype(np.int8),
        "is_buyer": rng.random(n) < BUYER_SHARE,
        "variant_draw": rng.random(n),
    }
    users["signup_day"] = ((users["signup_ms"] - config.start_ms) // DAY_MS).astype(np.int32)
    return users


def _build_users(config: GeneratorConfig, last_day: int) -> _Users:
    """The base cohort and the signups of days 0..last_day; each cohort has its own stream."""
    start = config.start_ms
    base = _draw_users(
        _rng(config.seed, _BASE_COHORT, _ATTRIBUTES),
        config.users,
        start - BASE_SIGNUP_DAYS * DAY_MS,
        start,
        config,
    )
    order = np.argsort(base["signup_ms"], kind="stable")
    cohorts = [{k: v[order] for k, v in base.items()}]
    for day in range(last_day + 1):
        rng = _rng(config.seed, _SIGNUPS, day, _ATTRIBUTES)
        cohort = _draw_users(
            rng, config.daily_signups, config.day_ms(day), config.day_ms(day + 1), config
        )
        order = np.argsort(cohort["signup_ms"], kind="stable")
        cohorts.append({k: v[order] for k, v in cohort.items()})
    return _Users(**{k: np.concatenate([c[k] for c in cohorts]) for k in cohorts[0]})


def _eligible(config: GeneratorConfig, day: int) -> int:
    """Users signed up by the end of day (a prefix of the user index)."""
    return config.users + config.daily_signups * (day + 1)


@dataclass(frozen=True)
class _Pins:
    category: np.ndarray
    creator: np.ndarray  # user index
    is_video: np.ndarray
    created_ms: np.ndarray
    # Popularity lookup: pins sorted by (category, rank); keys = category + cumulative share.
    keys: np.ndarray
    by_key: np.ndarray

    def draw(self, category: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A Zipf-popular pin of each category, u uniform in [0, 1)."""
        wanted = category + np.minimum(u, 1 - 1e-9)
        return self.by_key[np.searchsorted(self.keys, wanted, side="right")]


def _build_pins(config: GeneratorConfig, users: _Users) -> _Pins:
    rng = _rng(config.seed, _PINS, _ATTRIBUTES)
    n = config.n_pins
    category = rng.choice(len(CATEGORIES), n, p=_zipf_weights(len(CATEGORIES), CATEGORY_ZIPF))
    category[: len(CATEGORIES)] = np.arange(len(CATEGORIES))  # no category is empty
    creators = max(1, min(config.users, config.users // 20))
    creator = rng.choice(creators, n, p=_zipf_weights(creators, CREATOR_ZIPF))
    is_video = rng.random(n) < VIDEO_SHARE
    # A pin is created after its creator signed up and before day 0.
    signup = users.signup_ms[creator]
    created = signup + (rng.random(n) * (config.start_ms - DAY_MS - signup)).astype(np.int64)
    rank = rng.permutation(n)  # popularity order inside a category, unrelated to the id
    by_key = np.lexsort((rank, category))
    keys = np.empty(n)
    sorted_category = category[by_key]
    for c in range(len(CATEGORIES)):
        members = np.flatnonzero(sorted_category == c)
        weights = _zipf_weights(len(members), PIN_ZIPF)
        cumulative = np.cumsum(weights)
        cumulative[-1] = 1.0
        keys[members] = c + cumulative
    return _Pins(
        category=category.astype(np.int8),
        creator=creator.astype(np.int32),
        is_video=is_video,
        created_ms=created,
        keys=keys,
        by_key=by_key.astype(np.int32),
    )


@dataclass(frozen=True)
class _World:
    config: GeneratorConfig
    users: _Users
    pins: _Pins
    offsets: _Offsets
    last_day: int


def _build_world(config: GeneratorConfig, last_day: int) -> _World:
    users = _build_users(config, last_day)
    pins = _build_pins(config, users)
    first = min(int(users.signup_ms.min()), int(pins.created_ms.min()))
    # Refunds land up to 6 days after a purchase; leave room past the last day.
    offsets = _Offsets(first, config.day_ms(last_day + 10))
    return _World(config, users, pins, offsets, last_day)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, *key])


# --------------------------------------------------------------------------------------------
# Sessions and events


@functools.cache
def expected_events_per_session() -> float:
    """E[events of one session]: 1 app_open + impressions and what follows them (no effect)."""
    clicks = np.random.default_rng(0).beta(*CLICK_BETA, 200_000)
    lam, total = EXTRA_IMPRESSIONS, 1.0
    pmf = math.exp(-lam)
    at_least = 1.0  # P(1 + Poisson(lam) >= position)
    for position in range(1, 80):
        p_click = np.minimum(
            MAX_CLICK, clicks * CLICK_SCALE / (1 + POSITION_DECAY * (position - 1))
        )
        p = float(p_click.mean())
        per_impression = (
            1
            + p * (1 + SAVE_AFTER_CLICK)
            + (1 - p) * (SAVE_WITHOUT_CLICK + (1 - SAVE_WITHOUT_CLICK) * HIDE_WITHOUT_CLICK)
        )
        total += at_least * per_impression
        at_least -= pmf  # P(Poisson >= position)
        pmf *= lam / position
    return total


def _activity_factor(signup_day: np.ndarray, day: int) -> np.ndarray:
    """New users are livelier: 2x on their first day, decaying to 1x."""
    age = (day - signup_day).astype(np.float64)
    return 1.0 + np.exp(-age / NEW_USER_BOOST_DAYS)


def _session_counts(world: _World, day: int, rng: np.random.Generator) -> np.ndarray:
    """Sessions of every user signed up by `day` on that UTC day. The first draw of the day's
    session stream, so append_day can replay who was active on earlier days cheaply."""
    config, users = world.config, world.users
    n = _eligible(config, day)
    weekday = (config.start + timedelta(days=day)).weekday()
    rate = users.sessions_per_day[:n] * _activity_factor(users.signup_day[:n], day)
    counts = rng.poisson(rate * WEEKDAY_FACTOR[weekday])
    counts[users.signup_day[:n] == day] += 1  # a new user's first session
    return counts


def _session_starts(
    world: _World, day: int, session_user: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Start instants (UTC ms) on UTC date `day`: evenings in local time, after a new user's
    signup."""
    config, users = world.config, world.users
    day_start = config.day_ms(day)
    local_seconds = np.clip(
        rng.normal(SESSION_HOUR_MEAN * 3600, SESSION_HOUR_SD * 3600, len(session_user)),
        0,
        86399.999,
    )
    noon = np.full(len(session_user), day_start + 12 * HOUR_MS)
    offset_minutes = world.offsets.minutes(users.zone[session_user], noon)
    offset_seconds = offset_minutes.astype(np.int64) * 60
    utc_seconds = np.mod(local_seconds - offset_seconds, 86400.0)
    starts = day_start + (utc_seconds * 1000).astype(np.int64)
    new = users.signup_day[session_user] == day
    signup = users.signup_ms[session_user[new]]
    starts[new] = signup + (rng.random(int(new.sum())) * (day_start + DAY_MS - signup)).astype(
        np.int64
    )
    # By 23:59:59.000: an experiment's inclusive end_at is spelled to the second, so a session
    # (and an assignment) of the window's last day never lands after it.
    return np.minimum(starts, day_start + DAY_MS - 1000)


@dataclass(frozen=True)
class _Events:
    """Events in delivery order (session by session, chronological inside a session)."""

    user_n: np.ndarray
    pin_n: np.ndarray
    event_type: np.ndarray
    surface: np.ndarray
    slot: np.ndarray
    utc_ms: np.ndarray
    click_user: np.ndarray
    click_pin: np.ndarray
    click_ms: np.ndarray

    def __len__(self) -> int:
        return len(self.user_n)


def _multipliers(
    world: _World, day: int, session_user: np.ndarray, assigned: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-session (click, save, hide) multipliers of the user's arm, inside the window."""
    experiment = world.config.experiment
    ones = np.ones(len(session_user))
    if experiment is None or not experiment.start_day <= day < experiment.end_day:
        return ones, ones, ones
    arm = _arm(experiment, world.users.variant_draw[session_user])
    treated = assigned[session_user]
    result = []
    for attribute in ("click_multiplier", "save_multiplier", "hide_multiplier"):
        factors = np.array([getattr(v, attribute) for v in experiment.variants])
        result.append(np.where(treated, factors[arm], 1.0))
    click, save, hide = result
    return click, save, hide


def _arm(experiment: ExperimentSpec, draw: np.ndarray) -> np.ndarray:
    shares = np.cumsum([v.traffic_share for v in experiment.variants])
    return np.minimum(np.searchsorted(shares, draw, side="right"), len(shares) - 1)


def _session_events(
    world: _World,
    session_user: np.ndarray,
    session_start: np.ndarray,
    multipliers: tuple[np.ndarray, np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> _Events:
    """Every session's app_open, impressions, clicks, saves and hides, vectorised."""
    users = world.users
    click_mult, save_mult, hide_mult = multipliers
    n_sessions = len(session_user)
    n_imp = 1 + rng.poisson(EXTRA_IMPRESSIONS, n_sessions)
    session = np.repeat(np.arange(n_sessions), n_imp)
    n = len(session)
    first = np.cumsum(n_imp) - n_imp
    slot = (np.arange(n) - np.repeat(first, n_imp) + 1).astype(np.int16)
    user = session_user[session]
    surface = rng.choice(len(SURFACE_NAMES), n_sessions, p=SURFACE_SHARES)[session]

    favourite = rng.random(n) < FAVOURITE_SHARE
    which = rng.choice(3, n, p=FAVOURITE_WEIGHTS)
    category = np.where(
        favourite, users.favourites[user, which], rng.integers(0, len(CATEGORIES), n)
    )
    pin = world.pins.draw(category, rng.random(n))

    # Click-through falls with feed position: the reason position is recorded at all.
    p_click = users.click_propensity[user] * CLICK_SCALE / (1 + POSITION_DECAY * (slot - 1))
    clicked = rng.random(n) < np.minimum(MAX_CLICK, p_click * click_mult[session])
    save_mult = save_mult[session]
    saved_after_click = clicked & (rng.random(n) < SAVE_AFTER_CLICK * save_mult)
    saved = ~clicked & (rng.random(n) < SAVE_WITHOUT_CLICK * save_mult)
    hidden = ~clicked & ~saved & (rng.random(n) < HIDE_WITHOUT_CLICK * hide_mult[session])

    # Seconds: the next impression comes after whatever the user did with this one.
    gap = rng.exponential(6.0, n) + 1
    to_click = rng.exponential(4.0, n) + 1
    to_save = rng.exponential(10.0, n) + 1
    dwell = np.where(
        clicked, to_click + np.where(saved_after_click, to_save, 0.0), 2.0 * (saved | hidden)
    )
    step = gap + dwell
    elapsed = np.cumsum(step)
    elapsed -= np.repeat(elapsed[first] - step[first], n_imp)
    shown = session_start[session] + ((elapsed - dwell) * 1000).astype(np.int64)
    click_at = shown + (to_click * 1000).astype(np.int64)

    # Layout: a session's app_open, then each impression followed by what it led to.
    per_impression = 1 + clicked + saved_after_click + saved + hidden
    before = np.cumsum(per_impression) - per_impression
    at = before + session + 1
    app_at = before[first] + np.arange(n_sessions)
    clicks, saves_after, follow = (
        np.flatnonzero(clicked),
        np.flatnonzero(saved_after_click),
        np.flatnonzero(saved | hidden),
    )
    derived_at = np.concatenate([at, at[clicks] + 1, at[saves_after] + 2, at[follow] + 1])
    derived = np.concatenate([np.arange(n), clicks, saves_after, follow])
    derived_type = np.concatenate(
        [
            np.full(n, IMPRESSION),
            np.full(len(clicks), CLICK),
            np.full(len(saves_after), SAVE),
            np.where(saved[follow], SAVE, HIDE),
        ]
    )
    derived_ms = np.concatenate(
        [
            shown,
            click_at[clicks],
            click_at[saves_after] + (to_save[saves_after] * 1000).astype(np.int64),
            shown[follow] + 2000,
        ]
    )
    total = n_sessions + len(derived)
    columns = {
        "user_n": (np.int32, session_user, user),
        "pin_n": (np.int32, -1, pin),
        "event_type": (np.int8, APP_OPEN, None),
        "surface": (np.int8, SURFACE_NAMES.index("home_feed"), surface),
        "slot": (np.int16, 0, slot),
        "utc_ms": (np.int64, session_start, None),
    }
    out = {}
    for name, (dtype, app_value, per_imp) in columns.items():
        values = np.empty(total, dtype=dtype)
        values[app_at] = app_value
        if name == "event_type":
            values[derived_at] = derived_type
        elif name == "utc_ms":
            values[derived_at] = derived_ms
        else:
            values[derived_at] = per_imp[derived]
        out[name] = values
    return _Events(
        **out,
        click_user=user[clicks],
        click_pin=pin[clicks],
        click_ms=click_at[clicks],
    )


def _late_events(
    world: _World,
    delivery_day: int,
    users: np.ndarray,
    lateness: np.ndarray,
    assigned: np.ndarray,
    rng: np.random.Generator,
) -> _Events:
    """Sessions of day delivery_day - lateness, delivered late (a client's offline buffer).
    Inside the window they carry the arm's effect for users already assigned; they never create
    an assignment. Every event stays on its own UTC day, so it is strictly before delivery_day."""
    config = world.config
    event_day = (delivery_day - lateness).astype(np.int64)
    keep = world.users.signup_day[users] < event_day
    users, event_day = users[keep], event_day[keep]
    order = np.argsort(event_day, kind="stable")
    users, event_day = users[order], event_day[order]
    day_start = config.start_ms + event_day * DAY_MS
    starts = day_start + (rng.random(len(users)) * 22 * HOUR_MS).astype(np.int64)
    multipliers = [np.ones(len(users)) for _ in range(3)]
    for day in np.unique(event_day):
        rows = np.flatnonzero(event_day == day)
        for target, source in zip(
            multipliers, _multipliers(world, int(day), users[rows], assigned), strict=True
        ):
            target[rows] = source
    events = _session_events(world, users, starts, tuple(multipliers), rng)
    # A session starts by 22:00Z and lasts minutes, so it never reaches the delivery day.
    assert len(events) == 0 or events.utc_ms.max() < config.day_ms(delivery_day)
    return events


# --------------------------------------------------------------------------------------------
# Traps


@dataclass
class _Planted:
    duplicates: int = 0
    retries: int = 0
    rejects: Counter = field(default_factory=Counter)


def _plant(
    table: str,
    columns: dict[str, np.ndarray],
    rng: np.random.Generator,
    *,
    duplicate_rate: float,
    bad_rate: float,
    retry_rate: float = 0.0,
    sources: np.ndarray | None = None,
    bad_sources: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], _Planted]:
    """Deliver the rows with traps mixed in at random places: exact duplicates, retries (same
    key, 5-240 s later, after the original) and bad rows (a valid row with one DEFECTS recipe;
    staging rejects it with exactly that reason whatever its key).

    Copies are made of `sources` (default: every row), bad rows of `bad_sources` (default:
    `sources`); each source row is used at most once, so no two planted rows are identical.
    """
    n = len(columns["utc_ms"])
    sources = np.arange(n) if sources is None else sources
    bad_sources = sources if bad_sources is None else bad_sources
    planted = _Planted()
    n_dup = int(rng.binomial(len(sources), duplicate_rate))
    n_retry = int(rng.binomial(len(sources), retry_rate))
    picked = sources[_sample(rng, len(sources), n_dup + n_retry)]
    dup_src, retry_src = picked[:n_dup], picked[n_dup:]
    reasons = _reasons(table)
    n_bad = min(int(rng.binomial(n, bad_rate)), len(bad_sources)) if reasons else 0
    bad_src = bad_sources[_sample(rng, len(bad_sources), n_bad)]
    per_reason = rng.multinomial(n_bad, [1 / len(reasons)] * len(reasons)) if reasons else []
    bad_code = [np.zeros(0, np.int16)]
    for reason, count in zip(reasons, per_reason, strict=True):
        codes = [d.code for d in _defects(table) if d.reason == reason]
        bad_code.append(np.array(codes, np.int16)[rng.integers(0, len(codes), count)])
        planted.rejects[reason] += int(count)
    planted.duplicates, planted.retries = n_dup, n_retry

    positions = np.concatenate(
        [
            rng.integers(0, n + 1, n_dup),
            retry_src + 1 + (rng.random(n_retry) * (n - retry_src)).astype(np.int64),
            rng.integers(0, n + 1, n_bad),
        ]
    )
    copied = np.concatenate([dup_src, retry_src, bad_src]).astype(np.int64)
    delay = np.concatenate(
        [np.zeros(n_dup, np.int64), rng.integers(5000, 240_001, n_retry), np.zeros(n_bad, np.int64)]
    )
    codes = np.concatenate([np.zeros(n_dup + n_retry, np.int16), *bad_code])
    take = np.insert(np.arange(n), positions, copied)
    out = {name: values[take] for name, values in columns.items()}
    out["utc_ms"] = out["utc_ms"] + np.insert(np.zeros(n, np.int64), positions, delay)
    out["defect"] = np.insert(np.zeros(n, np.int16), positions, codes)
    return out, planted


def _sample(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """k distinct indices below n."""
    return rng.choice(n, k, replace=False) if k else np.zeros(0, np.int64)


def _record(batch: dict, table: str, planted: _Planted, duplicate_trap: str | None) -> None:
    batch["expected_duplicates"][table] += planted.duplicates + planted.retries
    rejects = Counter(batch["expected_rejects"][table])
    rejects.update(planted.rejects)
    batch["expected_rejects"][table] = {k: v for k, v in sorted(rejects.items()) if v}
    if duplicate_trap:
        batch["traps"][duplicate_trap] += planted.duplicates


# --------------------------------------------------------------------------------------------
# Batches


def _frame(world: _World, columns: dict[str, np.ndarray], zone_user: np.ndarray) -> pd.DataFrame:
    """The numeric frame ParquetSink formats: adds each row's UTC offset and spelling."""
    users = world.users
    frame = dict(columns)
    frame["utc_offset_min"] = world.offsets.minutes(users.zone[zone_user], columns["utc_ms"])
    frame["style"] = PLATFORM_STYLE[users.platform[zone_user]]
    frame.setdefault("defect", np.zeros(len(zone_user), np.int16))
    return pd.DataFrame(frame)


def _local_date_moved(frame: pd.DataFrame) -> int:
    """Rows whose text shows a local date other than the UTC date (the UTC-date trap)."""
    utc_ms = frame["utc_ms"].to_numpy()
    local_ms = utc_ms + frame["utc_offset_min"].to_numpy().astype(np.int64) * 60_000
    moved = (local_ms // DAY_MS != utc_ms // DAY_MS) & (frame["style"].to_numpy() != STYLE_UTC)
    return int(moved.sum())


def _write(
    sink: ParquetSink, out: Path, batch: dict, table: str, frame: pd.DataFrame, sql: str
) -> None:
    name = f"part-{batch['batch']}.parquet"
    size = sink.write(out / table / name, frame, sql)
    batch["files"][f"{table}/{name}"] = {"rows": len(frame), "bytes": size}
    batch["raw_rows"][table] += len(frame)
    batch["bytes"] += size


def _write_base(world: _World, sink: ParquetSink, out: Path) -> dict:
    """The base user cohort, the pin catalogue, the experiment and its variants."""
    config, pins = world.config, world.pins
    batch = _empty_batch("base", None)
    rng = _rng(config.seed, _BASE_COHORT, _DELIVERY)
    traps = config.traps

    _write_users(world, np.arange(config.users, dtype=np.int32), batch, rng, sink, out)

    rng = _rng(config.seed, _PINS, _DELIVERY)
    columns = {
        "pin_n": np.arange(len(pins.category), dtype=np.int32),
        "user_n": pins.creator,
        "category": pins.category,
        "is_video": pins.is_video,
        "utc_ms": pins.created_ms,
    }
    columns, planted = _plant(
        "raw_pins", columns, rng, duplicate_rate=traps.duplicate_pins, bad_rate=traps.bad_rows
    )
    _record(batch, "raw_pins", planted, "duplicate_pins")
    frame = _frame(world, columns, columns["user_n"])
    _write(sink, out, batch, "raw_pins", frame, _select_sql("raw_pins"))

    experiments, variants = _experiment_frames(config)
    for table, frame in (("raw_experiments", experiments), ("raw_experiment_variants", variants)):
        _write(sink, out, batch, table, frame, "select * from frame")
    if config.experiment is not None and traps.bad_variant_rows:
        rejects = {"invalid_traffic_share": traps.bad_variant_rows}
        batch["expected_rejects"]["raw_experiment_variants"] = rejects
    return batch


def _experiment_frames(config: GeneratorConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    experiment = config.experiment
    experiments = pd.DataFrame(columns=RAW_COLUMNS["raw_experiments"], dtype="str")
    variants = pd.DataFrame(columns=RAW_COLUMNS["raw_experiment_variants"], dtype="str")
    if experiment is None:
        return experiments, variants
    start = config.start + timedelta(days=experiment.start_day)
    end = config.start + timedelta(days=experiment.end_day - 1)
    experiments = pd.DataFrame(
        [[experiment.experiment_id, f"{start}T00:00:00Z", f"{end}T23:59:59Z"]],
        columns=RAW_COLUMNS["raw_experiments"],
        dtype="str",
    )
    rows = [
        [experiment.experiment_id, v.name, str(v.is_control).lower(), _share_text(v.traffic_share)]
        for v in experiment.variants
    ]
    # seed_data._bad_row's variant recipe: an extra declared arm whose share is not a number.
    bad_share = DEFECTS[("raw_experiment_variants", "invalid_traffic_share")]["traffic_share"]
    rows += [
        [experiment.experiment_id, f"holdout_{k}", "false", str(bad_share)]
        for k in range(config.traps.bad_variant_rows)
    ]
    variants = pd.DataFrame(rows, columns=RAW_COLUMNS["raw_experiment_variants"], dtype="str")
    return experiments, variants


def _share_text(share: float) -> str:
    """'0.50' as in the seeds, with more digits only when two would change the share."""
    return f"{share:.2f}" if round(share, 2) == share else repr(share)


def _generate_day(
    world: _World, day: int, assigned: np.ndarray, sink: ParquetSink, out: Path
) -> dict:
    """Simulate and write UTC day `day`: its signups, events (with late ones from earlier days
    and the delivery traps), transactions and assignments. Updates `assigned` in place."""
    config, users, traps = world.config, world.users, world.config.traps
    experiment = config.experiment
    batch = _empty_batch(f"day-{config.start + timedelta(days=day)}", day)
    prefix = f"{day:0{DAY_DIGITS}d}"
    seed = config.seed

    # Who is active and when their sessions start.
    rng = _rng(seed, _DAY, day, _SESSIONS)
    counts = _session_counts(world, day, rng)
    session_user = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    starts = _session_starts(world, day, session_user, rng)
    trap_rng = _rng(seed, _DAY, day, _TRAPS)
    established = np.flatnonzero(users.signup_day[session_user] < day)
    midnight = established[trap_rng.random(len(established)) < traps.sessions_at_utc_midnight]
    starts[midnight] = config.day_ms(day)
    batch["traps"]["sessions_at_utc_midnight"] += len(midnight)
    order = np.argsort(starts, kind="stable")
    session_user, starts = session_user[order], starts[order]

    # Late sessions of earlier days, replayed by users active today (before today's assignments).
    late_rng = _rng(seed, _DAY, day, _LATE)
    late_rate = traps.late_sessions if day > 0 else 0.0
    late = session_user[late_rng.random(len(session_user)) < late_rate]
    lateness = late_rng.integers(1, max(1, min(traps.max_lateness_days, day)) + 1, len(late))
    late_events = _late_events(world, day, late, lateness, assigned, late_rng)

    # Assignment at the first session inside the window; the arm's effect from then on.
    assignments = None
    in_window = experiment is not None and experiment.start_day <= day < experiment.end_day
    first_user, first_index = np.unique(session_user, return_index=True)
    if in_window:
        new = ~assigned[first_user]
        assignments = (first_user[new], starts[first_index[new]])
        assigned[first_user[new]] = True
    elif experiment is not None and day == experiment.end_day:
        never = ~assigned[first_user]
        chosen = never & (trap_rng.random(len(first_user)) < traps.assigned_after_end)
        assignments = (first_user[chosen], starts[first_index[chosen]])
        batch["traps"]["assigned_after_end"] += int(chosen.sum())

    rng = _rng(seed, _DAY, day, _BEHAVIOUR)
    multipliers = _multipliers(world, day, session_user, assigned)
    events = _session_events(world, session_user, starts, multipliers, rng)

    _write_events(world, batch, events, late_events, prefix, trap_rng, sink, out)
    _write_transactions(world, day, batch, events, prefix, sink, out)
    _write_signups(world, day, batch, trap_rng, sink, out)
    _write_assignments(world, day, batch, assignments, trap_rng, sink, out)
    return batch


def _event_columns(events: _Events) -> dict[str, np.ndarray]:
    return {
        "user_n": events.user_n,
        "pin_n": events.pin_n,
        "event_type": events.event_type,
        "surface": events.surface,
        "slot": events.slot,
        "utc_ms": events.utc_ms,
    }


def _write_events(
    world: _World,
    batch: dict,
    events: _Events,
    late: _Events,
    prefix: str,
    rng: np.random.Generator,
    sink: ParquetSink,
    out: Path,
) -> None:
    traps = world.config.traps
    n, n_late = len(events), len(late)
    regular, delayed = _event_columns(events), _event_columns(late)
    # Late events arrive anywhere in the file; every delivered event gets the next sequence id.
    where = np.insert(np.arange(n), rng.integers(0, n + 1, n_late), n + np.arange(n_late))
    columns = {k: np.concatenate([regular[k], delayed[k]])[where] for k in regular}
    columns["seq"] = np.arange(n + n_late, dtype=np.int64)
    is_regular = where < n
    pin_events = np.flatnonzero(columns["event_type"] != APP_OPEN)
    columns, planted = _plant(
        "raw_events",
        columns,
        rng,
        duplicate_rate=traps.exact_duplicate_events,
        retry_rate=traps.retried_events,
        bad_rate=traps.bad_rows,
        sources=np.flatnonzero(is_regular),
        bad_sources=pin_events[is_regular[pin_events]],
    )
    _record(batch, "raw_events", planted, "exact_duplicate_events")
    batch["traps"]["retried_events"] += planted.retries
    batch["traps"]["late_events"] += n_late
    frame = _frame(world, columns, columns["user_n"])
    batch["traps"]["events_local_date_differs_from_utc"] += _local_date_moved(frame)
    _write(
        sink, out, batch, "raw_events", frame, _select_sql("raw_events", batch_prefix="e" + prefix)
    )


def _write_transactions(
    world: _World, day: int, batch: dict, events: _Events, prefix: str, sink: ParquetSink, out: Path
) -> None:
    """A few buyers purchase after a click; some purchases are refunded 1-6 days later."""
    config, traps = world.config, world.config.traps
    rng = _rng(config.seed, _DAY, day, _TRANSACTIONS)
    buys = world.users.is_buyer[events.click_user] & (
        rng.random(len(events.click_user)) < PURCHASE_PER_CLICK
    )
    user, pin = events.click_user[buys], events.click_pin[buys]
    at = events.click_ms[buys] + rng.integers(60_000, 1_800_000, len(user))
    cents = np.maximum(100, np.rint(rng.lognormal(3.1, 0.6, len(user)) * 100)).astype(np.int64)
    refunded = rng.random(len(user)) < REFUND_SHARE
    refund_at = at[refunded] + rng.integers(DAY_MS, 6 * DAY_MS, int(refunded.sum()))
    columns = {
        "user_n": np.concatenate([user, user[refunded]]),
        "pin_n": np.concatenate([pin, pin[refunded]]),
        "cents": np.concatenate([cents, cents[refunded]]),
        "status": np.repeat(np.array([0, 1], np.int8), [len(user), int(refunded.sum())]),
        "utc_ms": np.concatenate([at, refund_at]),
    }
    columns["seq"] = np.arange(len(columns["utc_ms"]), dtype=np.int64)
    if len(columns["seq"]) >= 10**TRANSACTION_DIGITS:
        raise ValueError("too many transactions in one day: ask for fewer --users")
    batch["traps"]["refunds"] += int(refunded.sum())
    columns, planted = _plant(
        "raw_transactions",
        columns,
        rng,
        duplicate_rate=traps.duplicate_transactions,
        bad_rate=traps.bad_rows,
        bad_sources=np.arange(len(user)),
    )
    _record(batch, "raw_transactions", planted, "duplicate_transactions")
    frame = _frame(world, columns, columns["user_n"])
    sql = _select_sql("raw_transactions", batch_prefix="t" + prefix)
    _write(sink, out, batch, "raw_transactions", frame, sql)


def _write_signups(
    world: _World, day: int, batch: dict, rng: np.random.Generator, sink: ParquetSink, out: Path
) -> None:
    first = _eligible(world.config, day - 1)
    cohort = np.arange(first, first + world.config.daily_signups, dtype=np.int32)
    _write_users(world, cohort, batch, rng, sink, out)


def _write_users(
    world: _World,
    user_numbers: np.ndarray,
    batch: dict,
    rng: np.random.Generator,
    sink: ParquetSink,
    out: Path,
) -> None:
    """raw_users rows for these users (the base cohort, or a day's signups), traps planted."""
    users, traps = world.users, world.config.traps
    columns = {
        "user_n": user_numbers,
        "utc_ms": users.signup_ms[user_numbers],
        "country": users.country[user_numbers],
        "platform": users.platform[user_numbers],
    }
    columns, planted = _plant(
        "raw_users", columns, rng, duplicate_rate=traps.duplicate_users, bad_rate=traps.bad_rows
    )
    _record(batch, "raw_users", planted, "duplicate_users")
    frame = _frame(world, columns, columns["user_n"])
    _write(sink, out, batch, "raw_users", frame, _select_sql("raw_users"))


def _write_assignments(
    world: _World,
    day: int,
    batch: dict,
    assignments: tuple[np.ndarray, np.ndarray] | None,
    rng: np.random.Generator,
    sink: ParquetSink,
    out: Path,
) -> None:
    """The day's assignments, plus users assigned twice (same arm, 5 h later: a duplicate) and
    users assigned to a second arm 1-6 h later (staged; the experiment marts exclude them)."""
    config, traps = world.config, world.config.traps
    experiment = config.experiment
    user, at = assignments if assignments is not None else (np.zeros(0, np.int32),) * 2
    if experiment is None:
        arm = np.zeros(0, np.int64)
        names: tuple[str, ...] = ()
    else:
        arm = _arm(experiment, world.users.variant_draw[user])
        names = tuple(v.name for v in experiment.variants)
    if experiment is not None and day == experiment.end_day:
        arm = rng.integers(0, len(names), len(user))  # after the end: whatever the client says
        twice = other = np.zeros(0, np.int64)
    else:
        draw = rng.random(len(user))
        twice = np.flatnonzero(draw < traps.assigned_twice_same_variant)
        other = np.flatnonzero(
            (draw >= traps.assigned_twice_same_variant)
            & (draw < traps.assigned_twice_same_variant + traps.assigned_to_two_variants)
        )
    shift = (1 + rng.integers(0, max(len(names) - 1, 1), len(other))) if len(names) > 1 else 0
    columns = {
        "user_n": np.concatenate([user, user[twice], user[other]]).astype(np.int32),
        "arm": np.concatenate([arm, arm[twice], (arm[other] + shift) % max(len(names), 1)]),
        "utc_ms": np.concatenate(
            [
                at,
                at[twice] + 5 * HOUR_MS,
                at[other] + rng.integers(HOUR_MS, 6 * HOUR_MS, len(other)),
            ]
        ).astype(np.int64),
    }
    batch["traps"]["assigned_twice_same_variant"] += len(twice)
    batch["traps"]["assigned_to_two_variants"] += len(other)
    batch["expected_duplicates"]["raw_experiment_assignments"] += len(twice)
    columns, planted = _plant(
        "raw_experiment_assignments",
        columns,
        rng,
        duplicate_rate=0.0,
        bad_rate=traps.bad_rows,
        bad_sources=np.arange(len(user)),
    )
    _record(batch, "raw_experiment_assignments", planted, None)
    frame = _frame(world, columns, columns["user_n"])
    frame["variant_name"] = np.array(names or ("",), dtype=object)[frame["arm"].to_numpy()]
    experiment_id = experiment.experiment_id if experiment else ""
    sql = _select_sql("raw_experiment_assignments", experiment_id=experiment_id)
    _write(sink, out, batch, "raw_experiment_assignments", frame, sql)


def _replay_assigned(world: _World, day: int) -> np.ndarray:
    """Who was assigned before `day`: everyone active on an earlier day of the window (the
    first draw of each day's session stream, replayed without simulating events)."""
    assigned = np.zeros(len(world.users), dtype=bool)
    experiment = world.config.experiment
    if experiment is None:
        return assigned
    for d in range(experiment.start_day, min(day, experiment.end_day)):
        counts = _session_counts(world, d, _rng(world.config.seed, _DAY, d, _SESSIONS))
        assigned[: len(counts)] |= counts > 0
    return assigned


# --------------------------------------------------------------------------------------------
# Public API


def expected_events(
    users: int,
    days: int,
    *,
    events_per_user_day: float = EVENTS_PER_USER_DAY,
    start: date = DEFAULT_START,
    traps: TrapRates | None = None,
) -> float:
    """The expected number of raw_events rows of generate(users, days, ...)."""
    traps = traps or TrapRates()
    config = GeneratorConfig(users=users, seed=0, start=start, traps=traps)
    mean_sessions = events_per_user_day / expected_events_per_session()
    signups = config.daily_signups
    base_boost = NEW_USER_BOOST_DAYS / BASE_SIGNUP_DAYS  # E[exp(-age/7)], age ~ U(0, 180) days
    sessions = 0.0
    for day in range(days):
        weekday = WEEKDAY_FACTOR[(start + timedelta(days=day)).weekday()]
        boost = users * (1 + base_boost * math.exp(-day / NEW_USER_BOOST_DAYS))
        boost += signups * sum(1 + math.exp(-age / NEW_USER_BOOST_DAYS) for age in range(day + 1))
        sessions += weekday * mean_sessions * boost + signups
    late = traps.late_sessions * (days - 1) / days if days else 0.0
    extra = traps.exact_duplicate_events + traps.retried_events + traps.bad_rows + late
    return sessions * expected_events_per_session() * (1 + extra)


def plan_for_events(
    n_events: int,
    days: int,
    *,
    events_per_user_day: float = EVENTS_PER_USER_DAY,
    start: date = DEFAULT_START,
    traps: TrapRates | None = None,
) -> int:
    """The base-cohort size (`users`) whose generate(users, days) yields about n_events events."""
    if n_events < 1 or days < 1:
        raise ValueError("plan_for_events needs n_events >= 1 and days >= 1")
    options = {"events_per_user_day": events_per_user_day, "start": start, "traps": traps}
    users = max(1, round(n_events / expected_events(1000, days, **options) * 1000))
    for _ in range(3):  # daily signups are rounded: settle the integer
        users = max(1, round(users * n_events / expected_events(users, days, **options)))
    return users


def generate(
    users: int,
    days: int,
    seed: int,
    out: Path,
    start: date = DEFAULT_START,
    *,
    events_per_user_day: float = EVENTS_PER_USER_DAY,
    pins: int | None = None,
    experiment: ExperimentSpec | None = ExperimentSpec(),  # noqa: B008 (frozen)
    traps: TrapRates = TrapRates(),  # noqa: B008 (frozen)
    overwrite: bool = False,
    sink: ParquetSink | None = None,
    progress: bool = False,
) -> GenerationSummary:
    """Write `days` days of raw tables for a base cohort of `users` into `out`; `progress`
    shows a bar on stderr (when tqdm is installed)."""
    began = time.perf_counter()
    config = GeneratorConfig(
        users=users,
        seed=seed,
        start=start,
        events_per_user_day=events_per_user_day,
        pins=pins,
        experiment=experiment,
        traps=traps,
    )
    _validate(config, days)
    out = Path(out)
    _prepare(out, overwrite)
    world = _build_world(config, days - 1)
    state = {
        "format": FORMAT,
        "config": config.to_json(),
        "days": 0,
        "late_batches": 0,
        "batches": [],
    }
    with _opened(sink) as writer:
        state["batches"].append(_write_base(world, writer, out))
        _save_state(out, state)
        assigned = np.zeros(len(world.users), dtype=bool)
        for day in _progress(range(days), progress):
            state["batches"].append(_generate_day(world, day, assigned, writer, out))
            state["days"] = day + 1
            _save_state(out, state)
    return _summary(out, state["batches"], began)


def append_day(out: Path, *, sink: ParquetSink | None = None) -> GenerationSummary:
    """Write the next day of a generated data set (exactly what a longer generate writes)."""
    began = time.perf_counter()
    out = Path(out)
    state = read_state(out)
    config = GeneratorConfig.from_json(state["config"])
    day = state["days"]
    _validate(config, day + 1)
    world = _build_world(config, day)
    assigned = _replay_assigned(world, day)
    with _opened(sink) as writer:
        batch = _generate_day(world, day, assigned, writer, out)
    state["batches"].append(batch)
    state["days"] = day + 1
    _save_state(out, state)
    return _summary(out, [batch], began)


def append_late_events(
    out: Path,
    n: int,
    max_lateness_days: int = MAX_LATENESS_DAYS,
    *,
    sink: ParquetSink | None = None,
) -> GenerationSummary:
    """Write a batch of exactly n late events: sessions of the last max_lateness_days generated
    days, delivered after them (OUT/raw_events/part-late-0001.parquet, ...)."""
    began = time.perf_counter()
    out = Path(out)
    state = read_state(out)
    config = GeneratorConfig.from_json(state["config"])
    if n < 1 or max_lateness_days < 1:
        raise ValueError("--late-events needs n >= 1 and max_lateness_days >= 1")
    number = state["late_batches"] + 1
    delivery_day = state["days"]
    world = _build_world(config, delivery_day)
    assigned = _replay_assigned(world, delivery_day)
    rng = _rng(config.seed, _LATE_BATCH, number)
    eligible = _eligible(config, delivery_day - 1)
    weights = world.users.sessions_per_day[:eligible]
    lateness_cap = min(max_lateness_days, delivery_day)
    n_sessions = int(n / expected_events_per_session() * 1.5) + 10
    while True:
        users = rng.choice(eligible, n_sessions, p=weights / weights.sum()).astype(np.int32)
        lateness = rng.integers(1, lateness_cap + 1, n_sessions)
        events = _late_events(world, delivery_day, users, lateness, assigned, rng)
        if len(events) >= n:
            break
        n_sessions *= 2
    columns = {k: v[:n] for k, v in _event_columns(events).items()}
    columns["seq"] = np.arange(n, dtype=np.int64)
    batch = _empty_batch(f"late-{number:04d}", None)
    batch["traps"]["late_events"] = n
    frame = _frame(world, columns, columns["user_n"])
    batch["traps"]["events_local_date_differs_from_utc"] += _local_date_moved(frame)
    with _opened(sink) as writer:
        sql = _select_sql("raw_events", batch_prefix=f"el{number:0{DAY_DIGITS}d}")
        _write(writer, out, batch, "raw_events", frame, sql)
    state["batches"].append(batch)
    state["late_batches"] = number
    _save_state(out, state)
    return _summary(out, [batch], began)


@contextmanager
def _opened(sink: ParquetSink | None) -> Iterator[ParquetSink]:
    """The caller's sink (left open) or a new ParquetSink (closed on exit)."""
    if sink is not None:
        yield sink
        return
    with ParquetSink() as own:
        yield own


def _progress(days: range, enabled: bool) -> Iterable[int]:
    """A bar over the generated days, if asked for and tqdm is installed (it is optional)."""
    if not enabled:
        return days
    try:
        from tqdm import tqdm
    except ImportError:
        return days
    return tqdm(days, desc="generate", unit="day", file=sys.stderr)


def _prepare(out: Path, overwrite: bool) -> None:
    if (out / STATE_FILE).exists() and not overwrite:
        raise ValueError(
            f"{out} already holds a generated data set: use --append-day / --late-events to "
            "extend it, or --overwrite to start again"
        )
    if out.exists() and not overwrite and any(out.iterdir()):
        raise ValueError(f"{out} is not empty: choose an empty directory or pass --overwrite")
    for table in RAW_COLUMNS:
        shutil.rmtree(out / table, ignore_errors=True)
    (out / STATE_FILE).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def _summary(out: Path, batches: Sequence[Mapping], began: float) -> GenerationSummary:
    totals = _totals(batches)
    return GenerationSummary(
        out=out,
        rows=MappingProxyType(totals["raw_rows"]),
        files=totals["files"],
        bytes_written=totals["bytes"],
        seconds=time.perf_counter() - began,
    )


# --------------------------------------------------------------------------------------------
# Command line


def add_generate_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`metricbook generate ...`: register the subcommand (its handler is run_generate)."""
    parser = subparsers.add_parser("generate", help=options.HELP, description=options.DESCRIPTION)
    options.add_arguments(parser)
    parser.set_defaults(run=run_generate)
    return parser


def run_generate(args: argparse.Namespace) -> int:
    """The `generate` subcommand: generate, or extend with --append-day / --late-events."""
    summaries = []
    if args.append_day or args.late_events:
        if args.append_day:
            summaries.append(append_day(args.out))
        if args.late_events:
            summaries.append(append_late_events(args.out, args.late_events, args.max_lateness_days))
    else:
        if args.days is None or (args.users is None) == (args.target_events is None):
            raise ValueError("generate needs --days and exactly one of --users / --target-events")
        users = args.users
        if users is None:
            users = plan_for_events(
                args.target_events,
                args.days,
                events_per_user_day=args.events_per_user_day,
                start=args.start,
            )
        experiment = ExperimentSpec(
            experiment_id=args.experiment_id,
            start_day=args.experiment_start_day,
            n_days=args.experiment_days,
            variants=(
                Variant("control", 0.5, is_control=True),
                Variant(
                    "treatment",
                    0.5,
                    click_multiplier=args.click_multiplier,
                    save_multiplier=args.save_multiplier,
                    hide_multiplier=args.hide_multiplier,
                ),
            ),
        )
        summaries.append(
            generate(
                users,
                args.days,
                args.seed,
                args.out,
                args.start,
                events_per_user_day=args.events_per_user_day,
                pins=args.pins,
                experiment=experiment,
                traps=NO_TRAPS if args.no_traps else TrapRates(),
                overwrite=args.overwrite,
                progress=sys.stderr.isatty(),  # a bar on a terminal, quiet in CI logs
            )
        )
    for summary in summaries:
        rows = ", ".join(f"{t}={n:,}" for t, n in summary.rows.items() if n)
        print(
            f"wrote {summary.files} files ({summary.bytes_written / 1e6:,.1f} MB) to "
            f"{summary.out} in {summary.seconds:,.1f} s "
            f"({summary.events_per_second:,.0f} events/s): {rows}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m metricbook.datagen.engine")
    options.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_generate(args)
    except ValueError as error:
        print(f"metricbook generate: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
