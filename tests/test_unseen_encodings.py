"""Block pages in encodings and characters a browser reads differently from plain bytes: a
page must read as the browser shows it, and never as the target reached where the browser
shows a notice (an adversarial review of encodings and languages)."""

from __future__ import annotations

import pytest

from audit.judge.inspect import inspect_bytes
from audit.model import Outcome
from audit.policy.catalog import Catalog, load_catalog
from audit.web.decode import (
    ContentType,
    content_type,
    decode_html,
    header_charset,
    html_type,
    shown_as_html,
)
from audit.web.page import parse_page
from tests.chaindrive import ARTICLE, TARGET, WRAPPER, drive

THIRD_PARTY = "https://safe.linkguard-example.net/check?id=9"
TARGET_PAGE = ("<html><head><meta charset=utf-8><title>Teapot</title></head><body>"
               f"<h1>Teapot</h1>{ARTICLE}</body></html>")

# ISO-2022-JP's shifts: after ESC $ B a browser reads byte pairs as kanji, so markup between
# the shifts is characters to it and markup to an ASCII reading.
TO_KANJI, TO_ASCII = b"\x1b$B", b"\x1b(B"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _even(data: bytes) -> bytes:
    return data if len(data) % 2 == 0 else data + b" "


def _outcome(catalog: Catalog, content_type: str, body: bytes,
             target_page: str = TARGET_PAGE) -> Outcome:
    """A Zhihu link whose wrapper sends it to a third party's page `body`; the target's own
    page is `target_page`."""
    return drive(catalog, WRAPPER, {WRAPPER: (302, {"location": THIRD_PARTY}, b""),
                                    THIRD_PARTY: (200, {"content-type": content_type}, body)},
                 {TARGET: (200, {"content-type": "text/html; charset=utf-8"},
                           target_page.encode())}).outcome


OPEN = {Outcome.DIRECT, Outcome.WRAPPED}
NOTICE_JA = "このリンクは利用規約違反のためブロックされました"


def _iso2022_smuggler() -> bytes:
    """The target's page to an ASCII reading; to a browser reading ISO-2022-JP, the target's
    page is inside a comment and a block notice is what shows."""
    target_body = TARGET_PAGE.split("<body>")[1].split("</body>")[0].encode()
    notice = f"<h1>{NOTICE_JA}</h1>".encode("iso2022_jp")
    return (b"<html><head><title>Teapot</title></head><body>"
            + b"<!--" + TO_KANJI + _even(b"-->" + target_body + b"<!--") + TO_ASCII + b"-->"
            + b"<!--" + TO_KANJI + _even(b"--><div hidden>") + TO_ASCII + b"-->" + notice
            + b"</div></body></html>")


@pytest.mark.parametrize("declared", ["header", "meta"])
def test_an_iso2022jp_page_is_read_as_a_browser_reads_it(catalog: Catalog,
                                                         declared: str) -> None:
    body = _iso2022_smuggler()
    content_type = "text/html; charset=iso-2022-jp" if declared == "header" else "text/html"
    if declared == "meta":
        body = b'<meta charset="ISO-2022-JP">' + body
    decoded = decode_html(body, content_type)
    assert (decoded.encoding, decoded.decided_by) == ("iso-2022-jp", declared)
    page = parse_page(decoded.text)
    assert NOTICE_JA in page.text and "Teapot number" not in page.text
    assert _outcome(catalog, content_type, body) not in OPEN


def _utf16_smuggler() -> bytes:
    """UTF-16LE without a byte-order mark whose every byte is below 0x80: read as ASCII, the
    target's page; read as UTF-16LE (as the header says), a notice."""
    notice = "--><html><body><h1>此网址停止打开</h1><p>此网址停止打开</p></body></html>"
    encoded = "<!--".encode("utf-16-le") + _even(TARGET_PAGE.encode()) + notice.encode(
        "utf-16-le")
    assert max(encoded) < 0x80
    return encoded


