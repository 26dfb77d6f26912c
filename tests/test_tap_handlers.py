"""Interception in the page itself (a review of unseen pages, 2026-12-07): a link a tap cannot
reach (`inert`, `pointer-events: none`), a link whose tap runs a handler that asks, cancels
or sends the reader elsewhere, and a warning page with nothing to tap. Each read as an open
link: planned and fetched as a plain link (`direct`), taken as a warning's way on (`warned`),
or a warning with no way on (`warned`). Checked against Chromium 156 by the review: none of
these taps leaves the page."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import quote

import pytest

from audit.judge.classify import tapped_as
from audit.measure.chain import plan_probes
from audit.model import Outcome, SurfaceKind
from audit.policy.catalog import Catalog, load_catalog
from audit.web.page import parse_page
from tests.chaindrive import ARTICLE, TARGET, WRAPPER, drive

POST = "https://www.zhihu.com/question/1"
OPEN = (Outcome.DIRECT, Outcome.WRAPPED, Outcome.WARNED)
TARGET_PAGE: tuple[int, dict[str, str], bytes] = (
    200, {}, f"<title>Teapot</title>{ARTICLE}".encode())


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _anchor(markup: str) -> tuple[bool, tuple[tuple[str, str], ...], str]:
    page = parse_page(f"<html><body><p>post</p>{markup}</body></html>", POST)
    (anchor,) = page.anchors
    return anchor.untappable, anchor.tap_handlers, tapped_as(anchor)


@pytest.mark.parametrize(("markup", "expected"), [
    (f'<a href="{TARGET}">t</a>', "anchor"),
    # no tap reaches it as the page is read: a style sheet or a script may undo it (a
    # countdown's greyed-out continue, a toast a class takes back), so never `text`
    (f'<a href="{TARGET}" inert>t</a>', "handled"),
    (f'<p inert><span><a href="{TARGET}">t</a></span></p>', "handled"),
    (f'<a href="{TARGET}" style="color:grey; Pointer-Events : none">t</a>', "handled"),
    (f'<div style="pointer-events:none"><a href="{TARGET}">t</a></div>', "handled"),
    (f'<a href="{TARGET}" style="pointer-events:none !important; pointer-events:auto">t</a>',
     "handled"),
    # a descendant's own value takes the tap back, an inert ancestor's cannot be undone
    (f'<div style="pointer-events:none"><a href="{TARGET}" style="pointer-events:auto">t</a>'
     '</div>', "anchor"),
    (f'<div inert><a href="{TARGET}" style="pointer-events:auto">t</a></div>', "handled"),
    (f'<a href="{TARGET}" style="pointer-events:bogus">t</a>', "anchor"),
    # a tap's handler that asks, cancels, rewrites the address or navigates itself
    (f'<a href="{TARGET}" onclick="return confirm(\'即将离开知乎，是否继续访问？\')">t</a>', "handled"),
    (f'<a href="{TARGET}" onclick="event.preventDefault(); copy(this.href); '
     'alert(\'链接已复制，请粘贴到浏览器中打开\')">t</a>', "handled"),
    (f'<a href="{TARGET}" onclick="copy(this.href);return!1">t</a>', "handled"),
    (f'<a href="{TARGET}" onclick="copy(this.href);return(false)">t</a>', "handled"),
    (f'<a href="{TARGET}" onclick="window.event.returnValue=false">t</a>', "handled"),
    (f'<a href="{TARGET}" onmousedown="this.href=\'https://link.example.net/?u=1\'">t</a>',
     "handled"),
    (f'<a href="{TARGET}" onmouseover="this.href=\'https://link.example.net/?u=1\'">t</a>',
     "handled"),
    (f'<a href="{TARGET}" onfocus="this.href=\'https://link.example.net/?u=1\'">t</a>',
     "handled"),
    (f'<a href="{TARGET}" onmousedown="this.setAttribute(\'href\', go(this.href))">t</a>',
     "handled"),
    (f'<a href="{TARGET}" onmousedown="this.hostname=\'link.example.net\'">t</a>', "handled"),
    (f'<a href="{TARGET}" ontouchstart="location.href=\'/app\'">t</a>', "handled"),
    (f'<a href="{TARGET}" onclick="location.replace(\'/warn\')">t</a>', "handled"),
    (f'<div onclick="window.open(\'/warn\')"><a href="{TARGET}">t</a></div>', "handled"),
    # a handler that lets the tap follow the link: analytics, which reads `location` and
    # names events with a dialog's word (a review: every link of a logging container went
    # to review)
    (f'<a href="{TARGET}" onclick="_hmt.push([\'_trackEvent\', \'out\', \'click\'])">t</a>',
     "anchor"),
    (f'<a href="{TARGET}" onclick="track(this); return true">t</a>', "anchor"),
    (f'<a href="{TARGET}" onclick="_hmt.push([\'_trackEvent\',\'outlink\',\'click\','
     'location.href])">t</a>', "anchor"),
    (f'<a href="{TARGET}" onclick="ga(\'send\',\'event\',\'outbound\',\'click\','
     'document.location.pathname)">t</a>', "anchor"),
    (f'<a href="{TARGET}" onclick="gtag(\'event\',\'share\',{{page_location: location.href}})">'
     't</a>', "anchor"),
    (f'<a href="{TARGET}" onclick="_hmt.push([\'_trackEvent\',\'print\',\'click\'])">t</a>',
     "anchor"),
    (f'<div class="RichText" onclick="log(\'store-location\', location.pathname)">'
     f'<a href="{TARGET}">t</a></div>', "anchor"),
    (f'<a href="{TARGET}" onclick="if (a == location.href) {{ log() }}">t</a>', "anchor"),
    # cancelling a press, a pointer's or a focus is no cancelling of the tap (an old page's
    # guard against copying, a hover effect: Chromium opens the link; a review)
    (f'<a href="{TARGET}" onmousedown="return false">t</a>', "anchor"),
    (f'<a href="{TARGET}" onpointerdown="event.preventDefault()">t</a>', "anchor"),
    (f'<a href="{TARGET}" onmouseover="window.status=\'\';return false">t</a>', "anchor"),
    (f'<ul onmouseover="this.className=\'on\';return false"><li><a href="{TARGET}">t</a>'
     '</li></ul>', "anchor"),
    (f'<div onfocus="alert(\'x\')"><a href="{TARGET}">t</a></div>', "anchor"),
    (f'<a href="{TARGET}" onfocus="this.blur()">t</a>', "anchor"),
    (f'<a href="{TARGET}" onfocus="alert(\'即将离开\')">t</a>', "handled"),
    (f'<a href="{TARGET}" onmousemove="this.href=\'https://link.example.net/?u=1\'">t</a>',
     "handled"),
    (f'<a href="{TARGET}" ontouchend="event.preventDefault()">t</a>', "handled"),
    (f'<a href="{TARGET}" style="PoInTeR-EvEnTs:none">t</a>', "handled"),
])
def test_how_a_tap_meets_a_link(markup: str, expected: str) -> None:
    assert _anchor(markup)[2] == expected


def test_a_handler_on_the_document_runs_for_every_tap() -> None:
    page = parse_page(f'<html onclick="event.preventDefault()"><body><p>post</p>'
                      f'<a href="{TARGET}">t</a></body></html>', POST)
    (anchor,) = page.anchors
    assert tapped_as(anchor) == "handled"
    guarded = parse_page(f'<html><BODY ONCONTEXTMENU="return false" ONMOUSEDOWN="return false">'
                         f'<p>post</p><a href="{TARGET}">t</a></BODY></html>', POST)
    assert [tapped_as(a) for a in guarded.anchors] == ["anchor"]


def test_the_handlers_around_a_link_are_kept_innermost_first() -> None:
    untappable, handlers, _ = _anchor(
        f'<div onclick="outer()"><a href="{TARGET}" onmousedown="inner()">t</a></div>')
    assert (untappable, handlers) == (False, (("onmousedown", "inner()"),
                                              ("onclick", "outer()")))
    page = parse_page(f'<html><body><a href="{TARGET}">a</a><p onclick="x()">p</p>'
                      f'<a href="{TARGET}">b</a></body></html>', POST)
    assert [a.tap_handlers for a in page.anchors] == [(), ()]  # a sibling's is no handler
    # a handler of an event that does not bubble runs on the link itself only
    _, handlers, _ = _anchor(f'<div onfocus="a()"><a href="{TARGET}" onfocus="b()">t</a></div>')
    assert handlers == (("onfocus", "b()"),)


@pytest.mark.parametrize(("markup", "rendered_as", "outcome"), [
    (f'<a href="{TARGET}" onclick="return confirm(\'即将离开知乎\')">t</a>', "handled",
     Outcome.UNRECOGNIZED),
    (f'<a href="{TARGET}" style="pointer-events:none">t</a>', "handled", Outcome.UNRECOGNIZED),
    # greyed out inline, taken back by a style sheet's class (a toast): no accusation
    (f'<style>.toast{{pointer-events:auto}}</style><div style="pointer-events:none">'
     f'<div class="toast"><a href="{TARGET}">t</a></div></div>', "handled",
     Outcome.UNRECOGNIZED),
    (f'<a href="{TARGET}" onclick="_hmt.push([1])">t</a>', "anchor", Outcome.DIRECT),
])
def test_a_seed_pages_link_is_planned_as_a_tap_meets_it(
        catalog: Catalog, markup: str, rendered_as: str, outcome: Outcome) -> None:
    seed = f"<html><body><p>post</p>{markup}</body></html>".encode()
    (probe,) = plan_probes(seed, "text/html", POST, source="zhihu", surface=SurfaceKind.POST,
                           catalog=catalog).probes
    assert probe.rendered_as == rendered_as
    target_page = TARGET_PAGE
    observed = drive(catalog, TARGET, {TARGET: target_page}, {TARGET: target_page},
                     rendered_as=probe.rendered_as)
    assert observed.outcome is outcome


def _wrapper_page(body: str) -> bytes:
    return f"<html><head><title>提示</title></head><body>{body}</body></html>".encode()


@pytest.mark.parametrize("body", [
    # a copy-to-browser page in Korean: the target as a link whose tap copies it
    f'<p>이 링크는 앱에서 열 수 없습니다. 브라우저에 붙여 넣어 주세요.</p><a href="{TARGET}" '
    'onclick="event.preventDefault(); navigator.clipboard.writeText(this.href)">'
    f'{TARGET}</a>',
    # a block page in Russian showing the blocked address as a dead link
    f'<p>Переход по этой ссылке заблокирован.</p><a href="{TARGET}" '
    f'style="pointer-events:none;color:#999">{TARGET}</a>',
    f'<p>Liên kết này đã bị chặn.</p><a href="{TARGET}" inert>{TARGET}</a>',
    f'<p>此链接无法在应用内打开。</p><a href="{TARGET}" onclick="return false">继续访问</a>',
])
def test_a_link_on_an_endpoint_a_tap_does_not_follow_is_no_way_on(
        catalog: Catalog, body: str) -> None:
    target_page = TARGET_PAGE
    observed = drive(catalog, WRAPPER, {WRAPPER: (200, {}, _wrapper_page(body)),
                                        TARGET: target_page}, {TARGET: target_page})
    assert observed.outcome not in OPEN, observed.page
    assert len(observed.hops) == 2 and observed.hops[1].via == "control"  # not followed


@pytest.mark.parametrize(("body", "outcome"), [
    # warning words and the target written out, nothing to tap: a block in unknown words
    (f"<p>外部链接安全提示：该网页无法打开。</p><p>{TARGET}</p>", Outcome.UNRECOGNIZED),
    (f"<p>External link notice. Access is not possible here.</p><p>{TARGET}</p>",
     Outcome.UNRECOGNIZED),
    # block wording the markers now know
    (f"<p>该第三方网页存在安全风险，已被禁止访问</p><p>{TARGET}</p>", Outcome.BLOCKED),
    (f"<p>此外部連結已被停用</p><p>{TARGET}</p>", Outcome.BLOCKED),
    (f"<p>外部链接无法访问，平台已限制访问</p><p>{TARGET}</p>", Outcome.BLOCKED),
    (f"<p>This external link has been disabled.</p><p>{TARGET}</p>", Outcome.BLOCKED),
    # a warning with a way on stays a warning
    (f'<p>您即将离开知乎，请注意财产安全</p><a href="{TARGET}">继续访问</a>', Outcome.WARNED),
])
def test_a_warning_with_nothing_to_tap_is_no_warning(catalog: Catalog, body: str,
                                                     outcome: Outcome) -> None:
    target_page = TARGET_PAGE
    third = "https://safe.linkguard-example.net/check?u=" + quote(TARGET, safe="")
    observed = drive(catalog, WRAPPER, {
        WRAPPER: (302, {"location": third}, b""),
        third: (200, {}, _wrapper_page(body)),
        TARGET: target_page}, {TARGET: target_page})
    at_endpoint = drive(catalog, WRAPPER, {WRAPPER: (200, {}, _wrapper_page(body)),
                                           TARGET: target_page}, {TARGET: target_page})
    if outcome is Outcome.WARNED:
        assert at_endpoint.outcome is Outcome.WARNED
        return
    assert observed.outcome is outcome, observed.page
    assert at_endpoint.outcome is outcome, at_endpoint.page


def test_the_review_queue_says_the_link_is_what_to_look_at(catalog: Catalog,
                                                          tmp_path: Path) -> None:
    """A `handled` link whose address led to the target's own page goes to review with no
    page reading of its own: the queue names the link's handler as the reading, from the
    run's table as from its lines."""
    from audit.evidence.review import TAP_HANDLED, review_of, write_run_review
    from tests.reportruns import write_run

    observed = drive(catalog, TARGET, {TARGET: TARGET_PAGE}, {TARGET: TARGET_PAGE},
                     rendered_as="handled")
    assert observed.outcome is Outcome.UNRECOGNIZED
    run = write_run(tmp_path, "20261207T000000Z-tap", [observed], catalog)
    write_run_review(run)
    rows = list(csv.reader(io.StringIO((run / "review.csv").read_text("utf-8-sig"))))
    reading = rows[0].index("reading")
    assert [row[reading] for row in rows[1:]] == [TAP_HANDLED]
    assert [item.reading for item in review_of(run)] == [TAP_HANDLED]


