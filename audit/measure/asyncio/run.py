"""Running the asyncio engine: its page-parsing workers, its evidence recorder and its event
loop around audit.measure.asyncio.engine."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from audit.evidence.bundle import OBSERVATIONS, BundleWriter
from audit.evidence.warc import WarcLog
from audit.measure.asyncio.engine import AsyncioEngine
from audit.measure.asyncio.politeness import Politeness
from audit.measure.asyncio.recorder import RecorderProcess
from audit.measure.config import CrawlConfig, CrawlResult, effective_settings
from audit.measure.driver import DriverPolicy
from audit.measure.parsepool import ParsePool, default_processes
from audit.measure.plan import Planner, search_targets, searched, seeds_for
from audit.measure.search_fetch import SearchLog
from audit.model import Probe
from audit.policy.catalog import Catalog


def crawl_with_asyncio(catalog: Catalog, config: CrawlConfig, writer: BundleWriter, *,
                        planned: dict[str, Probe] | None, done: set[str] | None,
                        progress: Callable[[str, Any], None] | None) -> CrawlResult:

    seeds = seeds_for(catalog, config)  # unknown sources fail here, before any fork
    processes = default_processes(config.parse_processes)
    parser = ParsePool(catalog, processes)
    warc_path = writer.path / "evidence" / "crawl.warc.gz"
    # With a core to spare, evidence and observations are written beside the crawl (see
    # audit/measure/asyncio/recorder.py); on a single core that would only add hand-over costs.
    evidence: WarcLog | RecorderProcess = (
        RecorderProcess(warc_path, writer.path / OBSERVATIONS) if processes > 0
        else WarcLog(warc_path))
    settings = effective_settings(config)
    engine = AsyncioEngine(
        catalog, writer, politeness=Politeness.from_settings(settings),
        policy=DriverPolicy.from_settings(settings), seeds=seeds, routes=config.routes,
        allow_private=config.allow_private, evidence=evidence, parser=parser,
        planner=Planner(planned, done), progress=progress,
        search=SearchLog(search_targets(catalog, config), searched(writer.path)))
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            result = runner.run(engine.run())
    finally:
        evidence.close()
        parser.close()
    return result


def measure_search(catalog: Catalog, config: CrawlConfig, writer: BundleWriter, *,
                   progress: Callable[[str, Any], None] | None = None) -> CrawlResult:
    """The search barriers alone: every host's robots.txt and sitemaps, no seeds and no
    probes, with this engine's decisions (audit/measure/search.py) and its evidence in
    evidence/search.warc.gz. The distributed crawl's coordinator calls it once the shared
    frontier is drained: its workers measure links only, and one process measuring a few
    hundred robots.txt files needs no frontier. Seed pages' indexing directives are not
    measured this way (no seed page is fetched)."""
    settings = effective_settings(config)
    evidence = WarcLog(writer.path / "evidence" / "search.warc.gz")
    parser = ParsePool(catalog, 0)  # no page is parsed: no processes
    engine = AsyncioEngine(
        catalog, writer, politeness=Politeness.from_settings(settings),
        policy=DriverPolicy.from_settings(settings), seeds=[], routes=config.routes,
        allow_private=config.allow_private, evidence=evidence, parser=parser,
        planner=Planner({}, set()), progress=progress,
        search=SearchLog(search_targets(catalog, config), searched(writer.path)))
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(engine.run())
    finally:
        evidence.close()
        parser.close()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed: its transports and callbacks are C (~5 % more requests
    per second in bench/crawl.py; docs/benchmarks.md); otherwise (or with
    HULIAN_EVENT_LOOP=asyncio, to compare) the standard loop."""
    if os.environ.get("HULIAN_EVENT_LOOP", "uvloop") == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
