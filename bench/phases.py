"""What the benchmark scripts share: each measured phase runs in a subprocess of its own (its
time and peak RSS are that process's, imports included) and prints its figures as a JSON
line last."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any


def peak_mb() -> int:
    """This process's peak RSS, VmHWM (ru_maxrss would start from the parent's size at the
    fork that started it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return 0


def run_phase(command: list[str], what: str, code: Path, *,
              live: bool = False) -> dict[str, Any]:
    """The figures `command` printed last, with the checkout measured; SystemExit with the
    phase's stderr if it failed. live: the phase's stderr (its progress) goes to this
    process's as it comes, and is not repeated on failure."""
    proc = subprocess.run(command, stdout=subprocess.PIPE,
                          stderr=None if live else subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{what} ({code}) failed (exit {proc.returncode}):\n"
                         f"{proc.stderr or ''}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["code"] = str(code)
    return result


def audit_size_options(parser: argparse.ArgumentParser) -> None:
    """The size of tests/scaleruns.py's synthetic audit (bench/graph.py's): the options the
    benchmarks that generate it share, with its defaults (a million observations of 2,000
    platforms of 200 companies over 400,000 links)."""
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--platforms", type=int, default=2000)
    parser.add_argument("--companies", type=int, default=200)
    parser.add_argument("--edges", type=int, default=400_000)
