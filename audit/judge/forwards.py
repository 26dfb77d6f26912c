"""Where a page sends its reader without any action: a meta refresh, or a script that
navigates as the page loads. Pure functions of a parsed page.

An interception page must never be taken for a forward to its target, so a navigation counts
only where a browser running the page would make it, unconditionally, on load: in a script it
runs (audit.web.page decides which; not one with a syntax error tree-sitter reports), outside
comments and strings, run from the script's top level (directly, in a `try` or a plain block,
or in the body of a function called at once: `(function () { ... })()`) with no exit, loop
or `await` before it and no rebinding of the names it goes through (_TreeReader), and
assigned to the `location` itself (`location`, `window.location.href`, `top.location`,
`location.replace(...)`; not a variable or property whose name ends in "location"). Of the
navigations made on load the last counts, as in a browser, and only where nothing may cancel
it (js_location). A refresh inside <noscript> counts only where the page's scripts navigate
too (Baidu's `link?url=` page forwards by script and names the same place in <noscript> for
browsers without scripts); a refresh of more than IMMEDIATE_SECONDS is delayed: the page is
shown, and read, first.

Scripts are read from the syntax tree of tree-sitter's JavaScript grammar (the maintained,
error-tolerant parser that editors use), not from their text: the text only points the
reading at the places where `location` is followed by `=`, `.href =`, `.replace(` or
`.assign(`, and the tree says what stands there. What cannot be read (a page's scripts past
MAX_SCRIPT_CHARS or not parsed by the page's deadline, navigations past MAX_NAVIGATIONS, a tree
too big for MAX_TREE_STEPS) may navigate anywhere but is never taken for a forward. What the
reading misses: a navigation through a function declared and then called (`function go()
{...} go()`), a computed name (`location["href"]`), a comment between `location` and its `=`;
such a page is read by its words and structure, not followed. A script with a navigation on
load must also compile in a JavaScript engine (audit/judge/compiles.py) and get past its
global declarations (audit/judge/declarations.py). What the reading cannot see: statements
that throw at run time (README, "Forwards").
"""

from __future__ import annotations

import bisect
import itertools
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Literal

from audit.judge import declarations, halts, jstree
from audit.judge.compiles import compiles
from audit.judge.jstree import Node, TreeCursor
from audit.judge.jstree import field as _field
from audit.judge.jstree import literal as _literal
from audit.judge.jstree import next_outside as _next_outside
from audit.judge.jstree import parse as _parse
from audit.judge.jstree import text as _text
from audit.judge.jstree import unescape as _unescape_js
from audit.web import events
from audit.web.page import Anchor, Page
from audit.web.urls import resolve

# A refresh of at most this many seconds forwards before a reader can act on the page.
IMMEDIATE_SECONDS = 1.0

# A page's scripts are read for at most this many navigations, and only its first
# MAX_SCRIPT_CHARS of scripts that mention `location` are parsed (tree-sitter reads real
# minified code at ~5 MB/s; a 20 MB script would cost seconds and a gigabyte of tree). Past
# either, the page may navigate anywhere (a target of None, not on load).
MAX_NAVIGATIONS = 1_000
MAX_SCRIPT_CHARS = 2_000_000
# How long tree-sitter may take over a page's scripts before the rest is given up (may lead
# anywhere, not followed). Real minified code parses at ~5 MB/s, so this is far beyond any
# real script; it is a time, not a count, because the parser's own progress reports stop
# measuring work in the case it is there for (the same number of them took 0.4 s there and
# 5 ms elsewhere). The only decision of the reading that depends on the machine's speed.
# 0.5 s and 5 s a megabyte: a page of 64 KiB that the crawl process reads itself (its parse
# workers being behind) holds it ~0.8 s a reading at most here, where 2 s did (review 167).
# The corpus's largest real scripts (a WeChat article's 125 KB) took 0.17 s to read for
# what halts the page (~1.3 s a megabyte); Ace's 372 KB 0.8 s idle, and past 3 s a megabyte
# with six processes on the two cores (review 172).
PARSE_SECONDS = 0.5
PARSE_SECONDS_PER_MB = 5.0


@dataclass(frozen=True)
class Forward:
    url: str  # absolute
    via: Literal["meta_refresh", "js"]
    # Shown to a person first: a refresh of more than IMMEDIATE_SECONDS, a script's
    # navigation after a dialog.
    delayed: bool


@dataclass(frozen=True)
class _Navigation:
    literal: str | None  # the target, when it is written as a string literal
    on_load: bool  # run unconditionally as the script loads
    # The written start of a target built by `+` or a template, where it already names the
    # target's host ("https://support.weixin.qq.com/...?requrl=" + url): where it leads.
    start: str | None = None
    end: int = 0  # where the navigation ends in its script (a byte offset of its UTF-8)
    # Not on load, but in a timer's code (a function or a string) where the timer is set on
    # load: made once the timer fires, as a countdown's.
    timer: bool = False


_CUT = _Navigation(None, False)

# When a navigation is made (_TreeReader._runs_on_load).
_NEVER, _ON_LOAD, _IN_TIMER = 0, 1, 2

# After the navigation a page is followed to, what may cancel it or send the page elsewhere:
# the location once more (in any form: `location.search =`, `location["href"] =`, a copy of
# it), the history, stopping the load (`stop()`, `stop.call(window)`), opening in the same
# window (`open(…)`, `open.call(…)`), clicking (`.click()`, a click dispatched as an event),
# submitting (`.submit()`, `requestSubmit()`, `.submit.call(f)`), code made as it runs
# (`eval`, `Function`) and writing the document (a `<plaintext>` or `<!--` written swallows
# what follows). Each `.call` form, a dispatched click, a request to submit and `eval` went
# unseen and the page was followed to the target (a review).
_MAY_CANCEL = re.compile(
    rb"location|history|\bstop\s*[(.]|\bopen\s*[(.]|\.click\s*[(.]|[sS]ubmit\s*[(.]"
    rb"|dispatchEvent|\beval\s*\(|\bFunction\s*\(|\bdocument\s*\.\s*write")
# What keeps a page from leaving wherever it comes in its scripts or its handlers of events
# that come unprompted (Page.unprompted_handlers): closing the window, reopening the document
# once it is parsed; read from the scripts' syntax trees by audit.judge.halts.


# What the page's scripts were read to do, for the pages a chain reads twice (a forward and a
# refresh both ask).
_HALTS: OrderedDict[tuple[str, bool, bool, bool, frozenset[str], int], bool] = OrderedDict()
_HALTS_SIZE = 64


def _page_halts(page: Page) -> bool:
    """Whether a script of the page or a handler of an event that comes unprompted closes the
    window or reopens the document once parsed (audit.judge.halts: a module or a handler runs
    after parsing). What is not read within the page's budget (PARSE_SECONDS and
    PARSE_SECONDS_PER_MB of the scripts, MAX_TREE_STEPS, MAX_SCRIPT_CHARS) holds the page.
    Decided once a page (review 167: a page's reading asks twice, and a reading cut at its
    deadline was not kept, so a 112-byte page of a script tree-sitter cannot finish cost two
    deadlines)."""
    if page.halts is None:
        page.halts = _read_page_halts(page)
    return page.halts


