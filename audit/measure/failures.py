"""The failure vocabulary: every word an observation's `failure`, a hop that got no answer or
a seed error can carry, what each means, and how each transport's errors become one.

A failure word is a fixed token, in the style of OONI's failure strings, sometimes with one
detail after a colon that hulian itself knows to be bounded (a status code, a host, a hop
count). It never carries an exception's text or anything else a server chose: a hostile
server must not be able to write into the record, and the same failure must read the same
whichever engine, or capture tool, met it. The exception's own text goes to the log.

The mappings, one per transport:
- `for_exception`: hulian's own client and the asyncio engine (audit/measure/asyncio/http1.py,
audit/measure/asyncio/fetch.py);
- spiders/failures.py `failure_reason`: the Scrapy engine's Twisted and Scrapy failures, by
  exception type (it is there because it imports Twisted; it is the only Scrapy mapping);
- `for_capture`: the error texts capture tools record (mitmproxy, HAR, WARC readers).

`download_error:bad_response` is defined here too, by the limits and rules below, which both
engines' HTTP parsers apply alike (llhttp in audit/measure/asyncio/http1.py; the Twisted parser
in spiders/failures.py).
"""

from __future__ import annotations

import errno
import logging
import re
import socket
import ssl

from audit.measure.guard import Refused
from audit.web.fields import TOKEN_CHAR

logger = logging.getLogger(__name__)

# -- the words --------------------------------------------------------------------------------

# An exchange that produced no usable HTTP response.
TIMEOUT = "timeout"
DNS_ERROR = "dns_error"
CONNECTION_REFUSED = "connection_refused"
CONNECTION_RESET = "connection_reset"
TLS_ERROR = "tls_error"
TOO_LARGE = "too_large"
BAD_RESPONSE = "download_error:bad_response"
BAD_URL = "bad_url"
UNKNOWN = "download_error:unknown"
# What the auditor itself refused, without a request.
PRIVATE_ADDRESS = "private_address"  # always with the host: private_address:HOST
ROBOTS_DISALLOWED = "robots_disallowed"
# --render only: Chromium gave no page within the download timeout (a script holding its main
# thread after load, say), though the server may have answered.
RENDER_TIMEOUT = "render_timeout"
# --render only: the page crashed Chromium's renderer, or Playwright's driver or Chromium
# itself died during the render (the renders after it get a new one).
RENDER_CRASHED = "render_crashed"
# Capture tools only.
NO_RESPONSE = "no_response"
CAPTURE_ERROR = "capture_error"
UNDECODABLE = "undecodable"
NO_LINKS = "no_links"
NOT_A_PAGE = "not_a_page"

# Bounds on a response head, applied while reading by both engines' parsers. They are a
# browser's, not a library's: a platform's page with a head a browser shows (Chromium reads
# heads of up to 256 KiB, in lines of any length within it) must not read as an unreadable
# answer, or a block page with one 20 KB cookie or 1,001 header lines would be an
# inconclusive `bad_response` (an adversarial review found both). 4,000 lines is forty times
# the largest heads real sites send; past it a head is an attack on the parser's time
# (100,000 fields in 0.7 MB took Twisted longer than the download timeout).
MAX_HEAD_BYTES = 1 << 20
MAX_LINE_BYTES = 256 * 1024
MAX_HEAD_LINES = 4000

