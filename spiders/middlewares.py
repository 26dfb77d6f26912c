"""Downloader middlewares: routing to the lab, the private-address guard, WARC evidence."""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import logging
from io import BytesIO
from pathlib import Path
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response
from twisted.internet.defer import Deferred
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from audit.urls import host_of

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
        host = host_of(request.url) or ""
        for pattern, proxy in self.routes.items():
            if fnmatch.fnmatch(host, pattern):
                request.meta["proxy"] = proxy
                return


class PrivateAddress(IgnoreRequest):
    """A request into private, loopback or link-local address space was refused."""


def is_private(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
            or ip.is_multicast or ip.is_unspecified)


class AddressGuardMiddleware:
    """Refuse to follow links into private address space: an audited page must not steer
    the auditor into its own network. Lifted by HULIAN_ALLOW_PRIVATE (recorded)."""

    def __init__(self) -> None:
        self._verdicts: dict[str, bool] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        if crawler.settings.getbool("HULIAN_ALLOW_PRIVATE"):
            raise NotConfigured
        return cls()

    async def process_request(self, request: Request) -> None:
        host = host_of(request.url)
        if host is None:
            return
        if host not in self._verdicts:
            self._verdicts[host] = await self._resolves_private(host)
        if self._verdicts[host]:
            raise PrivateAddress(f"private_address:{host}")

    @staticmethod
    async def _resolves_private(host: str) -> bool:
        if is_private(host) or host == "localhost" or host.endswith(".localhost"):
            return True
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None)
        except OSError:
            return False  # unresolvable: the download itself will report the DNS error
        return any(is_private(str(info[4][0])) for info in infos)


class WarcEvidenceMiddleware:
    """Write every request/response pair as WARC records (ISO 28500) and note the response
    record's id in request.meta, so hops can cite their evidence. Sits before HTTP
    decompression, so the payload is the bytes as transferred."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("ab")
        self._writer = WARCWriter(self._file, gzip=True)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcEvidenceMiddleware:
        path = crawler.settings.get("HULIAN_WARC_PATH")
        if not path:
            raise NotConfigured
        middleware = cls(Path(path))
        from scrapy import signals

        crawler.signals.connect(middleware.close, signal=signals.spider_closed)
        return middleware

    def process_response(self, request: Request, response: Response) -> Response:
        try:
            request.meta["hulian_warc_id"] = self._write(request, response)
        except Exception:
            logger.exception("could not write WARC evidence for %s", request.url)
        return response

    def _write(self, request: Request, response: Response) -> str:
        req_headers = [(k.decode("latin-1"), b", ".join(v).decode("latin-1"))
                       for k, v in request.headers.items()]
        target = request.url
        path = request.url.split("/", 3)[3] if request.url.count("/") >= 3 else ""
        req_record = self._writer.create_warc_record(
            target, "request", payload=BytesIO(request.body or b""),
            http_headers=StatusAndHeaders(f"{request.method} /{path} HTTP/1.1", req_headers,
                                          is_http_request=True),
        )
        resp_headers = [(k.decode("latin-1"), b", ".join(v).decode("latin-1"))
                        for k, v in response.headers.items()]
        reason = _REASONS.get(response.status, "")
        if request.meta.get("playwright"):
            # A browser-rendered DOM is not what came over the wire: store it as a
            # `conversion` record so nobody mistakes it for raw HTTP evidence.
            resp_record = self._writer.create_warc_record(
                target, "conversion", payload=BytesIO(response.body),
                warc_content_type="text/html; charset=utf-8",
                warc_headers_dict={"WARC-Hulian-Rendered-By": "chromium (scrapy-playwright)"},
            )
        else:
            resp_record = self._writer.create_warc_record(
                target, "response", payload=BytesIO(response.body),
                http_headers=StatusAndHeaders(f"{response.status} {reason}".strip(),
                                              resp_headers, protocol="HTTP/1.1"),
            )
        resp_id = str(resp_record.rec_headers.get_header("WARC-Record-ID"))
        req_record.rec_headers.add_header("WARC-Concurrent-To", resp_id)
        self._writer.write_record(resp_record)
        self._writer.write_record(req_record)
        return resp_id.strip("<>")

    def close(self, spider: Spider, **_: Any) -> Deferred[None] | None:
        self._file.flush()
        self._file.close()
        return None


_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 303: "See Other",
            307: "Temporary Redirect", 308: "Permanent Redirect", 403: "Forbidden",
            404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}
