"""The characters XML 1.0 cannot carry (https://www.w3.org/TR/xml/#charsets): control
characters other than tab, newline and carriage return, lone surrogates, U+FFFE and U+FFFF.
Audited pages are full of them; every XML hulian builds or writes (the page parser's fallback
tree, GraphML, GEXF, JUnit) decides about them here, once.

What is written for others to read (exports, reports) shows where such a character was, as
U+FFFD; the page parser's fallback tree (html5 parsing copied into lxml elements, which
cannot hold them) drops them, so that the page reads as libxml2's tree would."""

from __future__ import annotations

import re

NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT = "\ufffd"
_DOUBLE_HYPHEN = re.compile("-(?=-)")  # each hyphen followed by another ("---" too)


def xml_text(text: str, replacement: str = REPLACEMENT) -> str:
    """`text` with every character XML 1.0 cannot carry replaced (U+FFFD by default)."""
    return NOT_XML.sub(replacement, text) if NOT_XML.search(text) else text


def comment_text(text: str) -> str:
    """`text` as the body of an XML comment, which can hold neither "--" nor a final "-"."""
    return _DOUBLE_HYPHEN.sub("- ", xml_text(text)).rstrip("-")


def xml_comment(text: str) -> str:
    """`text` as an XML comment."""
    return f"<!-- {comment_text(text)} -->"
