"""--render with the real scrapy-playwright and Debian's Chromium against a local site: links
that only a script writes are found, and interstitials get a screenshot as evidence."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from audit.evidence.bundle import Bundle
from tests import zoo
from tests.localsite import reply, serve, serve_handler

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None,
                       reason="Debian chromium not installed (scripts/bootstrap.sh installs it)"),
    pytest.mark.skipif(importlib.util.find_spec("scrapy_playwright") is None,
                       reason="scrapy-playwright not installed (the [browser] extra)"),
]

SEED = b"""<html><body><p>post</p><div id="links"></div>
<script>
var a = document.createElement('a');
a.href = 'http://go.test/warn?url=http://shop.test/item'; a.textContent = 'shop';
document.getElementById('links').appendChild(a);
</script></body></html>"""

WARNING = ("<html><head><title>即将离开测试论坛</title></head><body><p>您即将离开测试论坛，去往："
           "http://shop.test/item</p><a href='http://shop.test/item'>继续访问</a></body></html>")


def _run(tmp_path: Path, site_url: str, *extra: str) -> tuple[subprocess.CompletedProcess[str],
                                                                 Path]:
    # `go.test` is the forum's link wrapper (`?url=`): its pages are the interstitials.
    policies = zoo.policies(tmp_path / "policies")
    out = tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "-m", "audit.cli", "--policies", str(policies), "run", "--seed",
         "testforum:post:http://forum.test/p", "--source", "testforum", "--route",
         f"*.test={site_url}", "--robots", "ignore", "--out", str(out), "--run-id", "r",
         "--json", *extra], capture_output=True, text=True, timeout=180, check=False)
    return result, out / "r"


def test_render_finds_script_links_and_screenshots_interstitials(tmp_path: Path) -> None:
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/p": (200, {}, SEED),
        "go.test/warn": (200, {}, WARNING.encode()),
        "shop.test/item": (200, {}, b"<p>item</p>"),
    }
    with serve(pages) as site:
        plain, _ = _run(tmp_path / "plain", site.url)
        rendered, run = _run(tmp_path / "render", site.url, "--render")
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert json.loads(plain.stdout)["planned"] == 0  # the link exists only after scripts run
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    (obs,) = list(Bundle(run).observations())
    assert obs.outcome.value == "warned"
    shots = [e for e in obs.evidence if e.startswith("screenshot:")]
    assert len(shots) == 1
    png = run / "evidence" / shots[0].split(":", 1)[1]
    assert png.read_bytes().startswith(b"\x89PNG")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config"]["render"] is True
    assert f"evidence/{shots[0].split(':', 1)[1]}" in manifest["files"]


def test_the_browser_has_no_way_out_but_the_gate(tmp_path: Path) -> None:
    """What tests/test_rebinding.py proves in a network namespace, as configuration: Chromium
    is launched with the gate as its proxy for loopback too, its service workers blocked
    (an https page's worker could outlive it), and no proxy of the context's own."""
    import asyncio

    from audit.measure.browsergate import BrowserGate
    from audit.measure.config import CrawlConfig
    from spiders.runner import build_settings

    settings = build_settings(CrawlConfig(render=True, routes={"*.test": "http://127.0.0.1:9"}),
                              None, None, evidence=tmp_path)
    gate = settings["HULIAN_BROWSER_GATE"]
    assert isinstance(gate, BrowserGate)
    try:
        args = settings["PLAYWRIGHT_LAUNCH_OPTIONS"]["args"]
        assert f"--proxy-server=http://127.0.0.1:{gate.port}" in args
        assert "--proxy-bypass-list=<-loopback>" in args
        assert gate.guard is settings["HULIAN_ADDRESS_GUARD"]  # one guard for the run
        context = settings["PLAYWRIGHT_CONTEXTS"]["default"]
        assert context["service_workers"] == "block" and "proxy" not in context
    finally:
        asyncio.run(gate.close())


def test_an_interstitial_chromium_cannot_picture_is_recorded_without_a_picture(
        tmp_path: Path) -> None:
    # 3,000,000 px tall: "Unable to capture screenshot" was raised out of the callback, the
    # classified observation lost and the run left unsealed (an adversarial review).
    tall = WARNING.replace("</body>", "<div style='height:3000000px'>tall</div></body>")
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/p": (200, {}, SEED),
        "go.test/warn": (200, {}, tall.encode()),
        "shop.test/item": (200, {}, b"<p>item</p>"),
    }
    with serve(pages) as site:
        rendered, run = _run(tmp_path, site.url, "--render")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    (observation,) = list(Bundle(run).observations())
    assert observation.outcome.value == "warned"
    assert not list(run.glob("screenshots/*.png"))  # recorded without a picture


def test_a_page_whose_script_holds_the_browser_after_load_costs_one_timeout(
        tmp_path: Path) -> None:
    # A script that spins after `load` kept scrapy-playwright waiting for the page's content
    # without end: the run hung, and SIGTERM did not stop it (an adversarial review). Now the
    # render has the download timeout; the interstitial is recorded without a screenshot and
    # the seed page that spins is a seed error, which a CI gate does not pass.
    spin = "<script>onload=()=>setTimeout(()=>{for(;;){}},0)</script>"
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/p": (200, {}, SEED),
        "forum.test/spin": (200, {}, b"<p>post</p><a href='http://go.test/warn?url=http://shop.test/item'>x</a>"
                            + spin.encode()),
        "go.test/warn": (200, {}, WARNING.replace("</body>", spin + "</body>").encode()),
        "shop.test/item": (200, {}, b"<p>item</p>"),
    }
    with serve(pages) as site:
        rendered, run = _run(tmp_path, site.url, "--render", "--timeout", "4",
                             "--seed", "testforum:post:http://forum.test/spin",
                             "--fail-on", "critical")
    assert rendered.returncode == 3, rendered.stderr[-2000:]
    assert "1 seed page(s) not read in full" in rendered.stderr
    summary = json.loads(rendered.stdout)
    assert summary["seed_errors"] == [{"url": "http://forum.test/spin",
                                       "error": "render_timeout"}]
    (observation,) = list(Bundle(run).observations())
    assert observation.outcome.value == "warned"  # read from the crawl's own fetch
    assert not [e for e in observation.evidence if e.startswith("screenshot:")]


def test_spinning_interstitials_do_not_use_up_the_time_of_renders_queued_behind_them(
        tmp_path: Path) -> None:
    # The render's bound counted the wait for one of the context's four pages: five spinning
    # interstitials took the time of every render behind them, which lost their screenshots
    # (an adversarial review). The bound now starts when the page exists.
    spin = "<script>onload=()=>setTimeout(()=>{for(;;){}},0)</script>"
    links = ([f"http://go.test/spin{i}?url=http://shop.test/s{i}" for i in range(5)]
             + [f"http://go.test/ok{i}?url=http://shop.test/o{i}" for i in range(2)])
    seed = "".join(f"<a href='{link}'>{i}</a>" for i, link in enumerate(links))
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/p": (200, {}, f"<p>post</p>{seed}".encode()),
        **{f"go.test/spin{i}": (200, {}, WARNING.replace("</body>", spin + "</body>").encode())
           for i in range(5)},
        "go.test/ok0": (200, {}, WARNING.encode()),
        "go.test/ok1": (200, {}, WARNING.encode()),
        "shop.test/item": (200, {}, b"<p>item</p>"),
    }
    with serve(pages) as site:
        rendered, run = _run(tmp_path, site.url, "--render", "--timeout", "4",
                             "--per-host", "16")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    observations = {o.target_url: o for o in Bundle(run).observations()}
    assert len(observations) == 7
    pictured = {url for url, o in observations.items()
                if any(e.startswith("screenshot:") for e in o.evidence)}
    assert pictured == {"http://shop.test/o0", "http://shop.test/o1"}


def test_a_history_flood_costs_a_render_what_a_users_browser_allows(tmp_path: Path) -> None:
    # Playwright turns off Blink's rate limit on history entries: a seed page pushing 100,000
    # of them kept the browser busy for minutes past the render's timeout (a million: 568 s
    # and 7 GB, an adversarial review), and every render behind it waited. With the limit a
    # user's Chrome has, the page renders in well under a second and its link is planned.
    flood = "<script>for(let i=0;i<100000;i++){history.pushState({},'','/p'+i)}</script>"
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/p": (200, {}, flood.encode() + SEED),
        "go.test/warn": (200, {}, WARNING.replace("</body>", flood + "</body>").encode()),
        "shop.test/item": (200, {}, b"<p>item</p>"),
    }
    with serve(pages) as site:
        rendered, run = _run(tmp_path, site.url, "--render", "--timeout", "20")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert json.loads(rendered.stdout)["seed_errors"] == []
    (observation,) = list(Bundle(run).observations())
    assert observation.outcome.value == "warned"
    assert [e for e in observation.evidence if e.startswith("screenshot:")]


def test_windows_a_page_opens_on_its_own_are_blocked_as_a_users_browser_blocks_them(
        tmp_path: Path) -> None:
    # With Playwright's popup blocking off, a seed page opening 2,000 windows on load was a
    # `render_timeout` and none of its links was planned: a platform could hide every link of
    # a page from a rendered audit, while its users' browsers block the windows unasked.
    opener = ("<script>for(let i=0;i<2000;i++){window.open('http://shop.test/pop?'+i)}"
              "</script>")
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/p": (200, {}, opener.encode() + SEED),
        "go.test/warn": (200, {}, WARNING.encode()),
        "shop.test/item": (200, {}, b"<p>item</p>"),
        "shop.test/pop": (200, {}, b"<p>pop</p>"),
    }
    with serve(pages) as site:
        rendered, run = _run(tmp_path, site.url, "--render", "--timeout", "20")
        popped = [path for path in site.requests if path.startswith("shop.test/pop")]
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert json.loads(rendered.stdout)["seed_errors"] == []
    (observation,) = list(Bundle(run).observations())
    assert observation.outcome.value == "warned"
    assert popped == []


def test_a_subresource_that_never_loads_does_not_hide_a_pages_links(tmp_path: Path) -> None:
    # A render waited for `load`: one image that never finished made every seed page a
    # `render_timeout` and none of its links was planned, where a user's Chrome shows the
    # page at once (an adversarial review). The page is read once its document is.
    stalled = b"<img src='http://slow.test/pixel.gif'>"
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/p": (200, {}, SEED.replace(b"<p>post</p>", b"<p>post</p>" + stalled)),
        "go.test/warn": (200, {}, WARNING.encode()),
        "shop.test/item": (200, {}, b"<p>item</p>"),
        "slow.test/pixel.gif": (200, {"Content-Type": "image/gif"}, b"GIF89a"),
    }
    with serve(pages, delays={"slow.test/pixel.gif": 120.0}) as site:
        rendered, run = _run(tmp_path, site.url, "--render", "--timeout", "20")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert json.loads(rendered.stdout)["seed_errors"] == []
    (observation,) = list(Bundle(run).observations())
    assert observation.outcome.value == "warned"


class _Endless(BaseHTTPRequestHandler):
    """The seed page, which clicks a download of an endless file, and that file; `sent`
    counts the file's bytes the browser took."""

    sent: ClassVar[list[int]] = [0]

    def do_GET(self) -> None:
        if self.path.endswith("/inf"):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Disposition", "attachment; filename=x.bin")
            self.end_headers()
            chunk = b"\0" * 1_048_576
            with contextlib.suppress(OSError):
                for _ in range(4096):
                    self.wfile.write(chunk)
                    self.sent[0] += len(chunk)
            return
        body = (SEED.replace(b"</body>", b"<a id=d download href='http://forum.test/inf'>f</a>"
                             b"<script>document.getElementById('d').click()</script></body>")
                if self.path.endswith("/p") else WARNING.encode()
                if "go.test" in self.path else b"<p>item</p>")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_download_a_page_starts_is_refused(tmp_path: Path) -> None:
    # Playwright's contexts accept downloads: a seed page clicking an endless one had the
    # browser stream it into /tmp for the rest of the run (30 GB in 172 s; a review).
    # The render's bound is 30 s, not 10: on CI's two busy cores the seed page once took
    # longer than 10 s to render (a `render_timeout`, no link planned); a browser that
    # accepted the download would stream gigabytes in 30 s, so the bound still tells.
    with serve_handler(_Endless) as url:
        rendered, run = _run(tmp_path, url, "--render", "--timeout", "30")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert json.loads(rendered.stdout)["seed_errors"] == [], rendered.stdout
    assert len(list(Bundle(run).observations())) == 1
    assert _Endless.sent[0] < 64 * 1_048_576, _Endless.sent[0]


def test_a_seed_that_is_a_download_is_not_a_page(tmp_path: Path) -> None:
    # Downloads refused, scrapy-playwright reported the seed as a transport failure
    # (`download_error:unknown`) where the other engines say `not_a_page` (a review).
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/p": (200, {}, SEED),
        "forum.test/file": (200, {"Content-Type": "application/pdf",
                                  "Content-Disposition": "attachment; filename=p.pdf"},
                            b"%PDF-1.4\n" + b"0" * 4096),
        "go.test/warn": (200, {}, WARNING.encode()),
        "shop.test/item": (200, {}, b"<p>item</p>"),
    }
    with serve(pages) as site:
        rendered, _ = _run(tmp_path, site.url, "--render", "--timeout", "10",
                           "--seed", "testforum:post:http://forum.test/file")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert json.loads(rendered.stdout)["seed_errors"] == [
        {"url": "http://forum.test/file", "error": "not_a_page"}]


