"""The lab: a real LabServer on 127.0.0.1, fetched with http.client (no internet)."""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from audit.cli.lab import app
from audit.judge.classify import classify_page, outbound_links
from audit.judge.search import RobotsFetch, judge_robots
from audit.lab.pages import CAPTCHA_PHRASES, Site
from audit.lab.policies import write_policies
from audit.lab.robots import robots_body
from audit.lab.scenario import Edge, Fault, ScenarioError, load_scenario, search_truth, truth
from audit.lab.server import LabServer
from audit.measure.robots import RobotsBook
from audit.measure.settings import USER_AGENT
from audit.model import Outcome, PageKind, SearchClass
from audit.policy.catalog import Catalog, load_catalog, shipped_policies_dir
from audit.web.decode import MAX_PAGE_BYTES, decode_html
from audit.web.page import parse_page

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = load_scenario(None)
SITE = Site(SCENARIO)


@pytest.fixture(scope="module")
def lab() -> Iterator[LabServer]:
    with LabServer(SCENARIO) as server:
        yield server


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    directory = write_policies(SCENARIO, tmp_path_factory.mktemp("lab-policies"))
    return load_catalog([shipped_policies_dir(), directory])


class Fetched:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def text(self) -> str:
        return decode_html(self.body, self.headers.get("content-type")).text


