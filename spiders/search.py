"""The Scrapy engine's adapter of the search-barrier driver (audit/measure/search.py): each
host's robots.txt and the sitemaps it lists, fetched as the SearchDriver says, the answers
handed to the crawler's own robots.txt decisions (audit/measure/search_fetch.py). A mixin of
the audit spider, kept apart so that the spider reads as the probe driver's adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from scrapy.http import Request, Response
from twisted.python.failure import Failure

from audit.measure import failures
from audit.measure.driver import DriverPolicy, Fetch
from audit.measure.robots_fetch import RobotsFetcher
from audit.measure.search import Answer, SearchDone, SearchDriver
from audit.measure.search_fetch import SearchLog, expect_all, hand_over
from spiders.failures import failure_reason
from spiders.middlewares import KEPT_CUT
from spiders.values import now, response_headers


class SearchAdapter:
    run_id: str
    policy: DriverPolicy
    search: SearchLog
    _robots: RobotsFetcher

    def _request(self, fetch: Fetch, callback: Callable[..., Any] | None,
                 errback: Callable[..., Any] | None, **meta: Any) -> Request | None:
        raise NotImplementedError  # the spider's: one way to make a Request of a Fetch

    def _start_search(self) -> Iterator[Any]:
        """The first request of every host's measurement (or its record, when there is
        nothing to fetch); the crawler's robots.txt waiters learn from these fetches."""
        expect_all(self.search.targets, self._robots, self.policy)
        for target in self.search.targets:
            searcher = SearchDriver(target, policy=self.policy, run_id=self.run_id,
                                    started_at=now())
            yield from self._search_next(searcher, searcher.start())

    def _search_next(self, driver: SearchDriver,
                     command: Fetch | SearchDone) -> Iterator[Any]:
        hand_over(driver, self._robots)
        while True:
            if isinstance(command, SearchDone):
                yield {"record": command.record}
                return
            request = self._request(command, self.on_search, self.search_failed,
                                    hulian_search=driver)
            if request is not None:
                yield request
                return
            command = driver.on_answer(Answer(command.url, failure=failures.BAD_URL), now())
            hand_over(driver, self._robots)

    def on_search(self, response: Response) -> Iterator[Any]:
        driver: SearchDriver = response.meta["hulian_search"]
        answer = Answer(response.url, response.status, response_headers(response),
                        response.body, response.meta.get("hulian_warc_id"),
                        truncated=bool(response.meta.get(KEPT_CUT)))
        yield from self._search_next(driver, driver.on_answer(answer, now()))

    def search_failed(self, failure: Failure) -> Iterator[Any]:
        request = failure.request  # type: ignore[attr-defined]
        driver: SearchDriver = request.meta["hulian_search"]
        answer = Answer(request.url, failure=failure_reason(failure))
        yield from self._search_next(driver, driver.on_answer(answer, now()))
