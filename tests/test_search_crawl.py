"""Search barriers measured by the crawl (issue 15, part 2): the SearchDriver's decisions
(redirects, loops, retries, the 500 KiB cut, sitemaps), seed pages' directives, and both
engines against a loopback server: robots.txt of every host in the WARC and search.jsonl,
bad input recorded with a reason, the bundle verifying, a resumed run measuring nothing twice.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator

from audit.errors import ConfigError
from audit.evidence.bundle import Bundle
from audit.judge.search import (
    MAX_DIRECTIVE_CHARS,
    MAX_DIRECTIVES,
    RobotsFetch,
    crawler_names,
    engine_tokens,
    judge_robots,
)
from audit.judge.search_run import fetch_of, judge_search
from audit.measure.chain import MAX_METAS, plan_probes
from audit.measure.config import CrawlConfig
from audit.measure.driver import DriverPolicy, Fetch
from audit.measure.plan import search_targets
from audit.measure.robots import RobotsBook
from audit.measure.robots_fetch import RobotsFetcher
from audit.measure.search import (
    MAX_REDIRECTS,
    SITEMAP_BUDGET_TIMEOUTS,
    SITEMAP_NOT_CHECKED,
    SITEMAP_NOT_HTTP,
    SITEMAP_OVER_BUDGET,
    SITEMAP_RELATIVE,
    Answer,
    SearchDone,
    SearchDriver,
    SearchTarget,
    page_record,
)
from audit.measure.search_fetch import SearchLog
from audit.model import SearchClass, SearchRecord, SurfaceKind
from audit.policy.catalog import catalog_for_run, load_catalog, policy_dirs
from tests.localsite import forum_policies, reply, serve_handler

NOW = datetime(2026, 12, 2, tzinfo=UTC)
HOST = SearchTarget("www.example.test", "http", "testforum")


def drive(answers: Mapping[str, list[Answer] | Answer],
          policy: DriverPolicy | None = None) -> tuple[SearchRecord, list[str]]:
    """Run a SearchDriver against canned answers (url -> answer, or answers in turn)."""
    driver = SearchDriver(HOST, policy=policy or DriverPolicy(), run_id="r", started_at=NOW)
    asked: list[str] = []
    command: Fetch | SearchDone = driver.start()
    while isinstance(command, Fetch):
        asked.append(command.url)
        answer = answers[command.url]
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        command = driver.on_answer(answer, NOW)
    return command.record, asked


ROBOTS = "http://www.example.test/robots.txt"


def ok(url: str, body: bytes, status: int = 200, **headers: str) -> Answer:
    return Answer(url, status, {"content-type": "text/plain", **headers}, body, f"urn:{url}")


def test_robots_txt_and_its_sitemaps_are_recorded() -> None:
    body = (b"Sitemap: http://www.example.test/sm.xml\nUser-agent: *\nDisallow: /a\n"
            b"Sitemap: http://cdn.example.test/sm2.xml\n")
    record, asked = drive({
        ROBOTS: ok(ROBOTS, body),
        "http://www.example.test/sm.xml": ok("http://www.example.test/sm.xml", b"x" * 1234),
        "http://cdn.example.test/sm2.xml": Answer("http://cdn.example.test/sm2.xml",
                                                  failure="dns_error")})
    # A sitemap is checked once: not retried (its existence and size only)
    assert asked == [ROBOTS, "http://www.example.test/sm.xml",
                     "http://cdn.example.test/sm2.xml"]
    assert record.id == "robots:www.example.test" and record.kind == "robots"
    robots = record.robots
    assert robots is not None
    assert (robots.status, robots.failure, robots.size, robots.truncated) == (200, None,
                                                                              len(body), False)
    assert base64.b64decode(robots.body_base64 or "") == body
    assert [h.warc_record_id for h in robots.hops] == [f"urn:{ROBOTS}"]
    assert [(s.url, s.status, s.size, s.failure) for s in record.sitemaps] == [
        ("http://www.example.test/sm.xml", 200, 1234, None),
        ("http://cdn.example.test/sm2.xml", None, None, "dns_error")]


def test_sitemaps_that_never_answer_cost_one_fetch_not_twenty() -> None:
    # A robots.txt listing twenty sitemaps that never answer held one host for twelve
    # minutes (each fetched in turn, timed out and retried): the first that times out ends
    # the checks, and the rest are recorded as not checked; a quick failure does not.
    listed = [f"http://www.example.test/sm{i}.xml" for i in range(20)]
    body = b"User-agent: *\nAllow: /\n" + b"".join(f"Sitemap: {u}\n".encode() for u in listed)
    answers: dict[str, Answer] = {ROBOTS: ok(ROBOTS, body),
                                  listed[0]: ok(listed[0], b"<urlset/>")}
    answers.update({u: Answer(u, failure="timeout") for u in listed[1:]})
    answers[listed[1]] = Answer(listed[1], failure="dns_error")  # quick: the checks go on
    record, asked = drive(answers)
    assert asked == [ROBOTS, *listed[:3]]
    assert [(s.url, s.failure) for s in record.sitemaps] == [
        (listed[0], None), (listed[1], "dns_error"), (listed[2], "timeout"),
        *[(u, SITEMAP_NOT_CHECKED) for u in listed[3:]]]


def test_slow_sitemaps_cost_a_host_at_most_its_sitemap_budget() -> None:
    # Twenty sitemaps each answering just before the timeout held a host for twenty
    # timeouts (93 s at --timeout 5, a review): no check begins that could end past
    # SITEMAP_BUDGET_TIMEOUTS fetch timeouts after the first; the rest are not checked.
    timeout = 5.0
    listed = [f"http://www.example.test/sm{i}.xml" for i in range(20)]
    body = b"User-agent: *\nAllow: /\n" + b"".join(f"Sitemap: {u}\n".encode() for u in listed)
    driver = SearchDriver(HOST, policy=DriverPolicy(timeout_s=timeout), run_id="r",
                          started_at=NOW)
    clock = NOW
    driver.start()
    command: Fetch | SearchDone = driver.on_answer(ok(ROBOTS, body), clock)
    asked = []
    while isinstance(command, Fetch):
        asked.append(command.url)
        clock += timedelta(seconds=timeout * 0.9)
        command = driver.on_answer(ok(command.url, b"<urlset/>"), clock)
    assert (clock - NOW).total_seconds() <= SITEMAP_BUDGET_TIMEOUTS * timeout
    assert asked == listed[:2]
    assert [(s.url, s.status, s.failure) for s in command.record.sitemaps] == [
        *[(u, 200, None) for u in listed[:2]],
        *[(u, None, SITEMAP_OVER_BUDGET) for u in listed[2:]]]
    # Quick ones are all checked.
    driver = SearchDriver(HOST, policy=DriverPolicy(timeout_s=timeout), run_id="r",
                          started_at=NOW)
    driver.start()
    command = driver.on_answer(ok(ROBOTS, body), NOW)
    while isinstance(command, Fetch):
        command = driver.on_answer(ok(command.url, b"<urlset/>"), NOW)
    assert [s.status for s in command.record.sitemaps] == [200] * 20


def test_sitemap_lines_are_deduplicated_and_those_not_fetched_recorded() -> None:
    # Twenty copies of one sitemap filled the cap and hid five others; relative and non-HTTP
    # lines were dropped without a word (a review).
    real = [f"http://www.example.test/r{i}.xml" for i in range(5)]
    odd = ["/sitemap.xml", "sitemap2.xml", "//cdn.example.test/s.xml", "gopher://127.0.0.2/_x",
           "ftp://www.example.test/s.xml"]
    lines = ["http://www.example.test/a.xml"] * 20 + ["HTTP://www.example.test/a.xml"] + real \
        + odd
    body = b"User-agent: *\nAllow: /\n" + b"".join(f"Sitemap: {u}\n".encode() for u in lines)
    answers: dict[str, Answer] = {ROBOTS: ok(ROBOTS, body)}
    answers.update({u: ok(u, b"<urlset/>") for u in ["http://www.example.test/a.xml", *real]})
    record, asked = drive(answers)
    assert asked == [ROBOTS, "http://www.example.test/a.xml", *real]
    assert {s.url: s.failure for s in record.sitemaps if s.status is None} == {
        "/sitemap.xml": SITEMAP_RELATIVE, "sitemap2.xml": SITEMAP_RELATIVE,
        "//cdn.example.test/s.xml": SITEMAP_RELATIVE, "gopher://127.0.0.2/_x": SITEMAP_NOT_HTTP,
        "ftp://www.example.test/s.xml": SITEMAP_NOT_HTTP}


def test_an_undecodable_robots_txt_is_unreachable_not_open() -> None:
    # A Content-Encoding hulian did not ask for (br) left the bytes encoded: parsed as a
    # binary file of no rules, the host read `open` to every engine (a review).
    body = b"\x1b\x2b\x00\xf8Sitemap: http://www.example.test/sm.xml\n"
    driver = SearchDriver(HOST, policy=DriverPolicy(), run_id="r", started_at=NOW)
    driver.start()
    done = driver.on_answer(ok(ROBOTS, body, 200, **{"content-encoding": "br"}), NOW)
    assert isinstance(done, SearchDone)  # no sitemap of a file not read
    robots = done.record.robots
    assert robots is not None and (robots.status, robots.failure) == (200, "undecodable")
    assert base64.b64decode(robots.body_base64 or "") == body  # the bytes, as evidence
    settled = driver.politeness()
    assert settled is not None and settled.body is None  # no file for the crawler either
    judged = judge_robots("www.example.test", fetch_of(done.record), ["Googlebot"])
    assert judged.classes == {"Googlebot": SearchClass.UNREACHABLE}
    assert judged.reasons == ["unreachable:undecodable"]
    # A 404 says no restrictions, whatever its body is in.
    record, _ = drive({ROBOTS: ok(ROBOTS, b"\x1b", 404, **{"content-encoding": "br"})})
    assert record.robots is not None and record.robots.failure is None


def test_redirects_are_followed_five_times_at_most() -> None:
    chain = {ROBOTS: ok(ROBOTS, b"", 301, location="/r1")}
    for i in range(1, 4):
        url = f"http://www.example.test/r{i}"
        chain[url] = ok(url, b"", 302, location=f"/r{i + 1}")
    chain["http://www.example.test/r4"] = ok("http://www.example.test/r4", b"", 302,
                                             location="https://other.test/robots.txt")
    chain["https://other.test/robots.txt"] = ok("https://other.test/robots.txt",
                                                b"User-agent: *\nDisallow: /\n")
    record, asked = drive(chain)
    assert record.robots is not None
    assert len(asked) == MAX_REDIRECTS + 1
    assert (record.robots.status, record.robots.failure) == (200, None)
    assert record.robots.final_url == "https://other.test/robots.txt"
    # one more redirect: the sixth is not followed
    chain["https://other.test/robots.txt"] = ok("https://other.test/robots.txt", b"", 301,
                                                location="/again")
    record, asked = drive(chain)
    assert record.robots is not None
    assert len(asked) == MAX_REDIRECTS + 1
    assert (record.robots.status, record.robots.failure) == (None, "hop_limit:5")


def test_a_redirect_loop_and_a_bad_location_are_recorded_with_a_reason() -> None:
    record, _ = drive({ROBOTS: ok(ROBOTS, b"", 302, location="/x"),
                       "http://www.example.test/x": ok("http://www.example.test/x", b"", 302,
                                                       location="/robots.txt")})
    assert record.robots is not None and record.robots.failure == "redirect_loop"
    assert len(record.robots.hops) == 2
    record, _ = drive({ROBOTS: ok(ROBOTS, b"", 302, location="http://[::1")})
    assert record.robots is not None and record.robots.failure == "bad_location"


def test_transient_failures_and_5xx_are_retried_as_any_fetch_then_recorded() -> None:
    record, asked = drive({ROBOTS: [ok(ROBOTS, b"busy", 500), ok(ROBOTS, b"busy", 500)]})
    assert asked == [ROBOTS, ROBOTS]
    assert record.robots is not None and record.robots.status == 500
    record, asked = drive({ROBOTS: [Answer(ROBOTS, failure="timeout"),
                                    ok(ROBOTS, b"User-agent: *\nAllow: /\n")]})
    assert asked == [ROBOTS, ROBOTS] and record.robots is not None
    assert record.robots.status == 200
    record, asked = drive({ROBOTS: Answer(ROBOTS, failure="timeout")},
                          DriverPolicy(retries=0))
    assert asked == [ROBOTS] and record.robots is not None
    assert (record.robots.status, record.robots.failure) == (None, "timeout")
    # the auditor's own refusal is not retried
    record, asked = drive({ROBOTS: Answer(ROBOTS, failure="private_address:www.example.test")})
    assert asked == [ROBOTS]


def test_at_most_500_kib_are_kept() -> None:
    body = b"User-agent: *\nDisallow: /private\n" + b"# padding\n" * 200_000
    record, _ = drive({ROBOTS: ok(ROBOTS, body)})
    robots = record.robots
    assert robots is not None
    assert robots.size == len(body) and robots.truncated
    assert len(base64.b64decode(robots.body_base64 or "")) == 500 * 1024


def test_seed_page_directives_meta_and_header() -> None:
    metas = [("robots", "noindex, nofollow"), ("Baiduspider", "noarchive"),
             ("description", "noindex is a word here"), ("viewport", "width=device-width")]
    record = page_record("http://www.example.test/p", 200,
                         {"x-robots-tag": "googlebot: noindex"}, metas,
                         names=frozenset({"baiduspider", "googlebot"}), platform="testforum",
                         run_id="r", now=NOW)
    assert record.id == "page:http://www.example.test/p" and record.host == "www.example.test"
    assert [(d.source, d.name, d.content) for d in record.directives] == [
        ("meta", "robots", "noindex, nofollow"), ("meta", "Baiduspider", "noarchive"),
        ("header", "X-Robots-Tag", "googlebot: noindex")]


# Seed pages whose noindex comes after what a record keeps (a review: each read `open` by
# every engine): after 200 metas of other names, after 32 `robots: all` metas (the noindex
# in a header), after 300 characters of one meta, and a crawler's scope in a long header.
FLOODED: dict[str, tuple[dict[str, str], bytes]] = {
    "/s/after-200-metas/": ({}, "".join(f'<meta name="m{i}" content="v">' for i in range(200))
                            .encode() + b'<meta name="robots" content="noindex">'),
    "/s/after-32-robots/": ({"X-Robots-Tag": "noindex"},
                            b'<meta name="robots" content="all">' * 40),
    "/s/after-300-chars/": ({}, b'<meta name="robots" content="index, follow, '
                            + b", ".join([b"max-image-preview:large"] * 14) + b', noindex">'),
    "/s/long-header/": ({"X-Robots-Tag": "bingbot: " + "max-snippet:1, " * 30
                         + "nofollow, googlebot: noindex"}, b""),
    "/s/after-40-robots/": ({}, b'<meta name="robots" content="all">' * 40
                            + b'<meta name="Googlebot" content="noindex">'),
}
# The engines each tells noindex (None: every engine), and whether its record is cut (the
# metas of other names are no directives: nothing of those is cut).
FLOODED_SAYS: dict[str, tuple[set[str] | None, bool]] = {
    "/s/after-200-metas/": (None, False), "/s/after-32-robots/": (None, True),
    "/s/after-300-chars/": (None, True), "/s/long-header/": ({"Googlebot"}, True),
    "/s/after-40-robots/": ({"Googlebot"}, True)}


def _noindex_for(record: SearchRecord, tokens: list[str]) -> set[str]:
    """The engines a page's record tells noindex, as the judge reads it."""
    judged = judge_robots("h", RobotsFetch(404), tokens,
                          pages=[(record.page_url or "", record.directives)])
    return {t for t, c in judged.classes.items() if c is SearchClass.NOINDEX}


