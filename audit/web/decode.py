"""Turn the bytes of a saved or fetched page into text, whatever charset it claims.

Order of evidence: a byte-order mark; a declared encoding that reads ASCII bytes as
something else (below); valid multi-byte UTF-8 (it almost never happens by accident, and
Chinese pages often declare gb2312 while serving UTF-8 or the reverse); the HTTP header; the
page's own <meta>; then strict trials of the Chinese legacy codecs; then charset-normalizer;
and finally UTF-8 with replacement characters, so decoding never fails.

A page declared (as browsers read the header, then the <meta>: WHATWG's labels, from
webencodings) in UTF-16 without a byte-order mark, in ISO-2022-JP, or in an encoding browsers
replace (ISO-2022-KR, HZ: the page is one U+FFFD) is decoded as declared, before the UTF-8
and ASCII readings: its bytes may all be ASCII, and read as ASCII they are markup a browser
never sees. A block page in ISO-2022-JP hid its notice from hulian and the target's text
from the browser inside two-byte characters, and read as an open link (an adversarial
review).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import webencodings

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


# Types that say nothing of the body: a browser sniffs it as if none were given.
_UNKNOWN_TYPES = frozenset({"*/*", "unknown/unknown", "application/unknown"})
# Where a body of no usable type starts as an HTML document does (MIME Sniffing's patterns,
# Chromium's sniffable tags): after white space, one of these tags and a space or `>`.
_SNIFFED_HTML = re.compile(
    rb"[\t\n\x0b\x0c\r ]*<(?:(?:!doctype html|html|head|script|iframe|h1|div|font|table|a"
    rb"|style|title|b|body|br|p)[ >]|!--)", re.IGNORECASE)


def shown_as_html(headers: dict[str, str], body: bytes) -> bool:
    """Whether a browser shows this answer (lower-cased header names) as an HTML page: not a
    download (`Content-Disposition: attachment`); a Content-Type of `text/html` (html_type);
    or none usable, unless `nosniff` forbids sniffing, and a body that starts as HTML does.
    A notice served as `text/plain; x=html` or `text/plain x` (shown as text, its refresh never
    run), as a download, or as text under `nosniff` was read as a page whose refresh forwarded
    to the target (two reviews). XHTML (`application/xhtml+xml`) is rendered as XML, and
    without its namespace as a tree of elements: not read as a page either."""
    if _downloads(headers.get("content-disposition", "")):
        return False
    declared = html_type(headers.get("content-type"))
    if declared is not None:
        return declared
    if headers.get("x-content-type-options", "").split(",")[0].strip().lower() == "nosniff":
        return False
    return _SNIFFED_HTML.match(body) is not None


def _downloads(disposition: str) -> bool:
    """Whether a Content-Disposition makes the answer a download: any disposition type but
    `inline` (RFC 6266: an unknown type is an attachment; a `download; filename=a.html` notice
    was read as a page that forwards, a review), not parameters without a type."""
    kind = disposition.split(";", 1)[0].strip().lower()
    return bool(kind) and kind != "inline" and "=" not in kind


def html_type(content_type: str | None) -> bool | None:
    """Whether a Content-Type says HTML (True), another type (False) or nothing usable (None:
    a browser sniffs the body). Read as Chromium reads it: of the header's values (several
    headers arrive joined by commas), the last whose type, cut at white space, `;` or `(`,
    holds a `/`. Fetch's stricter parser made `text/plain x` no type at all, and so a page."""
    essence: str | None = None
    for value in _header_values(content_type or ""):
        kind = _TYPE_END.split(value, maxsplit=1)[0].lower()
        if "/" in kind and kind not in _UNKNOWN_TYPES:  # `text/plain, */*` is text
            essence = kind
    return None if essence is None else essence == "text/html"


_TYPE_END = re.compile(r"[\s;(]")


def header_charset(content_type: str | None) -> str | None:
    """The charset of a Content-Type header as a browser reads it (Fetch's "extract a MIME
    type"): of the values a header holds (several headers arrive joined by commas), the last
    that parses as a MIME type decides, keeping the charset of an earlier value of the same
    type where it names none; a parameter's quoted value is read as one value. A `charset=`
    inside another parameter's quotes, or in a first header a second one overrides, was read
    as the page's charset where Chromium read the other (a review)."""
    if not content_type:
        return None
    charset: str | None = None
    essence: str | None = None
    for value in _header_values(content_type):
        parsed = _mime_type(value)
        if parsed is None or parsed[0] == "*/*":
            continue
        if parsed[0] != essence:
            essence, charset = parsed[0], parsed[1].get("charset")
        elif "charset" in parsed[1]:
            charset = parsed[1]["charset"]
    return charset


