"""A zoo of hostile HTTP servers on 127.0.0.1, for crawling with both engines
(tests/test_zoo.py): one raw asyncio server, reached as an HTTP proxy for every `*.test`
host, that misbehaves at the byte level in a different way per host name.

- `forum.test/post/1` is the seed page: one link per case and position (below);
- `CASE.go.test` plays the platform's link wrapper (`/?url=TARGET`, declared in the zoo's
  policy) and answers as CASE does: the hostile hop of a link whose target is healthy;
- `CASE.ok.test` is that healthy target (a small page);
- `CASE.bad.test` answers as CASE does, as the link's target itself (its control fetch meets
  the same server).

The server runs in a thread of the test process with its own event loop; every connection
it saw is counted per host, so a test can tell a case was really reached.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import socket
import struct
import threading
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from tests.localsite import forum_policies

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter
# A case's answer to one request (to its host and path); True keeps the connection for the
# next request on it.
Handler = Callable[[Reader, Writer, str, str], Awaitable[bool | None]]

# Long enough for a 32 MB body over loopback while both engines, the zoo and whatever else
# shares the machine's two cores run (3 s was not, under a load of 2.5), short enough that
# the cases which only end at the timeout (four fetches as the target: the hop and the
# control, each retried once) stay well under a minute.
TIMEOUT_S = 6.0
# How long a slow or silent case keeps a connection at most, whatever the client does.
HOLD_S = 30.0

WRAPPER_POLICY = """\
wrappers:
  - id: zoo-go
    match: {hosts: [.go.test], path: "^/"}
    target: query
    params: [url]
    cite: {fact: "test fixture"}
"""


def policies(directory: Path) -> Path:
    """The zoo's policy directory: `testforum` on forum.test, with `*.go.test` its wrapper."""
    policy_dir = forum_policies(directory, extra=WRAPPER_POLICY)
    platform = policy_dir / "platforms" / "testforum.yaml"
    platform.write_text(platform.read_text(encoding="utf-8").replace(
        "domains: [forum.test]", "domains: [forum.test, go.test]"), encoding="utf-8")
    return policy_dir


# -- what the cases send ----------------------------------------------------------------------

PAGE = b"<html><head><title>ok</title></head><body><p>a healthy page</p></body></html>"


def _answer(status: bytes, headers: list[bytes], body: bytes) -> bytes:
    return b"".join([b"HTTP/1.1 ", status, b"\r\n", *(h + b"\r\n" for h in headers),
                     b"\r\n", body])


@functools.cache
def _bombs() -> tuple[bytes, bytes]:
    """gzip and deflate of 64 MB of zeros (twice the size limit), ~64 KB each on the wire."""
    zeros = b"\0" * (64 << 20)
    return gzip.compress(zeros, 9), zlib.compress(zeros, 9)


