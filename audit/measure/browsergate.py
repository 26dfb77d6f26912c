"""--render's browser gate: the only way Chromium reaches the network, through the
private-address guard.

Chromium fetches on its own (subresources, redirects, fetch/XHR, WebSockets, preconnects)
and resolves names on its own, so checking the URLs hulian asks it to load closes nothing: a
page loads what it likes, and a name checked by hulian can answer Chromium differently (DNS
rebinding). Intercepting requests in Playwright does not close it either: routed requests
that are let through are still connected by Chromium, and WebSockets and preconnects are
not routed requests at all. So Chromium never connects anywhere itself:

- it is launched with this gate as its HTTP proxy for everything, loopback included
  (`--proxy-bypass-list=<-loopback>` drops Chromium's implicit bypass of localhost);
- its own name resolution answers nothing (`--host-resolver-rules`, except the gate's own
  address), so anything that tried to go around the proxy would find no address;
- WebRTC may not send UDP outside the proxy (`--webrtc-ip-handling-policy`);
- the gate checks every request (absolute-form GET/POST/..., CONNECT for https and for
  WebSockets) with the run's guard, and connects to the address the guard checked, the same
  one the crawl's own connections use; a request the guard refuses gets a 403 and a line in
  `evidence/render-refused.jsonl` of the run bundle (sealed with the rest of the evidence).

Hosts a `--route` sends through a proxy are forwarded to that proxy, after the guard's check
of the target's name (audit/measure/guard.py says why the proxy's own address is not checked).
The browser's requests are read by llhttp (Node's parser, through httptools, as the asyncio
engine's client reads responses): the request line, the fields and the body's framing, which
the gate re-frames for the server, so that the server is sent exactly the message the gate
read and checked (a request llhttp refuses, such as one with two Content-Lengths or both
framings, gets a 400). Plain-http requests are sent with `Connection: close`, one request per
connection: the gate never has to find where a response ends to reuse a connection for
another host. Only the request's own body is forwarded: Chromium keeps a proxy connection alive
and sends its next request, for any host, on it, and a server that ignores `Connection:
close` would have received that request unchecked and answered it as the other host. Bytes
after the body are not forwarded: the first of them close the exchange (Chromium sends a
request only after the response before it is complete), and Chromium sends the request again
on a new connection, which the gate checks. (Waiting for the server to close instead left the
browser waiting, without end, on a server that keeps its connections open: an adversarial
review.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httptools

from audit.measure.asyncio.http1 import split_url
from audit.measure.guard import AddressGuard, Refused, open_checked, route_for

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authorization",
                         "te", "upgrade"})
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class BadRequest(Exception):
    """Not a proxy request the gate can forward."""


@dataclass(frozen=True)
class _Request:
    method: str
    target: str  # as the browser sent it: "host:port" for CONNECT, else an absolute URL
    version: str
    headers: list[tuple[str, str]]

    @property
    def host_port(self) -> tuple[str, int]:
        if self.method == "CONNECT":
            return _authority(self.target)
        parts = split_url(self.target)
        if parts.scheme != "http":  # https always comes as CONNECT
            raise BadRequest(f"not a proxy request: {self.target[:80]}")
        return parts.host, parts.port


def _authority(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadRequest(f"bad CONNECT authority: {text[:80]}")
    return host.strip("[]"), int(port)


class _Next(Exception):
    """Raised from a parser callback where a second request begins: not this exchange's."""


