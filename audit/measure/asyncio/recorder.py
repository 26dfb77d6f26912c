"""The asyncio engine's recorder: WARC evidence and observation lines written, in order, by a
child process, so the crawl process only hands bytes over. The child is a fresh interpreter
(`python -m audit.measure.asyncio.recorder`) that loads nothing but this module and the WARC
writer: a
forked one would carry a copy of the crawl process's whole memory (~100 MB of RSS).

Building a WARC record (digests, gzip) costs about as much as the download it records; in
the crawl process it would compete with the event loop, in a child it runs on another core.

One FIFO carries both kinds of write, so the order that makes a bundle trustworthy holds
after any crash: an observation line always follows the evidence it cites.
* The crawl process killed (kill -9): the child drains what was already handed over (it is
  in the kernel's socket buffer) and exits on end of file; what was still in the crawl
  process's batch is lost whole, evidence and observation together, and `--resume`
  measures those probes again.
* The whole process group killed: whatever the child had not written is lost the same way.
* The child killed alone (or dead of an error): the crawl process notices on its next
  hand-over or at close and stops the run with RecorderGone. It does not take over: what the
  child had received but not written is unknown, and an observation written now could cite
  evidence that is gone. The bundle stays unsealed; `--resume` measures what is missing.

Hand-overs are batched (each send wakes the child, which costs more than the hand-over): a
batch goes when it reaches BATCH_BYTES, when the engine's clock tick asks (every
FLUSH_INTERVAL_S, so a slow crawl still shows its progress on disk), and at close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from audit.evidence.bundle import columnar_during_run
from audit.evidence.jsonlines import repair_partial_line
from audit.evidence.warc import WarcLog, new_record_id
from audit.measure.asyncio.fetch import Fetched

logger = logging.getLogger(__name__)

BATCH_BYTES = 256 * 1024
FLUSH_INTERVAL_S = 0.5
_LENGTH = struct.Struct("!I")


class _Writes:
    """What the child does with the items of one hand-over: WARC records are written as they
    come, observation lines held back; `commit` then hands the WARC bytes to the OS first and
    the lines after them, so no line on disk can cite a record that is not (two writes per
    hand-over instead of two per item)."""

    def __init__(self, warc_path: Path, observations_path: Path):
        self.warc = WarcLog(warc_path, flush_each=False)
        self.observations_path = observations_path
        self._lines: IO[str] | None = None
        # observations.parquet, fed the same lines (the bundle's directory is named by the
        # run's id); replays the lines already there when a resumed run opens it.
        self._table: Any = None  # a ColumnarLog
        self._pending: list[str] = []

    def apply(self, item: tuple[Any, ...]) -> None:
        if item[0] == "x":
            _, url, record_id, kwargs = item
            self.warc.exchange(url, record_id=record_id, date=float(kwargs.pop("date")), **kwargs)
        elif item[0] == "u":
            _, url, record_id, kwargs = item
            self.warc.unreadable(url, record_id=record_id, date=float(kwargs.pop("date")),
                                 **kwargs)
        else:
            self._pending.append(item[1])

    def commit(self) -> None:
        self.warc.flush()
        if not self._pending:
            return
        if self._lines is None:
            repair_partial_line(self.observations_path)
            self._lines = self.observations_path.open("a", encoding="utf-8")
            if columnar_during_run():
                # Imported here, in the child: the crawl process never loads pyarrow.
                from audit.evidence.columnar import ColumnarLog

                self._table = ColumnarLog(self.observations_path,
                                          self.observations_path.parent.name, strict=False)
        self._lines.write("".join(self._pending))
        self._lines.flush()
        if self._table is not None:
            for line in self._pending:
                self._table.add(line)
        self._pending.clear()

    def close(self) -> None:
        self.commit()
        self.warc.close()
        if self._lines is not None:
            os.fsync(self._lines.fileno())  # as BundleWriter.close does for its files
            self._lines.close()
        if self._table is not None:
            self._table.close()


class RecorderGone(RuntimeError):
    """The recorder process died: the run stops, to be continued with --resume."""


class RecorderProcess:
    def __init__(self, warc_path: Path, observations_path: Path):
        self.warc_path = warc_path
        self.observations_path = observations_path
        warc_path.parent.mkdir(parents=True, exist_ok=True)
        ours, theirs = socket.socketpair()
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self._sock: socket.socket | None = ours
        self._gone = False
        self._batch: list[bytes] = []
        self._batch_size = 0
        ours.set_inheritable(False)
        # The bundle's writer lock goes along: it must outlive the crawl process while this
        # child still drains what it was handed (after a kill -9 of the crawl), or a resume
        # could start writing beside it.
        from audit.evidence.lock import held_fds

        self._process = subprocess.Popen(
            [sys.executable, "-m", "audit.measure.asyncio.recorder", str(theirs.fileno()),
             str(warc_path), str(observations_path)],
            pass_fds=[theirs.fileno(), *held_fds()], stdin=subprocess.DEVNULL)
        theirs.close()

    def exchange(self, url: str, **kwargs: Any) -> str:
        """Queue one exchange's WARC records; the response record's id, known now."""
        record_id = str(kwargs.pop("record_id", None) or new_record_id())
        date = kwargs.pop("date", None)
        # A POSIX time, not a datetime: pickling a timezone-aware datetime goes through
        # copyreg and costs more than the rest of the hand-over.
        kwargs["date"] = date.timestamp() if isinstance(date, datetime) else time.time()
        self._put(("x", url, record_id, kwargs))
        return record_id

    def unreadable(self, url: str, **kwargs: Any) -> str:
        """Queue an unreadable answer's WARC record (WarcLog.unreadable); its id."""
        record_id = new_record_id()
        self._put(("u", url, record_id, {**kwargs, "date": time.time()}))
        return record_id

    def observation_line(self, line: str) -> None:
        self._put(("o", line))

    def _put(self, item: tuple[Any, ...]) -> None:
        if self._sock is None:
            raise self._failure("is closed" if not self._gone else "died")
        data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        self._batch.append(_LENGTH.pack(len(data)) + data)
        self._batch_size += len(data)
        if self._batch_size >= BATCH_BYTES:
            self.flush()

    def _failure(self, what: str) -> RecorderGone:
        return RecorderGone(f"the recorder process {what} (evidence and observations it had "
                            "not written are lost); the run stops here: continue it with "
                            "`hulian run --resume`")

    async def keep_flushing(self, on_gone: Callable[[RecorderGone], None]) -> None:
        """Hand over the batch every FLUSH_INTERVAL_S, so a slow crawl's progress reaches the
        disk (and survives a crash) without waiting for a full batch."""
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            try:
                self.flush()
            except RecorderGone as exc:
                on_gone(exc)
                return

    def flush(self) -> None:
        """Hand the batch to the child."""
        if not self._batch or self._sock is None:
            return
        batch, self._batch, self._batch_size = self._batch, [], 0
        try:
            self._sock.sendall(b"".join(batch))
        except OSError as exc:
            self._sock.close()
            self._sock = None
            self._gone = True
            raise self._failure("died") from exc

    def close(self) -> None:
        """Hand over the rest and wait until the child has written everything; raise
        RecorderGone if it could not (once: a death already reported is not raised again)."""
        reported = self._gone
        try:
            self.flush()
        except RecorderGone:
            reported = False
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_WR)
            self._sock.close()
            self._sock = None
        status = self._process.wait()
        if status != 0 and not reported:
            self._gone = True
            raise self._failure(f"ended with status {status}")