def test_no_cap_of_a_page_record_drops_its_noindex(tmp_path: Path) -> None:
    catalog = load_catalog(policy_dirs([forum_policies(tmp_path / "p")]))
    names, tokens = crawler_names(catalog), engine_tokens(catalog)
    for path, (headers, head) in FLOODED.items():
        url = f"http://forum.test{path}"
        body = b"<html><head>" + head + b"</head><body><p>post</p></body></html>"
        plan = plan_probes(body, "text/html", url, source="testforum",
                           surface=SurfaceKind("post"), catalog=catalog)
        assert len(plan.metas) <= MAX_METAS
        record = page_record(url, 200, {k.lower(): v for k, v in headers.items()}, plan.metas,
                             names=names, platform="testforum", run_id="r", now=NOW)
        told, cut = FLOODED_SAYS[path]
        assert record.directives_cut is cut, path
        assert len(record.directives) <= MAX_DIRECTIVES, path
        assert all(len(d.content) <= MAX_DIRECTIVE_CHARS for d in record.directives), path
        assert _noindex_for(record, tokens) == (told or set(tokens)), (path, record.directives)
    # Nothing cut, nothing said: a page within the caps is recorded as found.
    small = page_record("http://forum.test/p", 200, {}, [("robots", "all")] * 3, names=names,
                        platform=None, run_id=None, now=NOW)
    assert not small.directives_cut and [d.content for d in small.directives] == ["all"] * 3


