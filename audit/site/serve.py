"""`hulian site serve DIR`: a local preview of a built site with the standard library's HTTP
server, on the loopback interface unless the user asks for another one explicitly."""

from __future__ import annotations

import ipaddress
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def server(directory: Path, host: str = "127.0.0.1", port: int = 8000,
           public: bool = False) -> ThreadingHTTPServer:
    """A server for `directory` (not yet serving: call serve_forever)."""
    check(directory, host, public)
    handler = partial(_Quiet, directory=str(directory))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise SiteError(f"cannot listen on {host}:{port}: {exc}") from None
