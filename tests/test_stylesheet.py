"""What a page's own style sheets hide (audit/web/stylesheet.py, Page.displayed), and the
readings that use it: a block page in words no marker knows carrying login, error or
security-check words hidden by a class read as an `error` (out of the findings), and the
target's text hidden by a class made a block page like the target's (the README's known
limits until this was read)."""

from __future__ import annotations

import pytest

from audit.judge.classify import classify_page, platform_for_url
from audit.model import PageKind
from audit.policy.catalog import Catalog, load_catalog
from audit.web import stylesheet
from audit.web.page import SHEET_ELEMENTS, parse_page

# Zhihu's declared interception endpoint: a page there that no signature reads is read by the
# generic markers and its structure (audit/judge/classify.py, _classify_endpoint).
TARGET = "https://shop.example-target.com/item/42"
ENDPOINT = f"https://link.zhihu.com/?target={TARGET}"
BLOCK = "<title>提示</title><h2>このページへのアクセスは制限されています</h2>"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _displayed(css: str, body: str) -> list[str]:
    page = parse_page(f"<html><head><style>{css}</style></head><body>{body}</body></html>",
                      "https://a.test/")
    return page.displayed.split("\n")


def _kind(catalog: Catalog, html: str) -> tuple[PageKind, str]:
    page = parse_page(f"<!doctype html><html><head><meta charset=utf-8></head><body>{html}"
                      "</body></html>", ENDPOINT)
    facts = classify_page(page, catalog, platform_for_url(ENDPOINT, catalog), target=TARGET)
    return facts.kind, facts.signature or ""


@pytest.mark.parametrize(("css", "body", "shown"), [
    # Hidden: by a class, an id, an element, an attribute, in a rule list, in any casing of
    # the property, with !important, with CSS escapes, under @media screen and @layer.
    (".h{display:none}", "<p class=h>x</p><p>y</p>", ["y"]),
    ("#h{visibility:hidden}", "<p id=h>x</p><p>y</p>", ["y"]),
    ("aside{opacity:0}", "<aside>x</aside><p>y</p>", ["y"]),
    ("[data-x]{DISPLAY: NONE !important}", "<p data-x>x</p><p>y</p>", ["y"]),
    (".a, .h{display:none}", "<p class=h>x</p><p>y</p>", ["y"]),
    (".h{opacity:0%}", "<p class=h>x</p><p>y</p>", ["y"]),
    (".h{disp\\lay:no\\ne}", "<p class=h>x</p><p>y</p>", ["y"]),
    (".\\68{display:none}", "<p class=h>x</p><p>y</p>", ["y"]),
    ("@media screen{.h{display:none}}", "<p class=h>x</p><p>y</p>", ["y"]),
    ("@layer base{.h{display:none}}", "<p class=h>x</p><p>y</p>", ["y"]),
    ("div .h{display:none}", "<div><p class=h>x</p></div><p>y</p>", ["y"]),
    # Everything inside a hidden element is hidden with it.
    (".h{display:none}", "<div class=h><p>x</p><p><b>z</b></p></div><p>y</p>", ["y"]),
    # Shown: a rule for print, a pseudo-element, a state (:hover), a declaration in a comment.
    ("@media print{.h{display:none}}", "<p class=h>x</p>", ["x"]),
    (".h::before{display:none}", "<p class=h>x</p>", ["x"]),
    (".h:hover{display:none}", "<p class=h>x</p>", ["x"]),
    (".h{/*display:none*/color:red}", "<p class=h>x</p>", ["x"]),
    (".h{opacity:0.5}", "<p class=h>x</p>", ["x"]),
    # No cascade: another rule or the element's own style setting the property otherwise
    # keeps it shown, whatever the specificity or order; a descendant made visible keeps
    # its ancestors shown.
    (".h{display:none} div .h{display:block}", "<div><p class=h>x</p></div>", ["x"]),
    (".y .h{display:flex} .h{display:none!important}", "<div class=y><p class=h>x</p></div>",
     ["x"]),
    (".h{display:none}", "<p class=h style='display:block'>x</p>", ["x"]),
    (".h{visibility:hidden} .v{visibility:visible}", "<div class=h>x <b class=v>z</b></div>",
     ["x z"]),
    # But a display:none is not undone by a descendant's visibility.
    (".h{display:none} .v{visibility:visible}", "<div class=h>x <b class=v>z</b></div><p>y</p>",
     ["y"]),
])
def test_what_a_pages_style_sheets_hide(css: str, body: str, shown: list[str]) -> None:
    assert _displayed(css, body) == shown


def test_style_elements_that_do_not_apply_hide_nothing() -> None:
    """A style element for print, of another type, or inside an inert template."""
    for head in ("<style media=print>.h{display:none}</style>",
                 "<style type='text/less'>.h{display:none}</style>",
                 "<template><style>.h{display:none}</style></template>"):
        page = parse_page(f"<html><head>{head}</head><body><p class=h>x</p></body></html>")
        assert page.displayed == "x", head
    page = parse_page("<html><head><style media=screen>.h{display:none}</style></head>"
                      "<body><p class=h>x</p><p>y</p></body></html>")
    assert page.displayed == "y"


def test_the_text_itself_keeps_what_style_sheets_hide() -> None:
    """Page.text is what it was (the interception words are read in it: a real
    interstitial's script may show what its sheet hides at first); only `displayed` leaves
    out what the sheets hide, and it is made only when asked for."""
    page = parse_page("<html><head><style>.h{display:none}</style></head>"
                      "<body><p class=h>链接已被屏蔽</p><p>y</p></body></html>")
    assert page.displayed_text is None
    assert page.text == "链接已被屏蔽\ny"
    assert page.displayed == "y"
    assert page.text == "链接已被屏蔽\ny"