def test_a_utf16_page_without_its_mark_is_read_as_its_header_says(catalog: Catalog) -> None:
    body = _utf16_smuggler()
    decoded = decode_html(body, "text/html; charset=utf-16le")
    assert decoded.encoding == "utf-16le"
    assert parse_page(decoded.text).text == "此网址停止打开\n此网址停止打开"
    assert _outcome(catalog, "text/html; charset=utf-16le", body) not in OPEN
    # `hulian inspect` reads it as the crawl does, rather than refusing it as binary.
    inspected = inspect_bytes(body, catalog, source="page.html", url=THIRD_PARTY,
                              content_type="text/html; charset=UTF-16")
    assert inspected.result["url"] == THIRD_PARTY and inspected.result["links"] == []


def test_declarations_are_read_as_browsers_read_them() -> None:
    # A <meta> cannot say UTF-16 (a browser reads such a page as UTF-8), nor x-user-defined.
    assert decode_html(b'<meta charset="utf-16"><p>hi</p>').text.endswith("<p>hi</p>")
    # An encoding browsers replace shows one replacement character, whatever the bytes.
    replaced = decode_html(b"<p>\x1b$)C\x0e!!\x0f</p>", "text/html; charset=iso-2022-kr")
    assert (replaced.text, replaced.encoding) == ("\ufffd", "replacement")
    # The header speaks before the page's <meta>.
    assert decode_html(b'<meta charset="iso-2022-jp"><p>hi</p>',
                       "text/html; charset=windows-1252").encoding != "iso-2022-jp"
    # A label browsers do not know is no declaration (Python's utf-7 codec is not read).
    assert decode_html(b"<p>+ZeVnLIqe-</p>", "text/html; charset=utf-7").text == (
        "<p>+ZeVnLIqe-</p>")


XHTML_1_BIG5 = (b'<?xml version="1.0" encoding="big5"?>\n'
                b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
                b'"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
                b'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>'
                + "提示".encode("big5") + b"</title></head><body><p>"
                + "已停止訪問該網頁".encode("big5") + b"</p></body></html>")


def test_an_xml_declaration_names_a_pages_encoding_as_in_a_browser(catalog: Catalog) -> None:
    # An XHTML 1.0 page served as text/html declares its Big5 in the XML declaration alone:
    # Chromium reads it (checked with Chromium 131); hulian tried GB18030 first, and the
    # traditional-Chinese block phrase was mojibake and the block page `unrecognized`.
    decoded = decode_html(XHTML_1_BIG5, "text/html")
    assert (decoded.encoding, decoded.decided_by) == ("big5hkscs", "xml")
    assert "已停止訪問該網頁" in parse_page(decoded.text).text
    assert _outcome(catalog, "text/html", XHTML_1_BIG5) is Outcome.BLOCKED
    # As Chromium: only at the first byte, in lower case, quoted; the header and a <meta>
    # speak before it.
    for other in (b" " + XHTML_1_BIG5, XHTML_1_BIG5.replace(b"<?xml", b"<?XML"),
                  XHTML_1_BIG5.replace(b'"big5"', b"big5")):
        assert decode_html(other, "text/html").encoding == "gb18030"
    assert decode_html(XHTML_1_BIG5, "text/html; charset=gbk").encoding == "gb18030"
    with_meta = XHTML_1_BIG5.replace(b"<head>", b'<head><meta charset="gbk"/>')
    assert decode_html(with_meta, "text/html").encoding == "gb18030"
    assert decode_html(XHTML_1_BIG5.replace(b'"big5"', b"'big5'"), "text/html").encoding == (
        "big5hkscs")


def test_a_notice_in_a_picture_is_not_the_targets_text(catalog: Catalog) -> None:
    # The target's title and skeleton, padded to its length, the notice only an image: no
    # text against the target's text says nothing of likeness.
    padding = "<!--" + "x" * (len(TARGET_PAGE) - 300) + "-->"
    body = ("<html><head><meta charset=utf-8><title>Teapot</title></head><body><h1>"
            "<img src=/blocked.png alt='此链接因违反平台规定无法访问'></h1>"
            + "<p></p>" * 40 + padding + "</body></html>").encode()
    assert _outcome(catalog, "text/html; charset=utf-8", body) not in OPEN


SHORT_TARGET = ("<html><head><meta charset=utf-8><title>Teapot</title></head><body>"
                "<h1>Teapot</h1><p>A ceramic teapot, hand made, ships in three days.</p>"
                "<p>价格 ¥99</p></body></html>")


