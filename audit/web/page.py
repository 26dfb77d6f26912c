"""Parse one HTML page into the facts the classifier needs: title, visible text, anchors,
URLs shown as plain text, inline scripts, canonical URL and meta refresh.

lxml's recovering parser copes with broken markup; a page that cannot be parsed at all
yields an empty Page rather than an exception.

libxml2 stops at 2,048 nested elements (256 without `huge_tree`) and drops everything after
them, which would let a page hide its links and interstitial markers behind a deep nest. A
page on which libxml2 halted is parsed again by JustHTML (an HTML5 parser in pure Python, with
no nesting limit and no recursion; ~2 MB/s, so only for those pages, and only up to
FALLBACK_MAX_CHARS) and its tree copied into lxml's, so the rest of the code sees one kind of
tree. What is still lost is named in `Page.parse_issue`, so a cut page is never silently read
as content.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import html
import html.entities
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import lxml.cssselect
import lxml.etree

if TYPE_CHECKING:
    from justhtml.dom import Element

from audit.web import events, stylesheet
from audit.web.urls import (
    URL_SPACE,
    has_public_suffix,
    host_of,
    registrable_domain,
    resolve,
    same_origin,
)
from audit.web.xmlchars import xml_text

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
    # A tap cannot reach it: it or an element around it is `inert`, or has `pointer-events:
    # none` in its `style` (a platform can show a link a reader cannot open); in
    # Page.tapped_anchors also from the page's style sheets.
    untappable: bool = False
    # The handlers a tap runs, as (attribute, code): `onclick`, `onmousedown`,
    # `ontouchstart`, … on it and the elements around it (those of events that bubble),
    # innermost first: one may open a dialog, cancel the navigation or send the reader
    # elsewhere (audit.judge.forwards.tap_intercepted decides).
    tap_handlers: tuple[tuple[str, str], ...] = ()


@dataclass
class Page:
    """Facts of one parsed page. `root` is kept for CSS selector matching."""

    url: str | None
    title: str = ""
    text: str = ""  # visible text, blocks separated by newlines
    # The text once what the page's own style sheets hide is left out too (a class's
    # `display:none`: audit/web/stylesheet.py), made by `displayed` when first asked for:
    # reading the sheets costs a page with a large one 10-20 times its parse, and most pages'
    # readings never ask (a seed page's links, the target's own pages).
    displayed_text: str | None = None
    # Whether `displayed` could read every rule that might hide (audit.web.stylesheet's
    # bounds): where not, text it reads as shown may be hidden.
    displayed_complete: bool = True
    anchors: list[Anchor] = field(default_factory=list)
    # The element of each anchor, and the anchors as a tap meets them (tapped_anchors).
    _anchor_elements: list[lxml.etree._Element] = field(default_factory=list, repr=False)
    _tapped: list[Anchor] | None = field(default=None, repr=False)
    _unseen: tuple[frozenset[int], frozenset[int]] | None = field(default=None, repr=False)
    # What the page's sheets and the browser's hide (_hidden_elements), for `displayed` and
    # `unseen_anchors` alike.
    _hidden: tuple[set[lxml.etree._Element], bool] | None = field(default=None, repr=False)
    _modules: frozenset[int] | None = field(default=None, repr=False)
    # Whether its scripts halt it once parsed (audit.judge.forwards._page_halts), once read.
    halts: bool | None = field(default=None, repr=False)
    # Where its scripts navigate (audit.judge.forwards._located), once read.
    navigations: list[object] | None = field(default=None, repr=False)
    # The strings its scripts give names (audit.judge.classify._script_value), once read.
    named_strings: dict[str, str] | None = field(default=None, repr=False)
    text_urls: list[str] = field(default_factory=list)  # URLs shown as text, not clickable
    scripts: list[str] = field(default_factory=list)  # inline script bodies
    # The inline scripts a browser runs (no type, a JavaScript type, a module; see _runs): not
    # JSON data, templates (`text/x-template`) or other types, whose text is read but not
    # run, and none where the page's meta Content-Security-Policy blocks inline scripts.
    runnable_scripts: list[str] = field(default_factory=list)
    # For each runnable script: whether a script the page loads from its own site, that the
    # parser waits for (no `async`, `defer` or module), comes before it. What it does (a
    # confirm(), a navigation of its own) cannot be read. `blocking_external`: whether the
    # page has one at all (it runs before the page's refresh, which waits for `load`).
    external_before: list[bool] = field(default_factory=list)
    blocking_external: bool = False
    # Every script from elsewhere that the parser waits for, of any site: the number of
    # runnable scripts before it, and its URL (the platform's own CDN is another site:
    # forwards.page_forward's `own_script` decides those).
    blocking_scripts: list[tuple[int, str]] = field(default_factory=list)
    # Whether the page runs scripts at all (not in a sandbox without them): its event
    # handler attributes (`handlers`) are read only then.
    scripts_run: bool = True
    # Whether a frame of the page may run a script of the page's origin (a `srcdoc`, a
    # `javascript:` or same-origin `src`): it may navigate the page itself (`top.location`)
    # or stop it before its forward (_scripting_frames).
    frames_script: bool = False
    _handlers: list[str] | None = field(default=None, repr=False)
    canonical: str | None = None
    base_href: str | None = None
    # The <base> element a browser takes (the first with an href outside a template, a
    # <noscript> and foreign content), the element of the refresh a browser carries out
    # (None: the Refresh header's, or none), each runnable script's element, and whether a
    # Content-Security-Policy of the page names `base-uri` (base_for).
    _base_element: lxml.etree._Element | None = field(default=None, repr=False)
    _refresh_element: lxml.etree._Element | None = field(default=None, repr=False)
    _runnable_elements: list[lxml.etree._Element] = field(default_factory=list, repr=False)
    _base_guarded: bool = False
    meta_refresh: str | None = None
    # The refresh's delay in seconds (0 when the page gives none it can read), and whether
    # it is inside <noscript> (which a browser running scripts ignores).
    meta_refresh_delay: float = 0.0
    meta_refresh_in_noscript: bool = False
    root: lxml.etree._Element | None = None
    # What the parse lost, None when nothing: "depth_cut" (nesting beyond what could be
    # parsed), "unparsed_tail" (the parser stopped early for another reason), "truncated"
    # (the bytes were cut at the size limit before decoding).
    parse_issue: str | None = None

    @property
    def displayed(self) -> str:
        """What a reader sees of the text, the page's style sheets applied: the text the
        readings that could excuse a page read (a login wall, an error page, a security
        check, the likeness to the target's page), where text a page hides must not count."""
        if self.displayed_text is None:
            self.displayed_text, self.displayed_complete = _displayed(self)
        return self.displayed_text

    @property
    def tapped_anchors(self) -> list[Anchor]:
        """The anchors as a tap meets them: `untappable` also where the page's own style
        sheets give the link, or an element around it, `pointer-events: none` (a class that
        greys external links out). Made when first asked for, by the readings of what a tap
        does (a seed page's links, an interstitial's controls): the sheets cost a real page
        with a large one several times its parse, which every other page need not pay."""
        if self._tapped is None:
            blocked = _sheet_untappable(self)
            self._tapped = [replace(anchor, untappable=True)
                            if index in blocked and not anchor.untappable else anchor
                            for index, anchor in enumerate(self.anchors)]
        return self._tapped

    @property
    def unseen_anchors(self) -> frozenset[int]:
        """The indices of the anchors no reader sees, so none taps: inside an element the
        markup (`hidden`), a `style`, the page's style sheets or the browser's own sheet (an
        unopened dialog, a canvas's fallback) hides, or with nothing to draw (_boxless).
        Made when first asked for, by the reading of an interstitial's controls (a
        copy-the-link page carrying a link nobody sees read as a warning with a way on:
        review 136)."""
        if self._unseen is None:
            self._unseen = _unseen_anchors(self)
        return self._unseen[0]

    @property
    def unsure_anchors(self) -> frozenset[int]:
        """The indices of the anchors a `style` on them or around them may keep out of sight
        or out of reach by layout (stylesheet.layout_hides: `content-visibility: hidden`, a
        clip to nothing, no size with overflow hidden, a font of size 0, a place far off the
        page, a scale of 0), which hulian does not lay out: neither a way on nor no control,
        but one whose way is not read (review 141 found each read as an open link on a seed
        post and as a block page's way on). Only `style` attributes are read for these, not
        the page's sheets."""
        if self._unseen is None:
            self._unseen = _unseen_anchors(self)
        return self._unseen[1]

    @property
    def may_change(self) -> bool:
        """Whether what the page hides may be shown once it is: by a script (one it runs,
        one it loads, an event handler), by a `<details>` a tap opens, or by its style sheets
        themselves (a state a tap or a pointer sets, `:checked` through a label, `:target`, an
        animation or transition that fades a link in, a `visibility: visible` inside a
        hidden block: review 137 found each hiding a continue link a reader then taps)."""
        if self.root is None:
            return False
        if self.scripts_run and (self.runnable_scripts or self.handlers
                                 or _LOADED_SCRIPT(self.root)):
            return True
        return bool(_DISCLOSURE(self.root)) or any(
            _SHEET_REVEALS.search(css) for css, _applies, _certain in _page_sheets(self.root))

    @property
    def handlers(self) -> list[str]:
        """The values of the page's event handler attributes (`onload`, `onclick`, …):
        scripts that run when their event comes, if it comes. Read when first asked for:
        most pages never are, and the search costs a page of 80 elements 18 µs."""
        if self._handlers is None:
            found = _HANDLERS(self.root) if self.root is not None and self.scripts_run else []
            self._handlers = [str(value) for value in found if str(value).strip()]
        return self._handlers

    @property
    def module_scripts(self) -> frozenset[int]:
        """The indices of the runnable scripts that are modules (run once the page is
        parsed, as a deferred script is). Made once (review 139: made at each call, once per
        script, 10,000 scripts cost 16 s)."""
        if self._modules is None:
            self._modules = frozenset(
                index for index, el in enumerate(self._runnable_elements)
                if (el.get("type") or "").strip().lower() == "module")
        return self._modules

    @property
    def unprompted_handlers(self) -> list[str]:
        """The event handler attributes' values whose events come without a person doing
        anything (`onload`, `onpageshow`, an image's `onerror`, an `autofocus` field's
        `onfocus` …): not a click's, a key's, a pointer's or a form's, which need a tap before
        they run (review 137: a close button's `onclick="window.close()"` held a forward)."""
        return [code for code, _ in self.handlers_on()]

    def handlers_on(self, *, fired: frozenset[str] = frozenset()) -> list[tuple[str, bool]]:
        """unprompted_handlers, and the handlers of the prompted events in `fired` (events the
        page's scripts make themselves: `form.reset()` runs its `onreset`, review 147; "*":
        any, a dispatched event whose kind is not written out), each
        with whether its `this` is the window (a `<body>`'s or a `<frameset>`'s handlers are
        the window's)."""
        if self.root is None or not self.scripts_run or not self.handlers:
            return []
        found: list[tuple[str, bool]] = []
        for value in _NAMED_HANDLERS(self.root):
            event = value.attrname.lower()
            if str(value).strip() and events.unprompted(event[2:], fired):
                host = value.getparent()
                found.append((str(value), host is not None
                              and host.tag in ("body", "frameset")
                              and event in _WINDOW_REFLECTING))
        return found

    def other_callers(self) -> tuple[bool, list[str]]:
        """What may call a page's functions besides its scripts and handler attributes:
        whether it loads a script (which may call any global function by a name the page
        never writes: a `?callback=initMap`, `onYouTubeIframeAPIReady`), and the code of its
        `javascript:` URLs and the `src` of its scripts (review 158)."""
        if self.root is None:
            return False, []
        loads = False
        written: list[str] = []
        for value in _URL_ATTRIBUTES(self.root):
            text = str(value)
            host = value.getparent()
            if host is not None and host.tag == "script" and value.attrname.lower() == "src":
                loads = loads or bool(text.strip())
                written.append(text)
            elif text.lstrip().lower().startswith("javascript:"):
                written.append(text)
        return loads, written

    @property
    def base_url(self) -> str | None:
        """What the page's relative URLs are resolved against: its <base href> (itself
        resolved against the page's URL), else the page's URL."""
        return (self.base_href and resolve(self.url, self.base_href)) or self.url

    def forward_base(self, script: int | None = None) -> str | None:
        """What a forward's relative URL is resolved against, as a browser resolves it when
        the forward is made: the refresh's (`script` None) or the runnable script's of that
        index. The page's base only where its <base> comes before the forwarding element (a
        browser resolves a refresh as its element is read, a script's URL as it runs, and the
        Refresh header's before any of the page: each read with a later base as the target's
        site and followed there, where Chromium went to the platform's own page; a review);
        None where a Content-Security-Policy names `base-uri` (it may refuse the base: which
        one applies is not read), or where the base is in foreign content (_html_base)."""
        if self._base_element is None or self.base_href is None:
            return self.url
        if self._base_guarded:
            return None
        element = (self._refresh_element if script is None
                   else self._runnable_elements[script]
                   if script < len(self._runnable_elements) else None)
        if element is None or self.root is None:
            return self.url
        for el in self.root.iter():
            if el is self._base_element:
                return self.base_url
            if el is element:
                return self.url
        return self.url

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


# Pages with more elements, or deeper, than this are not read against their style sheets:
# the sheets' selectors are evaluated over every element, descendants of descendants for a
# combinator, so a hostile page's cost grows with both (an adversarial review: 54,804 times
# a page's parse for 80 selectors over 1,000 nested divs before the bounds).
SHEET_ELEMENTS = 20_000
SHEET_DEPTH = 256


def _displayed(page: Page) -> tuple[str, bool]:
    """The page's text without what its style sheets hide (Page.displayed), which may be
    none of it (a page that hides all of its text until its script runs: anti-clickjacking's
    `body{display:none}`; audit.judge.compare reads such a page as showing nothing), and
    whether every rule that could hide was read."""
    root = page.root
    if root is None:
        return page.text, True
    hidden, complete = _page_hidden(page, root)
    if not hidden:
        return page.text, complete
    body = root.find("body")
    top = body if body is not None else root
    if any(el in hidden for el in (top, *top.iterancestors())):
        return "", complete  # the root or <body> itself hidden: nothing shows
    return _squash("".join(_walk(top, frozenset(hidden))[0])), complete


def _page_hidden(page: Page, root: lxml.etree._Element
                 ) -> tuple[set[lxml.etree._Element], bool]:
    if page._hidden is None:
        page._hidden = _hidden_elements(root)
    return page._hidden


def _hidden_elements(root: lxml.etree._Element) -> tuple[set[lxml.etree._Element], bool]:
    """The elements the page's style sheets, the browser's own sheet and its shadow roots
    hide (their contents with them), and whether every rule that could hide was read."""
    hidden, complete = _sheet_hidden(root)
    hidden |= set(_BROWSER_HIDDEN(root)) | _unslotted(root)
    return hidden, complete


@dataclass(frozen=True)
class _Sight:
    """What an element's ancestors and its own `style` do to its being seen: hidden; not
    painted (stylesheet.PAINT); placed off the page or clipped (CLIP); in a box of no size
    whose overflow is hidden (OVERFLOW), and whether an absolute box escapes that (no
    positioned box between); inside a box that contains fixed boxes (a transform, a filter)."""

    hides: bool = False
    painted: bool = False
    placed: bool = False
    overflowed: bool = False
    absolute_escapes: bool = False
    # an absolute box placed by offsets on both axes escapes a static box's place off the
    # page (its containing block is above it; review 159)
    placement_escapes: bool = False
    contained: bool = False

    def within(self, el: lxml.etree._Element, style: str | None, *, hidden: bool) -> _Sight:
        """This element's own box: hidden or not, and where it is positioned, whether it
        escapes its ancestors' clips (review 150: a fixed box, unless a box contains it;
        review 154: an absolute box whose containing block is outside the clipping box; a
        fixed box with no offsets of its own sits where its ancestors put it)."""
        if style is None and not hidden and el.get("hidden") is None:
            return self  # most elements: nothing to change (a new _Sight each cost a plan 15 %)
        hides = self.hides or hidden or el.get("hidden") is not None or (
            style is not None and stylesheet.inline_hides(style))
        position = (stylesheet.position_of(style)
                    if style is not None and "position" in style.lower() else "static")
        overflowed, placed = self.overflowed, self.placed
        escapes, placement_escapes = self.absolute_escapes, self.placement_escapes
        if position == "fixed" and not self.contained:
            overflowed = False
            placed = placed and not stylesheet.placed_on_both_axes(style or "")
        elif position == "absolute":
            overflowed = overflowed and not escapes
            placed = placed and not (placement_escapes
                                     and stylesheet.placed_on_both_axes(style or ""))
        if position != "static":
            escapes = placement_escapes = False  # its absolute descendants are placed in it
        return replace(self, hides=hides, overflowed=overflowed, placed=placed,
                       absolute_escapes=escapes, placement_escapes=placement_escapes)

    def kept_by(self, why: str, style: str) -> _Sight:
        """This element's `style`'s hiding by layout (stylesheet.layout_hides' `why`)."""
        overflow, place = why == stylesheet.OVERFLOW, why == stylesheet.CLIP
        escapes, placement_escapes = self.absolute_escapes, self.placement_escapes
        static = (overflow or place) and stylesheet.position_of(style) == "static"
        if overflow and not self.overflowed:
            # its absolute descendants escape it unless it, or a box below it, is positioned
            escapes = static
        if place and not self.placed:
            placement_escapes = static
        contains = stylesheet.contains_fixed(style)  # a transform places absolute boxes too
        return replace(self, painted=self.painted or why == stylesheet.PAINT,
                       placed=self.placed or place,
                       overflowed=self.overflowed or overflow,
                       absolute_escapes=escapes and not contains,
                       placement_escapes=placement_escapes and not contains,
                       contained=self.contained or contains)


def _unseen_anchors(page: Page) -> tuple[frozenset[int], frozenset[int]]:
    """Page.unseen_anchors and Page.unsure_anchors: the walk's own hiding (`hidden`, a
    hiding `style`) with what _hidden_elements adds, down the tree; and, of the rest, those a
    `style` on them or around them may keep out of sight by layout (stylesheet.layout_hides),
    and links that set their own font to size 0 and draw nothing else (_only_text)."""
    root = page.root
    if root is None or not page._anchor_elements:
        return frozenset(), frozenset()
    hidden_by, _complete = _page_hidden(page, root)
    # Each link's ancestors only, each element read once (a page's other elements, most of
    # them, hold no link): whether it is hidden, and kept out of sight by layout.
    known: dict[lxml.etree._Element, _Sight] = {}
    plain: dict[lxml.etree._Element, bool] = {}
    unseen: set[int] = set()
    unsure: set[int] = set()
    for index, anchor in enumerate(page._anchor_elements):
        chain: list[lxml.etree._Element] = []
        node: lxml.etree._Element | None = anchor
        while node is not None and node not in known:
            chain.append(node)
            node = node.getparent()
        sight = known[node] if node is not None else _Sight()
        font_zero = False
        for el in reversed(chain):
            style = el.get("style")
            sight = sight.within(el, style, hidden=el in hidden_by)
            font_zero = False
            if style is not None:
                why, font_zero = stylesheet.layout_hides(
                    style, inline=el.tag in _INLINE_TAGS, table_part=el.tag in _TABLE_TAGS)
                sight = sight.kept_by(why, style)
            known[el] = sight
        sight = known[anchor]  # font_zero: the link's own (read last)
        hides = sight.hides
        doubt = sight.painted or sight.placed or sight.overflowed
        if hides or _boxless(anchor):
            unseen.add(index)
        elif doubt or (font_zero and _only_text(anchor, anchor.get("style") or "", plain)):
            unsure.add(index)
    return frozenset(unseen), frozenset(unsure)


# What draws something of its own whatever the font's size, and a link's own style that
# gives it a box of its own (an icon link: `font-size: 0` over a background).
_DRAWS = frozenset({"img", "svg", "picture", "video", "canvas", "input", "button", "iframe",
                    "object", "embed", "audio", "select", "textarea"})
# (review 148: the words alone excused H5BP's hide-text, `border: 0` and `width: auto`)
_BOXED = re.compile(
    r"(?:background(?:-image)?\s*:[^;]*(?:url\(|#|rgb|hsl|\b(?!transparent\b|none\b)[a-z]+\b))"
    r"|(?:padding|border(?:-width)?|width|height|min-width|min-height)\s*:\s*[^;]*[1-9]",
    re.IGNORECASE)
# A <body>'s or <frameset>'s handler attributes that are the window's (HTML's window-reflecting
# body element event handlers): only these have no element or document in their scope
# (review 149: `<body onanimationstart>` reads the document's `defaultView`).
_WINDOW_REFLECTING = frozenset({
    "onafterprint", "onbeforeprint", "onbeforeunload", "onhashchange", "onlanguagechange",
    "onmessage", "onmessageerror", "onoffline", "ononline", "onpagehide", "onpageshow",
    "onpopstate", "onrejectionhandled", "onstorage", "onunhandledrejection", "onunload",
    "onblur", "onerror", "onfocus", "onload", "onresize", "onscroll"})
# A table's parts: a height or width is their least size, not their size (review 150).
_TABLE_TAGS = frozenset({"table", "tr", "td", "th", "tbody", "thead", "tfoot"})
# Elements laid out inline unless a style says otherwise: a height or width does not apply.
_INLINE_TAGS = frozenset({"a", "span", "b", "i", "em", "strong", "small", "u", "s", "font",
                          "code", "abbr", "cite", "label", "sup", "sub", "mark", "q"})


def _only_text(anchor: lxml.etree._Element, style: str,
               plain: dict[lxml.etree._Element, bool]) -> bool:
    """Whether a link that sets its own font to size 0 draws nothing but that text: no
    class a sheet could give a box or an icon font's `::before`, no box in its style,
    no image or control, and nothing inside that sets a size of its own. A font of 0 an
    ancestor sets does not count: the whitespace hack of inline blocks sets it on their row,
    and their links set their own, often by a sheet's class (review 146). `plain`: what is
    known of the page's elements so far (_plain_tree), so that links nested in links read
    each element once (review 167: walking each link's descendants, 1,600 nested links of
    59 KB took 9 s)."""
    if anchor.get("class") or _BOXED.search(style[:stylesheet.LONGEST_STYLE]):
        return False
    return all(_plain_tree(child, plain) for child in anchor)


def _draws_itself(el: lxml.etree._Element) -> bool:
    if el.tag in _DRAWS or el.get("class"):
        return True
    inner = el.get("style")
    return inner is not None and "font" in inner.lower() and not stylesheet.layout_hides(
        inner)[1]


def _plain_tree(top: lxml.etree._Element, plain: dict[lxml.etree._Element, bool]) -> bool:
    """Whether `top` and everything in it draw nothing of their own (_draws_itself), each
    element read once into `plain` (without recursion: links nest thousands deep)."""
    stack: list[tuple[lxml.etree._Element, bool]] = [(top, False)]
    while stack:
        el, children_known = stack.pop()
        if el in plain:
            continue
        if children_known:
            plain[el] = all(plain[child] for child in el)
        elif _draws_itself(el):
            plain[el] = False
        else:
            stack.append((el, True))
            stack.extend((child, False) for child in el if child not in plain)
    return plain[top]


def _boxless(anchor: lxml.etree._Element) -> bool:
    """A link with nothing in it to draw and nothing a style could draw it by (no `style`,
    `class` or `id`): no box, nothing to tap (Chromium gives `<a href=…></a>` none)."""
    return (len(anchor) == 0 and not (anchor.text or "").strip()
            and not any(anchor.get(name) for name in ("style", "class", "id")))


def _sheet_untappable(page: Page) -> set[int]:
    """The indices of the page's anchors that its style sheets leave no tap reaching:
    `pointer-events` is inherited, so a link takes the value of the nearest element, itself
    first, that has one of its own, from the cascade of the rules that match it and its own
    `style` (as _sheet_hidden reads hiding). Only ever adds to what the walk read from the
    `style` attributes (in doubt, for review: a `pointer-events: auto` a sheet gives a link
    inside an inline `none` does not count). Rules past the bounds, or on a page too large
    to evaluate, are not read (README, "Known limits")."""
    root = page.root
    if root is None or not page._anchor_elements:
        return set()
    sheets = _page_sheets(root)
    if not sheets or not stylesheet.may_set_pointer_events(
            "".join(css for css, _, _ in sheets)):
        return set()
    name = stylesheet.POINTER_EVENTS
    rules = stylesheet.sheet_rules(sheets, (name,))
    size = _sheet_size(root) if rules else None
    if size is None:
        return set()
    work = [SHEET_WORK]
    # What each element matched takes of the property from the sheets: the highest
    # precedence among the rules that match it, whether its value is `none`.
    taken: dict[lxml.etree._Element, tuple[stylesheet.Precedence, bool]] = {}
    # The cheapest selectors first (no descendant combinator): where the work budget runs out,
    # it runs out on the costly ones (a dozen deep rules before `.ext{pointer-events:none}`
    # left it unread, review 131).
    for rule, none in sorted([*((rule, True) for rule in rules.hide.get(name, [])),
                              *((rule, False) for rule in rules.show.get(name, []))],
                             key=lambda item: item[0][1]):
        for el in _matching(root, rule, size, work):
            if el not in taken or taken[el][0] < rule[2]:
                taken[el] = (rule[2], none)
    if not any(none for _, none in taken.values()):
        return set()
    wanted = {el: index for index, el in enumerate(page._anchor_elements)}
    blocked: set[int] = set()
    # The value each element computes, down the tree: its own, else its parent's.
    computed: list[bool] = [False]
    for event, el in lxml.etree.iterwalk(root, events=("start", "end")):
        if event == "end":
            computed.pop()
            continue
        own = taken.get(el)
        style = el.get("style")
        if style is not None and _may_set_pointer_events(style):
            inline = stylesheet.inline_pointer_events(style)
            if inline is not None and (own is None or own[0] < (inline[1], (1, 0, 0, 0), 0)):
                own = ((inline[1], (1, 0, 0, 0), 0), inline[0])
        computed.append(own[1] if own is not None else computed[-1])
        if computed[-1] and el in wanted:
            blocked.add(wanted[el])
    return blocked


def _page_sheets(root: lxml.etree._Element) -> list[tuple[str, bool, bool]]:
    """The page's style sheets as audit.web.stylesheet reads them: each <style> element's
    text, whether it applies on hulian's screen and whether for certain. Not a style
    element's text inside <template> (inert) or <noscript> (a browser running scripts reads
    it as text), nor one of another type than CSS."""
    return [(style.text, holds is not False, holds is True)
            for style in root.iter("style")
            if style.text and _is_css(style) and not any(
                True for _ in style.iterancestors("template", "noscript"))
            for holds in (stylesheet.media_holds(style.get("media") or ""),)]


# What a browser's own style sheet hides, which a page need not: a dialog not opened (a
# login modal a script opens), a closed <details> but its summary, and elements that are
# never rendered (<datalist>, <noembed>, a ruby's fallback parentheses, a canvas's fallback
# content where scripts run, as a canvas draws instead). Read as hidden for the displayed text
# (audit.judge.classify sends words hidden there to review) and an interstitial's controls.
_BROWSER_HIDDEN = lxml.etree.XPath(
    "//dialog[not(@open)] | //details[not(@open)]/*[not(self::summary)] | //datalist"
    " | //noembed | //rp | //canvas/*"
    # a popover until a tap or a script opens it (`[popover]:not(:popover-open)`), and a
    # video's or an audio's fallback, which a browser that plays them never draws (review 141)
    " | //*[@popover] | //video/*[not(self::source or self::track)]"
    " | //audio/*[not(self::source or self::track)]")
# A script the page loads (whatever runs it: async, defer, a module).
_LOADED_SCRIPT = lxml.etree.XPath("boolean(//script[@src])")
# What shows a hidden part of a page without a script: a disclosure a tap opens, and in a
# style sheet the states a reader sets, an animation or transition, or `visible` again.
_DISCLOSURE = lxml.etree.XPath("boolean(//details | //*[@popover] | //*[@popovertarget])")
_SHEET_REVEALS = re.compile(
    r":(?:hover|focus|focus-within|focus-visible|active|checked|target|has)\b|animation"
    r"|transition|visibility\s*:\s*visible", re.IGNORECASE)
_SHADOW_HOSTS = lxml.etree.XPath("//*[template[@shadowrootmode]]")
# Elements that may carry a shadow root (besides custom elements, whose names have a hyphen).
_HOSTS = frozenset({"article", "aside", "blockquote", "body", "div", "footer", "h1", "h2", "h3",
                    "h4", "h5", "h6", "header", "main", "nav", "p", "section", "span"})


def _unslotted(root: lxml.etree._Element) -> set[lxml.etree._Element]:
    """What a declarative shadow root leaves out of sight: the children of its host that no
    slot of the root takes (an unnamed slot takes those without a `slot` attribute, a named
    one those naming it). Only the host's first root counts, only a slot of the root itself
    (not of a root nested in it, nor in an inert template) and not a `hidden` one; a slot a
    style sheet hides is not read. A block page carried the target's article so and matched
    it, with no slot, then with a slot that showed nothing (two reviews)."""
    unseen: set[lxml.etree._Element] = set()
    for host in _SHADOW_HOSTS(root):
        tag = host.tag if isinstance(host.tag, str) else ""
        if tag not in _HOSTS and "-" not in tag:
            continue  # a host HTML allows no shadow root on: the template stays inert
        shadow = next((t for t in host.iterchildren("template")
                       if (t.get("shadowrootmode") or "").lower() in ("open", "closed")), None)
        if shadow is None:
            continue
        names = {(slot.get("name") or "") for slot in shadow.iter("slot")
                 if slot.get("hidden") is None
                 and next(slot.iterancestors("template"), None) is shadow}
        unseen.update(child for child in host.iterchildren()
                      if isinstance(child.tag, str) and child.tag != "template"
                      and (child.get("slot") or "") not in names)
    return unseen


def _sheet_hidden(root: lxml.etree._Element) -> tuple[set[lxml.etree._Element], bool]:
    """The elements the page's own style sheets hide (audit.web.stylesheet says which rules
    count): those that take a hiding value of a property from the cascade of the rules that
    match them and their own `style` (!important, specificity, order; no inheritance: what
    is inside a hidden element is hidden, a `visibility:visible` in it too)."""
    sheets = _page_sheets(root)
    if not sheets or not stylesheet.may_hide("".join(css for css, _, _ in sheets)):
        return set(), True
    rules = stylesheet.sheet_rules(sheets)
    if not rules:
        return set(), rules.complete
    size = _sheet_size(root)
    if size is None:
        return set(), False
    work = [SHEET_WORK]
    hidden: set[lxml.etree._Element] = set()
    for name, hiding in rules.hide.items():
        # Each element with text a hiding rule matches, and what it takes of the property:
        # the highest precedence among the rules that match it (and its own `style`). Only
        # elements with text matter to the text; most of what sheets hide (icons, empty
        # containers) has none, and then the rules that show are not evaluated.
        taken: dict[lxml.etree._Element, tuple[stylesheet.Precedence, bool]] = {}
        for rule in sorted(hiding, key=lambda rule: rule[1]):  # the cheapest first
            for el in _matching(root, rule, size, work):
                if (el not in taken or taken[el][0] < rule[2]) and text_of(el).strip():
                    taken[el] = (rule[2], True)
        if not taken:
            continue
        for rule in rules.show.get(name, []):
            for el in _matching(root, rule, size, work):
                if el in taken and taken[el][0] < rule[2]:
                    taken[el] = (rule[2], False)
        for el in list(taken):
            style = el.get("style")
            own = stylesheet.inline_settings(style).get(name) if style else None
            if own is not None:
                precedence: stylesheet.Precedence = (own[1], (1, 0, 0, 0), 0)
                if taken[el][0] < precedence:
                    taken[el] = (precedence, own[0])
        hidden.update(el for el, (_, hides) in taken.items() if hides)
    # The work budget spent before every hiding rule was evaluated: some may not be read.
    return hidden, rules.complete and work[0] >= 0


# What evaluating a page's selectors may cost, in elements tested: a selector tests every
# element, and its ancestors for a descendant combinator (audit.web.stylesheet's XPath runs
# right to left); past it the remaining selectors are not evaluated (a hiding rule not
# read: the text counts as shown; a showing one not read: the element counts as hidden,
# which only makes a page less excusable).
SHEET_WORK = 1_000_000


def _sheet_size(root: lxml.etree._Element) -> tuple[int, int] | None:
    """The page's number of elements and depth; None past SHEET_ELEMENTS or SHEET_DEPTH."""
    count = depth = deepest = 0
    for event, _ in lxml.etree.iterwalk(root, events=("start", "end")):
        if event == "start":
            count += 1
            depth += 1
            deepest = max(deepest, depth)
            if count > SHEET_ELEMENTS or depth > SHEET_DEPTH:
                return None
        else:
            depth -= 1
    return count, deepest


# Compiled XPath of style sheets' selectors (pages of a platform share their sheets); None
# for one lxml does not compile.
_SHEET_XPATHS: dict[str, lxml.etree.XPath | None] = {}


def _matching(root: lxml.etree._Element, rule: stylesheet.Rule, size: tuple[int, int],
              work: list[int]) -> list[lxml.etree._Element]:
    """The elements a rule's selector matches; none once `work` (SHEET_WORK's) is spent."""
    xpath, deep, _ = rule
    elements, depth = size
    work[0] -= elements * (depth if deep else 1)
    if work[0] < 0:
        return []
    if xpath not in _SHEET_XPATHS:
        if len(_SHEET_XPATHS) >= 4096:
            _SHEET_XPATHS.clear()
        try:
            _SHEET_XPATHS[xpath] = lxml.etree.XPath(xpath)
        except (lxml.etree.XPathError, ValueError):  # ValueError: control characters
            _SHEET_XPATHS[xpath] = None
    compiled = _SHEET_XPATHS[xpath]
    if compiled is None:
        return []
    try:
        result = compiled(root)
    except (lxml.etree.XPathError, ValueError):
        return []
    return [el for el in result if isinstance(el, lxml.etree._Element)] \
        if isinstance(result, list) else []


def _is_css(style: lxml.etree._Element) -> bool:
    """A <style> element of CSS: no `type`, an empty one, or text/css."""
    return (style.get("type") or "").strip(" \t\n\r\f").lower() in ("", "text/css")


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


# The handler attributes a tap on a link runs (a press, a click, a touch, a pointer's, and
# those a tap fires before the click: mouseover and focus, in which a link's address can be
# rewritten as it is tapped).
_BUBBLING_TAP_HANDLERS = (
    "onclick", "onauxclick", "onmousedown", "onmouseup", "onpointerdown", "onpointerup",
    "ontouchstart", "ontouchend", "onmouseover", "onpointerover", "onmousemove",
    "onpointermove", "onfocusin")
# ... and those of events that do not bubble: they run on a tap of the link itself only (an
# element around it never gets them).
_OWN_TAP_HANDLERS = ("onfocus", "onmouseenter", "onpointerenter")
_TAP_HANDLERS = _BUBBLING_TAP_HANDLERS + _OWN_TAP_HANDLERS
# Elements that change what a tap on a link inside them does, besides a `pointer-events` in
# their style (which the walk reads with the style it reads anyway): `inert`, a tap's handler
# (any `on…` attribute is looked at: one pass over each element's attributes costs libxml2
# less than a test per name, and less than looking for the words in the page's text first).
# The attributes are found by libxml2 and their elements taken in Python: the query's own
# parent step (`…/..`) merged its node sets at a cost that grew with their square, 6 s for
# 80,000 marked elements in one link (review 131), where this is linear and as fast on real
# pages.
_TAP_MARKED = lxml.etree.XPath("//@*[starts-with(name(), 'on') or name() = 'inert']")


def _tap_marked(root: lxml.etree._Element) -> frozenset[lxml.etree._Element]:
    """The elements with an attribute of _TAP_MARKED."""
    found = _TAP_MARKED(root)
    if not isinstance(found, list) or not found:
        return frozenset()
    elements = (getattr(attribute, "getparent", lambda: None)() for attribute in found)
    return frozenset(el for el in elements
                     if isinstance(el, lxml.etree._Element) and isinstance(el.tag, str))


# An element's tap state: inside an inert element, `pointer-events: none` in force, and the
# tap handlers around it of events that bubble (innermost first).
_TapState = tuple[bool, bool, tuple[tuple[str, str], ...]]
_NO_TAP_STATE: _TapState = (False, False, ())


def _tap_state(el: lxml.etree._Element, outer: _TapState) -> _TapState:
    """The tap state inside `el` (one of _TAP_MARKED, or one whose style may set
    `pointer-events`), given the one around it."""
    inert, no_pointer, handlers = outer
    inert = inert or el.get("inert") is not None
    style = el.get("style")
    if style is not None and _may_set_pointer_events(style):
        setting = stylesheet.inline_pointer_events_none(style)
        if setting is not None:
            no_pointer = setting
    own = _handlers_of(el, _BUBBLING_TAP_HANDLERS)
    return inert, no_pointer, (own + handlers) if own else handlers


def _may_set_pointer_events(style: str) -> bool:
    """A cheap test before the style is parsed: could it set `pointer-events` (its name in
    any case, or written with an escape)? Not `cursor: pointer`, the commonest style of a
    clickable list, each parsed made a page of them four times slower to read (a review)."""
    lowered = style.lower()
    return "pointer-events" in lowered or ("\\" in lowered and "pointer" in lowered)


def _handlers_of(el: lxml.etree._Element, names: tuple[str, ...]
                 ) -> tuple[tuple[str, str], ...]:
    return tuple((name, str(value)) for name in names if (value := el.get(name)) is not None)


def _walk(top: lxml.etree._Element, hidden_by: frozenset[lxml.etree._Element] = frozenset(),
          tap_marked: frozenset[lxml.etree._Element] = frozenset(),
          tap: _TapState | None = None, read_taps: bool = False,
          ) -> tuple[list[str], list[str], list[Anchor], list[lxml.etree._Element]]:
    """One pass over the tree: all visible text, visible text outside <a>, and the anchors;
    `hidden_by`: elements hidden besides those their markup hides (_sheet_hidden);
    `tap_marked`: elements that change what a tap on a link does (_TAP_MARKED); `tap`: the
    tap state around `top`; `read_taps`: read the tap state (the anchors are wanted).

    The hot path of every crawled page, so it is one loop over lxml's own walker (no Python
    call per element): on entering an element, a block starts a line; the text of a hidden
    element is dropped; text inside a link goes to `parts` only, the rest to both; the
    children of invisible elements (script, template ...) are not entered, so links there
    are not links on the page. The state of each open element is kept on a stack."""
    parts: list[str] = []
    loose: list[str] = []
    anchors: list[Anchor] = []
    elements: list[lxml.etree._Element] = []  # each anchor's
    in_anchor = hidden = False
    tap = tap or _NO_TAP_STATE
    # The anchor being walked (its index): a tap lands on what the link holds, so the
    # handlers of its contents run first (`<a href><span onclick="…alert('链接已复制…')">`, read
    # as a plain link: a review). Content that sets `pointer-events` back inside a greyed-out
    # link is not read as taking the tap back: whether it has a box to tap (hidden, empty,
    # off-screen, clipped) needs layout (the review of that reading found each read open).
    anchor_index: int | None = None
    inner_handlers: dict[int, list[tuple[str, str]]] = {}
    # Per open element: in_anchor, hidden and the tap state as they were outside it, whether
    # it is a block, whether it is a link, the anchor open outside it.
    stack: list[tuple[bool, bool, bool, bool, _TapState, int | None]] = []
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
            stack.append((in_anchor, hidden, block, tag == "a", tap, anchor_index))
            if tag in _INVISIBLE:
                # Also a declarative shadow root's template: what of it a browser shows (one
                # root a host, slots, light children) is not read, and walked whole it showed
                # a block page carrying the target's text as like the target (a review).
                # shows_nothing counts it as something shown.
                walker.skip_subtree()
            else:
                # Hidden elements show no text, but their links are still links on the page,
                # and what a tap on them does is read (a folded post a script unfolds).
                style = el.get("style") if read_taps or not hidden else None
                if not hidden:
                    hidden = el.get("hidden") is not None or (
                        style is not None and stylesheet.inline_hides(style)) or (
                        bool(hidden_by) and el in hidden_by)
                marked = bool(tap_marked) and el in tap_marked
                if marked or (read_taps and style is not None and _may_set_pointer_events(style)):
                    tap = _tap_state(el, tap)
                    if marked and anchor_index is not None and tag != "a":
                        inner_handlers.setdefault(anchor_index, []).extend(
                            _handlers_of(el, _TAP_HANDLERS))
                if tag == "a":
                    href = el.get("href")
                    if href is not None:
                        # Most links hold only text: then their text is all their text.
                        label = (el.text or "") if len(el) == 0 else text_of(el)
                        handlers = tap[2]
                        if marked:
                            handlers = _handlers_of(el, _OWN_TAP_HANDLERS) + handlers
                        anchor_index = len(anchors)
                        anchors.append(Anchor(html.unescape(href), _one_line(label),
                                              tap[0] or tap[1], handlers))
                        elements.append(el)
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
            in_anchor, hidden, block, link, tap, anchor_index = stack.pop()
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
    for index, inner in inner_handlers.items():
        # innermost first: the deepest content's handlers run before the link's
        anchors[index] = replace(anchors[index],
                                 tap_handlers=(*reversed(inner), *anchors[index].tap_handlers))
    return parts, loose, anchors, elements


# Characters a browser does not draw: Unicode's format characters (category Cf: zero-width
# spaces and joiners, the soft hyphen but where it breaks a line, bidi controls, the
# byte-order mark) and the invisible marks among the default-ignorable code points
# (variation selectors, the grapheme joiner, Mongolian's selectors). A phrase with one inside
# reads as the phrase; kept in the text they hid a catalog phrase from the markers, and a
# block page in the target's clothes read as the target reached (a review).
_INVISIBLE_MARKS = [0x034F, 0x180B, 0x180C, 0x180D, 0x180F, *range(0xFE00, 0xFE10),
                    *range(0xE0100, 0xE01F0)]


def _character_class(codes: list[int]) -> str:
    """A regular expression's class of these code points, as ranges (a class of single
    characters made the regular expression engine 20 times slower over a page's text)."""
    ranges: list[list[int]] = []
    for code in sorted(codes):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "[{}]".format("".join(re.escape(chr(first)) + ("" if first == last else
                                                         "-" + re.escape(chr(last)))
                                 for first, last in ranges))


@functools.cache
def _invisible() -> re.Pattern[str]:
    """The characters a browser does not draw (made on first use: reading the whole Unicode
    table takes a tenth of a second, which a CLI that parses no page need not pay)."""
    return re.compile(_character_class(
        [*(c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"),
         *_INVISIBLE_MARKS]))


def _drawn(text: str) -> str:
    """The text without the characters a browser does not draw (none is ASCII, and whether a
    string is ASCII Python knows without reading it)."""
    return text if text.isascii() else _invisible().sub("", text)


def _one_line(text: str) -> str:
    """A title's or a link's text as read: format characters dropped, spacing collapsed."""
    return " ".join(_drawn(text).split())


def _squash(text: str) -> str:
    lines = (" ".join(line.split()) for line in _drawn(text).split("\n"))
    return "\n".join(line for line in lines if line)


# libxml2's fatal errors end the parse where they occur; everything after is dropped.
_FATAL = lxml.etree.ErrorLevels.FATAL
_RESOURCE_LIMIT = lxml.etree.ErrorTypes.ERR_RESOURCE_LIMIT
# Pages on which libxml2 halted are parsed again by JustHTML only up to this size: with the
# copy into lxml and the walk it takes ~0.35 s for 10,000 nested divs and ~3-4 s for 250,000
# characters of nested divs or of the worst nests of formatting elements found (b/i/u/s/em),
# where libxml2 takes milliseconds (and ~13 s at 500,000: it grows faster than the input).
# Nesting past 2,048 levels is hostile, not a framework's page, so a longer page keeps
# libxml2's tree and is marked with what was lost.
FALLBACK_MAX_CHARS = 250_000

# A page's title is kept up to this many characters (spaces collapsed), as the headline (200)
# and excerpt (280) are cut: the title is the page's to choose, and a hostile one of
# 3,000,000 characters was copied whole into observations.jsonl, the Parquet tables,
# findings.json/csv and the site. Real titles are far shorter (a browser's tab shows ~100);
# 1,000 keeps every one whole, so the control comparison's equal titles
# (audit/judge/compare.py) still means equal titles, and the words the classifier looks for
# in the title (audit/judge/classify.py reads it with the text) are in its first thousand.
TITLE_CHARS = 1_000


def meta_charset_labels(data: bytes) -> Iterator[str]:
    """The encoding labels a page's <meta> elements declare, in the order Blink's prescan
    (HTMLMetaCharsetParser) meets them, up to where it stops (_prescan_end): read by
    libxml2's tokenizer, as Blink reads them with its own, not in a comment, a <title>, a
    script or a style sheet, nor a <meta name> whose `content` names a charset (only
    `http-equiv=content-type` makes `content` a declaration). Checked with Chromium 156
    (2026-12-07): a pattern over the bytes found all of these, and once a declaration decided
    an answer's decoding, a UTF-8 notice with a commented-out `gbk` ran a forward for hulian
    that stayed inside a string for Chromium (a review). Read in the first 16 KB only: one
    tag of thousands of attributes costs libxml2 quadratic time (the next review)."""
    head = data[:_PRESCAN_HEAD_BYTES]
    if b"charset" not in head.lower():  # most pages' heads say it in a header (6x a regex's)
        return
    parser = lxml.etree.HTMLParser(encoding="iso-8859-1", recover=True, no_network=True)
    try:
        root = lxml.etree.fromstring(head[:_prescan_end(head)], parser=parser)
    except (lxml.etree.LxmlError, ValueError):
        return
    if root is None:
        return
    for meta in root.iter("meta"):
        label = _meta_declaration(meta)
        if label is not None:
            yield label


def _prescan_end(head: bytes) -> int:
    """Where Blink's prescan stops: once it has read 1,024 bytes and met a tag that ends the
    head section (any start tag but those a head holds, any end tag but theirs), after the
    token it is in. Comments and the contents of scripts, style sheets and titles are one
    token each, blanked here so that no tag is seen in them."""
    masked = _INERT_SECTIONS.sub(lambda m: b" " * len(m.group()), head)
    ending = _HEAD_ENDING.search(masked)
    if ending is None:
        return len(head)
    if ending.start() >= _PRESCAN_BYTES:
        return ending.start()
    # Out of the head already: the token that holds byte 1,024 is the last one read (a tag to
    # its `>`, text to the next `<`).
    inside_tag = masked.rfind(b"<", 0, _PRESCAN_BYTES) > masked.rfind(b">", 0, _PRESCAN_BYTES)
    stop = (masked.find(b">", _PRESCAN_BYTES) + 1 if inside_tag
            else masked.find(b"<", _PRESCAN_BYTES))
    return stop if stop > 0 else len(head)


_PRESCAN_BYTES = 1024
_PRESCAN_HEAD_BYTES = 16384
# An unclosed section runs to the end (linear: an opener searched to the end from each of
# thousands was quadratic before, elsewhere).
_INERT_SECTIONS = re.compile(
    rb"<!--(?:.*?-->|.*\Z)|<(script|style|title)(?=[\s/>])(?:.*?</\1\s*>|.*\Z)",
    re.DOTALL | re.IGNORECASE)
_HEAD_ENDING = re.compile(
    rb"<(?!(?:script|noscript|style|link|meta|object|title|base|html|head)[\s/>])[a-z]"
    rb"|</(?!(?:script|noscript|style|link|meta|object|title|base)[\s/>])[a-z]",
    re.IGNORECASE)


def _meta_declaration(meta: lxml.etree._Element) -> str | None:
    """What one <meta> declares, as Blink's HTMLMetaCharsetParser::ProcessMeta reads its
    attributes: `charset`, else the charset in `content` where an `http-equiv` says
    content-type."""
    charset: str | None = None
    from_content: str | None = None
    pragma = False
    for name, value in meta.attrib.items():
        name = ascii_lower(str(name))
        if name == "http-equiv":
            pragma = ascii_lower(value) == "content-type"
        elif name == "charset" and charset is None:
            charset = value
        elif name == "content" and from_content is None:
            from_content = _content_charset(value)
    if charset is not None:
        return charset
    return from_content if pragma else None


def _content_charset(content: str) -> str | None:
    """The charset a `content` names, as Blink's FindCharsetInMetaContent reads it (the HTML
    standard's extraction, but for what it skips around the `=`, every control character and
    space, and an unquoted value's end at a quote too: checked with Chromium 156)."""
    lowered = ascii_lower(content)
    position = 0
    while True:
        found = lowered.find("charset", position)
        if found < 0:
            return None
        index = found + len("charset")
        while index < len(content) and content[index] <= " ":
            index += 1
        if index >= len(content) or content[index] != "=":
            position = index
            continue
        index += 1
        while index < len(content) and content[index] <= " ":
            index += 1
        if index >= len(content):
            return None
        if content[index] in "\"'":
            end = content.find(content[index], index + 1)
            return content[index + 1:end] if end >= 0 else None
        end = index
        while end < len(content) and content[end] > " " and content[end] not in ";\"'":
            end += 1
        return content[index:end] or None


def _libxml2_tree(text: str) -> tuple[lxml.etree._Element | None, str | None]:
    """libxml2's tree and, when it halted before the end, why ("depth_cut" or
    "unparsed_tail")."""
    # lxml.etree's HTML parser, not lxml.html's: the same libxml2 parse, without a Python
    # class lookup for every element the walk touches (a sixth of the walk's time).
    # huge_tree: 2,048 levels instead of 256, and text nodes beyond 10 MB.
    parser = lxml.etree.HTMLParser(encoding="utf-8", recover=True, remove_comments=False,
                                   huge_tree=True)
    try:
        root = lxml.etree.fromstring(text.encode("utf-8", "surrogatepass"), parser=parser)
    except (lxml.etree.LxmlError, ValueError, UnicodeError):
        return None, None
    issue = None
    for entry in parser.error_log:
        if entry.level == _FATAL:
            # libxml2 reports at least one fatal error even after its 100-error cap.
            deep = entry.type == _RESOURCE_LIMIT and "depth" in entry.message
            issue = "depth_cut" if deep else "unparsed_tail"
            break
    if root is not None:
        _end_head(root)
    return root, issue


# What HTML's "in head" insertion mode keeps in <head>; any other element starts the body.
_HEAD_CONTENT = frozenset({"base", "basefont", "bgsound", "link", "meta", "title", "noscript",
                           "noframes", "style", "script", "template"})


def _end_head(root: lxml.etree._Element) -> None:
    """The body a browser makes of a page that leaves out `<body>`: libxml2 (an HTML 4
    parser) keeps an element it does not know as body content (`main`, `section`, `article`,
    `header`, `marquee`, a custom element …) in `<head>` with everything inside and after it
    up to a tag it does know, where a browser ends the head at the first element that is no
    head content. Left there, a notice and its links read as no text at all (review 136: a
    countdown in `<main>` read as a blank redirect, `wrapped`)."""
    head = root.find("head")
    if head is None:
        return
    moving: list[lxml.etree._Element] = []
    for child in head:
        if moving or (isinstance(child.tag, str)
                      and child.tag.lower() not in _HEAD_CONTENT):
            moving.append(child)
    if not moving:
        return
    body = root.find("body")
    if body is None:
        body = lxml.etree.Element("body")
        head.addnext(body)
    # The moved elements come before what the body held: its leading text follows them. One
    # slice assignment: an insert at each index walks that many siblings (review 137: 320,000
    # elements took 218 s).
    last = moving[-1]
    last.tail = (last.tail or "") + (body.text or "") or None
    body.text = None
    body[:0] = moving


XHTML_NAMESPACE = "http://www.w3.org/1999/xhtml"
# How much of an XML body is read for its first element: what comes before it is a prolog
# (declaration, doctype, comments), which a real page keeps short.
XML_PROLOG_BYTES = 256 * 1024
# What decode_html makes of a byte an XML page's encoding cannot read: U+FFFF, a character
# XML forbids, where the parser stops as Chromium's stops at the byte. The replacement
# character, which a page may hold as text, cut pages at their first U+FFFD (until 2026-12-07).
XML_UNREADABLE = "\uffff"


def _xml_parser(**options: bool) -> dict[str, bool]:
    """Options of every XML parse here: no entity is expanded (a page's own DTD could make a
    billion of them) nor any DTD fetched; libxml2 recovers after errors as Chromium renders a
    document up to its first one."""
    return {"recover": True, "resolve_entities": False, "no_network": True, "load_dtd": False,
            "huge_tree": True, **options}


def renders_as_xhtml(text: str) -> bool:
    """Whether a browser shows an XML answer (decode.XML_TYPES), decoded as its XML parser
    decodes it (decode.xhtml_shown), as a page: its root element is in the XHTML namespace.
    Chromium then runs its scripts and refreshes as an HTML page's; any other XML it shows as
    a tree of elements (checked with Chromium 156, 2026-12-07). Read from the decoded text,
    not the bytes: libxml2's own reading of an XML declaration's "UTF-16" on bytes that are
    not found no root, and a notice Chromium shows was no page."""
    head = text[:XML_PROLOG_BYTES].partition(XML_UNREADABLE)[0]
    parser = lxml.etree.XMLPullParser(events=("start",), encoding="utf-8", **_xml_parser())
    data = head.encode("utf-8", "surrogatepass")
    try:
        for offset in range(0, len(data), 16384):
            parser.feed(data[offset:offset + 16384])
            for _event, element in parser.read_events():
                return bool(lxml.etree.QName(element).namespace == XHTML_NAMESPACE)
    except (lxml.etree.LxmlError, ValueError):
        return False
    return False


# Chromium's XML parser knows HTML's named character references in documents whose doctype is
# one of XHTML's (Blink's IsXHTMLDocType); elsewhere `&nbsp;` is a well-formedness error.
_XHTML_DOCTYPE = re.compile(
    rb"<!DOCTYPE\s+html\s+PUBLIC\s+[\"'](?:-//W3C//DTD XHTML (?:1\.0 (?:Transitional|Strict|"
    rb"Frameset)|1\.1|Basic 1\.0|1\.1 plus MathML 2\.0(?: plus SVG 1\.1)?)//EN|-//W3C//DTD "
    rb"MathML 2\.0//EN|-//WAPFORUM//DTD XHTML Mobile 1\.[012]//EN)[\"']", re.IGNORECASE)
_NAMED_REFERENCE = re.compile(rb"&([A-Za-z][A-Za-z0-9]*);")
_XML_PREDEFINED = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})


