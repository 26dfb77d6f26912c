"""hulian's HTTP/1.1 client for the asyncio engine: one GET per connection at a time,
keep-alive pools, no redirects, no cookies, bodies returned exactly as transferred.

Responses are parsed by llhttp (Node's parser, through httptools): status line, fields and
the body's framing (RFC 9112 §6.3). The client around it is hulian's own, not aiohttp (which
the engine used first): on the 2-core machines this is benchmarked on, aiohttp's request
machinery cost ~0.4 ms of CPU per request in the crawl, a third of the crawl process's whole
budget, and replacing it took the crawl process from ~1.0 to ~0.6 ms per request
(docs/benchmarks.md; bench/http_client.py compares the two alone). An auditor needs very
little of a general client: GET, keep-alive, an HTTP proxy (the lab is reached through
one), TLS without verification (as Scrapy). What it does need, it gets exactly: the request
line carries the URL byte for byte as given (nothing is re-quoted), the response head is
kept as received (order, repeats, case) for the WARC record, the body as transferred (before
content decoding), the rules of a readable response with their bounds
(audit/measure/failures.py, applied by the Scrapy engine's Twisted parser alike), and every
way a hostile or broken server can answer ends in one of a few exceptions (below) that the
caller turns into a recorded failure word.

With a guard (audit/measure/guard.py), the client never resolves a target's name itself: it opens
a connection only to an address the guard checked, with the Host header and the TLS server
name still the target's name, and asks the guard about every request a proxy route carries
(the proxy's own address is the user's configuration and is not checked).

Exceptions: `TooLarge` (the body passes the limit), `BadResponse` (not HTTP/1.x as
audit/measure/failures.py defines it, or a framing error), `ConnectionResetError` (the server closed
or reset the connection before the response was complete), `guard.Refused` (the guard refused
the host), and what connecting raises (`socket.gaierror`, `ConnectionRefusedError`,
`ssl.SSLError`, other `OSError`s); the caller's timeout cancels. audit/measure/failures.py
turns each into its word.
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

import httptools

from audit.measure.failures import (
    HEADER_NAME,
    MAX_CHUNK_LINE_BYTES,
    MAX_HEAD_BYTES,
    MAX_HEAD_LINES,
    MAX_LINE_BYTES,
    MAX_TRAILER_BYTES,
    BadResponse,
    Failed,
    Received,
    TooLarge,
    not_http,
    valid_status,
)
from audit.measure.guard import AddressGuard, open_checked
from audit.web.fields import FIELD_WHITESPACE

__all__ = ["BadResponse", "Client", "Headers", "Response", "Target", "TooLarge", "split_url"]

Headers = list[tuple[str, str]]

_HEAD_END = re.compile(rb"\r?\n\r?\n")

# Where hulian's rules (audit/measure/failures.py) and llhttp's defaults part, the rules win:
# - obs-fold (RFC 9112 §5.2: a user agent must accept it in a response, replacing it by a
#   space) and bare-LF line ends (§2.2: a recipient may) are read, as Twisted reads them for
#   the Scrapy engine; llhttp needs `lenient_headers` for the first, which also lets a space
#   before the colon and any byte in a value through: the rules refuse those themselves
#   (the field-name check in `on_header`; NUL and bare CR over the whole head, before llhttp);
# - a Content-Length beside `Transfer-Encoding: chunked` is read as chunked (RFC 9112
#   §6.3), as Twisted does, and the connection is not used again; llhttp refuses it strictly.
# Where llhttp is stricter than the rules were, llhttp is right and the rules follow it (both
# engines; tests/test_zoo.py): one space after the version (RFC 9112 §4), one Content-Length
# field (RFC 9110 §8.6 lets a recipient refuse repeats), chunked framing by RFC 9112 §7.1's
# grammar with CRLF line ends only (a bare LF is a framing error at once, not a wait for a
# CRLF that never comes): for a chunked body the leniencies are taken back once the head is
# read (llhttp reads size lines strictly anyway; trailer lines it would not).
_HEAD_LENIENCIES = {"lenient_headers": True, "lenient_optional_cr_before_lf": True,
                    "lenient_chunked_length": True}

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
    cut: bool = False  # only the body's start was read (`keep_start`), the rest left unread


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


class _Stop(Exception):
    """Raised from a parser callback to stop llhttp at bytes that follow the response."""


def _failure(exc: httptools.HttpParserError) -> Failed:
    """What llhttp refused, as hulian's exception: the callbacks' own (a limit, a field name)
    where one of them stopped it, else a framing error."""
    cause = exc.__context__
    return cause if isinstance(cause, Failed) else BadResponse(f"llhttp: {str(exc)[:200]}")


def _without_orphan_folds(head: bytes) -> bytes:
    """The head without the lines right after its status line that start with a space or a
    tab: a continuation of no field. Chromium ignores them and Twisted's reading (the Scrapy
    engine) drops them; llhttp, lenient, read ` Content-Type: text/html` as a field, and a
    text notice as a page whose refresh forwarded (a review)."""
    start = head.find(b"\n") + 1
    rest = head[start:]
    if rest[:1] not in (b" ", b"\t"):
        return head
    while rest[:1] in (b" ", b"\t"):
        line_end = rest.find(b"\n")
        rest = rest[line_end + 1:] if line_end >= 0 else b""
    return head[:start] + rest


class _Connection(asyncio.Protocol):
    """One connection's reading side. llhttp (through httptools) reads each response: the
    status line, the fields, and how the body is framed (RFC 9112 §6.3: Content-Length,
    chunked, to the end of the connection; interim and bodiless statuses; keep-alive). Around
    it hulian keeps what the auditor needs and llhttp has no setting for: the rules of a
    readable response (audit/measure/failures.py) with their bounds, the size limit, and the
    body as transferred for the WARC record.

    The head is found here (bounded, resumable) and checked against the head rules before
    llhttp sees it, so the bounds are exact: httptools reports a field only once it is whole,
    after buffering it, and offers no byte limit. The body goes to llhttp as it arrives."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.ticket = 0  # its place in the client's idle order; 0 while in use
        self._head_only = False  # a CONNECT: the tunnel's answer has no body
        self._keep: int | None = None  # keep the body's first bytes past this (send)
        self._buffer = bytearray()  # the head so far; the body goes straight to llhttp
        self._waiter: asyncio.Future[Response] | None = None
        self._reset_response()

    def _reset_response(self) -> None:
        self._parser: httptools.HttpResponseParser | None = None
        self._scanned = 0  # how far the head's end was searched for already
        self._status = 0
        self._reason = b""
        self._headers: Headers = []  # as received: order, repeats and the server's spelling
        self._head_read = False  # llhttp read the head just fed (interim or final)
        self._final = False  # the final head was read: what follows is its body
        self._complete = False  # llhttp read the whole message
        self._eof_body = False  # its body runs to the end of the connection
        # One buffer, not a piece per callback: a body of ten million one-byte chunks held
        # ten million bytes objects, ~900 MB for a 10 MB body (an adversarial review).
        self._body = bytearray()
        self._size = 0  # payload bytes so far
        self._cut = False  # the body reached `_keep`: what follows is not read
        self._wire = 0  # body bytes as transferred, framing included
        self._fed_body = 0  # payload bytes llhttp found in the bytes fed last
        # A chunked body: where llhttp is in the bytes fed last, for the bounds on its
        # framing (below).
        self._chunked = False
        self._data = b""
        self._pos = 0
        self._line = 0  # bytes of the size line (or trailer section) from earlier reads
        self._chunk = "size"  # reading a size line; "header": one was read; "data"
        self._tail = b""
        self._head_at = 0.0
        self._head_cpu = 0.0
        self._received = Received()  # the answer's first bytes, for an unreadable one's record
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
        self._received.add(data)
        try:
            if self._final:
                self._feed(data)
            else:
                self._buffer += data
                self._read_heads()
        except Failed as exc:
            self._fail(exc)

    def eof_received(self) -> bool | None:
        self._end_of_stream(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_of_stream(exc)

    # -- requests ------------------------------------------------------------------------

    def send(self, request: bytes, *, head_only: bool = False,
             keep_start: int | None = None) -> asyncio.Future[Response]:
        """`keep_start`: a body longer than that many bytes is not a failure (TooLarge): its
        first bytes are the response's payload (`cut`), and the connection is closed."""
        assert self.transport is not None
        self._reset_response()
        self._head_only = head_only
        self._keep = keep_start
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._waiter

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # -- llhttp's callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:
            raise _Stop  # a second response where one was asked for: out of step

    def on_status(self, reason: bytes) -> None:
        self._reason += reason  # in pieces when the line arrives in pieces

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._final:
            return  # a chunked body's trailer field: not part of the head
        text = name.decode("latin-1")
        # llhttp's leniency for obs-fold also lets `Name :` through (below): the rule is
        # hulian's, as Twisted's.
        if text not in _VALID_NAMES and not _valid_name(text):
            raise BadResponse(f"a field name that is not a token: {text[:60]!r}")
        # Only space and tab are trimmed (RFC 9110's OWS, and Chromium's): `text/html\x0b`
        # is no HTML to a browser, and read as `text/html` a notice shown as text read as a
        # page whose refresh forwarded (a review). Twisted's parser is held to the same rule
        # (spiders/failures.py).
        self._headers.append((text, value.decode("latin-1").strip(FIELD_WHITESPACE)))

    def on_headers_complete(self) -> None:
        parser = self._parser
        assert parser is not None
        self._head_read = True
        status = self._status = parser.get_status_code()
        if parser.get_http_version() not in ("1.0", "1.1"):  # llhttp reads HTTP/0.9 too
            raise BadResponse(f"not HTTP/1.x: {parser.get_http_version()}")
        if not valid_status(status):
            raise BadResponse(f"status {status} outside 100-599")
        if status == 101 and not self._head_only:
            # hulian asks for no upgrade: a switch of protocols is no answer to its GET, and
            # shows no page (review 135: read as the final answer, a target reached `direct`).
            raise BadResponse("101 Switching Protocols to a request that asked for no upgrade")
        if 100 <= status < 200 and status != 101:
            return  # an interim response (100 Continue, 103 Early Hints): the next head
        self._final = True
        self._head_at, self._head_cpu = time.perf_counter(), time.thread_time()
        keep = parser.should_keep_alive()  # llhttp's, by version and Connection
        if self._head_only or status in (101, 204, 304):
            self.reusable = keep and status != 101
            return
        # How llhttp frames the body, which httptools does not expose (no length, no
        # chunked flag, no llhttp_finish for a body that ends with the connection).
        length = coding = ""
        for name, value in self._headers:
            lower = name.lower()
            if lower == "transfer-encoding":
                coding = value
            elif lower == "content-length":
                length = value  # llhttp refused a second one, and any but digits
        if coding:
            self._chunked = coding.rpartition(",")[2].strip().lower() == "chunked"
            self._eof_body = not self._chunked
            if self._chunked:  # trailer lines are read strictly, as every chunk line
                parser.set_dangerous_leniencies(lenient_headers=False,
                                                lenient_optional_cr_before_lf=False)
            # With a Content-Length beside it the message is suspect (RFC 9112 §6.1): read
            # as chunked (llhttp's leniency), and the connection not used again.
            self.reusable = keep and self._chunked and not length
        elif length:
            if int(length) > self.max_bytes and self._keep is None:
                raise TooLarge(f"Content-Length {length} over {self.max_bytes}")
            self.reusable = keep
        else:
            self._eof_body = True

    def on_body(self, body: bytes) -> None:
        if self._cut:
            return  # past the start kept: the rest of the bytes llhttp was handed
        if self._keep is not None and self._size + len(body) >= self._keep:
            body = body[:self._keep - self._size]
            self._cut = True
        self._body += body
        self._size += len(body)
        self._fed_body += len(body)
        if self._size > self.max_bytes:
            raise TooLarge(f"more than {self.max_bytes} bytes")
        if self._chunked:
            self._pos += len(body)
            self._chunk = "data"

    def on_message_complete(self) -> None:
        self._complete = True

    def on_chunk_header(self) -> None:
        # The size line just ended, at the first LF from where it began (llhttp checked it).
        end = self._data.find(b"\n", self._pos)
        if self._line + end - self._pos - 1 >= MAX_CHUNK_LINE_BYTES:
            raise BadResponse("chunk size line too long")
        self._line, self._pos, self._chunk = 0, end + 1, "header"
        self._tail = b"\r\n"  # the last bytes before the trailers, where their end is sought

    def on_chunk_complete(self) -> None:
        if self._chunk == "data":  # the CRLF after the data (the last chunk has none)
            self._pos = self._data.find(b"\n", self._pos) + 1
            self._chunk = "size"

    # -- reading ---------------------------------------------------------------------------

    def _read_heads(self) -> None:
        """Each head in the buffer in turn, held to the head rules, then to llhttp: with
        whatever of the body came with it, or alone where an interim response (its status
        starts with 1) or a tunnel's answer may be followed by bytes that are not its body."""
        buffer = self._buffer
        while not self._final:
            end = self._head_end()
            if end < 0:
                return
            head = _without_orphan_folds(bytes(buffer[:end]))
            if buffer[9:10] == b"1" or self._head_only:
                del buffer[:end]
                self._start(head, len(head))
                continue
            data = head + bytes(buffer[end:])
            buffer.clear()
            self._start(data, len(head))
            return
        # The final head was fed alone: a tunnel's answer, or a 101.
        if self._waiter is None:
            return  # llhttp read the whole message
        if buffer:
            self.reusable = False  # bytes after the response: out of step
        self._finish()

    def _head_end(self) -> int:
        """Where the next head ends in the buffer, once it has arrived (-1 before), held to
        the head rules of audit/measure/failures.py."""
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
            return -1
        self._scanned = 0
        size = match.start()
        if size > MAX_HEAD_BYTES:  # the end arrived in the read that passed the limit
            raise BadResponse("response head too large")
        lines = buffer.count(b"\n", 0, size) + 1
        if lines > MAX_HEAD_LINES:
            raise BadResponse("too many header lines")
        # failures.bad_field, on the bytes: no NUL, no CR but before an LF.
        if buffer.find(b"\0", 0, size) >= 0 or \
                buffer.count(b"\r", 0, size) != buffer.count(b"\r\n", 0, size):
            raise BadResponse("NUL or bare CR in the response head")
        if size > MAX_LINE_BYTES and max(map(len, buffer[:size].replace(
                b"\r\n", b"\n").split(b"\n"))) > MAX_LINE_BYTES:
            raise BadResponse("header line too long")
        return match.end()

    def _start(self, data: bytes, head: int) -> None:
        """A new llhttp parser for the response whose head is the first `head` bytes."""
        parser = httptools.HttpResponseParser(self)
        parser.set_dangerous_leniencies(**_HEAD_LENIENCIES)
        self._parser = parser
        self._reason, self._headers = b"", []
        self._head_read = self._complete = False
        try:
            self._feed(data, head)
        except httptools.HttpParserUpgrade:
            pass  # 101 with Upgrade: llhttp stops where the head ends (fed alone)
        except BadResponse:
            if not (self._head_read and self._status == 101):  # 101 without Upgrade
                raise
        if not self._head_read:
            raise BadResponse("llhttp read no whole head where the head ended")

    def _feed(self, data: bytes, head: int = 0) -> None:
        """Bytes to llhttp: the body's, after a head of `head` bytes."""
        assert self._parser is not None
        self._wire += len(data) - head
        limit = self.max_bytes if self._keep is None else min(self.max_bytes, self._keep)
        if self._wire > 2 * limit + MAX_HEAD_BYTES:
            # Framing counts against the limit too: a body of one-byte chunks with long
            # extensions is mostly framing.
            if self._keep is None:
                raise TooLarge(f"more than {self.max_bytes} bytes")
            self._cut = True
            self._finish_cut()
            return
        self._data, self._pos, self._fed_body = data, head, 0
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            raise
        except httptools.HttpParserError as exc:
            if not self._complete:
                raise _failure(exc) from exc
            self.reusable = False  # bytes after the response (_Stop, or after a close)
        if self._cut:
            self._finish_cut()
            return
        if self._final:
            if self._chunked:
                self._bound_framing(len(data))
            elif self._complete and len(data) - head > self._fed_body:
                self.reusable = False  # bytes after the response: out of step, drop it
            if self._complete:
                self._finish()

    def _bound_framing(self, fed: int) -> None:
        """Twisted's bounds on chunked framing (audit/measure/failures.py), which llhttp has
        not: a size line under 1 KB, trailers under 64 KB. llhttp checks the grammar; the
        callbacks above follow where it is, so the lengths are exact across reads."""
        tail = self._line + fed - self._pos  # what the last callback left unread
        if self._chunk == "size":
            self._line = tail
            if tail > MAX_CHUNK_LINE_BYTES:
                raise BadResponse("chunk size line too long")
        elif self._chunk == "header" and self._pos < fed:  # the last chunk's trailers
            unread = self._data[self._pos:]
            if not self._complete:
                self._line = tail
                self._tail = (self._tail + unread)[-3:]
                if tail > MAX_TRAILER_BYTES:
                    raise BadResponse("chunked trailer too large")
                return
            # The trailer section ends at the first empty line (with no trailers, the size
            # line's CRLF and one more); any bytes after it are out of step.
            text = self._tail + unread
            end = text.find(b"\r\n\r\n") + 4
            if self._line + end - len(self._tail) - 2 > MAX_TRAILER_BYTES:
                raise BadResponse("chunked trailer too large")
            if end < len(text):
                self.reusable = False

    def _end_of_stream(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._final and self._eof_body and not self._complete:
            self._finish()  # the body ends where the connection does
            return
        if isinstance(exc, OSError):
            waiter.set_exception(exc)
        else:
            waiter.set_exception(ConnectionResetError("closed before the response was complete"))

    def _fail(self, exc: Exception) -> None:
        self._received.attach(exc)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self.abort()

    def _finish_cut(self) -> None:
        """The start of the body is kept (`keep_start`): the response ends here, and the
        connection with it (the rest of the body is still on its way)."""
        self.reusable = False
        self._finish()
        self.abort()

    def partial(self) -> Response | None:
        """The answer so far, where its head came and its body did not end (a server that
        never finishes a page: what a browser has drawn of it by then); marked `cut`."""
        if not self._final or self._complete or self._head_only:
            return None
        return Response(self._status, self._reason.decode("latin-1").strip(), self._headers,
                        bytes(self._body), self._head_at, self._head_cpu, True)

    def _finish(self) -> None:
        payload = bytes(self._body)
        response = Response(self._status, self._reason.decode("latin-1").strip(),
                            self._headers, payload, self._head_at, self._head_cpu, self._cut)
        self._parser, self._data, self._body = None, b"", bytearray()  # llhttp holds our callbacks
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)


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

    async def get(self, url: str, headers: Headers, *, proxy: str | None = None,
                  keep_start: int | None = None,
                  partial: list[tuple[Response, Headers]] | None = None
                  ) -> tuple[Response, Headers]:
        """GET `url` (absolute, in wire form); returns the response and the request headers
        as sent. Raises ValueError for a URL that cannot be requested. `keep_start`: read at
        most that many body bytes and keep them (_Connection.send). `partial`: where a
        cancelled exchange (the caller's timeout) leaves its answer so far, if it has one
        (_Connection.partial)."""
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
                    response = await connection.send(data, keep_start=keep_start)
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
            response = await connection.send(data, keep_start=keep_start)
        except BaseException:
            if connection is not None:
                if partial is not None and (so_far := connection.partial()) is not None:
                    partial.append((so_far, sent))
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
