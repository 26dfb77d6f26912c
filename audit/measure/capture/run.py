"""A capture session: flows (live from the addon, or read from files) go through the chain
builder; probes and Observations are redacted and appended to a run bundle as they are
decided; at the end the bundle is evaluated and sealed like a crawl's.

Shared by the live addon (audit/measure/capture/mitm.py) and `hulian capture analyze`, so that a
live
recording and a later analysis of its dump give the same observations.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import pickle
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from audit.errors import HulianError
from audit.evidence.bundle import (
    MANIFEST,
    VERDICTS,
    BundleError,
    BundleWriter,
    ensure_columnar,
    verdicts_writing,
)
from audit.evidence.lock import Locked, bundle_lock
from audit.evidence.review import write_run_review
from audit.judge.summary import Summary, summarise
from audit.measure.capture import redact
from audit.measure.capture.chains import DEFAULT_WINDOW_S, ChainBuilder, FlowMark
from audit.measure.capture.formats import (
    CaptureError,
    FlowRecord,
    detect_format,
    iter_har,
    iter_warc,
    plausible_time,
)
from audit.measure.capture.plan import Plan, PlanError, load_plan
from audit.model import Observation, Probe, SurfaceKind
from audit.policy.catalog import RUN_POLICIES, Catalog, PolicyError, load_catalog, policy_dirs

logger = logging.getLogger(__name__)

SUMMARY_FILE = "capture.json"


class SessionError(HulianError):
    """A session cannot start (bad plan, policies or bundle); the message says which."""


# Files at least this big are read in a second process while this one analyses: decoding and
# judging then run on both cores (small files are not worth the process start).
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
_BATCH = 256


def reader_for(path: Path, *, fast: bool = True) -> Iterator[FlowRecord]:
    if fast and (os.cpu_count() or 1) >= 2 and path.stat().st_size >= PARALLEL_MIN_BYTES:
        return _parallel(path)
    return _reader(path, fast=fast)


def _reader(path: Path, *, fast: bool = True) -> Iterator[FlowRecord]:
    fmt = detect_format(path)
    if fmt == "har":
        return _guarded(path, iter_har(path))
    if fmt == "warc":
        return _guarded(path, iter_warc(path))
    # mitmproxy (~1 s and 100 MB of modules) only for its own dumps, not for HAR or WARC.
    from audit.measure.capture.mitm import iter_mitm

    return _guarded(path, iter_mitm(path, fast=fast))


def _guarded(path: Path, records: Iterator[FlowRecord]) -> Iterator[FlowRecord]:
    """A reader's records; a bug in it (anything but CaptureError) ends the file as damage
    does, with its name, rather than the whole analysis with a traceback and a bundle that
    was never sealed. The reader process does the same for large files."""
    flows = 0
    try:
        for record in records:
            yield record
            flows += 1
    except CaptureError:
        raise
    except Exception as exc:  # RecursionError and MemoryError's kin included
        raise CaptureError(path, None, f"unexpected {type(exc).__name__}: {exc}",
                           flows_read=flows) from None


def first_flow_error(path: Path) -> CaptureError | None:
    """The error that stops `path` before its first flow, if one does: a file that gives
    nothing is refused before a bundle is made for it. Reads up to the first flow only."""
    try:
        records = _reader(path)
        try:
            next(records, None)
        finally:
            close = getattr(records, "close", None)
            if close is not None:
                close()
    except CaptureError as exc:
        return exc
    return None


def _produce(path: Path, conn: Connection) -> None:
    """In the reader process: records in batches; at the end None or the error's facts."""
    batch: list[FlowRecord] = []
    try:
        for record in _reader(path):
            batch.append(record)
            if len(batch) >= _BATCH:
                conn.send(batch)
                batch = []
        conn.send(batch)
        conn.send(None)
    except CaptureError as exc:
        conn.send(batch)
        conn.send((exc.offset, exc.reason, exc.flows_read))
    except Exception as exc:  # a reader bug must still reach the user, not hang the pipe
        conn.send(batch)
        conn.send((None, f"unexpected {type(exc).__name__}: {exc}", len(batch)))
    finally:
        conn.close()


