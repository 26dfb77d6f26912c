"""Interceptions that look like arrivals (an adversarial review, 2026-12-06): a wrapper that
sends the link elsewhere on the target's host, a notice on the host the target's page is on,
a 3xx a browser does not follow, a dialog before a script's forward, the platform's copy of
the target on a host of its own. Each read as the link opened (`wrapped`); none may."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from audit.measure.capture.formats import keep_response_body
from audit.model import Outcome, PageKind
from audit.policy.catalog import Catalog, load_catalog
from audit.web.urls import as_requested
from tests.chaindrive import ARTICLE, TARGET, WRAPPER, Answers, drive

HOME = "https://shop.example-target.com/"
ELSEWHERE = "https://rd.transcode-example.net/t?u=shop.example-target.com%2Fitem%2F42"
TARGET_PAGE = ("<html><head><meta charset=utf-8><title>Teapot 42</title></head><body>"
               f"<h1>Teapot 42</h1>{ARTICLE}</body></html>")
BLOCK = "<title>提示</title><h1>该链接已被屏蔽</h1><p>由于该网页涉嫌违规，已停止访问</p>"
OPEN = {Outcome.DIRECT, Outcome.WRAPPED}

Responses = dict[str, tuple[int, dict[str, str], str]]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _bytes(html: str) -> bytes:
    if html.lstrip().lower().startswith("<html"):
        return html.encode()
    return f"<!doctype html><html><head><meta charset=utf-8></head><body>{html}</body></html>" \
        .encode()


def _outcome(catalog: Catalog, start: str, responses: Responses, *, target: str = TARGET,
             control: Responses | None = None) -> Outcome:
    """The outcome of a Zhihu link to `target` that starts at `start`, each URL answered from
    `responses` (status, headers, html); the control fetch from `control` (the target's
    page by default), following its redirects."""
    def as_bytes(given: Responses) -> Answers:
        return {url: (status, headers, _bytes(html) if html else b"")
                for url, (status, headers, html) in given.items()}

    return drive(catalog, start, as_bytes(responses),
                 as_bytes(control or {target: (200, {}, TARGET_PAGE)}), target=target).outcome


@pytest.mark.parametrize(("where", "html"), [
    (HOME, "<title>Shop home</title><h1>Welcome</h1>"),  # the home page for the deep link
    (f"{TARGET}?from=zhihu", "<title>提示</title><h1>请在App中打开</h1>"
                             "<p>该链接来自第三方平台，暂不支持访问</p>"),  # a parameter refused
    (f"{HOME}item/", "<title>页面不存在</title><h1>404</h1><p>您访问的页面不存在</p>"),  # mangled
    (f"{HOME}openapp?url=item/42", "<title>打开App</title><h1>请在App中打开</h1>"
                                   "<a href='/app.apk'>下载App</a>"),
])
def test_another_page_of_the_targets_host_is_not_the_target(
        catalog: Catalog, where: str, html: str) -> None:
    """The wrapper sends the link to a URL of the target's host that is not the link's: the
    platform chose it, and what it shows is not the target's page."""
    assert _outcome(catalog, WRAPPER, {WRAPPER: (302, {"location": where}, ""),
                                       where: (200, {}, html)}) is Outcome.UNRECOGNIZED


def test_the_targets_page_with_a_parameter_added_is_the_target(catalog: Catalog) -> None:
    # Positive controls: the link's own URL, and the target's page under a tracking parameter
    # the wrapper added (one host, alike).
    assert _outcome(catalog, WRAPPER, {WRAPPER: (302, {"location": TARGET}, ""),
                                       TARGET: (200, {}, TARGET_PAGE)}) is Outcome.WRAPPED
    tracked = f"{TARGET}?utm_source=zhihu"
    assert _outcome(catalog, WRAPPER, {WRAPPER: (302, {"location": tracked}, ""),
                                       tracked: (200, {}, TARGET_PAGE)}) is Outcome.WRAPPED


def test_one_host_with_the_controls_end_is_not_a_match_by_itself(catalog: Catalog) -> None:
    # The target moves to its mobile host; the wrapper sends the link to that host's home.
    mobile = "https://m.example-target.com/item/42"
    control: Responses = {TARGET: (301, {"location": mobile}, ""), mobile: (200, {}, TARGET_PAGE)}
    home = "https://m.example-target.com/"
    assert _outcome(catalog, WRAPPER, {WRAPPER: (302, {"location": home}, ""),
                                       home: (200, {}, "<title>Shop</title><h1>Welcome</h1>")},
                    control=control) is Outcome.UNRECOGNIZED
    # The page the target's own redirect ends on, reached straight: the same URL.
    assert _outcome(catalog, WRAPPER, {WRAPPER: (302, {"location": mobile}, ""),
                                       mobile: (200, {}, TARGET_PAGE)},
                    control=control) is Outcome.WRAPPED
    # A short link whose control leads to a Zhihu question; Zhihu answers the chain with its
    # own notice, in words no marker knows, on that host: not the question.
    short = "https://sho.rt-example.net/abc"
    question, notice = "https://www.zhihu.com/question/1", "https://www.zhihu.com/notice/s?id=1"
    wrapper = "https://link.zhihu.com/?target=https%3A%2F%2Fsho.rt-example.net%2Fabc"
    outcome = _outcome(
        catalog, wrapper,
        {wrapper: (302, {"location": notice}, ""),
         notice: (200, {}, "<title>知乎</title><h1>Ce lien raccourci a été bloqué.</h1>")},
        target=short, control={short: (302, {"location": question}, ""),
                               question: (200, {}, "<title>Q1 - 知乎</title>"
                                          + "<p>answer text</p>" * 50)})
    assert outcome not in OPEN


