"""Test-wide settings: runs started by tests (also as subprocesses) record their history in
a throw-away database, never in the user's ~/.local/share/hulian/history.db."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault(
    "HULIAN_DB", f"sqlite:///{Path(tempfile.mkdtemp(prefix='hulian-test-db-')) / 'history.db'}")
