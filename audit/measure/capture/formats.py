"""Capture files other than mitmproxy's own (HAR 1.2, WARC/ARC), read as a stream of neutral
flow records, and the record type itself. No mitmproxy here: audit/measure/capture/mitm.py reads
`.mitm`
dumps into the same `FlowRecord`, so the chain analysis never sees a file format.

Every reader is a generator that yields records as it reads them and raises `CaptureError`
(naming the file and the offset) where the file is damaged, after yielding every record read
before the damage: a truncated capture still gives the evidence it holds.
"""

from __future__ import annotations

import base64
import codecs
import gzip
import json
import re
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

from audit.errors import HulianError
from audit.web.codings import undo_codings
from audit.web.decode import may_be_page
from audit.web.fields import add_field
from audit.web.urls import REDIRECT_STATUSES, redirects

Format = Literal["mitm", "har", "warc"]

# Bodies are kept only up to this size: classification reads short pages (interstitials,
# block pages, redirect stubs); a longer body is content whatever it says.
MAX_BODY = 2 * 1024 * 1024
# A request body is only searched for probe tokens (link-check API calls, forms).
MAX_REQUEST_BODY = 64 * 1024
# What a reader holds in memory at once, whatever the file says: one HAR entry (or other
# top-level value) as JSON text, one mitmproxy record, one header line of a WARC record.
# Larger ones end the file with a CaptureError at their offset.
MAX_JSON_VALUE_CHARS = 64 * 1024 * 1024
MAX_RECORD_BYTES = 256 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 4 * 1024 * 1024


class CaptureError(HulianError):
    """A capture file cannot be (fully) read. The message names the file and the offset."""

    def __init__(self, path: Path | str, offset: int | None, message: str, *,
                 flows_read: int = 0) -> None:
        self.path = str(path)
        self.offset = offset
        self.reason = message
        self.flows_read = flows_read
        where = f" at offset {offset}" if offset is not None else ""
        super().__init__(f"{path}{where}: {message}")


@dataclass(slots=True)
class FlowRecord:
    """One HTTP exchange, whatever file it came from. Header names are lower case; repeated
    headers are joined with ", ". Bodies are decoded (no Content-Encoding) where kept."""

    file: str
    index: int  # position of the flow in its file (0-based)
    offset: int | None  # byte offset of the flow's record, where the format has one
    started: float | None  # epoch seconds
    method: str
    url: str
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: bytes = b""
    status: int | None = None  # None: no response (error, incomplete flow)
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    error: str | None = None
    elapsed_ms: float | None = None
    # A redirect the browser made itself (Chrome's HAR: HSTS upgrade, an extension's or a
    # URL-security check's diversion), recorded as a 307 on the URL asked for: not an answer
    # of that URL's server (is_internal_redirect).
    internal_redirect: bool = False
    # The capture does not hold the body of an answer that has one (a WARC revisit whose
    # original is not at hand, a HAR entry without its text, a body mitmproxy streamed): what
    # the page said is unknown, which is not an empty page (review 134).
    body_unknown: bool = False

    @property
    def ref(self) -> str:
        """How evidence names this flow: file name and position."""
        return f"capture:{Path(self.file).name}#{self.index}"

    def key(self) -> tuple[object, ...]:
        """What the analysis depends on; two readers of one file must agree on it."""
        return (self.index, self.started, self.method, self.url,
                tuple(sorted(self.request_headers.items())), self.request_body, self.status,
                tuple(sorted(self.response_headers.items())), self.response_body, self.error,
                self.internal_redirect, self.body_unknown)


# The latest time a timestamp may say (the end of year 9999, as far as datetime reaches).
_LATEST_TIME = 253402300799.0


