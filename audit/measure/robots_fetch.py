"""Fetching robots.txt for both crawl engines: each origin's once, however many fetches wait
for it, each engine downloading it its own way.

Once means once per run, also with the search measurement: an origin whose robots.txt the
search measurement fetches (audit/measure/search.py) is `expect`ed at the start of the crawl,
and the crawler's waiters take what that fetch gave (`tell`) instead of fetching the file a
second time. If the search measurement gives nothing (`abandon`: it failed inside hulian)
or not within `wait_s`, the waiters fetch the file themselves: a lost search request costs a
second fetch, never a stalled crawl.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from audit.measure.driver import DriverPolicy, Fetch, RobotsDriver
from audit.measure.robots import RobotsBook

# An engine's download of one fetch: (status, body), or the failure word.
Download = Callable[[Fetch], Awaitable[tuple[int, bytes] | str]]

# How long a waiter waits for the search measurement's fetch of its origin's robots.txt
# before fetching the file itself: retries and five redirects of a slow host fit in it.
WAIT_S = 300.0


class RobotsFetcher:
    def __init__(self, robots: RobotsBook, policy: DriverPolicy, download: Download,
                 wait_s: float = WAIT_S):
        self.robots = robots
        self.policy = policy
        self.download = download
        self.wait_s = wait_s
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._expected: dict[str, asyncio.Future[None]] = {}

    def expect(self, origin: str) -> None:
        """The search measurement will fetch `origin`/robots.txt: waiters take its answer.
        Call from the running event loop, before the crawl asks for the origin."""
        if not self.robots.known(origin) and origin not in self._expected:
            self._expected[origin] = asyncio.get_running_loop().create_future()

    def tell(self, origin: str, body: bytes | None) -> None:
        """What the search measurement's fetch gave (audit.measure.search.Politeness)."""
        if not self.robots.known(origin):
            self.robots.learn(origin, body)
        self.abandon(origin)

    def abandon(self, origin: str) -> None:
        """No answer is coming from the search measurement: waiters fetch it themselves."""
        expected = self._expected.get(origin)
        if expected is not None and not expected.done():
            expected.set_result(None)

    async def learn(self, origin: str) -> None:
        """Return once the robots book knows `origin`."""
        expected = self._expected.get(origin)
        if expected is not None and not self.robots.known(origin):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(expected), self.wait_s)
        if self.robots.known(origin):
            return
        pending = self._pending.get(origin)
        if pending is None:
            pending = self._pending[origin] = asyncio.get_running_loop().create_future()
            try:
                driver = RobotsDriver(origin, policy=self.policy, robots=self.robots)
                fetch: Fetch | None = driver.start()
                while fetch is not None:
                    answer = await self.download(fetch)
                    fetch = (driver.on_failure(answer) if isinstance(answer, str)
                             else driver.on_response(*answer))
            finally:  # whatever happens, the fetches waiting on this origin go on
                if not self.robots.known(origin):
                    self.robots.learn(origin, None)
                if not pending.done():
                    pending.set_result(None)
        # Shielded: a waiter cancelled (Ctrl-C) must not cancel the answer the others share.
        await asyncio.shield(pending)
