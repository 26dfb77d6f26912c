"""Which of a page's events only a person makes, and which of them the page's scripts make
themselves. One rule for the handler attributes a page reader reads (audit.web.page) and the
listeners a script reader reads (audit.judge.halts): a handler of an event only a person makes
is not read, as what a person does is not what the page does on its own, unless a script of
the page fires that event itself (`el.click()`, `form.reset()`, `$(el).trigger('click')`, a
dispatched event) and so runs it unprompted."""

from __future__ import annotations

import re

# Events a person makes: a click, a key, a touch, the pointer, an edit, a form sent or reset,
# named exactly (review 155: `pointerlockerror` and a MediaQueryList's `change` come with no
# person; `toggle` neither: a `<details open>` fires it by itself as the page loads, review
# 138).
_PROMPTED = re.compile(
    r"(?:dbl|aux)?click|contextmenu|wheel|mousewheel|tap"
    r"|mouse(?:down|up|move|over|out|enter|leave)"
    r"|pointer(?:down|up|move|over|out|enter|leave|cancel)"
    r"|touch(?:start|end|move|cancel)|key(?:down|up|press)"
    r"|drag(?:start|end|enter|leave|over)?|drop|copy|cut|paste|beforeinput|input|submit|reset"
    r"|select")

# What makes one of those events in a script (review 149: jQuery's text names `.click` without
# calling it; review 151: a comment naming dispatchEvent fired every handler, `.trigger('click')`
# none; review 153: a handler called as a method, `Reflect.apply(b.click, …)`).
_FIRES = re.compile(
    r"\.\s*(?P<method>requestSubmit|focus|blur)\s*(?:\?\.\s*)?\("
    # a click with an argument that is no function written out (`b.click(0)`, `b.click(x)`,
    # `b.click(...[])`; reviews 155, 158): jQuery's `.click(handler)` binding reads so too
    r"|\.\s*(?P<clicked>click)\s*(?:\?\.\s*)?\(\s*(?!function\b|async\b|\(|[\w$]+\s*=>)"
    # a click method handed on, or called through call/apply/bind (`click.call(b)` of a
    # destructured one too)
    r"|\.\s*(?P<handed>click)\s*(?:[,)]|\.\s*(?:call|apply|bind)\b)"
    r"|\b(?P<bare>click)\s*\.\s*(?:call|apply|bind)\b"
    r"|\.\s*(?P<edit>execCommand|setSelectionRange|setRangeText)\s*\("
    r"|\.\s*(?P<set>selectionEnd|selectionStart)\s*="
    # a handler property called as a method (`b.onclick()`); a method named after an event
    # called with nothing (`el.submit()`, `form.reset()`, jQuery's `.change()`, review 155)
    r"|\.\s*(?:on)?(?P<named>[a-z]+)\s*(?:\?\.\s*)?\(\s*\)"
    # jQuery's trigger of a named event (or of `$.Event('x')`), an emitter's; a dispatched
    # event of a kind written out, or not
    r"|\.\s*(?:trigger(?:Handler)?|emit)\s*\(\s*(?:[\w$.]*Event\s*\(\s*)?['\"`]"
    r"(?P<triggered>[\w-]+)"
    r"|\.\s*dispatchEvent\s*\(\s*(?:new\s+\w*Event\s*\(\s*['\"](?P<dispatched>[\w-]+))?")
# A click's default action fires more: a checkbox's input and change, a submit button's
# submit, a reset button's reset (review 155).
CLICK_FIRES = ("click", "input", "change", "submit", "reset")
_FIRED_BY: dict[str, tuple[str, ...]] = {
    "click": CLICK_FIRES, "requestSubmit": ("submit",), "focus": ("focus", "focusin"),
    "blur": ("blur", "focusout"), "execCommand": ("input", "beforeinput"),
    "setSelectionRange": ("select",), "setRangeText": ("select",), "selectionEnd": ("select",),
    "selectionStart": ("select",)}
# Any event: a dispatched event whose kind is not written out, a method named at run time.
ANY = "*"


def prompted(event: str) -> bool:
    """Whether `event` (`click`, not `onclick`) comes only from what a person does."""
    return _PROMPTED.fullmatch(event) is not None


def fired_events(script: str) -> set[str]:
    """The events a script fires itself; ANY for a dispatched event whose kind is not
    written out."""
    fired: set[str] = set()
    for found in _FIRES.finditer(script):
        method = (found["method"] or found["clicked"] or found["handed"] or found["bare"]
                  or found["edit"] or found["set"])
        if method:
            fired.update(_FIRED_BY[method])
        elif found["named"]:
            if prompted(found["named"]):
                fired.update(fired_by(found["named"]))
        elif found["triggered"] or found["dispatched"]:
            fired.update(fired_by((found["triggered"] or found["dispatched"]).split(".")[0]))
        else:
            fired.add(ANY)
    return fired


def fired_by(event: str) -> tuple[str, ...]:
    """The events firing `event` makes (a click's default action's too)."""
    return CLICK_FIRES if event == "click" else (event,)


def unprompted(event: str, fired: frozenset[str] | set[str]) -> bool:
    """Whether a handler of `event` may run without a person: the event is not one only a
    person makes, or the page's scripts fire it (`fired`: fired_events of them all)."""
    return not prompted(event) or event in fired or ANY in fired