def test_a_tap_handler_a_script_moves_off_its_attribute_is_still_read(tmp_path: Path) -> None:
    # Review 136: a copy-the-link `onclick` that a hydration script turns into a listener is
    # gone from the rendered DOM, and the link read `direct` with --render where the page as
    # served read `handled` (Chromium: the tap shows the copy notice and stays on the post).
    seed = ("<html><body><p>post</p><a id=l href='http://shop.test/item' onclick=\""
            "event.preventDefault();document.getElementById('n').textContent="
            "'链接已复制，请在浏览器中打开'\">shop</a><p id=n></p><script>"
            "for (const a of document.querySelectorAll('a[onclick]')) {"
            " const h = a.onclick; a.removeAttribute('onclick'); a.addEventListener('click', h);"
            "}</script></body></html>").encode()
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/p": (200, {}, seed),
        "shop.test/item": (200, {}, b"<title>Teapot</title><p>item</p>")}
    with serve(pages) as site:
        rendered, run = _run(tmp_path, site.url, "--render")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert [(o.target_url, o.rendered_as, o.outcome.value)
            for o in Bundle(run).observations()] == [
        ("http://shop.test/item", "handled", "unrecognized")]


def test_a_rendered_page_starts_no_program_on_the_auditors_machine(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Review 144: an `<iframe src="mailto:…">` made Chromium run xdg-open/xdg-email with the
    # page's URI, and with a display a second browser outside the gate.
    from spiders.settings import OPENERS, browser_environment, render

    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/0/bus")
    environment = browser_environment()
    assert "DISPLAY" not in environment and "DBUS_SESSION_BUS_ADDRESS" not in environment
    first = Path(environment["PATH"].split(":")[0])
    for name in OPENERS:
        opener = first / name
        assert opener.stat().st_mode & 0o100
        assert subprocess.run([str(opener), "mailto:x@example.test"],
                              check=False).returncode == 1  # does nothing, and says so
    assert render([])["PLAYWRIGHT_LAUNCH_OPTIONS"]["env"]["PATH"] == environment["PATH"]


def test_a_page_that_grows_past_the_size_bound_fails_alone(tmp_path: Path) -> None:
    # Review 144: a seed whose script grew a 300 MB DOM took Playwright's driver down when
    # its content was asked for, and every later seed of the run failed as
    # `download_error:unknown`. The document is now read in a world of hulian's own, in one
    # task, and only within a bound (a quarter of the 32 MB a fetched page may have, in
    # characters): past it the seed is `too_large`, and the others render. Review 146: a
    # measure in the page's own world was replaced by the page, missed a <template>'s
    # content, and could be outgrown before the read.
    ten_million = "'x'.repeat(10 * 1024 * 1024)"
    grow = {
        "text": f"document.body.append({ten_million})",
        "template": f"var t=document.createElement('template');t.innerHTML={ten_million};"
                    "document.body.append(t)",
        "walker": "document.createTreeWalker=function(){return {nextNode(){return null},"
                  f"currentNode:null}}}};document.body.append({ten_million})",
        "later": f"setTimeout(function(){{document.body.append({ten_million})}},0)",
    }
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/p": (200, {}, SEED),
        "go.test/warn": (200, {}, WARNING.encode()),
        "shop.test/item": (200, {}, b"<p>item</p>"),
    }
    seeds: list[str] = []
    for name, script in grow.items():
        pages[f"forum.test/{name}"] = (200, {}, f"<p>post</p><script>{script}</script>".encode())
        seeds += ["--seed", f"testforum:post:http://forum.test/{name}"]
    with serve(pages) as site:
        rendered, run = _run(tmp_path, site.url, "--render", "--timeout", "30", *seeds)
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    errors = {e["url"]: e["error"] for e in json.loads(rendered.stdout)["seed_errors"]}
    assert {url: errors.get(url) for url in (f"http://forum.test/{name}" for name in grow)
            if url != "http://forum.test/later"} == {
        f"http://forum.test/{name}": "too_large" for name in ("text", "template", "walker")}
    # grown after its load: read as it was, or too large, never a driver gone
    assert errors.get("http://forum.test/later") in (None, "no_links", "too_large")
    # the other seed's script-written link was still rendered and measured
    assert [o.outcome.value for o in Bundle(run).observations()] == ["warned"]


