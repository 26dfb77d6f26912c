"""The servers of a rebinding lab, run inside a test's own network namespace (tests/netns.py
starts this module with `ip netns exec`): a DNS server on 127.0.0.1:53, a "public" web
server on 1.2.3.4 and "secret" ones on 127.0.0.1, [::1] and 10.55.0.1.

The public server also answers https on 1.2.3.4:443 (a self-signed certificate) and logs the
TLS server name each client sent; the secret ones listen on port 443 too.

DNS, TTL 0 everywhere:
- `*.rebind.test` answers 1.2.3.4 to the first A query for a name and 127.0.0.1 to every
  later one: the DNS-rebinding attack, where a check that resolves on its own and a
  connection that resolves again see different addresses;
- `ten.test` answers 10.55.0.1; every other `*.test` name answers 1.2.3.4;
- AAAA queries get an empty answer, anything else NXDOMAIN.

Every DNS query, every connection and every request line any web server sees, and every
datagram to UDP port 3478 (STUN) of 127.0.0.1 and 10.55.0.1, is appended to the log file as a JSON line
(`{"server", "event", "host", "path"}`), so a test can prove that a secret server was never
reached, not even by a connection without a request (a preconnect) or by WebRTC.

Usage: python -m tests.netns_servers PAGES.json LOG.jsonl READY_FILE
PAGES.json maps "host/path" to [status, headers, body, delay_s] for the public server.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from dnslib import QTYPE, RR, A, DNSRecord  # type: ignore[import-untyped]
from dnslib.server import BaseResolver, DNSLogger, DNSServer  # type: ignore[import-untyped]

PUBLIC = "1.2.3.4"
TEN = "10.55.0.1"


class _Log:
    def __init__(self, path: Path):
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, **entry: str) -> None:
        with self._lock:
            self._file.write(json.dumps(entry) + "\n")
            self._file.flush()


class RebindingResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, log: _Log) -> None:
        self._log = log
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
        self._log.write(server="dns", event="query", host=name, path=QTYPE[request.q.qtype])
        if not name.endswith(".test"):
            reply.header.rcode = 3  # NXDOMAIN
        elif request.q.qtype == QTYPE.A:
            address = self.address(name)
            if address is not None:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=0))
        elif request.q.qtype == QTYPE.AAAA:
            pass  # no IPv6 address: an empty answer, as a name with A records only has
        return reply


def _tls_context(log: _Log) -> ssl.SSLContext:
    """A self-signed certificate (both engines do not verify, as an auditor records what is
    served) and a log of the server name each client asked for."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lab")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="hulian-lab-tls-") as scratch:
        directory = Path(scratch)  # ssl loads a chain from files only
        (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / "key.pem").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        context.load_cert_chain(directory / "cert.pem", directory / "key.pem")

    def server_name(_: Any, name: str | None, __: Any) -> None:
        log.write(server="public", event="sni", host=name or "", path="")

    context.sni_callback = server_name
    return context


def _server(name: str, address: str, port: int, pages: dict[str, Any] | None, log: _Log,
            tls: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
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
        address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        daemon_threads = True

        def get_request(self) -> tuple[socket.socket, Any]:
            connection, client = super().get_request()
            log.write(server=name, event="connection", host=address, path=str(port))
            if tls is not None:  # the handshake in the handler's thread, not the acceptor's
                connection = tls.wrap_socket(connection, server_side=True,
                                             do_handshake_on_connect=False)
            return connection, client

    server = Server((address, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _udp(name: str, address: str, port: int, log: _Log) -> socket.socket:
    """A UDP port that logs every datagram: what WebRTC (STUN) would send past a proxy."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))

    def receive() -> None:
        while True:
            try:
                sock.recvfrom(65536)
            except OSError:
                return
            log.write(server=name, event="datagram", host=address, path=str(port))

    threading.Thread(target=receive, daemon=True).start()
    return sock


def main() -> None:
    pages = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    log = _Log(Path(sys.argv[2]))
    dns = DNSServer(RebindingResolver(log), port=53, address="127.0.0.1",
                    logger=DNSLogger(log="-request,-reply,-truncated,-recv,-send,-data",
                                     logf=lambda _: None))
    dns.start_thread()
    servers = [_server("public", PUBLIC, 80, pages, log),
               _server("public", PUBLIC, 443, pages, log, _tls_context(log)),
               *(_server(secret, address, port, None, log)
                 for secret, address in (("loopback", "127.0.0.1"), ("loopback6", "::1"),
                                         ("ten", TEN))
                 for port in (80, 443))]
    datagrams = [_udp("loopback", "127.0.0.1", 3478, log), _udp("ten", TEN, 3478, log)]
    Path(sys.argv[3]).write_text("ready", encoding="utf-8")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.shutdown()
        for sock in datagrams:
            sock.close()
        dns.stop()


if __name__ == "__main__":
    main()
