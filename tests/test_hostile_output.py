"""Text from hostile platform pages (titles, headlines, excerpts, reasons, URLs, host names)
in what people read of hulian's outputs: every CSV writer defuses spreadsheet formulas
(audit/evidence/csvcells.py), the terminal never obeys a page's escape sequences nor its
Rich markup (audit/cli/console.py `shown`), and a page's title is capped.

Each test fails on the code before these changes (the CSVs wrote formulas, the terminal
output carried ESC and crashed on `[/x]`, the title was kept whole)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from audit.cli import app
from audit.evidence.review import ReviewItem, write_review_csv
from audit.model import Hop, Outcome, SurfaceKind
from audit.policy.catalog import Catalog, load_catalog, policy_dirs
from audit.site.tables import Table
from tests import reportruns

ROOT = Path(__file__).resolve().parents[1]
ESC = "\x1b"

# Cells a spreadsheet runs: the review's payloads, and a host name (Ada keeps `= + - @ " ( )
# ,` in hosts: `http://=hyperlink(concat(...))/` gives the host cell below).
FORMULAS = ['=HYPERLINK("http://evil.test/","click")', "@SUM(1+1)*cmd|' /C calc'!A0",
            "-2+3", "+1", '=hyperlink(concat("http",char(58),char(47),char(47),"evil"),"x")',
            "=1+1.test", " =1+2", "\u200b=1+3", "\t=1+4", "\r=1+5"]
# What a page says that is not a formula: written as it is.
PLAIN = ["http://=1+1.test/", "a=b", "提示 -2", " lead", ""]

# Terminal attacks: CSI (clear the screen, recolour), OSC 8 (a link other than its text),
# OSC 52 (write the clipboard) ended by ESC \ and by BEL, OSC 0 (the window title), an
# 8-bit CSI, Rich markup, and a bidi override.
TERMINAL = {
    "csi": "\x1b[2J\x1b[H\x1b[32mALL CHECKS PASSED\x1b[0m",
    "osc8": "\x1b]8;;http://evil.test/\x1b\\CLICKME\x1b]8;;\x1b\\",
    "osc52_st": "\x1b]52;c;ZWNobyBwd25lZA==\x1b\\",
    "osc52_bel": "\x1b]52;c;ZWNobyBwd25lZA==\x07",
    "title": "\x1b]0;PWNED\x07",
    "c1": "\x9b2J\x9d0;PWNED\x9c",
    "link": "[link=http://evil.test/]richlink[/link]",
    "close": "http://shop.test/[/x]",
    "style": "[bold red on white]RICH[/]",
    "bidi": "http://shop.test/\u202egpj.exe\u202c \u2066x\u2069",
    "nul_del": "a\x00b\x7fc\x08d\x0be\x0cf\rg\nh",
}


def defused(cell: str) -> str:
    """The expectation, written out: a leading apostrophe for a formula start, after any
    leading whitespace or zero-width character."""
    return "'" + cell if re.match(r"[\s\u200b\u200c\u200d\u2060\ufeff]*[=+\-@]", cell) \
        or cell[:1] in ("\t", "\r") else cell


def no_formula(cells: list[str]) -> None:
    for cell in cells:
        assert not re.match(r"[\s\u200b\ufeff]*[=+\-@]", cell), cell


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(policy_dirs())


def _hostile_run(root: Path, catalog: Catalog, run_id: str, blocked: bool) -> Path:
    """A run whose pages carry formulas and escape sequences in titles, excerpts, URLs and
    hosts; `blocked` changes the outcomes, so that two such runs differ."""
    observations = []
    texts = FORMULAS + list(TERMINAL.values())
    for n, text in enumerate(texts):
        host = f"={n}+1.test" if n % 2 else f"@sum({n},1).test"
        target = f"http://{host}/{text}"
        outcome = Outcome.BLOCKED if blocked else (Outcome.WARNED, Outcome.COPY_ONLY)[n % 2]
        observations.append(reportruns.observation(
            "weixin", SurfaceKind.IM_GROUP, target, None, outcome, n=n, title=text,
            excerpt=text, signature="weixin/blocked",
            hops=[Hop(url=target, status=200, via="start",
                      warc_record_id=f"urn:uuid:00000000-0000-4000-8000-{n:012d}")]))
    review = reportruns.unrecognized_observation(len(texts))
    assert review.page is not None
    review.page.headline = FORMULAS[0]
    review.page.excerpt = FORMULAS[1] + TERMINAL["osc8"]
    review.final_url = "http://=1+1.test/"
    observations.append(review)
    return reportruns.write_run(root, run_id, observations, catalog)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("hostile")
    return (_hostile_run(base / "a", catalog, "20261128T030000Z-hostile-a", False),
            _hostile_run(base / "b", catalog, "20261128T030000Z-hostile-b", True))


def _csv(path: Path, encoding: str = "utf-8-sig") -> list[list[str]]:
    # The limit is the process's: given back, so that other tests' readers keep theirs.
    before = csv.field_size_limit(sys.maxsize)
    try:
        with path.open(encoding=encoding, newline="") as fh:
            return list(csv.reader(fh))
    finally:
        csv.field_size_limit(before)


def _invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, list(args), env=env)


# ---------------------------------------------------------------------------------------
# CSV writers
# ---------------------------------------------------------------------------------------


def test_findings_and_review_csv_defuse_every_formula(tmp_path: Path, runs: tuple[Path, Path],
                                                      catalog: Catalog) -> None:
    from audit.report.render import write_reports

    out = tmp_path / "out"
    write_reports(runs[1], catalog, ["csv"], "zh", out)
    rows = _csv(out / "findings.csv")
    titles = [row[rows[0].index("page_title")] for row in rows[1:]]
    for text in FORMULAS:
        assert defused(text) in titles
    assert "' =1+2" in titles and "'\u200b=1+3" in titles  # after leading whitespace too
    targets = [row[rows[0].index("target_url")] for row in rows[1:]]
    assert "http://=1+1.test/" + FORMULAS[1] in targets  # http://... starts no formula
    assert "'=HYPERLINK(\"http://evil.test/\",\"click\")" in titles
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in titles
    assert "'-2+3" in titles and "'+1" in titles
    no_formula([cell for row in rows[1:] for cell in row])

    review = _csv(out / "review.csv")
    cells = {c: review[1][review[0].index(c)] for c in review[0]}
    assert cells["headline"] == "'" + FORMULAS[0]
    assert cells["sentences"].startswith("'@SUM(1+1)")
    no_formula([cell for row in review[1:] for cell in row])


def test_review_csv_writer(tmp_path: Path) -> None:
    cells = FORMULAS + PLAIN
    items = [ReviewItem(observation_id="o", probe_id="p", source="s", surface="post",
                        target_url=c, target_platform=c, final_url=c, endpoint="", reading=c,
                        headline=c, sentences=c, warc_record="", screenshot="")
             for c in cells]
    write_review_csv(items, tmp_path / "review.csv")
    rows = _csv(tmp_path / "review.csv")
    assert [row[rows[0].index("headline")] for row in rows[1:]] == [defused(c) for c in cells]
    assert [row[rows[0].index("target_platform")] for row in rows[1:]] == \
        [defused(c) for c in cells]


def test_export_csv_defuses_text_and_keeps_numbers(tmp_path: Path,
                                                   runs: tuple[Path, Path]) -> None:
    out = tmp_path / "observations.csv"
    result = _invoke("export", str(runs[0]), "--format", "csv", "--out", str(out),
                     env={"HULIAN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.stderr
    rows = _csv(out, "utf-8")
    head = rows[0]
    titles = [row[head.index("page.title")] for row in rows[1:]]
    for text in FORMULAS[:6]:
        assert defused(text) in titles
    assert "'=1+1.test" in titles  # a host name as a cell
    no_formula([cell for row in rows[1:] for cell in row])
    # Number columns are numbers (a run time of 0.2 s, a status): no apostrophe.
    assert {row[head.index("runtime_s")] for row in rows[1:]} == {"0.2"}


def test_site_tables_defuse_text_and_keep_numbers() -> None:
    rows = [{"source": "weixin", "target": host, "links": -2, "share": -0.5,
             "outcomes": [host, "blocked"]} for host in FORMULAS + PLAIN]
    text = Table("edges", ("source", "target", "links", "share", "outcomes"), rows).as_csv()
    parsed = list(csv.reader(io.StringIO(text)))
    assert [row[1] for row in parsed[1:]] == [defused(h) for h in FORMULAS + PLAIN]
    assert {row[2] for row in parsed[1:]} == {"-2"}  # an int stays a number
    assert {row[3] for row in parsed[1:]} == {"-0.5"}
    assert parsed[1][4] == "'" + FORMULAS[0] + " blocked"  # a list joined, then defused


def test_query_csv_defuses_text_and_keeps_numbers(tmp_path: Path,
                                                  runs: tuple[Path, Path]) -> None:
    store = f"sqlite:///{tmp_path / 'history.db'}"
    env = {"HULIAN_CACHE": str(tmp_path / "cache")}
    result = _invoke("runs", "import", str(runs[0]), "--db", store, env=env)
    assert result.exit_code == 0, result.stderr
    sql = ("SELECT page.title AS title, -2 AS n, '-2+3' AS s FROM observations "
           "ORDER BY id")
    result = _invoke("query", "--store", store, sql, "--csv", env=env)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["title", "n", "s"]
    titles = [row[0] for row in rows[1:]]
    for text in FORMULAS[:6]:
        assert defused(text) in titles
    assert {row[1] for row in rows[1:]} == {"-2"}  # DuckDB's number: a number
    assert {row[2] for row in rows[1:]} == {"'-2+3"}  # a text that looks like one: defused
    no_formula([cell for row in rows[1:] for cell in (row[0], row[2])])
    assert "formula" in _invoke("query", "--help").stdout

    # The table view: no control character of the pages, no markup obeyed.
    result = _invoke("query", "--store", store,
                     "SELECT page.title AS title, target_url FROM observations", env=env)
    assert result.exit_code == 0, result.stderr
    assert _controls(result.stdout + result.stderr) == []
    assert "MarkupError" not in result.stdout + result.stderr
    # --json stays exact: the pages' characters as they are (JSON escapes them).
    result = _invoke("query", "--store", store, "SELECT page.title AS title FROM observations",
                     "--json", env=env)
    assert result.exit_code == 0, result.stderr
    assert {r["title"] for r in json.loads(result.stdout)} >= {*FORMULAS, *TERMINAL.values()}


# ---------------------------------------------------------------------------------------
# The terminal
# ---------------------------------------------------------------------------------------


def _controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 0x20 and c not in "\t\n") or 0x7F <= ord(c) < 0xA0
            or 0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069]


@pytest.mark.parametrize("name", list(TERMINAL))
def test_shown_text_has_no_control_and_no_markup(name: str) -> None:
    from audit.cli.console import shown

    text = TERMINAL[name]
    safe = shown(text)
    assert _controls(safe) == [] and "\n" not in safe
    # Printed as hulian prints it, on a terminal that takes colours: Rich's own styles
    # only, never the page's sequences, and the text visible as it was.
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=True, color_system="truecolor", width=200,
            soft_wrap=True).print(f"[bold]x[/] {safe} [red]y[/]")
    printed = buffer.getvalue()
    for bad in ("\x1b]", "\x1b[2J", "\x1b[H", "\x07", "\x9b", "\x9d", "\u202e", "\u2066"):
        assert bad not in printed
    plain = Console(file=io.StringIO(), width=200)
    with plain.capture() as captured:
        plain.print(safe, end="")
    visible = captured.get()
    if name in ("link", "close", "style"):
        assert visible == text  # markup shown as text
    if name == "osc8":
        # (a trailing backslash shows doubled: Rich's escape keeps it from escaping a tag
        # that may follow)
        assert visible.rstrip("\\") == "␛]8;;http://evil.test/␛\\CLICKME␛]8;;␛"
    if name == "osc52_bel":
        assert visible == "␛]52;c;ZWNobyBwd25lZA==␇"


def test_shown_keeps_lines_only_when_asked() -> None:
    from audit.cli.console import shown

    assert shown("a\nb\tc") == "a␊b\tc"
    assert shown("a\nb\x1b[2J", lines=True) == "a\nb␛[2J"


def test_inspect_prints_hostile_urls_and_links_safely(tmp_path: Path) -> None:
    page = tmp_path / "hostile.html"
    page.write_text(
        "<html><head><title>x</title><link rel=canonical href=\"http://forum.test/p?u="
        "&#x1b;]8;;http://evil.test/&#x1b;\\[link=http://evil.test/]CANON[/link]\"></head>"
        "<body><a href=\"http://shop.test/&#x1b;[2J&#x1b;]52;c;ZWNobyBwd25lZA==&#x1b;\\\">a</a>"
        "<a href=\"http://shop.test/&#x1b;]0;PWNED&#x07;\">b</a>"
        "<a href=\"http://shop.test/[link=http://evil.test/]click[/link]\">c</a>"
        "<a href=\"http://shop.test/[/x]\">d</a>"
        "<a href=\"http://shop.test/\u202egpj.exe\">e</a></body></html>", encoding="utf-8")
    result = _invoke("inspect", str(page))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    out = result.stdout + result.stderr
    assert ESC not in out and "\x07" not in out and "\u202e" not in out
    assert "MarkupError" not in out
    flat = out.replace("\n", "").replace("│", "").replace(" ", "")
    assert "[/x]" in flat and "[link=http://evil.test/]" in flat

    # On a terminal that takes colours: Rich's styles, but no page sequence, no OSC link.
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "audit.cli", "inspect", str(page)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "\x1b[" in done.stdout  # a terminal's output indeed
    for bad in ("\x1b]", "\x1b[2J", "\x07", "\u202e"):
        assert bad not in done.stdout + done.stderr

    # --json stays exact: the page's characters as they are, JSON-escaped.
    result = _invoke("inspect", str(page), "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["url"].startswith("http://forum.test/p?u=\x1b]8;;http://evil.test/\x1b\\[link=")


def test_diff_prints_hostile_targets_and_reasons_safely(runs: tuple[Path, Path]) -> None:
    result = _invoke("diff", str(runs[0]), str(runs[1]))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    out = result.stdout + result.stderr
    assert "new finding" in out or "worse" in out
    assert _controls(out) == []
    assert "␛" in out  # the reasons quote the URLs, their ESC shown as a symbol


# ---------------------------------------------------------------------------------------
# The title
# ---------------------------------------------------------------------------------------


def test_the_title_is_capped() -> None:
    from audit.web.page import parse_page

    page = parse_page("<html><head><title>" + "T" * 3_000_000 + "</title></head>"
                      "<body><h1>已停止访问该网页</h1></body></html>")
    assert len(page.title) == 1_000
    # A title under the cap is kept whole, spaces collapsed (the control comparison's
    # equal titles still mean equal titles).
    page = parse_page("<title> 商品  详情 " + "x" * 900 + "</title><p>a</p>")
    assert page.title == "商品 详情 " + "x" * 900
