"""Python's cyclic garbage collector paused while a stage builds millions of objects that
live until it ends (judging's kinds and cross-target verdicts, the graph's 400,000 edge
dicts, a report's rows).

The collector's full passes are started by how many objects were made, not by how many
could be freed: building a graph of 400,000 edges set off 45 of them, each walking every
object alive, to free 20 objects in all (the graph's build at a million observations 17.1 s
with the collector, 10.6 s without; docs/benchmarks.md, "Twenty-second session"). What a
stage makes is freed by reference counting as ever; cycles made meanwhile (a few thousand
objects in such a run) wait for the collector's next pass once the stage ends. The pause is
the process's: other threads running meanwhile (a capture's addon, the scheduler) are not
collected either, for as long as the stage runs. Standard library only."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection within; the collector runs again after (if it ran before), so
    stages nest. Usable as a decorator too (contextlib's context managers are)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
