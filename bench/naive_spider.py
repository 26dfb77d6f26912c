"""Baseline (a) of bench/crawl.py: a plain Scrapy spider, written the way most are.

It starts at page 0 and yields a Request for every link of every page (duplicates are left
to Scrapy's dupefilter), with Scrapy's defaults except: no autothrottle (the default),
CONCURRENT_REQUESTS 16 (the default; CONCURRENT_REQUESTS_PER_DOMAIN stays at its default 8),
ROBOTSTXT_OBEY False, redirects on (the default), LOG_LEVEL INFO (the default DEBUG line per
request is not the crawler's work). Prints one JSON line with Scrapy's own counters.

    python bench/naive_spider.py http://127.0.0.1:PORT/p/0.html
"""

from __future__ import annotations

import json
import sys
from typing import Any

import scrapy
from scrapy.crawler import CrawlerProcess


class NaiveSpider(scrapy.Spider):
    name = "naive"

    def __init__(self, start: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.start_urls = [start]

    def parse(self, response: Any) -> Any:
        for href in response.css("a::attr(href)").getall():
            yield response.follow(href, callback=self.parse)


def main() -> None:
    start = sys.argv[1]
    process = CrawlerProcess({
        "ROBOTSTXT_OBEY": False,
        "CONCURRENT_REQUESTS": 16,
        "AUTOTHROTTLE_ENABLED": False,
        "REDIRECT_ENABLED": True,
        "LOG_LEVEL": "INFO",
        "TELNETCONSOLE_ENABLED": False,
    })
    crawler = process.create_crawler(NaiveSpider)
    process.crawl(crawler, start=start)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    print(json.dumps({
        "requests": stats.get("downloader/request_count", 0),
        "responses": stats.get("downloader/response_count", 0),
        "filtered_duplicates": stats.get("dupefilter/filtered", 0),
    }))


if __name__ == "__main__":
    main()
