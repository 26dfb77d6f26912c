"""The audit spider: fetch each source platform's seed pages, plan one probe per distinct
outbound link, follow every probe hop by hop (audit.measure.chain decides each step), fetch the
target
directly as a control where needed, and yield one Observation per probe.

Thin by design: judging lives in audit/ (chain, classify); this module only moves requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Request, Response
from twisted.python.failure import Failure

from audit.measure import chain as chains
from audit.measure import failures
from audit.measure.chain import Seed
from audit.model import Probe
from audit.policy.catalog import Catalog
from spiders.failures import bound_responses, failure_reason

logger = logging.getLogger(__name__)


def _headers(response: Response) -> dict[str, str]:
    return {k.decode("latin-1").lower(): b", ".join(v).decode("latin-1")
            for k, v in response.headers.items()}


class LinkAuditSpider(scrapy.Spider):
    name = "hulian"

    def __init__(self, *, seeds: list[Seed], catalog: Catalog, run_id: str,
                 planned: dict[str, Probe] | None = None, done: set[str] | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.seeds = seeds
        self.catalog = catalog
        self.run_id = run_id
        self.planned: dict[str, Probe] = dict(planned or {})
        self.done: set[str] = set(done or ())
        self.seed_errors: list[dict[str, str]] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        # Before any request: Twisted reads responses by the rules hulian's client does.
        bound_responses()
        spider: Self = super().from_crawler(crawler, *args, **kwargs)
        return spider

    @property
    def rendering(self) -> bool:
        return bool(self.settings.getbool("HULIAN_RENDER"))

    # -- requests -----------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Any]:
        for seed in self.seeds:
            # --render: seed pages through the browser, so links built by scripts are seen.
            yield Request(seed.url, callback=self.parse_seed, errback=self.seed_failed,
                          cb_kwargs={"seed": seed},
                          meta={"handle_httpstatus_all": True, "playwright": self.rendering})
        # Resumed run: probes planned before the interruption that have no observation yet.
        for probe in list(self.planned.values()):
            if probe.id not in self.done:
                for item in self._begin(probe):
                    yield item

    # A URL Scrapy cannot make a Request of (a port out of range ...) is the hop's `bad_url`,
    # or a failed control fetch, as in the asyncio engine: never an exception in a callback,
    # which would lose the probe.

    def _hop(self, chain: chains.Chain, url: str, via: chains.Via,
             retries: int = 0) -> Iterator[Any]:
        try:
            request = Request(
                url, callback=self.on_hop, errback=self.hop_failed, dont_filter=True,
                meta={"handle_httpstatus_all": True, "dont_redirect": True,
                      "dont_retry": False, "hulian_chain": chain, "hulian_via": via,
                      "hulian_retries": retries},
                priority=1,  # finish started chains before opening new seeds
            )
        except ValueError:
            chains.on_failure(chain, url, failures.BAD_URL, via)
            yield from self._finish(chain)
            return
        yield request

    def _control(self, chain: chains.Chain, url: str | None = None) -> Iterator[Any]:
        url = url or chain.probe.target_url
        try:
            request = Request(
                url, callback=self.on_control, errback=self.control_failed, dont_filter=True,
                priority=2, meta={"handle_httpstatus_all": True, "dont_redirect": True,
                                  "hulian_chain": chain})
        except ValueError:
            chains.on_control_failure(chain, url)
            yield from self._finish(chain)
            return
        yield request

    # -- seeds and planning -------------------------------------------------------------

    def parse_seed(self, response: Response, seed: Seed) -> Iterator[Any]:
        if response.status >= 400:
            self.seed_errors.append({"url": seed.url, "error": f"http_{response.status}"})
            return
        plan = chains.plan_probes(
            response.body, _headers(response).get("content-type"), response.url,
            source=seed.platform, surface=seed.surface, catalog=self.catalog)
        if plan.parse_issue is not None:
            self.seed_errors.append(chains.seed_warning(seed.url, plan.parse_issue))
        for probe in plan.probes:
            if probe.id in self.planned:
                continue
            self.planned[probe.id] = probe
            yield {"record": probe}
            if probe.id not in self.done:
                yield from self._begin(probe)

    def seed_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        self.seed_errors.append({"url": request.url, "error": failure_reason(failure)})
        logger.warning("seed %s failed: %s", request.url, failure_reason(failure))

    def _begin(self, probe: Probe) -> Iterator[Any]:
        chain = chains.Chain(probe=probe, started_at=datetime.now(UTC))
        if probe.rendered_as != "anchor":
            # Not clickable: the outcome is `stripped` whatever the target does.
            yield from self._finish(chain)
            return
        yield from self._hop(chain, probe.link_url or probe.target_url, "start")

    # -- following ----------------------------------------------------------------------

    async def on_hop(self, response: Response) -> AsyncIterator[Any]:
        chain: chains.Chain = response.meta["hulian_chain"]
        via: chains.Via = response.meta["hulian_via"]
        retries: int = response.meta.get("hulian_retries", 0)
        headers = _headers(response)
        if (response.status in chains.RATE_LIMIT_STATUSES
                and retries < chains.MAX_RATE_LIMIT_RETRIES):
            await asyncio.sleep(chains.retry_after_s(headers.get("retry-after")))
            for item in self._hop(chain, response.url, via, retries + 1):
                yield item
            return
        step = chains.on_response(chain, chains.Response(
            url=response.url, status=response.status, headers=headers, body=response.body,
            elapsed_ms=_elapsed_ms(response),
            warc_record_id=response.meta.get("hulian_warc_id"),
        ), via, self.catalog)
        if step.action == "follow" and step.url:
            for item in self._hop(chain, step.url, step.via):
                yield item
            return
        if step.action == "fail":
            chain.failure = step.failure
        if (self.rendering and chain.page is not None and chain.page.kind.value != "content"
                and not chain.screenshot):
            # Evidence a person can look at: the interstitial as the browser shows it.
            yield Request(response.url, callback=self.on_render, errback=self.render_failed,
                          dont_filter=True, priority=2,
                          meta={"playwright": True, "playwright_include_page": True,
                                "hulian_chain": chain})
            return
        for item in self._finish(chain):
            yield item

    async def on_render(self, response: Response) -> AsyncIterator[Any]:
        chain: chains.Chain = response.meta["hulian_chain"]
        page = response.meta.get("playwright_page")
        if page is not None:
            directory = Path(self.settings.get("HULIAN_SCREENSHOT_DIR"))
            directory.mkdir(parents=True, exist_ok=True)
            file = directory / f"{chain.probe.id}.png"
            try:
                await page.screenshot(path=str(file), full_page=True)
                chain.screenshot = f"screenshots/{file.name}"
                chain.evidence.append(f"screenshot:{chain.screenshot}")
            finally:
                await page.close()
        for item in self._finish(chain):
            yield item

    def render_failed(self, failure: Failure) -> Iterator[Any]:
        request = failure.request  # type: ignore[attr-defined]
        chain: chains.Chain = request.meta["hulian_chain"]
        logger.warning("screenshot of %s failed: %s", request.url, failure_reason(failure))
        chain.screenshot = "failed"
        yield from self._finish(chain)

    def hop_failed(self, failure: Failure) -> Iterator[Any]:
        request = failure.request  # type: ignore[attr-defined]
        chain: chains.Chain = request.meta["hulian_chain"]
        chains.on_failure(chain, request.url, failure_reason(failure), request.meta["hulian_via"])
        yield from self._finish(chain)

    def _finish(self, chain: chains.Chain) -> Iterator[Any]:
        if chains.wants_control(chain):
            yield from self._control(chain)
            return
        yield {"record": chains.observation(chain, run_id=self.run_id, method="crawl",
                                            finished_at=datetime.now(UTC))}

    def on_control(self, response: Response) -> Iterator[Any]:
        chain: chains.Chain = response.meta["hulian_chain"]
        step = chains.on_control_response(chain, chains.Response(
            url=response.url, status=response.status, headers=_headers(response),
            body=response.body, elapsed_ms=_elapsed_ms(response),
            warc_record_id=response.meta.get("hulian_warc_id")), self.catalog)
        if step.action == "follow" and step.url:
            yield from self._control(chain, step.url)
            return
        yield from self._finish(chain)

    def control_failed(self, failure: Failure) -> Iterator[Any]:
        request = failure.request  # type: ignore[attr-defined]
        chain: chains.Chain = request.meta["hulian_chain"]
        chains.on_control_failure(chain, request.url)
        yield from self._finish(chain)


def _elapsed_ms(response: Response) -> float | None:
    latency = response.meta.get("download_latency")
    return round(latency * 1000, 1) if isinstance(latency, float) else None