def _read_page_halts(page: Page) -> bool:
    # (code, module, a handler, a handler of the window's)
    code = [(script, index in page.module_scripts, False, False)
            for index, script in enumerate(page.runnable_scripts)]
    fired = frozenset(event for script in page.runnable_scripts
                      for event in events.fired_events(script))
    code += [(handler, True, True, on_window)
             for handler, on_window in page.handlers_on(fired=fired)]
    size = sum(len(text) for text, *_ in code)
    if size > MAX_SCRIPT_CHARS:
        return True
    texts = tuple(text for text, *_ in code)
    # how often each name is written in what the page runs (its `javascript:` URLs and its
    # scripts' URLs too), and whether it may call a name it makes at run time: a declared
    # function nothing of it names is called only by a person (a close button's
    # `onclick="closeWin()"`, review 153), and not read; a global one may be called by a
    # script the page loads (review 158)
    loads, written = page.other_callers()
    counted = (*texts, *written)
    mentions = None if halts.named_at_run_time(counted) else (
        halts.mentions(counted, globals_called=loads or any(
            halts.LOADS_SCRIPTS.search(text) for text in texts)))
    deadline = time.monotonic() + PARSE_SECONDS + PARSE_SECONDS_PER_MB * size / 1e6
    steps = MAX_TREE_STEPS
    # the page's code, by its hash taken once (a key holding the tuple hashed it again for each
    # script: quadratic in a page of 10,000 scripts)
    page_code = hash(texts)
    for text, after_parse, handler, on_window in code:
        key = (text, after_parse, handler, on_window, fired, page_code)
        known = _HALTS.get(key)
        if known is None:
            # a <body>'s or <frameset>'s handler is the window's: no element or document in
            # its scope (review 147: its bare close() closed the tab); a listener of an event
            # only a person makes is read where any of the page's scripts fires it (review
            # 153: a click listener in one script, `.click()` in the next)
            known = halts.halts(text, after_parse=after_parse, steps=steps, deadline=deadline,
                                handler=handler and not on_window,
                                this_window=on_window if handler else None, fired=fired,
                                mentions=mentions)
            if known is None:
                return True
            _HALTS[key] = known
            if len(_HALTS) > _HALTS_SIZE:
                _HALTS.popitem(last=False)
        if known:
            return True
    return False


# A write of the document: `document.write(`, `document['write'](`, an alias's `d.write(`
# (any call named write or writeln; what it writes is read by _writes_away).
_WRITE_CALL = re.compile(
    r"\bwrite(?:ln)?\s*(?:['\"]\s*\]\s*)?(?:\(|\.\s*(?:call|apply|bind)\b)")
# What a write may hold and still be read as writing nothing that acts: text and complete tags
# of a few kinds that neither run, navigate, frame nor swallow what follows, with no event
# handler attribute and every quote closed. Anything else (a script, even from elsewhere, which
# may hold a dialog; a comment, a raw-text element or a quote left open, which swallows the
# scripts after it; a refresh, a base, a form; an `onerror`) may: review 132 found each of
# `<plaintext>` joined from a variable, in `%u` or octal escapes, an open `alt='`, a written
# `<img onerror>` and a written `<script src>` read as harmless, and the forward after it open.
_HARMLESS_MARKUP = re.compile(
    r"(?:[^<]|</?(?:span|div|p|i|b|em|strong|br|img|a|font|center|u|small|big|ul|ol|li|table"
    r"|tbody|tr|td|th|h[1-6]|hr|label|sup|sub)"
    r"(?:\s+(?![oO][nN])[\w:-]+(?:\s*=\s*(?:'[^'<>]*'|\"[^\"<>]*\"|[^\s'\"<>=`]+))?)*\s*/?>)*",
    re.IGNORECASE)
# A write's argument as far as it is read: string literals joined by `+`, and the decoders
# `unescape`, `decodeURIComponent`, `decodeURI`; anything else (a name, a call, a template)
# may hold anything.
_STRING = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_KNOWN_WRAPPERS = re.compile(r"\b(?:unescape|decodeURIComponent|decodeURI)\b|[\s()+]")
_PERCENT = re.compile(r"%u([0-9a-fA-F]{4})|%([0-9a-fA-F]{2})")
_OCTAL = re.compile(r"\\([0-3][0-7]{0,2}|[4-7][0-7]?)")
# Bounds on what a page's writes make hulian read: past them, a write may hold anything.
MAX_WRITES = 64
WRITE_ARGUMENT_CHARS = 4_096


def _writes_away(script: str, *, after_parse: bool = False) -> bool:
    """Whether a write of the document in the script may write what acts or swallows the
    scripts after it: one whose argument is not only string literals and decoders, or whose
    text, its escapes and percent-encodings read as JavaScript and `unescape` read them
    (until nothing changes), is not _HARMLESS_MARKUP; one called through `.call`, `.apply`
    or `.bind` (review 133). `after_parse`: also any write in a block (a function, a
    listener, a timer), which may run once the page is parsed, where a write opens a new
    document and a pending refresh is dropped (review 133: `setTimeout(…write('<p>')…)`
    before a refresh read open). Linear: each argument is read within WRITE_ARGUMENT_CHARS,
    and more than MAX_WRITES writes may hold anything."""
    calls = [call for _, call in zip(range(MAX_WRITES + 1), _WRITE_CALL.finditer(script),
                                     strict=False)]
    if len(calls) > MAX_WRITES:
        return True
    places = _places(script, [call.start() for call in calls]) if after_parse and calls else {}
    for call in calls:
        if not call.group(0).endswith("("):
            return True
        if after_parse and places[call.start()][0]:
            return True
        argument = _call_argument(script, call.end())
        if argument is None:
            return True
        literals = [literal.group(0)[1:-1] for literal in _STRING.finditer(argument)]
        if not literals or _KNOWN_WRAPPERS.sub("", _STRING.sub("", argument)):
            return True  # a name, a call, a template: what it writes is not read
        text = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), "".join(literals))
        text = _unescape_js(text)
        while True:  # `decodeURIComponent(decodeURIComponent('%253C…'))`: each pass shortens
            decoded = _PERCENT.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), text)
            if decoded == text:
                break
            text = decoded
        if not _HARMLESS_MARKUP.fullmatch(text):
            return True
    return False


def _places(script: str, positions: list[int]) -> dict[int, tuple[bool, bool]]:
    """For each position: whether it is inside braces, and whether it is inside a string or
    a comment (_outside_strings gives every other character); one pass over the script
    however many positions (review 139: a scan from the start per position made 70
    reopenings in 5 MB cost 47 s)."""
    wanted = sorted(set(positions), reverse=True)
    found: dict[int, tuple[bool, bool]] = {}
    depth = 0
    for index, char in _outside_strings(script, 0, wanted[0] + 1 if wanted else 0):
        while wanted and wanted[-1] < index:
            found[wanted.pop()] = (depth > 0, True)  # skipped: in a string or a comment
        if wanted and wanted[-1] == index:
            found[wanted.pop()] = (depth > 0, False)
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
    for position in wanted:
        found[position] = (depth > 0, True)
    return found


def _call_argument(script: str, start: int) -> str | None:
    """A call's argument text from `start` (after its `(`) to its closing parenthesis;
    None where it does not close within WRITE_ARGUMENT_CHARS."""
    depth = 0
    for index, char in _outside_strings(script, start,
                                        min(len(script), start + WRITE_ARGUMENT_CHARS)):
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return script[start:index]
            depth -= 1
    return None