def test_openers_go_where_they_run_and_where_they_are_ours(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Review 146: on a `noexec` /tmp the stubs could not run, and the shell's search went on
    # to the real xdg-email; a directory someone else made would run their "openers".
    from spiders.settings import browser_environment

    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(shared))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    foreign = shared / f"hulian-no-openers-{os.getuid()}"
    foreign.mkdir()
    foreign.chmod(0o777)  # anyone may write there: not ours to run
    first = Path(browser_environment()["PATH"].split(":")[0])
    assert first == tmp_path / "home" / ".cache" / "hulian" / "no-openers"
    assert not (foreign / "xdg-open").exists()

    noexec = tmp_path / "noexec"
    noexec.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "noexec", "tmpfs", str(noexec)],
                             capture_output=True, check=False).returncode == 0
    if not mounted:
        pytest.skip("cannot mount a noexec tmpfs here (not root): the fallback above is tested")
    try:
        monkeypatch.setattr("tempfile.gettempdir", lambda: str(noexec))
        first = Path(browser_environment()["PATH"].split(":")[0])
        assert first == tmp_path / "home" / ".cache" / "hulian" / "no-openers"
    finally:
        subprocess.run(["umount", str(noexec)], check=False)


def _driver_processes() -> list[int]:
    """Playwright drivers started by this test's own runs (not another test's, in another
    worker: review 157)."""
    found = subprocess.run(["pgrep", "-f", "playwright/driver/node"], capture_output=True,
                           text=True, check=False).stdout
    return [int(pid) for pid in found.split() if _descends_from(int(pid), os.getpid())]


