"""Check the raw CSV files before dbt loads them: dbt stops on a zero-byte seed with "a callable
raised a StopIteration exception" and on invalid UTF-8 with a traceback that names no file. Each
problem here is one line naming the file, the line and what to do.

    metricbook check-seeds [DIR]    # default: the project's seeds/; exit 3 on a problem

Checked per raw table of the contract: the file exists, is not empty, is UTF-8, has exactly
the contract's header, and every row has as many fields as the header. Values are staging's
business (it rejects bad ones with a reason); this only guards what would stop the load.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Sequence
from pathlib import Path

from metricbook import contract
from metricbook.errors import DataValidationError, MetricbookError
from metricbook.warehouse.dbt_runner import REPO_ROOT

MAX_FIELD = 1_000_000  # characters; csv's own limit is 128 KiB and raises mid-file


def check_seed_file(path: Path, columns: Sequence[str]) -> int:
    """The number of data rows of one raw CSV, or DataValidationError naming the problem."""
    if not path.is_file():
        raise DataValidationError(f"{path}: missing; every raw table of the contract needs a file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataValidationError(f"{path}: cannot be read ({error.strerror})") from None
    if not data.strip():
        raise DataValidationError(
            f"{path}: empty; write at least the header line {','.join(columns)}"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataValidationError(
            f"{path}: line {line} is not UTF-8 (byte {data[error.start]:#04x} at offset "
            f"{error.start}); re-export the file as UTF-8"
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise DataValidationError(f"{path}: line {line} holds a NUL byte; remove it")
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = next(reader)
        if [name.strip() for name in header] != list(columns):
            raise DataValidationError(
                f"{path}: the header is {','.join(header)}; the raw contract says "
                f"{','.join(columns)}"
            )
        rows = 0
        for rows, row in enumerate(reader, start=1):  # noqa: B007 (counted after the loop)
            if len(row) != len(columns):
                raise DataValidationError(
                    f"{path}: line {reader.line_num} has {len(row)} fields, the header "
                    f"{len(columns)}; quote values that contain commas"
                )
    except csv.Error as error:
        raise DataValidationError(
            f"{path}: line {reader.line_num} is not valid CSV ({error})"
        ) from None
    return rows


def check_seed_files(directory: Path) -> dict[str, int]:
    """Rows per raw table; the first problem raises."""
    if not directory.is_dir():
        raise DataValidationError(f"{directory}: not a directory of raw CSV files")
    return {
        table: check_seed_file(directory / f"{table}.csv", columns)
        for table, columns in contract.raw_columns().items()
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0]) if args else REPO_ROOT / "seeds"
    try:
        check_seed_files(directory)
    except MetricbookError as error:
        print(f"metricbook: error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
