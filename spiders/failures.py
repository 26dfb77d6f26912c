"""The Scrapy engine's side of the failure vocabulary (audit/measure/failures.py): its Twisted and
Scrapy failures as words, by exception type, and Twisted's response parser held to the same
rules of a readable response as hulian's own client, so that both engines give one hostile
server the same word.

The only place that maps a Scrapy failure to a word; it is here, not in audit/measure/failures.py,
because it imports Scrapy and Twisted.
"""

from __future__ import annotations

import logging

from OpenSSL import SSL
from scrapy.core.downloader.handlers.http11 import TunnelError
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
    UnsupportedURLSchemeError,
)
from twisted.internet import error as tx
from twisted.python.failure import Failure
from twisted.web import _newclient
from twisted.web.client import ResponseFailed
from twisted.web.http import (
    PotentialDataLoss,
    _ChunkedTransferDecoder,
    _DataLoss,
    _MalformedChunkedDataError,
)

from audit.measure import failures
from audit.measure.failures import (
    CHUNK_SIZE_LINE,
    HEADER_NAME,
    MAX_HEAD_BYTES,
    MAX_HEAD_LINES,
    MAX_LINE_BYTES,
    STATUS_LINE,
    TRAILER_LINE,
    Received,
    bad_field,
    not_http,
    valid_status,
)
from audit.measure.guard import Refused
from audit.web.fields import FIELD_WHITESPACE

try:  # what Scrapy's HttpCompressionMiddleware raises (as an IgnoreRequest) for a bomb
    from scrapy.utils._compression import _DecompressionMaxSizeExceeded
except ImportError:  # pragma: no cover - a Scrapy that renamed it: bombs read as unknown
    _DecompressionMaxSizeExceeded = type("_NeverRaised", (Exception,), {})  # type: ignore[assignment,misc]

logger = logging.getLogger(__name__)

# The connection ended (or was ended) before the response was complete: what hulian's client
# calls a reset. Twisted reports a body cut short as _DataLoss beside the connection's end.
_CONNECTION_ENDED = (tx.ConnectionClosed, tx.ConnectError, _newclient.ConnectionAborted,
                     _DataLoss, PotentialDataLoss, ConnectionError)


