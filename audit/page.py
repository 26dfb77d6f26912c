"""Parse one HTML page into the facts the classifier needs: title, visible text, anchors,
URLs shown as plain text, inline scripts, canonical URL and meta refresh.

lxml's recovering parser copes with broken markup; a page that cannot be parsed at all
yields an empty Page rather than an exception.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import lxml.cssselect
import lxml.etree

from audit.urls import has_public_suffix, host_of

# Elements whose content a reader never sees as text.
_INVISIBLE = {"script", "style", "noscript", "template", "head", "title", "textarea", "svg",
              "iframe", "object", "select", "option"}
# Elements that start a new line of text; inline ones (span, em, code ...) join their neighbours.
_BLOCK = {"p", "div", "br", "li", "ul", "ol", "table", "tr", "td", "th", "h1", "h2", "h3", "h4",
          "h5", "h6", "section", "article", "header", "footer", "blockquote", "pre", "hr",
          "dd", "dt", "dl", "figure", "figcaption", "nav", "aside", "main", "form", "button",
          "img", "body", "html"}

# A URL in running text ends at whitespace, CJK characters, full-width punctuation or
# characters that cannot be in a URL.
_URL_BODY = (
    r"[^\s<>\"'`\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef"
    r"，。、；：！？“”‘’（）【】《》]+"
)
_TEXT_URL = re.compile(
    r"(?<![A-Za-z0-9_@/.-])(?:"
    r"https?://" + _URL_BODY
    + r"|www\.[a-z0-9-]+(?:\.[a-z0-9-]+)+(?:/" + _URL_BODY + r")?"
    + r"|[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)+/" + _URL_BODY
    + r")",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?'\")]}>*"


@dataclass(frozen=True)
class Anchor:
    href: str  # as written in the page, entities decoded
    text: str  # visible label


@dataclass
class Page:
    """Facts of one parsed page. `root` is kept for CSS selector matching."""

    url: str | None
    title: str = ""
    text: str = ""  # visible text, blocks separated by newlines
    anchors: list[Anchor] = field(default_factory=list)
    text_urls: list[str] = field(default_factory=list)  # URLs shown as text, not clickable
    scripts: list[str] = field(default_factory=list)  # inline script bodies
    canonical: str | None = None
    base_href: str | None = None
    meta_refresh: str | None = None
    root: lxml.etree._Element | None = None

    def select(self, selector: str) -> list[lxml.etree._Element]:
        if self.root is None:
            return []
        compiled = _compiled(selector)
        if compiled is None:
            return []
        try:
            result = compiled(self.root)
        except Exception:
            return []
        return list(result)


# Compiled CSS selectors (HtmlElement.cssselect compiles its selector on every call, which
# costs more than the match); None for a selector that does not compile.
_SELECTORS: dict[str, lxml.cssselect.CSSSelector | None] = {}


def _compiled(selector: str) -> lxml.cssselect.CSSSelector | None:
    if selector not in _SELECTORS:
        if len(_SELECTORS) > 4096:
            _SELECTORS.clear()
        try:
            _SELECTORS[selector] = lxml.cssselect.CSSSelector(selector, translator="html")
        except Exception:
            _SELECTORS[selector] = None
    return _SELECTORS[selector]


def _style_hides(style: str) -> bool:
    style = style.replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


def _trim_url(candidate: str) -> str:
    while candidate and candidate[-1] in _TRAILING:
        closing = candidate[-1]
        opening = {")": "(", "]": "[", "}": "{"}.get(closing)
        if opening and candidate.count(opening) >= candidate.count(closing):
            break
        candidate = candidate[:-1]
    return candidate


def find_text_urls(text: str) -> list[str]:
    """URLs a reader sees in running text. Scheme-less `host.tld/path` counts only when the
    host has a real public suffix; a bare name such as `coding.net` does not count."""
    # Every form _TEXT_URL finds has a "/" or starts with "www.": text with neither (most
    # running text, and all of it in many languages) needs no scan.
    if "/" not in text and "www." not in text.lower():
        return []
    return _scan_text_urls(text)


def _scan_text_urls(text: str) -> list[str]:
    found = []
    for match in _TEXT_URL.finditer(text):
        candidate = _trim_url(match.group(0))
        lower = candidate.lower()
        if lower.startswith(("http://", "https://")):
            if host_of(candidate):
                found.append(candidate)
            continue
        host = lower.split("/", 1)[0]
        if not lower.startswith("www.") and "/" not in candidate:
            continue
        if not has_public_suffix(host) or re.fullmatch(r"[0-9.]+", host):
            continue
        found.append("http://" + candidate)
    return found


# Text of an element and its descendants (what HtmlElement.text_content gives), compiled once.
_STRING_VALUE = lxml.etree.XPath("string()")


def text_of(el: lxml.etree._Element) -> str:
    """All text inside `el` (hidden text included), as a string."""
    return str(_STRING_VALUE(el))


def _walk(top: lxml.etree._Element) -> tuple[list[str], list[str], list[Anchor]]:
    """One pass over the tree: all visible text, visible text outside <a>, and the anchors.

    The hot path of every crawled page, so it is one loop over lxml's own walker (no Python
    call per element): on entering an element, a block starts a line; the text of a hidden
    element is dropped; text inside a link goes to `parts` only, the rest to both; the
    children of invisible elements (script, template ...) are not entered, so links there
    are not links on the page. The state of each open element is kept on a stack."""
    parts: list[str] = []
    loose: list[str] = []
    anchors: list[Anchor] = []
    in_anchor = hidden = False
    # Per open element: in_anchor and hidden as they were outside it, whether it is a block,
    # whether it is a link.
    stack: list[tuple[bool, bool, bool, bool]] = []
    walker = lxml.etree.iterwalk(top, events=("start", "end", "comment", "pi"))
    for event, el in walker:
        if event == "start":
            tag = el.tag
            tag = tag.lower() if isinstance(tag, str) else ""
            block = tag in _BLOCK
            if block and not hidden:
                parts.append("\n")
                if not in_anchor:
                    loose.append("\n")
            stack.append((in_anchor, hidden, block, tag == "a"))
            if tag in _INVISIBLE:
                walker.skip_subtree()
            else:
                # Hidden elements show no text, but their links are still links on the page.
                if not hidden:
                    style = el.get("style")
                    hidden = el.get("hidden") is not None or (
                        style is not None and _style_hides(style))
                if tag == "a":
                    href = el.get("href")
                    if href is not None:
                        # Most links hold only text: then their text is all their text.
                        label = (el.text or "") if len(el) == 0 else text_of(el)
                        anchors.append(Anchor(html.unescape(href), " ".join(label.split())))
                        # Link text is visible but not "text outside links": cut the loose
                        # stream.
                        loose.append("\n")
                        in_anchor = True
                text = el.text
                if text and not hidden:
                    parts.append(text)
                    if not in_anchor:
                        loose.append(text)
            continue
        if event == "end":
            in_anchor, hidden, block, link = stack.pop()
            if link:
                loose.append("\n")
            if block and not hidden:
                parts.append("\n")
                if not in_anchor:
                    loose.append("\n")
        # The end of an element, or a comment / processing instruction: its tail follows.
        tail = el.tail
        if tail and not hidden:
            parts.append(tail)
            if not in_anchor:
                loose.append(tail)
    return parts, loose, anchors


def _squash(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def parse_page(text: str, url: str | None = None) -> Page:
    """Parse page text; broken or empty markup gives a Page with what could be read."""
    page = Page(url=url)
    if not text.strip():
        return page
    # lxml.etree's HTML parser, not lxml.html's: the same libxml2 parse, without a Python
    # class lookup for every element the walk touches (a sixth of the walk's time).
    parser = lxml.etree.HTMLParser(encoding="utf-8", recover=True, remove_comments=False)
    try:
        root = lxml.etree.fromstring(text.encode("utf-8", "surrogatepass"), parser=parser)
    except (lxml.etree.LxmlError, ValueError, UnicodeError):
        return page
    if root is None:
        return page
    page.root = root

    title = root.find(".//title")
    page.title = " ".join((text_of(title) if title is not None else "").split())
    for meta in root.iter("meta"):
        name = (meta.get("property") or meta.get("name") or "").lower()
        equiv = (meta.get("http-equiv") or "").lower()
        if name == "og:url" and not page.canonical and meta.get("content"):
            page.canonical = meta.get("content", "").strip()
        if equiv == "refresh" and meta.get("content"):
            match = re.search(r"url\s*=\s*['\"]?([^'\">]+)", meta.get("content", ""), re.I)
            if match:
                page.meta_refresh = html.unescape(match.group(1).strip())
    for link in root.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
            page.canonical = link.get("href", "").strip()
    base = root.find(".//base[@href]")
    if base is not None:
        page.base_href = base.get("href", "").strip() or None

    page.scripts = [s.text for s in root.iter("script") if s.text and not s.get("src")]

    body = root.find("body")
    parts, loose, page.anchors = _walk(body if body is not None else root)
    page.text = _squash("".join(parts))
    page.text_urls = find_text_urls("".join(loose))
    return page
