"""Replayable evidence on the site (issue 18, item 3) and its accessibility: the site of two
real lab runs (tests/test_site.py's fixture) served by `hulian site serve` on 127.0.0.1,
where a finding's replay link on a platform page, and the evidence link of a run page, open
ReplayWeb.page's viewer (vendored by scripts/site-vendor.sh) over the run's WACZ, and the
replayed frame shows the recorded interstitial's own text while no request leaves the site
(the lab stopped when its runs ended: nothing else could serve it). From file:// the viewer
page says why it cannot replay and offers the WACZ with its hash. axe-core finds no serious
or critical violation on any page type in either language. Without the vendored viewer the
build says so once and links the WACZ only; --no-replay publishes no WACZ. The preview
server's types and byte ranges (the viewer reads a WACZ by ranges).

The browser tests skip, saying why, without /usr/bin/chromium, Playwright or .site-vendor."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from typer.testing import CliRunner

from audit.cli.app import app
from audit.evidence.bundle import Bundle, sha256_file
from audit.site import replay
from tests.test_query import history  # noqa: F401  (the lab history)
from tests.test_site import site  # noqa: F401  (its site)
from tests.test_site_browser import browser  # noqa: F401  (Chromium through Playwright)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# Each page type of the site (a company page and a requirement page are found in the site).
PAGE_TYPES = ("index.html", "runs.html", "requirements.html", "methodology.html",
              "platform/wetalk.html", "run/lab-2.html", "evidence/lab-2.html")
# The lab's copy-to-browser interstitial (audit/lab: WeTalk's group-chat page).
INTERSTITIAL_TEXT = "如需浏览"


def _vendored() -> None:
    if replay.viewer_files() is None:
        pytest.skip(f"the replay viewer is not vendored in {replay.vendor_dir()} "
                    "(run: bash scripts/site-vendor.sh)")


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:  # noqa: F811
    """`hulian site serve SITE --port 0` on 127.0.0.1: its base URL."""
    with subprocess.Popen(
            [sys.executable, "-m", "audit.cli", "site", "serve", str(site), "--port", "0"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            assert found, line
            yield f"http://127.0.0.1:{found.group(1)}/"
        finally:
            process.terminate()
            process.wait(timeout=10)


def _context(browser: Any, **options: Any  # noqa: F811
             ) -> tuple[Any, list[str], list[str]]:
    """A fresh context (its own service workers), every request it makes, and its pages'
    console errors."""
    context = browser.new_context(**options)
    requests: list[str] = []
    errors: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    context.on("page", lambda p: p.on("pageerror", lambda e: errors.append(str(e))))
    return context, requests, errors


def _replayed_text(page: Any, wanted: str, timeout_s: float = 60) -> str:
    """The text of the viewer's replay frame once it holds `wanted` (the viewer loads the
    WACZ, its service worker serves the recorded response into a frame under replay/w/)."""
    deadline_ms = timeout_s * 1000
    waited = 0
    while waited < deadline_ms:
        for frame in page.frames:
            if "/replay/w/" in frame.url:
                try:
                    text = frame.evaluate("document.body ? document.body.innerText : ''")
                except Exception:  # the frame navigated meanwhile
                    continue
                if wanted in text:
                    return str(text)
        page.wait_for_timeout(250)
        waited += 250
    raise AssertionError(f"no replay frame showed {wanted!r}: "
                         f"{[f.url[:120] for f in page.frames]}")


def _recorded_hop(site_root: Path, run: str, observation_id: str) -> replay.Exchange:
    """The hop the viewer shows, read from the run's bundle (where the site says it is)."""
    state = json.loads((site_root / ".build/evidence" / f"{run}.json").read_text())
    assert state["evidence"]["items"], "no recorded chain published"
    doc = lxml.html.parse(str(site_root / "en/run" / f"{run}.html")).getroot()
    bundle = Path(doc.cssselect("#bundle code")[0].text_content())
    for observation in Bundle(bundle).observations():
        if observation.id == observation_id:
            hops = [replay.Exchange(h.url, h.status, h.via, h.body_sha256, h.warc_record_id)
                    for h in observation.hops]
            shown = replay.shown_hop(hops)
            assert shown is not None
            return hops[shown]
    raise AssertionError(f"{observation_id} not in {bundle}")


