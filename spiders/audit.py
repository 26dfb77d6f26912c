"""The audit spider: the Scrapy engine's adapter of the probe driver. It fetches each source
platform's seed pages, plans their probes (audit.measure.plan.Planner) and carries out what
each probe's driver (audit/measure/driver.py) asks for: fetches, robots.txt, screenshots,
until the observation. It decides nothing itself.

Every request the driver asks for is sent as asked: no redirects, no Scrapy retries and no
robots.txt middleware (the driver retries and asks for robots.txt, for both engines alike);
robots.txt itself is fetched past the scheduler (engine.download_async, as Scrapy's own
robots.txt middleware does), so that all waiting on an origin resume in this process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Self

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.http import Request, Response
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from audit.measure import chain as chains
from audit.measure import failures
from audit.measure.chain import Seed
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
from audit.measure.parsepool import PageCrashed, ParsePool
from audit.measure.plan import Planner
from audit.measure.robots import RobotsBook
from audit.measure.robots_fetch import RobotsFetcher
from audit.measure.search_fetch import SearchLog
from audit.model import Probe
from audit.policy.catalog import Catalog
from spiders.failures import bound_responses, failure_reason, for_exception
from spiders.middlewares import KEEP_START
from spiders.search import SearchAdapter
from spiders.values import SCREENSHOT_TAKEN, SCREENSHOT_TO, SERVED_BODY, now, response_headers

logger = logging.getLogger(__name__)

# Every request as the driver asked for it.
AS_ASKED = {"handle_httpstatus_all": True, "dont_redirect": True, "dont_retry": True,
            "dont_obey_robotstxt": True}
# Started chains first, before new seed pages are opened (which bounds memory).
PRIORITY = {"seed": 0, "hop": 1, "control": 2, "robots": 3, "sitemap": 0}




def _navigated(response: Response) -> str:
    """The URL the hop navigated to, its fragment included: Scrapy's download handlers drop
    it from the response's URL, and a hash route the wrapper kept or lost (`#/item/1`,
    `#/`) is what the user sees (classify.through_target), as the asyncio engine records it."""
    requested = response.request.url if response.request is not None else response.url
    return requested if requested.partition("#")[0] == response.url else response.url


def _elapsed_ms(response: Response) -> float | None:
    latency = response.meta.get("download_latency")
    return round(latency * 1000, 1) if isinstance(latency, float) else None


class LinkAuditSpider(SearchAdapter, scrapy.Spider):
    name = "hulian"
    policy: DriverPolicy
    auditor_agent: str  # not `user_agent`, which Scrapy reads (deprecated) from a spider
    _robots: RobotsFetcher

    def __init__(self, *, seeds: list[Seed], catalog: Catalog, run_id: str,
                 planned: dict[str, Probe] | None = None, done: set[str] | None = None,
                 search: SearchLog | None = None, parser: ParsePool | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.search = search or SearchLog(())
        # Pages are parsed where the asyncio engine parses them: in worker processes forked
        # before the crawl (spiders/runner.py), each page with a time budget, a crash of the
        # parser recorded as the page's; without workers, in this process.
        self.parser = parser or ParsePool(catalog, 0)
        self.seeds = seeds
        self.catalog = catalog
        self.run_id = run_id
        self.planner = Planner(planned, done)
        self.seed_errors: list[dict[str, str]] = []
        self.robots = RobotsBook()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        # Before any request: Twisted reads responses by the rules hulian's client does.
        bound_responses()
        spider: Self = super().from_crawler(crawler, *args, **kwargs)
        spider.policy = DriverPolicy.from_settings(crawler.settings.copy_to_dict())
        spider.auditor_agent = str(crawler.settings.get("USER_AGENT"))
        spider._robots = RobotsFetcher(spider.robots, spider.policy, spider._download_robots)
        crawler.signals.connect(spider._stop_parser, signal=signals.spider_closed)
        return spider

    def _stop_parser(self) -> Deferred[None]:
        return deferred_from_coro(self.parser.stop())

    @property
    def rendering(self) -> bool:
        return bool(self.settings.getbool("HULIAN_RENDER"))

    async def start(self) -> AsyncIterator[Any]:
        await self.parser.start()
        # Each host's robots.txt and sitemaps, measured beside the seeds; the crawler's own
        # robots.txt decisions learn from the same fetch (audit/measure/robots_fetch.py).
        for item in self._start_search():
            yield item
        # Taken before the seeds are yielded: Scrapy consumes start() alongside the
        # requests it yields, so the seeds' own probes would be planned (and begun) by the
        # time the loop below ran, and begun a second time here.
        unfinished = self.planner.unfinished()
        for seed in self.seeds:
            driver = SeedDriver(seed.url, policy=self.policy, robots=self.robots,
                                user_agent=self.auditor_agent)
            async for item in self._seed_next(driver, seed, driver.start()):
                yield item
        # Resumed run: probes planned before the interruption that have no observation yet.
        for probe in unfinished:
            async for item in self._begin(probe):
                yield item

    def _request(self, fetch: Fetch, callback: Callable[..., Any] | None,
                 errback: Callable[..., Any] | None, **meta: Any) -> Request | None:
        """None for a URL Scrapy cannot make a Request of (a port out of range ...): the
        fetch's `bad_url`, never an exception in a callback, which would lose the probe."""
        try:
            return Request(fetch.url, callback=callback, errback=errback, dont_filter=True,
                           priority=PRIORITY[fetch.purpose],
                           meta={**AS_ASKED, "download_timeout":
                                 self.policy.timeout_for(fetch.purpose),
                                 **({} if fetch.keep_start is None
                                    else {KEEP_START: fetch.keep_start}), **meta},
                           headers={"Referer": fetch.referer} if fetch.referer else None)
        except ValueError:
            return None

    # -- seeds and planning -------------------------------------------------------------

    async def _seed_next(self, driver: SeedDriver, seed: Seed,
                         command: Fetch | FetchRobots | SeedDone) -> AsyncIterator[Any]:
        while True:
            if isinstance(command, SeedDone):
                for item in self._seed_over(seed, command.error):
                    yield item
                return
            if isinstance(command, FetchRobots):
                await self._robots.learn(command.origin)
                command = driver.resume()
                continue
            # --render: seed pages through the browser, so links built by scripts are seen.
            request = self._request(command, self.parse_seed, self.seed_failed,
                                    hulian_seed=driver, playwright=self.rendering,
                                    **({SERVED_BODY: b""} if self.rendering else {}))
            if request is None:
                command = driver.on_failure(failures.BAD_URL)
                continue
            request.cb_kwargs["seed"] = seed
            yield request
            return

    async def parse_seed(self, response: Response, seed: Seed) -> AsyncIterator[Any]:
        driver: SeedDriver = response.meta["hulian_seed"].bind(self.robots)
        command = driver.on_response(response.status, response_headers(response))
        if not isinstance(command, SeedDone) or command.error is not None:
            async for item in self._seed_next(driver, seed, command):
                yield item
            return
        try:
            plan = await self.parser.plan(
                response.body, response_headers(response).get("content-type"), response.url,
                seed.platform, seed.surface)
            if served := response.meta.get(SERVED_BODY):
                plan = chains.with_served_taps(plan, await self.parser.plan(
                    served, response_headers(response).get("content-type"), response.url,
                    seed.platform, seed.surface))
        except PageCrashed as crashed:
            logger.warning("seed %s: %s; recorded, not parsed again", seed.url, crashed)
            for item in self._seed_over(seed, crashed.failure):
                yield item
            return
        warnings = chains.seed_warnings(seed.url, plan)
        if record := self.search.seed_page(
                response.url, response.status, response_headers(response), plan.metas,
                catalog=self.catalog, platform=seed.platform, run_id=self.run_id, now=now()):
            yield {"record": record}
        for probe, follow in self.planner.add(plan.probes):
            yield {"record": probe}
            if follow:
                async for item in self._begin(probe):
                    yield item
        for item in self._seed_over(seed, None, warnings):
            yield item

    async def seed_failed(self, failure: Failure) -> AsyncIterator[Any]:
        request = failure.request  # type: ignore[attr-defined]
        driver: SeedDriver = request.meta["hulian_seed"].bind(self.robots)
        command = driver.on_failure(failure_reason(failure))
        async for item in self._seed_next(driver, request.cb_kwargs["seed"], command):
            yield item

    def _seed_over(self, seed: Seed, error: str | None,
                   warnings: list[dict[str, str]] | None = None) -> Iterator[Any]:
        """A seed's work is done (`error`: why it gave no page; `warnings`: what of its page
        is not measured, chain.seed_warnings); the distributed spider reports them."""
        if error is not None:
            self.seed_errors.append({"url": seed.url, "error": error})
            logger.warning("seed %s failed: %s", seed.url, error)
        self.seed_errors.extend(warnings or [])
        yield from ()

    # -- probes: the driver's commands, carried out --------------------------------------

    async def _begin(self, probe: Probe) -> AsyncIterator[Any]:
        driver = ProbeDriver(probe, self.catalog, run_id=self.run_id, started_at=now(),
                             policy=self.policy, robots=self.robots,
                             user_agent=self.auditor_agent)
        async for item in self._next(driver, driver.start()):
            yield item

    async def _next(self, driver: ProbeDriver, command: Command) -> AsyncIterator[Any]:
        while True:
            if isinstance(command, Done):
                yield {"record": command.observation}
                return
            if isinstance(command, FetchRobots):
                await self._robots.learn(command.origin)
                command = driver.resume(now())
                continue
            if isinstance(command, Screenshot):
                # Evidence a person can look at: the interstitial as the browser shows it.
                directory = Path(self.settings.get("HULIAN_SCREENSHOT_DIR"))
                directory.mkdir(parents=True, exist_ok=True)
                yield Request(command.url, callback=self.on_render, errback=self.render_failed,
                              dont_filter=True, priority=PRIORITY["control"],
                              meta={"playwright": True, "hulian_driver": driver,
                                    SCREENSHOT_TO: str(directory / f"{driver.probe.id}.png")})
                return
            if command.not_before is not None:  # a Retry-After
                await asyncio.sleep(max(0.0, (command.not_before - now()).total_seconds()))
            request = self._request(command, self.on_fetch, self.fetch_failed,
                                    hulian_driver=driver)
            if request is None:
                command = driver.on_failure(failures.BAD_URL, now())
                continue
            yield request
            return

    async def on_fetch(self, response: Response) -> AsyncIterator[Any]:
        driver: ProbeDriver = response.meta["hulian_driver"].bind(self.catalog, self.robots)
        headers = response_headers(response)
        answer = chains.Response(
            url=_navigated(response), status=response.status, headers=headers,
            body=response.body, elapsed_ms=_elapsed_ms(response),
            warc_record_id=response.meta.get("hulian_warc_id"))
        wanted = driver.analysis_for(response.status, headers, response.body)
        try:
            analysis = None if wanted is None else await self.parser.analyze(
                response.body, headers.get("content-type", ""), response.url,
                target=wanted.target, status=wanted.status, control=wanted.control,
                refresh=wanted.refresh, csp=wanted.csp, reached=wanted.reached)
        except PageCrashed as crashed:  # in a worker: a crash, or past its time budget
            command = driver.on_parse_crash(answer, now(), crashed.failure)
        except (RecursionError, MemoryError):  # parsed in this process, without a worker
            logger.exception("the page at %s crashed the parser", response.url)
            command = driver.on_parse_crash(answer, now())
        else:
            command = driver.on_response(answer, analysis, now())
        async for item in self._next(driver, command):
            yield item

    async def fetch_failed(self, failure: Failure) -> AsyncIterator[Any]:
        request = failure.request  # type: ignore[attr-defined]
        driver: ProbeDriver = request.meta["hulian_driver"].bind(self.catalog, self.robots)
        command = driver.on_failure(failure_reason(failure), now(),
                                    evidence=request.meta.get("hulian_unreadable_warc_id"))
        async for item in self._next(driver, command):
            yield item

    async def on_render(self, response: Response) -> AsyncIterator[Any]:
        driver: ProbeDriver = response.meta["hulian_driver"].bind(self.catalog, self.robots)
        # A page Chromium could not picture (3,000,000 px tall, an adversarial review) is
        # recorded without a picture, as a failed render is, not lost.
        path = (f"screenshots/{Path(response.meta[SCREENSHOT_TO]).name}"
                if response.meta.get(SCREENSHOT_TAKEN) else None)
        async for item in self._next(driver, driver.on_screenshot(path, now())):
            yield item

    async def render_failed(self, failure: Failure) -> AsyncIterator[Any]:
        request = failure.request  # type: ignore[attr-defined]
        driver: ProbeDriver = request.meta["hulian_driver"].bind(self.catalog, self.robots)
        logger.warning("screenshot of %s failed: %s", request.url, failure_reason(failure))
        async for item in self._next(driver, driver.on_screenshot(None, now())):
            yield item

    async def _download_robots(self, fetch: Fetch) -> tuple[int, bytes] | str:
        """robots.txt downloaded past the scheduler, as Scrapy's robots.txt middleware does."""
        request = self._request(fetch, None, None)
        if request is None:
            return failures.BAD_URL
        assert self.crawler.engine is not None
        try:
            response = await self.crawler.engine.download_async(request)
        except Exception as exc:  # the transport's failure, in its word
            return for_exception(exc)
        return response.status, response.body
