"""Whether a script keeps the page from leaving: it closes the window (a link opened in a tab of
its own), or reopens the document once the page is parsed (the page stays, blank). Read from
tree-sitter's syntax tree with the names each scope gives the window and the document, not
from the script's text: four rounds of review each found a form that patterns over the text
missed (`window['close']()`, `close.bind(window)()`, a timer's string, an alias's `d.open()`)
or held where nothing closes (a socket's `ws.close()`, a `close(){}` method, a popup's
`.open()`, a close in a string of markup); two more (142, 145) found the same of this reading.

What counts as the window's `close`: `close` where nothing in the script binds that name, a
window name's (`window`, `self`, `top`, `parent`, `frames`, `globalThis`,
`document.defaultView`, an element's `ownerDocument.defaultView`) or an alias's (`var w =
window`, bound before or after its use; a parameter of a function called at once with the
window, or named `window`; `this` at the script's top level, in functions called at once, in
a timer's, a window's listener's or handler's function), through `[...]` with a string,
parentheses, `(0, close)`, either side of `||`, `&&`, `??` and `?:`, and `await`; called,
through `.call`/`.apply`/`.bind`, or taken as a value (handed to a timer or a listener, kept
in an array, an object or a variable, returned), not merely tested (`if (window.close)`).
The document's `open` likewise, through `document`, `window.document`, `ownerDocument` or an
alias, where it runs once the page is parsed: in a function not called at once nor given to a
microtask that runs while the parser waits (`Promise.resolve().then`, `queueMicrotask`), an
async function or a generator, a timer's string, a module or a handler; not at a classic
script's top level or in a function called there (HTML: a parser-inserted script's
`document.open()` does nothing). `let`, `const`, `class` and a block's function bind in their
block. In an element's handler attribute, a bare `close` and `open` are the document's. A
function given to a listener of an event only a person makes (`click`, a key, a touch) or set
as such a handler (`el.onclick = function…`) is not read, as a `<button onclick>` is not,
unless a script of the page fires that event itself (audit.web.events) or this one calls a
method named at run time. `.call(this)`, `.apply(this)` and `.bind(this)` inside a function give
the caller's `this`, a listener on anything but the window and an array method's second argument
their own (review 153). Not seen: a name
computed at run time (`window[key]()`), a window or document returned by a call, kept on an
object's property or taken from a loop or an array method (README, "Forwards").
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from audit.judge.jstree import Node, children, field, literal, name_of, parse, unescape
from audit.web import events

# No name or key of interest is longer: longer ones are not un-escaped (review 145: 500 KB of
# `\x41` in a key, read on every visit, ran a reading three times past its deadline).
_LONGEST_NAME = 64

# Where the script holds none of these, nothing in it closes or reopens (`\u`: an escaped
# name, `\x`: an escaped string key).
_MAY_HALT = re.compile(r"close|open|\\[ux]")
# Where tree-sitter cannot read the script whole: what a browser may run is not known; the
# names alone hold the page.
_NAMES = re.compile(r"\bclose\b|\bopen\b")

_WINDOW_NAMES = frozenset({"window", "self", "top", "parent", "frames", "globalThis"})
# A parameter named so is read as the window or the document whatever it is given (a UMD
# factory's `function (window, document) {...}`): held where it is something else.
_KEPT_NAMES = _WINDOW_NAMES | {"document"}
_FUNCTIONS = frozenset({"function_declaration", "function_expression", "arrow_function",
                        "generator_function_declaration", "generator_function",
                        "method_definition"})
_TIMERS = frozenset({"setTimeout", "setInterval"})
_CODE = frozenset({"eval", "Function"})
# Functions given to these run before the parser goes on (a microtask), not once it is done.
_MICROTASKS = frozenset({"then", "catch", "finally", "queueMicrotask"})
# A method named at run time may fire any event (review 145: `el['cl'+'ick']()` fired a click
# listener that closed the window); a key that can only be one of these strings fires no event.
_FIRES = frozenset({"click", "dispatchEvent", "requestSubmit", "execCommand", "submit",
                    "reset", "select", "focus", "blur", "trigger", "triggerHandler"})
# What may call a function by a name made at run time: a call of a computed member
# (`window[name]()`), `eval`, `Function`. (Not seen: a computed member kept and called later,
# a timer given a string made at run time.) Names written in escapes are read by the count
# (`\u0063loseWin()`, `ferm\u00e9()`: reviews 158, 162).
NAMED_AT_RUN_TIME = re.compile(r"\]\s*\(|\beval\b|\bFunction\s*\(")
# The same calls written in escapes (`\u0065val(…)`, review 165), looked for once escapes are
# read; and a timer's string holding an escape that is read only when the string runs
# (`setTimeout('\\u0063loseWin()')`, review 165). Not an escape left in any other string:
# JSON escaped twice, CSS escapes and regular expressions' sources are data (review 166).
_ESCAPED_CODE = re.compile(r"\beval\b|\bFunction\s*\(")
_ESCAPED_IN_TIMER = re.compile(
    r"\b(?:setTimeout|setInterval)\s*\(\s*['\"`][^'\"`\n]{0,4096}?\\\\(?:u|x|[0-7])")


def named_at_run_time(texts: tuple[str, ...]) -> bool:
    """Whether code of the page may call a function by a name it makes at run time."""
    return any(NAMED_AT_RUN_TIME.search(text) or _ESCAPED_IN_TIMER.search(text)
               or ("\\" in text and _ESCAPED_CODE.search(unescape(text))) for text in texts)
# A name as the count reads it: ASCII letters, digits, `_` and `$`, and any character past
# ASCII but spaces (review 158: `关闭窗口()` and a name with a combining mark were not counted).
_IDENTIFIER = re.compile(r"(?:[A-Za-z0-9_$]|[^\x00-\x7f\s\ufeff])+")  # U+FEFF: JS's space
# What loads a script at run time: a `<script>` made by a script, an import, a worker's
# (review 161: the YouTube snippet inserts the script that calls onYouTubeIframeAPIReady).
LOADS_SCRIPTS = re.compile(
    r"createElement\s*\(\s*['\"`]script|importScripts"
    r"|\bimport\s*(?:\(|['\"`{*]|[\w$]+\s*(?:,|from\b))"
    # the analytics snippets' `o.async = 1` (GA, GTM, the pixel: `createElement(o)`, review 162)
    r"|\.async\s*=\s*(?:1|!0|true)\b")
# Set in mentions' answer where the page loads scripts: its global functions may be called by
# them by a name it never writes.
GLOBALS_CALLED = " globals called"


def mentions(texts: tuple[str, ...], *, globals_called: bool = False) -> dict[str, int]:
    """How often each name is written in `texts` (in code, strings and comments alike);
    `globals_called`: the page loads scripts, which may call its global functions."""
    counts: dict[str, int] = {}
    for text in texts:
        for name in _IDENTIFIER.findall(unescape(text)):
            counts[name] = counts.get(name, 0) + 1
    if globals_called:
        counts[GLOBALS_CALLED] = 1
    return counts


# Array methods whose second argument is their function's `this`.
_THIS_ARG_CALLERS = frozenset({"forEach", "map", "filter", "some", "every", "find"})
# Functions given to these run later, as the window's (`this` is the window in them).
_LATER_CALLERS = frozenset({"setTimeout", "setInterval", "requestAnimationFrame",
                            "requestIdleCallback", "addEventListener"})
# Callers that call what they are given with no `this` (sloppy mode: the window's).
_NO_THIS_CALLERS = frozenset({"then", "catch", "finally", "queueMicrotask", "forEach", "map",
                              "filter", "some", "every", "reduce", "find"})
# Of these, those whose callback's `this` is the window's (jQuery's `map` and `filter` give the
# element: review 161).
_WINDOW_THIS_CALLERS = frozenset({"then", "catch", "finally", "queueMicrotask", "forEach",
                                  "some", "every", "reduce", "find"})
# Operators whose value is one of their operands.
_EITHER = frozenset({"||", "&&", "??"})
# How deep a timer's string in a timer's string is read (past it: held).
_MAX_DEPTH = 4
# How many links of `a.b.c...`, `((...))` or `a || (b || ...)` an expression is followed
# through.
_MAX_CHAIN = 64
# How often (in steps) the reading looks at the clock.
_CLOCK_EVERY = 1024

# Nodes whose operands are only tested, not handed on.
_TESTS = frozenset({"unary_expression", "binary_expression", "expression_statement"})

# What an expression may be, as far as halting goes.
WINDOW, DOCUMENT, CLOSE, REOPEN = "window", "document", "close", "reopen"
_HALTING = (CLOSE, REOPEN)


class Cut(Exception):
    """The reading ran past its steps or its deadline."""


@dataclass
class _Scope:
    names: dict[str, str | None] = dataclass_field(default_factory=dict)
    parent: _Scope | None = None


@dataclass(frozen=True)
class _Context:
    scope: _Scope  # the innermost block's
    function_scope: _Scope  # where `var` binds
    later: bool  # runs once the page is parsed
    this_window: bool


class _Reader:
    def __init__(self, source: bytes, steps: list[int], deadline: float, depth: int,
                 fired: set[str], handler: bool = False,
                 mentions: dict[str, int] | None = None) -> None:
        self.source = source
        # How often each name is written in what the page runs (None: not known, or a name
        # may be made at run time): a declared function named only where it is declared is
        # never called but by a person, and not read.
        self.mentions = mentions
        # An event handler attribute's code: its scope holds the document (and the element)
        # before the window, so a bare `close()` is the document's, `open()` a reopening.
        self.handler = handler
        # The events the page's scripts fire themselves (audit.web.events; ANY where this
        # script calls a method named at run time): their listeners are read.
        self.fired = fired
        # Functions whose `this` is the window though they are not called at once: given to a
        # timer or a window's listener, or set as a window's handler.
        self.window_this: set[int] = set()
        self.steps = steps  # shared with the code strings' readers: [left]
        self.deadline = deadline
        self.depth = depth
        # Names bound or assigned anywhere in the script to what halts (or, for a function
        # of the script's own at its top level, to nothing): read where a name is not bound
        # in the scopes around it yet (`function f() { w.close() } var w = window`).
        self.anywhere: dict[str, str | None] = {}
        # Functions called where they are written (their call and how), functions given to a
        # microtask, and functions whose `this` is an object's (values of its properties).
        self.called: dict[int, tuple[Node, str]] = {}
        self.soon: set[int] = set()
        self.owned: set[int] = set()
        # Listeners of prompted events and their handlers: not read (_call, _assigned).
        self.skipped: set[int] = set()
        # Conditions: what they hold is tested, not handed on.
        self.tested: set[int] = set()
        # Names used with `new` (constructors, whose `this` is the new object), names called
        # plainly or handed to a timer (their `this` is the window), and names given another
        # `this` or kept as an object's method (`f.call(tip)`, `Dlg.prototype.hide = hide`).
        self.constructed: set[str] = set()
        self.plain_calls: set[str] = set()
        self.escaped: set[str] = set()
        # Names given the `this` of the function they are called in (`f.call(this)` in it),
        # decided once the functions' own `this` is known; names bound to an object made by
        # `new` or a call (whose listeners' `this` is that object); functions' variable names.
        self.given_this: list[tuple[str, Node]] = []
        self.objects: set[str] = set()
        # (name, the function that binds it: None at the top level): an alias of the window
        # honoured in that function only (review 162: a minified UMD header's `e` made every
        # function's own `e` one)
        self.window_aliases: set[tuple[str, int | None]] = set()
        self.function_names: dict[int, str] = {}

    def step(self, count: int = 1) -> None:
        self.steps[0] -= count
        if self.steps[0] < 0:
            raise Cut
        if self.steps[0] % _CLOCK_EVERY < count and time.monotonic() > self.deadline:
            raise Cut

    # -- what an expression is ------------------------------------------------------------

    def kind(self, node: Node | None, context: _Context | None, nesting: int = 0) -> str | None:
        """What the expression is (WINDOW, DOCUMENT, CLOSE, REOPEN) or None; `context` None:
        as the script's top level sees it before any binding (the first pass). `nesting`:
        how many member chains deep (`((a.b || c).d || e).f`), bounded by _MAX_CHAIN."""
        if nesting > _MAX_CHAIN:
            return None
        pending: list[Node] = []
        for _ in range(_MAX_CHAIN):
            self.step()
            if node is None:
                if not pending:
                    return None
                node = pending.pop()
                continue
            kind = node.type
            if kind in ("parenthesized_expression", "sequence_expression"):
                node = _edge(children(node), -1)
            elif kind in ("assignment_expression", "augmented_assignment_expression"):
                node = field(node, "right")
            elif kind == "await_expression":
                node = _edge(children(node), 0)
            elif kind == "binary_expression" and name_of(field(node, "operator"),
                                                         self.source) in _EITHER:
                right = field(node, "right")
                if right is not None:
                    pending.append(right)
                node = field(node, "left")
            elif kind == "ternary_expression":
                alternative = field(node, "alternative")
                if alternative is not None:
                    pending.append(alternative)
                node = field(node, "consequence")
            else:
                what = self._leaf_kind(node, context, nesting)
                if what is not None or not pending:
                    return what
                node = pending.pop()
        return None

    def _name(self, node: Node | None) -> str:
        """An identifier's or a property's name, "" past _LONGEST_NAME bytes."""
        if node is None or node.end_byte - node.start_byte > _LONGEST_NAME * 6:
            return ""
        return name_of(node, self.source)

    def _leaf_kind(self, node: Node, context: _Context | None, nesting: int) -> str | None:
        kind = node.type
        if kind == "this":  # not in the first pass, which does not know whose `this` it is
            return WINDOW if context is not None and context.this_window else None
        if kind == "identifier":
            return self._named(self._name(node), context)
        if kind in ("member_expression", "subscript_expression"):
            return self._member(node, context, nesting)
        return None

    def _named(self, name: str, context: _Context | None) -> str | None:
        scope = context.scope if context is not None else None
        while scope is not None:
            self.step()
            if name in scope.names:
                bound = scope.names[name]
                if bound is None and context is not None and context.later \
                        and scope.parent is None:
                    # code that runs later sees what the name holds by then (`var w; …
                    # addEventListener('load', function () { w.close() }); w = window`)
                    return self.anywhere.get(name)
                return bound
            scope = scope.parent
        if name in self.anywhere:
            return self.anywhere[name]
        if self.handler and name in ("close", "open", "defaultView", "ownerDocument"):
            # the document's (and the element's ownerDocument), in an element's handler
            return {"open": REOPEN, "defaultView": WINDOW, "ownerDocument": DOCUMENT}.get(name)
        if name in _WINDOW_NAMES:
            return WINDOW
        if name == "document":
            return DOCUMENT
        if name == "close":
            return CLOSE
        return None

    def _member(self, node: Node, context: _Context | None, nesting: int) -> str | None:
        # a.b.c...: the chain's names from the inside out, read in a loop (a hostile chain
        # may be a hundred thousand names long); parentheses between links unwrapped here
        properties: list[str | None] = []
        inner: Node | None = node
        while inner is not None and inner.type in ("member_expression", "subscript_expression",
                                                   "parenthesized_expression"):
            self.step()
            if len(properties) > _MAX_CHAIN:
                return None
            if inner.type == "parenthesized_expression":
                inner = _edge(children(inner), -1)
                continue
            properties.append(self._property(inner))
            inner = field(inner, "object")
        what = self.kind(inner, context, nesting + 1)
        for name in reversed(properties):
            what = DOCUMENT if name == "ownerDocument" else _property_of(what, name)
        return what

    def _property(self, node: Node) -> str | None:
        if node.type == "member_expression":
            return self._name(field(node, "property"))
        index = _unwrapped(field(node, "index"))  # `window[('close')]` (review 153)
        if index is not None and index.end_byte - index.start_byte > _LONGEST_NAME * 6:
            return None
        return literal(index, self.source)

    # -- the first pass -------------------------------------------------------------------

    def gather(self, root: Node) -> None:
        """The names bound or assigned anywhere to what halts (self.anywhere), the functions
        called where they are written, given to microtasks or to an object's properties."""
        for statement in root.named_children:
            if statement.type in ("function_declaration", "generator_function_declaration"):
                name = field(statement, "name")
                if name is not None:  # `close(); function close() {}`: the script's own
                    self.anywhere[name_of(name, self.source)] = None
        # (node, inside a function, inside a block): only the script's own globals are
        # gathered, bound or assigned outside any function (review 147: gathered from every
        # scope, a library's `var d = document` made another function's local XHR `d`
        # the document, and inline jQuery held every forward)
        # (node, inside a function, inside a block, the innermost function)
        stack: list[tuple[Node, bool, bool, Node | None]] = [(root, False, False, None)]
        while stack:
            node, inside, in_block, enclosing = stack.pop()
            self.step()
            kind = node.type
            if kind == "variable_declarator":
                name, value = field(node, "name"), field(node, "value")
                if not inside:
                    self._gather_binding(name, value)
                self._gather_kept(name, value, enclosing)
            elif kind == "assignment_expression":
                left, right = field(node, "left"), field(node, "right")
                if not inside:
                    self._gather_binding(left, right)
                self._gather_kept(left, right, enclosing)
                if left is not None and right is not None and self._window_handler(left):
                    self.window_this.add(right.id)  # `window.onload = function…`
                    if right.type == "identifier":
                        self.plain_calls.add(self._name(right))  # `onload = go`
                elif left is not None and left.type in ("member_expression",
                                                        "subscript_expression"):
                    self._own(right)
                    if right is not None and right.type == "identifier":
                        self.escaped.add(self._name(right))
            elif kind == "pair":
                value = field(node, "value")
                self._own(value)
                if value is not None and value.type == "identifier":
                    self.escaped.add(self._name(value))
            elif kind == "shorthand_property_identifier":
                self.escaped.add(self._name(node))  # `{reconnect}`
            elif kind == "new_expression":
                constructor = field(node, "constructor")
                if constructor is not None and constructor.type == "identifier":
                    self.constructed.add(self._name(constructor))
            elif kind == "call_expression":
                self._gather_call(node, enclosing)
            # a block's let/const is the block's, as a function's names are the function's
            inside = (inside or kind in _FUNCTIONS or kind in ("class", "class_declaration")
                      or (in_block and kind == "lexical_declaration"))
            in_block = in_block or kind == "statement_block"
            # an arrow's `this` is the function's around it (review 161); a class's fields'
            # the instance's (review 162)
            enclosing = node if (kind in _FUNCTIONS and kind != "arrow_function") or kind in (
                "class", "class_declaration") else enclosing
            stack.extend((child, inside, in_block, enclosing)
                         for child in reversed(node.named_children))
        for callee_name, function in self.given_this:
            # `f.call(this)` in a function: the window where that function's own `this` is
            # (an IIFE's, a timer's, `onload`'s; review 155), not in a constructor's or a
            # method's (review 153)
            own = self.function_names.get(function.id) or (
                self._name(field(function, "name")) if field(function, "name") else "")
            if function.type in ("class", "class_declaration"):
                window = False
            elif function.type == "function_declaration":
                window = not (own in self.constructed or own in self.escaped)
            else:
                # a function's expression: the window's `this` where it is called at once or
                # by a timer or the window (review 158: an element's listener's, jQuery's
                # `.each` callback's, is the element)
                window = (function.id in self.called or function.id in self.window_this
                          or (own != "" and own in self.plain_calls)) and (
                    own not in self.constructed)
            if window and function.id not in self.owned:
                self.plain_calls.add(callee_name)
            else:
                self.escaped.add(callee_name)

    def _gather_kept(self, name: Node | None, value: Node | None,
                     enclosing: Node | None) -> None:
        """In any scope: a name given an object made by `new` or a call, or the window (an
        alias: `var w = window` in a function, `var w = this` at the top level, `let
        {defaultView: w} = document`; review 161), and a function's expression's name."""
        if name is None or value is None:
            return
        if name.type == "object_pattern":
            source = self.kind(value, None)
            for part in children(name):
                self.step()
                if part.type == "pair_pattern":
                    target = field(part, "value")
                    if (target is not None and target.type == "identifier" and _property_of(
                            source, self._name(field(part, "key"))) == WINDOW):
                        self.window_aliases.add((self._name(target), _id(enclosing)))
                elif part.type == "shorthand_property_identifier_pattern" and _property_of(
                        source, self._name(part)) == WINDOW:
                    self.window_aliases.add((self._name(part), _id(enclosing)))
            return
        if name.type != "identifier":
            return
        if value.type in ("new_expression", "call_expression"):
            self.objects.add(self._name(name))  # `var es = new EventSource(…)`, `ws = …`
        elif value.type in _FUNCTIONS:
            self.function_names[value.id] = self._name(name)
        elif self.kind(value, None) == WINDOW or (value.type == "this" and enclosing is None):
            self.window_aliases.add((self._name(name), _id(enclosing)))

    def _gather_binding(self, name: Node | None, value: Node | None) -> None:
        if name is None or name.type != "identifier":
            return
        what = self.kind(value, None)
        key = self._name(name)
        if what is not None:
            self.anywhere[key] = what
        elif value is not None and value.type in _FUNCTIONS and key not in self.anywhere:
            self.anywhere[key] = None  # `var close = function () {…}`: the script's own

    def _literal_choices(self, index: Node | None) -> set[str] | None:
        """The strings an index can be where each of its branches is a literal
        (`on ? 'add' : 'remove'`, `a || 'b'` not), else None; read in a loop (review 153: a
        12 KB nest of ternaries raised RecursionError)."""
        choices: set[str] = set()
        pending = [index]
        while pending:
            self.step()
            node = pending.pop()
            value = literal(node, self.source)
            if value is not None:
                choices.add(value)
            elif node is not None and node.type == "ternary_expression":
                pending += [field(node, "consequence"), field(node, "alternative")]
            else:
                return None
        return choices

    def _window_handler(self, left: Node) -> bool:
        """`onload = …`, `window.onload = …`: a handler the window calls as its own."""
        if left.type == "identifier":
            return self._name(left).startswith("on")
        return (left.type == "member_expression"
                and self._name(field(left, "property")).startswith("on")
                and self.kind(field(left, "object"), None) == WINDOW)

    def _own(self, value: Node | None) -> None:
        if value is not None and value.type in ("function_expression", "generator_function"):
            self.owned.add(value.id)

    def _gather_call(self, call: Node, enclosing: Node | None) -> None:
        """What a call tells of the functions it names: called plainly (`this` the window),
        given another `this` (escaped), called at once, given to a microtask or a timer; and
        of the events the script fires. `enclosing`: the function the call is in (whose
        `this` is decided once the whole script is gathered), None at the top level."""
        callee = field(call, "function")
        method = ""
        if callee is not None and callee.type == "subscript_expression":
            choices = self._literal_choices(field(callee, "index"))
            if choices is None or choices & _FIRES:
                # `el[name]()`: any method, `click` among them; not `m[1]` nor
                # `classList[on ? 'add' : 'remove']()` (review 151)
                self.fired.add(events.ANY)
        plain = _unwrapped(callee)
        if plain is not None and plain.type == "identifier":
            self.plain_calls.add(self._name(plain))  # `go()`, `(0, go)()`
        if callee is not None and callee.type == "member_expression":
            method = self._name(field(callee, "property"))
            self._fires(method, field(callee, "object"), call)
            if method in ("call", "apply"):
                inner = _unwrapped(field(callee, "object"))
                if inner is not None and inner.type in _FUNCTIONS:
                    self.called[inner.id] = (call, method)
        inner = _unwrapped(callee)
        if inner is not None and inner.type == "assignment_expression":
            inner = field(inner, "right")  # `(el.onclick = function…)()`: called at once
        if inner is not None and inner.type in _FUNCTIONS:
            self.called[inner.id] = (call, "")
            self._gather_parameters(inner, call, enclosing)
        name = (method if callee is not None and callee.type == "member_expression"
                else self._name(callee) if callee is not None
                and callee.type == "identifier" else "")
        arguments = field(call, "arguments")
        given = children(arguments) if arguments is not None else []
        if name == "queueMicrotask" or (name in _MICROTASKS and callee is not None
                                        and _resolved_promise(field(callee, "object"),
                                                              self.source)):
            # run while the parser waits; not `.then` on what resolves later (review 145)
            self.soon.update(argument.id for argument in given if argument.type in _FUNCTIONS)
        receiver = field(callee, "object") if method and callee is not None else None
        named = {self._name(argument) for argument in given if argument.type == "identifier"}
        if name in _LATER_CALLERS:
            # `ws.addEventListener('error', f)`: `this` is the socket (review 153); the
            # window's, a timer's, `this.addEventListener` at the top level or an alias not
            # known here: the window, as a rule (review 155)
            this = self._this_given(receiver, enclosing, named)
            if this == WINDOW:
                self.window_this.update(argument.id for argument in given
                                        if argument.type in ("function_expression",
                                                             "generator_function"))
        elif name in _THIS_ARG_CALLERS and len(given) > 1:
            self._this_given(given[1], enclosing, named)  # `items.forEach(f, this)`
        elif name in _NO_THIS_CALLERS:
            self.plain_calls.update(named)
            if name in _WINDOW_THIS_CALLERS:
                # sloppy mode: a callback called with no `this` has the window's
                self.window_this.update(argument.id for argument in given
                                        if argument.type in ("function_expression",
                                                             "generator_function"))
        elif method in ("call", "apply", "bind") and callee is not None:
            inner = field(callee, "object")
            if inner is not None and inner.type == "identifier":
                first = given[0] if given else None
                if first is None or first.type in ("null", "undefined"):
                    self.plain_calls.add(self._name(inner))  # `go.call(null)`: the window
                else:
                    # `f.call(tip)`: this is tip; `Base.call(this)` in a constructor: the new
                    # object (review 153)
                    self._this_given(first, enclosing, {self._name(inner)})

    def _gather_parameters(self, function: Node, call: Node, enclosing: Node | None) -> None:
        """A function called at once with the window (or the top level's `this`, UMD's
        `root`): its parameter is an alias of it (review 161)."""
        parameters = field(function, "parameters") or field(function, "parameter")
        arguments = field(call, "arguments")
        if parameters is None or arguments is None:
            return
        names = [parameters] if parameters.type == "identifier" else children(parameters)
        for parameter, argument in zip(names, children(arguments), strict=False):
            self.step()
            if parameter.type == "identifier" and (
                    (argument.type == "this" and enclosing is None)
                    or self.kind(argument, None) == WINDOW):
                # an arrow's names are looked up from the function around it (arrows are no
                # enclosing function of their own here)
                self.window_aliases.add((self._name(parameter), function.id
                                         if function.type != "arrow_function"
                                         else _id(enclosing)))

    def _this_given(self, this: Node | None, enclosing: Node | None,
                    names: set[str]) -> str | None:
        """`names` are called with `this` as their `this`: plainly (the window's) where it is
        the window, an alias of it or the top level's `this`; given another `this` (escaped)
        where it is an object (made by `new` or a call, an element's member, the document, a
        name not known to be the window: `f.call(tip)`); the `this` of the function around the
        call, decided once gathered. WINDOW where it is the window's."""
        this = _unwrapped(this)
        if this is not None and this.type == "this" and enclosing is not None:
            self.given_this.extend((name, enclosing) for name in names)
            return None
        what = None if this is None or this.type == "this" else self.kind(this, None)
        if this is not None and this.type == "identifier" and what is None:
            # a name the first pass does not know: the window where some scope makes it an
            # alias of it (`var w = window` in a function), else an object (a parameter, one
            # assigned `new WebSocket`: review 158)
            name = self._name(this)
            what = WINDOW if ((name, _id(enclosing)) in self.window_aliases
                              and name not in self.objects) else None
            if what is None:
                self.escaped.update(names)
                return None
        if this is None or this.type == "this" or what == WINDOW or not (
                what == DOCUMENT or this.type in ("call_expression", "new_expression",
                                                  "member_expression", "subscript_expression",
                                                  "identifier")):
            self.plain_calls.update(names)
            return WINDOW
        self.escaped.update(names)
        return None

    def _fires(self, method: str, receiver: Node | None, call: Node) -> None:
        """The events a call of an element's method fires (the page's text is read for them
        too, audit.web.events; here, a click with an argument or an escaped name the text
        does not show: review 155)."""
        if method not in _FIRES or method in ("submit", "reset", "select", "focus", "blur"):
            return
        arguments = field(call, "arguments")
        given = children(arguments) if arguments is not None else []
        if any(argument.type in _FUNCTIONS for argument in given):
            return  # jQuery's `.click(function…)`: a binding
        if method in ("trigger", "triggerHandler"):
            event = literal(given[0], self.source) if given else None
            self.fired.update(events.fired_by(event) if event else (events.ANY,))
        elif method == "click":
            self.fired.update(events.fired_by("click"))
        elif method == "requestSubmit":
            self.fired.add("submit")
        else:
            self.fired.add(events.ANY)  # dispatchEvent, execCommand

    # -- the walk -----------------------------------------------------------------------------

    def halts(self, root: Node, context: _Context) -> bool:
        """Whether anything under root closes the window or reopens the document once the
        page is parsed; in the script's order, so that a name is known from its binding on."""
        stack: list[tuple[Node, _Context]] = [(root, context)]
        while stack:
            node, context = stack.pop()
            self.step()
            if node.id in self.skipped:
                continue
            kind = node.type
            if kind in _FUNCTIONS:
                if self._never_called(node, context):
                    continue
                context = self._enter(node, context)
            elif kind == "statement_block":
                context = _Context(_Scope(parent=context.scope), context.function_scope,
                                   context.later, context.this_window)
            elif kind in ("class_declaration", "class"):
                self._bind_name(field(node, "name"), None, context.scope)
                context = _Context(context.scope, context.function_scope, True, False)
            elif kind == "variable_declaration":  # `var`: the function's, not the block's
                context = _Context(context.function_scope, context.function_scope,
                                   context.later, context.this_window)
            elif kind == "variable_declarator":
                self._bind(node, context)
            elif kind == "assignment_expression":
                self._assigned(node, context)
            elif kind == "call_expression" and self._call(node, context):
                return True
            if self._hands_on(node, context):
                return True
            stack.extend((child, context) for child in reversed(node.named_children))
        return False

    def _hands_on(self, node: Node, context: _Context) -> bool:
        """Whether the window's close or the document's open is taken as a value under this
        node (anything but a call's callee or a member's object, which _call reads, and a
        test of whether it is there: `typeof`, `!`, a comparison, a condition, a bare
        statement; review 145)."""
        if node.id in self.tested or (node.type in _TESTS and not (
                node.type == "binary_expression"
                and self._name(field(node, "operator")) in _EITHER)):
            return False
        exempt: Node | None = None
        if node.type == "call_expression":
            exempt = field(node, "function")
        elif node.type in ("member_expression", "subscript_expression"):
            exempt = field(node, "object")
        elif node.type in ("assignment_expression", "augmented_assignment_expression"):
            exempt = field(node, "left")
        elif node.type == "variable_declarator":
            exempt = field(node, "name")
        elif node.type in ("if_statement", "while_statement", "do_statement",
                           "ternary_expression"):
            exempt = field(node, "condition")
            if exempt is not None:
                self.tested.add(exempt.id)  # `if (window.close)`: its parentheses too
        for child in node.named_children:
            if child == exempt or child.id in self.skipped or child.type not in (
                    "identifier", "member_expression", "binary_expression",
                    "ternary_expression",
                                                     "subscript_expression",
                                                     "parenthesized_expression"):
                continue
            if self.kind(child, context) in _HALTING:
                return True
        return False

    def _never_called(self, function: Node, context: _Context) -> bool:
        """A declared function whose name nothing the page runs writes again: what calls it is
        a person (`<a onclick="closeWin()">`, review 153), or nothing; not a global one where
        the page loads scripts, which may call it (review 158: `?callback=initMap`)."""
        if self.mentions is None or function.type not in ("function_declaration",
                                                          "generator_function_declaration"):
            return False
        if context.function_scope.parent is None and GLOBALS_CALLED in self.mentions:
            return False  # a global one (in a block too: Annex B, review 161)
        name = field(function, "name")
        return name is not None and self.mentions.get(self._name(name), 0) <= 1

    def _enter(self, function: Node, context: _Context) -> _Context:
        scope = _Scope(parent=context.scope)
        name = field(function, "name")
        if function.type in ("function_declaration", "generator_function_declaration"):
            # in its block (a block's function leaves a global name as it was: Annex B)
            self._bind_name(name, None, context.scope)
        elif name is not None and function.type != "method_definition":
            self._bind_name(name, None, scope)
        call, method = self.called.get(function.id, (None, ""))
        given = field(call, "arguments") if call is not None else None
        arguments: list[Node] = children(given) if given is not None else []
        this_window = call is not None and context.this_window
        if method == "call":  # f.call(thisArg, ...)
            this_window = bool(arguments) and self.kind(arguments[0], context) == WINDOW
            arguments = arguments[1:]
        elif method == "apply":
            this_window = bool(arguments) and self.kind(arguments[0], context) == WINDOW
            arguments = []
        body = field(function, "body")
        for statement in body.named_children if body is not None else []:
            if statement.type in ("function_declaration", "generator_function_declaration"):
                # hoisted: the function's own `close` from its start (review 145)
                self._bind_name(field(statement, "name"), None, scope)
        parameters = field(function, "parameters") or field(function, "parameter")
        if parameters is not None:
            names = ([parameters] if parameters.type == "identifier"
                     else children(parameters))
            for index, parameter in enumerate(names):
                self.step()
                value = self.kind(arguments[index], context) if index < len(arguments) else None
                if parameter.type == "identifier":
                    given_name = self._name(parameter)
                    if value is None and given_name in _KEPT_NAMES:
                        continue  # `function (window) {...}`: given the window, as a rule
                    scope.names[given_name] = value
                elif parameter.type == "object_pattern":
                    self._bind_object(parameter, value, scope, context)  # `({close}) => …`
                else:
                    self._bind_pattern(parameter, scope, context)
        if function.type == "arrow_function":
            this_window = context.this_window
        elif function.id in self.window_this or (
                function.type == "function_declaration" and name is not None
                and self._name(name) in self.plain_calls
                and self._name(name) not in self.constructed):
            # a timer's or a window handler's function; a function declared and called
            # plainly or handed to a timer (`function f() { this.close() } f()`), not one
            # constructed (`new Tip`) nor given another `this` (a method, `f.call(tip)`;
            # review 149: the case of its name decided, and held a prototype's `hide`)
            this_window = True
        elif function.type == "method_definition" or function.id in self.owned:
            this_window = False
        # after an await or between a generator's steps, the rest may run once parsed
        waits = (any(child.type in ("async", "*") for child in function.children)
                 or "generator" in function.type)
        later = context.later or waits or (call is None and function.id not in self.soon)
        return _Context(scope, scope, later, this_window)

    def _bind(self, declarator: Node, context: _Context) -> None:
        name, value = field(declarator, "name"), field(declarator, "value")
        scope = context.scope
        if name is None or (value is None and scope.parent is None):
            return  # `var close;` at the top: the window's property stays as it was
        if name.type == "identifier":
            self._bind_name(name, self.kind(value, context), scope)
        elif name.type == "object_pattern":
            self._bind_object(name, self.kind(value, context), scope, context)
        else:
            self._bind_pattern(name, scope, context)

    def _bind_object(self, pattern: Node, source: str | None, scope: _Scope,
                     context: _Context, nesting: int = 0) -> None:
        """`var {close} = window`, `const {open: o} = document`,
        `var {document: {defaultView: w}} = window`; past _MAX_CHAIN patterns deep, the
        names are bound to what is not known (review 153: an 8 KB nest raised
        RecursionError)."""
        if nesting > _MAX_CHAIN:
            self._bind_pattern(pattern, scope, context)
            return
        for part in pattern.named_children:
            self.step()
            if part.type == "shorthand_property_identifier_pattern":
                key = name_of(part, self.source)
                scope.names[key] = _property_of(source, key)
            elif part.type == "pair_pattern":
                key = name_of(field(part, "key"), self.source)
                target = field(part, "value")
                if target is not None and target.type == "identifier":
                    scope.names[name_of(target, self.source)] = _property_of(source, key)
                elif target is not None and target.type == "object_pattern":
                    self._bind_object(target, _property_of(source, key), scope, context,
                                      nesting + 1)
                elif target is not None:
                    self._bind_pattern(target, scope, context)
            else:
                self._bind_pattern(part, scope, context)

    def _bind_pattern(self, pattern: Node, scope: _Scope, context: _Context) -> None:
        """The names a pattern binds to what is not known (an array pattern, a default; a
        default that is the window's close binds that)."""
        stack = [pattern]
        while stack:
            node = stack.pop()
            self.step()
            if node.type == "assignment_pattern":
                left, right = field(node, "left"), field(node, "right")
                if left is not None and left.type == "identifier":
                    scope.names[name_of(left, self.source)] = self.kind(right, context)
                    continue
            if node.type in ("identifier", "shorthand_property_identifier_pattern"):
                scope.names[name_of(node, self.source)] = None
            stack.extend(node.named_children)

    def _bind_name(self, name: Node | None, what: str | None, scope: _Scope) -> None:
        if name is not None and name.type == "identifier":
            scope.names[name_of(name, self.source)] = what

    def _assigned(self, node: Node, context: _Context) -> None:
        """`w = window` binds w where it is bound (or at the top); a handler of an event
        only a person makes (`el.onclick = function…`) is not read: its value is skipped."""
        left, right = field(node, "left"), field(node, "right")
        if left is not None and left.type == "identifier":
            name = name_of(left, self.source)
            scope = context.scope
            while name not in scope.names and scope.parent is not None:
                self.step()
                scope = scope.parent
            what = self.kind(right, context)
            if what is None and scope.names.get(name) is not None:
                return  # an assignment may never run (a branch, a function): the name keeps it
            if what is not None or name in scope.names:
                scope.names[name] = what
            return
        if left is not None and left.type == "object_pattern":
            self._bind_object(left, self.kind(right, context), context.scope, context)
            return
        if (left is not None and right is not None and left.type == "member_expression"
                and right.type in _FUNCTIONS and right.id not in self.called):
            handler = self._name(field(left, "property"))
            if handler.startswith("on") and self._person_only(handler[2:]):
                self.skipped.add(right.id)

    def _person_only(self, event: str) -> bool:
        """Whether a listener of `event` runs only when a person acts (audit.web.events)."""
        return not events.unprompted(event, self.fired)

    def _skip_listeners(self, listeners: list[Node]) -> None:
        """Functions given as listeners of events only a person makes are not read; a
        function's `.bind(…)` is that function (review 153)."""
        for listener in listeners:
            if listener.type == "call_expression":
                callee = field(listener, "function")
                if (callee is not None and callee.type == "member_expression"
                        and self._name(field(callee, "property")) == "bind"):
                    listener = _unwrapped(field(callee, "object")) or listener
            if listener.type in _FUNCTIONS:
                self.skipped.add(listener.id)

    def _jquery_binding(self, method: str, arguments: list[Node]) -> None:
        """jQuery's bindings of events only a person makes are not read: `.on('click', fn)`,
        `.click(fn)`, `.delegate(sel, 'click', fn)`, `.on({click: fn})` (reviews 151, 153: a
        close button's jQuery handler held the forward)."""
        if method in ("on", "one", "bind", "live", "delegate", "undelegate"):
            named = arguments[1] if method == "delegate" and len(arguments) > 1 else arguments[0]
            if named.type == "object":  # an event map
                for pair in named.named_children:
                    self.step()
                    key = field(pair, "key") if pair.type == "pair" else None
                    value = field(pair, "value") if pair.type == "pair" else None
                    if value is not None and self._only_person_events(
                            literal(key, self.source) or self._name(key)):
                        self._skip_listeners([value])
            elif self._only_person_events(literal(named, self.source) or ""):
                self._skip_listeners(arguments)
        elif events.prompted(method) and self._person_only(method):
            self._skip_listeners(arguments)  # `.click(fn)`

    def _only_person_events(self, names: str) -> bool:
        """`names`: jQuery's events, with namespaces (`click.menu touchend`)."""
        split = names.split()
        return bool(split) and all(self._person_only(event.split(".")[0]) for event in split)

    def _call(self, call: Node, context: _Context) -> bool:
        """Whether the call closes the window or reopens the document once parsed (or runs
        a code string that does). A listener of a prompted event is skipped."""
        callee = _unwrapped(field(call, "function"))
        if callee is None:
            return False
        target = self.kind(callee, context)
        method = ""
        if callee.type == "member_expression":
            method = name_of(field(callee, "property"), self.source)
            if target is None and method in ("call", "apply", "bind"):
                target = self.kind(field(callee, "object"), context)
                if method == "bind" and target in _HALTING:
                    return True  # a bound function: run by whatever it is given to
        given = field(call, "arguments")
        arguments = children(given) if given is not None else []
        # `document.open(url, name, features)` is the window's `open` (review 153)
        if target == CLOSE or (target == REOPEN and context.later and len(arguments) < 3):
            return True
        name = method or (self._name(callee) if callee.type == "identifier" else "")
        if callee.type == "subscript_expression":
            name = self._property(callee) or ""  # `window['setTimeout'](…)`
        if name in ("call", "apply") and callee.type == "member_expression":
            inner = _unwrapped(field(callee, "object"))  # `setTimeout.call(window, 'close()')`
            if inner is not None and inner.type in ("identifier", "member_expression",
                                                    "subscript_expression"):
                name = (self._name(inner) if inner.type == "identifier"
                        else self._property(inner) or "")
                arguments = arguments[1:] if method == "call" else []
        first = arguments[0] if arguments else None
        if name == "addEventListener" and len(arguments) > 1:
            event = literal(first, self.source)
            if event is not None and self._person_only(event):
                self._skip_listeners(arguments[1:2])
            return False
        if callee.type == "member_expression" and arguments:
            self._jquery_binding(name, arguments)
        if name in _TIMERS or name in _CODE:
            code = literal(first, self.source)
            if code is None:
                return False
            if self.depth >= _MAX_DEPTH:
                return True
            # a timer's string runs later, eval's now, Function's when it is called
            return _read(code, after_parse=context.later or name != "eval", this_window=True,
                         steps=self.steps, deadline=self.deadline, depth=self.depth + 1,
                         handler=False, fired=self.fired)
        return False