def _parallel(path: Path) -> Iterator[FlowRecord]:
    """The records of `path`, decoded in a forked child process. The pipe is the bound on
    memory: the child blocks while this process is busy, so nothing piles up."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_produce, args=(path, sender), daemon=True)
    child.start()
    sender.close()
    try:
        while True:
            try:
                message = receiver.recv()
            except EOFError:
                raise CaptureError(path, None, "the reader process died") from None
            if message is None:
                return
            if isinstance(message, tuple):
                offset, reason, flows_read = message
                raise CaptureError(path, offset, reason, flows_read=flows_read)
            yield from message
    finally:
        receiver.close()
        child.join(timeout=5)
        if child.is_alive():
            child.terminate()
            child.join()


class _TimeOrder:
    """Flows put in the order their requests were made, whatever order their files hold
    them in: the chain builder joins a capture's requests in the order the app made them, and
    files given in a shell glob's order, or a dump mitmproxy saved as its view showed it
    (newest first, or sorted by URL), put the page a link led to before the notice in front
    of it, which then read as an open link (review 134).

    The key is each flow's own start time (one unknown is the time of the flow before it in
    its file); equal keys keep the files' order (a WARC's times are seconds). A median of
    three neighbours' times, against one flow with a stray clock, took unrelated neighbours'
    times in a view sorted by another column, and missed a stray clock at a file's edge
    (review 137): the capturing machine's one clock stamps every flow, so a flow is judged
    where its time puts it. The flows wait in a temporary file beside the bundle, each
    compressed (a few KB of gzip'd pages decode to megabytes: 1.9 MB of dump made 1.05 GB
    uncompressed, review 137); memory holds a key per flow."""

    def __init__(self, directory: Path | None) -> None:
        # Closed by __exit__: the object is the context manager.
        self._spill = tempfile.TemporaryFile(prefix=".hulian-flows-", dir=directory)  # noqa: SIM115
        self._keys: list[tuple[float, int, int, int]] = []  # (key, place, offset, size)
        self._last_time: float | None = None  # the last known time in the file being read
        self._last_key = 0.0  # the last key given, for a file that starts without a time

    def __enter__(self) -> _TimeOrder:
        return self

    def __exit__(self, *exc: object) -> None:
        self._spill.close()

    def add(self, flow: FlowRecord) -> None:
        offset = self._spill.tell()
        data = zlib.compress(pickle.dumps(flow, protocol=pickle.HIGHEST_PROTOCOL), 1)
        self._spill.write(data)
        time = plausible_time(flow.started)
        if time is not None:
            self._last_time = time
        key = self._last_time if self._last_time is not None else self._last_key
        self._last_key = key
        self._keys.append((key, len(self._keys), offset, len(data)))

    def end_file(self) -> None:
        self._last_time = None

    def flows(self) -> Iterator[FlowRecord]:
        self._keys.sort()
        for _key, _place, offset, size in self._keys:
            self._spill.seek(offset)
            yield pickle.loads(zlib.decompress(self._spill.read(size)))  # what add() wrote


@dataclass
class FileResult:
    path: str
    format: str | None = None
    flows: int = 0
    error: str | None = None
    offset: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "flows": self.flows,
                "error": self.error, "offset": self.offset}


@dataclass
class CaptureSession:
    catalog: Catalog
    builder: ChainBuilder
    plan: Plan | None = None
    run: Path | None = None
    writer: BundleWriter | None = None
    keep_secrets: bool = False
    files: list[FileResult] = field(default_factory=list)
    on_observation: Callable[[Observation], None] | None = None
    # The bundle's writer lock, from open() to close() (re-entrant: the capture commands
    # hold it for their whole run; the live addon under `capture record` adopts theirs).
    lock: ExitStack = field(default_factory=ExitStack)

    @classmethod
    def open(cls, *, plan: Path | None, run: Path | None, keep_secrets: bool = False,
             window_s: float = DEFAULT_WINDOW_S, surface: SurfaceKind | None = None,
             config: dict[str, object] | None = None) -> CaptureSession:
        loaded: Plan | None = None
        dirs = policy_dirs()
        if plan is not None:
            try:
                loaded, plan_dir = load_plan(plan)
            except PlanError as exc:
                raise SessionError(str(exc)) from None
        # A bundle carries the policies it was measured with (copied from the plan when it
        # was created); they win over the plan's own copy.
        if run is not None and (run / RUN_POLICIES).is_dir():
            dirs.append(run / RUN_POLICIES)
        elif loaded is not None and loaded.policies:
            dirs.append(plan_dir / loaded.policies)
        try:
            catalog = load_catalog(dirs)
        except PolicyError as exc:
            raise SessionError(str(exc)) from None
        writer = None
        lock = ExitStack()
        if run is not None:
            try:
                run.mkdir(parents=True, exist_ok=True)
                lock.enter_context(bundle_lock(run, "capture"))
            except (Locked, OSError) as exc:
                raise SessionError(str(exc)) from None
            try:
                writer = _open_bundle(run, catalog, loaded, plan, keep_secrets, config or {})
            except BaseException:
                lock.close()
                raise
        builder = ChainBuilder(catalog, loaded.probes if loaded else (),
                               run_id=writer.run_id if writer else None, window_s=window_s,
                               surface=surface)
        return cls(catalog=catalog, builder=builder, plan=loaded,
                   run=writer.path if writer else None, writer=writer,
                   keep_secrets=keep_secrets, lock=lock)

    # -- flows in, records out --------------------------------------------------------------

    def feed(self, flow: FlowRecord) -> FlowMark:
        result = self.builder.feed(flow)
        for probe in result.new_probes:
            self._probe(probe)
        for observation in result.observations:
            self._observation(observation)
        return result.mark

    def read(self, path: Path, *, fast: bool = True) -> FileResult:
        """Every flow of one file (read_all)."""
        return self.read_all([path], fast=fast)[0]

    def read_all(self, paths: Sequence[Path], *, fast: bool = True) -> list[FileResult]:
        """Every flow of the files, fed in the order the requests were made (_TimeOrder);
        damage ends its file with an error, never the session, and the flows before it are
        analysed."""
        results: list[FileResult] = []
        with _TimeOrder(self.run) as order:
            for path in paths:
                result = FileResult(str(path))
                self.files.append(result)
                results.append(result)
                try:
                    result.format = detect_format(path)
                    for flow in reader_for(path, fast=fast):
                        order.add(flow)
                        result.flows += 1
                except CaptureError as exc:
                    result.error = exc.reason
                    result.offset = exc.offset
                finally:
                    order.end_file()
            for flow in order.flows():
                self.feed(flow)
        return results

    def _probe(self, probe: Probe) -> None:
        if self.writer is not None:
            self.writer.add_probe(probe if self.keep_secrets else redact.probe(probe))

    def _observation(self, observation: Observation) -> None:
        if not self.keep_secrets:
            observation = redact.observation(observation)
        if self.writer is not None:
            self.writer.add_observation(observation)
        if self.on_observation is not None:
            self.on_observation(observation)

    def close(self) -> None:
        for observation in self.builder.close():
            self._observation(observation)
        if self.writer is not None:
            self.writer.close()
            (self.writer.path / SUMMARY_FILE).write_text(
                json.dumps(self.summary(), ensure_ascii=False, indent=2) + "\n",
                encoding="utf-8")
        self.lock.close()

    def summary(self) -> dict[str, Any]:
        builder = self.builder
        return {
            "run": str(self.run) if self.run else None,
            "plan": self.plan.id if self.plan else None,
            "files": [f.as_dict() for f in self.files],
            "flows": builder.flows,
            "flow_kinds": dict(sorted(builder.kinds.items())),
            "observations": sum(builder.outcomes.values()),
            "outcomes": dict(sorted(builder.outcomes.items())),
            "not_observed": [
                {"probe": p.id, "target": p.target_url if self.keep_secrets
                 else redact.url(p.target_url)} for p in builder.not_observed()],
        }

    def finish(self) -> Summary | None:
        """Evaluate the observations and seal the bundle (after close()). Verdicts are
        streamed into the bundle, not collected: memory stays flat however long the capture."""
        if self.writer is None:
            return None
        writer = self.writer
        summary = Summary(run_id=writer.run_id, path=writer.path,
                          planned=len(self.builder.probes) + self.builder.planned_discovered,
                          observations=sum(self.builder.outcomes.values()))
        summary.outcomes.update(self.builder.outcomes)
        with self.lock, bundle_lock(writer.path, "capture"):
            writer.close()
            # DuckDB only now: the addon's process never loads it.
            from audit.judge.verdicts import write_verdicts

            ensure_columnar(writer.path, writer.run_id)  # the observations table judged
            with verdicts_writing(writer.path / VERDICTS, writer.run_id) as (out, table):
                summarise(summary, write_verdicts(writer.path, self.catalog, out, table,
                                                  graph_rules=False))  # judged afresh
            write_run_review(writer.path)
            writer.manifest.config["summary"] = summary.as_dict()
            writer.finish()
        return summary


def _open_bundle(run: Path, catalog: Catalog, plan: Plan | None, plan_path: Path | None,
                 keep_secrets: bool, config: dict[str, object]) -> BundleWriter:
    """Create the bundle, or reopen it (the live addon appends to the bundle that `capture
    record` created; a resumed analysis too)."""
    resume = (run / MANIFEST).is_file()
    try:
        writer = BundleWriter(run.parent, run_id=run.name, policy_digest=catalog.digest,
                              config={**config, "plan": str(plan_path) if plan_path else None,
                                      "keep_secrets": keep_secrets}, resume=resume)
    except BundleError as exc:
        raise SessionError(str(exc)) from None
    if not resume:
        if plan is not None and plan.policies and plan_path is not None:
            plan_dir = plan_path if plan_path.is_dir() else plan_path.parent
            shutil.copytree(plan_dir / plan.policies, writer.path / RUN_POLICIES,
                            dirs_exist_ok=True)
        for probe in plan.probes if plan else ():
            writer.add_probe(probe if keep_secrets else redact.probe(probe))
    return writer
