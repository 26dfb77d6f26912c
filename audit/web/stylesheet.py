"""What a page's own style sheets take out of sight: the rules of its <style> elements that
hide an element (display:none, visibility:hidden or collapse, opacity:0) and those that could
show it again, as XPath for the page's tree (audit.web.page evaluates them); and what an
element's own `style` attribute says of the same properties. The same rules read
`pointer-events` (POINTER_EVENTS), whose `none` takes a link from a tap (audit.web.page
`Page.tapped_anchors`).

Why: hulian reads a hop's page from its source, without a browser (a chain's hops are not
rendered). A block page could carry words the reader never sees, hidden by a class
(`.h{display:none}`): login or error words made it an `error`, out of the findings, and the
target's own text made it look like the target's page (adversarial reviews). What the sheets
hide is therefore left out of the page's *displayed* text (`Page.displayed`). Words that would
excuse a page count only where shown for certain, and words in the text that the sheets hide,
or may hide, send it to review (audit.judge.classify); the control comparison needs the whole
and the displayed texts to agree (audit.judge.compare). The words that make a page an
interception are read in all of its text.

Read as a browser reads CSS where it decides: the cascade (!important, specificity, order;
an element's own `style` above any selector); a declaration a browser rejects (a value not
valid for the property, `opacity:-inf`, `display:no ne`) counts for nothing; a selector list
with one selector a browser rejects is dropped whole; whitespace is CSS's (not Unicode's);
rules nest (`body{ .h{display:none} }`); @media queries are evaluated on a phone's screen
(VIEWPORT). In doubt, hidden: what hulian cannot evaluate (other media features, @supports,
@container, @scope, @starting-style) applies where it hides and not where it shows, and what
is inside a hidden element is hidden (a `visibility:visible` in it too). Where a hiding rule
could not be read (a bound, a selector cssselect cannot read), the reading is not complete
(`SheetRules.complete`), and words read as shown may be hidden: for review too.

Bounded against hostile sheets (their cost grows with the page's elements, siblings and
depth): the first SHEET_CHARS characters of the style elements, rules nested NESTING deep,
a rule's selectors in at most SELECTOR_LIST_CHARS characters, each of at most COMBINATORS
combinators and none of the selectors XPath answers by counting siblings (`~`, `:nth-…`,
`…-of-type`, `:first-child`, `:last-child`, `:only-child`) or descendants (`:has()`), at most
SELECTORS selectors in all; page.py evaluates them on pages of at most SHEET_ELEMENTS
elements and SHEET_DEPTH levels. Not read: external style sheets (`<link rel=stylesheet>`,
`@import`), which are other fetches; custom properties (`display:var(--d)`) and `calc()`;
and other ways of hiding (off-screen positions, zero sizes, text the colour of its
background).

Parsed by tinycss2 (CSS Syntax Level 3, WeasyPrint's parser); selectors turned into XPath by
cssselect. The only module that imports tinycss2.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import tinycss2
import tinycss2.ast
from cssselect import HTMLTranslator, SelectorError, parse
from cssselect import parser as selectors
from cssselect.xpath import ExpressionError

# The properties whose values hide an element and everything in it (a descendant's
# `visibility: visible` is read as hidden with it: in doubt, hidden).
HIDING = ("display", "visibility", "opacity")
# The property whose `none` lets a tap go through an element and what is inside it (a link
# greyed out by a class: audit.web.page reads it for the links a tap meets). Read from the
# sheets with the rules' own machinery, its `none` in the place of a hiding value.
POINTER_EVENTS = "pointer-events"

# Bounds on what a page can make hulian evaluate (see the module's docstring).
SHEET_CHARS = 128 * 1024
NESTING = 8
SELECTOR_LIST_CHARS = 2_000
COMBINATORS = 3
SELECTORS = 512

# CSS's whitespace (Python's str.split and strip also take NBSP, U+3000, ...: a declaration
# a browser rejects, `display:&nbsp;none`, read as hiding).
_SPACE = " \t\n\r\f"
_SPACES = re.compile(r"[ \t\n\r\f]+")
# A CSS <number> or <percentage> (`0.`, `-inf`, `1_0` are not; Python's float takes them).
_NUMBER = re.compile(r"[+-]?(?:[0-9]+|[0-9]*\.[0-9]+)(?:[eE][+-]?[0-9]+)?%?\Z")
_WIDE = frozenset({"inherit", "initial", "unset", "revert", "revert-layer"})
# `display`'s keywords (CSS Display 3, and the legacy and prefixed ones browsers take).
_DISPLAY = frozenset({
    "block", "inline", "run-in", "flow", "flow-root", "table", "flex", "grid", "ruby",
    "list-item", "contents", "inline-block", "inline-table", "inline-flex", "inline-grid",
    "table-row-group", "table-header-group", "table-footer-group", "table-row", "table-cell",
    "table-column-group", "table-column", "table-caption", "ruby-base", "ruby-text",
    "ruby-base-container", "ruby-text-container", "math", "-webkit-box", "-webkit-inline-box",
    "-webkit-flex", "-webkit-inline-flex", "-moz-box", "-moz-inline-box", "-ms-flexbox",
    "-ms-inline-flexbox", "-ms-grid", "-ms-inline-grid"})
# Media types a hiding rule applies to (hulian reads pages as a screen shows them).
_SCREEN = frozenset({"all", "screen"})
_TRANSLATOR = HTMLTranslator()

# A property's effect in one declaration block: whether it hides, and whether !important.
Setting = tuple[bool, bool]
# Which of two declarations of a property an element takes (the higher): !important, then
# specificity (an element's own `style` above any selector: its first number), then the
# later in the document.
Precedence = tuple[bool, tuple[int, int, int, int], int]
# A selector's XPath, whether it has a descendant combinator (what it costs to evaluate:
# audit.web.page), and its place in the cascade.
Rule = tuple[str, bool, Precedence]


@dataclass
class SheetRules:
    """The selectors (Rule) by property: of the rules that hide (`hide`) and of those that
    set the property to something that shows (`show`)."""

    hide: dict[str, list[Rule]] = field(default_factory=dict)
    show: dict[str, list[Rule]] = field(default_factory=dict)
    # Every rule that could hide was read: none past a bound, none whose selector is left
    # out (its cost, or one cssselect cannot read). Where not, text read as shown may be
    # hidden, and a person must say (audit.judge.classify).
    complete: bool = True

    def __bool__(self) -> bool:
        return bool(self.hide)


def hides(name: str, value: str) -> bool | None:
    """Whether a declaration `name: value` hides its element: True; False (a valid value
    that shows); None (not a property of HIDING, or a value a browser rejects, which counts
    for nothing)."""
    if name not in HIDING:
        return None
    return _setting(name, value)


def _setting(name: str, value: str) -> bool | None:
    """What a declaration of HIDING or POINTER_EVENTS sets: True for its hiding value (or
    `pointer-events: none`), False for a valid value that shows (or lets a tap in), None
    for a value a browser rejects, or one that takes the parent's (no setting of its own)."""
    if name == POINTER_EVENTS:
        return pointer_events_none(value)
    value = _SPACES.sub(" ", value.strip(_SPACE).lower())
    if name == "opacity":
        if value in _WIDE:
            return False
        if not _NUMBER.match(value):
            return None
        return float(value.rstrip("%")) <= 0
    if name == "display":
        if value == "none":
            return True
        return False if value in _WIDE or all(w in _DISPLAY for w in value.split(" ")) else None
    if value in ("hidden", "collapse"):
        return True
    # `visible` and `initial` show; inherit, unset and revert take the parent's (no showing
    # of their own).
    return False if value in ("visible", "initial") else None


