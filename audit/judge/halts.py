"""Whether a script keeps the page from leaving: it closes the window (a link opened in a tab of
its own), or reopens the document once the page is parsed (the page stays, blank). Read from
tree-sitter's syntax tree with the names each scope gives the window and the document, not
from the script's text: four rounds of review each found a form that patterns over the text
missed (`window['close']()`, `close.bind(window)()`, a timer's string, an alias's `d.open()`)
or held where nothing closes (a socket's `ws.close()`, a `close(){}` method, a popup's
`.open()`, a close in a string of markup).

What counts as the window's `close`: `close` where nothing in the script binds that name,
a window name's (`window`, `self`, `top`, `parent`, `frames`, `globalThis`,
`document.defaultView`) or an alias's (`var w = window`; a parameter of a function called at
once with the window: `!function (w) {...}(window)`; `this` where it is the window: the
script's top level and functions that are not methods), through `[...]` with a string,
parentheses and `(0, close)`, called or passed along (`.call`, `.apply`, `.bind`, a timer's or
a listener's argument, an assignment to a property). The document's `open` likewise, through
`document`, `window.document` or an alias; it counts where it runs once the page is parsed: in
a function not called at once (a listener, a timer, a handler), in a module or a handler, or
passed along, not at a classic script's top level or in a function called there (HTML: a
parser-inserted script's `document.open()` does nothing). A timer's string is read as a
script that runs later. Not seen: a name computed at run time (`window[key]()`), a document
or window reached through a call's result or an object's property.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from audit.judge.jstree import Node, field, literal, name_of, parse

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
# How deep a timer's string in a timer's string is read (past it: held).
_MAX_DEPTH = 4
# How many links of `a.b.c...` or `((...))` an expression is followed through.
_MAX_CHAIN = 64

# What an expression may be, as far as halting goes.
WINDOW, DOCUMENT, CLOSE, REOPEN = "window", "document", "close", "reopen"


class Cut(Exception):
    """The reading ran past its steps or its deadline."""


@dataclass
class _Scope:
    names: dict[str, str | None] = dataclass_field(default_factory=dict)
    parent: _Scope | None = None

    def lookup(self, name: str) -> tuple[bool, str | None]:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                return True, scope.names[name]
            scope = scope.parent
        return False, None


@dataclass(frozen=True)
class _Context:
    scope: _Scope
    later: bool  # runs once the page is parsed
    this_window: bool


class _Reader:
    def __init__(self, source: bytes, steps: list[int], deadline: float, depth: int) -> None:
        self.source = source
        self.steps = steps  # shared with the timer strings' readers: [left]
        self.deadline = deadline
        self.depth = depth

    # -- what an expression is ------------------------------------------------------------

    def kind(self, node: Node | None, context: _Context) -> str | None:
        for _ in range(_MAX_CHAIN):
            if node is None:
                return None
            kind = node.type
            if kind in ("parenthesized_expression", "sequence_expression"):
                node = node.named_children[-1] if node.named_children else None
            elif kind == "assignment_expression":
                node = field(node, "right")
            elif kind == "this":
                return WINDOW if context.this_window else None
            elif kind == "identifier":
                return self._named(name_of(node, self.source), context)
            elif kind in ("member_expression", "subscript_expression"):
                return self._member(node, context)
            else:
                return None
        return None

    def _named(self, name: str, context: _Context) -> str | None:
        bound, what = context.scope.lookup(name)
        if bound:
            return what
        if name in _WINDOW_NAMES:
            return WINDOW
        if name == "document":
            return DOCUMENT
        if name == "close":
            return CLOSE
        return None

    def _member(self, node: Node, context: _Context) -> str | None:
        # a.b.c...: the chain's names from the inside out, read in a loop (a hostile chain
        # may be a hundred thousand names long)
        properties: list[str | None] = []
        while node.type in ("member_expression", "subscript_expression"):
            properties.append(self._property(node))
            inner = field(node, "object")
            if inner is None or len(properties) > _MAX_CHAIN:
                return None
            node = inner
        what = self.kind(node, context)
        for name in reversed(properties):
            what = _property_of(what, name)
            if what is None:
                return None
        return what

    def _property(self, node: Node) -> str | None:
        if node.type == "member_expression":
            return name_of(field(node, "property"), self.source)
        return literal(field(node, "index"), self.source)

    # -- the walk -----------------------------------------------------------------------------

    def halts(self, root: Node, context: _Context) -> bool:
        """Whether anything under root closes the window or reopens the document once the
        page is parsed; in the script's order, so that a name is known from its binding on."""
        stack: list[tuple[Node, _Context]] = [(root, context)]
        while stack:
            node, context = stack.pop()
            self.steps[0] -= 1
            if self.steps[0] < 0 or (self.steps[0] & 0xFFFF == 0
                                     and time.monotonic() > self.deadline):
                raise Cut
            kind = node.type
            if kind in _FUNCTIONS:
                context = self._enter(node, context)
            elif kind == "class_declaration" or kind == "class":
                self._bind_name(field(node, "name"), None, context)
                context = _Context(context.scope, True, False)
            elif kind == "variable_declarator":
                self._bind(field(node, "name"), field(node, "value"), context)
            elif kind == "assignment_expression":
                if self._assigns(node, context):
                    return True
            elif kind == "call_expression":
                if self._call_halts(node, context):
                    return True
            elif kind == "arguments" and any(self.kind(argument, context) in (CLOSE, REOPEN)
                                             for argument in node.named_children):
                return True  # passed along: run by whatever takes it, whenever
            stack.extend((child, context) for child in reversed(node.named_children))
        return False

    def _enter(self, function: Node, context: _Context) -> _Context:
        scope = _Scope(parent=context.scope)
        name = field(function, "name")
        if function.type in ("function_declaration", "generator_function_declaration"):
            self._bind_name(name, None, context)  # `function close(){}`: not the window's
        elif name is not None and function.type != "method_definition":
            self._bind_name(name, None, _Context(scope, False, False))
        call, method = _called_at_once(function, self.source)
        given = field(call, "arguments") if call is not None else None
        arguments: list[Node | None] = list(given.named_children) if given is not None else []
        this_window = True
        if method == "call":  # f.call(thisArg, ...)
            this_window = bool(arguments) and self.kind(arguments[0], context) == WINDOW
            arguments = arguments[1:]
        elif method == "apply":
            this_window = bool(arguments) and self.kind(arguments[0], context) == WINDOW
            arguments = []
        parameters = field(function, "parameters") or field(function, "parameter")
        if parameters is not None:
            names = ([parameters] if parameters.type == "identifier"
                     else parameters.named_children)
            for index, parameter in enumerate(names):
                value = self.kind(arguments[index], context) if index < len(arguments) else None
                if parameter.type == "identifier":
                    given_name = name_of(parameter, self.source)
                    if value is None and given_name in _KEPT_NAMES:
                        continue  # `function (window) {...}`: given the window, as a rule
                    scope.names[given_name] = value
                else:
                    self._bind_pattern(parameter, scope)
        if function.type == "arrow_function":
            this_window = context.this_window
        elif function.type == "method_definition" or _is_property_value(function):
            this_window = False
        return _Context(scope, context.later or call is None, this_window)

    def _bind(self, name: Node | None, value: Node | None, context: _Context) -> None:
        if name is None:
            return
        if name.type == "identifier":
            self._bind_name(name, self.kind(value, context), context)
        elif name.type == "object_pattern":
            # `var {close} = window`, `const {open: o} = document`
            source = self.kind(value, context)
            for part in name.named_children:
                if part.type == "shorthand_property_identifier_pattern":
                    key = name_of(part, self.source)
                    context.scope.names[key] = _property_of(source, key)
                elif part.type == "pair_pattern":
                    key = name_of(field(part, "key"), self.source)
                    target = field(part, "value")
                    if target is not None and target.type == "identifier":
                        context.scope.names[name_of(target, self.source)] = _property_of(
                            source, key)
                    elif target is not None:
                        self._bind_pattern(target, context.scope)
                else:
                    self._bind_pattern(part, context.scope)
        else:
            self._bind_pattern(name, context.scope)

    def _bind_pattern(self, pattern: Node, scope: _Scope) -> None:
        """The names a pattern binds to what is not known (an array pattern, a default)."""
        stack = [pattern]
        while stack:
            node = stack.pop()
            self.steps[0] -= 1
            if node.type in ("identifier", "shorthand_property_identifier_pattern"):
                scope.names[name_of(node, self.source)] = None
            stack.extend(node.named_children)

    def _bind_name(self, name: Node | None, what: str | None, context: _Context) -> None:
        if name is not None and name.type == "identifier":
            context.scope.names[name_of(name, self.source)] = what

    def _assigns(self, node: Node, context: _Context) -> bool:
        """`w = window` binds w where it is bound (or at the top); `x.onload = window.close`
        hands the window's close to whatever runs it."""
        left, right = field(node, "left"), field(node, "right")
        what = self.kind(right, context)
        if left is not None and left.type == "identifier":
            name = name_of(left, self.source)
            scope = context.scope
            while name not in scope.names and scope.parent is not None:
                scope = scope.parent
            if name not in scope.names and name.startswith("on") and what in (CLOSE, REOPEN):
                return True  # `onload = close`: the window's handler
            scope.names[name] = what
            return False
        return what in (CLOSE, REOPEN)

    def _call_halts(self, call: Node, context: _Context) -> bool:
        callee = field(call, "function")
        for _ in range(_MAX_CHAIN):  # (close)(), (0, close)()
            if callee is None or callee.type not in ("parenthesized_expression",
                                                     "sequence_expression"):
                break
            callee = callee.named_children[-1] if callee.named_children else None
        if callee is None:
            return False
        target = self.kind(callee, context)
        if target is None and callee.type == "member_expression":
            method = name_of(field(callee, "property"), self.source)
            if method in ("call", "apply", "bind"):
                target = self.kind(field(callee, "object"), context)
                if method == "bind" and target == REOPEN:
                    return True  # a bound function: run by whatever it is given to, later
        if target == CLOSE:
            return True
        if target == REOPEN and context.later:
            return True
        return self._timer_string_halts(call, callee)

    def _timer_string_halts(self, call: Node, callee: Node) -> bool:
        name = (name_of(callee, self.source) if callee.type == "identifier"
                else name_of(field(callee, "property"), self.source)
                if callee.type == "member_expression" else "")
        if name not in _TIMERS:
            return False
        arguments = field(call, "arguments")
        first = arguments.named_children[0] if arguments is not None and (
            arguments.named_children) else None
        code = literal(first, self.source)
        if code is None:
            return False
        if self.depth >= _MAX_DEPTH:
            return True
        # a timer's string runs later, as a classic script of the window's
        return _read(code, after_parse=True, this_window=True, steps=self.steps,
                     deadline=self.deadline, depth=self.depth + 1)