def _resolved_promise(node: Node | None, source: bytes) -> bool:
    """`Promise.resolve(…)` (its `.then` runs in a microtask, while the parser waits)."""
    node = _unwrapped(node)
    if node is None or node.type != "call_expression":
        return False
    callee = field(node, "function")
    given = field(node, "arguments")
    values = children(given) if given is not None else []
    # `Promise.resolve(p)` waits for p (review 147): only nothing or a literal resolves now
    receiver = field(callee, "object") if callee is not None else None
    # the receiver's name only where it is one (review 153: a 40 KB receiver's text, read on
    # each `.then` of a chain, took the reading past its deadline)
    return (callee is not None and callee.type == "member_expression"
            and receiver is not None and receiver.type == "identifier"
            and name_of(receiver, source) == "Promise"
            and name_of(field(callee, "property"), source) == "resolve"
            and all(value.type in ("number", "string", "true", "false", "null", "undefined")
                    for value in values))


def _id(node: Node | None) -> int | None:
    return None if node is None else node.id


def _edge(nodes: list[Node], index: int) -> Node | None:
    return nodes[index] if nodes else None


def _unwrapped(node: Node | None) -> Node | None:
    """A callee without its parentheses and `(0, …)`."""
    for _ in range(_MAX_CHAIN):
        if node is None or node.type not in ("parenthesized_expression", "sequence_expression"):
            return node
        node = _edge(children(node), -1)
    return None


