"""The Scrapy engine: build Scrapy settings from a CrawlConfig and run the spider once (Scrapy's
reactor starts once per process) into a run bundle. The only Scrapy user in audit/ besides
the distributed crawl's orchestration.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
# mitmproxy 11.0.2 pins Brotli 1.1.0, so Scrapy cannot decode `br` and says so at import;
# it also leaves `br` out of Accept-Encoding, so servers never send it (dependencies.md §4).
warnings.filterwarnings("ignore", message=".*'br' encoding support.*", category=UserWarning)

from scrapy.crawler import Crawler, CrawlerProcess  # noqa: E402
from scrapy.settings import Settings, default_settings  # noqa: E402

from audit.evidence.bundle import BundleWriter  # noqa: E402
from audit.measure.browsergate import BrowserGate  # noqa: E402
from audit.measure.config import CrawlConfig, CrawlResult, effective_settings  # noqa: E402
from audit.measure.guard import AddressGuard  # noqa: E402
from audit.measure.parsepool import ParsePool, default_processes  # noqa: E402
from audit.measure.plan import search_targets, searched, seeds_for  # noqa: E402
from audit.measure.search_fetch import SearchLog  # noqa: E402
from audit.model import Observation, Probe  # noqa: E402
from audit.policy.catalog import Catalog  # noqa: E402
from spiders import settings as spider_settings  # noqa: E402
from spiders.audit import LinkAuditSpider  # noqa: E402
from spiders.signals import handlers_restored  # noqa: E402

logger = logging.getLogger(__name__)

# Scrapy 2.14 renamed DNS_RESOLVER (and warns when the old name is set).
_RESOLVER_SETTING = ("TWISTED_DNS_RESOLVER" if hasattr(default_settings, "TWISTED_DNS_RESOLVER")
                     else "DNS_RESOLVER")


def build_settings(config: CrawlConfig, writer: BundleWriter | None,
                   progress: Callable[[str, Any], None] | None, *,
                   evidence: Path | None = None) -> Settings:
    """Scrapy settings of one crawl. `writer` None: no local bundle (a distributed worker);
    `evidence` is then the directory of its WARC file and screenshots."""
    evidence = evidence or (writer.path / "evidence" if writer is not None else Path("evidence"))
    settings = Settings()
    settings.setdict(effective_settings(config), priority="cmdline")
    settings.set("HULIAN_ROUTES", config.routes, priority="cmdline")
    settings.set("HULIAN_ALLOW_PRIVATE", config.allow_private, priority="cmdline")
    guard = None if config.allow_private else AddressGuard()
    if guard is not None:
        # One guard for the run, shared by the guard middleware, the DNS resolver and the
        # browser gate, so that every connection uses the very answer that was checked.
        settings.set("HULIAN_ADDRESS_GUARD", guard, priority="cmdline")
        settings.set(_RESOLVER_SETTING, "spiders.resolver.GuardedResolver", priority="cmdline")
    settings.set("HULIAN_WARC_PATH", str(evidence / "crawl.warc.gz"), priority="cmdline")
    settings.set("HULIAN_BUNDLE_WRITER", writer, priority="cmdline")
    if config.render:
        gate = BrowserGate(guard=guard, routes=config.routes,
                           refusals=evidence / "render-refused.jsonl",
                           timeout_s=settings.getfloat("DOWNLOAD_TIMEOUT"))
        settings.set("HULIAN_BROWSER_GATE", gate, priority="cmdline")
        settings.setdict(spider_settings.render(gate.chromium_args()), priority="cmdline")
        settings.set("HULIAN_RENDER", True, priority="cmdline")
        settings.set("HULIAN_SCREENSHOT_DIR", str(evidence / "screenshots"), priority="cmdline")
    settings.set("HULIAN_PROGRESS", progress, priority="cmdline")
    return settings


def crawl_with_scrapy(catalog: Catalog, config: CrawlConfig, writer: BundleWriter, *,
                      planned: dict[str, Probe] | None = None, done: set[str] | None = None,
                      progress: Callable[[str, Any], None] | None = None) -> CrawlResult:
    """Run one crawl into `writer` with Scrapy (blocking). Call at most once per process:
    Scrapy's reactor starts once."""
    seeds = seeds_for(catalog, config)
    outcomes: Counter[str] = Counter()
    counts = {"observations": 0}

    def on_event(kind: str, payload: Any) -> None:
        if kind == "observation" and isinstance(payload, Observation):
            outcomes[payload.outcome.value] += 1
            counts["observations"] += 1
        if progress is not None:
            progress(kind, payload)

    crawler = run_once(build_settings(config, writer, on_event), LinkAuditSpider,
                       processes=default_processes(config.parse_processes), seeds=seeds,
                       catalog=catalog, run_id=writer.run_id, planned=planned, done=done,
                       search=SearchLog(search_targets(catalog, config),
                                        searched(writer.path)))
    spider = crawler.spider
    assert spider is None or isinstance(spider, LinkAuditSpider)
    stats = crawler.stats.get_stats() if crawler.stats else {}
    reason = stats.get("finish_reason")
    if reason == "shutdown" or (reason is None and "start_time" in stats):
        # Scrapy's own Ctrl-C handler stopped the crawl and returned as if it had ended: the
        # run is not finished, and is stopped as the asyncio engine's is (exit 130, nothing
        # judged or sealed, `--resume` continues it), not sealed half-measured. A second
        # signal stops the reactor before the spider is closed, so no reason is recorded at
        # all for a crawl that had started (an adversarial review: sealed, 2 planned and 1
        # observed, exit 0).
        raise KeyboardInterrupt
    crashed = {key.split("/", 1)[1]: count for key, count in stats.items()
               if key.startswith("spider_exceptions/") and key != "spider_exceptions/count"}
    if crashed:
        # A callback that raised lost its probe (Scrapy logs the error and goes on): the run
        # stops as the asyncio engine's does on an internal error (exit 1, nothing judged or
        # sealed, `--resume` measures the lost probes), never sealed with links missing.
        raise RuntimeError(
            lost_to_errors(crashed) + "; the traceback is in the log above); the bundle is "
            "not sealed: "
            "`hulian run --resume RUN` measures what was lost / 内部错误导致部分探测丢失，"
            "运行未封存，可用 --resume 继续")
    return CrawlResult(
        planned=len(spider.planner.planned) if spider else 0, observations=counts["observations"],
        outcomes=outcomes, seed_errors=list(spider.seed_errors) if spider else [],
        stats={k: v for k, v in stats.items() if isinstance(v, int | float | str)},
    )


