"""What a page's own style sheets hide (audit/web/stylesheet.py, Page.displayed), and the
readings that use it: a block page in words no marker knows carrying login, error or
security-check words hidden by a class read as an `error` (out of the findings), and the
target's text hidden by a class made a block page like the target's (the README's known
limits until this was read)."""

from __future__ import annotations

import time

import pytest

from audit.judge.classify import classify_page, platform_for_url
from audit.measure import chain as chains
from audit.model import Outcome, PageKind, Probe, SurfaceKind
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
    # ... unless the hiding one is !important and the other not (the cascade).
    (".y .h{display:flex} .h{display:none!important}", "<div class=y><p class=h>x</p></div>",
     [""]),
    (".h{display:none}", "<p class=h style='display:block'>x</p>", ["x"]),
    # A visible descendant of a hidden one is read as hidden with it (in doubt, hidden: a
    # page is only less excusable; a browser shows "z").
    (".h{visibility:hidden} .v{visibility:visible}", "<div class=h>x <b class=v>z</b></div>",
     [""]),
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
    or captcha words hidden by a class: each made it an `error`, out of the findings. Hidden,
    they send it to review (`generic/…_unseen`): read as no words, a real login page whose
    script shows what its sheet hides was judged a block (a review). The same words shown
    still make the page what they say (with a field to log in or answer the check in: words
    of a login or a check with nothing to do them with go to review, test_platform_pages)."""
    sheet = "<style>.h{display:none}</style>"
    kind, signature = _kind(catalog, sheet + BLOCK + hidden)
    assert kind is PageKind.UNRECOGNIZED and signature.endswith("_unseen"), signature
    shown, _ = _kind(catalog, BLOCK + hidden.replace("class=h", "") + "<input name=u>")
    assert shown is PageKind.ERROR


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
              "/* display:none */color:red", "opacity:0e3", "display:inline-block",
              # What a browser rejects (a review): counts for nothing either way.
              "display:no ne", "dis play:none", "display\u2003:none", "opacity:0 0",
              "opacity:-inf", "opacity:0.", "opacity:-1_0", "display:\xa0none",
              "display:none\u3000", "visibility:0", "display:bogus", "display:",
              "display:none!important", "visibility:inherit", "opacity:inherit",
              # A `[` opens a block that takes in what follows (the plain reading split it).
              "x:[", "x:[a;b]", "x:]", "display:[none]"]
    chosen = random.Random(7)
    styles = [";".join(combo) for combo in itertools.permutations(values, 2)]
    styles += [";".join(chosen.sample(values, 4)) + chosen.choice(["", ";", " ; "])
               for _ in range(2_000)]
    for style in styles:
        assert stylesheet.inline_settings(style) == stylesheet.parsed_inline_settings(style), \
            style


@pytest.mark.parametrize(("style", "shown"), [
    ("display: none", False), ("DISPLAY:NONE", False), ("opacity:0", False),
    ("disp\\lay:none", False), ("visibility:collapse", False),
    ("display:none;display:block", True), ("opacity:0.6", True),
    ("/* display:none */", True), ("content:'display:none'", True),
])
def test_what_an_elements_own_style_hides(style: str, shown: bool) -> None:
    page = parse_page(f'<html><body><p style="{style}">x</p><p>y</p></body></html>')
    assert (page.text == "x\ny") is shown


# -- what an adversarial review of the first version found (2026-12-06) ------------------------

WEIBO_WRAPPER = "https://weibo.cn/sinaurl?u=https%3A%2F%2Fwww.example-target.com%2Fnews%2F42"
MIRROR = "https://cdn.unlisted-mirror.example/v/42"
NEWS = "https://www.example-target.com/news/42"
ARTICLE = "".join(f"<p>Paragraph {n}: the teapot article explains clay, firing and glaze, "
                  f"item {n * 7919 % 1000}.</p>" for n in range(40))
NOTICE = "".join(f"<p>Hinweis {n}: Diese Adresse wurde von unserer Plattform gesperrt und "
                 f"kann hier nicht geöffnet werden, Nummer {n * 31 % 97}.</p>" for n in range(28))
ANTI_CLICKJACKING = ("<style id=ac>body{display:none !important}</style>"
                     "<script>document.getElementById('ac').remove()</script>")


def _html(body: str, head: str = "") -> str:
    return (f"<!doctype html><html><head><meta charset=utf-8><title>Teapot news</title>{head}"
            f"</head><body>{body}</body></html>")


def _ends_on_a_mirror(catalog: Catalog, page: str, control: str, end: str = MIRROR) -> Outcome:
    """A weibo.cn wrapper sending the link on to `end` (by default a host of no known
    platform), where `page` is served; the control fetch of the target gets `control`."""
    probe = Probe(id="p", source="weibo", surface=SurfaceKind.POST, target_url=NEWS,
                  rendered_as="anchor")
    chain = chains.Chain(probe=probe)
    for url, status, headers, html in [(WEIBO_WRAPPER, 302, {"location": end}, ""),
                                       (end, 200, {}, page)]:
        chains.on_response(chain, chains.Response(
            url=url, status=status, headers={"content-type": "text/html", **headers},
            body=html.encode()), "start" if url == WEIBO_WRAPPER else "http", catalog)
    chains.on_control_response(chain, chains.Response(
        url=NEWS, status=200, headers={"content-type": "text/html"}, body=control.encode()),
        catalog)
    return chains.observation(chain, run_id="r", method="crawl").outcome


@pytest.mark.parametrize(("head", "target_head"), [
    (ANTI_CLICKJACKING, ""),  # the block page hides all of its text until its script runs
    ("", ANTI_CLICKJACKING),  # the target does (a common pattern)
    ("<noscript><style>body{display:none}</style></noscript>", ""),
    ("<style>body{opacity:-inf}</style>", ""),  # a value a browser rejects
    ("<style>body, p:foo{display:none}</style>", ""),  # a list a browser drops whole
])
def test_a_block_page_whose_text_is_read_as_hidden_is_not_the_target(
        catalog: Catalog, head: str, target_head: str) -> None:
    """A page whose text its sheets hide all of compared with the control as a page without
    text, and matched the target's page by its title, length and layout alone: a block page
    in the target's clothes read as `wrapped` (a review). Such a page is read whole."""
    block = _html(f"<h1>Nice teapot</h1>{NOTICE}", head)
    target = _html(f"<h1>Nice teapot</h1>{ARTICLE}", target_head)
    block = block.replace("</body>", "<!--" + "x" * max(0, len(target) - len(block))
                          + "--></body>")
    assert _ends_on_a_mirror(catalog, block, target) is Outcome.UNRECOGNIZED


