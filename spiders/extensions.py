"""Progress reporting: forwards crawl events to the callback hulian's CLI installed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from audit.model import Observation, Probe


class ProgressExtension:
    def __init__(self, report: Callable[[str, Any], None]):
        self.report = report

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ProgressExtension:
        report = crawler.settings.get("HULIAN_PROGRESS")
        if report is None:
            raise NotConfigured
        extension = cls(report)
        crawler.signals.connect(extension.response_received, signal=signals.response_received)
        crawler.signals.connect(extension.item_scraped, signal=signals.item_scraped)
        return extension

    def response_received(self, **_: Any) -> None:
        self.report("response", None)

    def item_scraped(self, item: Any, **_: Any) -> None:
        record = item.get("record") if isinstance(item, dict) else None
        if isinstance(record, Observation):
            self.report("observation", record)
        elif isinstance(record, Probe):
            self.report("probe", record)
