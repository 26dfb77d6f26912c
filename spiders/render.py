"""--render's browser gate inside a Scrapy crawl (audit/measure/browsergate.py says what it is and
why): served on the crawl's event loop while the engine runs; what it refused is listed in
the bundle's evidence/render-refused.jsonl, and counted once on stderr at the end."""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.defer import Deferred

from audit.measure.browsergate import BrowserGate

logger = logging.getLogger(__name__)


class BrowserGateExtension:
    def __init__(self, gate: BrowserGate):
        self.gate = gate

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BrowserGateExtension:
        gate = crawler.settings.get("HULIAN_BROWSER_GATE")
        if not isinstance(gate, BrowserGate):
            raise NotConfigured
        extension = cls(gate)
        crawler.signals.connect(extension.engine_started, signal=signals.engine_started)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def engine_started(self) -> Deferred[None]:
        return deferred_from_coro(self.gate.start())

    def spider_closed(self, spider: Spider, **_: Any) -> Deferred[None]:
        if self.gate.refused:
            # Pages that reach for the auditor's own network are worth a look.
            logger.warning("the browser gate refused %d request(s) into private address "
                           "space: see %s", self.gate.refused, self.gate.refusals)
        return deferred_from_coro(self.gate.close())
