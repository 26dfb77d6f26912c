# Twisted's exception and Failure constructors are untyped; this module builds many of them.
# mypy: disable-error-code="no-untyped-call"
"""The failure vocabulary (audit/measure/failures.py) and its three mappings: hulian's client, the
Scrapy engine's Twisted and Scrapy failures (spiders/failures.py), capture tools' error
texts. Every word is in the vocabulary, and none carries what an exception or a server said.
The zoo (tests/test_zoo.py) holds the engines to the same words end to end."""

from __future__ import annotations

import errno
import random
import socket
import ssl
from pathlib import Path

import pytest
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
from scrapy.utils._compression import _DecompressionMaxSizeExceeded
from twisted.internet import error as tx
from twisted.python.failure import Failure
from twisted.web._newclient import ParseError, RequestGenerationFailed, ResponseNeverReceived
from twisted.web.client import ResponseFailed
from twisted.web.http import _DataLoss

from audit.measure import failures
from audit.measure.capture.chains import ChainBuilder
from audit.measure.capture.formats import FlowRecord
from audit.measure.failures import BadResponse, TooLarge, for_capture, for_exception, known
from audit.measure.guard import Refused
from audit.model import Probe, SurfaceKind
from audit.policy.catalog import load_catalog, policy_dirs
from spiders import failures as scrapy_failures
from spiders.failures import PrivateAddress
from tests.zoo import policies

HOSTILE = "<script>alert(1)</script> Set-Cookie: planted=1"


