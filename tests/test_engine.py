"""The asyncio engine's parts: the throttle rule, the downloader's failure words and limits
(against real local servers), the forked page-parsing worker and the recorder process,
including what happens when either dies."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import socket
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from audit.measure.asyncio.fetch import Fetcher, FetchFailed, _decoded
from audit.measure.asyncio.politeness import throttle_delay
from audit.measure.asyncio.recorder import RecorderGone, RecorderProcess
from audit.measure.chain import analyze_page, plan_probes
from audit.measure.failures import TooLarge
from audit.measure.parsepool import ParsePool
from audit.model import SurfaceKind
from audit.policy.catalog import Catalog, load_catalog

INTERSTITIAL = ("<html><head><title>安全提示</title></head><body><p>您即将离开知乎，请注意您的帐号"
                "和财产安全。</p><p>https://item.taobao.com/item.htm?id=1</p>"
                "<a href='https://item.taobao.com/item.htm?id=1'>继续访问</a></body></html>")
SEED = ("<html><body><p>see <a href='https://www.douyin.com/video/1'>video</a> and "
        "https://item.jd.com/100.html</p></body></html>")


# -- throttle -----------------------------------------------------------------------------

def test_throttle_moves_halfway_towards_latency_over_target_concurrency() -> None:
    # Scrapy's AutoThrottle rule: from 0.5 s, a 0.2 s answer at target concurrency 4.
    assert throttle_delay(0.5, 0.2, 200, target_concurrency=4, min_delay=0,
                          max_delay=60) == pytest.approx(0.275)
    # Never below latency / target, never above the maximum.
    assert throttle_delay(0.0, 0.4, 200, target_concurrency=4, min_delay=0,
                          max_delay=60) == pytest.approx(0.1)
    assert throttle_delay(50, 400, 200, target_concurrency=1, min_delay=0,
                          max_delay=60) == 60


def test_throttle_is_not_lowered_by_error_answers() -> None:
    # A fast 500 says nothing about the server's capacity: the delay stays.
    assert throttle_delay(0.5, 0.001, 500, target_concurrency=4, min_delay=0,
                          max_delay=60) == 0.5
    # ... but a slow one may raise it.
    assert throttle_delay(0.1, 2.0, 503, target_concurrency=1, min_delay=0,
                          max_delay=60) == pytest.approx(2.0)


# -- the downloader -----------------------------------------------------------------------

def test_content_decoding() -> None:
    body = b"<p>hello</p>" * 50
    assert _decoded(gzip.compress(body), "gzip") == body
    assert _decoded(zlib.compress(body), "deflate") == body
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    assert _decoded(raw.compress(body) + raw.flush(), "deflate") == body  # raw deflate
    assert _decoded(gzip.compress(zlib.compress(body)), "deflate, gzip") == body
    # Broken or unknown encodings give the bytes as they came, never nothing.
    assert _decoded(b"not gzip", "gzip") == b"not gzip"
    assert _decoded(body, "br") == body


def test_many_gzip_members_decode_in_time_linear_in_the_body() -> None:
    """Members after the first were fed the whole rest of the body, which zlib copies as the
    member's leftover: 800,000 empty members (16 MB) held the crawl's event loop for minutes,
    past any timeout (an adversarial review). Four times the members, about four times the
    time (it was sixteen); what they hold, and zeros between them, decode as before."""
    body = b"<p>hello</p>" * 50
    padded = gzip.compress(body[:300]) + b"\0" * 5000 + gzip.compress(body[300:])
    assert _decoded(padded, "gzip") == body
    empty = gzip.compress(b"", mtime=0)

    def seconds(members: int) -> float:
        start = time.perf_counter()
        assert _decoded(empty * members + gzip.compress(b"end"), "gzip") == b"end"
        return time.perf_counter() - start

    few = min(seconds(25_000) for _ in range(3))
    many = min(seconds(100_000) for _ in range(3))
    assert many / few < 8, (few, many)


async def _serve(handler: object) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()


async def _fetch(url: str, max_bytes: int = 1 << 20) -> object:
    async with Fetcher(user_agent="hulian-test", timeout_s=5, max_bytes=max_bytes,
                       pool_size=4) as fetcher:
        try:
            return await fetcher.fetch(url)
        except FetchFailed as failed:
            return failed.reason


def test_fetch_limits_and_failure_words() -> None:
    async def main() -> None:
        async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = await reader.readuntil(b"\r\n\r\n")
            if b"/chunked" in request:
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                for _ in range(40):
                    writer.write(b"1000\r\n" + b"x" * 4096 + b"\r\n")
                writer.write(b"0\r\n\r\n")
            elif b"/reset" in request:
                writer.transport.abort()  # a connection reset, no answer at all
                return
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + b"y" * 200000)
            await writer.drain()
            writer.close()

        async for port in _serve(big):
            base = f"http://127.0.0.1:{port}"
            assert await _fetch(f"{base}/declared", max_bytes=100_000) == "too_large"
            assert await _fetch(f"{base}/chunked", max_bytes=100_000) == "too_large"
            ok = await _fetch(f"{base}/declared", max_bytes=1 << 20)
            assert getattr(ok, "status", None) == 200 and len(ok.payload) == 200000  # type: ignore[attr-defined]
            assert await _fetch(f"{base}/reset") == "connection_reset"
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        assert await _fetch(f"http://127.0.0.1:{closed}/") == "connection_refused"

    asyncio.run(main())


def test_a_body_that_cannot_be_decoded_is_never_judged_by_its_bytes() -> None:
    # A warning page sent as Brotli (which hulian does not ask for), or as garbage said to be
    # zstd or gzip, was read as text and judged `blocked` with a reason of binary bytes. The
    # header stays on what could not be decoded and goes with what was, and such a body on an
    # interception endpoint is for a person to read.
    from audit.measure import chain as chains
    from audit.model import Outcome, PageKind, Probe, SurfaceKind
    from audit.policy.catalog import load_catalog

    warning = "<h2>您即将离开微信</h2><a href='https://item.taobao.com/'>继续访问</a>".encode()
    bodies = {b"/gzip": (b"gzip", gzip.compress(warning)), b"/br": (b"br", os.urandom(300)),
              b"/zstd": (b"zstd", os.urandom(300)), b"/broken": (b"gzip", b"\x1f\x8b" + os.urandom(50))}

    async def main() -> dict[str, object]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ")[1]
            coding, body = bodies[path]
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: "
                         + coding + b"\r\nContent-Length: " + str(len(body)).encode()
                         + b"\r\n\r\n" + body)
            await writer.drain()
            writer.close()

        fetched = {}
        async for port in _serve(serve):
            for path in ("gzip", "br", "zstd", "broken"):
                fetched[path] = await _fetch(f"http://127.0.0.1:{port}/{path}")
        return fetched

    fetched = asyncio.run(main())
    decoded = fetched["gzip"]
    assert decoded.body == warning and "content-encoding" not in decoded.headers  # type: ignore[attr-defined]
    catalog = load_catalog()
    endpoint = ("https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi"
                "?midpagecode=3f2a9c&bancode=9c1e0d2b")
    for path in ("br", "zstd", "broken"):
        answer = fetched[path]
        assert "content-encoding" in answer.headers  # type: ignore[attr-defined]
        probe = Probe(id="p", source="weixin", surface=SurfaceKind.IM_GROUP,
                      target_url="https://item.taobao.com/")
        chain = chains.Chain(probe=probe)
        response = chains.Response(url=endpoint, status=200, headers=answer.headers,  # type: ignore[attr-defined]
                                   body=answer.body)  # type: ignore[attr-defined]
        assert not chains.needs_analysis(response.status, response.headers, response.body)
        step = chains.on_response(chain, response, "start", catalog)
        assert step.action == "stop"
        chains.on_control(chain, 200)
        observation = chains.observation(chain, run_id="r", method="crawl")
        assert observation.page is not None
        assert (observation.page.kind, observation.page.signature) == (
            PageKind.UNRECOGNIZED, "structure/undecodable"), path
        assert observation.outcome is Outcome.UNRECOGNIZED


# -- the page-parsing worker ----------------------------------------------------------------

def test_parse_worker_gives_the_inline_answers_and_survives_its_death() -> None:
    catalog = load_catalog()
    body = INTERSTITIAL.encode()
    url = "https://link.zhihu.com/?target=https%3A//item.taobao.com/item.htm%3Fid%3D1"
    # With the page's fingerprint (a control page's is always kept): the replacement, a
    # process of the fork server's, must fingerprint with the crawl process's key.
    expected = analyze_page(body, "text/html", url, catalog, control=True)
    assert expected.fingerprint is not None and expected.fingerprint.text
    seed_url = "https://www.zhihu.com/question/1"
    expected_plan = plan_probes(SEED.encode(), "text/html", seed_url, source="zhihu",
                                surface=SurfaceKind.POST, catalog=catalog)
    expected_probes = expected_plan.probes
    assert expected.facts.kind.value == "warned"
    assert len(expected_probes) == 2 and expected_plan.parse_issue is None

    pool = ParsePool(catalog, 1)
    assert pool.in_use == 1

    async def main() -> None:
        await pool.start()
        assert await pool.analyze(body, "text/html", url, control=True) == expected
        plan = await pool.plan(SEED.encode(), "text/html", seed_url, "zhihu", SurfaceKind.POST)
        assert [p.model_dump() for p in plan.probes] == [p.model_dump() for p in expected_probes]
        # The worker dies (a crash in the parser, the OOM killer): pages are parsed here
        # until a worker started in its place (by the fork server) takes over.
        worker = pool._workers[0].process
        os.kill(worker.pid, signal.SIGKILL)
        worker.join()
        for _ in range(3):
            assert await pool.analyze(body, "text/html", url, control=True) == expected
        for _ in range(300):  # until the replacement is connected (else pages go inline)
            if any(w.alive and w.writer is not None and w.process.pid != worker.pid
                   for w in pool._workers):
                break
            await asyncio.sleep(0.1)
        assert pool.in_use == 1
        replacement = pool._workers[-1]
        assert replacement.writer is not None
        assert replacement.alive and replacement.process.pid != worker.pid
        assert await pool.analyze(body, "text/html", url, control=True) == expected
        assert not replacement.pending  # answered by the replacement, not inline
        await pool.stop()

    try:
        asyncio.run(main())
    finally:
        pool.close()


def test_parse_worker_exits_quietly_when_the_crawl_process_leaves_mid_answer(
        capfd: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C closes the crawl process's end while a worker is answering: the worker's write
    meets a closed socket. It exits 0 without a traceback (a non-zero exit would read as a
    crash and blame a page)."""
    import multiprocessing
    import pickle

    from audit.measure import parsepool

    parsepool._CATALOG = load_catalog()
    ours, theirs = socket.socketpair()
    worker = multiprocessing.get_context("fork").Process(
        target=parsepool._serve, args=(theirs, [ours]), daemon=True)
    worker.start()
    theirs.close()
    url = "https://link.zhihu.com/?target=https%3A//item.taobao.com/item.htm%3Fid%3D1"
    request = pickle.dumps(("analyze", (INTERSTITIAL.encode(), "text/html", url)))
    ours.sendall(parsepool._FRAME.pack(1, len(request)) + request)
    ours.close()  # gone before the answer is written
    worker.join(timeout=30)
    assert worker.exitcode == 0
    assert "Traceback" not in capfd.readouterr().err