def plausible_time(value: object) -> float | None:
    """A timestamp (epoch seconds) that can be a capture's time, else None (unknown): a
    NaN, an infinity, a time before 1970 or past datetime's range, from a damaged or forged
    record, ended the analysis with a traceback and lost every later flow (a review)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an int past float's range
        return None
    return seconds if 0 < seconds <= _LATEST_TIME else None


def keep_response_body(status: int | None, headers: dict[str, str], content_type: str) -> bool:
    """Whether the analysis can use a response body: HTML (or untyped) and not an answer a
    browser follows (urls.redirects: a 300 or 305, and a 3xx without a Location or with two,
    are pages to a browser, which shows their body). Deciding this before decoding is most of
    what makes the readers fast."""
    if status is None or redirects(status, headers.get("location")):
        return False
    return may_be_page(content_type)


def add_header(headers: dict[str, str], name: str, value: str) -> None:
    """A captured field, joined as the crawl engines join a repeat (audit.web.fields)."""
    if name.startswith(":"):
        return  # HTTP/2 pseudo-headers are part of the URL, not headers
    add_field(headers, name, value)


# ---------------------------------------------------------------------------------------
# Format detection
# ---------------------------------------------------------------------------------------


def detect_format(path: Path) -> Format:
    """The format from the first bytes (extensions lie: `.har` files that are not HAR)."""
    if path.exists() and not path.is_file():
        # A capture is read more than once (its format, then its flows, maybe by a second
        # process); a FIFO or device gives its bytes once, or endlessly.
        raise CaptureError(path, None, "not a regular file (a FIFO or device cannot be "
                                       "analysed; save the capture to a file first)")
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise CaptureError(path, None, f"cannot read ({exc.strerror})") from None
    if not head:
        raise CaptureError(path, 0, "empty file: no flows")
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if stripped.startswith(b"{"):
        return "har"
    if head[:1] == b"\x78" and path.suffix.lower() in (".zhar", ".har"):
        return "har"  # zlib-compressed HAR (mitmproxy's .zhar)
    if head.startswith(b"\x1f\x8b"):
        try:
            inner = _gunzip_head(path)
        except zlib.error:
            raise CaptureError(path, 0, "gzip file whose first member cannot be "
                                        "decompressed") from None
        if inner.startswith((b"WARC/", b"filedesc:")):
            return "warc"
        raise CaptureError(path, 0, "gzip file that holds neither WARC nor ARC records")
    if head.startswith((b"WARC/", b"filedesc:")):
        return "warc"
    digits = head.split(b":", 1)[0]
    if digits.isdigit() and b":" in head[:14]:
        return "mitm"
    raise CaptureError(path, 0, "not a capture this tool reads (expected a mitmproxy flow "
                                "dump, HAR 1.2 (.har/.zhar) or WARC/ARC)")


def _gunzip_head(path: Path) -> bytes:
    """The first decompressed bytes of a gzip file."""
    with path.open("rb") as fh:
        data = fh.read(64 * 1024)
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, 64)


# ---------------------------------------------------------------------------------------
# HAR: a streaming reader of log.entries
# ---------------------------------------------------------------------------------------


class _TextStream:
    """A buffered text view of a (possibly zlib-compressed) UTF-8 file, for a streaming JSON
    walk: memory holds the current entry, not the file."""

    CHUNK = 256 * 1024

    def __init__(self, path: Path, fh: IO[bytes]) -> None:
        self.path = path
        self.fh = fh
        self.zlib: Any = None
        self.decoder = json.JSONDecoder()
        first = fh.read(2)
        if first[:1] == b"\x78":
            self.zlib = zlib.decompressobj()
        self.pending = first
        self.utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self.buf = ""
        self.pos = 0
        self.consumed = 0  # characters dropped from the front of buf
        self.eof = False
        self.started = False

    @property
    def offset(self) -> int:
        return self.consumed + self.pos

    def _read(self, size: int) -> bool:
        if self.eof:
            return False
        if self.zlib is not None and self.zlib.unconsumed_tail:
            # What the last call could not inflate within `size`: a zlib bomb grows the
            # buffer by `size` per call, not by its whole expansion at once.
            raw = self.zlib.unconsumed_tail
        else:
            raw = self.pending + self.fh.read(size)
        self.pending = b""
        try:
            if self.zlib is not None:
                data = self.zlib.decompress(raw, size)
                if not raw:
                    data += self.zlib.flush()
            else:
                data = raw
            text = self.utf8.decode(data, final=not raw)
        except zlib.error as exc:
            raise CaptureError(self.path, None, f"corrupt zlib data ({exc})") from None
        except UnicodeDecodeError as exc:
            raise CaptureError(self.path, self.consumed + len(self.buf) + exc.start,
                               "not UTF-8 text") from None
        if not self.started:
            text = text.removeprefix("\ufeff")  # a UTF-8 BOM (Fiddler, some exports)
            self.started = True
        if not raw:
            self.eof = True
        # Drop what has been parsed, so the buffer holds one entry at a time.
        self.consumed += self.pos
        self.buf = self.buf[self.pos:] + text
        self.pos = 0
        return bool(text) or not self.eof

    def peek(self) -> str:
        """The next non-space character ('' at the end of the file)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._read(self.CHUNK):
                return ""

    def expect(self, char: str, what: str) -> None:
        found = self.peek()
        if found != char:
            shown = repr(found) if found else "end of file"
            raise CaptureError(self.path, self.offset, f"not a HAR file: expected {what}, "
                                                       f"found {shown}")
        self.pos += 1

    def value(self) -> Any:
        """The next JSON value, reading more of the file until it is complete."""
        self.peek()
        want = self.CHUNK
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof:
                    raise CaptureError(self.path, self.consumed + exc.pos,
                                       f"truncated or invalid JSON ({exc.msg})") from None
                if len(self.buf) - self.pos > MAX_JSON_VALUE_CHARS:
                    raise CaptureError(self.path, self.offset, "a JSON value (HAR entry) "
                                       f"larger than {MAX_JSON_VALUE_CHARS // 2**20} M "
                                       "characters; this reader holds one entry at a time "
                                       "and stops here") from None
                # Maybe just incomplete: read at least as much again (no quadratic re-parse).
                want = min(max(want, len(self.buf)), MAX_JSON_VALUE_CHARS)
                self._read(want)
                continue
            except RecursionError:
                # The stdlib's JSON decoder recurses per level; a HAR is ~6 levels deep.
                raise CaptureError(self.path, self.offset, "JSON nested too deeply (more "
                                   "levels than this reader follows; a HAR file has fewer "
                                   "than ten)") from None
            except ValueError as exc:  # a number of more digits than int() converts
                raise CaptureError(self.path, self.offset, f"invalid JSON ({exc})") from None
            if end == len(self.buf) and not self.eof and isinstance(value, int | float):
                self._read(self.CHUNK)  # a number may continue in the next chunk
                continue
            self.pos = end
            return value