def record_unreadable(evidence: WarcLog | RecorderProcess, url: str, received: bytes,
                      cut: bool, failure: str) -> str | None:
    """Write an unreadable answer's first bytes; the record's id, or None when the evidence
    could not be written (which must not lose the measurement)."""
    try:
        return evidence.unreadable(url, received=received, cut=cut, failure=failure)
    except RecorderGone:
        raise
    except Exception:
        logger.exception("could not write WARC evidence for %s", url)
        return None


def record_exchange(evidence: WarcLog | RecorderProcess, response: Fetched) -> str | None:
    """Write one exchange's WARC records; the response record's id, or None when the
    evidence could not be written (which must not lose the measurement)."""
    try:
        return evidence.exchange(
            response.url, method="GET", request_headers=response.request_headers,
            request_body=b"", status=response.status, reason=response.reason,
            response_headers=response.raw_headers, payload=response.payload,
            truncated="time" if response.cut_off else response.payload_cut)
    except RecorderGone:
        raise
    except Exception:
        logger.exception("could not write WARC evidence for %s", response.url)
        return None


def _child(sock: socket.socket, warc_path: Path, observations_path: Path) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the crawl process decides when to stop
    writes = _Writes(warc_path, observations_path)
    buffer = bytearray()
    try:
        # Whatever has arrived is one hand-over: its items are applied, then committed. An
        # item cut off by the end of the stream (the crawl process died mid-hand-over) is
        # lost, never half-applied.
        while chunk := sock.recv(1 << 20):
            buffer += chunk
            offset = 0
            while len(buffer) - offset >= _LENGTH.size:
                (length,) = _LENGTH.unpack_from(buffer, offset)
                start = offset + _LENGTH.size
                if len(buffer) - start < length:
                    break
                writes.apply(pickle.loads(buffer[start:start + length]))
                offset = start + length
            del buffer[:offset]
            writes.commit()
    finally:
        writes.close()


if __name__ == "__main__":
    _child(socket.socket(fileno=int(sys.argv[1])), Path(sys.argv[2]), Path(sys.argv[3]))
