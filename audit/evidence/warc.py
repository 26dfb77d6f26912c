"""WARC evidence (ISO 28500, WARC/1.0): every request/response pair of a crawl as a `request`
and a `response` record (or a `conversion` record for a browser-rendered DOM, which is not
what came over the wire), each record its own gzip member, with SHA-1 block and payload
digests. Shared by both crawl engines.

The records are built and written by FastWARC (its WARC headers, record framing and block
digest, in C++); hulian supplies what only it knows: the HTTP message as transferred (the
head as received, the body before content decoding), the record ids the hops already cite,
and the gzip member around each record. The tests read the files back with warcio
(`warcio check`, the capture reader).
"""

from __future__ import annotations

import hashlib
import io
import logging
import random
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from fastwarc.warc import WarcRecord, WarcRecordType

logger = logging.getLogger(__name__)

# ISA-L's deflate (python-isal, a dependency, so installed with hulian wherever it has a
# wheel): the same standard gzip members as zlib writes, in about a third of the time at
# ISA-L's level 1, for ~4 % more bytes than zlib's level 6 (on the benchmark's pages: 13
# against 38 µs per record). FastWARC's own gzip stream is zlib's (level 1 there made
# members ~15 % larger and cost more than ISA-L's). Where python-isal cannot be installed,
# zlib writes the same records (the tests run both).
_isal_zlib: ModuleType | None
try:
    from isal import isal_zlib as _isal_zlib
except ImportError:  # an optional accelerator (a binary wheel): zlib does the same job
    _isal_zlib = None
ISAL_LEVEL = 1

Headers = list[tuple[str, str]]

REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 303: "See Other",
           304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
           400: "Bad Request", 403: "Forbidden", 404: "Not Found", 410: "Gone",
           429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}

# Level 6 (gzip's default): within a few per cent of level 9's size at a fraction of the time.
# memLevel 4 instead of 8: setting up zlib's state (~256 KB at 8) costs more than
# compressing a typical 4 KB page; the output differs by well under 1 %.
GZIP_LEVEL = 6
GZIP_MEM_LEVEL = 4


# The bits a version-4 UUID fixes (RFC 9562: version 4 in bits 48-51, variant 10 in 64-65).
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_record_id() -> str:
    """A WARC-Record-ID (`urn:uuid:`, version 4). Chosen here rather than by FastWARC: the
    crawl process must know a record's id before the recorder process writes it (the hop
    cites it at once). Uniqueness is all a record id needs, so the bits come from Python's
    generator (seeded from the OS) rather than a syscall per id, and are formatted directly
    (uuid.UUID costs more than the rest of an id)."""
    digits = f"{(random.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET:032x}"
    return (f"urn:uuid:{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-"
            f"{digits[20:]}")


_last_date: tuple[int, str] = (-1, "")


def warc_date(date: datetime | float | None = None) -> str:
    """WARC-Date (to the second, as WARC/1.0 has it; FastWARC writes WARC/1.1's microseconds)
    of a UTC datetime, a POSIX time or now; POSIX times are formatted once per second (a
    crawl writes hundreds of records a second)."""
    global _last_date
    if isinstance(date, datetime):
        return date.strftime("%Y-%m-%dT%H:%M:%SZ")
    stamp = time.time() if date is None else date
    if stamp < 0 or stamp % 1 >= 0.9999995:
        # Where datetime's rounding to microseconds reaches the next second (and before 1970,
        # where int() rounds the other way): as datetime has always formatted it.
        return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    second = int(stamp)
    last = _last_date  # one read: another thread may replace it meanwhile
    if second != last[0]:
        last = _last_date = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return last[1]