def fetch(lab: LabServer, url: str, method: str = "GET", timeout: float = 10,
          host: str | None = None) -> Fetched:
    """One request; an absolute URL is sent in proxy (absolute) form, a path with `host`."""
    conn = http.client.HTTPConnection("127.0.0.1", lab.port, timeout=timeout)
    try:
        conn.request(method, url, headers={"Host": host} if host else {})
        response = conn.getresponse()
        body = response.read()
        return Fetched(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        conn.close()


def edges(*outcomes: Outcome) -> list[Edge]:
    return [e for e in SCENARIO.edges if e.outcome in outcomes]


def seed_url(edge: Edge) -> str:
    return f"http://{SCENARIO.platform(edge.source).host}/s/{edge.surface.value}/"


# ---------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------


def test_routes_by_host_header_and_by_absolute_form(lab: LabServer) -> None:
    by_host = fetch(lab, "/item/7", host="shop.taoshop.lab")
    absolute = fetch(lab, "http://shop.taoshop.lab/item/7")
    assert by_host.status == absolute.status == 200
    assert by_host.body == absolute.body and "淘集 · 商品 7" in by_host.text()
    other = fetch(lab, "/item/7", host="www.zhiwen.lab:80")  # a port in Host is ignored
    assert "知问" in other.text() and other.body != by_host.body


def test_unknown_host_is_502_and_robots_allow_everything(lab: LabServer) -> None:
    unknown = fetch(lab, "http://nowhere.lab/")
    assert unknown.status == 502 and b"unknown host" in unknown.body
    # A host the scenario gives no robots.txt of its own (the search cases are below).
    robots = fetch(lab, "http://go.wetalk.lab/robots.txt")
    assert robots.status == 200 and robots.body == b"User-agent: *\nAllow: /\n"
    assert fetch(lab, "http://chat.wetalk.lab/nothing/here").status == 404


def test_urllib_can_use_it_as_an_http_proxy(lab: LabServer) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": lab.base_url}))
    with opener.open("http://chat.wetalk.lab/", timeout=10) as response:
        page = response.read().decode("utf-8")
    assert "/s/im_group/" in page and "微聊" in page


def test_keep_alive_and_head(lab: LabServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", lab.port, timeout=10)
    try:
        for n in range(3):
            conn.request("GET", f"http://www.tiktak.lab/item/{n}")
            response = conn.getresponse()
            assert response.status == 200 and response.getheader("Connection") == "keep-alive"
            response.read()
        conn.request("HEAD", "http://www.tiktak.lab/item/1")
        head = conn.getresponse()
        assert head.read() == b"" and int(head.getheader("Content-Length") or 0) > 100
    finally:
        conn.close()


def _raw(lab: LabServer, data: bytes) -> bytes:
    """Send `data` as it is and read until the lab closes the connection."""
    with socket.create_connection(("127.0.0.1", lab.port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_pipelined_requests_over_one_connection(lab: LabServer) -> None:
    host = b"Host: www.tiktak.lab\r\n"
    answer = _raw(lab, b"GET http://www.tiktak.lab/item/1 HTTP/1.1\r\n" + host + b"\r\n"
                       b"HEAD http://www.tiktak.lab/item/2 HTTP/1.1\r\n" + host + b"\r\n"
                       b"POST /item/3 HTTP/1.1\r\n" + host + b"Content-Length: 3\r\n\r\nabc"
                       b"GET /item/4 HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n")
    heads = [part for part in answer.split(b"HTTP/1.1 ")[1:]]
    assert [head[:3] for head in heads] == [b"200"] * 4, answer[:300]
    assert answer.count(b"Connection: keep-alive\r\n") == 3
    assert answer.count(b"Connection: close\r\n") == 1
    # The HEAD answer declares the GET's length and sends no body: the POST's head follows.
    assert heads[1].endswith(b"\r\n\r\n") and b"Content-Length: 0" not in heads[1]


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"garbage\r\n\r\n", b"400"),
    (b"GET / HTTP/1.1\r\n\r\n", b"400"),  # HTTP/1.1 without Host
    (b"GET / HTTP/1.1\r\nHost: a.lab\r\nX: " + b"x" * 70_000, b"431"),  # a head not ending
    (b"BREW / HTTP/1.1\r\nHost: a.lab\r\n\r\n", b"405"),
    (b"CONNECT a.lab:443 HTTP/1.1\r\nHost: a.lab:443\r\n\r\n", b"501"),
    (b"GET a.lab/x HTTP/1.1\r\nHost: a.lab\r\n\r\n", b"400"),
    (b"POST / HTTP/1.1\r\nHost: a.lab\r\nContent-Length: 2000000\r\n\r\n", b"413"),
    (b"POST / HTTP/1.1\r\nHost: a.lab\r\nTransfer-Encoding: chunked\r\n\r\n"
     + b"100000\r\n" + b"x" * 0x100000 + b"\r\n" + b"1\r\nx\r\n0\r\n\r\n", b"413"),
])
def test_requests_the_lab_refuses_get_an_answer_and_a_close(
        lab: LabServer, request_bytes: bytes, status: bytes) -> None:
    answer = _raw(lab, request_bytes)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
    assert b"Connection: close\r\n" in answer


def test_binds_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        LabServer(SCENARIO, host="0.0.0.0")
    assert LabServer(SCENARIO).base_url.startswith("http://127.0.0.1:")


def test_index_links_every_seed_page(lab: LabServer) -> None:
    for platform in SCENARIO.platforms:
        index = fetch(lab, f"http://{platform.host}/").text()
        for surface in platform.surfaces:
            assert f'href="/s/{surface.value}/"' in index
            assert fetch(lab, f"http://{platform.host}/s/{surface.value}/").status == 200


# ---------------------------------------------------------------------------------------
# Seed pages: every edge is on its page, rendered as the outcome needs
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("platform_id", "surface"), sorted(
    {(p.id, s) for p in SCENARIO.platforms for s in p.surfaces}), ids=str)
def test_seed_page_links_exactly_its_edges(lab: LabServer, catalog: Catalog, platform_id: str,
                                           surface: object) -> None:
    platform = SCENARIO.platform(platform_id)
    url = f"http://{platform.host}/s/{surface}/"
    response = fetch(lab, url)
    page = parse_page(response.text(), url)
    assert classify_page(page, catalog, catalog.platforms[platform_id]).kind is PageKind.CONTENT
    found = sorted((link.target_platform, link.rendered_as, link.href)
                   for link in outbound_links(page, catalog, catalog.platforms[platform_id]))
    expected = sorted(
        (e.target, "text" if e.outcome is Outcome.STRIPPED else "anchor",
         SITE.link_of(e) or SITE.target_url(e))
        for e in SCENARIO.edges if (e.source, e.surface.value) == (platform_id, str(surface)))
    assert found == expected
    internal = [a.href for a in page.anchors if a.href.startswith(("/s/", "/u/"))]
    assert internal, "seed pages have internal links too"


