"""Shapes of pages a browser reads otherwise than hulian did (review 136, checked against
Chromium 156): a page that leaves out `<body>` (libxml2 kept `<main>`, `<section>`, a custom
element … in `<head>`, so its notice and links read as nothing), and a copy-the-link page
carrying the target as a link nobody sees (read as a warning with a way on)."""

from __future__ import annotations

import pytest

from audit.judge.forwards import page_forward, script_targets
from audit.judge.interception import tap_destinations
from audit.measure.chain import plan_probes
from audit.model import Outcome, PageKind, SurfaceKind
from audit.policy.catalog import Catalog, load_catalog
from audit.web.page import parse_page
from tests.chaindrive import ARTICLE, TARGET, WRAPPER, drive
from tests.timing import best_in_turn, seconds

JUMP = "https://www.zhihu.com/jump"
TARGET_PAGE: tuple[int, dict[str, str], bytes] = (
    200, {}, f"<title>Teapot</title>{ARTICLE}".encode())
NOTICE = "您即将离开本站，外部网页的安全性未经核实。5秒后将自动跳转。"
OPEN = (Outcome.DIRECT, Outcome.WRAPPED)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# -- a page without <body> ----------------------------------------------------------------

@pytest.mark.parametrize("element", ["main", "section", "article", "header", "marquee",
                                     "x-notice"])
def test_a_page_without_body_shows_its_text_and_links(element: str) -> None:
    page = parse_page(f"<!doctype html><meta charset=utf-8><title>提示</title><{element}>"
                      f"<p>{NOTICE}</p><a href='{TARGET}'>继续访问</a></{element}><p>尾</p>",
                      JUMP)
    assert NOTICE in page.text and "尾" in page.text  # before: no text at all
    assert [a.href for a in page.anchors] == [TARGET]
    assert page.title == "提示"


def test_what_stays_in_the_head_stays_there() -> None:
    page = parse_page("<meta charset=utf-8><title>t</title><style>p{color:red}</style>"
                      "<script>var a=1</script><main>m</main>text<p>after</p>", JUMP)
    assert page.root is not None
    head, body = page.root.find("head"), page.root.find("body")
    assert head is not None and body is not None
    assert [el.tag for el in head] == ["meta", "title", "style", "script"]
    assert [el.tag for el in body] == ["main", "p"]
    assert page.text.split() == ["m", "text", "after"]


@pytest.mark.parametrize("element", ["main", "section", "marquee", "x-notice"])
def test_a_countdown_without_body_is_not_a_blank_redirect(catalog: Catalog,
                                                          element: str) -> None:
    # Zhihu's wrapper redirects to a page of its own that shows the notice for 5 s, then
    # forwards: read as a blank slow redirect, `wrapped`; as with a <p>, it is a warning.
    countdown = (f'<!doctype html><meta charset=utf-8><meta http-equiv="refresh" '
                 f'content="5;url={TARGET}"><{element}><h1>外部链接</h1><p>{NOTICE}</p>'
                 f"</{element}>")
    observed = drive(catalog, WRAPPER, {WRAPPER: (302, {"location": JUMP}, b""),
                                        JUMP: (200, {}, countdown.encode()),
                                        TARGET: TARGET_PAGE}, {TARGET: TARGET_PAGE})
    assert observed.outcome not in OPEN
    as_p = countdown.replace(f"<{element}>", "<p>").replace(f"</{element}>", "</p>")
    assert observed.outcome == drive(catalog, WRAPPER, {
        WRAPPER: (302, {"location": JUMP}, b""), JUMP: (200, {}, as_p.encode()),
        TARGET: TARGET_PAGE}, {TARGET: TARGET_PAGE}).outcome


def test_a_seed_post_in_an_article_without_body_is_planned(catalog: Catalog) -> None:
    seed = (f"<!doctype html><meta charset=utf-8><title>问题</title><article><p>推荐一个茶壶："
            f"<a href='{TARGET}'>店铺</a></p></article>")
    plan = plan_probes(seed.encode(), "text/html", "https://www.zhihu.com/question/1",
                       source="zhihu", surface=SurfaceKind.POST, catalog=catalog)
    assert [p.target_url for p in plan.probes] == [TARGET]


