"""Whether a JavaScript engine compiles a script, as a browser must before it runs any of it.
The one module that imports QuickJS."""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

import quickjs

# A JavaScript engine's own compiler, per process (a forked parse worker makes its own): it
# tells whether a browser would run a script at all. Created on first use.
_ENGINE: tuple[int, Any] | None = None


# The answers for the scripts last asked about: a page's reading asks twice for a script (its
# navigations, its declarations), and an engine's compile of a script declaring thousands of
# names is quadratic in them (review 174: 1 s for 64 KiB; QuickJS's time limit does not stop
# a compile).
_RECENT: OrderedDict[str, bool] = OrderedDict()
_RECENT_SIZE = 256


def compiles(script: str) -> bool:
    known = _RECENT.get(script)
    if known is None:
        known = _RECENT[script] = _compiles(script)
        if len(_RECENT) > _RECENT_SIZE:
            _RECENT.popitem(last=False)
    else:
        _RECENT.move_to_end(script)
    return known


def _compiles(script: str) -> bool:
    """Whether a JavaScript engine compiles the script, as a browser must before it runs any
    of it: tree-sitter accepts what an engine rejects as a whole (JavaScript's early errors:
    `let a; let a;`, an invalid regular expression, `import` or `await` in a classic script,
    strict-mode errors, and dozens more, which a second adversarial review found read as
    forwards). QuickJS (a maintained engine of its own, no threads, a 2 MB wheel) compiles the
    script as a function body, which differs from a classic script only in what the reading
    handles itself (a top-level `return` is an exit) or misses (a module's `import`, a `#!`
    line): a forward missed, never invented. Its parser answers deep nesting with a stack
    overflow error: not run, as in a browser that runs out of stack."""
    global _ENGINE
    if _ENGINE is None or _ENGINE[0] != os.getpid():
        context = quickjs.Context()
        context.set_memory_limit(256 << 20)
        context.set_time_limit(10)
        _ENGINE = (os.getpid(), context.eval(
            "(function (source) { try { new Function(source); return true; }"
            " catch (error) { return false; } })"))
    try:
        return _ENGINE[1](script) is True
    except Exception:  # the engine's own limits (memory, time, stack): not shown to run
        return False