def may_hide(css: str) -> bool:
    """A cheap test before any parse: could this CSS set a property of HIDING? (A backslash
    may spell one with escapes, `disp\\lay`.)"""
    lowered = css.lower()
    return any(name in lowered for name in HIDING) or "\\" in css


def may_set_pointer_events(css: str) -> bool:
    """The same test for POINTER_EVENTS."""
    return POINTER_EVENTS in css.lower() or "\\" in css


# Properties that write text of their own into the page (`content: "…"`, a list marker of a
# string, quotes) and functions that draw a picture.
_WRITING = frozenset({"content", "quotes", "list-style", "list-style-type"})
_DRAWING = frozenset({"url", "image", "image-set", "-webkit-image-set", "cross-fade", "element",
                      "paint", "src"})


def shows_content(css: str, *, inline: bool = False) -> bool:
    """Whether CSS (a sheet, or with `inline` a `style` attribute) writes text or draws a
    picture into the page: a property of _WRITING with a string, a picture (`url(…)` and
    kin), or a sheet it loads (`@import`). Read by tinycss2 as a browser reads it (case,
    escapes and comments: `CONTENT:`, `c\\ontent:`, `content/**/:`, `u\\rl(`), where a pattern
    over the raw text missed each, and a countdown whose words were drawn so read as blank (a
    review). Bounded as sheets are (SHEET_CHARS)."""
    css = css[:SHEET_CHARS]
    if inline:
        return _shows(tinycss2.parse_blocks_contents(css, skip_comments=True,
                                                    skip_whitespace=True), 0)
    return _shows(tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True), 0)


def _shows(nodes: list[tinycss2.ast.Node], depth: int) -> bool:
    if depth > NESTING:
        return True  # past what is read: it may
    for node in nodes:
        if isinstance(node, tinycss2.ast.AtRule):
            if node.lower_at_keyword in ("import", "counter-style"):
                return True  # a sheet it loads; list markers of its own symbols
            if node.content is not None and _shows(tinycss2.parse_blocks_contents(
                    node.content, skip_comments=True, skip_whitespace=True), depth + 1):
                return True
        elif isinstance(node, tinycss2.ast.QualifiedRule):
            if _shows(tinycss2.parse_blocks_contents(node.content, skip_comments=True,
                                                     skip_whitespace=True), depth + 1):
                return True
        elif isinstance(node, tinycss2.ast.Declaration):
            if node.lower_name in _WRITING and any(
                    isinstance(token, tinycss2.ast.StringToken | tinycss2.ast.FunctionBlock)
                    for token in node.value):  # a string, or attr() and counter() text
                return True
            if _draws(node.value, depth):
                return True
    return False


def _draws(tokens: list[tinycss2.ast.Node], depth: int) -> bool:
    for token in tokens:
        if isinstance(token, tinycss2.ast.URLToken):
            return True
        if isinstance(token, tinycss2.ast.FunctionBlock) and (
                token.lower_name in _DRAWING or depth > NESTING
                or _draws(token.arguments, depth + 1)):
            return True
    return False


# What takes a `style` attribute past the plain `name: value; …` form inline_settings reads
# itself: escapes, comments, strings, functions, blocks (a `[` opens one that takes in the
# declarations after it: a review).
_PAST_PLAIN = ("\\", "/*", '"', "'", "(", ")", "{", "}", "[", "]")
_IMPORTANT = re.compile(r"![ \t\n\r\f]*important[ \t\n\r\f]*\Z", re.IGNORECASE)
_IDENT = re.compile(r"-?[a-z][a-z0-9-]*\Z")


def inline_settings(style: str) -> dict[str, Setting]:
    """What an element's `style` attribute sets of HIDING: each property's effect (the last
    declaration wins, an !important one over any other)."""
    if not may_hide(style):
        return {}
    if any(mark in style for mark in _PAST_PLAIN):
        return parsed_inline_settings(style)
    # Plain `name:value;…`: read as written, without a tokenizer (a sixth of a real page's
    # parse went to tinycss2); tests/test_stylesheet.py holds it to tinycss2's reading.
    found: list[tuple[str, bool, bool]] = []
    for declaration in style.split(";"):
        name, colon, value = declaration.partition(":")
        name = name.strip(_SPACE).lower()
        if not colon or not _IDENT.match(name):
            continue
        important = _IMPORTANT.search(value)
        if important is not None:
            value = value[:important.start()]
        hiding = hides(name, value)
        if hiding is not None:
            found.append((name, hiding, important is not None))
    return _effective(found)


def parsed_inline_settings(style: str) -> dict[str, Setting]:
    """inline_settings by tinycss2's reading of the attribute, whatever its form."""
    # Pages repeat their style attributes (an editor's 300 spans, a platform's every page):
    # each distinct short one is tokenized once.
    if len(style) <= _CACHED_STYLE_CHARS:
        return dict(_cached_parse(style))  # a copy: the cached one is every caller's
    return _parse_inline(style)


_CACHED_STYLE_CHARS = 1_024


@functools.lru_cache(maxsize=4_096)
def _cached_parse(style: str) -> dict[str, Setting]:
    return _parse_inline(style)


def _parse_inline(style: str) -> dict[str, Setting]:
    try:
        return _effective(_declarations(tinycss2.parse_blocks_contents(
            style, skip_comments=True, skip_whitespace=True)))
    except RecursionError:  # nested thousands deep: read as nothing
        return {}


# `pointer-events`' keywords (CSS UI 4 and SVG's, which an HTML element reads as `auto`).
_POINTER_EVENTS = frozenset({"auto", "none", "visiblepainted", "visiblefill", "visiblestroke",
                             "visible", "painted", "fill", "stroke", "all", "bounding-box"})


def pointer_events_none(value: str) -> bool | None:
    """What a `pointer-events` value says: True for `none` (a tap goes through the element:
    a link under it cannot be tapped), False for another valid value (`initial` is `auto`),
    None for `inherit`/`unset`/`revert` (the parent's holds) or a value a browser rejects."""
    value = _SPACES.sub(" ", value.strip(_SPACE).lower())
    if value == "initial":
        return False
    if "var(" in value:
        # a custom property's value is not read: it may be `none` (in doubt, for review: a
        # `pointer-events: var(--pe)` greying links out read open, review 131)
        return True
    return value == "none" if value in _POINTER_EVENTS else None


