"""How the asyncio engine treats the hosts it fetches from: its share of the crawl settings
(concurrency, per-host slots, timeouts, size limit, AutoThrottle), AutoThrottle's delay rule
and the slots that apply them.
What to fetch, when to retry and what robots.txt allows are the probe driver's
(audit/measure/driver.py), for both engines alike."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from audit.web.urls import registrable_domain


@dataclass(frozen=True)
class Politeness:
    """The knobs both engines share, read from the same settings dict (audit.measure.settings)."""

    concurrency: int
    per_host: int
    timeout_s: float
    max_bytes: int
    autothrottle: bool
    throttle_start_s: float
    throttle_target: float
    throttle_max_s: float
    min_delay_s: float
    user_agent: str
    headers: tuple[tuple[str, str], ...]  # besides User-Agent, on every request

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Politeness:
        return cls(
            concurrency=int(settings["CONCURRENT_REQUESTS"]),
            per_host=int(settings["CONCURRENT_REQUESTS_PER_DOMAIN"]),
            timeout_s=float(settings["DOWNLOAD_TIMEOUT"]),
            max_bytes=int(settings["DOWNLOAD_MAXSIZE"]),
            autothrottle=bool(settings["AUTOTHROTTLE_ENABLED"]),
            throttle_start_s=float(settings["AUTOTHROTTLE_START_DELAY"]),
            throttle_target=float(settings["AUTOTHROTTLE_TARGET_CONCURRENCY"]),
            throttle_max_s=float(settings.get("AUTOTHROTTLE_MAX_DELAY", 60.0)),
            min_delay_s=float(settings["DOWNLOAD_DELAY"]),
            user_agent=str(settings["USER_AGENT"]),
            headers=tuple(dict(settings["DEFAULT_REQUEST_HEADERS"]).items()),
        )


def throttle_delay(current: float, latency: float, status: int, *, target_concurrency: float,
                   min_delay: float, max_delay: float) -> float:
    """AutoThrottle's rule (as in Scrapy): move the delay halfway towards latency/target
    concurrency, never below that target, and never lower it on a non-200 answer (error pages
    are fast and say nothing about the server's capacity)."""
    target = latency / target_concurrency
    new = max(target, (current + target) / 2.0)
    new = min(max(min_delay, new), max_delay)
    if status != 200 and new <= current:
        return current
    return new


@dataclass
class _HostSlot:
    gate: asyncio.Semaphore
    site: asyncio.Semaphore  # its site's (shared by the site's hosts)
    delay: float
    last_start: float = float("-inf")


class HostSlots:
    """Per host: `per_host` requests at once and one request per delay (AutoThrottle's, when
    on); per site (registrable domain): half of `concurrency` (review 170: a platform that
    put each link on a subdomain of its own, each answering slowly, held every request
    place of the crawl, a host's slots each); over all hosts: `concurrency` requests at
    once."""

    def __init__(self, politeness: Politeness):
        self.politeness = politeness
        self._gate = asyncio.Semaphore(politeness.concurrency)
        self._slots: dict[str, _HostSlot] = {}
        self._sites: dict[str, asyncio.Semaphore] = {}

    @asynccontextmanager
    async def turn(self, host: str) -> AsyncIterator[None]:
        """Hold a download slot for `host` while the body of the `with` runs."""
        p = self.politeness
        slot = self._slots.get(host)
        if slot is None:
            site = registrable_domain(host) or host
            if site not in self._sites:
                self._sites[site] = asyncio.Semaphore(max(1, p.concurrency // 2))
            slot = self._slots[host] = _HostSlot(
                gate=asyncio.Semaphore(p.per_host), site=self._sites[site],
                delay=p.throttle_start_s if p.autothrottle else p.min_delay_s)
        async with slot.gate, slot.site:
            # The delay is read afresh after every wait (the throttle lowers it as responses
            # come in). It is waited out before the crawl-wide gate is taken: a host's
            # requests sleeping their delay held the gate's places, and four slow hosts
            # under AutoThrottle held most of them while every other host waited. Once the
            # gate is taken it is read again (another request of the host may have gone out
            # meanwhile: review 170, requests piled up at a full gate left together), and
            # the start stamped only then.
            while True:
                while slot.delay > 0:
                    wait = slot.last_start + slot.delay - time.monotonic()
                    if wait <= 0:
                        break
                    await asyncio.sleep(wait)
                await self._gate.acquire()
                if slot.delay <= 0 or slot.last_start + slot.delay <= time.monotonic():
                    break
                self._gate.release()
            slot.last_start = time.monotonic()
            try:
                yield
            finally:
                self._gate.release()

    def answered(self, host: str, latency_s: float, status: int) -> None:
        """A response from `host`: AutoThrottle adjusts the host's delay."""
        p = self.politeness
        slot = self._slots.get(host)
        if p.autothrottle and slot is not None:
            slot.delay = throttle_delay(slot.delay, latency_s, status,
                                        target_concurrency=p.throttle_target,
                                        min_delay=p.min_delay_s, max_delay=p.throttle_max_s)