# Every word, with its meaning: the one place that says what a failure word is. Words with a
# detail are listed by their prefix and the detail's name.
VOCABULARY: dict[str, str] = {
    TIMEOUT: "no complete response within the download timeout (a silent server, a head or "
             "body trickling in)",
    DNS_ERROR: "the host name did not resolve",
    CONNECTION_REFUSED: "the connection was refused (by the host, or by the proxy of a route "
                        "when asked for a tunnel)",
    CONNECTION_RESET: "the connection was reset, closed or unreachable before the response was "
                      "complete (an empty answer, a body shorter than its Content-Length, a "
                      "chunked body cut off)",
    TLS_ERROR: "the TLS handshake failed",
    TOO_LARGE: "the body passed the size limit (DOWNLOAD_MAXSIZE, 32 MB): as declared, as "
               "transferred, or after content decoding (a compression bomb)",
    BAD_RESPONSE: "the answer is not an HTTP/1.x response hulian can read: no status line "
                  "(HTTP/0.9, another protocol), a status outside 100-599 or not three digits, "
                  f"a head over {MAX_HEAD_BYTES >> 20} MB, {MAX_HEAD_LINES:,} lines or a "
                  f"{MAX_LINE_BYTES >> 10} KiB line, a header line that is not "
                  "`token: value`, a NUL or a bare CR in the head, a framing error "
                  "(Content-Length, chunked)",
    RENDER_TIMEOUT: "(--render) Chromium gave no page within the download timeout: a script "
                    "that holds the browser after the page loaded, say (the page was closed)",
    RENDER_CRASHED: "(--render) the page crashed Chromium's renderer (past its JavaScript heap "
                    "bound, say), or Playwright's driver or Chromium itself died during the "
                    "render, again when tried once more (the renders after it get a new "
                    "browser)",
    BAD_URL: "a URL that cannot be requested (scheme, host, port, a line break in it)",
    UNKNOWN: "a transport failure hulian has no word for (its text is in the log)",
    f"{PRIVATE_ADDRESS}:HOST": "the private-address guard refused HOST (no request was made)",
    ROBOTS_DISALLOWED: "robots.txt disallows the URL (--robots obey; no request was made)",
    "redirect_loop": "the chain came back to a URL it had visited (HTTP, meta refresh or "
                     "script redirects)",
    "hop_limit:N": "the chain was longer than N hops",
    "bad_location": "a redirect's Location is not a URL that can be followed",
    "rate_limited:STATUS": "the server kept answering 429 after the retries",
    "anti_bot:STATUS": "an anti-bot answer (403, 566): the auditor was refused, not the link",
    "anti_bot:captcha": "a captcha or unusual-traffic page",
    "login_wall": "an interception endpoint asked to log in",
    "endpoint_error_page": "an interception endpoint showed an error page",
    "endpoint_empty": "an interception endpoint answered an empty page",
    "endpoint_error:STATUS": "an interception endpoint answered an HTTP error status",
    "unjudgeable_page": "a page that says nothing about the link",
    "parse_crash": "the page crashed the page parser (recorded, not parsed again)",
    "parse_timeout": "the page held the page parser past its budget (recorded, not parsed "
                     "again)",
    "http_STATUS": "(seed pages) the seed page answered an HTTP error status",
    "redirect:STATUS": "(seed pages) the seed page redirects: give the page it leads to as "
                       "the seed",
    NO_LINKS: "(seed pages) the seed page gave no link to measure: empty, not HTML, a page "
              "that only forwards (by refresh or script), or one without an outbound link",
    NOT_A_PAGE: "(seed pages) a browser would not show the seed page as an HTML page (a "
                "download, another Content-Type, text under nosniff): no link of it is one a "
                "person could follow",
    UNDECODABLE: "(seed pages, robots.txt) the body is in a content coding hulian does not "
                 "decode (Brotli, zstd): a seed page's links cannot be read, a robots.txt is "
                 "read as unreachable",
    "parse_issue:WHAT": "(seed pages) some links of the page are not measured: the parser had "
                        "to cut it (truncated, depth_cut), it has more links than a seed plans "
                        "(too_many_links) or links too long (long_links); several joined by +",
    NO_RESPONSE: "(captures) a request the capture holds no response or error for",
    CAPTURE_ERROR: "(captures) the capture tool recorded an error hulian has no word for",
}

_DETAILED = re.compile(
    r"(?:private_address:\S+|hop_limit:\d+|rate_limited:\d{3}|anti_bot:(?:\d{3}|captcha)"
    r"|endpoint_error:\d{3}|http_\d{3}|redirect:\d{3}|parse_issue:[a-z_]+(?:\+[a-z_]+)*)")


def known(word: str) -> bool:
    """Whether `word` belongs to the vocabulary (the tests hold every recorded word to it)."""
    return word in VOCABULARY or _DETAILED.fullmatch(word) is not None


# -- what a readable response is ----------------------------------------------------------------


