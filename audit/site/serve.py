"""`hulian site serve DIR`: a local preview of a built site with the standard library's HTTP
server, on the loopback interface unless the user asks for another one explicitly."""

from __future__ import annotations

import io
import ipaddress
import os
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO

from audit.site.build import STATE
from audit.site.read import SiteError

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check(directory: Path, host: str, public: bool) -> None:
    if not (directory / STATE).is_file() or not (directory / "index.html").is_file():
        raise SiteError(f"{directory}: not a site built by `hulian site build` "
                        f"({STATE} missing) / 不是 hulian 生成的站点目录")
    if not public and not is_loopback(host):
        raise SiteError(f"--host {host} is not a loopback address: the preview would be "
                        "reachable from other machines; add --public to mean it / "
                        "非本机地址，如确需对外提供请加 --public")


# The types the site's files need whatever /etc/mime.types says: a service worker
# (replay/sw.js) is refused unless served as JavaScript; a WACZ is application/wacz (as
# Webrecorder's tools register it).
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wacz": "application/wacz",
         ".svg": "image/svg+xml", ".json": "application/json",
         ".csv": "text/csv; charset=utf-8", ".xml": "application/atom+xml",
         ".html": "text/html; charset=utf-8", ".css": "text/css"}


class _Quiet(SimpleHTTPRequestHandler):
    def guess_type(self, path: str | os.PathLike[str]) -> str:
        return TYPES.get(Path(path).suffix.lower()) or super().guess_type(path)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send_head(self):  # type: ignore[no-untyped-def]  # the base class's own signature
        """Byte ranges (RFC 9110, one range a request): the replay viewer reads a WACZ's
        index and records with Range requests, as any static host serves them."""
        wanted = _byte_range(self.headers.get("Range"))
        path = Path(self.translate_path(self.path))
        if wanted is None or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start, end = wanted
        if start is None:  # the last `end` bytes
            start, end = max(size - (end or 0), 0), size - 1
        end = size - 1 if end is None or end >= size else end
        if start >= size or start > end:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        fh = path.open("rb")
        fh.seek(start)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return _Slice(fh, end - start + 1)

    def end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")  # every response: ranges are served
        super().end_headers()


class _Slice(io.RawIOBase):
    """`length` bytes of an open file from its position (what copyfile sends of a range)."""

    def __init__(self, fh: BinaryIO, length: int):
        self.fh, self.left = fh, length

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.fh.read(size)
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.fh.close()
        super().close()


def _byte_range(header: str | None) -> tuple[int | None, int | None] | None:
    """(start, end) of a `bytes=start-end`, `bytes=start-` or `bytes=-suffix` header; None
    for no header or anything else (several ranges, other units: the whole file is sent,
    which RFC 9110 allows)."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, sep, last = header[len("bytes="):].strip().partition("-")
    if not sep or not (first.isdigit() or last.isdigit()):
        return None
    if not first:
        return None, int(last)
    return int(first), int(last) if last.isdigit() else None


def server(directory: Path, host: str = "127.0.0.1", port: int = 8000,
           public: bool = False) -> ThreadingHTTPServer:
    """A server for `directory` (not yet serving: call serve_forever)."""
    check(directory, host, public)
    handler = partial(_Quiet, directory=str(directory))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise SiteError(f"cannot listen on {host}:{port}: {exc}") from None