@pytest.mark.parametrize("status", [300, 305, 306, 399])
def test_a_3xx_a_browser_does_not_follow_is_a_page(catalog: Catalog, status: int) -> None:
    """Chromium follows a Location only from 301, 302, 303, 307 and 308; another 3xx shows
    its body, here a block page."""
    assert _outcome(catalog, WRAPPER, {WRAPPER: (status, {"location": TARGET}, BLOCK),
                                       TARGET: (200, {}, TARGET_PAGE)}) is Outcome.BLOCKED
    assert keep_response_body(status, {"location": TARGET}, "text/html")  # kept to be read


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_the_redirects_a_browser_follows_are_followed(catalog: Catalog, status: int) -> None:
    assert _outcome(catalog, WRAPPER, {WRAPPER: (status, {"location": TARGET}, BLOCK),
                                       TARGET: (200, {}, TARGET_PAGE)}) is Outcome.WRAPPED
    assert not keep_response_body(status, {"location": TARGET}, "text/html")


PROXY = "https://safe.linkguard-example.net/check?id=9"


@pytest.mark.parametrize(("start", "html"), [
    # A third host's page whose script shows a warning, then navigates.
    (PROXY, f"<p>&nbsp;</p><script>alert('您即将离开知乎，前往第三方网站，请注意账号和财产安全');"
            f"location.href='{TARGET}'</script>"),
    (PROXY, f"<script>confirm('该网页可能存在风险，是否继续访问？');"
            f"location.replace('{TARGET}')</script>"),
    # Zhihu's endpoint itself: a dialog saying blocked, then the forward.
    (WRAPPER, f"<script>alert('该链接已被屏蔽');location.href='{TARGET}'</script>"),
])
def test_a_dialog_before_a_scripts_forward_holds_it(catalog: Catalog, start: str,
                                                    html: str) -> None:
    """A browser runs the navigation only once a person has answered the dialog, reading
    its words; followed as a redirect, the warning read as the link opened."""
    responses: Responses = {start: (200, {}, html), TARGET: (200, {}, TARGET_PAGE)}
    if start == PROXY:
        responses[WRAPPER] = (302, {"location": PROXY}, "")
    assert _outcome(catalog, WRAPPER, responses) is Outcome.UNRECOGNIZED


def test_a_script_that_forwards_without_a_dialog_still_forwards(catalog: Catalog) -> None:
    html = f"<script>var alertness = 'printed';location.href='{TARGET}'</script>"
    assert _outcome(catalog, WRAPPER, {WRAPPER: (302, {"location": PROXY}, ""),
                                       PROXY: (200, {}, html),
                                       TARGET: (200, {}, TARGET_PAGE)}) is Outcome.WRAPPED


@pytest.mark.parametrize("banner", [
    "<div class=bar>风险提示：该网页非知乎官方页面，由第三方转码展示，可能存在风险，已为你屏蔽原网页"
    "的交互功能。<a href='https://www.zhihu.com'>返回知乎</a></div>",
    "<div>阅读模式 · 原网页已由平台转码</div>",
])
def test_a_copy_of_the_target_on_a_host_of_its_own_is_for_review(
        catalog: Catalog, banner: str) -> None:
    """Alike the target's page, on a host the target's page is not on: a platform's
    transcoded or proxied copy, which hulian cannot tell from a mirror."""
    copy = TARGET_PAGE.replace("<body>", f"<body>{banner}")
    assert _outcome(catalog, WRAPPER, {WRAPPER: (302, {"location": ELSEWHERE}, ""),
                                       ELSEWHERE: (200, {}, copy)}) is Outcome.UNRECOGNIZED


@pytest.mark.parametrize("dialog", [
    "window['alert']('您即将离开知乎，请注意账号和财产安全')", "(0,alert)('请注意安全')",
    "alert`请注意安全`", "\\u0061lert('请注意安全')", "alert.call(window, '请注意安全')",
    "alert?.('请注意安全')", "var a = alert; a('请注意安全')", "alert/**/('请注意安全')",
    "Reflect.apply(alert, window, ['请注意安全'])", "globalThis.confirm('继续访问？')",
    "window['\\x61lert']('请注意安全')", "window['\\141lert']('请注意安全')",
])
def test_a_dialog_under_another_name_holds_the_forward(catalog: Catalog, dialog: str) -> None:
    """Each opens the dialog in Chromium (checked by the review that found them), and the
    target is not requested while it is open."""
    html = f"<script>{dialog};location.href='{TARGET}'</script>"
    assert _outcome(catalog, WRAPPER, {WRAPPER: (302, {"location": PROXY}, ""),
                                       PROXY: (200, {}, html),
                                       TARGET: (200, {}, TARGET_PAGE)}) is Outcome.UNRECOGNIZED


@pytest.mark.parametrize("after", ["alert('请注意安全')",
                                   "setTimeout(function () { alert('请注意安全') }, 0)"])
def test_a_dialog_after_the_navigation_in_its_script_holds_it(catalog: Catalog,
                                                              after: str) -> None:
    """Chromium requests the target but stays on the page until the dialog is answered."""
    html = f"<script>location.href='{TARGET}';{after}</script>"
    assert _outcome(catalog, WRAPPER, {WRAPPER: (302, {"location": PROXY}, ""),
                                       PROXY: (200, {}, html),
                                       TARGET: (200, {}, TARGET_PAGE)}) is Outcome.UNRECOGNIZED
    # A dialog in a later script of its own does not: the navigation commits first.
    later = f"<script>location.href='{TARGET}'</script><script>var x = 1</script>"
    assert _outcome(catalog, WRAPPER, {WRAPPER: (302, {"location": PROXY}, ""),
                                       PROXY: (200, {}, later),
                                       TARGET: (200, {}, TARGET_PAGE)}) is Outcome.WRAPPED