def _outside_strings(script: str, start: int, end: int) -> Iterator[tuple[int, str]]:
    """The characters of script[start:end] outside its string literals (quotes, template
    literals, escapes inside them skipped), with their positions."""
    quote = ""
    index = start
    while index < end:
        char = script[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'\"`":
            quote = char
        elif char == "/" and script.startswith("//", index):
            # A comment: its apostrophes open no string (review 139: `// Let's go` hid a
            # function's brace).
            newline = script.find("\n", index)
            index = end if newline < 0 else newline
            continue
        elif char == "/" and script.startswith("/*", index):
            close = script.find("*/", index + 2)
            index = end if close < 0 else close + 2
            continue
        else:
            yield index, char
        index += 1


# The Navigation API can cancel any navigation from anywhere in the page.
_NAVIGATION_API = re.compile(r"\bnavigation\s*[.\[]")

# Where a navigation may start: `location` before `=`, `.href =`, `.replace(` or `.assign(`.
# Only there is the tree looked at (a hostile page may hold a million decoys; every navigation
# the tree reading accepts matches this). A comment between `location` and its `=` hides a
# navigation from the reading: it is missed, never invented.
_CANDIDATE = re.compile(
    rb"(?<![\w$])location\s*(?:\.\s*href\s*)?=(?!=)|(?<![\w$])location\s*\.\s*(?:replace|assign)\s*\(")

# The steps one script's reading may take through its tree (down to each candidate and back
# up to the top level): a tree nested a million deep is not read past it.
MAX_TREE_STEPS = 2_000_000

# Names through which a script reaches its window (`window.top.location`, `document.location`).
_WINDOW_NAMES = frozenset({"window", "document", "top", "self", "parent", "globalThis"})
_WINDOW_ONLY = _WINDOW_NAMES - {"document"}
_FUNCTIONS = frozenset({"function_expression", "arrow_function"})
# Nodes that run each of their children whenever they run.
_RUN_ALL = frozenset({"expression_statement", "parenthesized_expression", "sequence_expression",
                      "variable_declaration", "lexical_declaration", "labeled_statement"})
# Nodes that run one of their children (its field) whenever they run.
_RUN_ONE = {"try_statement": "body", "unary_expression": "argument",
            "variable_declarator": "value", "assignment_expression": "right"}


def _names_window(node: Node | None, source: bytes) -> bool:
    """What stands before `.location` where it is the page's own: `window`, `top`,
    `window.top`, ... (a chain of the window's names; a loop: a hostile chain may be a hundred
    thousand names long), or `document` at its end (`window.document.location`; a document
    has no `window` or `top`, so `document.top.location` throws)."""
    if node is not None and node.type == "member_expression" and _text(
            _field(node, "property"), source) == "document":
        node = _field(node, "object")
    elif node is not None and node.type == "identifier" and _text(node, source) == "document":
        return True
    while node is not None and node.type == "member_expression":
        if _text(_field(node, "property"), source) not in _WINDOW_ONLY:
            return False
        node = _field(node, "object")
    return (node is not None and node.type == "identifier"
            and _text(node, source) in _WINDOW_ONLY)


# A start of a URL that names its host: a scheme and host (or `//` and a host) ended by `/`, `?`
# or `#`, or a reference relative to the page's own host (a path, a query, a fragment).
_HOST_NAMED = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*:)?//[^/?#\s]+[/?#]|/(?!/)|[?#]|[^:/?#]+[/?#]")


def _written_start(node: Node | None, source: bytes) -> str | None:
    """The written start of a target built by `+` or by a template with substitutions, where
    it names the target's host; None where the host is not written out."""
    while node is not None and node.type == "binary_expression" and _text(
            _field(node, "operator"), source) == "+":
        node = _field(node, "left")
    if node is None:
        return None
    if node.type == "string":
        start = _literal(node, source)
    elif node.type == "template_string":
        text = _text(node, source)[1:]
        start = _unescape_js(text[:text.find("${")] if "${" in text else text[:-1])
    else:
        return None
    return start if start is not None and _HOST_NAMED.match(start) else None


# What may end a statement list before its next statement runs (a `break` of a loop inside
# the statement counts too: a navigation after it is missed, never invented), or keep it from
# ever getting there: a loop may never end (`while (true) {}`), an `await` never resolve.
_EXITS = frozenset({"return_statement", "break_statement", "continue_statement",
                    "throw_statement", "while_statement", "do_statement", "for_statement",
                    "for_in_statement", "await_expression"})
# Code that runs later, or never, where it is written: not looked into for exits.
_LATER = frozenset({"function_declaration", "generator_function_declaration",
                    "function_expression", "arrow_function", "generator_function",
                    "method_definition", "class_declaration", "class"})
# Names whose declaration (or assignment) in a scope means `location` or the window may not be
# the page's own there: `(function (location) {...})({})`, `var self = {location: {}}`.
_SHADOWABLE = _WINDOW_NAMES | {"location"}


@dataclass(frozen=True)
class _Scope:
    """What a statement list (a script, a block, a function's body) holds: its statements'
    start bytes, the first one that may leave the list early, and the names it binds."""

    starts: list[int]
    first_exit: int | None
    binds: frozenset[str]


def _bound_names(node: Node, source: bytes) -> set[str]:
    """The names of interest a declaration's name or a parameter list holds (patterns
    included)."""
    names: set[str] = set()
    cursor = node.walk()
    while True:
        current = cursor.node
        if (current is not None and current.type in ("identifier",
                                                     "shorthand_property_identifier_pattern")
                and _text(current, source) in _SHADOWABLE):
            names.add(_text(current, source))
        if not cursor.goto_first_child() and not _next_outside(cursor):
            return names