# -- a link nobody sees is no way on ------------------------------------------------------

COPY = {"ru": "Переход по этой ссылке из приложения невозможен. Скопируйте адрес и откройте "
              "его в браузере:",
        "ja": "このリンクはアプリ内では開けません。アドレスをコピーしてブラウザで開いてください：",
        "ko": "이 링크는 앱에서 열 수 없습니다. 주소를 복사해 브라우저에서 열어 주세요:"}
HIDDEN = {"display:none": f"<a href='{TARGET}' style='display:none'>Continue</a>",
          "hidden": f"<a href='{TARGET}' hidden>Continue</a>",
          "a closed dialog": f"<dialog><a href='{TARGET}'>Continue</a></dialog>",
          "a canvas's fallback": f"<canvas width=1 height=1><a href='{TARGET}'>Continue</a>"
                                 "</canvas>",
          "a class a sheet hides": f"<style>.go{{display:none}}</style>"
                                   f"<a class=go href='{TARGET}'>Continue</a>",
          "empty": f"<a href='{TARGET}'></a>"}


def _copy_page(language: str, link: str, script: str = "") -> bytes:
    return (f"<html><head><title>!</title>{script}</head><body><p>{COPY[language]}</p>"
            f"<p>{TARGET}</p>{link}</body></html>").encode()


@pytest.mark.parametrize("language", sorted(COPY))
@pytest.mark.parametrize("hidden", sorted(HIDDEN))
def test_a_copy_page_with_a_link_nobody_sees_is_no_warning(catalog: Catalog, language: str,
                                                           hidden: str) -> None:
    observed = drive(catalog, WRAPPER, {WRAPPER: (200, {}, _copy_page(language, HIDDEN[hidden])),
                                        TARGET: TARGET_PAGE}, {TARGET: TARGET_PAGE})
    assert observed.page is not None
    assert observed.outcome not in (*OPEN, Outcome.WARNED)  # before: `warned`
    assert observed.page.kind is not PageKind.WARNED


def test_a_hidden_link_a_script_may_show_leads_where_the_script_takes_the_reader(
        catalog: Catalog) -> None:
    # A countdown may show its continue link when it ends: where the page runs a script, a
    # hidden link is a control whose way a script decides, never a plain way to the target.
    page = parse_page(_copy_page("ja", HIDDEN["hidden"],
                                 "<script>setTimeout(function(){},5000)</script>").decode(),
                      WRAPPER)
    assert page.unseen_anchors == frozenset({0}) and page.may_change
    assert [url for _anchor, url in tap_destinations(page)] == [None]
    still = parse_page(_copy_page("ja", HIDDEN["hidden"]).decode(), WRAPPER)
    assert not still.may_change and tap_destinations(still) == []


def test_a_link_that_shows_is_a_way_on(catalog: Catalog) -> None:
    page = parse_page(_copy_page("ja", f"<a class=go href='{TARGET}'>Continue</a>").decode(),
                      WRAPPER)
    assert page.unseen_anchors == frozenset()


# -- forwards something else on the page keeps from being made ---------------------------

