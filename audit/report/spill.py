"""What a report lists in full, kept in an anonymous temporary file instead of on the heap.

A report's review queue and the rendered findings of findings.json and findings.csv
(audit/report/exports.py) grow with the run: ten million observations make ~4 million
findings, ~15 GB as rendered, and a platform whose interstitial changed its wording sends every
link it wraps to the review queue. Each item is written, as it is made, as one blob to a file
that is the process's own (unlinked at creation, gone when the process ends, however it ends),
and read back with `os.pread` where it was put.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import weakref
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Generic, TypeVar, overload

T = TypeVar("T")


def _close_quietly(file: IO[bytes]) -> None:
    """After a failed write (a full disk) the buffer still holds what could not be written,
    and closing tries again and fails: the error was raised already, and the file is nobody's
    but the store's, so a second one is not said."""
    with contextlib.suppress(OSError):
        file.close()


class SpillFile:
    """Blobs appended to an anonymous temporary file and read back where they were put."""

    def __init__(self, what: str, *, buffering: int = -1):
        """`what`: what the file holds, for the error a full or unwritable $TMPDIR gives;
        `buffering`: the size of its write buffer (-1: Python's default, 8 KB)."""
        self._what = what
        try:
            self._file = tempfile.TemporaryFile(  # noqa: SIM115
                prefix="hulian-spill-", buffering=buffering)
        except OSError as exc:
            raise self._error(exc) from None
        # Open for the store's life, not one block: closed by close() or when the store is
        # collected (the finalizer, quietly: the file is the store's, not a leak).
        self._closer = weakref.finalize(self, _close_quietly, self._file)
        self.size = 0

    def _error(self, exc: OSError) -> OSError:
        return OSError(exc.errno, f"cannot keep {self._what} in a temporary file under "
                       f"{tempfile.gettempdir()} (set TMPDIR to a directory with room): "
                       f"{exc.strerror or exc}")

    def append(self, blob: bytes) -> int:
        """Writes `blob` at the end; returns where it starts."""
        offset = self.size
        try:
            self._file.write(blob)
        except OSError as exc:  # a full disk: said as where the items were going
            raise self._error(exc) from None
        self.size += len(blob)
        return offset

    def flush(self) -> None:
        """Everything appended readable by `read` (in this process and in forked ones)."""
        try:
            self._file.flush()
        except OSError as exc:
            raise self._error(exc) from None

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self._file.fileno(), length, offset)

    def close(self) -> None:
        self._closer()


def item_or_slice(index: int | slice, length: int, read: Callable[[int], T]) -> T | list[T]:
    """`sequence[index]` of a sequence of `length` items whose i-th `read(i)` gives: what the
    stores' `__getitem__` share."""
    if isinstance(index, slice):
        return [read(i) for i in range(*index.indices(length))]
    if index < 0:
        index += length
    if not 0 <= index < length:
        raise IndexError("index out of range")
    return read(index)


class Spilled(Sequence[T], Generic[T]):
    """Items in the order added, kept in a SpillFile: `add` them all, then read (iterating,
    `items[i]`, slices, `len`). `encode`/`decode` turn an item into a blob and back (pickle by
    default); 16 bytes an item stay on the heap."""

    def __init__(self, what: str, items: Iterable[T] = (), *,
                 encode: Callable[[T], bytes] | None = None,
                 decode: Callable[[bytes], T] | None = None):
        self._file = SpillFile(what)
        self._encode = encode or (lambda item: pickle.dumps(item, pickle.HIGHEST_PROTOCOL))
        # The process's own file, written by add(): trusted as pickle input.
        self._decode = decode or pickle.loads
        self._offsets = array("q")
        self._lengths = array("q")
        self._flushed = True
        for item in items:
            self.add(item)
        self.flush()  # complete as given: nothing left in a buffer a fork would share

    def flush(self) -> None:
        """Everything added readable, here and in processes forked after it."""
        if not self._flushed:
            self._file.flush()
            self._flushed = True

    def add(self, item: T) -> None:
        self.add_blob(self._encode(item))

    def add_blob(self, blob: bytes) -> None:
        """An item given as `encode` would make it (the caller has it so already)."""
        self._offsets.append(self._file.append(blob))
        self._lengths.append(len(blob))
        self._flushed = False

    def __len__(self) -> int:
        return len(self._offsets)

    def _read(self, index: int) -> T:
        self.flush()
        return self._decode(self._file.read(self._offsets[index], self._lengths[index]))

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        return item_or_slice(index, len(self), self._read)

    def __iter__(self) -> Iterator[T]:
        for index in range(len(self)):
            yield self._read(index)

    def blobs(self) -> Iterator[bytes]:
        """The items as `encode` made them, in order (not decoded)."""
        self.flush()
        for index in range(len(self)):
            yield self._file.read(self._offsets[index], self._lengths[index])

    def __bool__(self) -> bool:
        return bool(self._offsets)

    def close(self) -> None:
        self._file.close()

    def __repr__(self) -> str:
        return f"<Spilled {len(self)}>"