class _TreeReader:
    """Reads the navigations of one parsed script, candidate by candidate, in the order of
    the script. One cursor moves forward through the tree from one candidate to the next, so
    that a list of a hundred thousand siblings is walked once, not once per candidate; every
    step, up, down or sideways, counts against MAX_TREE_STEPS."""

    def __init__(self, root: Node, source: bytes) -> None:
        self.root = root
        self.source = source
        self.steps = 0
        self.runs = not root.has_error  # a browser runs no statement of a script it cannot parse
        self._position = root.walk()
        self._scopes: dict[int, _Scope] = {}
        self._timers: list[tuple[Node, Node | None]] | None = None
        self._timer_of: dict[int, Node] | None = None

    def spent(self) -> bool:
        return self.steps > MAX_TREE_STEPS

    def _leaf_at(self, offset: int) -> TreeCursor | None:
        """A cursor on the leaf that starts at `offset`, if a token starts there. Offsets
        must come in increasing order."""
        position = self._position
        while position.node is not None and position.node.end_byte <= offset:
            self.steps += 1
            if self.spent():
                return None
            if not position.goto_next_sibling() and not position.goto_parent():
                return None  # past the end of the script
        while position.node is not None and position.node.start_byte <= offset:
            if not position.goto_first_child():
                break  # a leaf
            while position.node is not None and position.node.end_byte <= offset:
                self.steps += 1
                if self.spent():
                    return None
                if not position.goto_next_sibling():
                    position.goto_parent()
                    return None  # in the parent, between its children
        leaf = position.node
        if leaf is None or leaf.start_byte != offset:
            return None
        # A cursor of its own to climb with (TreeCursor.copy() crashes in tree-sitter 0.26.1;
        # reset_to copies the same state).
        cursor = self.root.walk()
        cursor.reset_to(position)
        return cursor

    def navigation_at(self, offset: int) -> _Navigation | None:
        """The navigation whose `location` starts at `offset`, if there is one there (not in
        a string, a comment or another name)."""
        cursor = self._leaf_at(offset)
        if cursor is None:
            return None
        leaf = cursor.node
        if (leaf is None or _text(leaf, self.source) != "location"
                or leaf.type not in ("identifier", "property_identifier")):
            return None
        name = "location"
        if leaf.type == "property_identifier":  # window.location, top.location, ...
            base = self._up_to_window_location(cursor)
            if base is None:
                return None
            name = base
        value = self._navigation_value(cursor)
        if value is False:
            return None
        literal = _literal(value, self.source)
        end = cursor.node.end_byte if cursor.node is not None else len(self.source)
        when = self._runs_on_load(cursor, name) if self.runs else _NEVER
        return _Navigation(literal, when == _ON_LOAD,
                           None if literal is not None else _written_start(value, self.source),
                           end, timer=when == _IN_TIMER)

    def set_on_load(self, node: Node) -> bool:
        """Whether `node` (a timer's call) is reached on load, or in a timer set on load."""
        cursor = self.root.walk()
        while cursor.node is not None and cursor.node.id != node.id:
            if cursor.goto_first_child_for_byte(node.start_byte) is None:
                return False
            while (cursor.node is not None and cursor.node.id != node.id
                   and cursor.node.end_byte < node.end_byte and cursor.goto_next_sibling()):
                pass
        return cursor.node is not None and self._runs_on_load(cursor, "location") != _NEVER

    def _up_to_window_location(self, cursor: TreeCursor) -> str | None:
        """From a property named `location` up to `window.location`, `top.location`, ...
        (the cursor left there): the name the chain starts from; None where it is another
        object's location."""
        if cursor.field_name != "property" or not cursor.goto_parent() or cursor.node is None:
            return None
        chain = _field(cursor.node, "object")
        if not _names_window(chain, self.source):
            return None
        while chain is not None and chain.type == "member_expression":
            chain = _field(chain, "object")
        return _text(chain, self.source)

    def _navigation_value(self, cursor: TreeCursor) -> Node | Literal[False] | None:
        """From the location up to the navigation that uses it (the cursor left there): the
        value it navigates to; False where the location is only read."""
        field = cursor.field_name
        if not cursor.goto_parent() or cursor.node is None:
            return False
        parent = cursor.node
        if parent.type == "assignment_expression" and field == "left":
            return _field(parent, "right")
        if parent.type != "member_expression" or field != "object":
            return False
        member = _text(_field(parent, "property"), self.source)
        field = cursor.field_name
        if not cursor.goto_parent() or cursor.node is None:
            return False
        holder = cursor.node
        if member == "href" and holder.type == "assignment_expression" and field == "left":
            return _field(holder, "right")
        if (member in ("replace", "assign") and holder.type == "call_expression"
                and field == "function"):
            arguments = _field(holder, "arguments")
            if arguments is None or not arguments.named_children:
                return False  # location.replace() goes nowhere
            return arguments.named_children[0]
        return False

    def _runs_on_load(self, cursor: TreeCursor, name: str) -> int:
        """Whether the node at the cursor runs whatever happens as the script loads: each
        node above it runs it whenever it runs itself, up to the top level; in each list of
        statements on the way, no statement before it may leave the list (`return`, `break`,
        `throw`) and none binds `name` (the window's name the navigation starts from) to
        something else. A function's body runs only where the function is called at once
        (`(function () {...})()`, `!function () {...}()`, `(() => ...).call(this)`), is not
        async and has no parameter of that name; not a function declared or passed (a
        handler, a timer), a call's arguments (the callee may throw first, or be `a?.b`), a
        condition's branch, an operand of `&&`, `||` or `?:`, a loop's body or a `catch`.
        _ON_LOAD; _IN_TIMER where the way up passes a function given to a timer
        (`setTimeout(function () {...}, 5000)`) and runs on load from the timer's call up;
        else _NEVER."""
        when = _ON_LOAD
        while True:
            self.steps += 1
            if self.spent():
                return _NEVER
            child, field = cursor.node, cursor.field_name
            if child is None or not cursor.goto_parent() or cursor.node is None:
                return _NEVER
            parent = cursor.node
            kind = parent.type
            if kind in ("program", "statement_block"):
                scope = self._scope(parent)
                before = bisect.bisect_right(scope.starts, child.start_byte) - 1
                if ((scope.first_exit is not None and scope.first_exit < before)
                        or name in scope.binds or self.spent()):
                    return _NEVER
                if kind == "program":
                    return when
                continue
            if kind in _RUN_ALL or (field is not None and _RUN_ONE.get(kind) == field):
                continue
            if kind in _FUNCTIONS and field == "body":
                # An async function's body may wait (for what may fail) before it navigates.
                if any(node.type == "async" for node in parent.children) or name in (
                        self._parameters(parent)):
                    return _NEVER
                if self._up_to_timer(cursor):
                    when = _IN_TIMER
                    continue
                if not self._called_at_once(cursor):
                    return _NEVER
                continue
            return _NEVER

    def timer_calls(self) -> list[tuple[Node, Node | None]]:
        """The script's calls of a timer, each with what it is given to run (None:
        nothing), found once by a tree-sitter query (_TIMER_CALLS) between the first and
        the last mention of a timer's name."""
        if self._timers is None:
            names = list(_TIMER.finditer(self.source))
            self._timers = []
            if names:
                for match in jstree.captures(self.root, _TIMER_CALLS, names[0].start(),
                                             names[-1].end()):
                    call = match["call"][0]
                    code = _timer_code_of(call, self.source)
                    if code is not False:
                        self._timers.append((call, code))
        return self._timers

    def _up_to_timer(self, cursor: TreeCursor) -> bool:
        """From a function (the cursor on it) up to the timer's call it is given to run, if
        it is one (`setTimeout(function () {…})`, `.apply(this, [function …])`): the cursor
        left on the call; else not moved. The timers' functions are known from their calls
        (timer_calls), and the cursor climbs to the call a few steps (review 174:
        Node.parent searches from the root, and a climb by it through 30,000 parentheses
        took 35 s)."""
        function = cursor.node
        if function is None:
            return False
        if self._timer_of is None:
            self._timer_of = {code.id: call for call, code in self.timer_calls()
                              if code is not None}
        call = self._timer_of.get(function.id)
        if call is None:
            return False
        while cursor.node is not None and cursor.node.id != call.id:
            self.steps += 1
            if self.spent() or not cursor.goto_parent():
                return False
        return cursor.node is not None

    def _parameters(self, function: Node) -> set[str]:
        parameters = _field(function, "parameters") or _field(function, "parameter")
        if parameters is None:
            return set()
        self.steps += parameters.end_byte - parameters.start_byte  # a bound on its nodes
        return _bound_names(parameters, self.source)

    def _scope(self, statements: Node) -> _Scope:
        """The statement list's facts (see _Scope), walked once and kept."""
        known = self._scopes.get(statements.id)
        if known is not None:
            return known
        starts: list[int] = []
        first_exit: int | None = None
        binds: set[str] = set()
        for index, statement in enumerate(statements.named_children):
            starts.append(statement.start_byte)
            cursor = statement.walk()
            while not self.spent():
                self.steps += 1
                node = cursor.node
                kind = node.type if node is not None else ""
                if kind in _EXITS and first_exit is None:
                    first_exit = index
                if node is not None and kind in ("variable_declarator", "function_declaration",
                                                 "generator_function_declaration",
                                                 "class_declaration", "import_statement",
                                                 "catch_clause"):
                    target = (node if kind == "import_statement"
                              else _field(node, "name") or _field(node, "parameter"))
                    if target is not None:
                        binds |= _bound_names(target, self.source)
                if node is not None and kind in ("assignment_expression",
                                                 "augmented_assignment_expression"):
                    left = _field(node, "left")
                    name = _text(left, self.source)
                    if left is not None and left.type == "identifier" and name in _WINDOW_NAMES:
                        binds.add(name)  # `self = {...}`: not the window any more
                if (kind in _LATER or not cursor.goto_first_child()) and not _next_outside(
                        cursor):
                    break
        scope = _Scope(starts, first_exit, frozenset(binds))
        self._scopes[statements.id] = scope
        return scope

    def _called_at_once(self, cursor: TreeCursor) -> bool:
        """Whether the function at the cursor is called where it is written (the cursor left
        on the call)."""
        field = cursor.field_name
        while cursor.goto_parent() and cursor.node is not None:
            self.steps += 1
            kind = cursor.node.type
            if kind == "parenthesized_expression":
                field = cursor.field_name
                continue
            if kind == "call_expression":
                return field == "function"
            if (kind == "member_expression" and field == "object"
                    and _text(_field(cursor.node, "property"), self.source) in ("call",
                                                                                 "apply")):
                field = cursor.field_name
                return (cursor.goto_parent() and cursor.node is not None
                        and cursor.node.type == "call_expression" and field == "function")
            return False
        return False


