"""Where a page sends its reader without any action: a meta refresh, or a script that
navigates as the page loads. Pure functions of a parsed page.

An interception page must never be taken for a forward to its target, so a navigation counts
only where a browser running the page would make it, unconditionally, on load: in a script it
runs (not a template or JSON data), outside comments, at the top level of the script (not in a
function, a click handler or an arrow function), as a statement of its own (not the branch of
an `if`, an operand of `&&` or `?:`), assigned to the `location` itself (not a variable or
property whose name ends in "location"). A refresh inside <noscript> counts only where the
page's scripts navigate too (Baidu's `link?url=` page forwards by script and names the same
place in <noscript> for browsers without scripts); a refresh of more than IMMEDIATE_SECONDS is
delayed: the page is shown, and read, first.

The script reading is lexical (string literals, comments and braces; no parser): a regex
literal holding `//` or a quote can mislead it, and it then misses a navigation rather than
invents one. A navigation on the line after one ending in `)` is taken for the branch of an
`if (...)` (the reading cannot tell `log("x")` from `if (x)` there): missed too, so such a page
is read by its words and structure, not followed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from audit.web.page import Page
from audit.web.urls import resolve

# A refresh of at most this many seconds forwards before a reader can act on the page.
IMMEDIATE_SECONDS = 1.0


@dataclass(frozen=True)
class Forward:
    url: str  # absolute
    via: Literal["meta_refresh", "js"]
    delayed: bool  # a refresh shown for more than IMMEDIATE_SECONDS first


# String literals (kept: a navigation's target is one) and comments (blanked).
_TOKENS = re.compile(
    r"""(?P<string>"(?:\\.|[^"\\\n])*(?:"|(?=\n)|\Z)|'(?:\\.|[^'\\\n])*(?:'|(?=\n)|\Z)"""
    r"""|`(?:\\.|[^`\\])*(?:`|\Z))"""
    r"""|(?P<comment>//[^\n]*|<!--[^\n]*|/\*.*?(?:\*/|\Z))""",
    re.S,
)

# An assignment to the location (`location =`, `location.href =`, with `window.`,
# `document.`, `top.` or `self.` before it) or a call of `location.replace`/`.assign`; the
# name must start a token (not `blocked_location`, `info.location`). The value: a string
# literal (`literal`) or anything else.
_NAVIGATION = re.compile(
    r"""(?<![\w$.])(?:(?:window|document|top|self|parent|globalThis)\.)*location"""
    r"""(?:(?:\.href)?\s*=(?!=)|\.(?:replace|assign)\s*\()\s*"""
    r"""(?:(?P<quote>["'`])(?P<literal>[^"'`]+)(?P=quote))?"""
)

# What may stand before a statement that is run whatever happens: the start of the script, the
# end of a statement or block. After a newline, also the end of an expression (automatic
# semicolon insertion), unless it is a condition's `)`, an operator, or `else`/`do`.
_STATEMENT_END = ";}"
_CONTINUES = ")=&|?:,(!+-*/<>%^~[."
_CONTROL_WORDS = re.compile(r"(?<![\w$])(?:else|do|return|typeof|void|new|in|of|case)\s*\Z")


def _views(script: str) -> tuple[str, str]:
    """The script with its comments blanked, and its skeleton (string literals' contents
    blanked too), both of the script's length so that positions hold."""
    code: list[str] = []
    skeleton: list[str] = []
    last = 0
    for match in _TOKENS.finditer(script):
        before = script[last:match.start()]
        code.append(before)
        skeleton.append(before)
        text = match.group()
        if match.group("string") is not None:
            code.append(text)
            closed = len(text) > 1 and text[-1] == text[0]
            skeleton.append(text[0] + " " * (len(text) - 1 - closed) + (text[-1] if closed else ""))
        else:
            blank = re.sub(r"[^\n]", " ", text)
            code.append(blank)
            skeleton.append(blank)
        last = match.end()
    code.append(script[last:])
    skeleton.append(script[last:])
    return "".join(code), "".join(skeleton)