def test_a_finding_replays_the_recorded_interstitial_from_the_wacz(
        browser: Any, site: Path, served: str) -> None:  # noqa: F811
    _vendored()
    context, requests, errors = _context(browser)
    try:
        page = context.new_page()
        page.goto(served + "en/platform/wetalk.html")
        row = page.locator("tr.finding", has=page.locator(".badge.o-copy_only")).first
        link = row.locator("a.replay-link")
        shown_sha = row.locator("code.body-sha256").text_content()
        href = link.get_attribute("href")
        assert href and "#o-" in href
        observation_id = href.split("#o-", 1)[1]
        link.click()
        page.wait_for_url("**/en/evidence/lab-2.html#o-*")
        text = _replayed_text(page, INTERSTITIAL_TEXT)
        assert "shop.taoshop.lab" in text  # the page names the target to copy
        hop = _recorded_hop(site, "lab-2", observation_id)
        assert hop.url.startswith("http://go.wetalk.lab/")  # the interstitial, not the target
        # the recorded body's hash beside the viewer, as on the platform page
        assert page.locator("#replay-sha256").text_content() == hop.body_sha256 == shown_sha
        assert page.locator("#replay-url").text_content() == hop.url
        # the WACZ the viewer read is the file the page names, with its hash
        wacz = site / "files/lab-2/evidence.wacz"
        assert page.locator("#wacz-sha256").text_content() == sha256_file(wacz)
        assert any(r.startswith(served + "files/lab-2/evidence.wacz") for r in requests)
        # nothing but the site: the recorded body came from the WACZ
        assert requests and all(r.startswith(served) for r in requests), \
            [r for r in requests if not r.startswith(served)]
        assert errors == []
        # A recorded page's scripts do not run on the site's origin: one that reached the
        # evidence page around the viewer's rewriting wrote a forged hash beside it (a
        # review). A script added to the replayed frame is refused by its policy.
        frame = next(f for f in page.frames if "/replay/w/" in f.url)
        ran = frame.evaluate("""() => new Promise(done => {
            const s = document.createElement('script');
            s.textContent = 'window.__replayed_script_ran = true';
            document.head.appendChild(s);
            setTimeout(() => done(window.__replayed_script_ran === true), 200);
        })""")
        assert ran is False
    finally:
        context.close()


def test_a_run_page_opens_its_evidence_and_a_review_row_replays(
        browser: Any, site: Path, served: str) -> None:  # noqa: F811
    _vendored()
    context, requests, errors = _context(browser)
    try:
        page = context.new_page()
        page.goto(served + "zh/run/lab-2.html")
        review = page.locator("tr.review-row a.replay-link").first
        review.click()
        page.wait_for_url("**/zh/evidence/lab-2.html#o-*")
        # the lab's unrecognised page: DingWork's link check interstitial
        _replayed_text(page, "链接安全检测中")
        page.goto(served + "zh/run/lab-2.html")
        page.locator("#recorded a").first.click()
        page.wait_for_url("**/zh/evidence/lab-2.html")
        assert page.locator("#replay-sha256").text_content()
        assert all(r.startswith(served) for r in requests)
        assert errors == []
    finally:
        context.close()


@pytest.mark.parametrize("settings", ["none", "policy_default_worker", "policy_not_embedded",
                                      "policy_another_origins_wacz", "policy_extra_parameter"])