REFRESH = f'<meta http-equiv="refresh" content="0;url={TARGET}">'
REPLACE = f"<script>location.replace('{TARGET}')</script>"
SAYS = "<title>External link</title><p>This link can't be opened here.</p>"
KEPT = {
    # a frame of the page's origin navigates the page or stops it (Chromium ends on /notice)
    "refresh, srcdoc frame navigates top": REFRESH + SAYS + (
        "<iframe hidden srcdoc=\"<script>top.location.replace('/notice')</script>\"></iframe>"),
    "script, srcdoc frame navigates top": SAYS + (
        "<iframe hidden srcdoc=\"<script>top.location.replace('/notice')</script>\"></iframe>"
        + REPLACE),
    "refresh, srcdoc frame stops the page": REFRESH + SAYS + (
        "<iframe hidden srcdoc=\"<script>parent.stop()</script>\"></iframe>"),
    "script, a frame of the page's site": SAYS + "<iframe hidden src='/frame'></iframe>" + REPLACE,
    "refresh, a javascript: frame": REFRESH + SAYS + (
        "<iframe src=\"javascript:top.location='/notice'\"></iframe>"),
    # the document reopened once loaded: the page stays, blank
    "refresh, onload reopens the document": REFRESH + SAYS + (
        "<script>onload=function(){document.open();document.close()}</script>"),
    "refresh, <body onload> reopens the document": REFRESH + (
        "<body onload='document.open();document.close()'>") + SAYS,
    # the tab closes (a link opened in a tab of its own)
    "script, then the window closes": SAYS + (
        f"<script>location.replace('{TARGET}');window.close()</script>"),
    "refresh, the window closes": REFRESH + SAYS + "<script>self.close()</script>",
    # a refresh a script makes, or changes, replaces the page's own
    "refresh, a script makes another": REFRESH + SAYS + (
        "<script>var m=document.createElement('meta');m.httpEquiv='refresh';"
        "m.content='0;url=/notice';document.head.appendChild(m)</script>"),
    "refresh, a script changes its content": REFRESH + SAYS + (
        "<script>document.querySelector('meta').setAttribute('content','0;url=/notice')"
        "</script>"),
    "refresh, the page reloads on load": REFRESH + SAYS + (
        "<script>onload=function(){location.reload()}</script>"),
    # review 137: the forms past the first
    "refresh, window['close']()": REFRESH + SAYS + "<script>window['close']()</script>",
    "refresh, parent.close()": REFRESH + SAYS + "<script>parent.close()</script>",
    "refresh, (close)()": REFRESH + SAYS + "<script>(close)()</script>",
    "refresh, close.call(window)": REFRESH + SAYS + "<script>close.call(window)</script>",
    "script, then window['close']()": SAYS + (
        f"<script>location.replace('{TARGET}');window['close']()</script>"),
    "refresh, onload reopens through an alias": REFRESH + SAYS + (
        "<script>onload=function(){var d=document;d.open();d.close()}</script>"),
    "refresh, a script sets content by index": REFRESH + SAYS + (
        "<script>document.querySelector('meta')['content']='0;url=/notice'</script>"),
    "refresh, setAttribute('Content', …)": REFRESH + SAYS + (
        "<script>document.querySelector('meta').setAttribute('Content','0;url=/notice')"
        "</script>"),
    "refresh, an object of the page's site": REFRESH + SAYS + (
        "<object data='/frame1' type='text/html'></object>"),
    "refresh, an embed of the page's site": REFRESH + SAYS + (
        "<embed src='/frame1' type='text/html'>"),
    "refresh, a sandbox allowing top navigation": REFRESH + SAYS + (
        "<iframe sandbox='allow-scripts allow-top-navigation' "
        "srcdoc=\"<script>top.location.href='/notice'</script>\"></iframe>"),
    # review 138: more forms
    "refresh, window.close.call(window)": REFRESH + SAYS + (
        "<script>window.close.call(window)</script>"),
    "refresh, close.bind(window)()": REFRESH + SAYS + "<script>close.bind(window)()</script>",
    "refresh, window?.close()": REFRESH + SAYS + "<script>window?.close()</script>",
    "refresh, an arrow onload reopens": REFRESH + SAYS + (
        "<script>onload=()=>document.open()</script>"),
    "refresh, a timer's string reopens": REFRESH + SAYS + (
        "<script>setTimeout('document.open()',0)</script>"),
    "refresh, a module reopens": REFRESH + SAYS + (
        "<script type=module>document.open()</script>"),
    "refresh, <details open ontoggle> reopens": REFRESH + SAYS + (
        "<details open ontoggle='document.open()'><summary>s</summary></details>"),
    "refresh, content set without a refresh's words": REFRESH + SAYS + (
        "<script>document.getElementsByTagName('meta')[0].content='0;/notice'</script>"),
    "refresh, content set from a variable": REFRESH + SAYS + (
        "<script>var v='0;'+'ur'+'l=/notice';document.querySelector('meta').content=v</script>"),
    "refresh, a reload beside the word persisted": REFRESH + SAYS + (
        "<script>var persisted=1;setTimeout(function(){location.reload()},0)</script>"),
    # review 139
    "refresh, window.document.open() on load": REFRESH + SAYS + (
        "<script>onload=function(){window.document.open()}</script>"),
    "refresh, document.open('text/html') on load": REFRESH + SAYS + (
        "<script>onload=function(){document.open('text/html','replace')}</script>"),
    "refresh, document.open.call(document)": REFRESH + SAYS + (
        "<script>onload=function(){document.open.call(document)}</script>"),
    "refresh, an alias of window.document": REFRESH + SAYS + (
        "<script>var d=window.document;onload=function(){d.open()}</script>"),
    "refresh, a timer's string after a semicolon": REFRESH + SAYS + (
        "<script>setTimeout('0;document.open()',0)</script>"),
    "refresh, an apostrophe in a comment": REFRESH + SAYS + (
        "<script>\n// Let's go\nwindow.onload = function () {\n  x = 1; document.open();\n"
        "  // that's all\n};\n</script>"),
    "refresh, content from a template": REFRESH + SAYS + (
        "<script>var s=0,u='/notice';document.querySelector('meta').content=`${s};url=${u}`"
        "</script>"),
    "refresh, content with an escape first": REFRESH + SAYS + (
        "<script>document.querySelector('meta').content='\\t0;url=/notice'</script>"),
    "refresh, setAttributeNS": REFRESH + SAYS + (
        "<script>document.querySelector('meta').setAttributeNS(null,'content','0;url=/notice')"
        "</script>"),
    "refresh, attributes.content.value": REFRESH + SAYS + (
        "<script>document.querySelector('meta').attributes.content.value='0;url=/notice'"
        "</script>"),
    "refresh, Object.assign": REFRESH + SAYS + (
        "<script>Object.assign(document.querySelector('meta'),{content:'0;url=/notice'})"
        "</script>"),
}

