"""The capture analysis against an adversarial review (2026-12-07): an interception page must
never read as an open link, and a hostile capture gives a clear error and loses nothing.

F1: only a page view (a GET navigation) extends or starts a chain (not a HEAD, preflight,
prefetch, XHR, image, or a chat client's link-preview fetch before the tap). F5: is_document
reads Content-Type as audit.web.decode does and respects X-Requested-With and Accept. F3: a
Chrome HAR's browser-internal 307 is not the target answering. F7: timestamps that cannot be
a time are unknown, not a crash. F6: one flow with a skewed clock does not expire every open
chain. F8: a gzip bomb in a .mitm dump is decoded with a bound. F9: WARC responses read before
damage are analysed, and the error names where the damage starts."""

from __future__ import annotations

import gzip
import io
import json
import re
import tracemalloc
import zlib
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest
from mitmproxy import flow as mflow
from mitmproxy import io as mio
from mitmproxy.test import tflow

from audit.evidence.review import review_item
from audit.measure.capture.chains import ChainBuilder, add_token, is_document
from audit.measure.capture.formats import (
    MAX_BODY,
    CaptureError,
    FlowRecord,
    iter_har,
    iter_warc,
)
from audit.measure.capture.mitm import _decode_body, iter_mitm
from audit.model import Observation, Probe, SurfaceKind
from audit.policy.catalog import Catalog, load_catalog, policy_dirs
from tests.corpus import CORPUS

ROOT = Path(__file__).resolve().parents[1]
T = 1_700_000_000.0
TOKEN = "hpco4g7nxqgi"
TARGET = "https://www.taobao.com/"
LINK = add_token(TARGET, TOKEN)
TARGET_PAGE = ("<html><head><title>淘宝网</title></head><body>" + "商品 " * 400
               + "</body></html>").encode()
# A warning in words no marker knows, shown by WeChat, with the link on it.
UNKNOWN_WARNING = (
    "<!DOCTYPE html><html><head><meta charset=utf-8><title>微信</title></head><body>"
    "<p>此網頁由第三方提供，請注意帳號與財產安全。</p>"
    f'<div>{LINK}</div><a href="{LINK}">知道了，打開</a></body></html>').encode()
OPEN = ("direct", "wrapped")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(policy_dirs())


def _probe(target: str = TARGET, token: str = TOKEN, source: str = "weixin",
           surface: SurfaceKind = SurfaceKind.IM_PRIVATE) -> Probe:
    return Probe(id=f"p-{token}", source=source, surface=surface,
                 target_url=target, link_url=add_token(target, token), token=token)


def _flow(url: str, status: int | None = 200, body: bytes = b"", *, t: float = T,
          method: str = "GET", request: dict[str, str] | None = None,
          response: dict[str, str] | None = None, index: int = 0) -> FlowRecord:
    return FlowRecord(file="t.har", index=index, offset=None, started=t, method=method,
                      url=url, request_headers=dict(request if request is not None
                                                    else {"sec-fetch-dest": "document"}),
                      status=status, response_headers=dict(
                          response if response is not None
                          else {"content-type": "text/html; charset=utf-8"}),
                      response_body=body)


def _run(catalog: Catalog, flows: list[FlowRecord], probes: list[Probe] | None = None,
         ) -> list[Observation]:
    builder = ChainBuilder(catalog, [_probe()] if probes is None else probes)
    out: list[Observation] = []
    for flow in flows:
        out += builder.feed(flow).observations
    out += builder.close()
    return [o for o in out if o.hops]


# -- F1: only a page view extends or starts a chain -------------------------------------------

WARNING_URL = "https://weixin110.qq.com/security/midpage?url=" + quote(LINK, safe="")
SUBRESOURCES: dict[str, dict[str, object]] = {
    "head": dict(method="HEAD", request={"sec-fetch-dest": "empty", "sec-fetch-mode": "no-cors",
                                         "referer": WARNING_URL}, body=b""),
    "prefetch": dict(request={"sec-fetch-dest": "empty", "sec-purpose": "prefetch",
                              "referer": WARNING_URL}),
    "xhr_json": dict(request={"sec-fetch-dest": "empty", "sec-fetch-mode": "cors",
                              "referer": WARNING_URL},
                     response={"content-type": "application/json"}, body=b'{"ok":1}'),
    "preflight": dict(method="OPTIONS", status=204, body=b"", response={},
                      request={"sec-fetch-dest": "empty",
                               "access-control-request-method": "GET",
                               "referer": WARNING_URL}),
    "image": dict(request={"sec-fetch-dest": "image", "referer": WARNING_URL},
                  response={"content-type": "image/png"}, body=b"\x89PNG\r\n\x1a\n"),
    "old_webview_xhr": dict(request={"accept": "*/*", "x-requested-with": "XMLHttpRequest",
                                     "referer": WARNING_URL}),
}


@pytest.mark.parametrize("kind", sorted(SUBRESOURCES))
def test_a_subresource_with_the_token_is_not_the_user_arriving(catalog: Catalog,
                                                               kind: str) -> None:
    """The user stays on an interstitial; the page (or app) fetches the target in the
    background with the token. Before: that fetch extended the chain as the target reached."""
    options: dict[str, object] = {"body": TARGET_PAGE, **SUBRESOURCES[kind]}
    background = _flow(LINK, t=T + 0.4, **options)  # type: ignore[arg-type]
    (observation,) = _run(catalog, [_flow(WARNING_URL, body=UNKNOWN_WARNING), background])
    assert observation.outcome.value not in OPEN
    assert [h.url for h in observation.hops] == [WARNING_URL]


COPY_ONLY_URL = ("https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi"
                 "?click=1&url=" + quote(LINK, safe=""))


@pytest.mark.parametrize(("method", "request_headers"), [
    ("GET", {"accept": "*/*", "user-agent": "WeChat-LinkPreview"}),
    ("HEAD", {"sec-fetch-dest": "empty"}),
])
def test_a_link_preview_before_the_tap_does_not_decide_the_probe(
        catalog: Catalog, method: str, request_headers: dict[str, str]) -> None:
    """The chat client fetches the link for its preview card, then the tap shows WeChat's
    copy-only page. Before: the preview decided the probe `direct`, the page was dropped."""
    copy_only = (ROOT / "policies/examples/weixin/weixin-copy-only.html").read_bytes()
    preview = _flow(LINK, body=TARGET_PAGE if method == "GET" else b"", method=method,
                    request=request_headers)
    (observation,) = _run(catalog, [preview, _flow(COPY_ONLY_URL, body=copy_only, t=T + 5)])
    assert observation.outcome.value == "copy_only"


# -- F5: is_document ----------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/htmlx", "text/x-html-fragment",
                                          "image/svg+xml", "text/plain; x=html"])
def test_a_type_that_is_no_html_is_no_document(content_type: str) -> None:
    flow = _flow(TARGET, body=TARGET_PAGE, request={},
                 response={"content-type": content_type})
    assert not is_document(flow)