@pytest.mark.parametrize("words", ["外部サイトへ移動しようとしています。", "正在前往第三方网站，请稍候"])
def test_a_continue_link_greyed_out_for_a_countdown_is_no_block(catalog: Catalog,
                                                                words: str) -> None:
    """A leave page whose continue link is greyed out (`pointer-events: none`) until its
    script's countdown ends: dropped as no control, the page at Zhihu's wrapper read as a
    block with no way on (a review); its link leads where the script takes the reader."""
    script = ("<script>var n=3,t=setInterval(function(){if(--n<=0){clearInterval(t);"
              "document.getElementById('go').style.pointerEvents='auto'}},1000)</script>")
    body = (f"<p>{words}</p><a id='go' href='{TARGET}' style='pointer-events:none;opacity:.5'>"
            f"继续访问 (3)</a>{script}")
    observed = drive(catalog, WRAPPER, {WRAPPER: (200, {}, _wrapper_page(body)),
                                        TARGET: TARGET_PAGE}, {TARGET: TARGET_PAGE})
    assert observed.outcome is Outcome.UNRECOGNIZED, observed.page


@pytest.mark.parametrize(("markup", "expected"), [
    # a link hidden as the page is read (a folded post a script unfolds) is read all the same
    (f'<div style="display:none"><a href="{TARGET}" style="pointer-events:none">t</a></div>',
     "handled"),
    (f'<div hidden><span style="pointer-events:none"><a href="{TARGET}">t</a></span></div>',
     "handled"),
    (f'<a href="{TARGET}" style="pointer\\-events:none">t</a>', "handled"),
    (f'<a href="{TARGET}" style="cursor:pointer">t</a>', "anchor"),
])
def test_pointer_events_wherever_the_link_is(markup: str, expected: str) -> None:
    assert _anchor(markup)[2] == expected


