"""The options of `metricbook generate` and `metricbook seeds`, and the defaults they share
with the generator.

Standard library and metricbook.arguments only: `metricbook --help`, `metricbook generate --help`
and `metricbook seeds --help` build these parsers without importing numpy, pandas or DuckDB.
profiles.py takes its defaults (ExperimentSpec, GeneratorConfig, TrapRates) from here, so each
lives in one place.
"""

from __future__ import annotations

import argparse
from datetime import date
from types import MappingProxyType

from metricbook.arguments import (
    iso_date,
    non_empty,
    non_negative_float,
    non_negative_int,
    output_directory,
    positive_float,
    positive_int,
)

DESCRIPTION = "Synthetic raw tables at scale, streamed to Parquet one day at a time."
HELP = "write large synthetic raw tables as Parquet"
EXAMPLE = "metricbook generate --users 10000 --days 28 --out build/raw"

DEFAULT_START = date(2024, 1, 1)
EVENTS_PER_USER_DAY = 10.0  # mean events of an established user per calendar day
MAX_LATENESS_DAYS = 3
# the experiment the seeds teach with (profiles.TEACHING.experiment_id; a test keeps them equal)
EXPERIMENT_ID = "exp_home_feed_ranking_v2"
EXPERIMENT_START_DAY = 14
EXPERIMENT_DAYS = 14
# the treatment's effect on the per-impression click, save and hide probabilities
MULTIPLIERS = MappingProxyType({"click": 1.05, "save": 1.0, "hide": 1.0})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every number is checked as it is parsed (finite, in range): a bad value is a one-line
    usage error naming the flag, before anything is generated."""
    parser.add_argument(
        "--out", type=output_directory, required=True, help="output directory (not a file)"
    )
    parser.add_argument(
        "--users", type=positive_int, help="base cohort size (new users join daily)"
    )
    parser.add_argument(
        "--target-events", type=positive_int, help="pick --users for about N events"
    )
    parser.add_argument("--days", type=positive_int, help="days to generate")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="same seed, same bytes")
    parser.add_argument(
        "--start", type=iso_date, default=DEFAULT_START, help="UTC date of day 0 (YYYY-MM-DD)"
    )
    parser.add_argument(
        "--events-per-user-day",
        type=positive_float,
        default=EVENTS_PER_USER_DAY,
        help="mean of an established user",
    )
    parser.add_argument("--pins", type=positive_int, help="pin catalogue size (default users // 2)")
    parser.add_argument("--experiment-id", type=non_empty, default=EXPERIMENT_ID)
    parser.add_argument(
        "--experiment-start-day",
        type=non_negative_int,
        default=EXPERIMENT_START_DAY,
        help="day index",
    )
    parser.add_argument("--experiment-days", type=positive_int, default=EXPERIMENT_DAYS)
    for effect, default in MULTIPLIERS.items():
        parser.add_argument(
            f"--{effect}-multiplier",
            type=non_negative_float,
            default=default,
            help="treatment effect (a finite number >= 0)",
        )
    parser.add_argument("--no-traps", action="store_true", help="clean data: plant no traps")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing data set")
    parser.add_argument("--append-day", action="store_true", help="add one day to --out")
    parser.add_argument(
        "--late-events", type=positive_int, help="add a batch of N late events to --out"
    )
    parser.add_argument(
        "--max-lateness-days",
        type=positive_int,
        default=MAX_LATENESS_DAYS,
        help="for --late-events: 1..N days late",
    )


# --------------------------------------------------------------------------------------------
# `metricbook seeds`

SEEDS_DESCRIPTION = "Write a small profile of the generator (the seeds by default) as raw CSVs."
SEED_PROFILES = (
    "teaching",
    "alternate",
    "depth",
)  # datagen.profiles.PROFILES; a test keeps them equal


def add_seeds_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=output_directory, required=True, help="directory for the CSV files"
    )
    parser.add_argument(
        "--profile",
        choices=SEED_PROFILES,
        default="teaching",
        help="teaching: the shipped seeds; alternate: other zones, spellings and bad rows; "
        "depth: a three-arm experiment (novelty, heterogeneity, a platform-skewed assignment)",
    )
