"""Where hulian keeps what it derives from sealed bundles for reading, outside the bundles
(which stay as sealed): Parquet tables of bundles that hold none (audit/evidence/columnar.py),
WACZ packages of bundles for the static site (audit/site/replay.py)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$HULIAN_CACHE, else $XDG_CACHE_HOME/hulian, else ~/.cache/hulian."""
    explicit = os.environ.get("HULIAN_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hulian"