def test_the_driver_hands_its_robots_txt_to_the_crawler_once() -> None:
    driver = SearchDriver(HOST, policy=DriverPolicy(), run_id="r", started_at=NOW)
    first = driver.start()
    assert driver.politeness() is None  # not settled yet
    body = b"User-agent: *\nDisallow: /x\nSitemap: http://www.example.test/sm.xml\n"
    after = driver.on_answer(ok(first.url, body), NOW)
    assert isinstance(after, Fetch) and after.purpose == "sitemap"  # before the sitemaps
    settled = driver.politeness()
    assert settled is not None and (settled.origin, settled.body) == (
        "http://www.example.test", body)
    assert driver.politeness() is None  # once
    loop = SearchDriver(HOST, policy=DriverPolicy(), run_id="r", started_at=NOW)
    start = loop.start()
    loop.on_answer(Answer(start.url, 302, {"location": start.url}, b"", "urn:1"), NOW)
    gone = loop.politeness()
    assert gone is not None and gone.body is None  # no file at the end: allows everything


def test_the_crawlers_robots_txt_waits_for_the_search_fetch_or_fetches_itself() -> None:
    async def scenario() -> tuple[list[str], RobotsBook]:
        fetched: list[str] = []

        async def download(fetch: Fetch) -> tuple[int, bytes] | str:
            fetched.append(fetch.url)
            return 200, b"User-agent: *\nDisallow: /own\n"

        book = RobotsBook()
        fetcher = RobotsFetcher(book, DriverPolicy(), download, wait_s=0.2)
        for origin in ("http://told.test", "http://gone.test", "http://lost.test"):
            fetcher.expect(origin)
        waiters = [asyncio.create_task(fetcher.learn(o))
                   for o in ("http://told.test", "http://gone.test", "http://lost.test")]
        await asyncio.sleep(0)
        fetcher.tell("http://told.test", b"User-agent: *\nDisallow: /told\n")
        fetcher.abandon("http://gone.test")  # the search measurement failed inside hulian
        await asyncio.gather(*waiters)  # lost.test: nobody tells, the wait runs out
        return fetched, book

    fetched, book = asyncio.run(scenario())
    assert fetched == ["http://gone.test/robots.txt", "http://lost.test/robots.txt"]
    assert book.allowed("http://told.test/told", "hulian") is False
    assert book.allowed("http://told.test/own", "hulian") is True
    assert book.allowed("http://gone.test/own", "hulian") is False