def test_a_replayed_page_cannot_open_a_viewer_of_its_own_choosing(
        browser: Any, site: Path, served: str, settings: str) -> None:  # noqa: F811
    """A recorded `Refresh` header navigates the replay frame with no script: to the viewer's
    app at replay/, with the same WACZ under another URL and no policy, it replayed the
    recorded pages with their scripts, one of which wrote a forged hash on the evidence page
    (reproduced against a hostile platform's run, 2026-12-07). The frame is navigated here as
    that header navigates it; the app the site's worker serves there loads no viewer but
    for exactly the parameters the site's viewer opens it with: not with the worker's
    default name (its app would register a worker without the guard), without `embed`,
    another origin's WACZ or a parameter more."""
    _vendored()
    context, _requests, _errors = _context(browser)
    try:
        page = context.new_page()
        page.goto(served + "en/evidence/lab-2.html")
        page.locator("a.replay-link").first.click()
        _replayed_text(page, "")
        frame = next(f for f in page.frames if "/replay/w/" in f.url)
        wacz = served + "files/lab-2/evidence.wacz?again=1"
        query = {"source": wacz, "embed": "replayonly"}
        if settings != "none":
            # The site's own settings, which its public code shows: without `embed` the
            # viewer drops them and loads the collection under a policy that runs scripts
            # (a review reproduced a forged hash so).
            query = {"source": served + "files/lab-2/evidence.wacz", "customColl": "",
                     "config": replay.REPLAY_CONFIG, "basePageUrl": served,
                     "baseUrlSourcePrefix": served, "embed": "replayonly",
                     "swName": replay.SW_NAME}
        if settings == "policy_default_worker":
            del query["swName"]
        elif settings == "policy_not_embedded":
            del query["embed"]
        elif settings == "policy_another_origins_wacz":
            query["source"] = "http://127.0.0.2:9/files/x/evidence.wacz"
        elif settings == "policy_extra_parameter":
            query["injectScripts"] = "x.js"
        frame.goto(served + "replay/?" + urllib.parse.urlencode(query))
        frame.wait_for_load_state()
        page.wait_for_timeout(2000)  # the time the viewer takes to open a replay frame
        assert "evidence page" in frame.evaluate("document.body.innerText")
        assert not [f.url for f in page.frames if f.parent_frame == frame]
        assert page.title().startswith("Recorded evidence")
    finally:
        context.close()


def test_from_file_the_viewer_page_offers_the_wacz_and_its_hash(
        browser: Any, site: Path) -> None:  # noqa: F811
    _vendored()
    context, requests, errors = _context(browser)
    console: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.goto((site / "en/evidence/lab-2.html").as_uri())
        page.wait_for_load_state("load")
        assert page.locator("#replay-unavailable").is_visible()
        assert "service worker" in page.locator("#replay-unavailable").text_content()
        assert page.locator("#wacz-link").get_attribute("href") == \
            "../../files/lab-2/evidence.wacz"
        assert page.locator("replay-web-page").count() == 0
        assert not any(r.endswith("/replay/ui.js") for r in requests)  # not even loaded
        assert all(r.startswith("file://") for r in requests)
        assert errors == [] and console == []
    finally:
        context.close()


def _axe_pages(site: Path) -> list[str]:  # noqa: F811
    company = sorted((site / "en/company").glob("*.html"))[0].name
    requirement = sorted((site / "en/requirement").glob("*.html"))[0].name
    return [*PAGE_TYPES, f"company/{company}", f"requirement/{requirement}"]


def test_axe_finds_no_serious_accessibility_violation(
        browser: Any, site: Path, served: str) -> None:  # noqa: F811
    axe = replay.vendor_dir() / "axe-core" / "axe.min.js"
    if not axe.is_file():
        pytest.skip(f"{axe} is missing (run: bash scripts/site-vendor.sh)")
    # axe is injected by the test, so the pages' CSP (scripts of the site only) is bypassed.
    context, _requests, errors = _context(browser, bypass_csp=True)
    found: list[str] = []
    try:
        page = context.new_page()
        checked = 0
        for lang in ("zh", "en"):
            for name in [*_axe_pages(site), "../index.html"]:
                page.goto(f"{served}{lang}/{name}")
                page.wait_for_load_state("load")
                page.add_script_tag(path=str(axe))
                # The replayed frame is the audited platform's recorded page, not the site's.
                result = page.evaluate("""async () => {
                    const r = await axe.run({exclude: [['replay-web-page']]},
                                            {resultTypes: ['violations']});
                    return r.violations.map(v => ({id: v.id, impact: v.impact,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
                }""")
                found += [f"{lang}/{name}: {v['id']} ({v['impact']}) {v['nodes']}"
                          for v in result if v["impact"] in ("serious", "critical")]
                checked += 1
        assert checked == 2 * (len(_axe_pages(site)) + 1)
        assert found == [], "\n".join(found)
        assert errors == []
    finally:
        context.close()


