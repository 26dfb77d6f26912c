"""The lab's HTTP/1.1 server: asyncio, loopback only, routing by host name.

Requests are read, and responses framed, by h11 (keep-alive, pipelining, HEAD, request
bodies, the limits on heads). It accepts origin-form requests (`GET /path` + `Host:
chat.wetalk.lab`) and absolute-form proxy requests (`GET http://chat.wetalk.lab/path
HTTP/1.1`), so a crawler or a browser can use it as the HTTP proxy for `*.lab`. Pages come
from audit.lab.pages; its faults are carried out here on the socket itself, without blocking
other connections: a hang answers nothing, a reset closes with a TCP RST.
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

import h11

from audit.lab.pages import Site
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


class _Connection(asyncio.Protocol):
    def __init__(self, lab: LabServer) -> None:
        self.lab = lab
        # h11 refuses a head over the limit with 431, as the lab always has.
        self.http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.transport: asyncio.Transport | None = None
        self.hang: asyncio.TimerHandle | None = None
        self.done = False  # hung, reset or closing: ignore further input
        self.request: h11.Request | None = None
        self.body_bytes = 0

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
        self.http.receive_data(data)
        self._serve()

    def eof_received(self) -> bool | None:
        self._close()
        return None

    def _serve(self) -> None:
        """Every request h11 has read whole, in turn (pipelined ones included)."""
        while not self.done:
            try:
                event = self.http.next_event()
            except h11.RemoteProtocolError as exc:
                self._fail(exc.error_status_hint, f"bad request: {exc}\n")
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self.request, self.body_bytes = event, 0
                refusal = self._refusal(event)
                if refusal is not None:
                    self._fail(*refusal)
            elif isinstance(event, h11.Data):
                self.body_bytes += len(event.data)
                if self.body_bytes > MAX_BODY_BYTES:
                    self._fail(413, "request body too large\n")
            elif isinstance(event, h11.EndOfMessage):
                assert self.request is not None
                self._respond(self.request)
            else:  # ConnectionClosed
                self._close()

    @staticmethod
    def _refusal(request: h11.Request) -> tuple[int, str] | None:
        """What the lab will not serve, seen from the request's head."""
        if request.method == b"CONNECT":
            return 501, "hulian lab serves plain HTTP only (no CONNECT)\n"
        if request.method not in (b"GET", b"HEAD", b"POST"):
            return 405, "method not allowed\n"
        target = request.target.decode("latin-1")
        if not (target.startswith("/") or target.lower().startswith("http://")):
            return 400, "bad request target\n"
        for name, value in request.headers:
            if name == b"content-length" and int(value) > MAX_BODY_BYTES:
                return 413, "request body too large\n"
        return None

    def _respond(self, request: h11.Request) -> None:
        target = request.target.decode("latin-1")
        if target.startswith("/"):
            host = _host_only(_header(request, b"host"))
            path, _, query = target.partition("?")
        else:
            parts = urlsplit(target)
            host = _host_only(parts.netloc)
            path, query = parts.path or "/", parts.query
        response = self.lab.site.respond(host, path, query,
                                         _header(request, b"accept-language"))
        if response.fault == "hang":
            # Never answer; the connection is closed after HANG_SECONDS (or at stop()).
            self.done = True
            self.hang = asyncio.get_running_loop().call_later(HANG_SECONDS, self._close)
            return
        if response.fault == "reset":
            self.done = True
            assert self.transport is not None
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
            return
        self._send(response.status, response.headers, response.body)
        self.request = None
        if self.http.our_state is h11.MUST_CLOSE:
            self._close()
        else:
            self.http.start_next_cycle()

    def _send(self, status: int, headers: tuple[tuple[str, str], ...], body: bytes, *,
              keep: bool = True) -> None:
        """One response through h11, which frames it (no body for HEAD) and says
        `Connection: close` where the request asked for it or was HTTP/1.0."""
        assert self.transport is not None
        head = h11.Response(status_code=status, reason=_REASONS.get(status, "Unknown"),
                            headers=[*headers, ("Content-Length", str(len(body))),
                                     ("Connection", "keep-alive" if keep else "close"),
                                     ("Server", "hulian-lab")])
        data = self.http.send(head) or b""
        if body and (self.request is None or self.request.method != b"HEAD"):
            data += self.http.send(h11.Data(data=body)) or b""
        data += self.http.send(h11.EndOfMessage()) or b""
        self.transport.write(data)

    def _fail(self, status: int, message: str) -> None:
        """An error answer, then the connection closed (whatever h11 has read after it)."""
        if self.http.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            self._send(status, (("Content-Type", "text/plain"),), message.encode(), keep=False)
        self._close()

    def _close(self) -> None:
        self.done = True
        if self.transport is not None:
            self.transport.close()


def _header(request: h11.Request, name: bytes) -> str:
    for key, value in request.headers:  # h11 gives names in lower case
        if key == name:
            return str(value.decode("latin-1"))
    return ""


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