def inline_pointer_events_none(style: str) -> bool | None:
    """Whether an element's `style` attribute sets `pointer-events` to `none`
    (pointer_events_none): True; False for another value; None where it sets nothing, or
    `inherit`/`unset`/`revert` (the parent's holds). The last declaration wins, an
    !important one over any other; a value a browser rejects counts for nothing."""
    try:
        items = tinycss2.parse_blocks_contents(style, skip_comments=True, skip_whitespace=True)
    except RecursionError:
        return None
    setting: bool | None = None
    important = False
    for item in items:
        if not (isinstance(item, tinycss2.ast.Declaration)
                and item.lower_name == POINTER_EVENTS):
            continue
        value = _SPACES.sub(" ", tinycss2.serialize(item.value).strip(_SPACE).lower())
        if not (value in _WIDE or value in _POINTER_EVENTS):
            continue  # rejected: counts for nothing
        if item.important or not important:
            setting, important = pointer_events_none(value), bool(item.important)
    return setting


def inline_pointer_events(style: str) -> Setting | None:
    """An element's `style` attribute's `pointer-events` as a sheet's rule reads it (its
    `none`, and whether !important), for the cascade against the sheets' rules; None where
    it sets nothing of its own. Each distinct short attribute is tokenized once, as
    parsed_inline_settings does."""
    if len(style) <= _CACHED_STYLE_CHARS:
        return _cached_pointer_events(style)
    return _pointer_events_setting(style)


@functools.lru_cache(maxsize=4_096)
def _cached_pointer_events(style: str) -> Setting | None:
    return _pointer_events_setting(style)


def _pointer_events_setting(style: str) -> Setting | None:
    try:
        items = tinycss2.parse_blocks_contents(style, skip_comments=True, skip_whitespace=True)
    except RecursionError:
        return None
    return _effective(_declarations(items, (POINTER_EVENTS,))).get(POINTER_EVENTS)


# A hiding value holds one of these, unless escapes or a comment break it up: an attribute
# with none of them is not read further (most of a page's elements with a style do not hide,
# and the walk of every page asks of each).
_HIDING_WORDS = ("none", "hidden", "collapse", "opacity", "\\", "/*")


def inline_hides(style: str) -> bool:
    """An element's `style` attribute hides it."""
    lowered = style.lower()
    if not any(word in lowered for word in _HIDING_WORDS):
        return False
    return any(hiding for hiding, _ in inline_settings(style).values())


def _declarations(items: list[tinycss2.ast.Node], names: tuple[str, ...] = HIDING
                  ) -> list[tuple[str, bool, bool]]:
    found = []
    for item in items:
        if isinstance(item, tinycss2.ast.Declaration) and item.lower_name in names:
            hiding = _setting(item.lower_name, tinycss2.serialize(item.value))
            if hiding is not None:
                found.append((item.lower_name, hiding, bool(item.important)))
    return found


def _effective(found: list[tuple[str, bool, bool]]) -> dict[str, Setting]:
    """A block's declarations in order: what each property ends as."""
    settings: dict[str, Setting] = {}
    for name, hiding, important in found:
        if important or not settings.get(name, (False, False))[1]:
            settings[name] = (hiding, important)
    return settings


# The screen hulian reads pages on: a phone's, in CSS pixels. The platforms' links are
# opened in their apps' browsers on phones, and a responsive page's hiding rules for wide
# screens (`@media (min-width:769px){.mobile{display:none}}`) must not hide what a phone
# shows: read as holding, they hid both halves of a page's text.
VIEWPORT = (390, 844)
_FEATURE = re.compile(r"\(\s*(min-|max-)?(width|height|device-width|device-height)\s*:\s*"
                      r"([0-9]*\.?[0-9]+)(px|em|rem)?\s*\)\Z")
_ORIENTATION = re.compile(r"\(\s*orientation\s*:\s*(portrait|landscape)\s*\)\Z")


def media_holds(media: str) -> bool | None:
    """Whether a media query list (`@media`'s, a <style>'s `media`) holds on hulian's screen
    (VIEWPORT): True, False, or None where it depends on what hulian does not evaluate (a
    feature other than widths, heights and orientation, a range written `width <= 600px`).
    An empty list holds; a query holds when its media type is all or screen and its
    features hold; `not` turns a query's answer; a list holds when one of its queries does."""
    if not media.strip(_SPACE):
        return True
    answers = [_query_holds(query) for query in media.lower().split(",")]
    if True in answers:
        return True
    return None if None in answers else False


def _query_holds(query: str) -> bool | None:
    words = re.findall(r"\([^()]*\)|[^\s()]+", query)
    if words and words[0] == "only":
        words = words[1:]
    negated = bool(words) and words[0] == "not"
    if negated:
        words = words[1:]
    if not words:
        return None
    answer: bool | None = True
    if not words[0].startswith("("):
        answer = words[0] in _SCREEN
        words = words[1:]
        if words and words[0] == "and":
            words = words[1:]
            if not words:  # `screen and`: a query browsers reject
                return None
    for position, word in enumerate(words):
        if position % 2:
            if word != "and":  # `or`, a stray word: not a query hulian reads
                return None
            continue
        holds = _feature_holds(word)
        if holds is False:
            answer = False
        elif holds is None and answer is True:
            answer = None
    if answer is None:
        return None
    return answer is not negated


def _feature_holds(feature: str) -> bool | None:
    width, height = VIEWPORT
    orientation = _ORIENTATION.match(feature)
    if orientation is not None:
        return (orientation.group(1) == "portrait") is (height >= width)
    found = _FEATURE.match(feature)
    if found is None:
        return None
    bound, axis, number, unit = found.groups()
    pixels = float(number) * (16 if unit in ("em", "rem") else 1)
    size = width if axis.endswith("width") else height
    if bound == "min-":
        return size >= pixels
    if bound == "max-":
        return size <= pixels
    return size == pixels


# The rules read: a rule's selectors, what it sets, whether it applies on screen, and whether
# for certain (not under a condition hulian cannot evaluate: @supports, @container ...).
_Found = list[tuple[list[str], dict[str, Setting], bool, bool]]


# The states a tap itself puts a link and its ancestors in (hovered, pressed, focused): a
# rule that greys out under one holds as the tap lands (`.ext:active{pointer-events:none}`
# keeps the tap from the link, read open by a reading that never matches them: review 131).
# Each is read as holding, by a condition of the same specificity that always holds; only in
# a rule that gives `none` (a rule that gives a tap back on `:hover` never does: the element
# never gets the state, review 132), and only at the selector's top level (not inside
# `:not(…)`, an attribute's value or an escape).
_TAP_STATES = re.compile(r":(?:hover|active|focus-within|focus-visible|focus)(?![\w-])",
                         re.IGNORECASE)
_IN_STATE = ":not(.hulian-no-such-class)"