class PrivateAddress(IgnoreRequest):
    """A request into private, loopback or link-local address space was refused; `reason`
    is the failure word (private_address:HOST). Raised by middlewares.AddressGuardMiddleware;
    here, with the other failures, so that the middlewares can import this module."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RenderTimeout(Exception):
    """--render: Chromium gave no page within the request's download timeout
    (spiders/browser.py)."""


class RenderTooLarge(Exception):
    """--render: the page's document grew past DOWNLOAD_MAXSIZE, the bound a fetched page has
    (spiders/browser.py); `too_large`. Its content was never asked for: Playwright's driver
    ran out of memory sending a 300 MB DOM, and every later render of the run failed (review
    144)."""


class RenderCrashed(Exception):
    """--render: the page crashed Chromium's renderer, or Playwright's driver or Chromium died
    during the render, again when it was tried once more (spiders/browser.py);
    `render_crashed`."""


class RenderedDownload(Exception):
    """--render: the browser would save the answer as a file, not show it (downloads are
    refused: spiders/settings.py); a seed page so answered is `not_a_page`, as the other
    engines read it."""


def failure_reason(failure: Failure) -> str:
    """The word for a Scrapy download that produced no usable HTTP response."""
    return for_exception(failure.value) if failure.value is not None else failures.UNKNOWN


def for_exception(exc: BaseException) -> str:
    if isinstance(exc, PrivateAddress):
        return exc.reason
    if isinstance(exc, IgnoreRequest):
        if isinstance(exc.__cause__, _DecompressionMaxSizeExceeded):
            return failures.TOO_LARGE
        logger.warning("request ignored for a reason hulian has no word for: %s", exc)
        return failures.UNKNOWN
    if isinstance(exc, RenderedDownload):
        return failures.NOT_A_PAGE
    if isinstance(exc, RenderTimeout):
        return failures.RENDER_TIMEOUT
    if isinstance(exc, RenderTooLarge):
        return failures.TOO_LARGE
    if isinstance(exc, RenderCrashed):
        return failures.RENDER_CRASHED
    if isinstance(exc, DownloadTimeoutError | tx.TimeoutError | tx.TCPTimedOutError):
        return failures.TIMEOUT
    if isinstance(exc, CannotResolveHostError | tx.DNSLookupError):
        return failures.DNS_ERROR
    if isinstance(exc, DownloadConnectionRefusedError | tx.ConnectionRefusedError | TunnelError):
        return failures.CONNECTION_REFUSED
    if isinstance(exc, DownloadCancelledError):
        # Scrapy cancels a download only past DOWNLOAD_MAXSIZE (declared or received); its
        # timeouts are DownloadTimeoutError.
        return failures.TOO_LARGE
    if isinstance(exc, DownloadFailedError | ResponseDataLossError):
        # Scrapy's wrappers of Twisted's ResponseFailed: what went wrong is in its reasons.
        cause = exc.__cause__
        return _from_reasons(cause.reasons) if isinstance(cause, ResponseFailed) \
            else failures.CONNECTION_RESET
    if isinstance(exc, _newclient.RequestGenerationFailed):
        return failures.BAD_URL
    if isinstance(exc, ResponseFailed | _newclient.RequestTransmissionFailed):
        return _from_reasons(exc.reasons)
    if isinstance(exc, SSL.Error):
        return failures.TLS_ERROR
    if isinstance(exc, _CONNECTION_ENDED):
        return failures.CONNECTION_RESET
    if isinstance(exc, UnsupportedURLSchemeError):
        return failures.BAD_URL
    if isinstance(exc, Refused):
        return exc.reason
    return failures.for_exception(exc)  # Python's own exceptions read as in the asyncio engine


def received_for(exc: BaseException) -> tuple[bytes, bool] | None:
    """The first bytes of an answer BoundedResponseParser refused to read, and whether they
    were cut, from the reason it gave (failures.received_of); None for any other failure."""
    failed = exc.__cause__ if isinstance(exc, DownloadFailedError | ResponseDataLossError) \
        else exc
    if not isinstance(failed, ResponseFailed) or for_exception(exc) != failures.BAD_RESPONSE:
        return None
    for reason in failed.reasons:
        found = failures.received_of(reason.value)
        if found is not None:
            return found
    return None


def _from_reasons(reasons: list[Failure]) -> str:
    """A failed response's reasons: TLS, the connection's end, or else what the parser (the
    bounded one below, Twisted's chunked decoder ...) refused to read."""
    values = [reason.value for reason in reasons]
    if any(isinstance(value, SSL.Error) for value in values):
        return failures.TLS_ERROR
    if all(isinstance(value, _CONNECTION_ENDED) for value in values):
        return failures.CONNECTION_RESET
    return failures.BAD_RESPONSE


class Unreadable(Exception):
    """What BoundedResponseParser refused to read (a reason of the ResponseFailed)."""


class BoundedChunkedDecoder(_ChunkedTransferDecoder):
    """Twisted's chunked decoder held to chunked framing as llhttp reads it for hulian's
    client (audit/measure/failures.py, CHUNK_SIZE_LINE): a size line by llhttp's grammar and
    under 2**64, trailer lines `name: value`, and a bare LF or CR in a line, or anything but
    CRLF after a chunk's data, refused as soon as it arrives (Twisted would wait for a CRLF
    that never comes, and time out). Twisted's own
    bounds stay: a size line under 1 KB, trailers under 64 KB (the client keeps them too)."""

    def _dataReceived_CHUNK_LENGTH(self) -> bool:
        line = self._line()
        if line is not None and len(line) < 1024:  # longer: Twisted's own error
            size = CHUNK_SIZE_LINE.fullmatch(line)
            if size is None or int(size.group(1), 16) >> 64:
                raise _MalformedChunkedDataError("chunk size line as llhttp reads it")
        return bool(super()._dataReceived_CHUNK_LENGTH())

    def _dataReceived_CRLF(self) -> bool:
        if not b"\r\n".startswith(bytes(self._buffer[:2])):  # Twisted waits for two bytes
            raise _MalformedChunkedDataError("chunk data not followed by CRLF")
        return bool(super()._dataReceived_CRLF())

    def _dataReceived_TRAILER(self) -> bool:
        line = self._line()
        if line and TRAILER_LINE.fullmatch(line) is None:
            raise _MalformedChunkedDataError("trailer line as llhttp reads it")
        return bool(super()._dataReceived_TRAILER())

    def _line(self) -> bytes | None:
        """The line at the start of the buffer once its CRLF has come (None before); a bare
        LF or CR in it is refused at once."""
        buffer = self._buffer
        end = buffer.find(b"\r\n")
        line = bytes(buffer if end < 0 else buffer[:end])
        if b"\n" in line or b"\r" in line.removesuffix(b"\r" if end < 0 else b""):
            raise _MalformedChunkedDataError("a bare LF or CR in chunked framing")
        return None if end < 0 else line


class BoundedResponseParser(_newclient.HTTPClientParser):
    """Twisted's response parser, held to audit/measure/failures.py's rules of a readable response
    while it reads, as audit/measure/asyncio/http1.py is: the first bytes must start an HTTP/1.x
    status line,
    a status line must be one and its status within 100-599, and the head has a byte, line
    and line-length limit and no NUL or bare CR. Unbounded, Twisted parsed 100 MB of header
    lines until the timeout, and read `HTTP/1.1 000` as status 0. What it refuses ends the
    response as a ResponseFailed for Unreadable: `download_error:bad_response`. One
    Content-Length field of digits, as llhttp reads it (Twisted takes equal repeats), and
    chunked bodies through BoundedChunkedDecoder."""

    # Twisted picks the decoder from this mapping (declared on its class, not a ClassVar).
    _transferDecoders = {b"chunked": BoundedChunkedDecoder}  # noqa: RUF012

    MAX_LENGTH = MAX_LINE_BYTES

    def connectionMade(self) -> None:  # also called to read the head after a 1xx response
        super().connectionMade()  # type: ignore[no-untyped-call]
        self._length_seen = False
        self._head_bytes = 0
        self._head_lines = 0
        # The first bytes of the connection's answer; after a 1xx head, the next head is
        # already in Twisted's line buffer, and its status line is checked when it is read.
        self._start: bytes = getattr(self, "_start", b"")
        # The answer's first bytes, across the heads of 1xx responses too.
        self._received: Received = getattr(self, "_received", None) or Received()

    def dataReceived(self, data: bytes) -> None:
        self._received.add(data)
        try:
            if self.state == _newclient.STATUS and len(self._start) < 5:
                self._start += data[:5 - len(self._start)]
                if not_http(self._start):
                    raise Unreadable("not an HTTP/1.x response", self._start)
            super().dataReceived(data)  # type: ignore[no-untyped-call]
        except Exception as exc:
            # What was read of the answer goes with the reason, for its WARC record
            # (middlewares.WarcEvidenceMiddleware.process_exception).
            self._received.attach(exc)
            raise

    def lineReceived(self, line: bytes) -> None:
        if self.state in (_newclient.STATUS, _newclient.HEADER):
            self._head_bytes += len(line) + 1
            self._head_lines += 1
            if self._head_bytes > MAX_HEAD_BYTES:
                raise Unreadable("response head too large", b"")
            if self._head_lines > MAX_HEAD_LINES:
                raise Unreadable("too many header lines", b"")
            if bad_field((line[:-1] if line.endswith(b"\r") else line).decode("latin-1")):
                raise Unreadable("NUL or bare CR in the response head", line[:60])
        if self.state == _newclient.HEADER:
            self._header_line(line[:-1] if line.endswith(b"\r") else line)
            return
        super().lineReceived(line)  # type: ignore[no-untyped-call]

    def _header_line(self, line: bytes) -> None:
        """Twisted's reading of a head line (a field, a continuation, or the head's end),
        with one change: a value is trimmed of space and tab only (FIELD_WHITESPACE), where
        Twisted's bytes.strip() also took \x0b and \x0c, and the asyncio engine's llhttp
        reading keeps them."""
        partial: list[bytes] | None = self._partialHeader
        if line and line[:1] in (b" ", b"\t"):
            if partial is not None:
                partial.append(line)  # obs-fold: a continuation, joined as Twisted joins it
            return
        if partial is not None:
            name, value = b"".join(partial).split(b":", 1)
            self.headerReceived(name, value.strip(FIELD_WHITESPACE.encode()))
        if line:
            self._partialHeader = [line]
        else:
            self.allHeadersReceived()  # type: ignore[no-untyped-call]

    def lineLengthExceeded(self, line: bytes) -> None:
        # Twisted would only drop the connection, which reads as a reset.
        raise Unreadable("header line too long", line[:60])

    def statusReceived(self, status: bytes) -> None:
        match = STATUS_LINE.fullmatch(status.decode("latin-1").rstrip())
        if match is None or not valid_status(int(match.group(2))):
            raise Unreadable("not an HTTP/1.x status line", status[:60])
        minor, code, reason = match.groups()
        # Twisted splits on single spaces; the line as audit/measure/asyncio/http1.py reads it.
        super().statusReceived(  # type: ignore[no-untyped-call]
            f"HTTP/1.{minor} {code} {reason or ''}".encode("latin-1"))

    def headerReceived(self, name: bytes, value: bytes) -> None:
        if not HEADER_NAME.fullmatch(name.decode("latin-1")):  # Twisted's own rule too
            raise Unreadable("a header name that is not a token", name[:60])
        if name.lower() == b"content-length":
            digits = value.strip(b" \t")
            if self._length_seen or not (digits.isdigit() and digits.isascii()):
                raise Unreadable("a Content-Length llhttp refuses", value[:60])
            self._length_seen = True
        super().headerReceived(name, value)  # type: ignore[no-untyped-call]


def bound_responses() -> None:
    """Make every response Twisted's HTTP/1.1 client reads in this process go through
    BoundedResponseParser. Twisted offers no setting for its parser: HTTP11ClientProtocol
    builds one per request from the module's name, so the name is what is replaced (for the
    Scrapy engine's process only; it runs one crawl)."""
    _newclient.HTTPClientParser = BoundedResponseParser  # type: ignore[misc]