@pytest.mark.parametrize("invisible", ["", "\u200b", "&shy;", "\u2060", "\u200c", "\u200d",
                                       "\ufeff", "\u200e", "\ufe00"])
def test_a_phrase_with_an_invisible_character_inside_is_the_phrase(
        catalog: Catalog, invisible: str) -> None:
    # Drawn the same as the phrase (Chromium gives both one width), so it is the phrase: the
    # markers read it, and the page in the target's clothes is no target reached.
    body = SHORT_TARGET.replace("</body>", f"<p>该链接{invisible}已被屏蔽</p></body>").encode()
    assert _outcome(catalog, "text/html; charset=utf-8", body, SHORT_TARGET) is Outcome.BLOCKED
    page = parse_page(f"<title>已被{invisible}屏蔽</title><p>a{invisible}b</p>"
                      f"<a href=/x>继{invisible}续</a>")
    assert (page.title, page.text, page.anchors[0].text) == ("已被屏蔽", "ab\n继续", "继续")


# Each checked against Chromium 131's document.contentType and characterSet for the same
# headers, served from 127.0.0.1 (45 cases; the session's /tmp/p34/chromium_ct.py).
@pytest.mark.parametrize(("header", "essence", "charset"), [
    ('text/html; x="charset=utf-8"; charset=utf-16le', "text/html", "utf-16le"),  # quoted
    ("text/html; charset=utf-8, text/html; charset=utf-16le", "text/html", "utf-16le"),
    ("text/html; charset=gbk, text/html", "text/html", "gbk"),  # the same type keeps it
    ("text/html; charset=gbk, text/plain", "text/plain", None),  # another type starts again
    ("text/html; charset=gbk, text/plain, text/html", "text/html", None),
    ("text/html; charset=gbk, */*", "text/html", "gbk"),  # exactly `*/*` is skipped
    ("text/html; charset=gbk, */*; q=1", "*/*", None),  # ... not with a parameter
    ("text/html; charset=gbk, nonsense", "text/html", "gbk"),  # nor is what has no `/`
    ('text/html; charset="utf-8"', "text/html", "utf-8"),
    ("text/html;charset=UTF-8 ", "text/html", "utf-8"),
    ("text/html", "text/html", None),
    ("", None, None),
    # The type ends at white space, `;` or `(`, and what follows it is not checked.
    ("text/html x; charset=gbk", "text/html", "gbk"),
    ("text/html(x); charset=gbk", "text/html", "gbk"),
    ("TEXT/HTML; charset=euc-kr", "text/html", "euc-kr"),
    ("text/; charset=gbk", "text/", "gbk"),
    # Chromium's reading of parameters: white space after `=` and inside quotes trimmed,
    # none before `=`; names are not checked; a charset that is no label is no charset.
    ("text/html;charset= gbk", "text/html", "gbk"),
    ('text/html; charset=" gbk "', "text/html", "gbk"),
    ("text/html; charset =gbk", "text/html", None),
    ("text/html; ch@rset=gbk; charset=big5", "text/html", "big5"),
    ('text/html; charset=""; charset=gbk', "text/html", None),  # the first charset counts
    ("text/html; charset=; charset=gbk", "text/html", "gbk"),  # a value of nothing does not
    ("text/html; charset=gbk x", "text/html", "gbk x"),
    # Broken headers: read without an exception.
    ('text/html; charset="utf-8', "text/html", "utf-8"),  # a quote never closed
    ('text/html; charset="ut\\f-8"', "text/html", "utf-8"),  # a backslash quotes
    ("text/html; =gbk; charset", "text/html", None),  # no name, no value
    ("text/html; charset=gbk; charset=utf-8", "text/html", "gbk"),
    ("; charset=gbk", None, None), (",,,", None, None), ('"', None, None),
])
def test_a_content_type_is_read_as_chromium_reads_it(header: str, essence: str | None,
                                                     charset: str | None) -> None:
    assert content_type(header) == ContentType(essence, charset)
    assert header_charset(header) == charset


@pytest.mark.parametrize("header", ["text/html (utf-16 page); charset=utf-16le",
                                    "text/html x; charset=utf-16le"])