def _in_tap_state(selector: str) -> str:
    """The selector with the tap's states read as holding where they stand at its top level."""
    if ":" not in selector:
        return selector
    out: list[str] = []
    depth, quote, index = 0, "", 0
    while index < len(selector):
        char = selector[index]
        if quote:
            if char == "\\":
                out.append(selector[index:index + 2])
                index += 2
                continue
            quote = "" if char == quote else quote
        elif char == "\\":
            out.append(selector[index:index + 2])
            index += 2
            continue
        elif char in "'\"":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == ":" and depth == 0:
            state = _TAP_STATES.match(selector, index)
            if state is not None:
                out.append(_IN_STATE)
                index = state.end()
                continue
        out.append(char)
        index += 1
    return "".join(out)


def sheet_rules(sheets: list[tuple[str, bool, bool]], names: tuple[str, ...] = HIDING
                ) -> SheetRules:
    """The rules of a page's style elements, in document order: each its text, whether it
    applies on hulian's screen and whether for certain (its `media`: media_holds), for the
    properties `names` (HIDING, or POINTER_EVENTS, whose `none` is read as a hiding value).
    Only the properties some rule hides are kept, with every rule that sets them otherwise.
    A rule
    under a condition hulian cannot evaluate (a media feature other than sizes, @supports,
    @container, @scope, @starting-style) is read where it hides and not where it shows: in
    doubt an element is hidden, which only makes a page less excusable (the readings that
    use the displayed text, and the control comparison, which also needs the whole text to
    agree: audit.judge.compare)."""
    found: _Found = []
    rules = SheetRules()
    left = SHEET_CHARS
    read: list[tuple[str, bool, bool]] = []
    for css, screen, certain in sheets:
        if len(css) > left:
            rules.complete = False
        css = css[:left]
        left -= len(css)
        if not css:
            break
        read.append((css, screen, certain))
    for nodes, (_, screen, certain) in zip(_parsed(tuple(css for css, _, _ in read)), read,
                                           strict=True):
        try:
            _read(nodes, [], (screen, certain), found, 0, rules, names)
        except RecursionError:  # nested thousands deep: what was read so far stands
            rules.complete = False
    hidden = {name for _, settings, screen, _ in found
              for name, (hiding, _) in settings.items() if hiding and screen}
    budget = [SELECTORS]
    for order, (group, settings, screen, certain) in enumerate(found):
        wanted = {name: setting for name, setting in settings.items() if name in hidden
                  and screen and (certain or setting[0])}
        if not wanted:
            continue
        greys = wanted.get(POINTER_EVENTS, (False, False))[0]
        xpaths, whole = _xpaths([_in_tap_state(text) for text in group] if greys else group,
                                budget)
        if not whole and any(hiding for hiding, _ in wanted.values()):
            rules.complete = False
        for name, (hiding, important) in wanted.items():
            (rules.hide if hiding else rules.show).setdefault(name, []).extend(
                (xpath, deep, (important, (0, *specificity), order))
                for xpath, deep, specificity in xpaths)
    return rules


@functools.lru_cache(maxsize=1)
def _parsed(sheets: tuple[str, ...]) -> tuple[list[tinycss2.ast.Node], ...]:
    """A page's sheets' rules as tinycss2 reads them, kept for the same page's next reading
    (one page's: a cache of many sheets' trees made every later garbage collection dearer):
    its links' taps (POINTER_EVENTS) and what it hides (HIDING) read the same sheets, and
    tokenizing them was two thirds of a seed page's plan (the fortieth session). Not
    changed by _read."""
    return tuple(tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
                 for css in sheets)


# At-rules whose rules apply as their own: @media by its media (media_holds), @layer
# always, the others under conditions hulian does not evaluate (see sheet_rules).
_GROUPING = frozenset({"media", "layer", "supports", "container", "scope", "document",
                       "-moz-document", "starting-style"})


def _read(nodes: list[tinycss2.ast.Node], parents: list[str], applies: tuple[bool, bool],
          found: _Found, depth: int, rules: SheetRules, names: tuple[str, ...]) -> None:
    """Rules and declarations of a rule list or block; `parents`: the selectors of the rule
    they are nested in (none at the top); `applies`: on screen, and for certain. What is past
    the bounds is not read, and `rules` is not complete."""
    if depth > NESTING:
        rules.complete = False
        return
    declarations = _effective(_declarations(nodes, names)) if parents else {}
    if declarations:
        found.append((parents, declarations, *applies))
    for node in nodes:
        if isinstance(node, tinycss2.ast.AtRule) and node.content is not None \
                and node.lower_at_keyword in _GROUPING:
            keyword = node.lower_at_keyword
            holds = (media_holds(tinycss2.serialize(node.prelude)) if keyword == "media"
                     else True if keyword == "layer" else None)
            screen = applies[0] and holds is not False
            certain = applies[1] and holds is True
            content = (tinycss2.parse_blocks_contents(node.content, skip_comments=True,
                                                      skip_whitespace=True) if parents
                       else tinycss2.parse_rule_list(node.content, skip_comments=True,
                                                     skip_whitespace=True))
            _read(content, parents, (screen, certain), found, depth + 1, rules, names)
        elif isinstance(node, tinycss2.ast.QualifiedRule):
            own = _selector_list(node.prelude)
            if parents and (len(parents) * len(own) > SELECTORS or sum(
                    len(p) for p in parents) * len(own) > SELECTOR_LIST_CHARS):
                rules.complete = False  # nested lists multiply: 20 selectors on 6 levels
                continue                # ran out of memory
            group = own if not parents else [
                mine.replace("&", parent) if "&" in mine else f"{parent} {mine}"
                for parent in parents for mine in own]
            _read(tinycss2.parse_blocks_contents(node.content, skip_comments=True,
                                                 skip_whitespace=True),
                  group, applies, found, depth + 1, rules, names)


def _selector_list(prelude: list[tinycss2.ast.Node]) -> list[str]:
    """A rule's selectors, split at its top-level commas (not those in `:is(a, b)`)."""
    parts: list[list[tinycss2.ast.Node]] = [[]]
    for token in prelude:
        if isinstance(token, tinycss2.ast.LiteralToken) and token.value == ",":
            parts.append([])
        else:
            parts[-1].append(token)
    return [tinycss2.serialize(part).strip(_SPACE) for part in parts]


