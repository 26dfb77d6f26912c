"""Exclusive locks: one writer per run bundle, one run per schedule.

A lock is an `flock` on a lock file. The kernel releases it when the last descriptor of the
holder's open file is closed, which happens when the process ends however it ends, so a crash
(even SIGKILL) never leaves a stale lock behind, and nothing has to be cleaned up by hand.
Never delete a lock file: a writer that opened it before the deletion would keep its lock on
the old inode while a new writer locks a new one.

The holder writes who it is (pid, host, command, start time) into the file, so a second
writer can be told whom it is waiting for. Locks are re-entrant within a process (a command
holds its bundle's lock and the bundle writer it calls takes it again), and a child process
that writes on its holder's behalf can adopt the lock: the holder passes the descriptor with
`child_env()` and `pass_fds`, and the child's own acquisition shares it instead of failing.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shlex
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from audit.errors import EXIT_LOCKED, HulianError

# The exit status of a command refused because another process holds the lock (also used by
# `hulian schedule run-now` when a run of the same schedule is still going).

BUNDLE_LOCK = ".hulian.lock"  # in the bundle directory; never part of the seal
INHERIT_ENV = "HULIAN_LOCK_FD"  # "<fd>" of a lock the parent process holds for this child


class Locked(HulianError):
    """Another process holds the lock; the message names it."""

    exit_code = EXIT_LOCKED

    def __init__(self, what: Path, holder: dict[str, object]):
        self.what = what
        self.holder = holder
        super().__init__(f"{what} is locked by another writer / 正被另一进程写入: "
                         f"{describe_holder(holder)}")


def describe_holder(holder: dict[str, object]) -> str:
    if not holder:
        # Read between the holder's lock and its write of who it is (or an old hulian).
        return "holder unknown (the lock file names no process yet)"
    pid = holder.get("pid")
    text = f"pid {pid}"
    if holder.get("host"):
        text += f" on {holder['host']}"
    if holder.get("operation"):
        text += f", {holder['operation']}"
    if holder.get("command"):
        text += f" (`{holder['command']}`)"
    if holder.get("started_at"):
        text += f", since {holder['started_at']}"
    if (isinstance(pid, int) and holder.get("host") == socket.gethostname()
            and not _alive(pid)):
        # The holder is gone but a child it started (a recorder, a parse worker) still
        # writes; it ends by itself once its input is drained.
        text += " (that process has ended; a child process of it still holds the lock)"
    return text


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _Held:
    fd: int
    depth: int
    inherited: bool


_HELD: dict[str, _Held] = {}  # realpath of the lock file -> this process's hold on it
_GUARD = threading.Lock()


def _holder(command: str) -> bytes:
    argv = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])[:500] if sys.argv else ""
    return (json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                        "command": argv or command, "operation": command,
                        "started_at": datetime.now(UTC).isoformat(timespec="seconds")},
                       ensure_ascii=False) + "\n").encode("utf-8")


def read_holder(lock_file: Path) -> dict[str, object]:
    try:
        data = json.loads(lock_file.read_bytes()[:4096] or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# How long a refused writer waits for the holder to write who it is: a holder locks first,
# then writes itself into the file, and a file left by a killed holder names that one.
HOLDER_WAIT = 1.0


def _current_holder(lock_file: Path) -> dict[str, object]:
    """The holder the lock file names, read again for up to HOLDER_WAIT while it names no
    one or a process of this host that has ended (the new holder not yet written)."""
    deadline = time.monotonic() + HOLDER_WAIT
    while True:
        holder = read_holder(lock_file)
        pid = holder.get("pid")
        written = bool(holder) and not (isinstance(pid, int)
                                        and holder.get("host") == socket.gethostname()
                                        and not _alive(pid))
        if written or time.monotonic() >= deadline:
            return holder
        time.sleep(0.02)


def _adopt(lock_file: Path) -> int | None:
    """The descriptor a parent passed down for this very lock file, if any."""
    raw = os.environ.get(INHERIT_ENV, "")
    if not raw.isdigit():
        return None
    fd = int(raw)
    try:
        mine, theirs = os.fstat(fd), os.stat(lock_file)
    except OSError:
        return None
    if (mine.st_dev, mine.st_ino) != (theirs.st_dev, theirs.st_ino):
        return None
    return fd


@contextmanager
def exclusive(lock_file: Path, command: str) -> Iterator[int]:
    """Hold the exclusive lock on `lock_file` (created if missing) for the `with` block;
    raise Locked, naming the holder, if another process has it. Yields the descriptor (for
    `pass_fds` to a child that writes on this process's behalf)."""
    key = os.path.realpath(lock_file)
    with _GUARD:
        held = _HELD.get(key)
        if held is not None:
            held.depth += 1
        else:
            held = _HELD[key] = _acquire(lock_file, command)
    try:
        yield held.fd
    finally:
        with _GUARD:
            held.depth -= 1
            if held.depth == 0:
                del _HELD[key]
                if not held.inherited:
                    # Closing the only descriptor releases the flock; the parent of an
                    # inherited one still holds it, so that one is left alone.
                    os.close(held.fd)


def _acquire(lock_file: Path, command: str) -> _Held:
    inherited = _adopt(lock_file)
    if inherited is not None:
        # The same open file as the parent's: flock on it succeeds without a second lock.
        fcntl.flock(inherited, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return _Held(inherited, 1, inherited=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise Locked(lock_file.parent if lock_file.name == BUNDLE_LOCK else lock_file,
                         _current_holder(lock_file)) from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, _holder(command), 0)
    return _Held(fd, 1, inherited=False)


def bundle_lock(bundle: Path, command: str) -> AbstractContextManager[int]:
    """The writer's lock of a run bundle (an existing directory: a new run creates its
    directory, then locks it before writing anything into it)."""
    return exclusive(bundle / BUNDLE_LOCK, command)


def held_fds() -> list[int]:
    """Descriptors of every lock this process holds: passed to child processes that write
    into a locked bundle (the recorder), so the lock lasts as long as any writer lives."""
    with _GUARD:
        return [h.fd for h in _HELD.values()]


def child_env(fd: int) -> dict[str, str]:
    """Environment for a child that adopts the lock held through `fd` (with pass_fds=[fd])."""
    return {**os.environ, INHERIT_ENV: str(fd)}