def test_a_clickable_lists_style_is_not_parsed_for_pointer_events() -> None:
    """`cursor: pointer`, the commonest style of a clickable list, is no `pointer-events`:
    each such style parsed made a page of them four times slower to read (a review)."""
    from audit.web.page import _may_set_pointer_events

    assert not _may_set_pointer_events("cursor:pointer;color:#333")
    assert _may_set_pointer_events("Pointer-Events:none")
    assert _may_set_pointer_events("pointer\\2d events:none")


def _tapped(markup: str) -> str:
    page = parse_page(f"<html><head><title>t</title></head><body><p>post</p>{markup}"
                      "</body></html>", POST)
    (anchor,) = page.tapped_anchors
    return tapped_as(anchor)


@pytest.mark.parametrize(("markup", "expected"), [
    # a class that greys external links out, the way a platform would write it (the inline
    # `style` was all that was read: `direct`)
    (f'<style>.ext{{color:#999;pointer-events:none}}</style><a class="ext" href="{TARGET}">t'
     '</a>', "handled"),
    (f'<style>a[href^="https://"]{{pointer-events:none}}</style><a href="{TARGET}">t</a>',
     "handled"),
    # inherited from an element around it, and taken back by a nearer rule (an overlay whose
    # links are tappable: a common pattern of real sheets)
    (f'<style>.card{{pointer-events:none}}</style><div class="card"><span><a href="{TARGET}">'
     't</a></span></div>', "handled"),
    (f'<style>.card{{pointer-events:none}} .card a{{pointer-events:auto}}</style>'
     f'<div class="card"><a href="{TARGET}">t</a></div>', "anchor"),
    (f'<style>.card{{pointer-events:none}} .card span{{pointer-events:all}}</style>'
     f'<div class="card"><span><a href="{TARGET}">t</a></span></div>', "anchor"),
    # the cascade: a link's own `style` above a rule, a rule's !important above it
    (f'<style>a{{pointer-events:none}}</style><a href="{TARGET}" style="pointer-events:auto">t'
     '</a>', "anchor"),
    (f'<style>a{{pointer-events:none!important}}</style><a href="{TARGET}" '
     'style="pointer-events:auto">t</a>', "handled"),
    (f'<style>#l{{pointer-events:none}} a{{pointer-events:auto}}</style><a id="l" '
     f'href="{TARGET}">t</a>', "handled"),
    (f'<style>a{{pointer-events:none}} a{{pointer-events:auto}}</style><a href="{TARGET}">t'
     '</a>', "anchor"),
    # written with an escape, as a browser reads it
    (f'<style>.ext{{pointer-ev\\65nts:none}}</style><a class="ext" href="{TARGET}">t</a>',
     "handled"),
    # a phone's screen: a rule for wide screens does not hold; one under a condition hulian
    # does not evaluate holds where it greys out (in doubt, for review)
    (f'<style>@media (min-width:1000px){{.ext{{pointer-events:none}}}}</style>'
     f'<a class="ext" href="{TARGET}">t</a>', "anchor"),
    (f'<style>@supports (display:grid){{.ext{{pointer-events:none}}}}</style>'
     f'<a class="ext" href="{TARGET}">t</a>', "handled"),
    (f'<style media="print">.ext{{pointer-events:none}}</style><a class="ext" href="{TARGET}">'
     't</a>', "anchor"),
    # rules of other elements, a pseudo-element, a state no tap is in, a sheet a browser
    # does not read, a value it rejects
    (f'<style>.el-pager li *{{pointer-events:none}} a:after{{pointer-events:none}}</style>'
     f'<a href="{TARGET}">t</a>', "anchor"),
    (f'<style>a:disabled{{pointer-events:none}}</style><a href="{TARGET}">t</a>', "anchor"),
    (f'<noscript><style>a{{pointer-events:none}}</style></noscript><a href="{TARGET}">t</a>',
     "anchor"),
    (f'<style type="text/less">a{{pointer-events:none}}</style><a href="{TARGET}">t</a>',
     "anchor"),
    (f'<style>a{{pointer-events:nones}}</style><a href="{TARGET}">t</a>', "anchor"),
    # a custom property's value is not read: in doubt, for review (review 131)
    (f'<style>.ext{{pointer-events:var(--pe)}}</style><a class="ext" href="{TARGET}">t</a>',
     "handled"),
    # the states a tap puts the link and its ancestors in hold as it lands (review 131)
    (f'<style>.ext:active{{pointer-events:none}}</style><a class="ext" href="{TARGET}">t</a>',
     "handled"),
    (f'<style>p:hover a{{pointer-events:none}}</style><p><a href="{TARGET}">t</a></p>',
     "handled"),
    (f'<style>body:focus-within .ext{{pointer-events:none}}</style><a class="ext" '
     f'href="{TARGET}">t</a>', "handled"),
    # ... but a state that gives the tap back never comes to a link it never reaches, and a
    # state inside `:not()`, an escape or a string stays as written (review 132)
    (f'<style>a.ext{{pointer-events:none}} a.ext:hover{{pointer-events:auto}}</style>'
     f'<a class="ext" href="{TARGET}">t</a>', "handled"),
    (f'<style>a.ext:not(:hover){{pointer-events:none}}</style><a class="ext" href="{TARGET}">'
     't</a>', "handled"),
    (f'<style>.pe\\:hover{{pointer-events:none}}</style><a class="pe:hover" href="{TARGET}">'
     't</a>', "handled"),
    (f'<style>a[title=":hover"]{{pointer-events:none}}</style><a title=":hover" '
     f'href="{TARGET}">t</a>', "handled"),
])
def test_pointer_events_from_the_pages_style_sheets(markup: str, expected: str) -> None:
    assert _tapped(markup) == expected