# What real wrappers' pages carry beside their forward, which keeps it from nothing (review
# 137; Chromium reaches the target in each).
NOT_KEPT = {
    "a pageshow listener's bfcache reload": REFRESH + (
        "<script>window.addEventListener('pageshow',function(e){if(e.persisted)"
        "{location.reload()}})</script>"),
    "flexible.js sets the viewport": "<meta name=viewport content='width=device-width'>"
    + REFRESH + "<script>var m=document.querySelector('meta[name=viewport]');"
    "m.setAttribute('content','width=device-width,initial-scale=1')</script>",
    "a toast's content": REFRESH + "<script>var toast={};toast.content = 'ok';</script>",
    "a close button": REFRESH + "<button onclick='window.close()'>关闭</button>",
    "a close method": REPLACE + "<script>var modal={close(){document.body.hidden=true}};"
    "</script>",
    "document.open() while parsing": "<script>document.open()</script>" + REPLACE,
    "a blank javascript: frame": REFRESH + "<iframe src='javascript:false'></iframe>",
    # review 138
    "a popup's open() in a timer": REFRESH + (
        "<script>setTimeout(function(){popup.open()},10)</script>"),
    "a menu's open() when ready": REFRESH + "<script>$(function(){$('.menu').open()})</script>",
    "a viewport's content beside a URL": REFRESH + (
        "<script>var url=location.href;document.querySelector('meta[name=viewport]')"
        ".setAttribute('content','width=device-width')</script>"),
    "a share's content beside a URL": REFRESH + (
        "<script>var share={};share.content='look';share.link='https://x/?url='"
        "+encodeURIComponent(location.href)</script>"),
    "a bfcache reload written with &&": REFRESH + (
        "<script>addEventListener('pageshow',function(e){e.persisted&&window.location"
        ".reload()})</script>"),
    # review 139
    "a bfcache reload beside a performance check": REFRESH + (
        "<script>window.addEventListener('pageshow',function(e){if(e.persisted||(window."
        "performance&&window.performance.navigation.type==2)){window.location.reload()}})"
        "</script>"),
    "an isPageHide reload": REFRESH + (
        "<script>var isPageHide=false;window.addEventListener('pageshow',function(){if("
        "isPageHide){window.location.reload()}});window.addEventListener('pagehide',"
        "function(){isPageHide=true})</script>"),
    "an item's content from data": REFRESH + (
        "<script>var item={},data={content:'x'};item.content=data.content</script>"),
    "a component's this.content": REFRESH + (
        "<script>function M(o){this.content=o.content||''}new M({})</script>"),
    "a toast's empty content": REFRESH + "<script>var toast={};toast.content='';</script>",
    "document.open() at the top level after a line break": (
        "<script>var a=1\ndocument.open()</script>" + REPLACE),
}


