"""The Scrapy engine's DNS resolver while the private-address guard is on (installed through
Scrapy's TWISTED_DNS_RESOLVER setting, DNS_RESOLVER before Scrapy 2.14; see
spiders/runner.py).

Twisted resolves a name again when it connects, after the guard middleware decided on its own
resolution: with DNS rebinding the two answers differ (public to the check, 127.0.0.1 to the
connection). This resolver answers every connection with the addresses the run's guard
checked (`AddressGuard.addresses`: the middleware's answer, resolved once per run), so the
connection uses the answer that was checked. A name that does not resolve, or resolves
into refused space, gets no address at all, and the download fails as a DNS error (the
middleware has already recorded `private_address:HOST` for the names it refused).

The proxies' own names (`HULIAN_ROUTES` values, and the environment's http_proxy/https_proxy
that Scrapy's HttpProxyMiddleware uses) are resolved without the check: they are the user's
configuration (the lab's proxy is on loopback). They are the only unchecked names, and a
page cannot choose them: the guard middleware refuses a private target before its request
reaches a downloader, whatever its name.
"""

from __future__ import annotations

import logging
from typing import Any, cast
from urllib.parse import urlsplit
from urllib.request import getproxies

from scrapy.crawler import Crawler
from scrapy.utils.defer import deferred_from_coro
from twisted.internet import error
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.base import ReactorBase
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHostnameResolver, IHostResolution, IResolverSimple
from zope.interface import implementer  # type: ignore[import-untyped]

from audit.measure.guard import AddressGuard, Refused, resolve

logger = logging.getLogger(__name__)


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str):
        self.name = name

    def cancel(self) -> None:  # Twisted never cancels a resolution it started
        raise NotImplementedError


@implementer(IResolverSimple, IHostnameResolver)
class GuardedResolver:
    def __init__(self, reactor: ReactorBase, guard: AddressGuard, proxies: frozenset[str]):
        self.reactor = reactor
        self.guard = guard
        self.proxies = proxies

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: ReactorBase) -> GuardedResolver:
        guard = crawler.settings.get("HULIAN_ADDRESS_GUARD")
        if not isinstance(guard, AddressGuard):
            raise RuntimeError("GuardedResolver needs the run's guard in HULIAN_ADDRESS_GUARD")
        proxies = list(crawler.settings.getdict("HULIAN_ROUTES").values())
        if crawler.settings.getbool("HTTPPROXY_ENABLED"):
            # Scrapy's HttpProxyMiddleware sends requests through the environment's proxies
            # (http_proxy ...): the user's configuration too, often on a private address.
            proxies += [url for kind, url in getproxies().items() if kind != "no"]
        return cls(reactor, guard, frozenset(filter(None, map(_hostname, proxies))))

    def install_on_reactor(self) -> None:
        # Both interfaces: Twisted's HostnameEndpoint (direct connections, and plain http
        # through a proxy) asks the name resolver, an https tunnel's endpoint the simple one.
        self.reactor.installResolver(cast(Any, self))
        self.reactor.installNameResolver(cast(Any, self))

    async def _addresses(self, name: str) -> tuple[str, ...]:
        name = name.rstrip(".").lower()
        if name in self.proxies:
            return await resolve(name)
        return await self.guard.addresses(name)

    # -- IResolverSimple -----------------------------------------------------------------

    def getHostByName(self, name: str, timeout: Any = ()) -> Deferred[str]:
        return deferred_from_coro(self._first_ipv4(name))

    async def _first_ipv4(self, name: str) -> str:
        try:
            addresses = await self._addresses(name)
        except (Refused, OSError, ValueError) as exc:
            raise error.DNSLookupError(f"{name}: {exc}") from None
        for address in addresses:
            if ":" not in address:
                return address
        raise error.DNSLookupError(f"no IPv4 address for {name}")

    # -- IHostnameResolver ---------------------------------------------------------------

    def resolveHostName(self, resolutionReceiver: Any, hostName: str, portNumber: int = 0,
                        addressTypes: Any = None, transportSemantics: str = "TCP") -> Any:
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        wanted = tuple(addressTypes) if addressTypes else (IPv4Address, IPv6Address)
        deferred_from_coro(self._deliver(resolutionReceiver, hostName, portNumber, wanted))
        return resolution

    async def _deliver(self, receiver: Any, name: str, port: int,
                       wanted: tuple[type, ...]) -> None:
        try:
            addresses = await self._addresses(name)
        except (Refused, OSError, ValueError):
            addresses = ()  # no address at all: Twisted's endpoint fails with DNSLookupError
        except Exception:
            logger.exception("resolving %s failed", name)
            addresses = ()
        try:
            for address in addresses:
                kind = IPv6Address if ":" in address else IPv4Address
                if kind in wanted:
                    receiver.addressResolved(kind("TCP", address, port))
        finally:
            receiver.resolutionComplete()


def _hostname(proxy: str) -> str | None:
    try:
        return urlsplit(proxy if "://" in proxy else f"http://{proxy}").hostname
    except ValueError:
        return None