# The few scripts last read, and their navigations: a page's forward, its script targets and
# the chain's analysis each ask for them.
_RECENT: OrderedDict[str, tuple[_Navigation, ...]] = OrderedDict()
_RECENT_SIZE = 4


def _script_navigations(script: str, deadline: float) -> tuple[_Navigation, ...]:
    """The navigations of one script, at most MAX_NAVIGATIONS + 1 (the last one marks the
    cut); a cut alone where it is not parsed by `deadline`."""
    known = _RECENT.get(script)
    if known is None:
        known = _read_script(script, deadline)
        _RECENT[script] = known
        if len(_RECENT) > _RECENT_SIZE:
            _RECENT.popitem(last=False)
    return known


def _read_script(script: str, deadline: float, depth: int = 0) -> tuple[_Navigation, ...]:
    if "location" not in script:
        return ()
    source = script.encode("utf-8", "replace")
    candidates = _CANDIDATE.finditer(source)
    first = next(candidates, None)
    if first is None:
        return ()
    tree = _parse(source, deadline)
    if tree is None:
        return (_CUT,)
    reader = _TreeReader(tree.root_node, source)
    found: list[_Navigation] = []
    for candidate in itertools.chain((first,), candidates):
        navigation = reader.navigation_at(candidate.start())
        if reader.spent():
            found.append(_CUT)
            break
        if navigation is None:
            continue
        if len(found) >= MAX_NAVIGATIONS:
            found.append(_CUT)
            break
        found.append(navigation)
    if any(navigation.on_load for navigation in found) and not compiles(script):
        found = [replace(navigation, on_load=False) for navigation in found]
    if _CUT not in found:
        found += _in_timer_strings(reader, tree.root_node, source, deadline, depth)
    return tuple(found)


# A timer given a string (`setTimeout("location.href='…'", 5000)`, old countdown pages'
# form): the string is a script, run when the timer fires.
_TIMER = re.compile(rb"\bset(?:Timeout|Interval)\b")
_TIMERS = ("setTimeout", "setInterval")
# The calls that may be a timer's: `setTimeout(…)`, `x.setTimeout(…)`, `setTimeout.call(…)`,
# and a callee in parentheses (`(0, setTimeout)(…)`), each checked by _timer_code_of.
_TIMER_CALLS = """
(call_expression function: (identifier) @name (#any-of? @name "setTimeout" "setInterval")) @call
(call_expression function: (member_expression property: (property_identifier) @name)
 (#any-of? @name "setTimeout" "setInterval" "call" "apply")) @call
(call_expression function: (parenthesized_expression)) @call
"""
_WRITES_CODE = frozenset({"string", "template_string", "binary_expression", "identifier",
                          "parenthesized_expression", "call_expression", "member_expression",
                          "subscript_expression", "ternary_expression"})
# Timers looked at in one script, and strings within strings read as code: past them a
# timer's code is taken to lead anywhere (a string read as code is read again at each level
# it nests).
MAX_TIMERS = 256
MAX_TIMER_DEPTH = 3


def _in_timer_strings(reader: _TreeReader, root: Node, source: bytes, deadline: float,
                      depth: int) -> list[_Navigation]:
    """The navigations of the code given to timers as a string, none on load (a timer fires
    once the page is parsed, as its function form's do): review 168's countdown pages,
    written this way, read as blocks with no way on where Chromium went on to the target.
    The timer called as `setTimeout(…)`, `window.setTimeout(…)`, `(0, setTimeout)(…)`,
    `setTimeout?.(…)`, `setTimeout.call(w, …)` or `.apply(w, […])` (review 171); its code a
    string or template, or a name given a string in the script; code made otherwise that
    speaks of `location` may navigate anywhere."""
    found: list[_Navigation] = []
    # (only timers counted: review 173, a library's other calls counted cut the page)
    for timers, (call, code) in enumerate(reader.timer_calls(), 1):
        if timers > MAX_TIMERS or time.monotonic() > deadline:
            return [*found, _CUT]
        if code is None or code.type not in _WRITES_CODE:
            continue
        written = _literal(code, source) if code.type in ("string", "template_string") else (
            _string_named(code, root, source) if code.type == "identifier" else None)
        if written is None:
            if "location" in _unescape_js(_text(code, source)):
                found.append(_Navigation(None, False, None, code.end_byte,
                                         timer=reader.set_on_load(call)))
            continue
        if "location" not in written:
            if "location" in _unescape_js(written):  # `loc\u0061tion` once the string runs
                found.append(_Navigation(None, False, None, code.end_byte,
                                         timer=reader.set_on_load(call)))
            continue
        timer = reader.set_on_load(call)
        if depth >= MAX_TIMER_DEPTH:
            found.append(_Navigation(None, False, None, code.end_byte, timer=timer))
            continue
        for navigation in _read_script(written, deadline, depth + 1):
            if navigation is _CUT:
                return [_CUT]
            found.append(replace(navigation, on_load=False, end=code.end_byte,
                                 timer=timer and (navigation.on_load or navigation.timer)))
        if len(found) >= MAX_NAVIGATIONS:
            return [*found, _CUT]
    return found


def _bare(node: Node | None) -> Node | None:
    """What parentheses and a comma list's last item hold: `(0, setTimeout)` is setTimeout."""
    while node is not None and node.type in ("parenthesized_expression",
                                             "sequence_expression"):
        inner = [child for child in node.named_children if child.type != "comment"]
        node = inner[-1] if inner else None
    return node


def _timer_code_of(call: Node, source: bytes) -> Node | Literal[False] | None:
    """What a call of a timer gives it to run (None: nothing), read from the call down;
    False where the call is no timer's."""
    callee = _bare(_field(call, "function"))
    shift = 0
    if callee is not None and callee.type == "member_expression" and _text(
            _field(callee, "property"), source) in ("call", "apply"):
        shift = 1 if _text(_field(callee, "property"), source) == "call" else 2
        callee = _bare(_field(callee, "object"))
    if callee is not None and callee.type == "member_expression":  # window.setTimeout
        callee = _field(callee, "property")
    if callee is None or callee.type not in ("identifier", "property_identifier") or _text(
            callee, source) not in _TIMERS:
        return False
    arguments = _field(call, "arguments")
    given = [child for child in arguments.named_children
             if child.type != "comment"] if arguments is not None else []
    if shift == 2:  # .apply(this, [code, delay])
        listed = given[1] if len(given) > 1 else None
        given = ([child for child in listed.named_children if child.type != "comment"]
                 if listed is not None and listed.type == "array" else [])
    elif shift == 1:
        given = given[1:]
    code = given[0] if given else None
    while code is not None and code.type == "parenthesized_expression":
        inner = [child for child in code.named_children if child.type != "comment"]
        code = inner[-1] if inner else None
    return code


def _string_named(name: Node, root: Node, source: bytes) -> str | None:
    """The string a name is given in the script (`var c = "…"; setTimeout(c, 0)`), where it
    is given one only (review 173: the first written, in a comment, another scope or before
    a reassignment, was taken)."""
    wanted = _text(name, source)
    given = {value for written, value in jstree.named_strings(root, source)
             if written == wanted}
    return given.pop() if len(given) == 1 else None


def _navigations(page: Page) -> Iterator[_Navigation]:
    return (navigation for _, navigation in _located(page))


