"""The WARC evidence written through FastWARC: records warcio reads back with matching digests,
header values that cannot forge headers, and a file cut by a crash that a resumed run repairs
before appending."""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord

from audit.evidence.warc import WarcLog, complete_length


@pytest.fixture(autouse=True, params=["isal", "zlib"])
def compressor(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test on both gzip writers: ISA-L's (the default where installed) and zlib's."""
    from audit.evidence import warc

    if request.param == "zlib":
        monkeypatch.setattr(warc, "_isal_zlib", None)
    elif warc._isal_zlib is None:
        pytest.skip("python-isal is not installed: only the zlib writer is in use here")
    return str(request.param)


HEADERS = [("Content-Type", "text/html; charset=utf-8"), ("Server", "lab")]
REQUEST = [("Host", "shop.test"), ("User-Agent", "hulian-test")]


def _write(log: WarcLog, n: int, size: int = 3000) -> list[str]:
    return [log.exchange(f"http://shop.test/item/{i}", method="GET", request_headers=REQUEST,
                         request_body=b"", status=200, response_headers=HEADERS,
                         payload=(f"<p>item {i}</p>".encode() * size)[:size])
            for i in range(n)]


def _read(path: Path) -> Iterator[ArcWarcRecord]:
    """Every record, read fully while the file is open, digests checked."""
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream, check_digests="raise"):
            record.raw_stream = BytesIO(record.raw_stream.read())
            yield record


def _records(path: Path) -> list[tuple[str, str]]:
    with path.open("rb") as stream:
        return [(r.rec_headers.get_header("WARC-Type"), r.rec_headers.get_header("WARC-Record-ID"))
                for r in ArchiveIterator(stream, check_digests="raise")]


def test_digests_are_base32_sha1_as_warcio_checks_them(tmp_path: Path) -> None:
    def sha1(data: bytes) -> str:
        return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()

    log = WarcLog(tmp_path / "a.warc.gz")
    ids = _write(log, 5)
    payloads = [b"", b"x", bytes(range(256)) * 40]
    for payload in payloads:
        log.exchange("http://shop.test/p", method="GET", request_headers=REQUEST,
                     request_body=b"", status=200, response_headers=HEADERS, payload=payload)
    log.close()
    records = _records(tmp_path / "a.warc.gz")  # check_digests="raise" verifies every digest
    assert [t for t, _ in records] == ["response", "request"] * 8
    assert [rid.strip("<>").removeprefix("urn:uuid:") for t, rid in records if t == "response"
            ][:5] == [i.removeprefix("urn:uuid:") for i in ids]
    with (tmp_path / "a.warc.gz").open("rb") as stream:
        written = [(r.rec_headers, r.content_stream().read()) for r in ArchiveIterator(stream)]
    for (headers, body), payload in zip(written[10::2], payloads, strict=True):
        assert body == payload
        assert headers.get_header("WARC-Payload-Digest") == sha1(payload)
    for headers, _body in written[1::2]:  # requests: no body
        assert headers.get_header("WARC-Payload-Digest") == sha1(b"")


def test_a_value_with_line_breaks_cannot_forge_a_header(tmp_path: Path) -> None:
    log = WarcLog(tmp_path / "a.warc.gz")
    log.exchange("http://shop.test/", method="GET", request_headers=REQUEST, request_body=b"",
                 status=200, response_headers=[("X-Evil", "a\r\nWARC-Type: forged\rb")],
                 payload=b"ok")
    log.close()
    with (tmp_path / "a.warc.gz").open("rb") as stream:
        response = next(iter(ArchiveIterator(stream)))
        assert response.http_headers.get_header("X-Evil") == "a  WARC-Type: forged b"
        assert response.rec_headers.get_header("WARC-Type") == "response"
        assert response.content_stream().read() == b"ok"


def test_a_url_with_line_breaks_cannot_forge_a_warc_header(tmp_path: Path) -> None:
    """The URL is the one WARC header value a page chooses (and may hold a lone surrogate,
    an undecodable byte kept by surrogateescape)."""
    url = "http://shop.test/a\r\nWARC-Type: forged\r\nWARC-Payload-Digest: sha1:X\udcff\nb"
    log = WarcLog(tmp_path / "a.warc.gz")
    log.exchange(url, method="GET", request_headers=REQUEST, request_body=b"", status=200,
                 response_headers=HEADERS, payload=b"ok")
    log.close()
    records = list(_read(tmp_path / "a.warc.gz"))
    assert [r.rec_headers.get_header("WARC-Type") for r in records] == ["response", "request"]
    for record in records:
        target = record.rec_headers.get_header("WARC-Target-URI")
        assert "\r" not in target and "\n" not in target
        assert target.startswith("http://shop.test/a") and target.endswith("b")
        names = [name.lower() for name, _ in record.rec_headers.headers]
        assert names.count("warc-type") == 1 and names.count("warc-payload-digest") == 1
        assert record.rec_headers.get_header("WARC-Payload-Digest") != "sha1:X"


def test_records_are_warc_1_0_with_dates_to_the_second(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    log = WarcLog(tmp_path / "a.warc.gz")
    log.exchange("http://shop.test/", method="GET", request_headers=REQUEST, request_body=b"",
                 status=404, response_headers=HEADERS, payload=b"gone",
                 date=datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC))
    log.close()
    records = list(_read(tmp_path / "a.warc.gz"))
    assert [r.rec_headers.protocol for r in records] == ["WARC/1.0", "WARC/1.0"]
    assert {r.rec_headers.get_header("WARC-Date") for r in records} == {"2026-11-28T01:02:03Z"}
    assert records[0].http_headers.statusline == "404 Not Found"
    assert records[1].rec_headers.get_header("WARC-Concurrent-To") \
        == records[0].rec_headers.get_header("WARC-Record-ID")


def test_a_rendered_page_is_a_conversion_record(tmp_path: Path) -> None:
    """A browser-rendered DOM is not what came over the wire: a `conversion` record of the
    DOM, its block digest, no payload digest (there is no HTTP payload)."""
    dom = "<html><body>渲染后的页面</body></html>".encode()
    log = WarcLog(tmp_path / "a.warc.gz")
    record_id = log.exchange("http://shop.test/r", method="GET", request_headers=REQUEST,
                             request_body=b"", status=200, response_headers=HEADERS,
                             payload=dom, rendered_by="chromium (scrapy-playwright)")
    log.close()
    assert [t for t, _ in _records(tmp_path / "a.warc.gz")] == ["conversion", "request"]
    conversion = next(iter(_read(tmp_path / "a.warc.gz")))
    headers = conversion.rec_headers
    assert headers.get_header("WARC-Record-ID") == f"<{record_id}>"
    assert headers.get_header("Content-Type") == "text/html; charset=utf-8"
    assert headers.get_header("WARC-Hulian-Rendered-By") == "chromium (scrapy-playwright)"
    assert headers.get_header("WARC-Payload-Digest") is None
    assert conversion.content_stream().read() == dom


@pytest.mark.parametrize("damage", ["cut_in_last_record", "garbage_after", "cut_in_header"])
def test_a_file_cut_by_a_crash_is_repaired_before_a_resume_appends(
        tmp_path: Path, damage: str) -> None:
    path = tmp_path / "crawl.warc.gz"
    log = WarcLog(path)
    first = _write(log, 6)
    log.close()
    whole = path.read_bytes()
    assert complete_length(path) == len(whole)
    # Where the last exchange's two records begin: six exchanges of two members each. Read
    # from this file itself: five exchanges written to another file compress to a few bytes
    # more or less (their record ids differ), and a cut 12 bytes past them once landed on a
    # member's end (a flaky failure).
    with path.open("rb") as stream:
        records = ArchiveIterator(stream)
        offsets = [records.get_record_offset() for _ in records]
    five = offsets[10]
    if damage == "cut_in_last_record":
        path.write_bytes(whole[:-40])  # the last request record loses its end
        expected_records = 11
    elif damage == "garbage_after":
        path.write_bytes(whole + b"\x1f\x8b\x08\x00garbage")
        expected_records = 12
    else:
        path.write_bytes(whole[:five + 12])  # the sixth response record's gzip header only
        expected_records = 10
    assert complete_length(path) < path.stat().st_size

    resumed = WarcLog(path)  # what a resumed run opens
    later = _write(resumed, 2)
    resumed.close()
    records = _records(path)
    assert len(records) == expected_records + 4
    ids = {rid.strip("<>") for _, rid in records}
    assert set(first[:5]) <= ids and set(later) <= ids
    assert complete_length(path) == path.stat().st_size


def test_large_records_are_measured_without_holding_them(tmp_path: Path) -> None:
    path = tmp_path / "big.warc.gz"
    log = WarcLog(path)
    log.exchange("http://shop.test/big", method="GET", request_headers=REQUEST, request_body=b"",
                 status=200, response_headers=HEADERS, payload=b"a" * (30 << 20))
    log.close()
    size = path.stat().st_size
    assert complete_length(path, chunk_size=4096) == size  # members spanning many chunks
    path.write_bytes(path.read_bytes()[:-5])
    assert complete_length(path, chunk_size=4096) < size - 5


def test_record_ids_are_version_4_uuids(monkeypatch: pytest.MonkeyPatch) -> None:
    import random
    import uuid

    from audit.evidence import warc

    rng = random.Random(7)
    for bits in [0, (1 << 128) - 1, *(rng.getrandbits(128) for _ in range(2000))]:
        monkeypatch.setattr(random, "getrandbits", lambda _n, b=bits: b)
        assert warc.new_record_id() == f"urn:uuid:{uuid.UUID(int=bits, version=4)}"


def test_warc_dates_are_utc_seconds() -> None:
    import random
    from datetime import UTC, datetime

    from audit.evidence.warc import warc_date

    rng = random.Random(3)
    stamps = sorted(rng.uniform(0, 4e9) for _ in range(500))
    stamps += [s + 0.999 for s in stamps[:50]] + [1e9, 1e9 + 0.5, 1e9 + 1]  # same, next second
    # Where rounding to microseconds reaches the next second, and before 1970.
    stamps += [1700000000.9999996, 1700000000.9999994, -0.5, -1.0, -86400.25]
    for stamp in stamps:  # formatted once per second: a cached second must not leak
        assert warc_date(stamp) == datetime.fromtimestamp(stamp, UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    assert warc_date(datetime(2026, 11, 28, 1, 2, 3, tzinfo=UTC)) == "2026-11-28T01:02:03Z"
    assert len(warc_date()) == 20


def test_each_record_is_one_standard_gzip_member(tmp_path: Path) -> None:
    import gzip
    import zlib

    log = WarcLog(tmp_path / "m.warc.gz")
    _write(log, 3, size=5000)
    log.close()
    data = (tmp_path / "m.warc.gz").read_bytes()
    members, position = [], 0
    while position < len(data):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        members.append(inflater.decompress(data[position:]))
        assert inflater.eof
        position = len(data) - len(inflater.unused_data)
    assert len(members) == 6  # a response and a request record per exchange
    assert all(m.startswith(b"WARC/1.0\r\n") and m.endswith(b"\r\n\r\n") for m in members)
    assert gzip.decompress(data) == b"".join(members)


def test_a_chunked_response_has_the_digest_of_its_payload(tmp_path: Path) -> None:
    """The client hands over a chunked body de-chunked, with the head as received: the payload
    digest is hulian's, over that payload (FastWARC, left to find the payload in the block,
    writes none for such a record)."""
    log = WarcLog(tmp_path / "a.warc.gz")
    log.exchange("http://shop.test/c", method="GET", request_headers=REQUEST, request_body=b"",
                 status=200, response_headers=[("Transfer-Encoding", "chunked")],
                 payload=b"hello world")
    log.close()
    response = next(iter(_read(tmp_path / "a.warc.gz")))
    expected = base64.b32encode(hashlib.sha1(b"hello world").digest()).decode()
    assert response.rec_headers.get_header("WARC-Payload-Digest") == f"sha1:{expected}"
    assert response.content_stream().read() == b"hello world"


def test_warcio_check_accepts_every_kind_of_record(tmp_path: Path) -> None:
    """`warcio check` (every digest of every record) on a file holding each kind of record
    the writer makes: plain, empty, chunked, hostile-valued and browser-rendered exchanges."""
    import subprocess
    import sys

    log = WarcLog(tmp_path / "a.warc.gz")
    _write(log, 2)
    for headers, payload, rendered in (
            (HEADERS, b"", None), ([("Transfer-Encoding", "chunked")], b"x" * 5000, None),
            ([("X-Evil", "a\r\nWARC-Type: forged")], "页面".encode(), None),
            (HEADERS, b"<html></html>", "chromium")):
        log.exchange("http://shop.test/a\r\nWARC-Type: forged", method="POST",
                     request_headers=REQUEST, request_body=b"q=1", status=200,
                     response_headers=headers, payload=payload, rendered_by=rendered)
    log.close()
    check = subprocess.run([sys.executable, "-m", "warcio.cli", "check", "-v",
                            str(tmp_path / "a.warc.gz")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("digest pass") == 12


def test_header_bytes_above_ascii_are_recorded_as_received(tmp_path: Path) -> None:
    """The engines read a header's bytes as latin-1 characters; written back as UTF-8, a raw
    UTF-8 `中文` was recorded as `c3 a4 c2 b8 …`, evidence altered that warcio and `hulian
    verify` both passed (an adversarial review). A browser's wider characters stay UTF-8."""
    log = WarcLog(tmp_path / "a.warc.gz")
    received = "中文".encode().decode("latin-1")
    log.exchange("http://shop.test/p", method="GET", request_headers=REQUEST, request_body=b"",
                 status=200, response_headers=[("X-Name", received), ("X-Wide", "目标")],
                 payload=b"x")
    log.close()
    raw = gzip.decompress((tmp_path / "a.warc.gz").read_bytes())
    assert b"X-Name: \xe4\xb8\xad\xe6\x96\x87\r\n" in raw
    assert "X-Wide: 目标\r\n".encode() in raw