@pytest.mark.parametrize("case", sorted(KEPT))
def test_a_forward_the_page_keeps_from_being_made_is_no_open_link(catalog: Catalog,
                                                                  case: str) -> None:
    observed = drive(catalog, WRAPPER, {WRAPPER: (200, {}, KEPT[case].encode()),
                                        TARGET: TARGET_PAGE}, {TARGET: TARGET_PAGE})
    assert observed.outcome not in OPEN  # before: `wrapped`


@pytest.mark.parametrize("frame", [
    "<iframe src='https://player.example.net/v/1'></iframe>",  # another origin: no tap, no way
    "<iframe sandbox srcdoc='<script>top.location=1</script>'></iframe>",  # no scripts
    "<iframe sandbox='allow-scripts' srcdoc='x'></iframe>",  # scripts, not the origin
    "<template><iframe srcdoc='x'></iframe></template>",  # inert
])
def test_a_frame_that_cannot_act_on_the_page_holds_no_forward(frame: str) -> None:
    page = parse_page(f"<html><body>{frame}</body></html>", WRAPPER)
    assert not page.frames_script


@pytest.mark.parametrize("case", sorted(NOT_KEPT))
def test_what_keeps_a_forward_from_nothing_does_not_hold_it(catalog: Catalog,
                                                             case: str) -> None:
    page = "<p>正在跳转…</p>" + NOT_KEPT[case]
    observed = drive(catalog, WRAPPER, {WRAPPER: (200, {}, page.encode()),
                                        TARGET: TARGET_PAGE}, {TARGET: TARGET_PAGE})
    assert observed.outcome == Outcome.WRAPPED  # after review 136's fixes: to review


def test_a_wrappers_plain_forward_is_still_followed(catalog: Catalog) -> None:
    # The shapes above are each read by what they do; a forward with none of them is one.
    for page in (REFRESH, REPLACE, REFRESH + "<script>xhr.close();ws.close()</script>"):
        observed = drive(catalog, WRAPPER, {WRAPPER: (200, {}, page.encode()),
                                            TARGET: TARGET_PAGE}, {TARGET: TARGET_PAGE})
        assert observed.outcome == Outcome.WRAPPED, page


def test_ending_the_head_costs_linear_time() -> None:
    # Review 137: each element moved into the body was inserted at its index, which walks that
    # many siblings: 320,000 elements after a <title> took 218 s.
    def parse(count: int) -> float:
        html = "<title>t</title>" + "<x></x>" * count
        return seconds(lambda: parse_page(html, JUMP))

    small, large = best_in_turn(lambda: parse(8_000), lambda: parse(80_000), rounds=3)
    assert large < 35 * max(small, 1e-3), (small, large)


@pytest.mark.parametrize("reveal", [
    "<details><summary>更多</summary>{link}</details>",
    "<style>#go{{display:none}} #c:checked ~ #go{{display:inline}}</style>"
    "<input type=checkbox id=c><label for=c>我已知晓</label>{link}",
    "<style>#go{{visibility:hidden;animation:show 0s 3s forwards}}"
    "@keyframes show{{to{{visibility:visible}}}}</style>{link}",
    "<style>.w{{visibility:hidden}} .w #go{{visibility:visible}}</style><div class=w>{link}</div>",
])
def test_a_link_a_style_or_a_tap_may_show_is_a_control(catalog: Catalog, reveal: str) -> None:
    # Review 137: continue links shown without a script (a disclosure, a checkbox's label, an
    # animation that fades them in) were dropped as no control, and warnings read as pages
    # without a way on; such a page may change, and the link is a control.
    link = f"<a id=go href='{TARGET}' style='display:none'>继续访问</a>"
    page = parse_page(f"<html><body><p>您即将离开知乎，请注意账号财产安全</p>"
                      f"{reveal.format(link=link)}</body></html>", WRAPPER)
    assert page.may_change
    assert [url for _anchor, url in tap_destinations(page)] == [None]