def test_the_https_twin_of_an_http_target_is_the_target(catalog: Catalog) -> None:
    """Browsers upgrade an `http://` navigation to HTTPS (HTTPS-Upgrades, HSTS): a captured
    browser's one flow for such a link is to the `https://` URL, which is the target."""
    plain = "http://shop.example-target.com/item/42"
    assert _outcome(catalog, WRAPPER, {WRAPPER: (302, {"location": TARGET}, ""),
                                       TARGET: (200, {}, TARGET_PAGE)},
                    target=plain, control={plain: (200, {}, "<title>elsewhere</title>")}) \
        is Outcome.WRAPPED
    # Not on another port: that is another server.
    assert as_requested("http://shop.example-target.com:8080/x") == \
        "http://shop.example-target.com:8080/x"
    assert as_requested("http://shop.example-target.com/x?hulian_probe=hpabcdefghij#f") == \
        "https://shop.example-target.com/x"


def test_a_class_name_is_no_dialog(catalog: Catalog) -> None:
    html = (f"<script>var box = 'alert alert-info', blueprint = 1;</script>"
            f"<script>location.href='{TARGET}'</script>")
    assert _outcome(catalog, WRAPPER, {WRAPPER: (302, {"location": PROXY}, ""),
                                       PROXY: (200, {}, html),
                                       TARGET: (200, {}, TARGET_PAGE)}) is Outcome.WRAPPED


@pytest.mark.parametrize("content_type", ["text/plain; charset=utf-8; x=html",
                                          "text/html, text/plain"])
def test_a_page_a_browser_shows_as_text_does_not_forward(catalog: Catalog,
                                                         content_type: str) -> None:
    """Chromium shows a `text/plain` body as text: its refresh is never run. Read as HTML
    because its Content-Type held "html", the notice's refresh was followed to the target."""
    notice = f'<p>Ce lien est bloqué.</p><meta http-equiv=refresh content="0;url={TARGET}">'
    outcome = _outcome(catalog, WRAPPER, {
        WRAPPER: (302, {"location": PROXY}, ""),
        PROXY: (200, {"content-type": content_type}, notice),
        TARGET: (200, {}, TARGET_PAGE)})
    assert outcome is Outcome.UNRECOGNIZED
    # Served as HTML, the same page forwards at once: a redirect.
    assert _outcome(catalog, WRAPPER, {
        WRAPPER: (302, {"location": PROXY}, ""),
        PROXY: (200, {"content-type": "text/html"}, notice),
        TARGET: (200, {}, TARGET_PAGE)}) is Outcome.WRAPPED


FORWARDS = f'<p>Ce lien est bloqué.</p><meta http-equiv=refresh content="0;url={TARGET}">'.encode()


@pytest.mark.parametrize(("headers", "body"), [
    ({"content-type": "text/plain x"}, FORWARDS),  # the type cut at white space: text
    ({"content-type": "text/plain(c)"}, FORWARDS),
    ({"content-type": "text/html/x"}, FORWARDS),  # no HTML type at all
    ({"content-type": "text/html, text/plain x"}, FORWARDS),  # the last value decides
    ({"content-type": "text/html", "content-disposition": "attachment"}, FORWARDS),  # a download
    ({"content-type": "text/html", "content-disposition": "download; filename=a.html"},
     FORWARDS),  # an unknown disposition type is an attachment
    ({"content-type": "text/plain, */*"}, b"<html>" + FORWARDS),  # `*/*` says nothing
    ({"content-type": "", "x-content-type-options": "nosniff"}, b"<html>" + FORWARDS),
    ({"content-type": ""}, b"Notice. " + FORWARDS),  # sniffed: it does not start as HTML
    ({"content-type": "application/xhtml+xml"}, b"<html>" + FORWARDS),  # an XML tree
])
def test_an_answer_a_browser_does_not_show_as_a_page_does_not_forward(
        catalog: Catalog, headers: dict[str, str], body: bytes) -> None:
    """Chromium shows each as text, a download or an XML tree (checked by the review that found
    them): the notice's refresh never runs. Each was read as a page that forwards."""
    answers: Answers = {WRAPPER: (302, {"location": PROXY}, b""), PROXY: (200, headers, body)}
    control: Answers = {TARGET: (200, {}, TARGET_PAGE.encode())}
    assert drive(catalog, WRAPPER, answers, control).outcome is Outcome.UNRECOGNIZED


@pytest.mark.parametrize(("headers", "start"), [
    ({"content-type": "text/html x"}, b"<html>"), ({"content-type": ""}, b"<html>"),
    ({"content-type": "unknown/unknown"}, b"<html>"),
    ({"content-type": "text/html", "content-disposition": "inline; filename=x"}, b""),
    ({"content-type": ""}, b"<!--STATUS OK-->"), ({"content-type": ""}, b"\x0b<html>"),
    ({"content-type": "", "x-content-type-options": "foo, nosniff"}, b"<html>"),
])
def test_an_answer_a_browser_shows_as_a_page_forwards(catalog: Catalog, headers: dict[str, str],
                                                      start: bytes) -> None:
    answers: Answers = {WRAPPER: (302, {"location": PROXY}, b""),
                        PROXY: (200, headers, start + FORWARDS),
                        TARGET: (200, {}, TARGET_PAGE.encode())}
    control: Answers = {TARGET: (200, {}, TARGET_PAGE.encode())}
    assert drive(catalog, WRAPPER, answers, control).outcome is Outcome.WRAPPED