@pytest.mark.parametrize(("request_headers", "expected"), [
    ({"x-requested-with": "XMLHttpRequest"}, False),
    ({"x-requested-with": "com.tencent.mm"}, True),  # Android WebViews: the app's package
    ({"accept": "application/json, text/plain, */*"}, False),
    ({"accept": "*/*"}, False),
    ({"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, True),
    ({"accept": "text/html;q=0, */*"}, False),
    ({"sec-fetch-dest": "document", "sec-fetch-mode": "cors"}, False),
    ({"sec-fetch-mode": "navigate"}, True),
    ({"sec-fetch-dest": "iframe", "sec-fetch-mode": "navigate"}, True),
    ({}, True),
])
def test_the_request_says_whether_it_is_a_navigation(request_headers: dict[str, str],
                                                     expected: bool) -> None:
    flow = _flow(TARGET, body=TARGET_PAGE, request=request_headers,
                 response={"content-type": "application/xhtml+xml"})
    assert is_document(flow) is expected


def test_planless_background_xhr_from_an_interstitial_is_no_outbound_click(
        catalog: Catalog) -> None:
    """Without a plan, an XHR of the target from WeChat's interstitial (no Sec-Fetch-*, an
    XHTML answer) started a chain weixin -> taobao that read as `direct`."""
    warning = "https://weixin110.qq.com/security/midpage?url=" + quote(TARGET, safe="")
    flows = [_flow(warning, body=UNKNOWN_WARNING, request={"user-agent": "MicroMessenger"}),
             _flow(TARGET, body=TARGET_PAGE, t=T + 0.3,
                   request={"referer": warning, "accept": "*/*",
                            "x-requested-with": "XMLHttpRequest"},
                   response={"content-type": "application/xhtml+xml"})]
    assert not [o for o in _run(catalog, flows, probes=[]) if o.outcome.value in OPEN]


# -- F3: Chrome's internal redirect -------------------------------------------------------


def _har_entry(url: str, status: int, body: str, *, t: float, status_text: str = "",
               headers: dict[str, str] | None = None) -> dict[str, object]:
    return {"startedDateTime": f"2023-11-14T22:13:{t:06.3f}Z", "time": 10,
            "request": {"method": "GET", "url": url, "httpVersion": "HTTP/1.1",
                        "headers": [{"name": "Sec-Fetch-Dest", "value": "document"}]},
            "response": {"status": status, "statusText": status_text, "httpVersion": "HTTP/1.1",
                         "headers": [{"name": k, "value": v}
                                     for k, v in (headers or {}).items()],
                         "content": {"size": len(body), "mimeType": "text/html",
                                     "text": body}}}


@pytest.mark.parametrize(("reason_header", "status_text"), [
    ({"Non-Authoritative-Reason": "Delegate"}, "Internal Redirect"),
    ({"Non-Authoritative-Reason": "HSTS"}, ""),
    ({}, "Internal Redirect"),
])
def test_a_browser_internal_redirect_is_not_the_target_answering(
        catalog: Catalog, tmp_path: Path, reason_header: dict[str, str],
        status_text: str) -> None:
    warning = "https://urlsec.qq.com/intercept.html?url=" + quote(LINK, safe="")
    har = {"log": {"version": "1.2", "entries": [
        _har_entry(LINK, 307, "", t=1, status_text=status_text,
                   headers={"Location": warning, **reason_header}),
        _har_entry(warning, 200, UNKNOWN_WARNING.decode(), t=2,
                   headers={"Content-Type": "text/html; charset=utf-8"}),
    ]}}
    path = tmp_path / "chrome.har"
    path.write_text(json.dumps(har, ensure_ascii=False), encoding="utf-8")
    flows = list(iter_har(path))
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value not in OPEN  # before: `direct`
    assert [h.url for h in observation.hops] == [warning]
    assert [f.internal_redirect for f in flows] == [True, False]


def test_a_server_307_is_still_a_hop(tmp_path: Path) -> None:
    har = {"log": {"entries": [_har_entry(LINK, 307, "", t=1, status_text="Temporary Redirect",
                                          headers={"Location": TARGET})]}}
    path = tmp_path / "server.har"
    path.write_text(json.dumps(har))
    assert [f.internal_redirect for f in iter_har(path)] == [False]


# -- F7, F6: timestamps ---------------------------------------------------------------------


def _mitm_flow(url: str, started: float) -> mflow.Flow:
    flow = tflow.tflow(resp=True)
    assert flow.response is not None
    flow.request.url = url
    flow.request.headers["Sec-Fetch-Dest"] = "document"
    flow.request.timestamp_start = started
    flow.response.status_code = 200
    flow.response.headers["content-type"] = "text/html"
    flow.response.content = TARGET_PAGE
    return flow


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e20, -1e12])
def test_a_timestamp_that_is_no_time_is_unknown(catalog: Catalog, tmp_path: Path,
                                                bad: float) -> None:
    """Before: a NaN or huge timestamp ended the analysis with a traceback (ValueError in
    datetime.fromtimestamp) and every later flow was lost."""
    targets = ["https://www.taobao.com/", "https://www.alipay.com/", "https://www.douyin.com/"]
    probes = [_probe(t, f"hp{letter * 10}") for t, letter in zip(targets, "abc", strict=True)]
    path = tmp_path / "times.mitm"
    with path.open("wb") as fh:
        writer = mio.FlowWriter(fh)  # type: ignore[no-untyped-call]
        for probe, started in zip(probes, (T, bad, T + 2), strict=True):
            writer.add(_mitm_flow(probe.link_url or "", started))
    flows = list(iter_mitm(path))
    assert [f.started for f in flows] == [T, None, T + 2]
    observations = _run(catalog, flows, probes=probes)
    assert sorted(o.target_url for o in observations) == sorted(targets)


def test_one_flow_with_a_skewed_clock_does_not_expire_open_chains(catalog: Catalog) -> None:
    """A tracking pixel an hour ahead closed the open chain; its next hop was then dropped
    as a repeat of a decided probe."""
    wrapper = "https://mp.weixinbridge.com/mp/wapredirect?url=" + quote(LINK, safe="")
    flows = [_flow(wrapper, 302, response={"location": LINK}),
             _flow("http://cdn.example.com/pixel.gif", body=b"GIF89a", t=T + 3600,
                   request={"sec-fetch-dest": "image"}, response={"content-type": "image/gif"}),
             _flow(LINK, body=TARGET_PAGE, t=T + 0.1)]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "wrapped"
    assert [h.url for h in observation.hops] == [wrapper, LINK]


def test_a_pause_confirmed_by_the_next_flow_still_expires_chains(catalog: Catalog) -> None:
    """Time does move on when two flows in a row say so, and the chain the first of them
    starts is not expired by the second."""
    builder = ChainBuilder(catalog, [_probe()])
    builder.feed(_flow(WARNING_URL, body=UNKNOWN_WARNING))
    assert builder.open
    builder.feed(_flow("http://cdn.example.com/a.gif", t=T + 600,
                       request={"sec-fetch-dest": "image"}, response={}))
    assert builder.open  # one flow alone does not move the clock
    closed = builder.feed(_flow("http://cdn.example.com/b.gif", t=T + 601,
                                request={"sec-fetch-dest": "image"}, response={}))
    assert [o.target_url for o in closed.observations] == [TARGET]
    assert builder.clock == T + 600


# -- F8: bounded decoding -------------------------------------------------------------------


def test_a_gzip_bomb_is_decoded_with_a_bound() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    bomb = b"".join([compressor.compress(b"<html><body>"),
                     *(compressor.compress(chunk) for _ in range(64)), compressor.flush()])
    headers = {"content-encoding": "gzip"}
    tracemalloc.start()
    try:
        body = _decode_body(bomb, headers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(body) == MAX_BODY and body.startswith(b"<html><body>   ")
    assert "content-encoding" not in headers
    assert peak < 16 * 1024 * 1024  # before: the whole 64 MB


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd", "gzip, identity"])
def test_bounded_decoding_equals_mitmproxy_on_ordinary_bodies(coding: str) -> None:
    from mitmproxy.net import encoding

    page = TARGET_PAGE * 10
    first = coding.split(",")[0]
    encoded = encoding.encode(page, first)
    assert isinstance(encoded, bytes)
    headers = {"content-encoding": coding}
    assert _decode_body(encoded, headers) == page and headers == {}


def test_a_truncated_gzip_body_is_decoded_as_far_as_it_goes() -> None:
    # As a browser shows it, and as the crawler reads one (audit.web.codings, one decoder).
    encoded = gzip.compress(TARGET_PAGE)[:-20]
    headers = {"content-encoding": "gzip"}
    decoded = _decode_body(encoded, headers)
    assert decoded and TARGET_PAGE.startswith(decoded) and headers == {}
    # A body nothing of which decodes is kept as sent, with its header.
    garbage = {"content-encoding": "gzip"}
    assert _decode_body(b"not gzip at all", garbage) == b"not gzip at all"
    assert garbage == {"content-encoding": "gzip"}


# -- F9: WARC responses before damage -----------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True])
def test_warc_responses_before_damage_are_read(tmp_path: Path, compressed: bool) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=compressed)
    targets = ["https://www.taobao.com/", "https://www.alipay.com/", "https://www.douyin.com/"]
    for target in targets:
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html"),
                                              ("Content-Length", str(len(TARGET_PAGE)))],
                                   protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            target, "response", payload=io.BytesIO(TARGET_PAGE), length=len(TARGET_PAGE),
            http_headers=headers))
    good = len(buffer.getvalue())
    damage = b"GARBAGE-NOT-WARC\r\nfoo: bar\r\n\r\n"
    path = tmp_path / ("damaged.warc.gz" if compressed else "damaged.warc")
    path.write_bytes(buffer.getvalue() + (gzip.compress(damage) if compressed else damage))
    flows: list[FlowRecord] = []
    reader = iter_warc(path)
    with pytest.raises(CaptureError) as raised:
        flows.extend(reader)
    assert [f.url for f in flows] == targets
    assert raised.value.offset == good
    assert raised.value.flows_read == 3


