"""A time-stamping authority on 127.0.0.1 for the tests: OpenSSL's `openssl ts -reply` behind
the standard library's HTTP server, with a throwaway CA and TSA certificate made by
`openssl` in a temporary directory. Never an outside service.

Modes, for the bad-input tests: ok (a token), garbage (bytes that are no token), error (HTTP
500), wrong-digest (a real token over another digest)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CONFIG = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""

TSA_EXT = """\
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
"""


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True,
                   timeout=60)


@dataclass
class TsaFiles:
    dir: Path
    ca: Path  # the CA certificate: what `hulian verify --tsa-cert` is given
    config: Path


def make_tsa(directory: Path, name: str = "hulian test TSA") -> TsaFiles:
    """A CA and a TSA certificate it issued (EKU timeStamping, critical), and the config of
    `openssl ts -reply`."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed (Debian package openssl)")
    directory.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
             "-subj", f"/CN={name} CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    _openssl("req", *ec, "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", f"/CN={name}",
             cwd=directory)
    (directory / "tsa.ext").write_text(TSA_EXT)
    _openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "tsa.crt", "-days", "3650", "-extfile", "tsa.ext",
             cwd=directory)
    (directory / "tsaserial").write_text("01\n")
    config = directory / "tsa.cnf"
    config.write_text(CONFIG.format(dir=directory))
    return TsaFiles(directory, directory / "ca.crt", config)


class TsaServer:
    """`openssl ts -reply` for each POST; mode can be changed while it runs."""

    def __init__(self, files: TsaFiles) -> None:
        self.files = files
        self.mode = "ok"
        self.requests = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, body = server.answer(query)
                self.send_response(status)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tsa"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, query: bytes) -> tuple[int, bytes]:
        with self.lock:  # one openssl at a time: they share the serial file
            self.requests += 1
            if self.mode == "error":
                return 500, b"internal error"
            if self.mode == "garbage":
                return 200, b"\x30\x03\x02\x01\x00 this is not a timestamp response"
            work = self.files.dir
            if self.mode == "wrong-digest":
                digest = hashlib.sha256(b"another manifest").hexdigest()
                _openssl("ts", "-query", "-digest", digest, "-sha256", "-cert", "-out",
                         "query.tsq", cwd=work)
            else:
                (work / "query.tsq").write_bytes(query)
            _openssl("ts", "-reply", "-config", self.files.config, "-queryfile", "query.tsq",
                     "-out", "reply.tsr", cwd=work)
            return 200, (work / "reply.tsr").read_bytes()

    def __enter__(self) -> TsaServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@contextmanager
def local_tsa(directory: Path) -> Iterator[TsaServer]:
    with TsaServer(make_tsa(directory)) as server:
        yield server


def closed_port_url() -> str:
    """A loopback URL where nothing listens (a TSA that is down)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsa"