def _http_head(first_line: str, headers: Headers) -> bytes:
    """An HTTP message head from the header fields as received or sent (the record's block is
    the message, which FastWARC takes as bytes)."""
    text = "\r\n".join([first_line, *(f"{k}: {v}" for k, v in headers)])
    if text.count("\n") != len(headers) or "\r" in text.replace("\r\n", ""):
        # CR/LF inside a value would end the head early and misplace the payload (and its
        # digest): a hostile server must not shape the record, so line breaks are folded to
        # spaces. FastWARC does the same to the WARC headers' values.
        lines = [first_line]
        lines += [f"{k}: {v}".replace("\r", " ").replace("\n", " ") for k, v in headers]
        text = "\r\n".join(lines)
    return b"\r\n".join(_head_line(line) for line in text.split("\r\n")) + b"\r\n\r\n"


def _head_line(line: str) -> bytes:
    """A head line's bytes as received: the engines read each byte of a header as one
    character (latin-1), so latin-1 gives them back. Encoded as UTF-8, a header's bytes above
    0x7F were recorded as other bytes (`中` as `c3 a4 c2 b8 c2 ad`), the evidence altered
    unseen (an adversarial review). A line with wider characters (a browser's headers, as
    Playwright gives them) is UTF-8."""
    try:
        return line.encode("latin-1")
    except UnicodeEncodeError:
        return line.encode("utf-8", errors="replace")


def _gzip_member(data: bytes) -> bytes:
    if _isal_zlib is not None:
        compressed: bytes = _isal_zlib.compress(data, ISAL_LEVEL, 16 + zlib.MAX_WBITS)
        return compressed
    # The window needs to be no larger than the record: a smaller one compresses the same and
    # is set up in a fraction of the time (most records are a few kB).
    window = min(zlib.MAX_WBITS, max(10, (len(data) - 1).bit_length()))
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + window, GZIP_MEM_LEVEL)
    return compressor.compress(data) + compressor.flush()


def complete_length(path: Path, chunk_size: int = 1 << 20) -> int:
    """The length of the file's leading run of complete gzip members: where a crash (kill -9
    in the middle of writing a record) left a cut member or garbage, the evidence before it is
    whole and the rest is not. Reads the whole file (a resume's cost, once). Gzip framing, not
    WARC: FastWARC's and warcio's readers skip damage rather than say where it starts."""
    good = 0  # end of the last complete member
    position = 0  # file offset of data[0]
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    with path.open("rb") as file:
        while chunk := file.read(chunk_size):
            data = chunk
            while data:
                try:
                    inflater.decompress(data, 1 << 22)  # output bounded, and discarded
                except zlib.error:
                    return good
                if inflater.eof:
                    good = position = position + len(data) - len(inflater.unused_data)
                    data = inflater.unused_data
                    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                elif inflater.unconsumed_tail:
                    position += len(data) - len(inflater.unconsumed_tail)
                    data = inflater.unconsumed_tail
                else:
                    position += len(data)
                    data = b""
    return good


_TYPES = {"response": WarcRecordType.response, "request": WarcRecordType.request,
          "conversion": WarcRecordType.conversion, "resource": WarcRecordType.resource}
_EMPTY_SHA1 = hashlib.sha1(b"").digest()


def _record(record_type: str, url: str, date: str, block: bytes, *, content_type: str,
            record_id: str, payload: bytes | None, extra: Headers | None = None) -> bytes:
    """One record, gzipped. FastWARC writes the WARC headers (folding line breaks in their
    values, so a URL cannot forge a header), Content-Length and the block digest; the
    payload digest is computed over the payload hulian knows the bounds of (FastWARC would
    otherwise parse the HTTP head just written to find them)."""
    if not record_id.startswith("urn:"):
        raise ValueError(f"a WARC-Record-ID must be a URN: {record_id!r}")
    record = WarcRecord()
    record.init_headers(_TYPES[record_type], record_id[4:].encode())
    headers = record.headers
    headers.status_line = "WARC/1.0"
    headers.set("WARC-Date", date)
    # Bytes: a URL may hold lone surrogates (undecodable bytes kept by surrogateescape).
    headers.append_bytes(b"WARC-Target-URI", url.encode("utf-8", errors="replace"))
    for name, value in extra or ():
        headers.append(name, value)
    headers.append("Content-Type", content_type)
    record.set_bytes_content(block)
    buffer = io.BytesIO()
    if payload is None:
        record.write(buffer, checksum_data=True)
    else:
        record.write(buffer, checksum_data=True,
                     payload_digest=hashlib.sha1(payload).digest() if payload else _EMPTY_SHA1)
    return _gzip_member(buffer.getvalue())