@pytest.mark.parametrize(("script", "held"), [
    ("-alert('请注意安全')", True), ("void-alert('请注意安全')", True),
    ("alert<!--\n('请注意安全')", True), ("alert\u00a0('请注意安全')", True),
    ("alert\u3000('请注意安全')", True), ("alert\u2028('请注意安全')", True),
    # Hyphenated names in strings: an element's id, a class.
    ("document.getElementById('btn-confirm'); document.body.className += ' no-print'", False),
    ("document.querySelector('.js-alert')", False),
    # A URL sanitiser's class of control characters, an octal escape of '@', an escaped
    # backslash: no dialog.
    ("var unsafe = /[\\x00-\\x1f\\x7f]|[\\u0000-\\u001f\\u007f-\\u009f]/", False),
    ("var at = '\\100', path = 'C:\\\\x64'", False),
])
def test_dialogs_read_from_script_text(catalog: Catalog, script: str, held: bool) -> None:
    html = f"<script>{script};location.href='{TARGET}'</script>"
    outcome = _outcome(catalog, WRAPPER, {WRAPPER: (302, {"location": PROXY}, ""),
                                          PROXY: (200, {}, html),
                                          TARGET: (200, {}, TARGET_PAGE)})
    assert outcome is (Outcome.UNRECOGNIZED if held else Outcome.WRAPPED)


XHTML = b'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title></head><body>'


@pytest.mark.parametrize("kind", ["application/xhtml+xml", "text/xml; charset=utf-8",
                                  "application/xml", "image/svg+xml"])
def test_an_xhtml_page_served_as_xml_is_a_page(catalog: Catalog, kind: str) -> None:
    # Chromium renders XML whose root is XHTML's as a page, its refresh run (checked with
    # Chromium 131): no XML was read as a page, and such a forward was a page of no kind.
    answers: Answers = {WRAPPER: (302, {"location": PROXY}, b""),
                        PROXY: (200, {"content-type": kind},
                                XHTML + b"<p>Ce lien est bloqu\xc3\xa9.</p><meta http-equiv="
                                b'"refresh" content="0;url=' + TARGET.encode()
                                + b'"/></body></html>'),
                        TARGET: (200, {}, TARGET_PAGE.encode())}
    control: Answers = {TARGET: (200, {}, TARGET_PAGE.encode())}
    assert drive(catalog, WRAPPER, answers, control).outcome is Outcome.WRAPPED


def test_an_xhtml_interstitial_is_read_as_xml_parses_it(catalog: Catalog) -> None:
    # `<script/>` and `<title/>` are closed elements in XML; an HTML parser reads the rest of
    # the page into them, the warning with it.
    from audit.web.page import parse_page

    page = parse_page((XHTML.replace(b"<title>x</title>", b'<title/><script src="/a.js"/>')
                       + "<p>您即将离开本站</p><P>大写</P></body></html>".encode()).decode(),
                      "http://go.test/", xml=True)
    assert page.text == "您即将离开本站\n大写"
    assert page.title == ""
    # Not a page: XML without XHTML's root, shown by Chromium as a tree of elements.
    from audit.web.decode import shown_as_html

    assert not shown_as_html({"content-type": "application/xhtml+xml"}, b"<html><p>x</p></html>")
    assert not shown_as_html({"content-type": "application/foo+xml"}, XHTML)  # a download
    assert shown_as_html({"content-type": "text/xml"}, b'<?xml version="1.0"?>\n<!-- -->' + XHTML)


def test_an_xhtml_seed_page_is_planned(catalog: Catalog) -> None:
    from audit.measure.chain import plan_probes
    from audit.model import SurfaceKind

    seed = XHTML + f'<p>post</p><a href="{TARGET}">teapot</a></body></html>'.encode()
    planned = plan_probes(seed, "application/xhtml+xml", "https://www.zhihu.com/question/1",
                          source="zhihu", surface=SurfaceKind.POST, catalog=catalog)
    assert [p.target_url for p in planned.probes] == [TARGET]
    tree = seed.replace(b' xmlns="http://www.w3.org/1999/xhtml"', b"")
    assert plan_probes(tree, "application/xhtml+xml", "https://www.zhihu.com/question/1",
                       source="zhihu", surface=SurfaceKind.POST, catalog=catalog).probes == []


TCN_COPY_PAGE = ('<html><head><title>微博-出错了</title></head><body><div class="wrap">'
                 '<p class="desc">如需浏览，请长按网址复制后使用浏览器访问</p>'
                 '<p class="link">http://shop.test/item1</p></div></body></html>').encode()


@pytest.mark.parametrize("body", [
    "<p>您的访问已被拦截，请稍后再试。</p>".encode(),  # a WAF's notice
    "<p>请复制链接到浏览器打开 https://shop.example-target.com/item/42</p>".encode(),
    '<p>即将跳转到商品页</p><a href="https://app.example-target.com/open">继续</a>'.encode(),
])
def test_the_targets_own_page_is_the_targets_whatever_it_says(catalog: Catalog,
                                                               body: bytes) -> None:
    # The link went straight to the target, and the target answered with a notice of its
    # own: read by the markers, the platform that linked to it was accused (a review).
    answers: Answers = {TARGET: (200, {}, b"<html><body>" + body + b"</body></html>")}
    assert drive(catalog, TARGET, answers, {}).outcome is Outcome.DIRECT


def test_a_short_link_to_a_platforms_own_copy_page_is_that_platforms_doing(
        catalog: Catalog) -> None:
    # A forum's link to a Weibo short link, which t.cn answers with Weibo's copy-to-browser
    # page: Weibo's own page, where the forum's link led, not the forum's obstruction.
    link = "http://t.cn/RgAKoPE"
    observation = drive(catalog, link, {link: (200, {}, TCN_COPY_PAGE)}, {}, target=link)
    assert observation.outcome is Outcome.DIRECT
    assert observation.page is not None and observation.page.kind is PageKind.CONTENT


