"""Where hulian keeps what it derives from sealed bundles for reading, outside the bundles
(which stay as sealed): Parquet tables of bundles that hold none (audit/evidence/columnar.py),
WACZ packages of bundles for the static site (audit/site/replay.py)."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
from pathlib import Path

from audit.errors import HulianError


def cache_root() -> Path:
    """$HULIAN_CACHE, else $XDG_CACHE_HOME/hulian, else ~/.cache/hulian."""
    explicit = os.environ.get("HULIAN_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hulian"


def scratch_directory(prefix: str, purpose: str, error: type[HulianError]) -> Path:
    """A new directory under $TMPDIR (the caller removes it); `error` naming where and what
    to set if none can be made there. Its name carries this host and process, so that the
    next caller can remove what a killed process left (`remove_abandoned`)."""
    remove_abandoned(prefix)
    try:
        return Path(tempfile.mkdtemp(prefix=f"{prefix}{_owner(os.getpid())}-"))
    except OSError as exc:
        raise error(f"cannot make a directory {purpose} under {tempfile.gettempdir()} "
                    f"(set TMPDIR to a directory with room): {exc.strerror or exc}") from None


def _host_tag() -> str:
    # Hashed: a host name may hold the separators the directory's name is parsed by.
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _owner(pid: int) -> str:
    return f"{_host_tag()}.{pid}"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_abandoned(prefix: str) -> list[Path]:
    """Remove the scratch directories of `prefix` that a process of this host made and left
    when it was killed (SIGKILL, the OOM killer: nothing of it could clean up): DuckDB's spill
    of a large run is gigabytes, and a nightly run killed each night would fill $TMPDIR. Only
    this user's, only where the process named is gone; a pid reused since is taken as alive
    (the directory stays, as before). Returns what was removed."""
    root = Path(tempfile.gettempdir())
    host, uid = _host_tag(), os.getuid()
    removed = []
    try:
        candidates = list(root.glob(f"{prefix}{host}.*-*"))
    except OSError:
        return []
    for path in candidates:
        owner = path.name[len(prefix):].split("-", 1)[0]
        pid_text = owner.partition(".")[2]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            if path.lstat().st_uid != uid or not path.is_dir() or path.is_symlink():
                continue
        except OSError:
            continue
        if not _running(int(pid_text)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