@pytest.mark.parametrize("hidden", [
    "<div class=h><h1>请先登录</h1></div>",  # login-wall words
    "<div class=h><p>404 Not Found</p></div>",  # error words
    "<div class=h><p>请输入验证码</p></div>",  # a security check's words
])
def test_hidden_words_do_not_excuse_a_block_page(catalog: Catalog, hidden: str) -> None:
    """A block page in words no marker knows on a declared endpoint, carrying login, error
    or captcha words hidden by a class: each made it an `error`, out of the findings. The
    same words shown still make the page what they say."""
    sheet = "<style>.h{display:none}</style>"
    kind, signature = _kind(catalog, sheet + BLOCK + hidden)
    assert kind is PageKind.BLOCKED, signature
    shown, _ = _kind(catalog, BLOCK + hidden.replace("class=h", ""))
    assert shown is not PageKind.BLOCKED


def test_a_hiding_rule_past_the_bound_is_not_read() -> None:
    """A page's style text is read up to SHEET_CHARS characters: a rule after that is not
    (the text counts as shown, as it did before the sheets were read)."""
    filler = "".join(f".f{n}{{color:red}}" for n in range(stylesheet.SHEET_CHARS // 14 + 10))
    assert len(filler) > stylesheet.SHEET_CHARS
    assert _displayed(".h{display:none}" + filler, "<p class=h>x</p><p>y</p>") == ["y"]
    assert _displayed(filler + ".h{display:none}", "<p class=h>x</p><p>y</p>") == ["x", "y"]


def test_selectors_past_the_bounds_are_not_read() -> None:
    """Selectors a hostile sheet could make costly are left out: `:has()`, more than
    COMBINATORS combinators, more than SELECTORS selectors."""
    deep = " ".join(["div"] * (stylesheet.COMBINATORS + 2))
    body = "<div>" * (stylesheet.COMBINATORS + 2) + "<p class=h>x</p>" + "</div>" * (
        stylesheet.COMBINATORS + 2) + "<p>y</p>"
    assert _displayed(f"{deep} .h{{display:none}}", body) == ["x", "y"]
    assert _displayed("div:has(p) .h{display:none}", body) == ["x", "y"]
    assert _displayed("div .h{display:none}", body) == ["y"]
    many = "".join(f".n{n}{{display:none}}" for n in range(stylesheet.SELECTORS))
    assert _displayed(f"{many} .h{{display:none}}", body) == ["x", "y"]
    long_list = ",".join(f".n{n}" for n in range(stylesheet.SELECTOR_LIST_CHARS // 4))
    assert _displayed(f"{long_list},.h{{display:none}}", body) == ["x", "y"]


def test_a_page_past_the_element_bound_is_not_read() -> None:
    body = "<i></i>" * SHEET_ELEMENTS + "<p class=h>x</p>"
    assert _displayed(".h{display:none}", body) == ["x"]


@pytest.mark.parametrize("css", [
    "}}}{{{.h{display:none",  # unbalanced
    ".h{display:none}\x00\ufffd<<>>@media{{{",  # garbage after a rule
    "@media screen{.h{display:none}",  # an unclosed block
    ".h{display:}",  # a declaration without a value
    ":::{display:none} .h{display:none}",  # a selector cssselect cannot read
    "svg|a{display:none} .h{display:none}",  # a namespace no XPath here knows
    "@import url(x.css); .h{display:none}",
])
def test_broken_style_sheets_are_read_as_far_as_they_go(css: str) -> None:
    """Broken CSS never fails the page: what CSS's own error recovery reads is read."""
    page = parse_page(f"<html><head><style>{css}</style></head>"
                      "<body><p class=h>x</p><p>y</p></body></html>")
    assert page.displayed in ("y", "x\ny")
    assert page.text == "x\ny"


def test_the_plain_reading_of_a_style_attribute_is_the_parsers() -> None:
    """inline_hides reads plain `name:value;…` attributes itself (no tokenizer): it must say
    what tinycss2's reading of the same declarations says, for every combination of hiding
    and showing values, spacing, case and !important, and past the plain form (quotes,
    functions, escapes, comments) it is tinycss2's."""
    import itertools
    import random

    values = ["display:none", "display:block", "Display : NONE", "visibility:hidden",
              "visibility:visible", "visibility:collapse", "opacity:0", "opacity:0.6",
              "opacity:.0", "opacity: 0%", "opacity:-1", "opacity:1", "opacity:0.05",
              "display:none!important", "display: none ! important", "color:red",
              "background:url(a;b)", 'font-family:"x; display:none"', "disp\\lay:none",
              "/* display:none */color:red", "opacity:0e3", "display:inline-block"]
    chosen = random.Random(7)
    styles = [";".join(combo) for combo in itertools.permutations(values, 2)]
    styles += [";".join(chosen.sample(values, 4)) + chosen.choice(["", ";", " ; "])
               for _ in range(2_000)]
    for style in styles:
        parsed = any(dict(stylesheet.inline_declarations(style)).values())
        assert stylesheet.inline_hides(style) is parsed, style


@pytest.mark.parametrize(("style", "shown"), [
    ("display: none", False), ("DISPLAY:NONE", False), ("opacity:0", False),
    ("disp\\lay:none", False), ("visibility:collapse", False),
    ("display:none;display:block", True), ("opacity:0.6", True),
    ("/* display:none */", True), ("content:'display:none'", True),
])
def test_what_an_elements_own_style_hides(style: str, shown: bool) -> None:
    page = parse_page(f'<html><body><p style="{style}">x</p><p>y</p></body></html>')
    assert (page.text == "x\ny") is shown
