"""hulian's own HTTP/1.1 client for the asyncio engine: one GET per connection at a time,
keep-alive pools, no redirects, no cookies, bodies returned exactly as transferred.

Why not aiohttp (which the engine used first): on the 2-core machines this is benchmarked
on, aiohttp's request machinery cost ~0.4 ms of CPU per request in the crawl, a third of
the crawl process's whole budget, and replacing it took the crawl process from ~1.0 to
~0.6 ms per request (docs/benchmarks.md; bench/http_client.py compares the two alone).
An auditor needs very little of a general client: GET, the three ways
a body is framed (RFC 9112 §6.3), keep-alive, an HTTP proxy (the lab is reached through
one), TLS without verification (as Scrapy). What it does need, it gets exactly: the request
line carries the URL byte for byte as given (nothing is re-quoted), the response head is
kept as received (order, repeats, case) for the WARC record, and every way a hostile or
broken server can answer ends in one of a few exceptions (below) that the caller turns
into a recorded failure word.

With a guard (audit/measure/guard.py), the client never resolves a target's name itself: it opens
a connection only to an address the guard checked, with the Host header and the TLS server
name still the target's name, and asks the guard about every request a proxy route carries
(the proxy's own address is the user's configuration and is not checked).

Exceptions: `TooLarge` (the body passes the limit), `BadResponse` (not HTTP/1.x as
audit/measure/failures.py defines it, or a framing error), `ConnectionResetError` (the server closed
or reset the connection before the response was complete), `guard.Refused` (the guard refused
the host), and what connecting raises (`socket.gaierror`, `ConnectionRefusedError`,
`ssl.SSLError`, other `OSError`s); the caller's timeout cancels. audit/measure/failures.py turns
each
into its word.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
import time
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from typing import cast
from urllib.parse import unquote

from audit.measure.failures import (
    CHUNK_SIZE_LINE,
    HEADER_NAME,
    MAX_CHUNK_LINE_BYTES,
    MAX_HEAD_BYTES,
    MAX_HEAD_LINES,
    MAX_LINE_BYTES,
    MAX_TRAILER_BYTES,
    STATUS_LINE,
    BadResponse,
    TooLarge,
    bad_field,
    not_http,
    valid_status,
)
from audit.measure.guard import AddressGuard, open_checked

__all__ = ["BadResponse", "Client", "Headers", "Response", "Target", "TooLarge", "split_url"]

Headers = list[tuple[str, str]]

_HEAD_END = re.compile(rb"\r?\n\r?\n")

# Field names already found valid: the same few dozen come back in every response, and a set
# lookup costs a tenth of the regex. Bounded, so a server inventing names cannot grow it.
_VALID_NAMES: set[str] = set()


def _valid_name(name: str) -> bool:
    if HEADER_NAME.fullmatch(name) is None:
        return False
    if len(_VALID_NAMES) < 4096:
        _VALID_NAMES.add(name)
    return True


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: Headers  # as received: order, repeats and the server's spelling kept
    payload: bytes  # the body as transferred (not content-decoded)
    head_at: float  # perf_counter() when the head was complete
    head_cpu: float  # thread_time() then


@dataclass(frozen=True)
class Target:
    """Where a request goes: the origin, the request line's target and the Host header."""

    scheme: str
    host: str  # without brackets for IPv6
    port: int
    host_header: str
    path: str  # origin-form: path and query, as given
    userinfo: str = ""  # user:password before the host, as given (for a proxy's credentials)

    def proxy_authorization(self) -> list[tuple[str, str]]:
        """The Proxy-Authorization header for a proxy URL with credentials (Basic)."""
        if not self.userinfo:
            return []
        user, _, password = self.userinfo.partition(":")
        token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
        return [("Proxy-Authorization", f"Basic {token}")]


# scheme, netloc (up to the first "/", "?" or "#"), path and query (up to the "#").
_URL_PARTS = re.compile(r"([^:/?#]*)://([^/?#]*)([^#]*)", re.DOTALL)


def split_url(url: str) -> Target:
    """Split an absolute http(s) URL without touching its bytes. Raises ValueError."""
    parts = _URL_PARTS.match(url)
    if parts is None:
        raise ValueError(f"not an http(s) URL: {url[:80]}")
    scheme, netloc, path = parts.groups()
    scheme, host, port, hostport, userinfo = _origin(scheme.lower(), netloc)
    return Target(scheme, host, port, hostport, path if path.startswith("/") else "/" + path,
                  userinfo)


