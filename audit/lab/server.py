"""The lab's HTTP/1.1 server: asyncio, loopback only, routing by host name.

A minimal hand-rolled parser (request line, headers, Content-Length bodies), keep-alive and
pipelining, HEAD. It accepts origin-form requests (`GET /path` + `Host: chat.wetalk.lab`) and
absolute-form proxy requests (`GET http://chat.wetalk.lab/path HTTP/1.1`), so a crawler or a
browser can use it as the HTTP proxy for `*.lab`. Pages come from audit.lab.pages; faults
(hang, reset) are carried out here without blocking other connections.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
import threading
from http import HTTPStatus
from types import TracebackType
from urllib.parse import urlsplit

from audit.lab.pages import Response, Site
from audit.lab.scenario import Scenario

HANG_SECONDS = 300.0
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024

_REASONS = {s.value: s.phrase for s in HTTPStatus}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_only(value: str) -> str:
    """`Host` header or URL netloc without port: `chat.wetalk.lab:80` -> `chat.wetalk.lab`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _head(status: int, headers: tuple[tuple[str, str], ...], length: int,
          keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"Content-Length: {length}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    lines.append("Server: hulian-lab")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Connection(asyncio.Protocol):
    def __init__(self, lab: LabServer) -> None:
        self.lab = lab
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.hang: asyncio.TimerHandle | None = None
        self.done = False  # hung, reset or closing: ignore further input

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.lab._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lab._connections.discard(self)
        if self.hang is not None:
            self.hang.cancel()

    def data_received(self, data: bytes) -> None:
        if self.done:
            return
        self.buffer += data
        while not self.done and self._one_request():
            pass

    def _fail(self, status: int, message: str) -> None:
        assert self.transport is not None
        body = message.encode()
        self.transport.write(_head(status, (("Content-Type", "text/plain"),), len(body), False)
                             + body)
        self._close()

    def _close(self) -> None:
        self.done = True
        if self.transport is not None:
            self.transport.close()

    def _one_request(self) -> bool:
        """Handle one complete request from the buffer; False when more input is needed."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD_BYTES:
                self._fail(431, "request header too large\n")
            return False
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        request_line = lines[0].split(" ")
        if len(request_line) != 3 or not request_line[2].startswith("HTTP/1."):
            self._fail(400, "bad request line\n")
            return False
        method, target, version = request_line
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                self._fail(400, "bad header line\n")
                return False
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._fail(501, "chunked request bodies are not supported\n")
            return False
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self._fail(400, "bad Content-Length\n")
            return False
        if len(self.buffer) < end + 4 + length:
            return False
        del self.buffer[: end + 4 + length]

        connection = headers.get("connection", headers.get("proxy-connection", "")).lower()
        keep_alive = ("close" not in connection if version == "HTTP/1.1"
                      else "keep-alive" in connection)
        if method == "CONNECT":
            self._fail(501, "hulian lab serves plain HTTP only (no CONNECT)\n")
            return False
        if target.startswith("/"):
            host = _host_only(headers.get("host", ""))
            path, _, query = target.partition("?")
        elif target.lower().startswith("http://"):
            parts = urlsplit(target)
            host = _host_only(parts.netloc)
            path, query = parts.path or "/", parts.query
        else:
            self._fail(400, "bad request target\n")
            return False
        if method not in ("GET", "HEAD", "POST"):
            self._fail(405, "method not allowed\n")
            return False
        response = self.lab.site.respond(host, path, query, headers.get("accept-language", ""))
        return self._send(response, method == "HEAD", keep_alive)

    def _send(self, response: Response, head_only: bool, keep_alive: bool) -> bool:
        assert self.transport is not None
        if response.fault == "hang":
            # Never answer; the connection is closed after HANG_SECONDS (or at stop()).
            self.done = True
            self.hang = asyncio.get_running_loop().call_later(HANG_SECONDS, self._close)
            return False
        if response.fault == "reset":
            self.done = True
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
            return False
        head = _head(response.status, response.headers, len(response.body), keep_alive)
        self.transport.write(head if head_only else head + response.body)
        if not keep_alive:
            self._close()
            return False
        return True


class LabServer:
    """The lab on one loopback port, run in a daemon thread (`start()` / `stop()`, or `with`)."""

    def __init__(self, scenario: Scenario, host: str = "127.0.0.1", port: int = 0) -> None:
        if not _is_loopback(host):
            raise ValueError(f"the lab binds loopback addresses only, not {host!r}")
        self.scenario = scenario
        self.site = Site(scenario)
        self.host = host
        self._requested_port = port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[_Connection] = set()

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> LabServer:
        """Bind and serve in a daemon thread; returns once the port is listening."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(loop.create_server(
                    lambda: _Connection(self), self.host, self._requested_port,
                    reuse_address=True, backlog=1024))
            except BaseException as exc:  # bind errors go to the caller of start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="hulian-lab", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close the listener and every connection (hung ones included), end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for conn in list(self._connections):
                if conn.transport is not None:
                    conn.transport.abort()
            loop.call_soon(loop.stop)

        loop.call_soon_threadsafe(shutdown)
        thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