def test_chat_links_go_through_the_wrapper_with_the_scene(lab: LabServer) -> None:
    for surface, scene in (("im_private", "private"), ("im_group", "group")):
        page = parse_page(fetch(lab, f"http://chat.wetalk.lab/s/{surface}/").text())
        wrapped = [a.href for a in page.anchors if a.href.startswith("http://go.wetalk.lab/out?")]
        assert wrapped and all(h.endswith(f"&scene={scene}") for h in wrapped)
        assert 'class="bubble"' in fetch(lab, f"http://chat.wetalk.lab/s/{surface}/").text()


def test_stripped_links_are_text_and_weibo_style_uses_a_dead_label(lab: LabServer) -> None:
    text = fetch(lab, "http://m.xinbo.lab/s/post/").text()
    page = parse_page(text, "http://m.xinbo.lab/s/post/")
    assert '<span class="surl-text">网页链接</span>' in text
    for edge in edges(Outcome.STRIPPED):
        if edge.source == "xinbo" and edge.surface.value == "post":
            assert SITE.target_url(edge) in page.text_urls
            assert all(SITE.target_url(edge) != a.href for a in page.anchors)


# ---------------------------------------------------------------------------------------
# Edge mechanics
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("edge", edges(Outcome.DIRECT), ids=lambda e: e.id)
def test_direct(lab: LabServer, edge: Edge) -> None:
    assert SITE.link_of(edge) == SITE.target_url(edge)
    target = fetch(lab, SITE.target_url(edge))
    assert target.status == 200 and f"/item/{edge.item + 1}" in target.text()


@pytest.mark.parametrize("edge", edges(Outcome.WRAPPED), ids=lambda e: e.id)
def test_wrapped(lab: LabServer, catalog: Catalog, edge: Edge) -> None:
    url = SITE.link_of(edge)
    assert url is not None and url.startswith(f"http://{SCENARIO.platform(edge.source).wrapper_host}/out?")
    response = fetch(lab, url)
    target = SITE.target_url(edge)
    if edge.via == "http":
        assert response.status == 302 and response.headers["location"] == target
        return
    assert response.status == 200
    page = parse_page(response.text(), url)
    # On the wrapper's endpoint a page that only forwards is a `redirect`, never `content`.
    assert classify_page(page, catalog, catalog.platforms[edge.source]).kind is PageKind.REDIRECT
    if edge.via == "meta_refresh":
        assert page.meta_refresh == target
    else:
        assert page.scripts == [f'window.location.href="{target}";']


@pytest.mark.parametrize("edge", edges(Outcome.WARNED, Outcome.COPY_ONLY, Outcome.BLOCKED),
                         ids=lambda e: e.id)
def test_interstitials_classify_as_their_outcome(lab: LabServer, catalog: Catalog,
                                                 edge: Edge) -> None:
    url = SITE.link_of(edge)
    assert url is not None
    response = fetch(lab, url)
    assert response.status == 200
    page = parse_page(response.text(), url)
    facts = classify_page(page, catalog, catalog.platforms[edge.source])
    assert facts.kind.value == edge.outcome.value
    assert facts.endpoint == f"{edge.source}/out"
    target = SITE.target_url(edge)
    if edge.wording == "new":
        # No signature knows the wording: the page's structure decided.
        assert facts.signature and facts.signature.startswith("structure/")
        assert facts.target == (None if edge.outcome is Outcome.BLOCKED else target)
        if edge.outcome is Outcome.BLOCKED:
            assert facts.reason is None and facts.reason_text  # its own words, kept
        return
    assert facts.signature and facts.signature.startswith(f"{edge.source}/")
    if edge.outcome is Outcome.WARNED:
        assert facts.target == target and facts.continue_url == target
        assert [a.href for a in page.anchors] == [target]
    elif edge.outcome is Outcome.COPY_ONLY:
        assert facts.target == target and page.anchors == []
        assert "如需浏览，请长按网址复制后使用浏览器访问" in page.text or "copy the link" in page.text
    else:
        assert facts.reason == edge.reason
        assert page.anchors == []