@pytest.mark.parametrize("style", ["opacity:-inf", "opacity:0.", "display:\xa0none",
                                   "display:no ne", "dis\nplay:none", "opacity:0 0",
                                   "visibility:hid\tden"])
def test_a_declaration_a_browser_rejects_hides_nothing(style: str) -> None:
    """Read by Python's float, strip and split, these hid an element's text from Page.text
    itself, and a block page's words with it: it read as `wrapped` (a review)."""
    page = parse_page(f'<html><body><p style="{style}">该链接已被屏蔽</p><p>y</p></body></html>')
    assert page.text == "该链接已被屏蔽\ny"
    assert _displayed(f".h{{{style}}}", "<p class=h>x</p><p>y</p>") == ["x", "y"]


@pytest.mark.parametrize("style", [
    "display:none!important;display:block",  # !important wins within a block
    "display:none;display:bogus",  # a value a browser rejects changes nothing
    "display:none;display:",
    "visibility:hidden;visibility:0",
])
def test_important_and_rejected_values_within_a_block(catalog: Catalog, style: str) -> None:
    """Each made hidden login words count, and the block page an `error` (a review)."""
    html = BLOCK + f"<h1 style='{style}'>请先登录</h1>"
    assert _kind(catalog, html)[0] is PageKind.BLOCKED
    sheet = f"<style>.h{{{style}}}</style>" + BLOCK + "<h1 class=h>请先登录</h1>"
    assert _kind(catalog, sheet) == (PageKind.UNRECOGNIZED, "generic/login_wall_unseen")