def test_a_seed_pages_link_greyed_out_by_a_class_is_no_open_link(catalog: Catalog) -> None:
    seed = (f'<html><head><style>.out{{color:#aaa;pointer-events:none}}</style></head><body>'
            f'<p>post</p><a class="out" href="{TARGET}">t</a></body></html>').encode()
    (probe,) = plan_probes(seed, "text/html", POST, source="zhihu", surface=SurfaceKind.POST,
                           catalog=catalog).probes
    assert probe.rendered_as == "handled"
    observed = drive(catalog, TARGET, {TARGET: TARGET_PAGE}, {TARGET: TARGET_PAGE},
                     rendered_as=probe.rendered_as)
    assert observed.outcome is Outcome.UNRECOGNIZED


def test_a_block_pages_dead_link_greyed_out_by_a_class_is_no_way_on(catalog: Catalog) -> None:
    body = (f'<style>.dead{{pointer-events:none;color:#999}}</style>'
            f'<p>Переход по этой ссылке заблокирован.</p><a class="dead" href="{TARGET}">'
            f'{TARGET}</a>')
    observed = drive(catalog, WRAPPER, {WRAPPER: (200, {}, _wrapper_page(body)),
                                        TARGET: TARGET_PAGE}, {TARGET: TARGET_PAGE})
    assert observed.outcome not in OPEN, observed.page
    assert len(observed.hops) == 2 and observed.hops[1].via == "control"