def _crawl_forum(tmp_path: Path, catalog: Catalog,
                 pages: dict[str, tuple[int, dict[str, str], bytes]],
                 seed_paths: list[str]) -> tuple[Any, dict[str, Any]]:
    """Crawl the local forum's seed pages (one parse worker, asyncio engine); the result and
    the observations by target."""
    from audit.evidence.bundle import BundleWriter
    from audit.measure.config import CrawlConfig
    from audit.measure.crawl import crawl
    from tests.localsite import serve

    with serve(pages) as site:
        config = CrawlConfig(
            sources=["testforum"], allow_private=True, robots="ignore", engine="asyncio",
            parse_processes=1, routes={"forum.test": site.url, "shop.test": site.url},
            extra_seeds=[("testforum", SurfaceKind.POST, f"http://forum.test/{path}")
                         for path in seed_paths])
        with BundleWriter(tmp_path / "runs", run_id="r", policy_digest=catalog.digest,
                          config=config.manifest_config()) as writer:
            result = crawl(catalog, config, writer)
    lines = (tmp_path / "runs" / "r" / "observations.jsonl").read_text().splitlines()
    return result, {o["target_url"]: o for o in map(json.loads, lines)}


@pytest.mark.parametrize("where", ["hop", "seed"])
def test_a_page_that_kills_the_parse_worker_is_recorded_not_parsed_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """A hostile page that crashes the parser (here: the worker exits the way a segfault in
    libxml2 would end it) is recorded as `parse_crash` (a hop: an `error` observation with
    the page as evidence; a seed: a seed error) and not parsed again in the crawl process,
    where the same crash would end the run and every resume of it. The rest goes on."""
    from audit.measure import parsepool
    from audit.policy.catalog import policy_dirs
    from tests.localsite import forum_policies

    job = "analyze" if where == "hop" else "plan"
    real = parsepool._JOBS[job]

    def crashing(body: bytes, *args: object) -> object:
        if b"CRASH-ME" in body:
            os._exit(3)
        return real(body, *args)

    # Patched before the pool forks, so only the worker carries it.
    monkeypatch.setitem(parsepool._JOBS, job, crashing)
    catalog = load_catalog(policy_dirs([forum_policies(tmp_path / "policies")]))
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/post/1": (200, {}, b'<a href="http://shop.test/ok">a</a> '
                                       b'<a href="http://shop.test/crash">b</a>'),
        "forum.test/post/2": (200, {}, b'<p>CRASH-ME</p><a href="http://shop.test/x">x</a>'),
        "shop.test/ok": (200, {}, b"<p>an item</p>"),
        "shop.test/crash": (200, {}, b"<p>CRASH-ME</p>"),
    }
    seed_paths = ["post/1"] if where == "hop" else ["post/1", "post/2"]
    result, observed = _crawl_forum(tmp_path, catalog, pages, seed_paths)
    assert observed["http://shop.test/ok"]["outcome"] == "direct"
    if where == "seed":
        assert result.seed_errors == [{"url": "http://forum.test/post/2",
                                       "error": "parse_crash"}]
        assert "http://shop.test/x" not in observed  # its links were never read
        return
    assert result.seed_errors == []
    crashed = observed["http://shop.test/crash"]
    assert (crashed["outcome"], crashed["failure"]) == ("error", "parse_crash")
    first = crashed["hops"][0]
    assert first["status"] == 200 and first["warc_record_id"]  # the page itself is evidence
    assert crashed["control_ok"] is None  # the chain loaded the target: no control needed


