"""What a crawl is (CrawlConfig), what it starts from (seeds, target lists, a resumed
bundle) and which engine runs it: the asyncio engine (audit/measure/asyncio/engine.py) by default,
Scrapy
(audit/measure/scrapy/runner.py) for --render, --distributed and --engine scrapy.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.evidence.bundle import Bundle, BundleWriter
from audit.measure.chain import Seed
from audit.model import Probe, SurfaceKind
from audit.policy.catalog import Catalog
from spiders import settings as spider_settings

logger = logging.getLogger(__name__)


@dataclass
class CrawlConfig:
    """Everything that shapes a crawl; it is recorded in the run manifest."""

    sources: list[str] = field(default_factory=list)  # platform ids; empty = all with seeds
    extra_seeds: list[tuple[str, SurfaceKind, str]] = field(default_factory=list)
    routes: dict[str, str] = field(default_factory=dict)  # host glob -> proxy URL
    allow_private: bool = False
    robots: str = "obey"  # obey | ignore
    lab: bool = False
    concurrency: int | None = None
    per_host: int | None = None
    timeout: float | None = None
    render: bool = False  # seed pages and interstitials through headless Chromium
    scenario: str | None = None  # the lab scenario file, for --lab runs
    targets: str | None = None  # a target list tested through the sources' wrappers
    surface: str | None = None  # the surface target-list probes are filed under
    engine: str = "auto"  # auto | asyncio | scrapy; see resolved_engine()
    parse_processes: int | None = None  # asyncio engine: page-parsing workers (None: cores-1)
    # The interface language asked for (Accept-Language): zh-Hans | zh-Hant | en.
    ui_language: str = spider_settings.DEFAULT_UI_LANGUAGE

    def resolved_engine(self) -> str:
        """`auto` is the asyncio engine, except where only Scrapy can do the job: --render
        drives Chromium through scrapy-playwright."""
        if self.engine != "auto":
            return self.engine
        return "scrapy" if self.render else "asyncio"

    def manifest_config(self) -> dict[str, object]:
        # The lab's proxy route is not recorded: its port changes every time.
        routes = {k: v for k, v in self.routes.items() if not (self.lab and k == "*.lab")}
        return {"sources": self.sources, "robots": self.robots,
                "allow_private": self.allow_private, "routes": routes, "lab": self.lab,
                "scenario": self.scenario, "concurrency": self.concurrency,
                "per_host": self.per_host, "timeout": self.timeout,
                "targets": self.targets, "surface": self.surface, "render": self.render,
                "engine": self.resolved_engine(), "parse_processes": self.parse_processes,
                "ui_language": self.ui_language,
                "extra_seeds": [[p, s.value, u] for p, s, u in self.extra_seeds]}

    @classmethod
    def from_manifest(cls, recorded: dict[str, Any]) -> CrawlConfig:
        return cls(
            sources=list(recorded.get("sources") or []),
            extra_seeds=[(p, SurfaceKind(s), u) for p, s, u in recorded.get("extra_seeds") or []],
            routes=dict(recorded.get("routes") or {}),
            allow_private=bool(recorded.get("allow_private")),
            robots=str(recorded.get("robots") or "obey"), lab=bool(recorded.get("lab")),
            concurrency=recorded.get("concurrency"), per_host=recorded.get("per_host"),
            timeout=recorded.get("timeout"), scenario=recorded.get("scenario"),
            targets=recorded.get("targets"), surface=recorded.get("surface"),
            render=bool(recorded.get("render")),
            # Runs recorded before the asyncio engine existed were crawled by Scrapy.
            engine=str(recorded.get("engine") or "scrapy"),
            parse_processes=recorded.get("parse_processes"),
            # Runs recorded before the setting existed asked for English (Scrapy's default).
            ui_language=str(recorded.get("ui_language") or "en"),
        )


@dataclass
class CrawlResult:
    planned: int
    observations: int
    outcomes: Counter[str]
    seed_errors: list[dict[str, str]]
    stats: dict[str, Any]


def seeds_for(catalog: Catalog, config: CrawlConfig) -> list[Seed]:
    chosen = config.sources or sorted(catalog.platforms)
    seeds = []
    # A target-list run tests the listed targets; the catalog's seed pages are not crawled.
    for platform_id in [] if config.targets else chosen:
        platform = catalog.platforms.get(platform_id)
        if platform is None:
            raise ValueError(f"unknown platform {platform_id!r}")
        for surface in platform.surfaces:
            if surface.method != "crawl" and not config.lab:
                continue
            seeds += [Seed(platform.id, surface.kind, url) for url in surface.seeds]
    seeds += [Seed(p, s, u) for p, s, u in config.extra_seeds]
    return seeds


def target_probes(catalog: Catalog, config: CrawlConfig) -> list[Probe]:
    """Probes for a target list: each target through each source's link wrapper."""
    from audit.measure.targets import load_targets, plan_probes

    if not config.targets:
        return []
    if not config.sources:
        raise ValueError("a target list needs --source: whose link handling to test")
    targets = load_targets(Path(config.targets))
    attributed = {}
    for t in targets:
        platform = catalog.platform_for_url(t.url)
        attributed[t.url] = platform.id if platform else None
    probes = []
    for source in config.sources:
        platform = catalog.platforms.get(source)
        if platform is None:
            raise ValueError(f"unknown platform {source!r}")
        surface = SurfaceKind(config.surface) if config.surface else (
            platform.surfaces[0].kind if platform.surfaces else SurfaceKind.POST)
        probes += plan_probes(targets, platform, surface, attributed)
    return probes