def _numeric_reference(match: re.Match[bytes]) -> bytes:
    name = match.group(1)
    if name in _XML_PREDEFINED:
        return match.group(0)
    character = html.entities.html5.get(name.decode("ascii") + ";")
    return f"&#{ord(character[0])};".encode() if character and len(character) == 1 \
        else match.group(0)


def _outside_markup_sections(data: bytes, change: Callable[[bytes], bytes]) -> bytes:
    """`data` with `change` applied outside CDATA sections, comments and processing
    instructions, where a `&name;` is text, not a reference."""
    return b"".join(part if index % 2 else change(part)
                    for index, part in enumerate(_MARKUP_SECTION.split(data)))


# An unclosed section runs to the end (an error there anyway): searched for its end from each
# opener, `<!--` repeated took seconds per 40 KB, quadratically (a review).
_MARKUP_SECTION = re.compile(
    rb"(<!\[CDATA\[(?:.*?\]\]>|.*\Z)|<!--(?:.*?-->|.*\Z)|<\?(?:.*?\?>|.*\Z))", re.DOTALL)
# A doctype declaration to its end, its quoted literals and internal subset skipped (searched
# in the first 4 KB only: a hostile page's unclosed quotes cost no more than that).
_DOCTYPE_END = re.compile(rb"<!DOCTYPE(?:[^>\"'\[]|\"[^\"]*\"|'[^']*'|\[[^\]]*\])*>",
                          re.IGNORECASE)


