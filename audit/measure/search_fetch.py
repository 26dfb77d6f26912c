"""The search measurement's I/O loop for both crawl engines: each host's SearchDriver carried
out with the engine's own download (as robots_fetch.py does for the crawler's robots.txt),
and the records it writes kept once per host and page, so that a resumed run measures only
what the interrupted one did not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from audit.measure.driver import DriverPolicy, Fetch
from audit.measure.search import Answer, SearchDone, SearchDriver, SearchTarget, record_id
from audit.model import SearchRecord

# An engine's download of one fetch: an Answer (a response, or the failure word).
Download = Callable[[Fetch], Awaitable[Answer]]


def _now() -> datetime:
    return datetime.now(UTC)


async def measure_host(target: SearchTarget, *, policy: DriverPolicy, run_id: str | None,
                       download: Download) -> SearchRecord:
    """One host's robots.txt and sitemaps, measured."""
    driver = SearchDriver(target, policy=policy, run_id=run_id, started_at=_now())
    command: Fetch | SearchDone = driver.start()
    while not isinstance(command, SearchDone):
        command = driver.on_answer(await download(command), _now())
    return command.record


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
