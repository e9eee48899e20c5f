"""argparse `type=` validators: a flag's value is checked as it is parsed, so a bad number is a
one-line usage error (exit 2) naming the flag, never a NaN that reaches the statistics.

Each validator raises argparse.ArgumentTypeError; argparse prefixes the flag's name.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return value


def finite_float(text: str) -> float:
    """Any finite number (no nan, inf)."""
    return _number(text)


def positive_float(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a number above 0")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be a number of at least 0")
    return value


def open_unit_interval(text: str) -> float:
    """A probability strictly between 0 and 1 (alpha, power, a baseline share)."""
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be a number strictly between 0 and 1")
    return value


def bounded_int(low: int, high: int | None = None) -> Callable[[str], int]:
    """A whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} must be at least {low}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{value} is above the limit of {high:,}")
        return value

    parse.__name__ = "whole number"
    return parse


positive_int = bounded_int(1)
non_negative_int = bounded_int(0)


def non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def output_directory(text: str) -> Path:
    """A directory to write into: missing (it is created) or an existing directory; never an
    existing file, nor under one."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a file, not a directory: give a directory")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(
                    f"{path}: {parent} is a file, not a directory: give a directory"
                )
            break
    return path


def comma_choices(choices: Iterable[str]) -> Callable[[str], tuple[str, ...]]:
    """A comma list whose items are all in `choices` (order kept, duplicates dropped)."""
    allowed = tuple(choices)

    def parse(text: str) -> tuple[str, ...]:
        items = tuple(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))
        if not items:
            raise argparse.ArgumentTypeError(f"give one or more of {', '.join(allowed)}")
        unknown = [item for item in items if item not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(repr(u) for u in unknown)} (choose from {', '.join(allowed)})"
            )
        return items

    parse.__name__ = "comma list"
    return parse
