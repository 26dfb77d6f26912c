"""audit.ahead.made_ahead: items made in a thread of their own, taken in order; errors on
either side end both."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from audit.ahead import made_ahead


def _alive(name: str) -> bool:
    return any(thread.name == name for thread in threading.enumerate())


def test_items_come_in_their_order_however_slow_the_taker() -> None:
    made: list[int] = []

    def make() -> Iterator[int]:
        for n in range(50):
            made.append(n)
            yield n

    taken = []
    for item in made_ahead(make(), 3, "test-order"):
        if item == 10:
            time.sleep(0.05)  # the maker fills the queue and waits
            assert len(made) <= 10 + 1 + 3 + 1  # never more than `ahead` items waiting
        taken.append(item)
    assert taken == list(range(50))
    assert not _alive("test-order")


def test_an_error_in_the_making_is_raised_where_its_item_would_be() -> None:
    def make() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("broken at the third")

    taken: list[int] = []

    def take() -> None:
        for item in made_ahead(make(), 5, "test-error"):
            taken.append(item)

    with pytest.raises(ValueError, match="broken at the third"):
        take()
    assert taken == [1, 2]
    assert not _alive("test-error")


def test_a_taker_that_stops_stops_the_maker_in_its_thread() -> None:
    # The taker fails (a full disk while writing): the maker stops at its next item, its
    # generator is closed in its own thread (its cleanup closes what only it uses), and the
    # thread is gone when the error reaches the caller.
    closed_in: list[str] = []

    def make() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed_in.append(threading.current_thread().name)

    def take() -> None:
        for item in made_ahead(make(), 2, "test-stop"):
            if item == 5:
                raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        take()
    assert closed_in == ["test-stop"]
    assert not _alive("test-stop")


def test_a_taker_that_closes_early_joins_the_maker() -> None:
    items = made_ahead(iter(range(1_000)), 4, "test-close")
    assert next(items) == 0
    items.close()
    assert not _alive("test-close")
