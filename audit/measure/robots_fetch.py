"""Fetching robots.txt for both crawl engines: each origin's once, however many fetches wait
for it, each engine downloading it its own way."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from audit.measure.driver import DriverPolicy, Fetch, RobotsDriver
from audit.measure.robots import RobotsBook

# An engine's download of one fetch: (status, body), or the failure word.
Download = Callable[[Fetch], Awaitable[tuple[int, bytes] | str]]


class RobotsFetcher:
    def __init__(self, robots: RobotsBook, policy: DriverPolicy, download: Download):
        self.robots = robots
        self.policy = policy
        self.download = download
        self._pending: dict[str, asyncio.Future[None]] = {}

    async def learn(self, origin: str) -> None:
        """Return once the robots book knows `origin`."""
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
