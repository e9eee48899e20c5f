"""The one simulation engine: the teaching seeds, the alternate file set and data at scale are
profiles of it (datagen.seeds writes the small ones as CSV; `metricbook generate` streams scale
data to Parquet one day at a time):

    OUT/manifest.json                                     parameters + running manifest
    OUT/<raw_table>/part-base.parquet                     the base user cohort, pins, experiment
    OUT/<raw_table>/part-day-2024-01-01.parquet           one file per table per generated day
    OUT/raw_events/part-late-0001.parquet                 a batch from append_late_events

Everything a row may hold (columns, enumerations, spellings, bad-row recipes, trap names) comes
from datagen.world; the behaviour parameters below are the only ones.

Behaviour. Every user has a persistent, lognormal propensity to open the app (so activity is
heavy-tailed and a user's pre-period predicts their post-period, which is what makes CUPED
useful) and a Beta click propensity. A session is an app_open and a feed of impressions on one
surface; the click probability falls with the feed position; saves and hides are fractions of
impressions and clicks; pins are picked Zipf-like from the user's favourite categories; a few
users buy after a click and some purchases are refunded later (a refund is its own row). One
experiment assigns users at their first session inside its window and multiplies the click, save
and hide probabilities of each variant; optionally (the depth profile) an arm's click lift decays
with the days since a user's first assignment (novelty) or differs for new users, an arm's share
depends on the user's platform (an assignment bug the control absorbs), an arm moves sessions to
a surface, and platforms' click propensities differ (world.EFFECTS, listed in the manifest).
The file of day d holds the sessions that start on UTC date d (their events may spill past
midnight), so a local time can fall on another date.

Traps (TrapRates): a float is a rate, drawn per row; an int is an exact count, planted at the
first chance (the small profiles hand-place theirs that way, including named bad rows per
(table, reason)). Exact duplicate deliveries, retries with a later timestamp, late events,
sessions at exactly 00:00:00Z, bad rows built from world.DEFECTS (one defect each, so staging
rejects them with exactly that reason), duplicate users, pins and transactions, users assigned
twice or to two variants, assignments after the end, assigned users who never show up, and
weekly category ties at ranks 1 and 3. The manifest counts every one under world.TRAPS' names,
so staged + rejected + duplicates reconciles with raw.

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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime, timedelta
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
    MAX_LATENESS_DAYS,
)
from metricbook.datagen.profiles import (
    DAY_MS,
    NO_TRAPS,
    SCALE_LAUNCHES,
    ExperimentSpec,
    GeneratorConfig,
    LaunchSpec,
    TrapRates,
    Variant,
    _epoch_ms,
)
from metricbook.datagen.world import (
    CATEGORIES,
    DEFECTS,
    EFFECTS,
    EVENT_TYPES,
    EXAMPLE_IDS,
    MANIFEST_FILE,
    MANIFEST_FORMAT,
    NO_OFFSET,
    PLATFORMS,
    RANKER_MODELS,
    RAW_COLUMNS,
    SPELLINGS,
    STATUSES,
    SURFACES,
    TRAPS,
    UNPARSEABLE,
    UNPARSEABLE_TIMESTAMPS,
    Countries,
)

STATE_FILE = MANIFEST_FILE
FORMAT = MANIFEST_FORMAT

HOUR_MS = 3_600_000
BAD_LAUNCH_PREFIX = "launch_rejected_"  # the planted bad rows' own launches

APP_OPEN, IMPRESSION, CLICK, SAVE, HIDE = range(len(EVENT_TYPES))
SURFACE_NAMES = tuple(SURFACES)
SURFACE_SHARES = np.array([SURFACES[s] for s in SURFACE_NAMES])
PLATFORM_NAMES = tuple(PLATFORMS)
PLATFORM_SHARES = np.array([PLATFORMS[p] for p in PLATFORM_NAMES])
SPELLING_NAMES = tuple(SPELLINGS)
SPELLING_IS_UTC = np.array([SPELLINGS[s].utc for s in SPELLING_NAMES])

# Behaviour: one set for every profile.
ACTIVITY_SIGMA = 1.3  # lognormal sigma of sessions per day: the top 1% of users do ~15%
ACTIVITY_CAP = 40.0  # no user averages more than 40x the mean number of sessions
NEW_USER_BOOST_DAYS = 7.0  # new users start at 2x their propensity, decaying with this scale
WEEKDAY_FACTOR = np.array([0.94, 0.94, 0.94, 0.94, 0.94, 1.15, 1.15])  # Mon..Sun, mean 1
BASE_SIGNUP_DAYS = 180  # the base cohort signed up over this many days before day 0
PIN_AGE_DAYS = 120  # pins of creators who sign up inside the window predate it by up to this
EXTRA_IMPRESSIONS = 7.0  # impressions per session: 1 + Poisson(7)
SESSION_HOUR_MEAN, SESSION_HOUR_SD = 19.5, 3.5  # local start time: evenings, some past midnight
FAVOURITE_SHARE = 0.7  # impressions from the user's three favourite categories
FAVOURITE_WEIGHTS = np.array([0.6, 0.3, 0.1])
CATEGORY_ZIPF, PIN_ZIPF, CREATOR_ZIPF = 0.7, 1.05, 1.0
CLICK_BETA = (2.0, 18.0)  # per-user click propensity
CLICK_ACTIVITY_ELASTICITY = -0.2  # click propensity ~ activity^-0.2: heavy users click less
CLICK_SCALE, POSITION_DECAY, MAX_CLICK = 2.5, 0.35, 0.95  # p = c * 2.5 / (1 + 0.35 (pos - 1))
SAVE_AFTER_CLICK, SAVE_WITHOUT_CLICK, HIDE_WITHOUT_CLICK = 0.35, 0.03, 0.025
BUYER_SHARE, PURCHASE_PER_CLICK, REFUND_SHARE = 0.3, 0.03, 0.15
VIDEO_SHARE = 0.2
# Candidate rankers (an offline replay of the served pins): both draw a score s with
# s ~ Beta(k p, k (1 - p)) and the click outcome y | s ~ Bernoulli(s) given the impression's
# true click probability p, i.e. s | y ~ Beta(k p + y, k (1 - p) + 1 - y), so P(click | s) = s:
# calibrated. A smaller k spreads the scores, so they separate clicks better. ranker_a (k = 1.5)
# then goes through an overconfident, inflating logit map: it ranks better but is miscalibrated;
# ranker_b (k = 8) stays calibrated, printed to two decimals (ties inside a request).
RANKER_CONCENTRATION = {"ranker_a": 1.5, "ranker_b": 8.0}
RANKER_A_LOGIT_SCALE, RANKER_A_LOGIT_SHIFT = 1.8, 1.2

# Id widths: ids are text, but fixed widths keep them sortable and the limits explicit.
USER_DIGITS, PIN_DIGITS, EVENT_DIGITS, TRANSACTION_DIGITS, DAY_DIGITS = 8, 7, 9, 7, 4
REQUEST_DIGITS = 8  # a day's requests (sessions)


@dataclass(frozen=True)
class IdWidths:
    """Digits of each id. At scale event and transaction ids carry their day's number too, so
    a day's ids never depend on another day; compact ids (the small profiles, written whole)
    are numbered through the data set."""

    user: int
    pin: int
    event: int
    transaction: int
    request: int


SCALE_IDS = IdWidths(USER_DIGITS, PIN_DIGITS, EVENT_DIGITS, TRANSACTION_DIGITS, REQUEST_DIGITS)
COMPACT_IDS = IdWidths(user=4, pin=5, event=7, transaction=5, request=6)

# Random streams: np.random.default_rng([seed, stream, ...]).
_BASE_COHORT, _SIGNUPS, _PINS, _DAY, _LATE_BATCH, _TIES = 1, 2, 3, 4, 5, 6
_SESSIONS, _BEHAVIOUR, _LATE, _TRANSACTIONS, _TRAPS, _REQUESTS, _SCORES = 0, 1, 2, 3, 4, 5, 6
_ATTRIBUTES, _DELIVERY = 0, 1

TRAP_NAMES = tuple(TRAPS)
_NONE = np.zeros(0, np.int64)


def _zipf_weights(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


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
    if not 0 <= config.ghost_users <= config.users:
        raise ValueError("ghost_users must be between 0 and --users")
    if config.compact_ids and (config.daily_signups or total_users >= 10**COMPACT_IDS.user):
        raise ValueError("compact ids are for small data sets signing up inside the window")
    rates = asdict(config.traps)
    bad = [name for name, rate in rates.items() if isinstance(rate, float) and not 0 <= rate < 1]
    bad += [name for name, count in rates.items() if isinstance(count, int) and count < 0]
    if bad:
        raise ValueError(f"trap rates must be in [0, 1) and counts >= 0: {', '.join(bad)}")
    unknown = [(t, r) for t, r, _ in config.traps.bad_row_counts if (t, r) not in DEFECTS]
    if unknown:
        raise ValueError(f"no bad-row recipe for {unknown}: see world.DEFECTS")
    if set(config.spellings) - set(SPELLINGS) or len(config.spellings) != len(PLATFORM_NAMES):
        raise ValueError(f"spellings: one of {sorted(SPELLINGS)} per platform {PLATFORM_NAMES}")
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
        or not 0 < v.feed_share <= 1
        for v in experiment.variants
    ):
        raise ValueError("effect multipliers must be non-negative and feed_share in (0, 1]")
    _validate_depth(config)
    _validate_launches(config, days)
    planted = {_unknown_variant(names)}
    planted |= {f"holdout_{k}" for k in range(config.traps.bad_variant_rows)}
    if planted & set(names):
        raise ValueError(f"variant names {sorted(planted)} are reserved for planted bad rows")


def _validate_depth(config: GeneratorConfig) -> None:
    """The optional experiment behaviour: novelty, heterogeneity, platform skew and gaps."""
    factors = config.platform_click_factors
    if len(factors) != len(PLATFORM_NAMES) or not all(math.isfinite(f) and f > 0 for f in factors):
        raise ValueError(
            f"platform_click_factors: one positive factor per platform {PLATFORM_NAMES}"
        )
    experiment = config.experiment
    assert experiment is not None
    for v in experiment.variants:
        name = f"variant {v.name!r}"
        if not (
            math.isfinite(v.novelty_boost)
            and v.novelty_boost >= 0
            and math.isfinite(v.novelty_half_life_days)
            and v.novelty_half_life_days > 0
        ):
            raise ValueError(f"{name}: novelty_boost >= 0 and a positive novelty_half_life_days")
        multiplier = v.new_user_click_multiplier
        if (multiplier is not None and not (math.isfinite(multiplier) and multiplier >= 0)) or (
            v.new_user_days < 1
        ):
            raise ValueError(f"{name}: new_user_click_multiplier >= 0 and new_user_days >= 1")
        platforms = [platform for platform, _ in v.platform_shares]
        if v.platform_shares and (
            v.is_control
            or set(platforms) - set(PLATFORM_NAMES)
            or len(set(platforms)) != len(platforms)
        ):
            raise ValueError(f"{name}: platform_shares of a treatment, once per platform")
        surfaces = [surface for surface, _ in v.surface_shares]
        if v.surface_shares and (
            set(surfaces) - set(SURFACE_NAMES)
            or len(set(surfaces)) != len(surfaces)
            or not all(0 <= share <= 1 for _, share in v.surface_shares)
            or sum(share for _, share in v.surface_shares) > 1
        ):
            raise ValueError(
                f"{name}: surface_shares in [0, 1], once per surface, at most 1 in all"
            )
    for platform in PLATFORM_NAMES:
        if not all(0 <= share <= 1 for share in experiment.shares_on(platform)):
            raise ValueError(f"platform_shares leave {platform}'s shares outside [0, 1]")


def _unknown_variant(names: Sequence[str]) -> str:
    """The variant a planted unknown_variant row names: world.DEFECTS' name, or (when the
    experiment declares an arm of that name) that name of a retired arm."""
    name = str(DEFECTS[("raw_experiment_assignments", "unknown_variant")]["variant"])
    while name in names:
        name += "_retired"
    return name


def _validate_launches(config: GeneratorConfig, days: int) -> None:
    units = {"country": set(config.countries), "platform": set(PLATFORM_NAMES)}
    ids = [launch.launch_id for launch in config.launches]
    if len(set(ids)) != len(ids) or any(i.startswith(BAD_LAUNCH_PREFIX) for i in ids):
        raise ValueError(f"launch ids must be distinct and not start {BAD_LAUNCH_PREFIX!r}: {ids}")
    for launch in config.launches:
        name = f"launch {launch.launch_id!r}"
        if launch.unit_type not in units:
            raise ValueError(f"{name}: unit_type must be one of {sorted(units)}")
        unknown = set(launch.treated_units) - units[launch.unit_type]
        if unknown or not launch.treated_units:
            raise ValueError(f"{name}: treated units {sorted(unknown)} are not in the world")
        if launch.day < 1:
            raise ValueError(f"{name}: day must be at least 1 (a pre-period), got {launch.day}")
        if not (
            math.isfinite(launch.save_multiplier)
            and launch.save_multiplier > 0
            and math.isfinite(launch.pre_trend)
            and 0 <= launch.hour < 24
        ):
            raise ValueError(f"{name}: needs a positive save_multiplier and an hour in [0, 24)")
        if min(_launch_factor(launch, 0), _launch_factor(launch, max(days, launch.day))) <= 0:
            raise ValueError(f"{name}: its pre_trend takes saves to zero inside the data set")
    factors = config.weekday_save_factors
    shock = config.save_shock
    if len(factors) != 7 or not all(math.isfinite(f) and f > 0 for f in factors):
        raise ValueError("weekday_save_factors: seven positive factors, Monday first")
    if shock is not None and not (math.isfinite(shock[1]) and shock[1] > 0):
        raise ValueError("save_shock: (day, positive factor)")


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
        "examples": {},  # trap -> {"event_ids": [...], ...}: a few of the rows, for readers
    }


def _example(batch: dict, trap: str, key: str, ids: Iterable[str]) -> None:
    listed = batch["examples"].setdefault(trap, {}).setdefault(key, [])
    listed += list(ids)[: EXAMPLE_IDS - len(listed)]


def _effects(config: GeneratorConfig) -> dict:
    """The world.EFFECTS a config plants, each with its description and parameters."""
    experiment = config.experiment
    effects: dict[str, dict] = {}
    if experiment is not None:
        where = {"experiment_id": experiment.experiment_id, "surface": experiment.surface}

        def variants(wanted: Callable[[Variant], bool], *keys: str) -> dict:
            return {
                v.name: {k: getattr(v, k) for k in keys} for v in experiment.variants if wanted(v)
            }

        novel = variants(
            lambda v: v.novelty_boost > 0,
            "click_multiplier",
            "novelty_boost",
            "novelty_half_life_days",
        )
        if novel:
            effects["novelty_effect"] = {**where, "variants": novel}
        segmented = variants(
            lambda v: v.new_user_click_multiplier is not None,
            "click_multiplier",
            "new_user_click_multiplier",
            "new_user_days",
        )
        if segmented:
            effects["heterogeneous_effect"] = {**where, "variants": segmented}
        reach = variants(lambda v: bool(v.surface_shares), "surface_shares")
        if reach:
            effects["surface_exposure_shift"] = {
                **where,
                "variants": {
                    name: dict(zip(SURFACE_NAMES, experiment.surface_mix(v), strict=True))
                    for v in experiment.variants
                    if (name := v.name) in reach
                },
            }
        if experiment.skewed:
            effects["platform_assignment_skew"] = {
                **where,
                "variants": {
                    v.name: dict(v.platform_shares)
                    for v in experiment.variants
                    if v.platform_shares
                },
                "shares_by_platform": {
                    p: dict(
                        zip(
                            [v.name for v in experiment.variants],
                            experiment.shares_on(p),
                            strict=True,
                        )
                    )
                    for p in PLATFORM_NAMES
                },
            }
    if any(f != 1.0 for f in config.platform_click_factors):
        factors = dict(zip(PLATFORM_NAMES, config.platform_click_factors, strict=True))
        effects["platform_ctr_gap"] = {"platform_click_factors": factors}
    return {
        name: {"description": EFFECTS[name], **effects[name]} for name in EFFECTS if name in effects
    }


def _totals(batches: Sequence[Mapping]) -> dict:
    """The manifest: the sum over batches; each trap with its description and example ids;
    the planted world.EFFECTS, if any."""
    rejects: dict[str, Counter[str]] = {t: Counter() for t in RAW_COLUMNS}
    totals = {
        "raw_rows": Counter(),
        "expected_duplicates": Counter(),
        "traps": Counter(),
    }
    examples: dict[str, dict] = {name: {} for name in TRAP_NAMES}
    for batch in batches:
        for key, counter in totals.items():
            counter.update(batch[key])
        for table, reasons in batch["expected_rejects"].items():
            rejects[table].update(reasons)
        for trap, found in batch["examples"].items():
            for key, value in found.items():
                if isinstance(value, list):
                    listed = examples[trap].setdefault(key, [])
                    listed += value[: EXAMPLE_IDS - len(listed)]
                else:
                    examples[trap].setdefault(key, value)
    return {
        "raw_rows": {t: totals["raw_rows"][t] for t in RAW_COLUMNS},
        "expected_rejects": {t: dict(sorted(rejects[t].items())) for t in RAW_COLUMNS},
        "expected_duplicates": {t: totals["expected_duplicates"][t] for t in RAW_COLUMNS},
        "traps": {
            name: {
                "count": totals["traps"][name],
                "description": TRAPS[name].description,
                "table": TRAPS[name].table,
                "effect": TRAPS[name].effect,
                **examples[name],
            }
            for name in TRAP_NAMES
        },
        "files": sum(len(b["files"]) for b in batches),
        "bytes": sum(b["bytes"] for b in batches),
    } | ({"effects": effects} if (effects := _merged_effects(batches)) else {})


def _merged_effects(batches: Sequence[Mapping]) -> dict:
    effects: dict = {}
    for batch in batches:
        effects.update(batch.get("effects", {}))
    return effects


def manifest(profile: str, batches: Sequence[Mapping], *, files: bool = True) -> dict:
    """The one manifest schema (world.MANIFEST_FORMAT). Without `files` (the CSV profiles, whose
    files are written whole) the batch and file bookkeeping is left out."""
    totals = _totals(batches)
    head = {"format": FORMAT, "profile": profile}
    if not files:
        return {**head, **{k: v for k, v in totals.items() if k not in ("files", "bytes")}}
    return {**head, **totals}


def read_state(out: Path) -> dict:
    """The manifest of a generated directory."""
    path = Path(out) / STATE_FILE
    if not path.exists():
        raise ValueError(f"{path} not found: run `metricbook generate` into {out} first")
    state = json.loads(path.read_text())
    if state.get("format") != FORMAT or "config" not in state:
        raise ValueError(f"{path} was written by another generator version ({state.get('format')})")
    return state


def _save_state(out: Path, state: dict) -> None:
    bookkeeping = {k: state[k] for k in ("config", "days", "late_batches", "batches")}
    state.clear()
    state.update({**manifest("scale", bookkeeping["batches"]), **bookkeeping})
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


class TextSink(ParquetSink):
    """Formats exactly as ParquetSink does but keeps the text in memory, table by table (the
    small profiles, which datagen.seeds writes as CSV)."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: dict[str, list[pd.DataFrame]] = {t: [] for t in RAW_COLUMNS}

    def write(self, path: Path, frame: pd.DataFrame, select_sql: str) -> int:
        self._con.register("frame", frame)
        try:
            text = self._con.execute(select_sql).df()
        finally:
            self._con.unregister("frame")
        self._parts[path.parent.name].append(text)
        return 0

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table's rows in delivery order, as text; null is the empty string."""
        return {
            table: pd.concat(
                [pd.DataFrame(columns=columns), *self._parts[table]], ignore_index=True
            )[columns]
            .astype("string")
            .fillna("")
            for table, columns in RAW_COLUMNS.items()
        }


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