@pytest.mark.parametrize("head", [
    "<style>@media all and (min-width:0){.h{display:none}}</style>",
    "<style>@media (min-width:0){.h{display:none}}</style>",
    "<style>@media only screen{.h{display:none}}</style>",
    "<style>@media screen,print{.h{display:none}}</style>",
    "<style>@media not print{.h{display:none}}</style>",
    "<style media='screen and (min-width:0)'>.h{display:none}</style>",
    "<style type=''>.h{display:none}</style>",
    "<style>@supports (display:grid){.h{display:none}}</style>",
    "<style>@supports (display:grid){@media screen{.h{display:none}}}</style>",
    "<style>body{ .h{display:none} }</style>",
    "<style>body{ & .h{display:none} }</style>",
    "<style>.h{ @media screen { display:none } }</style>",
    "<style>h1.x, .h{display:none} h1{display:nonsense}</style>",
    "<style>.h{visibility:hidden} .v{visibility:inherit}</style>",
    "<style type=text/plain>.h{display:block}</style><style>.h{display:none}</style>",
])
def test_hiding_rules_a_browser_applies_are_read(catalog: Catalog, head: str) -> None:
    """Each left hidden login words counting: a block page read as an `error` (a review)."""
    html = head + BLOCK + "<h1 class=h>请先登录<b class=v></b></h1>"
    assert _kind(catalog, html) == (PageKind.UNRECOGNIZED, "generic/login_wall_unseen")


@pytest.mark.parametrize("css", [".m, p:foo{display:none}", ".m, p:hover(x){display:none}",
                                 ".m:contains('x'){display:none}", "|p{display:none}",
                                 ".m, p:first-child(){display:none}"])
def test_a_selector_list_a_browser_rejects_is_dropped_whole(css: str) -> None:
    assert _displayed(css, "<p class=m>x</p><div>y</div>") == ["x", "y"]


@pytest.mark.parametrize("css", [
    ".\\1 {display:none}", "#\\B{display:none}", "[title='\\1']{display:none}",
    "@media screen{" * 5_000 + ".h{display:none}", "@layer{" * 20_000,
    ".h{display:none;x:" + "(" * 40_000 + "}",
])
def test_hostile_sheets_never_fail_the_page(css: str) -> None:
    """XPath with control characters (ValueError) and nesting thousands deep
    (RecursionError) escaped Page.displayed, and through it the chain (a review)."""
    page = parse_page(f"<html><head><style>{css}</style></head><body><p class=h>x</p>"
                      "<p>y</p></body></html>")
    assert page.displayed in ("x\ny", "y")


def test_a_deeply_nested_style_attribute_never_fails_the_parse() -> None:
    """500 nested parentheses in a `style` raised RecursionError from parse_page itself."""
    style = "display:none;x:" + "(" * 5_000
    page = parse_page(f"<html><body><p style='{style}'>x</p><p>y</p></body></html>")
    assert page.text in ("x\ny", "y")


def _cost(css: str, body: str) -> float:
    """How many times its parse Page.displayed takes, on one page, in this run."""
    html = f"<html><head><style>{css}</style></head><body>{body}</body></html>"
    parse_page(html)  # warm (XPath compiled, caches)
    started = time.perf_counter()
    page = parse_page(html)
    parsed = time.perf_counter() - started
    started = time.perf_counter()
    assert page.displayed is not None
    return (time.perf_counter() - started) / parsed