@pytest.mark.parametrize(("external", "outcome"), [
    # A script loaded from elsewhere that the parser waits for runs before the forward: it
    # may ask "即将离开…是否继续？" (a shared leave.js), which cannot be read. It read `wrapped`.
    ("<script src='/static/leave.js'></script>", Outcome.UNRECOGNIZED),
    ("<script type='text/javascript' src='/static/leave.js'></script>", Outcome.UNRECOGNIZED),
    # Positive controls: scripts that run after the page is parsed, a module, a data block,
    # one inside <noscript>, and one after the forward do not come before it.
    ("<script async src='/a.js'></script>", Outcome.WRAPPED),
    ("<script defer src='/a.js'></script>", Outcome.WRAPPED),
    ("<script type=module src='/a.js'></script>", Outcome.WRAPPED),
    ("<script type='application/ld+json' src='/a.json'></script>", Outcome.WRAPPED),
    ("<noscript><script src='/a.js'></script></noscript>", Outcome.WRAPPED),
])
def test_a_script_from_elsewhere_before_a_forward_holds_it(catalog: Catalog, external: str,
                                                           outcome: Outcome) -> None:
    html = (f"<html><head>{external}</head><body><script>location.replace('{TARGET}')"
            "</script><script src='/after.js'></script></body></html>")
    assert _outcome(catalog, WRAPPER, {WRAPPER: (302, {"location": PROXY}, ""),
                                       PROXY: (200, {}, html),
                                       TARGET: (200, {}, TARGET_PAGE)}) is outcome


@pytest.mark.parametrize(("source", "seed_url", "link", "example", "outcome"), [
    ("weibo", "https://weibo.com/1/a", "http://t.cn/RgAKoPE", "weibo/weibo-blocked.html",
     Outcome.BLOCKED),
    ("tieba", "https://tieba.baidu.com/p/1",
     "https://jump2.bdimg.com/safecheck/index?url=x88GPt2rRHKd2BrTCUVu5Xm9b7yrPM6oyj5E0Fy_rM4",
     "tieba/tieba-safecheck.html", Outcome.WARNED),
])
def test_an_opaque_wrapper_of_the_sources_own_company_is_no_target_of_its_own(
        catalog: Catalog, source: str, seed_url: str, link: str, example: str,
        outcome: Outcome) -> None:
    # A link through an opaque wrapper is planned with the wrapper's URL as its target: the
    # platform's interstitial there, read as "the target's own page", read `direct` (the
    # review of the fix above).
    from audit.measure.chain import plan_probes
    from audit.model import SurfaceKind
    from audit.policy.catalog import shipped_policies_dir

    seed = f'<html><body><p>a post</p><a href="{link}">网页链接</a></body></html>'.encode()
    (probe,) = plan_probes(seed, "text/html", seed_url, source=source, surface=SurfaceKind.POST,
                           catalog=catalog).probes
    assert probe.target_url == link
    body = (shipped_policies_dir() / "examples" / example).read_bytes()
    shop = b"<html><body><p>shop</p></body></html>"
    answers: Answers = {link: (200, {}, body), "https://www.example.org/": (200, {}, shop)}
    observed = drive(catalog, link, answers, {link: (200, {}, shop)}, target=link,
                     source=source)
    assert observed.outcome is outcome


@pytest.mark.parametrize(("head", "forward", "outcome"), [
    # A refresh waits for `load`: a dialog or a script of the page's own site comes first
    # (Chromium held both; each read `wrapped`: the review of the fix above).
    ("<script src='/static/leave.js'></script>",
     f"<meta http-equiv=refresh content='0;url={TARGET}'>", Outcome.UNRECOGNIZED),
    ("<script>alert('您即将离开知乎，请注意账号和财产安全')</script>",
     f"<meta http-equiv=refresh content='0;url={TARGET}'>", Outcome.UNRECOGNIZED),
    # A library or an analytics tag from another site holds nothing: every wrapper page with
    # one went to review.
    ("<script src='https://cdn.example-cdn.net/jquery.min.js'></script>",
     f"<script>location.replace('{TARGET}')</script>", Outcome.WRAPPED),
    ("<script src='https://s4.cnzz.example/z_stat.js'></script>",
     f"<meta http-equiv=refresh content='0;url={TARGET}'>", Outcome.WRAPPED),
])
def test_what_comes_before_a_refresh_or_a_forward(catalog: Catalog, head: str, forward: str,
                                                  outcome: Outcome) -> None:
    html = f"<html><head>{head}</head><body>{forward}</body></html>"
    assert _outcome(catalog, WRAPPER, {WRAPPER: (302, {"location": PROXY}, ""),
                                       PROXY: (200, {}, html),
                                       TARGET: (200, {}, TARGET_PAGE)}) is outcome


XHTML_1_STRICT = ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
                  '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">')


@pytest.mark.parametrize(("doctype", "body", "outcome"), [
    # Chromium ran none of these forwards (the review of the XHTML change): elements outside
    # XHTML's namespace are no script or meta, and its parser stops at the first
    # well-formedness error, where libxml2 recovering went on to the forward.
    ("", '<s:script xmlns:s="urn:x">location.replace("{t}")</s:script>', Outcome.UNRECOGNIZED),
    ("", '<script xmlns="">location.replace("{t}")</script>', Outcome.UNRECOGNIZED),
    ("", '<svg xmlns="http://www.w3.org/2000/svg"><meta http-equiv="refresh" '
     'content="0;url={t}"/></svg>', Outcome.UNRECOGNIZED),
    ("", '<p>a<br></p><script>location.replace("{t}")</script>', Outcome.UNRECOGNIZED),
    ("", '<p>&nbsp;</p><script>location.replace("{t}")</script>', Outcome.UNRECOGNIZED),
    # With an XHTML doctype Chromium knows HTML's named references: the page goes on.
    (XHTML_1_STRICT, '<p>&nbsp;</p><script>location.replace("{t}")</script>', Outcome.WRAPPED),
    ("", '<script>location.replace("{t}")</script>', Outcome.WRAPPED),
])
def test_an_xhtml_page_is_read_as_chromiums_xml_parser_reads_it(
        catalog: Catalog, doctype: str, body: str, outcome: Outcome) -> None:
    page = (doctype + '<html xmlns="http://www.w3.org/1999/xhtml">'
            "<head><title>Hinweis</title></head><body><p>Achtung: Sie verlassen diese Seite.</p>"
            + body.replace("{t}", TARGET) + "</body></html>")
    answers: Answers = {WRAPPER: (302, {"location": PROXY}, b""),
                        PROXY: (200, {"content-type": "application/xhtml+xml"}, page.encode()),
                        TARGET: (200, {}, TARGET_PAGE.encode())}
    control: Answers = {TARGET: (200, {}, TARGET_PAGE.encode())}
    assert drive(catalog, WRAPPER, answers, control).outcome is outcome