def _spelled_sql(name: str) -> str:
    """The text of instant utc_ms in one of world.SPELLINGS."""
    spelling = SPELLINGS[name]
    if spelling.utc:
        return f"strftime(epoch_ms(utc_ms), '{spelling.strftime()}') || 'Z'"
    offsets = _sql_list(_offset_texts(colon=spelling.offset_colon))
    return f"strftime({_LOCAL_MS}, '{spelling.strftime()}') || {offsets}[{_OFFSET_INDEX}]"


# `style` is a row's index into SPELLING_NAMES.
TIMESTAMP_SQL = (
    "case style "
    + " ".join(f"when {i} then {_spelled_sql(name)}" for i, name in enumerate(SPELLING_NAMES))
    + " end"
)
# world.NO_OFFSET: the local wall-clock time, offset dropped.
NO_OFFSET_SQL = f"strftime({_LOCAL_MS}, '%Y-%m-%dT%H:%M:%S')"


def _id_sql(prefix: str, column: str, digits: int) -> str:
    return f"'{prefix}' || lpad(({column})::varchar, {digits}, '0')"


def _user_id_sql(column: str, ids: IdWidths) -> str:
    return _id_sql("u", f"{column} + 1", ids.user)


def _pin_id_sql(column: str, ids: IdWidths) -> str:
    return f"case when {column} >= 0 then {_id_sql('p', f'{column} + 1', ids.pin)} end"