def _property_of(what: str | None, name: str | None) -> str | None:
    if what == WINDOW:
        if name in _WINDOW_NAMES:
            return WINDOW
        return {"document": DOCUMENT, "close": CLOSE}.get(name or "")
    if what == DOCUMENT:
        return {"open": REOPEN, "defaultView": WINDOW}.get(name or "")
    return None


def _read(script: str, *, after_parse: bool, this_window: bool, steps: list[int],
          deadline: float, depth: int, handler: bool, fired: set[str],
          mentions: dict[str, int] | None = None) -> bool:
    if not _MAY_HALT.search(script):
        return False
    source = script.encode("utf-8", "replace")
    tree = parse(source, deadline)
    if tree is None:
        raise Cut
    if tree.root_node.has_error:
        return _NAMES.search(script) is not None
    reader = _Reader(source, steps, deadline, depth, fired | events.fired_events(script),
                     handler, mentions)
    reader.gather(tree.root_node)
    top = _Scope()
    return reader.halts(tree.root_node, _Context(top, top, after_parse, this_window))


def halts(script: str, *, after_parse: bool, steps: int, deadline: float,
          handler: bool = False, this_window: bool | None = None,
          fired: frozenset[str] = frozenset(),
          mentions: dict[str, int] | None = None) -> bool | None:
    """Whether the script closes the window or reopens the document once the page is parsed
    (`after_parse`: all of it runs then, a module or a handler); `handler`: an event handler
    attribute's code, whose bare `close` and `open` are the document's; `this_window`: whether
    its `this` is the window (a `<body>`'s handlers; by default a classic script's only);
    `fired`: the events the page's other scripts fire (audit.web.events.fired_events);
    `mentions`: how often each name is written in all the page runs (halts.mentions), None
    where a name may be made at run time (NAMED_AT_RUN_TIME): every declared function is then
    read as if called.
    None where it is not read within `steps` nodes and `deadline` (time.monotonic())."""
    try:
        return _read(script, after_parse=after_parse,
                     this_window=not after_parse if this_window is None else this_window,
                     steps=[steps], deadline=deadline, depth=0, handler=handler,
                     fired=set(fired), mentions=mentions)
    except (Cut, RecursionError):
        return None