def test_many_scripts_cost_linear_time() -> None:
    # Review 139: which scripts are modules was worked out once per script, over all of them:
    # 10,000 scripts cost 16 s, 20,000 past the parse budget (a block page padded into an
    # `error`).
    def forward(count: int) -> float:
        page = parse_page(REFRESH + "<script>0</script>" * count, WRAPPER)
        return seconds(lambda: page_forward(page))

    small, large = best_in_turn(lambda: forward(1_000), lambda: forward(10_000), rounds=3)
    assert large < 35 * max(small, 1e-3), (small, large)


def test_many_reopenings_in_one_script_cost_one_pass() -> None:
    # Review 139: each reopening was placed by a scan from the script's start: 70 in 5 MB
    # cost 47 s. Sixty-four now cost about what one does.
    def forward(count: int) -> float:
        script = "var x=1;" * 60_000 + ";document.open()" * count
        page = parse_page(REFRESH + f"<script>{script}</script>", WRAPPER)
        return seconds(lambda: page_forward(page))

    one, many = best_in_turn(lambda: forward(1), lambda: forward(64), rounds=3)
    assert many < 8 * max(one, 1e-3), (one, many)


# -- countdowns written as a timer's string, and on the platform's own pages ---------------

COUNTDOWNS = {
    "a timer's string (Russian)": "<h2>Переход по внешней ссылке</h2><p>Через 5 секунд вы "
                                  "будете перенаправлены.</p><script>setTimeout(\"location.href"
                                  "='TGT'\",5000)</script>",
    "window.setTimeout's string (Korean)": "<p>외부 사이트로 이동합니다. 3초 후 이동합니다.</p>"
                                           "<script>window.setTimeout('window.location.replace("
                                           "\\'TGT\\')', 3000)</script>",
    "a template string (Spanish)": "<p>Serás redirigido en 5 segundos.</p>"
                                   "<script>setInterval(`location = 'TGT'`, 5000)</script>",
    "a timer's function (Russian)": "<h2>Переход по внешней ссылке</h2><p>Через 5 секунд вы "
                                    "будете перенаправлены.</p><script>setTimeout(function()"
                                    "{location.href='TGT'},5000)</script>",
}


@pytest.mark.parametrize("page", COUNTDOWNS.values(), ids=COUNTDOWNS.keys())
@pytest.mark.parametrize("where", ["the wrapper", "a page of the platform's own"])
def test_a_countdown_in_unknown_words_is_for_a_person(catalog: Catalog, page: str,
                                                      where: str) -> None:
    # Review 168: Chromium shows each page, then goes on to the target after the timer. A
    # timer's string read as no code made the wrapper's page a block with no way on (a
    # critical failure); on a page of the platform's own that the wrapper redirects to, a
    # forward by script only was no pointing back, and the chain read as a diversion.
    body = page.replace("TGT", TARGET).encode()
    answers = ({WRAPPER: (200, {}, body)} if where == "the wrapper" else
               {WRAPPER: (302, {"location": JUMP}, b""), JUMP: (200, {}, body)})
    observed = drive(catalog, WRAPPER, {**answers, TARGET: TARGET_PAGE},
                     {TARGET: TARGET_PAGE})
    assert observed.outcome is Outcome.UNRECOGNIZED


