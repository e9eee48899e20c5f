"""Raw CSV files that would stop dbt's seed load are refused first, in one line naming the
file and the line (metricbook.warehouse.raw_files)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from metricbook.warehouse.dbt_runner import REPO_ROOT
from metricbook.warehouse.raw_files import check_seed_files, main

HEADER = b"pin_id,board_id,creator_id,category,is_video,created_at\n"
ROW = b"p1,b1,u1,art,false,2024-01-01T00:00:00Z\n"

BROKEN = {
    "zero_bytes": (b"", "empty"),
    "whitespace_only": (b"  \n\n", "empty"),
    "invalid_utf8": (
        HEADER + b"p1,b1,u1,\xff\xfeart,false,2024-01-01T00:00:00Z\n",
        "line 2 is not UTF-8",
    ),
    "latin1_export": (HEADER + "p1,b1,u1,caf\xe9,false,x\n".encode("latin-1"), "not UTF-8"),
    "header_renamed": (HEADER.replace(b"category", b"cat") + ROW, "the header is"),
    "header_missing_column": (b"pin_id,board_id,creator_id,category,is_video\n" + ROW, "header"),
    "header_extra_column": (HEADER.replace(b"\n", b",extra\n") + ROW, "header"),
    "header_only_data": (ROW, "header"),
    "row_extra_field": (
        HEADER + b"p1,b1,u1,art,false,2024-01-01T00:00:00Z,oops\n",
        "line 2 has 7 fields",
    ),
    "row_missing_field": (HEADER + ROW + b"p2,b1,u1,art,false\n", "line 3 has 5 fields"),
    "unquoted_comma": (
        HEADER + b"p1,b1,u1,arts,crafts,false,2024-01-01T00:00:00Z\n",
        "quote values",
    ),
    "unclosed_quote": (HEADER + b'p1,b1,u1,"art,false,2024-01-01T00:00:00Z\n', "raw_pins.csv"),
    "nul_byte": (HEADER + b"p1,b1,u1,a\x00rt,false,2024-01-01T00:00:00Z\n", "raw_pins.csv"),
}


def _seeds_with(tmp_path: Path, content: bytes | None) -> Path:
    directory = tmp_path / "seeds"
    shutil.copytree(REPO_ROOT / "seeds", directory)
    target = directory / "raw_pins.csv"
    if content is None:
        target.unlink()
    else:
        target.write_bytes(content)
    return directory


def test_the_shipped_seeds_pass() -> None:
    rows = check_seed_files(REPO_ROOT / "seeds")
    assert rows["raw_events"] > 25_000 and all(rows.values())


@pytest.mark.parametrize(
    "content",
    [HEADER + ROW, b"\xef\xbb\xbf" + HEADER + ROW, HEADER, HEADER + ROW.replace(b"\n", b"\r\n")],
    ids=["plain", "utf8_bom", "header_only", "crlf"],
)
def test_well_formed_files_pass(content: bytes, tmp_path: Path) -> None:
    assert main([str(_seeds_with(tmp_path, content))]) == 0


@pytest.mark.parametrize("name", sorted(BROKEN), ids=sorted(BROKEN))
def test_a_broken_seed_file_is_refused_in_one_line(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, expected = BROKEN[name]
    assert main([str(_seeds_with(tmp_path, content))]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("metricbook: error: "), err
    assert "raw_pins.csv" in err and expected in err, err


def test_a_missing_file_or_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(_seeds_with(tmp_path, None))]) == 3
    assert "raw_pins.csv: missing" in capsys.readouterr().err
    assert main([str(tmp_path / "nowhere")]) == 3
    assert "not a directory" in capsys.readouterr().err