def test_real_pages_sheets_grey_out_none_of_their_links() -> None:
    """The corpus's real pages (Zhihu's, CSDN's and Baidu's sheets set `pointer-events` on
    buttons, pagers and overlays) plan every link as before: no sheet of theirs takes a link
    from a tap."""
    from tests.corpus import CORPUS

    pages = CORPUS / "pages"
    if not pages.is_dir():
        pytest.skip(f"corpus not found at {CORPUS} (set HULIAN_CORPUS)")
    for name in ("zhihu_answer_2916374892.html", "csdn_blog_129474149.html",
                 "baidu-serp-1537259978.html"):
        page = parse_page((pages / name).read_text("utf-8", errors="replace"), POST)
        assert sum(a.untappable for a in page.tapped_anchors) == sum(
            a.untappable for a in page.anchors), name


@pytest.mark.parametrize(("markup", "expected"), [
    # a tap lands on what the link holds: its handlers run first (review 129, each checked
    # in Chromium: no navigation)
    (f'<a href="{TARGET}"><span onclick="event.preventDefault();alert(\'链接已复制，请粘贴到浏览器'
     f'中打开\')">t</span></a>', "handled"),
    (f'<a href="{TARGET}"><b><span onclick="return false">t</span></b></a>', "handled"),
    (f'<a href="{TARGET}"><img src="x.png" onclick="return false" alt=""></a>', "handled"),
    (f'<a href="{TARGET}"><span onclick="_hmt.push([1])">t</span></a>', "anchor"),
    # content that sets pointer-events back inside a greyed-out link: whether it has a box a
    # tap can land on (hidden, empty, off-screen) needs layout; read as greyed out, for review
    # (review 131: a hidden span read as taking the tap back, `direct`)
    (f'<a href="{TARGET}" style="pointer-events:none"><span style="pointer-events:auto">t'
     '</span></a>', "handled"),
    (f'<a href="{TARGET}" style="pointer-events:none"><span hidden style="pointer-events:auto">'
     't</span></a>', "handled"),
    (f'<a href="{TARGET}" style="pointer-events:none">t<span style="pointer-events:auto">'
     '</span></a>', "handled"),
    (f'<div inert><a href="{TARGET}" style="pointer-events:none"><span '
     'style="pointer-events:auto">t</span></a></div>', "handled"),
    # a sibling's handler is no handler of the link
    (f'<a href="{TARGET}">t</a><span onclick="return false">x</span>', "anchor"),
])
def test_what_a_link_holds_is_what_a_tap_meets(markup: str, expected: str) -> None:
    assert _anchor(markup)[2] == expected