def test_a_charset_after_a_type_with_a_comment_decides(catalog: Catalog, header: str) -> None:
    # The type and the charset come from one parse: a page shown as HTML is decoded with the
    # charset the browser takes. Before, the charset's parser skipped such a value whole and
    # the UTF-16 page read as ASCII: the target's page.
    body = _utf16_smuggler()
    assert decode_html(body, header).encoding == "utf-16le"
    assert _outcome(catalog, header, body) not in OPEN


def test_a_charset_hidden_in_a_quoted_parameter_does_not_decide(catalog: Catalog) -> None:
    content_type = 'text/html; x="charset=utf-8"; charset=utf-16le'
    body = _utf16_smuggler()
    assert decode_html(body, content_type).encoding == "utf-16le"
    assert _outcome(catalog, content_type, body) not in OPEN


@pytest.mark.parametrize(("headers", "body", "shown"), [
    # Content-Disposition as Chromium reads it: a type that is no token is inline, equal
    # values are one, values that differ (split at commas outside quotes, as two fields
    # arrive joined) make it refuse the answer.
    ({"content-disposition": "inline attachment"}, b"<p>x", True),
    ({"content-disposition": '"attachment"'}, b"<p>x", True),
    ({"content-disposition": "attachment\x0c"}, b"<p>x", True),
    ({"content-disposition": "filename=a.html"}, b"<p>x", True),
    ({"content-disposition": "inline, inline"}, b"<p>x", True),
    ({"content-disposition": 'inline; filename="a,b.html"'}, b"<p>x", True),
    ({"content-disposition": "inline, attachment"}, b"<p>x", False),
    ({"content-disposition": "inline; filename=a,b.html"}, b"<p>x", False),
    ({"content-disposition": "inline,"}, b"<p>x", False),
    ({"content-disposition": "Attachment; filename=a.html"}, b"<p>x", False),
    ({"content-disposition": "download"}, b"<p>x", False),
    # Sniffing: a sniffable tag as a prefix, after ASCII white space, in the first 512 bytes.
    ({}, b"<html\nlang=zh><p>x", True), ({}, b"<bx>", True), ({}, b"<!DOCTYPE html\n>", True),
    ({}, b" " * 507 + b"<html>", True), ({}, b" " * 508 + b"<html>", False),
    ({}, b"\x0b\x0c<P>", True), ({}, b"<?xml version='1.0'?><html>", False),
    ({}, b"\xef\xbb\xbf<html>", False), ({}, b"see <html>", False),
])
def test_a_body_is_shown_as_chromium_shows_it(headers: dict[str, str], body: bytes,
                                              shown: bool) -> None:
    # Each case as Chromium 131 showed it from 127.0.0.1 (a review, 2026-12-07).
    assert shown_as_html({"content-type": "text/html", **headers} if headers else {},
                         body) is shown


def test_a_field_value_keeps_what_is_not_space_or_tab() -> None:
    # `text/html\x0b` is text to Chromium, `\x0ctext/html` a download: neither is a page.
    for header in ("text/html\x0b", "text/html\x0c", "\x0ctext/html", "text/html\xa0"):
        assert html_type(header) is False


# Bytes and labels checked against Chromium 156 (application/xhtml+xml, Playwright's route):
# the XML parser reads WHATWG's labels as an HTML page does; a page's own declaration of
# UTF-16 on bytes that are not is UTF-8; a <meta> is not read at all.
XHTML_BODY = (b'<html xmlns="http://www.w3.org/1999/xhtml"><body><p>leaving '
              + "你".encode() + b"</p></body></html>")


