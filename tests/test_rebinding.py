"""The private-address guard against DNS rebinding, with both engines and with --render, in a
network namespace of the test's own (tests/netns.py): its DNS answers 1.2.3.4 to the first
query for a `*.rebind.test` name and 127.0.0.1 to every later one, and secret servers on
127.0.0.1, [::1] and 10.55.0.1 log every connection. Nothing may ever reach them without
--allow-private: the guard must decide on the address that is actually connected."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.bundle import Bundle
from tests.localsite import forum_policies
from tests.netns import Lab, Pages, rebinding_lab

pytestmark = pytest.mark.slow

SECRETS = ("loopback", "loopback6", "ten")

CRAWL_PAGES: Pages = {
    "forum.test/robots.txt": (200, {"Content-Type": "text/plain"}, "User-agent: *\n", 0.0),
    "forum.test/post/1": (200, {}, '<a href="http://a.rebind.test/page">shop</a>'
                                   '<a href="http://ten.test/x">intranet</a>'
                                   '<a href="http://2130706433/lit">decimal</a>', 0.0),
    "a.rebind.test/robots.txt": (200, {"Content-Type": "text/plain"}, "User-agent: *\n", 0.0),
    "a.rebind.test/page": (200, {}, "<p>public page</p>", 0.0),
}


def _crawl(lab: Lab, tmp_path: Path, seed: str, *extra: str) -> tuple[str, Path]:
    out = tmp_path / "runs"
    result = lab.hulian("--policies", str(forum_policies(tmp_path / "policies")), "run",
                        "--seed", f"testforum:post:{seed}", "--source", "testforum",
                        "--out", str(out), "--run-id", "r", "--json", "--report-format", "",
                        *extra, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, out / "r"


def _never_reached_secrets(lab: Lab) -> None:
    leaked = [e for e in lab.entries() if e["server"] in SECRETS]
    assert leaked == [], f"the guard let these through: {leaked}"


@pytest.mark.parametrize("engine", ["asyncio", "scrapy"])
def test_a_name_rebound_to_loopback_is_never_fetched(tmp_path: Path, engine: str) -> None:
    with rebinding_lab(tmp_path, CRAWL_PAGES) as lab:
        _, run = _crawl(lab, tmp_path, "http://forum.test/post/1", "--engine", engine)
        _never_reached_secrets(lab)
        public = {f"{e['host']}{e['path']}" for e in lab.reached("public")
                  if e["event"] == "request"}
    observations = {o.target_url: o for o in Bundle(run).observations()}
    assert set(observations) == {"http://a.rebind.test/page", "http://ten.test/x",
                                 "http://2130706433/lit"}
    # The rebinding name was measured at the address its check saw, robots.txt included.
    rebound = observations["http://a.rebind.test/page"]
    assert (rebound.outcome.value, rebound.failure) == ("direct", None)
    assert {"a.rebind.test/robots.txt", "a.rebind.test/page"} <= public
    assert observations["http://ten.test/x"].failure == "private_address:ten.test"
    assert observations["http://2130706433/lit"].failure == "private_address:2130706433"
