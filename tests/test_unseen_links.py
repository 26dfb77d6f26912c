"""Links a reader never sees or reaches (review 141, checked in Chromium 156: each link is not
drawn, or a tap at its centre lands elsewhere): on a seed post such a link was planned as a
plain link and read `direct`; at an interception endpoint, a block page's hidden continue link
read as a warning's way on. And control characters a page puts in its title, which reached
findings.csv as they were (review 140)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from audit.evidence.columnar import _csv_ready
from audit.evidence.csvcells import DEFUSE_MACRO, defused
from audit.measure.chain import plan_probes
from audit.model import Outcome, SurfaceKind
from audit.policy.catalog import Catalog, load_catalog
from tests.chaindrive import ARTICLE, TARGET, WRAPPER, drive
from tests.timing import best_in_turn, seconds

TARGET_PAGE: tuple[int, dict[str, str], bytes] = (
    200, {}, f"<title>Teapot</title>{ARTICLE}".encode())


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# A link to the target nobody sees (Page.unseen_anchors) or that layout may keep out of sight
# (Page.unsure_anchors), written {link}.
SHAPES = {
    "a class hidden by the page's sheet": "<style>.x{{display:none}}</style><a class=x {link}",
    "visibility: hidden": "<a style='visibility:hidden' {link}",
    "a popover": "<div popover><a {link}</div>",
    "a video's fallback": "<video><a {link}</video>",
    "content-visibility: hidden": "<div style='content-visibility:hidden'><a {link}</div>",
    "a clip": "<a style='clip-path:inset(50%)' {link}",
    "a font of size 0": "<a style='font-size:0' {link}",
    "no height": "<div style='height:0;overflow:hidden'><a {link}</div>",
    "far off the page": "<a style='position:absolute;left:-9999px' {link}",
    "scaled to nothing": "<a style='display:inline-block;transform:scale(0)' {link}",
}


def _link(shape: str, label: str) -> str:
    return SHAPES[shape].format(link=f"href='{TARGET}'>{label}</a>")


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_link_nobody_sees_on_a_post_is_no_open_link(catalog: Catalog, shape: str) -> None:
    seed = ("<!doctype html><meta charset=utf-8><title>问题</title><body><p>推荐一个茶壶："
            f"{_link(shape, '店铺')}</p></body>")
    plan = plan_probes(seed.encode(), "text/html", "https://www.zhihu.com/question/1",
                       source="zhihu", surface=SurfaceKind.POST, catalog=catalog)
    assert [probe.rendered_as for probe in plan.probes] == ["handled"]  # before: "anchor"
    observed = drive(catalog, TARGET, {TARGET: TARGET_PAGE}, {TARGET: TARGET_PAGE},
                     rendered_as="handled")
    assert observed.outcome is not Outcome.DIRECT


# Links Chromium shows and a tap at their centre reaches (review 143: the first version's
# words without their conditions sent each to review), written {link}.
IN_SIGHT = {
    "plain": "<a {link}",
    "sizes and offsets of nothing": "<a style='height:20px;left:0;font-size:14px' {link}",
    "a scale that shows": "<a style='transform:scale(1.5)' {link}",
    "scale(0.98)": "<a style='display:inline-block;transform:scale(0.98)' {link}",
    "background-clip": "<a style='background-clip:text;background:red' {link}",
    "background's initial clip": "<span style='background-clip: initial'><a {link}</span>",
    "a round inset": "<a style='clip-path:inset(0 round 8px)' {link}",
    "a circle": "<a style='clip-path:circle(50%)' {link}",
    "an inset of one side": "<a style='clip-path:inset(50% 0 0 0)' {link}",
    "clip on a static box": "<a style='clip:rect(0 0 0 0)' {link}",
    "a flex item of width 0": "<div style='display:flex'><div style='flex:1;width:0'><a {link}"
                              "</div></div>",
    "an aspect-ratio box": "<div style='height:0;padding-bottom:56.25%;position:relative'>"
                           "<a {link}</div>",
    "a max-height of 0 that shows": "<div style='max-height:0'><a {link}</div>",
    "a pull-up margin": "<a style='display:block;margin-top:-100px' {link}",
    "a carousel's offset": "<div style='position:relative'><a style='position:absolute;"
                           "left:-120px' {link}</div>",
    "a logo's text-indent": "<a style='display:block;width:120px;height:40px;"
                            "text-indent:-9999px;background:url(l.png)' {link}",
    "the whitespace hack": "<div style='font-size:0'><a style='font-size:14px' {link}</div>",
    "a size inside the link": "<div style='font-size:0'><a href='{target}'><span "
                              "style='font-size:1rem'>店铺</span></a></div>",
    "an image in a font of 0": "<a style='font-size:0' href='{target}'><img src='s.png' "
                               "alt=''>店铺</a>",
    # review 146
    "a responsive video wrapper": "<div style='position:relative;height:0;padding-bottom:"
                                  "56.25%;overflow:hidden'><a style='position:absolute;top:0'"
                                  " {link}</div>",
    "an ellipsis flex item": "<div style='display:flex'><a style='flex:1;width:0;overflow:"
                             "hidden;text-overflow:ellipsis' {link}</div>",
    "a min-width beside width 0": "<a style='display:block;width:0;min-width:80px;"
                                  "overflow:hidden' {link}",
    "an icon link over a background": "<a style='display:inline-block;width:32px;height:32px;"
                                      "font-size:0;background:url(i.png)' {link}",
    "an icon font's class": "<a class='icon-share' style='font-size:0' {link}",
    "the whitespace hack, sized by a class": "<div style='font-size:0'><a class='tag' {link}"
                                             "</div>",
    "a carousel's slide beside the screen": "<a style='position:relative;left:-120px' {link}",
    "an offset well down the page": "<a style='position:absolute;top:-1000px' {link}",
    # review 148
    "a carousel's strip moved a screen": "<div style='overflow:hidden;width:390px'><div style="
                                         "'display:flex;transform:translate3d(-390px,0px,0px)'>"
                                         "<div style='flex:0 0 390px'>one</div><div style="
                                         "'flex:0 0 390px'><a {link}</div></div></div>",
    "a badge put back by translate": "<a style='position:absolute;left:100%;"
                                     "transform:translateX(-100%)' {link}",
    "a full-bleed margin given back": "<a style='display:block;margin:0 -9999px;"
                                      "padding:0 9999px' {link}",
    "a slide-in animation": "<a style='display:block;transform:translateX(-100%);"
                            "animation:si .2s forwards' {link}",
    "a fixed backdrop": "<a style='position:fixed;inset:-100vh 0' {link}",
    "lower on the page": "<a style='position:absolute;bottom:-6000px' {link}",
    "height on an inline link": "<a style='height:0;overflow:hidden' {link}",
    # review 150
    "SuperSlide's strip": "<div style='overflow:hidden;position:relative;width:390px'><ul "
                          "style='width:1560px; left:-390px; position:relative; overflow:hidden;"
                          " padding:0; margin:0'><li style='float:left;width:390px'>三</li>"
                          "<li style='float:left;width:390px'><a {link}</li></ul></div>",
    "a fixed button in a 0x0 wrapper": "<div style='width:0;height:0;overflow:hidden'><a "
                                       "style='position:fixed;right:16px;bottom:80px' {link}"
                                       "</div>",
    "a shrink-to-fit table cell": "<table style='width:100%'><tr><td style='width:1px;"
                                  "white-space:nowrap;overflow:hidden'><a {link}</td><td>说明"
                                  "</td></tr></table>",
    "the font shorthand's line height": "<a style='font:14px/0 sans-serif' {link}",
    "a scale written 1e0": "<a style='display:inline-block;transform:scale(1e0)' {link}",
    # review 152
    "a logical block padding": "<div style='height:0;padding-block:20px;overflow:hidden'>"
                               "<a {link}</div>",
    "a padding shorthand with calc": "<div style='height:0;overflow:hidden;padding:0 0 "
                                     "calc(10px + 10px)'><a {link}</div>",
    # review 154 (Chromium shows each, and a tap reaches it)
    "an ellipsis cell": "<table style='width:100%'><tr><td style='width:100%;max-width:0;"
                        "overflow:hidden;text-overflow:ellipsis;white-space:nowrap'><a {link}"
                        " 很长很长的标题文字</td><td>12:30</td></tr></table>",
    "an ellipsis header cell": "<table style='width:100%'><tr><th style='max-width:0;"
                               "overflow:hidden;white-space:nowrap'><a {link} 很长很长的标题"
                               "</th><td>3</td></tr></table>",
    "an old WebKit flex item": "<div style='display:-webkit-box'><div style='-webkit-box-flex:1;"
                               "width:0;overflow:hidden;white-space:nowrap'><a {link}</div>"
                               "</div>",
    "a prefixed flex item": "<div style='display:-webkit-flex;display:flex'><div style="
                            "'-webkit-flex:1;width:0;overflow:hidden'><a {link}</div></div>",
    "an absolute link out of a clip it is not placed in": (
        "<div style='position:relative'><div style='height:0;overflow:hidden'><a style="
        "'position:absolute;top:0;left:0' {link}</div></div>"),
    "a full-bleed margin given back by calc": "<a style='display:block;margin:0 -1000px;"
                                              "padding:0 calc(1000px + 1em)' {link}",
    "a fixed link in a clip with transform none": (
        "<div style='width:0;height:0;overflow:hidden;transform:none;filter:none;"
        "will-change:opacity'><a style='position:fixed;top:10px;left:10px' {link}</div>"),
    # review 159 (Chromium shows each)
    "a minimum height of a variable": "<div style='height:0;overflow:hidden;min-height:"
                                      "var(--h,40px)'><a {link}</div>",
    "WebKit's fit-content minimum": "<div style='width:0;overflow:hidden;min-width:"
                                    "-webkit-fit-content'><a {link}</div>",
    "a flex share of a variable": "<div style='display:flex'><div style='flex-grow:var(--g,1);"
                                  "width:0;overflow:hidden'><a {link}</div></div>",
    "a fixed bottom bar in a box off the page": (
        "<div style='position:absolute;left:-9999px'><a style='position:fixed;inset:auto 0 0 0'"
        " {link}</div>"),
    "a full-bleed margin given back in ems": "<a style='display:block;margin-left:-100em;"
                                             "padding-left:calc(100em + 1px)' {link}",
    "an absolute link out of a static box off the page": (
        "<div style='margin-left:-9999px;height:0;overflow:hidden'><a style='position:absolute;"
        "top:0;left:0' {link}</div>"),
    "an ellipsis cell displayed as reverted": (
        "<table style='width:100%'><tr><td style='display:revert;max-width:0;overflow:hidden;"
        "text-overflow:ellipsis;white-space:nowrap'><a {link} 很长的标题</td></tr></table>"),
    "a fixed link in a clip with an initial mask": (
        "<div style='width:0;height:0;overflow:hidden;-webkit-mask-image:initial'><a style="
        "'position:fixed;top:10px;left:10px' {link}</div>"),
    # review 163
    "a box of no box, floated": "<div style='float:left;display:contents;height:0;"
                                "overflow:hidden'><a {link}</div>",
}


@pytest.mark.parametrize("shape", sorted(IN_SIGHT))
def test_a_link_in_sight_on_a_post_is_still_a_link(catalog: Catalog, shape: str) -> None:
    link = IN_SIGHT[shape].format(link=f"href='{TARGET}'>店铺</a>", target=TARGET)
    seed = f"<!doctype html><meta charset=utf-8><body><p>{link}</p></body>"
    plan = plan_probes(seed.encode(), "text/html", "https://www.zhihu.com/question/1",
                       source="zhihu", surface=SurfaceKind.POST, catalog=catalog)
    assert [probe.rendered_as for probe in plan.probes] == ["anchor"]


# The layouts review 143 found the first version's words missed (Chromium: no box, none on
# the page, or no tap reaching it).
OUT_OF_SIGHT = {
    "em far off": "<a style='position:absolute;left:-99em' {link}",
    "right far off": "<a style='position:absolute;right:-9999px' {link}",
    "scale3d(0, 0, 1)": "<a style='display:inline-block;transform:scale3d(0,0,1)' {link}",
    "the scale property": "<a style='display:inline-block;scale:0' {link}",
    "a flat matrix": "<a style='display:inline-block;transform:matrix(0,0,0,0,0,0)' {link}",
    "turned edge-on": "<a style='display:inline-block;transform:rotateY(90deg)' {link}",
    "block-size 0": "<div style='block-size:0;overflow:hidden'><a {link}</div>",
    "the screen reader's clip": "<a style='position:absolute;width:1px;height:1px;"
                                "clip:rect(0,0,0,0);overflow:hidden' {link}",
    "a font of 0 in another unit": "<a style='font-size:0em' {link}",
    # review 146: the second version's conditions were too narrow
    "relative and far off": "<a style='position:relative;left:-9999px' {link}",
    "a margin far off": "<a style='display:block;margin-left:-9999px' {link}",
    "fixed past the screen's width": "<a style='position:fixed;left:-999px' {link}",
    "an inset clip from the bottom": "<a style='clip-path:inset(0 0 100% 0)' {link}",
    "two-value overflow": "<div style='height:0;overflow:hidden hidden'><a {link}</div>",
    "the font shorthand": "<a style='font:0/0 a' {link}",
    "a scale of 0%": "<a style='display:inline-block;scale:0%' {link}",
    "an inset shorthand": "<a style='position:absolute;inset:-9999px auto auto -9999px' {link}",
    # review 148
    "hide-text with its harmless box words": "<a style='font:0/0 a;text-shadow:none;color:"
                                             "transparent;background-color:transparent;"
                                             "border:0' {link}",
    "a zero padding excuses nothing": "<div style='height:0;overflow:hidden;padding:0;"
                                      "margin:0'><a {link}</div>",
    "a logical offset": "<a style='position:absolute;inset-inline-start:-9999px' {link}",
    "far right means off to the left": "<a style='position:absolute;right:9999px' {link}",
    "a polygon of one point": "<a style='clip-path:polygon(0 0,0 0,0 0)' {link}",
    # review 150
    "a padding across, none down": "<div style='height:0;overflow:hidden;padding:0 16px'>"
                                   "<a {link}</div>",
    # review 152: the fixed box's escape let these through
    "a fixed link in a box not drawn": "<div style='content-visibility:hidden'><a "
                                       "style='position:fixed;top:100px' {link}</div>",
    "a fixed link in a box scaled to nothing": "<div style='transform:scale(0)'><a "
                                               "style='position:fixed;top:100px' {link}</div>",
    "a fixed link in a clip that contains it": "<div style='width:0;height:0;overflow:hidden;"
                                               "transform:translateZ(0)'><a style='position:"
                                               "fixed;top:100px' {link}</div>",
    "a position fixed declared, then static": "<div style='width:0;height:0;overflow:hidden'>"
                                              "<a style='position:fixed;position:static' "
                                              "{link}</div>",
    # review 154
    "a fixed link with no offsets in a box off the page": (
        "<div style='position:absolute;left:-9999px'><a style='position:fixed' {link}</div>"),
    "a fixed link placed down only, in a box off the page": (
        "<div style='position:absolute;left:-9999px'><a style='position:fixed;top:0' {link}"
        "</div>"),
    "an absolute link in a clip that places it": (
        "<div style='height:0;overflow:hidden;position:relative'><a style='position:absolute;"
        "top:0' {link}</div>"),
    "an absolute link in a clip, a positioned box between": (
        "<div style='height:0;overflow:hidden'><div style='position:relative'><a style="
        "'position:absolute;top:0' {link}</div></div>"),
    # review 156 (Chromium: no tap reaches each)
    "an absolute link in a zero box off the page": (
        "<div style='margin-left:-99999px;height:0;overflow:hidden'><a style='position:"
        "absolute' {link}</div>"),
    "an absolute link in a 3D clip": (
        "<div style='height:0;overflow:hidden;transform-style:preserve-3d'><a style='position:"
        "absolute;top:0;left:0' {link}</div>"),
    "an absolute link in a clip skipped until in view": (
        "<div style='height:0;overflow:hidden;content-visibility:auto'><a style='position:"
        "absolute;top:0;left:0' {link}</div>"),
    "a fixed link in a clip that will change its containment": (
        "<div style='width:0;height:0;overflow:hidden;will-change:contain'><a style='position:"
        "fixed;top:10px;left:10px' {link}</div>"),
    "a fixed link in a clip whose transform is important": (
        "<div style='width:0;height:0;overflow:hidden;transform:translateZ(0) !important;"
        "transform:none'><a style='position:fixed;top:10px;left:10px' {link}</div>"),
    "a fixed link in a masked clip": (
        "<div style='width:0;height:0;overflow:hidden;mask-image:linear-gradient(#000,#000)'>"
        "<a style='position:fixed;top:10px;left:10px' {link}</div>"),
    "a cell laid out as a block, no wider than nothing": (
        "<table><tr><td style='display:block;max-width:0;overflow:hidden;white-space:nowrap'>"
        "<a {link}</td></tr></table>"),
    "a flex box's alignment gives no size": (
        "<div style='display:-ms-flexbox;display:flex;-ms-flex-align:center;align-items:center;"
        "height:0;overflow:hidden'><a {link}</div>"),
    "a flex box's direction gives no size": (
        "<div style='display:flex;flex-direction:column;height:0;overflow:hidden'><a {link}"
        "</div>"),
    "an important relative position over a later static": (
        "<div style='height:0;overflow:hidden;position:relative !important;position:static'>"
        "<a style='position:absolute;top:0' {link}</div>"),
    "a fixed link in the off-screen 1px box": (
        "<div style='position:absolute;left:-9999px;width:1px;height:1px;overflow:hidden'>"
        "<a style='position:fixed' {link}</div>"),
    "a fixed link with auto offsets in a box off the page": (
        "<div style='position:absolute;left:-9999px'><a style='position:fixed;top:auto;"
        "left:auto' {link}</div>"),
    # review 165 (Chromium: no tap reaches each)
    "a visually hidden span taken out of the flow": (
        "<span style='position:absolute;width:0;height:0;overflow:hidden'><a {link}</span>"),
    "an old WebKit scale of 0": "<a style='display:inline-block;-webkit-transform:scale(0)' "
                                "{link}",
    "an old WebKit clip to nothing": "<a style='-webkit-clip-path:circle(0)' {link}",
    # review 163 (Chromium: no tap reaches each)
    "the old IE fix, floated and inline, no height": (
        "<div style='float:left;display:inline;height:0;width:100px;overflow:hidden'><a {link}"
        "</div>"),
    "an absolute link in an old WebKit transform off the page": (
        "<div style='margin-left:-9999px'><div style='-webkit-transform:translateZ(0)'><a "
        "style='position:absolute;top:0;left:0' {link}</div></div>"),
    "an absolute link placed left initially, off the page": (
        "<div style='margin-left:-9999px'><a style='position:absolute;top:0;left:initial' "
        "{link}</div>"),
    "an inherited minimum height": "<div style='height:0;overflow:hidden;min-height:inherit'>"
                                   "<a {link}</div>",
    "a minimum width, no height": "<div style='height:0;overflow:hidden;min-width:var(--w)'>"
                                  "<a {link}</div>",
    # review 159
    "no height, important with a space": "<div style='height:0 ! important;overflow:hidden'>"
                                         "<a {link}</div>",
    "a fixed link placed down only by inset, in a box off the page": (
        "<div style='position:absolute;left:-9999px'><a style='position:fixed;inset:0 auto'"
        " {link}</div>"),
    "a fixed link placed on both axes, in the sr-only clip": (
        "<div style='position:absolute;width:1px;height:1px;overflow:hidden;"
        "clip:rect(0,0,0,0)'><a style='position:fixed;top:100px;left:20px' {link}</div>"),
    "a cell made absolute": "<table><tr><td style='position:absolute;width:0;height:0;"
                            "overflow:hidden;padding:0'><a {link}</td></tr></table>",
    "a zero written with an exponent": "<div style='transform:scale(0e0)'><a {link}</div>",
    "a font family with a slash": "<a style='font:0 \"a/b\", serif' {link}",
}


@pytest.mark.parametrize("shape", sorted(OUT_OF_SIGHT))
def test_more_layouts_out_of_sight_are_no_open_link(catalog: Catalog, shape: str) -> None:
    link = OUT_OF_SIGHT[shape].format(link=f"href='{TARGET}'>店铺</a>")
    seed = f"<!doctype html><meta charset=utf-8><body><p>{link}</p></body>"
    plan = plan_probes(seed.encode(), "text/html", "https://www.zhihu.com/question/1",
                       source="zhihu", surface=SurfaceKind.POST, catalog=catalog)
    assert [probe.rendered_as for probe in plan.probes] == ["handled"]


BLOCK = "已停止访问该网页"  # WeChat's block wording (domain-facts.md)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_block_pages_continue_link_nobody_sees_is_no_way_on(catalog: Catalog,
                                                               shape: str) -> None:
    page = (f"<html><head><meta charset=utf-8><title>!</title></head><body><p>{BLOCK}</p>"
            f"{_link(shape, '继续访问')}</body></html>")
    observed = drive(catalog, WRAPPER, {WRAPPER: (200, {}, page.encode()),
                                        TARGET: TARGET_PAGE}, {TARGET: TARGET_PAGE})
    assert observed.outcome in (Outcome.BLOCKED, Outcome.UNRECOGNIZED)  # before: `warned`


@pytest.mark.parametrize("button", [
    "<form action='{t}'><fieldset disabled><button>继续访问</button></fieldset></form>",
    "<form action='{t}'><button disabled>继续访问</button></form>",
])
def test_a_continue_button_nothing_can_enable_is_no_way_on(catalog: Catalog,
                                                           button: str) -> None:
    body = f"<p>{BLOCK}</p>" + button.format(t=TARGET)
    page = f"<html><head><meta charset=utf-8></head><body>{body}</body></html>"
    observed = drive(catalog, WRAPPER, {WRAPPER: (200, {}, page.encode()),
                                        TARGET: TARGET_PAGE}, {TARGET: TARGET_PAGE})
    assert observed.outcome is Outcome.BLOCKED  # before: `warned`
    # a countdown's script may enable it: still a control
    scripted = page.replace("</body>", "<script>setTimeout(function(){},5000)</script></body>")
    observed = drive(catalog, WRAPPER, {WRAPPER: (200, {}, scripted.encode()),
                                        TARGET: TARGET_PAGE}, {TARGET: TARGET_PAGE})
    assert observed.outcome is not Outcome.BLOCKED


def test_a_button_in_a_disabled_fieldsets_legend_is_enabled(catalog: Catalog) -> None:
    page = (f"<html><body><p>{BLOCK}</p><form action='{TARGET}'><fieldset disabled><legend>"
            "<button>继续访问</button></legend></fieldset></form></body></html>")
    observed = drive(catalog, WRAPPER, {WRAPPER: (200, {}, page.encode()),
                                        TARGET: TARGET_PAGE}, {TARGET: TARGET_PAGE})
    assert observed.outcome is not Outcome.BLOCKED


# -- control characters in CSV cells (review 140) -------------------------------------------

HOSTILE = "标题\x01\x02 \x1b[2J\x1b]8;;http://x/\x07\ufffe\uffff\x7f\x9b end\tand\nmore"
EXPECTED = "标题 [2J]8;;http://x/ end\tand\nmore"


def test_control_characters_leave_every_csv_cell() -> None:
    assert defused(HOSTILE) == EXPECTED
    assert defused("\x01=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    connection = duckdb.connect()
    connection.execute(DEFUSE_MACRO)
    row = connection.execute("SELECT defuse(?), defuse(?), defuse(NULL)",
                             [HOSTILE, "\x01=1+1"]).fetchone()
    assert row == (EXPECTED, "'=1+1", None)
    table = _csv_ready(pa.table({"title": [HOSTILE, "\x1b=cmd", None]}))
    assert table.column("title").to_pylist() == [EXPECTED, "'=cmd", None]


@pytest.mark.parametrize("style", [
    "transform:" + "scale(" * 1000,  # review 148: RecursionError in the CSS parser's writer
    "font-size:" + "1" * 40_000 + "!",  # review 148: 33 s in a length's pattern
    "font:" + "0" * 40_000,
    "height:" + "1" * 3_000 + ";overflow:hidden",
    "contain:" * 10_000,  # review 154: 12 s in the containing block's pattern
    "@font-size:0;" + "width:0 " * 10_000,  # review 154: the link's own, 2 s in _BOXED
])
def test_a_hostile_style_costs_a_plan_little_and_raises_nothing(catalog: Catalog,
                                                                 style: str) -> None:
    # a style starting with @ is the link's own, else its parent's
    def plan(style: str) -> float:
        outer, own = ("", style[1:]) if style.startswith("@") else (style, "")
        seed = (f"<!doctype html><meta charset=utf-8><body><div style='{outer}'><a "
                f"style='{own}' href='{TARGET}'>店铺</a></div></body>")
        return seconds(lambda: plan_probes(
            seed.encode(), "text/html", "https://www.zhihu.com/question/1", source="zhihu",
            surface=SurfaceKind.POST, catalog=catalog))

    # beside a page whose style is as long and plain: the quadratic reading took 33 s
    plain = ("@" if style.startswith("@") else "") + "color:red;" * (len(style) // 10)
    usual, hostile = best_in_turn(lambda: plan(plain), lambda: plan(style), rounds=2)
    assert hostile < 20 * max(usual, 1e-3), (usual, hostile)


def test_each_style_is_parsed_once(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    # review 156: an element's style was parsed four times over (each a tinycss2 parse where
    # it holds a comment): 1.6 MB of such styles took 15 s
    import tinycss2

    from audit.web import stylesheet

    calls: list[str] = []
    parse = tinycss2.parse_declaration_list

    def counted(style: str, **options: bool) -> list[object]:
        calls.append(style)
        return list(parse(style, **options))

    monkeypatch.setattr(tinycss2, "parse_declaration_list", counted)
    stylesheet._declared.cache_clear()
    boxes = "".join(f"<div style='/* {i} */ position:relative;transform:none;top:{i}px;"
                    f"height:0;overflow:hidden'>" for i in range(50))
    seed = (f"<!doctype html><meta charset=utf-8><body>{boxes}<a href='{TARGET}'>店铺</a>"
            + "</div>" * 50 + "</body>")
    plan_probes(seed.encode(), "text/html", "https://www.zhihu.com/question/1",
                source="zhihu", surface=SurfaceKind.POST, catalog=catalog)
    inline = [style for style in calls if style.startswith("/* ")]
    assert len(inline) == len(set(inline)) == 50