# RFC 9112 §4 (status-line): one space after the version (llhttp's reading; this once allowed
# several, which llhttp refuses, and the RFC has one), the reason phrase may be missing.
STATUS_LINE = re.compile(r"HTTP/1\.([01]) (\d{3})(?: (.*))?")
# RFC 9110 §5.1: a field name is a token, nothing around it (`Content-Length : 5` is not the
# Content-Length, and reading it as one, or not, is how requests get smuggled).
_TOKEN = TOKEN_CHAR.encode()
HEADER_NAME = re.compile(_TOKEN.decode() + "+")
# RFC 9112 §7.1 chunked framing as llhttp reads it for hulian's client (the Scrapy engine's
# Twisted decoder is held to it in spiders/failures.py): a size line of hex digits (a size
# under 2**64) and extensions `;name` or `;name=value` (a token, or a quoted string; llhttp
# lets the name or the value be empty, but not a `;` end the line), no whitespace, ending in
# CRLF; data followed by exactly CRLF; trailer lines `name: value` without control characters
# (read strictly, without the head's leniencies). A bare LF or CR anywhere in the framing is
# an error at once. With Twisted's bounds (which llhttp has not; hulian's client keeps them):
# a size line under 1 KB, at most 64 KB of trailer fields.
CHUNK_SIZE_LINE = re.compile(
    rb"([0-9A-Fa-f]+)(?:;" + _TOKEN + rb"*(?:=(?:" + _TOKEN
    + rb'*|"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"))?)*(?<!;)')
TRAILER_LINE = re.compile(_TOKEN + rb"+:[\t\x20-\x7e\x80-\xff]*")
MAX_CHUNK_LINE_BYTES = 1024
MAX_TRAILER_BYTES = 1 << 16


def valid_status(status: int) -> bool:
    """RFC 9110 §15: a status code is three digits, 100 to 599. Anything else (000, 600, 999)
    is not HTTP, whatever a browser makes of it: `download_error:bad_response`, at every hop,
    control fetch, seed and robots.txt, in both engines and in captures."""
    return 100 <= status <= 599


def bad_field(text: str) -> bool:
    """RFC 9110 §5.5: a field value with NUL, or a CR that does not end its line, must be
    rejected (or blanked); hulian rejects it, as h11 and llhttp do. `text` is the head (or a
    line) with its CRLF line ends already taken off."""
    return "\0" in text or "\r" in text


def not_http(start: bytes) -> bool:
    """Whether the first bytes of an answer (any number) already show it is not HTTP/1.x,
    which every response starts with: HTTP/0.9 (a body without a head), another protocol."""
    return not b"HTTP/".startswith(start[:5])


# -- exceptions that already know their word ----------------------------------------------------

class Failed(Exception):
    """A failure whose word is known where it is raised; `reason` is the word, the message
    the detail for the log."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


class BadResponse(Failed):
    """What came back is not an HTTP/1.x response hulian can read. The engine's parser sets
    `received` to the first bytes of the answer (at most RECEIVED_KEEP_BYTES; `cut` when
    there were more), which the hop's evidence keeps (WarcLog.unreadable)."""

    def __init__(self, detail: str) -> None:
        super().__init__(BAD_RESPONSE, detail)
        self.received: bytes | None = None
        self.cut = False


# What the evidence keeps of an unreadable answer: its first bytes, where what made it
# unreadable almost always is (a status line, a head, the first chunks' framing). Both engines'
# parsers keep this much of every response while reading it, so it is bounded per connection.
RECEIVED_KEEP_BYTES = 64 * 1024


class Received:
    """The first RECEIVED_KEEP_BYTES of one answer as it arrives, and whether there were more.
    Used by both engines' parsers."""

    __slots__ = ("kept", "total")

    def __init__(self) -> None:
        self.kept = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = RECEIVED_KEEP_BYTES - len(self.kept)
        if room > 0:
            self.kept += data[:room]

    def attach(self, exc: BaseException) -> None:
        """Give the exception that ends the reading the bytes read so far (`received_of`
        reads them back): a BadResponse, or the Scrapy engine's parser's own errors."""
        if getattr(exc, "received", None) is None:
            exc.received = bytes(self.kept)  # type: ignore[attr-defined]
            exc.cut = self.total > len(self.kept)  # type: ignore[attr-defined]


def received_of(exc: BaseException | None) -> tuple[bytes, bool] | None:
    """The answer's first bytes, and whether they were cut, that a parser attached to the
    exception that ended it; None when it attached none."""
    received = getattr(exc, "received", None)
    return (received, bool(getattr(exc, "cut", False))) if isinstance(received, bytes) else None