def test_search_targets_and_the_host_option(tmp_path: Path) -> None:
    catalog = load_catalog(policy_dirs([forum_policies(
        tmp_path / "p", "surfaces:\n  - {kind: post, seeds: ['http://forum.test/s/post/']}\n")]))
    config = CrawlConfig(sources=["testforum"],
                         search_hosts=["extra.test", "https://forum.test", "http://a.test:8080"])
    assert [(t.host, t.scheme, t.platform) for t in search_targets(catalog, config)] == [
        ("forum.test", "http", "testforum"), ("extra.test", "https", None),
        ("a.test:8080", "http", None)]
    for bad in ("ftp://x.test", "https://x.test/path", "::"):
        with pytest.raises(ConfigError, match="--host"):
            search_targets(catalog, CrawlConfig(sources=["testforum"], search_hosts=[bad]))
    log = SearchLog(search_targets(catalog, config), {"robots:forum.test", "page:http://p/"})
    assert [t.host for t in log.targets] == ["extra.test", "a.test:8080"]
    assert not log.wants_page("http://p/")
    assert log.wants_page("http://q/") and not log.wants_page("http://q/")


def test_a_page_and_its_robots_txt_share_one_host_key(tmp_path: Path) -> None:
    # A default port is no port; another port is another origin (its own robots.txt).
    catalog = load_catalog(policy_dirs([forum_policies(tmp_path / "p")]))
    seeds = ["http://forum.test:80/x", "https://b.test:443/y", "http://c.test:8080/z",
             "http://[::1]:81/w"]
    config = CrawlConfig(sources=["testforum"],
                         extra_seeds=[("testforum", SurfaceKind("post"), url) for url in seeds])
    hosts = {t.host for t in search_targets(catalog, config)}
    for url in seeds:
        page = page_record(url, 200, {"x-robots-tag": "noindex"}, [], names=frozenset(),
                           platform="testforum", run_id="r", now=NOW)
        assert page.host in hosts, (url, page.host, hosts)
    assert {"forum.test", "b.test", "c.test:8080", "[::1]:81"} <= hosts
    assert "forum.test:80" not in hosts


