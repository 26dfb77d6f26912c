"""Everything that touches mitmproxy: reading `.mitm` flow dumps (through mitmproxy's own
tnetstring module and format migration) and the live addon that attributes, marks and judges
flows while an app is being tested (`mitmdump -s audit/measure/capture/addon.py`).

Why not just `mitmproxy.io.FlowReader`: it parses every field of a serialized flow and then
builds full flow objects (connections, certificates, timestamps), about 1,300 flows/s here.
The analysis needs a dozen fields per flow, so the fast path splits each record's top-level
dict by its length prefixes, has mitmproxy's `tnetstring` parse just the keys and the
`version`, `type`, `request`, `response` and `error` values, and skips the rest (client and
server connections, certificates, metadata) unparsed. Dumps of an older format version are
parsed whole and go through `mitmproxy.io.compat.migrate_flow`, exactly as FlowReader reads
them. No tnetstring parser of hulian's own: only the length-prefix skip above.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from mitmproxy import exceptions, http
from mitmproxy import flow as mflow
from mitmproxy import io as mio
from mitmproxy.io import compat, tnetstring
from mitmproxy.version import FLOW_FORMAT_VERSION

from audit.measure.capture import redact
from audit.measure.capture.formats import (
    MAX_BODY,
    MAX_RECORD_BYTES,
    MAX_REQUEST_BODY,
    CaptureError,
    FlowRecord,
    add_header,
    keep_response_body,
    plausible_time,
)
from audit.web.codings import undo_codings

logger = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}


# ---------------------------------------------------------------------------------------
# Flow records: mitmproxy's tnetstring module, on the values the analysis reads
# ---------------------------------------------------------------------------------------


def _value_end(view: memoryview) -> int:
    """Where the tnetstring at the start of `view` ends, from its length prefix alone (the
    value is not parsed). The prefix is read at most 12 digits deep and must fit what holds
    it: mitmproxy's parser reads a prefix up to the first colon, however far that is."""
    head = bytes(view[:13])
    colon = head.find(b":")
    digits = head[:colon] if colon > 0 else b""
    if not digits.isdigit():
        raise ValueError(f"not a tnetstring: invalid length prefix {head[:12]!r}")
    end = colon + 1 + int(digits) + 1
    if end > len(view):
        raise ValueError("not a tnetstring: a value overruns its container")
    return end


def _fields(data: bytes) -> dict[Any, memoryview]:
    """The top-level dict of one flow record: key -> its value's tnetstring, unparsed. Keys
    are parsed by mitmproxy's module; a value is parsed only when the analysis reads it (the
    connections, certificates and other fields of a flow are most of its items)."""
    if not data or data[-1] != 125:
        raise ValueError("not a tnetstring: a flow record must be a dict")
    colon = data.index(b":", 0, 13)
    rest = memoryview(data)[colon + 1:-1]
    fields: dict[Any, memoryview] = {}
    while rest:
        key, rest = tnetstring.pop(rest)
        end = _value_end(rest)
        fields[key] = rest[:end]
        rest = rest[end:]
    return fields


def _value(fields: dict[Any, memoryview], key: str) -> Any:
    """A field's value by mitmproxy's parser; None when the record has no such field. Keys
    are text in every flow format mitmproxy 11 writes, bytes in some older ones."""
    raw = fields.get(key)
    if raw is None:
        raw = fields.get(key.encode())
    return None if raw is None else tnetstring.pop(raw)[0]


def _records(path: Path, fh: IO[bytes]) -> Iterator[tuple[int, int, bytes]]:
    """(index, offset, bytes) of each top-level tnetstring, read without parsing it."""
    index = 0
    offset = 0
    while True:
        head = fh.read(13)
        if not head:
            return
        colon = head.find(b":")
        digits = head[:colon] if colon > 0 else b""
        if not digits.isdigit():
            raise CaptureError(path, offset, "corrupt flow dump: no tnetstring length "
                               "prefix here (not a mitmproxy dump, or damaged)", flows_read=index)
        length = int(digits)
        if length > MAX_RECORD_BYTES:
            # Checked before reading: a 12-digit prefix would otherwise ask for a terabyte.
            raise CaptureError(path, offset, f"flow record {index} claims {length} bytes, "
                               f"more than the {MAX_RECORD_BYTES // 2**20} MB this reader "
                               "holds at once (damaged, or a flow with a huge body)",
                               flows_read=index)
        need = colon + 1 + length + 1
        data = head + fh.read(need - len(head)) if need > len(head) else head[:need]
        if need < len(head):
            fh.seek(offset + need)
        if len(data) < need:
            raise CaptureError(path, offset, f"truncated flow dump: the record of flow "
                               f"{index} needs {need} bytes, {len(data)} are left",
                               flows_read=index)
        yield index, offset, data
        offset += need
        index += 1


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return "" if value is None else str(value)