def test_interstitials_are_recognised_without_their_url_too(lab: LabServer,
                                                            catalog: Catalog) -> None:
    """A saved interstitial (no URL) is still recognised, by the lab signature's markers or
    the generic ones."""
    for edge in edges(Outcome.WARNED, Outcome.COPY_ONLY, Outcome.BLOCKED):
        if edge.wording == "new":
            continue  # no marker knows it: only its endpoint's address says what it is
        url = SITE.link_of(edge)
        assert url is not None
        facts = classify_page(parse_page(fetch(lab, url).text()), catalog)
        assert facts.kind.value == edge.outcome.value, edge.id


@pytest.mark.parametrize("edge", edges(Outcome.DIVERTED), ids=lambda e: e.id)
def test_diverted_to_the_app_download_page(lab: LabServer, catalog: Catalog, edge: Edge) -> None:
    url = SITE.link_of(edge)
    assert url is not None
    response = fetch(lab, url)
    source = SCENARIO.platform(edge.source)
    assert response.status == 302
    assert response.headers["location"] == f"http://{source.host}/download?from={edge.id}"
    landing = fetch(lab, response.headers["location"])
    page = parse_page(landing.text(), response.headers["location"])
    assert landing.status == 200 and f"下载{source.name.zh}App" in page.title
    assert classify_page(page, catalog, catalog.platforms[source.id]).kind is PageKind.CONTENT


@pytest.mark.parametrize("edge", edges(Outcome.TARGET_DOWN), ids=lambda e: e.id)
def test_target_down(lab: LabServer, edge: Edge) -> None:
    target = SITE.target_url(edge)
    assert urlsplit(target).path.startswith("/down/")
    link = SITE.link_of(edge)
    assert link is not None
    if edge.via == "http":
        hop = fetch(lab, link)
        assert hop.status == 302 and hop.headers["location"] == target
    else:
        assert link == target
    assert fetch(lab, target).status == 503


def _fault_edge(fault: Fault) -> Edge:
    (edge,) = [e for e in SCENARIO.edges if e.fault is fault]
    return edge


def _wrapper_link(fault: Fault) -> str:
    link = SITE.link_of(_fault_edge(fault))
    assert link is not None
    return link


@pytest.mark.timeout(30)
def test_hang_never_answers_but_does_not_block_others(lab: LabServer) -> None:
    link = _wrapper_link(Fault.HANG)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        fetch(lab, link, timeout=0.5)
    assert time.monotonic() - started < 5
    # While several connections hang, other requests are still served at once.
    hung = []
    for _ in range(3):
        conn = http.client.HTTPConnection("127.0.0.1", lab.port, timeout=0.3)
        conn.request("GET", link)
        hung.append(conn)
    try:
        quick = time.monotonic()
        assert fetch(lab, "http://www.meiwei.lab/item/1").status == 200
        assert time.monotonic() - quick < 2
    finally:
        for conn in hung:
            conn.close()


def test_reset_is_a_connection_error(lab: LabServer) -> None:
    with pytest.raises(ConnectionError):
        fetch(lab, _wrapper_link(Fault.RESET))
    assert fetch(lab, "http://www.tiktak.lab/item/1").status == 200  # the server lives on


def test_redirect_loop_loops(lab: LabServer) -> None:
    url = _wrapper_link(Fault.REDIRECT_LOOP)
    seen = []
    for _ in range(12):
        response = fetch(lab, url)
        assert response.status == 302
        url = response.headers["location"]
        seen.append(url)
    assert len(set(seen)) == 2 and seen[-1] == seen[-3]


def test_anti_bot_403_and_rate_limit_429(lab: LabServer) -> None:
    forbidden = fetch(lab, _wrapper_link(Fault.ANTI_BOT_403))
    assert forbidden.status == 403 and "访问被拒绝" in forbidden.text()
    for _ in range(3):  # always
        limited = fetch(lab, _wrapper_link(Fault.RATE_LIMIT_429))
        assert limited.status == 429 and limited.headers["retry-after"] == "1"