# ---------------------------------------------------------------------------------------
# Both engines against a loopback server
# ---------------------------------------------------------------------------------------

SEED = (b'<html><head><meta name="robots" content="noindex"><meta name="description" '
        b'content="a forum"></head><body><a href="http://shop.test/item">item</a></body></html>')
PAGES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "forum.test/robots.txt": (200, {"Content-Type": "text/plain"},
                              b"User-agent: Baiduspider\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
                              b"Sitemap: http://forum.test/sitemap.xml\n"),
    "forum.test/sitemap.xml": (200, {"Content-Type": "application/xml"}, b"<urlset/>" * 100),
    "forum.test/s/post/": (200, {"X-Robots-Tag": "bingbot: noindex"}, SEED),
    "shop.test/robots.txt": (404, {}, b"not here"),
    "shop.test/item": (200, {}, b"<p>an item</p>"),
    "loop.test/robots.txt": (302, {"Location": "http://loop.test/other.txt"}, b""),
    "loop.test/other.txt": (302, {"Location": "http://loop.test/robots.txt"}, b""),
    "down.test/robots.txt": (503, {}, b"busy"),
    "html.test/robots.txt": (200, {"Content-Type": "text/html"},
                             b"<!doctype html><html><body>Welcome</body></html>"),
    "br.test/robots.txt": (200, {"Content-Type": "text/plain", "Content-Encoding": "br"},
                           b"\x1b\x2b\x00\xf8User-agent: *\nAllow: /\n"),
    "big.test/robots.txt": (200, {"Content-Type": "text/plain"},
                            b"User-agent: *\nDisallow: /x\n" + b"#" * (2 * 1024 * 1024)),
}
PAGES.update({f"forum.test{path}": (200, headers, b"<html><head>" + head + b"</head>"
                                     b"<body><p>post</p></body></html>")
              for path, (headers, head) in FLOODED.items()})
HANG_S = 30.0


