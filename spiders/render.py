"""--render's browser gate inside a Scrapy crawl (audit/browsergate.py says what it is and
why): served on the crawl's event loop while the engine runs, its refusals counted in the
crawl's stats (`hulian/render_refused`) and listed in evidence/render-refused.jsonl."""

from __future__ import annotations

from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import StatsCollector
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.defer import Deferred

from audit.browsergate import BrowserGate


class BrowserGateExtension:
    def __init__(self, gate: BrowserGate, stats: StatsCollector | None):
        self.gate = gate
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BrowserGateExtension:
        gate = crawler.settings.get("HULIAN_BROWSER_GATE")
        if not isinstance(gate, BrowserGate):
            raise NotConfigured
        extension = cls(gate, crawler.stats)
        crawler.signals.connect(extension.engine_started, signal=signals.engine_started)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def engine_started(self) -> Deferred[None]:
        return deferred_from_coro(self.gate.start())

    def spider_closed(self, spider: Spider, **_: Any) -> Deferred[None]:
        if self.stats is not None:
            self.stats.set_value("hulian/render_refused", self.gate.refused)
        return deferred_from_coro(self.gate.close())
