"""Item pipeline: every Observation (and Probe, SearchRecord) the spider yields is appended
to the run bundle at once."""

from __future__ import annotations

from typing import Any

from scrapy.crawler import Crawler

from audit.model import Observation, Probe, SearchRecord


class BundlePipeline:
    def __init__(self, crawler: Crawler):
        self.writer = crawler.settings["HULIAN_BUNDLE_WRITER"]
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BundlePipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        record = item.get("record") if isinstance(item, dict) else None
        if isinstance(record, Observation):
            self.writer.add_observation(record)
            if self.crawler.stats is not None:
                self.crawler.stats.inc_value(f"hulian/outcome/{record.outcome.value}")
        elif isinstance(record, Probe):
            self.writer.add_probe(record)
        elif isinstance(record, SearchRecord):
            self.writer.add_search(record)
        return item