def _descends_from(pid: int, ancestor: int) -> bool:
    for _ in range(64):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the parent's id
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
    return False


def test_a_page_that_takes_the_browser_down_fails_alone(tmp_path: Path) -> None:
    # Review 144: with Playwright's driver gone (a page had run it out of memory), every later
    # render of the run failed as `download_error:unknown`: a platform could blind the rest
    # of an audit with one page. Here the server kills the driver when Chromium asks for one
    # seed page; another seed's page crashes its renderer past the heap bound. Both are
    # `render_crashed`, and the seed beside them still renders (on a new driver; tried once
    # more where it was in flight when the driver died).
    import signal

    killed: list[int] = []
    crash = b"<script>var a=[];for(;;){a.push(new Array(1e6).fill(1.5))}</script>"
    pages = {"forum.test/p": SEED, "forum.test/crash": b"<p>post</p>" + crash,
             "go.test/warn": WARNING.encode(), "shop.test/item": b"<p>item</p>"}

    class Site(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            key = f"{(self.headers.get('Host') or '').split(':')[0]}{self.path.split('?')[0]}"
            if key.endswith("forum.test/kill"):
                for pid in _driver_processes():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
            reply(self, 200, [], pages.get(key.split("//")[-1], b"<p>post</p>"))

        def log_message(self, *_: object) -> None:
            pass

    seeds = [arg for name in ("kill", "crash")
             for arg in ("--seed", f"testforum:post:http://forum.test/{name}")]
    with serve_handler(Site) as url:
        rendered, run = _run(tmp_path, url, "--render", "--timeout", "20", *seeds)
    assert killed, "the driver was never killed: the test proves nothing"
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    errors = {e["url"]: e["error"] for e in json.loads(rendered.stdout)["seed_errors"]}
    assert errors == {"http://forum.test/kill": "render_crashed",
                      "http://forum.test/crash": "render_crashed"}
    (observation,) = list(Bundle(run).observations())
    assert observation.outcome.value == "warned"
    assert [e for e in observation.evidence if e.startswith("screenshot:")]


@pytest.mark.parametrize("killers", [1, 3])
def test_a_driver_killed_under_renders_in_flight_costs_them_no_more_than_a_try(
        tmp_path: Path, killers: int) -> None:
    # Review 157: an interstitial whose image's server killed the driver left the renders
    # queued for the dead driver's page slots waiting forever (a page of a dead driver never
    # gives its slot back), and the run never ended, SIGTERM included; the killer page was
    # rendered four times, and each dead driver left its profile in /tmp. Review 160: with
    # several killers, a benign page's second try beside another killer's first failed too.
    import signal

    renders: list[str] = []
    pages = {"go.test/warn": WARNING.encode(), "shop.test/item": b"<p>item</p>",
             "go.test/kill": WARNING.replace("</body>", "<img src='http://img.test/k.gif'>"
                                             "</body>").encode()}

    class Site(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host = (self.headers.get("Host") or "").split(":")[0]
            path = self.path.split("//", 1)[-1].split("/", 1)[-1].split("?")[0]
            key = f"{host}/{path}"
            if key == "img.test/k.gif":
                for pid in _driver_processes():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                return reply(self, 200, [("Content-Type", "image/gif")], b"GIF89a")
            if key == "go.test/kill":
                renders.append(key)
            if key.startswith("forum.test/b"):
                link = (f"http://go.test/kill?url=http://shop.test/{path}"
                        if int(path[1:]) < killers else
                        f"http://go.test/warn?url=http://shop.test/{path}")
                return reply(self, 200, [], f"<p>post</p><a href='{link}'>x</a>".encode())
            reply(self, 200, [], pages.get(key, b"<p>post</p>"))

        def log_message(self, *_: object) -> None:
            pass

    import tempfile

    # short: Chromium's socket in it must fit a socket's path (pytest's tmp_path is too long)
    temporary = Path(tempfile.mkdtemp(prefix="hl-", dir="/tmp"))
    seeds = [arg for i in range(killers + 4)
             for arg in ("--seed", f"testforum:post:http://forum.test/b{i}")]
    policies = zoo.policies(tmp_path / "policies")
    with serve_handler(Site) as url:
        result = subprocess.run(
            [sys.executable, "-m", "audit.cli", "--policies", str(policies), "run", *seeds,
             "--source", "testforum", "--route", f"*.test={url}", "--robots", "ignore",
             "--out", str(tmp_path / "runs"), "--run-id", "r", "--json", "--render",
             "--timeout", "20"], capture_output=True, text=True, timeout=150, check=False,
            env={**os.environ, "TMPDIR": str(temporary)})
    left = [path.name for path in temporary.iterdir()
            if not path.name.startswith("hulian-no-openers")]
    shutil.rmtree(temporary, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-2000:]
    observations = {o.target_url: o for o in Bundle(tmp_path / "runs" / "r").observations()}
    assert len(observations) == killers + 4
    pictured = {url for url, o in observations.items()
                if any(e.startswith("screenshot:") for e in o.evidence)}
    assert pictured >= {f"http://shop.test/b{i}" for i in range(killers, killers + 4)}
    # each killer: fetched, rendered (killed), rendered once more
    assert 2 * killers <= len(renders) <= 3 * killers
    assert left == []  # each driver's profiles went with it


def test_a_browser_that_cannot_be_launched_is_given_up_once(tmp_path: Path) -> None:
    # Review 164: a start that hung after a driver died cost every later render 60 s, one
    # after another. The first failure is kept: the renders after it fail at once, with the
    # render's word (review 160: they were `download_error:unknown`).
    import asyncio

    from scrapy.settings import Settings
    from scrapy_playwright.handler import Config

    from spiders.browser import RelaunchingBrowserProvider
    from spiders.failures import RenderCrashed, for_exception

    config = Config.from_settings(Settings({
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": {"executable_path": str(tmp_path / "no-chromium"),
                                      "headless": True}}))

    async def twice() -> list[RenderCrashed]:
        provider = RelaunchingBrowserProvider(config)
        await provider.start()
        raised: list[RenderCrashed] = []
        try:
            for _ in range(2):
                with pytest.raises(RenderCrashed) as failure:
                    await provider.launch_browser()
                raised.append(failure.value)
            return raised
        finally:
            await provider.close()

    first, second = asyncio.run(twice())
    assert [for_exception(first), for_exception(second)] == ["render_crashed"] * 2
    assert first.__cause__ is not None  # Playwright's own failure
    assert second.__cause__ is None and str(second) == str(first)  # not tried again


def test_a_page_that_crashes_its_renderer_is_tried_again_beside_the_others(
        tmp_path: Path) -> None:
    # Review 164: each second try ran alone, waiting for every render in flight: a page that
    # crashed its own renderer waited for a spinning page's whole timeout. Only a dead driver
    # (which kills the renders beside it) needs the second try alone.
    import threading
    import time

    seen: dict[str, list[float]] = {}
    lock = threading.Lock()
    crash = b"<p>post</p><script>var a=[];for(;;){a.push(new Array(1e6).fill(1.5))}</script>"
    spin = (b"<p>post</p><a href='http://shop.test/x'>x</a>"
            b"<script>onload=()=>setTimeout(()=>{for(;;){}},0)</script>")

    class Site(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host = (self.headers.get("Host") or "").split(":")[0]
            key = f"{host}/{self.path.split('//', 1)[-1].split('/', 1)[-1].split('?')[0]}"
            with lock:
                seen.setdefault(key, []).append(time.monotonic())
            body = {"forum.test/crash": crash, "forum.test/spin": spin}.get(key, b"<p>item</p>")
            reply(self, 200, [], body)

        def log_message(self, *_: object) -> None:
            pass

    seeds = [arg for name in ("spin", "crash")
             for arg in ("--seed", f"testforum:post:http://forum.test/{name}")]
    timeout = 10.0
    with serve_handler(Site) as url:
        result, _run_dir = _run(tmp_path, url, "--render", "--timeout", str(int(timeout)),
                                *seeds)
    assert result.returncode == 0, result.stderr[-2000:]
    errors = {e["url"]: e["error"] for e in json.loads(result.stdout)["seed_errors"]}
    assert errors.get("http://forum.test/crash") == "render_crashed"
    # rendered twice (a seed page is fetched by its render): the second render came while the
    # spinning page's render was still held (it ends at its timeout)
    crashes, spins = seen["forum.test/crash"], seen["forum.test/spin"]
    assert len(crashes) == 2, crashes
    assert crashes[1] - min(spins) < timeout / 2, (crashes, spins)
