"""One HTTP exchange at a time, asyncio-native: the asyncio engine's downloader (the only
aiohttp user in hulian).

No redirects are followed (hulian records every hop itself), bodies are read as transferred
(the WARC evidence keeps those bytes) and decoded here for classification, and every failure
becomes one short reason from a fixed vocabulary (the same words as the Scrapy engine's, in
the style of OONI's failure strings).
"""

from __future__ import annotations

import asyncio
import errno
import time
import zlib
from dataclasses import dataclass

import aiohttp
from w3lib.url import safe_url_string
from yarl import URL

from audit.warc import Headers

# Scrapy's default request headers, so both engines look alike to a server; Accept-Encoding
# asks only for what is decoded here (Brotli is left out, dependencies.md §4, and so is zstd).
DEFAULT_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en",
    "Accept-Encoding": "gzip, deflate",
}


class FetchFailed(Exception):
    """A download that produced no HTTP response; `reason` is the recorded failure."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
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


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, FetchFailed):
        return exc.reason
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns_error"
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ClientConnectorCertificateError):
        return "tls_error"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if exc.os_error.errno == errno.ECONNREFUSED or isinstance(
                exc.os_error, ConnectionRefusedError):
            return "connection_refused"
        return "connection_reset"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError
                  | aiohttp.ClientConnectionResetError | ConnectionResetError):
        return "connection_reset"
    if isinstance(exc, aiohttp.ClientOSError):
        return "connection_reset" if exc.errno in (errno.ECONNRESET, errno.EPIPE) else \
            f"download_error:{type(exc).__name__}"
    return f"download_error:{type(exc).__name__}"


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """Every member of a (possibly multi-member) stream, at most `limit` bytes of output;
    what could be decoded of a truncated stream. Raises FetchFailed past the limit (a
    compression bomb) and zlib.error when nothing decodes."""
    out: list[bytes] = []
    size = 0
    while data:
        inflater = zlib.decompressobj(wbits)
        chunk = inflater.decompress(data, limit + 1 - size)
        size += len(chunk)
        out.append(chunk)
        if size > limit or inflater.unconsumed_tail:
            raise FetchFailed(f"too_large:decoded>{limit}")
        if not inflater.eof:
            break  # truncated: keep what was decoded
        data = inflater.unused_data.lstrip(b"\0")
        if wbits < 0 or not data:
            break
    return b"".join(out)


def _decoded(payload: bytes, encoding: str, limit: int = 1 << 62) -> bytes:
    """The body after Content-Encoding (gzip, deflate, or several in order), at most `limit`
    bytes; the payload itself where the encoding is unknown or broken, as a browser would
    show garbage, not nothing."""
    body = payload
    for coding in [c.strip().lower() for c in encoding.split(",") if c.strip()][::-1]:
        try:
            if coding in ("gzip", "x-gzip"):
                body = _inflate(body, 16 + zlib.MAX_WBITS, limit)
            elif coding == "deflate":
                try:
                    body = _inflate(body, zlib.MAX_WBITS, limit)
                except zlib.error:  # raw deflate, as some servers send it
                    body = _inflate(body, -zlib.MAX_WBITS, limit)
            elif coding != "identity":
                return payload
        except zlib.error:
            return payload
    return body


def wire_url(url: str) -> str:
    """The URL as it goes out: only what cannot travel percent-encoded (non-ASCII, spaces;
    IDN hosts as punycode), as Scrapy does. Hops are recorded under this form."""
    try:
        return safe_url_string(url)
    except ValueError:  # e.g. an IDN label too long to encode: sent (and failing) as is
        return url


def referer_for(source: str | None, target: str) -> str | None:
    """The Referer Scrapy's default policy sends: the previous page without fragment and
    credentials, none from https to http."""
    if not source or (source.startswith("https:") and target.startswith("http:")):
        return None
    source = source.split("#", 1)[0]
    scheme, sep, rest = source.partition("://")
    netloc, slash, path = rest.partition("/")
    return f"{scheme}{sep}{netloc.rpartition('@')[2]}{slash}{path}"


class Fetcher:
    """A keep-alive connection pool and the exchange. Concurrency limits and politeness are
    the engine's; this class only talks HTTP."""

    def __init__(self, *, user_agent: str, timeout_s: float, max_bytes: int,
                 pool_size: int):
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._pool_size = pool_size
        self._headers = {**DEFAULT_HEADERS, "User-Agent": user_agent}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        # ssl=False: certificates are not verified, as Scrapy does not verify them either
        # (DOWNLOAD_VERIFY_CERTIFICATES is off): both engines must reach the same pages.
        connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0,
                                         ttl_dns_cache=300, enable_cleanup_closed=True,
                                         ssl=False)
        self._session = aiohttp.ClientSession(
            connector=connector, headers=self._headers, auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # every probe is a fresh visitor
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            skip_auto_headers=("User-Agent",), trust_env=False,
            # Twisted's limits (Scrapy): longer header lines and any number of headers.
            max_line_size=16384, max_field_size=16384, max_headers=1024,
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def fetch(self, url: str, *, proxy: str | None = None,
                    referer: str | None = None) -> Fetched:
        """GET `url` once. Raises FetchFailed with the recorded reason.

        The URL goes out as the page gave it: only what cannot travel is percent-encoded
        (non-ASCII, spaces; IDN hosts as punycode), exactly as Scrapy does, and nothing is
        re-quoted (aiohttp would decode `%3A%2F%2F` in a wrapper's query, and the wrapper
        would see another URL than the one audited)."""
        assert self._session is not None, "use `async with Fetcher(...)`"
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            url = wire_url(url)
            extra = {"Referer": referer} if referer else None
            async with self._session.get(URL(url, encoded=True), allow_redirects=False,
                                         proxy=proxy, headers=extra) as response:
                elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
                latency = max(0.0, (time.perf_counter() - started)
                              - (time.thread_time() - cpu_started))
                declared = response.content_length
                if declared is not None and declared > self.max_bytes:
                    raise FetchFailed(f"too_large:{declared}")
                if declared is not None:
                    payload = await response.read()  # bounded by the check above
                else:  # no length given: read in chunks and stop at the limit
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.content.iter_chunked(1 << 16):
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise FetchFailed(f"too_large:>{self.max_bytes}")
                        chunks.append(chunk)
                    payload = b"".join(chunks)
                raw = [(k.decode("latin-1"), v.decode("latin-1"))
                       for k, v in response.raw_headers]
                headers: dict[str, str] = {}
                for name, value in raw:
                    key = name.lower()
                    headers[key] = f"{headers[key]}, {value}" if key in headers else value
                encoding = headers.get("content-encoding", "")
                return Fetched(
                    url=url, status=response.status, reason=response.reason or "",
                    headers=headers, raw_headers=raw,
                    # Plain str: aiohttp's case-insensitive `istr` names are slow to pickle.
                    request_headers=[(str(k), str(v))
                                     for k, v in response.request_info.headers.items()],
                    payload=payload,
                    body=_decoded(payload, encoding, self.max_bytes) if encoding else payload,
                    elapsed_ms=elapsed_ms,  # to the response headers, like Scrapy's latency
                    latency_s=latency,
                )
        except FetchFailed:
            raise
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            # ValueError: aiohttp refuses some malformed URLs a hostile page can carry.
            raise FetchFailed(failure_reason(exc)) from exc