@pytest.mark.parametrize(("declaration", "header", "encoding", "shown"), [
    (b'<?xml version="1.0" encoding="utf-16"?>', "application/xhtml+xml", "utf-8", "leaving 你"),
    (b'<?xml version="1.0" encoding="utf-16le"?>', "text/xml", "utf-8", "leaving 你"),
    (b'<?xml version="1.0" encoding="latin1"?>', "application/xhtml+xml", "cp1252",
     "leaving ä½\xa0"),
    (b'<?xml version="1.0" encoding="x-user-defined"?>', "application/xhtml+xml",
     "x-user-defined", "leaving \uf7e4\uf7bd\uf7a0"),
    (b"", "application/xhtml+xml; charset=iso-2022-kr", "replacement", None),
])
def test_an_xml_pages_declaration_is_read_as_chromium_reads_it(
        declaration: bytes, header: str, encoding: str, shown: str | None) -> None:
    decoded = decode_html(declaration + XHTML_BODY, header)
    assert decoded.encoding == encoding
    if shown is None:
        assert decoded.text == "\ufffd"
    else:
        assert parse_page(decoded.text, xml=True).text.strip() == shown.strip()
    with_meta = XHTML_BODY.replace(b"<body>", b'<head><meta charset="utf-16"/></head><body>')
    assert decode_html(with_meta, "application/xhtml+xml").encoding == "utf-8"


def test_an_xhtml_notice_declaring_utf16_is_read(catalog: Catalog) -> None:
    # Python's UTF-16 codec read it as CJK mojibake: the block phrase was never found.
    notice = (b'<?xml version="1.0" encoding="UTF-16"?>'
              b'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>'
              + "提示".encode() + b"</title></head><body><p>"
              + "已停止访问该网页".encode() + b"</p></body></html>")
    assert _outcome(catalog, "application/xhtml+xml", notice) is Outcome.BLOCKED


def test_an_xhtml_page_a_browser_cannot_decode_is_not_followed(catalog: Catalog) -> None:
    # Chromium decodes ISO-2022-KR as the replacement encoding and shows its XML error page:
    # the forward below never runs. Python's codec read it, and the link read as opened.
    forward = (b'<html xmlns="http://www.w3.org/1999/xhtml"><body><script>'
               b"location.replace('" + TARGET.encode() + b"')</script></body></html>")
    def outcome(content_type: str) -> Outcome:
        target = (200, {"content-type": "text/html; charset=utf-8"}, TARGET_PAGE.encode())
        return drive(catalog, WRAPPER, {WRAPPER: (302, {"location": THIRD_PARTY}, b""),
                                        THIRD_PARTY: (200, {"content-type": content_type},
                                                      forward),
                                        TARGET: target}, {TARGET: target}).outcome

    assert outcome("application/xhtml+xml; charset=iso-2022-kr") not in OPEN
    assert outcome("application/xhtml+xml; charset=utf-8") in OPEN


@pytest.mark.parametrize(("label", "text", "codec"), [
    ("x-sjis", "このリンクはブロックされました", "cp932"),
    ("windows-31j", "このリンクはブロックされました①", "cp932"),
    ("shift_jis", "このリンクはブロックされました①", "cp932"),
    ("windows-949", "이 링크는 차단되었습니다", "cp949"),
    ("euc-kr", "이 링크는 차단되었습니다 똠", "cp949"),
    ("x-x-big5", "已停止訪問該網頁", "big5"),
    ("cn-big5", "已停止訪問該網頁", "big5"),
])
def test_a_label_browsers_know_names_the_encoding(label: str, text: str, codec: str) -> None:
    # WHATWG's labels, as browsers read them: Python's codec names do not know `x-sjis` or
    # `windows-949`, and Python's Shift_JIS and EUC-KR lack characters browsers' have (①, 똠):
    # such notices were GB18030 mojibake.
    body = f"<html><body><p>{text}</p></body></html>".encode(codec)
    assert text in decode_html(body, f"text/html; charset={label}").text
    assert text in decode_html(f'<meta charset="{label}">'.encode() + body).text


def test_a_label_browsers_do_not_know_is_no_declaration() -> None:
    gbk = "<html><body><p>已停止访问该网页</p></body></html>".encode("gbk")
    # Python knows `cp936` and `utf-7`; browsers do not (Chromium 156 guessed GBK, as hulian
    # reads it: a legacy label only Python knows is a hint, utf-7 none). Chromium reads `us-ascii` as windows-1252, Latin mojibake of a GBK
    # page, and so does hulian: read by the trials, a page's own Shift_JIS behind the header
    # was believed, whose lead bytes swallow a backslash (a review).
    for label in ("cp936", "utf-7"):
        decoded = decode_html(gbk, f"text/html; charset={label}")
        assert decoded.encoding == "gb18030" and "已停止访问该网页" in decoded.text
    assert decode_html(gbk, "text/html; charset=us-ascii").encoding == "cp1252"
    # A <meta> saying UTF-16 on bytes that are not is no UTF-16: Blink reads UTF-8.
    assert decode_html(b'<meta charset="utf-16">' + gbk).encoding == "utf-8"


