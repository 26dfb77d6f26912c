"""A script whose global declarations cannot be made is dropped whole by the browser
(audit/judge/declarations.py): its forward is no forward. Review 168 found warning, block and
copy pages in Japanese, Russian and Traditional Chinese whose forward sat in such a script
(`let top = 0; location.replace(…)`) read as `wrapped`. Each case's reading was checked
against Chromium 131 (stays on the page, or forwards)."""

from __future__ import annotations

import pytest

from audit.judge.forwards import page_forward
from audit.model import Outcome
from audit.policy.catalog import Catalog, load_catalog
from audit.web.page import parse_page
from tests.chaindrive import TARGET, WRAPPER, drive

NAV = "location.replace('/target')"

DROPPED = {
    "let of the window's top": f"<script>let top = 0;\n{NAV}</script>",
    "const of its document": f"<script>const document = window.document;\n{NAV}</script>",
    "let of window": f"<script>let window = self;\n{NAV}</script>",
    "class top": f"<script>class top {{}}\n{NAV}</script>",
    "let undefined": f"<script>let undefined = 1;\n{NAV}</script>",
    "a pattern binding top": f"<script>let {{a: top}} = {{}};\n{NAV}</script>",
    "var after an earlier let": f"<script>let go = 1;</script><script>var go = 2;\n{NAV}</script>",
    "function after an earlier const": f"<script>const t = 1;</script><script>function t(){{}}\n"
                                       f"{NAV}</script>",
    "let after an earlier let": f"<script>let lang='ru';</script><script>let lang='ru';\n"
                                f"{NAV}</script>",
    "let after an earlier var": f"<script>var b=1</script><script>let b=2;\n{NAV}</script>",
    "let after a for-in var": f"<script>for (var i in {{}}) {{}}</script><script>let i=0;\n"
                              f"{NAV}</script>",
    # Review 171's gaps in the first version:
    "a labelled function top": f"<script>l: function top(){{}} {NAV}</script>",
    "let after a labelled function": f"<script>l: function go(){{}}</script>"
                                     f"<script>let go=1;{NAV}</script>",
    "let after a function in a block": f"<script>{{ function go(){{}} }}</script>"
                                       f"<script>let go=1;{NAV}</script>",
    "let after a function in an if": f"<script>if (1) function go(){{}}</script>"
                                     f"<script>let go=1;{NAV}</script>",
    "let after a function in a switch": f"<script>switch(1){{case 1: function go(){{}}}}"
                                        f"</script><script>let go=1;{NAV}</script>",
    "let after a function in a try": f"<script>try{{ function go(){{}} }}catch(e){{}}</script>"
                                     f"<script>let go=1;{NAV}</script>",
    "a function in a block after a let": f"<script>let go=1</script><script>{{ function go()"
                                         f"{{}} }} {NAV}</script>",
    "let and a line break before top": f"<script>let\ntop = 0; {NAV}</script>",
    # Review 173: QuickJS does not compile a class static block (nor `#x in o`, the regex
    # `v` flag), and the script was taken to declare nothing; a comment after `let`;
    # tree-sitter misreading a script an engine runs.
    "var after a const in a script QuickJS refuses": "<script>const go=1; class A { static "
                                                     f"{{ }} }}</script><script>var go; {NAV}"
                                                     "</script>",
    "let and a comment before top": f"<script>let // note\ntop = 0; {NAV}</script>",
    "var after a script tree-sitter misreads": "<script>let\n{go} = {go:1}</script>"
                                               f"<script>var go; {NAV}</script>",
    # a large script before the clash took the first version past its deadline, and the
    # dropped script was taken to run
    "a clash after 0.9 MB of script": "<script>let go=1</script><script>var a=["
                                      + ",".join(["1"] * 450_000)
                                      + f"]</script><script>let go=2;{NAV}</script>",
}

