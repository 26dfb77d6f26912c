"""What one page costs hulian to read grows with its size, not its square (review 167): a
page of 64 KiB or less may be read in the crawl process itself, where no budget stops it.
Ratios of two sizes measured in turn (tests/timing.py), never an absolute time."""

from __future__ import annotations

import itertools

import pytest

from audit.judge.forwards import page_forward
from audit.measure.chain import analyze_page, plan_probes
from audit.model import SurfaceKind
from audit.policy.catalog import Catalog, load_catalog
from audit.web.page import parse_page
from tests.timing import best_in_turn, seconds

ENDPOINT = "https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_links_nested_in_links_with_no_font_cost_linear_time(catalog: Catalog) -> None:
    # `<marquee>` keeps each `<a>` open, so the links nest; each sets its font to 0, and
    # whether it draws anything else was read over all of its descendants: 1,600 of them
    # (59 KB) took 9 s to plan.
    def plan(count: int) -> float:
        body = ("<body>" + "<a href=/ style=font-size:0><marquee>" * count).encode()
        return seconds(lambda: plan_probes(body, "text/html", ENDPOINT, source="wechat",
                                           surface=SurfaceKind.POST, catalog=catalog))

    small, large = best_in_turn(lambda: plan(100), lambda: plan(800), rounds=3)
    assert large < 30 * max(small, 1e-3), (small, large)


def test_thousands_of_outbound_links_cost_linear_time(catalog: Catalog) -> None:
    # The interstitial's controls were compared field by field for each link (a list's
    # membership): 3,800 links took 0.87 s, ten times 950's.
    def analyze(count: int) -> float:
        body = ("<body>" + "".join(f"<a href=//{n:x}.cn>t" for n in range(count))).encode()
        return seconds(lambda: analyze_page(body, "text/html", ENDPOINT, catalog,
                                            target="https://example.org/x"))

    small, large = best_in_turn(lambda: analyze(500), lambda: analyze(4_000), rounds=3)
    assert large < 20 * max(small, 1e-3), (small, large)


def test_what_halts_a_page_is_read_once_even_when_cut() -> None:
    # A 33-byte script on which tree-sitter's error recovery never ends, and a forward: the
    # page's reading asks twice what halts it, and a reading cut at its deadline was not
    # kept, so each asking paid the whole deadline again (112 bytes took 4 s).
    stuck = '``rt?*(y*e(.r(import"{f:/`\\u.l:k"'
    page = parse_page(f'<meta http-equiv="refresh" content="0;url=https://example.org/x">'
                      f"<p>x</p><script>{stuck}</script>", "https://wrapper.example/leave")
    first = seconds(lambda: page_forward(page))
    again = seconds(lambda: page_forward(page))
    held = page_forward(page)
    assert held is not None and held.delayed  # held: what it would do cannot be read
    assert again < first / 10, (first, again)


def test_many_scripts_declaring_and_forwarding_cost_linear_time(catalog: Catalog) -> None:
    # Review 172: each navigating script's declarations were weighed against every script
    # before it (and past 256 scripts each read again): 970 scripts of 64 KiB took 20 s.
    calls = itertools.count()

    def analyze(count: int) -> float:
        call = next(calls)  # (scripts of their own: a script's reading is kept)
        body = ("<p>Redirecting</p>" + "".join(
            f'<script>var v{n}_{call}=1;location.href="https://example.org/x";</script>'
            for n in range(count))).encode()
        return seconds(lambda: analyze_page(body, "text/html", ENDPOINT, catalog,
                                            target="https://example.org/x"))

    small, large = best_in_turn(lambda: analyze(100), lambda: analyze(800), rounds=3)
    assert large < 30 * max(small, 1e-3), (small, large)


def test_timer_names_deep_in_a_script_cost_linear_time(catalog: Catalog) -> None:
    # Review 172: each `setTimeout` found in the text climbed the tree from its name, and
    # tree-sitter finds a parent from the root: 64 KiB of nested arrays took 5 s.
    calls = itertools.count()

    def analyze(depth: int) -> float:
        # (each call a script of its own: a script's reading is kept for the next page)
        script = (f'/*{next(calls)}*/location.href="https://example.org/x";x=' + "[" * depth
                  + 'setTimeout("x",1),' * (depth // 12) + "]" * depth)
        body = f"<p>Redirecting</p><script>{script}</script>".encode()
        return seconds(lambda: analyze_page(body, "text/html", ENDPOINT, catalog,
                                            target="https://example.org/x"))

    small, large = best_in_turn(lambda: analyze(1_000), lambda: analyze(8_000), rounds=3)
    assert large < 16 * max(small, 1e-3), (small, large)


def test_scripts_naming_a_target_source_cost_one_deadline(catalog: Catalog) -> None:
    # Review 174: WeChat's page reads `url` and `desc` from its scripts; each name asked read
    # every script that names it with a deadline of its own, five times a page, and a script
    # tree-sitter cannot finish cost 2.5 s each. Now the page's strings are read once,
    # within one deadline.
    stuck = '``rt?*(y*e(.r(import"{f:/`\\u.l:k"'
    calls = itertools.count()

    def analyze(count: int) -> float:
        call = next(calls)
        body = ("<p>如需浏览，请长按网址复制后使用浏览器访问</p>" + "".join(
            f"<script>/*url desc {call} {n}*/{stuck}</script>" for n in range(count))).encode()
        return seconds(lambda: analyze_page(body, "text/html", ENDPOINT, catalog,
                                            target="https://example.org/x"))

    small, large = best_in_turn(lambda: analyze(1), lambda: analyze(8), rounds=2)
    assert large < 3 * max(small, 1e-3), (small, large)


@pytest.mark.parametrize("shape", ["parentheses", "array"])
def test_function_timers_deep_in_a_script_cost_linear_time(catalog: Catalog,
                                                           shape: str) -> None:
    # Review 174: whether a function is given to a timer was found by climbing the tree with
    # Node.parent, which tree-sitter answers from the root: 30,000 parentheses around one
    # timer's function took 35 s.
    calls = itertools.count()

    def analyze(depth: int) -> float:
        timer = 'setTimeout(function(){location.href="https://example.org/x"}),'
        script = (f"/*{next(calls)}*/setTimeout(" + "(" * depth + timer[11:-2] + ")" * depth
                  + ",1);" if shape == "parentheses" else
                  f"/*{next(calls)}*/x=" + "[" * depth + timer * (depth // 30) + "]" * depth)
        body = f"<p>Redirecting</p><script>{script}</script>".encode()
        return seconds(lambda: analyze_page(body, "text/html", ENDPOINT, catalog,
                                            target="https://example.org/x"))

    small, large = best_in_turn(lambda: analyze(2_000), lambda: analyze(16_000), rounds=2)
    assert large < 20 * max(small, 1e-3), (small, large)
