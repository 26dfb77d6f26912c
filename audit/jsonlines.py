"""JSON-lines files that survive crashes: the repair before appending. Standard library only,
so that the recorder process (audit/recorder.py) can use it without loading the models."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)


def repair_partial_line(path: Path) -> None:
    """A crash mid-write can leave a last line without its newline; cut it before appending
    so that the next record does not get glued onto it (the reader skips it either way)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        data = path.read_bytes()
        cut = data.rfind(b"\n") + 1
        try:
            json.loads(data[cut:])
        except ValueError:
            logger.warning("%s: dropping a partial last line left by an interrupted run", path)
            fh.truncate(cut)
        else:
            # Only the newline is missing: the reader accepts this record, so keep it.
            fh.write(b"\n")
