"""Capture bodies (review 134): what a capture file says of a page's body, read through the
real readers (HAR, WARC, mitmproxy dump) and the real capture session with a plan.

1. A body the capture does not hold (a HAR entry without its text, a WARC revisit whose
   original is not at hand, a body mitmproxy streamed) is unknown, not an empty page.
2. A HAR's text is what the browser decoded: a page declared GBK reads as its words.
3. A HAR's base64 body still in its Content-Encoding is decoded.
4. A 3xx without a Location keeps its body (a browser shows it) in every reader.
5. The WARC reader yields flows in the file's order."""

from __future__ import annotations

import base64
import codecs
import gzip
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from mitmproxy import http
from mitmproxy import io as mio
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from audit.measure.capture.chains import add_token
from audit.measure.capture.formats import FlowRecord, iter_har, iter_warc
from audit.measure.capture.mitm import iter_mitm
from audit.measure.capture.plan import Plan, write_plan
from audit.measure.capture.run import CaptureSession
from audit.model import Observation, Probe, SurfaceKind
from tests.test_capture_truth import _har_entry, _mitm_flow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "policies" / "examples" / "weibo"
TARGET = "https://www.taobao.com/"
WEIBO_TOKEN = "hpuknl52wqqf"
KUAISHOU_TOKEN = "hpkq7ee3vxbd"
LINK = add_token(TARGET, WEIBO_TOKEN)
KS_LINK = add_token(TARGET, KUAISHOU_TOKEN)
# Weibo's endpoint (policies/platforms/weibo.yaml: sinaurl shows its leave/copy/block pages).
WRAP = "https://weibo.cn/sinaurl?u=" + quote(LINK, safe="")
# A Kuaishou leave page off any endpoint, in words only a generic marker knows.
KS_LEAVE_URL = "https://www.kuaishou.com/out?url=" + quote(KS_LINK, safe="")
KS_LEAVE = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>快手</title></head><body>"
            f"<p>即将离开快手，请注意账号财产安全</p><p>{KS_LINK}</p>"
            f"<a href='{KS_LINK}'>继续访问</a></body></html>")
TARGET_PAGE = ("<html><head><meta charset='utf-8'><title>淘宝网</title></head><body>"
               + "商品 " * 400 + "</body></html>")
NAV = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
       "Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
HTML = "text/html; charset=utf-8"
UNREAD = ("unrecognized", "structure/body_not_recorded")