def _xhtml_tree(text: str) -> tuple[lxml.etree._Element | None, str | None]:
    """An XHTML page's tree as a browser's XML parser builds it: closed where it is written
    (a `<script/>` or `<title/>` is closed, where the HTML parser reads the rest of the page
    into it), and only up to the first well-formedness error, where Chromium stops (libxml2
    recovering past it read a forward Chromium never ran: a review). Elements of XHTML's
    namespace are renamed to their local names, so that the rest of the parse sees the HTML
    parser's kind of tree; those of other namespaces keep their qualified names
    (`{urn:x}script` is no script, an SVG `<meta>` no refresh), but for `<svg>` itself, whose
    text is not read. Case is kept: `<P>` is no paragraph in XHTML, nor `<SCRIPT>` a
    script. The second value is the parse's issue: "xml_entities" where the page declares
    entities of its own, which Chromium expands (markup included) and hulian does not (a
    forward or a dialog may be in one: such a page is read in part, never followed);
    "xml_error" where it stopped at a well-formedness or encoding error."""
    # A byte the encoding cannot read ends the document for Chromium's XML parser (an
    # "Encoding error"): decode_html gave it as XML_UNREADABLE, which XML forbids, so
    # libxml2 stops there too; a U+FFFD the page itself holds is text.
    data = text.encode("utf-8", "surrogatepass")
    issue = None
    if _XHTML_DOCTYPE.search(data, 0, 8192):
        # After the doctype, whose quoted literals may hold `<!--` or `<?` (a system id):
        # read as a section's start, it ran to the end of the page (a review).
        declared = _DOCTYPE_END.search(data, 0, 4096)
        start = declared.end() if declared else 0
        data = data[:start] + _outside_markup_sections(
            data[start:], lambda part: _NAMED_REFERENCE.sub(_numeric_reference, part))
    parser = lxml.etree.XMLPullParser(events=("start",), encoding="utf-8",
                                      remove_comments=False, **{**_xml_parser(),
                                                                "recover": False})
    root: lxml.etree._Element | None = None
    try:
        parser.feed(data)
        parser.close()
    except (lxml.etree.LxmlError, ValueError):
        # Stopped at an error, as Chromium stops, which shows what came before it under an
        # error of its own: no "no way on" is concluded from the part before (page_cut).
        issue = issue or "xml_error"
    with contextlib.suppress(lxml.etree.LxmlError, ValueError):
        for _event, element in parser.read_events():
            root = element
            break
    if root is None:
        return None, issue
    internal_subset = root.getroottree().docinfo.internalDTD
    if internal_subset is not None and any(True for _ in internal_subset.iterentities()):
        # libxml2's own reading of the internal subset: a pattern over the bytes missed
        # declarations after a `>` in a literal, a `]` in a comment or a long prolog (a review).
        issue = "xml_entities"
    for element in root.iter(lxml.etree.Element):
        name = lxml.etree.QName(element)
        if name.namespace == XHTML_NAMESPACE or (name.namespace == _SVG_NAMESPACE
                                                  and name.localname == "svg"):
            element.tag = name.localname
        elif name.namespace is None:  # `<script xmlns="">` is no HTML script either
            element.tag = f"{{{_NO_NAMESPACE}}}{name.localname}"
    return root, issue


