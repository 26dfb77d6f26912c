"""Downloader middlewares: routing to the lab, the private-address guard, WARC evidence,
and a body's start kept for the fetches that want only that."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured, StopDownload
from scrapy.http import Response
from twisted.internet.defer import Deferred

from audit.evidence.warc import WarcLog
from audit.measure import failures
from audit.measure.guard import AddressGuard, Refused, route_for
from audit.web.codings import GZIP_DEFLATE, undo_codings
from audit.web.urls import host_of
from spiders.failures import PrivateAddress, received_for

logger = logging.getLogger(__name__)


class RouteMiddleware:
    """Send requests for some hosts through a proxy: `HULIAN_ROUTES = {"*.lab": url}`.
    The lab server answers proxy-style requests for its own host names."""

    def __init__(self, routes: dict[str, str]):
        self.routes = routes

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RouteMiddleware:
        routes = crawler.settings.getdict("HULIAN_ROUTES")
        if not routes:
            raise NotConfigured
        return cls(routes)

    def process_request(self, request: Request) -> None:
        proxy = route_for(self.routes, host_of(request.url) or "")
        if proxy is not None:
            request.meta["proxy"] = proxy


class AddressGuardMiddleware:
    """Refuse to follow links into private address space: an audited page must not steer
    the auditor into its own network. Lifted by HULIAN_ALLOW_PRIVATE (recorded).

    Decides with the run's guard, which resolves each host once and keeps the checked
    answer: the connection then gets exactly that answer from spiders.resolver (the DNS
    resolver installed for the run), never a second resolution of its own. Sits first, so a
    refused host gets no robots.txt request either."""

    def __init__(self, guard: AddressGuard, routes: dict[str, str]) -> None:
        self._guard = guard
        self._routes = routes

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        if crawler.settings.getbool("HULIAN_ALLOW_PRIVATE"):
            raise NotConfigured
        guard = crawler.settings.get("HULIAN_ADDRESS_GUARD") or AddressGuard()
        return cls(guard, crawler.settings.getdict("HULIAN_ROUTES"))

    async def process_request(self, request: Request) -> None:
        host = host_of(request.url)
        if host is None:
            return
        try:
            if route_for(self._routes, host) is not None:
                await self._guard.admit_routed(host)
            else:
                await self._guard.addresses(host)
        except Refused as refused:
            raise PrivateAddress(refused.reason) from None
        except (OSError, ValueError):
            pass  # does not resolve: the download fails as a DNS error on its own


class WarcEvidenceMiddleware:
    """Write every request/response pair as WARC records (ISO 28500) and note the response
    record's id in request.meta, so hops can cite their evidence. Sits before HTTP
    decompression, so the payload is the bytes as transferred."""

    def __init__(self, path: Path):
        self.log = WarcLog(path)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcEvidenceMiddleware:
        path = crawler.settings.get("HULIAN_WARC_PATH")
        if not path:
            raise NotConfigured
        middleware = cls(Path(path))

        crawler.signals.connect(middleware.close, signal=signals.spider_closed)
        return middleware

    def process_response(self, request: Request, response: Response) -> Response:
        try:
            request.meta["hulian_warc_id"] = self._write(request, response)
        except Exception:
            logger.exception("could not write WARC evidence for %s", request.url)
        return response

    def process_exception(self, request: Request, exception: BaseException) -> None:
        """An answer that was not HTTP: its first bytes as a `resource` record, cited by
        the failed hop (`hulian_unreadable_warc_id`)."""
        received = received_for(exception)
        if received is None:
            return
        try:
            request.meta["hulian_unreadable_warc_id"] = self.log.unreadable(
                request.url, received=received[0], cut=received[1],
                failure=failures.BAD_RESPONSE)
        except Exception:
            logger.exception("could not write WARC evidence for %s", request.url)

    def _write(self, request: Request, response: Response) -> str:
        return self.log.exchange(
            request.url, method=request.method, request_headers=_pairs(request.headers),
            request_body=request.body or b"", status=response.status,
            response_headers=_pairs(response.headers), payload=response.body,
            # A browser-rendered DOM is not what came over the wire: a `conversion` record.
            rendered_by="chromium (scrapy-playwright)" if request.meta.get("playwright")
            else None,
            truncated="download_stopped" in response.flags)  # KeepStartMiddleware's cut

    def close(self, spider: Spider, **_: Any) -> Deferred[None] | None:
        self.log.close()
        return None


# Request meta: the bytes of the body's start the fetch wants (driver.Fetch.keep_start), and
# whether the body handed on was cut there.
KEEP_START = "hulian_keep_start"
KEPT_CUT = "hulian_truncated"
_SEEN = "hulian_bytes_seen"


class KeepStartMiddleware:
    """A fetch that wants only a body's start (driver.Fetch.keep_start: a robots.txt, whose
    first 500 KiB RFC 9309 reads) keeps it, as the asyncio engine does, where Scrapy fails the
    download past DOWNLOAD_MAXSIZE (declared or received) and its decompression a bomb past
    it: a 33 MB robots.txt or a 40 KiB gzip bomb read `unreachable`, hiding a published
    Disallow (review 130). The download stops at twice the start on the wire (Scrapy's own
    StopDownload from the bytes_received signal: the response is kept, flagged
    `download_stopped`), and gzip or deflate is undone to the start (audit.web.codings)
    before Scrapy's decompression sees the body. Between the WARC middleware (the payload as
    transferred, marked truncated) and HttpCompressionMiddleware (590)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> KeepStartMiddleware:
        middleware = cls(crawler.settings.getint("DOWNLOAD_MAXSIZE"))
        crawler.signals.connect(middleware.received, signal=signals.bytes_received)
        return middleware

    def process_request(self, request: Request) -> None:
        if request.meta.get(KEEP_START) is not None:
            request.meta["download_maxsize"] = 0  # the cut is this middleware's

    def received(self, data: bytes, request: Request, **_: Any) -> None:
        keep = request.meta.get(KEEP_START)
        if keep is None:
            return
        seen = request.meta.get(_SEEN, 0) + len(data)
        request.meta[_SEEN] = seen
        if seen > 2 * keep:  # enough for a gzip or deflate stream to decode to the start
            raise StopDownload(fail=False)

    def process_response(self, request: Request, response: Response) -> Response:
        keep = request.meta.get(KEEP_START)
        if keep is None:
            return response
        # What Scrapy's decompression is left to undo is bounded as any other body is.
        request.meta["download_maxsize"] = self.maxsize
        body, cut = response.body, "download_stopped" in response.flags
        headers = response.headers.copy()
        coding = headers.get(b"Content-Encoding")
        if coding:
            decoded = undo_codings(body, coding.decode("latin-1"), keep, codings=GZIP_DEFLATE)
            if decoded is not None:
                body, was_cut = decoded
                cut = cut or was_cut
                del headers[b"Content-Encoding"]
        if len(body) > keep:
            body, cut = body[:keep], True
        request.meta[KEPT_CUT] = cut
        return response.replace(body=body, headers=headers)


def _pairs(headers: Any) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), b", ".join(v).decode("latin-1")) for k, v in headers.items()]