def _wrapped(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


def _failed(*reasons: BaseException) -> ResponseFailed:
    return ResponseFailed([Failure(reason) for reason in reasons])


def test_the_vocabulary_knows_its_words_and_no_others() -> None:
    for word in ("timeout", "download_error:bad_response", "private_address:10.0.0.1",
                 "private_address:::1", "anti_bot:403", "anti_bot:captcha", "rate_limited:429",
                 "hop_limit:10", "endpoint_error:502", "http_404", "parse_issue:truncated",
                 "redirect_loop", "no_response", "capture_error", "download_error:unknown"):
        assert known(word), word
    for word in ("download_error:ValueError", "too_large:>33554432", "capture_error:reset by x",
                 f"ignored:{HOSTILE}", "anti_bot:999x", "timeout "):
        assert not known(word), word
    assert not failures.valid_status(99) and failures.valid_status(100)
    assert failures.valid_status(599) and not failures.valid_status(600)
    assert not failures.valid_status(0) and not failures.valid_status(999)


@pytest.mark.parametrize(("exc", "word"), [
    (TimeoutError(), "timeout"),
    (socket.gaierror(-2, "Name or service not known"), "dns_error"),
    (ssl.SSLError(1, HOSTILE), "tls_error"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connection_refused"),
    (OSError("Multiple exceptions: [Errno 111] a, [Errno 111] b"), "connection_refused"),
    (ConnectionResetError(errno.ECONNRESET, HOSTILE), "connection_reset"),
    (OSError(errno.EHOSTUNREACH, "No route to host"), "connection_reset"),
    (BadResponse(f"not an HTTP/1.x status line: {HOSTILE!r}"), "download_error:bad_response"),
    (TooLarge("more than 100 bytes"), "too_large"),
    (Refused("10.1.2.3"), "private_address:10.1.2.3"),
    (ValueError(HOSTILE), "bad_url"),
    (RuntimeError(HOSTILE), "download_error:unknown"),
])
def test_hulian_client_failures(exc: BaseException, word: str) -> None:
    assert for_exception(exc) == word


@pytest.mark.parametrize(("exc", "word"), [
    (DownloadTimeoutError(HOSTILE), "timeout"),
    (tx.TCPTimedOutError(), "timeout"),
    (CannotResolveHostError(HOSTILE), "dns_error"),
    (DownloadConnectionRefusedError(HOSTILE), "connection_refused"),
    (TunnelError(HOSTILE), "connection_refused"),
    (DownloadCancelledError(HOSTILE), "too_large"),
    (_wrapped(IgnoreRequest(f"Ignored response {HOSTILE}"),
              _DecompressionMaxSizeExceeded(64 << 20, 32 << 20)), "too_large"),
    (_wrapped(DownloadFailedError(HOSTILE), _failed(ParseError("wrong number of parts",
                                                               HOSTILE.encode()))),
     "download_error:bad_response"),
    (_wrapped(DownloadFailedError(), _failed(ValueError("not enough values to unpack"))),
     "download_error:bad_response"),
    (_wrapped(DownloadFailedError(), ResponseNeverReceived([Failure(tx.ConnectionDone())])),
     "connection_reset"),
    (_wrapped(DownloadFailedError(), _failed(SSL.Error([("SSL", "", HOSTILE)]))), "tls_error"),
    (_wrapped(ResponseDataLossError(), _failed(tx.ConnectionLost(), _DataLoss())),
     "connection_reset"),
    (_wrapped(ResponseDataLossError(), _failed(ValueError("bad chunk"), _DataLoss())),
     "download_error:bad_response"),
    (RequestGenerationFailed([Failure(ValueError(HOSTILE))]), "bad_url"),
    (tx.ConnectionLost(HOSTILE), "connection_reset"),
    (UnsupportedURLSchemeError(HOSTILE), "bad_url"),
    (ValueError(HOSTILE), "bad_url"),
    (PrivateAddress("private_address:127.0.0.1"), "private_address:127.0.0.1"),
    (IgnoreRequest(HOSTILE), "download_error:unknown"),
    (RuntimeError(HOSTILE), "download_error:unknown"),
])
def test_scrapy_failures_by_type(exc: BaseException, word: str) -> None:
    assert scrapy_failures.failure_reason(Failure(exc)) == word


@pytest.mark.parametrize(("text", "word"), [
    (None, "no_response"),
    ("no_response", "no_response"),
    ("no_status_line", "download_error:bad_response"),  # the WARC reader
    ("net::ERR_INVALID_HTTP_RESPONSE", "download_error:bad_response"),
    ("net::ERR_RESPONSE_HEADERS_TOO_BIG", "download_error:bad_response"),
    ("net::ERR_CONTENT_LENGTH_MISMATCH", "connection_reset"),
    ("net::ERR_INCOMPLETE_CHUNKED_ENCODING", "connection_reset"),
    ("net::ERR_EMPTY_RESPONSE", "connection_reset"),
    ("net::ERR_CONNECTION_TIMED_OUT", "timeout"),
    ("net::ERR_CONNECTION_REFUSED", "connection_refused"),
    ("net::ERR_NAME_NOT_RESOLVED", "dns_error"),
    ("net::ERR_CERT_AUTHORITY_INVALID", "tls_error"),
    ("net::ERR_SSL_PROTOCOL_ERROR", "tls_error"),
    ("Server disconnected.", "connection_reset"),
    ("Connection killed.", "connection_reset"),
    ("TLS handshake failed", "tls_error"),
    ("[Errno -2] Name or service not known", "dns_error"),
    ("net::ERR_BLOCKED_BY_CLIENT", "capture_error"),
    (HOSTILE, "capture_error"),
])
def test_capture_error_texts(text: str | None, word: str) -> None:
    assert for_capture(text) == word


def test_a_captured_status_outside_100_599_is_a_bad_response(tmp_path: Path) -> None:
    catalog = load_catalog(policy_dirs([policies(tmp_path / "policies")]))
    probes = [Probe(id=f"p{status}", source="testforum", surface=SurfaceKind.POST,
                    target_url=f"http://s{status}.ok.test/",
                    link_url=f"http://s{status}.go.test/?url=http%3A%2F%2Fs{status}.ok.test%2F",
                    seed_url="http://forum.test/post/1")
              for status in (0, 600, 999, 200)]
    builder = ChainBuilder(catalog, probes)
    observations = []
    for index, probe in enumerate(probes):
        status = int(probe.id[1:])
        assert probe.link_url is not None
        observations += builder.feed(FlowRecord(
            file="f.har", index=index, offset=None, started=float(index), method="GET",
            url=probe.link_url, request_headers={"sec-fetch-dest": "document"},
            status=status if status else None, error=HOSTILE if not status else None,
            response_headers={"content-type": "text/html"},
            response_body=b"<p>a page</p>")).observations
    observations += builder.close()
    failed = {o.probe_id: (o.outcome.value, o.failure) for o in observations}
    assert failed["p0"] == ("error", "capture_error")  # no response, an error text nobody knows
    assert failed["p600"] == ("error", "download_error:bad_response")
    assert failed["p999"] == ("error", "download_error:bad_response")
    assert failed["p200"][1] is None


# -- chunked framing: both engines' parsers read it alike ---------------------------------------

def _chunked_outcome_hulian(head: bytes, pieces: list[bytes]) -> tuple[str, bytes]:
    """hulian's client (llhttp and the bounds around it) fed `pieces` after `head`."""
    import asyncio

    from audit.measure.asyncio.http1 import _Connection

    loop = asyncio.new_event_loop()
    try:
        connection = _Connection(max_bytes=1 << 24)
        waiter = loop.create_future()
        connection._waiter = waiter
        connection.data_received(head)
        for piece in pieces:
            if waiter.done():
                break
            connection.data_received(piece)
        if not waiter.done():
            return "incomplete", b""
        if waiter.exception() is not None:
            assert isinstance(waiter.exception(), BadResponse), waiter.exception()
            return "bad", b""
        return "ok", waiter.result().payload
    finally:
        loop.close()


def _chunked_outcome_twisted(pieces: list[bytes]) -> tuple[str, bytes]:
    """The Scrapy engine's decoder (spiders/failures.py) fed the same body pieces."""
    from twisted.web.http import _MalformedChunkedDataError

    from spiders.failures import BoundedChunkedDecoder

    data: list[bytes] = []
    finished: list[bytes] = []
    decoder = BoundedChunkedDecoder(data.append, finished.append)
    try:
        for piece in pieces:
            if finished:
                break
            decoder.dataReceived(piece)
    except _MalformedChunkedDataError:
        return "bad", b""
    return ("ok", b"".join(data)) if finished else ("incomplete", b"")


def _random_chunked_body(rng: random.Random) -> bytes:
    """A chunked body that is valid, or broken in one of the ways servers break it: bare LF
    or CR line ends, extensions with spaces or odd bytes, size lines near Twisted's 1 KB
    bound, sizes past 2**64, data not followed by CRLF, trailer lines that are not fields."""
    def line_end() -> bytes:
        return rng.choice([b"\r\n"] * 12 + [b"\n", b"\r", b"\r\r\n"])

    ext_chars = [b"a", b"=", b";", b'"', b"\\", b" ", b"\t", b"\x80", b"(", b"!", b"x", b"\x01"]
    body = []
    for _ in range(rng.randint(0, 3)):
        size = rng.randint(1, 40)
        digits = b"%x" % size
        if rng.random() < 0.2:
            digits = b"0" * rng.randint(1, 20) + digits
        if rng.random() < 0.05:
            digits = b"f" * rng.randint(16, 18)
        ext = b""
        roll = rng.random()
        if roll < 0.3:
            ext = b"".join(rng.choice(ext_chars) for _ in range(rng.randint(1, 6)))
        elif roll < 0.4:  # a long valid extension, around the 1 KB bound
            ext = b";e=" + b"v" * (1024 - len(digits) - 3 + rng.randint(-3, 2))
        body.append(digits + ext + line_end())
        body.append(bytes(rng.choice(b"abc<>") for _ in range(size)))
        body.append(rng.choice([b"\r\n"] * 10 + [b"\n", b"XX", b"\r"]))
    body.append(b"0" + line_end())
    for _ in range(rng.choice([0, 0, 0, 1, 2])):
        body.append(rng.choice([b"X-T: v", b"X-T:v", b"X T: v", b"nocolon", b"X-T : v",
                                b"X-T: \x80\x01"]) + line_end())
    body.append(line_end())
    return b"".join(body)


def test_both_engines_read_chunked_framing_alike() -> None:
    """hulian's client (llhttp with Twisted's bounds kept around it) and the Scrapy engine's
    Twisted decoder (held to llhttp's grammar) give the same outcome and the same payload for
    every generated chunked body, however it is cut into reads."""
    import random as random_module

    rng = random_module.Random(14)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    outcomes: dict[str, int] = {}
    for _ in range(3000):
        body = _random_chunked_body(rng)
        cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(0, 4))))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        hulian = _chunked_outcome_hulian(head, pieces)
        assert hulian == _chunked_outcome_twisted(pieces), body
        outcomes[hulian[0]] = outcomes.get(hulian[0], 0) + 1
    assert outcomes.get("ok", 0) > 300 and outcomes.get("bad", 0) > 300, outcomes