def _xpaths(group: list[str], budget: list[int]
            ) -> tuple[list[tuple[str, bool, tuple[int, int, int]]], bool]:
    """Each selector of a rule's list as XPath (_right_to_left), with whether it has a
    descendant combinator and its specificity; and whether the whole list was read. None
    where the list is past the bounds, or where one of its selectors is one a browser
    rejects (which drops the whole rule) or cssselect cannot read (which hulian cannot tell
    apart: `:foo`, `:focus-visible`); a pseudo-element's selector (which styles no element)
    and one past the cost bounds are left out alone."""
    if sum(len(s) for s in group) > SELECTOR_LIST_CHARS or budget[0] <= 0:
        return [], False
    found: list[tuple[str, bool, tuple[int, int, int]]] = []
    whole = True
    for text in group:
        lowered = text.lower()
        if ":contains(" in lowered or "|" in text.replace("|=", ""):  # not CSS / namespaces
            return [], False
        try:
            parsed = parse(text)
        except (SelectorError, TypeError, ValueError, RecursionError):
            return [], False
        if any(isinstance(node, selectors.Hash) and node.id[:1].isdigit()
               for selector in parsed for node, _ in _nodes(selector.parsed_tree)):
            return [], False  # `#1x` is no id selector in CSS (cssselect takes it)
        for selector in parsed:
            try:
                translated = _right_to_left(selector.parsed_tree)
            except RecursionError:  # `:is(` nested hundreds deep: cssselect recurses
                return [], False
            except (SelectorError, ExpressionError, TypeError, ValueError):
                if selector.pseudo_element is None:
                    return [], False
                continue
            if selector.pseudo_element is not None:
                continue
            if translated is None or budget[0] <= 0:
                whole = False
                continue
            budget[0] -= 1
            found.append((*translated, selector.specificity()))
    return found, whole


# A combinator's step from an element to the one the selector's part to its left must
# match: its parent, or (the one descendant combinator allowed) any of its ancestors.
_STEPS = {">": "parent::", " ": "ancestor::"}


def _right_to_left(tree: selectors.Tree) -> tuple[str, bool] | None:
    """A selector as XPath that tests each element the way a browser does, from its
    rightmost part leftwards (`descendant-or-self::p[...][parent::div[...]]`), with whether
    it has a descendant combinator; None for one past the cost bounds. cssselect's own
    XPath walks the other way (`div/descendant::p`): libxml2 merges the node sets of every
    step, and `* * * .h` over 20 chains of 250 nested elements took 2 s (a review). This
    way an element costs one test per part, and its ancestors for the one descendant
    combinator allowed."""
    if _costly(tree):
        return None
    parts: list[tuple[str | None, selectors.Tree]] = []
    while isinstance(tree, selectors.CombinedSelector):
        parts.append((tree.combinator, tree.subselector))
        tree = tree.selector
    parts.append((None, tree))
    descendant = sum(1 for combinator, _ in parts if combinator == " ")
    if descendant > 1:
        return None
    parts.reverse()  # leftmost first; each part's combinator joins it to the one before
    test = ""
    for position, (combinator, compound) in enumerate(parts):
        expression = _TRANSLATOR.xpath(compound)
        if expression.path:  # a combinator cssselect kept inside a part: not read
            return None
        own = expression.element + (f"[{expression.condition}]" if expression.condition
                                    else "")
        test = own if position == 0 else f"{own}[{_STEPS[combinator or ' ']}{test}]"
    return "descendant-or-self::" + test, descendant > 0


# Pseudo-classes whose XPath walks an element's siblings, ancestors or contents (libxml2
# walks the whole axis for each element tested: `:not(p + p)` over 19,000 siblings 343
# times a parse, a review), and `:scope` (cssselect's reading of it is not a browser's).
_WALKING = frozenset({"first-child", "last-child", "only-child", "first-of-type",
                      "last-of-type", "only-of-type", "empty", "scope"})
_WALKING_FUNCTIONS = ("nth-", "lang")


def _costly(tree: object) -> bool:
    """A selector past the cost bounds: more than COMBINATORS combinators, a sibling
    combinator, a combinator inside :not(), :is() or :where(), a pseudo-class of _WALKING,
    or :has()."""
    combinators = 0
    for node, nested in _nodes(tree):
        if isinstance(node, selectors.CombinedSelector):
            combinators += 1
            if node.combinator in ("~", "+") or nested:
                return True
        if ((isinstance(node, selectors.Function)
             and node.name.lower().startswith(_WALKING_FUNCTIONS))
                or (isinstance(node, selectors.Pseudo) and node.ident.lower() in _WALKING)
                or isinstance(node, selectors.Relation)):
            return True
    return combinators > COMBINATORS


def _nodes(tree: object) -> Iterator[tuple[object, bool]]:
    """Every node of a parsed selector, with whether it is inside :is(), :not() ..."""
    stack: list[tuple[object, bool]] = [(tree, False)]
    while stack:
        node, nested = stack.pop()
        yield node, nested
        child = getattr(node, "selector", None)
        if child is not None and not isinstance(child, str):
            stack.append((child, nested))
        inner = getattr(node, "subselector", None)
        if inner is not None and not isinstance(inner, str):
            # A combined selector's right part is its own; a negation's argument is nested.
            stack.append((inner, nested or isinstance(node, selectors.Negation)))
        stack.extend((item, True) for item in getattr(node, "selector_list", None) or ())


# -- what a `style` may keep out of sight by layout ------------------------------------------

# A style that names none of these keeps nothing out of sight by layout (most of a page's
# styles: sizes, colours, margins alone never do here).
_LAYOUT_WORDS = re.compile(
    r"content-visibility|transform|scale|rotate|matrix|clip|overflow|position|inset"
    r"|font|margin", re.IGNORECASE)
# Lengths in pixels on hulian's screen (a 390 x 844 phone's, the root font 16 px): what is
# relative to something else (`%`, `calc()`) is not known.
_UNITS = {"": 1.0, "px": 1.0, "em": 16.0, "rem": 16.0, "pt": 4 / 3, "pc": 16.0, "in": 96.0,
          "cm": 96 / 2.54, "mm": 96 / 25.4, "q": 96 / 101.6, "vw": 3.9, "vh": 8.44,
          "vmin": 3.9, "vmax": 8.44, "svw": 3.9, "svh": 8.44, "dvw": 3.9, "dvh": 8.44}
_LENGTH = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)([a-z]*)", re.IGNORECASE)
_ZERO_SCALE = re.compile(r"\bscale(?:x|y|z|3d)?\(\s*[^)]*?(?<![\d.eE])[+-]?0*\.?0+(?:[eE][+-]?\d+)?"
                         r"(?![\d.eE])",
                         re.IGNORECASE)
_EDGE_ON = re.compile(r"\brotate[xy]\(\s*[+-]?(?:90|270)deg\s*\)", re.IGNORECASE)
_MATRIX = re.compile(r"\bmatrix\(\s*([^)]*)\)", re.IGNORECASE)


def _pixels(value: str) -> float | None:
    """A single length in pixels, or None (several values, a percentage, `calc()`, a value
    longer than any length is written: review 148, 40 KB of digits took 33 s)."""
    if len(value) > _LONGEST_LENGTH:
        return None
    match = _LENGTH.fullmatch(value.strip().lower())
    if match is None or match.group(2) not in _UNITS:
        return None
    number = float(match.group(1))
    if match.group(2) == "" and number != 0:
        return None  # a bare number is no length (but 0)
    return number * _UNITS[match.group(2)]


_LONGEST_LENGTH = 32
# A style longer than this is read no further for layout (each value's reading is bounded, this
# bounds their count).
LONGEST_STYLE = 8_192