@pytest.mark.parametrize("where", ["hop", "seed"])
def test_a_page_that_holds_the_parse_worker_past_its_budget_is_given_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """A hostile page the parser takes minutes over (an element of 200,000 attributes held a
    worker, and the pages behind it, past a 300 s run) is recorded as `parse_timeout`, the
    worker killed; the rest is measured. Here the worker's job sleeps on such a page and the
    budget is one second."""
    import time

    from audit.measure import parsepool
    from audit.policy.catalog import policy_dirs
    from tests.localsite import forum_policies

    job = "analyze" if where == "hop" else "plan"
    real = parsepool._JOBS[job]

    def slow(body: bytes, *args: object) -> object:
        if b"HOLD-ME" in body:
            time.sleep(120)
        return real(body, *args)

    monkeypatch.setitem(parsepool._JOBS, job, slow)  # before the pool forks
    monkeypatch.setattr(parsepool, "PAGE_BUDGET_S", 1.0)
    catalog = load_catalog(policy_dirs([forum_policies(tmp_path / "policies")]))
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/post/1": (200, {}, b'<a href="http://shop.test/ok">a</a> '
                                       b'<a href="http://shop.test/hold">b</a>'),
        "forum.test/post/2": (200, {}, b'<p>HOLD-ME</p><a href="http://shop.test/x">x</a>'),
        "shop.test/ok": (200, {}, b"<p>an item</p>"),
        "shop.test/hold": (200, {}, b"<p>HOLD-ME</p>"),
    }
    seed_paths = ["post/2", "post/1"] if where == "seed" else ["post/1"]
    started = time.monotonic()
    result, observed = _crawl_forum(tmp_path, catalog, pages, seed_paths)
    assert time.monotonic() - started < 60  # not the 120 s the page holds the worker
    assert observed["http://shop.test/ok"]["outcome"] == "direct"
    if where == "seed":
        assert {"url": "http://forum.test/post/2", "error": "parse_timeout"} in result.seed_errors
        assert "http://shop.test/x" not in observed
        return
    held = observed["http://shop.test/hold"]
    assert (held["outcome"], held["failure"]) == ("error", "parse_timeout")
    assert held["hops"][0]["warc_record_id"]  # the page itself is evidence