def test_what_a_hostile_sheet_costs_is_bounded() -> None:
    """Sibling and descendant combinators over long lists and deep nests took 21,224 and
    54,804 times a page's parse (a review): selectors now run right to left, one
    descendant combinator at most, none counting siblings, within SHEET_WORK. Ratios of
    one run, far above what the bounds give (~2-12x here) and far below the failures."""
    deep = ("<div class=a>" * 250 + "<p class=h>x</p>" + "</div>" * 250) * 20
    assert _cost("".join(f"* * * .h{n}{{display:none}}" for n in range(50)), deep) < 200
    assert _cost("".join(f".a .h{n}{{display:none}}" for n in range(512)), deep) < 200
    siblings = "<p>x</p>" * 5_000
    assert _cost("p~p~p~p~p~p~p{display:none} p:nth-last-of-type(2){display:none}",
                 siblings) < 200
    flat = "<p class=h>x</p>" * 19_000
    assert _cost("".join(f".h{n}{{display:none}}" for n in range(512)), flat) < 200


def test_an_opacity_of_many_digits_costs_no_more_than_its_length() -> None:
    """The first inline reading's pattern backtracked over `opacity:000…01` (a review)."""
    digits = "0" * 16_000 + "1"
    started = time.perf_counter()
    parse_page(f"<html><body><p style='opacity:{digits}'>x</p></body></html>")
    evil = time.perf_counter() - started
    started = time.perf_counter()
    parse_page(f"<html><body><p title='{digits}'>x</p></body></html>")
    plain = time.perf_counter() - started
    assert evil < 20 * plain + 0.01


# -- what a second review, of the fixes, found (2026-12-06) ------------------------------------


@pytest.mark.parametrize("css", [
    "p{display:block} .h{display:none}",  # a less specific rule that shows
    "div p{display:block} div > p.h{display:none}",
    "*{opacity:1} .h{opacity:0}",
    "body *{visibility:visible} .h{visibility:hidden}",
    "@media print{.h{display:block}} .h{display:none}",  # rules that do not apply on screen
    "@media not all{.h{display:block}} .h{display:none}",
    ".h{display:none} @media (max-width:0px){.h{display:block}}",  # conditions unevaluated
    ".h{display:none} @supports (not (display:block)){.h{display:block}}",
    ".h{display:none} @scope (.nothing){.h{display:block}}",
    ".h{display:none} @starting-style{.h{display:block}}",
    ".h{display:none} @container (min-width:99999px){.h{display:block}}",
    ".h{display:none} :scope > .h{display:block}",
    ".h{display:none} #1x{display:block}",  # a selector a browser rejects
    ".h{visibility:hidden} .v{visibility:visible}",  # a visible descendant shows only itself
])
def test_rules_that_show_count_only_where_a_browser_applies_them(catalog: Catalog,
                                                                   css: str) -> None:
    """Any rule that showed the element counted, whatever its specificity, media or
    condition: one ordinary `p{display:block}` undid every hiding rule, and the hidden login
    words made a block page an `error` (a review). The cascade decides now, and a rule under
    a condition hulian does not evaluate hides but does not show."""
    html = (f"<style>{css}</style>" + BLOCK
            + "<div><p class=h id=1x>请先登录<span class=v>.</span></p></div>")
    assert _kind(catalog, html) == (PageKind.UNRECOGNIZED, "generic/login_wall_unseen"), css


@pytest.mark.parametrize("message", [
    "<img src='/blocked.png' alt=''>",  # a notice in a picture, every text hidden
    "<input value='Dieser Link ist gesperrt' readonly>",
])
def test_a_page_that_shows_none_of_its_text_is_not_read_whole(catalog: Catalog,
                                                              message: str) -> None:
    """The first fix read a page whose sheets hide all of its text as showing all of it: a
    block page showing its notice as a picture, with login words hidden, was an `error`, and
    one carrying the target's article hidden matched the target with a similarity of 1.0
    (a review). Its displayed text is empty; the comparison needs both texts to agree."""
    html = "<style>.h{display:none}</style>" + message + "<p class=h>请先登录</p>"
    assert _kind(catalog, html) == (PageKind.UNRECOGNIZED, "generic/login_wall_unseen")
    mirror = _html(message + f"<div class=h><h1>Nice teapot</h1>{ARTICLE}</div>",
                   "<style>.h{display:none}</style>")
    target = _html(f"<h1>Nice teapot</h1>{ARTICLE}")
    assert _ends_on_a_mirror(catalog, mirror, target) is Outcome.UNRECOGNIZED