def _font_zero(font: str) -> bool:
    """The `font` shorthand's size is 0 (`font: 0/0 a`, `font: italic 0 serif`): the value
    before a `/` (after it is the line's height: `font: 14px/0 a` shows, review 150), else
    its first length."""
    for token in font[:256].split()[:8]:
        size = _pixels(token.split("/", 1)[0])  # a `/` after the size (not in a family)
        if size is not None:
            return size == 0
    return False


_IMPORTANT = re.compile(r"!\s*important\s*$")


@functools.lru_cache(maxsize=256)
def _declared(style: str) -> dict[str, str]:
    """An element's `style` as name -> value (lowercased, `!important` dropped; the last one
    wins, unless an earlier one is `!important` and it is not: review 156), read by tinycss2
    only where it holds comments or escapes (review 150: tokenizing every style with a
    parenthesis cost 2 s a megabyte of page); split plainly otherwise. Kept for the same
    style's next reading (review 156: an element's style was parsed four times, each a
    tinycss2 parse where it holds a comment); not to be changed by its callers."""
    found: dict[str, str] = {}
    important: set[str] = set()

    def declare(name: str, value: str, is_important: bool) -> None:
        if is_important:
            important.add(name)
        elif name in important:
            return
        found[name] = value

    if "\\" in style or "/*" in style:
        for node in tinycss2.parse_declaration_list(style, skip_comments=True,
                                                    skip_whitespace=True):
            if isinstance(node, tinycss2.ast.Declaration):
                declare(node.lower_name, tinycss2.serialize(node.value).strip().lower(),
                        node.important)
        return found
    for declaration in style.split(";"):
        name, colon, value = declaration.partition(":")
        if colon:
            value = value.strip(_SPACE).lower()
            bare = _IMPORTANT.sub("", value)  # `! important` too (review 159)
            declare(name.strip(_SPACE).lower(), bare.strip(_SPACE), bare != value)
    return found


# Why a style keeps a box out of sight: PAINT (its contents not drawn, scaled or clipped to
# nothing: a fixed descendant too), CLIP (placed off the page or clipped by `clip: rect()`: a
# fixed descendant placed by its own offsets escapes it, unless the box contains fixed boxes;
# review 154: one with none sits where the box put it) or OVERFLOW (no size with its overflow
# hidden: a fixed descendant escapes it, unless the box contains fixed boxes, and so does an
# absolute one whose containing block is outside it, review 154).
PAINT, CLIP, OVERFLOW = "paint", "clip", "overflow"
# What may make a box the container of its fixed descendants: read further by contains_fixed.
_CONTAINING_WORDS = re.compile(
    r"transform|scale|rotate|translate|filter|will-change|perspective|contain|visibility|mask"
    r"|clip-path", re.IGNORECASE)
_CONTAINING = ("transform", "scale", "rotate", "translate", "filter", "backdrop-filter",
               "perspective", "-webkit-transform", "-webkit-filter", "-webkit-perspective")
# What clips a fixed descendant to the box's own area, though it contains none: whether the
# fixed box shows depends on that area's size and place, which hulian does not know, so it is
# counted as containing it (review 156: a mask on a box of no size hid it; review 159: on a
# large one it shows, sent to review); a `url()` to nothing clips nothing.
_CLIPS_TO_BOX = ("mask", "mask-image", "-webkit-mask", "-webkit-mask-image", "clip-path",
                 "-webkit-clip-path")


def contains_fixed(style: str) -> bool:
    """Whether a style makes its box the container of its `position: fixed` descendants: a
    transform, filter or perspective that is not `none`, a `will-change` of one, `contain`
    of paint or layout (review 154: a word anywhere held `transform: none` and read a long
    style in quadratic time)."""
    if not _CONTAINING_WORDS.search(style[:LONGEST_STYLE]):
        return False
    try:
        declared = _declared(style[:LONGEST_STYLE])
    except RecursionError:
        return True
    if any(declared.get(name, "none") not in ("none", "initial", "unset")
           for name in _CONTAINING) or any(
            declared.get(name, "none") not in ("none", "initial", "unset")
            and not declared[name].startswith("url(") for name in _CLIPS_TO_BOX):
        return True
    # review 156: a 3D context, content skipped until in view, `will-change: contain`
    if declared.get("transform-style") == "preserve-3d" or declared.get(
            "content-visibility") == "auto":
        return True
    if any(word in (*_CONTAINING, "contain") for word in declared.get(
            "will-change", "").replace(",", " ").split()):
        return True
    return any(word in ("paint", "layout", "strict", "content")
               for word in declared.get("contain", "").split())


def placed_on_both_axes(style: str) -> bool:
    """Whether a style sets an offset across and one down (`left`/`right` and `top`/`bottom`,
    or `inset`): a fixed box so placed is where its offsets put it on the screen, whatever
    its ancestors' places."""
    lowered = style[:LONGEST_STYLE].lower()
    if "inset" not in lowered and not ("top" in lowered or "bottom" in lowered):
        return False
    try:
        declared = _declared(style[:LONGEST_STYLE])
    except RecursionError:
        return False
    # an offset of `auto` places nothing (review 156); `inset` is four sides (review 159:
    # `inset: auto 0 0 0`, the bottom bar, is placed on both axes, `inset: 0 auto` on one)
    offsets = {**_sides(declared.get("inset", "")),
               **{name: value for name, value in declared.items() if name != "inset"}}
    names = {name for name, value in offsets.items()
             if value.split()[:1] not in (["auto"], ["initial"], ["unset"], ["inherit"],
                                          ["revert"], [])}
    return bool(names & {"left", "right", "inset-inline", "inset-inline-start",
                         "inset-inline-end"}) and bool(
        names & {"top", "bottom", "inset-block", "inset-block-start", "inset-block-end"})


def position_of(style: str) -> str:
    """A style's `position` (the last one declared), "static" where none is."""
    if "position" not in style.lower():
        return "static"
    try:
        return _declared(style[:LONGEST_STYLE]).get("position", "static")
    except RecursionError:
        return "static"


