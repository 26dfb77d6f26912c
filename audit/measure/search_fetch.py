"""The search measurement's I/O loop for both crawl engines: each host's SearchDriver carried
out with the engine's own download (as robots_fetch.py does for the crawler's robots.txt),
and the records it writes kept once per host and page, so that a resumed run measures only
what the interrupted one did not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from audit.judge.search import crawler_names
from audit.measure.driver import DriverPolicy, Fetch
from audit.measure.robots_fetch import RobotsFetcher
from audit.measure.search import (
    Answer,
    SearchDone,
    SearchDriver,
    SearchTarget,
    page_record,
    record_id,
)
from audit.model import SearchRecord
from audit.policy.catalog import Catalog

# An engine's download of one fetch: an Answer (a response, or the failure word).
Download = Callable[[Fetch], Awaitable[Answer]]


def _now() -> datetime:
    return datetime.now(UTC)


async def measure_host(target: SearchTarget, *, policy: DriverPolicy, run_id: str | None,
                       download: Download,
                       robots: RobotsFetcher | None = None) -> SearchRecord:
    """One host's robots.txt and sitemaps, measured; `robots` (the crawler's fetcher) told
    what its robots.txt fetch gave as soon as it is settled."""
    driver = SearchDriver(target, policy=policy, run_id=run_id, started_at=_now())
    try:
        command: Fetch | SearchDone = driver.start()
        while not isinstance(command, SearchDone):
            command = driver.on_answer(await download(command), _now())
            hand_over(driver, robots)
        return command.record
    finally:  # a failure inside hulian: the crawler's waiters fetch the file themselves
        if robots is not None:
            robots.abandon(target.origin)


def hand_over(driver: SearchDriver, robots: RobotsFetcher | None) -> None:
    """Tell the crawler's robots.txt fetcher what the search measurement's fetch gave, once
    it is settled (both engines call this after each answer)."""
    settled = driver.politeness()
    if settled is not None and robots is not None:
        robots.tell(settled.origin, settled.body)


def expect_all(targets: Iterable[SearchTarget], robots: RobotsFetcher,
               policy: DriverPolicy) -> None:
    """The origins whose robots.txt the search measurement fetches, when the crawl obeys
    robots.txt: the crawler waits for that fetch instead of making its own."""
    if policy.obey_robots:
        for target in targets:
            robots.expect(target.origin)


class SearchLog:
    """Which search records a crawl has (read back from an interrupted bundle) and still
    needs: a host's robots.txt is measured once, a page's directives recorded once."""

    def __init__(self, targets: Iterable[SearchTarget], done: Iterable[str] = ()):
        self.done = set(done)
        self.targets = [t for t in targets if record_id("robots", t.host) not in self.done]

    def wants_page(self, url: str) -> bool:
        key = record_id("page", url)
        if key in self.done:
            return False
        self.done.add(key)
        return True

    def seed_page(self, url: str, status: int, headers: dict[str, str],
                  metas: list[tuple[str, str]], *, catalog: Catalog, platform: str | None,
                  run_id: str | None, now: datetime) -> SearchRecord | None:
        """A seed page's record (its robots directives), once per page: both engines'."""
        if not self.wants_page(url):
            return None
        return page_record(url, status, headers, metas, names=crawler_names(catalog),
                           platform=platform, run_id=run_id, now=now)