def test_an_xhtml_pages_own_replacement_character_is_text() -> None:
    # Chromium stops an XML page at a byte its encoding cannot read, not at a U+FFFD the page
    # holds (valid UTF-8): such a page was cut there, read as an encoding error.
    held = ('<html xmlns="http://www.w3.org/1999/xhtml"><body><p>a\ufffdb</p>'
            "<p>c</p></body></html>").encode()
    page = parse_page(decode_html(held, "application/xhtml+xml").text, xml=True)
    assert (page.text.split(), page.parse_issue) == (["a\ufffdb", "c"], None)
    broken = held.replace("\ufffd".encode(), b"\xff")
    for header in ("application/xhtml+xml", "application/xhtml+xml; charset=gbk"):
        page = parse_page(decode_html(broken, header).text, xml=True)
        assert (page.text.split(), page.parse_issue) == (["a"], "xml_error"), header
    with_bom = _utf16_with_mark(held.decode().replace("\ufffd", "\ud800"))
    page = parse_page(decode_html(with_bom, "application/xhtml+xml").text, xml=True)
    assert (page.text.split(), page.parse_issue) == (["a"], "xml_error")


def _utf16_with_mark(text: str) -> bytes:
    """`text` as UTF-16LE with its mark, a lone surrogate kept as the unreadable unit."""
    return b"\xff\xfe" + text.encode("utf-16-le", "surrogatepass")


def test_an_answer_is_decoded_as_declared_whatever_its_bytes() -> None:
    # A header saying us-ascii (windows-1252 to a browser) over a page declaring Shift_JIS
    # whose 0x81 swallows the backslash after it: Chromium reads windows-1252, the quote is
    # escaped and the forward stays in the string; hulian believed the page's Shift_JIS
    # and followed it (a review). The same with valid UTF-8 under a "gbk" (the lead byte
    # 0xA0 of a GBK pair takes the backslash).
    script = b'<script>var a="\x81\\";location.replace("https://t.example/");//"</script>'
    page = b'<html><head><meta charset="shift_jis"></head><body>' + script + b"</body></html>"
    decoded = decode_html(page, "text/html; charset=us-ascii")
    assert decoded.encoding == "cp1252"
    scripts = parse_page(decoded.text, "https://p.example/").runnable_scripts
    assert len(scripts) == 1 and '\\";location.replace(' in scripts[0]  # the quote escaped
    utf8 = ('<html><head><meta charset="gbk"></head><body><script>var a="你\\\\";'
            'location.replace("https://t.example/")</script></body></html>').encode()
    assert decode_html(utf8).encoding == "gb18030"  # as declared, as Chromium reads it
    assert decode_html(utf8, saved=True).encoding == "utf-8"  # a file a person saved


def test_shift_jis_bytes_browsers_refuse_are_unreadable() -> None:
    # Python's cp932 reads 0xA0 and 0xFD-0xFF as private-use characters; WHATWG's Shift_JIS
    # refuses them, and Chromium's XML parser stops there (a review: read on, the forward
    # after the byte was followed).
    body = b'<html xmlns="http://www.w3.org/1999/xhtml"><body><p>a\xa0b</p><p>c</p></body></html>'
    xml = decode_html(body, "application/xhtml+xml; charset=shift_jis")
    assert parse_page(xml.text, xml=True).text.split() == ["a"]
    html = decode_html(body, "text/html; charset=shift_jis")
    assert "a\ufffdb" in html.text


_PAD_COMMENT = "<!-- " + "x" * 1100 + " -->"