def test_a_notice_read_as_hidden_does_not_make_a_page_like_the_target(catalog: Catalog) -> None:
    """A rule hulian reads as hiding where a browser does not (a media feature it does not
    evaluate) hid a block page's long notice from the displayed text; with the target's
    article kept out of sight otherwise (off the screen), the page matched the target (a
    review). The comparison takes the lower of the whole text's and the displayed text's
    likeness."""
    notice = " ".join(f"Hinweis {n}: Diese Adresse wurde von unserer Plattform gesperrt und "
                      f"kann hier nicht geöffnet werden, Vorgang {n * 7919 % 10007} Zeichen "
                      f"{chr(0x4E00 + n * 37)}." for n in range(120))
    mirror = _html(f"<div class=msg>{notice}</div><div style='position:absolute;"
                   f"left:-99999px'><h1>Nice teapot</h1>{ARTICLE}</div>",
                   "<style>@media (max-width:1px){.msg{display:none}}</style>")
    target = _html(f"<h1>Nice teapot</h1>{ARTICLE}")
    target = target.replace("</body>", "<!--" + "x" * max(0, len(mirror) - len(target))
                            + "--></body>")
    assert _ends_on_a_mirror(catalog, mirror, target) is Outcome.UNRECOGNIZED


def test_a_bracket_in_a_style_attribute_is_read_as_css_reads_it() -> None:
    """The plain reading split at every `;`, where a `[` takes in what follows: an element a
    browser shows was hidden (its block words gone from Page.text), one it hides shown."""
    shown = parse_page("<html><body><p style='x:[;display:none'>该链接已被屏蔽</p></body></html>")
    assert shown.text == "该链接已被屏蔽"
    hidden = parse_page("<html><body><p style='display:none;x:[;display:block'>x</p><p>y</p>"
                        "</body></html>")
    assert hidden.text == "y"


def test_nested_selector_lists_do_not_multiply_without_bound() -> None:
    """20 selectors on each of 6 nested levels (an 800-byte sheet) made 64 million selectors
    and ran out of memory (a review)."""
    css = "".join(",".join(f".s{level}x{n}" for n in range(20)) + "{" for level in range(6))
    css += "display:none" + "}" * 6
    assert _cost(css, "<p class=h>x</p>") < 200


@pytest.mark.parametrize(("rule", "body"), [
    (":not(* *) *{opacity:0}", ("<div>" * 250 + "x" + "</div>" * 250) * 4),
    (":lang(zz) *{opacity:0}", ("<div>" * 250 + "x" + "</div>" * 250) * 16),
    (":not(p + p) + p{opacity:0}", "<p>x</p>" * 19_000),
])
def test_selectors_that_walk_the_tree_are_not_read(rule: str, body: str) -> None:
    """Their XPath walks every ancestor or sibling of each element tested, which the work
    budget counted as one test: 257-2,641 times a page's parse (a review)."""
    assert _cost(rule * 4, body) < 200


def test_a_cached_reading_is_not_shared() -> None:
    """The parsed attributes are cached: what a caller is given is its own."""
    style = "display:none;font-family:'a'"
    first = stylesheet.inline_settings(style)
    first["display"] = (False, False)
    assert stylesheet.inline_settings(style)["display"] == (True, False)


