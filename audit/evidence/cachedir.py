"""Where hulian keeps what it derives from sealed bundles for reading, outside the bundles
(which stay as sealed): Parquet tables of bundles that hold none (audit/evidence/columnar.py),
WACZ packages of bundles for the static site (audit/site/replay.py)."""

from __future__ import annotations

import os
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
    to set if none can be made there."""
    try:
        return Path(tempfile.mkdtemp(prefix=prefix))
    except OSError as exc:
        raise error(f"cannot make a directory {purpose} under {tempfile.gettempdir()} "
                    f"(set TMPDIR to a directory with room): {exc.strerror or exc}") from None
