"""The private-address guard's decisions (audit/measure/guard.py) on hosts that need no DNS server:
literal addresses in every form the C library accepts, names that are loopback by
definition, and the HTTP client refusing to connect where the guard says no. DNS rebinding
itself is tested with both engines and --render in tests/test_rebinding.py."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from audit.measure.asyncio import http1
from audit.measure.asyncio.fetch import Fetcher, FetchFailed
from audit.measure.guard import AddressGuard, Refused, is_private

# Each of these reaches loopback, a private network or nothing that is a web server.
REFUSED = [
    "127.0.0.1", "127.1", "2130706433", "017700000001", "0177.0.0.1", "0177.1", "0x7f000001",
    "0x7F.0.0.1", "0x7f.1", "１２７.０.０.１", "0", "0.0.0.0", "::", "::1", "[::1]",
    "::ffff:127.0.0.1", "::ffff:7f00:1", "::127.0.0.1", "10.0.0.1", "172.16.0.1",
    "192.168.1.1", "169.254.169.254", "fe80::1", "fc00::1", "224.0.0.1", "ff02::1",
    "localhost", "LocalHost.", "a.localhost", "127.0.0.1.",
    # Refused now, passed before: shared address space (RFC 6598, carrier NAT and cloud
    # internals), 6to4 and NAT64 addresses around a refused IPv4 address, site-local IPv6.
    "100.64.0.1", "2002:7f00:1::1", "2002:a00:1::1", "64:ff9b::7f00:1", "64:ff9b::a00:1",
    "fec0::1",
]
ALLOWED = ["1.2.3.4", "8.8.8.8", "2606:4700::1111", "64:ff9b::102:304", "2002:102:304::1"]


@pytest.mark.parametrize("host", REFUSED)
def test_literal_and_local_hosts_are_refused_in_every_form(host: str) -> None:
    with pytest.raises(Refused) as refused:
        asyncio.run(AddressGuard().addresses(host))
    assert refused.value.reason.startswith("private_address:")


@pytest.mark.parametrize("host", ALLOWED)
def test_public_literals_are_checked_and_kept(host: str) -> None:
    async def twice() -> tuple[tuple[str, ...], tuple[str, ...] | None]:
        guard = AddressGuard()
        return await guard.addresses(host), guard.checked(host)

    addresses, kept = asyncio.run(twice())
    assert addresses == kept == (host,)
    assert not is_private(host)


def test_a_name_that_does_not_resolve_is_not_kept_and_a_routed_one_is_let_through() -> None:
    bad = "a" * 64 + ".example"  # a label too long to encode: fails without asking DNS

    async def check() -> None:
        guard = AddressGuard()
        with pytest.raises(UnicodeError):
            await guard.addresses(bad)
        assert guard.checked(bad) is None  # a retry resolves (and checks) again
        assert not await guard.refuses(bad)
        await guard.admit_routed(bad)  # only the proxy knows such names
        with pytest.raises(Refused):
            await guard.admit_routed("127.0.0.1")  # the proxy is not asked for loopback

    asyncio.run(check())


@pytest.fixture
def loopback_server() -> Iterator[tuple[int, list[str]]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_client_never_connects_where_the_guard_refuses(
        loopback_server: tuple[int, list[str]]) -> None:
    port, seen = loopback_server

    async def fetch(guard: AddressGuard | None, host: str) -> str:
        async with Fetcher(user_agent="t", timeout_s=5, max_bytes=1000, pool_size=2,
                           guard=guard) as fetcher:
            try:
                return str((await fetcher.fetch(f"http://{host}:{port}/x")).status)
            except FetchFailed as failed:
                return failed.reason

    for host in ("127.0.0.1", "2130706433", "localhost", "[::ffff:127.0.0.1]"):
        assert asyncio.run(fetch(AddressGuard(), host)).startswith("private_address:")
    assert seen == []
    assert asyncio.run(fetch(None, "2130706433")) == "200"  # --allow-private: reached
    assert seen == ["/x"]


def test_a_proxy_route_is_asked_only_for_hosts_the_guard_admits(
        loopback_server: tuple[int, list[str]]) -> None:
    port, seen = loopback_server

    async def through_proxy(host: str) -> str:
        client = http1.Client(max_bytes=1000, pool_size=2, guard=AddressGuard())
        try:
            response, _ = await client.get(f"http://{host}/y", [],
                                           proxy=f"http://127.0.0.1:{port}")
            return str(response.status)
        except Refused as refused:
            return refused.reason
        finally:
            client.close()

    # The proxy itself is on loopback (the user's configuration); the targets are judged.
    assert asyncio.run(through_proxy("10.1.2.3")) == "private_address:10.1.2.3"
    assert asyncio.run(through_proxy("1.2.3.4")) == "200"
    assert seen == ["http://1.2.3.4/y"]


def test_a_name_that_does_not_resolve_is_looked_up_once_and_a_site_two_at_a_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Review 175: a failed lookup was asked again at every retry and control fetch, and a
    # site whose names never answer (a subdomain for each link) took all the event loop's
    # lookup threads that every other platform's links wait for. The resolver stands in for
    # DNS servers that answer slowly or not at all (none can be run here without the
    # machine's resolver configuration).
    from audit.measure import guard as guards

    asked: list[str] = []
    in_flight: dict[str, int] = {}
    most: dict[str, int] = {}

    async def slow_failure(host: str) -> tuple[str, ...]:
        site = host.split(".", 1)[1]
        asked.append(host)
        in_flight[site] = in_flight.get(site, 0) + 1
        most[site] = max(most.get(site, 0), in_flight[site])
        await asyncio.sleep(0.02)
        in_flight[site] -= 1
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(guards, "resolve", slow_failure)
    guard = guards.AddressGuard()

    async def scenario() -> None:
        hosts = [f"dead{n}.one.example" for n in range(6)] + [
            f"x.other{n}.example" for n in range(6)]
        assert not any(await asyncio.gather(*(guard.refuses(h) for h in hosts)))
        assert not await guard.refuses("dead0.one.example")  # again: not looked up again
        with pytest.raises(socket.gaierror):
            await guard.addresses("dead1.one.example")

    asyncio.run(scenario())
    assert sorted(asked) == sorted(set(asked)) and len(asked) == 12
    assert most["one.example"] == guards.LOOKUPS_PER_SITE