@pytest.mark.parametrize(("extra", "readable"), [(0, True), (1, False)])
def test_chunk_and_trailer_bounds_are_exact_across_reads(extra: int, readable: bool) -> None:
    """A size line of 1,023 bytes and 64 KB of trailer fields are read, one byte more is not,
    by both engines, wherever the reads cut them."""
    import random as random_module

    rng = random_module.Random(extra)
    size_line = b"5;e=" + b"v" * (1023 - 4 + extra) + b"\r\n"
    trailer = b"X-T: " + b"t" * (65536 - 2 - 5 + extra) + b"\r\n"  # counted with its CRLF
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    for body in (size_line + b"hello\r\n0\r\n\r\n", b"5\r\nhello\r\n0\r\n" + trailer + b"\r\n"):
        for _ in range(20):
            cuts = sorted(rng.sample(range(1, len(body)), rng.randint(1, 5)))
            pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
            expected = ("ok", b"hello") if readable else ("bad", b"")
            assert _chunked_outcome_hulian(head, pieces) == expected
            assert _chunked_outcome_twisted(pieces) == expected


def test_an_unreadable_answers_record_reads_back_as_no_response(tmp_path: Path) -> None:
    """hulian's own WARC analysed as a capture: the record of an answer that was not HTTP
    (a `resource` record, WarcLog.unreadable) is that failure, not a stored document served
    with status 200."""
    from audit.evidence.warc import WarcLog
    from audit.measure.capture.formats import iter_warc
    from audit.measure.failures import for_capture

    path = tmp_path / "crawl.warc.gz"
    log = WarcLog(path)
    log.exchange("http://a.test/", method="GET", request_headers=[("Host", "a.test")],
                 request_body=b"", status=200,
                 response_headers=[("Content-Type", "text/html")], payload=b"<p>hi</p>")
    record_id = log.unreadable("http://b.test/", received=b"SSH-2.0-OpenSSH_9.6\r\n", cut=False,
                               failure="download_error:bad_response")
    log.close()
    assert record_id.startswith("urn:uuid:")
    flows = {flow.url: flow for flow in iter_warc(path)}
    assert flows["http://a.test/"].status == 200
    unreadable = flows["http://b.test/"]
    assert unreadable.status is None and unreadable.response_body == b""
    assert for_capture(unreadable.error) == "download_error:bad_response"


