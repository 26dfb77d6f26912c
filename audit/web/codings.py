"""A body without its Content-Encoding, decoded with a bound on what it may grow to: the
crawl's downloads (audit/measure/asyncio/fetch.py), the Scrapy engine's robots.txt
(spiders/middlewares.py), and the mitmproxy dumps and WARCs a capture holds
(audit/measure/capture/mitm.py, formats.py) undo their codings here, one way.

Each coding's maintained decoder (zlib, Brotli, zstandard) is fed a slice at a time and asked
for no more than the bound, so that a compression bomb costs the bound, not its inflated
size: mitmproxy's own decoder inflated a 300 KB gzip bomb to 300 MB before the capture reader
cut it (an adversarial review). What a truncated stream decodes to is kept, as a browser
shows it; a coding that is unknown, or a body nothing of which decodes, is not decoded.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable

import brotli  # type: ignore[import-untyped]
import zstandard

# Bytes handed to zlib at once. A member's leftover (`unused_data`) is a copy of what it was
# fed past its end: fed the whole body, a body of 800,000 empty gzip members copied the rest
# once per member and held the crawl's event loop for minutes (an adversarial review).
_INFLATE_SLICE = 4096
# Bytes handed to Brotli at once: Brotli 1.1 has no bound on one call's output, and one byte
# can end a meta-block of 16 MiB; fed 16 bytes at a time, a bomb stops a few meta-blocks past
# the bound.
_BROTLI_SLICE = 16

# The codings the crawler asks for (its Accept-Encoding); a capture undoes every one here.
GZIP_DEFLATE = frozenset({"gzip", "x-gzip", "deflate"})
EVERY_CODING = GZIP_DEFLATE | {"br", "zstd"}


class _Undecodable(Exception):
    """Nothing of the body decodes in the coding it claims."""


def undo_codings(payload: bytes, content_encoding: str, limit: int, *,
                 codings: frozenset[str] = EVERY_CODING) -> tuple[bytes, bool] | None:
    """The body with the header's codings undone (the last applied first): (at most `limit`
    bytes, whether it was cut there), or None where a coding is not among `codings`, is
    unknown, or nothing of the body decodes (the caller keeps the payload and its header)."""
    body, cut = payload, False
    for coding in [c.strip().lower() for c in content_encoding.split(",") if c.strip()][::-1]:
        if coding in ("identity", "none"):
            continue
        if coding not in codings:
            return None
        try:
            body, was_cut = _UNDO[coding](body, limit)
        except (_Undecodable, zlib.error, brotli.error, zstandard.ZstdError):
            return None
        cut = cut or was_cut
    return body, cut


def _gzip(data: bytes, limit: int) -> tuple[bytes, bool]:
    return _inflate(data, 16 + zlib.MAX_WBITS, limit)


def _deflate(data: bytes, limit: int) -> tuple[bytes, bool]:
    try:
        return _inflate(data, zlib.MAX_WBITS, limit)
    except zlib.error:  # raw deflate (no zlib header), as some servers send it
        return _inflate(data, -zlib.MAX_WBITS, limit)


def _inflate(data: bytes, wbits: int, limit: int) -> tuple[bytes, bool]:
    """Every member of a (possibly multi-member) stream, at most `limit` bytes of output;
    what could be decoded of a truncated stream. Raises zlib.error when nothing decodes.
    Linear in the body's size."""
    out: list[bytes] = []
    size = 0
    view = memoryview(data)
    pos = 0

    def next_slice() -> bytes:
        nonlocal pos
        piece = bytes(view[pos:pos + _INFLATE_SLICE])
        pos += len(piece)
        return piece

    pending = next_slice()
    while True:
        inflater = zlib.decompressobj(wbits)
        feed = pending
        while True:
            chunk = inflater.decompress(feed, limit + 1 - size)
            size += len(chunk)
            out.append(chunk)
            if size > limit or inflater.unconsumed_tail:
                return b"".join(out)[:limit], True
            if inflater.eof or pos >= len(view):
                break
            feed = next_slice()
        if not inflater.eof or wbits < 0:
            break  # truncated (keep what was decoded), or raw deflate: one stream
        # Zeros between members are padding (as gzip(1) reads them), also across slices.
        pending = inflater.unused_data.lstrip(b"\0")
        while not pending and pos < len(view):
            pending = next_slice().lstrip(b"\0")
        if not pending:
            break
    return b"".join(out), False


def _brotli(data: bytes, limit: int) -> tuple[bytes, bool]:
    decompressor = brotli.Decompressor()
    pieces: list[bytes] = []
    size = 0
    for start in range(0, len(data), _BROTLI_SLICE):
        piece = decompressor.process(data[start:start + _BROTLI_SLICE])
        pieces.append(piece)
        size += len(piece)
        if size > limit:
            return b"".join(pieces)[:limit], True
    if not size and not decompressor.is_finished():
        raise _Undecodable("truncated Brotli stream of no output")
    return b"".join(pieces), False


def _zstd(data: bytes, limit: int) -> tuple[bytes, bool]:
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data),
                                                        read_across_frames=True)
    pieces: list[bytes] = []
    size = 0
    while size <= limit:
        piece = reader.read(limit + 1 - size)
        if not piece:
            break
        pieces.append(piece)
        size += len(piece)
    body = b"".join(pieces)
    return (body[:limit], True) if size > limit else (body, False)


_UNDO: dict[str, Callable[[bytes, int], tuple[bytes, bool]]] = {
    "gzip": _gzip, "x-gzip": _gzip, "deflate": _deflate, "br": _brotli, "zstd": _zstd}
