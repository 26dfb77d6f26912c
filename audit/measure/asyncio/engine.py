"""The asyncio crawl engine: seeds -> probes -> hops -> observations in one event loop, with
the same decisions (audit.measure.chain), evidence (audit.evidence.warc), guard
(audit.measure.guard) and politeness
settings (audit.measure.settings) as the Scrapy engine, at a fraction of the per-request cost.

Why a second engine: on this project's machine kind, Scrapy's own machinery (engine,
scheduler, Deferreds, middleware chains) costs 5-7 ms of CPU per request, more than all of
hulian's work on a page; an aiohttp exchange costs well under 1 ms (docs/benchmarks.md,
"Crawler"). The Scrapy engine stays for what needs Scrapy's ecosystem: `--render`
(scrapy-playwright), `--distributed` (scrapy-redis) and `--engine scrapy`.

Scheduling: one priority queue, probes before seeds (a started seed's probes are finished
before new seed pages are opened, which bounds memory), worked by a fixed set of tasks.
Politeness is per host: a semaphore (`per_host`), AutoThrottle's delay rule (Scrapy's
algorithm, pure in `throttle_delay`), robots.txt per origin (Protego, as Scrapy uses), and
retries of transient failures. The private-address guard runs before robots.txt, as in the
Scrapy engine's middleware order.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from protego import Protego

from audit.evidence.bundle import BundleWriter
from audit.evidence.warc import WarcLog
from audit.measure import chain as chains
from audit.measure.asyncio.fetch import Fetched, Fetcher, FetchFailed
from audit.measure.asyncio.parsepool import PageCrashed, ParsePool
from audit.measure.asyncio.recorder import FLUSH_INTERVAL_S, RecorderGone, RecorderProcess
from audit.measure.chain import Seed
from audit.measure.config import CrawlResult
from audit.measure.guard import AddressGuard
from audit.measure.robots import MAX_ROBOTS_BYTES
from audit.model import Probe
from audit.policy.catalog import Catalog
from audit.web.urls import host_of, referer_for, wire_url

logger = logging.getLogger(__name__)

# Scrapy's RetryMiddleware retries every network failure (timeouts, refused, reset, DNS,
# OSError ...), not what the auditor itself refused or a body over the size limit.
NOT_RETRIED = ("private_address", "robots_disallowed", "too_large", "bad_url")


@dataclass(frozen=True)
class Politeness:
    """The knobs both engines share, read from the same settings dict (audit.measure.settings)."""

    concurrency: int
    per_host: int
    timeout_s: float
    max_bytes: int
    retries: int
    retry_statuses: frozenset[int]
    autothrottle: bool
    throttle_start_s: float
    throttle_target: float
    throttle_max_s: float
    min_delay_s: float
    obey_robots: bool
    user_agent: str
    headers: tuple[tuple[str, str], ...]  # besides User-Agent, on every request

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Politeness:
        return cls(
            concurrency=int(settings["CONCURRENT_REQUESTS"]),
            per_host=int(settings["CONCURRENT_REQUESTS_PER_DOMAIN"]),
            timeout_s=float(settings["DOWNLOAD_TIMEOUT"]),
            max_bytes=int(settings["DOWNLOAD_MAXSIZE"]),
            retries=int(settings["RETRY_TIMES"]) if settings["RETRY_ENABLED"] else 0,
            retry_statuses=frozenset(settings["RETRY_HTTP_CODES"]),
            autothrottle=bool(settings["AUTOTHROTTLE_ENABLED"]),
            throttle_start_s=float(settings["AUTOTHROTTLE_START_DELAY"]),
            throttle_target=float(settings["AUTOTHROTTLE_TARGET_CONCURRENCY"]),
            throttle_max_s=float(settings.get("AUTOTHROTTLE_MAX_DELAY", 60.0)),
            min_delay_s=float(settings["DOWNLOAD_DELAY"]),
            obey_robots=bool(settings["ROBOTSTXT_OBEY"]),
            user_agent=str(settings["USER_AGENT"]),
            headers=tuple(dict(settings["DEFAULT_REQUEST_HEADERS"]).items()),
        )


def throttle_delay(current: float, latency: float, status: int, *, target_concurrency: float,
                   min_delay: float, max_delay: float) -> float:
    """AutoThrottle's rule (as in Scrapy): move the delay halfway towards latency/target
    concurrency, never below that target, and never lower it on a non-200 answer (error pages
    are fast and say nothing about the server's capacity)."""
    target = latency / target_concurrency
    new = max(target, (current + target) / 2.0)
    new = min(max(min_delay, new), max_delay)
    if status != 200 and new <= current:
        return current
    return new


@dataclass
class _HostSlot:
    gate: asyncio.Semaphore
    delay: float
    last_start: float = float("-inf")


class AsyncioEngine:
    def __init__(self, catalog: Catalog, writer: BundleWriter, *, politeness: Politeness,
                 seeds: list[Seed], routes: dict[str, str], allow_private: bool,
                 evidence: WarcLog | RecorderProcess, parser: ParsePool,
                 planned: dict[str, Probe] | None = None,
                 done: set[str] | None = None,
                 progress: Callable[[str, Any], None] | None = None):
        self.catalog = catalog
        self.writer = writer
        self.politeness = politeness
        self.seeds = seeds
        self.routes = routes
        self.guard = None if allow_private else AddressGuard()
        # WarcLog: evidence written here, observations through the bundle writer;
        # RecorderProcess: both handed to the recorder child, in one order.
        self.evidence = evidence
        self.parser = parser
        self.planned: dict[str, Probe] = dict(planned or {})
        self.done: set[str] = set(done or ())
        self.progress = progress
        self.seed_errors: list[dict[str, str]] = []
        self.outcomes: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        self._slots: dict[str, _HostSlot] = {}
        self._robots: dict[str, asyncio.Future[Protego | None]] = {}
        self._order = itertools.count()
        self._queue: asyncio.PriorityQueue[tuple[int, int, Seed | Probe]] | None = None
        self._gate: asyncio.Semaphore | None = None
        self._fetcher: Fetcher | None = None
        self._internal_errors: list[str] = []
        self._fatal: RecorderGone | None = None

    # -- the run ------------------------------------------------------------------------

    async def run(self) -> CrawlResult:
        p = self.politeness
        self._queue = asyncio.PriorityQueue()
        self._gate = asyncio.Semaphore(p.concurrency)
        # Resumed run: probes planned before the interruption that have no observation yet.
        for probe in self.planned.values():
            if probe.id not in self.done:
                self._queue.put_nowait((0, next(self._order), probe))
        for seed in self.seeds:
            self._queue.put_nowait((1, next(self._order), seed))
        await self.parser.start()
        async with Fetcher(user_agent=p.user_agent, headers=p.headers, timeout_s=p.timeout_s,
                           max_bytes=p.max_bytes, pool_size=p.concurrency,
                           guard=self.guard) as fetcher:
            self._fetcher = fetcher
            # More workers than download slots: a worker waiting on a slow host's semaphore
            # or a Retry-After must not idle a slot another host could use.
            workers = [asyncio.create_task(self._worker()) for _ in range(p.concurrency * 2)]
            ticker = asyncio.create_task(self._tick())
            try:
                await self._queue.join()
            finally:
                ticker.cancel()
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                await self.parser.stop()
        if self._fatal is not None:
            raise self._fatal
        if self._internal_errors:
            raise RuntimeError(
                f"{len(self._internal_errors)} probe(s) or seed(s) failed inside hulian "
                f"(first: {self._internal_errors[0]}); the bundle is intact: fix the cause and "
                "continue with --resume")
        return CrawlResult(planned=len(self.planned), observations=sum(self.outcomes.values()),
                           outcomes=self.outcomes, seed_errors=self.seed_errors,
                           stats=dict(self.stats))

    async def _worker(self) -> None:
        assert self._queue is not None
        while True:
            _, _, item = await self._queue.get()
            try:
                if isinstance(item, Probe):
                    await self._follow(item)
                else:
                    await self._seed(item)
            except RecorderGone as exc:
                self._stop(exc)
            except Exception as exc:  # a bug, not a measurement: stop cleanly, lose nothing
                what = item.id if isinstance(item, Probe) else item.url
                logger.exception("internal error on %s", what)
                self._internal_errors.append(f"{what}: {type(exc).__name__}: {exc}")
            finally:
                self._queue.task_done()

    def _stop(self, exc: RecorderGone) -> None:
        """Nothing more can be recorded: drop the queued work, so the crawl ends now."""
        assert self._queue is not None
        self._fatal = self._fatal or exc
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()

    async def _tick(self) -> None:
        """Hand the recorder its batch now and then, so a slow crawl's progress reaches the
        disk (and survives a crash) without waiting for a full batch."""
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            if isinstance(self.evidence, RecorderProcess):
                try:
                    self.evidence.flush()
                except RecorderGone as exc:
                    self._stop(exc)
                    return

    def _emit(self, kind: str, payload: Any = None) -> None:
        if self.progress is not None:
            self.progress(kind, payload)

    # -- seeds --------------------------------------------------------------------------

    async def _seed(self, seed: Seed) -> None:
        assert self._queue is not None
        try:
            response, _ = await self._exchange(wire_url(seed.url))
        except FetchFailed as failed:
            self.seed_errors.append({"url": seed.url, "error": failed.reason})
            logger.warning("seed %s failed: %s", seed.url, failed.reason)
            return
        if response.status >= 400:
            self.seed_errors.append({"url": seed.url, "error": f"http_{response.status}"})
            return
        try:
            plan = await self.parser.plan(response.body,
                                          response.headers.get("content-type"),
                                          response.url, seed.platform, seed.surface)
        except PageCrashed:
            self.seed_errors.append({"url": seed.url, "error": "parse_crash"})
            logger.warning("seed %s crashed the page parser; recorded, not parsed again",
                           seed.url)
            return
        if plan.parse_issue is not None:
            self.seed_errors.append(chains.seed_warning(seed.url, plan.parse_issue))
        for probe in plan.probes:
            if probe.id in self.planned:
                continue
            self.planned[probe.id] = probe
            self.writer.add_probe(probe)
            self._emit("probe", probe)
            if probe.id not in self.done:
                self._queue.put_nowait((0, next(self._order), probe))

    # -- one probe, hop by hop ----------------------------------------------------------

    async def _follow(self, probe: Probe) -> None:
        chain = chains.Chain(probe=probe, started_at=datetime.now(UTC))
        if probe.rendered_as == "anchor":  # text links are `stripped`, never clicked
            await self._follow_hops(chain, probe.link_url or probe.target_url)
        if chains.wants_control(chain):
            await self._control(chain)
        observation = chains.observation(chain, run_id=self.writer.run_id, method="crawl",
                                         finished_at=datetime.now(UTC))
        if isinstance(self.evidence, RecorderProcess):
            self.evidence.observation_line(observation.model_dump_json() + "\n")
        else:
            self.writer.add_observation(observation)
        self.outcomes[observation.outcome.value] += 1
        self._emit("observation", observation)

    async def _control(self, chain: chains.Chain) -> None:
        """The control fetch of the target, following the target's own redirects
        (chains.on_control_response decides each step)."""
        # Sent from the last page that answered, as Scrapy's Referer middleware does.
        last = chain.hops[-1] if chain.hops else None
        url = wire_url(chain.probe.target_url)
        referer = referer_for(last.url, url) if last and last.status else None
        while True:
            try:
                response, record_id = await self._exchange(url, referer)
            except FetchFailed:
                chains.on_control_failure(chain, url)
                return
            as_chain = chains.Response(
                url=response.url, status=response.status, headers=response.headers,
                body=response.body, elapsed_ms=response.elapsed_ms, warc_record_id=record_id)
            analysis = None
            if 200 <= response.status < 300 and chains.needs_analysis(
                    response.status, response.headers, response.body):
                try:
                    analysis = await self.parser.analyze(
                        response.body, response.headers.get("content-type", ""), response.url,
                        target=chain.probe.target_url, status=response.status, control=True)
                except PageCrashed:
                    analysis = chains.PageAnalysis()
            step = chains.on_control_response(chain, as_chain, self.catalog, analysis)
            if step.action != "follow" or not step.url:
                return
            referer, url = referer_for(response.url, step.url), wire_url(step.url)

    async def _follow_hops(self, chain: chains.Chain, url: str) -> None:
        via: chains.Via = "start"
        rate_limited = 0
        previous = chain.probe.seed_url  # the page the link was on
        while True:
            url = wire_url(url)  # hops are recorded as sent, as the Scrapy engine does
            try:
                response, record_id = await self._exchange(url, referer_for(previous, url))
            except FetchFailed as failed:
                chains.on_failure(chain, url, failed.reason, via)
                return
            if (response.status in chains.RATE_LIMIT_STATUSES
                    and rate_limited < chains.MAX_RATE_LIMIT_RETRIES):
                rate_limited += 1
                self.stats["rate_limit_retries"] += 1
                await asyncio.sleep(chains.retry_after_s(response.headers.get("retry-after")))
                continue
            analysis = chains.PageAnalysis()
            if chains.needs_analysis(response.status, response.headers, response.body):
                try:
                    analysis = await self.parser.analyze(
                        response.body, response.headers.get("content-type", ""), response.url,
                        target=chain.probe.target_url, status=response.status)
                except PageCrashed:
                    # The page is evidence (its WARC record is written); what it is cannot
                    # be told without the parser it kills.
                    chains.record(chain, chains.Response(
                        url=response.url, status=response.status, headers=response.headers,
                        body=response.body, elapsed_ms=response.elapsed_ms,
                        warc_record_id=record_id), via)
                    chain.failure = "parse_crash"
                    return
            step = chains.on_response(chain, chains.Response(
                url=response.url, status=response.status, headers=response.headers,
                body=response.body, elapsed_ms=response.elapsed_ms, warc_record_id=record_id,
            ), via, self.catalog, analysis)
            if step.action == "follow" and step.url:
                previous, url, via, rate_limited = response.url, step.url, step.via, 0
                continue
            if step.action == "fail":
                chain.failure = step.failure
            return

    # -- one exchange, politely ---------------------------------------------------------

    async def _exchange(self, url: str,
                        referer: str | None = None) -> tuple[Fetched, str | None]:
        """Guard, robots.txt, then the download with retries; every response is written to
        the WARC. `url` is already in its wire form (fetch.wire_url). Raises FetchFailed
        with the recorded reason."""
        host = host_of(url)
        if host is None:
            raise FetchFailed("bad_url")
        # Refused before robots.txt is asked for; the connections themselves are checked
        # again by the client (audit/measure/asyncio/http1.py), against the answer checked here.
        if self.guard is not None and await self.guard.refuses(host):
            raise FetchFailed(f"private_address:{host}")
        if self.politeness.obey_robots and not await self._robots_allow(url):
            raise FetchFailed("robots_disallowed")
        return await self._with_retries(url, host, referer)

    async def _with_retries(self, url: str, host: str,
                            referer: str | None) -> tuple[Fetched, str | None]:
        """Scrapy's RetryMiddleware: up to `retries` more attempts in all, for a download
        failure or a retry status alike (one counter for both)."""
        p = self.politeness
        for attempt in itertools.count():
            try:
                response, record_id = await self._download(url, host, referer)
            except FetchFailed as failed:
                if attempt >= p.retries or failed.reason.startswith(NOT_RETRIED):
                    self.stats[f"failure/{failed.reason.split(':')[0]}"] += 1
                    raise
                self.stats["retries"] += 1
                continue
            if response.status in p.retry_statuses and attempt < p.retries:
                self.stats["retries"] += 1
                continue
            return response, record_id
        raise AssertionError("unreachable")

    async def _download(self, url: str, host: str,
                        referer: str | None) -> tuple[Fetched, str | None]:
        """One attempt, politely: the host's concurrency and delay, then the global limit."""
        assert self._gate is not None and self._fetcher is not None
        p = self.politeness
        slot = self._slots.get(host)
        if slot is None:
            slot = self._slots[host] = _HostSlot(
                gate=asyncio.Semaphore(p.per_host),
                delay=p.throttle_start_s if p.autothrottle else p.min_delay_s)
        async with slot.gate:
            async with self._gate:
                # One request per `delay` on this host, the delay read afresh after every
                # wait (the throttle lowers it as responses come in), and the start stamped
                # only when the request really goes out.
                while slot.delay > 0:
                    wait = slot.last_start + slot.delay - time.monotonic()
                    if wait <= 0:
                        break
                    await asyncio.sleep(wait)
                slot.last_start = time.monotonic()
                self.stats["requests"] += 1
                response = await self._fetcher.fetch(url, proxy=self._route(host),
                                                     referer=referer)
            if p.autothrottle:
                slot.delay = throttle_delay(
                    slot.delay, response.latency_s, response.status,
                    target_concurrency=p.throttle_target, min_delay=p.min_delay_s,
                    max_delay=p.throttle_max_s)
        record_id = self._record(response)
        self.stats[f"status/{response.status}"] += 1
        self._emit("response")
        return response, record_id

    def _record(self, response: Fetched) -> str | None:
        try:
            return self.evidence.exchange(
                response.url, method="GET", request_headers=response.request_headers,
                request_body=b"", status=response.status, reason=response.reason,
                response_headers=response.raw_headers, payload=response.payload)
        except RecorderGone:
            raise
        except Exception:  # evidence trouble must not lose the measurement
            logger.exception("could not write WARC evidence for %s", response.url)
            return None

    def _route(self, host: str) -> str | None:
        for pattern, proxy in self.routes.items():
            if fnmatch.fnmatch(host, pattern):
                return proxy
        return None

    async def _robots_allow(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        pending = self._robots.get(origin)
        if pending is None:
            pending = self._robots[origin] = asyncio.get_running_loop().create_future()
            rules = None
            try:
                rules = await self._fetch_robots(origin)
            finally:  # whatever happens, the requests waiting on this origin go on
                if not pending.done():
                    pending.set_result(rules)
        # Shielded: a waiter cancelled (Ctrl-C) must not cancel the answer the others share.
        rules = await asyncio.shield(pending)
        return rules is None or bool(rules.can_fetch(url, self.politeness.user_agent))

    async def _fetch_robots(self, origin: str) -> Protego | None:
        """The origin's robots.txt, parsed whatever the status (as Scrapy does; an error
        page allows everything); None (everything allowed) when it cannot be fetched."""
        host = host_of(origin) or ""
        try:
            response, _ = await self._with_retries(f"{origin}/robots.txt", host, None)
        except FetchFailed:
            return None
        try:
            # RFC 9309: at least 500 KiB are parsed; what follows is not read.
            return Protego.parse(response.body[:MAX_ROBOTS_BYTES].decode("utf-8-sig",
                                                                           errors="ignore"))
        except Exception:  # a hostile robots.txt must not stop the audit
            logger.warning("unparseable robots.txt at %s; treated as allowing everything",
                           origin)
            return None
