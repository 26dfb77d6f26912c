"""Scripts as tree-sitter's JavaScript grammar reads them: the parse under a deadline, and the
few readings of nodes that every reader of a script's tree shares (a node's text, a field, a
string literal's value, a name written with escapes). The one module that imports
tree-sitter."""

from __future__ import annotations

import functools
import re
import time

import tree_sitter_javascript
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree, TreeCursor

__all__ = ["Node", "Tree", "TreeCursor", "captures", "field", "literal", "name_of",
           "named_strings", "next_outside", "parse", "text", "unescape"]


@functools.cache
def _language() -> Language:
    return Language(tree_sitter_javascript.language())


@functools.cache
def _query(pattern: str) -> Query:
    return Query(_language(), pattern)


def captures(root: Node, pattern: str, start: int, end: int) -> list[dict[str, list[Node]]]:
    """The matches of a tree-sitter query `pattern` within the bytes start..end: each a map
    of its captures' names to their nodes. The query runs in tree-sitter's own code, and a
    match holds its nodes without a climb of the tree (Node.parent searches from the root:
    review 172's deep nesting made each climb as long as the script)."""
    cursor = QueryCursor(_query(pattern))
    cursor.set_byte_range(start, end)
    return [found for _pattern, found in cursor.matches(root)]


# Where a script gives a name a string: `var url = "…"`, `url = "…"`, `{url: "…"}`,
# `{"url": "…"}` (WeChat's cgiData).
NAMED_STRINGS = """
(variable_declarator name: (identifier) @name value: [(string) (template_string)] @value)
(assignment_expression left: (identifier) @name right: [(string) (template_string)] @value)
(pair key: [(property_identifier) (string)] @name value: [(string) (template_string)] @value)
"""


def named_strings(root: Node, source: bytes) -> list[tuple[str, str]]:
    """Each name a script gives a string (NAMED_STRINGS), in the script's order: the name as
    the engine reads it, the string's value with its escapes read."""
    found = []
    for match in captures(root, NAMED_STRINGS, 0, len(source)):
        key = match["name"][0]
        name = literal(key, source) if key.type == "string" else name_of(key, source)
        value = literal(match["value"][0], source)
        if name is not None and value is not None:
            found.append((name, value))
    return found


def parse(source: bytes, deadline: float) -> Tree | None:
    """The script's syntax tree, or None where tree-sitter has not finished it by `deadline`
    (time.monotonic()): an adversarial review found a 33-byte script on which its error
    recovery never ends, its memory growing by megabytes a second."""
    calls = 0

    def past_deadline(_offset: int, _has_error: bool) -> bool:
        nonlocal calls
        calls += 1
        return calls % 64 == 0 and time.monotonic() > deadline

    try:
        return Parser(_language()).parse(lambda at, _point: source[at:at + 65536],
                                         progress_callback=past_deadline)
    except ValueError:  # cancelled
        return None


def text(node: Node | None, source: bytes) -> str:
    """A node's text, from the script's bytes: a tree parsed through a read callback (for its
    deadline, see parse) answers Node.text by calling it again, 64 KB a time."""
    if node is None:
        return ""
    return source[node.start_byte:node.end_byte].decode("utf-8", "replace")


def field(node: Node, name: str) -> Node | None:
    return node.child_by_field_name(name)


def next_outside(cursor: TreeCursor) -> bool:
    """Move the cursor to the next node in the script's order that is not inside the one it
    is on; False at the end of the subtree it walks."""
    while not cursor.goto_next_sibling():
        if not cursor.goto_parent():
            return False
    return True


# (`\u{0000003C}`: JavaScript takes any number of leading zeros, review 133.)
_ESCAPES = re.compile(
    r"\\(?:u\{0*([0-9a-fA-F]{1,6})\}|u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|(\r\n|.))", re.S)
_SINGLE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v", "0": "\0",
           "\n": "", "\r": "", "\r\n": "", "\u2028": "", "\u2029": ""}


def _unescape_one(match: re.Match[str]) -> str:
    code = match.group(1) or match.group(2) or match.group(3)
    if code is not None:
        value = int(code, 16)
        return chr(value) if value <= 0x10FFFF else ""
    return _SINGLE.get(match.group(4), match.group(4))


def unescape(written: str) -> str:
    """JavaScript's escapes read: `\\u0063`, `\\u{63}`, `\\x63`, `\\n`, a line continuation."""
    return _ESCAPES.sub(_unescape_one, written) if "\\" in written else written


def literal(node: Node | None, source: bytes) -> str | None:
    """The value of a string literal (or a template without substitutions), its escapes
    read (`"https:\\/\\/..."` is `https://...`); None for anything else, which may be anywhere."""
    if node is None or node.type not in ("string", "template_string"):
        return None
    if any(child.type == "template_substitution" for child in node.named_children):
        return None
    return unescape(text(node, source)[1:-1])


def name_of(node: Node | None, source: bytes) -> str:
    """An identifier's or a property's name as the engine reads it: `\\u0063lose` is `close`."""
    return unescape(text(node, source))


def children(node: Node) -> list[Node]:
    """A node's named children but its comments (tree-sitter names them too: review 153's
    `(window /* tab */).close()` was read as the comment's)."""
    return [child for child in node.named_children if child.type != "comment"]
