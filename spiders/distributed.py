"""The distributed crawl's Scrapy side: a shared frontier in Redis (scrapy-redis scheduler and
dupefilter), leases that let the coordinator re-run the probes of a dead worker, and a
pipeline into the shared SQL store. The orchestration (config, bundle) is
spiders/coordinator.py;
the design and its caveats are docs/distributed.md.

Redis keys, all under `hulian:<run-id>:` (see RunKeys): `requests` (the scrapy-redis queue),
`dupefilter`, `leases` (probe id or `seed:<url>` -> worker id), `hb:<worker>` (a heartbeat
with a TTL), `begun` (probes whose chain was started once), `seeds` (seed url -> error or ''),
`warcs` (worker -> its WARC file), `info` (the run's config for workers), `errors`
(exception name -> count, of callbacks and items that raised anywhere), `done`, `aborted`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import redis
from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, ScrapyDeprecationWarning
from scrapy.utils.defer import deferred_from_coro
from scrapy_redis.scheduler import Scheduler  # type: ignore[import-untyped]
from twisted.internet import task

from audit.history.store import add_crawl_observation, add_crawl_probes, crawl_missing, open_engine
from audit.measure.chain import Seed
from audit.measure.driver import ProbeDriver, SeedDriver
from audit.measure.parsepool import default_processes
from audit.model import Observation, Probe
from spiders.audit import LinkAuditSpider
from spiders.runner import lost_to_errors, run_once

logger = logging.getLogger(__name__)
# scrapy-redis 0.9.1 still passes `spider=` to the stats collector on every enqueue and
# dequeue (deprecated in Scrapy 2.17): harmless, and a warning per request otherwise.
warnings.filterwarnings("ignore", message=".*'spider' argument.*",
                        category=ScrapyDeprecationWarning)

HEARTBEAT_S = 1.0  # how often a worker proves it is alive (and polls the shared queue)
MONITOR_STALL_ROUNDS = 3  # quiet monitor rounds before unleased missing probes are re-run
KEY_TTL_S = 3600  # an ended run's Redis keys linger this long (workers see it), then go


@dataclass(frozen=True)
class RunKeys:
    run_id: str

    def key(self, name: str) -> str:
        return f"hulian:{self.run_id}:{name}"

    @property
    def requests(self) -> str:
        return self.key("requests")

    @property
    def dupefilter(self) -> str:
        return self.key("dupefilter")

    @property
    def leases(self) -> str:
        return self.key("leases")

    @property
    def begun(self) -> str:
        return self.key("begun")

    @property
    def seeds(self) -> str:
        return self.key("seeds")

    @property
    def warcs(self) -> str:
        return self.key("warcs")

    @property
    def info(self) -> str:
        return self.key("info")

    @property
    def done(self) -> str:
        return self.key("done")

    @property
    def errors(self) -> str:  # internal errors of any process: the run stops, unsealed
        return self.key("errors")

    @property
    def aborted(self) -> str:  # the coordinator stopped before the frontier was drained
        return self.key("aborted")

    def heartbeat(self, worker: str) -> str:
        return self.key(f"hb:{worker}")


CURRENT_RUN = "hulian:current"  # the run a `hulian worker` without --run-id joins


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def lease_key(request: Request) -> str | None:
    """What a request works for: a probe (its chain) or a seed page."""
    driver = request.meta.get("hulian_driver")
    if isinstance(driver, ProbeDriver):
        return driver.probe.id
    seed = request.cb_kwargs.get("seed")
    return f"seed:{seed.url}" if isinstance(seed, Seed) else None


class LeasingScheduler(Scheduler):  # type: ignore[misc]  # scrapy-redis is untyped
    """scrapy-redis' scheduler, plus: whoever pops a request holds the lease of its probe
    (or seed) from then on, so a worker dying with requests in flight is noticed."""

    def next_request(self) -> Request | None:
        request: Request | None = super().next_request()
        if request is not None and isinstance(self.spider, DistributedSpider):
            self.spider.take_lease(request)
        return request


class DistributedSpider(LinkAuditSpider):
    """LinkAuditSpider on a shared frontier. Only the coordinator has seeds (the parent's
    start() yields them); every process, coordinator included, works the shared queue and
    stays open (DontCloseSpider) until the run's `done` key is set."""

    def __init__(self, *, redis_url: str, worker_id: str, coordinator: bool = False,
                 all_seeds: list[Seed] | None = None, store_url: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.keys = RunKeys(self.run_id)
        self.redis = redis.Redis.from_url(redis_url)
        self.worker_id = worker_id
        self.coordinator = coordinator
        self.all_seeds = {s.url: s for s in (all_seeds or [])}
        self.store_url = store_url
        self.finished = False
        self.requeued = 0
        self._stall = 0
        self._starting = False
        self._loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> DistributedSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        assert isinstance(spider, DistributedSpider)
        crawler.signals.connect(spider.on_idle, signal=signals.spider_idle)
        crawler.signals.connect(spider.on_opened, signal=signals.spider_opened)
        crawler.signals.connect(spider.on_closed, signal=signals.spider_closed)
        crawler.signals.connect(spider.on_error, signal=signals.spider_error)
        crawler.signals.connect(spider.on_error, signal=signals.item_error)
        return spider

    # -- lifecycle ----------------------------------------------------------------------

    def on_opened(self, **_: Any) -> None:
        self.beat()
        self._loop = task.LoopingCall(self.tick)
        self._loop.start(HEARTBEAT_S, now=False).addErrback(
            lambda f: logger.error("distributed loop stopped: %s", f.getTraceback()))

    def on_closed(self, **_: Any) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self.redis.delete(self.keys.heartbeat(self.worker_id))

    def on_error(self, failure: Any, **_: Any) -> None:
        """A callback or an item that raised lost its probe or seed, whose lease its live
        worker kept: the coordinator waited for it without end (a review), where a local run
        stops (spiders/runner.py). Every process is told to stop; the coordinator reports
        the errors (spiders/coordinator.py)."""
        name = getattr(failure.type, "__name__", None) or "Exception"
        self.redis.hincrby(self.keys.errors, name, 1)
        self.redis.set(self.keys.aborted, "1", ex=KEY_TTL_S)

    async def start(self) -> AsyncIterator[Any]:
        # While the seeds are still being started (each waits for its host's robots.txt
        # first, holding no lease), the queue may be empty: not a stall. Re-run then, every
        # seed of a host with a slow robots.txt was fetched twice, and the later answer
        # overwrote the seed's word (a review).
        self._starting = True
        try:
            async for item in super().start():
                yield item
        finally:
            self._starting = False

    def on_idle(self, **_: Any) -> None:
        if not self.finished:
            raise DontCloseSpider

    def beat(self) -> None:
        ttl = max(int(self.settings.getfloat("HULIAN_HEARTBEAT_TTL", 6.0)), 2)
        self.redis.set(self.keys.heartbeat(self.worker_id), "1", ex=ttl)

    def tick(self) -> None:
        self.beat()
        if self.coordinator and not self.finished:
            self.monitor()
        if self.redis.exists(self.keys.done, self.keys.aborted):
            if not self.finished:
                self.finished = True
                assert self.crawler.engine is not None
                deferred_from_coro(self.crawler.engine.close_spider_async(reason="finished"))
            return
        if self.redis.zcard(self.keys.requests):
            # Scrapy polls the scheduler on its own only every 5 s when idle (the engine's
            # heartbeat); requests pushed by other workers are picked up within a second.
            slot = getattr(self.crawler.engine, "_slot", None)
            if slot is not None:
                slot.nextcall.schedule()

    # -- leases -------------------------------------------------------------------------

    def take_lease(self, request: Request) -> None:
        key = lease_key(request)
        if key is not None:
            self.redis.hset(self.keys.leases, key, self.worker_id)

    async def _begin(self, probe: Probe) -> AsyncIterator[Any]:
        # Two seed pages on two workers may list the same link: the first to plan it runs it.
        if not self.redis.sadd(self.keys.begun, probe.id):
            return
        async for item in super()._begin(probe):
            yield item

    def _seed_over(self, seed: Seed, error: str | None,
                   warnings: list[dict[str, str]] | None = None) -> Iterator[Any]:
        yield from super()._seed_over(seed, error, warnings)
        # An item, not a side effect: the pipeline handles it after this seed's probes. The
        # run keeps one word a seed: its error, else its first warning (a seed of no links
        # was silent here, a review).
        first = next((warning["error"] for warning in warnings or []), "")
        yield {"seed_done": seed.url, "error": error or first}

    # -- the coordinator's watch ----------------------------------------------------------

    def monitor(self) -> None:
        """Re-run the work of dead workers; declare the run done when nothing is left."""
        leases = {_s(k): _s(v) for k, v in self.redis.hgetall(self.keys.leases).items()}
        alive = {w for w in set(leases.values()) if self.redis.exists(self.keys.heartbeat(w))}
        dead = [k for k, w in leases.items() if w not in alive]
        if dead:
            self.redis.hdel(self.keys.leases, *dead)
            logger.warning("re-running %d probes/seeds of dead workers", len(dead))
            self._rerun(set(dead))
        if len(dead) < len(leases) or self.redis.zcard(self.keys.requests) or self._starting:
            self._stall = 0
            return
        # Queue empty and no lease: either finished, or work fell between a pop and its
        # lease (or a plan and its push). Finished is checked at once; a re-run of the rest
        # waits for a few quiet rounds, so the normal hand-over races do not trigger it.
        if self._finished_everything():
            self.redis.set(self.keys.done, "1")
            return
        self._stall += 1
        if self._stall >= MONITOR_STALL_ROUNDS:
            self._stall = 0
            self._rerun(None)

    def _unfinished_seeds(self) -> list[Seed]:
        done = {_s(k) for k in self.redis.hkeys(self.keys.seeds)}
        return [s for url, s in self.all_seeds.items() if url not in done]

    def _finished_everything(self) -> bool:
        return not self._unfinished_seeds() and not crawl_missing(self.engine_store, self.run_id)

    @property
    def engine_store(self) -> Any:
        if not hasattr(self, "_engine_store"):
            self._engine_store = open_engine(self.store_url, migrate=False)
        return self._engine_store

    def _rerun(self, keys: set[str] | None) -> None:
        """Fresh requests for the given lease keys (None: for everything unfinished)."""
        for seed in self._unfinished_seeds():
            if keys is None or f"seed:{seed.url}" in keys:
                driver = SeedDriver(seed.url, policy=self.policy, robots=self.robots,
                                    user_agent=self.auditor_agent)
                self._inject(self._seed_next(driver, seed, driver.start()))
                self.requeued += 1
        for probe in crawl_missing(self.engine_store, self.run_id):
            if keys is None or probe.id in keys:
                self._inject(LinkAuditSpider._begin(self, probe))
                self.requeued += 1

    def _inject(self, outputs: AsyncIterator[Any]) -> None:
        """Carry out a re-run's first steps (robots.txt may have to be fetched first)."""

        async def inject() -> None:
            assert self.crawler.engine is not None
            async for output in outputs:
                if isinstance(output, Request):
                    self.crawler.engine.crawl(output)
                elif isinstance(output, dict):  # an observation or a seed's end: no request
                    StorePipeline.for_spider(self).process_item(output)

        deferred_from_coro(inject()).addErrback(
            lambda f: logger.error("re-run failed: %s", f.getTraceback()))


class StorePipeline:
    """Planned probes and observations into the shared store, each exactly once; an
    observation stored releases its probe's lease."""

    _instances: ClassVar[dict[int, StorePipeline]] = {}

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.engine: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        pipeline = cls(crawler)
        cls._instances[id(crawler)] = pipeline
        return pipeline

    @classmethod
    def for_spider(cls, spider: DistributedSpider) -> StorePipeline:
        return cls._instances[id(spider.crawler)]

    @property
    def spider(self) -> DistributedSpider:
        spider = self.crawler.spider
        assert isinstance(spider, DistributedSpider)
        return spider

    def process_item(self, item: Any) -> Any:
        spider = self.spider
        record = item.get("record") if isinstance(item, dict) else None
        if isinstance(record, Observation):
            if add_crawl_observation(spider.engine_store, spider.run_id, record,
                                     spider.worker_id) and self.crawler.stats is not None:
                self.crawler.stats.inc_value(f"hulian/outcome/{record.outcome.value}")
            spider.redis.hdel(spider.keys.leases, record.probe_id)
        elif isinstance(record, Probe):
            add_crawl_probes(spider.engine_store, spider.run_id, [record])
        elif isinstance(item, dict) and "seed_done" in item:
            # The first word stays: a seed run twice (a re-run racing its first fetch) is
            # the seed its first answer showed.
            spider.redis.hsetnx(spider.keys.seeds, item["seed_done"], item["error"])
            spider.redis.hdel(spider.keys.leases, f"seed:{item['seed_done']}")
        return item


def run_spider(settings: Any, *, parse_processes: int | None,
               **spider_kwargs: Any) -> dict[str, Any]:
    """Run DistributedSpider once in this process (blocking); its stats. `parse_processes`:
    the run's --parse-processes (None: the default)."""
    crawler = run_once(settings, DistributedSpider,
                       processes=default_processes(parse_processes), **spider_kwargs)
    stats = crawler.stats.get_stats() if crawler.stats else {}
    result: dict[str, Any] = {k: v for k, v in stats.items() if isinstance(v, int | float | str)}
    spider = crawler.spider
    if isinstance(spider, DistributedSpider):
        result["hulian/requeued"] = spider.requeued
        result["hulian/seed_errors"] = list(spider.seed_errors)
    return result


def internal_errors(client: Any, keys: RunKeys) -> str | None:
    """The message of a run stopped by internal errors in any of its processes (see
    DistributedSpider.on_error), or None."""
    counts = {_s(name): int(count) for name, count in client.hgetall(keys.errors).items()}
    if not counts:
        return None
    return (lost_to_errors(counts)
            + "; the traceback is in the log of the process that had it); the run stopped "
            "unsealed, the store keeps what was observed / 内部错误导致部分探测丢失，运行已停止，"
            "未封存")