_SVG_NAMESPACE = "http://www.w3.org/2000/svg"
_NO_NAMESPACE = "urn:hulian:no-namespace"


def _clean(value: str) -> str:
    return xml_text(value, replacement="")  # lxml elements cannot hold them


def _html5_tree(text: str) -> lxml.etree._Element:
    """JustHTML's parse of `text` copied into an lxml tree, without recursion: elements with
    their attributes, texts as lxml's text and tails; comments, doctypes and template
    contents (never shown) are left out."""
    # Imported here: only pages libxml2 halted on need the second parser, and loading it
    # cost every process that parses pages (the CLI, each parse worker) a sixth of a second.
    from justhtml import JustHTML
    from justhtml.dom import Element, Template, Text

    document = JustHTML(text, sanitize=False)
    top = next((c for c in document.root.children or () if isinstance(c, Element)
                and c.name == "html"), None)
    # A root made by libxml2 makes the tree an HTML document: lxml then accepts every name
    # HTML allows (v-on:click, @click ...).
    root = lxml.etree.fromstring(b"<html></html>", lxml.etree.HTMLParser())
    if top is None:
        return root
    _copy_attributes(top, root)
    # Per open element: its children still to copy, its lxml copy, and the last element
    # copied into it (whose tail takes the next text).
    stack: list[tuple[Iterator[object], lxml.etree._Element, list[lxml.etree._Element]]] = [
        (iter(top.children or ()), root, [])]
    while stack:
        children, parent, last = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            continue
        if isinstance(child, Text):
            data = _clean(child.data or "")
            if last:
                last[0].tail = (last[0].tail or "") + data
            else:
                parent.text = (parent.text or "") + data
        elif isinstance(child, Element):
            try:
                copy = lxml.etree.SubElement(parent, child.name)
            except ValueError:
                copy = lxml.etree.SubElement(parent, "span")  # a name only HTML5 accepts
            _copy_attributes(child, copy)
            last[:] = [copy]
            if not isinstance(child, Template):
                stack.append((iter(child.children or ()), copy, []))
        # Comments, processing instructions: no text, no links; the next text joins the
        # previous one, as the walk would read it anyway.
    return root


