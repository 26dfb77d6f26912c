"""Whether a browser runs a page's classic script at all, given the scripts before it.

Before a classic script runs any statement, its global declarations are made (ECMAScript's
GlobalDeclarationInstantiation), and where one cannot be made the whole script is dropped
with a SyntaxError or TypeError: a `let`, `const` or `class` of a name an earlier script of
the page declared (with any of them, `var` or `function`), a `var` or `function` of a name an
earlier script declared with `let`, `const` or `class`, or a name the window holds fixed
(`let top`, `const document`, `function location(){}`). Each script compiles alone, so
QuickJS (forwards._compiles) cannot see it: review 168 found a LINE-style warning page whose
forward sat in `let top = 0; location.replace(…)` read as `wrapped` where Chromium stayed on
the warning ("Identifier 'top' has already been declared").

Names are read from tree-sitter's tree: the script's top-level `let`/`const`/`class` and
`function` declarations and its `var`s outside functions (destructuring patterns included).
Module scripts have their own scope and are left out, as are declarations in blocks.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from audit.judge import jstree

# The window's own properties a script cannot declare over: [LegacyUnforgeable] `window`,
# `document`, `location` and `top`, and ECMAScript's `undefined`, `NaN` and `Infinity`, all
# non-configurable (a `var` of them is allowed and does nothing).
FIXED = frozenset({"window", "document", "location", "top", "undefined", "NaN", "Infinity"})

_FUNCTIONS = frozenset({"function_declaration", "generator_function_declaration",
                        "function_expression", "function", "generator_function",
                        "arrow_function", "method_definition", "class_body",
                        "class_static_block"})


@dataclass(frozen=True)
class Declared:
    lexical: frozenset[str]  # top-level let, const, class
    var: frozenset[str]  # var anywhere outside a function, top-level function declarations
    functions: frozenset[str]  # top-level function declarations (also in `var`)


_NOTHING = Declared(frozenset(), frozenset(), frozenset())

_RECENT: OrderedDict[str, Declared | None] = OrderedDict()
_RECENT_SIZE = 256


def declared(script: str, deadline: float) -> Declared | None:
    """The script's global declarations; None where it is not parsed by `deadline`."""
    if script in _RECENT:
        _RECENT.move_to_end(script)
        return _RECENT[script]
    found = _read(script, deadline)
    _RECENT[script] = found
    if len(_RECENT) > _RECENT_SIZE:
        _RECENT.popitem(last=False)
    return found


def runs(scripts: list[str], index: int, modules: frozenset[int], deadline: float) -> bool:
    """Whether the classic script `scripts[index]` gets past its global declarations, the
    page's classic scripts before it having made theirs (those that could). True where a
    script could not be read in time: a forward missed, never invented, is the rule of the
    reading, and this check only takes forwards away."""
    if index in modules:
        return True
    own = declared(scripts[index], deadline)
    if own is None or own is _NOTHING:
        return True
    if own.lexical & FIXED or own.functions & FIXED:
        return False
    lexical: set[str] = set()
    var: set[str] = set()
    for position in range(index):
        if position in modules:
            continue
        before = declared(scripts[position], deadline)
        if before is None:
            return True
        if _instantiates(before, lexical, var):
            lexical |= before.lexical
            var |= before.var
    return _instantiates(own, lexical, var)


def _instantiates(script: Declared, lexical: set[str], var: set[str]) -> bool:
    return not (script.lexical & (lexical | var | FIXED) or script.var & lexical
                or script.functions & FIXED)


def _read(script: str, deadline: float) -> Declared | None:
    if not any(word in script for word in ("let", "const", "class", "var", "function")):
        return _NOTHING
    source = script.encode("utf-8", "replace")
    tree = jstree.parse(source, deadline)
    if tree is None:
        return None
    lexical: set[str] = set()
    var: set[str] = set()
    functions: set[str] = set()
    for statement in jstree.children(tree.root_node):
        kind = statement.type
        if kind == "lexical_declaration":
            for declarator in jstree.children(statement):
                if declarator.type == "variable_declarator":
                    _bound(jstree.field(declarator, "name"), source, lexical)
        elif kind == "class_declaration":
            _bound(jstree.field(statement, "name"), source, lexical)
        elif kind in ("function_declaration", "generator_function_declaration"):
            _bound(jstree.field(statement, "name"), source, functions)
    _vars(tree.root_node, source, var)
    if not (lexical or var or functions):
        return _NOTHING
    return Declared(frozenset(lexical), frozenset(var | functions), frozenset(functions))


def _vars(root: jstree.Node, source: bytes, into: set[str]) -> None:
    """The names of every `var` outside functions and classes (they belong to the script)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "variable_declaration":
            for declarator in jstree.children(node):
                if declarator.type == "variable_declarator":
                    _bound(jstree.field(declarator, "name"), source, into)
        elif node.type in ("for_in_statement",) and any(
                child.type == "var" for child in node.children):
            _bound(jstree.field(node, "left"), source, into)
        if node.type in _FUNCTIONS:
            continue
        stack.extend(child for child in node.named_children
                     if child.type not in _FUNCTIONS)


def _bound(pattern: jstree.Node | None, source: bytes, into: set[str]) -> None:
    """The names a binding pattern binds (`a`, `[a, b]`, `{a, b: c, d = 1, ...e}`)."""
    stack = [pattern] if pattern is not None else []
    while stack:
        node = stack.pop()
        kind = node.type
        if kind in ("identifier", "shorthand_property_identifier_pattern"):
            into.add(jstree.name_of(node, source))
        elif kind in ("array_pattern", "object_pattern", "rest_pattern"):
            stack.extend(jstree.children(node))
        elif kind == "pair_pattern":
            value = jstree.field(node, "value")
            if value is not None:
                stack.append(value)
        elif kind in ("assignment_pattern", "object_assignment_pattern"):
            left = jstree.field(node, "left")
            if left is not None:
                stack.append(left)