def _url(scheme: str, host: str, port: int, authority: str, path: str,
         host_header: str | None) -> str:
    """The URL as the client meant it: the Host header (or HTTP/2 authority) wins over the
    connection's address, as in mitmproxy's `pretty_url` (transparent mode has only IPs)."""
    netloc = host_header or authority
    if not netloc:
        netloc = host if _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    return f"{scheme}://{netloc}{path}"


def _headers(fields: Sequence[Sequence[bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in fields:
        add_header(headers, _text(name), _text(value))
    return headers


def _decode_body(raw: bytes | None, headers: dict[str, str]) -> bytes:
    """The body without its Content-Encoding, at most MAX_BODY bytes (cut there like every
    body a reader keeps), decoded with a bound (audit.web.codings): mitmproxy's own
    `encoding.decode` inflates a body whole, and a 300 KB gzip bomb took 300 MB before the
    cut (a review). A body that does not decode is kept as sent, with its header."""
    if not raw:
        return b""
    ce = headers.get("content-encoding")
    if ce:
        decoded = undo_codings(raw, ce, MAX_BODY)
        if decoded is not None:
            # Decoded: the header described the wire (kept only on what could not be).
            headers.pop("content-encoding", None)
            return decoded[0]
    return raw[:MAX_BODY]


def _record(file: str, index: int, offset: int | None, request: dict[str, Any],
            response: dict[str, Any] | None, error: dict[str, Any] | None) -> FlowRecord:
    """A FlowRecord from request/response/error states; both read paths end here."""
    req_headers = _headers(request.get("headers") or ())
    scheme = _text(request.get("scheme"))
    url = _url(scheme, _text(request.get("host")), int(request.get("port") or 0),
               _text(request.get("authority")), _text(request.get("path")),
               req_headers.get("host"))
    status = None
    resp_headers: dict[str, str] = {}
    body = b""
    body_unknown = False
    elapsed = None
    raw_started = request.get("timestamp_start")
    started = plausible_time(raw_started)
    if started is None and raw_started is not None:
        logger.warning("%s flow %d: timestamp_start %r is not a time; read as unknown (the "
                       "previous flow's time)", file, index, raw_started)
    if response is not None:
        status = int(response["status_code"])
        resp_headers = _headers(response.get("headers") or ())
        if keep_response_body(status, resp_headers, resp_headers.get("content-type", "")):
            # No content: mitmproxy streamed the body past itself (stream_large_bodies).
            body_unknown = response.get("content") is None
            body = _decode_body(response.get("content"), resp_headers)
        end = plausible_time(response.get("timestamp_end") or response.get("timestamp_start"))
        if started is not None and end is not None and end >= started:
            elapsed = round((end - started) * 1000, 1)
    content = request.get("content") or b""
    return FlowRecord(
        file=file, index=index, offset=offset,
        started=started,
        method=_text(request.get("method")).upper(), url=url, request_headers=req_headers,
        request_body=content[:MAX_REQUEST_BODY] if isinstance(content, bytes) else b"",
        status=status, response_headers=resp_headers, response_body=body,
        error=str(error.get("msg")) if isinstance(error, dict) else None, elapsed_ms=elapsed,
        body_unknown=body_unknown,
    )


_FLOW_KEYS = ("type", "request", "response", "error")


def iter_mitm(path: Path, *, fast: bool = True) -> Iterator[FlowRecord]:
    """HTTP flows of a mitmproxy dump, any format version mitmproxy 11 migrates. Non-HTTP
    flows (TCP, UDP, DNS) are skipped but counted in `index`."""
    if not fast:
        yield from _iter_flowreader(path)
        return
    with path.open("rb") as fh:
        for index, offset, data in _records(path, fh):
            try:
                fields = _fields(data)
                state: dict[Any, Any]
                if _value(fields, "version") == FLOW_FORMAT_VERSION:
                    state = {k: _value(fields, k) for k in _FLOW_KEYS}
                else:
                    # An older format: the whole record through mitmproxy's parser and its
                    # migration, as FlowReader reads it (_fields checked it is a dict).
                    whole = tnetstring.loads(data)
                    if not isinstance(whole, dict):
                        raise ValueError("a flow record must be a dict")
                    state = compat.migrate_flow(whole)
                if state.get("type") != "http" or not isinstance(state.get("request"), dict):
                    continue
                # Field values of the wrong type (a damaged or forged record) are damage too.
                record = _record(str(path), index, offset, state["request"],
                                 state.get("response"), state.get("error"))
            except (ValueError, IndexError, TypeError, KeyError, AttributeError) as exc:
                raise CaptureError(path, offset, _damage(exc, index), flows_read=index) from None
            except RecursionError:
                # mitmproxy's parser recurses per nested container; flows are ~5 deep.
                raise CaptureError(path, offset, f"flow record {index} is nested too deeply "
                                   "(damaged, or not a mitmproxy dump)", flows_read=index
                                   ) from None
            yield record


def _damage(exc: Exception, index: int) -> str:
    text = str(exc)
    if "cannot read files with flow format version" in text:
        return (f"{text.rstrip('.')}: this dump is older than anything mitmproxy 11 can "
                "migrate (mitmproxy 0.10 and earlier); open it with an old mitmproxy and save "
                "it again, or export it as HAR")
    # mitmproxy's parser names a bad type tag by its number and a bad number by the repr of a
    # memoryview ("<memory at 0x…>"): said in words here, so the error shows what is wrong.
    tag = _TAG_NUMBER.fullmatch(text)
    if tag is not None and int(tag[1]) < 0x110000:
        text = f"not a tnetstring: unknown type tag {chr(int(tag[1]))!r}"
    text = _MEMORY_REPR.sub("(a damaged number)", text)
    return f"corrupt flow record {index} ({text[:120]})"


_TAG_NUMBER = re.compile(r"unknown type tag: (\d+)")
_MEMORY_REPR = re.compile(r"<memory at 0x[0-9a-fA-F]+>")


def _iter_flowreader(path: Path) -> Iterator[FlowRecord]:
    """The reference path: mitmproxy's own FlowReader and flow objects (used to check the
    fast path, and by the benchmark)."""
    index = 0
    with path.open("rb") as fh:
        try:
            for item in mio.FlowReader(fh).stream():
                if isinstance(item, http.HTTPFlow):
                    yield record_from_flow(item, str(path), index)
                index += 1
        except exceptions.FlowReadException as exc:
            raise CaptureError(path, None, _damage(exc, index), flows_read=index) from None


def record_from_flow(flow: http.HTTPFlow, file: str = "live", index: int = 0,
                     offset: int | None = None) -> FlowRecord:
    request = flow.request.data
    req = {"scheme": request.scheme, "host": request.host, "port": request.port,
           "authority": request.authority, "path": request.path, "method": request.method,
           "headers": request.headers.fields, "content": request.content,
           "timestamp_start": request.timestamp_start}
    resp = None
    if flow.response is not None:
        data = flow.response.data
        resp = {"status_code": data.status_code, "headers": data.headers.fields,
                "content": data.content, "timestamp_start": data.timestamp_start,
                "timestamp_end": data.timestamp_end}
    error = {"msg": flow.error.msg} if flow.error is not None else None
    return _record(file, index, offset, req, resp, error)


# ---------------------------------------------------------------------------------------
# The live addon
# ---------------------------------------------------------------------------------------



def redacted_copy(flow: mflow.Flow) -> mflow.Flow:
    """A copy of the flow fit to be kept as evidence: credentials and personal data out."""
    copy: mflow.Flow = flow.copy()  # type: ignore[no-untyped-call]
    if isinstance(copy, http.HTTPFlow):
        for message in (copy.request, copy.response):
            if message is None:
                continue
            for name in list(message.headers.keys()):
                value = message.headers[name]
                masked = redact.headers({name: value})[name]
                if masked != value:
                    message.headers[name] = masked
            content = message.get_content(strict=False)
            if content and len(content) <= MAX_BODY:
                text = content.decode("utf-8", "surrogateescape")
                masked_text = redact.text(text)
                if masked_text != text:
                    message.headers.pop("content-encoding", None)
                    message.content = masked_text.encode("utf-8", "surrogateescape")
        masked_url = redact.url(copy.request.url)
        if masked_url and masked_url != copy.request.url:
            copy.request.url = masked_url
    return copy