def _copy_attributes(source: Element, target: lxml.etree._Element) -> None:
    for name, value in (source.attrs or {}).items():
        try:
            target.set(name, _clean(value or ""))
        except ValueError:
            continue  # a name lxml refuses; HTML would not act on it either


# The script types a browser runs (the HTML standard's JavaScript MIME type essences, and
# modules); an empty type is JavaScript (_script_type).
_RUNNABLE_TYPES = {
    "module", "application/ecmascript", "application/javascript",
    "application/x-ecmascript", "application/x-javascript", "text/ecmascript",
    "text/javascript", "text/javascript1.0", "text/javascript1.1", "text/javascript1.2",
    "text/javascript1.3", "text/javascript1.4", "text/javascript1.5", "text/jscript",
    "text/livescript", "text/x-ecmascript", "text/x-javascript",
}


def _runnable(script: lxml.etree._Element) -> bool:
    """Whether a script of its type and language runs, as the HTML standard's "prepare the
    script element" decides (checked with Chromium 156): an empty `type`, or none and no or
    an empty `language`, is JavaScript; else the type with white space stripped as Blink
    strips it (_BLINK_WHITESPACE), or "text/" and the language as written, must be a
    JavaScript type exactly, ASCII case aside (`text/javascript; charset=utf-8` does not run,
    nor `text/javascript` followed by a no-break space, which Python's strip() took away:
    a review)."""
    script_type, language = script.get("type"), script.get("language")
    if script_type == "" or (script_type is None and not language):
        return True
    essence = (script_type.strip(_BLINK_WHITESPACE) if script_type is not None
               else f"text/{language}")
    return ascii_lower(essence) in _RUNNABLE_TYPES