def test_past_the_sources_opaque_wrapper_pages_are_the_destinations(catalog: Catalog) -> None:
    # t.cn in a Weibo post forwards to a shop whose own firewall notice answers: the
    # exemption above for the source's own pages made it Weibo's block (the review after).
    link, shop = "http://t.cn/RgAKoPE", "https://shop.test/item1"
    notice = "<html><body><p>您的访问已被拦截，请稍后再试。</p></body></html>".encode()
    answers: Answers = {link: (302, {"location": shop}, b""), shop: (200, {}, notice)}
    observed = drive(catalog, link, answers, answers, target=link, source="weibo")
    assert observed.outcome is Outcome.DIRECT


@pytest.mark.parametrize(("doctype", "body"), [
    # Chromium stops at a byte its encoding cannot read; decoded, it was a replacement
    # character and the forward after it was followed (the review of the XML parse).
    ("", b"<p>\xe6\xad\xa3\xe5\x9c\xa8\xe8\xb7\xb3\xe8\xbd\xac</p>\xff<script>location.replace('{t}')"
         b"</script>"),
    # Entities the page declares itself, which Chromium expands (a forward, or a dialog before
    # one, may be in them): read in part, never followed, never a block by its structure.
    ('<!DOCTYPE html [<!ENTITY t "{t}">]>', b"<script>location.replace('&t;')</script>"),
    ('<!DOCTYPE html [<!ENTITY a "alert(\'risk\');">]>',
     b"<script>&a;location.replace('{t}')</script>"),
    # Declarations a pattern over the bytes missed, libxml2 reads (the review after): a `>`
    # in the system literal, a `]` in a comment or an attribute default of the internal
    # subset, a long comment before the doctype. The entity is a dialog's script, which
    # Chromium runs before the forward.
    *[(doctype.replace("ENT", '<!ENTITY a "&#60;script&#62;alert(1)&#60;/script&#62;">'),
       b"<p>&a;</p><script>location.replace('{t}')</script>")
      for doctype in ('<!DOCTYPE html SYSTEM "http://x.example/a>b.dtd" [ENT]>',
                      "<!DOCTYPE html [<!-- ] -->ENT]>",
                      '<!DOCTYPE html [<!ATTLIST p x CDATA "]">ENT]>',
                      "<!--" + "x" * 70_000 + "--><!DOCTYPE html [ENT]>")],
])
def test_an_xhtml_page_past_what_its_parser_reads_is_not_followed(
        catalog: Catalog, doctype: str, body: bytes) -> None:
    page = (doctype.replace("{t}", TARGET).encode()
            + b'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title></head><body>'
            + body.replace(b"{t}", TARGET.encode()) + b"</body></html>")
    for start in (PROXY, WRAPPER):  # a third host's page; Zhihu's endpoint's own
        answers: Answers = {WRAPPER: (302, {"location": PROXY}, b""),
                            start: (200, {"content-type": "application/xhtml+xml"}, page),
                            TARGET: (200, {}, TARGET_PAGE.encode())}
        control: Answers = {TARGET: (200, {}, TARGET_PAGE.encode())}
        assert drive(catalog, WRAPPER, answers, control).outcome is Outcome.UNRECOGNIZED, start


def test_named_references_are_not_read_inside_cdata() -> None:
    from audit.web.page import parse_page

    page = parse_page(XHTML_1_STRICT + '<html xmlns="http://www.w3.org/1999/xhtml"><body>'
                      "<script><![CDATA[location.replace('/x?a=1&copy;=2')]]></script>"
                      "<p>&copy; 2026</p></body></html>", "https://a.example/", xml=True)
    assert page.runnable_scripts == ["location.replace('/x?a=1&copy;=2')"]
    assert page.text == "© 2026"


@pytest.mark.parametrize("forward", [f"<script>location.replace('{TARGET}')</script>",
                                     f"<meta http-equiv=refresh content='0;url={TARGET}'>"])
@pytest.mark.parametrize(("src", "outcome"), [
    # A platform serves its static scripts from its own other domains (sinaimg.cn is Weibo's
    # in the catalog): a leave.js there held nothing (the review of the fix above).
    ("https://h5.sinaimg.cn/m/leave.js", Outcome.UNRECOGNIZED),
    ("//h5.sinaimg.cn/m/leave.js", Outcome.UNRECOGNIZED),
    ("https://weibo.com/leave.js", Outcome.UNRECOGNIZED),
    ("https://cdn.example-cdn.net/jquery.min.js", Outcome.WRAPPED),
])
def test_a_script_of_the_platforms_own_domains_holds_a_forward(
        catalog: Catalog, src: str, forward: str, outcome: Outcome) -> None:
    wrapper = "https://weibo.cn/sinaurl?u=" + quote(TARGET, safe="")
    html = f"<html><head><script src='{src}'></script></head><body>{forward}</body></html>"
    answers: Answers = {wrapper: (200, {}, html.encode()), TARGET: (200, {}, TARGET_PAGE.encode())}
    assert drive(catalog, wrapper, answers, {TARGET: (200, {}, TARGET_PAGE.encode())},
                 source="zhihu").outcome is outcome


def test_a_targets_forward_to_the_sources_own_page_is_the_targets(catalog: Catalog) -> None:
    # A shop the Weibo post links to forwards to a Weibo page showing a block: the shop's
    # doing, `direct` (the exemption for the source's own pages accused Weibo: a review).
    shop, profile = "https://shop.test/item1", "https://weibo.com/u/7001"
    block = (shipped_example("weibo/weibo-blocked.html"))
    answers: Answers = {shop: (302, {"location": profile}, b""), profile: (200, {}, block)}
    assert drive(catalog, shop, answers, answers, target=shop,
                 source="weibo").outcome is Outcome.DIRECT