def iter_har(path: Path) -> Iterator[FlowRecord]:
    """Entries of a HAR 1.2 file (Chrome, Firefox, Safari, Charles, Insomnia, mitmproxy; a
    BOM; `.zhar` zlib), streamed: `log` is walked key by key and `entries` item by item."""
    index = 0
    with path.open("rb") as fh:
        stream = _TextStream(path, fh)
        try:
            stream.expect("{", "'{' (a HAR file is a JSON object)")
            found_log = found_entries = False
            while stream.peek() not in ("}", ""):
                key = stream.value()
                stream.expect(":", "':'")
                if key != "log":
                    stream.value()
                else:
                    found_log = True
                    if stream.peek() != "{":
                        raise CaptureError(path, stream.offset,
                                           "not a HAR file: 'log' is not an object")
                    stream.expect("{", "'{'")
                    while stream.peek() not in ("}", ""):
                        name = stream.value()
                        stream.expect(":", "':'")
                        if name != "entries":
                            stream.value()
                        else:
                            found_entries = True
                            stream.expect("[", "'[' (log.entries is a list)")
                            while stream.peek() not in ("]", ""):
                                offset = stream.offset
                                entry = stream.value()
                                yield _har_entry(path, index, offset, entry)
                                index += 1
                                if stream.peek() == ",":
                                    stream.pos += 1
                            stream.expect("]", "']'")
                        if stream.peek() == ",":
                            stream.pos += 1
                    stream.expect("}", "'}'")
                if stream.peek() == ",":
                    stream.pos += 1
            stream.expect("}", "'}' at the end of the HAR file")
        except CaptureError as exc:
            exc.flows_read = index
            raise
    if not found_log or not found_entries:
        raise CaptureError(path, 0, "not a HAR file: valid JSON without log.entries",
                           flows_read=index)