_HTTP_WHITESPACE = " \t\r\n"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The quoted string that opens at text[start] (a quote): its value, and the index after
    its closing quote (or the text's end, where it is not closed)."""
    value, index = [], start + 1
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            value.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            return "".join(value), index + 1
        value.append(char)
        index += 1
    return "".join(value), index


def _header_values(header: str) -> list[str]:
    """A header's values, split at the commas outside quoted strings (Fetch's "get, decode,
    and split")."""
    values, start, index = [], 0, 0
    while index < len(header):
        if header[index] == '"':
            index = _quoted(header, index)[1]
            continue
        if header[index] == ",":
            values.append(header[start:index])
            start = index + 1
        index += 1
    values.append(header[start:])
    return [value.strip(_HTTP_WHITESPACE) for value in values]


def _mime_type(value: str) -> tuple[str, dict[str, str]] | None:
    """A MIME type as the MIME Sniffing standard parses one: its essence and its parameters
    (the first of a name counts), or None where it is not one."""
    kind, slash, rest = value.strip(_HTTP_WHITESPACE).partition("/")
    subtype, _, parameters = rest.partition(";")
    subtype = subtype.rstrip(_HTTP_WHITESPACE)
    if not slash or not _TOKEN.fullmatch(kind) or not _TOKEN.fullmatch(subtype):
        return None
    found: dict[str, str] = {}
    index = 0
    while index < len(parameters):
        while index < len(parameters) and parameters[index] in _HTTP_WHITESPACE:
            index += 1
        name_end = index
        while name_end < len(parameters) and parameters[name_end] not in ";=":
            name_end += 1
        name = parameters[index:name_end].lower()
        index = name_end
        if index >= len(parameters) or parameters[index] == ";":
            index += 1
            continue
        index += 1  # past "="
        if index < len(parameters) and parameters[index] == '"':
            parameter_value, index = _quoted(parameters, index)
            while index < len(parameters) and parameters[index] != ";":
                index += 1
        else:
            value_end = parameters.find(";", index)
            value_end = len(parameters) if value_end < 0 else value_end
            parameter_value = parameters[index:value_end].rstrip(_HTTP_WHITESPACE)
            index = value_end
            if not parameter_value:
                index += 1
                continue
        index += 1  # past ";"
        if name and _TOKEN.fullmatch(name) and name not in found:
            found[name] = parameter_value
    return f"{kind}/{subtype}".lower(), found


def meta_charset(head: bytes) -> str | None:
    match = _META_CHARSET.search(head[:16384])
    return match.group(1).decode("ascii", "replace") if match else None


# WHATWG's encodings that are not ASCII-compatible (an ASCII byte is not the ASCII character)
# and the Python codecs that read them; "replacement" decodes a whole page to one U+FFFD.
_NOT_ASCII_COMPATIBLE = {"utf-16le": "utf-16-le", "utf-16be": "utf-16-be",
                         "iso-2022-jp": "iso2022_jp", "replacement": ""}


def browser_declared(content_type: str | None, data: bytes) -> tuple[str, str] | None:
    """The encoding a browser takes from a page's declarations, and which one said it
    ("header" or "meta"): the Content-Type's charset if it is a WHATWG label, else the
    <meta>'s, which cannot say UTF-16 (read as UTF-8) nor x-user-defined (windows-1252)."""
    header = webencodings.lookup(header_charset(content_type) or "")
    if header is not None:
        return header.name, "header"
    meta = webencodings.lookup(meta_charset(data) or "")
    if meta is None:
        return None
    name = {"utf-16le": "utf-8", "utf-16be": "utf-8",
            "x-user-defined": "windows-1252"}.get(meta.name, meta.name)
    return name, "meta"


def declared_not_ascii(content_type: str | None, data: bytes) -> str | None:
    """The WHATWG name of a declared encoding that reads ASCII bytes as something else
    (UTF-16 without its mark, ISO-2022-JP, the replacement encoding), if the page has one."""
    declared = browser_declared(content_type, data)
    return declared[0] if declared and declared[0] in _NOT_ASCII_COMPATIBLE else None


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

    browser = browser_declared(content_type, data)
    if browser is not None and browser[0] in _NOT_ASCII_COMPATIBLE:
        name, said_by = browser
        python_codec = _NOT_ASCII_COMPATIBLE[name]
        whole = (data.decode(python_codec, errors="replace") if python_codec
                 else "\ufffd" if data else "")
        return Decoded(whole, name, said_by, truncated)

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
