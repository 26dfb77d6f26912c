"""The asyncio engine's work: probes before seeds, and the sites taken in turn.

A platform decides how fast its own wrapper answers. With one first-come queue, the engine's
tasks all took the links of a platform whose wrapper answered slowly and waited on that host's
few download slots, while every other platform's links waited behind them: 150 links to a
host answering in 0.5 s held 60 links to an instant host for 12 s (a run of 20 s), so that a
platform could slow the audit of all the others to its own pace. Scrapy's answer to the same
problem in broad crawls is its downloader-aware priority queue (the slot with the fewest
downloads goes first); this queue does the same for the engine's tasks, keyed by the site
(registrable domain) of each item's first fetch:

- the sites take turns (round robin), within probes and within seeds;
- a site is passed over while `cap` of its items are being worked on (the engine's: half the
  requests it makes at once): the rest stays for the other sites, whatever one site does
  with its links — answers
  slowly, redirects to a slow host, asks to wait with 429 and Retry-After (review 170: held
  only until its first fetch ended, such links kept the tasks after it), or puts each link
  on a subdomain of its own (review 170: keyed by host, 150 subdomains took 150 turns to the
  other platform's one);
- probes go before seeds (a started seed's links are finished before new seed pages are
  opened); a seed is taken beside queued probes only when every site they wait for is busy,
  and not while `hold_seeds_at` or more probes are queued.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

PROBES, SEEDS = 0, 1  # the two ranks; a lower one is taken first


class Hold:
    """An item's hold on its key (the site of its first fetch)."""

    def __init__(self, release: Callable[[str], None], key: str) -> None:
        self._release: Callable[[str], None] | None = release
        self.key = key

    def release(self) -> None:
        """The item is done (a second call does nothing)."""
        if self._release is not None:
            self._release(self.key)
            self._release = None


@dataclass
class _Rank(Generic[T]):
    """One rank's items, a queue per key (site), and the keys in the order they take turns."""

    by_key: dict[str, deque[T]] = field(default_factory=dict)
    turns: deque[str] = field(default_factory=deque)
    size: int = 0


class WorkQueue(Generic[T]):
    def __init__(self, *, cap: int, hold_seeds_at: int) -> None:
        self.cap = cap
        self.hold_seeds_at = hold_seeds_at
        self._ranks: tuple[_Rank[T], _Rank[T]] = (_Rank(), _Rank())
        self._busy: Counter[str] = Counter()  # items handed out and not done, per key
        self._changed = asyncio.Event()  # something was put, or a key is less busy
        self._unfinished = 0
        self._finished = asyncio.Event()
        self._finished.set()

    def __len__(self) -> int:
        return sum(rank.size for rank in self._ranks)

    def put(self, item: T, *, key: str, rank: int) -> None:
        queue = self._ranks[rank]
        waiting = queue.by_key.get(key)
        if waiting is None:
            waiting = queue.by_key[key] = deque()
            queue.turns.append(key)
        waiting.append(item)
        queue.size += 1
        self._unfinished += 1
        self._finished.clear()
        self._notify()

    async def get(self) -> tuple[T, Hold]:
        """The next item, and its hold on its key, to be released when the item is done."""
        while (taken := self._take()) is None:
            # Nothing can be taken: wait for a change. No change is lost between the take
            # and the wait (nothing runs in between), and set() wakes every waiter.
            self._changed.clear()
            await self._changed.wait()
        return taken

    def _release(self, key: str) -> None:
        self._busy[key] -= 1
        if self._busy[key] <= 0:
            del self._busy[key]
        self._notify()

    def task_done(self) -> None:
        self._unfinished -= 1
        if self._unfinished == 0:
            self._finished.set()

    async def join(self) -> None:
        await self._finished.wait()

    def clear(self) -> None:
        """Drop everything queued (the crawl is stopping): each counts as done."""
        for queue in self._ranks:
            for waiting in queue.by_key.values():
                for _ in waiting:
                    self.task_done()
            queue.by_key.clear()
            queue.turns.clear()
            queue.size = 0

    def _take(self) -> tuple[T, Hold] | None:
        probes, seeds = self._ranks
        taken = self._take_from(probes)
        if taken is None and probes.size < self.hold_seeds_at:
            taken = self._take_from(seeds)
        return taken

    def _take_from(self, queue: _Rank[T]) -> tuple[T, Hold] | None:
        # Busy keys are passed over and keep their place; at most as many are busy as
        # there are tasks over the cap (two), so the walk is short.
        for _ in range(len(queue.turns)):
            key = queue.turns[0]
            queue.turns.rotate(-1)
            if self._busy[key] >= self.cap:
                continue
            waiting = queue.by_key[key]
            item = waiting.popleft()
            if not waiting:
                del queue.by_key[key]
                queue.turns.pop()  # the key just rotated to the end
            queue.size -= 1
            self._busy[key] += 1
            return item, Hold(self._release, key)
        return None

    def _notify(self) -> None:
        self._changed.set()