@contextmanager
def site() -> Iterator[str]:
    """A proxy-form server for PAGES; hang.test never answers within the run's timeout."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            host = (parts.hostname or self.headers.get("Host") or "").split(":")[0]
            if host == "hang.test":
                time.sleep(HANG_S)
                return
            if host == "slowsm.test" and parts.path != "/robots.txt":
                time.sleep(SLOW_SITEMAP_S)
            status, headers, body = PAGES.get(f"{host}{parts.path}", (404, {}, b"no"))
            reply(self, status, headers.items(), body)

        def log_message(self, *args: object) -> None:
            pass

    with serve_handler(Handler) as url:
        yield url


def hulian(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HULIAN_DB": "off", "HULIAN_POLICIES": ""}
    return subprocess.run([sys.executable, "-m", "audit.cli", *args], capture_output=True,
                          text=True, timeout=timeout, check=False, env=env)


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return forum_policies(tmp_path_factory.mktemp("policies"),
                          "surfaces:\n  - {kind: post, seeds: ['http://forum.test/s/post/']}\n")


@pytest.fixture(scope="module", params=["asyncio", "scrapy"])
def run(request: pytest.FixtureRequest, policies: Path,
        tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    hosts = ["http://shop.test", "http://loop.test", "http://down.test", "http://hang.test",
             "http://html.test", "http://big.test", "http://br.test"]
    with site() as url:
        result = hulian("--policies", str(policies), "run", "--source", "testforum",
                        "--route", f"*.test={url}", "--allow-private", "--timeout", "2",
                        "--engine", request.param, "--out", str(out), "--run-id", "r",
                        "--report-format", "", "--json",
                        *[a for h in hosts for a in ("--host", h)],
                        *[a for p in FLOODED for a in ("--seed",
                                                       f"testforum:post:http://forum.test{p}")])
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "r"


def _records(run: Path) -> dict[str, SearchRecord]:
    return {r.id: r for r in Bundle(run).search()}


def test_every_host_is_measured_with_evidence_in_the_warc(run: Path) -> None:
    records = _records(run)
    assert {k for k in records if k.startswith("robots:")} == {
        f"robots:{h}.test"
        for h in ("forum", "shop", "loop", "down", "hang", "html", "big", "br")}
    with (run / "evidence" / "crawl.warc.gz").open("rb") as fh:
        responses = {r.rec_headers.get_header("WARC-Record-ID").strip("<>"):
                     r.rec_headers.get_header(
            "WARC-Target-URI") for r in ArchiveIterator(fh)
            if r.rec_type == "response"}
    # The crawl obeys robots.txt and measures it for search: fetched once per origin, the
    # crawler's own decisions taking the search measurement's answer (robots_fetch.py).
    assert sorted(responses.values()).count("http://forum.test/robots.txt") == 1
    for record in records.values():
        if record.robots is None or record.robots.failure == "timeout":
            continue
        for hop in record.robots.hops:
            assert responses.get(hop.warc_record_id or "") == hop.url, (record.id, hop)
    forum = records["robots:forum.test"]
    assert [(s.url, s.status, s.size) for s in forum.sitemaps] == [
        ("http://forum.test/sitemap.xml", 200, len(b"<urlset/>") * 100)]
    page = records["page:http://forum.test/s/post/"]
    assert [(d.source, d.name, d.content) for d in page.directives] == [
        ("meta", "robots", "noindex"), ("header", "X-Robots-Tag", "bingbot: noindex")]
    assert hulian("verify", str(run)).returncode == 0


def test_bad_input_is_recorded_with_a_reason_and_judged(run: Path) -> None:
    records = _records(run)

    def robots(host: str) -> tuple[int | None, str | None]:
        fetched = records[f"robots:{host}"].robots
        assert fetched is not None
        return fetched.status, fetched.failure

    assert robots("loop.test") == (None, "redirect_loop")
    assert robots("hang.test") == (None, "timeout")
    assert robots("down.test") == (503, None)
    assert robots("shop.test") == (404, None)
    big = records["robots:big.test"].robots
    # Read whole (Scrapy) its size is known; cut by the download (asyncio), it is not.
    assert big is not None and big.truncated and \
        big.size in (None, len(PAGES["big.test/robots.txt"][2]))
    judged = {h.host: h for h in judge_search(records.values(), catalog_for_run(run)).hosts}
    assert set(judged["hang.test"].barriers.classes.values()) == {SearchClass.UNREACHABLE}
    assert judged["hang.test"].barriers.reasons == ["unreachable:timeout"]
    assert set(judged["down.test"].barriers.classes.values()) == {SearchClass.UNREACHABLE}
    assert robots("br.test") == (200, "undecodable")
    assert set(judged["br.test"].barriers.classes.values()) == {SearchClass.UNREACHABLE}
    assert set(judged["loop.test"].barriers.classes.values()) == {SearchClass.OPEN}
    assert judged["loop.test"].barriers.reasons == ["redirects:redirect_loop"]
    assert "html" in judged["html.test"].barriers.reasons
    assert any(r.startswith("truncated") for r in judged["big.test"].barriers.reasons)
    forum = judged["forum.test"].barriers.classes
    assert forum["Baiduspider"] is SearchClass.CLOSED
    assert forum["bingbot"] is SearchClass.NOINDEX  # X-Robots-Tag names it, robots.txt opens
    assert forum["Googlebot"] is SearchClass.NOINDEX  # <meta name=robots content=noindex>
    verdicts = [json.loads(line) for line in (run / "verdicts.jsonl").read_text().splitlines()]
    assert {v["rule_id"] for v in verdicts if v["rule_id"].startswith("search-")} >= {
        "search-same-class"}


def test_each_engine_records_the_noindex_of_a_flooded_page(run: Path) -> None:
    records = _records(run)
    tokens = engine_tokens(catalog_for_run(run))
    for path in FLOODED:
        record = records[f"page:http://forum.test{path}"]
        told, cut = FLOODED_SAYS[path]
        assert record.directives_cut is cut, path
        assert _noindex_for(record, tokens) == (told or set(tokens)), (path, record.directives)


def _hosts_run(engine: str, policies: Path, tmp_path: Path, timeout: str,
               *hosts: str) -> None:
    """A run of `engine` measuring only these hosts' search barriers, as run `r`."""
    with site() as url:
        result = hulian("--policies", str(policies), "run", "--source", "testforum",
                        "--route", f"*.test={url}", "--allow-private", "--timeout", timeout,
                        "--engine", engine, "--out", str(tmp_path), "--run-id", "r",
                        "--report-format", "", "--json",
                        *(item for host in hosts for item in ("--host", host)))
    assert result.returncode == 0, result.stderr[-3000:]


SLOW_SITEMAP_S = 1.2  # each sitemap of slowsm.test answers after this, within --timeout 2
PAGES["slowsm.test/robots.txt"] = (200, {"Content-Type": "text/plain"}, b"".join(
    b"Sitemap: http://slowsm.test/sm%d.xml\n" % i for i in range(20)))


@pytest.mark.parametrize("engine", ["asyncio", "scrapy"])
def test_each_engine_spends_at_most_the_budget_on_a_hosts_sitemaps(
        engine: str, policies: Path, tmp_path: Path) -> None:
    _hosts_run(engine, policies, tmp_path, "2", "http://slowsm.test")
    sitemaps = _records(tmp_path / "r")["robots:slowsm.test"].sitemaps
    checked = [s for s in sitemaps if s.failure != SITEMAP_OVER_BUDGET]
    assert len(sitemaps) == 20 and 1 <= len(checked) <= 4, sitemaps
    assert all(s.status == 404 for s in checked), checked  # PAGES has none