def shipped_example(name: str) -> bytes:
    from audit.policy.catalog import shipped_policies_dir

    return (shipped_policies_dir() / "examples" / name).read_bytes()


def test_scripts_past_the_bound_hold_a_forward(catalog: Catalog) -> None:
    # Sixty-four scripts of another site before the platform's own leave.js slipped it past
    # the bound on scripts looked at (a review).
    wrapper = "https://weibo.cn/sinaurl?u=" + quote(TARGET, safe="")
    others = "".join(f"<script src='https://cdn.example-cdn.net/lib{i}.js'></script>"
                     for i in range(64))
    html = (f"<html><head>{others}<script src='https://h5.sinaimg.cn/m/leave.js'></script>"
            f"</head><body><script>location.replace('{TARGET}')</script></body></html>")
    answers: Answers = {wrapper: (200, {}, html.encode()), TARGET: (200, {}, TARGET_PAGE.encode())}
    assert drive(catalog, wrapper, answers, {TARGET: (200, {}, TARGET_PAGE.encode())},
                 source="zhihu").outcome is Outcome.UNRECOGNIZED


def test_unclosed_sections_of_an_xhtml_page_cost_linear_time() -> None:
    # `<!--` repeated took the named-reference pass seconds per 40 KB, quadratically (a
    # review): it now costs about what a page of plain text of its size costs, side by side.
    import time

    from audit.web.page import parse_page

    def cost(body: str) -> float:
        page = (XHTML_1_STRICT + '<html xmlns="http://www.w3.org/1999/xhtml"><body><p>'
                + body)
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            parse_page(page, "https://a.example/", xml=True)
            best = min(best, time.process_time() - started)
        return best

    baseline = cost("text" * 50_000)
    assert cost("<!--" * 50_000) < 20 * baseline + 0.05
    assert cost("<?" * 100_000) < 20 * baseline + 0.05


@pytest.mark.parametrize(("hop", "outcome"), [
    # t.cn (Weibo's) forwards to a host of another company the catalog knows, whose redirect
    # leads to a Weibo page showing a block: a shop's doing, or an open redirect (Zhihu's
    # wrapper, Baidu's) Weibo bounced its block off (review 117). A person looks.
    ("https://item.taobao.com/item.htm?id=1", Outcome.UNRECOGNIZED),
    ("https://link.zhihu.com/?target=https%3A%2F%2Fweibo.com%2F", Outcome.UNRECOGNIZED),
    # Through a host the catalog gives to no one, a shop's or Weibo's own sign-in bounce (its
    # company is Sina's, whose hosts the catalog does not all list) or an IP: read as the
    # shop's, Weibo's block behind its own wrapper was `direct` (review 114); read as Weibo's,
    # a shop's redirect accused Weibo (review 113). A person looks.
    ("https://shop.test/item1", Outcome.UNRECOGNIZED),
    ("https://login.sina.com.cn/visitor/visitor?entry=miniblog", Outcome.UNRECOGNIZED),
    ("http://123.125.104.197/sinaurl?u=x", Outcome.UNRECOGNIZED),
    # A hop on the company's listed hosts: its own block.
    ("https://passport.weibo.com/visitor/visitor?entry=miniblog", Outcome.BLOCKED),
])
def test_behind_the_sources_wrapper_whose_hop_it_was_decides(
        catalog: Catalog, hop: str, outcome: Outcome) -> None:
    link = "http://t.cn/A6abcdE"
    sinaurl = "https://weibo.cn/sinaurl?u=" + quote("https://shop.test/item1", safe="")
    for page in (sinaurl, "https://weibo.com/u/7001"):
        answers: Answers = {link: (302, {"location": hop}, b""),
                            hop: (302, {"location": page}, b""),
                            page: (200, {}, shipped_example("weibo/weibo-blocked.html"))}
        assert drive(catalog, link, answers, answers, target=link,
                     source="weibo").outcome is outcome, page


def test_an_xhtml_doctypes_literals_are_no_sections() -> None:
    # `<!--` in a doctype's system literal was read as an unclosed comment running to the end:
    # no named reference after it was read (a review).
    from audit.web.page import parse_page

    page = parse_page('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
                      '"http://x.example/a<!--b.dtd"><html xmlns="http://www.w3.org/1999/xhtml">'
                      "<body><p>A&nbsp;B&hellip;C</p></body></html>", "https://a.example/",
                      xml=True)
    assert page.text == "A B…C"


def test_a_namespaced_attribute_is_no_event_handler() -> None:
    from audit.web.page import parse_page

    page = parse_page('<html xmlns="http://www.w3.org/1999/xhtml" xmlns:onx="urn:x"><body '
                      "onx:load=\"location.href='https://t.example/'\" onclick='go()'>"
                      "<p>x</p></body></html>", "https://a.example/", xml=True)
    assert page.handlers == ["go()"]


KO_NOTICE = ("<html><head><meta charset=utf-8><title>안내</title></head><body>"
             "<h1>이 링크는 차단되었습니다</h1><p>보안상의 이유로 이 웹페이지에 접속할 수 없습니다."
             "</p><p><a href='/'>홈으로</a></p></body></html>").encode()