def test_a_gzip_member_of_several_records_after_good_ones_keeps_them(tmp_path: Path) -> None:
    """Per-record gzip, then a member holding two records (`cat a.warc.gz b.warc.gz` where b
    was gzipped whole): warcio refuses the member. The responses waiting for their request
    records were lost (the review of the fix above)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    def warc(targets: list[str], compressed: bool) -> bytes:
        buffer = io.BytesIO()
        writer = WARCWriter(buffer, gzip=compressed)
        for target in targets:
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                target, "response", payload=io.BytesIO(TARGET_PAGE),
                length=len(TARGET_PAGE), http_headers=headers))
        return buffer.getvalue()

    first = ["https://www.taobao.com/", "https://www.alipay.com/"]
    path = tmp_path / "joined.warc.gz"
    path.write_bytes(warc(first, True) + gzip.compress(
        warc(["https://www.jd.com/", "https://www.douyin.com/"], False)))
    flows: list[FlowRecord] = []
    with pytest.raises(CaptureError) as raised:
        flows.extend(iter_warc(path))
    assert [f.url for f in flows][:2] == first and raised.value.flows_read >= 2


# -- the review of the fixes: leads, redirects, prefetches, XHRs --------------------------

WRAPPER = "https://mp.weixinbridge.com/mp/wapredirect?url=" + quote(LINK, safe="")
OPAQUE_WARNING = ("https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi"
                  "?click=6a1b2c&bankey=0123456789abcdef&midpagecode=3c2a")
APP_CLIENT = {"accept": "*/*", "user-agent": "WeChat/8.0 CFNetwork/1408"}
WEBVIEW = {"sec-fetch-dest": "document", "sec-fetch-mode": "navigate"}


def _warning_page() -> bytes:
    """WeChat's real 2016 warning (the corpus), its continue link pointed at the probe."""
    path = CORPUS / "interstitials/wechat-2016-zh-01-warning.htm"
    if not path.exists():
        pytest.skip(f"the shared corpus is not here ({path})")
    page = path.read_text(encoding="utf-8")
    return page.replace('var url = "http://tumblr.com";', f'var url = "{LINK}";').encode()


@pytest.mark.parametrize("location", ["warning", "target"])
def test_a_redirect_the_app_fetched_is_the_chains_first_hop(catalog: Catalog,
                                                           location: str) -> None:
    """The app resolves the wrapper with its own HTTP client (`Accept: */*`, no Sec-Fetch),
    then its WebView loads where it leads. Dropped as no page view, the chain began after it:
    `direct` for a warning, `direct` for `wrapped` (the review of the page-view fix)."""
    to = OPAQUE_WARNING if location == "warning" else LINK
    flows = [_flow(WRAPPER, 302, request=APP_CLIENT, response={"location": to})]
    if location == "warning":
        flows += [_flow(OPAQUE_WARNING, body=_warning_page(), t=T + 0.2, request=WEBVIEW),
                  _flow(LINK, body=TARGET_PAGE, t=T + 4,
                        request={**WEBVIEW, "referer": OPAQUE_WARNING})]
    else:
        flows.append(_flow(LINK, body=TARGET_PAGE, t=T + 0.2, request=WEBVIEW))
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == ("warned" if location == "warning" else "wrapped")
    assert observation.hops[0].url == WRAPPER


@pytest.mark.parametrize("via_getpagedata", [False, True])
def test_an_interstitial_without_the_token_starts_the_chain_its_continue_names(
        catalog: Catalog, via_getpagedata: bool) -> None:
    """A real WeChat interstitial's URL holds no target (click, bankey, midpagecode); the
    continue click carries the token and names it as Referer. It read `direct` or `wrapped`."""
    continued = ("http://support.weixin.qq.com/cgi-bin/mmsupport-bin/getpagedata?requrl="
                 + quote(quote(LINK, safe=""), safe="") + "&t=favorites")
    flows = [_flow(OPAQUE_WARNING, body=_warning_page(), request=WEBVIEW)]
    if via_getpagedata:
        flows.append(_flow(continued, 302, t=T + 3, response={"location": LINK},
                           request={**WEBVIEW, "referer": OPAQUE_WARNING}))
    flows.append(_flow(LINK, body=TARGET_PAGE, t=T + 3.5,
                       request={**WEBVIEW, "referer": OPAQUE_WARNING}))
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "warned"
    # A page seen too long before is no lead.
    stale = [_flow(OPAQUE_WARNING, body=_warning_page(), request=WEBVIEW),
             _flow(LINK, body=TARGET_PAGE, t=T + 3600,
                   request={**WEBVIEW, "referer": OPAQUE_WARNING})]
    assert [o.outcome.value for o in _run(catalog, stale)] == ["direct"]


@pytest.mark.parametrize("content_type", ["text/plain; charset=utf-8", "application/json"])
def test_a_redirect_of_any_type_is_a_navigation_without_request_headers(
        catalog: Catalog, content_type: str) -> None:
    # A browser follows a redirect whatever its body's type (a HAR without request headers).
    flows = [_flow(WRAPPER, 302, request={},
                   response={"location": OPAQUE_WARNING, "content-type": content_type}),
             _flow(OPAQUE_WARNING, body=_warning_page(), t=T + 0.2, request={}),
             _flow(LINK, body=TARGET_PAGE, t=T + 4, request={"referer": OPAQUE_WARNING})]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "warned"


@pytest.mark.parametrize("request_headers", [
    {"sec-purpose": "prefetch", "sec-fetch-dest": "document", "sec-fetch-mode": "navigate"},
    {"purpose": "prefetch", "sec-fetch-dest": "document", "sec-fetch-mode": "navigate"},
    {"accept": "text/html, */*; q=0.01", "origin": "https://weixin110.qq.com"},
])
def test_a_prefetch_or_a_cors_xhr_is_no_page_view(request_headers: dict[str, str]) -> None:
    # A speculative prefetch carries a navigation's Sec-Fetch headers; an old WebView's
    # cross-origin jQuery XHR asks for HTML and names its Origin (no GET navigation does).
    assert not is_document(_flow(LINK, body=TARGET_PAGE, request=request_headers))
    assert is_document(_flow(LINK, body=TARGET_PAGE, request={
        "accept": "text/html,application/xhtml+xml", "x-requested-with": "com.tencent.mm"}))


# -- the second review of the fixes: leads that attach where they should ------------------


def test_an_origin_only_referer_names_the_interstitial(catalog: Catalog) -> None:
    # Chromium sends only the origin across origins (strict-origin-when-cross-origin).
    flows = [_flow(OPAQUE_WARNING, body=_warning_page(), request=WEBVIEW),
             _flow(LINK, body=TARGET_PAGE, t=T + 3,
                   request={**WEBVIEW, "referer": "https://weixin110.qq.com/"})]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "warned"