def test_a_timers_string_is_read_only_where_it_is_the_timers_code() -> None:
    # In a comment, in another string or as a later argument it is no code that runs.
    for script in (f"// setTimeout(\"location.href='{TARGET}'\", 5000)",
                   "var s = \"setTimeout('location.href=1', 5)\"; log(s)",
                   f"setTimeout(go, 5000, \"location.href='{TARGET}'\")"):
        page = parse_page(f"<p>x</p><script>{script}</script>", JUMP)
        assert script_targets(page) == [], script
    page = parse_page(f"<p>x</p><script>setTimeout(\"location.href='{TARGET}'\", 5)</script>",
                      JUMP)
    assert script_targets(page) == [TARGET]
    # A timer's navigation elsewhere keeps a forward on load from being taken as where the
    # page goes.
    both = parse_page(f"<p>x</p><script>location.replace('{TARGET}');"
                      f"setTimeout(\"location.href='/notice'\", 0)</script>", JUMP)
    assert page_forward(both) is None


# A refresh to the target, and a timer whose code sends the page elsewhere first (Chromium
# ends on /warn): the timer called or given its code in other forms read as no code, and the
# refresh was followed (review 171).
TIMER_FORMS = {
    "(0, setTimeout)": "(0, setTimeout)(\"location.replace('/warn')\", 0)",
    "setTimeout.call": "setTimeout.call(window, \"location.replace('/warn')\", 0)",
    "setTimeout.apply": "setTimeout.apply(window, [\"location.replace('/warn')\", 0])",
    "setTimeout?.": "setTimeout?.(\"location.replace('/warn')\", 0)",
    "a string in parentheses": "setTimeout((\"location.replace('/warn')\"), 0)",
    "a name given the string": "var c = \"location.replace('/warn')\"; setTimeout(c, 0)",
    "a string joined": "setTimeout(\"location.replace('/wa\" + \"rn')\", 0)",
    "a template with a substitution": "var w = 'warn'; setTimeout(`location.replace('/${w}')`, 0)",
}


@pytest.mark.parametrize("script", TIMER_FORMS.values(), ids=TIMER_FORMS.keys())
def test_a_timers_code_in_any_form_keeps_a_refresh_from_being_followed(script: str) -> None:
    page = parse_page(f'<meta http-equiv="refresh" content="0;url={TARGET}"><p>x</p>'
                      f"<script>{script}</script>", JUMP)
    forward = page_forward(page)
    assert forward is None or forward.delayed


DEAD = {
    "a condition never met": f"if (false) location.href = '{TARGET}';",
    "a function nothing calls": f"function never(){{ location.href = '{TARGET}' }}",
    "a script that does not parse": f"location.href = '{TARGET}'; )",
    "a script whose declarations clash": f"let top = 1; location.href = '{TARGET}';",
}
APP_PAGE = ("<!doctype html><meta charset=utf-8><title>知乎 App</title><h1>下载知乎 App</h1>"
            "<p>打开 App 查看完整内容</p><a href='https://www.zhihu.com/app'>立即下载</a>")


@pytest.mark.parametrize("script", DEAD.values(), ids=DEAD.keys())
def test_a_navigation_that_never_runs_does_not_point_back(catalog: Catalog,
                                                          script: str) -> None:
    # The platform's app-download page the link was diverted to: a line of dead code naming
    # the target kept the diversion from being read as one (review 171).
    page = f"{APP_PAGE}<script>{script}</script>".encode()
    observed = drive(catalog, WRAPPER, {WRAPPER: (302, {"location": JUMP}, b""),
                                        JUMP: (200, {}, page), TARGET: TARGET_PAGE},
                     {TARGET: TARGET_PAGE})
    assert observed.outcome is Outcome.DIVERTED


def test_a_librarys_many_calls_do_not_cut_the_reading_of_its_timers() -> None:
    # Review 173: every call the timers' query found (`.call(`, IIFEs) counted against the
    # bound on timers looked at, and past 256 the page's forward was dropped.
    calls = "var a={f:function(){}};" + "a.f.call(a,1);" * 300
    page = parse_page(f"<p>Redirecting…</p><script>setTimeout(function(){{}},1); {calls} "
                      f"setTimeout(function(){{}},1); location.replace('{TARGET}')</script>", JUMP)
    forward = page_forward(page)
    assert forward is not None and forward.url == TARGET and not forward.delayed
