"""Page work in worker processes, so a crawl uses more than one core.

Parsing and classifying pages is pure (audit.measure.chain.plan_probes,
audit.measure.chain.analyze_page) and
is most of a crawl's CPU once downloads are cheap; one Python process runs it on one core.

The workers are forked before the event loop starts, so they inherit the loaded catalog and
never touch the loop, the bundle or the WARC file. Each talks to the crawl process over its
own socket pair: length-prefixed pickles, read by the event loop like any other socket.
There is deliberately no thread in between (concurrent.futures' process pool has a manager
thread; its GIL hand-offs with the event loop cost more than the parsing they saved here).

If a worker crashes (a signal such as SIGSEGV from the parser, or a non-zero exit), the page
it was parsing (the oldest it had not answered: a worker answers in order) fails with
PageCrashed, which the engine records as `parse_crash` instead of parsing that page again in
the crawl process (where the same crash would end the run, and every resume after it). A
worker killed from outside (SIGKILL, as the OOM killer does; SIGTERM) blames no page. Its
other pending pages are parsed again by the workers left, or in the crawl process.

A worker that has been on one page for PAGE_BUDGET_S is killed by the crawl process, and that
page fails with PageCrashed as `parse_timeout`: a hostile page (libxml2 is quadratic in the
attributes of one element: 200,000 in 1.8 MB never finished) must not hold the worker, and
every page queued behind it, for the rest of the run.

A worker that ends is replaced, up to MAX_REPLACEMENTS times a run: the replacement is started
by multiprocessing's fork server (a clean process that forks workers on request), not forked
from the crawl process, whose event loop and threads are running by then; it is given the
catalog. Pages parsed in the crawl process itself have no budget (nothing can stop a parse
there), so a page of more than INLINE_MAX_BYTES is never parsed there while a worker is, or is
being started: it waits for one, however long its queue. Both engines parse through this pool
(the Scrapy engine's spider awaits it as the asyncio engine does). Small pages are parsed there when
no worker is left (past MAX_REPLACEMENTS) or the least busy one has INLINE_WHEN_QUEUED pages.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from audit.judge.compare import sketch_key, use_sketch_key
from audit.measure import chain as chains
from audit.model import PageFacts, Probe, SurfaceKind
from audit.policy.catalog import Catalog

logger = logging.getLogger(__name__)

T = TypeVar("T")
_FRAME = struct.Struct("!QI")  # request id, payload length
# With this many pages queued at the least busy worker, the crawl process parses the page
# itself: its own core has time to spare between downloads, and a page parsed here costs
# no hand-over (bench/crawl.py: 16-32 measured best; 4 overloads the crawl process, never
# inlining leaves its core idle while the worker falls behind).
INLINE_WHEN_QUEUED = 24

# How long a worker may be on one page (parsing and classifying one page of the crawl's 32 MB
# at most takes seconds); past it the worker is killed and the page recorded `parse_timeout`.
PAGE_BUDGET_S = 60.0

# Workers started in place of ones that ended, a run at most: each hostile page costs one, and
# a site of such pages must not make the crawl start processes without end.
MAX_REPLACEMENTS = 8

# Pages larger than this are parsed only by a worker (which has a time budget) while one is
# alive or being started. libxml2 is quadratic in one element's attributes: the worst page of
# 256 KiB (55,000 two-letter attributes) held the crawl process 9 s, of 64 KiB 0.5 s (measured
# on this machine). A platform's ordinary pages are larger and wait for the worker; the small
# pages the crawl process helps with when the worker is behind are the bulk of a crawl.
INLINE_MAX_BYTES = 64 * 1024

# The crawl's catalog, inherited by the forked workers (set just before the fork).
_CATALOG: Catalog | None = None


def default_processes(requested: int | None = None) -> int:
    """`--parse-processes`, or else one worker per core beyond the crawl process's own; none
    on a single core."""
    return max(0, (os.cpu_count() or 1) - 1) if requested is None else requested


# Results cross the socket as plain dicts and tuples and are rebuilt without validation on
# the other side (they were validated where they were made): unpickling pydantic models
# costs several times more.

def _plan(body: bytes, content_type: str | None, url: str, source: str, surface: SurfaceKind
          ) -> tuple[list[dict[str, Any]], str | None, list[tuple[str, str]]]:
    assert _CATALOG is not None
    plan = chains.plan_probes(body, content_type, url, source=source, surface=surface,
                              catalog=_CATALOG)
    return [p.model_dump() for p in plan.probes], plan.parse_issue, plan.metas


def _analyze(body: bytes, content_type: str, url: str, target: str | None, status: int | None,
             control: bool, refresh: str | None, csp: str | None,
             reached: bool) -> dict[str, Any]:
    assert _CATALOG is not None
    a = chains.analyze_page(body, content_type, url, _CATALOG, target=target, status=status,
                            control=control, refresh=refresh, csp=csp, reached=reached)
    # Every field by its name (a field added to PageAnalysis and left out of a hand-written
    # tuple here never reached the chain: review 135's off-the-web forwards), the facts as
    # a plain dict.
    return {**{f.name: getattr(a, f.name) for f in dataclasses.fields(a)},
            "facts": a.facts.model_dump()}


def _probes(fields: tuple[list[dict[str, Any]], str | None, list[tuple[str, str]]]
            ) -> chains.Plan:
    probes, parse_issue, metas = fields
    return chains.Plan([Probe.model_construct(**f) for f in probes], parse_issue, metas)


def _analysis(fields: dict[str, Any]) -> chains.PageAnalysis:
    return chains.PageAnalysis(**{**fields, "facts": PageFacts.model_construct(**fields["facts"])})


_JOBS: dict[str, Callable[..., Any]] = {"plan": _plan, "analyze": _analyze}


def _serve_with(sock: socket.socket, catalog: Catalog, sketch_key: bytes) -> None:
    """A replacement worker, started by the fork server (a process of its own, not forked
    from the crawl process): it is given the catalog, and the crawl process's key for page
    fingerprints, which the fingerprints it makes are compared with (compare.sketch_key)."""
    global _CATALOG
    _CATALOG = catalog
    use_sketch_key(sketch_key)
    _serve(sock, [])


def _serve(sock: socket.socket, parent_ends: list[socket.socket]) -> None:
    """A worker: answer requests until the crawl process closes its end."""
    # Ctrl-C is the crawl process's to handle; it closes the socket, which ends this loop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The fork copied the crawl process's ends of every pair: holding them open would keep
    # this worker from ever seeing the end of file it exits on.
    for end in parent_ends:
        end.close()
    reader, writer = sock.makefile("rb"), sock.makefile("wb")
    while True:
        header = reader.read(_FRAME.size)
        if len(header) < _FRAME.size:
            return
        request_id, length = _FRAME.unpack(header)
        data = reader.read(length)
        if len(data) < length:
            return  # the crawl process stopped mid-request (Ctrl-C, a crash): nothing to answer
        job, args = pickle.loads(data)
        try:
            answer: tuple[bool, Any] = (True, _JOBS[job](*args))
        except Exception as exc:  # a bug on some page: reported to the crawl process
            answer = (False, f"{type(exc).__name__}: {exc}")
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            writer.write(_FRAME.pack(request_id, len(data)) + data)
            writer.flush()
        except OSError:
            # The crawl process closed its end while this answer was on its way (Ctrl-C, a
            # crash): nobody is left to read it. Exit 0, so no page is blamed for a crash.
            return


class PageWorkFailed(Exception):
    """A worker raised on a page (the same bug would raise in the crawl process)."""


class PageCrashed(Exception):
    """The worker died while parsing this page, or was killed for holding it past
    PAGE_BUDGET_S: it is not parsed again anywhere. `failure`: the word recorded for it."""

    def __init__(self, message: str, failure: str = "parse_crash"):
        super().__init__(message)
        self.failure = failure


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process
    sock: socket.socket
    writer: asyncio.StreamWriter | None = None
    pending: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    alive: bool = True
    # The request at the head of the worker's queue (the page it is on) and since when.
    head: tuple[int, float] | None = None
    stuck: int | None = None  # the request it was killed for holding past the budget


def _crashed(worker: _Worker) -> bool:
    """Whether the worker ended of a crash of its own rather than killed from outside. It
    has closed its socket, so it is gone or about to be: the wait is short and rare."""
    worker.process.join(timeout=2)
    status = worker.process.exitcode
    return status is not None and status not in (0, -signal.SIGKILL, -signal.SIGTERM)


class ParsePool:
    """`plan` and `analyze` awaitables: in a worker when there is one, inline otherwise."""

    def __init__(self, catalog: Catalog, processes: int):
        self.catalog = catalog
        self._workers: list[_Worker] = []
        self._ids = itertools.count()
        self._readers: list[asyncio.Task[None]] = []
        self._replacements = 0
        self._starting: set[asyncio.Task[None]] = set()  # replacements being started
        self._stopping = False
        if processes <= 0:
            return
        global _CATALOG
        _CATALOG = catalog
        context = multiprocessing.get_context("fork")
        for _ in range(processes):
            ours, theirs = socket.socketpair()
            parent_ends = [ours, *(w.sock for w in self._workers)]
            process = context.Process(target=_serve, args=(theirs, parent_ends), daemon=True,
                                      name="hulian-parse")
            try:
                process.start()
            except OSError as exc:
                logger.warning("no parse worker (%s): parsing in the crawl process", exc)
                ours.close()
                theirs.close()
                break
            theirs.close()
            self._workers.append(_Worker(process=process, sock=ours))

    @property
    def in_use(self) -> int:
        return sum(1 for w in self._workers if w.alive)

    async def start(self) -> None:
        """Connect the workers' sockets to the running event loop."""
        for worker in self._workers:
            await self._connect(worker)

    async def _connect(self, worker: _Worker) -> None:
        reader, writer = await asyncio.open_connection(sock=worker.sock, limit=1 << 26)
        worker.writer = writer
        self._readers.append(asyncio.create_task(self._read(worker, reader)))
        self._readers.append(asyncio.create_task(self._watch(worker)))

    def _replace(self) -> None:
        """Start a worker in place of one that ended (see the module docstring)."""
        if self._stopping or self._replacements >= MAX_REPLACEMENTS:
            return
        self._replacements += 1
        task = asyncio.create_task(self._start_replacement())
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _start_replacement(self) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        ours, theirs = socket.socketpair()
        process = context.Process(target=_serve_with,
                                  args=(theirs, self.catalog, sketch_key()), daemon=True,
                                  name="hulian-parse")
        try:
            # In the event loop's thread, which holds it: ~0.3 s the first time (the fork
            # server is launched; the imports are its own), ~0.1 s after (the catalog is
            # pickled and sent). Started from another thread, multiprocessing raced the loop
            # over shared state ("dictionary changed size during iteration").
            process.start()
        except Exception as exc:  # whatever it is, pages are parsed here as before
            logger.warning("no parse worker could be started in place of the one that ended "
                           "(%s: %s)", type(exc).__name__, exc)
            ours.close()
            return
        finally:
            theirs.close()
        worker = _Worker(process=process, sock=ours)
        self._workers.append(worker)
        await self._connect(worker)

    async def _watch(self, worker: _Worker) -> None:
        """Kill the worker once it has been on one page for PAGE_BUDGET_S (see the module
        docstring); its reader then fails that page as `parse_timeout`."""
        while worker.alive:
            await asyncio.sleep(min(1.0, PAGE_BUDGET_S / 4))
            head = min(worker.pending, default=None)
            now = time.monotonic()
            if head is None or worker.head is None or worker.head[0] != head:
                worker.head = None if head is None else (head, now)
                continue
            if now - worker.head[1] > PAGE_BUDGET_S and worker.alive:
                logger.warning("a page has held the parse worker for more than %.0f s: it is "
                               "recorded as parse_timeout and not parsed again; the rest is "
                               "parsed by the workers left, or in the crawl process",
                               PAGE_BUDGET_S)
                worker.stuck = head
                worker.process.kill()
                return

    async def _read(self, worker: _Worker, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                request_id, length = _FRAME.unpack(await reader.readexactly(_FRAME.size))
                ok, value = pickle.loads(await reader.readexactly(length))
                future = worker.pending.pop(request_id, None)
                if future is None or future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(PageWorkFailed(value))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        worker.alive = False
        self._replace()
        if worker.pending and worker.stuck is None:
            logger.warning("a parse worker died; the page it was parsing is recorded as "
                           "parse_crash, its other pages are parsed again, and a worker is "
                           "started in its place")
        culprit: int | None
        if worker.stuck is not None:
            culprit, failure = worker.stuck, "parse_timeout"
        else:
            culprit = min(worker.pending, default=None) if _crashed(worker) else None
            failure = "parse_crash"
        for request_id, future in worker.pending.items():
            if future.done():
                continue
            if request_id == culprit:
                future.set_exception(PageCrashed(f"the parse worker {failure}", failure))
            else:
                future.set_exception(ConnectionError("parse worker gone"))
        worker.pending.clear()

    async def _run(self, job: str, size: int, inline: Callable[[], T],
                   rebuild: Callable[[Any], T], *args: Any) -> T:
        """The job in the least busy worker, or inline (see the module docstring for when);
        a page whose worker ended under it (not of it) is given to the next."""
        large = size > INLINE_MAX_BYTES
        while True:
            live = [w for w in self._workers if w.alive and w.writer is not None]
            if not live and large and self._starting:
                await asyncio.wait(set(self._starting))
                continue
            if not live:
                return inline()
            worker = min(live, key=lambda w: len(w.pending))
            if len(worker.pending) >= INLINE_WHEN_QUEUED and not large:
                return inline()
            assert worker.writer is not None
            request_id = next(self._ids)
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            worker.pending[request_id] = future
            data = pickle.dumps((job, args), protocol=pickle.HIGHEST_PROTOCOL)
            worker.writer.write(_FRAME.pack(request_id, len(data)) + data)
            try:
                return rebuild(await future)
            except ConnectionError:
                continue

    async def plan(self, body: bytes, content_type: str | None, url: str, source: str,
                   surface: SurfaceKind) -> chains.Plan:
        return await self._run(
            "plan", len(body), lambda: chains.plan_probes(body, content_type, url, source=source,
                                               surface=surface, catalog=self.catalog),
            _probes, body, content_type, url, source, surface)

    async def analyze(self, body: bytes, content_type: str, url: str, *,
                      target: str | None = None, status: int | None = None,
                      control: bool = False, refresh: str | None = None,
                      csp: str | None = None, reached: bool = False) -> chains.PageAnalysis:
        return await self._run(
            "analyze", len(body), lambda: chains.analyze_page(body, content_type, url, self.catalog,
                                                   target=target, status=status,
                                                   control=control, refresh=refresh, csp=csp,
                                                   reached=reached),
            _analysis, body, content_type, url, target, status, control, refresh, csp, reached)

    async def stop(self) -> None:
        """Close the sockets (the workers exit on end of file) and stop reading."""
        self._stopping = True
        for task in list(self._starting):
            task.cancel()
        await asyncio.gather(*self._starting, return_exceptions=True)
        for worker in self._workers:
            if worker.writer is not None:
                worker.writer.close()
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self._readers.clear()

    def close(self) -> None:
        """Reap the workers (after the event loop has ended)."""
        for worker in self._workers:
            worker.sock.close()
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
        self._workers.clear()