def _request_id_sql(prefix: str, ids: IdWidths) -> str:
    return f"case when request_seq >= 0 then {_id_sql(prefix, 'request_seq', ids.request)} end"


def _column_sql(
    table: str,
    batch_prefix: str = "",
    request_prefix: str = "",
    experiment_id: str = "",
    countries: Sequence[str] = (),
    ids: IdWidths = SCALE_IDS,
) -> dict[str, str]:
    """The clean text of each raw column, from the numeric frame's columns."""
    if table == "raw_events":
        return {
            "event_id": _id_sql(batch_prefix, "seq", ids.event),
            "user_id": _user_id_sql("user_n", ids),
            "pin_id": _pin_id_sql("pin_n", ids),
            "request_id": _request_id_sql(request_prefix, ids),
            "event_type": f"{_sql_list(EVENT_TYPES)}[event_type + 1]",
            "surface": f"{_sql_list(SURFACE_NAMES)}[surface + 1]",
            "position": "case when slot > 0 then slot::varchar end",
            "event_at": TIMESTAMP_SQL,
        }
    if table == "raw_users":
        return {
            "user_id": _user_id_sql("user_n", ids),
            "signup_at": TIMESTAMP_SQL,
            "country": f"{_sql_list(countries)}[country + 1]",
            "platform": f"{_sql_list(PLATFORM_NAMES)}[platform + 1]",
        }
    if table == "raw_pins":
        return {
            "pin_id": _pin_id_sql("pin_n", ids),
            # a board: the creator's digits and the category's two
            "board_id": _id_sql("b", "user_n + 1", ids.user)
            + " || lpad(category::varchar, 2, '0')",
            "creator_id": _user_id_sql("user_n", ids),
            "category": f"{_sql_list(CATEGORIES)}[category + 1]",
            "is_video": "case when is_video then 'true' else 'false' end",
            "created_at": TIMESTAMP_SQL,
        }
    if table == "raw_transactions":
        return {
            "transaction_id": _id_sql(batch_prefix, "seq", ids.transaction),
            "user_id": _user_id_sql("user_n", ids),
            "pin_id": _pin_id_sql("pin_n", ids),
            "amount_usd": "(cents // 100)::varchar || '.' || lpad((cents % 100)::varchar, 2, '0')",
            "status": f"{_sql_list(STATUSES)}[status + 1]",
            "transacted_at": TIMESTAMP_SQL,
        }
    if table == "raw_ranker_scores":
        return {
            "model_id": f"{_sql_list(RANKER_MODELS)}[model + 1]",
            "request_id": _request_id_sql(request_prefix, ids),
            "pin_id": _pin_id_sql("pin_n", ids),
            # as model code prints them: ranker_a in %g (exponent notation for small scores),
            # ranker_b to two decimals
            "score": "case model when 0 then printf('%.6g', score) else printf('%.2f', score) end",
        }
    if table == "raw_experiment_assignments":
        return {
            "experiment_id": _sql_text(experiment_id),
            "user_id": _user_id_sql("user_n", ids),
            "variant": "variant_name",
            "assigned_at": TIMESTAMP_SQL,
        }
    raise AssertionError(f"no column SQL for {table}")


@dataclass(frozen=True)
class _Defect:
    """One spelling of a world.DEFECTS recipe: the columns it overrides."""

    code: int
    reason: str
    overrides: Mapping[str, str]


def _defects(table: str) -> list[_Defect]:
    """Every spelling of the table's recipes (a list value or UNPARSEABLE cycled through), each
    getting its own code (0 means a clean row)."""
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


def _select_sql(table: str, renamed: Mapping[str, str] | None = None, **context: object) -> str:
    """SELECT of the raw columns in contract order; a row with a defect code gets its recipe
    (`renamed`: column -> the value its recipes write instead, e.g. an unknown variant's name
    that is not one of the experiment's arms)."""
    clean = _column_sql(table, **context)
    defects = _defects(table)
    if renamed:
        defects = [
            replace(
                d,
                overrides={**d.overrides, **{c: v for c, v in renamed.items() if c in d.overrides}},
            )
            for d in defects
        ]
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


class _Offsets:
    """UTC offset in minutes of every zone at every UTC hour of a range (a table lookup).

    The shipped zones change offset only on whole UTC hours, and at most once a day.
    """

    def __init__(self, first_ms: int, last_ms: int, zones: Sequence[str]) -> None:
        self.first_hour = first_ms // HOUR_MS - 48
        n_hours = last_ms // HOUR_MS + 48 - self.first_hour
        self.table = np.stack([self._zone_hours(zone, n_hours) for zone in zones])
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
    is_ghost: np.ndarray  # signed up, never active

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


@dataclass(frozen=True)
class _Geography:
    """A config's countries, and its zones numbered country by country."""

    countries: tuple[str, ...]
    shares: np.ndarray
    zones: tuple[str, ...]
    zone_first: np.ndarray  # index of each country's first zone
    zone_count: np.ndarray

    @classmethod
    def of(cls, countries: Countries | Mapping) -> _Geography:
        names = tuple(countries)
        count = np.array([len(countries[c][1]) for c in names])
        return cls(
            countries=names,
            shares=np.array([countries[c][0] for c in names]),
            zones=tuple(zone for c in names for zone in countries[c][1]),
            zone_first=np.cumsum(count) - count,
            zone_count=count,
        )