def lost_to_errors(counts: dict[str, int]) -> str:
    """The start of the message of a crawl that lost probes to internal errors, local or
    distributed (spiders/distributed.py): the exceptions' names and counts."""
    return ("the crawl lost probes to internal errors ("
            + ", ".join(f"{name} ×{count}" for name, count in sorted(counts.items())))


def run_once(settings: Settings, spider: type[LinkAuditSpider], *, processes: int,
             **spider_kwargs: Any) -> Crawler:
    """Run `spider` once in this process (blocking: Scrapy's reactor starts once), its pages
    parsed by `processes` parse workers (forked first, before Scrapy installs its reactor and
    before any browser is launched), Scrapy's Ctrl-C handlers kept to the crawl; its crawler."""
    parser = ParsePool(spider_kwargs["catalog"], processes)
    try:
        process = CrawlerProcess(settings, install_root_handler=False)
        if logging.getLogger().getEffectiveLevel() >= logging.WARNING:
            # A download that failed after its retry is a measured fact (an `error` or
            # `target_down` observation), not an error of the audit: keep it out of the log.
            logging.getLogger("scrapy.downloadermiddlewares.retry").setLevel(logging.CRITICAL)
        crawler = process.create_crawler(spider)
        process.crawl(crawler, parser=parser, **spider_kwargs)
        with handlers_restored():
            process.start()
    finally:
        parser.close()
    return crawler