def test_a_resumed_run_measures_no_host_twice(run: Path, policies: Path) -> None:
    before = (run / "search.jsonl").read_text()
    with site():
        result = hulian("--policies", str(policies), "run", "--resume", str(run),
                        "--report-format", "", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run / "search.jsonl").read_text() == before
    assert hulian("verify", str(run)).returncode == 0


# Past the crawl's 32 MB limit, and a 40 KiB gzip bomb decoding to 40 MiB: both publish a
# Disallow for Baiduspider in their first lines (a review: both read `unreachable`).
BAIDU_OUT = b"User-agent: Baiduspider\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
PAGES["huge.test/robots.txt"] = (200, {"Content-Type": "text/plain"},
                                 BAIDU_OUT + b"#" * (33 * 1024 * 1024))
PAGES["gzbomb.test/robots.txt"] = (200, {"Content-Type": "text/plain",
                                         "Content-Encoding": "gzip"},
                                   gzip.compress(BAIDU_OUT + b"#" * (40 * 1024 * 1024)))


@pytest.mark.parametrize("engine", ["asyncio", "scrapy"])
def test_a_robots_txt_past_the_size_limit_is_judged_by_its_start(
        engine: str, policies: Path, tmp_path: Path) -> None:
    _hosts_run(engine, policies, tmp_path, "5", "http://huge.test", "http://gzbomb.test")
    run = tmp_path / "r"
    records = _records(run)
    judged = {h.host: h.barriers for h in judge_search(records.values(),
                                                       catalog_for_run(run)).hosts}
    for host in ("huge.test", "gzbomb.test"):
        robots = records[f"robots:{host}"].robots
        assert robots is not None and robots.failure is None and robots.truncated, robots
        assert len(base64.b64decode(robots.body_base64 or "")) == 500 * 1024
        classes = judged[host].classes
        assert classes["Baiduspider"] is SearchClass.CLOSED, (host, judged[host].reasons)
        assert classes["Googlebot"] is SearchClass.OPEN
        assert judged[host].reasons == ["truncated"]
    with (run / "evidence" / "crawl.warc.gz").open("rb") as fh:
        cut = [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(fh)
               if r.rec_type == "response" and r.rec_headers.get_header("WARC-Truncated")]
    # The record holds what came over the wire: the bomb's 40 KiB whole, the huge file's start.
    assert cut == ["http://huge.test/robots.txt"]
    assert hulian("verify", str(run)).returncode == 0


# ---------------------------------------------------------------------------------------
# The lab: every host's classes as the lab's truth says, with both engines
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def search_truth() -> dict[str, dict[str, str]]:
    result = hulian("lab", "truth", "--json")
    assert result.returncode == 0, result.stderr
    truth = json.loads(result.stdout)
    if not isinstance(truth, dict) or "search" not in truth:
        pytest.skip("this lab's truth has no search classes (`hulian lab truth --json`)")
    return {row["host"]: row["engines"] for row in truth["search"]}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["asyncio", "scrapy"])