def _property_of(what: str | None, name: str | None) -> str | None:
    if what == WINDOW:
        if name in _WINDOW_NAMES:
            return WINDOW
        return {"document": DOCUMENT, "close": CLOSE}.get(name or "")
    if what == DOCUMENT:
        return {"open": REOPEN, "defaultView": WINDOW}.get(name or "")
    return None


def _called_at_once(function: Node, source: bytes) -> tuple[Node | None, str]:
    """The call that calls the function where it is written (`(function(){...})()`,
    `!function(){...}()`, `(function(){...}).call(this)`), if there is one, and how: "" for a
    plain call, "call" or "apply" (not `.bind`, which makes a function to run later)."""
    node = function
    parent = node.parent
    while parent is not None and parent.type == "parenthesized_expression":
        node, parent = parent, parent.parent
    if parent is None:
        return None, ""
    if parent.type == "call_expression" and field(parent, "function") == node:
        return parent, ""
    if parent.type == "member_expression" and field(parent, "object") == node:
        method = name_of(field(parent, "property"), source)
        holder = parent.parent
        if (method in ("call", "apply") and holder is not None
                and holder.type == "call_expression" and field(holder, "function") == parent):
            return holder, method
    return None, ""


def _is_property_value(function: Node) -> bool:
    """A function given to an object's property (`{f: function(){}}`, `o.f = function(){}`),
    whose `this` is that object."""
    parent = function.parent
    if parent is None:
        return False
    if parent.type == "pair":
        return True
    if parent.type == "assignment_expression" and field(parent, "right") == function:
        left = field(parent, "left")
        return left is not None and left.type in ("member_expression", "subscript_expression")
    return False


def _read(script: str, *, after_parse: bool, this_window: bool, steps: list[int],
          deadline: float, depth: int) -> bool:
    if not _MAY_HALT.search(script):
        return False
    source = script.encode("utf-8", "replace")
    tree = parse(source, deadline)
    if tree is None:
        raise Cut
    if tree.root_node.has_error:
        return _NAMES.search(script) is not None
    reader = _Reader(source, steps, deadline, depth)
    return reader.halts(tree.root_node, _Context(_Scope(), after_parse, this_window))


def halts(script: str, *, after_parse: bool, steps: int, deadline: float) -> bool | None:
    """Whether the script closes the window or reopens the document once the page is parsed
    (`after_parse`: all of it runs then, a module or a handler, where `this` is not the
    window); None where it is not read within `steps` nodes and `deadline`
    (time.monotonic())."""
    try:
        return _read(script, after_parse=after_parse, this_window=not after_parse,
                     steps=[steps], deadline=deadline, depth=0)
    except Cut:
        return None