RUN = {
    "var of top (allowed, does nothing)": f"<script>var top = 0;\n{NAV}</script>",
    "a module's let, then a classic one": f"<script type=module>let a=1</script>"
                                          f"<script>let a=2;\n{NAV}</script>",
    "an assignment to an earlier let": f"<script>let a=1</script><script>a=2;\n{NAV}</script>",
    "a function twice": f"<script>function f(){{}}</script><script>function f(){{}}\n"
                        f"{NAV}</script>",
    "a var twice": f"<script>var v=1</script><script>var v=2;\n{NAV}</script>",
    "a let in a block": f"<script>let a=1</script><script>{{ let a=2; }}\n{NAV}</script>",
    "a var inside a function": f"<script>function g(){{ var a=1 }}</script><script>let a=2;\n"
                               f"{NAV}</script>",
    "a pattern's key only": f"<script>let {{top: t2, x}} = {{}};\n{NAV}</script>",
    "after a script that was dropped": f"<script>let top=1; let q=1;</script>"
                                       f"<script>let q=2;\n{NAV}</script>",
    "a replaceable global (self)": f"<script>let self = 1;\n{NAV}</script>",
    "let name, let status": f"<script>let name = 1; let status = 2;\n{NAV}</script>",
    "function name": f"<script>function name(){{}}\n{NAV}</script>",
    "a class inside a function": f"<script>(function(){{ class top {{}} }})();\n{NAV}</script>",
    "a function top in a block": f"<script>{{ function top(){{}} }} {NAV}</script>",
    # a script a browser drops declares nothing (review 171: its names were counted)
    "after a script that does not parse": f"<script>let go=1; )</script>"
                                          f"<script>let go=2;{NAV}</script>",
    "after a script that does not compile": f"<script>let go=1; let go=3;</script>"
                                            f"<script>let go=2;{NAV}</script>",
    "a function in a block of strict code": "<script>let go=1</script><script>'use strict'; "
                                            f"{{ function go(){{}} }} {NAV}</script>",
    "after a script with a return outside functions": "<script>let go = 1; if (0) return;"
                                                      f"</script><script>var go; {NAV}</script>",
    "after 0.9 MB of script, no clash": "<script>let go=1</script><script>var a=["
                                        + ",".join(["1"] * 450_000)
                                        + f"]</script><script>let gone=2;{NAV}</script>",
}

@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


WARNING = "<h2>Leaving</h2><p>You are leaving.</p><a href='/target'>Go</a>"


def _forwards(scripts: str) -> bool:
    page = parse_page(f"<!doctype html><title>t</title><body>{WARNING}{scripts}",
                      "https://wrapper.example/leave")
    forward = page_forward(page)
    return forward is not None and not forward.delayed


@pytest.mark.parametrize("scripts", DROPPED.values(), ids=DROPPED.keys())
def test_a_script_whose_declarations_clash_is_not_run(scripts: str) -> None:
    assert not _forwards(scripts)


@pytest.mark.parametrize("scripts", RUN.values(), ids=RUN.keys())
def test_a_script_whose_declarations_can_be_made_forwards(scripts: str) -> None:
    assert _forwards(scripts)


PAGES = {
    "LINE (Japanese)": "<title>外部サイト</title><p>外部サイトに移動します。リンク先の安全性をご確認"
                       "ください。</p><p>TGT</p><a href='TGT'>移動する</a>"
                       "<script>let top = 0;\nlocation.replace('TGT')</script>",
    "VK block (Russian)": "<head><script>let lang='ru'</script></head><body><h1>Ссылка "
                          "заблокирована</h1><p>Переход по этой ссылке невозможен.</p>"
                          "<script>let lang='ru'; location.href='TGT'</script>",
    "copy page (Traditional Chinese)": "<p>請長按網址複製，然後在瀏覽器中開啟</p><p>TGT</p>"
                                       "<script>const document = window.document; "
                                       "location.replace('TGT')</script>",
}


@pytest.mark.parametrize("page", PAGES.values(), ids=PAGES.keys())
def test_an_interstitial_whose_forward_is_never_run_is_not_an_open_link(
        catalog: Catalog, page: str) -> None:
    target_page: tuple[int, dict[str, str], bytes] = (200, {}, b"<title>Teapot</title><p>A blue teapot.</p>")
    observation = drive(catalog, WRAPPER,
                        {WRAPPER: (200, {}, page.replace("TGT", TARGET).encode()),
                         TARGET: target_page}, {TARGET: target_page})
    assert observation.outcome not in (Outcome.DIRECT, Outcome.WRAPPED)
