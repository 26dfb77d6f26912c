"""Items made in a thread of their own, a few ahead of the one who takes them.

DuckDB lets go of the GIL while it runs a query, and so do file writes and pyarrow's Parquet
writer: a loop that asks DuckDB for batches and writes each one leaves a core idle while it
waits for either. `made_ahead` runs the making in a thread, a bounded queue between the two,
so DuckDB makes the next batches while the last ones are written (the judging's verdict
lines, the report's findings). The maker must be the only user of what it reads from (a
DuckDB connection is not shared between threads here). Standard library only.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar, cast

T = TypeVar("T")

_POLL_S = 0.1  # how often a maker blocked on a full queue looks whether it should stop


def made_ahead(make: Iterator[T], ahead: int, name: str) -> Generator[T, None, None]:
    """The items of `make`, in its order, made in a thread named `name` at most `ahead`
    items before they are taken. An exception in the making is raised here, where the
    next item would have been; if the taker stops early (an error of its own, or it closes
    this generator), the maker stops at its next item and the thread is joined."""
    handed: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def hand(kind: str, value: object) -> bool:
        while not stop.is_set():
            try:
                handed.put((kind, value), timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in make:
                if not hand("item", item):
                    break
            else:
                hand("end", None)
        except BaseException as exc:  # raised in the taker's thread
            hand("error", exc)
        finally:
            # A generator left early is closed here, in the thread that ran it (its
            # cleanup may use what only this thread uses).
            close = getattr(make, "close", None)
            if close is not None:
                close()

    maker = threading.Thread(target=run, name=name, daemon=True)
    maker.start()
    try:
        while True:
            kind, value = handed.get()
            if kind == "end":
                return
            if kind == "error":
                assert isinstance(value, BaseException)
                raise value
            yield cast(T, value)
    finally:
        stop.set()
        maker.join()