@pytest.mark.parametrize(("media", "holds"), [
    ("", True), ("screen", True), ("only screen", True), ("print", False), ("not print", True),
    ("not all", False), ("screen, print", True), ("screen and (max-width: 768px)", True),
    ("(min-width:769px)", False), ("(min-width:0)", True), ("(max-width:0px)", False),
    ("screen and (min-width: 48em)", False), ("(orientation: portrait)", True),
    ("not screen and (max-width:600px)", False),
    # What hulian does not evaluate, or browsers reject: neither holds nor fails.
    ("(prefers-color-scheme: dark)", None), ("(width <= 600px)", None), ("screen and", None),
    ("only", None), ("(hover: none)", None),
])
def test_media_queries_on_a_phones_screen(media: str, holds: bool | None) -> None:
    assert stylesheet.media_holds(media) is holds


def test_a_responsive_login_page_is_a_login_page(catalog: Catalog) -> None:
    """A page with a phone's and a wide screen's halves, each hidden on the other's screen:
    taking every media query to hold hid both, and a login page at an interception endpoint
    read as showing no login words, judged by its structure (a block, a false accusation).
    Widths are read on a phone's screen (stylesheet.VIEWPORT)."""
    html = ("<style>@media (min-width:769px){.phone{display:none}}"
            "@media (max-width:768px){.wide{display:none}}</style>"
            "<div class=phone><h1>请先登录</h1></div><div class=wide><h1>请先登录</h1></div>"
            "<form><input name=u><input type=password name=p></form>")
    assert _kind(catalog, html) == (PageKind.ERROR, "generic/login_wall")



@pytest.mark.parametrize("head", [
    # Real pages' patterns that show by script or on other screens what their sheet hides:
    "<style>[v-cloak]{display:none}</style>",  # Vue, until the app mounts
    "<style>.modal{display:none} .modal.show{display:block}</style>",  # a modal opened later
    "<style>.fade:not(.show){opacity:0}</style>",  # fades in
    "<style>.no-js .h{display:none}</style>",  # until a script removes the class
])
def test_a_login_page_whose_words_its_sheet_hides_is_for_review(catalog: Catalog,
                                                                head: str) -> None:
    """Read as showing no login words, such a page at an interception endpoint was judged
    a block by its structure, a false accusation (a review). Neither excused nor accused:
    a person must look."""
    body = ("<div class=no-js><div v-cloak class='modal fade h'><h1>请先登录</h1>"
            "<form><input name=u></form></div></div>")
    assert _kind(catalog, head + body) == (PageKind.UNRECOGNIZED, "generic/login_wall_unseen")


@pytest.mark.parametrize("css", [
    ".h:focus-visible, .h{display:none}",  # a selector cssselect cannot read: the list
    "p:first-child + .h{display:none}",  # past the cost bounds
    "@media screen{" * 10 + ".h{display:none}" + "}" * 10,  # nested past the bound
])
def test_words_a_rule_hulian_cannot_read_may_hide_are_for_review(catalog: Catalog,
                                                                 css: str) -> None:
    """A hiding rule hulian left out (a selector it cannot read, one past the bounds) may
    hide the login words it reads as shown: every bound failed open, and the page was an
    `error` (a review). Where any rule that could hide was not read, such words send the
    page to review."""
    html = f"<style>{css}</style>" + BLOCK + "<p>x</p><p class=h>请先登录</p>"
    assert _kind(catalog, html) == (PageKind.UNRECOGNIZED, "generic/login_wall_unseen")


def test_what_a_browser_hides_itself_is_not_displayed() -> None:
    page = parse_page("<html><body><dialog><p>请先登录</p></dialog><details><summary>s</summary>"
                      "<p>d</p></details><datalist><option>o</option></datalist><p>y</p>"
                      "</body></html>")
    assert page.displayed == "s\ny"


def test_a_hidden_root_hides_everything() -> None:
    """`html{display:none}` hid nothing: the text is read from <body> (a review)."""
    page = parse_page("<html><head><style>html{visibility:hidden}</style></head>"
                      "<body><p>请先登录</p></body></html>")
    assert page.displayed == ""