def test_without_the_vendored_viewer_the_build_says_so_once_and_links_the_wacz(
        tmp_path: Path, history: tuple[Path, str], monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    _runs, store = history
    monkeypatch.setenv(replay.VENDOR_ENV, str(tmp_path / "no-vendor"))
    out = tmp_path / "site"
    result = CliRunner().invoke(app, ["site", "build", "--store", store, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.count("replay viewer is not vendored") == 1
    assert "scripts/site-vendor.sh" in result.output
    assert not (out / "replay").exists()
    for lang in ("zh", "en"):
        doc = lxml.html.parse(str(out / lang / "evidence/lab-2.html")).getroot()
        assert doc.cssselect("#replay-no-viewer")
        assert not doc.cssselect("#viewer") and not doc.cssselect("script[src*=viewer]")
        link = doc.cssselect("#wacz-link")[0].get("href")
        assert (out / lang / "evidence" / link).resolve() == \
            (out / "files/lab-2/evidence.wacz").resolve()
        assert doc.cssselect("#wacz-sha256")[0].text_content() == \
            sha256_file(out / "files/lab-2/evidence.wacz")
    # the findings still show the recorded body's hash, and link to the evidence page
    platform = lxml.html.parse(str(out / "en/platform/wetalk.html")).getroot()
    hashes = [c.text_content() for c in platform.cssselect("tr.finding code.body-sha256")]
    assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes)


def test_no_replay_publishes_no_wacz(tmp_path: Path, history: tuple[Path, str]  # noqa: F811
                                     ) -> None:
    _runs, store = history
    out = tmp_path / "site"
    result = CliRunner().invoke(app, ["site", "build", "--store", store, "--out", str(out),
                                      "--no-replay"])
    assert result.exit_code == 0, result.output
    assert "not vendored" not in result.output
    assert not list(out.glob("files/*/*.wacz")) and not (out / "replay").exists()
    doc = lxml.html.parse(str(out / "en/evidence/lab-2.html")).getroot()
    assert "--no-replay" in doc.cssselect("#wacz-missing")[0].text_content()
    assert doc.cssselect("article.exchange code.hash")  # the recorded hashes still listed
    # ... and a build with replay brings the WACZ in, the next without takes it out
    CliRunner().invoke(app, ["site", "build", "--store", store, "--out", str(out)])
    assert (out / "files/lab-2/evidence.wacz").is_file()
    CliRunner().invoke(app, ["site", "build", "--store", store, "--out", str(out),
                             "--no-replay"])
    assert not (out / "files/lab-2/evidence.wacz").exists()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    """Status, headers (names in any case) and body."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_the_preview_serves_the_types_and_byte_ranges_the_viewer_needs(
        site: Path, served: str) -> None:  # noqa: F811
    (site / "assets/probe.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    try:
        for path, wanted in (("assets/viewer.js", "text/javascript"),
                             ("files/lab-2/evidence.wacz", "application/wacz"),
                             ("assets/probe.svg", "image/svg+xml"),
                             ("api/v1/runs.json", "application/json"),
                             ("en/index.html", "text/html; charset=utf-8")):
            status, headers, _body = _get(served + path)
            assert status == 200 and headers["Content-Type"] == wanted, (path, headers)
            assert headers["Accept-Ranges"] == "bytes"
    finally:
        (site / "assets/probe.svg").unlink()
    if replay.viewer_files() is not None:
        status, headers, _body = _get(served + "replay/sw.js")
        assert status == 200 and headers["Content-Type"] == "text/javascript"
        # served from replay/ with the scope replay/: no Service-Worker-Allowed needed
        assert "Service-Worker-Allowed" not in headers
    data = (site / "files/lab-2/evidence.wacz").read_bytes()
    url = served + "files/lab-2/evidence.wacz"
    for header, part in (("bytes=0-9", data[:10]), ("bytes=100-", data[100:]),
                         ("bytes=-22", data[-22:]), (f"bytes=10-{len(data) + 99}", data[10:])):
        status, headers, body = _get(url, {"Range": header})
        assert status == 206 and body == part, header
        first = len(data) - len(part) if header.startswith("bytes=-") else int(
            header.removeprefix("bytes=").split("-")[0])
        assert headers["Content-Range"] == f"bytes {first}-{first + len(part) - 1}/{len(data)}"
    status, headers, _body = _get(url, {"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"
    status, _headers, body = _get(url, {"Range": "bytes=0-1,5-6"})  # several: the whole file
    assert status == 200 and body == data
