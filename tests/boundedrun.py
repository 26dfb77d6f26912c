"""Running the CLI in a child process with its memory capped and measured, for the tests of
readers that must apply their limits while reading (issue 13, item 5)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

HULIAN = [sys.executable, "-c", "from audit.cli import main; main()"]
# The cap keeps a regression from taking the machine down: a reader that reads first and
# cuts later meets MemoryError here instead of growing to 24 GB.
ADDRESS_SPACE = 3 * 1024**3


@dataclass(frozen=True)
class Finished:
    code: int
    stdout: str
    stderr: str
    peak_rss_mb: float  # the child's own peak resident memory


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_capped(*args: str, cwd: Path | None = None, stdin: IO[bytes] | int | None = None,
               timeout: float = 120) -> Finished:
    """`hulian ARGS` in a child process under an address-space cap. Its peak RSS comes from
    wait4 on that child, not from the maximum over every child this process ever had."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen([*HULIAN, *args], cwd=cwd,
                                 stdin=subprocess.DEVNULL if stdin is None else stdin,
                                 stdout=out, stderr=err, preexec_fn=_cap,
                                 env={**os.environ, "HULIAN_DB": "off"})
        timer = threading.Timer(timeout, child.kill)
        timer.start()
        try:
            _pid, status, usage = os.wait4(child.pid, 0)
        finally:
            timer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Finished(child.returncode, out.read().decode("utf-8", "replace"),
                        err.read().decode("utf-8", "replace"), usage.ru_maxrss / 1024)