# Which <meta> declares a page's encoding, checked with Chromium 156 (2026-12-07): UTF-8 bytes
# under each; Chromium's `document.characterSet` was GBK where `declared` is True.
@pytest.mark.parametrize(("markup", "declared"), [
    ("<meta charset=gbk>", True),
    ("<head><noscript><meta charset=gbk></noscript></head>", True),
    ("<title><meta charset=gbk></title>", False),
    ("<!--<meta charset=gbk>-->", False),
    ("<script>var s='<meta charset=gbk>'</script>", False),
    ("<p>x</p><meta charset=gbk>", True),  # in the first 1,024 bytes, anywhere
    ("<p>" + "y" * 1100 + "</p><meta charset=gbk>", False),  # in the body, after them
    ("<head>" + _PAD_COMMENT + "<meta charset=gbk></head>", True),  # in a long head
    ("<head>" + _PAD_COMMENT + "<div></div><meta charset=gbk>", False),
    ('<meta name=description content="text/html; charset=gbk">', False),
    ('<meta http-equiv=Content-Type content="text/html; charset=gbk">', True),
    ('<meta content="text/html; charset=gbk" http-equiv="content-type">', True),
    ("<meta charset=bogus><meta charset=gbk>", True),
    ("<metadata charset=gbk>", False),
    ("<svg><meta charset=gbk></svg>", True),
    # Where Blink's prescan stops (the review after): past 1,024 bytes at a tag that ends the
    # head section, an end tag included; text does not end it.
    ("<head>" + _PAD_COMMENT + "</head><meta charset=gbk>", False),
    ("<head>" + _PAD_COMMENT + "</p><meta charset=gbk>", False),
    ("<head>" + _PAD_COMMENT + "hello<meta charset=gbk>", True),
    ("<head>" + _PAD_COMMENT + "<link rel=x><meta charset=gbk>", True),
    ("<p>" + "y" * 1027 + "<meta charset=gbk>", False),
    # Blink's reading of `content`: an unquoted value ends at a quote, controls are skipped.
    ("<meta http-equiv=content-type content=\"charset=gbk'\">", True),
    ('<meta http-equiv=content-type content="charset=\x0bgbk">', True),
])
def test_a_meta_declares_as_blinks_prescan_reads_it(markup: str, declared: bool) -> None:
    decoded = decode_html((markup + "<p>你</p>").encode(), "text/html")
    assert (decoded.decided_by == "meta") is declared
    assert (decoded.encoding == "gb18030") is declared


def test_a_meta_only_a_pattern_saw_runs_no_forward(catalog: Catalog) -> None:
    # A UTF-8 notice with a `gbk` declaration in a comment: read as GBK, the lead byte of
    # 你's last two bytes swallowed the backslash and the forward ran; Chromium reads no
    # declaration there and the forward stays inside the string (a review).
    notice = ('<!--<meta charset=gbk>--><html><body><p>이 링크는 차단되었습니다</p><script>'
              'var s="你\\"; location.replace("https://shop.example-target.com/item/42"); //";'
              "</script></body></html>").encode()
    assert _outcome(catalog, "text/html", notice) not in OPEN


@pytest.mark.parametrize(("name", "data"), [
    ("big5", b"\x81\x8e\\"), ("shift_jis", b"\x85\x81\\"), ("big5", b"\xa4\x40\\"),
])
def test_a_pair_that_makes_no_character_is_one_error(name: str, data: bytes) -> None:
    # WHATWG's Big5 and Shift_JIS take a lead byte and a non-ASCII byte after it together
    # where they make no character (Chromium's TextDecoder agrees); Python's codecs gave up
    # the lead alone and paired the next byte with the backslash (a review).
    text = decode_html(b"<p>" + data + b"</p>", f"text/html; charset={name}").text
    assert text.endswith("\\</p>")


def test_big5_pairs_browsers_know_take_their_ascii_byte() -> None:
    # WHATWG's Big5 index maps `9F 60` to 鬮; Python's big5hkscs does not, and the backtick
    # it left closed a template literal for hulian alone, running a forward (a review).
    text = decode_html(b"<script>var s=`a\x9f`; go(); //`;</script>",
                       "text/html; charset=big5").text
    assert "a\u9b2e;" in text and text.count("`") == 2


_BLOCK_KO = "<p>이 링크는 차단되었습니다</p>".encode()


