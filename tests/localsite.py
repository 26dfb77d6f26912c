"""A tiny HTTP server for crawler tests: serves pages from a dict, answers both origin-form
and proxy-form (absolute URL) requests, and remembers every path it was asked for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
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
def serve(pages: dict[str, tuple[int, dict[str, str], bytes]],
          delays: dict[str, float] | None = None) -> Iterator[Site]:
    """`pages` maps "host/path" (host without port) to (status, headers, body); `delays`
    "host/path" to the seconds its answer waits."""
    site = Site(pages)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            host = (parts.hostname or self.headers.get("Host") or "").split(":")[0]
            key = f"{host}{parts.path}"
            site.requests.append(key + (f"?{parts.query}" if parts.query else ""))
            status, headers, body = site.pages.get(key, (404, {}, b"not found"))
            time.sleep((delays or {}).get(key, 0.0))
            reply(self, status, headers.items(), body)

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


def reply(handler: BaseHTTPRequestHandler, status: int, headers: Iterable[tuple[str, str]],
          body: bytes) -> None:
    """An answer of `status` with `headers` (a name may repeat), text/html unless they name
    another Content-Type, and the body's Content-Length."""
    fields = list(headers)
    handler.send_response(status)
    if not any(name.lower() == "content-type" for name, _value in fields):
        handler.send_header("Content-Type", "text/html; charset=utf-8")
    for name, value in fields:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextmanager
def serve_handler(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A request handler of a test's own on 127.0.0.1 (for answers `serve` cannot give:
    repeated headers, endless bodies, answers that never come): its base URL. The server does
    not wait for handlers still at work when it closes."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


FORUM_POLICY = """\
id: testforum
name: {{zh: 测试论坛, en: Test Forum}}
company: testco
category: social
domains: [forum.test]
{extra}cite: {{fact: "test fixture"}}
"""


def forum_policies(directory: Path, extra: str = "") -> Path:
    """A policy directory with one fictional platform, `testforum` on `forum.test`;
    `extra` adds YAML keys (wrappers, surfaces) to its file."""
    (directory / "platforms").mkdir(parents=True, exist_ok=True)
    (directory / "companies.yaml").write_text("- {id: testco, name: {zh: 测试, en: Test}}\n",
                                              encoding="utf-8")
    (directory / "platforms" / "testforum.yaml").write_text(FORUM_POLICY.format(extra=extra),
                                                            encoding="utf-8")
    return directory


def crawl_forum(tmp_path: Path, site_url: str, seed_paths: list[str], engine: str,
                extra: str = "", *options: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`hulian run` (the CLI, in a process of its own) of the forum's seed pages at
    forum.test/<path>, every *.test host routed to the site at `site_url`, with `options`:
    the run's JSON summary and its observations."""
    seeds = [arg for path in seed_paths
             for arg in ("--seed", f"testforum:post:http://forum.test/{path}")]
    result = subprocess.run(
        [sys.executable, "-m", "audit.cli", "--policies",
         str(forum_policies(tmp_path / "policies", extra)), "run", *seeds,
         "--source", "testforum", "--route", f"*.test={site_url}", "--robots", "ignore",
         "--out", str(tmp_path / "runs"), "--run-id", "r", "--report-format", "", "--json",
         "--engine", engine, *options],
        capture_output=True, text=True, timeout=240, check=False,
        env={**os.environ, "HULIAN_DB": "off"})
    assert result.returncode == 0, result.stderr[-3000:]
    lines = (tmp_path / "runs" / "r" / "observations.jsonl").read_text().splitlines()
    return json.loads(result.stdout), [json.loads(line) for line in lines]