def _located(page: Page) -> list[tuple[int, _Navigation]]:
    """The navigations of the page's scripts in their order, each with the index of its
    script in page.runnable_scripts, read once a page (review 172: a page's reading asked five
    times, each a deadline where a script could not be parsed). Their parsing shares one
    deadline (PARSE_SECONDS + PARSE_SECONDS_PER_MB of the scripts read): a thousand scripts
    that each keep the parser busy must not hold the page a thousand times as long."""
    if page.navigations is None:
        page.navigations = list(_read_located(page))
    return page.navigations  # type: ignore[return-value]


def _read_located(page: Page) -> Iterator[tuple[int, _Navigation]]:
    found, read = 0, 0
    scripts = [(index, script) for index, script in enumerate(page.runnable_scripts)
               if "location" in script]
    size = sum(len(script) for _, script in scripts)
    deadline = time.monotonic() + PARSE_SECONDS + PARSE_SECONDS_PER_MB * min(
        size, MAX_SCRIPT_CHARS) / 1e6
    runs: list[bool] | None = None
    for index, script in scripts:
        read += len(script)
        if read > MAX_SCRIPT_CHARS:
            yield index, _CUT
            return
        navigations = _script_navigations(script, deadline)
        if any(navigation.on_load for navigation in navigations):
            if runs is None:
                runs = _declared_runs(page, scripts[-1][0])
            if not runs[index]:
                # The script's declarations clash with the window's or an earlier script's:
                # a browser drops it whole (declarations.py).
                navigations = tuple(replace(navigation, on_load=False)
                                    for navigation in navigations)
        for navigation in navigations:
            found += 1
            if found > MAX_NAVIGATIONS:
                yield index, _CUT
                return
            yield index, navigation


def _declared_runs(page: Page, last: int) -> list[bool]:
    """declarations.runs_all for the page's runnable scripts up to `last`, within a budget
    of their own (all of them: a script's declarations count whatever it says)."""
    scripts = page.runnable_scripts[:last + 1]
    size = sum(len(script) for script in scripts)
    deadline = time.monotonic() + PARSE_SECONDS + PARSE_SECONDS_PER_MB * min(
        size, MAX_SCRIPT_CHARS) / 1e6
    return declarations.runs_all(scripts, page.module_scripts, deadline)


def js_location(page: Page) -> str | None:
    """The target, as written, of where the page's scripts navigate on load: their last
    navigation on load, as in a browser, where each one cancels the one before it. None where
    a browser may end up elsewhere: that navigation's target is not written out, a script
    could not be read to its end, a navigation of the page not made on load (conditional, in
    a handler, a timer or a function called later) leads elsewhere, or something after it
    may cancel it (_MAY_CANCEL, _NAVIGATION_API)."""
    found = _js_navigation(page)
    return found[0] if found is not None else None


# A modal dialog (alert, confirm, prompt, print): the page stays until a person answers it,
# reading its words, also where the script opens it after its navigation (Chromium commits
# the navigation only once the dialog is answered). Looked for in the text of the scripts up
# to the navigating one, whole: the names as words (called through an alias, `.call`, `?.(`,
# a tagged template, `window['alert']`: each read as open when only `alert(` was looked for,
# a review), and letters written as escapes (`\u0061lert`, `'\x61lert'`, `'\141lert'`). One
# in a string or a handler holds back a forward that is made at once (read by its words and
# structure instead), never the other way round. A name computed at run time
# (`window['al' + 'ert']`) is not seen.
# JavaScript's white space and line ends, in UTF-8: ASCII's, no-break spaces, the BOM, and
# Unicode's spaces and separators (`alert\u00a0(...)` is a call).
_JS_SPACE = (rb"(?:\s|\xc2\xa0|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]|\xe2\x81\x9f"
             rb"|\xe3\x80\x80|\xef\xbb\xbf)")
_DIALOG = re.compile(
    # A name as a word that is called, referred to or quoted: followed by a call, a template,
    # a member, an operator, a closing bracket, a separator or a quote (not a class name's
    # word: "alert alert-info").
    rb"(?<![\w$-])(?:alert|confirm|prompt|print)(?=" + _JS_SPACE + rb"*(?:[(`.?)\],;:'\"/=|&}]"
    rb"|<!--|$))"
    # After a minus (`-alert(...)`), but not a hyphenated word in a string ('btn-confirm').
    rb"|(?<=-)(?:alert|confirm|prompt|print)(?=" + _JS_SPACE + rb"*(?:[(`.?)\],;:/=|&}]|<!--|$))"
    # A letter written as an escape (\u0061, \u{61}, \x61, \141), not an escaped backslash
    # nor the control characters of a URL sanitiser's class (`[\u0000-\u001f\u007f]`).
    rb"|(?<!\\)\\(?:u00|x|u\{0*)(?:4[1-9a-fA-F]|5[0-9aA]|6[1-9a-fA-F]|7[0-9aA])"
    rb"|(?<!\\)\\1(?:0[1-7]|[12][0-7]|3[0-2]|4[1-7]|[56][0-7]|7[0-2])")


# Whether a script's URL is the page's platform's own (its company's declared domains: a
# platform's static scripts are served from hosts of their own, sinaimg.cn for weibo.com).
OwnScript = Callable[[str], bool]


def _js_navigation(page: Page, own_script: OwnScript | None = None
                   ) -> tuple[str, bool, int] | None:
    """js_location's target, whether a dialog may come before it (_DIALOG, or a script of
    the page's own site or platform: _held_by_scripts), and its script's index in
    page.runnable_scripts."""
    located = list(_located(page))
    on_load = [(index, navigation) for index, navigation in located if navigation.on_load]
    if not on_load or any(navigation is _CUT for _, navigation in located):
        return None
    where, last = on_load[-1]
    if not last.literal or any(not n.on_load and n.literal != last.literal for _, n in located):
        return None
    scripts = page.runnable_scripts
    if any(_writes_away(script) for script in scripts[:where + 1]):
        return None
    after = [scripts[where].encode("utf-8", "replace")[last.end:],
             *(script.encode("utf-8", "replace") for script in scripts[where + 1:])]
    if (any(_MAY_CANCEL.search(text) for text in after)
            or any(_NAVIGATION_API.search(script) for script in scripts)
            or _page_halts(page)):
        return None
    # A script loaded from elsewhere before the navigating one runs first, and may open a
    # dialog (a shared `leave.js` asking "即将离开…是否继续？") that hulian cannot read: a
    # wrapper's forward after one read as the link open (a review). Held, as a dialog is.
    external = (where < len(page.external_before) and page.external_before[where]) or (
        own_script is not None and any(own_script(src) for position, src
                                       in page.blocking_scripts if position <= where))
    return last.literal, external or any(_DIALOG.search(script.encode("utf-8", "replace"))
                                         for script in scripts[:where + 1]), where



# Ways a script navigates other than through `location`: opening a window in the page's
# place (`open(url, '_self')`, `(0, open)(…)`, `open.call(…)`, `window['open']`: the window's
# own `open`, not an XHR's or a database's), submitting a form (`.submit()`,
# `.submit.call(f)`, `['submit']()`), clicking a link (`.click()` with no handler given:
# jQuery's `.click(function…)` binds one), the Navigation API's navigations (not
# `performance.navigation.type`), and writing the document (a `<meta http-equiv=refresh>` or a
# script may be in what is written). Wider, every page logging through `xhr.open` read as
# possibly leading on; narrower, the forms above read as a block with no way on (two
# reviews).
_OTHER_NAVIGATION = re.compile(
    r"(?:^|[^.\w$])open\s*[(.)]|\b(?:window|self|top|parent|globalThis)\s*\.\s*open\s*\("
    r"|\[\s*['\"](?:open|submit|requestSubmit|click)['\"]\s*\]"
    r"|\.\s*(?:request)?[sS]ubmit\s*[(.]|\.click\s*\(\s*\)"
    r"|\bnavigation\s*\.\s*(?:navigate|reload|traverseTo|back|forward)\b"
    r"|\bdocument\s*\.\s*write(?:ln)?\s*\(")


