"""What a page's own style sheets take out of sight: the rules of its <style> elements that
hide an element (display:none, visibility:hidden or collapse, opacity:0) and those that could
show it again, as XPath for the page's tree (audit.web.page evaluates them).

Why: hulian reads a hop's page from its source, without a browser (a chain's hops are not
rendered). A block page could carry words the reader never sees, hidden by a class
(`.h{display:none}`): login or error words made it an `error`, out of the findings, and the
target's own text made it look like the target's page (adversarial reviews). What the sheets
hide is therefore left out of the page's *displayed* text (`Page.displayed`), which is what
the readings that could excuse a page use (a login wall, an error page, a security check, the
likeness to the target's page); the words that make a page an interception are still read in
all of its text, since a real interstitial's script may show what its sheet hides at first.

No cascade, and no doubt resolved towards hiding: an element counts as hidden only when a
hiding rule matches it and no rule (of any media, layer or specificity), nor its own `style`
attribute, sets the same property to something else; a `visibility:visible` on a descendant
keeps its ancestors shown. Reading too little as hidden is the old behaviour; reading too
much only makes a page less excusable. Bounded against hostile sheets: the first
SHEET_CHARS characters of the style elements, a rule's selectors in at most
SELECTOR_LIST_CHARS characters, each of at most COMBINATORS combinators, no `:has()` (XPath
over descendants of descendants), at most SELECTORS selectors in all; page.py evaluates them
on pages of at most SHEET_ELEMENTS elements. Not read: external style sheets (`<link
rel=stylesheet>`, `@import`), which are other fetches, and other ways of hiding (off-screen
positions, zero sizes, text the colour of its background).

Parsed by tinycss2 (CSS Syntax Level 3, WeasyPrint's parser); selectors turned into XPath by
cssselect. The only module that imports tinycss2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import tinycss2
import tinycss2.ast
from cssselect import HTMLTranslator, SelectorError, parse
from cssselect.parser import CombinedSelector
from cssselect.xpath import ExpressionError

# The properties whose values hide an element and what hides: display and opacity hide the
# element and everything in it whatever the descendants say; visibility can be undone by a
# descendant's `visibility: visible`.
HIDING: dict[str, frozenset[str]] = {
    "display": frozenset({"none"}),
    "visibility": frozenset({"hidden", "collapse"}),
    "opacity": frozenset({"0"}),
}
VISIBILITY = "visibility"

# Bounds on what a page can make hulian evaluate (see the module's docstring).
SHEET_CHARS = 128 * 1024
SELECTOR_LIST_CHARS = 2_000
COMBINATORS = 6
SELECTORS = 512

# Media a hiding rule applies to (a print sheet hides nothing on screen); a rule that shows
# is read whatever its media, as it might apply.
_SCREEN_MEDIA = frozenset({"", "all", "screen"})
_TRANSLATOR = HTMLTranslator()


@dataclass
class SheetRules:
    """XPath expressions, by property: of the rules that hide (`hide`) and of those that set
    the property to something else (`show`)."""

    hide: dict[str, list[str]] = field(default_factory=dict)
    show: dict[str, list[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.hide)


def hides(name: str, value: str) -> bool | None:
    """Whether a declaration `name: value` hides its element: True, False (it sets a
    property of HIDING to something that shows), None (no property of HIDING)."""
    hiding = HIDING.get(name)
    if hiding is None:
        return None
    value = value.strip().lower()
    if name == "opacity":
        return _zero(value)
    return value in hiding


def inline_declarations(style: str) -> list[tuple[str, bool]]:
    """An element's `style` attribute: each property of HIDING it sets, and whether its
    value hides."""
    found = []
    for item in tinycss2.parse_blocks_contents(style, skip_comments=True,
                                               skip_whitespace=True):
        if isinstance(item, tinycss2.ast.Declaration):
            hiding = hides(item.lower_name, tinycss2.serialize(item.value))
            if hiding is not None:
                found.append((item.lower_name, hiding))
    return found


def may_hide(css: str) -> bool:
    """A cheap test before any parse: could this CSS set a property of HIDING? (A backslash
    may spell one with escapes, `disp\\lay`.)"""
    lowered = css.lower()
    return any(name in lowered for name in HIDING) or "\\" in css


# What a declaration that hides must contain once its spaces are gone and it is lower case,
# unless escapes or a comment break it up: only a `style` attribute holding one of these is
# read further (most of a page's elements with a style do not hide; an opacity of 0.6 holds
# "opacity:0" but hides nothing).
_INLINE_HINT = re.compile(r"display:none|visibility:(?:hidden|collapse)"
                          r"|opacity:(?:[-+]|0*\.?0*(?![0-9.]))")


def inline_hides(style: str) -> bool:
    """An element's `style` attribute hides it (HIDING; the last declaration of a property
    wins, as in a browser)."""
    squeezed = "".join(style.split()).lower()
    broken_up = "\\" in squeezed or "/*" in squeezed
    if not broken_up and not _INLINE_HINT.search(squeezed):
        return False
    if broken_up or any(mark in squeezed for mark in _PAST_PLAIN):
        return any(dict(inline_declarations(style)).values())
    # Plain `name:value;…` (no escape, comment, string, function or block): read as it is
    # written, without a tokenizer (a sixth of a real page's parse went to tinycss2 here).
    # tests/test_stylesheet.py holds this reading to inline_declarations'.
    settings: dict[str, bool] = {}
    for declaration in squeezed.split(";"):
        name, colon, value = declaration.partition(":")
        hiding = hides(name, value.removesuffix("!important")) if colon else None
        if hiding is not None:
            settings[name] = hiding
    return any(settings.values())


# What takes a `style` attribute past the plain form inline_hides reads itself.
_PAST_PLAIN = ('"', "'", "(", ")", "{", "}")


def sheet_rules(sheets: list[tuple[str, bool]]) -> SheetRules:
    """The rules of a page's style elements, in document order: each its text and whether it
    applies on screen (its `media`). Only the properties some rule hides are kept, with every
    rule that sets them otherwise."""
    found: list[tuple[str, dict[str, bool], bool]] = []
    left = SHEET_CHARS
    for css, screen in sheets:
        if left <= 0:
            break
        css = css[:left]
        left -= len(css)
        _read(tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True),
              screen, found)
    hidden = {name for _, settings, screen in found for name, hiding in settings.items()
              if hiding and screen}
    rules = SheetRules()
    budget = [SELECTORS]
    for prelude, settings, screen in found:
        wanted = {name: hiding for name, hiding in settings.items() if name in hidden
                  and (screen or not hiding)}
        if not wanted:
            continue
        xpaths = _xpaths(prelude, budget)
        for name, hiding in wanted.items():
            (rules.hide if hiding else rules.show).setdefault(name, []).extend(xpaths)
    return rules


# The rules read: a rule's selectors, what it sets (property: hides), whether it applies on
# screen.
_Found = list[tuple[str, dict[str, bool], bool]]


def _read(nodes: list[tinycss2.ast.Node], screen: bool, found: _Found) -> None:
    for node in nodes:
        if isinstance(node, tinycss2.ast.AtRule) and node.content is not None:
            keyword = node.lower_at_keyword
            if keyword in ("media", "layer", "supports", "container", "scope", "document",
                           "-moz-document"):
                media = tinycss2.serialize(node.prelude).strip().lower()
                applies = screen and (keyword == "layer" or (keyword == "media"
                                                            and media in _SCREEN_MEDIA))
                _read(tinycss2.parse_rule_list(node.content, skip_comments=True,
                                               skip_whitespace=True), applies, found)
        elif isinstance(node, tinycss2.ast.QualifiedRule):
            settings: dict[str, bool] = {}
            for item in tinycss2.parse_blocks_contents(node.content, skip_comments=True,
                                                       skip_whitespace=True):
                if isinstance(item, tinycss2.ast.Declaration):
                    hiding = hides(item.lower_name, tinycss2.serialize(item.value))
                    if hiding is not None:
                        # Within one rule the last declaration of a property wins; across
                        # rules nothing is decided (see the module's docstring).
                        settings[item.lower_name] = hiding
            if settings:
                found.append((tinycss2.serialize(node.prelude), settings, screen))


def _xpaths(selectors: str, budget: list[int]) -> list[str]:
    """Each selector of a rule's list as XPath; none where the list is past the bounds or
    uses `:has()`, and not those cssselect cannot express for an element at rest
    (pseudo-elements, namespaces)."""
    if len(selectors) > SELECTOR_LIST_CHARS or ":has(" in selectors.lower() or budget[0] <= 0:
        return []
    try:
        parsed = parse(selectors)
    except (SelectorError, TypeError, ValueError):
        return []
    found = []
    for selector in parsed[:budget[0]]:
        budget[0] -= 1
        if selector.pseudo_element or _combinators(selector.parsed_tree) > COMBINATORS:
            continue
        try:
            found.append(_TRANSLATOR.selector_to_xpath(selector))
        except (SelectorError, ExpressionError, TypeError, ValueError):
            continue
    return found


def _combinators(tree: object) -> int:
    count = 0
    while isinstance(tree, CombinedSelector):
        count += 1
        tree = tree.selector
    return count


def _zero(value: str) -> bool:
    """An opacity of 0 or less (a browser clamps a negative one to 0)."""
    number = value[:-1] if value.endswith("%") else value
    try:
        return float(number) <= 0
    except ValueError:
        return False