def resume_state(path: Path) -> tuple[dict[str, Probe], set[str]]:
    """Probes planned and probes observed in an interrupted run."""
    bundle = Bundle(path)
    planned = {p.id: p for p in bundle.probes()}
    done = {o.probe_id for o in bundle.observations()}
    return planned, done


def effective_settings(config: CrawlConfig) -> dict[str, Any]:
    """The crawl settings both engines read: hulian's defaults, the lab's, then the command
    line's (spiders.settings has the values and why)."""
    settings = dict(spider_settings.BASE)
    if config.lab:
        settings.update(spider_settings.LAB)
    settings["ROBOTSTXT_OBEY"] = config.robots == "obey"
    if config.concurrency:
        settings["CONCURRENT_REQUESTS"] = config.concurrency
    if config.per_host:
        settings["CONCURRENT_REQUESTS_PER_DOMAIN"] = config.per_host
    if config.timeout:
        settings["DOWNLOAD_TIMEOUT"] = config.timeout
    settings["DEFAULT_REQUEST_HEADERS"] = spider_settings.request_headers(config.ui_language)
    return settings


def crawl(catalog: Catalog, config: CrawlConfig, writer: BundleWriter, *,
          planned: dict[str, Probe] | None = None, done: set[str] | None = None,
          progress: Callable[[str, Any], None] | None = None) -> CrawlResult:
    """Run one crawl into `writer` (blocking), with the engine the config asks for."""
    engine = config.resolved_engine()
    if engine == "scrapy":
        from audit.measure.scrapy.runner import crawl_with_scrapy

        return crawl_with_scrapy(catalog, config, writer, planned=planned, done=done,
                                 progress=progress)
    if engine != "asyncio":
        raise ValueError(f"unknown crawl engine {engine!r} (asyncio, scrapy or auto)")
    if config.render:
        raise ValueError("--render needs the Scrapy engine (scrapy-playwright): "
                         "use --engine scrapy or auto")
    return _crawl_with_asyncio(catalog, config, writer, planned=planned, done=done,
                               progress=progress)


def _crawl_with_asyncio(catalog: Catalog, config: CrawlConfig, writer: BundleWriter, *,
                        planned: dict[str, Probe] | None, done: set[str] | None,
                        progress: Callable[[str, Any], None] | None) -> CrawlResult:

    from audit.evidence.bundle import OBSERVATIONS
    from audit.evidence.warc import WarcLog
    from audit.measure.asyncio.engine import AsyncioEngine, Politeness
    from audit.measure.asyncio.parsepool import ParsePool, default_processes
    from audit.measure.asyncio.recorder import RecorderProcess

    seeds = seeds_for(catalog, config)  # unknown sources fail here, before any fork
    processes = (default_processes() if config.parse_processes is None
                 else config.parse_processes)
    parser = ParsePool(catalog, processes)
    warc_path = writer.path / "evidence" / "crawl.warc.gz"
    # With a core to spare, evidence and observations are written beside the crawl (see
    # audit/measure/asyncio/recorder.py); on a single core that would only add hand-over costs.
    evidence: WarcLog | RecorderProcess = (
        RecorderProcess(warc_path, writer.path / OBSERVATIONS) if processes > 0
        else WarcLog(warc_path))
    engine = AsyncioEngine(
        catalog, writer, politeness=Politeness.from_settings(effective_settings(config)),
        seeds=seeds, routes=config.routes, allow_private=config.allow_private,
        evidence=evidence, parser=parser, planned=planned, done=done, progress=progress)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            result = runner.run(engine.run())
    finally:
        evidence.close()
        parser.close()
    return result


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