@pytest.mark.parametrize("notice", [
    # Undeclared: Chromium reads UTF-8 on a .cn host as GBK (its default there), whose pair
    # takes the backtick; hulian read UTF-8 and followed the forward (a review).
    _BLOCK_KO + f"<script>var s=`你`; location.replace('{TARGET}'); //`</script>".encode(),
    # Undeclared Shift_JIS (Chromium's detector reads it so) read as GB18030: ｱ (0xB1) took
    # the backslash for hulian alone.
    b'<p>x</p><script>var s="\xb1\\"; location.replace("' + TARGET.encode()
    + b'"); //"</script>',
])
def test_an_undeclared_page_browsers_may_read_otherwise_is_not_followed(
        catalog: Catalog, notice: bytes) -> None:
    decoded = decode_html(notice, "text/html")
    assert decoded.undeclared
    assert parse_page(decoded.text, THIRD_PARTY,
                      undeclared=True).parse_issue == "encoding_unsure"
    assert _outcome(catalog, "text/html", notice) not in OPEN


def test_an_undeclared_scripts_own_characters_decide_whether_it_runs(catalog: Catalog) -> None:
    # A name in UTF-8 is a SyntaxError read as windows-1252 or GBK (Chromium 156 stays): no
    # byte before a backslash or brace, yet read as UTF-8 the forward was followed (the
    # review after).
    notice = _BLOCK_KO + f"<script>var 你=1; location.replace('{TARGET}')</script>".encode()
    assert _outcome(catalog, "text/html", notice) not in OPEN


def test_an_undeclared_page_whose_scripts_are_ascii_is_followed(catalog: Catalog) -> None:
    # Text no script holds reads alike for every browser: a wrapper's forward on a page with
    # `参考文献[1]` in its body was dropped and the link read `diverted` (the review after).
    page = ("<html><body><p>参考文献[1]</p><script>location.replace('" + TARGET
            + "')</script></body></html>").encode()
    target = (200, {"content-type": "text/html; charset=utf-8"}, TARGET_PAGE.encode())
    observed = drive(catalog, WRAPPER, {WRAPPER: (200, {"content-type": "text/html"}, page),
                                        TARGET: target}, {TARGET: target})
    assert observed.outcome in OPEN
    # With a character beyond ASCII in the script, not followed, and not a diversion.
    unsure = page.replace(b"<script>", "<script>var a='你';".encode())
    observed = drive(catalog, WRAPPER, {WRAPPER: (200, {"content-type": "text/html"}, unsure),
                                        TARGET: target}, {TARGET: target})
    assert observed.outcome is Outcome.UNRECOGNIZED


def test_a_declared_page_is_followed_as_its_browser_reads_it(catalog: Catalog) -> None:
    notice = _BLOCK_KO + f"<script>var s=`你`; location.replace('{TARGET}'); //`</script>".encode()
    assert not decode_html(notice, "text/html; charset=utf-8").unsure
    target = (200, {"content-type": "text/html; charset=utf-8"}, TARGET_PAGE.encode())
    observed = drive(catalog, WRAPPER, {WRAPPER: (302, {"location": THIRD_PARTY}, b""),
                                        THIRD_PARTY: (200, {"content-type":
                                                            "text/html; charset=utf-8"}, notice),
                                        TARGET: target}, {TARGET: target})
    assert observed.outcome in OPEN


@pytest.mark.parametrize("escape", [b"\x1b(I", b"\x1b(\n", b"\x1b$Z",
                                    # a newline in the two-byte set: WHATWG's U+FFFD
                                    b"\x1b$B0!\n"])
def test_an_iso2022jp_escape_python_reads_otherwise_is_not_followed(
        catalog: Catalog, escape: bytes) -> None:
    # WHATWG's decoder switches to half-width katakana at `ESC ( I` and drops only the ESC of
    # an invalid escape; Python's codec does neither, and a forward Chromium never ran was
    # followed (a review).
    body = (b'<html><body><p>x</p><script>var s="A' + escape + b'"\x1b(B;location.replace("'
            + TARGET.encode() + b'");//"</script></body></html>')
    assert decode_html(body, "text/html; charset=iso-2022-jp").unsure
    assert _outcome(catalog, "text/html; charset=iso-2022-jp", body) not in OPEN