def test_captcha_is_an_error_not_an_interstitial(lab: LabServer, catalog: Catalog) -> None:
    edge = _fault_edge(Fault.CAPTCHA)
    url = _wrapper_link(Fault.CAPTCHA)
    response = fetch(lab, url)
    assert response.status == 200
    text = response.text()
    assert all(phrase in text for phrase in CAPTCHA_PHRASES)
    facts = classify_page(parse_page(text, url), catalog, catalog.platforms[edge.source])
    # The auditor was refused: an `error` with its reason, never a block page.
    assert (facts.kind, facts.failure) == (PageKind.ERROR, "anti_bot:captcha")


def test_wrapper_without_a_known_edge_just_redirects(lab: LabServer) -> None:
    response = fetch(lab, "http://go.wetalk.lab/out?target=http%3A%2F%2Fwww.zhiwen.lab%2Fitem%2F1")
    assert response.status == 302 and response.headers["location"] == "http://www.zhiwen.lab/item/1"
    assert fetch(lab, "http://go.wetalk.lab/out").status == 400


# ---------------------------------------------------------------------------------------
# Page faults
# ---------------------------------------------------------------------------------------


def test_huge_page_is_over_20_mib_with_links_first(lab: LabServer) -> None:
    (fault,) = [f for f in SCENARIO.page_faults if f.fault.value == "huge_20mb"]
    host = SCENARIO.platform(fault.platform).host
    response = fetch(lab, f"http://{host}/s/{fault.surface.value}/", timeout=30)
    assert response.status == 200 and len(response.body) > MAX_PAGE_BYTES
    head = response.body[:64 * 1024].decode("utf-8")
    for edge in SCENARIO.edges:
        if (edge.source, edge.surface) == (fault.platform, fault.surface):
            link = SITE.link_of(edge) or SITE.target_url(edge)
            assert link.replace("&", "&amp;") in head


def test_gbk_pages(lab: LabServer) -> None:
    (gbk,) = [f for f in SCENARIO.page_faults if f.fault.value == "gbk"]
    response = fetch(lab, f"http://{SCENARIO.platform(gbk.platform).host}/s/{gbk.surface.value}/")
    assert response.headers["content-type"] == "text/html; charset=gbk"
    with pytest.raises(UnicodeDecodeError):
        response.body.decode("utf-8")
    assert "渡吧" in response.body.decode("gbk") and '<meta charset="gbk">' in response.body.decode("gbk")

    (lying,) = [f for f in SCENARIO.page_faults if f.fault.value == "gbk_lying_meta"]
    url = f"http://{SCENARIO.platform(lying.platform).host}/s/{lying.surface.value}/"
    response = fetch(lab, url)
    assert response.headers["content-type"] == "text/html"
    text = response.body.decode("gbk")
    assert '<meta charset="utf-8">' in text and "微聊" in text
    with pytest.raises(UnicodeDecodeError):
        response.body.decode("utf-8")
    # Read as a browser reads it: UTF-8, as the <meta> says, its Chinese text unreadable (the
    # links, ASCII, are planned all the same); a saved copy is read by its bytes.
    answered = decode_html(response.body, "text/html")
    assert (answered.encoding, answered.decided_by) == ("utf-8", "meta")
    assert "微聊" not in answered.text and "http://chat.wetalk.lab/" in answered.text
    assert "微聊" in decode_html(response.body, "text/html", saved=True).text


# ---------------------------------------------------------------------------------------
# Scenario, truth, policies, CLI
# ---------------------------------------------------------------------------------------


