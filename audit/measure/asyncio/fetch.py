"""One HTTP exchange at a time, asyncio-native: the asyncio engine's downloader, over
hulian's own HTTP/1.1 client (audit/measure/asyncio/http1.py; why not aiohttp is explained there).

No redirects are followed (hulian records every hop itself), bodies are read as transferred
(the WARC evidence keeps those bytes) and decoded here for classification, and every failure
becomes one word of the failure vocabulary (audit/measure/failures.py, the Scrapy engine's words
too).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from audit.evidence.warc import Headers
from audit.measure.asyncio import http1
from audit.measure.failures import (
    BAD_RESPONSE,
    TIMEOUT,
    Failed,
    TooLarge,
    for_exception,
    received_of,
)
from audit.measure.guard import AddressGuard
from audit.web.codings import GZIP_DEFLATE, undo_codings
from audit.web.decode import content_codings
from audit.web.fields import header_fields
from audit.web.urls import wire_url

# What is asked of every server besides the settings' headers (audit.measure.settings
# request_headers: Accept, Accept-Language): only the encodings decoded here (Brotli is left
# out, dependencies.md §4, and so is zstd), as the Scrapy engine's middleware asks.
ACCEPT_ENCODING = ("Accept-Encoding", "gzip, deflate")


class FetchFailed(Failed):
    """A download that produced no HTTP response; `reason` is the recorded failure word.
    `received`: an unreadable answer's first bytes and whether they were cut, for its
    evidence (failures.received_of)."""

    def __init__(self, reason: str, received: tuple[bytes, bool] | None = None):
        super().__init__(reason)
        self.received = received
        self.record_id: str | None = None  # the WARC record of `received`, once written


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    reason: str
    headers: dict[str, str]  # audit.web.fields.header_fields
    raw_headers: Headers  # as received, for the WARC record
    request_headers: Headers  # as sent, for the WARC record
    payload: bytes  # the body as transferred
    body: bytes  # the body after content decoding
    elapsed_ms: float
    # The server's share of the time to the response headers, for AutoThrottle: the wall
    # time minus the CPU time this thread spent meanwhile. In one event loop, a response
    # that waited while hulian parsed other pages would otherwise read as a slow server,
    # and the throttle would slow the crawl down because the crawler is busy.
    latency_s: float
    # Only the body's start was read or decoded (`keep_start`): `body` is cut; and whether
    # `payload` is (the download stopped: the WARC record's WARC-Truncated; a gzip bomb read
    # whole on the wire and cut as it decodes has all of its payload).
    truncated: bool = False
    payload_cut: bool = False
    # The answer did not end within the fetch's time: its head and the body so far
    # (chain.Response.cut_off).
    cut_off: bool = False


def _decoded(payload: bytes, encoding: str, limit: int = 1 << 62) -> bytes:
    """The body after Content-Encoding (gzip, deflate, or several in order: what the crawler
    asks for), at most `limit` bytes; the payload itself where the encoding is unknown or
    broken, as a browser would show garbage, not nothing. Raises TooLarge past the limit."""
    decoded = undo_codings(payload, encoding, limit, codings=GZIP_DEFLATE)
    if decoded is None:
        return payload
    body, cut = decoded
    if cut:
        raise TooLarge(f"more than {limit} bytes after content decoding")
    return body


class Fetcher:
    """A keep-alive connection pool and the exchange. Concurrency limits and politeness are
    the engine's; this class only talks HTTP."""

    def __init__(self, *, user_agent: str, headers: tuple[tuple[str, str], ...] = (),
                 timeout_s: float, max_bytes: int,
                 pool_size: int, guard: AddressGuard | None = None):
        self.timeout_s = timeout_s
        self._guard = guard  # None: --allow-private; else every connection is checked
        self.max_bytes = max_bytes
        self._pool_size = pool_size
        self._headers: Headers = [("User-Agent", user_agent), *headers, ACCEPT_ENCODING]
        self._client: http1.Client | None = None

    async def __aenter__(self) -> Fetcher:
        self._client = http1.Client(max_bytes=self.max_bytes, pool_size=self._pool_size,
                                    guard=self._guard)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._client is not None:
            self._client.close()

    async def fetch(self, url: str, *, proxy: str | None = None,
                    referer: str | None = None, timeout_s: float | None = None,
                    keep_start: int | None = None) -> Fetched:
        """GET `url` once, no cookies, no redirects. Raises FetchFailed with the recorded
        reason. `keep_start` (driver.Fetch's): a body past that many bytes after decoding is
        kept cut (`truncated`), not failed.

        The URL goes out as the page gave it: only what cannot travel is percent-encoded
        (non-ASCII, spaces; IDN hosts as punycode), exactly as Scrapy does, and nothing is
        re-quoted (a client that normalises `%3A%2F%2F` in a wrapper's query would make the
        wrapper see another URL than the one audited)."""
        assert self._client is not None, "use `async with Fetcher(...)`"
        started, cpu_started = time.perf_counter(), time.thread_time()
        url = wire_url(url)
        headers = [*self._headers, ("Referer", referer)] if referer else self._headers
        partial: list[tuple[http1.Response, Headers]] = []
        cut_off = False
        try:
            async with asyncio.timeout(timeout_s or self.timeout_s):
                response, sent = await self._client.get(
                    url, headers, proxy=proxy,
                    # Twice the bytes kept: enough on the wire for a gzip or deflate stream
                    # to decode to them (deflate's stored blocks add 5 bytes in 64 KiB).
                    keep_start=None if keep_start is None else 2 * keep_start,
                    partial=partial)
        except Exception as exc:
            word = for_exception(exc)
            if word != TIMEOUT or not partial:
                raise FetchFailed(word, received_of(exc) if word == BAD_RESPONSE else None
                                  ) from exc
            # A page the server never finished: what came is what a browser has drawn (a
            # block notice sent without its end read as a bare `timeout`: review 135).
            (response, sent), cut_off = partial[0], True
        to_head = response.head_at - started
        fields = header_fields(response.headers)
        encoding = fields.get("content-encoding", "")
        payload = body = response.payload
        truncated = response.cut
        if encoding:
            if keep_start is not None:
                # The start of the decoded body (a stream cut short decodes to its start).
                decoded = undo_codings(payload, encoding, keep_start, codings=GZIP_DEFLATE)
                if decoded is not None:
                    body, cut = decoded
                    truncated = truncated or cut
            else:
                try:
                    body = _decoded(payload, encoding, self.max_bytes)
                except TooLarge as exc:
                    raise FetchFailed(exc.reason) from exc
            if body is not payload or not content_codings(encoding):
                # The body handed on is decoded (as Scrapy's middleware does, the header goes
                # with the encoding); kept where it could not be, so that what reads the page
                # knows it holds the encoded bytes (chain.needs_analysis).
                del fields["content-encoding"]
        if keep_start is not None and len(body) > keep_start:
            body, truncated = body[:keep_start], True
        return Fetched(
            url=url, status=response.status, reason=response.reason, headers=fields,
            raw_headers=response.headers, request_headers=sent, payload=payload, body=body,
            elapsed_ms=round(to_head * 1000, 1),  # to the response headers, like Scrapy's
            latency_s=max(0.0, to_head - (response.head_cpu - cpu_started)),
            truncated=truncated or cut_off, payload_cut=response.cut, cut_off=cut_off,
        )
