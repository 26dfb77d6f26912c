"""The Scrapy engine (--render, --distributed, --engine scrapy) parses pages where the asyncio
engine does: in worker processes, each page with a time budget. It parsed them in its crawl
process, where an attribute bomb (libxml2 is quadratic in one element's attributes) held the
whole crawl without end."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.localsite import forum_policies, serve

# The run's CLI with a parse budget of 1 s (60 s in a run), so the test need not wait a minute.
BUDGET = ("import sys\n"
          "from audit.measure import parsepool\n"
          "parsepool.PAGE_BUDGET_S = 1.0\n"
          "from audit.cli import main\n"
          "sys.argv = ['hulian', *sys.argv[1:]]\n"
          "main()\n")

BOMB = (b"<html><body><div " + b" ".join(b"a%d=1" % i for i in range(200_000))
        + b'>x</div><a href="http://shop.test/x">x</a></body></html>')


def test_attribute_bombs_cost_the_scrapy_engine_one_budget_each(tmp_path: Path) -> None:
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/p": (200, {}, b'<a href="http://shop.test/ok">a</a>'
                                  b'<a href="http://go.test/bomb">b</a>'),
        "forum.test/bomb": (200, {}, BOMB),
        "go.test/bomb": (200, {}, BOMB.replace(b"a0=1", b"b0=1")),
        "shop.test/ok": (200, {}, b"<p>an item</p>"),
    }
    policies = forum_policies(tmp_path / "policies")
    started = time.monotonic()
    with serve(pages) as site:
        result = subprocess.run(
            [sys.executable, "-c", BUDGET, "--policies", str(policies), "run",
             "--seed", "testforum:post:http://forum.test/bomb",
             "--seed", "testforum:post:http://forum.test/p", "--source", "testforum",
             "--route", f"*.test={site.url}", "--robots", "ignore", "--out",
             str(tmp_path / "runs"), "--run-id", "r", "--report-format", "", "--json",
             "--engine", "scrapy", "--parse-processes", "1"],
            capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert time.monotonic() - started < 120
    summary = json.loads(result.stdout)
    assert summary["seed_errors"] == [{"url": "http://forum.test/bomb",
                                       "error": "parse_timeout"}]
    lines = (tmp_path / "runs" / "r" / "observations.jsonl").read_text().splitlines()
    observed = {o["target_url"]: o for o in map(json.loads, lines)}
    assert observed["http://shop.test/ok"]["outcome"] == "direct"
    held = observed["http://go.test/bomb"]  # the second bomb, in the replacement worker
    assert (held["outcome"], held["failure"]) == ("error", "parse_timeout")
    assert "http://shop.test/x" not in observed