def test_the_lab_is_measured_as_its_truth_says(engine: str, tmp_path: Path,
                                               search_truth: dict[str, dict[str, str]]) -> None:
    result = hulian("run", "--lab", "--engine", engine, "--out", str(tmp_path), "--run-id",
                    "lab", "--report-format", "", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "lab"
    judged = judge_search(Bundle(run).search(), catalog_for_run(run))
    measured = {h.host: {t: c.value for t, c in h.barriers.classes.items()}
                for h in judged.hosts}
    assert set(measured) == set(search_truth)
    wrong = {host: (measured[host], classes) for host, classes in search_truth.items()
             if measured[host] != classes}
    assert not wrong
    assert hulian("verify", str(run)).returncode == 0


# ---------------------------------------------------------------------------------------
# Graph, metrics and exports
# ---------------------------------------------------------------------------------------


def _judged_forum(tmp_path: Path) -> tuple[object, object]:
    from audit.model import RobotsTxtFetch, SearchHop

    catalog = load_catalog(policy_dirs([forum_policies(tmp_path / "p")]))
    body = b"User-agent: Baiduspider\nDisallow: /\n"
    hops = [SearchHop(url="http://forum.test/robots.txt", status=301,
                      location="https://forum.test/robots.txt", warc_record_id="urn:uuid:a"),
            SearchHop(url="https://forum.test/robots.txt", status=200,
                      warc_record_id="urn:uuid:b")]
    record = SearchRecord(id="robots:forum.test", kind="robots", host="forum.test",
                          platform="testforum", robots=RobotsTxtFetch(
                              url="http://forum.test/robots.txt", status=200, size=len(body),
                              body_base64=base64.b64encode(body).decode(), hops=hops))
    return catalog, judge_search([record], catalog)


def test_search_edges_beside_link_edges_in_every_export(tmp_path: Path) -> None:
    from audit.graph.build import build, company_graph, export
    from audit.graph.search import add_search, search_metrics

    catalog, judged = _judged_forum(tmp_path)
    graph = build([], [], catalog)  # type: ignore[arg-type]
    platform = add_search(graph, judged, catalog)  # type: ignore[arg-type]
    assert graph.number_of_edges() == 0  # the link graph is left as it was
    edge = platform.edges["search:baidu-search", "testforum"]
    assert (edge["kind"], edge["search_class"], edge["may_index"]) == ("search", "closed",
                                                                       False)
    assert platform.edges["search:google-search", "testforum"]["search_class"] == "open"
    # Its evidence: the hosts' record ids, one text as on a link edge.
    ids = [r for h in judged.hosts  # type: ignore[attr-defined]
           if h.platform == "testforum" for r in h.evidence]
    assert ids == ["urn:uuid:a", "urn:uuid:b"] and edge["evidence"] == "urn:uuid:a urn:uuid:b"
    assert platform.nodes["search:baidu-search"]["company"] == "baidu"
    company = add_search(company_graph(graph, catalog), judged, catalog,  # type: ignore[arg-type]
                         "company")
    assert company.edges["search:baidu-search", "testco"]["search_class"] == "closed"
    for fmt in ("graphml", "gexf", "json"):
        text = export(platform, fmt)
        assert "search:baidu-search" in text and "closed" in text, fmt
    figures = search_metrics(judged, catalog)  # type: ignore[arg-type]
    assert figures["engines"]["Baiduspider"]["may_index"] == 0.0
    assert figures["engines"]["Googlebot"]["may_index"] == 1.0
    assert figures["matrix"]["baidu"]["testco"] == {"Baiduspider": "closed"}
    assert figures["discriminating_hosts"] == ["forum.test"]


def test_a_platform_that_closed_to_an_engine_is_a_regression() -> None:
    from audit.history.diff import RunData, diff

    before = RunData("a", [], [], search={("p", "Baiduspider"): "open",
                                          ("p", "Googlebot"): "partial",
                                          ("q", "Baiduspider"): "closed"})
    after = RunData("b", [], [], search={("p", "Baiduspider"): "closed",
                                         ("p", "Googlebot"): "unreachable",
                                         ("q", "Baiduspider"): "open"})
    found = diff(before, after)
    assert [(c.kind, c.key, c.before, c.after) for c in found.search] == [
        ("worse", ("p", "Baiduspider"), "open", "closed"),
        ("changed", ("p", "Googlebot"), "partial", "unreachable"),
        ("better", ("q", "Baiduspider"), "closed", "open")]
    assert found.regression
    assert found.as_dict()["search"][0] == {"change": "worse", "platform": "p",
                                            "engine": "Baiduspider", "before": "open",
                                            "after": "closed"}
    assert not diff(before, RunData("c", [], [], search={})).search  # not measured: silent
    assert not diff(before, before).regression


def test_a_run_without_search_gives_its_graph_itself(tmp_path: Path) -> None:
    # Nothing to add: the graph is written as it is, not copied (a copy of a large run's
    # graph was a third of its crawl's end's memory); with search, a copy as before.
    from audit.graph.build import build
    from audit.graph.search import add_search
    from audit.judge.search_run import judge_search

    catalog, judged = _judged_forum(tmp_path)
    graph = build([], [], catalog)  # type: ignore[arg-type]
    nothing = judge_search([], catalog)  # type: ignore[arg-type]
    assert not nothing
    assert add_search(graph, nothing, catalog) is graph  # type: ignore[arg-type]
    assert add_search(graph, judged, catalog) is not graph  # type: ignore[arg-type]


# Sitemaps past the crawl's 32 MB limit and of 3 MiB: checked for status and size only, so
# only their start is kept (a review: twenty of 30 MiB made a 629 MB WARC for one host, and
# one past 32 MB was `too_large`, its status lost).
PAGES["bigsm.test/robots.txt"] = (200, {"Content-Type": "text/plain"},
                                  b"Sitemap: http://bigsm.test/huge.xml\n"
                                  b"Sitemap: http://bigsm.test/large.xml\n")
PAGES["bigsm.test/huge.xml"] = (200, {"Content-Type": "application/xml"},
                                b"<urlset>" + b"<url><loc>http://bigsm.test/x</loc></url>"
                                * (34 * 1024 * 1024 // 41) + b"</urlset>")
PAGES["bigsm.test/large.xml"] = (200, {"Content-Type": "application/xml"},
                                 b"<urlset>" + b" " * (3 * 1024 * 1024) + b"</urlset>")


@pytest.mark.parametrize("engine", ["asyncio", "scrapy"])
def test_a_sitemaps_start_is_kept_and_its_size_read_from_its_header(
        engine: str, policies: Path, tmp_path: Path) -> None:
    _hosts_run(engine, policies, tmp_path, "10", "http://bigsm.test")
    sitemaps = _records(tmp_path / "r")["robots:bigsm.test"].sitemaps
    assert [(s.url, s.status, s.size, s.failure) for s in sitemaps] == [
        ("http://bigsm.test/huge.xml", 200, len(PAGES["bigsm.test/huge.xml"][2]), None),
        ("http://bigsm.test/large.xml", 200, len(PAGES["bigsm.test/large.xml"][2]), None)]
    with (tmp_path / "r" / "evidence" / "crawl.warc.gz").open("rb") as fh:
        kept = {r.rec_headers.get_header("WARC-Target-URI"): len(r.content_stream().read())
                for r in ArchiveIterator(fh) if r.rec_type == "response"
                and r.rec_headers.get_header("WARC-Target-URI").startswith("http://bigsm.")}
    assert set(kept) == {"http://bigsm.test/robots.txt", "http://bigsm.test/huge.xml",
                         "http://bigsm.test/large.xml"}
    assert all(size <= 2 * 64 * 1024 + 65_536 for size in kept.values()), kept