def test_redirects_of_two_probes_to_one_page_wait_for_the_click(catalog: Catalog) -> None:
    """The app resolves two links of a chat (previews), both to one warning; the user opens
    the first. The second's lead took the warning, and the first read `direct`."""
    other = _probe("https://www.jd.com/", "hpaaaabbbbcc")
    other_wrapper = ("https://mp.weixinbridge.com/mp/wapredirect?url="
                     + quote(other.link_url or "", safe=""))
    flows = [_flow(WRAPPER, 302, request=APP_CLIENT, response={"location": OPAQUE_WARNING}),
             _flow(other_wrapper, 302, t=T + 0.1, request=APP_CLIENT,
                   response={"location": OPAQUE_WARNING}),
             _flow(OPAQUE_WARNING, body=_warning_page(), t=T + 0.5, request=WEBVIEW),
             _flow(LINK, body=TARGET_PAGE, t=T + 4,
                   request={**WEBVIEW, "referer": OPAQUE_WARNING})]
    observations = _run(catalog, flows, [_probe(), other])
    assert [(o.target_url, o.outcome.value) for o in observations] == [(TARGET, "warned")]


def test_a_page_view_without_the_token_keeps_the_interstitial_it_came_from(
        catalog: Catalog) -> None:
    # The platform strips the query: the planned target itself, its Referer the warning.
    flows = [_flow(OPAQUE_WARNING, body=_warning_page(), request=WEBVIEW),
             _flow(TARGET, body=TARGET_PAGE, t=T + 3,
                   request={**WEBVIEW, "referer": OPAQUE_WARNING})]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "warned"


def test_an_ordinary_platform_page_is_no_interstitial(catalog: Catalog) -> None:
    # A click from a post on the platform: the post is no hop of the link (it read `wrapped`).
    post = "https://mp.weixin.qq.com/s/AbCdEf123"
    article = ("<html><head><meta charset=utf-8><title>文章</title></head><body><h1>文章</h1>"
               + "<p>正文内容，讲一件事。</p>" * 30 + f"<a href='{LINK}'>淘宝</a></body></html>")
    flows = [_flow(post, body=article.encode(), request=WEBVIEW),
             _flow(LINK, body=TARGET_PAGE, t=T + 3, request={**WEBVIEW, "referer": post})]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "direct"
    assert [h.url for h in observation.hops] == [LINK]


def test_leads_do_not_decide_a_chain_alone(catalog: Catalog) -> None:
    # The app's cookie-less client loops on a cookie check; the WebView then gets the page.
    looped = LINK + "&ck=1"
    flows = [_flow(LINK, 302, request=APP_CLIENT, response={"location": looped}),
             _flow(looped, 302, t=T + 0.1, request=APP_CLIENT, response={"location": LINK}),
             _flow(LINK, body=TARGET_PAGE, t=T + 0.5, request=WEBVIEW)]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "direct"


def test_a_redirect_lead_keeps_no_body(catalog: Catalog) -> None:
    builder = ChainBuilder(catalog, [_probe()])
    for index in range(8):
        builder.feed(_flow(WRAPPER + f"&n={index}", 302, body=b"x" * MAX_BODY, t=T + index,
                           request=APP_CLIENT, response={"location": OPAQUE_WARNING}))
    assert len(builder._redirect_leads) == 8
    assert all(not lead.flow.response_body for lead in builder._redirect_leads)


# -- the third review of the fixes: the page that shows the link is the probe's ------------

BLOCKED_URL = ("https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi"
               "?click=2&bankey=bb")


def _corpus_page(name: str, link: str = LINK) -> bytes:
    path = CORPUS / "interstitials" / name
    if not path.exists():
        pytest.skip(f"the shared corpus is not here ({path})")
    page = path.read_text(encoding="utf-8")
    return page.replace('var url = "http://tumblr.com";', f'var url = "{link}";').encode()


def test_the_interstitial_that_shows_the_link_is_the_probes(catalog: Catalog) -> None:
    """Two tabs: the probe's warning and another probe's block page, both of one origin;
    the click names the origin alone. The latest page of the origin (the block page) was
    taken, dropped as deciding alone, and the warning never tried: `direct`."""
    other = _probe("https://www.jd.com/", "hpaaaabbbbcc")
    flows = [_flow(OPAQUE_WARNING, body=_warning_page(), request=WEBVIEW),
             _flow(BLOCKED_URL, t=T + 1, request=WEBVIEW, body=_corpus_page(
                 "wechat-2016-zh-23-rumor-block.htm", other.link_url or "")),
             _flow(LINK, body=TARGET_PAGE, t=T + 3,
                   request={**WEBVIEW, "referer": "https://weixin110.qq.com/"})]
    observations = _run(catalog, flows, [_probe(), other])
    assert [(o.target_url, o.outcome.value) for o in observations] == [(TARGET, "warned")]


def test_a_continue_without_a_referer_finds_its_interstitial(catalog: Catalog) -> None:
    # WeChat's continue goes from https to http (getpagedata): Chromium sends no Referer.
    continued = ("http://support.weixin.qq.com/cgi-bin/mmsupport-bin/getpagedata?requrl="
                 + quote(quote(LINK, safe=""), safe=""))
    flows = [_flow(OPAQUE_WARNING, body=_warning_page(), request=WEBVIEW),
             _flow(continued, 302, t=T + 3, response={"location": LINK}, request=WEBVIEW),
             _flow(LINK, body=TARGET_PAGE, t=T + 3.5, request=WEBVIEW)]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "warned"


def test_a_copy_only_page_then_the_link_opened_by_hand_is_copy_only(catalog: Catalog) -> None:
    copy_only = (ROOT / "policies/examples/weixin/weixin-copy-only.html").read_text(
        encoding="utf-8")
    assert "item.taobao.com" in copy_only
    page = re.sub(r"https?:(?:&#x2f;|/){2}item\.taobao\.com[^<\"']*",
                  LINK.replace("/", "&#x2f;"), copy_only).encode()
    browser = {"sec-fetch-dest": "document", "sec-fetch-mode": "navigate",
               "sec-fetch-site": "none"}
    flows = [_flow(OPAQUE_WARNING, body=page, request=WEBVIEW),
             _flow(LINK, body=TARGET_PAGE, t=T + 8, request=browser)]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "copy_only"
    assert [h.url for h in observation.hops] == [OPAQUE_WARNING]


def test_a_block_pages_own_help_link_keeps_it_blocked(catalog: Catalog) -> None:
    help_url = ("https://weixin110.qq.com/redirect/help?lang=zh_CN&url="
                + quote(LINK, safe=""))
    help_page = ("<html><head><meta charset=utf-8><title>微信安全中心</title></head><body>"
                 + "<p>为维护绿色、健康的网络环境，微信对部分网页的访问做了限制。</p>" * 20
                 + "</body></html>").encode()
    flows = [_flow(BLOCKED_URL, request=WEBVIEW,
                   body=_corpus_page("wechat-2016-zh-23-rumor-block.htm")),
             _flow(help_url, body=help_page, t=T + 5,
                   request={**WEBVIEW, "referer": BLOCKED_URL})]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "blocked"


def test_an_earlier_control_fetch_does_not_drop_the_interstitial(catalog: Catalog) -> None:
    """A page on WeChat's endpoint that forwards by script after a while (for review); with
    the control captured first, the lead read as deciding the chain alone: `direct`."""
    forwards = ("<html><head><meta charset=utf-8><title>微信</title></head><body><p>请稍候</p>"
                f"<script>setTimeout(function(){{location.href='{LINK}'}},3000)</script>"
                "</body></html>").encode()
    flows = [_flow(add_token(TARGET, "hcco4g7nxqgi"), body=TARGET_PAGE, t=T - 1,
                   request={"accept": "text/html"}),
             _flow(OPAQUE_WARNING, body=forwards, request=WEBVIEW),
             _flow(LINK, body=TARGET_PAGE, t=T + 3,
                   request={**WEBVIEW, "referer": "https://weixin110.qq.com/"})]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value not in OPEN


def test_an_interstitial_of_unknown_time_is_still_a_lead(catalog: Catalog) -> None:
    flows = [replace(_flow(OPAQUE_WARNING, body=_warning_page(), request=WEBVIEW),
                     started=None),
             _flow(LINK, body=TARGET_PAGE, t=T + 3, request=WEBVIEW)]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "warned"