def test_truth_covers_the_whole_taxonomy() -> None:
    rows = truth(SCENARIO)
    assert rows == sorted(rows, key=lambda r: (r["source"], r["surface"], r["target"]))
    assert all(list(r) == ["source", "surface", "target", "outcome"] for r in rows)
    assert {r["outcome"] for r in rows} == {o.value for o in Outcome}
    assert len({(r["source"], r["surface"], r["target"]) for r in rows}) == len(rows)
    assert len(SCENARIO.platforms) >= 12 and len(SCENARIO.companies) >= 5
    assert {e.fault for e in SCENARIO.edges if e.fault} == set(Fault)
    assert {e.via for e in edges(Outcome.WRAPPED)} == {"http", "meta_refresh", "js"}
    assert len({e.reason for e in edges(Outcome.BLOCKED)}) >= 5
    assert {f.fault.value for f in SCENARIO.page_faults} == {"gbk", "gbk_lying_meta", "huge_20mb"}
    assert {p.style.value for p in SCENARIO.platforms} == {"wechat", "zhihu", "weibo", "en"}


def test_discrimination_and_uniform_warning_are_in_the_scenario() -> None:
    def outcome(source: str, surface: str, target: str) -> str:
        (row,) = [r for r in truth(SCENARIO)
                  if (r["source"], r["surface"], r["target"]) == (source, surface, target)]
        return row["outcome"]

    company = {p.id: p.company for p in SCENARIO.platforms}
    assert company["wetalk"] == company["pinmall"] != company["taoshop"]
    assert outcome("wetalk", "im_group", "pinmall") == "direct"
    assert outcome("wetalk", "im_group", "taoshop") == "copy_only"
    assert outcome("wetalk", "im_private", "taoshop") == "warned"
    tiktak = [e for e in SCENARIO.edges if e.source == "tiktak" and e.outcome is not Outcome.DIVERTED]
    assert {e.outcome for e in tiktak} == {Outcome.WARNED}
    assert {company[e.target] == company["tiktak"] for e in tiktak} == {True, False}