class TooLarge(Failed):
    """The body passed the size limit."""

    def __init__(self, detail: str) -> None:
        super().__init__(TOO_LARGE, detail)


# -- asyncio: hulian's own client ----------------------------------------------------------------

def _all_refused(exc: OSError) -> bool:
    """The standard loop's error for a name with several addresses that all failed is one
    OSError without an errno ("Multiple exceptions: [Errno 111] ..., [Errno 111] ...");
    uvloop raises the first ConnectionRefusedError. Both are a refusal."""
    text = str(exc)
    return (exc.errno is None and text.startswith("Multiple exceptions:")
            and text.count("[Errno ") == text.count(f"[Errno {errno.ECONNREFUSED}]") > 0)


def for_exception(exc: BaseException) -> str:
    """The word for an exchange of the asyncio engine that produced no HTTP response. The
    order matters: TLS and DNS errors are OSErrors too."""
    if isinstance(exc, Failed | Refused):
        return exc.reason
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is the same class since 3.11
        return TIMEOUT
    if isinstance(exc, socket.gaierror):
        return DNS_ERROR
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return TLS_ERROR
    if isinstance(exc, ConnectionRefusedError):
        return CONNECTION_REFUSED
    if isinstance(exc, ConnectionError):  # reset, aborted, broken pipe, closed mid-response
        return CONNECTION_RESET
    if isinstance(exc, OSError):
        if exc.errno == errno.ECONNREFUSED or _all_refused(exc):
            return CONNECTION_REFUSED
        # Unreachable hosts and networks (EHOSTUNREACH, ENETUNREACH ...): the connection
        # could not be made, which is what a reset looks like to the auditor.
        return CONNECTION_RESET
    if isinstance(exc, ValueError):  # a URL a hostile page carries that cannot be requested
        return BAD_URL
    logger.warning("download failed in a way hulian has no word for: %s: %s",
                   type(exc).__name__, exc)
    return UNKNOWN


# -- captures ------------------------------------------------------------------------------------

# Fragments of the error texts of mitmproxy ("Server disconnected.", "TLS handshake failed"),
# Chrome's HAR `_error` (net::ERR_CONNECTION_REFUSED ...), Firefox and the WARC reader
# ("no_status_line"), most specific first.
_CAPTURE_TEXTS: tuple[tuple[str, str], ...] = (
    ("no_status_line", BAD_RESPONSE), ("invalid_http_response", BAD_RESPONSE),
    ("invalid_chunked_encoding", BAD_RESPONSE), ("multiple_content_length", BAD_RESPONSE),
    ("protocol error", BAD_RESPONSE), ("bad response", BAD_RESPONSE),
    ("bad_response", BAD_RESPONSE),  # hulian's own WARCs (WARC-Hulian-Failure)
    ("headers_too_big", BAD_RESPONSE), ("content_length_mismatch", CONNECTION_RESET),
    ("empty_response", CONNECTION_RESET),
    ("timeout", TIMEOUT), ("timed out", TIMEOUT), ("timed_out", TIMEOUT),
    ("refused", CONNECTION_REFUSED),
    ("name_not_resolved", DNS_ERROR), ("name resolution", DNS_ERROR), ("dns", DNS_ERROR),
    ("not known", DNS_ERROR),
    ("tls", TLS_ERROR), ("ssl", TLS_ERROR), ("certificate", TLS_ERROR), ("cert_", TLS_ERROR),
    ("reset", CONNECTION_RESET), ("closed", CONNECTION_RESET), ("disconnected", CONNECTION_RESET),
    ("incomplete_chunked_encoding", CONNECTION_RESET), ("killed", CONNECTION_RESET),
    ("too large", TOO_LARGE), ("too_large", TOO_LARGE),
)


def for_capture(error: str | None) -> str:
    """A capture tool's error text (None: it recorded neither a response nor an error) as
    a word of the vocabulary."""
    if not error or error == NO_RESPONSE:
        return NO_RESPONSE
    text = error.lower()
    for needle, word in _CAPTURE_TEXTS:
        if needle in text:
            return word
    return CAPTURE_ERROR
