"""The lab in a child process, for `--lab` runs: it does not compete with the crawler for the
interpreter lock, and it dies with the process that started it."""

from __future__ import annotations

import ctypes
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from audit.errors import HulianError


class LabError(HulianError):
    """The lab could not be started."""


@dataclass
class LabProcess:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # The pipe the lab announced its URL on: left open, it is closed by the garbage
        # collector with a ResourceWarning (an error under the tests' warning filter).
        if self.process.stdout is not None:
            self.process.stdout.close()


def _die_with_parent() -> None:
    """In the lab child: get SIGTERM when the auditing process dies, even by SIGKILL, so no
    orphaned lab keeps its port (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)
    except OSError:
        pass


@contextmanager
def lab_process(scenario: Path | None = None, port: int = 0) -> Iterator[LabProcess]:
    """Start `hulian lab serve` in a child process on a free loopback port."""
    command = [sys.executable, "-m", "audit.cli", "lab", "serve", "--port", str(port)]
    if scenario is not None:
        command += ["--scenario", str(scenario)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               preexec_fn=_die_with_parent)
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        url = str(json.loads(line)["url"])
    except (ValueError, KeyError):
        process.kill()
        raise LabError(f"the lab did not start (said {line[:200]!r})") from None
    lab = LabProcess(url, process)
    try:
        yield lab
    finally:
        lab.stop()
