"""Which engine runs a crawl: the asyncio engine (audit/measure/asyncio/) by default, Scrapy
(spiders/runner.py) for --render, --distributed and --engine scrapy. Engines are named by
their entry point's dotted path, the way Scrapy names its components: the Scrapy engine lives
in spiders/ (Scrapy's home), which builds on audit.measure, so audit.measure never imports it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from audit.errors import ConfigError
from audit.evidence.bundle import BundleWriter
from audit.measure.config import CrawlConfig, CrawlResult
from audit.model import Probe
from audit.policy.catalog import Catalog

ENGINES = {
    "asyncio": "audit.measure.asyncio.run:crawl_with_asyncio",
    "scrapy": "spiders.runner:crawl_with_scrapy",
}


def load_entry(dotted: str) -> Callable[..., Any]:
    """The function named `module.path:function`."""
    module, _, function = dotted.partition(":")
    entry: Callable[..., Any] = getattr(importlib.import_module(module), function)
    return entry


def engine_entry(name: str) -> Callable[..., Any]:
    """An engine's crawl function, or a ConfigError naming the engines there are."""
    if name not in ENGINES:
        raise ConfigError(f"unknown crawl engine {name!r} ({', '.join(ENGINES)} or auto)")
    return load_entry(ENGINES[name])


def crawl(catalog: Catalog, config: CrawlConfig, writer: BundleWriter, *,
          planned: dict[str, Probe] | None = None, done: set[str] | None = None,
          progress: Callable[[str, Any], None] | None = None) -> CrawlResult:
    """Run one crawl into `writer` (blocking), with the engine the config asks for."""
    engine = config.resolved_engine()
    if engine == "asyncio" and config.render:
        raise ConfigError("--render needs the Scrapy engine (scrapy-playwright): "
                          "use --engine scrapy or auto")
    result: CrawlResult = engine_entry(engine)(catalog, config, writer, planned=planned,
                                                done=done, progress=progress)
    return result
