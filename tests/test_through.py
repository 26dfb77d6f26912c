"""Large files written through to the disk as they grow (audit.evidence.through): the same
bytes as a plain file, synced and dropped from the page cache every so many bytes, in
order and without gaps; a full disk is the writer's error."""

from __future__ import annotations

import errno
import itertools
import os
from pathlib import Path

import pytest

from audit.evidence.through import open_through


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int]]:
    """The syncs and the cache drops, as (what, offset, length)."""
    seen: list[tuple[str, int, int]] = []
    real_sync, real_advise = os.fdatasync, os.posix_fadvise

    def sync(fd: int) -> None:
        seen.append(("sync", 0, 0))
        real_sync(fd)

    def advise(fd: int, offset: int, length: int, advice: int) -> None:
        assert advice == os.POSIX_FADV_DONTNEED
        seen.append(("drop", offset, length))
        real_advise(fd, offset, length, advice)

    monkeypatch.setattr(os, "fdatasync", sync)
    monkeypatch.setattr(os, "posix_fadvise", advise)
    return seen


def test_bytes_go_through_every_so_often_in_order(tmp_path: Path,
                                                  calls: list[tuple[str, int, int]]) -> None:
    path = tmp_path / "lines.jsonl"
    pieces = [bytes([65 + n % 26]) * size for n, size in enumerate([10, 3000, 70_000, 1, 5_000,
                                                                     200_000, 7] * 3)]
    with open_through(path, every=64 * 1024, buffering=4096) as out:
        for piece in pieces:
            out.write(piece)
        out.write(memoryview(b"end\n"))
    data = b"".join(pieces) + b"end\n"
    assert path.read_bytes() == data
    drops = [(offset, length) for what, offset, length in calls if what == "drop"]
    assert sum(1 for what, _, _ in calls if what == "sync") == len(drops) >= 6
    # Contiguous from the start, each at least `every`, none past what was written.
    assert drops[0][0] == 0
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(drops))
    assert all(n >= 64 * 1024 for _, n in drops)
    assert drops[-1][0] + drops[-1][1] <= len(data)


def test_appending_drops_only_what_it_wrote(tmp_path: Path,
                                            calls: list[tuple[str, int, int]]) -> None:
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"x" * 1000)
    with open_through(path, append=True, every=100, buffering=1) as out:
        out.write(b"y" * 250)
    assert path.read_bytes() == b"x" * 1000 + b"y" * 250
    assert [c for c in calls if c[0] == "drop"] == [("drop", 1000, 250)]


def test_small_files_are_left_to_their_callers(tmp_path: Path,
                                               calls: list[tuple[str, int, int]]) -> None:
    with open_through(tmp_path / "small", every=1 << 20) as out:
        out.write(b"a few bytes")
    assert calls == []
    assert (tmp_path / "small").read_bytes() == b"a few bytes"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_a_full_disk_is_the_writers_error() -> None:
    out = open_through(Path("/dev/full"), every=1024)
    out.write(b"x" * 4096)  # buffered
    with pytest.raises(OSError, match="No space left") as raised:
        out.flush()
    assert raised.value.errno == errno.ENOSPC
    with pytest.raises(OSError, match="No space left"):
        out.close()  # what is still buffered cannot be written either


def test_hashing_a_record_drops_what_it_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             calls: list[tuple[str, int, int]]) -> None:
    # The seal's early digests read gigabytes of JSON lines that nothing else reads: each
    # SYNC_BYTES read leaves the cache; the digest is the file's all the same.
    import hashlib

    from audit.evidence import bundle

    monkeypatch.setattr(bundle, "SYNC_BYTES", 2 << 20)
    path = tmp_path / "verdicts.jsonl"
    data = os.urandom(5 << 20)
    path.write_bytes(data)
    assert bundle.sha256_file(path, drop=True) == hashlib.sha256(data).hexdigest()
    assert calls == [("drop", 0, 2 << 20), ("drop", 0, 4 << 20)]
    calls.clear()
    assert bundle.sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert calls == []  # a table's file, which the graph reads next, stays


def test_advice_a_file_system_refuses_loses_nothing(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # posix_fadvise is advice: where a file system refuses it, the bytes are written and
    # hashed all the same.
    from audit.evidence import bundle

    def refuse(fd: int, offset: int, length: int, advice: int) -> None:
        raise OSError(errno.ESPIPE, "Illegal seek")

    monkeypatch.setattr(os, "posix_fadvise", refuse)
    monkeypatch.setattr(bundle, "SYNC_BYTES", 1024)
    path = tmp_path / "verdicts.jsonl"
    with open_through(path, every=1024) as out:
        out.write(b"z" * 5000)
    assert path.read_bytes() == b"z" * 5000
    assert bundle.sha256_file(path, drop=True) == bundle.sha256_file(path)
