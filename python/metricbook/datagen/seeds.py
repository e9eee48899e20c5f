"""`metricbook seeds`: the small profiles of the generator (teaching, the shipped seeds; alternate;
depth, the three-arm experiment) written as CSV files of text, exactly as a producer delivers
them, with their manifest.

The simulation is datagen.engine's; this module only runs it in memory and writes the CSVs
(every value text, an empty string for null, '\\n' line endings, the contract's columns as the
header). Heavy imports wait until the arguments are parsed, so `--help` stays light.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from metricbook.datagen import options
from metricbook.datagen.profiles import ALTERNATE, DEPTH, PROFILES, TEACHING, Profile
from metricbook.datagen.world import MANIFEST_FILE, RAW_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ALTERNATE",
    "DEPTH",
    "PROFILES",
    "TEACHING",
    "RawDataset",
    "generate",
    "main",
    "write_csv",
]


@dataclass(frozen=True)
class RawDataset:
    """A profile's raw tables (all text) and its manifest (world.MANIFEST_FORMAT)."""

    tables: dict[str, pd.DataFrame]
    manifest: dict


def generate(profile: Profile = TEACHING) -> RawDataset:
    """Run the engine for the profile and keep its text in memory."""
    from metricbook.datagen import engine

    with engine.TextSink() as sink:
        batches = list(engine.simulate(profile.config, profile.days, sink, Path(profile.name)))
        tables = sink.tables()
    manifest = engine.manifest(profile.name, batches, files=False)
    assert manifest["raw_rows"] == {t: len(f) for t, f in tables.items()}
    return RawDataset(tables=tables, manifest=manifest)


def write_csv(dataset: RawDataset, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for table in RAW_COLUMNS:
        dataset.tables[table].to_csv(out / f"{table}.csv", index=False, lineterminator="\n")
    text = json.dumps(dataset.manifest, indent=2, sort_keys=True) + "\n"
    (out / MANIFEST_FILE).write_text(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=options.SEEDS_DESCRIPTION)
    options.add_seeds_arguments(parser)
    args = parser.parse_args(argv)
    dataset = generate(PROFILES[args.profile])
    write_csv(dataset, args.out)
    sizes = ", ".join(f"{t}={n}" for t, n in dataset.manifest["raw_rows"].items())
    print(f"wrote {args.profile} raw tables to {args.out}: {sizes}")


if __name__ == "__main__":
    main()
