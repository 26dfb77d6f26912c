"""The servers of a rebinding lab, run inside a test's own network namespace (tests/netns.py
starts this module with `ip netns exec`): a DNS server on 127.0.0.1:53, a "public" web
server on 1.2.3.4:80 and "secret" ones on 127.0.0.1:80, [::1]:80 and 10.55.0.1:80.

DNS, TTL 0 everywhere:
- `*.rebind.test` answers 1.2.3.4 to the first A query for a name and 127.0.0.1 to every
  later one: the DNS-rebinding attack, where a check that resolves on its own and a
  connection that resolves again see different addresses;
- `ten.test` answers 10.55.0.1; every other `*.test` name answers 1.2.3.4;
- AAAA queries get an empty answer, anything else NXDOMAIN.

Every connection and every request line any web server sees is appended to the log file as
a JSON line (`{"server", "event", "host", "path"}`), so a test can prove that a secret server
was never reached, not even by a connection without a request (a preconnect).

Usage: python -m tests.netns_servers PAGES.json LOG.jsonl READY_FILE
PAGES.json maps "host/path" to [status, headers, body, delay_s] for the public server.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dnslib import AAAA, QTYPE, RR, A, DNSRecord  # type: ignore[import-untyped]
from dnslib.server import BaseResolver, DNSLogger, DNSServer  # type: ignore[import-untyped]

PUBLIC = "1.2.3.4"
TEN = "10.55.0.1"


class RebindingResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._asked: dict[str, int] = {}

    def address(self, name: str) -> str | None:
        if not name.endswith(".test"):
            return None
        if name == "ten.test":
            return TEN
        if name.endswith(".rebind.test") or name == "rebind.test":
            with self._lock:
                count = self._asked[name] = self._asked.get(name, 0) + 1
            return PUBLIC if count == 1 else "127.0.0.1"
        return PUBLIC

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        if not name.endswith(".test"):
            reply.header.rcode = 3  # NXDOMAIN
        elif request.q.qtype == QTYPE.A:
            address = self.address(name)
            if address is not None:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=0))
        elif request.q.qtype == QTYPE.AAAA:
            pass  # no IPv6 address: an empty answer, as a name with A records only has
        return reply


class _Log:
    def __init__(self, path: Path):
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, **entry: str) -> None:
        with self._lock:
            self._file.write(json.dumps(entry) + "\n")
            self._file.flush()


def _server(name: str, address: str, family: int, pages: dict[str, Any] | None,
            log: _Log) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            host = (parts.hostname or self.headers.get("Host") or "").split(":")[0]
            log.write(server=name, event="request", host=host, path=parts.path)
            if pages is None:
                status, headers, body, delay = 200, {}, "SECRET", 0.0
            else:
                status, headers, body, delay = pages.get(f"{host}{parts.path}",
                                                         (404, {}, "not found", 0.0))
            time.sleep(delay)
            data = body.encode()
            self.send_response(status)
            for key, value in {"Content-Type": "text/html; charset=utf-8", **headers}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        address_family = family
        daemon_threads = True

        def verify_request(self, request: Any, client_address: Any) -> bool:
            log.write(server=name, event="connection", host=address, path="")
            return True

    server = Server((address, 80), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    pages = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    log = _Log(Path(sys.argv[2]))
    dns = DNSServer(RebindingResolver(), port=53, address="127.0.0.1",
                    logger=DNSLogger(log="-request,-reply,-truncated,-recv,-send,-data",
                                     logf=lambda _: None))
    dns.start_thread()
    servers = [_server("public", PUBLIC, socket.AF_INET, pages, log),
               _server("loopback", "127.0.0.1", socket.AF_INET, None, log),
               _server("loopback6", "::1", socket.AF_INET6, None, log),
               _server("ten", TEN, socket.AF_INET, None, log)]
    Path(sys.argv[3]).write_text("ready", encoding="utf-8")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.shutdown()
        dns.stop()


if __name__ == "__main__":
    main()