def test_many_handlers_inside_one_link_cost_a_linear_walk() -> None:
    """Handlers of what a link holds are gathered in one list: a tuple rebuilt for each made
    80,000 spans in a link cost twice the page's parse (review 131)."""
    import time

    def parse_time(count: int) -> float:
        spans = '<span onclick="f()">x</span>' * count
        markup = f'<html><body><a href="{TARGET}">{spans}</a></body></html>'
        start = time.perf_counter()
        page = parse_page(markup, POST)
        elapsed = time.perf_counter() - start
        assert len(page.anchors[0].tap_handlers) == count
        return elapsed

    small, large = min(parse_time(5_000) for _ in range(2)), min(
        parse_time(40_000) for _ in range(2))
    assert large < small * 8 * 3, (small, large)  # 8 times the spans: linear, with slack


def test_a_greying_class_is_read_before_costly_rules_use_up_the_work() -> None:
    """Cheap selectors are evaluated first: a dozen framework rules with a descendant
    combinator, on a page of 5,000 elements 20 deep, used up the work budget before
    `.ext{pointer-events:none}` was read (review 131: `direct`)."""
    rules = " ".join(f".modal-{i} .overlay-{i}{{pointer-events:none}}" for i in range(40))
    deep = "<div>" * 19 + "<p>x</p>" * 5000 + "</div>" * 19
    page = parse_page(f"<html><head><style>{rules} .ext{{pointer-events:none}}</style></head>"
                      f"<body>{deep}<a class='ext' href='{TARGET}'>t</a></body></html>", POST)
    assert [tapped_as(anchor) for anchor in page.tapped_anchors] == ["handled"]