class _RequestReader:
    """The browser's side of one exchange, read by llhttp (through httptools): the request's
    head, then its body as llhttp frames it (Content-Length or chunked), re-framed for the
    upstream, so the server is sent exactly the one message the gate read; where a next
    request begins, `more` is set and nothing of it is forwarded."""

    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._url = bytearray()
        self._headers: list[tuple[str, str]] = []
        self.fed = 0  # bytes fed before the head was whole
        self._chunked = False
        self.head_done = False
        self.complete = False
        self.more = False  # bytes of a next request came after this one
        self.tunnel = b""  # after a CONNECT's head: the tunnel's first bytes
        self.body: deque[bytes] = deque()  # framed for the upstream, not yet sent

    # llhttp's callbacks

    def on_message_begin(self) -> None:
        if self.complete:
            self.more = True
            raise _Next

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.head_done:  # after it: a chunked body's trailer, not forwarded
            self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.head_done = True
        self._chunked = any(n.lower() == "transfer-encoding" for n, _ in self._headers)

    def on_body(self, body: bytes) -> None:
        self.body.append(b"%x\r\n%s\r\n" % (len(body), body) if self._chunked else body)

    def on_message_complete(self) -> None:
        self.complete = True
        if self._chunked:
            self.body.append(b"0\r\n\r\n")  # trailer fields are not forwarded

    # feeding

    def feed(self, data: bytes) -> None:
        if not self.head_done:
            self.fed += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            # CONNECT (or an Upgrade, which the gate does not forward: its fields are dropped
            # as hop-by-hop): the message ends with its head.
            self.complete = True
            self.tunnel = data[upgrade.args[0]:] if upgrade.args else b""
        except httptools.HttpParserError as exc:
            if not self.more:
                raise BadRequest(f"llhttp: {str(exc)[:120]}") from None
        if not self.head_done and self.fed > MAX_HEAD_BYTES:
            raise BadRequest(f"a request head over {MAX_HEAD_BYTES} bytes")

    def request(self) -> _Request:
        return _Request(self._parser.get_method().decode("latin-1"),
                        self._url.decode("latin-1"),
                        f"HTTP/{self._parser.get_http_version()}", self._headers)


def _head(first_line: str, headers: list[tuple[str, str]]) -> bytes:
    return "".join([first_line, "\r\n", *(f"{k}: {v}\r\n" for k, v in headers), "\r\n"]
                   ).encode("latin-1")