@pytest.mark.parametrize("window", ["0", "-5", "nan", "inf"])
def test_a_window_that_is_no_positive_time_is_refused(tmp_path: Path, window: str) -> None:
    from typer.testing import CliRunner

    from audit.cli import app

    result = CliRunner().invoke(app, ["capture", "analyze", "--window", window,
                                      "--out", str(tmp_path / "run"), str(tmp_path / "x.har")])
    assert result.exit_code == 2 and "--window" in result.output
    assert not (tmp_path / "run").exists()


# -- the fourth review of the fixes: the page the link was posted on is no interstitial ----

POST_URL = "https://mp.weixin.qq.com/s/AbCdEfGhIjKlMnOp"


@pytest.mark.parametrize("words", ["打不开的话复制链接到浏览器打开", "点开链接后显示“已停止访问该网页”"])
@pytest.mark.parametrize("referer", [None, "https://mp.weixin.qq.com/", POST_URL])
def test_a_post_saying_block_words_beside_the_link_accuses_nobody(
        catalog: Catalog, words: str, referer: str | None) -> None:
    """A short article shows the link beside words the markers know; the link opens at once.
    Taken as the probe's interstitial (its body shows the token), it decided the click
    `copy_only` or `blocked` (a review)."""
    post = ("<html><head><meta charset=utf-8><title>链接测试</title></head><body>"
            f"<div id=js_content><p>{words}</p><p><a href='{LINK}'>{LINK}</a></p></div>"
            "</body></html>").encode()
    request = {**WEBVIEW, "referer": referer} if referer else WEBVIEW
    flows = [_flow(POST_URL, body=post, request=WEBVIEW),
             _flow(LINK, body=TARGET_PAGE, t=T + 3, request=request)]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "direct"


def test_the_page_the_referer_names_comes_before_a_later_page_showing_the_link(
        catalog: Catalog) -> None:
    # The warning, then an article with the same link loaded in another tab, then the
    # continue naming the warning: the article (the latest page showing the token) was taken.
    article = ("<html><head><meta charset=utf-8><title>文章</title></head><body>"
               + "<p>正文内容。</p>" * 200 + f"<a href='{LINK}'>{LINK}</a></body></html>").encode()
    flows = [_flow(OPAQUE_WARNING, body=_warning_page(), request=WEBVIEW),
             _flow(POST_URL, body=article, t=T + 2, request=WEBVIEW),
             _flow(LINK, body=TARGET_PAGE, t=T + 6,
                   request={**WEBVIEW, "referer": OPAQUE_WARNING})]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "warned"


@pytest.mark.parametrize("window", [0.0, -1.0, float("nan")])
def test_a_chain_builder_refuses_a_window_that_is_no_time(catalog: Catalog,
                                                         window: float) -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        ChainBuilder(catalog, [_probe()], window_s=window)


# -- the fifth review of the fixes: endpoints only, by company, encoded tokens, slow readers --


@pytest.mark.parametrize("shown", ["percent", "json"])
def test_a_warning_showing_the_link_encoded_names_its_probe(catalog: Catalog,
                                                            shown: str) -> None:
    encoded = quote(LINK, safe="") if shown == "percent" else LINK.replace("=", "\\u003d")
    page = _warning_page().replace(LINK.encode(), encoded.encode())
    assert LINK.encode() not in page
    continued = ("http://support.weixin.qq.com/cgi-bin/mmsupport-bin/getpagedata?requrl="
                 + quote(quote(LINK, safe=""), safe=""))
    flows = [_flow(OPAQUE_WARNING, body=page, request=WEBVIEW),
             _flow(continued, 302, t=T + 3, response={"location": LINK}, request=WEBVIEW),
             _flow(LINK, body=TARGET_PAGE, t=T + 3.5, request=WEBVIEW)]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "warned"


def test_a_post_named_whole_by_the_referer_is_no_interstitial(catalog: Catalog) -> None:
    # Old WebViews (and `<meta name=referrer content=always>`) send the post's whole URL;
    # the post reads `warned` from its words. Only endpoint pages are leads now.
    pin = "https://www.zhihu.com/pin/1700000000000000001"
    page = ("<html><head><meta charset=utf-8><title>想法 - 知乎</title></head><body>"
            f"<div class=RichText>今天的测试 外部链接：{LINK}</div>"
            f"<a class=LinkCard href='{LINK}'>淘宝网</a></body></html>").encode()
    probe = _probe(source="zhihu", surface=SurfaceKind.POST)
    flows = [_flow(pin, body=page, request=WEBVIEW),
             _flow(LINK, body=TARGET_PAGE, t=T + 3, request={**WEBVIEW, "referer": pin})]
    (observation,) = _run(catalog, flows, [probe])
    assert observation.outcome.value == "direct"


def test_an_endpoint_a_company_shares_is_each_of_its_apps(catalog: Catalog) -> None:
    """ByteDance's apps share Douyin's link.wtturl.cn: its block page, for a Toutiao link,
    was no lead of the Toutiao probe (the page's platform was Douyin)."""
    seclink = ("https://link.wtturl.cn/?aid=1128&lang=zh&scene=im&target="
               + quote(TARGET, safe=""))
    blocked = (ROOT / "policies/examples/douyin/douyin-seclink-blocked.html").read_bytes()
    probe = _probe(source="toutiao", surface=SurfaceKind.COMMENT)
    flows = [_flow(seclink, body=blocked, request=WEBVIEW),
             _flow(LINK, body=TARGET_PAGE, t=T + 8,
                   request={**WEBVIEW, "referer": "https://link.wtturl.cn/"})]
    (observation,) = _run(catalog, flows, [probe])
    assert observation.outcome.value == "blocked"


def test_an_endpoint_on_another_platforms_host_is_its_own_platforms(catalog: Catalog) -> None:
    # txc declares its link-jump endpoint on support.qq.com, a host QQ's domains cover.
    jump = "https://support.qq.com/products/123456/link-jump?jump=" + quote(TARGET, safe="")
    page = ("<html><head><meta charset=utf-8><title>即将离开兔小巢</title></head><body>"
            f"<p>您即将离开兔小巢，访问外部链接：</p><p>{TARGET}</p>"
            f"<a class=btn href='{TARGET}'>继续访问</a></body></html>").encode()
    probe = _probe(source="txc", surface=SurfaceKind.POST)
    flows = [_flow(jump, body=page, request=WEBVIEW),
             _flow(TARGET, body=TARGET_PAGE, t=T + 3, request={**WEBVIEW, "referer": jump})]
    (observation,) = _run(catalog, flows, [probe])
    assert observation.outcome.value == "warned"


def test_a_warning_read_for_two_minutes_is_still_the_clicks(catalog: Catalog) -> None:
    # The window of quiet is 30 s; a person reads a warning for longer.
    flows = [_flow(OPAQUE_WARNING, body=_warning_page(), request=WEBVIEW),
             _flow(LINK, body=TARGET_PAGE, t=T + 120,
                   request={**WEBVIEW, "referer": OPAQUE_WARNING})]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "warned"


# -- the sixth review: an origin names a page only of the link, within the window ----------

OTHER = _probe("https://www.jd.com/", "hpaaaabbbbcc")
EXAMPLES = ROOT / "policies/examples/weixin"


def _page_showing(target: str, example: str) -> bytes:
    return (EXAMPLES / example).read_bytes().replace(b"https://www.example.org/",
                                                     target.encode())


@pytest.mark.parametrize("gap", [10.0, 120.0])
def test_another_links_old_block_page_does_not_hide_the_warning(catalog: Catalog,
                                                               gap: float) -> None:
    """The platform drops the token; the other probe's block page came `gap` s before this
    probe's warning, and the continue names the origin alone: two pages of the origin, and
    the warning was given up (`direct`)."""
    other_page = OPAQUE_WARNING.replace("click=6a1b2c", "click=ffff")
    flows = [_flow(other_page, body=_page_showing("https://www.jd.com/",
                                                  "weixin-blocked-rumor.html"), t=T,
                   request=WEBVIEW),
             _flow(OPAQUE_WARNING, body=_page_showing(TARGET, "weixin-warning-2016.html"),
                   t=T + gap, request=WEBVIEW),
             _flow(TARGET, body=TARGET_PAGE, t=T + gap + 5,
                   request={**WEBVIEW, "referer": "https://weixin110.qq.com/"})]
    observations = _run(catalog, flows, [_probe(), OTHER])
    assert [(o.target_url, o.outcome.value) for o in observations] == [(TARGET, "warned")]


