"""Block pages in encodings and characters a browser reads differently from plain bytes: a
page must read as the browser shows it, and never as the target reached where the browser
shows a notice (an adversarial review of encodings and languages)."""

from __future__ import annotations

import pytest

from audit.judge.inspect import inspect_bytes
from audit.model import Outcome
from audit.policy.catalog import Catalog, load_catalog
from audit.web.decode import decode_html, header_charset
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


@pytest.mark.parametrize(("content_type", "charset"), [
    ('text/html; x="charset=utf-8"; charset=utf-16le', "utf-16le"),  # quoted: one value
    ("text/html; charset=utf-8, text/html; charset=utf-16le", "utf-16le"),  # the last header
    ("text/html; charset=gbk, text/html", "gbk"),  # the same type keeps its charset
    ("text/html; charset=gbk, text/plain", None),  # another type starts again
    ("text/html; charset=gbk, */*", "gbk"),  # `*/*` is skipped
    ("text/html; charset=gbk, nonsense", "gbk"),  # so is what is no MIME type
    ('text/html; charset="utf-8"', "utf-8"),
    ("text/html;charset=UTF-8 ", "UTF-8"),
    ("text/html", None),
    ("", None),
    # Broken headers: read as the MIME Sniffing standard reads them, never an exception.
    ('text/html; charset="utf-8', "utf-8"),  # a quote never closed ends with the header
    ('text/html; charset="ut\\f-8"', "utf-8"),  # a backslash quotes the next character
    ("text/html; =gbk; charset", None),  # a parameter without a name, one without a value
    ("text/html; charset=gbk; charset=utf-8", "gbk"),  # the first of a name counts
    ("; charset=gbk", None), ("text/; charset=gbk", None), (",,,", None), ('"', None),
])
def test_a_content_type_is_read_as_fetch_reads_it(content_type: str,
                                                  charset: str | None) -> None:
    assert header_charset(content_type) == charset


def test_a_charset_hidden_in_a_quoted_parameter_does_not_decide(catalog: Catalog) -> None:
    content_type = 'text/html; x="charset=utf-8"; charset=utf-16le'
    body = _utf16_smuggler()
    assert decode_html(body, content_type).encoding == "utf-16le"
    assert _outcome(catalog, content_type, body) not in OPEN
