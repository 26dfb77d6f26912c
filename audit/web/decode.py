"""Turn the bytes of a saved or fetched page into text, whatever charset it claims.

Order of evidence: a byte-order mark; then the declaration a browser takes (the HTTP header,
else the page's own <meta>, else its XML declaration, by WHATWG's labels), by which an answer
is decoded whatever its bytes, as the browser decodes it; without one, valid UTF-8 (it almost
never happens by accident), a label only Python knows, strict trials of the Chinese legacy
codecs, charset-normalizer, and finally UTF-8 with replacement characters, so decoding never
fails. A file a person saved is read more leniently (`saved`): an editor may have re-encoded
it under a stale declaration, so valid UTF-8 and then each declaration its bytes fit decide.

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
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

import webencodings

from audit.web.fields import FIELD_WHITESPACE, TOKEN_CHAR
from audit.web.page import (
    XML_PROLOG_BYTES,
    XML_UNREADABLE,
    meta_charset_labels,
    renders_as_xhtml,
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
    decided_by: str  # bom | utf8 | header | meta | xml | trial | detector | fallback
    truncated: bool = False
    # Browsers may read this page otherwise than `text` has it (ISO-2022-JP that Python's
    # codec reads otherwise than WHATWG's decoder): nothing in it is followed
    # (page.parse_page's `encoding_unsure`).
    unsure: bool = False
    # An answer with bytes >= 0x80 and no declaration a browser knows: its reading is the
    # browser's guess (page.parse_page's `undeclared`: its scripts are not trusted).
    undeclared: bool = False


def content_codings(content_encoding: str | None) -> list[str]:
    """The content codings a Content-Encoding header says the body is still in (`identity`
    left out), in the order they were applied. Where a reader decoded the body, it drops the
    header; one that is left means bytes nothing could decode (Brotli, zstd, a broken gzip)."""
    return [c for c in (part.strip().lower() for part in (content_encoding or "").split(","))
            if c and c != "identity"]


# Where a body of no usable type starts as an HTML document does, as Chromium sniffs it
# (net's mime_sniffer: its sniffable tags, matched as a prefix after ASCII white space,
# within the body's first 512 bytes). Chromium checks no character after the tag: `<bx>`,
# `<htmlx>` and `<html\nlang=zh>` are pages to it, and were refused as seed pages here;
# a `<html>` after 508 spaces is text to it, and a notice so padded read as a page whose
# refresh forwarded (a review).
_SNIFF_BYTES = 512
_SNIFFED_TAGS = tuple(b"<" + tag for tag in (
    b"!doctype html", b"script", b"html", b"!--", b"head", b"iframe", b"h1", b"div", b"font",
    b"table", b"a", b"style", b"title", b"b", b"body", b"br", b"p"))


# XML types Chromium shows rather than downloads (net's supported non-image types): an XHTML
# page served as any of them is a page; `application/foo+xml` is a download, `text/foo+xml`
# text (checked with Chromium 131).
XML_TYPES = frozenset({"application/xhtml+xml", "application/xml", "text/xml", "image/svg+xml",
                       "application/atom+xml", "application/rss+xml"})


def xml_type(header: str | None) -> bool:
    """Whether a Content-Type says XML a browser shows (XML_TYPES): a page only if it is
    XHTML (page.renders_as_xhtml)."""
    return content_type(header).essence in XML_TYPES


def shown_as_html(headers: dict[str, str], body: bytes) -> bool:
    """Whether a browser shows this answer (lower-cased header names) as an HTML page: not a
    download (`Content-Disposition: attachment`); a Content-Type of `text/html` (html_type);
    or none usable, unless `nosniff` forbids sniffing, and a body that starts as HTML does.
    A notice served as `text/plain; x=html` or `text/plain x` (shown as text, its refresh never
    run), as a download, or as text under `nosniff` was read as a page whose refresh forwarded
    to the target (two reviews). An XML type is a page where the root is XHTML's: without
    the namespace Chromium shows a tree of elements; with it, the page, its refresh and
    scripts run (until 2026-12-07 no XML was read as a page: an interstitial served as XHTML
    was not read, and a capture's continue after it read as `wrapped`)."""
    by_headers = html_by_headers(headers)
    if by_headers is not None:
        return by_headers
    if xml_type(headers.get("content-type")):
        return xhtml_shown(body, headers.get("content-type"))
    return sniffs_as_html(body)


def xhtml_shown(body: bytes, content_type: str | None) -> bool:
    """Whether an answer of an XML type (`content_type`; None: a saved `.xhtml` file) is XHTML
    a browser shows as a page, its head decoded as the browser's XML parser decodes it."""
    xml_content_type = content_type if xml_type(content_type) else "application/xhtml+xml"
    return renders_as_xhtml(decode_html(body[:XML_PROLOG_BYTES], xml_content_type).text)


def html_by_headers(headers: dict[str, str]) -> bool | None:
    """What the headers alone decide of shown_as_html: True or False, or None where only
    the body can tell (an XML type; no usable type, and sniffing allowed)."""
    if _downloads(headers.get("content-disposition", "")):
        return False
    if xml_type(headers.get("content-type")):
        return None
    declared = html_type(headers.get("content-type"))
    if declared is not None:
        return declared
    if headers.get("x-content-type-options", "").split(",")[0].strip().lower() == "nosniff":
        return False
    return None


def sniffs_as_html(body: bytes) -> bool:
    """Whether a body of no usable type starts as an HTML document does (Chromium's
    sniffing: _SNIFFED_TAGS)."""
    return body[:_SNIFF_BYTES].lstrip(b"\t\n\x0b\x0c\r ").lower().startswith(_SNIFFED_TAGS)


def _downloads(disposition: str) -> bool:
    """Whether Content-Disposition keeps the answer from being shown: any disposition type
    but `inline` (RFC 6266: an unknown type is an attachment; a `download; filename=a.html`
    notice was read as a page that forwards, a review), or values that differ (Chromium
    splits the field at commas outside quotes, and several fields too, and refuses the answer
    where they are not all alike: `inline; filename=a,b.html`, `inline,`). As Chromium reads
    it, a type that is no token (`inline attachment`, `"attachment"`) is inline, and so are
    parameters without a type: such seed pages were refused (two reviews)."""
    if not disposition:
        return False
    values = {value.strip(" \t") for value in _header_values(disposition)}
    if len(values) > 1:
        return True
    kind = values.pop().split(";", 1)[0].strip(" \t")
    return bool(_TOKEN.fullmatch(kind)) and kind.lower() != "inline"


# RFC 9110's token, as Chromium's HttpUtil::IsToken reads one.
_TOKEN = re.compile(TOKEN_CHAR + "+")


@dataclass(frozen=True)
class ContentType:
    """What a Content-Type header tells a browser: the type (lower-cased; None where no
    value names one) and the charset (lower-cased; None where none counts)."""

    essence: str | None
    charset: str | None


def content_type(header: str | None) -> ContentType:
    """A Content-Type header read as Chromium reads it (_content_type). The pages of a crawl
    repeat a few headers, each read about four times a page: short ones are remembered (a
    hostile platform's long headers are not, so the cache stays small)."""
    if header is not None and len(header) > _CACHED_HEADER_CHARS:
        return _content_type(header)
    return _content_type_cached(header)


_CACHED_HEADER_CHARS = 200


def _content_type(header: str | None) -> ContentType:
    """A Content-Type header read as Chromium reads it, type and charset in one parse (net's
    ParseContentType over each of the header's values; several headers arrive joined by
    commas, split outside quoted strings). A value's type runs from its first character to
    white space, `;` or `(`, and counts only with a `/` inside it: `text/html x` is HTML.
    The last value whose type counts decides the type, a value that is exactly `*/*` is
    skipped (`text/plain, */*` is text), and a charset stays with its type: a later value of
    the same type without one keeps it, another type drops it. Of a value's parameters the
    first `charset` counts, its value unquoted and trimmed.

    Until the thirty-fourth session the type was cut this way and the charset read by
    Fetch's stricter parser, which skips `text/html x; charset=gbk` altogether: a page shown
    as HTML was decoded without the charset the browser used."""
    essence: str | None = None
    charset = ""  # "" where none counts, as in Chromium
    had_charset = False
    for value in _header_values(header or ""):
        parsed = _parse_value(value)
        if parsed is None or value == "*/*":
            continue
        kind, value_charset = parsed
        changed = kind != essence
        essence = kind
        # A new type drops an earlier charset even where it names none of its own.
        if (changed and had_charset) or value_charset is not None:
            had_charset = True
            charset = value_charset or ""
    return ContentType(essence, charset or None)


_content_type_cached = functools.lru_cache(maxsize=256)(_content_type)


# Types that say nothing of the body: a browser sniffs it as if none were given.
_UNKNOWN_TYPES = frozenset({"*/*", "unknown/unknown", "application/unknown"})


def may_be_page(header: str | None) -> bool:
    """Whether an answer of this Content-Type may be a page a browser shows: HTML, no usable
    type (sniffed), or XML (a page where its root is XHTML's). Any other type is not: its body
    is no page to read (a capture does not keep it: capture.formats.keep_response_body)."""
    return html_type(header) is not False or xml_type(header)


def html_type(header: str | None) -> bool | None:
    """Whether a Content-Type says HTML (True), another type (False) or nothing usable (None:
    a browser sniffs the body)."""
    essence = content_type(header).essence
    if essence is None or essence in _UNKNOWN_TYPES:
        return None
    return essence == "text/html"


def header_charset(header: str | None) -> str | None:
    """The charset a browser takes from a Content-Type header (see content_type)."""
    return content_type(header).charset


_TYPE_END = re.compile(r"[ \t;(]")


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
    """A header's values, split at the commas outside quoted strings, trimmed."""
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
    return [value.strip(" \t\r\n") for value in values]


def _parse_value(value: str) -> tuple[str, str | None] | None:
    """One Content-Type value's type (lower-cased) and first charset parameter (unquoted,
    trimmed, lower-cased), or None where it names no type (Chromium's ParseMimeType: no `/`
    before the type's end). Parameter names are not checked as tokens, nor values."""
    begin = len(value) - len(value.lstrip(FIELD_WHITESPACE))
    found = _TYPE_END.search(value, begin)
    end = found.start() if found else len(value)
    slash = value.find("/")
    if slash < 0 or slash > end:
        return None
    kind = value[begin:end].lower()
    index = value.find(";", end)
    while 0 <= index < len(value):
        index += 1  # past ";"
        while index < len(value) and value[index] in FIELD_WHITESPACE:
            index += 1
        name_end = index
        while name_end < len(value) and value[name_end] not in ";=":
            name_end += 1
        if name_end >= len(value) or value[name_end] == ";":
            index = name_end  # a name without a value
            continue
        name = value[index:name_end]
        index = name_end + 1
        while index < len(value) and value[index] in FIELD_WHITESPACE:
            index += 1
        if index >= len(value) or value[index] == ";":
            continue  # an unquoted value of white space only
        if value[index] == '"':
            parameter, index = _quoted(value, index)
            index = value.find(";", index)
        else:
            semicolon = value.find(";", index)
            parameter = value[index:semicolon if semicolon >= 0 else len(value)]
            index = semicolon
        if name.lower() == "charset":
            return kind, parameter.strip(FIELD_WHITESPACE).lower()
        if index < 0:
            break
    return kind, None


def meta_charset(data: bytes) -> str | None:
    """The label of the first <meta> declaration Blink's prescan takes
    (page.meta_charset_labels): one browsers know; a label they do not know is passed over."""
    return next((label for label in meta_charset_labels(data)
                 if webencodings.lookup(label) is not None), None)


_XML_ENCODING = re.compile(rb"""encoding[ \t\r\n]*=[ \t\r\n]*(["'])([^"'>]*)\1""")


def xml_declared_charset(data: bytes) -> str | None:
    """The encoding an XML declaration names, as Chromium reads one in an HTML page too
    (Blink's CheckForXMLCharset): only at the page's first byte, `<?xml` in lower case, the
    value quoted. An old XHTML 1.0 page served as text/html often declares its Big5 this way
    alone; read as GB18030 (the first trial), its traditional-Chinese block phrase was
    mojibake to hulian and text to every browser (checked with Chromium 131, 2026-12-07)."""
    if not data.startswith(b"<?xml"):
        return None
    end = data.find(b">", 5)
    match = _XML_ENCODING.search(data, 5, end if end >= 0 else len(data))
    return match.group(2).decode("ascii", "replace") if match else None


# WHATWG's encodings that are not ASCII-compatible (an ASCII byte is not the ASCII character);
# "replacement" decodes a whole page to one U+FFFD.
_NOT_ASCII_COMPATIBLE = frozenset({"utf-16le", "utf-16be", "iso-2022-jp", "replacement"})


def _declarations(content_type: str | None, data: bytes) -> Iterator[tuple[str, str]]:
    """The page's declarations of its encoding that a browser knows, in the order it reads
    them, as (WHATWG name, "header" | "meta" | "xml"): the Content-Type's charset, the
    <meta>'s (not for a page of an XML type, which Chromium's XML parser reads) and the XML
    declaration's (Chromium: a <meta> overrides it). A label browsers do not know is no
    declaration; neither of the page's own can say UTF-16 (Blink reads such a page as UTF-8),
    nor can a <meta> say x-user-defined (windows-1252)."""
    yield from _known("header", header_charset(content_type))
    if not xml_type(content_type):
        yield from _known("meta", meta_charset(data))
    yield from _known("xml", xml_declared_charset(data))


def _known(said_by: str, label: str | None) -> Iterator[tuple[str, str]]:
    """The WHATWG name a declaration's label says, as the declaration's place lets it."""
    encoding = webencodings.lookup(label or "")
    if encoding is None:
        return
    name = encoding.name
    if said_by != "header" and name in ("utf-16le", "utf-16be"):
        name = "utf-8"
    elif said_by == "meta" and name == "x-user-defined":
        name = "windows-1252"
    yield name, said_by


def browser_declared(content_type: str | None, data: bytes) -> tuple[str, str] | None:
    """The encoding a browser takes from a page's declarations (_declarations: the first),
    and which one said it."""
    return next(_declarations(content_type, data), None)


def declared_not_ascii(content_type: str | None, data: bytes) -> str | None:
    """The WHATWG name of a declared encoding that reads ASCII bytes as something else
    (UTF-16 without its mark, ISO-2022-JP, the replacement encoding), if the page has one."""
    declared = browser_declared(content_type, data)
    return declared[0] if declared and declared[0] in _NOT_ASCII_COMPATIBLE else None


def _codec_of(name: str) -> codecs.CodecInfo | None:
    """The Python codec that reads WHATWG's encoding `name` (webencodings' choice: Shift_JIS
    as cp932, EUC-KR as cp949, Big5 as Big5-HKSCS), GBK as GB18030, whose decoder WHATWG's
    GBK is; None for the replacement encoding."""
    if name == "replacement":
        return None
    if name == "gbk":
        return codecs.lookup("gb18030")
    encoding = webencodings.lookup(name)
    return encoding.codec_info if encoding is not None else None


def _decode_declared(data: bytes, name: str, errors: str = "replace") -> tuple[str, str]:
    """`data` read in the WHATWG encoding `name` as a browser reads a declared encoding,
    unreadable bytes handled by `errors`, and the codec's name; the replacement encoding is
    one replacement character."""
    codec = _codec_of(name)
    if codec is None:
        return ("\ufffd" if data else ""), name
    if errors == "replace" and codec.name in _LEADS:
        errors = _WHATWG_PAIR
    text = codec.decode(data, errors)[0]
    if name == "shift_jis":
        # cp932 reads four bytes WHATWG's Shift_JIS refuses (0xA0, 0xFD-0xFF) as private-use
        # characters nothing else decodes to: unreadable, as in a browser (an XML page read
        # past such a byte where Chromium stops: a review).
        refused = _CP932_EXTRA.search(text)
        if refused is not None:
            if errors == _XML_STOP:
                return text[:refused.start()] + XML_UNREADABLE, codec.name
            text = _CP932_EXTRA.sub("\ufffd", text)
    return text, codec.name


_CP932_EXTRA = re.compile("[\uf8f0-\uf8f3]")

# WHATWG's Big5 and Shift_JIS decoders take a lead byte and the byte after it together when
# they make no character, unless that byte is ASCII; Python's codecs give up the lead alone,
# and the byte after it then paired with the next: `81 8E 5C` in Big5 swallowed the
# backslash a browser keeps, and a forward ran that stays inside a string for Chromium (a
# review). Their lead bytes, by Python codec name:
_LEADS = {"big5hkscs": frozenset(range(0x81, 0xFF)),
          "cp932": frozenset((*range(0x81, 0xA0), *range(0xE0, 0xFD)))}
# The Big5 pairs of a lead byte and an ASCII byte that WHATWG's index maps to a character and
# Python's big5hkscs does not (read from Chromium 156's TextDecoder, 2026-12-07): left as an
# error and the ASCII byte, `9F 60` kept a backtick Chromium's reading takes into 鬮, and a
# template literal closed for hulian alone (a review).
_BIG5_ASCII_TRAIL = {
    0x877a: "\u3875", 0x877b: "\U00021d53", 0x877c: "\U0002369e", 0x877d: "\U00026021",
    0x877e: "\u3eec", 0x8e69: "\u7bb8", 0x8e6f: "\u7c06", 0x8e7e: "\u7cce", 0x8f57: "\u83c1",
    0x8f69: "\u84a8", 0x8f6e: "\u840f", 0x906d: "\u90fd", 0x907a: "\u92b9", 0x9244: "\u8503",
    0x9447: "\u6d67", 0x9644: "\u975d", 0x9b76: "\u7201", 0x9b78: "\u77d7", 0x9b7b: "\u7e87",
    0x9c42: "\u8f36", 0x9c53: "\u4fbb", 0x9c62: "\u71df", 0x9c68: "\u9104", 0x9c6b: "\u9df0",
    0x9c77: "\u83cf", 0x9d57: "\u8f0b", 0x9d5a: "\u7b51", 0x9f60: "\u9b2e", 0x9f66: "\u9f17",
    0xa063: "\u880f", 0xa077: "\u62ce", 0xfa5f: "\u5029", 0xfa66: "\u507d", 0xfb48: "\u5605",
    0xfc4f: "\u5f58", 0xfc6c: "\u60a4", 0xfe52: "\u732a", 0xfe6f: "\u745c",
}



def _whatwg_pair(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    data, end = error.object, error.start + 1
    if error.encoding == "big5hkscs" and end < len(data):
        paired = _BIG5_ASCII_TRAIL.get(data[error.start] << 8 | data[end])
        if paired is not None:
            return paired, end + 1
    if (data[error.start] in _LEADS.get(error.encoding, ()) and end < len(data)
            and data[end] >= 0x80):
        end += 1
    return "\ufffd", max(end, error.start + 1)


_WHATWG_PAIR = "hulian.whatwg_pair"
codecs.register_error(_WHATWG_PAIR, _whatwg_pair)


def _xml_stop(error: UnicodeError) -> tuple[str, int]:
    # The parser stops at the first unreadable byte: what follows it is never read, and
    # decoding it (a handler's call per byte) took a page of 2 MB of such bytes 30 times
    # longer (a review).
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return XML_UNREADABLE, len(error.object)


# The error handler of XML pages' decoding (page.XML_UNREADABLE for what cannot be read).
_XML_STOP = "hulian.xml_unreadable"
codecs.register_error(_XML_STOP, _xml_stop)


_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
# ISO-2022-JP that Python's codec reads otherwise than WHATWG's decoder: any escape but to
# ASCII or JIS-Roman. `ESC ( I` (katakana) and invalid escapes it reads otherwise, and in the
# two-byte sets a newline or an odd byte before the escape back (two reviews).
_TWO_BYTE_ISO2022JP = re.compile(rb"\x1b(?!\(B|\(J)")


def _python_codec(label: str | None) -> str | None:
    """Python's codec of a label no browser knows, where it names a legacy encoding of
    the trials' kind (not `utf-7` and its like, which no page is in)."""
    if not label:
        return None
    try:
        codec = codecs.lookup(label.strip().lower()).name
    except LookupError:
        return None
    return {"gbk": "gb18030", "gb2312": "gb18030", "big5": "big5hkscs"}.get(codec, codec) \
        if codec in _LEGACY_CODECS else None


# Python's codecs of the East Asian legacy encodings (the reason a label may be a hint).
_LEGACY_CODECS = frozenset({"cp932", "shift_jis", "euc_jp", "cp949", "euc_kr", "cp950",
                            "big5", "big5hkscs", "gb2312", "gbk", "gb18030"})


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_html(data: bytes, content_type: str | None = None,
                max_bytes: int = MAX_PAGE_BYTES, *, saved: bool = False) -> Decoded:
    """Decode page bytes to text. Never raises on content; see the module docstring.
    `saved`: the bytes are a file a person saved (`hulian inspect`, a policy's example),
    whose declaration an editor's re-encoding may have left stale: valid UTF-8, then each
    declaration the bytes fit, decide. An answer (a crawl's, a capture's) is read as the
    browser reads it, by its declaration whatever the bytes."""
    truncated = len(data) > max_bytes
    if truncated:
        # Cut before a '<': it is ASCII and never a byte inside a UTF-8 or GB18030 character,
        # so the cut cannot leave half a character behind.
        cut = data.rfind(b"<", 0, max_bytes)
        data = data[: cut if cut > 0 else max_bytes]

    xml = xml_type(content_type)
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return Decoded(data.decode(encoding, errors=_XML_STOP if xml else "replace"),
                           encoding, "bom", truncated)

    if xml:
        # XML's own rules, as Chromium's XML parser keeps them: the header's charset, else the
        # XML declaration's, else UTF-8; no <meta>, no guess. A byte the encoding cannot read
        # ends the document there (page.XML_UNREADABLE); a guess read past it, a forward
        # Chromium never reached (a review).
        # Labels are WHATWG's, as in an HTML page: an XML declaration's "utf-16" on bytes
        # that are not is UTF-8, and ISO-2022-KR the replacement encoding (Chromium's error
        # page), where Python's codecs of those names read a page no browser shows.
        xml_declared = browser_declared(content_type, data)
        if xml_declared is None:
            return Decoded(data.decode("utf-8", errors=_XML_STOP), "utf-8", "fallback",
                           truncated)
        name, said_by = xml_declared
        shown, codec_name = _decode_declared(data, name, _XML_STOP)
        return Decoded(shown, codec_name, said_by, truncated)

    browser = browser_declared(content_type, data)
    if browser is not None and browser[0] in _NOT_ASCII_COMPATIBLE:
        name, said_by = browser
        return Decoded(_decode_declared(data, name)[0], name, said_by, truncated,
                       unsure=name == "iso-2022-jp" and bool(_TWO_BYTE_ISO2022JP.search(data)))
    if not _HIGH_BYTE.search(data):
        return Decoded(data.decode("ascii"), "ascii", "utf8", truncated)
    if browser is not None and not saved:
        # Declared as browsers read declarations: decoded so, whatever the bytes. Read in
        # another encoding where the declared one did not fit them (valid UTF-8 under a
        # "gbk", a "us-ascii" header over a page's own Shift_JIS), a lead byte that swallows
        # a backslash in one reading and not the other made a script's forward run for hulian
        # and stay inside a string for Chromium (a review).
        name, said_by = browser
        shown, codec_name = _decode_declared(data, name)
        return Decoded(shown, codec_name, said_by, truncated)

    # No declaration a browser knows: Chromium guesses from the content (its detector, never
    # UTF-8 over http) or takes its locale's or the host's country's default (GBK for a
    # Chinese reader or a .cn host, Shift_JIS for .jp, windows-1252 elsewhere): a reading
    # hulian cannot know. Its markup reads alike in all of them (no legacy encoding takes a
    # quote, `<`, `>` or `=` into a character), its scripts do not: a byte >= 0x80 in one
    # may swallow a backslash or brace, or make a name one reading accepts and another
    # refuses (two reviews: undeclared UTF-8 on a .cn host, Shift_JIS, EUC-KR and Big5
    # notices read as GB18030, ran forwards Chromium never ran). page.parse_page decides.
    return replace(_undeclared(data, content_type, truncated), undeclared=not saved)


def _undeclared(data: bytes, content_type: str | None, truncated: bool) -> Decoded:
    """decode_html of a page without a declaration a browser knows (or a saved file's)."""
    # Valid UTF-8 first (it almost
    # never happens by accident), then a label only Python knows (`cp932`, `euc_kr`, `cp950`:
    # Chromium ignores them, and its detector reads such pages right), then the trials. A
    # saved file's declarations come after valid UTF-8, each where the bytes fit it.
    as_utf8 = _strict(data, "utf-8")
    if as_utf8 is not None:
        return Decoded(as_utf8, "utf-8", "utf8", truncated)
    for name, decided_by in _declarations(content_type, data):
        codec = _codec_of(name)
        if codec is not None and codec.name != "utf-8":
            text = _strict(data, codec.name)
            if text is not None and not (name == "shift_jis" and _CP932_EXTRA.search(text)):
                return Decoded(text, codec.name, decided_by, truncated)
    for decided_by, label in (("header", header_charset(content_type)),
                              ("meta", next(meta_charset_labels(data), None))):
        hint = _python_codec(label)
        if hint is not None:
            text = _strict(data, hint)
            if text is not None:
                return Decoded(text, hint, decided_by, truncated)

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
