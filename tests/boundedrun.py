"""Running the CLI in a child process with its memory capped and measured, for the tests of
readers that must apply their limits while reading (issue 13, item 5)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# The child reports its own peak (VmHWM of the memory map it got at exec). wait4's ru_maxrss
# would not do: a child forked from a large pytest process starts with the parent's
# resident pages counted, and that count survives the exec.
_REPORT = ("import atexit, os\n"
           "def _peak():\n"
           "    for line in open('/proc/self/status'):\n"
           "        if line.startswith('VmHWM:'):\n"
           "            open(os.environ['HULIAN_TEST_PEAK'], 'w').write(line.split()[1])\n"
           "atexit.register(_peak)\n"
           "from audit.cli import main\n"
           "main()\n")
HULIAN = [sys.executable, "-c", _REPORT]
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
    """`hulian ARGS` in a child process under an address-space cap, with its peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryDirectory() as scratch:
        peak_file = Path(scratch) / "peak"
        child = subprocess.Popen([*HULIAN, *args], cwd=cwd,
                                 stdin=subprocess.DEVNULL if stdin is None else stdin,
                                 stdout=out, stderr=err, preexec_fn=_cap,
                                 env={**os.environ, "HULIAN_DB": "off",
                                      "HULIAN_TEST_PEAK": str(peak_file)})
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise
        out.seek(0)
        err.seek(0)
        # No report: the child died before its exit handlers (killed, or out of memory).
        peak = int(peak_file.read_text()) / 1024 if peak_file.exists() else float("inf")
        return Finished(child.returncode, out.read().decode("utf-8", "replace"),
                        err.read().decode("utf-8", "replace"), peak)
