"""The asyncio crawl engine: an adapter that does the I/O the probe driver asks for
(audit/measure/driver.py decides every fetch, retry, robots.txt question and observation),
in one event loop, at a fraction of Scrapy's per-request cost (5-7 ms of CPU per request for
Scrapy's machinery on this machine kind, well under 1 ms here: docs/benchmarks.md). The
Scrapy engine stays for `--render`, `--distributed` and `--engine scrapy`.

One queue of work, probes before seeds and the sites in turn (audit/measure/asyncio/workqueue.py:
a platform's slow wrapper must not hold every other platform's links), worked by a fixed set of
tasks; per-host politeness in audit/measure/asyncio/politeness.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from audit.evidence.bundle import BundleWriter
from audit.evidence.warc import WarcLog
from audit.measure import chain as chains
from audit.measure.asyncio.fetch import Fetched, Fetcher, FetchFailed
from audit.measure.asyncio.politeness import HostSlots, Politeness
from audit.measure.asyncio.recorder import (
    RecorderGone,
    RecorderProcess,
    record_exchange,
    record_unreadable,
)
from audit.measure.asyncio.workqueue import PROBES, SEEDS, WorkQueue
from audit.measure.chain import Seed
from audit.measure.config import CrawlResult
from audit.measure.driver import (
    Command,
    Done,
    DriverPolicy,
    Fetch,
    FetchRobots,
    ProbeDriver,
    Screenshot,
    SeedDone,
    SeedDriver,
)
from audit.measure.guard import AddressGuard, route_for
from audit.measure.parsepool import PageCrashed, ParsePool
from audit.measure.plan import Planner
from audit.measure.robots import RobotsBook
from audit.measure.robots_fetch import RobotsFetcher
from audit.measure.search import Answer, SearchTarget
from audit.measure.search_fetch import SearchLog, expect_all, measure_host
from audit.model import Probe
from audit.policy.catalog import Catalog
from audit.web.urls import host_of, registrable_domain, wire_url

logger = logging.getLogger(__name__)


_now = partial(datetime.now, UTC)  # the time, as a value the drivers take


def _first_url(probe: Probe) -> str:
    return wire_url(probe.link_url or probe.target_url)


def _site_of(url: str) -> str:
    """The site (registrable domain, else host) an item's first fetch goes to: the queue's
    key, which takes sites in turn."""
    host = host_of(url) or ""
    return registrable_domain(host) or host


class AsyncioEngine:
    def __init__(self, catalog: Catalog, writer: BundleWriter, *, politeness: Politeness,
                 policy: DriverPolicy, seeds: list[Seed], routes: dict[str, str],
                 allow_private: bool, evidence: WarcLog | RecorderProcess, parser: ParsePool,
                 planner: Planner, progress: Callable[[str, Any], None] | None = None,
                 search: SearchLog | None = None):
        self.catalog = catalog
        self.writer = writer
        self.politeness = politeness
        self.policy = policy
        self.seeds = seeds
        self.routes = routes
        self.guard = None if allow_private else AddressGuard()
        self.evidence = evidence  # a RecorderProcess writes the observations too, in order
        self.parser = parser
        self.planner = planner
        self.progress = progress
        self.search = search or SearchLog(())
        self.seed_errors: list[dict[str, str]] = []
        self.outcomes: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        self.robots = RobotsBook()
        self._robots = RobotsFetcher(self.robots, policy, self._download_robots)
        self._slots = HostSlots(politeness)
        # A site may have half the tasks (and half the request places: HostSlots); up to a
        # hundred seed pages' worth of links queued, seeds may still be opened beside them
        # while those links' sites are all busy.
        self._queue: WorkQueue[Seed | Probe | SearchTarget] = WorkQueue(
            cap=politeness.concurrency, hold_seeds_at=100 * chains.MAX_PROBES_PER_SEED)
        self._fetcher: Fetcher | None = None
        self._internal_errors: list[str] = []
        self._fatal: RecorderGone | None = None

    async def run(self) -> CrawlResult:
        p = self.politeness
        for probe in self.planner.unfinished():
            self._queue.put(probe, key=_site_of(_first_url(probe)), rank=PROBES)
        # Each host's robots.txt before the seed pages: a handful of small fetches, which
        # the crawler's own robots.txt decisions also learn from (fetched once).
        expect_all(self.search.targets, self._robots, self.policy)
        first: list[Seed | SearchTarget] = [*self.search.targets, *self.seeds]
        for item in first:
            self._queue.put(item, rank=SEEDS, key=_site_of(
                item.origin if isinstance(item, SearchTarget) else item.url))
        await self.parser.start()
        async with Fetcher(user_agent=p.user_agent, headers=p.headers, timeout_s=p.timeout_s,
                           max_bytes=p.max_bytes, pool_size=p.concurrency,
                           guard=self.guard) as fetcher:
            self._fetcher = fetcher
            # More workers than download slots: a worker waiting on a slow host's semaphore
            # or a Retry-After must not idle a slot another host could use.
            workers = [asyncio.create_task(self._worker()) for _ in range(p.concurrency * 2)]
            # The recorder's batches handed over now and then, however slow the crawl.
            ticker = (asyncio.create_task(self.evidence.keep_flushing(self._stop))
                      if isinstance(self.evidence, RecorderProcess) else None)
            try:
                await self._queue.join()
            finally:
                if ticker is not None:
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
        return CrawlResult(planned=len(self.planner.planned),
                           observations=sum(self.outcomes.values()), outcomes=self.outcomes,
                           seed_errors=self.seed_errors, stats=dict(self.stats))

    async def _worker(self) -> None:
        while True:
            item, hold = await self._queue.get()
            try:
                if isinstance(item, Probe):
                    await self._follow(item)
                else:
                    await (self._search(item) if isinstance(item, SearchTarget)
                           else self._seed(item))
            except RecorderGone as exc:
                self._stop(exc)
            except Exception as exc:  # a bug, not a measurement: stop cleanly, lose nothing
                what = (item.id if isinstance(item, Probe)
                        else getattr(item, "host", None) or getattr(item, "url", ""))
                logger.exception("internal error on %s", what)
                self._internal_errors.append(f"{what}: {type(exc).__name__}: {exc}")
            finally:
                hold.release()
                self._queue.task_done()

    def _stop(self, exc: RecorderGone) -> None:
        """Nothing more can be recorded: drop the queued work, so the crawl ends now."""
        self._fatal = self._fatal or exc
        self._queue.clear()

    def _emit(self, kind: str, payload: Any = None) -> None:
        if self.progress is not None:
            self.progress(kind, payload)

    async def _seed(self, seed: Seed) -> None:
        driver = SeedDriver(seed.url, policy=self.policy, robots=self.robots,
                            user_agent=self.politeness.user_agent)
        command = driver.start()
        response: Fetched | None = None
        while not isinstance(command, SeedDone):
            if isinstance(command, FetchRobots):
                await self._robots.learn(command.origin)
                command = driver.resume()
                continue
            try:
                response, _ = await self._download(command)
            except FetchFailed as failed:
                command = driver.on_failure(failed.reason)
            else:
                command = driver.on_response(response.status, response.headers)
        if command.error is not None or response is None:
            self.seed_errors.append({"url": seed.url, "error": command.error or "unknown"})
            logger.warning("seed %s failed: %s", seed.url, command.error)
            return
        try:
            plan = await self.parser.plan(response.body, response.headers.get("content-type"),
                                          response.url, seed.platform, seed.surface)
        except PageCrashed as crashed:
            self.seed_errors.append({"url": seed.url, "error": crashed.failure})
            logger.warning("seed %s: %s; recorded, not parsed again", seed.url, crashed)
            return
        self.seed_errors.extend(chains.seed_warnings(seed.url, plan))
        if record := self.search.seed_page(
                response.url, response.status, response.headers, plan.metas,
                catalog=self.catalog, platform=seed.platform, run_id=self.writer.run_id,
                now=_now()):
            self.writer.add_search(record)
        for probe, follow in self.planner.add(plan.probes):
            self.writer.add_probe(probe)
            self._emit("probe", probe)
            if follow:
                self._queue.put(probe, key=_site_of(_first_url(probe)), rank=PROBES)

    # -- one probe: the driver's commands, carried out ----------------------------------

    async def _follow(self, probe: Probe) -> None:
        driver = ProbeDriver(probe, self.catalog, run_id=self.writer.run_id,
                             started_at=_now(), policy=self.policy, robots=self.robots,
                             user_agent=self.politeness.user_agent)
        command = driver.start()
        while not isinstance(command, Done):
            command = await self._carry_out(driver, command)
        observation = command.observation
        if isinstance(self.evidence, RecorderProcess):
            self.evidence.observation_line(observation.model_dump_json() + "\n")
        else:
            self.writer.add_observation(observation)
        self.outcomes[observation.outcome.value] += 1
        self._emit("observation", observation)

    async def _carry_out(self, driver: ProbeDriver, command: Command) -> Command:
        if isinstance(command, FetchRobots):
            await self._robots.learn(command.origin)
            return driver.resume(_now())
        if isinstance(command, Screenshot):
            # --render runs on the Scrapy engine (audit/measure/crawl.py): no browser here.
            return driver.on_screenshot(None, _now())
        assert isinstance(command, Fetch)
        if command.not_before is not None:
            self.stats["rate_limit_retries"] += 1
            await asyncio.sleep(max(0.0, (command.not_before - _now()).total_seconds()))
        try:
            fetched, record_id = await self._download(command)
        except FetchFailed as failed:
            return driver.on_failure(failed.reason, _now(), evidence=failed.record_id)
        response = chains.Response(
            url=fetched.url, status=fetched.status, headers=fetched.headers, body=fetched.body,
            elapsed_ms=fetched.elapsed_ms, warc_record_id=record_id, cut_off=fetched.cut_off)
        wanted = driver.analysis_for(fetched.status, fetched.headers, fetched.body)
        analysis = None
        if wanted is not None:
            try:
                analysis = await self.parser.analyze(
                    fetched.body, fetched.headers.get("content-type", ""), fetched.url,
                    target=wanted.target, status=wanted.status, control=wanted.control,
                    refresh=wanted.refresh, csp=wanted.csp, reached=wanted.reached)
            except PageCrashed as crashed:
                return driver.on_parse_crash(response, _now(), crashed.failure)
        return driver.on_response(response, analysis, _now())

    async def _search(self, target: SearchTarget) -> None:
        """A host's robots.txt and sitemaps, as the search driver says (audit/measure/search.py)."""
        record = await measure_host(target, policy=self.policy, run_id=self.writer.run_id,
                                    download=self._answer, robots=self._robots)
        self.writer.add_search(record)
        self._emit("search", record)

    async def _answer(self, fetch: Fetch) -> Answer:
        """One attempt, as the search and robots.txt drivers take it."""
        try:
            response, record_id = await self._download(fetch)
        except FetchFailed as failed:
            return Answer(fetch.url, failure=failed.reason)
        return Answer(response.url, response.status, response.headers, response.body,
                      record_id, truncated=response.truncated)

    async def _download_robots(self, fetch: Fetch) -> tuple[int, bytes] | str:
        answer = await self._answer(fetch)
        return answer.failure or (answer.status or 0, answer.body)

    async def _download(self, fetch: Fetch) -> tuple[Fetched, str | None]:
        """One attempt, in the host's turn; every response is written to the WARC. Raises
        FetchFailed with the failure word."""
        assert self._fetcher is not None
        host = host_of(fetch.url)
        try:
            if host is None:
                raise FetchFailed("bad_url")
            # Refused before waiting for a slot (the connection is checked again by the
            # client, against the address checked here).
            if self.guard is not None and await self.guard.refuses(host):
                raise FetchFailed(f"private_address:{host}")
            async with self._slots.turn(host):
                self.stats["requests"] += 1
                response = await self._fetcher.fetch(
                    fetch.url, proxy=route_for(self.routes, host), referer=fetch.referer,
                    timeout_s=self.policy.timeout_for(fetch.purpose),
                    keep_start=fetch.keep_start)
        except FetchFailed as failed:
            self.stats[f"failure/{failed.reason.split(':')[0]}"] += 1
            if failed.received is not None:
                received, cut = failed.received
                failed.record_id = record_unreadable(self.evidence, fetch.url, received, cut,
                                                     failed.reason)
            raise
        self._slots.answered(host, response.latency_s, response.status)
        record_id = record_exchange(self.evidence, response)
        self.stats[f"status/{response.status}"] += 1
        self._emit("response")
        return response, record_id