def test_the_kept_bytes_of_an_answer_are_bounded() -> None:
    from audit.measure.failures import RECEIVED_KEEP_BYTES, BadResponse, Received, received_of

    received = Received()
    for _ in range(3):
        received.add(b"x" * (RECEIVED_KEEP_BYTES // 2 + 1))
    error = BadResponse("test")
    received.attach(error)
    assert received_of(error) == (b"x" * RECEIVED_KEEP_BYTES, True)
    assert received_of(ValueError()) is None
    whole = Received()
    whole.add(b"HTTP/1.1 000 Zero\r\n\r\n")
    error = BadResponse("test")
    whole.attach(error)
    assert received_of(error) == (b"HTTP/1.1 000 Zero\r\n\r\n", False)


# -- a head's fields: both engines' parsers read them alike, as Chromium does ----------------

def _fields_hulian(answer: bytes) -> dict[str, str] | str:
    """The fields hulian's client reads of `answer` (or "bad")."""
    import asyncio

    from audit.measure.asyncio.http1 import _Connection
    from audit.web.fields import header_fields

    loop = asyncio.new_event_loop()
    try:
        connection = _Connection(max_bytes=1 << 20)
        waiter = loop.create_future()
        connection._waiter = waiter
        connection.data_received(answer)
        if not waiter.done() or waiter.exception() is not None:
            return "bad"
        fields = header_fields(waiter.result().headers)
        fields.pop("content-length", None)  # Twisted keeps it apart from the fields
        return fields
    finally:
        loop.close()


def _fields_twisted(answer: bytes) -> dict[str, str] | str:
    """The fields the Scrapy engine's parser (spiders/failures.py) reads of `answer`."""
    from twisted.internet.testing import StringTransport
    from twisted.web import _newclient
    from twisted.web.http_headers import Headers

    from audit.web.fields import header_fields
    from spiders.failures import BoundedResponseParser

    parser = BoundedResponseParser(_newclient.Request(b"GET", b"/", Headers({}), None),
                                   lambda rest: None)
    parser.makeConnection(StringTransport())
    got: list[object] = []
    parser._responseDeferred.addBoth(got.append)
    try:
        parser.dataReceived(answer)
    except Exception:
        return "bad"
    if not got or isinstance(got[0], Failure):
        return "bad"
    response: object = got[0]
    raw = response.headers.getAllRawHeaders()  # type: ignore[attr-defined]
    return header_fields((name.decode("latin-1"), value.decode("latin-1"))
                         for name, values in raw for value in values)


@pytest.mark.parametrize(("lines", "content_type"), [
    ([b"Content-Type: text/html\x0b"], "text/html\x0b"),  # text to Chromium, not a page
    ([b"Content-Type:\x0ctext/html"], "\x0ctext/html"),  # a download to Chromium
    ([b"Content-Type: text/html \t"], "text/html"),
    ([b" Content-Type: text/html", b"X-A: a"], None),  # a continuation of no field: dropped
    ([b"\tContent-Type: text/html", b"X-A: a"], None),
    ([b"Content-Type: text/html", b"\t; charset=gbk"], "text/html\t; charset=gbk"),  # obs-fold
])
def test_both_engines_read_a_heads_fields_as_chromium_does(lines: list[bytes],
                                                          content_type: str | None) -> None:
    """Only space and tab are trimmed from a value (Python's and Twisted's strip() took \\x0b
    and \\x0c: `text/html\\x0b`, which Chromium shows as text, read as a page), and a line of
    white space before the first field is ignored, as Chromium ignores it (llhttp read it as
    a field; a review)."""
    answer = (b"HTTP/1.1 200 OK\r\n" + b"".join(line + b"\r\n" for line in lines)
              + b"Content-Length: 3\r\n\r\nabc")
    hulian, twisted = _fields_hulian(answer), _fields_twisted(answer)
    assert hulian == twisted
    assert isinstance(hulian, dict) and hulian.get("content-type") == content_type
