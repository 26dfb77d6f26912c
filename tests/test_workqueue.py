"""The asyncio engine's queue of work (audit/measure/asyncio/workqueue.py): probes before
seeds, hosts in turn, a busy host passed over."""

from __future__ import annotations

import asyncio

import pytest

from audit.measure.asyncio.workqueue import PROBES, SEEDS, Hold, WorkQueue


def _taken(queue: WorkQueue[str], count: int) -> list[tuple[str, Hold]]:
    async def take() -> list[tuple[str, Hold]]:
        return [await asyncio.wait_for(queue.get(), 1) for _ in range(count)]
    return asyncio.run(take())


def test_hosts_take_turns_and_probes_go_before_seeds() -> None:
    queue: WorkQueue[str] = WorkQueue(cap=100, hold_seeds_at=100)
    queue.put("seed", key="forum.test", rank=SEEDS)
    for n in range(3):
        queue.put(f"slow{n}", key="slow.test", rank=PROBES)
    queue.put("fast0", key="fast.test", rank=PROBES)
    queue.put("fast1", key="fast.test", rank=PROBES)
    assert [item for item, _ in _taken(queue, 6)] == [
        "slow0", "fast0", "slow1", "fast1", "slow2", "seed"]
    assert len(queue) == 0


def test_a_busy_host_is_passed_over_until_a_first_fetch_is_over() -> None:
    queue: WorkQueue[str] = WorkQueue(cap=2, hold_seeds_at=100)
    for n in range(4):
        queue.put(f"slow{n}", key="slow.test", rank=PROBES)
    queue.put("seed", key="forum.test", rank=SEEDS)

    async def scenario() -> list[str]:
        order = []
        first, hold = await queue.get()
        second, _ = await queue.get()
        order += [first, second]
        # slow.test holds two: the seed is opened rather than a task waiting on that host.
        order.append((await asyncio.wait_for(queue.get(), 1))[0])
        waiting = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0.01)
        assert not waiting.done()  # nothing to take: the host is busy
        hold.release()
        hold.release()  # a second release does nothing
        order.append((await asyncio.wait_for(waiting, 1))[0])
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(queue.get(), 0.05)
        return order

    assert asyncio.run(scenario()) == ["slow0", "slow1", "seed", "slow2"]


def test_seeds_wait_while_many_probes_are_queued() -> None:
    queue: WorkQueue[str] = WorkQueue(cap=1, hold_seeds_at=2)
    for n in range(3):
        queue.put(f"slow{n}", key="slow.test", rank=PROBES)
    queue.put("seed", key="forum.test", rank=SEEDS)

    async def scenario() -> None:
        await queue.get()  # slow.test busy, two of its probes queued: no seed either
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(queue.get(), 0.05)

    asyncio.run(scenario())


def test_clearing_counts_every_queued_item_as_done() -> None:
    queue: WorkQueue[str] = WorkQueue(cap=1, hold_seeds_at=10)
    queue.put("a", key="a.test", rank=PROBES)
    queue.put("b", key="b.test", rank=SEEDS)

    async def scenario() -> None:
        queue.clear()
        await asyncio.wait_for(queue.join(), 1)
        assert len(queue) == 0

    asyncio.run(scenario())