def test_two_pages_that_show_no_text_are_not_alike_by_their_hidden_text(
        catalog: Catalog) -> None:
    """An anti-clickjacking target and a block page copying its head and hidden article, its
    notice in a pseudo-element: neither shows text, and their whole texts, which neither
    shows, made them alike (similarity 1.0, `wrapped`; a review)."""
    head = "<style>body{display:none !important} html::before{content:'gesperrt'}</style>"
    target = _html(f"<h1>Nice teapot</h1>{ARTICLE}", head)
    assert _ends_on_a_mirror(catalog, target, target) is Outcome.UNRECOGNIZED


# -- what a final review found (2026-12-06) ---------------------------------------------------


def test_a_selector_nested_hundreds_deep_never_fails_a_probe(catalog: Catalog) -> None:
    """`:is(` nested 250 deep (1,252 characters) raised RecursionError from cssselect through
    the chain: the probe failed inside hulian in every run (a review)."""
    rule = ":is(" * 250 + ".h" + ")" * 250 + "{display:none}"
    html = f"<style>{rule}</style>" + BLOCK + "<p class=h>请先登录</p>"
    assert _kind(catalog, html) == (PageKind.UNRECOGNIZED, "generic/login_wall_unseen")


@pytest.mark.parametrize("rule", ["body div .art{display:none}",  # two descendant combinators
                                  ".art:focus-visible, .art{display:none}"])
def test_a_text_hulian_could_not_read_in_full_does_not_vouch_for_a_page(
        catalog: Catalog, rule: str) -> None:
    """A block page carrying the target's article hidden by a rule hulian does not read: its
    whole text matched the control (0.90) and the page read as `wrapped` (a review)."""
    notice = "<h2>Dieser Link ist auf unserer Plattform nicht erlaubt.</h2>"
    block = _html(f"{notice}<div><div class=art><h1>Nice teapot</h1>{ARTICLE}</div></div>",
                  f"<style>{rule}</style>")
    target = _html(f"<h1>Nice teapot</h1>{ARTICLE}")
    target = target.replace("</body>", "<!--" + "x" * max(0, len(block) - len(target))
                            + "--></body>")
    assert _ends_on_a_mirror(catalog, block, target) is Outcome.UNRECOGNIZED


def test_a_target_that_shows_no_text_cannot_vouch_for_a_diversion(catalog: Catalog) -> None:
    """An anti-clickjacking target and a platform's page carrying the same page: compared as
    unlike (no text shown), the chain was `diverted`, a finding against the platform (a
    review). With nothing to compare, a person must look."""
    head = "<style>body{display:none !important}</style>"
    target = _html(f"<h1>Nice teapot</h1>{ARTICLE}", head)
    platform_page = "https://www.zhihu.com/question/42"
    assert _ends_on_a_mirror(catalog, target, target, platform_page) is Outcome.UNRECOGNIZED


def test_a_captcha_row_the_targets_own_sheet_hides_is_no_captcha(catalog: Catalog) -> None:
    """On the target's own page it read as an `error` (a captcha), the target's page lost."""
    page = parse_page(_html("<style>.c{display:none}</style><h1>Nice teapot</h1>"
                            "<div class=c>请输入验证码</div>"), NEWS)
    facts = classify_page(page, catalog, platform_for_url(NEWS, catalog), target=NEWS)
    assert facts.kind is not PageKind.ERROR


def test_an_icons_title_is_not_the_pages() -> None:
    """An <svg>'s <title> (扫码登录) was taken as the page's title and made a block page a
    login wall (a review)."""
    page = parse_page("<html><body><svg><title>扫码登录</title></svg><p>x</p></body></html>")
    assert page.title == ""
    page = parse_page("<html><head><title>提示</title></head><body><svg><title>i</title></svg>"
                      "</body></html>")
    assert page.title == "提示"
