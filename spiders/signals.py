"""Scrapy's Ctrl-C handling, kept to the crawl.

`CrawlerProcess.start` installs Scrapy's own SIGINT and SIGTERM handlers (a first signal stops
the crawl gracefully, a second stops the reactor, and then signals are ignored) and leaves
them installed when it returns. Judging, sealing and the reports come after the crawl, in the
same process: a Ctrl-C there did nothing, and a second one was ignored (an adversarial
review), where the run's CLI promises exit 130 and what to do next. The handlers the process
had before the crawl are put back when it ends.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def handlers_restored() -> Iterator[None]:
    saved = {number: signal.getsignal(number) for number in _SIGNALS}
    try:
        yield
    finally:
        for number, handler in saved.items():
            if handler is not None:  # None: set outside Python, nothing to put back
                signal.signal(number, handler)
