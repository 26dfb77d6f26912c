"""Turn the bytes of a saved or fetched page into text, whatever charset it claims.

Order of evidence: a byte-order mark; valid multi-byte UTF-8 (it almost never happens by
accident, and Chinese pages often declare gb2312 while serving UTF-8 or the reverse); the
HTTP header; the page's own <meta>; then strict trials of the Chinese legacy codecs; then
charset-normalizer; and finally UTF-8 with replacement characters, so decoding never fails.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

# GB2312 and GBK are subsets of GB18030; decoding with the superset loses nothing and
# accepts the characters real "gb2312" pages use anyway.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "big5": "big5hkscs",
              "ascii": "utf-8", "us-ascii": "utf-8", "iso-8859-1": "cp1252", "latin-1": "cp1252"}

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Pages larger than this are cut before parsing; the cut is reported, never silent.
MAX_PAGE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    decided_by: str  # bom | utf8 | header | meta | trial | detector | fallback
    truncated: bool = False


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().strip("\"'").lower()
    name = _SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def content_codings(content_encoding: str | None) -> list[str]:
    """The content codings a Content-Encoding header says the body is still in (`identity`
    left out), in the order they were applied. Where a reader decoded the body, it drops the
    header; one that is left means bytes nothing could decode (Brotli, zstd, a broken gzip)."""
    return [c for c in (part.strip().lower() for part in (content_encoding or "").split(","))
            if c and c != "identity"]


def header_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", content_type, re.IGNORECASE)
    return match.group(1) if match else None


def meta_charset(head: bytes) -> str | None:
    match = _META_CHARSET.search(head[:16384])
    return match.group(1).decode("ascii", "replace") if match else None


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_html(data: bytes, content_type: str | None = None,
                max_bytes: int = MAX_PAGE_BYTES) -> Decoded:
    """Decode page bytes to text. Never raises on content; see the module docstring."""
    truncated = len(data) > max_bytes
    if truncated:
        # Cut before a '<': it is ASCII and never a byte inside a UTF-8 or GB18030 character,
        # so the cut cannot leave half a character behind.
        cut = data.rfind(b"<", 0, max_bytes)
        data = data[: cut if cut > 0 else max_bytes]

    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return Decoded(data.decode(encoding, errors="replace"), encoding, "bom", truncated)

    # Valid UTF-8 with at least one multi-byte sequence: trust it over any declaration.
    if re.search(rb"[\x80-\xff]", data):
        as_utf8 = _strict(data, "utf-8")
        if as_utf8 is not None:
            return Decoded(as_utf8, "utf-8", "utf8", truncated)
    else:
        return Decoded(data.decode("ascii", errors="replace"), "ascii", "utf8", truncated)

    for decided_by, declared in (("header", header_charset(content_type)),
                                 ("meta", meta_charset(data))):
        codec = _codec(declared)
        if codec and codec != "utf-8":
            declared_text = _strict(data, codec)
            if declared_text is not None:
                return Decoded(declared_text, codec, decided_by, truncated)

    for encoding in ("gb18030", "big5hkscs"):
        text = _strict(data, encoding)
        if text is not None:
            return Decoded(text, encoding, "trial", truncated)

    # Loaded only for the rare page that no declared or trial encoding decodes: every parse
    # worker and the CLI would otherwise pay for charset-normalizer's import.
    from charset_normalizer import from_bytes

    best = from_bytes(data[:1_000_000]).best()
    if best is not None and best.encoding:
        return Decoded(data.decode(best.encoding, errors="replace"), best.encoding, "detector",
                       truncated)
    return Decoded(data.decode("utf-8", errors="replace"), "utf-8", "fallback", truncated)