def _har_time(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return plausible_time(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except (ValueError, OverflowError, OSError):  # year 1 in a zone east of UTC, ...
        return None


def _utf8(text: str) -> bytes:
    """Bytes of a HAR text field. mitmproxy writes binary bodies with surrogate escapes
    (undone here); a JSON escape can also make a lone surrogate, kept as its own bytes."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _har_headers(items: object) -> dict[str, str]:
    headers: dict[str, str] = {}
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                add_header(headers, item["name"], str(item.get("value", "")))
    return headers


def is_internal_redirect(response: dict[str, Any], headers: dict[str, str]) -> bool:
    """Whether a HAR response is Chrome's own redirect, not the server's: Chrome writes
    `307 Internal Redirect` with a `Non-Authoritative-Reason` header (HSTS, Delegate,
    CORS...) on the URL it never asked the server for. Read as the server's answer, a
    browser's diversion of the target's URL to its own warning page read as the target
    reached (`direct`, an adversarial review)."""
    if "non-authoritative-reason" in headers:
        return True
    reason = response.get("statusText")
    return isinstance(reason, str) and reason.strip().lower() == "internal redirect"


def _har_entry(path: Path, index: int, offset: int, entry: Any) -> FlowRecord:
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        raise CaptureError(path, offset, f"not a HAR entry (entry {index} has no request)")
    request = entry["request"]
    response: dict[str, Any] = entry["response"] if isinstance(entry.get("response"),
                                                                dict) else {}
    url = str(request.get("url", ""))
    post: dict[str, Any] = request["postData"] if isinstance(request.get("postData"),
                                                             dict) else {}
    request_body = _utf8(str(post.get("text") or ""))
    status_value = response.get("status")
    status = status_value if isinstance(status_value, int) and status_value > 0 else None
    response_headers = _har_headers(response.get("headers"))
    # A HAR keeps the body decoded (`content.text`): the coding header describes the wire.
    coding = response_headers.pop("content-encoding", None)
    content: dict[str, Any] = response["content"] if isinstance(response.get("content"),
                                                                 dict) else {}
    body, body_unknown = b"", False
    if keep_response_body(status, response_headers,
                          response_headers.get("content-type",
                                               str(content.get("mimeType") or ""))):
        body, body_unknown = _har_body(content, coding)
    error = None
    if status is None:
        # Chrome records blocked/failed requests as status 0 with `_error`.
        error = str(response.get("_error") or entry.get("_error") or "no_response")
    elapsed = entry.get("time")
    return FlowRecord(
        file=str(path), index=index, offset=offset,
        started=_har_time(entry.get("startedDateTime")),
        method=str(request.get("method") or "GET"), url=url,
        request_headers=_har_headers(request.get("headers")),
        request_body=request_body[:MAX_REQUEST_BODY], status=status,
        response_headers=response_headers, response_body=body[:MAX_BODY], error=error,
        elapsed_ms=float(elapsed) if isinstance(elapsed, int | float) and elapsed >= 0 else None,
        internal_redirect=status in REDIRECT_STATUSES and is_internal_redirect(
            response, response_headers),
        body_unknown=body_unknown,
    )


# Characters surrogate escapes make of bytes a text could not be decoded from (mitmproxy's
# HAR export writes such a body's bytes so).
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]")


def _har_body(content: dict[str, Any], coding: str | None) -> tuple[bytes, bool]:
    """A HAR entry's body and whether it is unknown. `text` is what the browser (or
    mitmproxy) decoded, in whatever charset the page declared (HAR 1.2, Chrome, Playwright,
    mitmproxy alike): kept as UTF-8 behind a byte-order mark, which every reading of the bytes
    obeys before a header's or a `<meta>`'s charset (a page declared GBK was read as GBK from
    UTF-8 bytes, and its notice lost: review 134). A text of surrogate-escaped bytes is those
    bytes. Base64 is the bytes themselves, which a tool may leave in their coding (review 134:
    a gzip'd notice read as text). A missing text is an unknown body (Chrome drops a page's
    body once the tab leaves it), and so is an empty one of a size above nought, unless the
    entry says it had none."""
    text = content.get("text")
    size = content.get("size")
    said_empty = isinstance(size, int) and not isinstance(size, bool) and size <= 0
    if not isinstance(text, str) or (not text and not said_empty and size is not None):
        return b"", not said_empty
    if content.get("encoding") == "base64":
        try:
            body = base64.b64decode(text)
        except ValueError:
            return b"", True
        decoded = undo_codings(body, coding, MAX_BODY) if coding and body else None
        return (decoded[0] if decoded is not None else body), False
    if not text or _ESCAPED_BYTES.search(text):
        return _utf8(text), False
    # Also before ASCII text: a page declared UTF-16 read its UTF-8 bytes as UTF-16 (review
    # 137: WeChat's block page read `diverted`).
    return codecs.BOM_UTF8 + _utf8(text), False


# ---------------------------------------------------------------------------------------
# WARC / ARC
# ---------------------------------------------------------------------------------------

# Responses wait this many records for their request record (which carries the Referer):
# wget and warcio write the request first, some crawlers write it after the response.
_PAIR_WINDOW = 8


def _status_of(http_headers: Any) -> tuple[int | None, str]:
    """Status code and reason; tolerates the doubled `HTTP/1.1 HTTP/1.1 200 OK` status line
    of some Wayback captures, which warcio reads as protocol 'HTTP/1.1' + status 'HTTP/1.1'."""
    line = str(getattr(http_headers, "statusline", "") or "")
    parts = line.split()
    while parts and parts[0].upper().startswith("HTTP/"):
        parts.pop(0)
    if parts and parts[0].isdigit():
        return int(parts[0]), " ".join(parts[1:])
    return None, line


def _request_method(http_headers: Any) -> str:
    """The method of a request record; the doubled-protocol quirk puts `HTTP/1.1` first."""
    line = f"{http_headers.protocol or ''} {http_headers.statusline or ''}"
    for token in line.split():
        if not token.upper().startswith("HTTP/"):
            return token.upper() if token.isalpha() else "GET"
    return "GET"


def _warc_headers(http_headers: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in getattr(http_headers, "headers", []) or []:
        add_header(headers, str(name), str(value))
    return headers


def _target_uri(record: Any) -> str:
    uri = str(record.rec_headers.get_header("WARC-Target-URI") or "")
    # wget < 1.20 wrote `<http://...>` (angle brackets from the WARC draft's grammar).
    return uri.strip().removeprefix("<").removesuffix(">")


def _warc_time(record: Any) -> float | None:
    value = record.rec_headers.get_header("WARC-Date")
    return _har_time(value) if value else None


def _read_body(record: Any, limit: int, headers: dict[str, str]) -> bytes:
    """The payload without transfer/content encodings. warcio undoes the chunking (a body that
    claims chunked transfer encoding but is not chunked is read as it is); the content codings
    are undone by audit/web/codings.py, as a dump's are, not by warcio: warcio hands back the
    raw bytes of a coding it has no decoder for and of one whose first block does not decode,
    which then read as text. A body that cannot be decoded is kept raw and keeps its
    Content-Encoding in `headers` (dropped where it was decoded), so nothing reads it as text."""
    from warcio.bufferedreaders import ChunkedDataReader

    stream = (ChunkedDataReader(record.raw_stream)
              if (record.http_headers and str(record.http_headers.get_header(
                  "transfer-encoding") or "").strip().lower() == "chunked")
              else record.raw_stream)
    try:
        payload = bytes(stream.read(limit))
    except CaptureError:
        raise
    except Exception:  # a chunk header warcio cannot read past its own fallback
        return b""
    coding = headers.get("content-encoding")
    if not coding or not payload:
        return payload
    decoded = undo_codings(payload, coding, limit)
    if decoded is None:
        return payload
    headers.pop("content-encoding", None)
    return decoded[0]


class _WholeFileGzip(Exception):
    """The file is one gzip stream, not one gzip member per record."""


def iter_warc(path: Path) -> Iterator[FlowRecord]:
    """Response (and resource/revisit) records of a WARC or ARC file, gzip or not, paired
    with their request records."""
    state = {"index": 0, "offset": 0}
    try:
        yield from _warc_checked(path, state, whole_gzip=False)
    except _WholeFileGzip:
        # One gzip stream around the whole file instead of one member per record: still a
        # valid capture; read it through a plain gzip stream (no random access needed).
        yield from _warc_checked(path, state, whole_gzip=True)


def _warc_checked(path: Path, state: dict[str, int], *, whole_gzip: bool
                  ) -> Iterator[FlowRecord]:
    """_warc_records with every way warcio fails on damaged input turned into a
    CaptureError at the offset reached."""
    # warcio only for WARC captures (HAR and mitmproxy dumps do not need it).
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    try:
        yield from _warc_records(path, ArchiveIterator, state, whole_gzip=whole_gzip)
    except CaptureError:
        raise
    except ArchiveLoadFailed as exc:
        text = str(exc)
        if "non-chunked gzip" in text and state["index"] == 0 and not whole_gzip:
            raise _WholeFileGzip from None
        raise CaptureError(path, state["offset"], f"corrupt WARC/ARC record "
                           f"({' '.join(text.split())[:160]})",
                           flows_read=state["index"]) from None
    except (OSError, EOFError, zlib.error) as exc:
        raise CaptureError(path, state["offset"], f"corrupt or truncated compressed data "
                           f"({exc})", flows_read=state["index"]) from None
    except Exception as exc:  # warcio on damage it does not expect (a record without URI)
        raise CaptureError(path, state["offset"], f"corrupt WARC/ARC record "
                           f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})",
                           flows_read=state["index"]) from None


def _warc_records(path: Path, iterator_cls: Any, state: dict[str, int], *,
                  whole_gzip: bool) -> Iterator[FlowRecord]:
    requests: dict[str, Any] = {}  # WARC-Record-ID -> request facts (bounded)
    originals = _Originals()  # payload digest -> a page's body, for revisit records
    pending: list[tuple[int, dict[str, Any]]] = []  # responses waiting for their request
    seen = 0
    with path.open("rb") as raw:
        fh: Any = gzip.GzipFile(fileobj=raw) if whole_gzip else raw
        records = iterator_cls(fh, arc2warc=True, ensure_http_headers=False)
        _bound_lines(path, records, state)
        try:
            for record in records:
                state["lines"] = 0
                seen += 1
                kind = record.rec_type
                if kind == "request":
                    facts: dict[str, Any] = {"method": "GET", "headers": {}, "body": b""}
                    if record.http_headers is not None:
                        facts["method"] = _request_method(record.http_headers)
                        facts["headers"] = _warc_headers(record.http_headers)
                        facts["body"] = _read_body(record, MAX_REQUEST_BODY, facts["headers"])
                    concurrent = record.rec_headers.get_header("WARC-Concurrent-To")
                    own = record.rec_headers.get_header("WARC-Record-ID")
                    for key in (concurrent, own, _target_uri(record)):
                        if key:
                            requests[key] = facts
                    state["offset"] = records.get_record_offset()  # reads to the record's end
                    while len(requests) > 64:
                        requests.pop(next(iter(requests)))
                elif kind in ("response", "revisit", "resource"):
                    uri = _target_uri(record)
                    if not uri.lower().startswith(("http://", "https://")):
                        continue  # wget's metadata:// records, warcinfo-like resources
                    response = _response_facts(record, kind, uri, originals)
                    # After the body: warcio's offset lookup reads the record to its end.
                    state["offset"] = response["offset"] = records.get_record_offset()
                    pending.append((seen, response))
                else:
                    state["offset"] = records.get_record_offset()
                    continue
                # Release responses whose request arrived, or that waited long enough, in
                # the file's order: one that waits holds back those after it (a paired
                # response released first put a notice after the page it led to: review 134).
                still: list[tuple[int, dict[str, Any]]] = []
                for at, response in pending:
                    request = requests.get(response["id"]) or None
                    if still or (request is None and seen - at < _PAIR_WINDOW):
                        still.append((at, response))
                        continue
                    if request is None:
                        request = requests.get(response["uri"])
                    yield _warc_flow(path, state, response, request)
                pending = still
        except Exception as exc:
            # Damage ends the file, but the responses read before it still wait in `pending`
            # for their request records: released first (without them, with what the file
            # holds), so that every complete flow before the damage is analysed. Not when
            # the file is about to be read again as one gzip stream (_WholeFileGzip: nothing
            # read yet); a member of several records after good ones is damage like any
            # other (the flows waiting were lost, the next review).
            rereads = ("non-chunked gzip" in str(exc) and not whole_gzip
                       and state["index"] == 0 and not pending)
            if not rereads:
                # Where the damaged record starts: the end of the last one read (the offset
                # kept so far is that record's start).
                end = getattr(records, "offset", None)
                if isinstance(end, int) and not whole_gzip and not isinstance(exc, CaptureError):
                    state["offset"] = max(state["offset"], end)
                for _at, response in pending:
                    yield _warc_flow(path, state, response, requests.get(response["id"])
                                     or requests.get(response["uri"]))
            raise
        for _at, response in pending:
            yield _warc_flow(path, state, response,
                             requests.get(response["id"]) or requests.get(response["uri"]))
        if not whole_gzip:
            # warcio stops quietly at a gzip member it cannot inflate: anything but padding
            # after the last record it read is damage, and is reported as such.
            end = int(getattr(records, "offset", 0) or 0)
            raw.seek(end)
            tail = raw.read(4096)
            if tail.strip(b"\r\n\x00 \t"):
                state["offset"] = end
                raise CaptureError(path, end, "corrupt or truncated data after the last "
                                   "complete record", flows_read=state["index"])


def _bound_lines(path: Path, records: Any, state: dict[str, int]) -> None:
    """warcio reads WARC and HTTP header lines with an unbounded readline, and keeps every
    header line it reads: a record whose header never ends would be read whole into memory.
    Every readline of its reader goes through this bound instead (the reader is warcio's
    own; only what one line and one record's lines may hold is limited). `state["lines"]`
    is reset by the caller at each record."""
    reader = records.reader
    readline = reader.readline
    unterminated = 0

    def bounded(length: int | None = None) -> bytes:
        nonlocal unterminated
        want = MAX_LINE_BYTES if length is None or length < 0 else min(length, MAX_LINE_BYTES)
        line: bytes = readline(want)
        # warcio may return a long line in pieces: what counts is the run without "\n".
        unterminated = 0 if line.endswith(b"\n") else unterminated + len(line)
        state["lines"] = state.get("lines", 0) + len(line)
        if unterminated > MAX_LINE_BYTES or state["lines"] > MAX_HEADER_BYTES:
            what, limit = (("a header line", MAX_LINE_BYTES) if unterminated > MAX_LINE_BYTES
                           else ("header lines", MAX_HEADER_BYTES))
            raise CaptureError(path, state["offset"], f"{what} longer than {limit // 1024} KB "
                               "in one record (damaged or not a WARC)",
                               flows_read=state["index"])
        return line

    reader.readline = bounded


class _Originals:
    """The bodies of recent pages by payload digest, at most ORIGINALS_BYTES: a `revisit`
    record (a deduplicating crawler's: warcprox, pywb, browsertrix) carries no body of its
    own, only the digest of the response it repeats. Where that response is not among them,
    the revisit's body is unknown."""

    def __init__(self) -> None:
        self._bodies: OrderedDict[str, tuple[bytes, str | None]] = OrderedDict()
        self._bytes = 0

    def keep(self, digest: str | None, body: bytes, coding: str | None) -> None:
        if not digest or not body or len(body) > ORIGINALS_BYTES:
            return
        old = self._bodies.pop(digest, None)
        if old is not None:
            self._bytes -= len(old[0])
        self._bodies[digest] = (body, coding)
        self._bytes += len(body)
        while self._bytes > ORIGINALS_BYTES:
            _digest, (dropped, _coding) = self._bodies.popitem(last=False)
            self._bytes -= len(dropped)

    def find(self, digest: str | None) -> tuple[bytes, str | None] | None:
        return self._bodies.get(digest) if digest else None


# What the WARC reader keeps of recent pages' bodies for revisit records.
ORIGINALS_BYTES = 32 * 1024 * 1024


def _response_facts(record: Any, kind: str, uri: str, originals: _Originals
                    ) -> dict[str, Any]:
    headers: dict[str, str] = {}
    status: int | None = None
    body = b""
    body_unknown = False
    if record.http_headers is not None and kind != "resource":
        status, _reason = _status_of(record.http_headers)
        headers = _warc_headers(record.http_headers)
    elif kind == "resource" and record.rec_headers.get_header("WARC-Hulian-Failure"):
        # hulian's record of an answer that was not HTTP (WarcLog.unreadable): no response.
        return {"id": record.rec_headers.get_header("WARC-Record-ID") or "", "uri": uri,
                "status": None, "headers": {}, "body": b"", "started": _warc_time(record),
                "offset": None,
                "failure": str(record.rec_headers.get_header("WARC-Hulian-Failure"))}
    elif kind == "resource":
        # A stored document without HTTP headers: served as it is.
        status = 200
        content_type = record.rec_headers.get_header("Content-Type")
        if content_type:
            headers["content-type"] = str(content_type)
    digest = record.rec_headers.get_header("WARC-Payload-Digest")
    if keep_response_body(status, headers, headers.get("content-type", "")):
        if kind == "revisit":
            original = originals.find(digest)
            if original is None:
                body_unknown = True
            else:
                body = original[0]
                headers.pop("content-encoding", None)
                if original[1]:
                    headers["content-encoding"] = original[1]
        else:
            body = _read_body(record, MAX_BODY, headers)
            originals.keep(digest, body, headers.get("content-encoding"))
    return {"id": record.rec_headers.get_header("WARC-Record-ID") or "", "uri": uri,
            "status": status, "headers": headers, "body": body, "body_unknown": body_unknown,
            "started": _warc_time(record), "offset": None}


def _warc_flow(path: Path, state: dict[str, int], response: dict[str, Any],
               request: dict[str, Any] | None) -> FlowRecord:
    index = state["index"]
    state["index"] = index + 1
    return FlowRecord(
        file=str(path), index=index, offset=response["offset"], started=response["started"],
        method=request["method"] if request else "GET", url=response["uri"],
        request_headers=dict(request["headers"]) if request else {},
        request_body=request["body"] if request else b"",
        status=response["status"], response_headers=response["headers"],
        response_body=response["body"],
        error=None if response["status"] is not None else response.get("failure",
                                                                      "no_status_line"),
        body_unknown=bool(response.get("body_unknown")),
    )
