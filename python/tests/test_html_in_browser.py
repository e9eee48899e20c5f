"""The HTML readouts (analyze on the seed and the three-arm experiment, ranking, causal)
rendered in a real browser: headless Chromium lays each page out at a 1200 px window and at a
narrow 720 px one, and a probe measures what a reader would see. Nothing may overflow: the page
never scrolls sideways, no table or plot reaches past the page, at 1200 px every table fits its
section without scrolling (narrower, a table may scroll inside its own box), and every SVG
<text> lies inside its SVG (no clipped metric name or tick label) without overlapping another.

The product HTML stays script-free: only a copy made here gets the probe <script>, which writes
its findings as JSON into a <pre id="probe"> that `chromium --dump-dom` prints. A screenshot of
each page (the product file, full height at 1200 px) goes to build/screenshots/ for people to
look at. Without Chromium the tests skip, saying so, except under CI (CI set), where a
missing browser is a failure (.ci/run installs Debian's chromium package when it can).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

import pytest

from metricbook import cli
from metricbook.warehouse.dbt_runner import REPO_ROOT

SCREENSHOTS = REPO_ROOT / "build" / "screenshots"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDE, NARROW = 1200, 720
TOLERANCE = 0.5  # px: sub-pixel rounding of text boxes

READOUTS = {
    "readout": ["analyze", "--experiment", "exp_home_feed_ranking_v2"],
    # the depth data set's three arms: every depth section, with three-way tables and plots
    "three_arms": ["analyze", "--experiment", "exp_related_pins_layout"],
    "ranking": ["ranking"],
    "causal": [
        "causal", "--launch", "launch_idea_pins_eu", "--metric", "saves_per_active_user",
        "--method", "all", "--negative-control", "ctr",
    ],
}  # fmt: skip

# Runs after layout (the end of <body>). Text boxes come from getBoundingClientRect, which
# includes every transform and the SVG's scaling to the page, so a label is compared with its
# SVG's box as the reader sees both (the outermost <svg> clips what falls outside it).
PROBE = """
<script>
(function () {
  function box(e) {
    var r = e.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
  }
  var root = document.documentElement;
  var out = {inner_width: window.innerWidth, client_width: root.clientWidth,
             scroll_width: root.scrollWidth, scroll_height: root.scrollHeight,
             tables: [], svgs: []};
  document.querySelectorAll("table").forEach(function (t, i) {
    var wrapper = t.parentElement;
    out.tables.push({id: t.id || ("table " + i), box: box(t),
                     wrapper_box: box(wrapper),
                     scrolls: wrapper.scrollWidth > wrapper.clientWidth + 1,
                     wrapper_scrolls_inside: getComputedStyle(wrapper).overflowX !== "visible"});
  });
  document.querySelectorAll("svg").forEach(function (s, i) {
    if (s.parentElement.closest("svg")) { return; }
    var texts = [];
    s.querySelectorAll("text").forEach(function (t) {
      var b = t.getBBox();
      texts.push({text: t.textContent, box: box(t), bbox_width: b.width});
    });
    out.svgs.push({id: s.id || ("svg " + i), box: box(s), texts: texts,
                   view_box: s.getAttribute("viewBox")});
  });
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")  # session: found (or skipped) before the seeds are built
def chromium() -> str:
    found = os.environ.get("METRICBOOK_CHROMIUM") or next(
        (path for name in BROWSERS if (path := shutil.which(name))), None
    )
    if found:
        return found
    message = (
        "no Chromium on PATH (tried " + ", ".join(BROWSERS) + "; or set METRICBOOK_CHROMIUM): "
        "apt-get install -y chromium"
    )
    if _in_ci():
        pytest.fail(f"CI: {message}")
    pytest.skip(message)


def _browse(chromium: str, page: Path, *flags: str) -> str:
    with tempfile.TemporaryDirectory(prefix="metricbook-chromium-") as profile:
        completed = subprocess.run(
            [
                chromium, "--headless", "--no-sandbox", "--hide-scrollbars", "--disable-gpu",
                "--no-first-run", f"--user-data-dir={profile}", *flags, page.as_uri(),
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def _probe(chromium: str, page: Path, width: int) -> dict:
    probed = page.with_name(f"{page.stem}.probe-{width}.html")
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text  # the product page has none; only this copy does
    probed.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _browse(
        chromium, probed, f"--window-size={width},1600", "--virtual-time-budget=2000", "--dump-dom"
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, f"the probe did not run in {probed}: {dom[:500]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def pages(
    chromium: str, seeds_db: Path, depth_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The readouts of the built seeds (and the depth set's three arms), written by the CLI as
    a user would."""
    directory = tmp_path_factory.mktemp("html")
    written = {}
    monkeypatch = pytest.MonkeyPatch()
    try:
        for name, args in READOUTS.items():
            database = depth_db if name == "three_arms" else seeds_db
            monkeypatch.setenv("METRICBOOK_DUCKDB_PATH", str(database))
            page = directory / f"{name}.html"
            with redirect_stdout(StringIO()), redirect_stderr(StringIO()) as err:
                code = cli.main([*args, "--report", str(page)])
            assert code == 0, err.getvalue()
            written[name] = page
    finally:
        monkeypatch.undo()
    return written


@pytest.fixture(scope="module")
def probed(chromium: str, pages: dict[str, Path]) -> dict[tuple[str, int], dict]:
    results = {(name, width): _probe(chromium, page, width) for name, page in pages.items()
               for width in (WIDE, NARROW)}  # fmt: skip
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, page in pages.items():
        height = min(max(int(results[name, WIDE]["scroll_height"]), 800), 12000)
        shot = SCREENSHOTS / f"{name}.png"
        _browse(chromium, page, f"--window-size={WIDE},{height}", f"--screenshot={shot}")
        assert shot.stat().st_size > 0
    return results


def _overlap(a: dict, b: dict) -> bool:
    width = min(a["right"], b["right"]) - max(a["left"], b["left"])
    height = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
    return width > 1 and height > 1


@pytest.mark.parametrize("width", [WIDE, NARROW])
@pytest.mark.parametrize("name", list(READOUTS))
def test_page_never_scrolls_sideways(probed, name: str, width: int) -> None:
    found = probed[name, width]
    assert found["inner_width"] == width
    assert found["scroll_width"] <= found["client_width"], found["scroll_width"]


@pytest.mark.parametrize("width", [WIDE, NARROW])
@pytest.mark.parametrize("name", list(READOUTS))
def test_tables_fit_or_scroll_inside_their_section(probed, name: str, width: int) -> None:
    found = probed[name, width]
    page = found["client_width"]
    assert found["tables"], "every readout has a table"
    for table in found["tables"]:
        assert table["wrapper_box"]["right"] <= page + TOLERANCE, table
        if table["scrolls"]:
            assert width < WIDE, f"{table['id']} does not fit its section at {width} px"
            assert table["wrapper_scrolls_inside"], f"{table['id']} has no scrolling box"
        else:
            assert table["box"]["right"] <= page + TOLERANCE, table


@pytest.mark.parametrize("width", [WIDE, NARROW])
@pytest.mark.parametrize("name", list(READOUTS))
def test_plots_fit_the_page_and_clip_no_label(probed, name: str, width: int) -> None:
    found = probed[name, width]
    page = found["client_width"]
    plots = [svg for svg in found["svgs"] if svg["texts"]]
    assert plots, "every readout has a plot"
    for svg in found["svgs"]:
        assert svg["box"]["right"] <= page + TOLERANCE, (svg["id"], svg["box"], page)
    for svg in plots:
        outer = svg["box"]
        for text in svg["texts"]:
            inner = text["box"]
            assert text["bbox_width"] > 0, text  # laid out with a font
            inside = (
                inner["left"] >= outer["left"] - TOLERANCE
                and inner["right"] <= outer["right"] + TOLERANCE
                and inner["top"] >= outer["top"] - TOLERANCE
                and inner["bottom"] <= outer["bottom"] + TOLERANCE
            )
            assert inside, f"{svg['id']}: {text['text']!r} at {inner} is clipped by {outer}"
        for index, a in enumerate(svg["texts"]):
            for b in svg["texts"][index + 1 :]:
                assert not _overlap(a["box"], b["box"]), (svg["id"], a["text"], b["text"])


def test_screenshots_are_saved_for_people(probed) -> None:
    for name in READOUTS:
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000