def test_an_unanswered_warning_for_another_link_is_no_later_clicks(catalog: Catalog) -> None:
    """A warning for one link, never answered; later another link opens at once from a page
    of the same origin: the warning (the one page of the origin) was taken for it."""
    jump = "https://support.qq.com/products/1/link-jump?jump=" + quote(TARGET, safe="")
    page = ("<html><head><meta charset=utf-8><title>即将离开兔小巢</title></head><body>"
            f"<p>您即将离开兔小巢，访问外部链接：</p><p>{TARGET}</p>"
            f"<a class=btn href='{TARGET}'>继续访问</a></body></html>").encode()
    first = _probe(source="txc", surface=SurfaceKind.POST)
    second = _probe("https://www.jd.com/", "hpaaaabbbbcc", "txc", SurfaceKind.POST)
    flows = [_flow(jump, body=page, request=WEBVIEW),
             _flow(OTHER.link_url or "", body=TARGET_PAGE, t=T + 20,
                   request={**WEBVIEW, "referer": "https://support.qq.com/"})]
    observations = _run(catalog, flows, [first, second])
    assert [(o.probe_id, o.outcome.value) for o in observations] == [(second.id, "direct")]


def test_another_runs_click_is_not_this_plans_probe(catalog: Catalog) -> None:
    """Two runs of a plan in one capture, analysed with the second plan: the first run's
    click (its token not in this plan) was taken for this plan's probe, decided `direct`,
    and the second run's own warning dropped as a repeat."""
    earlier = add_token(TARGET, "hpzzzzyyyyxx")
    flows = [_flow(earlier, body=TARGET_PAGE, request=WEBVIEW),
             _flow(OPAQUE_WARNING, body=_warning_page(), t=T + 300, request=WEBVIEW),
             _flow(LINK, body=TARGET_PAGE, t=T + 305,
                   request={**WEBVIEW, "referer": OPAQUE_WARNING})]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "warned"


# -- the seventh review: the origin path at a reader's pace, the target as pages write it ---

STRIPPED_VIEW = {**WEBVIEW, "referer": "https://weixin110.qq.com/"}


@pytest.mark.parametrize(("target", "written"), [
    ("https://item.taobao.com/item.htm?id=1", "https:&#x2f;&#x2f;item.taobao.com&#x2f;item.htm"),
    ("https://item.taobao.com/item.htm?id=1", "https:\\u002F\\u002Fitem.taobao.com\\u002Fitem.htm"),
    ("https://item.taobao.com:8443/item.htm", "https://item.taobao.com:8443/item.htm"),
    ("https://www.taobao.com/", "https://www.taobao.com/"),
])
@pytest.mark.parametrize("pause", [5.0, 60.0])
def test_a_warning_named_by_its_origin_shows_the_target_as_pages_write_it(
        catalog: Catalog, target: str, written: str, pause: float) -> None:
    """The platform drops the token; the continue names the origin alone. The page's target
    was sought as written plainly only, and within the 30 s window: `direct`."""
    probe = _probe(target)
    page = (EXAMPLES / "weixin-warning-2016.html").read_bytes().replace(
        b"https://www.example.org/", written.encode())
    flows = [_flow(OPAQUE_WARNING, body=page, request=WEBVIEW),
             _flow(target, body=TARGET_PAGE, t=T + pause, request=STRIPPED_VIEW)]
    (observation,) = _run(catalog, flows, [probe])
    assert observation.outcome.value == "warned"


def test_two_warnings_for_one_link_are_its_warnings(catalog: Catalog) -> None:
    # Tapped twice (back, tap again): two pages of the origin, both of this link.
    again = OPAQUE_WARNING.replace("click=6a1b2c", "click=7b2c3d")
    page = _page_showing(TARGET, "weixin-warning-2016.html")
    flows = [_flow(OPAQUE_WARNING, body=page, request=WEBVIEW),
             _flow(again, body=page, t=T + 4, request=WEBVIEW),
             _flow(TARGET, body=TARGET_PAGE, t=T + 8, request=STRIPPED_VIEW)]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == "warned"


def test_a_token_shaped_word_in_the_target_is_no_other_runs_token(catalog: Catalog) -> None:
    target = "https://www.taobao.com/markets/hpenterprise"
    (observation,) = _run(catalog, [_flow(target, body=TARGET_PAGE, request=WEBVIEW)],
                          [_probe(target)])
    assert observation.outcome.value == "direct"


# -- the eighth review: where a shown target starts and ends; a parameter without a token ----


@pytest.mark.parametrize(("shown", "target"), [
    ("https://nottaobao.com/", "https://taobao.com/"),
    ("https://www.taobao.com/item2", "https://www.taobao.com/item"),
    ("https://items.taobao.com/", "https://s.taobao.com/"),
])
def test_another_links_warning_showing_a_longer_name_is_no_later_clicks(
        catalog: Catalog, shown: str, target: str) -> None:
    """An unanswered warning for one link; another link opens at once from a page of the
    origin. A target found inside a longer host or path was taken for shown (`warned`)."""
    jump = "https://support.qq.com/products/1/link-jump?jump=x"
    page = ("<html><head><meta charset=utf-8><title>即将离开兔小巢</title></head><body>"
            f"<p>您即将离开兔小巢，访问外部链接：</p><p>{shown}</p>"
            f"<a class=btn href='{shown}'>继续访问</a></body></html>").encode()
    first = _probe(shown, "hpaaaabbbbcc", "txc", SurfaceKind.POST)
    second = _probe(target, TOKEN, "txc", SurfaceKind.POST)
    flows = [_flow(jump, body=page, request=WEBVIEW),
             _flow(target, body=TARGET_PAGE, t=T + 20,
                   request={**WEBVIEW, "referer": "https://support.qq.com/"})]
    observations = _run(catalog, flows, [first, second])
    assert [(o.probe_id, o.outcome.value) for o in observations] == [(second.id, "direct")]


@pytest.mark.parametrize("query", ["hulian_probe=", "hulian_probe", "hulian_probe=hpco4g7"])
def test_the_parameter_without_a_whole_token_is_no_other_runs_click(catalog: Catalog,
                                                                   query: str) -> None:
    target = "https://www.jd.com/item/9"
    (observation,) = _run(catalog, [_flow(f"{target}?{query}", body=TARGET_PAGE,
                                          request=WEBVIEW)], [_probe(target)])
    assert observation.outcome.value == "direct"


@pytest.mark.parametrize(("content_type", "outcome"), [
    ("application/xhtml+xml", "warned"), ("text/html; charset=utf-8", "warned"),
    ("text/plain; charset=utf-8", "wrapped")])
def test_an_xhtml_interstitial_off_the_endpoints_is_read(catalog: Catalog, content_type: str,
                                                         outcome: str) -> None:
    # Chromium shows XHTML as a page (its warning read by a person); the capture dropped
    # every XML body, so the user's continue after the warning read as `wrapped`. Text stays
    # text: a browser shows its markup, no warning.
    warning_url = "https://linkcheck.example-guard.net/warn?u=" + quote(LINK, safe="")
    body = ('<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
            "<head><title>安全提示</title></head><body><p>您即将离开微信，访问外部网页，请注意"
            f'账号财产安全</p><a href="{LINK}">继续访问</a></body></html>').encode()
    flows = [_flow(warning_url, body=body, request=WEBVIEW,
                   response={"content-type": content_type}),
             _flow(LINK, body=TARGET_PAGE, t=T + 3, request={**WEBVIEW, "referer": warning_url})]
    (observation,) = _run(catalog, flows)
    assert observation.outcome.value == outcome


# -- Review 122: a stopped chain takes no page view its page did not lead to ----------------