def test_scenario_errors_name_file_line_and_field(tmp_path: Path) -> None:
    text = (ROOT / "audit/lab/scenarios/default.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if "target: taoshop, outcome: copy_only" in line)
    lines[index] = lines[index].replace("target: taoshop", "target: nosuchshop")
    broken = tmp_path / "broken.yaml"
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(broken)
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == (broken, index + 1)
    assert problem.field is not None and problem.field.endswith(".target")
    assert "nosuchshop" in problem.message and f"broken.yaml:{index + 1}:" in str(problem)

    lines[index] = lines[index].replace("outcome: copy_only", "outcome: copyonly")
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(broken)
    (problem,) = caught.value.problems
    assert problem.line == index + 1
    assert problem.field is not None and problem.field.endswith(".outcome")

    bad_key = tmp_path / "key.yaml"
    bad_key.write_text("companies: [{id: a, name: {zh: 甲, en: A}}]\nplatforms:\n"
                       "  - {id: x, name: {zh: 乙, en: X}, company: a, category: im,\n"
                       "     host: x.lab, wrapper_host: go.x.lab, style: en, surfaces: [post],\n"
                       "     colour: red}\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(bad_key)
    assert [(p.line, p.field) for p in caught.value.problems] == [(5, "platforms.0.colour")]

    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("companies: [\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"syntax\.yaml:\d+: invalid YAML"):
        load_scenario(syntax)


def test_scenario_semantic_checks(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "companies: [{id: a, name: {zh: 甲, en: A}}]\n"
        "platforms:\n"
        "  - {id: x, name: {zh: 乙, en: X}, company: a, category: im, host: x.lab,\n"
        "     wrapper_host: go.x.lab, style: en, surfaces: [post]}\n"
        "  - {id: y, name: {zh: 丙, en: Y}, company: b, category: im, host: www.x.lab,\n"
        "     wrapper_host: go.y.lab, style: en, surfaces: [post]}\n"
        "edges:\n"
        "  - {source: x, surface: comment, target: y, outcome: blocked}\n"
        "  - {source: x, surface: post, target: y, outcome: wrapped}\n"
        "  - {source: x, surface: post, target: y, outcome: error, fault: hang}\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    found = {(p.line, p.field) for p in caught.value.problems}
    assert found == {(5, "platforms.1.company"), (5, "platforms.1.host"),
                     (8, "edges.0.surface"), (8, "edges.0.reason"), (9, "edges.1.via"),
                     (10, "edges.2")}


def test_written_policies_validate_with_the_shipped_catalog(tmp_path: Path) -> None:
    directory = write_policies(SCENARIO, tmp_path / "lab")
    catalog = load_catalog([shipped_policies_dir(), directory])
    for platform in SCENARIO.platforms:
        entry = catalog.platforms[platform.id]
        assert entry.domains == platform.domains and all(d.endswith(".lab") for d in entry.domains)
        assert [s.seeds for s in entry.surfaces] == [[u] for u in SITE.seeds(platform)]
        assert entry.wrappers[0].params == ["target"]
        assert catalog.platform_for_url(f"http://{platform.wrapper_host}/out") is entry


def test_cli_truth_json_and_table() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["truth", "--json"])
    assert result.exit_code == 0
    printed = json.loads(result.stdout)
    assert printed["edges"] == truth(SCENARIO)
    assert printed["search"] == search_truth(SCENARIO, ENGINE_TOKENS)
    table = runner.invoke(app, ["truth"])
    assert table.exit_code == 0 and "wetalk" in table.stdout and "copy_only" in table.stdout
    assert "partial except TenHubSpider: open" in table.stdout


def test_cli_policies_and_bad_scenario(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["policies", str(tmp_path / "p")])
    assert result.exit_code == 0 and (tmp_path / "p" / "platforms" / "wetalk.yaml").is_file()
    bad = tmp_path / "bad.yaml"
    bad.write_text("companies: 3\n", encoding="utf-8")
    result = runner.invoke(app, ["truth", "--scenario", str(bad)])
    assert result.exit_code == 1 and "bad.yaml" in result.stderr


@pytest.mark.timeout(60)
def test_serve_subprocess_prints_its_url_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", "from audit.cli.lab import app; app()", "serve", "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(process.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(30)
        info = json.loads(line[0])
        assert info["url"] == f"http://127.0.0.1:{info['port']}"
        conn = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=10)
        conn.request("GET", "http://chat.wetalk.lab/s/im_group/")
        response = conn.getresponse()
        assert response.status == 200 and "群聊" in response.read().decode("utf-8")
        conn.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_port_in_use_is_an_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=r"(?i)in use"):
            LabServer(SCENARIO, port=port).start()


# ---------------------------------------------------------------------------------------
# Search barriers: each host's robots.txt and the classes the truth gives
# ---------------------------------------------------------------------------------------

ENGINE_TOKENS = [e.token for e in load_catalog([shipped_policies_dir()]).search_engines.values()]


@dataclass(frozen=True)
class _Meta:
    source: str
    name: str
    content: str


def _robots_fetch(lab: LabServer, host: str) -> RobotsFetch:
    """/robots.txt of `host` from the running lab, redirects followed (five at most)."""
    url = f"http://{host}/robots.txt"
    for _ in range(6):
        got = fetch(lab, url)
        if got.status in (301, 302, 307, 308):
            url = got.headers["location"]
            continue
        return RobotsFetch(got.status, got.body, content_type=got.headers.get("content-type"))
    raise AssertionError(f"{host}: more than five redirects")


def test_lab_hosts_get_the_truths_search_classes(lab: LabServer, catalog: Catalog) -> None:
    """The judge, on what the lab serves (and the seed pages' metas), gives every host the
    classes written by hand in the scenario, for every engine (shipped and lab)."""
    tokens = [e.token for e in catalog.search_engines.values()]
    assert {"TenHubSpider", "JumpSpider", "BaidooSpider"} <= set(tokens)
    truth_rows = {row["host"]: row["engines"] for row in search_truth(SCENARIO, ENGINE_TOKENS)}
    assert len(truth_rows) == 30
    owner = dict(SCENARIO.hosts())
    for host, expected in truth_rows.items():
        assert isinstance(host, str)
        platform = SCENARIO.platform(owner[host])
        metas: list[_Meta] = []
        if host == platform.host:
            for seed in SITE.seeds(platform):
                metas += [_Meta("meta", n, c) for n, c in _robots_metas(fetch(lab, seed).text())]
        result = judge_robots(host, _robots_fetch(lab, host), tokens, metas)
        assert {t: c.value for t, c in result.classes.items()} == expected, host


def _robots_metas(html: str) -> list[tuple[str, str]]:
    """The lab's own `<meta name=... content=...>` tags (it writes them in this one form)."""
    return re.findall(r'<meta name="([^"]+)" content="([^"]+)">', html)


def test_lab_robots_cover_the_cases(lab: LabServer) -> None:
    bodies = {r.host: robots_body(r) for r in SCENARIO.robots}
    pinmall = bodies["mall.pinmall.lab"]
    assert pinmall.startswith(b"\xef\xbb\xbf") and b"\r\n" in pinmall
    assert len(bodies["read.zhiread.lab"]) >= 2 * 1024 * 1024
    assert fetch(lab, "http://pay.payfly.lab/robots.txt").status == 404
    assert fetch(lab, "http://im.dingwork.lab/robots.txt").status == 500
    moved = fetch(lab, "http://app.larkly.lab/robots.txt")
    assert moved.status == 301 and moved.headers["location"].endswith("/static/robots.txt")
    html = fetch(lab, "http://mail.bolangmail.lab/robots.txt")
    assert html.headers["content-type"].startswith("text/html")
    assert fetch(lab, "http://read.zhiread.lab/sitemap.xml").status == 200
    assert fetch(lab, "http://read.zhiread.lab/sitemap-missing.xml").status == 404
    reasons = {host: judge_robots(host, _robots_fetch(lab, host), ENGINE_TOKENS).reasons
               for host in ("mail.bolangmail.lab", "read.zhiread.lab", "pay.payfly.lab",
                            "im.dingwork.lab")}
    assert reasons["mail.bolangmail.lab"] == ["html"]
    assert reasons["read.zhiread.lab"][0].startswith("truncated")
    assert reasons["pay.payfly.lab"] == ["unavailable:404"]
    assert reasons["im.dingwork.lab"] == ["unreachable:500"]
    classes = {h: set(judge_robots(h, _robots_fetch(lab, h), ENGINE_TOKENS).classes.values())
               for h in ("docs.tendocs.lab", "chat.wetalk.lab", "www.zhiwen.lab")}
    assert classes == {"docs.tendocs.lab": {SearchClass.CLOSED},
                       "chat.wetalk.lab": {SearchClass.PARTIAL},  # TenHubSpider not judged
                       "www.zhiwen.lab": {SearchClass.PARTIAL}}


def test_lab_robots_never_refuse_hulians_own_crawl(lab: LabServer) -> None:
    """The crawler obeys robots.txt (--robots obey): every URL the lab's audit fetches stays
    allowed for hulian's User-Agent, so the link measurements are unchanged."""
    book = RobotsBook()
    for host, _ in SCENARIO.hosts():
        got = fetch(lab, f"http://{host}/robots.txt")
        book.learn(f"http://{host}", got.body)
    urls = [url for p in SCENARIO.platforms for url in SITE.seeds(p)]
    for edge in SCENARIO.edges:
        urls += [SITE.target_url(edge), SITE.wrapper_url(edge)]
    urls += [f"http://{p.host}/download?from=x" for p in SCENARIO.platforms]
    refused = [u for u in urls if not book.allowed(u, USER_AGENT)]
    assert refused == []


def test_lab_scenario_search_errors(tmp_path: Path) -> None:
    text = (ROOT / "audit/lab/scenarios/default.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text + "  - {host: nowhere.lab, expect: {Baiduspider: open}}\n",
                   encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(bad)
    messages = {(p.field, p.message) for p in info.value.problems}
    assert ("robots.15.host", "unknown host 'nowhere.lab' (not a platform's host)") in messages
    assert ("robots.15.expect", "'expect' needs '*' (every engine not named)") in messages
    assert all(p.line == text.count("\n") + 1 for p in info.value.problems)
