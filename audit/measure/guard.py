"""The private-address guard: an audited page must not steer the auditor into its own network
(private, loopback, link-local, shared, reserved, multicast or unspecified addresses). Used by
both crawl engines and by --render's browser gate; `--allow-private` lifts it and is recorded
in the manifest.

The guard decides on the address that is connected, not on a name: a name is resolved once
per run, every address of the answer is checked, and the connection is made to a checked
address (`AddressGuard.addresses`). A guard that resolves to decide and lets the connection
resolve again is walked past by DNS rebinding (a name answering a public address to the
check and 127.0.0.1 to the connection, TTL 0). Answers are kept for the whole run, as
Scrapy's DNS cache keeps them; a failed resolution is not kept (a retry resolves, and is
checked, again).

Proxy routes (`--route HOSTGLOB=PROXY`): the proxy is the user's own configuration and its
address is never checked (the lab's proxy is on loopback). The audited host behind it is:
a host that is, or resolves here to, a refused address is refused before the proxy is asked;
a name that does not resolve here is let through (the proxy may know names this machine
does not: the lab's `*.lab`). The proxy then resolves the name itself, which the guard
cannot pin: rebinding through a proxy is the proxy's to prevent.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

from audit.web.urls import registrable_domain

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_T = TypeVar("_T")

# NAT64's well-known prefix (RFC 6052): the last 32 bits are the IPv4 address the gateway
# connects to. (The local-use 64:ff9b:1::/48 places it elsewhere, and stays refused as
# reserved space; IPv4-mapped and 6to4 addresses are read by the ipaddress module.)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class Refused(Exception):
    """The guard refused a host; `reason` is the recorded failure word."""

    def __init__(self, host: str):
        self.reason = f"private_address:{host}"
        super().__init__(self.reason)


def _refused_ip(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64:
            # What the NAT64 gateway connects to is the IPv4 address inside, and that alone
            # decides (a DNS64 network reaches every IPv4-only site through these).
            return _refused_ip(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        embedded = ip.ipv4_mapped or ip.sixtofour
        if (embedded is not None and _refused_ip(embedded)) or ip.is_site_local:
            return True
    # is_global leaves out private, loopback, link-local, shared (100.64/10), reserved and
    # unspecified space; multicast is "global" to it but never a web server.
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


def is_private(address: str) -> bool:
    """Whether `address` is an IP address (in its standard form) the guard refuses."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    return _refused_ip(ip)


def is_local_name(host: str) -> bool:
    """Names that are loopback by definition (RFC 6761), whatever a resolver says."""
    host = host.rstrip(".").lower()
    return host == "localhost" or host.endswith(".localhost")


def route_for(routes: dict[str, str], host: str) -> str | None:
    """The proxy a `--route HOSTGLOB=PROXY` sends `host` through, if any."""
    for pattern, proxy in routes.items():
        if fnmatch.fnmatch(host, pattern):
            return proxy
    return None