# A WeChat notice off the declared endpoints, in words no marker knows, showing the target:
# read as pointing back at it (review, `unrecognized`).
NOTICE_URL = "https://weixin.qq.com/cgi-bin/readtemplate?t=linkcheck&u=" + quote(LINK, safe="")
NOTICE = ("<!DOCTYPE html><html><head><meta charset=utf-8><title>微信</title></head><body>"
          f"<p>此链接暂时无法在微信内打开。</p><p>{TARGET}</p></body></html>").encode()


@pytest.mark.parametrize("request_headers", [
    {"sec-fetch-dest": "document"},  # opened by hand: no Referer
    {"sec-fetch-dest": "document", "referer": "https://www.baidu.com/"},
    # the notice's own link, tapped: one more action, not the platform sending the reader on
    {"sec-fetch-dest": "document", "referer": NOTICE_URL},
])
def test_the_link_opened_after_a_notice_does_not_open_it(catalog: Catalog,
                                                        request_headers: dict[str, str]) -> None:
    alone = _run(catalog, [_flow(NOTICE_URL, body=NOTICE)])
    assert [o.outcome.value for o in alone] == ["unrecognized"]
    (observed,) = _run(catalog, [_flow(NOTICE_URL, body=NOTICE),
                                 _flow(LINK, body=TARGET_PAGE, t=T + 20,
                                       request=request_headers)])
    assert observed.outcome.value == "unrecognized"
    assert [h.url for h in observed.hops if h.via != "control"] == [NOTICE_URL]


def test_a_page_that_led_on_is_still_followed(catalog: Catalog) -> None:
    # A page of a third party that forwards by a script hulian cannot read: the capture
    # shows where the browser went from it (its Referer), and that is the chain's next hop.
    checker = "https://linkcheck.example-guard.net/go?u=" + quote(LINK, safe="")
    forwarding = (b"<html><head><title>go</title></head><body><script>var u=atob('"
                  + b"aHR0cHM6Ly93d3cudGFvYmFvLmNvbS8=');go(u)</script></body></html>")
    (observed,) = _run(catalog, [
        _flow(checker, body=forwarding),
        _flow(LINK, body=TARGET_PAGE, t=T + 1,
              request={"sec-fetch-dest": "document", "referer": checker})])
    assert observed.outcome.value == "wrapped"
    assert [h.url for h in observed.hops] == [checker, LINK]


def test_page_views_after_a_stop_are_no_hops(catalog: Catalog) -> None:
    """A hostile capture: page views of the link, each its own URL, after its chain stopped.
    Each was a hop of one chain, all rescanned at every flow (4,000 took 9 minutes); none is
    a hop now, and a chain whose every page led to the next takes at most the crawler's
    ten hops."""
    from audit.measure.chain import MAX_HOPS

    views = [_flow(f"{LINK}&n={n}", 404, b"<p>no</p>", t=T + 1 + n / 1000)
             for n in range(2_000)]
    (observed,) = _run(catalog, [_flow(NOTICE_URL, body=NOTICE), *views])
    assert observed.outcome.value == "unrecognized" and len(observed.hops) == 1
    checker = "https://linkcheck.example-guard.net/go?u=" + quote(LINK, safe="")
    led = [replace(view, request_headers={"sec-fetch-dest": "document",
                                          "referer": checker if n == 0 else views[n - 1].url})
           for n, view in enumerate(views)]
    (chained,) = _run(catalog, [_flow(checker, body=b"<html><body><script>go()</script>"
                                                   b"</body></html>"), *led])
    assert len([h for h in chained.hops if h.via != "control"]) == MAX_HOPS


# -- Review 122: a fetch before the tap, and the endpoint answering the app -------------------

ENDPOINT = ("https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi?click=1"
            "&url=" + quote(LINK, safe=""))
# A link preview sent as a page view (a WebKit previewer: a browser's Accept, no Sec-Fetch).
PREVIEW = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
           "user-agent": "Mozilla/5.0 (compatible; facebookexternalhit/1.1)"}


def test_a_fetch_before_the_tap_gives_way_to_the_interstitial_the_tap_met(
        catalog: Catalog) -> None:
    copy_only = (ROOT / "policies/examples/weixin/weixin-copy-only.html").read_bytes()
    (observed,) = _run(catalog, [_flow(LINK, body=TARGET_PAGE, request=PREVIEW),
                                 _flow(ENDPOINT, body=copy_only, t=T + 5)])
    assert observed.outcome.value == "copy_only"
    assert observed.hops[0].url == ENDPOINT
    assert observed.evidence[0] == "before_the_tap:capture:t.har#0"
    # with nothing after it, the fetch is the link opened; a later page view elsewhere
    # (the link opened again) does not restart it
    (alone,) = _run(catalog, [_flow(LINK, body=TARGET_PAGE, request=PREVIEW)])
    assert alone.outcome.value == "direct"
    (again,) = _run(catalog, [_flow(LINK, body=TARGET_PAGE, request=PREVIEW),
                              _flow(LINK + "&x=1", body=TARGET_PAGE, t=T + 5)])
    assert again.outcome.value == "direct" and again.hops[0].url == LINK


@pytest.mark.parametrize(("url", "status", "outcome"), [
    # the platform's endpoint answering the app about the link: a notice the app draws
    (ENDPOINT.replace("click=1", "f=json"), 200, "unrecognized"),
    (ENDPOINT.replace("click=1", "f=json"), 204, "direct"),  # nothing to show
    ("https://api.example-stats.com/log?u=" + quote(LINK, safe=""), 200, "direct"),
])
def test_the_endpoints_answer_to_the_app_keeps_the_link_from_reading_open(
        catalog: Catalog, url: str, status: int, outcome: str) -> None:
    verdict = json.dumps({"title": "如需浏览，请长按网址复制后使用浏览器访问", "desc": LINK},
                         ensure_ascii=False).encode()
    for request in ({"accept": "application/json", "sec-fetch-dest": "empty",
                     "sec-fetch-mode": "cors"}, {"accept": "*/*"}):
        (observed,) = _run(catalog, [
            _flow(url, status, verdict, request=request,
                  response={"content-type": "application/json"}),
            _flow(LINK, body=TARGET_PAGE, t=T + 20)])
        assert observed.outcome.value == outcome
        assert any(e.startswith("endpoint_answer:") for e in observed.evidence) == (
            outcome == "unrecognized")
        item = review_item(observed.model_dump(mode="json"))
        assert (item.reading if item else None) == (
            "capture/endpoint_answer" if outcome == "unrecognized" else None)


@pytest.mark.parametrize(("content_type", "body", "kind", "signature"), [
    ("application/json", "如需浏览，请长按网址复制后使用浏览器访问".encode(), "unrecognized",
     "structure/not_html"),
    ("image/png", b"\x89PNG\r\n\x1a\n", "unrecognized", "structure/not_html"),
    ("text/html; charset=utf-8", b"", "error", "generic/empty"),
])
def test_an_endpoints_answer_that_is_no_page_reads_alike_captured_and_crawled(
        catalog: Catalog, content_type: str, body: bytes, kind: str, signature: str) -> None:
    """A capture keeps no body of a type that is no page: read as empty, JSON carrying the
    copy-only notice at WeChat's endpoint was `error` (out of the findings) where the crawler
    said `unrecognized` (review 122)."""
    from audit.measure.capture.formats import keep_response_body
    from tests.chaindrive import drive

    kept = body if keep_response_body(200, {}, content_type) else b""  # as readers keep it
    (captured,) = _run(catalog, [_flow(ENDPOINT, body=kept,
                                       response={"content-type": content_type})])
    crawled = drive(catalog, ENDPOINT, {ENDPOINT: (200, {"content-type": content_type}, body)},
                    {TARGET: (200, {}, TARGET_PAGE)}, target=TARGET, source="weixin")
    for observed in (captured, crawled):
        assert observed.page is not None
        assert (observed.page.kind.value, observed.page.signature) == (kind, signature)