# A handler's plain navigation: `location = '…'`, `location.href = "…"`, `location.replace('…')`.
_HANDLER_LOCATION = re.compile(
    r"location\s*(?:\.\s*href\s*)?=\s*(['\"])([^'\"]*)\1(?!\s*[+\w.\[(])"
    r"|location\s*\.\s*(?:replace|assign)\s*\(\s*(['\"])([^'\"]*)\3\s*\)")


# What in a tap's handler keeps the tap from simply following the link. Cancelling it
# (`preventDefault`, `return false`, `returnValue`, another listener's turn taken away), in a
# handler of the click or the touch (a press's, a pointer's or a focus's default is no
# navigation: `<body onmousedown="return false">`, an old page's guard against copying, left
# every link open in Chromium and read as held: a review).
_TAP_CANCELS = re.compile(
    r"preventDefault|\breturn\s*\(?\s*(?:false\b|!\s*(?:1\b|true\b))|returnValue"
    r"|stopImmediatePropagation")
_CANCELLING_HANDLERS = frozenset({"onclick", "onauxclick", "ontouchstart", "ontouchend"})
# In any of them: the link's address rewritten as it is pressed (`this.href = …`,
# `this.hostname = …`, `setAttribute('href', …)`: a search engine's click tracking), a
# navigation of its own (an assignment to `location` or a part of it,
# `location.assign/replace(…)`, _OTHER_NAVIGATION), or a dialog called (_HANDLER_DIALOG).
# Reading `location` (an analytics call logging `location.href`) and a dialog's name as a word
# (`_trackEvent, 'print'`) are not: read so, every link of a page whose container logs its
# clicks went to review (a review). A handler that returns a function's answer (`return
# leave(this)`) is read as letting the tap through: the idiom is also analytics' (`return
# c({...})` on Baidu's results), and what the function returns is not read.
_TAP_REDIRECTS = re.compile(
    r"\.\s*(?:href|host|hostname|pathname|search|protocol|port)\s*=(?!=)"
    r"|setAttribute\s*\(\s*['\"]href['\"]"
    r"|\blocation\s*=(?!=)|\blocation\s*\.\s*(?:assign|replace)\s*\(")
# A dialog called in a handler: its name and a call (`confirm(`, `window.confirm (`,
# `alert.call(`, a tagged template).
_HANDLER_DIALOG = re.compile(
    r"(?<![\w$])(?:alert|confirm|prompt|print)\s*(?:\(|`|\.\s*(?:call|apply)\b)")


def tap_intercepted(anchor: Anchor) -> bool:
    """Whether a tap on a link may do something other than follow its address: no tap
    reaches it as the page is read (`inert`, `pointer-events: none`, which a style sheet or
    a script may undo: a countdown's greyed-out continue link), or a handler it runs (on the
    link or an element around it) may open a dialog, cancel the tap or navigate elsewhere.
    hulian runs neither: such a link's href, followed, shows where the address leads, not
    what a reader who taps it meets (a platform can put its leave warning or its
    copy-the-link notice in the page itself: a review)."""
    return anchor.untappable or any(
        (event in _CANCELLING_HANDLERS and _TAP_CANCELS.search(code))
        or _TAP_REDIRECTS.search(code) or _OTHER_NAVIGATION.search(code)
        or _HANDLER_DIALOG.search(code) for event, code in anchor.tap_handlers)


def _handler_targets(page: Page) -> list[str | None]:
    """Where the page's event handler attributes navigate (`<body onload=…>`, the classic
    auto-posting page, read as a block with no way on: a review): a plain navigation's
    written target, None for any other navigation or location use (it may be anywhere)."""
    targets: list[str | None] = []
    for handler in page.handlers:
        if _OTHER_NAVIGATION.search(handler):
            targets.append(None)
        if "location" not in handler:
            continue
        plain = list(_HANDLER_LOCATION.finditer(handler))
        if len(plain) != handler.count("location"):
            targets.append(None)
        for match in plain:
            url = resolve(page.base_url, match.group(2) if match.group(1) else match.group(4))
            if url is not None:
                targets.append(url)
    return targets


def script_targets(page: Page) -> list[str | None]:
    """Where the page's scripts navigate, on load or not (a handler, a condition, a timer):
    each target made absolute, None where it is not a string literal (it may be anywhere);
    for a target built from a written start that names its host, that start.
    Targets that lead nowhere (`#`, `javascript:`, a relative one on a page without its URL)
    are left out. A script that may navigate in another way (_OTHER_NAVIGATION) adds a None:
    an endpoint page that submitted a form to the target, or opened it in its own window, on
    load read as a block with no way on (a review)."""
    targets: list[str | None] = []
    if any(_OTHER_NAVIGATION.search(script) for script in page.runnable_scripts):
        targets.append(None)
    targets += _handler_targets(page)
    for navigation in _navigations(page):
        written = navigation.literal if navigation.literal is not None else navigation.start
        if written is None:
            targets.append(None)
        elif (url := resolve(page.base_url, written)) is not None:
            targets.append(url)
    return targets


def script_leads(page: Page) -> list[str]:
    """Where the page's scripts take the reader by themselves: their navigations made on
    load or when a timer set on load fires (a countdown's), each target made absolute where
    it is written out (or its written start). Not a navigation in a handler, a condition, a
    function nothing calls, or a script that does not run (review 171: dead code pointing at
    the target kept a diversion from being read as one)."""
    leads = []
    for navigation in _navigations(page):
        written = navigation.literal if navigation.literal is not None else navigation.start
        if (navigation.on_load or navigation.timer) and written is not None and (
                url := resolve(page.base_url, written)) is not None:
            leads.append(url)
    return leads


# What a script does before a refresh comes that sends the page elsewhere or keeps it where
# it is: a navigation other than by `location` (_OTHER_NAVIGATION), stopping the load
# (`window.stop()`, which cancels the refresh; not an animation's `$(el).stop()`), a click
# dispatched as an event, code made as it runs. With the refresh to the target and a
# script that stopped the page, submitted a form or clicked a link to a block page, the
# refresh was followed: `wrapped` (a review).
_PREEMPTS_REFRESH = re.compile(
    r"(?:^|[^.\w$])stop\s*[(.]|\b(?:window|self|top|parent|globalThis)\s*\.\s*stop\s*[(.]"
    # a refresh a script makes (a new `<meta http-equiv>`): review 136
    r"|http-?equiv|httpEquiv"
    r"|\[\s*['\"]stop['\"]\s*\]|\beval\s*\(|\bFunction\s*\((?!\s*(['\"])return this\1\s*\))"
    # an event dispatched, but one whose kind is written whole and is no click
    # (`new Event('resize')`; not `'cl'+'ick'`, review 132)
    r"|dispatchEvent\s*\((?!\s*new\s+\w*Event\s*\(\s*(['\"])(?!(?:aux)?click\2|submit\2)"
    r"[\w-]+\2\s*[,)])")
# Of _OTHER_NAVIGATION's matches, one that navigates nothing before a refresh: binding a
# handler to a form's submit, jQuery's `.submit(function…)` (review 131: it sent a refresh to
# the target to review); a function given, which the native `submit(x)` is not given
# (`f.submit(0)` and `f.submit(f)` submit: review 132). Writes are _writes_away's.
# jQuery's receiver just before the `.submit`: a native form's `submit(function…)` submits
# (review 133).
_JQUERY_RECEIVER = re.compile(r"(?:\$|\bjQuery)\s*\([^()]*\)\s*\Z")
_BINDS_SUBMIT = re.compile(
    r"\.\s*submit\s*\(\s*(?:function\b|async\b|\([^()]*\)\s*=>|[\w$]+\s*=>)")


