"""A helper process for the report: with a second core, `write_reports` writes the machine
outputs (findings.json, findings.csv, junit.xml) in a forked child while this process renders
the HTML/PDF; the child shares the report's data as it was at the fork, without copying it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import traceback
from collections.abc import Callable
from typing import Any

from audit.evidence.bundle import BundleError


def can_fork() -> bool:
    """Fork a helper process? Only where fork exists and a second core is there to use;
    HULIAN_REPORT_JOBS=1 keeps everything in one process."""
    return (hasattr(os, "fork") and (os.cpu_count() or 1) > 1
            and os.environ.get("HULIAN_REPORT_JOBS", "") != "1")


class Worker:
    """`work(send)` run in a forked child (which shares the parent's memory as it was at the
    fork, without copying); each `send(value)` is pickled back and returned, in order, by
    `receive()`. An exception in the child is raised again by `receive()`."""

    def __init__(self, work: Callable[[Callable[[object], None]], None]):
        read_end, write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            code = 1
            try:
                os.close(read_end)
                with os.fdopen(write_end, "wb") as pipe:
                    def send(value: object) -> None:
                        pickle.dump(("ok", value), pipe, protocol=pickle.HIGHEST_PROTOCOL)
                        pipe.flush()

                    try:
                        work(send)
                        code = 0
                    except BaseException as exc:
                        with contextlib.suppress(BaseException):
                            try:
                                pickle.dump(("error", exc), pipe)
                            except Exception:
                                pickle.dump(("error", RuntimeError(traceback.format_exc())),
                                            pipe)
                            pipe.flush()
            finally:
                os._exit(code)
        os.close(write_end)
        self._pipe: Any = os.fdopen(read_end, "rb")

    def receive(self) -> Any:
        try:
            kind, value = pickle.load(self._pipe)
        except EOFError:
            raise BundleError("the report's helper process ended without an answer") from None
        if kind == "error":
            raise value
        return value

    def close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
            os.waitpid(self.pid, 0)


class InlineWorker:
    """Worker's interface without a process: `work` runs at once, in this one."""

    def __init__(self, work: Callable[[Callable[[object], None]], None]):
        self._results: list[object] = []
        work(self._results.append)

    def receive(self) -> Any:
        return self._results.pop(0)

    def close(self) -> None:
        self._results.clear()