async def resolve(host: str) -> tuple[str, ...]:
    """Every address `host` stands for, in the order a connection tries them. Literal IPs
    in any form the C library accepts (`2130706433`, `0177.0.0.1`, `0x7f.1`) come back in
    their standard form. Raises socket.gaierror (or UnicodeError for a bad label)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


# Name lookups of one site at once (the event loop's lookup threads are min(32, cores + 4)).
LOOKUPS_PER_SITE = 2


class AddressGuard:
    """The checked addresses of every host of one run. Shared by whatever connects for the
    run (in the Scrapy engine: the guard middleware, the DNS resolver and the browser gate),
    so that all of them connect to the one answer that was checked."""

    def __init__(self) -> None:
        self._checked: dict[str, tuple[str, ...]] = {}
        self._refused: set[str] = set()
        self._routed: set[str] = set()
        self._pending: dict[str, asyncio.Future[tuple[str, ...]]] = {}
        # Names that did not resolve, with why, kept for the run as answers are (review 175:
        # asked again at each retry and control fetch, a platform's names that never answer
        # took the lookup threads every other platform's links wait for).
        self._unresolved: dict[str, OSError | ValueError] = {}
        # Lookups in flight per site (registrable domain): the event loop's few lookup
        # threads are every host's, and a site whose names never answer (a subdomain a link)
        # took them all (review 175).
        self._lookups: dict[str, asyncio.Semaphore] = {}

    def __deepcopy__(self, memo: dict[int, object]) -> AddressGuard:
        # Scrapy deep-copies its settings, where the run's guard travels: every copy must be
        # this same guard, or the resolver would connect to answers it never checked.
        return self

    async def addresses(self, host: str) -> tuple[str, ...]:
        """The addresses a connection to `host` may use, each one checked. Raises Refused,
        or what resolving raised (socket.gaierror, UnicodeError) for a name that does not
        resolve."""
        host = host.strip("[]").rstrip(".").lower()
        if host in self._refused:
            raise Refused(host)
        failed = self._unresolved.get(host)
        if failed is not None:
            raise type(failed)(*failed.args)  # (a new one: a raise grows its traceback)
        checked = self._checked.get(host)
        if checked is not None:
            return checked
        pending = self._pending.get(host)
        if pending is None:
            # One resolution per host, however many connections wait for it: two answers to
            # one name in one run would be two things to check and to explain.
            pending = self._pending[host] = asyncio.ensure_future(self._check(host))
            pending.add_done_callback(self._settled)
        return await asyncio.shield(pending)

    def _settled(self, done: asyncio.Future[tuple[str, ...]]) -> None:
        for host, pending in list(self._pending.items()):
            if pending is done:
                del self._pending[host]
        if not done.cancelled():
            done.exception()  # read here too: every waiter may have been cancelled

    def checked(self, host: str) -> tuple[str, ...] | None:
        """The addresses already checked for `host`, without resolving."""
        return self._checked.get(host.strip("[]").rstrip(".").lower())

    async def admit_routed(self, host: str) -> None:
        """The check for a host a proxy route carries (see the module's docstring)."""
        if host in self._routed:
            return
        with contextlib.suppress(OSError, ValueError):  # a name only the proxy knows
            await self.addresses(host)
        # Kept even when the name did not resolve: the proxy resolves it, not hulian, so
        # asking again would only cost a lookup per request.
        self._routed.add(host)

    async def refuses(self, host: str) -> bool:
        """Whether the guard refuses `host` (a name that does not resolve is not refused:
        the connection, which can only use checked addresses, will fail on its own)."""
        try:
            await self.addresses(host)
        except Refused:
            return True
        except (OSError, ValueError):
            return False
        return False

    async def _check(self, host: str) -> tuple[str, ...]:
        if is_local_name(host) or is_private(host):
            self._refused.add(host)
            raise Refused(host)
        site = registrable_domain(host) or host
        lookups = self._lookups.get(site)
        if lookups is None:
            lookups = self._lookups[site] = asyncio.Semaphore(LOOKUPS_PER_SITE)
        try:
            async with lookups:
                found = await resolve(host)
        except (OSError, ValueError) as exc:
            self._unresolved[host] = exc
            raise
        if not found or any(is_private(address) for address in found):
            self._refused.add(host)
            raise Refused(host)
        self._checked[host] = found
        return found


async def open_checked(addresses: tuple[str, ...],
                       connect: Callable[[str], Awaitable[_T]]) -> _T:
    """Connect to the first of `addresses` that answers, as a resolving connect would; the
    errors as the standard event loop reports them (one error, or all of them in one
    OSError when they differ), so failure words stay the same."""
    errors: list[OSError] = []
    for address in addresses:
        try:
            return await connect(address)
        except OSError as exc:
            errors.append(exc)
    if not errors:
        raise socket.gaierror(socket.EAI_NONAME, "no address to connect to")
    if len({str(e) for e in errors}) == 1:
        raise errors[0]
    raise OSError("Multiple exceptions: " + ", ".join(str(e) for e in errors))
