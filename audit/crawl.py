"""Run the crawler: build Scrapy settings from a CrawlConfig, plan seeds from the catalog,
run the spider once (Scrapy's reactor starts once per process) into a run bundle, and report
progress. The only Scrapy user in audit/.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
# mitmproxy 11.0.2 pins Brotli 1.1.0, so Scrapy cannot decode `br` and says so at import;
# it also leaves `br` out of Accept-Encoding, so servers never send it (dependencies.md §4).
warnings.filterwarnings("ignore", message=".*'br' encoding support.*", category=UserWarning)

from scrapy.crawler import CrawlerProcess  # noqa: E402
from scrapy.settings import Settings  # noqa: E402

from audit.bundle import Bundle, BundleWriter  # noqa: E402
from audit.catalog import Catalog  # noqa: E402
from audit.model import Observation, Probe, SurfaceKind  # noqa: E402
from spiders import settings as spider_settings  # noqa: E402
from spiders.audit import LinkAuditSpider, Seed  # noqa: E402

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

    def manifest_config(self) -> dict[str, object]:
        # The lab's proxy route is not recorded: its port changes every time.
        routes = {k: v for k, v in self.routes.items() if not (self.lab and k == "*.lab")}
        return {"sources": self.sources, "robots": self.robots,
                "allow_private": self.allow_private, "routes": routes, "lab": self.lab,
                "scenario": self.scenario, "concurrency": self.concurrency,
                "per_host": self.per_host, "timeout": self.timeout,
                "targets": self.targets, "surface": self.surface, "render": self.render,
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


def build_settings(config: CrawlConfig, writer: BundleWriter | None,
                   progress: Callable[[str, Any], None] | None, *,
                   evidence: Path | None = None) -> Settings:
    """Scrapy settings of one crawl. `writer` None: no local bundle (a distributed worker);
    `evidence` is then the directory of its WARC file and screenshots."""
    evidence = evidence or (writer.path / "evidence" if writer is not None else Path("evidence"))
    settings = Settings()
    settings.setdict(spider_settings.BASE, priority="project")
    if config.lab:
        settings.setdict(spider_settings.LAB, priority="project")
    settings.set("ROBOTSTXT_OBEY", config.robots == "obey", priority="cmdline")
    if config.concurrency:
        settings.set("CONCURRENT_REQUESTS", config.concurrency, priority="cmdline")
    if config.per_host:
        settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", config.per_host, priority="cmdline")
    if config.timeout:
        settings.set("DOWNLOAD_TIMEOUT", config.timeout, priority="cmdline")
    settings.set("HULIAN_ROUTES", config.routes, priority="cmdline")
    settings.set("HULIAN_ALLOW_PRIVATE", config.allow_private, priority="cmdline")
    settings.set("HULIAN_WARC_PATH", str(evidence / "crawl.warc.gz"), priority="cmdline")
    settings.set("HULIAN_BUNDLE_WRITER", writer, priority="cmdline")
    if config.render:
        proxy = next(iter(config.routes.values()), None)
        settings.setdict(spider_settings.render(proxy), priority="cmdline")
        settings.set("HULIAN_RENDER", True, priority="cmdline")
        settings.set("HULIAN_SCREENSHOT_DIR", str(evidence / "screenshots"), priority="cmdline")
    settings.set("HULIAN_PROGRESS", progress, priority="cmdline")
    return settings


def target_probes(catalog: Catalog, config: CrawlConfig) -> list[Probe]:
    """Probes for a target list: each target through each source's link wrapper."""
    from audit.targets import load_targets, plan_probes

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


def crawl(catalog: Catalog, config: CrawlConfig, writer: BundleWriter, *,
          planned: dict[str, Probe] | None = None, done: set[str] | None = None,
          progress: Callable[[str, Any], None] | None = None) -> CrawlResult:
    """Run one crawl into `writer` (blocking). Call at most once per process."""
    seeds = seeds_for(catalog, config)
    outcomes: Counter[str] = Counter()
    counts = {"observations": 0}

    def on_event(kind: str, payload: Any) -> None:
        if kind == "observation" and isinstance(payload, Observation):
            outcomes[payload.outcome.value] += 1
            counts["observations"] += 1
        if progress is not None:
            progress(kind, payload)

    process = CrawlerProcess(build_settings(config, writer, on_event), install_root_handler=False)
    if logging.getLogger().getEffectiveLevel() >= logging.WARNING:
        # A download that failed after its retry is a measured fact (an `error` or
        # `target_down` observation), not an error of the audit: keep it out of the log.
        logging.getLogger("scrapy.downloadermiddlewares.retry").setLevel(logging.CRITICAL)
    crawler = process.create_crawler(LinkAuditSpider)
    process.crawl(crawler, seeds=seeds, catalog=catalog, run_id=writer.run_id,
                  planned=planned, done=done)
    process.start()
    spider = crawler.spider
    assert spider is None or isinstance(spider, LinkAuditSpider)
    stats = crawler.stats.get_stats() if crawler.stats else {}
    return CrawlResult(
        planned=len(spider.planned) if spider else 0, observations=counts["observations"],
        outcomes=outcomes, seed_errors=list(spider.seed_errors) if spider else [],
        stats={k: v for k, v in stats.items() if isinstance(v, int | float | str)},
    )
