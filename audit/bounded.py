"""Reading input with its size limit applied while reading, never after.

A file's size says nothing about what `read()` will return: /dev/zero and FIFOs report 0,
a sparse file reports what it has not got, and standard input has no size at all. So a
reader asks for at most `limit + 1` bytes, which both bounds memory and tells whether there
was more. Standard library only: the policy loader, `hulian inspect`, the capture readers and
the crawler's robots.txt reader all use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# Read in pieces so that a slow source (a FIFO, a pipe) fills the buffer gradually and a
# short read is not taken for the end of the input.
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Bounded:
    data: bytes  # at most `limit` bytes
    more: bool  # the input went on past the limit (it was not all read)


def read_bounded(stream: BinaryIO, limit: int) -> Bounded:
    """At most `limit` bytes of `stream`, and whether there was more."""
    buffer = bytearray()
    while len(buffer) <= limit:
        piece = stream.read(min(_CHUNK, limit + 1 - len(buffer)))
        if not piece:
            break
        buffer += piece
    more = len(buffer) > limit
    if more:
        del buffer[limit:]
    return Bounded(bytes(buffer), more)


def read_file_bounded(path: Path, limit: int) -> Bounded:
    """At most `limit` bytes of the file at `path` (a regular file, a device, a FIFO).
    Raises OSError as `open` does (IsADirectoryError for a directory)."""
    with path.open("rb") as fh:
        return read_bounded(fh, limit)


def describe(limit: int) -> str:
    """A limit as people say it: 20 MB, 512 KB."""
    if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MB"
    if limit >= 1024 and limit % 1024 == 0:
        return f"{limit // 1024} KB"
    return f"{limit} bytes"