@dataclass(frozen=True)
class _Navigation:
    literal: str | None  # the target as written, when it is a string literal
    on_load: bool  # top-level, unconditional


# A page's scripts are read for at most this many navigations: a hostile page of 400,000
# `location=` statements must cost linear time, not hang the crawl (each navigation costs a
# few microseconds). Past it, the page may navigate anywhere (None).
MAX_NAVIGATIONS = 1_000


def _on_load(skeleton: str, start: int, depth: int) -> bool:
    """Whether a navigation at `start`, with `depth` braces open before it, is a statement
    run on load. Looks back only over the whitespace and the word before it."""
    if depth > 0:
        return False  # in a function body or a block
    end = start
    while end > 0 and skeleton[end - 1].isspace():
        end -= 1
    if end == 0:
        return True
    last = skeleton[end - 1]
    if last in _STATEMENT_END:
        return True
    if "\n" not in skeleton[end:start]:
        return False
    return last not in _CONTINUES and _CONTROL_WORDS.search(skeleton, max(0, end - 16),
                                                            end) is None


@functools.lru_cache(maxsize=4)
def _script_navigations(script: str) -> tuple[_Navigation, ...]:
    """The navigations of one script, at most MAX_NAVIGATIONS + 1 (the last one marks the
    cut). Kept for the few scripts last read: a page's forward, its script targets and the
    chain's analysis each ask for them."""
    if "location" not in script:
        return ()
    code, skeleton = _views(script)
    found: list[_Navigation] = []
    depth, counted = 0, 0  # braces open before `counted`, counted incrementally
    # Matched on the skeleton (a `location=` inside a string literal is not code), the
    # literal taken from the code at the same place.
    for match in _NAVIGATION.finditer(skeleton):
        if len(found) >= MAX_NAVIGATIONS:
            found.append(_Navigation(None, False))
            break
        depth += (skeleton.count("{", counted, match.start())
                  - skeleton.count("}", counted, match.start()))
        counted = match.start()
        literal = (code[match.start("literal"):match.end("literal")]
                   if match.group("literal") is not None else None)
        found.append(_Navigation(literal, _on_load(skeleton, match.start(), depth)))
    return tuple(found)


def _navigations(page: Page) -> Iterator[_Navigation]:
    found = 0
    for script in page.runnable_scripts:
        for navigation in _script_navigations(script):
            found += 1
            if found > MAX_NAVIGATIONS:
                yield _Navigation(None, False)
                return
            yield navigation


def js_location(page: Page) -> str | None:
    """The target, as written, of the first navigation the page's scripts make on load."""
    return next((n.literal for n in _navigations(page) if n.on_load and n.literal), None)


def script_targets(page: Page) -> list[str | None]:
    """Where the page's scripts navigate, on load or not (a handler, a condition, a timer):
    each target made absolute, None where it is not a string literal (it may be anywhere).
    Targets that lead nowhere (`#`, `javascript:`, a relative one on a page without its URL)
    are left out."""
    targets: list[str | None] = []
    for navigation in _navigations(page):
        if navigation.literal is None:
            targets.append(None)
        elif (url := resolve(page.url, navigation.literal)) is not None:
            targets.append(url)
    return targets


def page_forward(page: Page) -> Forward | None:
    """Where the page sends its reader without any action (see the module docstring)."""
    refresh = page.meta_refresh
    script_target = js_location(page)
    if refresh and page.meta_refresh_in_noscript and (script_target or not any(
            n.on_load for n in _navigations(page))):
        # Scripts run: the script's own target where it is written out, the noscript
        # refresh only where the script navigates to what it does not write out.
        refresh = None
    if refresh:
        url = resolve(page.url, refresh)
        if url:
            return Forward(url, "meta_refresh", page.meta_refresh_delay > IMMEDIATE_SECONDS)
    if script_target:
        url = resolve(page.url, script_target)
        if url:
            return Forward(url, "js", False)
    return None
