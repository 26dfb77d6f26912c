"""A rebinding lab in a network namespace of the test's own: tests/netns_servers.py's DNS and
web servers run inside it, and so does the hulian command under test, whose resolver is the
lab's DNS (`ip netns exec` mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf). The
"public" address 1.2.3.4 and the private 10.55.0.1 sit on the namespace's own loopback
interface, so no packet ever leaves it. Needs root and `ip`; skips with the reason otherwise.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
_names = itertools.count()

# "host/path" -> (status, headers, body, delay in seconds)
Pages = dict[str, tuple[int, dict[str, str], str, float]]


@dataclass
class Lab:
    name: str
    log: Path

    def run(self, args: list[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """A command inside the namespace, from the checkout's root."""
        return subprocess.run(["ip", "netns", "exec", self.name, *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def hulian(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.run([sys.executable, "-m", "audit.cli", *args], timeout=timeout)

    def entries(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]

    def lookups(self) -> dict[str, int]:
        """How many times each name was looked up (A queries)."""
        counts: dict[str, int] = {}
        for entry in self.entries():
            if entry["server"] == "dns" and entry["path"] == "A":
                counts[entry["host"]] = counts.get(entry["host"], 0) + 1
        return counts

    def reached(self, server: str) -> list[dict[str, Any]]:
        """What one of the servers saw: connections and requests."""
        return [e for e in self.entries() if e["server"] == server]


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def _unavailable() -> str | None:
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    return None


@contextmanager
def rebinding_lab(tmp_path: Path, pages: Pages) -> Iterator[Lab]:
    reason = _unavailable()
    if reason:
        pytest.skip(f"rebinding lab not available: {reason}")
    name = f"hulian-t{os.getpid()}-{next(_names)}"
    created = _ip("netns", "add", name)
    if created.returncode != 0:
        pytest.skip(f"rebinding lab not available: ip netns add failed: {created.stderr.strip()}")
    etc = Path("/etc/netns") / name
    servers: subprocess.Popen[bytes] | None = None
    try:
        # A veth pair with both ends inside: an interface that is not loopback, which
        # WebRTC needs before it sends anything (packets between the ends stay inside).
        for args in (["link", "set", "lo", "up"], ["addr", "add", "1.2.3.4/32", "dev", "lo"],
                     ["addr", "add", "10.55.0.1/32", "dev", "lo"],
                     ["link", "add", "hv0", "type", "veth", "peer", "name", "hv1"],
                     ["addr", "add", "10.55.1.1/24", "dev", "hv0"],
                     ["addr", "add", "10.55.1.2/24", "dev", "hv1"],
                     ["link", "set", "hv0", "up"], ["link", "set", "hv1", "up"]):
            done = _ip("-n", name, *args)
            assert done.returncode == 0, done.stderr
        etc.mkdir(parents=True)
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n",
                                         encoding="utf-8")
        spec = tmp_path / "pages.json"
        spec.write_text(json.dumps(pages), encoding="utf-8")
        lab = Lab(name, tmp_path / "servers.jsonl")
        ready = tmp_path / "servers.ready"
        errors = tmp_path / "servers.stderr"
        with errors.open("wb") as stderr:
            servers = subprocess.Popen(
                ["ip", "netns", "exec", name, sys.executable, "-m", "tests.netns_servers",
                 str(spec), str(lab.log), str(ready)], cwd=ROOT, stdout=stderr, stderr=stderr)
        deadline = time.monotonic() + 20
        while not ready.exists():
            if servers.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("lab servers did not start: "
                                     + errors.read_text(errors="replace")[-2000:])
            time.sleep(0.05)
        yield lab
    finally:
        if servers is not None:
            servers.send_signal(signal.SIGINT)
            try:
                servers.wait(timeout=10)
            except subprocess.TimeoutExpired:
                servers.kill()
                servers.wait()
        _ip("netns", "del", name)
        shutil.rmtree(etc, ignore_errors=True)