def _navigates_otherwise(text: str) -> bool:
    """Whether a script may navigate other than by `location` (_OTHER_NAVIGATION), leaving
    out what does not (_BINDS_SUBMIT; writes are read once, by _writes_away)."""
    for match in _OTHER_NAVIGATION.finditer(text):
        found = match.group(0)
        if "write" in found:
            continue
        dot = match.start() + max(found.find("."), 0)
        if not (_BINDS_SUBMIT.match(text, dot)
                and _JQUERY_RECEIVER.search(text, max(0, dot - 200), dot)):
            return True
    return _writes_away(text, after_parse=True)


# A reload (which starts the refresh over; not the bfcache idiom, a `pageshow` listener's
# `if (e.persisted) location.reload()`, which does not run on a first load: review 137), and a
# `content` set on an element (`m.content = …`, `m['content'] = …`, `setAttribute('Content',
# …)`) by a script that speaks of a refresh or a URL (a viewport's `setAttribute('content',
# …)` in every flexible.js, or a toast's text, held real wrappers' refreshes: review 137).
_RELOAD = re.compile(r"(?<!function)(?<!function )\breload\s*\((?![^()]*\)\s*\{)")
# The bfcache idiom just before a reload: a `pageshow` event's `.persisted`
# (`if (e.persisted || …) location.reload()`), or a flag set on `pagehide` (`isPageHide`);
# not the word as a variable's name (review 138), nor any reload (review 139: each variant
# of the idiom held real wrappers' forwards).
_BFCACHE_GUARD = re.compile(r"\.\s*persisted\b|isPageHide|pagehide")
_SETS_CONTENT = re.compile(
    r"\.\s*content\s*=(?!=)|\[\s*['\"]content['\"]\s*\]\s*=(?!=)"
    r"|setAttribute(?:NS\s*\([^,()]*,|\s*\()\s*['\"](?:content|http-equiv)['\"]\s*,"
    r"|attributes\s*\.\s*content\s*\.\s*value\s*=(?!=)"
    r"|getAttributeNode\s*\(\s*['\"]content['\"]\s*\)\s*\.\s*value\s*=(?!=)"
    r"|Object\s*\.\s*assign\s*\([^{}]{0,200}\{[^}]{0,200}\bcontent\s*:", re.IGNORECASE)
# A value that cannot be a refresh's: a quoted string that starts with no digit, no space
# and no escape (a refresh's content is its delay first): 'initial-scale=1, …', 'ok'. Not a
# template literal (`${s};url=…`: review 139).
_NO_REFRESH_VALUE = re.compile(r"\s*(['\"])(?:\1|[^\d.\s'\"\\])")
# Whether the script speaks of a `<meta>` element at all: a `content` set from a value that
# is not a string (`item.content = data.content`, a component's `this.content = …`) is read
# as a refresh's only then (review 139).
_SPEAKS_OF_META = re.compile(r"\bmeta\b", re.IGNORECASE)


def _remakes_refresh(script: str) -> bool:
    """Whether the script may reload the page (not a function of that name being defined,
    nor in the bfcache idiom, _BFCACHE_GUARD, within 200 characters before it) or set a
    `content` (an element's, its attribute's, in `Object.assign`) to what may be a refresh's:
    any value but a quoted string that starts with no digit, and a value that is no string
    only in a script that speaks of a `<meta>`. Review 137 found a viewport's and a toast's
    content holding real wrappers' forwards; review 138 found the first rule for them (a
    script speaking of a refresh or a URL) reading `content = '0;/notice'` as nothing, review
    139 the forms of setting it that were missed."""
    for count, found in enumerate(_RELOAD.finditer(script)):
        if count >= MAX_WRITES or not _BFCACHE_GUARD.search(
                script, max(0, found.start() - 200), found.start()):
            return True
    meta = None
    for count, found in enumerate(_SETS_CONTENT.finditer(script)):
        if count >= MAX_WRITES:
            return True
        value = script[found.end():found.end() + 2].lstrip()
        if value[:1] in ("'", '"'):
            if not _NO_REFRESH_VALUE.match(script, found.end()):
                return True
            continue
        if meta is None:
            meta = bool(_SPEAKS_OF_META.search(script))
        if meta or found.group(0).lower().startswith(("setattribute", "attributes",
                                                       "getattributenode")):
            return True
    return False


def _preempts_refresh(page: Page, refresh: str) -> bool:
    """Whether the page's scripts or event handlers may, before its refresh (to `refresh`, as
    written) comes, navigate elsewhere or stop it: _OTHER_NAVIGATION, _PREEMPTS_REFRESH, or
    a navigation by `location` that is not made on load (a timer's, a condition's) to
    anywhere but the refresh's own target."""
    code = [*page.runnable_scripts, *page.handlers]
    if any(_PREEMPTS_REFRESH.search(text) or _navigates_otherwise(text) for text in code):
        return True
    if _page_halts(page) or any(_remakes_refresh(text) for text in (
            *page.runnable_scripts, *page.unprompted_handlers)):
        return True
    own = resolve(page.base_url, refresh)
    elsewhere = [None if navigation.literal is None else resolve(page.base_url,
                                                                  navigation.literal)
                 for navigation in _navigations(page) if not navigation.on_load]
    return any(target is None or target != own
               for target in [*elsewhere, *_handler_targets(page)])


def page_forward(page: Page, own_script: OwnScript | None = None) -> Forward | None:
    """Where the page sends its reader without any action (see the module docstring).
    `own_script`: which scripts from other sites are the page's platform's own (they may
    hold the forward as one of its own site does)."""
    if page.parse_issue in ("xml_entities", "encoding_unsure"):
        # Its own entities, not expanded, may hold a dialog or another forward; or browsers
        # may read its scripts' bytes otherwise than hulian (decode.Decoded.unsure).
        return None
    script = _js_navigation(page, own_script)
    if script is not None and script[0]:
        # A script's navigation on load goes before any refresh: a browser starts a refresh's
        # timer only once the page has loaded (a page with a refresh to the target and a
        # script to a block page shows the block page: an adversarial review). After a
        # dialog it waits for a person, who reads it first: `alert('您即将离开…请注意安全')`
        # before the navigation read as a redirect, and the warning as an open link (a
        # review).
        script_target, after_dialog, where = script
        url = resolve(page.forward_base(where), script_target)
        # A frame's script of the page's origin may navigate the page or stop it first.
        return Forward(url, "js", after_dialog or page.frames_script) if url else None
    refresh = page.meta_refresh
    navigates_on_load = any(n.on_load for n in _navigations(page))
    if refresh and navigates_on_load != page.meta_refresh_in_noscript:
        # A script navigates on load where it does not write out: a live refresh is never
        # reached, and no refresh at all is a guess. A <noscript> one is the page's own
        # account of where the script goes; without such a script, it is inert.
        refresh = None
    if refresh:
        url = resolve(page.forward_base(), refresh)
        if url:
            # A refresh waits for `load`: a dialog any of the page's scripts opens, or a script
            # of its own site (which may open one), comes first (a leave.js before a refresh
            # read as the link open: a review), and so does whatever else they do
            # (_preempts_refresh).
            held = (page.blocking_external
                    or (own_script is not None
                        and any(own_script(src) for _, src in page.blocking_scripts))
                    or any(_DIALOG.search(script.encode("utf-8", "replace"))
                           for script in page.runnable_scripts)
                    or page.frames_script
                    or _preempts_refresh(page, refresh))
            return Forward(url, "meta_refresh",
                           page.meta_refresh_delay > IMMEDIATE_SECONDS or held)
    return None
