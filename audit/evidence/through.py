"""Large files written through to the disk as they grow.

A judging writes gigabytes of lines (verdicts.jsonl: 3.5 GB at a million observations, 37 GB
at ten million) and a report gigabytes of findings. Left in the page cache, such a file
needs a new cache page for every 4 KB it grows, and once the cache is full each one is had
by reclaiming another: on this project's test machine (a VM) 3.4 GB written in 11 MB pieces
took 19.5–28.1 s, and 11.7–31.8 s synced every 64 MB but kept cached, where the disk
itself takes 2 GB in 1.4 s (`dd oflag=direct`). Synced and dropped from the cache every
SYNC_BYTES, the pages are reused and the same writes took 2.7 s (docs/benchmarks.md,
"Twenty-second session"). The file is also on disk as it is written, not only at its end.
Standard library only."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

SYNC_BYTES = 64 * 2**20


class _Through(io.FileIO):
    """A file opened for writing whose written bytes go to the disk and leave the page
    cache every `every` bytes."""

    def __init__(self, path: Path, mode: str, every: int) -> None:
        super().__init__(path, mode)
        self._every = every
        self._synced = self.tell()  # where the bytes not yet synced start
        self._end = self._synced

    def write(self, data: ReadableBuffer) -> int:
        written = super().write(data)
        if written:
            self._end += written
            if self._end - self._synced >= self._every:
                self._through()
        return written or 0

    def _through(self) -> None:
        fd = self.fileno()
        sync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync
        sync(fd)
        # Linux: the synced pages leave the cache. Advice only: a file system that does not
        # take it (a pipe, some FUSE mounts) leaves them, and the bytes are written all the
        # same; the sync's own errors are the writer's.
        if hasattr(os, "posix_fadvise"):
            with contextlib.suppress(OSError):
                os.posix_fadvise(fd, self._synced, self._end - self._synced,
                                 os.POSIX_FADV_DONTNEED)
        self._synced = self._end


def open_through(path: Path, *, append: bool = False, every: int = SYNC_BYTES,
                 buffering: int = io.DEFAULT_BUFFER_SIZE) -> BinaryIO:
    """`path` opened for writing bytes (truncated, or `append`), written through to the
    disk every `every` bytes. Its close does not sync what is left: callers that need the
    whole file on disk sync it (os.fsync), as they would any file."""
    return io.BufferedWriter(_Through(path, "ab" if append else "wb", every), buffering)
