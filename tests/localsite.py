"""A tiny HTTP server for crawler tests: serves pages from a dict, answers both origin-form
and proxy-form (absolute URL) requests, and remembers every path it was asked for."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class Site:
    def __init__(self, pages: dict[str, tuple[int, dict[str, str], bytes]]):
        self.pages = pages
        self.requests: list[str] = []  # "host/path?query" as asked
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def serve(pages: dict[str, tuple[int, dict[str, str], bytes]]) -> Iterator[Site]:
    """`pages` maps "host/path" (host without port) to (status, headers, body)."""
    site = Site(pages)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            host = (parts.hostname or self.headers.get("Host", "")).split(":")[0]
            key = f"{host}{parts.path}"
            site.requests.append(key + (f"?{parts.query}" if parts.query else ""))
            status, headers, body = site.pages.get(key, (404, {}, b"not found"))
            self.send_response(status)
            for name, value in {"Content-Type": "text/html; charset=utf-8", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