class BrowserGate:
    """The proxy server; its listening socket exists from construction, so Chromium's launch
    arguments can name the port before the crawl's event loop runs."""

    def __init__(self, *, guard: AddressGuard | None, routes: dict[str, str], refusals: Path,
                 timeout_s: float):
        self.guard = guard  # None: --allow-private (the gate still applies the routes)
        self.routes = routes
        self.refusals = refusals
        self.timeout_s = timeout_s
        self.refused = 0
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.setblocking(False)
        self.port: int = self._socket.getsockname()[1]
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    def __deepcopy__(self, memo: dict[int, object]) -> BrowserGate:
        return self  # a server, not a value: Scrapy's copies of its settings share it

    def chromium_args(self) -> list[str]:
        return [f"--proxy-server=http://127.0.0.1:{self.port}",
                "--proxy-bypass-list=<-loopback>",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                "--webrtc-ip-handling-policy=disable_non_proxied_udp"]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, sock=self._socket,
                                                  limit=MAX_HEAD_BYTES)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        self._socket.close()

    # -- one browser connection ----------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                TimeoutError):
            pass  # the browser went away or sent nothing usable: nothing to answer
        except asyncio.CancelledError:
            pass  # the gate is closing (close() cancels its connections and waits for them)
        except Exception:
            logger.exception("browser gate: unexpected failure")
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reading = _RequestReader()
        try:
            async with asyncio.timeout(self.timeout_s):
                while not reading.head_done:
                    # Never more than one byte past the bound: a head that ends within it is
                    # whole, one that does not is refused (feed), so no head over the bound
                    # is forwarded, however the bytes arrive.
                    data = await reader.read(min(65536, MAX_HEAD_BYTES + 1 - reading.fed))
                    if not data:
                        return
                    reading.feed(data)
            request = reading.request()
        except BadRequest as bad:
            await _answer(writer, 400, str(bad))
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                upstream, forward = await self._open(request)
        except Refused as refused:
            self._record(request, refused.reason)
            await _answer(writer, 403, refused.reason)
            return
        except BadRequest as bad:
            await _answer(writer, 400, str(bad))
            return
        except (OSError, ValueError, TimeoutError) as exc:
            await _answer(writer, 502, type(exc).__name__)
            return
        up_reader, up_writer = upstream
        try:
            if forward:
                up_writer.write(forward)
            else:  # a CONNECT the gate itself opened
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if request.method == "CONNECT":
                up_writer.write(reading.tunnel)
                sending = _copy(reader, up_writer)
            else:
                sending = _send_body(reader, up_writer, reading, self.timeout_s)
            await _relay(sending, _copy(up_reader, writer))
        finally:
            up_writer.close()

    async def _open(self, request: _Request) -> tuple[Streams, bytes]:
        """The connection for `request` and the bytes to send on it first (none for a tunnel
        the gate opened itself, whose 200 the gate answers)."""
        host, port = request.host_port
        proxy = route_for(self.routes, host)
        if proxy is not None:
            if self.guard is not None:
                await self.guard.admit_routed(host)
            via = split_url(proxy)
            streams = await asyncio.open_connection(via.host, via.port)
            headers = [h for h in request.headers if h[0].lower() not in _HOP_BY_HOP]
            if request.method != "CONNECT":
                headers.append(("Connection", "close"))
            first = f"{request.method} {request.target} {request.version}"
            return streams, _head(first, [*headers, *via.proxy_authorization()])
        addresses = (await self.guard.addresses(host) if self.guard is not None
                     else (host,))
        streams = await open_checked(addresses,
                                     lambda address: asyncio.open_connection(address, port))
        if request.method == "CONNECT":
            return streams, b""
        headers = [h for h in request.headers if h[0].lower() not in _HOP_BY_HOP]
        first = f"{request.method} {split_url(request.target).path} {request.version}"
        return streams, _head(first, [*headers, ("Connection", "close")])

    def _record(self, request: _Request, failure: str) -> None:
        self.refused += 1
        referer = next((v for k, v in request.headers if k.lower() == "referer"), None)
        entry = {"at": datetime.now(UTC).isoformat(), "method": request.method,
                 "target": request.target, "failure": failure, "referer": referer}
        try:
            self.refusals.parent.mkdir(parents=True, exist_ok=True)
            with self.refusals.open("a", encoding="utf-8") as file:
                file.write(json.dumps(entry, ensure_ascii=False) + "\n")
        except OSError:
            logger.exception("could not record a refused browser request")


async def _answer(writer: asyncio.StreamWriter, status: int, text: str) -> None:
    reason = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[status]
    body = f"hulian browser gate: {text}\n".encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"),
               ("Content-Length", str(len(body))), ("Connection", "close")]
    if status == 403:
        headers.append(("X-Hulian-Refused", text))
    writer.write(_head(f"HTTP/1.1 {status} {reason}", headers) + body)
    with contextlib.suppress(ConnectionError):
        await writer.drain()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


async def _send_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     reading: _RequestReader, idle_s: float) -> None:
    """A plain-http request's body as llhttp reads it, and nothing after it: returns (which
    ends the exchange) when the browser sends more, its next request on a kept-alive
    connection. A body that stalls for `idle_s` ends it too (a body sent a byte at a time
    held a connection without end: a review); a browser that only half-closes after its
    request still gets the response."""
    while True:
        while reading.body:
            writer.write(reading.body.popleft())
        await writer.drain()
        if reading.complete:
            break
        async with asyncio.timeout(idle_s):
            data = await reader.read(65536)
        if not data:
            return
        try:
            reading.feed(data)
        except BadRequest:
            return  # a body llhttp cannot frame: the exchange ends where it went wrong
    if not reading.more and not await reader.read(1):
        await asyncio.Event().wait()  # half-closed: the response ends the exchange


async def _relay(sending: Coroutine[None, None, None],
                 receiving: Coroutine[None, None, None]) -> None:
    """Both directions until either is done (one request, or one tunnel)."""
    directions = [asyncio.ensure_future(sending), asyncio.ensure_future(receiving)]
    try:
        await asyncio.wait(directions, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for direction in directions:
            direction.cancel()
        await asyncio.gather(*directions, return_exceptions=True)
