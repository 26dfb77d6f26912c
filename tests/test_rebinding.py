"""The private-address guard against DNS rebinding, with both engines and with --render, in a
network namespace of the test's own (tests/netns.py): its DNS answers 1.2.3.4 to the first
query for a `*.rebind.test` name and 127.0.0.1 to every later one, and secret servers on
127.0.0.1, [::1] and 10.55.0.1 log every connection. Nothing may ever reach them without
--allow-private: the guard must decide on the address that is actually connected."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from audit.evidence.bundle import Bundle, verify
from tests.localsite import forum_policies
from tests.netns import Lab, Pages, rebinding_lab

pytestmark = pytest.mark.slow

SECRETS = ("loopback", "loopback6", "ten")

CRAWL_PAGES: Pages = {
    "forum.test/robots.txt": (200, {"Content-Type": "text/plain"}, "User-agent: *\n", 0.0),
    "forum.test/post/1": (200, {}, '<a href="http://a.rebind.test/page">shop</a>'
                                   '<a href="http://ten.test/x">intranet</a>'
                                   '<a href="http://2130706433/lit">decimal</a>'
                                   '<a href="https://b.rebind.test/tls">tls</a>', 0.0),
    "a.rebind.test/robots.txt": (200, {"Content-Type": "text/plain"}, "User-agent: *\n", 0.0),
    "a.rebind.test/page": (200, {}, "<p>public page</p>", 0.0),
    "b.rebind.test/tls": (200, {}, "<p>public page over TLS</p>", 0.0),
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
        server_names = {e["host"] for e in lab.reached("public") if e["event"] == "sni"}
        lookups = lab.lookups()
    observations = {o.target_url: o for o in Bundle(run).observations()}
    assert set(observations) == {"http://a.rebind.test/page", "http://ten.test/x",
                                 "http://127.0.0.1/lit", "https://b.rebind.test/tls"}
    # The rebinding names were measured at the address their check saw, robots.txt
    # included, with their own Host header and TLS server name.
    for url in ("http://a.rebind.test/page", "https://b.rebind.test/tls"):
        assert (observations[url].outcome.value, observations[url].failure) == ("direct", None)
    assert {"a.rebind.test/robots.txt", "a.rebind.test/page", "b.rebind.test/tls"} <= public
    assert server_names == {"b.rebind.test"}
    # Resolved once per run, by the guard: nothing connects by name on its own.
    assert lookups == {"forum.test": 1, "a.rebind.test": 1, "b.rebind.test": 1, "ten.test": 1}
    assert observations["http://ten.test/x"].failure == "private_address:ten.test"
    # A numeric host is recorded as a browser reads it (http://2130706433/ is 127.0.0.1).
    assert observations["http://127.0.0.1/lit"].failure == "private_address:127.0.0.1"


RENDER_SEED = """<html><head>
<link rel="preconnect" href="http://10.55.0.1/">
<link rel="stylesheet" href="http://localhost/style.css">
</head><body><p>post</p>
<a href="http://shop.test/item">item</a>
<img src="http://forum.test/pixel.gif">
<img src="http://forum.test/slow.gif">
<img src="http://127.0.0.1/img.gif">
<img src="http://ten.test/img.gif">
<img src="http://2130706433/dec.gif">
<iframe src="http://forum.test/redirect"></iframe>
<script>
fetch("http://127.0.0.1/fetch").catch(function () {});
var x = new XMLHttpRequest(); x.open("GET", "http://10.55.0.1/xhr"); x.send();
try { new WebSocket("ws://127.0.0.1/ws"); } catch (e) {}
try {
  var rtc = new RTCPeerConnection({iceServers: [{urls: "stun:10.55.0.1:3478"},
                                               {urls: "stun:127.0.0.1:3478"}]});
  rtc.createDataChannel("x");
  rtc.createOffer().then(function (offer) { return rtc.setLocalDescription(offer); });
} catch (e) {}
</script></body></html>"""

RENDER_PAGES: Pages = {
    "seed.rebind.test/render": (200, {}, RENDER_SEED, 0.0),
    "shop.test/item": (200, {}, "<p>item</p>", 0.0),
    "forum.test/pixel.gif": (200, {"Content-Type": "image/gif"}, "GIF89a", 0.0),
    # Holds the page's load event until the script's requests have surely gone out.
    "forum.test/slow.gif": (200, {"Content-Type": "image/gif"}, "GIF89a", 1.5),
    "forum.test/redirect": (302, {"Location": "http://localhost/redirected"}, "", 0.0),
}


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Debian chromium not installed (scripts/bootstrap.sh installs it)")
@pytest.mark.skipif(importlib.util.find_spec("scrapy_playwright") is None,
                    reason="scrapy-playwright not installed (the [browser] extra)")
def test_render_never_lets_the_browser_into_private_space(tmp_path: Path) -> None:
    with rebinding_lab(tmp_path, RENDER_PAGES) as lab:
        _, run = _crawl(lab, tmp_path, "http://seed.rebind.test/render", "--render")
        _never_reached_secrets(lab)
        # (Chromium's own background requests, to Google's names, reach the gate too.)
        lookups = {k: v for k, v in lab.lookups().items() if k.endswith(".test")}
        public = {f"{e['host']}{e['path']}" for e in lab.reached("public")
                  if e["event"] == "request"}
    # Chromium resolved nothing itself: every name was looked up once, by the guard.
    assert lookups == {"seed.rebind.test": 1, "forum.test": 1, "shop.test": 1, "ten.test": 1}
    # The browser did render the page, through the guard, at the checked address.
    assert {"seed.rebind.test/render", "forum.test/pixel.gif"} <= public
    (observation,) = list(Bundle(run).observations())
    assert (observation.target_url, observation.outcome.value) == ("http://shop.test/item",
                                                                  "direct")
    refused = [json.loads(line) for line in
               (run / "evidence" / "render-refused.jsonl").read_text().splitlines()]
    targets = {r["target"]: r["failure"] for r in refused}
    assert targets["http://127.0.0.1/img.gif"] == "private_address:127.0.0.1"
    assert targets["http://ten.test/img.gif"] == "private_address:ten.test"
    assert targets["http://localhost/style.css"] == "private_address:localhost"
    assert targets["http://localhost/redirected"] == "private_address:localhost"  # a redirect
    assert targets["http://127.0.0.1/fetch"] == "private_address:127.0.0.1"  # fetch()
    assert targets["http://10.55.0.1/xhr"] == "private_address:10.55.0.1"  # XMLHttpRequest
    assert targets["127.0.0.1:80"] == "private_address:127.0.0.1"  # the WebSocket's tunnel
    assert all(r["failure"].startswith("private_address:") for r in refused)
    report = verify(run)
    assert report.intact and "evidence/render-refused.jsonl" in report.ok