@lru_cache(maxsize=4096)
def _origin(scheme: str, netloc: str) -> tuple[str, str, int, str, str]:
    """scheme, host, port, host header and userinfo of a netloc: the same few origins come
    back for every request of a crawl. Raises ValueError (not cached)."""
    if scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {scheme}://{netloc[:60]}")
    userinfo, _, hostport = netloc.rpartition("@")
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ValueError("unclosed IPv6 literal")
        host, port_text = hostport[1:end], hostport[end + 1:].removeprefix(":")
    else:
        host, _, port_text = hostport.partition(":")
    default = 443 if scheme == "https" else 80
    if port_text and not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(f"bad port in {netloc[:80]}")  # int() would take "+80", "8_0", " 80"
    port = int(port_text) if port_text else default
    if not host or not 0 < port < 65536 or any(c in host for c in " \t\r\n/\\"):
        raise ValueError(f"bad host or port in {netloc[:80]}")
    return scheme, host, port, hostport, userinfo


def _tls_context() -> ssl.SSLContext:
    # No certificate verification, as Scrapy does not verify either (both engines must reach
    # the same pages; an audit records what a platform serves, not whether its TLS is right).
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


class _Connection(asyncio.Protocol):
    """One connection's reading side: a state machine over the bytes as they arrive."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.ticket = 0  # its place in the client's idle order; 0 while in use
        self._head_only = False  # a CONNECT: the tunnel's answer has no body
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Response] | None = None
        self._reset_response()

    def _reset_response(self) -> None:
        self._head: tuple[int, str, Headers, bool] | None = None  # status, reason, headers, keep
        self._head_at = 0.0
        self._head_cpu = 0.0
        self._framing = ""  # "length", "chunked", "close"
        self._remaining = 0  # length framing: bytes still due; chunked: of this chunk
        self._scanned = 0  # how far the head's end was searched for already
        self._body = bytearray()  # chunked framing: the payload so far
        self._chunk_wire = 0  # chunked framing: bytes read, framing included
        self._chunk_state = "size"  # "size", "data", "crlf", "trailer"
        self._trailer_bytes = 0  # chunked framing: trailer fields so far
        self.received_any = False
        self.reusable = False

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have the Transport methods without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            # Bytes nobody asked for (a server talking out of turn): never reuse this one.
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
            return
        self.received_any = True
        self._buffer += data
        try:
            self._advance()
        except (BadResponse, TooLarge) as exc:
            self._fail(exc)
        except ValueError as exc:  # whatever a number in the head could not be read as
            self._fail(BadResponse(str(exc)[:200]))

    def eof_received(self) -> bool | None:
        self._end_of_stream(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_of_stream(exc)

    # -- requests ------------------------------------------------------------------------

    def send(self, request: bytes, *, head_only: bool = False) -> asyncio.Future[Response]:
        assert self.transport is not None
        self._reset_response()
        self._head_only = head_only
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._waiter

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # -- parsing -------------------------------------------------------------------------

    def _end_of_stream(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._head is not None and self._framing == "close":
            self._finish(bytes(self._buffer))  # the body ends where the connection does
            return
        if isinstance(exc, OSError):
            waiter.set_exception(exc)
        else:
            waiter.set_exception(ConnectionResetError("closed before the response was complete"))

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self.abort()

    def _advance(self) -> None:
        while self._head is None:
            if not self._read_head():
                return
        if self._framing == "length":
            if len(self._buffer) >= self._remaining:
                if len(self._buffer) > self._remaining:
                    self.reusable = False  # bytes after the response: out of step, drop it
                self._finish(bytes(self._buffer[:self._remaining]))
        elif self._framing == "chunked":
            self._read_chunks()
        elif len(self._buffer) > self.max_bytes:  # "close": the limit is all there is
            raise TooLarge(f"more than {self.max_bytes} bytes")

    def _read_head(self) -> bool:
        buffer = self._buffer
        # Resume the search where the last one stopped (less the 3 bytes an end could start
        # in): a server dripping its head byte by byte must not cost a rescan per read.
        match = _HEAD_END.search(buffer, max(0, self._scanned - 3))
        if match is None:
            if len(buffer) > MAX_HEAD_BYTES:
                raise BadResponse("response head too large")
            if self._scanned < 5 and not_http(bytes(buffer[:5])):
                # HTTP/0.9 or another protocol: said now, not when the connection ends.
                raise BadResponse(f"not an HTTP/1.x response: {bytes(buffer[:20])!r}")
            self._scanned = len(buffer)
            return False
        self._scanned = 0
        if match.start() > MAX_HEAD_BYTES:  # the end arrived in the read that passed the limit
            raise BadResponse("response head too large")
        head = buffer[:match.start()].decode("latin-1")  # bytes as they are, one per char
        del buffer[:match.end()]
        text = head.replace("\r\n", "\n")
        if bad_field(text):
            raise BadResponse("NUL or bare CR in the response head")
        lines = text.split("\n")
        if len(lines) > MAX_HEAD_LINES:
            raise BadResponse("too many header lines")
        status_match = STATUS_LINE.fullmatch(lines[0].rstrip())
        if status_match is None or len(lines[0]) > MAX_LINE_BYTES:
            raise BadResponse(f"not an HTTP/1.x status line: {lines[0][:60]!r}")
        minor, status_text, reason = status_match.groups()
        status = int(status_text)
        if not valid_status(status):
            raise BadResponse(f"status {status} outside 100-599")
        headers: Headers = []
        for line in lines[1:]:
            if len(line) > MAX_LINE_BYTES:
                raise BadResponse("header line too long")
            if line[:1] in (" ", "\t") and headers:  # obsolete line folding
                last_name, last_value = headers[-1]
                headers[-1] = (last_name, f"{last_value} {line.strip()}")
                continue
            name, colon, value = line.partition(":")
            if not colon or (name not in _VALID_NAMES and not _valid_name(name)):
                raise BadResponse(f"malformed header line: {line[:60]!r}")
            headers.append((name, value.strip()))
        if 100 <= status < 200 and status != 101:
            return True  # an interim response (100 Continue, 103 Early Hints): the next head
        self._head_at, self._head_cpu = time.perf_counter(), time.thread_time()
        self._frame(minor == "1", status, (reason or "").strip(), headers)
        return True

    def _frame(self, http11: bool, status: int, reason: str, headers: Headers) -> None:
        """RFC 9112 §6.3: how the body is delimited, and whether the connection stays."""
        connection = transfer = ""
        lengths: set[str] = set()
        for name, value in headers:
            lower = name.lower()
            if lower == "connection":
                connection += value.lower() + ","
            elif lower == "transfer-encoding":
                transfer += value.lower() + ","
            elif lower == "content-length":
                lengths.update(v.strip() for v in value.split(","))
        keep = ("close" not in connection) if http11 else ("keep-alive" in connection)
        self._head = (status, reason, headers, keep)
        if self._head_only or status in (101, 204, 304):
            self._framing, self._remaining = "length", 0
            self.reusable = keep and status != 101
        elif transfer:
            codings = [c.strip() for c in transfer.split(",") if c.strip()]
            if codings and codings[-1] == "chunked":
                # With a Content-Length beside it the message is suspect (RFC 9112 §6.1):
                # read as chunked, and the connection not used again.
                self._framing, self.reusable = "chunked", keep and not lengths
            else:  # a body without a length: it runs to the end of the connection
                self._framing, self.reusable = "close", False
        elif lengths:
            if len(lengths) > 1 or not all(
                    v.isascii() and v.isdigit() and len(v) <= 18 for v in lengths):
                raise BadResponse(f"bad Content-Length: {sorted(lengths)[:3]!r:.80}")
            declared = int(lengths.pop())
            if declared > self.max_bytes:
                raise TooLarge(f"Content-Length {declared} over {self.max_bytes}")
            self._framing, self._remaining, self.reusable = "length", declared, keep
        else:
            self._framing, self.reusable = "close", False

    def _read_chunks(self) -> None:
        """Chunked framing over what has arrived, with an offset (one cut of the buffer per
        read, not one per chunk); the payload grows in one bytearray. Framing counts against
        the limit too: a body of one-byte chunks with long extensions is mostly framing. The
        framing is read by RFC 9112 §7.1 as Twisted reads it for the Scrapy engine (CRLF line
        ends, a size line under 1 KB, trailers under 64 KB; audit/measure/failures.py)."""
        buffer = self._buffer
        position = 0
        try:
            while True:
                state = self._chunk_state
                if state == "data":
                    take = min(self._remaining, len(buffer) - position)
                    if take <= 0:
                        return
                    self._body += buffer[position:position + take]
                    position += take
                    self._remaining -= take
                    if self._remaining:
                        return
                    self._chunk_state = "crlf"
                    continue
                if state == "crlf":
                    if len(buffer) - position < 2:
                        return
                    if buffer[position:position + 2] != b"\r\n":
                        raise BadResponse("chunk not followed by CRLF")
                    position += 2
                    self._chunk_state = "size"
                    continue
                end = buffer.find(b"\r\n", position)
                if state == "size":
                    if end - position >= MAX_CHUNK_LINE_BYTES or (
                            end < 0 and len(buffer) - position > MAX_CHUNK_LINE_BYTES):
                        raise BadResponse("chunk size line too long")
                    if end < 0:
                        return
                    size_line = CHUNK_SIZE_LINE.fullmatch(buffer, position, end)
                    if size_line is None:
                        raise BadResponse(
                            f"bad chunk size line: {bytes(buffer[position:end])[:20]!r}")
                    size = int(size_line.group(1), 16)
                    position = end + 2
                    if size == 0:
                        self._chunk_state = "trailer"
                    elif len(self._body) + size > self.max_bytes:
                        raise TooLarge(f"more than {self.max_bytes} bytes")
                    else:
                        self._remaining, self._chunk_state = size, "data"
                    continue
                # The trailer fields, then an empty line.
                if end < 0:
                    if self._trailer_bytes + len(buffer) - position + 1 > MAX_TRAILER_BYTES:
                        raise BadResponse("chunked trailer too large")
                    return
                if end > position:
                    self._trailer_bytes += end - position + 2
                    position = end + 2
                    if self._trailer_bytes > MAX_TRAILER_BYTES:
                        raise BadResponse("chunked trailer too large")
                    continue
                position = end + 2  # the empty line: the end
                if position < len(buffer):
                    self.reusable = False
                del buffer[:position]
                position = 0
                self._finish(bytes(self._body))
                return
        finally:
            if position:
                del buffer[:position]
                self._chunk_wire += position
                if self._chunk_wire > 2 * self.max_bytes + MAX_HEAD_BYTES:
                    raise TooLarge(f"more than {self.max_bytes} bytes")

    def _finish(self, payload: bytes) -> None:
        assert self._head is not None and self._waiter is not None
        status, reason, headers, _ = self._head
        self._buffer.clear()
        waiter, self._waiter = self._waiter, None
        if not waiter.done():
            waiter.set_result(Response(status, reason, headers, payload, self._head_at,
                                       self._head_cpu))


class Client:
    """Keep-alive connections per origin (or per proxy), at most `pool_size` kept idle."""

    def __init__(self, *, max_bytes: int, pool_size: int,
                 guard: AddressGuard | None = None) -> None:
        self.max_bytes = max_bytes
        self._guard = guard
        self._pool_size = max(1, pool_size)
        self._idle: dict[tuple[str, ...], list[_Connection]] = {}
        # Oldest first, to close the longest-idle connection when too many are kept; entries
        # of connections taken since are stale (their ticket moved on) and skipped.
        self._idle_order: deque[tuple[int, tuple[str, ...], _Connection]] = deque()
        self._idle_count = 0
        self._tickets = 0
        self._tls: ssl.SSLContext | None = None

    async def get(self, url: str, headers: Headers, *, proxy: str | None = None
                  ) -> tuple[Response, Headers]:
        """GET `url` (absolute, in wire form); returns the response and the request headers
        as sent. Raises ValueError for a URL that cannot be requested."""
        target = split_url(url)
        via = split_url(proxy) if proxy else None
        if via is not None and self._guard is not None:
            # Per request, not per connection: a proxy connection is reused for any host.
            await self._guard.admit_routed(target.host)
        sent: Headers = [("Host", target.host_header), *headers]
        if via is not None and target.scheme == "http":
            sent += via.proxy_authorization()
        # Through a proxy, plain http goes in absolute form; https through a CONNECT tunnel.
        line_target = (url.split("#", 1)[0] if via is not None and target.scheme == "http"
                       else target.path)
        request = "".join([f"GET {line_target} HTTP/1.1\r\n",
                           *(f"{k}: {v}\r\n" for k, v in sent), "\r\n"])
        lines = len(sent) + 2
        if request.count("\n") != lines or request.count("\r") != lines:
            raise ValueError("a line break in the URL or a header")  # never a forged request
        data = request.encode("latin-1", errors="strict")
        key = (("proxy", via.host, str(via.port)) if via is not None and target.scheme == "http"
               else (target.scheme, target.host, str(target.port),
                     f"{via.host}:{via.port}" if via else ""))
        connection = self._take_idle(key)
        try:
            if connection is not None:
                try:
                    response = await connection.send(data)
                except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
                    if connection.received_any:
                        raise
                    # The server closed the idle connection as the request went out: once
                    # more on a fresh one, as every keep-alive client does.
                    connection.abort()
                    connection = None
                else:
                    self._release(key, connection)
                    return response, sent
            connection = await self._connect(target, via)
            response = await connection.send(data)
        except BaseException:
            if connection is not None:
                connection.abort()  # half-read or cancelled: this connection is done
            raise
        self._release(key, connection)
        return response, sent

    def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.abort()
        self._idle.clear()
        self._idle_order.clear()
        self._idle_count = 0

    # -- the pool ------------------------------------------------------------------------

    def _take_idle(self, key: tuple[str, ...]) -> _Connection | None:
        idle = self._idle.get(key)
        found = None
        while idle and found is None:
            connection = idle.pop()
            connection.ticket = 0
            self._idle_count -= 1
            if not connection.closed and connection.transport is not None \
                    and not connection.transport.is_closing():
                found = connection
        if idle is not None and not idle:
            del self._idle[key]  # no entry kept for every origin ever contacted
        return found

    def _release(self, key: tuple[str, ...], connection: _Connection) -> None:
        if not connection.reusable or connection.closed:
            connection.abort()
            return
        self._tickets += 1
        connection.ticket = self._tickets
        self._idle.setdefault(key, []).append(connection)
        self._idle_order.append((self._tickets, key, connection))
        self._idle_count += 1
        while self._idle_count > self._pool_size:
            ticket, old_key, old = self._idle_order.popleft()
            if old.ticket == ticket:
                idle = self._idle[old_key]
                idle.remove(old)
                if not idle:
                    del self._idle[old_key]
                self._idle_count -= 1
                old.ticket = 0
                old.abort()
        if len(self._idle_order) > 4 * self._pool_size + 64:  # drop the stale entries
            self._idle_order = deque(e for e in self._idle_order if e[2].ticket == e[0])

    async def _connect(self, target: Target, via: Target | None) -> _Connection:
        loop = asyncio.get_running_loop()
        max_bytes = self.max_bytes
        if via is None:
            tls = self._tls_context() if target.scheme == "https" else None

            async def connect(host: str) -> _Connection:
                _, connection = await loop.create_connection(
                    lambda: _Connection(max_bytes), host, target.port, ssl=tls,
                    server_hostname=target.host if tls else None)
                return connection

            if self._guard is None:
                return await connect(target.host)
            return await open_checked(await self._guard.addresses(target.host), connect)
        _, connection = await loop.create_connection(
            lambda: _Connection(max_bytes), via.host, via.port)
        if target.scheme == "http":
            return connection
        try:
            return await self._tunnel(loop, connection, target, via)
        except BaseException:  # refused, timed out, cancelled: the proxy connection goes too
            connection.abort()
            raise

    async def _tunnel(self, loop: asyncio.AbstractEventLoop, connection: _Connection,
                      target: Target, via: Target) -> _Connection:
        # https through the proxy: a CONNECT tunnel, then TLS inside it.
        authority = target.host_header if ":" in target.host_header.lstrip("[").split("]")[-1] \
            else f"{target.host_header}:{target.port}"
        credentials = "".join(f"{k}: {v}\r\n" for k, v in via.proxy_authorization())
        tunnel = await connection.send(
            f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{credentials}\r\n"
            .encode("latin-1"), head_only=True)
        if not 200 <= tunnel.status < 300:
            connection.abort()
            raise ConnectionRefusedError(f"proxy refused the tunnel: {tunnel.status}")
        assert connection.transport is not None
        transport = await loop.start_tls(connection.transport, connection,
                                         self._tls_context(), server_hostname=target.host)
        if transport is None:
            raise ConnectionResetError("TLS over the proxy tunnel failed")
        connection.transport = transport
        connection.closed = False
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = _tls_context()
        return self._tls