def _weibo(name: str, charset: str = "utf-8") -> str:
    """A catalog example of Weibo's pages, showing the probe's link, declared `charset`."""
    page = (EXAMPLES / f"{name}.html").read_text(encoding="utf-8")
    for example in ("https://item.taobao.com/item.htm?id=1", "https://www.example.org/"):
        page = page.replace(example, LINK)
    assert LINK in page
    return page.replace('charset="utf-8"', f'charset="{charset}"')


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plan of two probes: a Weibo post's link and a Kuaishou post's, both to Taobao."""
    probes = [Probe(id=f"p-{source}", source=source, surface=SurfaceKind.POST,
                    target_url=TARGET, target_platform="taobao",
                    link_url=add_token(TARGET, token), token=token)
              for source, token in (("weibo", WEIBO_TOKEN), ("kuaishou", KUAISHOU_TOKEN))]
    directory = tmp_path_factory.mktemp("plan")
    write_plan(Plan(id="plan-review134", source="weibo", surface=SurfaceKind.POST,
                    created="2026-12-07T00:00:00+00:00", probes=probes), directory)
    return directory


def _analyze(plan: Path, path: Path) -> list[Observation]:
    """The observations the capture session makes of one file (those that met a flow)."""
    observed: list[Observation] = []
    session = CaptureSession.open(plan=plan, run=None)
    session.on_observation = observed.append
    result = session.read(path)
    session.close()
    assert result.error is None, result.error
    return [o for o in observed if o.hops]


def _reading(observation: Observation) -> tuple[str, str | None]:
    assert observation.page is not None
    return observation.outcome.value, observation.page.signature


# -- HAR ----------------------------------------------------------------------------------


def _entry(url: str, body: str = "", *, t: float, status: int = 200,
           headers: dict[str, str] | None = None, content: dict[str, Any] | None = None,
           referer: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = _har_entry(url, status, body, t=t,
                                       headers={"Content-Type": HTML} if headers is None
                                       else headers)
    if content is not None:
        entry["response"]["content"] = content
    if referer is not None:
        entry["request"]["headers"].append({"name": "Referer", "value": referer})
    return entry


def _har(path: Path, *entries: dict[str, Any], ascii_only: bool = False) -> Path:
    har = {"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"},
                   "entries": list(entries)}}
    path.write_text(json.dumps(har, ensure_ascii=ascii_only), encoding="utf-8")
    return path


# -- WARC ---------------------------------------------------------------------------------


@dataclass
class _Record:
    """One response (or revisit) record, and its request record unless `request` is None."""
    url: str
    body: bytes = b""
    status: str = "200 OK"
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("Content-Type", HTML)])
    date: str = "2026-12-01T10:00:00Z"
    request: dict[str, str] | None = field(default_factory=lambda: dict(NAV))
    revisit_of: bytes | None = None  # the payload a revisit record repeats


def _digest(payload: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(payload).digest()).decode()


def _warc(path: Path, *records: _Record) -> Path:
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        for item in records:
            length = len(item.revisit_of if item.revisit_of is not None else item.body)
            http = StatusAndHeaders(item.status, [*item.headers, ("Content-Length", str(length))],
                                    protocol="HTTP/1.1")
            if item.revisit_of is not None:
                record = writer.create_revisit_record(
                    item.url, _digest(item.revisit_of), item.url, "2026-11-20T09:00:00Z",
                    http_headers=http)
                record.rec_headers.replace_header("WARC-Date", item.date)
            else:
                record = writer.create_warc_record(item.url, "response",
                                                   payload=io.BytesIO(item.body),
                                                   length=len(item.body), http_headers=http,
                                                   warc_headers_dict={"WARC-Date": item.date})
            writer.write_record(record)
            if item.request is None:
                continue
            parts = urlsplit(item.url)
            line = f"GET {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1"
            request = StatusAndHeaders(line, [("Host", parts.netloc), *item.request.items()],
                                       is_http_request=True)
            writer.write_record(writer.create_warc_record(
                item.url, "request", http_headers=request,
                warc_headers_dict={"WARC-Date": item.date, "WARC-Concurrent-To":
                                   record.rec_headers.get_header("WARC-Record-ID")}))
    return path


# -- mitmproxy ----------------------------------------------------------------------------


def _dump(path: Path, url: str, status: int, body: bytes | None) -> Path:
    """A dump of one page view; `body` None: mitmproxy streamed it (stream_large_bodies)."""
    flow = _mitm_flow(url, 1_796_119_200.0)
    assert isinstance(flow, http.HTTPFlow) and flow.response is not None
    flow.response.status_code = status
    flow.response.headers["content-type"] = HTML
    flow.response.raw_content = body
    with path.open("wb") as fh:
        mio.FlowWriter(fh).add(flow)  # type: ignore[no-untyped-call]
    return path


def _only(flows: Iterator[FlowRecord]) -> FlowRecord:
    (flow,) = flows
    return flow


# ---------------------------------------------------------------------------------------
# 1. A body the capture does not hold is unknown
# ---------------------------------------------------------------------------------------


def test_a_har_entry_without_its_text_is_an_unknown_body(tmp_path: Path) -> None:
    # Review 134: Chrome drops a page's body once the tab leaves it ({size, mimeType}, no
    # text); read as an empty page. Only an entry saying it had no body (size 0) is empty.
    path = _har(tmp_path / "c.har",
                _entry(WRAP, t=1, content={"size": 1834, "mimeType": "text/html"}),
                _entry(WRAP, t=2, content={"size": 1834, "mimeType": "text/html", "text": ""}),
                _entry(WRAP, t=3, content={"size": 0, "mimeType": "text/html"}),
                _entry(WRAP, t=4, content={"mimeType": "text/html", "text": ""}),
                _entry(WRAP, _weibo("weibo-blocked"), t=5))
    flows = list(iter_har(path))
    assert [f.body_unknown for f in flows] == [True, True, False, False, False]
    assert [f.response_body for f in flows[:4]] == [b"", b"", b"", b""]


def test_an_endpoint_without_its_body_is_unread_not_empty(plan: Path, tmp_path: Path) -> None:
    # Review 134: Weibo's endpoint answered a page the HAR kept no text of; read as an empty
    # answer it was `error` (endpoint_empty), out of the findings: it is a page nobody read.
    path = _har(tmp_path / "c.har",
                _entry(WRAP, t=1, content={"size": 1834, "mimeType": "text/html"}))
    (observed,) = _analyze(plan, path)
    assert _reading(observed) == UNREAD


def test_a_warning_without_its_body_then_the_continue_click_is_not_wrapped(
        plan: Path, tmp_path: Path) -> None:
    # Review 134: a Kuaishou leave page whose body the HAR lost, then the continue click:
    # the empty page read as a wrapper passing through (`wrapped`, an open link).
    def har(content: dict[str, Any]) -> Path:
        return _har(tmp_path / "c.har", _entry(KS_LEAVE_URL, t=1, content=content),
                    _entry(KS_LINK, TARGET_PAGE, t=7, referer="https://www.kuaishou.com/"))

    lost = {"size": len(KS_LEAVE.encode()), "mimeType": "text/html"}
    (observed,) = _analyze(plan, har(lost))
    assert _reading(observed) == UNREAD
    assert observed.hops[0].url == KS_LEAVE_URL
    (kept,) = _analyze(plan, har({**lost, "text": KS_LEAVE}))  # the page read: a warning
    assert kept.outcome.value == "warned"


@pytest.mark.parametrize("continued_after", [4, 20])
def test_a_warc_revisit_without_its_original_is_unread(plan: Path, tmp_path: Path,
                                                       continued_after: int) -> None:
    # Review 134: a deduplicating crawler (warcprox, pywb, browsertrix) wrote the leave page
    # as a revisit of a payload archived elsewhere; its empty body read `wrapped`/`direct`.
    path = _warc(tmp_path / "r.warc.gz",
                 _Record(KS_LEAVE_URL, revisit_of=KS_LEAVE.encode()),
                 _Record(KS_LINK, TARGET_PAGE.encode(),
                         date=f"2026-12-01T10:00:{continued_after:02d}Z",
                         request={**NAV, "Referer": "https://www.kuaishou.com/"}))
    (observed,) = _analyze(plan, path)
    assert _reading(observed) == UNREAD
    leave, _target = iter_warc(path)
    assert leave.body_unknown and leave.response_body == b""


def test_a_warc_revisit_of_a_page_in_the_file_gets_its_body(plan: Path,
                                                            tmp_path: Path) -> None:
    # Review 134: the original (same WARC-Payload-Digest) is earlier in the file: the revisit
    # is that page again, Weibo's block page, which the reader gave an empty body.
    block = _weibo("weibo-blocked").encode()
    path = _warc(tmp_path / "r.warc.gz",
                 _Record(WRAP, block, date="2026-12-01T09:00:00Z"),
                 _Record(WRAP, revisit_of=block, date="2026-12-01T10:00:00Z"))
    assert [o.outcome.value for o in _analyze(plan, path)] == ["blocked"]
    original, revisit = iter_warc(path)
    assert revisit.response_body == original.response_body == block
    assert not revisit.body_unknown


def test_a_body_mitmproxy_streamed_is_unknown(plan: Path, tmp_path: Path) -> None:
    # Review 134: a flow whose response content is None (stream_large_bodies) was an empty
    # page; an empty (b"") body stays a known empty one.
    (observed,) = _analyze(plan, _dump(tmp_path / "s.mitm", WRAP, 200, None))
    assert _reading(observed) == UNREAD
    streamed = _only(iter_mitm(tmp_path / "s.mitm"))
    empty = _only(iter_mitm(_dump(tmp_path / "e.mitm", WRAP, 200, b"")))
    assert (streamed.body_unknown, empty.body_unknown) == (True, False)


# ---------------------------------------------------------------------------------------
# 2. A HAR's text is what the browser decoded
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("page", "outcome"), [("weibo-copy-only", "copy_only"),
                                               ("weibo-blocked", "blocked")])
@pytest.mark.parametrize("declared", ["header gbk", "header GB2312", "meta gbk"])
def test_a_har_text_of_a_page_declared_gbk_is_read_as_its_words(
        plan: Path, tmp_path: Path, page: str, outcome: str, declared: str) -> None:
    # Review 134: Chrome, Firefox and Playwright write `text` decoded (Unicode) whatever the
    # page declares; its UTF-8 bytes read as GBK lost Weibo's notice (not copy_only/blocked).
    content_type = "text/html" if declared == "meta gbk" else f"text/html; charset={declared[7:]}"
    text = _weibo(page, charset="gbk")
    path = _har(tmp_path / "c.har", _entry(WRAP, text, t=1,
                                            headers={"Content-Type": content_type}))
    (observed,) = _analyze(plan, path)
    assert _reading(observed) == (outcome, f"weibo/{page}")
    flow = _only(iter_har(path))
    assert flow.response_body == codecs.BOM_UTF8 + text.encode("utf-8")


def test_a_playwright_har_of_a_gbk_page_is_copy_only(plan: Path, tmp_path: Path) -> None:
    # Review 134: the shape of a real Playwright/Chromium HAR (record_har_content="embed") of
    # a page served `charset=GBK`: text decoded, size and compression of the wire.
    text = _weibo("weibo-copy-only", charset="gbk")
    entry = _entry(WRAP.replace("https://", "http://"), t=1, headers={
        "Content-Length": str(len(text.encode("gbk"))), "Content-Type": "text/html; charset=GBK",
        "Server": "BaseHTTP/0.6 Python/3.11.7"})
    entry["response"]["content"] = {"size": len(text.encode()), "mimeType":
                                    "text/html; charset=GBK", "compression": 22, "text": text}
    entry["request"]["headers"] = [{"name": k, "value": v} for k, v in NAV.items()]
    entry["_resourceType"] = "document"
    har = {"log": {"version": "1.2", "creator": {"name": "Playwright", "version": "1.65.2"},
                   "entries": [entry]}}
    path = tmp_path / "playwright.har"
    path.write_text(json.dumps(har, ensure_ascii=False), encoding="utf-8")
    (observed,) = _analyze(plan, path)
    assert _reading(observed) == ("copy_only", "weibo/weibo-copy-only")


def test_har_text_of_bytes_gets_no_bom(tmp_path: Path) -> None:
    # Review 134: only decoded text is marked UTF-8; mitmproxy's HAR writes bytes as surrogate
    # escapes (they are the bytes themselves). ASCII text is marked too: a page declared
    # UTF-16 read its UTF-8 bytes as UTF-16 (review 137).
    gbk = _weibo("weibo-copy-only", charset="gbk").encode("gbk")
    escaped = gbk.decode("utf-8", "surrogateescape")
    ascii_page = "<html><head><title>t</title></head><body>hello</body></html>"
    chinese = _weibo("weibo-blocked")
    path = _har(tmp_path / "c.har", _entry(WRAP, escaped, t=1), _entry(WRAP, ascii_page, t=2),
                _entry(WRAP, chinese, t=3), ascii_only=True)  # JSON escapes the surrogates
    assert [f.response_body for f in iter_har(path)] == [
        gbk, codecs.BOM_UTF8 + ascii_page.encode(), codecs.BOM_UTF8 + chinese.encode()]


def test_an_ascii_har_text_declared_utf16_is_read_as_its_words(tmp_path: Path) -> None:
    # WeChat's English block page, all ASCII, served in UTF-16: its HAR text is what Chrome
    # decoded, and its UTF-8 bytes read as UTF-16 made it `content` (review 137).
    from audit.measure.chain import Response, analyze
    from audit.policy.catalog import load_catalog

    page = (ROOT / "policies" / "examples" / "weixin" / "weixin-blocked-en-phishing.html"
            ).read_text(encoding="utf-8").replace('<meta charset="utf-8">', "")
    assert page.isascii()
    entry = _entry(WRAP, page, t=1, headers={"Content-Type": "text/html; charset=utf-16le"})
    (flow,) = iter_har(_har(tmp_path / "u.har", entry))
    facts = analyze(Response(url=flow.url, status=200, headers=flow.response_headers,
                             body=flow.response_body), load_catalog(), TARGET).facts
    # read by its words, not by the structure of an endpoint's page of garbage
    assert (facts.kind.value, facts.signature) == ("blocked", "generic/blocked")


def test_the_targets_own_answer_without_its_body_is_an_arrival(plan: Path,
                                                               tmp_path: Path) -> None:
    # Review 137: Chrome drops a page's body once the tab leaves it; the target's own URL
    # answering 200 is the link let through whatever its page said (not for review).
    wrapper = "https://weibo.cn/sinaurl?u=" + quote(LINK, safe="")
    redirect = _entry(wrapper, "", t=1, status=302, headers={"Location": LINK})
    arrival = _entry(LINK, t=2, content={"size": 5000, "mimeType": "text/html"})
    (observed,) = _analyze(plan, _har(tmp_path / "a.har", redirect, arrival))
    assert observed.outcome.value == "wrapped"


# ---------------------------------------------------------------------------------------
# 3. A HAR's base64 body still in its coding
# ---------------------------------------------------------------------------------------


def test_a_har_base64_body_still_gzipped_is_decoded(plan: Path, tmp_path: Path) -> None:
    # Review 134: Charles' raw export or Fiddler without "Decode" keeps the wire's gzip bytes
    # in base64; read as the page, Weibo's copy-only page was bytes with no way on (blocked).
    page = _weibo("weibo-copy-only").encode()
    wire = gzip.compress(page)
    path = _har(tmp_path / "c.har", _entry(
        WRAP, t=1, headers={"Content-Type": HTML, "Content-Encoding": "gzip"},
        content={"size": len(wire), "mimeType": HTML, "encoding": "base64",
                 "text": base64.b64encode(wire).decode()}))
    (observed,) = _analyze(plan, path)
    assert _reading(observed) == ("copy_only", "weibo/weibo-copy-only")
    assert _only(iter_har(path)).response_body == page


# ---------------------------------------------------------------------------------------
# 4. A 3xx without a Location is a page
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["har", "warc", "mitm"])
def test_a_block_page_served_as_302_without_location_is_blocked(
        plan: Path, tmp_path: Path, kind: str) -> None:
    # Review 134: a 302 with nowhere to go is shown by Chromium, body and all; every reader
    # dropped the body of any 302, and Weibo's block page read as an empty answer.
    block = _weibo("weibo-blocked")
    if kind == "har":
        path = _har(tmp_path / "c.har", _entry(WRAP, block, t=1, status=302))
        flow = _only(iter_har(path))
    elif kind == "warc":
        path = _warc(tmp_path / "c.warc.gz", _Record(WRAP, block.encode(), "302 Found"))
        flow = _only(iter_warc(path))
    else:
        path = _dump(tmp_path / "c.mitm", WRAP, 302, block.encode())
        flow = _only(iter_mitm(path))
    (observed,) = _analyze(plan, path)
    assert _reading(observed) == ("blocked", "weibo/weibo-blocked")
    assert flow.status == 302 and block.encode() in flow.response_body


# ---------------------------------------------------------------------------------------
# 5. The WARC reader keeps the file's order
# ---------------------------------------------------------------------------------------


def test_a_response_waiting_for_its_request_keeps_its_place(plan: Path,
                                                           tmp_path: Path) -> None:
    # Review 134: a response without a request record waited for one, and the next response
    # (its request at hand) was yielded first: the continue click before its warning read
    # `direct`. The session now also orders flows by time, so the reader's order is checked.
    path = _warc(tmp_path / "o.warc.gz",
                 _Record(KS_LEAVE_URL, KS_LEAVE.encode(), request=None),
                 _Record(KS_LINK, TARGET_PAGE.encode(), date="2026-12-01T10:00:04Z",
                         request={**NAV, "Referer": "https://www.kuaishou.com/"}))
    (observed,) = _analyze(plan, path)
    assert observed.outcome.value == "warned"
    assert observed.hops[0].url == KS_LEAVE_URL
    assert [f.url for f in iter_warc(path)] == [KS_LEAVE_URL, KS_LINK]