def layout_hides(style: str, *, inline: bool = False,
                 table_part: bool = False) -> tuple[str, bool]:
    """Whether an element's `style` may keep it (and what it holds) out of sight or reach by
    layout, which hulian does not do: `content-visibility: hidden`, scaled to nothing or
    turned edge-on, clipped to nothing (`clip-path: inset(…)` that leaves nothing,
    `circle(0)`, a polygon of one point; a positioned box's `clip: rect(…)` of a pixel), no
    height or width with what overflows hidden (not an `inline` element's, whose size does not
    apply unless a `display` is set; not where a padding, minimum or flex gives it one), placed
    off the page (_off_page); nothing where the style animates (an animation or transition may
    bring it in, review 148); and whether it sets its font to size 0 (`font-size`, the `font`
    shorthand). Review 143 found the words alone holding visible links, reviews 146 and 148
    the conditions too narrow and too wide (a carousel's translation, a full-bleed margin, a
    negative `bottom`). A style a CSS parser cannot read whole (nested past Python's stack) may
    hide. Returns why (PAINT, CLIP, OVERFLOW or "") with the font's size 0; `table_part`: a
    table's cell, row or table, whose height, width and maximum width do not hide what
    overflows them (one positioned or floated is no table part)."""
    if not _LAYOUT_WORDS.search(style):
        return "", False
    try:
        declared = _declared(style[:LONGEST_STYLE])
    except RecursionError:  # review 148: `scale(` a thousand times deep
        return PAINT, False
    font_zero = _pixels(declared.get("font-size", "x")) == 0 or _font_zero(
        declared.get("font", ""))
    if any(name.startswith(("animation", "transition")) for name in declared):
        return "", font_zero
    if declared.get("content-visibility") == "hidden":
        return PAINT, font_zero
    scale = declared.get("scale", "")
    if scale and any(_pixels(part.rstrip("%")) == 0
                     for part in scale.replace(",", " ").split()[:3]):
        return PAINT, font_zero
    transform = (declared.get("transform") or declared.get("-webkit-transform") or "")[:1024]
    if _ZERO_SCALE.search(transform) or _EDGE_ON.search(transform) or _degenerate(transform):
        return PAINT, font_zero
    clip_path = declared.get("clip-path") or declared.get("-webkit-clip-path") or ""
    if clip_path.startswith(("circle(0", "ellipse(0")) or _inset_half(clip_path) or (
            _point_polygon(clip_path)):
        return PAINT, font_zero
    position = declared.get("position", "static")
    clip = declared.get("clip", "")[:256]
    if position in ("absolute", "fixed") and clip.startswith("rect("):
        sides = [_pixels(part) for part in clip[5:].rstrip(")").replace(",", " ").split()]
        if len(sides) == 4 and all(side is not None for side in sides):
            top, right, bottom, left = (side or 0.0 for side in sides)  # rect(t, r, b, l)
            if (right - left) * (bottom - top) <= 1:
                # it clips its fixed descendants too (review 156: the sr-only pattern)
                return PAINT, font_zero
    if _off_page(declared, position):
        # before its size: a box off the page places its descendants there, fixed ones with
        # no offsets of their own and absolute ones too (review 156)
        return CLIP, font_zero
    overflow = {word for name in ("overflow", "overflow-x", "overflow-y")
                for word in declared.get(name, "").split()[:2]}
    floated = declared.get("float", "none") not in ("none", "initial", "unset", "inherit")
    # an inline tag floated or taken out of the flow is a block (review 165: the visually
    # hidden `<span style="position:absolute;width:0;height:0;overflow:hidden">`)
    sized = not inline or "display" in declared or floated or position in ("absolute",
                                                                           "fixed")
    display = declared.get("display", "")
    table_part = table_part and position not in ("absolute", "fixed") and not floated and (
        display not in _NO_TABLE_PART)  # reviews 156, 159
    if display == "contents" or (display == "inline" and position not in ("absolute", "fixed")
                                 and not floated):
        # no size applies (an inline box), or no box at all; a float or an absolute box is a
        # block whatever its display (review 163: the `float:left;display:inline` fix)
        sized = False
    # what a minimum or a flex share gives a size to: the height, the width, or both
    rescued = {axis for name, value in declared.items() if _gives_size(name, value)
               for axis in _AXES_GIVEN.get(name, ("height", "width"))}
    if sized and overflow & {"hidden", "clip"} and rescued != {"height", "width"}:
        shorthand = declared.get("padding", "")
        padding = _sides(shorthand)
        if shorthand and not padding:  # `padding: 0 0 calc(…)`: not read, may give a size
            padding = {"top": "1px", "right": "1px", "bottom": "1px", "left": "1px"}
        axes = {"padding-top": "top", "padding-bottom": "bottom", "padding-left": "left",
                "padding-right": "right", "padding-block": "top", "padding-block-start": "top",
                "padding-block-end": "bottom", "padding-inline": "left",
                "padding-inline-start": "left", "padding-inline-end": "right"}
        padding.update({axes[name]: value.split()[0] if value.split() else value
                        for name, value in declared.items() if name in axes})
        # a zero height is given one back by a top or bottom padding, a width by a side one
        for names, across in ((("height", "block-size", "max-height"), ("top", "bottom")),
                              (("width", "inline-size", "max-width"), ("left", "right"))):
            if names[0] in rescued or any(
                    _pixels(padding.get(side, "0")) != 0 for side in across):
                continue
            for name in names:
                if table_part:
                    # a table part's height and width are its least size, and its max-width
                    # of 0 is the ellipsis cell's trick, its text shown (review 154; a cell
                    # holding only a link beside a wider one is left none: review 152, a
                    # known limit, since telling them apart needs the table's layout)
                    continue
                size = _pixels(declared.get(name, "x"))
                if size is not None and size <= 1:
                    # a mask or clip-path clips its fixed descendants to the box too
                    clips = any(declared.get(clip, "none") not in ("none", "initial", "unset")
                                and not declared[clip].startswith("url(")
                                for clip in _CLIPS_TO_BOX)
                    return (PAINT if clips else OVERFLOW), font_zero
    return "", font_zero


# What gives a box a size whatever its height or width says: a minimum, a flex item's share
# (the older WebKit and IE spellings too: review 154, `-webkit-box-flex: 1; width: 0`), an
# aspect ratio; by name, not prefix (review 156: `-ms-flex-align`, `flex-direction` give
# none).
# The axis a minimum gives a size to (the others, both).
_AXES_GIVEN: dict[str, tuple[str, ...]] = {
    "min-width": ("width",), "min-inline-size": ("width",), "min-height": ("height",),
    "min-block-size": ("height",)}
_SIZE_GIVERS = frozenset({
    "min-width", "min-height", "min-inline-size", "min-block-size", "flex", "flex-grow",
    "flex-basis", "-webkit-flex", "-webkit-box-flex", "-moz-box-flex", "-ms-flex",
    "-webkit-flex-grow", "-ms-flex-positive", "box-flex", "aspect-ratio"})


def _gives_size(name: str, value: str) -> bool:
    """Whether a declaration may give its box a size: one of _SIZE_GIVERS with a value that
    is not known to give none (0, `none`, `initial`; `auto` but for a flex item's share, or
    an aspect ratio's alone). A value hulian cannot read (`var()`, `max()`, `10ch`,
    `-webkit-fit-content`) may (review 159)."""
    if name not in _SIZE_GIVERS:
        return False
    words = _values(value[:256])
    if name == "aspect-ratio":
        return bool(words) and words[0] not in ("auto", "0")
    if name.startswith(("flex", "-webkit-flex", "-ms-flex")) and "auto" in words:
        return True
    return any(not _gives_nothing(word) for word in words[:3])


def _gives_nothing(word: str) -> bool:
    """A value known to give no size: a length or number of 0, `auto`, `none`, `initial`, the
    parent's (`inherit`: a minimum is seldom inherited; review 163)."""
    if word in ("auto", "none", "initial", "unset", "inherit", "revert", "revert-layer"):
        return True
    length = _pixels(word)
    if length is not None:
        return length <= 0
    try:
        return float(word.removesuffix("%")) <= 0
    except ValueError:
        return False


