"""Every reader applies its size limit while reading (issue 13, item 5): `hulian inspect` on
/dev/zero, a 2 GB sparse file, an endless FIFO or standard input, capture files of every
format, policy YAML files. Each runs the CLI in a child process whose address space is capped
and whose peak memory is measured."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from audit.web.decode import MAX_PAGE_BYTES
from tests.boundedrun import Finished, run_capped

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


# --- Capture files: every format bounded, a clear error naming the file, no empty bundle ---

CORPUS = Path(os.environ.get("HULIAN_CORPUS", Path(__file__).resolve().parents[2] / "shared"
                             / "corpus"))
GOOD_HAR = CORPUS / "captures" / "har" / "chrome.har"


def _analyze(tmp_path: Path, *files: Path) -> tuple[Path, Finished]:
    run = tmp_path / "run"
    done = run_capped("capture", "analyze", *map(str, files), "--out", str(run), "--json")
    return run, done


def _deep_har(path: Path, depth: int) -> Path:
    entry = '{"request": {"method": "GET", "url": "https://a.example/", "x": ' + "[" * depth
    entry += "]" * depth + '}, "response": {"status": 200}}'
    path.write_text('{"log": {"version": "1.2", "entries": [' + entry + "]}}")
    return path


def _deep_mitm(path: Path, depth: int) -> Path:
    """A flow record whose `type` is a list nested `depth` deep (built outside in: each
    level's length prefix counts what it holds)."""
    length = 3  # b"0:]"
    prefixes = []
    for _ in range(depth):
        prefixes.append(str(length).encode() + b":")
        length += len(prefixes[-1]) + 1
    value = b"".join(reversed(prefixes)) + b"0:]" + b"]" * depth
    body = b"4:type;" + value
    path.write_bytes(str(len(body)).encode() + b":" + body + b"}")
    return path


@pytest.mark.parametrize("make", [_deep_har, _deep_mitm], ids=["har", "mitm"])
def test_capture_nested_200000_deep_is_a_clear_error_and_no_bundle(
        tmp_path: Path, make: Callable[[Path, int], Path]) -> None:
    bad = make(tmp_path / "deep.capture", 200_000)
    run, done = _analyze(tmp_path, bad)
    assert done.code == 1, done.stderr
    err = done.stderr
    assert "Traceback" not in err and "RecursionError" not in err
    assert str(bad) in err and "nested too deeply" in err
    assert "no run bundle was written" in err
    assert not run.exists()


def test_capture_damage_after_good_flows_still_seals_a_bundle(tmp_path: Path) -> None:
    if not GOOD_HAR.exists():
        pytest.skip(f"corpus not found at {CORPUS}")
    bad = _deep_har(tmp_path / "deep.har", 200_000)
    run, done = _analyze(tmp_path, GOOD_HAR, bad)
    assert done.code == 1
    assert f"{bad}" in done.stderr and "nested too deeply" in done.stderr
    verify = run_capped("verify", str(run))
    assert verify.code == 0, verify.stdout + verify.stderr


def test_capture_mitm_length_prefix_of_a_terabyte(tmp_path: Path) -> None:
    bad = tmp_path / "huge.mitm"
    bad.write_bytes(b"999999999999:" + b"x" * 100)
    run, done = _analyze(tmp_path, bad)
    assert done.code == 1
    assert "claims 999999999999 bytes" in done.stderr
    assert done.peak_rss_mb < PEAK_MB
    assert not run.exists()


def test_capture_har_entry_without_end_is_bounded(tmp_path: Path) -> None:
    """A HAR entry whose string never ends: 2 GB of a sparse file's zeros inside a string."""
    bad = tmp_path / "endless.har"
    with bad.open("wb") as fh:
        fh.write(b'{"log": {"entries": [{"request": {"url": "')
        fh.truncate(2 * GB)
    run, done = _analyze(tmp_path, bad)
    assert done.code == 1
    err = done.stderr
    assert str(bad) in err and ("larger than" in err or "invalid JSON" in err), err
    assert done.peak_rss_mb < 1200
    assert not run.exists()


def test_capture_zhar_bomb_is_bounded(tmp_path: Path) -> None:
    """A .zhar whose one entry inflates to 128 MB of spaces inside a string (twice what a
    HAR entry may hold; the file is 130 KB)."""
    import zlib

    bad = tmp_path / "bomb.zhar"
    packer = zlib.compressobj(1)
    parts = [packer.compress(b'{"log": {"entries": [{"request": {"url": "')]
    block = b" " * (16 * 1024 * 1024)
    parts += [packer.compress(block) for _ in range(8)]
    parts.append(packer.flush())
    bad.write_bytes(b"".join(parts))
    run, done = _analyze(tmp_path, bad)
    assert done.code == 1
    assert "larger than" in done.stderr or "truncated" in done.stderr
    assert done.peak_rss_mb < 1200
    assert not run.exists()


def test_capture_warc_header_line_without_end_is_bounded(tmp_path: Path) -> None:
    bad = tmp_path / "endless.warc"
    with bad.open("wb") as fh:
        fh.write(b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://a.example/")
        fh.truncate(2 * GB)
    run, done = _analyze(tmp_path, bad)
    assert done.code == 1
    assert str(bad) in done.stderr
    assert done.peak_rss_mb < PEAK_MB
    assert not run.exists()


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_capture_of_a_device_or_fifo_is_refused_without_reading(tmp_path: Path,
                                                               kind: str) -> None:
    if kind == "fifo":
        target = tmp_path / "capture.har"
        os.mkfifo(target)  # opening it to read would wait for a writer forever
    else:
        target = Path("/dev/zero")
    run, done = _analyze(tmp_path, target)
    assert done.code == 1
    assert f"{target}" in done.stderr and "not a regular file" in done.stderr
    assert done.peak_rss_mb < PEAK_MB
    assert not run.exists()
