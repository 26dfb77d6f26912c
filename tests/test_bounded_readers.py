"""Every reader applies its size limit while reading (issue 13, item 5): `hulian inspect` on
/dev/zero, a 2 GB sparse file, an endless FIFO or standard input, capture files of every
format, policy YAML files. Each runs the CLI in a child process whose address space is capped
and whose peak memory is measured."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.decode import MAX_PAGE_BYTES
from tests.boundedrun import run_capped

GB = 1024**3
# The CLI with its imports takes ~70 MB; a reader that holds its whole input does not fit.
PEAK_MB = 400

HEAD = ("<html><head><title>t</title></head><body>"
        + '<p>前言 <a href="https://www.example.org/first">first</a></p>' * 200).encode()


@pytest.fixture
def sparse_page(tmp_path: Path) -> Path:
    """2 GB that cost no disk: an HTML start, then a hole the kernel reads as zeros."""
    page = tmp_path / "sparse.html"
    with page.open("wb") as fh:
        fh.write(HEAD)
        fh.truncate(2 * GB)
    return page


def test_inspect_dev_zero_is_refused_in_bounded_memory() -> None:
    done = run_capped("inspect", "/dev/zero", "--json")
    assert done.code == 1
    assert "/dev/zero: not an HTML page" in done.stderr and "Traceback" not in done.stderr
    assert done.peak_rss_mb < PEAK_MB


def test_inspect_two_gigabyte_sparse_file_reads_twenty_megabytes(sparse_page: Path) -> None:
    done = run_capped("inspect", str(sparse_page), "--json")
    assert done.code == 0, done.stderr
    assert f"larger than {MAX_PAGE_BYTES} bytes" in done.stderr
    assert '"https://www.example.org/first"' in done.stdout
    assert done.peak_rss_mb < PEAK_MB


def test_inspect_directory_with_a_sparse_page(sparse_page: Path) -> None:
    (sparse_page.parent / "small.html").write_bytes(HEAD + b"</body></html>")
    os.mkfifo(sparse_page.parent / "fifo.html")  # not a regular file: not a page to read
    done = run_capped("inspect", str(sparse_page.parent), "--json", timeout=120)
    assert done.code == 0, done.stderr
    assert sorted(line.split('"file": ')[1].split(",")[0] for line in
                  done.stdout.splitlines()) == [f'"{sparse_page.parent / "small.html"}"',
                                                f'"{sparse_page}"']
    assert done.peak_rss_mb < PEAK_MB


@pytest.fixture
def endless_writer() -> Iterator[subprocess.Popen[bytes]]:
    """A process writing HTML forever (until its reader goes away)."""
    # Text-heavy lines: the parse of 20 MB of them stays small, so what is measured is the read.
    writer = subprocess.Popen(["yes", "<p>" + "字" * 2000 + ' <a href="https://www.example.org/y">y</a>'],
                              stdout=subprocess.PIPE)
    yield writer
    writer.kill()
    writer.wait()
    assert writer.stdout is not None
    writer.stdout.close()


def test_inspect_endless_stdin(endless_writer: subprocess.Popen[bytes]) -> None:
    assert endless_writer.stdout is not None
    done = run_capped("inspect", "-", "--json", stdin=endless_writer.stdout)
    assert done.code == 0, done.stderr
    assert "only the first" in done.stderr
    assert '"https://www.example.org/y"' in done.stdout
    assert done.peak_rss_mb < PEAK_MB


def test_inspect_endless_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "page.html"
    os.mkfifo(fifo)
    # The shell opens the FIFO for writing and keeps writing until the reader closes it.
    line = "<p>" + "字" * 2000 + " https://www.example.org/t</p>"
    writer = subprocess.Popen(["sh", "-c", f"yes '{line}' > {fifo}"],
                              stderr=subprocess.DEVNULL)
    try:
        done = run_capped("inspect", str(fifo), "--json")
    finally:
        writer.kill()
        writer.wait()
    assert done.code == 0, done.stderr
    assert "only the first" in done.stderr
    assert done.peak_rss_mb < PEAK_MB
