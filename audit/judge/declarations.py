"""Whether a browser runs a page's classic script at all, given the scripts before it.

Before a classic script runs any statement, its global declarations are made (ECMAScript's
GlobalDeclarationInstantiation), and where one cannot be made the whole script is dropped
with a SyntaxError or TypeError: a `let`, `const` or `class` of a name an earlier script of
the page declared (with any of them, `var` or `function`), a `var` or `function` of a name an
earlier script declared with `let`, `const` or `class`, or a name the window holds fixed
(`let top`, `const document`, `function location(){}`). Each script compiles alone, so
QuickJS (compiles.py) cannot see it: review 168 found a LINE-style warning page whose
forward sat in `let top = 0; location.replace(…)` read as `wrapped` where Chromium stayed on
the warning ("Identifier 'top' has already been declared").

Names are read from tree-sitter's tree: the script's top-level `let`/`const`/`class` and
`function` declarations and its `var`s outside functions (destructuring patterns included).
Module scripts have their own scope and are left out, as are `let`, `const` and `class` in
blocks; a script a browser does not run (it does not parse or compile) declares nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from audit.judge import jstree
from audit.judge.compiles import compiles

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
    var: frozenset[str]  # var outside functions, function declarations outside functions
    functions: frozenset[str]  # top-level function declarations (also in `var`)
    # False where QuickJS does not compile the script that tree-sitter reads whole: QuickJS
    # lacks syntax browsers run (class static blocks, `#x in o`, the regex `v` flag: review
    # 173), so whether the script's names are declared is not known.
    sure: bool = True


_NOTHING = Declared(frozenset(), frozenset(), frozenset())
UNKNOWN = Declared(frozenset(), frozenset(), frozenset(), sure=False)

# Read declarations of the scripts last asked for (a page's reading asks several times, and
# consecutive pages of a platform share their scripts). A reading cut by its deadline is not
# kept: another page's budget may read it.
_RECENT: OrderedDict[str, Declared] = OrderedDict()
_RECENT_SIZE = 256


def declared(script: str, deadline: float) -> Declared | None:
    """The script's global declarations (none for a script a browser does not run: one it
    cannot parse or compile); None where it is not parsed by `deadline`."""
    if script in _RECENT:
        _RECENT.move_to_end(script)
        return _RECENT[script]
    found = _read(script, deadline)
    if found is not None:
        _RECENT[script] = found
        if len(_RECENT) > _RECENT_SIZE:
            _RECENT.popitem(last=False)
    return found


def runs_all(scripts: list[str], modules: frozenset[int], deadline: float) -> list[bool]:
    """For each classic script of the page, in order, whether it gets past its global
    declarations, the scripts before it having made theirs (those that could); module
    scripts run. One pass, each script read once (review 172: asked per navigating script
    over all the scripts before it, 970 scripts of 64 KiB took 20 s). False for a script that
    could not be read by `deadline`, and for every one after it: a forward missed, never
    invented (review 171: a 0.9 MB script before the clash took the reading past its
    deadline, and the dropped script's forward was followed)."""
    lexical: set[str] = set()
    var: set[str] = set()
    # Names a script may have declared (one QuickJS does not compile): a later script that
    # clashes with them is not shown to run (review 173: taken to declare nothing, such a
    # script let a dropped script's forward be followed).
    maybe_lexical: set[str] = set()
    maybe_var: set[str] = set()
    answers: list[bool] = []
    for position, script in enumerate(scripts):
        if position in modules:
            answers.append(True)
            continue
        found = declared(script, deadline)
        if found is None:
            return answers + [False] * (len(scripts) - position)
        if found is _NOTHING:
            answers.append(True)
            continue
        if found is UNKNOWN:
            # Past a script whose names are not known, none that declares any is shown to
            # run.
            rest = [position in modules or declared(later, deadline) is _NOTHING
                    for position, later in enumerate(scripts[position + 1:], position + 1)]
            return [*answers, True, *rest]
        made = _instantiates(found, lexical, var)
        if made and found.sure:
            made = _instantiates(found, maybe_lexical, maybe_var)
            lexical |= found.lexical
            var |= found.var
        elif made:
            maybe_lexical |= found.lexical
            maybe_var |= found.var
            made = False  # not known to run
        answers.append(made)
    return answers


def _instantiates(script: Declared, lexical: set[str], var: set[str]) -> bool:
    return (script.lexical.isdisjoint(lexical) and script.lexical.isdisjoint(var)
            and script.lexical.isdisjoint(FIXED) and script.var.isdisjoint(lexical)
            and script.functions.isdisjoint(FIXED))


def _read(script: str, deadline: float) -> Declared | None:
    if not any(word in script for word in ("let", "const", "class", "var", "function")):
        return _NOTHING
    source = script.encode("utf-8", "replace")
    tree = jstree.parse(source, deadline)
    if tree is None:
        return None
    if tree.root_node.has_error:
        # A browser runs none of it, and declares nothing of it; unless an engine compiles
        # it (tree-sitter misreads `let\n{go} = {go:1}`: review 173), and then what it
        # declares is not known.
        return UNKNOWN if compiles(script) else _NOTHING
    lexical: set[str] = set()
    var: set[str] = set()
    functions: set[str] = set()
    statements = jstree.children(tree.root_node)
    twice = False
    for position, statement in enumerate(statements):
        while statement.type == "labeled_statement":  # `l: function f(){}` is one too
            body = jstree.field(statement, "body")
            if body is None:
                break
            statement = body
        kind = statement.type
        if kind == "lexical_declaration":
            for declarator in jstree.children(statement):
                if declarator.type == "variable_declarator":
                    twice |= _bound(jstree.field(declarator, "name"), source, lexical)
        elif kind == "class_declaration":
            twice |= _bound(jstree.field(statement, "name"), source, lexical)
        elif kind in ("function_declaration", "generator_function_declaration"):
            _bound(jstree.field(statement, "name"), source, functions)
        elif _bare_let(statement, source) and position + 1 < len(statements):
            # `let` and a line break before its names: tree-sitter reads two statements
            # where an engine reads a declaration (`let\ntop = 0`, review 171)
            _assigned(statements[position + 1], source, lexical)
    if _vars(tree.root_node, source, var, strict=_strict(statements, source)):
        return _NOTHING  # a script's `return`: the script is dropped, its names with it
    if not (lexical or var or functions):
        return _NOTHING
    if twice or not lexical.isdisjoint(var | functions):
        return _NOTHING  # declared twice: an early error, the script is dropped whole
    return Declared(frozenset(lexical), frozenset(var | functions), frozenset(functions),
                    sure=compiles(script))


def _strict(statements: list[jstree.Node], source: bytes) -> bool:
    """Whether the script opens with a "use strict" directive."""
    for statement in statements:
        inner = jstree.children(statement)
        if statement.type != "expression_statement" or not inner or inner[0].type != "string":
            return False
        if jstree.literal(inner[0], source) == "use strict":
            return True
    return False


def _bare_let(statement: jstree.Node, source: bytes) -> bool:
    inner = jstree.children(statement)  # (a comment after `let` is a child too: review 173)
    expression = inner[0] if statement.type == "expression_statement" and len(inner) == 1 \
        else None
    return (expression is not None and expression.type == "identifier"
            and jstree.text(expression, source) == "let"
            and not jstree.text(statement, source).endswith(";"))


def _assigned(statement: jstree.Node, source: bytes, into: set[str]) -> None:
    """The names `top = 0`, `a, b = 1` write (what a `let` on the line before declares)."""
    if statement.type != "expression_statement" or not statement.named_children:
        return
    stack = [statement.named_children[0]]
    while stack:
        node = stack.pop()
        if node.type == "identifier":
            into.add(jstree.name_of(node, source))
        elif node.type == "assignment_expression":
            left = jstree.field(node, "left")
            if left is not None:
                stack.append(left)
        elif node.type == "sequence_expression":
            stack.extend(jstree.children(node))


def _vars(root: jstree.Node, source: bytes, into: set[str], *, strict: bool) -> bool:
    """The names of every `var` outside functions and classes, and of the functions declared
    in blocks outside them (web browsers make those var bindings too, Annex B, but in strict
    code; Chromium refuses `{ function go(){} }` after a `let go`); whether a `return` stands
    outside functions, a SyntaxError that drops the script (review 173)."""
    returns = False
    stack: list[tuple[jstree.Node, bool]] = [(root, False)]  # (node, in the script's list)
    while stack:
        node, top = stack.pop()
        returns |= node.type == "return_statement"
        if node.type == "variable_declaration":
            for declarator in jstree.children(node):
                if declarator.type == "variable_declarator":
                    _bound(jstree.field(declarator, "name"), source, into)
        elif node.type == "for_in_statement" and any(
                child.type == "var" for child in node.children):
            _bound(jstree.field(node, "left"), source, into)
        elif node.type in ("function_declaration", "generator_function_declaration"):
            if top or not strict:
                _bound(jstree.field(node, "name"), source, into)
            continue
        if node.type in _FUNCTIONS:
            continue
        stack.extend((child, node is root) for child in node.named_children
                     if child.type not in _FUNCTIONS
                     or child.type in ("function_declaration",
                                       "generator_function_declaration"))
    return returns


def _bound(pattern: jstree.Node | None, source: bytes, into: set[str]) -> bool:
    """Adds the names a binding pattern binds (`a`, `[a, b]`, `{a, b: c, d = 1, ...e}`) to
    `into`; whether one of them was there already."""
    again = False
    stack = [pattern] if pattern is not None else []
    while stack:
        node = stack.pop()
        kind = node.type
        if kind in ("identifier", "shorthand_property_identifier_pattern"):
            name = jstree.name_of(node, source)
            again |= name in into
            into.add(name)
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
    return again
