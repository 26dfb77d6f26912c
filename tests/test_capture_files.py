"""Capture files: every real file in ../shared/corpus is analysed or refused with a clear
error (one test per file), the fast .mitm reader equals mitmproxy's FlowReader, HAR readings
equal mitmproxy's own import (the *.expected-flows.json oracles), and damaged files keep the
flows read before the damage."""

from __future__ import annotations

import gzip
import io
import json
import zlib
from pathlib import Path

import pytest
from mitmproxy import io as mio
from mitmproxy.test import tflow

from audit.measure.capture.formats import CaptureError, detect_format, iter_har
from audit.measure.capture.mitm import iter_mitm
from audit.measure.capture.run import CaptureSession, reader_for
from tests.corpus import CORPUS

CAPTURES = CORPUS / "captures"
WARC = CORPUS / "warc"

needs_corpus = pytest.mark.skipif(not CAPTURES.is_dir(),
                                  reason=f"corpus not found at {CORPUS} (../shared/corpus)")


def _files(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


# file name -> (expected HTTP flows, or None when refused; words the error must contain)
MITM_EXPECTED: dict[str, tuple[int | None, str]] = {
    "corrupted_gzip_body.mitm": (1, ""),
    "diff_data.mitm": (5, ""),
    "dumpfile-010.mitm": (None, "flow format version (0, 10)"),
    "dumpfile-018.mitm": (1, ""),
    "dumpfile-10.mitm": (1, ""),
    "dumpfile-7.mitm": (2, ""),
    "error_log.mitm": (2, ""),
    "event_stream.mitm": (2, ""),
    "incomplete_log.mitm": (4, ""),
    "successful_log.mitm": (2, ""),
    "websocket.mitm": (3, ""),
}
HAR_EXPECTED: dict[str, tuple[int | None, str]] = {
    "broken-truncated.har": (None, "not a HAR file"),
    "charles.har": (1, ""), "chrome.har": (3, ""), "compressed.zhar": (2, ""),
    "corrupted_gzip_body.har": (1, ""), "diff_data.har": (5, ""), "error_log.har": (2, ""),
    "event_stream.har": (2, ""), "firefox.har": (14, ""), "incomplete_log.har": (4, ""),
    "not-a-har.har": (None, "without log.entries"), "postdata.har": (1, ""),
    "successful_log.har": (2, ""), "websocket.har": (3, ""), "with-bom.har": (1, ""),
}
WARC_EXPECTED: dict[str, tuple[int | None, str]] = {
    "example-bad-non-chunked.warc.gz": (2, ""), "example-digest.warc": (0, ""),
    "example-iana.org-chunked.warc": (1, ""), "example-resource.warc.gz": (1, ""),
    "example-trunc.warc": (1, ""), "example-wget-bad-target-uri.warc.gz": (1, ""),
    "example.arc.gz": (1, ""), "example.warc": (2, ""), "example.warc.gz": (2, ""),
    "post-test.warc.gz": (3, ""),
}


def _all_real_files() -> list[Path]:
    return [*_files(CAPTURES / "mitmproxy", "*.mitm"), *_files(CAPTURES / "har", "*.*har"),
            *_files(WARC, "*.*arc*"), *_files(WARC / "serp", "*.warc.gz")]


@needs_corpus
def test_every_corpus_file_has_an_expectation() -> None:
    """A new file in the corpus needs a decision here (analysed, or refused and why)."""
    known = {**MITM_EXPECTED, **HAR_EXPECTED, **WARC_EXPECTED}
    missing = [p.name for p in _all_real_files() if p.name not in known
               and p.parent.name != "serp"]
    assert not missing


@needs_corpus
@pytest.mark.parametrize("name", sorted({**MITM_EXPECTED, **HAR_EXPECTED, **WARC_EXPECTED}))
def test_corpus_file(name: str, tmp_path: Path) -> None:
    expected, words = {**MITM_EXPECTED, **HAR_EXPECTED, **WARC_EXPECTED}[name]
    folder = (CAPTURES / "mitmproxy" if name.endswith(".mitm") else
              CAPTURES / "har" if name.endswith("har") else WARC)
    path = folder / name
    if not path.exists():
        pytest.skip(f"{path} not in this corpus")
    session = CaptureSession.open(plan=None, run=tmp_path / "run")
    result = session.read(path)
    session.close()
    if expected is None:
        assert result.error is not None and words in result.error
        assert result.offset is not None
    else:
        assert result.error is None, result.error
        assert result.flows == expected
    assert json.loads((tmp_path / "run" / "capture.json").read_text())["files"][0]["path"] == str(path)


@needs_corpus
@pytest.mark.parametrize("path", _files(WARC / "serp", "*.warc.gz"), ids=lambda p: p.name[:20])
def test_serp_warc_with_doubled_status_line(path: Path) -> None:
    """`HTTP/1.1 HTTP/1.1 200 OK`: status 200 and the page body, not a protocol as status."""
    flows = list(reader_for(path))
    assert [(f.method, f.status) for f in flows] == [("GET", 200)]
    assert len(flows[0].response_body) > 100_000


@needs_corpus
def test_wget_angle_bracket_target_uri() -> None:
    flows = list(reader_for(WARC / "example-wget-bad-target-uri.warc.gz"))
    assert flows[0].url == "http://example.com/"
    assert flows[0].request_headers.get("user-agent", "").lower().startswith("wget")


@needs_corpus
def test_chunked_warc_body_is_dechunked() -> None:
    (flow,) = reader_for(WARC / "example-iana.org-chunked.warc")
    assert flow.response_body.rstrip().endswith(b"</html>")


@needs_corpus
@pytest.mark.parametrize("path", _files(CAPTURES / "mitmproxy", "*.mitm"), ids=lambda p: p.name)
def test_fast_mitm_reader_equals_flowreader(path: Path) -> None:
    def read(fast: bool) -> tuple[list[tuple[object, ...]], str | None]:
        out = []
        try:
            for flow in iter_mitm(path, fast=fast):
                out.append(flow.key())
        except CaptureError as exc:
            return out, exc.reason
        return out, None

    assert read(True) == read(False)


@needs_corpus
@pytest.mark.parametrize("oracle", _files(CAPTURES / "har", "*.expected-flows.json"),
                         ids=lambda p: p.name.split(".")[0])
def test_har_reader_agrees_with_mitmproxy_import(oracle: Path) -> None:
    har = oracle.with_name(oracle.name.replace(".expected-flows.json", ".har"))
    expected = json.loads(oracle.read_text())
    ours = list(iter_har(har))
    assert len(ours) == len(expected)
    for flow, theirs in zip(ours, expected, strict=True):
        request = theirs["request"]
        default = {"http": 80, "https": 443}[request["scheme"]]
        port = "" if request["port"] == default else f":{request['port']}"
        assert flow.method == request["method"]
        assert flow.url == f"{request['scheme']}://{request['host']}{port}{request['path']}"
        assert (flow.status or 0) == theirs["response"]["status_code"]


# ---------------------------------------------------------------------------------------
# Damaged, empty and foreign files: our own fixtures
# ---------------------------------------------------------------------------------------


def _dump(n: int) -> bytes:
    buffer = io.BytesIO()
    writer = mio.FlowWriter(buffer)  # type: ignore[no-untyped-call]
    for i in range(n):
        flow = tflow.tflow(resp=True)
        flow.request.url = f"http://example.com/{i}"
        writer.add(flow)
    return buffer.getvalue()


def test_truncated_mitm_keeps_flows_before_the_damage(tmp_path: Path) -> None:
    data = _dump(3)
    path = tmp_path / "cut.mitm"
    path.write_bytes(data[: len(data) - 40])
    session = CaptureSession.open(plan=None, run=None)
    result = session.read(path)
    assert result.flows == 2
    assert result.error is not None and "truncated" in result.error
    assert result.offset is not None and 0 < result.offset < len(data)


def test_corrupt_tnetstring_names_the_offset(tmp_path: Path) -> None:
    data = bytearray(_dump(2))
    second = data.index(b":", 1)  # after the first record's length prefix
    first_len = int(data[:second]) + second + 2
    data[first_len + 3: first_len + 8] = b"xxxxx"  # break the second record's inner prefix
    path = tmp_path / "bad.mitm"
    path.write_bytes(bytes(data))
    with pytest.raises(CaptureError) as caught:
        list(iter_mitm(path))
    assert caught.value.offset == first_len
    assert caught.value.flows_read == 1
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(("damage", "words"), [
    (b"3:1.5e", "unknown type tag 'e'"),
    (b"3:1x5^", "invalid float literal: (a damaged number)"),
    (b"3;1.5^", "missing or invalid length prefix: b'3;1.5^"),
])
def test_corrupt_value_inside_a_flow_is_said_in_words(tmp_path: Path, damage: bytes,
                                                      words: str) -> None:
    """Damage inside the request value, which mitmproxy's tnetstring parser reads: its
    messages name a tag by number and a number by a memoryview's repr; hulian's say what."""
    from mitmproxy.io import tnetstring

    flow = tflow.tflow(resp=True)
    flow.request.timestamp_start = 1.5
    data = tnetstring.dumps(flow.get_state())
    assert data.count(b"3:1.5^") == 1
    path = tmp_path / "bad.mitm"
    path.write_bytes(_dump(1) + data.replace(b"3:1.5^", damage))
    with pytest.raises(CaptureError) as caught:
        list(iter_mitm(path))
    assert caught.value.offset == len(_dump(1)) and caught.value.flows_read == 1
    assert f"corrupt flow record 1 (not a tnetstring: {words}" in str(caught.value)
    assert "<memory" not in str(caught.value)


def test_a_length_prefix_without_a_colon_is_a_short_clear_error(tmp_path: Path) -> None:
    """mitmproxy's parser reads a length prefix up to the first colon however far that is
    and quotes the rest of the value in its error: a damaged value of 256 kB of digits
    gives an error of bounded length that shows where it went wrong."""
    inner = b"7" * (256 * 1024)
    request = str(len(inner)).encode() + b":" + inner + b"}"
    body = b"7:version;2:21#4:type;4:http;7:request;" + request
    path = tmp_path / "digits.mitm"
    path.write_bytes(str(len(body)).encode() + b":" + body + b"}")
    with pytest.raises(CaptureError) as caught:
        list(iter_mitm(path))
    assert caught.value.offset == 0 and caught.value.flows_read == 0
    assert "corrupt flow record 0 (not a tnetstring: missing or invalid length prefix" \
        in str(caught.value)
    assert len(str(caught.value)) < len(str(path)) + 200


def test_empty_and_foreign_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mitm"
    empty.write_bytes(b"")
    foreign = tmp_path / "photo.har"
    foreign.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    for path, words in ((empty, "empty file"), (foreign, "not a capture")):
        with pytest.raises(CaptureError) as caught:
            detect_format(path)
        assert words in str(caught.value) and str(path) in str(caught.value)


def test_bad_gzip_warc(tmp_path: Path) -> None:
    record = (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://a.example/\r\n"
              b"WARC-Record-ID: <urn:uuid:1>\r\nContent-Type: application/http; msgtype=response"
              b"\r\nContent-Length: 40\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
              b"\r\n\r\n")
    good = gzip.compress(record)
    path = tmp_path / "bad.warc.gz"
    path.write_bytes(good + good[:20] + b"\xff" * 30)
    session = CaptureSession.open(plan=None, run=None)
    result = session.read(path)
    assert result.flows == 1
    assert result.error is not None and result.offset is not None


def test_har_streams_bom_zlib_and_missing_fields(tmp_path: Path) -> None:
    har = {"log": {"version": "1.2", "creator": {"name": "Insomnia"}, "entries": [
        {"request": {"method": "GET", "url": "http://a.example/x"}},  # no response at all
        {"startedDateTime": "2026-01-01T00:00:00Z", "time": 5,
         "request": {"method": "GET", "url": "http://a.example/y", "headers": []},
         "response": {"status": 200, "headers": [{"name": "Content-Type",
                                                  "value": "text/html"}],
                      "content": {"text": "PGI+aGk8L2I+", "encoding": "base64"}}},
    ]}}
    text = json.dumps(har).encode()
    (tmp_path / "a.har").write_bytes(b"\xef\xbb\xbf" + text)
    (tmp_path / "a.zhar").write_bytes(zlib.compress(text))
    for name in ("a.har", "a.zhar"):
        flows = list(iter_har(tmp_path / name))
        assert [(f.url, f.status) for f in flows] == [("http://a.example/x", None),
                                                     ("http://a.example/y", 200)]
        assert flows[1].response_body == b"<b>hi</b>" and flows[1].started == 1767225600.0


def test_truncated_har_keeps_entries_before_the_cut(tmp_path: Path) -> None:
    entries = [{"request": {"method": "GET", "url": f"http://a.example/{i}"},
                "response": {"status": 200}} for i in range(3)]
    text = json.dumps({"log": {"entries": entries}})
    path = tmp_path / "cut.har"
    path.write_text(text[: text.index('"http://a.example/2"')])
    with pytest.raises(CaptureError) as caught:
        list(iter_har(path))
    assert caught.value.flows_read == 2 and caught.value.offset is not None


def test_parallel_reader_equals_serial_and_reports_damage(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Big files are decoded in a second process; same records, same error with offset."""
    from audit.measure.capture import run as capture_run

    data = _dump(600)
    path = tmp_path / "big.mitm"
    path.write_bytes(data)
    monkeypatch.setattr(capture_run, "PARALLEL_MIN_BYTES", 1)
    serial = [f.key() for f in iter_mitm(path)]
    assert [f.key() for f in capture_run.reader_for(path)] == serial
    path.write_bytes(data[:-100])
    got: list[tuple[object, ...]] = []

    def read_all() -> None:
        for flow in capture_run.reader_for(path):
            got.append(flow.key())

    with pytest.raises(CaptureError) as caught:
        read_all()
    assert got == serial[:-1] and caught.value.offset is not None


def test_a_captured_page_decoded_by_its_reader_is_judged_by_its_text(tmp_path: Path) -> None:
    # Captures keep bodies decoded; a reader that kept the Content-Encoding header made the
    # chain take every compressed page for undecodable bytes (`unrecognized`): the catalog's
    # WeChat block page, gzip'd on the wire, must be `blocked` from a HAR, a WARC and a dump.
    # A body no reader could decode keeps the header.
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from audit.measure import chain as chains
    from audit.measure.capture.formats import iter_warc
    from audit.model import PageKind, Probe, SurfaceKind
    from audit.policy.catalog import load_catalog

    endpoint = ("https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi"
                "?midpagecode=3f2a9c&bancode=9c1e0d2b")
    html = (Path(__file__).resolve().parents[1] / "policies" / "examples" / "weixin"
            / "weixin-blocked-porn.html").read_bytes()
    har = tmp_path / "c.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "entries": [{
        "startedDateTime": "2026-01-01T00:00:00Z", "time": 10,
        "request": {"method": "GET", "url": endpoint, "headers": []},
        "response": {"status": 200, "headers": [
            {"name": "Content-Type", "value": "text/html; charset=utf-8"},
            {"name": "Content-Encoding", "value": "gzip"}],
            "content": {"mimeType": "text/html", "text": html.decode("utf-8")}}}]}}),
        encoding="utf-8")
    warc = tmp_path / "c.warc.gz"
    with warc.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        for body, coding in ((gzip.compress(html), "gzip"), (b"\x1f\x8b" + b"x" * 40, "br")):
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html"),
                                                  ("Content-Encoding", coding),
                                                  ("Content-Length", str(len(body)))],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(endpoint, "response",
                                                          payload=io.BytesIO(body),
                                                          length=len(body),
                                                          http_headers=headers))
    dump = tmp_path / "c.mitm"
    flow = tflow.tflow(resp=True)
    flow.request.url = endpoint
    assert flow.response is not None
    flow.response.headers["content-type"] = "text/html; charset=utf-8"
    flow.response.headers["content-encoding"] = "gzip"
    flow.response.raw_content = gzip.compress(html)
    with dump.open("wb") as fh:
        mio.FlowWriter(fh).add(flow)  # type: ignore[no-untyped-call]
    flows = [*iter_har(har), *iter_warc(warc), *iter_mitm(dump)]
    assert len(flows) == 4
    catalog = load_catalog()
    kinds = []
    for captured in flows:
        chain = chains.Chain(probe=Probe(id="p", source="weixin", surface=SurfaceKind.IM_GROUP,
                                         target_url="https://item.taobao.com/"))
        assert captured.status is not None
        chains.on_response(chain, chains.Response(
            url=captured.url, status=captured.status, headers=captured.response_headers,
            body=captured.response_body), "start", catalog)
        assert chain.page is not None
        kinds.append((chain.page.kind, chain.page.signature))
    blocked = (PageKind.BLOCKED, "weixin/weixin-blocked")
    undecodable = (PageKind.UNRECOGNIZED, "structure/undecodable")
    assert kinds == [blocked, blocked, undecodable, blocked]


def _warc_of(path: Path, url: str, bodies: list[tuple[bytes, str, bool]]) -> None:
    """A WARC of one response per (payload as on the wire, Content-Encoding, chunked)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        for body, coding, chunked in bodies:
            fields = [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", coding)]
            if chunked:
                fields.append(("Transfer-Encoding", "chunked"))
                body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 100]), body[i:i + 100])
                                for i in range(0, len(body), 100)) + b"0\r\n\r\n"
            headers = StatusAndHeaders("200 OK", fields, protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response",
                                                          payload=io.BytesIO(body),
                                                          length=len(body),
                                                          http_headers=headers))


