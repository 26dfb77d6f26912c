"""JSON-lines files that survive crashes: the repair before appending. Standard library only,
so that the recorder process (audit/measure/asyncio/recorder.py) can use it without loading the
models."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)


def repair_partial_line(path: Path) -> None:
    """A crash mid-write can leave a last line without its newline; cut it before appending
    so that the next record does not get glued onto it (the reader skips it either way).
    Only the last line is read (backwards, by blocks): a bundle's file can be gigabytes."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as fh:
        end, cut = _unfinished_line(fh)
        if cut is None:
            return
        if cut < 0:
            # Only the newline is missing: the reader accepts this record, so keep it.
            fh.seek(end)
            fh.write(b"\n")
            return
        logger.warning("%s: dropping a partial last line left by an interrupted run", path)
        fh.truncate(cut)


def partial_last_line(path: Path) -> int | None:
    """The number of a last line cut by an interrupted write (no newline, no whole JSON
    value), which readers skip; None when there is none."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    with path.open("rb") as fh:
        _, cut = _unfinished_line(fh)
        if cut is None or cut < 0:
            return None
        fh.seek(0)
        return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b"")) + 1


def _unfinished_line(fh: BinaryIO) -> tuple[int, int | None]:
    """The file's size, and where its last line starts if that line has no newline: -1 if
    the line is a whole JSON value all the same (only the newline is missing), None if the
    file ends with a newline. Only the last line is read."""
    end = fh.seek(0, os.SEEK_END)
    fh.seek(end - 1)
    if fh.read(1) == b"\n":
        return end, None
    cut = _line_start(fh, end)
    fh.seek(cut)
    try:
        json.loads(fh.read(end - cut))
    except ValueError:
        return end, cut
    return end, -1


def _line_start(fh: BinaryIO, end: int, block: int = 64 * 1024) -> int:
    """Offset just after the last newline before `end` (0 if there is none)."""
    position = end
    while position > 0:
        start = max(0, position - block)
        fh.seek(start)
        found = fh.read(position - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        position = start
    return 0