def test_every_hostile_page_is_given_up_not_only_the_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two real attribute bombs (one element of 200,000 attributes: libxml2 takes minutes) on
    two seed pages and one ordinary page: each bomb is `parse_timeout` in a worker, the
    second in the worker started in place of the first one's (it is not parsed in the crawl
    process, where nothing could stop it), and the ordinary page is measured."""
    import time

    from audit.measure import parsepool
    from audit.policy.catalog import policy_dirs
    from tests.localsite import forum_policies

    monkeypatch.setattr(parsepool, "PAGE_BUDGET_S", 1.0)
    catalog = load_catalog(policy_dirs([forum_policies(tmp_path / "policies")]))
    bomb = (b"<html><body><div " + b" ".join(b"a%d=1" % i for i in range(200_000))
            + b'>x</div><a href="http://shop.test/x">x</a></body></html>')
    assert len(bomb) > parsepool.INLINE_MAX_BYTES
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        "forum.test/post/1": (200, {}, b'<a href="http://shop.test/ok">a</a>'),
        "forum.test/post/2": (200, {}, bomb),
        "forum.test/post/3": (200, {}, bomb.replace(b"a0=1", b"b0=1")),
        "shop.test/ok": (200, {}, b"<p>an item</p>"),
    }
    started = time.monotonic()
    result, observed = _crawl_forum(tmp_path, catalog, pages, ["post/2", "post/3", "post/1"])
    assert time.monotonic() - started < 60
    assert sorted(result.seed_errors, key=lambda e: e["url"]) == [
        {"url": "http://forum.test/post/2", "error": "parse_timeout"},
        {"url": "http://forum.test/post/3", "error": "parse_timeout"}]
    assert observed["http://shop.test/ok"]["outcome"] == "direct"
    assert "http://shop.test/x" not in observed


def test_workers_are_replaced_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    from audit.measure import parsepool

    monkeypatch.setattr(parsepool, "MAX_REPLACEMENTS", 1)
    catalog = load_catalog()
    pool = ParsePool(catalog, 1)
    url = "https://www.zhihu.com/question/1"

    async def kill_and_wait() -> None:
        victim = next(w for w in pool._workers if w.alive)
        os.kill(victim.process.pid, signal.SIGKILL)
        for _ in range(300):
            await asyncio.sleep(0.1)
            if not victim.alive and not pool._starting:
                return

    async def main() -> None:
        await pool.start()
        await kill_and_wait()
        assert pool.in_use == 1  # the one replacement
        await kill_and_wait()
        assert pool.in_use == 0 and len(pool._workers) == 2  # no second one
        plan = await pool.plan(SEED.encode(), "text/html", url, "zhihu", SurfaceKind.POST)
        assert len(plan.probes) == 2  # parsed in the crawl process
        await pool.stop()

    try:
        asyncio.run(main())
    finally:
        pool.close()


# -- the recorder process -------------------------------------------------------------------

def _exchange(recorder: RecorderProcess, n: int) -> str:
    return recorder.exchange(
        f"http://shop.test/item/{n}", method="GET",
        request_headers=[("Host", "shop.test"), ("User-Agent", "hulian-test")],
        request_body=b"", status=200, reason="OK",
        response_headers=[("Content-Type", "text/html"), ("X-Injected", "a\r\nWARC-Type: evil")],
        payload=f"<p>item {n}</p>".encode())


def _responses(warc: Path) -> dict[str, str]:
    with warc.open("rb") as handle:
        return {record.rec_headers.get_header("WARC-Record-ID").strip("<>"):
                record.rec_headers.get_header("WARC-Target-URI")
                for record in ArchiveIterator(handle) if record.rec_type == "response"}


def test_recorder_writes_evidence_before_the_observations_that_cite_it(tmp_path: Path) -> None:
    warc, lines = tmp_path / "evidence" / "crawl.warc.gz", tmp_path / "observations.jsonl"
    recorder = RecorderProcess(warc, lines)
    ids = []
    for n in range(50):
        ids.append(_exchange(recorder, n))
        recorder.observation_line(json.dumps({"n": n, "cites": ids[-1]}) + "\n")
    recorder.close()
    written = _responses(warc)
    assert set(ids) == set(written)
    assert written[ids[7]] == "http://shop.test/item/7"
    assert [json.loads(line)["n"] for line in lines.read_text().splitlines()] == list(range(50))
    # A hostile header value cannot forge WARC headers: its line break was folded.
    with warc.open("rb") as handle:
        for record in ArchiveIterator(handle):
            assert record.rec_headers.get_header("WARC-Type") in ("response", "request")


def test_recorder_death_stops_the_run_instead_of_writing_past_lost_evidence(
        tmp_path: Path) -> None:
    warc, lines = tmp_path / "crawl.warc.gz", tmp_path / "observations.jsonl"
    recorder = RecorderProcess(warc, lines)
    before = [_exchange(recorder, n) for n in range(5)]
    recorder.flush()
    for _ in range(500):  # until the child has written what it was handed
        if warc.exists() and len(_responses(warc)) == 5:
            break
        time.sleep(0.01)
    recorder._process.kill()
    recorder._process.wait()
    # The next hand-over finds it gone: the crawl must stop, not go on without evidence.
    for n in range(5, 10):
        _exchange(recorder, n)
    with pytest.raises(RecorderGone, match="--resume"):
        recorder.flush()
    recorder.close()  # reported once already: closing does not raise again
    assert set(_responses(warc)) == set(before)  # what it wrote is intact and readable
    assert not lines.exists()


def test_recorder_that_exits_badly_is_reported_at_close(tmp_path: Path) -> None:
    recorder = RecorderProcess(tmp_path / "w.warc.gz", tmp_path / "o.jsonl")
    recorder._process.kill()
    recorder._process.wait()
    with pytest.raises(RecorderGone):
        recorder.close()


# -- the guard ------------------------------------------------------------------------------

def test_guard_does_not_crash_on_names_that_cannot_be_resolved() -> None:
    from audit.measure.guard import AddressGuard

    async def main() -> None:
        # An empty or over-long DNS label makes getaddrinfo raise UnicodeError, not OSError.
        assert await AddressGuard().refuses("a..b.example") is False
        assert await AddressGuard().refuses("x" * 70 + ".example") is False
        assert await AddressGuard().refuses("127.0.0.1") is True

    asyncio.run(main())


def test_referer_follows_scrapys_default_policy() -> None:
    from audit.web.urls import referer_for

    assert referer_for("https://u:p@a.com/x?q=1#frag", "https://b.com/") == "https://a.com/x?q=1"
    assert referer_for("https://a.com/x", "http://b.com/") is None  # no downgrade leak
    assert referer_for("http://a.com/x", "https://b.com/") == "http://a.com/x"
    assert referer_for(None, "http://b.com/") is None


def test_decompression_is_bounded_and_reads_every_gzip_member() -> None:
    body = b"<p>" + os.urandom(4000).hex().encode() + b"</p>"
    assert _decoded(gzip.compress(body[:100]) + gzip.compress(body[100:]), "gzip") == body
    cut = _decoded(gzip.compress(body)[:2000], "gzip")  # a truncated body: what was decoded
    assert 1000 < len(cut) < len(body) and body.startswith(cut)
    bomb = gzip.compress(b"\0" * 5_000_000)
    with pytest.raises(TooLarge) as raised:
        _decoded(bomb, "gzip", limit=1_000_000)
    assert raised.value.reason == "too_large"


def test_render_with_the_asyncio_engine_is_a_usage_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "audit.cli", "run", "--render", "--engine", "asyncio",
         "--source", "zhihu", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "--engine scrapy" in result.stderr
    assert not list(tmp_path.iterdir())  # refused before any bundle was made


def test_urls_go_out_as_given_only_unsafe_characters_encoded() -> None:
    """A wrapper must see the very URL being audited: nothing is re-quoted, only what cannot
    travel in a request line is percent-encoded (as Scrapy does)."""
    lines: list[bytes] = []

    async def main() -> None:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = await reader.readuntil(b"\r\n\r\n")
            lines.append(request.split(b"\r\n", 1)[0])
            writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        async for port in _serve(echo):
            base = f"http://127.0.0.1:{port}"
            ok = await _fetch(f"{base}/go?url=http%3A%2F%2Fnews.test%2Fb%3Fx%3D1&y=%7E")
            assert getattr(ok, "url", None) == f"{base}/go?url=http%3A%2F%2Fnews.test%2Fb%3Fx%3D1&y=%7E"
            ok = await _fetch(f"{base}/路径 x?q=中")
            assert getattr(ok, "url", None) == f"{base}/%E8%B7%AF%E5%BE%84%20x?q=%E4%B8%AD"

    asyncio.run(main())
    assert lines == [b"GET /go?url=http%3A%2F%2Fnews.test%2Fb%3Fx%3D1&y=%7E HTTP/1.1",
                     b"GET /%E8%B7%AF%E5%BE%84%20x?q=%E4%B8%AD HTTP/1.1"]