def test_a_warc_body_is_decoded_by_hulian_whatever_warcio_can_decode(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # CI read a WARC's undecodable `br` body as text (a `blocked` page of "\x1f\x8bxxx"): warcio
    # hands back the raw bytes of a coding it has no decoder for (its Brotli is optional), or
    # whose first block does not decode (every Brotli body: its decoder fails on Brotli 1.1,
    # and a gzip body that is not gzip, whose header was then dropped). The codings are undone by audit/web/codings.py, as a
    # dump's are: a Brotli'd page decodes without warcio's Brotli, chunked or not, and bytes no
    # decoder reads keep their Content-Encoding.
    import brotli  # type: ignore[import-untyped]
    from warcio.bufferedreaders import BufferedReader

    from audit.measure.capture.formats import iter_warc

    html = b"<html><body><p>\xe5\xbe\xae\xe4\xbf\xa1</p></body></html>"
    warc = tmp_path / "c.warc.gz"
    _warc_of(warc, "https://example.com/", [
        (brotli.compress(html), "br", False), (brotli.compress(html), "br", True),
        (b"\x1f\x8b" + b"x" * 40, "br", False), (gzip.compress(html), "gzip", True),
        (b"not gzip at all", "gzip", False)])
    for decompressors in ({**BufferedReader.DECOMPRESSORS},
                          {k: v for k, v in BufferedReader.DECOMPRESSORS.items() if k != "br"}):
        monkeypatch.setattr(BufferedReader, "DECOMPRESSORS", decompressors)
        read = [(f.response_body, f.response_headers.get("content-encoding"))
                for f in iter_warc(warc)]
        assert read == [(html, None), (html, None), (b"\x1f\x8b" + b"x" * 40, "br"),
                        (html, None), (b"not gzip at all", "gzip")]


def test_a_gzip_bomb_in_a_warc_costs_the_body_bound(tmp_path: Path) -> None:
    # The decoder that replaced warcio's (which read at most the bound too) stops at the
    # capture's body bound, not at the bomb's inflated size.
    from audit.measure.capture.formats import MAX_BODY, iter_warc

    bomb = gzip.compress(b"<p>" + b"a" * (MAX_BODY * 4))
    warc = tmp_path / "bomb.warc.gz"
    _warc_of(warc, "https://example.com/", [(bomb, "gzip", False)])
    [flow] = list(iter_warc(warc))
    assert len(flow.response_body) == MAX_BODY and "content-encoding" not in flow.response_headers