async def _send(writer: Writer, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


async def _stream(writer: Writer, head: bytes, piece: bytes, limit: int = 200 << 20) -> None:
    """`head`, then `piece` again and again until the client goes (or `limit` bytes)."""
    await _send(writer, head)
    sent = 0
    while sent < limit:
        await _send(writer, piece)
        sent += len(piece)


async def _hold(reader: Reader) -> None:
    """Keep the connection open without a word until the client closes it."""
    with suppress(TimeoutError):
        async with asyncio.timeout(HOLD_S):
            while await reader.read(65536):
                pass


def _reset(writer: Writer) -> None:
    """Close with a TCP RST (SO_LINGER 0), not a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _fixed(data: bytes) -> Handler:
    async def handler(reader: Reader, writer: Writer, host: str, path: str) -> None:
        await _send(writer, data)

    return handler


async def _gzip_bomb(reader: Reader, writer: Writer, host: str, path: str) -> None:
    body = _bombs()[0]
    await _send(writer, _answer(b"200 OK", [b"Content-Type: text/html", b"Content-Encoding: gzip",
                                            b"Content-Length: %d" % len(body)], body))


async def _deflate_bomb(reader: Reader, writer: Writer, host: str, path: str) -> None:
    body = _bombs()[1]
    await _send(writer, _answer(b"200 OK", [b"Content-Type: text/html",
                                            b"Content-Encoding: deflate",
                                            b"Content-Length: %d" % len(body)], body))


async def _endless_body(reader: Reader, writer: Writer, host: str, path: str) -> None:
    await _stream(writer, _answer(b"200 OK", [b"Content-Type: text/html"], b""),
                  b"<p>more</p>" * 100_000)


async def _endless_chunks(reader: Reader, writer: Writer, host: str, path: str) -> None:
    chunk = b"<p>more</p>" * 100_000
    await _stream(writer, _answer(b"200 OK", [b"Content-Type: text/html",
                                              b"Transfer-Encoding: chunked"], b""),
                  b"%x\r\n%s\r\n" % (len(chunk), chunk))


async def _oversize_body(reader: Reader, writer: Writer, host: str, path: str) -> None:
    size = 40 << 20
    await _stream(writer, _answer(b"200 OK", [b"Content-Type: text/html",
                                              b"Content-Length: %d" % size], b""),
                  b"x" * (1 << 20), limit=size)


async def _slowloris_head(reader: Reader, writer: Writer, host: str, path: str) -> None:
    await _send(writer, b"HTTP/1.1 200 OK\r\nX-Slow: ")
    async with asyncio.timeout(HOLD_S):
        while True:
            await _send(writer, b"a")
            await asyncio.sleep(0.1)


async def _huge_head(reader: Reader, writer: Writer, host: str, path: str) -> None:
    # 100 MB of headers in 1 KB lines.
    line = b"X-Filler-%06d: " + b"f" * 1000 + b"\r\n"
    await _send(writer, b"HTTP/1.1 200 OK\r\n")
    for block in range(1600):
        await _send(writer, b"".join(line % (block * 64 + n) for n in range(64)))


async def _huge_header_line(reader: Reader, writer: Writer, host: str, path: str) -> None:
    # One header line of 100 MB.
    await _stream(writer, b"HTTP/1.1 200 OK\r\nX-Long: ", b"L" * (1 << 20), limit=100 << 20)


async def _many_headers(reader: Reader, writer: Writer, host: str, path: str) -> None:
    # 100,000 header fields in ~0.7 MB: under the head's byte limit.
    fields = b"".join(b"X%d: v\r\n" % n for n in range(100_000))
    await _send(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + fields + b"\r\nok")


async def _reset_mid_body(reader: Reader, writer: Writer, host: str, path: str) -> None:
    await _send(writer, _answer(b"200 OK", [b"Content-Type: text/html",
                                            b"Content-Length: 100000"], b"<p>" + b"x" * 5000))
    await asyncio.sleep(0.05)
    _reset(writer)


async def _silent(reader: Reader, writer: Writer, host: str, path: str) -> None:
    await _hold(reader)


async def _redirect_loop(reader: Reader, writer: Writer, host: str, path: str) -> None:
    await _send(writer, _answer(b"302 Found", [b"Location: /loop", b"Content-Length: 0"], b""))


def _refresh(url: str) -> bytes:
    body = f'<html><head><meta http-equiv="refresh" content="0;url={url}"></head></html>'.encode()
    return _answer(b"200 OK", [b"Content-Type: text/html",
                               b"Content-Length: %d" % len(body)], body)


async def _refresh_loop(reader: Reader, writer: Writer, host: str, path: str) -> None:
    await _send(writer, _refresh("/b" if path.startswith("/a") else "/a"))


def _location(value: bytes) -> Handler:
    return _fixed(_answer(b"302 Found", [b"Location: " + value, b"Content-Length: 0"], b""))


def _page_with(*headers: bytes) -> Handler:
    return _fixed(_answer(b"200 OK", [b"Content-Type: text/html", *headers,
                                      b"Content-Length: %d" % len(PAGE)], PAGE))


async def _slow_body(reader: Reader, writer: Writer, host: str, path: str) -> None:
    await _send(writer, _answer(b"200 OK", [b"Content-Type: text/html",
                                            b"Content-Length: 100000"], b"<p>"))
    async with asyncio.timeout(HOLD_S):
        while True:
            await _send(writer, b"x")
            await asyncio.sleep(0.1)


def _keep_alive(data: bytes) -> Handler:
    """`data`, and the connection kept for the next request, as a keep-alive server does: a
    body framed wrongly is never ended by a close."""
    async def handler(reader: Reader, writer: Writer, host: str, path: str) -> bool:
        await _send(writer, data)
        return True

    return handler


async def _interim_forever(reader: Reader, writer: Writer, host: str, path: str) -> None:
    # `100 Continue` heads, never a final one (at a pace that costs the clients little: a
    # flood of them costs each engine its CPU, which would slow the other cases down).
    async with asyncio.timeout(HOLD_S):
        while True:
            await _send(writer, b"HTTP/1.1 100 Continue\r\n\r\n")
            await asyncio.sleep(0.05)


async def _empty(reader: Reader, writer: Writer, host: str, path: str) -> None:
    # Closed without a byte (after the request, which names the case: the client's side of
    # it is the same as a close right after accept, an empty reply).
    writer.transport.abort()


async def _healthy(reader: Reader, writer: Writer, host: str, path: str) -> None:
    """As a wrapper: forward to the case's healthy target; as a target: a page."""
    if host.endswith(".go.test"):
        target = "http://" + host.removesuffix(".go.test") + ".ok.test/"
        await _send(writer, _answer(b"302 Found", [b"Location: " + target.encode(),
                                                   b"Content-Length: 0"], b""))
    else:
        await _send(writer, _ok_page())


def _ok_page() -> bytes:
    return _answer(b"200 OK", [b"Content-Type: text/html", b"Connection: close",
                               b"Content-Length: %d" % len(PAGE)], PAGE)


# -- the cases ------------------------------------------------------------------------------

ERROR, DOWN = "error", "target_down"


@dataclass(frozen=True)
class Case:
    """A hostile server, and what both engines must record for a link through it (as the
    wrapper, target healthy: `wrapper`) and for a link to it (as the target: `target`)."""

    name: str
    handler: Handler
    failure: str | None
    wrapper: str = ERROR
    target: str = DOWN


BAD = "download_error:bad_response"


def _readable(name: str, handler: Handler) -> Case:
    """An odd but readable answer with the healthy page. As the target it is reached
    (`direct`). As the wrapper, the page is the wrapper's own, which the catalog declares no
    endpoint for and no marker reads: `unrecognized`, for a person to look at (it was
    `wrapped` by its likeness to the control fetch until a review showed a block page carrying
    the target's text hidden from the reader matching just as well). Either way the answer
    was read, with no failure word."""
    return Case(name, handler, None, wrapper="unrecognized", target="direct")


CASES: list[Case] = [
    Case("healthy", _healthy, None, wrapper="wrapped", target="direct"),
    Case("gzip-bomb", _gzip_bomb, "too_large"),
    Case("deflate-bomb", _deflate_bomb, "too_large"),
    Case("endless-body", _endless_body, "too_large"),
    Case("endless-chunks", _endless_chunks, "too_large"),
    Case("oversize-body", _oversize_body, "too_large"),
    Case("slowloris-head", _slowloris_head, "timeout"),
    Case("huge-head", _huge_head, BAD),
    Case("huge-header-line", _huge_header_line, BAD),
    Case("many-headers", _many_headers, BAD),
    Case("http09", _fixed(b"<html><body><p>no status line</p></body></html>"), BAD),
    Case("http09-lines", _fixed(b"<html>\r\n\r\n<p>no status line</p>\r\n</html>\r\n"), BAD),
    Case("status-000", _fixed(_answer(b"000 Zero", [b"Content-Length: 2"], b"ok")), BAD),
    Case("status-600", _fixed(_answer(b"600 Big", [b"Content-Length: 2"], b"ok")), BAD),
    Case("status-999", _fixed(_answer(b"999 Request denied", [b"Content-Length: 2"], b"ok")),
         BAD),
    Case("status-2000", _fixed(_answer(b"2000 OK", [b"Content-Length: 2"], b"ok")), BAD),
    Case("status-text", _fixed(_answer(b"OK", [b"Content-Length: 2"], b"ok")), BAD),
    Case("status-missing", _fixed(b"HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"), BAD),
    Case("chunk-bad-size", _fixed(_answer(b"200 OK", [b"Transfer-Encoding: chunked"],
                                          b"zz\r\nhello\r\n0\r\n\r\n")), BAD),
    Case("chunk-no-crlf", _fixed(_answer(b"200 OK", [b"Transfer-Encoding: chunked"],
                                         b"5\r\nhelloXX\r\n0\r\n\r\n")), BAD),
    Case("chunk-truncated", _fixed(_answer(b"200 OK", [b"Transfer-Encoding: chunked"],
                                           b"400\r\nhello")), "connection_reset"),
    Case("short-body", _fixed(_answer(b"200 OK", [b"Content-Length: 1000"], b"only this")),
         "connection_reset"),
    Case("reset-mid-body", _reset_mid_body, "connection_reset"),
    Case("silent", _silent, "timeout"),
    Case("empty", _empty, "connection_reset"),
    Case("redirect-loop", _redirect_loop, "redirect_loop", target=ERROR),
    Case("refresh-loop", _refresh_loop, "redirect_loop", target=ERROR),
    Case("location-unclosed", _location(b"http://[::1"), "bad_location", target=ERROR),
    Case("location-space", _location(b"http://a b.ok.test/"), "bad_location", target=ERROR),
    Case("location-port", _location(b"http://x.ok.test:99999/"), "bad_location", target=ERROR),
    Case("header-nul", _page_with(b"X-Evil: a\0b"), BAD),
    Case("header-cr", _page_with(b"X-Evil: a\rSet-Cookie: planted=1"), BAD),
    Case("location-cr", _location(b"/next\rSet-Cookie: planted=1"), BAD),
    Case("slow-body", _slow_body, "timeout"),
    Case("interim-forever", _interim_forever, "timeout"),
    _readable("length-and-chunked", _keep_alive(_answer(
        b"200 OK", [b"Content-Type: text/html", b"Content-Length: 3",
                    b"Transfer-Encoding: chunked"],  # chunked wins (RFC 9112 §6.3)
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(PAGE), PAGE)))),
    Case("two-lengths", _keep_alive(_answer(
        b"200 OK", [b"Content-Length: 2", b"Content-Length: 3"], b"ok!")), BAD),
    Case("negative-length", _keep_alive(_answer(b"200 OK", [b"Content-Length: -1"], b"")), BAD),
    Case("long-chunk-extension", _keep_alive(_answer(
        b"200 OK", [b"Content-Type: text/html", b"Transfer-Encoding: chunked"],
        b"%x;ext=%s\r\n%s\r\n0\r\n\r\n" % (len(PAGE), b"e" * 4000, PAGE))), BAD),
    # Chunked framing with bare LFs, the connection kept: a framing error as soon as the LF
    # comes (llhttp's reading; Twisted alone would wait for a CRLF until the timeout).
    Case("chunk-lf-only", _keep_alive(_answer(
        b"200 OK", [b"Content-Type: text/html", b"Transfer-Encoding: chunked"],
        b"%x\n%s\n0\n\n" % (len(PAGE), PAGE))), BAD),
    # Where llhttp and Twisted read differently by themselves, both engines read as llhttp
    # (audit/measure/asyncio/http1.py, spiders/failures.py): two spaces after the version,
    # a Content-Length repeated with the same value, a chunk extension that is not a token.
    Case("status-two-spaces", _keep_alive(
        b"HTTP/1.1  200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s"
        % (len(PAGE), PAGE)), BAD),
    Case("same-length-twice", _keep_alive(_answer(
        b"200 OK", [b"Content-Type: text/html", b"Content-Length: %d" % len(PAGE),
                    b"Content-Length: %d" % len(PAGE)], PAGE)), BAD),
    Case("chunk-extension-space", _keep_alive(_answer(
        b"200 OK", [b"Content-Type: text/html", b"Transfer-Encoding: chunked"],
        b"%x; a b\r\n%s\r\n0\r\n\r\n" % (len(PAGE), PAGE))), BAD),
    _readable("chunk-extensions-trailers", _keep_alive(_answer(
        b"200 OK", [b"Content-Type: text/html", b"Transfer-Encoding: chunked"],
        b'%x;a=b;q="x y"\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n' % (len(PAGE), PAGE)))),
    Case("space-before-colon", _keep_alive(_answer(
        b"200 OK", [b"Content-Type: text/html", b"Content-Length : %d" % len(PAGE)], PAGE)),
        BAD),
    # Heads a browser reads, which a platform could send with its block page: one cookie of
    # 20 KB (past the old 16 KB line limit), 1,001 header lines (past the old 1,000).
    _readable("big-cookie", _keep_alive(_answer(
        b"200 OK", [b"Content-Type: text/html", b"Set-Cookie: s=" + b"c" * 20_000,
                    b"Content-Length: %d" % len(PAGE)], PAGE))),
    _readable("thousand-and-one-headers", _keep_alive(_answer(
        b"200 OK", [b"Content-Type: text/html", *(b"X-H%d: v" % n for n in range(1001)),
                    b"Content-Length: %d" % len(PAGE)], PAGE))),
    _readable("lf-only", _keep_alive(
        b"HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: %d\n\n%s"
        % (len(PAGE), PAGE))),
    _readable("no-reason-folded", _keep_alive(
        b"HTTP/1.1 200\r\nContent-Type: text/html\r\nX-Folded: a\r\n b\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(PAGE), PAGE))),
    Case("header-no-colon", _keep_alive(_answer(
        b"200 OK", [b"Content-Length: 2", b"NoColon"], b"ok")), BAD),
    Case("header-no-name", _keep_alive(_answer(
        b"200 OK", [b"Content-Length: 2", b": v"], b"ok")), BAD),
]


def seed_page() -> bytes:
    links = []
    for case in CASES:
        target = quote(f"http://{case.name}.ok.test/", safe="")
        links.append(f'<a href="http://{case.name}.go.test/?url={target}">{case.name} wrapped</a>')
        links.append(f'<a href="http://{case.name}.bad.test/">{case.name}</a>')
    return ("<html><head><title>zoo</title></head><body>" + "\n".join(links)
            + "</body></html>").encode()


class Zoo:
    def __init__(self) -> None:
        self.port = 0
        self.seen: Counter[str] = Counter()  # connections per host
        self._cases = {case.name: case for case in CASES}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0, limit=1 << 20)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

    async def _connection(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        try:
            while True:  # requests on this connection, as long as the case keeps it
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HOLD_S)
                target = head.split(b" ", 2)[1].decode("latin-1")
                rest = target.split("://", 1)[-1]
                host, _, path = rest.partition("/")
                path = "/" + path
                self.seen[host] += 1
                if not await self._serve(reader, writer, host, path):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                TimeoutError, IndexError):
            pass
        finally:
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: Writer, host: str,
                     path: str) -> bool | None:
        if host == "forum.test" and path == "/post/1":
            page = seed_page()
            await _send(writer, _answer(b"200 OK", [b"Content-Type: text/html; charset=utf-8",
                                                    b"Connection: close",
                                                    b"Content-Length: %d" % len(page)], page))
            return False
        name, _, zone = host.partition(".")
        case = self._cases.get(name)
        if case is None or zone == "ok.test":
            await _send(writer, _ok_page())
            return False
        return await case.handler(reader, writer, host, path)

    def __enter__(self) -> Zoo:
        _bombs()
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@contextmanager
def zoo() -> Iterator[Zoo]:
    with Zoo() as running:
        yield running