def _draw_users(
    rng: np.random.Generator,
    n: int,
    signup_from_ms: int,
    signup_to_ms: int,
    config: GeneratorConfig,
) -> dict[str, np.ndarray]:
    mean_sessions = config.events_per_user_day / expected_events_per_session()
    geography = _Geography.of(config.countries)
    shares = geography.shares
    country = rng.choice(len(geography.countries), n, p=shares / shares.sum())
    zone = geography.zone_first[country] + (rng.random(n) * geography.zone_count[country]).astype(
        np.int64
    )
    mu = _lognormal_mu(mean_sessions)
    sessions = rng.lognormal(mu, ACTIVITY_SIGMA, n)
    # Heavy users browse more and click less per impression (a factor of mean 1), so the mean of
    # user CTRs is not the pooled CTR, as in real feeds.
    tilt = CLICK_ACTIVITY_ELASTICITY * (np.log(sessions) - mu)
    browsing = np.exp(tilt - (CLICK_ACTIVITY_ELASTICITY * ACTIVITY_SIGMA) ** 2 / 2)
    category_weights = _zipf_weights(len(CATEGORIES), CATEGORY_ZIPF)
    users = {
        "signup_ms": rng.integers(signup_from_ms, signup_to_ms, n),
        "country": country.astype(np.int8),
        "zone": zone.astype(np.int16),
        "platform": rng.choice(len(PLATFORM_NAMES), n, p=PLATFORM_SHARES).astype(np.int8),
        "sessions_per_day": np.minimum(sessions, ACTIVITY_CAP * mean_sessions),
        "click_propensity": rng.beta(*CLICK_BETA, n) * browsing,
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
    if config.signup_days is not None:
        # Front-loaded signups inside the window: large early cohorts, immature late ones.
        rng = _rng(config.seed, _BASE_COHORT, _SIGNUPS)
        signup_day = np.minimum(
            rng.exponential(config.signup_days / 2.2, config.users), config.signup_days - 1
        ).astype(np.int64)
        if config.ghost_users and config.experiment is not None:
            # a ghost is assigned server-side at the start, so it signed up before
            ghosts = slice(config.users - config.ghost_users, config.users)
            signup_day[ghosts] = np.minimum(signup_day[ghosts], config.experiment.start_day - 1)
        base["signup_ms"] = start + signup_day * DAY_MS + rng.integers(0, DAY_MS, config.users)
        base["signup_day"] = signup_day.astype(np.int32)
    # At scale the user index follows signup order; a cohort signing up inside the window keeps
    # its draw order, as users of a small data set do.
    order = np.argsort(base["signup_ms"], kind="stable")
    if config.signup_days is not None:
        order = np.arange(config.users)
    cohorts = [{k: v[order] for k, v in base.items()}]
    for day in range(last_day + 1):
        rng = _rng(config.seed, _SIGNUPS, day, _ATTRIBUTES)
        cohort = _draw_users(
            rng, config.daily_signups, config.day_ms(day), config.day_ms(day + 1), config
        )
        order = np.argsort(cohort["signup_ms"], kind="stable")
        cohorts.append({k: v[order] for k, v in cohort.items()})
    users = {k: np.concatenate([c[k] for c in cohorts]) for k in cohorts[0]}
    # Ghosts: the last users of the base cohort.
    users["is_ghost"] = np.zeros(len(users["signup_ms"]), dtype=bool)
    users["is_ghost"][config.users - config.ghost_users : config.users] = True
    factors = np.array(config.platform_click_factors)
    if (factors != 1.0).any():
        users["click_propensity"] = users["click_propensity"] * factors[users["platform"]]
    return _Users(**users)


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
    # A pin is created after its creator signed up and before day 0 (a creator who signs up
    # inside the window brought pins made elsewhere, up to PIN_AGE_DAYS old).
    signup = users.signup_ms[creator]
    signup = np.where(
        signup < config.start_ms - DAY_MS, signup, config.start_ms - PIN_AGE_DAYS * DAY_MS
    )
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
    geography: _Geography
    spellings: np.ndarray  # platform -> index into SPELLING_NAMES
    budget: _Budget  # exact trap counts still to plant
    ids: IdWidths
    numbered: dict[str, int] = field(default_factory=dict)  # compact ids handed out so far
    late_assigned: np.ndarray = field(init=False)  # assigned after the end (at most once each)
    assigned_day: np.ndarray = field(init=False)  # day of the first assignment in the window

    def __post_init__(self) -> None:
        object.__setattr__(self, "late_assigned", np.zeros(len(self.users), dtype=bool))
        object.__setattr__(self, "assigned_day", np.full(len(self.users), -1, dtype=np.int32))

    # staged saves so far (user_n, pin_n, utc_ms), kept only to plant the category ties
    saves: list[tuple[np.ndarray, ...]] = field(default_factory=list)


def _build_world(config: GeneratorConfig, last_day: int, planted: Mapping | None = None) -> _World:
    """Users, pins and clocks through last_day; `planted` is the manifest so far (appends)."""
    users = _build_users(config, last_day)
    pins = _build_pins(config, users)
    first = min(int(users.signup_ms.min()), int(pins.created_ms.min()))
    # Refunds land up to 6 days after a purchase; leave room past the last day.
    geography = _Geography.of(config.countries)
    offsets = _Offsets(first, config.day_ms(last_day + 10), geography.zones)
    spellings = np.array([SPELLING_NAMES.index(s) for s in config.spellings], dtype=np.int8)
    budget = _Budget(config.traps, planted)
    ids = COMPACT_IDS if config.compact_ids else SCALE_IDS
    return _World(config, users, pins, offsets, last_day, geography, spellings, budget, ids)


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
    signup_day = users.signup_day[:n]
    rate = users.sessions_per_day[:n] * _activity_factor(np.minimum(signup_day, day), day)
    # Not signed up yet (base cohorts that join inside the window) or a ghost: no sessions.
    absent = (signup_day > day) | users.is_ghost[:n]
    counts = rng.poisson(np.where(absent, 0.0, rate) * WEEKDAY_FACTOR[weekday])
    counts[(signup_day == day) & ~absent] += 1  # a new user's first session
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
class _Impressions:
    """The served items, one per impression: what the request traps and ranker scores need."""

    request_n: np.ndarray  # the request (= session) within one _session_events call
    user_n: np.ndarray
    pin_n: np.ndarray
    slot: np.ndarray
    utc_ms: np.ndarray
    p_click: np.ndarray  # the true click probability
    clicked: np.ndarray
    engaged: np.ndarray  # clicked, saved or hidden
    saved_without_click: np.ndarray

    def __len__(self) -> int:
        return len(self.request_n)

    def subset(self, rows: np.ndarray) -> _Impressions:
        return _Impressions(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @staticmethod
    def concat(parts: Sequence[_Impressions]) -> _Impressions:
        return _Impressions(
            **{
                f.name: np.concatenate([getattr(p, f.name) for p in parts])
                for f in fields(_Impressions)
            }
        )


@dataclass(frozen=True)
class _Events:
    """Events in delivery order (session by session, chronological inside a session). A
    session's impressions are one feed request: request_n is the session (-1 on app_open)."""

    user_n: np.ndarray
    pin_n: np.ndarray
    request_n: np.ndarray
    event_type: np.ndarray
    surface: np.ndarray
    slot: np.ndarray
    utc_ms: np.ndarray
    click_user: np.ndarray
    click_pin: np.ndarray
    click_ms: np.ndarray
    impressions: _Impressions
    n_requests: int

    def __len__(self) -> int:
        return len(self.user_n)


# click, save and hide multipliers, feed share, and the arm whose surface mix the session draws
# from (-1: world.SURFACES'), per session
_Multipliers = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _multipliers(
    world: _World, day: int, session_user: np.ndarray, assigned: np.ndarray
) -> _Multipliers:
    """Per-session (click, save, hide) multipliers and feed share of the user's arm, inside the
    window."""
    experiment = world.config.experiment
    ones = np.ones(len(session_user))
    climate = _save_climate(world, day, session_user)
    if experiment is None or not experiment.start_day <= day < experiment.end_day:
        return ones, climate, ones, ones, -ones
    users = world.users
    arm = _arm(experiment, users.variant_draw[session_user], users.platform[session_user])
    treated = assigned[session_user]
    result = []
    for attribute in ("click_multiplier", "save_multiplier", "hide_multiplier", "feed_share"):
        factors = np.array([getattr(v, attribute) for v in experiment.variants])
        result.append(np.where(treated, factors[arm], 1.0))
    click, save, hide, feed = result
    variants = experiment.variants
    if any(v.new_user_click_multiplier is not None for v in variants):
        # new at assignment: signed up fewer than new_user_days days before it
        tenure = world.assigned_day[session_user] - users.signup_day[session_user]
        new_days = np.array([v.new_user_days for v in variants])
        new_factor = np.array(
            [
                v.click_multiplier
                if v.new_user_click_multiplier is None
                else v.new_user_click_multiplier
                for v in variants
            ]
        )
        click = np.where(treated & (tenure < new_days[arm]), new_factor[arm], click)
    if any(v.novelty_boost for v in variants):
        since = np.maximum(0, day - world.assigned_day[session_user])
        boost = np.array([v.novelty_boost for v in variants])[arm]
        half_life = np.array([v.novelty_half_life_days for v in variants])[arm]
        click = click * np.where(treated, 1 + boost * 0.5 ** (since / half_life), 1.0)
    mixed = np.array([bool(v.surface_shares) for v in variants])
    surface_arm = np.where(treated & mixed[arm], arm, -1).astype(np.float64)
    return click, save * climate, hide, feed, surface_arm


def _launch_factor(launch: LaunchSpec, day: int) -> float:
    """A launch's save factor for its treated units on `day`: the drift, then the effect."""
    drift = 1 + launch.pre_trend * (day - launch.day)
    return drift * (launch.save_multiplier if day >= launch.day else 1.0)


def _save_climate(world: _World, day: int, session_user: np.ndarray) -> np.ndarray:
    """Per-session save factor outside any experiment: the weekday, the concurrent shock and
    the launches of the sessions' units. A multiplier of probabilities only: every random
    draw stays as it was."""
    config, users = world.config, world.users
    weekday = (config.start.weekday() + day) % 7
    factor = np.full(len(session_user), config.weekday_save_factors[weekday])
    if config.save_shock is not None and day >= config.save_shock[0]:
        factor *= config.save_shock[1]
    for launch in config.launches:
        if launch.unit_type == "country":
            names, unit = list(world.geography.countries), users.country
        else:
            names, unit = list(PLATFORM_NAMES), users.platform
        codes = [names.index(u) for u in launch.treated_units]
        treated = np.isin(unit[session_user], codes)
        factor[treated] *= _launch_factor(launch, day)
    return factor


def _arm(experiment: ExperimentSpec, draw: np.ndarray, platform: np.ndarray) -> np.ndarray:
    """Each user's arm from their uniform draw: the variants' shares stacked in order, per
    platform when an arm's share depends on it (ExperimentSpec.shares_on)."""
    last = len(experiment.variants) - 1
    if not experiment.skewed:
        shares = np.cumsum([v.traffic_share for v in experiment.variants])
        return np.minimum(np.searchsorted(shares, draw, side="right"), last)
    bounds = np.cumsum([experiment.shares_on(p) for p in PLATFORM_NAMES], axis=1)[platform]
    return np.minimum((draw[:, None] >= bounds).sum(axis=1), last)


def _distinct_pins(
    world: _World,
    session: np.ndarray,
    category: np.ndarray,
    pin: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Redraw every pin shown twice in one session, so a request serves each pin once (staging
    rejects a request that repeats a pin). From its own stream: every other draw is unchanged.
    A few rounds from the same category, then from the whole catalogue."""
    n_pins = len(world.pins.category)
    pin = pin.copy()
    for attempt in range(200):
        key = session.astype(np.int64) * n_pins + pin
        order = np.argsort(key, kind="stable")
        repeated = np.zeros(len(pin), dtype=bool)
        repeated[order[1:]] = key[order[1:]] == key[order[:-1]]
        rows = np.flatnonzero(repeated)
        if not len(rows):
            return pin
        if attempt < 5:
            pin[rows] = world.pins.draw(category[rows], rng.random(len(rows)))
        else:
            pin[rows] = rng.integers(0, n_pins, len(rows))
    raise AssertionError("a session has more impressions than the catalogue has pins")


def _surfaces(world: _World, surface_arm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each session's surface: world.SURFACES' mix, or its arm's surface_shares. The same one
    uniform draw per session that rng.choice(p=...) makes, so an arm's mix moves only its own
    sessions, and without such an arm the draws are rng.choice's."""
    if (surface_arm < 0).all():
        return rng.choice(len(SURFACE_NAMES), len(surface_arm), p=SURFACE_SHARES)
    experiment = world.config.experiment
    assert experiment is not None
    mixes = [SURFACE_SHARES, *(np.array(experiment.surface_mix(v)) for v in experiment.variants)]
    cdfs = np.stack([mix.cumsum() / mix.cumsum()[-1] for mix in mixes])
    rows = cdfs[surface_arm + 1]
    uniform = rng.random(len(surface_arm))
    return np.minimum((uniform[:, None] >= rows).sum(axis=1), len(SURFACE_NAMES) - 1)


def _session_events(
    world: _World,
    session_user: np.ndarray,
    session_start: np.ndarray,
    multipliers: _Multipliers,
    rng: np.random.Generator,
    requests_rng: np.random.Generator,
) -> _Events:
    """Every session's app_open, impressions, clicks, saves and hides, vectorised. A session's
    impressions are one feed request, each pin at most once."""
    users = world.users
    click_mult, save_mult, hide_mult, feed_share, surface_arm = multipliers
    n_sessions = len(session_user)
    n_imp = 1 + rng.poisson(EXTRA_IMPRESSIONS, n_sessions)
    session = np.repeat(np.arange(n_sessions), n_imp)
    n = len(session)
    first = np.cumsum(n_imp) - n_imp
    slot = (np.arange(n) - np.repeat(first, n_imp) + 1).astype(np.int16)
    user = session_user[session]
    surface = _surfaces(world, surface_arm.astype(np.int64), rng)[session]

    favourite = rng.random(n) < FAVOURITE_SHARE
    which = rng.choice(3, n, p=FAVOURITE_WEIGHTS)
    category = np.where(
        favourite, users.favourites[user, which], rng.integers(0, len(CATEGORIES), n)
    )
    pin = _distinct_pins(
        world, session, category, world.pins.draw(category, rng.random(n)), requests_rng
    )

    # Click-through falls with feed position: the reason position is recorded at all.
    p_click = users.click_propensity[user] * CLICK_SCALE / (1 + POSITION_DECAY * (slot - 1))
    p_click = np.minimum(MAX_CLICK, p_click * click_mult[session])
    clicked = rng.random(n) < p_click
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
        "request_n": (np.int64, -1, session),
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
    # An arm's shorter feed: every draw above is made for the whole feed (so the other arm and
    # the rest of the stream are unchanged), then the impressions past the share are dropped
    # with what they led to.
    shown_here = slot <= np.maximum(1, np.round(n_imp * feed_share).astype(np.int64))[session]
    if not shown_here.all():
        kept_event = np.ones(total, dtype=bool)
        kept_event[derived_at] = shown_here[derived]
        out = {name: values[kept_event] for name, values in out.items()}
        clicks = clicks[shown_here[clicks]]
    impressions = _Impressions(
        request_n=session.astype(np.int64),
        user_n=user,
        pin_n=pin,
        slot=slot,
        utc_ms=shown,
        p_click=p_click,
        clicked=clicked,
        engaged=clicked | saved | hidden,
        saved_without_click=saved,
    ).subset(np.flatnonzero(shown_here))
    return _Events(
        **out,
        click_user=user[clicks],
        click_pin=pin[clicks],
        click_ms=click_at[clicks],
        impressions=impressions,
        n_requests=n_sessions,
    )


def _late_events(
    world: _World,
    delivery_day: int,
    users: np.ndarray,
    lateness: np.ndarray,
    assigned: np.ndarray,
    rng: np.random.Generator,
    requests_rng: np.random.Generator,
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
    multipliers = [np.ones(len(users)) for _ in range(4)] + [np.full(len(users), -1.0)]
    for day in np.unique(event_day):
        rows = np.flatnonzero(event_day == day)
        for target, source in zip(
            multipliers, _multipliers(world, int(day), users[rows], assigned), strict=True
        ):
            target[rows] = source
    events = _session_events(world, users, starts, tuple(multipliers), rng, requests_rng)
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
    copied: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # duplicated rows


class _Budget:
    """What each trap still has to plant. An int in TrapRates (and each bad_row_counts entry)
    is an exact total, used up as it is planted, a quarter per day at most (so the planted rows
    spread over the first days; the base batch, written once, takes all); a float is a rate,
    drawn afresh per batch."""

    SPREAD = 4
    whole = False  # set while the base batch is planted

    def __init__(self, traps: TrapRates, planted: Mapping | None = None) -> None:
        planted = planted or {"traps": {}, "expected_rejects": {}}
        self.traps = traps
        self.left: dict[object, int] = {}
        self.per_batch: dict[object, int] = {}
        totals = {}
        for f in fields(TrapRates):
            value = getattr(traps, f.name)
            if f.name in TRAPS and isinstance(value, int):
                totals[f.name] = value
                self.left[f.name] = value - planted["traps"].get(f.name, {}).get("count", 0)
        for table, reason, count in traps.bad_row_counts:
            totals[(table, reason)] = count
            done = planted["expected_rejects"].get(table, {}).get(reason, 0)
            self.left[(table, reason)] = count - done
        self.per_batch = {key: max(1, math.ceil(n / self.SPREAD)) for key, n in totals.items()}

    def count(self, rng: np.random.Generator, trap: str | None, n: int) -> int:
        """How many of n candidate rows get the trap."""
        if trap is None:
            return 0
        if trap in self.left:
            return self._take(trap, n)
        return int(rng.binomial(n, getattr(self.traps, trap)))

    def pick(self, rng: np.random.Generator, trap: str, candidates: np.ndarray) -> np.ndarray:
        """The candidates that get the trap (in candidate order)."""
        if trap in self.left:
            return np.sort(
                candidates[_sample(rng, len(candidates), self._take(trap, len(candidates)))]
            )
        return candidates[rng.random(len(candidates)) < getattr(self.traps, trap)]

    def bad_rows(self, rng: np.random.Generator, table: str, n: int, n_sources: int) -> dict:
        """reason -> how many bad rows among n rows, from at most n_sources source rows."""
        reasons = _reasons(table)
        if any(t == table for t, _, _ in self.traps.bad_row_counts):
            counts = {}
            for reason in [r for r in reasons if (table, r) in self.left]:
                counts[reason] = self._take((table, reason), n_sources - sum(counts.values()))
            return counts
        n_bad = min(int(rng.binomial(n, self.traps.bad_rows)), n_sources) if reasons else 0
        per_reason = rng.multinomial(n_bad, [1 / len(reasons)] * len(reasons)) if reasons else []
        return dict(zip(reasons, (int(c) for c in per_reason), strict=True))

    def after_end(self, day: int, end_day: int) -> bool:
        """Whether day plants assignments after the end: the day after it at a rate; with an
        exact count, every later day until it is used up (few users are still unassigned)."""
        if "assigned_after_end" in self.left:
            return day >= end_day and self.left["assigned_after_end"] > 0
        return day == end_day

    def _take(self, key: object, available: int) -> int:
        limit = self.left[key] if self.whole else self.per_batch[key]
        k = max(0, min(self.left[key], available, limit))
        self.left[key] -= k
        return k


def _plant(
    table: str,
    columns: dict[str, np.ndarray],
    rng: np.random.Generator,
    budget: _Budget,
    *,
    duplicate_trap: str | None,
    retry_trap: str | None = None,
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
    n_dup = budget.count(rng, duplicate_trap, len(sources))
    n_retry = budget.count(rng, retry_trap, len(sources) - n_dup)
    picked = sources[_sample(rng, len(sources), n_dup + n_retry)]
    dup_src, retry_src = picked[:n_dup], picked[n_dup:]
    per_reason = budget.bad_rows(rng, table, n, len(bad_sources))
    n_bad = sum(per_reason.values())
    bad_src = bad_sources[_sample(rng, len(bad_sources), n_bad)]
    bad_code = [np.zeros(0, np.int16)]
    for reason, count in per_reason.items():
        codes = [d.code for d in _defects(table) if d.reason == reason]
        bad_code.append(np.array(codes, np.int16)[rng.integers(0, len(codes), count)])
        planted.rejects[reason] += int(count)
    planted.duplicates, planted.retries = n_dup, n_retry
    planted.copied = picked

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


def _record(
    batch: dict,
    table: str,
    planted: _Planted,
    duplicate_trap: str | None,
    ids: Callable[[np.ndarray], list[str]] | None = None,
    retry_trap: str | None = None,
) -> None:
    """Count what _plant planted; `ids` (the key of every source row) names a few examples."""
    batch["expected_duplicates"][table] += planted.duplicates + planted.retries
    rejects = Counter(batch["expected_rejects"][table])
    rejects.update(planted.rejects)
    batch["expected_rejects"][table] = {k: v for k, v in sorted(rejects.items()) if v}
    key = f"{table.removeprefix('raw_').removesuffix('s')}_ids"
    for trap, rows in (
        (duplicate_trap, planted.copied[: planted.duplicates]),
        (retry_trap, planted.copied[planted.duplicates :]),
    ):
        if trap:
            batch["traps"][trap] += len(rows)
            if ids is not None and len(rows):
                _example(batch, trap, key, ids(np.sort(rows)[:EXAMPLE_IDS]))


def _ids(prefix: str, numbers: Iterable[int], digits: int) -> list[str]:
    """The text ids _id_sql writes, in Python (for the manifest's examples)."""
    return [f"{prefix}{int(n):0{digits}d}" for n in numbers]


# --------------------------------------------------------------------------------------------
# Batches


def _frame(world: _World, columns: dict[str, np.ndarray], zone_user: np.ndarray) -> pd.DataFrame:
    """The numeric frame ParquetSink formats: adds each row's UTC offset and spelling."""
    users = world.users
    frame = dict(columns)
    frame["utc_offset_min"] = world.offsets.minutes(users.zone[zone_user], columns["utc_ms"])
    frame["style"] = world.spellings[users.platform[zone_user]]
    frame.setdefault("defect", np.zeros(len(zone_user), np.int16))
    return pd.DataFrame(frame)


def _local_date_moved(frame: pd.DataFrame) -> np.ndarray:
    """Clean rows whose text shows a local date other than the UTC date (the UTC-date trap)."""
    utc_ms = frame["utc_ms"].to_numpy()
    local_ms = utc_ms + frame["utc_offset_min"].to_numpy().astype(np.int64) * 60_000
    spelled_utc = SPELLING_IS_UTC[frame["style"].to_numpy()]
    return (local_ms // DAY_MS != utc_ms // DAY_MS) & ~spelled_utc & _staged(frame)


def _staged(frame: pd.DataFrame) -> np.ndarray:
    """Rows staging keeps by design: no defect, and not rejected by a check across rows (a
    planted request trap, or an event of a request that is rejected whole)."""
    clean = frame["defect"].to_numpy() == 0
    if "checks_reject" in frame:
        clean &= ~frame["checks_reject"].to_numpy()
    return clean


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
    if effects := _effects(config):
        batch["effects"] = effects
    rng = _rng(config.seed, _BASE_COHORT, _DELIVERY)
    traps = config.traps
    world.budget.whole = True

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
        "raw_pins", columns, rng, world.budget, duplicate_trap="duplicate_pins"
    )
    _record(
        batch,
        "raw_pins",
        planted,
        "duplicate_pins",
        lambda rows: _ids("p", rows + 1, world.ids.pin),
    )
    frame = _frame(world, columns, columns["user_n"])
    _write(sink, out, batch, "raw_pins", frame, _select_sql("raw_pins", ids=world.ids))

    experiments, variants = _experiment_frames(config)
    launches = _launch_frame(config, batch)
    for table, frame in (
        ("raw_experiments", experiments),
        ("raw_experiment_variants", variants),
        ("raw_launches", launches),
    ):
        _write(sink, out, batch, table, frame, "select * from frame")
    if config.experiment is not None and traps.bad_variant_rows:
        rejects = {"invalid_traffic_share": traps.bad_variant_rows}
        batch["expected_rejects"]["raw_experiment_variants"] = rejects
    world.budget.whole = False
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
    # The variants' bad-row recipe: an extra declared arm whose share is not a number.
    bad_share = DEFECTS[("raw_experiment_variants", "invalid_traffic_share")]["traffic_share"]
    rows += [
        [experiment.experiment_id, f"holdout_{k}", "false", str(bad_share)]
        for k in range(config.traps.bad_variant_rows)
    ]
    variants = pd.DataFrame(rows, columns=RAW_COLUMNS["raw_experiment_variants"], dtype="str")
    return experiments, variants


def _launch_frame(config: GeneratorConfig, batch: dict) -> pd.DataFrame:
    """raw_launches: a row per treated unit, launched_at spelled at the launch's offset; then
    the planted bad rows (each a launch of its own, one DEFECTS recipe each) and re-deliveries.
    Counts the traps the launches plant into `batch`."""
    traps = config.traps
    rows = []
    for launch in config.launches:
        at = datetime.combine(config.start, datetime.min.time()) + timedelta(
            days=launch.day, hours=launch.hour, minutes=launch.utc_offset_minutes
        )
        sign = "-" if launch.utc_offset_minutes < 0 else "+"
        hours, minutes = divmod(abs(launch.utc_offset_minutes), 60)
        text = f"{at:%Y-%m-%dT%H:%M:%S}{sign}{hours:02d}:{minutes:02d}"
        rows += [[launch.launch_id, text, launch.unit_type, u] for u in launch.treated_units]
        if launch.pre_trend:
            batch["traps"]["diverging_pre_trend"] += 1
    if config.launches:
        batch["traps"]["weekday_seasonality"] += len(set(config.weekday_save_factors)) > 1
        batch["traps"]["concurrent_shock"] += config.save_shock is not None
    recipes = [(r, recipe) for (t, r), recipe in DEFECTS.items() if t == "raw_launches"]
    template = [config.start.isoformat() + "T12:00:00Z", "country", next(iter(config.countries))]
    rejects: Counter[str] = Counter()
    for k in range(traps.bad_launch_rows):
        reason, recipe = recipes[k % len(recipes)]
        row = dict(zip(RAW_COLUMNS["raw_launches"][1:], template, strict=True))
        for column, value in recipe.items():
            row[column] = template[0].removesuffix("Z") if value == NO_OFFSET else str(value)
        rows.append([f"{BAD_LAUNCH_PREFIX}{k + 1}", *row.values()])
        rejects[reason] += 1
    good = len(rows) - traps.bad_launch_rows
    copies = [list(rows[k]) for k in range(min(traps.duplicate_launch_rows, good))]
    rows += copies
    batch["traps"]["duplicate_launch_rows"] += len(copies)
    batch["expected_duplicates"]["raw_launches"] += len(copies)
    batch["expected_rejects"]["raw_launches"] = dict(sorted(rejects.items()))
    return pd.DataFrame(rows, columns=RAW_COLUMNS["raw_launches"], dtype="str")


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
    midnight = world.budget.pick(trap_rng, "sessions_at_utc_midnight", established)
    starts[midnight] = config.day_ms(day)
    batch["traps"]["sessions_at_utc_midnight"] += len(midnight)
    order = np.argsort(starts, kind="stable")
    session_user, starts = session_user[order], starts[order]

    # Late sessions of earlier days, replayed by users active today (before today's assignments).
    late_rng = _rng(seed, _DAY, day, _LATE)
    late_rate = traps.late_sessions if day > 0 else 0.0
    late = session_user[late_rng.random(len(session_user)) < late_rate]
    lateness = late_rng.integers(1, max(1, min(traps.max_lateness_days, day)) + 1, len(late))
    requests_rng = _rng(seed, _DAY, day, _REQUESTS)
    late_events = _late_events(world, day, late, lateness, assigned, late_rng, requests_rng)

    # Assignment at the first session inside the window; the arm's effect from then on.
    assignments = None
    in_window = experiment is not None and experiment.start_day <= day < experiment.end_day
    first_user, first_index = np.unique(session_user, return_index=True)
    if in_window:
        new = ~assigned[first_user]
        assignments = (first_user[new], starts[first_index[new]])
        assigned[first_user[new]] = True
        world.assigned_day[first_user[new]] = day
        if day == experiment.start_day:
            # Ghosts are assigned server-side at the start and never show up.
            ghosts = np.flatnonzero(users.is_ghost).astype(np.int32)
            at = config.day_ms(day) + (10 + np.arange(len(ghosts))) * HOUR_MS
            assignments = (
                np.concatenate([assignments[0], ghosts]),
                np.concatenate([assignments[1], at]),
            )
            assigned[ghosts] = True
            world.assigned_day[ghosts] = day
            batch["traps"]["assigned_without_activity"] += len(ghosts)
            _example(batch, "assigned_without_activity", "user_ids", _user_ids(world, ghosts))
    elif experiment is not None and world.budget.after_end(day, experiment.end_day):
        never = np.flatnonzero(~assigned[first_user] & ~world.late_assigned[first_user])
        chosen = world.budget.pick(trap_rng, "assigned_after_end", never)
        world.late_assigned[first_user[chosen]] = True
        assignments = (first_user[chosen], starts[first_index[chosen]])
        batch["traps"]["assigned_after_end"] += len(chosen)
        _example(batch, "assigned_after_end", "user_ids", _user_ids(world, first_user[chosen]))

    rng = _rng(seed, _DAY, day, _BEHAVIOUR)
    multipliers = _multipliers(world, day, session_user, assigned)
    events = _session_events(world, session_user, starts, multipliers, rng, requests_rng)

    _write_events(world, batch, events, late_events, prefix, trap_rng, sink, out)
    _write_transactions(world, day, batch, events, prefix, sink, out)
    _write_signups(world, day, batch, trap_rng, sink, out)
    _write_assignments(world, day, batch, assignments, trap_rng, sink, out)
    return batch


def _event_columns(events: _Events) -> dict[str, np.ndarray]:
    return {
        "user_n": events.user_n,
        "pin_n": events.pin_n,
        "request_n": events.request_n,
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
    n, n_late = len(events), len(late)
    regular, delayed = _event_columns(events), _event_columns(late)
    # The late sessions' requests are numbered after today's.
    delayed["request_n"] = np.where(late.request_n >= 0, late.request_n + events.n_requests, -1)
    impressions = _Impressions.concat(
        [
            events.impressions,
            replace(late.impressions, request_n=late.impressions.request_n + events.n_requests),
        ]
    )
    # Late events arrive anywhere in the file; every delivered event gets the next sequence id.
    where = np.insert(np.arange(n), rng.integers(0, n + 1, n_late), n + np.arange(n_late))
    columns = {k: np.concatenate([regular[k], delayed[k]])[where] for k in regular}
    batch_prefix, columns["seq"] = _numbering(world, "raw_events", n + n_late, "e" + prefix)
    is_regular = where < n
    pin_events = np.flatnonzero(columns["event_type"] != APP_OPEN)
    seq = columns["seq"]
    columns, planted = _plant(
        "raw_events",
        columns,
        rng,
        world.budget,
        duplicate_trap="exact_duplicate_events",
        retry_trap="retried_events",
        sources=np.flatnonzero(is_regular),
        bad_sources=pin_events[is_regular[pin_events]],
    )
    _record(
        batch,
        "raw_events",
        planted,
        "exact_duplicate_events",
        lambda rows: _ids(batch_prefix, seq[rows], world.ids.event),
        retry_trap="retried_events",
    )
    batch["traps"]["late_events"] += n_late
    requests = _Requests.number(world, "r" + prefix, events.n_requests + late.n_requests)
    day = batch["day_index"]
    request_rng = _rng(world.config.seed, _DAY, day, _REQUESTS, _TRAPS)
    columns, rejected = _plant_request_traps(
        world, batch, columns, impressions, requests, batch_prefix, n + n_late, request_rng
    )
    _write_event_frame(world, batch, columns, batch_prefix, sink, out, requests, rejected)
    _count_request_traps(batch, impressions, rejected)
    scores_rng = _rng(world.config.seed, _DAY, day, _SCORES)
    _write_scores(world, batch, impressions, requests, rejected, scores_rng, sink, out)


@dataclass(frozen=True)
class _Requests:
    """The request ids of a batch: the text prefix and the sequence number of each request_n."""

    prefix: str
    seq: np.ndarray

    @classmethod
    def number(cls, world: _World, prefix: str, n: int) -> _Requests:
        request_prefix, seq = _numbering(world, "requests", n, prefix)
        return cls(request_prefix, seq)

    def of(self, request_n: np.ndarray) -> np.ndarray:
        """Each row's request sequence number; -1 where there is no request (app_open)."""
        has = request_n >= 0
        out = np.full(len(request_n), -1, dtype=np.int64)
        out[has] = self.seq[request_n[has]]
        return out

    def ids(self, world: _World, request_n: Iterable[int]) -> list[str]:
        return _ids(self.prefix, self.seq[np.asarray(list(request_n), np.int64)], world.ids.request)


def _other_pin(world: _World, shown: set[int], start: int) -> int:
    """A pin the request did not show, deterministically after `start`."""
    n_pins = len(world.pins.category)
    pin = (start + 1) % n_pins
    while pin in shown:
        pin = (pin + 1) % n_pins
    return pin


def _plant_request_traps(
    world: _World,
    batch: dict,
    columns: dict[str, np.ndarray],
    impressions: _Impressions,
    requests: _Requests,
    batch_prefix: str,
    numbered: int,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The traps that only a check across rows can see, each a new event with its own event_id
    (after the delivery traps, which never copy them): an impression that repeats a position of
    its request (staging rejects every event of the request) and a click on a pin the request
    never showed (rejected alone). Returns the columns and the rejected requests (request_n)."""
    n_requests = int(impressions.request_n.max()) + 1 if len(impressions) else 0
    per_request = np.bincount(impressions.request_n, minlength=n_requests)
    candidates = np.flatnonzero(per_request >= 2)
    repeated = world.budget.pick(rng, "repeated_position_in_request", candidates)
    rest = np.setdiff1d(np.arange(n_requests), repeated)
    clicked_rows = np.flatnonzero(np.isin(impressions.request_n, rest))
    unimpressed = world.budget.pick(rng, "click_on_unimpressed_pin", clicked_rows)
    if not len(repeated) and not len(unimpressed):
        return columns, repeated
    shown: dict[int, set[int]] = {}
    wanted = np.isin(
        impressions.request_n, np.concatenate([repeated, impressions.request_n[unimpressed]])
    )
    requests_shown = impressions.request_n[wanted].tolist()
    for r, pin in zip(requests_shown, impressions.pin_n[wanted].tolist(), strict=True):
        shown.setdefault(r, set()).add(pin)
    # the request's last impression, copied with another pin (repeated) or as a click on one
    last = np.zeros(n_requests, dtype=np.int64)
    last[impressions.request_n] = np.arange(len(impressions))
    sources = np.concatenate([last[repeated], unimpressed]).astype(np.int64)
    kind = np.concatenate([np.full(len(repeated), IMPRESSION), np.full(len(unimpressed), CLICK)])
    imp = impressions.subset(sources)
    pins = [
        _other_pin(world, shown[r], p)
        for r, p in zip(imp.request_n.tolist(), imp.pin_n.tolist(), strict=True)
    ]
    _, seq = _numbering(world, "raw_events", len(sources), batch_prefix)
    if not world.config.compact_ids:
        seq = seq + numbered  # after the batch's own events
    extra = {
        "user_n": imp.user_n.astype(np.int32),
        "pin_n": np.array(pins, np.int32),
        "request_n": imp.request_n,
        "event_type": kind.astype(np.int8),
        "surface": _request_surface(columns, imp.request_n),
        "slot": imp.slot,
        "utc_ms": imp.utc_ms + np.where(kind == CLICK, 1500, 500),
        "seq": seq,
        "defect": np.zeros(len(sources), np.int16),
        "planted": np.ones(len(sources), dtype=bool),
    }
    columns = {**columns, "planted": np.zeros(len(columns["seq"]), dtype=bool)}
    # every distinct event of a repeated-position request is rejected with it (its duplicate
    # deliveries stay duplicates, its bad copies keep their own reason)
    in_request = np.isin(columns["request_n"], repeated) & (columns["defect"] == 0)
    in_request &= columns["event_type"] != APP_OPEN
    rejected_events = len(np.unique(columns["seq"][in_request])) + len(repeated)
    _add_rejects(batch, "raw_events", "repeated_position_in_request", rejected_events)
    _add_rejects(batch, "raw_events", "engagement_without_impression", len(unimpressed))
    batch["traps"]["repeated_position_in_request"] += len(repeated)
    batch["traps"]["click_on_unimpressed_pin"] += len(unimpressed)
    if len(repeated):
        _example(
            batch, "repeated_position_in_request", "request_ids", requests.ids(world, repeated)
        )
    if len(unimpressed):
        ids = _ids(batch_prefix, seq[len(repeated) :], world.ids.event)
        _example(batch, "click_on_unimpressed_pin", "event_ids", ids)
    where = rng.integers(0, len(columns["seq"]) + 1, len(sources))
    merged = {name: np.insert(values, where, extra[name]) for name, values in columns.items()}
    return merged, repeated


def _request_surface(columns: dict[str, np.ndarray], request_n: np.ndarray) -> np.ndarray:
    """The surface each request was served on (from its first impression row)."""
    rows = np.flatnonzero(columns["event_type"] == IMPRESSION)
    first = dict(
        zip(columns["request_n"][rows].tolist(), columns["surface"][rows].tolist(), strict=True)
    )
    return np.array([first[r] for r in request_n.tolist()], np.int8)


def _add_rejects(batch: dict, table: str, reason: str, count: int) -> None:
    if count:
        rejects = batch["expected_rejects"][table]
        rejects[reason] = rejects.get(reason, 0) + int(count)
        batch["expected_rejects"][table] = dict(sorted(rejects.items()))


def _count_request_traps(batch: dict, impressions: _Impressions, rejected: np.ndarray) -> None:
    """The request traps that occur by themselves, in the requests staging keeps."""
    kept = ~np.isin(impressions.request_n, rejected)
    n_requests = int(impressions.request_n.max()) + 1 if len(impressions) else 0
    engaged = np.bincount(impressions.request_n[kept], impressions.engaged[kept], n_requests)
    served = np.bincount(impressions.request_n[kept], minlength=n_requests)
    batch["traps"]["requests_without_engagement"] += int(((served > 0) & (engaged == 0)).sum())
    batch["traps"]["saves_without_click"] += int(impressions.saved_without_click[kept].sum())


def _ranker_scores(impressions: _Impressions, rng: np.random.Generator) -> list[np.ndarray]:
    """Each candidate model's score of every impression (see RANKER_CONCENTRATION)."""
    p = np.clip(impressions.p_click, 1e-3, 1 - 1e-3)
    y = impressions.clicked.astype(np.float64)
    scores = []
    for model in RANKER_MODELS:
        k = RANKER_CONCENTRATION[model]
        score = rng.beta(k * p + y, k * (1 - p) + 1 - y)
        if model == "ranker_a":
            logit = np.log(np.clip(score, 1e-12, None)) - np.log(np.clip(1 - score, 1e-12, None))
            score = 1 / (1 + np.exp(-(RANKER_A_LOGIT_SCALE * logit + RANKER_A_LOGIT_SHIFT)))
        else:
            score = np.round(score, 2)  # printed to two decimals: ties
        scores.append(score)
    return scores


def _write_scores(
    world: _World,
    batch: dict,
    impressions: _Impressions,
    requests: _Requests,
    rejected: np.ndarray,
    rng: np.random.Generator,
    sink: ParquetSink,
    out: Path,
) -> None:
    """raw_ranker_scores of the batch's requests: every candidate model scores every served
    pin, except in the requests left unscored; duplicate deliveries, conflicting re-deliveries
    (both rejected) and bad rows planted as for every raw table."""
    if not len(impressions):
        return
    scores = _ranker_scores(impressions, rng)
    n_requests = int(impressions.request_n.max()) + 1
    skipped = world.budget.pick(rng, "unscored_requests", np.arange(n_requests))
    batch["traps"]["unscored_requests"] += len(skipped)
    scored = ~np.isin(impressions.request_n, skipped)
    imp = impressions.subset(np.flatnonzero(scored))
    kept = ~np.isin(imp.request_n, rejected)
    tie_key = imp.request_n * 1000 + np.round(scores[1][scored] * 100).astype(np.int64)
    ties = np.unique(tie_key[kept], return_counts=True)
    batch["traps"]["tied_ranker_scores"] += len(np.unique(ties[0][ties[1] > 1] // 1000))
    n_models = len(RANKER_MODELS)
    columns = {
        "model": np.repeat(np.arange(n_models, dtype=np.int8)[None, :], len(imp), 0).ravel(),
        "request_seq": np.repeat(requests.of(imp.request_n), n_models),
        "pin_n": np.repeat(imp.pin_n, n_models),
        "score": np.column_stack([s[scored] for s in scores]).ravel(),
        "utc_ms": np.repeat(imp.utc_ms, n_models),
        "user_n": np.repeat(imp.user_n, n_models),
    }
    n = len(columns["score"])
    conflicts = world.budget.pick(rng, "conflicting_ranker_scores", np.arange(n))
    # a re-delivery of the key with another score: staging rejects both deliveries
    conflicting = {name: values[conflicts] for name, values in columns.items()}
    score = conflicting["score"]
    conflicting["score"] = np.where(score >= 0.5, score - 0.05, score + 0.05)
    conflicting["defect"] = np.zeros(len(conflicts), np.int16)
    columns, planted = _plant(
        "raw_ranker_scores",
        columns,
        rng,
        world.budget,
        duplicate_trap="duplicate_ranker_scores",
        sources=np.setdiff1d(np.arange(n), conflicts),
    )
    _record(batch, "raw_ranker_scores", planted, "duplicate_ranker_scores")
    where = rng.integers(0, len(columns["score"]) + 1, len(conflicts))
    columns = {
        name: np.insert(values, where, conflicting[name]) for name, values in columns.items()
    }
    _add_rejects(batch, "raw_ranker_scores", "conflicting_scores", 2 * len(conflicts))
    batch["traps"]["conflicting_ranker_scores"] += len(conflicts)
    frame = _frame(world, columns, columns["user_n"])
    sql = _select_sql("raw_ranker_scores", request_prefix=requests.prefix, ids=world.ids)
    _write(sink, out, batch, "raw_ranker_scores", frame, sql)


def _write_event_frame(
    world: _World,
    batch: dict,
    columns: dict[str, np.ndarray],
    batch_prefix: str,
    sink: ParquetSink,
    out: Path,
    requests: _Requests,
    rejected: np.ndarray = _NONE,
) -> None:
    """Write delivered events, counting (and naming a few of) the clock traps in them.
    `rejected`: the requests (request_n) staging rejects whole."""
    columns = dict(columns)
    columns["request_seq"] = requests.of(columns.pop("request_n"))
    in_rejected = np.isin(columns["request_seq"], requests.of(np.asarray(rejected, np.int64)))
    planted = columns.pop("planted", np.zeros(len(in_rejected), dtype=bool))
    columns["checks_reject"] = (in_rejected & (columns["event_type"] != APP_OPEN)) | planted
    frame = _frame(world, columns, columns["user_n"])
    seq, utc_ms = frame["seq"].to_numpy(), frame["utc_ms"].to_numpy()
    clean = _staged(frame)
    moved = _local_date_moved(frame)
    batch["traps"]["offset_moves_utc_date"] += int(moved.sum())
    _example(
        batch, "offset_moves_utc_date", "event_ids", _event_ids(world, batch_prefix, seq, moved)
    )
    midnight = clean & (frame["event_type"].to_numpy() == APP_OPEN) & (utc_ms % DAY_MS == 0)
    _example(
        batch,
        "sessions_at_utc_midnight",
        "event_ids",
        _event_ids(world, batch_prefix, seq, midnight),
    )
    if world.config.category_ties:
        saves = clean & (frame["event_type"].to_numpy() == SAVE)
        world.saves.append(
            (frame["user_n"].to_numpy()[saves], frame["pin_n"].to_numpy()[saves], utc_ms[saves])
        )
    _write(
        sink,
        out,
        batch,
        "raw_events",
        frame,
        _select_sql(
            "raw_events", batch_prefix=batch_prefix, request_prefix=requests.prefix, ids=world.ids
        ),
    )


def _event_ids(world: _World, batch_prefix: str, seq: np.ndarray, rows: np.ndarray) -> list[str]:
    """The ids of a few selected rows, one per session (a session's events share its clock)."""
    chosen = np.flatnonzero(rows)
    session = np.cumsum(np.asarray(rows) == 0)[chosen]  # rows between two selected ones
    first = chosen[np.unique(session, return_index=True)[1]]
    return _ids(
        batch_prefix, list(dict.fromkeys(seq[first].tolist()))[:EXAMPLE_IDS], world.ids.event
    )


def _user_ids(world: _World, user_n: np.ndarray) -> list[str]:
    return _ids("u", user_n[:EXAMPLE_IDS] + 1, world.ids.user)


def _numbering(world: _World, table: str, n: int, prefix: str) -> tuple[str, np.ndarray]:
    """The id prefix and sequence numbers of a batch's n new rows of table."""
    if world.config.compact_ids:
        first = world.numbered.get(table, 0) + 1
        world.numbered[table] = first + n - 1
        return prefix[0], np.arange(first, first + n, dtype=np.int64)
    return prefix, np.arange(n, dtype=np.int64)


def _write_transactions(
    world: _World, day: int, batch: dict, events: _Events, prefix: str, sink: ParquetSink, out: Path
) -> None:
    """A few buyers purchase after a click; some purchases are refunded 1-6 days later."""
    config = world.config
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
    batch_prefix, columns["seq"] = _numbering(
        world, "raw_transactions", len(columns["utc_ms"]), "t" + prefix
    )
    if len(columns["seq"]) >= 10**TRANSACTION_DIGITS:
        raise ValueError("too many transactions in one day: ask for fewer --users")
    batch["traps"]["refunds"] += int(refunded.sum())
    seq = columns["seq"]
    columns, planted = _plant(
        "raw_transactions",
        columns,
        rng,
        world.budget,
        duplicate_trap="duplicate_transactions",
        bad_sources=np.arange(len(user)),
    )
    _record(
        batch,
        "raw_transactions",
        planted,
        "duplicate_transactions",
        lambda rows: _ids(batch_prefix, seq[rows], world.ids.transaction),
    )
    frame = _frame(world, columns, columns["user_n"])
    sql = _select_sql("raw_transactions", batch_prefix=batch_prefix, ids=world.ids)
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
    users = world.users
    columns = {
        "user_n": user_numbers,
        "utc_ms": users.signup_ms[user_numbers],
        "country": users.country[user_numbers],
        "platform": users.platform[user_numbers],
    }
    columns, planted = _plant(
        "raw_users", columns, rng, world.budget, duplicate_trap="duplicate_users"
    )
    _record(
        batch, "raw_users", planted, "duplicate_users", lambda r: _user_ids(world, user_numbers[r])
    )
    frame = _frame(world, columns, columns["user_n"])
    moved = _local_date_moved(frame)
    batch["traps"]["signup_offset_moves_utc_date"] += int(moved.sum())
    _example(
        batch,
        "signup_offset_moves_utc_date",
        "user_ids",
        _user_ids(world, frame["user_n"].to_numpy()[moved]),
    )
    _write(
        sink,
        out,
        batch,
        "raw_users",
        frame,
        _select_sql("raw_users", countries=world.geography.countries, ids=world.ids),
    )


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
    experiment = world.config.experiment
    user, at = assignments if assignments is not None else (np.zeros(0, np.int32),) * 2
    if experiment is None:
        arm = np.zeros(0, np.int64)
        names: tuple[str, ...] = ()
    else:
        arm = _arm(experiment, world.users.variant_draw[user], world.users.platform[user])
        names = tuple(v.name for v in experiment.variants)
    if experiment is not None and day >= experiment.end_day:
        arm = rng.integers(0, len(names), len(user))  # after the end: whatever the client says
        twice = other = np.zeros(0, np.int64)
    else:
        active = np.flatnonzero(~world.users.is_ghost[user])
        twice = world.budget.pick(rng, "assigned_twice_same_variant", active)
        other = world.budget.pick(rng, "assigned_to_two_variants", np.setdiff1d(active, twice))
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
    for trap, rows in (("assigned_twice_same_variant", twice), ("assigned_to_two_variants", other)):
        batch["traps"][trap] += len(rows)
        _example(batch, trap, "user_ids", _user_ids(world, user[rows]))
    batch["expected_duplicates"]["raw_experiment_assignments"] += len(twice)
    columns, planted = _plant(
        "raw_experiment_assignments",
        columns,
        rng,
        world.budget,
        duplicate_trap=None,
        bad_sources=np.arange(len(user)),
    )
    _record(batch, "raw_experiment_assignments", planted, None)
    frame = _frame(world, columns, columns["user_n"])
    frame["variant_name"] = np.array(names or ("",), dtype=object)[frame["arm"].to_numpy()]
    experiment_id = experiment.experiment_id if experiment else ""
    sql = _select_sql(
        "raw_experiment_assignments",
        experiment_id=experiment_id,
        ids=world.ids,
        renamed={"variant": _unknown_variant(names)},
    )
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
        first = np.flatnonzero((counts > 0) & ~assigned[: len(counts)])
        assigned[first] = True
        world.assigned_day[first] = d
    if day > experiment.start_day:
        assigned |= world.users.is_ghost
        world.assigned_day[world.users.is_ghost] = experiment.start_day
    return assigned


def _write_ties(world: _World, sink: ParquetSink, out: Path) -> dict:
    """Saves that make two categories tie in the largest country: at rank 1 in the second week
    and at rank 3 (the top-3 boundary) in the fourth, so the top-N tie rules are tested on data.
    The chaser is raised to the leader's count of distinct (user, pin) saves (the mart's
    measure) with new pairs, on the week's Wednesday at 13:00Z."""
    config, users, pins = world.config, world.users, world.pins
    batch = _empty_batch("ties", None)
    user_n, pin_n, utc_ms = (np.concatenate(parts) for parts in zip(*world.saves, strict=True))
    country = int(np.argmax(world.geography.shares))
    columns: dict[str, list[int]] = {k: [] for k in ("user_n", "pin_n", "utc_ms")}
    monday = config.start - timedelta(days=config.start.weekday())
    for week, rank in ((1, 1), (3, 3)):
        trap = f"weekly_category_tie_rank_{rank}"
        week_ms = _epoch_ms(monday + timedelta(weeks=week))
        in_week = (utc_ms >= week_ms) & (utc_ms < week_ms + 7 * DAY_MS)
        in_week &= users.country[user_n] == country
        pairs = set(zip(user_n[in_week].tolist(), pin_n[in_week].tolist(), strict=True))
        saves = Counter(int(pins.category[p]) for _, p in pairs)
        ranked = sorted(range(len(CATEGORIES)), key=lambda c: (-saves[c], CATEGORIES[c]))
        leader, chaser = ranked[rank - 1], ranked[rank]
        at = week_ms + 2 * DAY_MS + 13 * HOUR_MS
        savers = np.flatnonzero((users.country == country) & ~users.is_ghost)
        savers = savers[users.signup_ms[savers] < at]
        first = len(columns["utc_ms"])
        for pin in np.flatnonzero(pins.category == chaser):
            for user in savers:
                if saves[chaser] >= saves[leader]:
                    break
                if (int(user), int(pin)) not in pairs:
                    pairs.add((int(user), int(pin)))
                    saves[chaser] += 1
                    columns["user_n"].append(int(user))
                    columns["pin_n"].append(int(pin))
                    columns["utc_ms"].append(at + 60_000 * (len(columns["utc_ms"]) - first))
        batch["traps"][trap] = len(columns["utc_ms"]) - first
        batch["examples"][trap] = {
            "week_start": (monday + timedelta(weeks=week)).isoformat(),
            "country": world.geography.countries[country],
            "categories": sorted([CATEGORIES[leader], CATEGORIES[chaser]]),
            "saves": saves[leader],
        }
    # Each save follows its own impression (a search result at slot 1, 5 s earlier) in a request
    # of its own.
    n = len(columns["utc_ms"])
    pair = np.repeat(np.arange(n), 2)
    frame = {
        "user_n": np.array(columns["user_n"], np.int32)[pair],
        "pin_n": np.array(columns["pin_n"], np.int32)[pair],
        "request_n": pair.astype(np.int64),
        "event_type": np.tile(np.array([IMPRESSION, SAVE], np.int8), n),
        "surface": np.full(2 * n, SURFACE_NAMES.index("search"), np.int8),
        "slot": np.ones(2 * n, np.int16),
        "utc_ms": np.array(columns["utc_ms"], np.int64)[pair] - np.tile([5000, 0], n),
    }
    batch_prefix, frame["seq"] = _numbering(world, "raw_events", 2 * n, "es" + "0" * DAY_DIGITS)
    requests = _Requests.number(world, "rs" + "0" * DAY_DIGITS, n)
    world.saves.clear()  # the ties are the last events: nothing else counts them
    _write_event_frame(world, batch, frame, batch_prefix, sink, out, requests)
    first = np.arange(0, 2 * n, 2)
    impressions = _Impressions(
        request_n=frame["request_n"][first],
        user_n=frame["user_n"][first],
        pin_n=frame["pin_n"][first],
        slot=frame["slot"][first],
        utc_ms=frame["utc_ms"][first],
        p_click=np.full(n, CLICK_SCALE * CLICK_BETA[0] / sum(CLICK_BETA)),  # an average user's
        clicked=np.zeros(n, dtype=bool),
        engaged=np.ones(n, dtype=bool),
        saved_without_click=np.ones(n, dtype=bool),
    )
    _count_request_traps(batch, impressions, _NONE)
    scores_rng = _rng(config.seed, _TIES, _SCORES)
    _write_scores(world, batch, impressions, requests, _NONE, scores_rng, sink, out)
    ids = _ids(batch_prefix, frame["seq"][1::2], world.ids.event)  # the saves
    for rank, trap in enumerate(("weekly_category_tie_rank_1", "weekly_category_tie_rank_3")):
        first = batch["traps"]["weekly_category_tie_rank_1"] if rank else 0
        batch["examples"][trap]["event_ids"] = ids[first : first + batch["traps"][trap]]
    return batch


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
    # exact counts (ints) add a fixed number of rows, nothing per event
    rates = (traps.exact_duplicate_events, traps.retried_events, traps.bad_rows)
    extra = sum(r for r in rates if isinstance(r, float)) + late
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
        launches=SCALE_LAUNCHES,
    )
    _validate(config, days)
    out = Path(out)
    _prepare(out, overwrite)
    state = {"config": config.to_json(), "days": 0, "late_batches": 0, "batches": []}
    with _opened(sink) as writer:
        for batch in simulate(config, days, writer, out, progress=progress):
            state["batches"].append(batch)
            if batch["day_index"] is not None:
                state["days"] = batch["day_index"] + 1
            _save_state(out, state)
    return _summary(out, state["batches"], began)


def simulate(
    config: GeneratorConfig, days: int, sink: ParquetSink, out: Path, *, progress: bool = False
) -> Iterator[dict]:
    """Write the base batch, then day after day, then the planted ties (if asked for); yields
    each batch's manifest entry as it is written."""
    _validate(config, days)
    world = _build_world(config, days - 1)
    yield _write_base(world, sink, out)
    assigned = np.zeros(len(world.users), dtype=bool)
    for day in _progress(range(days), progress):
        yield _generate_day(world, day, assigned, sink, out)
    if config.category_ties:
        yield _write_ties(world, sink, out)


def append_day(out: Path, *, sink: ParquetSink | None = None) -> GenerationSummary:
    """Write the next day of a generated data set (exactly what a longer generate writes)."""
    began = time.perf_counter()
    out = Path(out)
    state = read_state(out)
    config = GeneratorConfig.from_json(state["config"])
    day = state["days"]
    _validate(config, day + 1)
    world = _build_world(config, day, planted=state)
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
    world = _build_world(config, delivery_day, planted=state)
    assigned = _replay_assigned(world, delivery_day)
    rng = _rng(config.seed, _LATE_BATCH, number)
    eligible = _eligible(config, delivery_day - 1)
    weights = world.users.sessions_per_day[:eligible]
    lateness_cap = min(max_lateness_days, delivery_day)
    n_sessions = int(n / expected_events_per_session() * 1.5) + 10
    while True:
        users = rng.choice(eligible, n_sessions, p=weights / weights.sum()).astype(np.int32)
        lateness = rng.integers(1, lateness_cap + 1, n_sessions)
        events = _late_events(world, delivery_day, users, lateness, assigned, rng, rng)
        if len(events) >= n:
            break
        n_sessions *= 2
    columns = {k: v[:n] for k, v in _event_columns(events).items()}
    columns["seq"] = np.arange(n, dtype=np.int64)
    batch = _empty_batch(f"late-{number:04d}", None)
    batch["traps"]["late_events"] = n
    requests = _Requests.number(world, f"rl{number:0{DAY_DIGITS}d}", events.n_requests)
    # the delivered impressions are the first ones (events are laid out request by request)
    delivered = events.impressions.subset(
        np.arange(int((columns["event_type"] == IMPRESSION).sum()))
    )
    with _opened(sink) as writer:
        batch_prefix = f"el{number:0{DAY_DIGITS}d}"
        _write_event_frame(world, batch, columns, batch_prefix, writer, out, requests)
        _count_request_traps(batch, delivered, _NONE)
        scores_rng = _rng(config.seed, _LATE_BATCH, number, _SCORES)
        _write_scores(world, batch, delivered, requests, _NONE, scores_rng, writer, out)
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
