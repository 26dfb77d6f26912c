"""Scratch directories: what a killed process left is removed by the next one, nothing else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from audit.evidence.cachedir import remove_abandoned, scratch_directory
from audit.evidence.sql import SPILL_PREFIX, TablesError

# A process that makes a spill directory as the report's tables do, says where, and waits.
MAKER = (
    "import sys, time\n"
    "from audit.evidence.cachedir import scratch_directory\n"
    "from audit.evidence.sql import SPILL_PREFIX, TablesError\n"
    "path = scratch_directory(SPILL_PREFIX, 'for DuckDB to spill into', TablesError)\n"
    "(path / 'duckdb_temp_storage-0.tmp').write_bytes(b'x' * 4096)\n"
    "print(path, flush=True)\n"
    "time.sleep(120)\n"
)


@pytest.fixture
def scratch_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setenv("TMPDIR", str(root))
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _maker(root: Path) -> tuple[subprocess.Popen[str], Path]:
    process = subprocess.Popen([sys.executable, "-c", MAKER], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "TMPDIR": str(root)},
                               cwd=Path(__file__).parent.parent)
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def test_a_killed_process_spill_is_removed_by_the_next_and_a_live_one_is_kept(
        scratch_root: Path) -> None:
    killed, left = _maker(scratch_root)
    living, kept = _maker(scratch_root)
    try:
        assert left.parent == scratch_root and (left / "duckdb_temp_storage-0.tmp").exists()
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert left.exists()  # nothing of a SIGKILLed process cleans up

        mine = scratch_directory(SPILL_PREFIX, "for DuckDB to spill into", TablesError)
        assert mine.exists() and mine.name.startswith(SPILL_PREFIX)
        assert not left.exists()
        assert kept.exists()  # its process is running
        # Another kind of scratch directory is not this prefix's to sweep.
        assert remove_abandoned("hulian-tables-") == []
    finally:
        for process in (killed, living):
            process.kill()
            process.communicate()


def test_directories_it_cannot_tell_are_someone_elses_are_kept(scratch_root: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(gone.stdout)
    other_host = scratch_root / f"{SPILL_PREFIX}00000000.{dead_pid}-abc123"
    old_style = scratch_root / f"{SPILL_PREFIX}abc123"  # made before names carried a pid
    not_a_dir = scratch_root / f"{SPILL_PREFIX}x"
    for path in (other_host, old_style):
        path.mkdir()
    not_a_dir.write_text("")
    mine = scratch_directory(SPILL_PREFIX, "for DuckDB to spill into", TablesError)
    # The same host's name of a dead process, made by hand: swept.
    dead_here = scratch_root / mine.name.replace(f".{os.getpid()}-", f".{dead_pid}-")
    dead_here.mkdir()
    link = scratch_root / mine.name.replace(f".{os.getpid()}-", f".{dead_pid}-link")
    link.symlink_to(other_host)
    assert remove_abandoned(SPILL_PREFIX) == [dead_here]
    assert other_host.exists() and old_style.exists() and not_a_dir.exists()
    assert link.is_symlink() and mine.exists()