@pytest.mark.parametrize(("source", "link", "page"), [
    ("weibo", "http://t.cn/RgAKoPE", "https://weibo.com/notice/link?id=1"),
    ("weibo", "http://t.cn/RgAKoPE", "https://passport.weibo.com/visitor"),
    ("baidu", "https://www.baidu.com/link?url=abcDEF123", "https://www.baidu.com/safecheck/index"),
])
def test_behind_the_sources_opaque_wrapper_a_short_company_page_is_for_review(
        catalog: Catalog, source: str, link: str, page: str) -> None:
    # The wrapper's URL is the planned target, so its redirect "came through the target": a
    # notice of the company in words no marker knows read as the target reached, `direct`
    # (review 115), where after any other link such a page is a diversion.
    answers: Answers = {link: (302, {"location": page}, b""), page: (200, {}, KO_NOTICE)}
    observed = drive(catalog, link, answers, answers, target=link, source=source)
    assert observed.outcome is Outcome.UNRECOGNIZED
    # A long page of the company there is the link's destination (an encyclopedia entry).
    entry = f"<html><head><title>Teapot</title></head><body>{ARTICLE}</body></html>".encode()
    answers[page] = (200, {}, entry)
    observed = drive(catalog, link, answers, answers, target=link, source=source)
    assert observed.outcome in (Outcome.DIRECT, Outcome.WRAPPED)


def test_at_an_opaque_links_own_url_a_lone_way_off_is_the_way_on(catalog: Catalog) -> None:
    # A t.cn link in a Weibo post is planned with its own URL as the target: a leave page in
    # Japanese there linking to the shop was read as having no way on to "the target" (t.cn
    # itself), `blocked` (review 115).
    link, shop = "http://t.cn/RgAKoPE", "https://shop.test/item1"
    leave = ("<html><head><meta charset=utf-8><title>ご注意</title></head><body>"
             "<p>外部サイトへ移動しようとしています。安全性は確認されていません。</p>"
             f"<a href='{shop}'>このまま進む</a></body></html>").encode()
    shop_page = f"<html><head><title>Shop</title></head><body>{ARTICLE}</body></html>"
    answers: Answers = {link: (200, {}, leave), shop: (200, {}, shop_page.encode())}
    observed = drive(catalog, link, answers, answers, target=link, source="weibo")
    assert observed.outcome is Outcome.WARNED
    answers[link] = (200, {}, KO_NOTICE)  # its only link goes home: no way on
    assert drive(catalog, link, answers, answers, target=link,
                 source="weibo").outcome is Outcome.BLOCKED


@pytest.mark.parametrize(("middle", "forward", "outcome"), [
    # t.cn, then a Taobao page shown a while that forwards to a Weibo page showing a block:
    # the shop's page sent the reader there (review 113's case, with a page shown).
    ("https://item.taobao.com/item.htm?id=1", "<meta http-equiv=refresh content='3;url={p}'>",
     Outcome.DIRECT),
    # A page of another company that forwards at once is a redirect to a reader: Baidu's or
    # Zhihu's wrapper page, an open redirect Weibo could bounce its block off (review 118).
    ("https://item.taobao.com/item.htm?id=1", "<meta http-equiv=refresh content='0;url={p}'>",
     Outcome.UNRECOGNIZED),
    ("https://www.baidu.com/link?url=abc", "<script>location.replace('{p}')</script>",
     Outcome.UNRECOGNIZED),
    ("https://link.zhihu.com/?target=https%3A%2F%2Fweibo.com%2F",
     "<meta http-equiv=refresh content='0;url={p}'>", Outcome.UNRECOGNIZED),
])
def test_a_page_another_company_shows_is_its_doing(
        catalog: Catalog, middle: str, forward: str, outcome: Outcome) -> None:
    link, profile = "http://t.cn/A6abcdE", "https://weibo.com/u/7001"
    page = (f"<html><head>{forward.format(p=profile)}</head>"
            "<body><p>即将跳转到新浪微博，请稍候</p></body></html>").encode()
    answers: Answers = {link: (302, {"location": middle}, b""), middle: (200, {}, page),
                        profile: (200, {}, shipped_example("weibo/weibo-blocked.html"))}
    assert drive(catalog, link, answers, answers, target=link,
                 source="weibo").outcome is outcome


@pytest.mark.parametrize("notice", [
    # Back to the platform's home after a few seconds (review 117): shown, then forwarded.
    KO_NOTICE.replace(b"<head>", b"<head><meta http-equiv=refresh "
                      b"content='3;url=https://weibo.com/'>"),
    # Padded with text a style sheet hides: long to a parser, short to a reader.
    KO_NOTICE.replace(b"</body>", b"<style>.x{display:none}</style><div class=x>"
                      + "填充文字".encode() * 1000 + b"</div></body>"),
])
def test_behind_an_opaque_wrapper_a_notice_made_to_look_like_a_destination_is_for_review(
        catalog: Catalog, notice: bytes) -> None:
    link, page = "http://t.cn/RgAKoPE", "https://weibo.com/notice/link?id=1"
    home = f"<html><head><title>微博</title></head><body>{ARTICLE}</body></html>".encode()
    answers: Answers = {link: (302, {"location": page}, b""), page: (200, {}, notice),
                        "https://weibo.com/": (200, {}, home)}
    assert drive(catalog, link, answers, answers, target=link,
                 source="weibo").outcome is Outcome.UNRECOGNIZED


@pytest.mark.parametrize("footer", ["https://beian.miit.gov.cn/", "http://www.beian.gov.cn/portal",
                                    "https://www.12377.cn/"])
def test_a_footers_filing_link_is_no_way_on(catalog: Catalog, footer: str) -> None:
    # At an opaque link's own URL the destination is unknown and a lone way off the
    # platform is the way on: the ICP filing link every Chinese page's footer carries made a
    # block page a warning (review 117).
    link = "http://t.cn/RgAKoPE"
    notice = KO_NOTICE.replace(b"</body>", f"<p><a href='{footer}'>京ICP备12345号</a></p>"
                               "</body>".encode())
    answers: Answers = {link: (200, {}, notice), footer: (200, {}, b"<p>filing</p>")}
    assert drive(catalog, link, answers, answers, target=link,
                 source="weibo").outcome is Outcome.BLOCKED
