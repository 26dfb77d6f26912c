"""The crawler's safety and politeness settings against a local site, with both engines (the
default asyncio one and the real Scrapy): the private-address guard, --allow-private, and
the robots.txt policy (both recorded)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from audit.evidence.bundle import Bundle
from tests.localsite import forum_policies, serve

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("engine", ["asyncio", "scrapy"])]

def _run(tmp_path: Path, site_url: str, engine: str,
         *extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "-m", "audit.cli", "--policies", str(forum_policies(tmp_path / "policies")), "run",
         "--seed", "testforum:post:http://forum.test/post/1", "--route",
         f"forum.test={site_url}", "--source", "testforum", "--out", str(out), "--run-id", "r",
         "--json", "--engine", engine, "--report-format", "", *extra],
        capture_output=True, text=True, timeout=120, check=False)
    return result, out / "r"


def _page(port: int) -> bytes:
    # The last two hide loopback where URL parsers disagree: to a browser (and to the
    # fetcher's URL handling) both lead to 127.0.0.1, to urlsplit the first leads to the
    # routed forum.test.
    return (f'<p>内网链接</p><a href="http://127.0.0.1:{port}/secret">a</a>'
            f'<a href="http://localhost:{port}/secret2">b</a>'
            f'<a href="http://[::1]:{port}/secret3">c</a>'
            f'<a href="http://127.0.0.1:{port}\\@forum.test/secret4">d</a>'
            f'<a href="/\\127.0.0.1:{port}/secret5">e</a>').encode()


def test_links_into_private_space_are_refused_and_never_fetched(tmp_path: Path, engine: str) -> None:
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\n")}
    with serve(pages) as site:
        pages["forum.test/post/1"] = (200, {}, _page(site.port))
        result, run = _run(tmp_path, site.url, engine)
        asked = list(site.requests)
    assert result.returncode == 0, result.stderr[-2000:]
    observations = list(Bundle(run).observations())
    assert len(observations) == 5
    for obs in observations:
        assert obs.outcome.value == "error"
        assert obs.failure is not None and obs.failure.startswith("private_address:")
        assert obs.control_ok is None  # no control fetch into private space either
    assert not [p for p in asked if "secret" in p]  # no request ever reached those URLs
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config"]["allow_private"] is False
    assert manifest["config"]["engine"] == engine


def test_allow_private_lifts_the_guard_and_is_recorded(tmp_path: Path, engine: str) -> None:
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {}
    with serve(pages) as site:
        pages["forum.test/post/1"] = (200, {}, _page(site.port))
        pages["127.0.0.1/secret"] = (200, {}, b"<p>ok</p>")
        result, run = _run(tmp_path, site.url, engine, "--allow-private", "--robots", "ignore")
        asked = list(site.requests)
    assert result.returncode == 0, result.stderr[-2000:]
    outcomes = {o.target_url.split("/")[-1]: o.outcome.value for o in Bundle(run).observations()}
    assert outcomes["secret"] == "direct"
    assert "127.0.0.1/secret" in asked
    assert json.loads((run / "manifest.json").read_text())["config"]["allow_private"] is True


def test_robots_policy_is_explicit(tmp_path: Path, engine: str) -> None:
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/robots.txt": (200, {"Content-Type": "text/plain"},
                                  b"User-agent: *\nDisallow: /post/\n"),
        "forum.test/post/1": (200, {}, b'<a href="http://shop.test/item">x</a>'),
        "shop.test/item": (200, {}, b"<p>item</p>"),
    }
    with serve(pages) as site:
        route = ["--route", f"shop.test={site.url}"]
        obeyed, obey_run = _run(tmp_path / "obey", site.url, engine, *route)
        ignored, ignore_run = _run(tmp_path / "ignore", site.url, engine, "--robots", "ignore", *route)
    assert obeyed.returncode == 0 and ignored.returncode == 0
    assert json.loads(obeyed.stdout)["seed_errors"] == [
        {"url": "http://forum.test/post/1", "error": "robots_disallowed"}]
    assert [o.outcome.value for o in Bundle(ignore_run).observations()] == ["direct"]
    assert json.loads((obey_run / "manifest.json").read_text())["config"]["robots"] == "obey"
    assert json.loads((ignore_run / "manifest.json").read_text())["config"]["robots"] == "ignore"


def test_hostile_robots_txt_is_read_as_far_as_it_makes_sense(tmp_path: Path,
                                                             engine: str) -> None:
    """A robots.txt with a byte-order mark, binary garbage and a 404 status elsewhere: its
    rules still apply where they can be read, and nothing crashes."""
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/robots.txt": (200, {"Content-Type": "text/plain"},
                                  b"\xef\xbb\xbfUser-agent: *\nDisallow: /post/\n\x00\xff\xfe"
                                  b"\x80garbage\nAllow"),
        "forum.test/post/1": (200, {}, b'<a href="http://shop.test/item">x</a>'),
        "shop.test/robots.txt": (404, {}, b"<html>not here</html>"),
        "shop.test/item": (200, {}, b"<p>item</p>"),
    }
    with serve(pages) as site:
        route = ["--route", f"shop.test={site.url}"]
        result, run = _run(tmp_path, site.url, engine, *route)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["seed_errors"] == [
        {"url": "http://forum.test/post/1", "error": "robots_disallowed"}]
    assert list(Bundle(run).observations()) == []