def ascii_lower(value: str) -> str:
    """`value` with ASCII letters lower-cased and no other character changed (HTML compares
    keywords "ASCII case-insensitively": Python's lower() turned the Kelvin sign into a k)."""
    return value.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


# Distinct policies that can refuse a script read of one page (real sites send one to three).
MAX_SCRIPT_POLICIES = 32
_HASHES = {"'sha256-": hashlib.sha256, "'sha384-": hashlib.sha384, "'sha512-": hashlib.sha512}
_ASCII_SPACES = re.compile(r"[\t\n\f\r ]+")
# A nonce's or hash's value as CSP writes it (base64 or base64url); other sources are ignored.
_BASE64_VALUE = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


def _directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy's directives by name (the first of a name counts), their
    values as written (nonces and hashes compare exactly)."""
    directives: dict[str, list[str]] = {}
    for directive in policy.split(";"):
        # CSP's whitespace is ASCII's: a no-break space joins a name to its value.
        words = _ASCII_SPACES.split(directive.strip(_ASCII_WHITESPACE))
        if words and words[0] and words[0].lower() not in directives:
            directives[words[0].lower()] = words[1:]
    return directives


@dataclass(frozen=True)
class _ScriptPolicy:
    """What one policy's script directive (script-src-elem, else script-src, else
    default-src) says of inline scripts, read once a page."""

    nonces: frozenset[str]
    hashes: frozenset[str]  # "'sha256-…'", the algorithm in lower case
    inline: bool  # 'unsafe-inline' that no nonce, hash or 'strict-dynamic' turns off


def _script_policy(policy: str) -> _ScriptPolicy | None:
    """None where the policy has no script directive (it allows every inline script)."""
    directives = _directives(policy)
    values = next((directives[n] for n in ("script-src-elem", "script-src", "default-src")
                   if n in directives), None)
    if values is None:
        return None
    nonces, hashes = set(), set()
    for value in values:
        keyword = value[:8].lower()
        if keyword.startswith("'nonce-") and value.endswith("'") and _BASE64_VALUE.fullmatch(
                value[7:-1]):
            nonces.add(value[7:-1])
        elif keyword in _HASHES and value.endswith("'") and _BASE64_VALUE.fullmatch(
                value[8:-1]):
            hashes.add(keyword + value[8:])
    lowered = {value.lower() for value in values}
    inline = ("'unsafe-inline'" in lowered and not nonces and not hashes
              and "'strict-dynamic'" not in lowered)
    return _ScriptPolicy(frozenset(nonces), frozenset(hashes), inline)


def _allows_inline(policy: _ScriptPolicy | None, script: lxml.etree._Element) -> bool:
    """Whether a policy lets this inline script run: no script directive; the script's nonce
    listed (where the element may carry one: CSP's "nonceable"); its text's hash listed; or
    'unsafe-inline' left on. Read as "any nonce blocks every script", a redirect page whose
    script carried the policy's nonce (the common form of a policy header) read as not
    forwarding; read without CSP's grammar, nonces Chromium ignores let a block page's
    script forward (two reviews)."""
    if policy is None or policy.inline:
        return True
    nonce = (script.get("nonce") or "").strip(_ASCII_WHITESPACE)
    if nonce and nonce in policy.nonces and _nonceable(script):
        return True
    if policy.hashes:
        text = (script.text or "").encode("utf-8", "surrogatepass")
        return any(prefix + base64.b64encode(digest(text).digest()).decode() + "'"
                   in policy.hashes for prefix, digest in _HASHES.items())
    return False


def _nonceable(script: lxml.etree._Element) -> bool:
    """CSP's "is element nonceable": no attribute whose name or value holds `<script` or
    `<style` (markup injected before the real script's attributes). A duplicate attribute,
    which also makes it not nonceable, cannot be seen: libxml2 keeps the first."""
    for name, value in script.items():
        text = f"{name} {value}".lower()
        if "<script" in text or "<style" in text:
            return False
    return True


def _meta_policies(text: str, root: lxml.etree._Element
                   ) -> list[tuple[int, _ScriptPolicy | None]]:
    """Each meta's policy a browser obeys, with the number of the page's inline scripts before
    it (it counts for those after it). Chromium obeys one in <head> only, as HTML5 builds the
    tree: a meta after </head> goes back into <head>, one in <body> or in <svg> is ignored,
    and with scripts on <noscript> is raw text, so a meta written inside its text after a
    `</noscript>` (in a style, a comment or an attribute) is in <head>. libxml2's tree says
    none of this (three reviews: a block page's forward ran, or a redirect's did not), so a
    page that names a policy is parsed again by the HTML5 parser. Where the two trees hold
    different inline scripts (one smuggled past a `</noscript>` too), which script is after a
    meta cannot be matched between them, and the metas count for every script; past the HTML5
    parser's size bound, a page that names a policy runs no inline script (a meta smuggled so
    is no meta to libxml2: the next review). Either way a script Chromium runs may be taken as
    refused, never one it refuses as run."""
    if not _NAMES_CSP.search(text):
        return []
    if len(text) > FALLBACK_MAX_CHARS:
        return [(0, _REFUSE_ALL)]
    try:
        tree = _html5_tree(text)
    except Exception:  # a bug in the second parser: the safe reading of a page too long for it
        return [(0, _REFUSE_ALL)]
    found: list[tuple[int, _ScriptPolicy | None]] = []
    before = 0
    for element in tree.iter("script", "meta"):
        outside = {a.tag for a in element.iterancestors()}
        if element.tag == "script":
            if element.text and not element.get("src") and not outside & _INERT:
                before += 1
            continue
        if ((element.get("http-equiv") or "").lower() == "content-security-policy"
                and element.get("content") and "head" in outside):
            found.append((before, _script_policy(element.get("content", ""))))
    if found and before != _inline_count(root):
        return [(0, policy) for _, policy in found]
    return found


def _inline_count(root: lxml.etree._Element) -> int:
    """The page's inline scripts as _meta_policies counts them, in libxml2's tree."""
    return sum(1 for script in root.iter("script")
               if script.text and not script.get("src")
               and not any(True for _ in script.iterancestors(*_INERT)))


# A policy that refuses every inline script.
_REFUSE_ALL = _ScriptPolicy(frozenset(), frozenset(), inline=False)


# Where a meta or a script does nothing: inert, or raw text with scripts on; foreign content.
_INERT = {"noscript", "template"}
_NAMES_CSP = re.compile("content-security-policy", re.IGNORECASE)
_NAMES_BASE_URI = re.compile("base-uri", re.IGNORECASE)
# The <base> elements with an href, in document order: a browser takes the first that is an
# HTML element (_html_base).
_BASES = lxml.etree.XPath("//base[@href]", smart_strings=False)


def _html_base(base: lxml.etree._Element) -> bool | None:
    """Whether a browser takes this <base>: False for one in a template (inert) or in
    <noscript> (text to a browser running scripts); None for one in <svg> or <math>, where
    HTML's tree builder decides by rules libxml2's tree does not show (integration points,
    `<mi>`, `<mtext>`, an SVG `<desc>`, and tags such as `<p>` or `<font color>` that break
    out of foreign content: taken or left out, hulian read forwards where Chromium did not,
    reviews 129, 131 and 132); True otherwise."""
    foreign = False
    for outer in base.iterancestors():
        tag = outer.tag.lower() if isinstance(outer.tag, str) else ""
        if tag in ("template", "noscript"):
            return False
        foreign = foreign or tag in ("svg", "math")
    return None if foreign else True


def _allowed(scripts: list[lxml.etree._Element], header_policies: list[str],
             meta_policies: list[tuple[int, _ScriptPolicy | None]]
             ) -> list[lxml.etree._Element]:
    """The inline scripts every policy allows: the header's, and each meta's for the scripts
    after it (`meta_policies`: how many of the page's inline scripts come before each).
    Each policy is read once (read once a script, a page of 3,500 scripts under a 56 KB
    header took 20 s: a review)."""
    # Only policies that can refuse a script count, each once (a header may repeat one).
    policies = list(dict.fromkeys(
        policy for policy in map(_script_policy, header_policies)
        if policy is not None and not policy.inline))
    metas = [(before, policy) for before, policy in meta_policies
             if policy is not None and not policy.inline]
    if not policies and not metas:
        return scripts
    if len(policies) + len(metas) > MAX_SCRIPT_POLICIES:
        # More policies than any site sends, each to be checked for every script: a hostile
        # header. Read as refusing every inline script (the page's own forwards not followed).
        return []
    allowed = []
    counted = 0  # the page's inline scripts so far, as _meta_policies counts them
    for script in scripts:
        applying = policies + [policy for before, policy in metas if before <= counted]
        if not any(True for _ in script.iterancestors(*_INERT)):
            counted += 1
        if all(_allows_inline(policy, script) for policy in applying):
            allowed.append(script)
    return allowed


def _scripting_frames(root: lxml.etree._Element, url: str | None) -> bool:
    """Whether a frame of the page (an iframe, a frame, an object's or an embed's document;
    outside a template or noscript) may run a script that navigates or stops the page: a
    `srcdoc` (its document is the page's origin), a `javascript:` src that does something, or
    a src on the page's own scheme, host and port; unless its `sandbox` leaves out scripts, or
    both the origin and top navigation. Its document is not read: a srcdoc's
    `top.location.replace('/notice')` or `parent.stop()` kept a forward from being made in
    Chromium, read `wrapped` (review 136; objects, embeds and a sandbox allowing top
    navigation, review 137). A frame of another origin cannot navigate the page without a tap
    (Chromium's rule)."""
    for frame in root.iter("iframe", "frame", "object", "embed"):
        if any(True for _ in frame.iterancestors("template", "noscript")):
            continue
        sandbox = frame.get("sandbox")
        if sandbox is not None:
            allowed = set(sandbox.lower().split())
            if "allow-scripts" not in allowed or not allowed & {"allow-same-origin",
                                                                 "allow-top-navigation"}:
                continue
        if frame.get("srcdoc") is not None and frame.tag in ("iframe", "frame"):
            return True
        src = (frame.get("data" if frame.tag == "object" else "src") or "").strip(URL_SPACE)
        if src.lower().startswith("javascript:"):
            if not _INERT_JAVASCRIPT.match(src):
                return True
            continue
        if src and url:
            resolved = resolve(url, src)
            if resolved is not None and same_origin(url, resolved):
                return True
    return False


# A `javascript:` URL that does nothing: an old idiom for a blank frame.
_INERT_JAVASCRIPT = re.compile(
    r"javascript:\s*(?:false|true|0|null|undefined|''|\"\"|void\s*\(?\s*0\s*\)?)?\s*;?\s*$",
    re.IGNORECASE)


def _sandboxed(policy: str) -> bool:
    """Whether a policy (a header's: a meta's sandbox is ignored) runs the page without
    scripts: `sandbox` without `allow-scripts`. Ignored, a block page under `sandbox` read as
    forwarding to the target by its inline script (a review)."""
    values = _directives(policy).get("sandbox")
    return values is not None and "allow-scripts" not in [v.lower() for v in values]


def _after_frameset(root: lxml.etree._Element) -> set[lxml.etree._Element]:
    """The scripts at or after a page's first <frameset>: a browser's parser drops what the
    body would hold there, and they never run (libxml2 keeps them in its tree)."""
    if root.find(".//frameset") is None:
        return set()
    after: set[lxml.etree._Element] = set()
    seen = False
    for element in root.iter():
        if element.tag == "frameset":
            seen = True
        elif seen and element.tag == "script":
            after.add(element)
    return after


def _runs(script: lxml.etree._Element) -> bool:
    """Whether a browser runs this inline script (as Chromium does; tests/test_page.py holds
    the two together): not one with a `src` (even empty), `nomodule`, a legacy `for`/`event`
    handler other than the window's load, a `language` other than JavaScript's, one inside
    <template> or <noscript> (with scripts on, a browser reads noscript's content as text)
    or <math>. (After a <frameset>, see _after_frameset.)"""
    if script.get("src") is not None or script.get("nomodule") is not None:
        return False
    if any(name.endswith("href") for name in script.attrib):  # an SVG script's href, xlink:href
        return False
    handler_for, event = script.get("for"), script.get("event")
    if handler_for is not None and event is not None and (
            ascii_lower(handler_for.strip(_BLINK_WHITESPACE)) != "window"
            or ascii_lower(event.strip(_BLINK_WHITESPACE)) not in ("onload", "onload()")):
        return False
    if any(True for _ in script.iterancestors("template", "noscript", "math")):
        return False
    return _runnable(script)


# Every event handler attribute's value, found by libxml2 rather than by a walk in Python.
# Namespaced attributes (`xmlns:onx`'s `onx:load`) are no handlers.
_HANDLERS = lxml.etree.XPath(
    "//@*[namespace-uri() = '' and starts-with(translate(local-name(), 'ON', 'on'), 'on')]",
    smart_strings=False)
_NAMED_HANDLERS = lxml.etree.XPath(
    "//@*[namespace-uri() = '' and starts-with(translate(local-name(), 'ON', 'on'), 'on')]")
_URL_ATTRIBUTES = lxml.etree.XPath(
    "//@*[namespace-uri() = '' and contains('|src|href|action|formaction|data|',"
    " concat('|', translate(local-name(), 'SRCHEFATIOMD', 'srchefatiomd'), '|'))]")



def _external_before(root: lxml.etree._Element, runnable: list[lxml.etree._Element],
                     url: str | None) -> tuple[list[bool], bool, list[tuple[int, str]]]:
    """Page.external_before of the runnable inline scripts `runnable`, in document order,
    Page.blocking_external and Page.blocking_scripts. Only scripts of the page's own site
    count in the first two (a wrapper's shared `leave.js`): a library or an analytics tag
    from elsewhere (a CDN's jQuery, CNZZ) before every forward sent every such wrapper page
    to review (a review)."""
    wanted = set(runnable)
    site = registrable_domain(url) if url else None
    seen_external = False
    before: dict[lxml.etree._Element, bool] = {}
    blocking: list[tuple[int, str]] = []
    for script in root.iter("script"):
        if script in wanted:
            before[script] = seen_external
        elif ((script.get("src") or "").strip() and script.get("async") is None
              and script.get("defer") is None and script.get("nomodule") is None
              and ascii_lower((script.get("type") or "").strip(_BLINK_WHITESPACE)) != "module"
              and _runnable(script)
              and not any(True for _ in script.iterancestors("template", "noscript", "math"))):
            src = (script.get("src") or "").strip()
            loaded = resolve(url, src) if url else None
            if loaded is not None and len(blocking) < _MAX_BLOCKING_SCRIPTS:
                blocking.append((len(before), loaded))
            elif loaded is not None:
                # Past the bound, whose each script is not looked at, any may be the
                # platform's own: held (sixty-four others slipped a leave.js by: a review).
                seen_external = True
            if _own_site_source(src, url, site):
                seen_external = True
    return [before.get(script, False) for script in runnable], seen_external, blocking


_MAX_BLOCKING_SCRIPTS = 64  # a hostile page's thousands add nothing a person would see


def _own_site_source(src: str, url: str | None, site: str | None) -> bool:
    """Whether a script's `src` loads from the page's own site (a page of unknown URL: any)."""
    if not src.strip():
        return False
    loaded = resolve(url, src.strip()) if url else None
    if url is None or loaded is None:
        return url is None
    return site is not None and registrable_domain(loaded) == site


_ASCII_WHITESPACE = " \t\n\f\r"
# What Blink's StripWhiteSpace takes from around a script's type, `for` and `event`: ASCII
# white space with the vertical tab, and the characters of Unicode's bidi class WS (U+3000,
# the em space; not the no-break space), checked with Chromium 156 (a review).
_BLINK_WHITESPACE = ("\t\n\v\f\r \u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
                     "\u2008\u2009\u200a\u2028\u205f\u3000")
# What the URL standard strips around a URL: C0 controls and space (no Unicode space).


def declared_refresh(content: str) -> tuple[int, str | None] | None:
    """The delay and URL a refresh declares (a meta refresh's content, or a Refresh header),
    read as the HTML standard's "shared declarative refresh steps" read it; None when it
    declares none, a URL of None for the page itself. The URL is what follows the delay,
    after an optional `url=` that must come first: `0; /risk?url=TARGET` goes to /risk (a
    search for `url=` anywhere had read TARGET: an adversarial review)."""
    end, i = len(content), 0
    while i < end and content[i] in _ASCII_WHITESPACE:
        i += 1
    digits_start = i
    while i < end and content[i].isascii() and content[i].isdigit():
        i += 1
    digits = content[digits_start:i]
    if not digits and (i >= end or content[i] != "."):
        return None
    while i < end and (content[i] == "." or (content[i].isascii() and content[i].isdigit())):
        i += 1  # a fraction is read and ignored
    delay = int(digits) if digits else 0
    if i < end:
        if content[i] not in ";," + _ASCII_WHITESPACE:
            return None
        while i < end and content[i] in _ASCII_WHITESPACE:
            i += 1
        if i < end and content[i] in ";,":
            i += 1
        while i < end and content[i] in _ASCII_WHITESPACE:
            i += 1
    if i >= end:
        return delay, None
    url = content[i:]
    if content[i] in "Uu":
        j = i + 1
        if content[j:j + 1] not in ("R", "r") or content[j + 1:j + 2] not in ("L", "l"):
            return delay, url  # not `url=`: the whole rest is the URL
        j += 2
        while j < end and content[j] in _ASCII_WHITESPACE:
            j += 1
        if content[j:j + 1] != "=":
            return delay, url
        j += 1
        while j < end and content[j] in _ASCII_WHITESPACE:
            j += 1
        i = j
    quote = content[i:i + 1] if content[i:i + 1] in ("'", '"') else ""
    url = content[i + len(quote):]
    if quote and quote in url:
        url = url[:url.index(quote)]
    return delay, url


# A refresh as declared (its delay and URL) and its <meta> element (None: the Refresh header).
_Refresh = tuple[int, str | None, lxml.etree._Element | None]


def _scheduled(refreshes: list[_Refresh]) -> _Refresh | None:
    """The refresh Chromium carries out of several, in document order: each replaces the one
    before it unless that one is sooner (Blink's HttpRefreshScheduler; the HTML standard
    keeps the first, Chromium does not)."""
    chosen: _Refresh | None = None
    for refresh in refreshes:
        if chosen is None or refresh[0] <= chosen[0]:
            chosen = refresh
    return chosen


def parse_page(text: str, url: str | None = None, *, truncated: bool = False,
               refresh: str | None = None, csp: str | None = None, xml: bool = False,
               encoding_unsure: bool = False, undeclared: bool = False) -> Page:
    """Parse page text; broken or empty markup gives a Page with what could be read.
    `truncated`: the caller cut the bytes before decoding (decode_html's `truncated`); it
    is recorded in `parse_issue` unless the parse itself lost more. `refresh` and `csp`: the
    response's Refresh and Content-Security-Policy headers, which a browser obeys as it does
    the page's own <meta http-equiv>. `xml`: an XHTML page served as XML (decode.xml_type),
    parsed as XML as a browser parses it. `encoding_unsure`: browsers may read the page
    otherwise (decode_html's `unsure`): the page's issue is "encoding_unsure", whose
    forwards are never followed nor a block concluded from its structure. `undeclared`: an
    answer whose encoding is the browser's guess (decode_html's `undeclared`): the same
    where its scripts (inline, or event handlers) hold a character beyond ASCII."""
    page = Page(url=url, parse_issue=("encoding_unsure" if encoding_unsure
                                      else "truncated" if truncated else None))
    if not text.strip():
        return page
    root, issue = _xhtml_tree(text) if xml else _libxml2_tree(text)
    if not xml and issue is not None and len(text) <= FALLBACK_MAX_CHARS:
        # A bug in the second parser must not cost the first one's tree; the loss stays marked.
        with contextlib.suppress(Exception):
            root, issue = _html5_tree(text), None
    if issue is not None and page.parse_issue != "encoding_unsure":
        page.parse_issue = issue  # (an unsure encoding says more: nothing is followed)
    if root is None:
        return page
    page.root = root

    # The document's title, not an icon's: an <svg>'s <title> is no title a browser shows
    # (one saying 扫码登录 made a block page a login wall: a review).
    title = next((t for t in root.iter("title")
                  if not any(True for _ in t.iterancestors("svg"))), None)
    page.title = _one_line(text_of(title) if title is not None else "")[:TITLE_CHARS]
    # The refreshes a browser running scripts acts on: the response's Refresh header first
    # (Chromium reads it as the document starts; ignored, it left a page that forwards at
    # once read as a block: an adversarial review), then the page's own, in order.
    declared_header = declared_refresh(refresh) if refresh is not None else None
    header_refresh = (*declared_header, None) if declared_header is not None else None
    live: list[_Refresh] = [header_refresh] if header_refresh is not None else []
    inert: list[_Refresh] = []  # inside <noscript>: only without scripts
    # Each policy of the header (a comma separates policies, all enforced) as a meta's: read
    # from the page alone, a block page whose header forbade its inline forward read as
    # forwarding to the target (an adversarial review).
    header_policies = csp.split(",") if csp else []
    sandboxed = any(_sandboxed(policy) for policy in header_policies)
    page.scripts_run = not sandboxed
    page.frames_script = not sandboxed and _scripting_frames(root, url)
    meta_policies = _meta_policies(text, root)
    for meta in root.iter("meta"):
        name = (meta.get("property") or meta.get("name") or "").lower()
        # Compared as written, ASCII case aside: `"refresh "` is no refresh to Chromium (a
        # review: Python's strip() made it one, and a block page's forward was followed).
        equiv = ascii_lower(meta.get("http-equiv") or "")
        if name == "og:url" and not page.canonical and meta.get("content"):
            page.canonical = meta.get("content", "").strip()
        if equiv == "refresh" and meta.get("content") is not None:
            declared = declared_refresh(meta.get("content", ""))
            ancestors = {a.tag for a in meta.iterancestors("template", "noscript")}
            if declared is not None and "template" not in ancestors:  # a template is inert
                (inert if "noscript" in ancestors else live).append((*declared, meta))
    if sandboxed:
        # A document sandboxed without scripts refuses its meta refreshes (Chromium), not
        # the header's (a review: a block page under `sandbox` forwarded by its meta).
        live, inert = [header_refresh] if header_refresh is not None else [], []
    # The refresh a browser running scripts carries out (a URL of None reloads the page: no
    # forward), else the one without scripts.
    scheduled, in_noscript = _scheduled(live), False
    if scheduled is None:
        scheduled, in_noscript = _scheduled(inert), True
    if scheduled is not None and scheduled[1] is not None and scheduled[1].strip():
        page.meta_refresh = scheduled[1].strip(_ASCII_WHITESPACE)
        page.meta_refresh_delay = float(scheduled[0])
        page.meta_refresh_in_noscript = in_noscript
        page._refresh_element = scheduled[2]
    for link in root.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
            page.canonical = link.get("href", "").strip()
    bases = _BASES(root)
    # The first base a browser may take; one in foreign content is in doubt, and then the
    # page's relative forwards are not followed (forward_base), whichever base applies.
    taken = ((el, _html_base(el)) for el in (bases if isinstance(bases, list) else [])
             if isinstance(el, lxml.etree._Element))
    base, certain = next(((el, takes) for el, takes in taken if takes is not False),
                         (None, None))
    if base is not None:
        page._base_element = base
        page.base_href = base.get("href", "").strip(URL_SPACE) or None
        page._base_guarded = certain is None or _NAMES_BASE_URI.search(csp or "") is not None or (
            _NAMES_CSP.search(text) is not None and _NAMES_BASE_URI.search(text) is not None)

    inline = [s for s in root.iter("script") if s.text and not s.get("src")]
    page.scripts = [s.text for s in inline]
    if not sandboxed:
        dropped = _after_frameset(root)
        runnable = [s for s in _allowed(inline, header_policies, meta_policies)
                    if _runs(s) and s not in dropped]
        page.runnable_scripts = [s.text for s in runnable]
        page._runnable_elements = runnable
        (page.external_before, page.blocking_external,
         page.blocking_scripts) = _external_before(root, runnable, url)

    if undeclared and (not all(text.isascii() for text in page.scripts)
                       or not all(handler.isascii() for handler in page.handlers)):
        page.parse_issue = "encoding_unsure"

    body = root.find("body")
    top = body if body is not None else root
    marked = _tap_marked(root)
    # The tap state the walk starts in: that of the elements around its top (`<html
    # onclick>` runs for every tap in the body).
    tap = _NO_TAP_STATE
    for outer in reversed(list(top.iterancestors())):
        if outer in marked or _may_set_pointer_events(outer.get("style") or ""):
            tap = _tap_state(outer, tap)
    parts, loose, page.anchors, page._anchor_elements = _walk(top, tap_marked=marked, tap=tap,
                                                              read_taps=True)
    page.text = _squash("".join(parts))
    page.text_urls = find_text_urls("".join(loose))
    return page