def test_a_diverted_tap_is_not_held_for_a_later_visit_through_the_wrapper(
        catalog: Catalog) -> None:
    """Only a chain that reached the target is held for a tap after it: a tap diverted to
    the platform's own page, then a visit of the link through its wrapper, read `wrapped`
    once the diversion was begun again at the wrapper (a review)."""
    zhihu = _probe(source="zhihu", surface=SurfaceKind.POST)
    wrapper = "https://link.zhihu.com/?target=" + quote(LINK, safe="")
    redirect = "https://www.zhihu.com/oia/redirect?u=" + quote(LINK, safe="")
    app = "https://www.zhihu.com/app/download"
    app_page = ("<html><head><meta charset=utf-8><title>下载知乎App</title></head><body>"
                + "<p>知乎，让每一次点击都充满意义。下载知乎 App，发现更大的世界。</p>" * 30
                + "</body></html>").encode()
    control = add_token(TARGET, "hc" + TOKEN[2:])
    (observed,) = _run(catalog, [
        _flow(control, body=TARGET_PAGE, t=T - 1),
        _flow(redirect, 302, response={"location": app}),
        _flow(app, body=app_page, t=T + 1),
        _flow(wrapper, 302, t=T + 10, response={"location": LINK}),
        _flow(LINK, body=TARGET_PAGE, t=T + 11)], [zhihu])
    assert observed.outcome.value == "diverted"
    assert [h.url for h in observed.hops if h.via != "control"] == [redirect, app]


# -- Review 126: what a browser sends as Referer, a tap twice, eviction ------------------------

@pytest.mark.parametrize("referer", [None, "https://mp.weixin.qq.com/"])
def test_a_platform_page_forwarding_by_script_is_followed_whatever_the_referer(
        catalog: Catalog, referer: str | None) -> None:
    """A page that forwards by a script hulian cannot read, then the link loaded: a browser
    sends the origin alone across sites, or no Referer, and requiring the page's whole URL
    ended the chain on the platform's page (`diverted`, a review)."""
    jump = "https://mp.weixin.qq.com/mp/jump?u=" + quote(LINK, safe="")
    forwarding = (b"<html><head><title>jump</title></head><body><script>go(atob('aHR0cHM6Ly93d3c"
                  b"udGFvYmFvLmNvbS8='))</script></body></html>")
    request = {"sec-fetch-dest": "document", **({"referer": referer} if referer else {})}
    (observed,) = _run(catalog, [_flow(jump, body=forwarding),
                                 _flow(LINK, body=TARGET_PAGE, t=T + 1, request=request)])
    assert observed.outcome.value == "wrapped"


@pytest.mark.parametrize("second", ["cached", "aborted"])
def test_a_link_tapped_twice_keeps_the_first_taps_reading(catalog: Catalog,
                                                          second: str) -> None:
    """The link opened (held), then tapped again through the platform's wrapper, whose
    target the browser took from its cache or left before it loaded: begun again at the
    wrapper, the second tap read `diverted` or `target_down` (a review); it met no page
    holding the reader back, so the first reading stands."""
    zhihu = _probe(source="zhihu", surface=SurfaceKind.POST)
    wrapper = "https://link.zhihu.com/?target=" + quote(LINK, safe="")
    flows = [_flow(LINK, body=TARGET_PAGE), _flow(wrapper, 302, t=T + 10,
                                                   response={"location": LINK})]
    if second == "aborted":
        flows.append(_flow(LINK, None, t=T + 11))
    (observed,) = _run(catalog, flows, [zhihu])
    assert observed.outcome.value == "direct"
    assert [h.url for h in observed.hops if h.via != "control"] == [LINK]



def test_a_notice_then_the_link_opened_by_hand_is_no_forward(catalog: Catalog) -> None:
    """A platform's page off its endpoints that hulian reads as content (a shell whose words
    a script brings), then the link opened by hand seconds later with no Referer: taken as
    the page forwarding, it read `wrapped` (review 127); a forward is made as the page
    loads, or names the page's origin."""
    midpage = "https://weixin.qq.com/midpage?u=" + quote(LINK, safe="")
    shell = (b"<html><head><title>WeChat</title></head><body><div id=app></div><script>"
             b"fetch('/notice').then(function(r){return r.text()}).then(function(t){"
             b"document.getElementById('app').textContent=t})</script></body></html>")
    (observed,) = _run(catalog, [_flow(midpage, body=shell),
                                 _flow(LINK, body=TARGET_PAGE, t=T + 29)])
    assert observed.outcome.value not in OPEN
    assert [h.url for h in observed.hops if h.via != "control"] == [midpage]


@pytest.mark.parametrize(("status", "body"), [(None, b""), (403, b"")])
def test_a_tap_after_a_preview_that_fails_at_the_endpoint_stands(
        catalog: Catalog, status: int | None, body: bytes) -> None:
    """A preview reached the target (held), then the tap failed at the platform's endpoint:
    falling back to the preview read `direct` (review 127); the tap's failure stands."""
    (observed,) = _run(catalog, [_flow(LINK, body=TARGET_PAGE, request=PREVIEW),
                                 _flow(ENDPOINT, status, body, t=T + 5)])
    assert observed.outcome.value not in OPEN
    assert observed.hops[0].url == ENDPOINT


@pytest.mark.parametrize("times", ["none", "by_hand_unknown", "second_device_behind"])
def test_a_view_is_a_forward_by_both_flows_own_times(catalog: Catalog, times: str) -> None:
    """Without a Referer, a view of the link is the page's forward only within 5 s by both
    flows' own times: a HAR without times, a flow without one, or a second device's clock
    behind made every later view a forward, and a notice opened by hand read `wrapped` (a
    review)."""
    midpage = "https://weixin.qq.com/midpage?u=" + quote(LINK, safe="")
    shell = b"<html><head><title>WeChat</title></head><body><div id=app></div></body></html>"
    first_t, second_t = {"none": (None, None), "by_hand_unknown": (T, None),
                         "second_device_behind": (T, T - 120)}[times]
    notice = replace(_flow(midpage, body=shell), started=first_t)
    by_hand = replace(_flow(LINK, body=TARGET_PAGE), started=second_t)
    (observed,) = _run(catalog, [notice, by_hand])
    assert observed.outcome.value not in OPEN
    assert [h.url for h in observed.hops if h.via != "control"] == [midpage]


def test_a_second_tap_sent_elsewhere_on_the_targets_site_stands(catalog: Catalog) -> None:
    """After a preview, the tap sent by the platform's endpoint to the target's home page
    (its deep link dropped): falling back to the preview read `direct` (a review)."""
    home = "https://www.taobao.com/index.php"
    (observed,) = _run(catalog, [_flow(LINK, body=TARGET_PAGE, request=PREVIEW),
                                 _flow(ENDPOINT, 302, t=T + 5, response={"location": home})])
    assert observed.outcome.value not in OPEN
    assert observed.hops[0].url == ENDPOINT


def test_a_captured_redirect_with_two_locations_is_no_open_link(catalog: Catalog,
                                                                tmp_path: Path) -> None:
    """A wrapper's 302 with two different Locations (review 129): Chromium refuses it with an
    error page, so the capture's page view of the target after it is not the redirect's end,
    and the link is no open link; one Location repeated is one."""
    entry = _har_entry(COPY_ONLY_URL, 302, "", t=1)
    entry["response"]["headers"] = [  # type: ignore[index]
        {"name": "Location", "value": LINK}, {"name": "Location", "value": "/b"}]
    har = {"log": {"version": "1.2", "entries": [entry]}}
    path = tmp_path / "two.har"
    path.write_text(json.dumps(har), encoding="utf-8")
    (flow,) = iter_har(path)
    assert flow.response_headers["location"] == f"{LINK}\n/b"
    (observation,) = _run(catalog, [flow])
    assert observation.outcome.value not in OPEN
    assert observation.page is not None
    assert observation.page.signature == "structure/multiple_location"
    entry["response"]["headers"] = [  # type: ignore[index]
        {"name": "Location", "value": LINK}, {"name": "Location", "value": LINK}]
    path.write_text(json.dumps(har), encoding="utf-8")
    (flow,) = iter_har(path)
    assert flow.response_headers["location"] == LINK