# Displays that make a table's element no table part (a cell laid out as a block); `revert`
# and the table displays keep it one (review 159).
_NO_TABLE_PART = frozenset({"block", "inline-block", "flex", "inline-flex", "grid",
                            "inline-grid", "flow-root", "list-item"})


def _point_polygon(clip_path: str) -> bool:
    """`clip-path: polygon(…)` whose points are all one point: nothing left."""
    if not clip_path.startswith("polygon(") or len(clip_path) > 1024:
        return False
    points = {" ".join(point.split()) for point in clip_path[8:].rstrip(")").split(",")}
    return len(points) == 1


# What a page's width and height are on hulian's screen, and how far down a page may reach:
# a box moved left of the width's start, or a page's height above, is off the page.
SCREEN_WIDTH, SCREEN_HEIGHT, FAR_DOWN = 390.0, 844.0, 5_000.0
# A negative left margin this large pulls a box off any page (a layout's pull-ups are a few
# hundred pixels).
FAR_LEFT = 1_000.0
# How far a relative box must move sideways to be off any page: further than a carousel's
# strip of slides moves (twenty screens), as far as a hiding `left: -9999px` goes.
FAR_RELATIVE = 9_000.0


def _values(value: str) -> list[str]:
    """A value's space-separated parts, a function's parentheses kept whole
    (`0 calc(1000px + 1em)`: two parts; review 154)."""
    if "(" not in value:
        return value.split()
    parts: list[str] = []
    depth, start = 0, None
    for index, char in enumerate(value):
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        if char in _SPACE and depth == 0:
            if start is not None:
                parts.append(value[start:index])
                start = None
        elif start is None:
            start = index
    if start is not None:
        parts.append(value[start:])
    return parts


def _sides(value: str) -> dict[str, str]:
    """A `margin`- or `inset`-like shorthand's four sides (one to four values)."""
    parts = _values(value[:1024])
    if not parts or len(parts) > 4:
        return {}
    top = parts[0]
    right = parts[1] if len(parts) > 1 else top
    bottom = parts[2] if len(parts) > 2 else top
    left = parts[3] if len(parts) > 3 else right
    return {"top": top, "right": right, "bottom": bottom, "left": left}


def _off_page(declared: dict[str, str], position: str) -> bool:
    """A box placed off the page by its offsets on a positioned box (not a sticky one):
    moved left past the screen's width (`left` or `inset-inline-start` that far negative,
    `right` that far positive or negative), or up past FAR_DOWN (past the screen's height for
    a fixed box; a fixed box's `bottom` that far down too), where the opposite side is not
    set as well (a box stretched between the two is on the page); or by a left margin of
    -FAR_LEFT or a top margin of -FAR_DOWN that no padding gives back (the full-bleed
    `margin: 0 -9999px; padding: 0 9999px`). Translations are not read: a carousel moves its
    strip by whole screens to show the next slide (review 148)."""
    names = {"inset-inline-start": "left", "inset-inline-end": "right",
             "inset-block-start": "top", "inset-block-end": "bottom",
             "margin-inline-start": "margin-left", "margin-block-start": "margin-top",
             "padding-inline-start": "padding-left", "padding-block-start": "padding-top"}
    declared = {names.get(name, name): value for name, value in declared.items()}
    if position in ("relative", "absolute", "fixed"):  # a sticky box's offsets move nothing
        sides: dict[str, str] = {
            **_sides(declared.get("inset", "")),
            **{name: declared[name] for name in ("top", "right", "bottom", "left")
               if name in declared}}
        offsets = {name: _pixels(value) for name, value in sides.items()}
        left, right = offsets.get("left"), offsets.get("right")
        top, bottom = offsets.get("top"), offsets.get("bottom")
        one_side = (left is None) != (right is None)  # a box stretched between both stays
        # a relative box moves from where it would sit, which hulian does not know: a
        # carousel's strip moves a screen a slide (SuperSlide, slick; review 150)
        across = FAR_RELATIVE if position == "relative" else SCREEN_WIDTH
        if one_side and ((left is not None and left <= -across) or (
                right is not None and abs(right) >= across)):
            return True
        if (top is None) != (bottom is None):
            above = SCREEN_HEIGHT if position == "fixed" else FAR_DOWN
            if (top is not None and top <= -above) or (
                    position == "fixed" and bottom is not None and bottom <= -SCREEN_HEIGHT):
                return True
    margins: dict[str, str] = {**_sides(declared.get("margin", "")),
                               **{name[7:]: declared[name] for name in ("margin-left",
                                                                       "margin-top")
                                  if name in declared}}
    paddings: dict[str, str] = {**_sides(declared.get("padding", "")),
                                **{name[8:]: declared[name] for name in ("padding-left",
                                                                        "padding-top")
                                   if name in declared}}
    for name, far in (("left", FAR_LEFT), ("top", FAR_DOWN)):
        offset = _pixels(margins.get(name, "x"))
        padding = paddings.get(name, "0")
        given_back = _pixels(padding)
        if given_back is None:
            # a padding not read gives back the largest length in it (`calc(1000px + 1em)`,
            # `calc(100em + 1px)`, a `var()`'s fallback; reviews 154, 159), or, with none
            # written out (`var(--b)`, `inherit`), may give back all (review 159)
            lengths = [_pixels(term) for term in _LENGTH_TERM.findall(padding[:256])]
            known = [length for length in lengths if length is not None]
            given_back = max(known) if known else -offset if offset is not None else 0.0
        if offset is not None and offset + given_back <= -far:
            return True
    return False


_LENGTH_TERM = re.compile(r"\d{1,9}(?:\.\d{1,9})?[a-z%]{0,4}")


def _degenerate(transform: str) -> bool:
    """`matrix(a, b, c, d, …)` that flattens a box to a line or a point (a·d − b·c = 0)."""
    match = _MATRIX.search(transform)
    if match is None:
        return False
    try:
        a, b, c, d = (float(part) for part in match.group(1).split(",")[:4])
    except ValueError:
        return False
    return a * d - b * c == 0


def _inset_half(clip_path: str) -> bool:
    """`clip-path: inset(…)` that leaves nothing: its top and bottom, or its left and right,
    adding up to 100% or more (one to four values, as `margin` takes them)."""
    if not clip_path.startswith("inset("):
        return False
    values = clip_path[6:].split(" round ")[0].rstrip(")").split()
    percents: list[float | None] = []
    for value in values[:4]:
        try:
            percents.append(float(value[:-1]) if value.endswith("%")
                            else 0.0 if _pixels(value) == 0 else None)
        except ValueError:
            percents.append(None)
    if not percents:
        return False
    top = percents[0]
    right = percents[1] if len(percents) > 1 else top
    bottom = percents[2] if len(percents) > 2 else top
    left = percents[3] if len(percents) > 3 else right
    return any(a is not None and b is not None and a + b >= 100
               for a, b in ((top, bottom), (left, right)))
