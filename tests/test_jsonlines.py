"""Repairing a JSON-lines file's partial last line (audit/evidence/jsonlines.py): what is cut, what is
kept, and that only the last line is read, however large the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from audit.evidence.jsonlines import repair_partial_line

BIG = b'{"b":"' + b"x" * 200_000  # longer than one backwards block


@pytest.mark.parametrize(("before", "after"), [
    (b'{"a":1}\n{"b":', b'{"a":1}\n'),  # a partial record is cut
    (b'{"a":1}\n{"b":2}', b'{"a":1}\n{"b":2}\n'),  # a whole record only lacks its newline
    (b'{"a":1}\n' + BIG, b'{"a":1}\n'),
    (b'{"a":1}\n' + BIG + b'"}', b'{"a":1}\n' + BIG + b'"}\n'),
    (b'{"b":', b""),
    (b'{"a":1}\n', b'{"a":1}\n'),
], ids=["partial", "complete", "long-partial", "long-complete", "only-line", "intact"])
def test_repair(tmp_path: Path, before: bytes, after: bytes) -> None:
    path = tmp_path / "observations.jsonl"
    path.write_bytes(before)
    repair_partial_line(path)
    assert path.read_bytes() == after


def test_only_the_last_line_is_read(tmp_path: Path) -> None:
    """A 2 GB file (sparse) with a partial last line, repaired in a process that may not
    hold 2 GB: reading the whole file to find its last line would fail there."""
    path = tmp_path / "observations.jsonl"
    with path.open("wb") as fh:
        fh.truncate(2 * 1024**3)
        fh.seek(0, 2)
        fh.write(b'\n{"a":1}\n{"b":')
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (1024**3, 1024**3)); "
            "from pathlib import Path; from audit.evidence.jsonlines import repair_partial_line; "
            f"repair_partial_line(Path({str(path)!r}))")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)
    with path.open("rb") as fh:
        fh.seek(-9, 2)
        assert fh.read() == b'\n{"a":1}\n'