class WarcLog:
    """An append-only, gzipped WARC file. Appending to an existing file is what a resumed run
    does: the records of the interrupted part stay where they are, and a record cut off by a
    crash is removed first (appending after it would make everything behind the cut
    unreadable)."""

    def __init__(self, path: Path, *, flush_each: bool = True):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        if path.exists() and path.stat().st_size:
            size = path.stat().st_size
            keep = complete_length(path)
            if keep < size:
                logger.warning("%s: removing %d bytes after the last complete record (a record "
                               "cut off by the interruption)", path, size - keep)
                with path.open("r+b") as file:
                    file.truncate(keep)
        self._file = path.open("ab")
        self._flush_each = flush_each

    def exchange(self, url: str, *, method: str, request_headers: Headers, request_body: bytes,
                 status: int, response_headers: Headers, payload: bytes,
                 reason: str | None = None, rendered_by: str | None = None,
                 record_id: str | None = None, date: datetime | float | None = None,
                 truncated: bool | str = False) -> str:
        """Write one exchange (the response record first, the request record citing it) and
        return the response record's id, which the hop cites as its evidence (`record_id`
        when the caller chose it beforehand).

        `payload` is the body as transferred (before content decoding); `truncated`: only
        its first bytes were read (`WARC-Truncated: length`, as a reader of the record needs
        to know that the Content-Length in the HTTP head is not the payload's), or the
        reason it was cut, a WARC-Truncated value (`time`: the answer did not end in time)."""
        date_text = warc_date(date)
        response_id = record_id or new_record_id()
        if rendered_by is not None:
            response = _record(
                "conversion", url, date_text, payload, content_type="text/html; charset=utf-8",
                record_id=response_id, payload=None,
                extra=[("WARC-Hulian-Rendered-By", rendered_by)])
        else:
            line = f"HTTP/1.1 {status} {reason if reason is not None else REASONS.get(status, '')}"
            block = _http_head(line.strip(), response_headers) + payload
            response = _record("response", url, date_text, block,
                               content_type="application/http; msgtype=response",
                               record_id=response_id, payload=payload,
                               extra=[("WARC-Truncated", truncated if isinstance(truncated, str)
                                       else "length")] if truncated else None)
        path = url.split("/", 3)[3] if url.count("/") >= 3 else ""
        request_block = _http_head(f"{method} /{path} HTTP/1.1", request_headers) + request_body
        request = _record("request", url, date_text, request_block,
                          content_type="application/http; msgtype=request",
                          record_id=new_record_id(), payload=request_body,
                          extra=[("WARC-Concurrent-To", f"<{response_id}>")])
        self._file.write(response + request)
        if self._flush_each:
            # To the OS at once: an observation citing this record may follow within
            # milliseconds, and a crash (kill -9) must not leave it citing nothing.
            self._file.flush()
        return response_id

    def unreadable(self, url: str, *, received: bytes, cut: bool, failure: str,
                   record_id: str | None = None, date: datetime | float | None = None) -> str:
        """Write the bytes of an answer that is not a readable HTTP response (`failure`,
        `download_error:bad_response`) and return the record's id, which the hop cites. A
        `resource` record, not a `response`: a WARC reader would parse a response record's
        block as HTTP, which these bytes are not. `cut`: only the first bytes were kept
        (`WARC-Truncated: length`)."""
        extra = [("WARC-Hulian-Failure", failure)]
        if cut:
            extra.append(("WARC-Truncated", "length"))
        resource_id = record_id or new_record_id()
        self._file.write(_record("resource", url, warc_date(date), received,
                                 content_type="application/octet-stream",
                                 record_id=resource_id, payload=received, extra=extra))
        if self._flush_each:
            self._file.flush()
        return resource_id

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()
