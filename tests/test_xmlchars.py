"""The one decision about characters XML 1.0 cannot carry (audit/web/xmlchars.py), used by
the page parser's fallback tree, the graph exports and the JUnit/report exports."""

from __future__ import annotations

from xml.sax.saxutils import escape

import lxml.etree
from hypothesis import example, given
from hypothesis import strategies as st

from audit.web.xmlchars import REPLACEMENT, comment_text, xml_comment, xml_text


@given(st.text())
def test_any_text_becomes_xml_that_parses_and_only_unwritable_characters_change(
        text: str) -> None:
    safe = xml_text(text)
    root = lxml.etree.fromstring(f"<a>{escape(safe)}</a>".encode("utf-8", "surrogatepass"))
    assert len(safe) == len(text)
    for before, after in zip(text, safe, strict=True):
        assert after in (before, REPLACEMENT)
    if safe == text:  # nothing to replace: the text comes back as it was (\r aside)
        assert (root.text or "") == text.replace("\r\n", "\n").replace("\r", "\n")


@given(st.text())
@example("a---b")
@example("-")
@example("--")
def test_any_text_becomes_a_comment_that_parses(text: str) -> None:
    body = comment_text(text)
    assert "--" not in body and not body.endswith("-")
    lxml.etree.fromstring(f"<a>{xml_comment(text)}</a>".encode("utf-8", "surrogatepass"))


def test_each_kind_of_unwritable_character() -> None:
    for bad in ("\x00", "\x08", "\x0b", "\x0c", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff"):
        assert xml_text(f"a{bad}b") == f"a{REPLACEMENT}b"
        assert xml_text(f"a{bad}b", replacement="") == "ab"
    for good in ("\t", "\n", "\r", " ", "中", "\ufffd", "\U0001f600", "\ue000"):
        assert xml_text(f"a{good}b") == f"a{good}b"
