"""Pages of a platform that the catalog declares no interception endpoint for: a wrapper's own
URL answering with a page, and a short page elsewhere on the platform's hosts. In wordings no
marker knows, both read as `diverted` (the platform's own page) until an adversarial review
showed leave pages in Japanese and Korean and a block in Uyghur among them."""

from __future__ import annotations

import pytest

from audit.judge.classify import classify_page, on_target_site, platform_for_url
from audit.judge.interception import endpoint_at
from audit.measure import chain as chains
from audit.model import Outcome, PageKind, Probe, SurfaceKind
from audit.policy.catalog import Catalog, load_catalog
from audit.web.page import parse_page

TARGET = "https://shop.example-target.com/item/42"
# Baidu's link redirector is a wrapper and no declared endpoint (policies/platforms/baidu.yaml).
BAIDU_WRAPPER = f"https://www.baidu.com/link?url={TARGET}"
# A page of Douban that is neither a wrapper nor an endpoint.
DOUBAN_PAGE = "https://www.douban.com/x/notice"

JA_LEAVE = ("<title>確認</title><h2>外部サイトへ移動します</h2><p>安全を確認してください</p>"
            f"<a href='{TARGET}'>移動する</a>")
UG_BLOCK = "<title>ئەسكەرتىش</title><h2>بۇ تور بېتىنى زىيارەت قىلىش چەكلەندى</h2>"
JA_COPY = (f"<title>お知らせ</title><h2>このリンクはアプリ内で開けません</h2><p>{TARGET}</p>"
           "<p>ブラウザで開いてください</p>")
DOWNLOAD = ("<title>下载</title><h1>下载豆瓣App</h1><p>在App中打开，体验更佳</p>"
            "<a href='/app.apk'>立即下载</a>")
LOGIN = (f"<title>登录</title><h1>请先登录</h1><p>{TARGET}</p>"
         "<form><input name=u><button>登录</button></form>")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _page_bytes(html: str) -> bytes:
    return f"<!doctype html><html><head><meta charset=utf-8></head><body>{html}</body></html>" \
        .encode()


def _kind(catalog: Catalog, url: str, html: str, target: str = TARGET) -> tuple[PageKind, str]:
    page = parse_page(_page_bytes(html).decode(), url)
    facts = classify_page(page, catalog, platform_for_url(url, catalog), target=target)
    return facts.kind, facts.signature or ""


def _outcome(catalog: Catalog, hops: list[tuple[str, int, dict[str, str], str]],
             control: tuple[str, str] | None = None) -> Outcome:
    """The outcome of a chain whose responses are `hops` (url, status, headers, html); the
    control fetch of the target succeeds (on `control`'s page (url, html) where given)."""
    probe = Probe(id="p", source="baidu", surface=SurfaceKind.POST, target_url=TARGET,
                  rendered_as="anchor")
    chain = chains.Chain(probe=probe)
    via: str = "start"
    for url, status, headers, html in hops:
        step = chains.on_response(chain, chains.Response(
            url=url, status=status, headers={"content-type": "text/html", **headers},
            body=_page_bytes(html)), via, catalog)  # type: ignore[arg-type]
        via = step.via or "http"
    if control is None:
        chains.on_control(chain, 200)
    else:
        url, html = control
        chains.on_control_response(chain, chains.Response(
            url=url, status=200, headers={"content-type": "text/html"},
            body=_page_bytes(html)), catalog)
    return chains.observation(chain, run_id="r", method="crawl").outcome


def test_a_wrappers_url_is_read_as_an_endpoint(catalog: Catalog) -> None:
    found = endpoint_at(BAIDU_WRAPPER, catalog)
    assert found is not None
    platform, endpoint = found
    assert (platform.id, endpoint.id) == ("baidu", "www.baidu.com-link")
    assert endpoint.target == []  # Baidu's target is opaque: only the page can show it
    # A wrapper that keeps its target in a query parameter gives the endpoint that source.
    weixin = endpoint_at(f"https://developers.weixin.qq.com/community/middlepage/href?href="
                         f"{TARGET}", catalog)
    assert weixin is not None and [s.param for s in weixin[1].target] == ["href"]
    # A declared endpoint comes first where both match (Weibo's sinaurl is both).
    weibo = endpoint_at(f"https://weibo.cn/sinaurl?u={TARGET}", catalog)
    assert weibo is not None and weibo[1].id == "sinaurl"


def test_a_leave_page_in_japanese_at_a_wrapper_is_a_warning(catalog: Catalog) -> None:
    assert _kind(catalog, BAIDU_WRAPPER, JA_LEAVE) == (PageKind.WARNED,
                                                       "structure/continue_control")
    assert _outcome(catalog, [(BAIDU_WRAPPER, 200, {}, JA_LEAVE)]) is Outcome.WARNED


def test_a_block_in_uyghur_at_a_wrapper_is_a_block_not_a_diversion(catalog: Catalog) -> None:
    assert _kind(catalog, BAIDU_WRAPPER, UG_BLOCK)[0] is PageKind.BLOCKED
    assert _outcome(catalog, [(BAIDU_WRAPPER, 200, {}, UG_BLOCK)]) is Outcome.BLOCKED


def test_a_wrapper_page_that_forwards_at_once_is_still_followed(catalog: Catalog) -> None:
    forwarding = f"<script>window.location.replace('{TARGET}')</script>"
    assert _kind(catalog, BAIDU_WRAPPER, forwarding)[0] is PageKind.REDIRECT
    assert _outcome(catalog, [(BAIDU_WRAPPER, 200, {}, forwarding),
                              (TARGET, 200, {}, "<title>item</title><p>the item</p>")]
                    ) is Outcome.WRAPPED


@pytest.mark.parametrize("html", [JA_LEAVE, JA_COPY])
def test_a_platform_page_that_points_back_at_the_target_is_unrecognized(
        catalog: Catalog, html: str) -> None:
    # Content, pointing back at the target: the chain decides (classify_observation).
    assert _kind(catalog, DOUBAN_PAGE, html) == (PageKind.CONTENT, "structure/points_to_target")
    # Reached by a redirect from the wrapper, as a platform would send it.
    outcome = _outcome(catalog, [(BAIDU_WRAPPER, 302, {"location": DOUBAN_PAGE}, ""),
                                 (DOUBAN_PAGE, 200, {}, html)])
    assert outcome is Outcome.UNRECOGNIZED


@pytest.mark.parametrize("html", [DOWNLOAD, LOGIN, UG_BLOCK])
def test_the_platforms_own_page_is_still_a_diversion(catalog: Catalog, html: str) -> None:
    """An app download and a login wall do not point back at the target (a login wall may
    name it, and is excluded by its words); a block in words no marker knows, off any
    endpoint, cannot be told from them. Each ends the chain on the platform: `diverted`."""
    assert _kind(catalog, DOUBAN_PAGE, html)[0] is PageKind.CONTENT
    outcome = _outcome(catalog, [(BAIDU_WRAPPER, 302, {"location": DOUBAN_PAGE}, ""),
                                 (DOUBAN_PAGE, 200, {}, html)])
    assert outcome is Outcome.DIVERTED


def test_a_page_pointing_within_its_own_platform_is_content(catalog: Catalog) -> None:
    """A target on the page's own platform (Douban linking to Douban) is no interstitial."""
    own_target = "https://movie.douban.com/subject/1"
    html = f"<title>豆瓣</title><p>相关</p><a href='{own_target}'>看看</a>"
    assert _kind(catalog, DOUBAN_PAGE, html, target=own_target)[0] is PageKind.CONTENT


def test_hosts_without_a_registrable_domain_are_not_one_site() -> None:
    assert not on_target_site("http://localhost/a", "http://intranet/b")
    assert on_target_site("http://localhost/a", "http://localhost/b")
    assert on_target_site("https://m.shop.example-target.com/x", TARGET)
    assert not on_target_site("https://example-target.org/", TARGET)


def test_a_page_the_target_redirects_to_may_link_back_and_is_reached(catalog: Catalog) -> None:
    """A brand's link that its own site sends on to its store on a platform, whose page links
    back to the brand: the control fetch ends there too, so the target was reached (a review
    found this read as `unrecognized` when the page itself was)."""
    store = "https://www.douban.com/store/1"
    page = (f"<title>某品牌旗舰店</title><h1>某品牌旗舰店</h1><p>品牌官网：<a href='{TARGET}'>官网</a>"
            "</p><a href='/list'>全部商品</a>")
    outcome = _outcome(catalog, [(BAIDU_WRAPPER, 302, {"location": TARGET}, ""),
                                 (TARGET, 302, {"location": store}, ""),
                                 (store, 200, {}, page)], control=(store, page))
    assert outcome is Outcome.WRAPPED


def test_a_wrapper_serving_the_targets_own_page_reaches_it(catalog: Catalog) -> None:
    """A wrapper that answers with the target's page itself (a proxy): read at its URL as an
    interstitial, it matches the control fetch, so it is the target's content."""
    item = ("<title>Teapot</title><h1>Teapot</h1><p>A ceramic teapot, hand made, ships in "
            "three days.</p><p>价格 ¥99</p>")
    assert _outcome(catalog, [(BAIDU_WRAPPER, 200, {}, item)], control=(TARGET, item)) \
        is Outcome.WRAPPED
    # An interstitial there does not match the control: it stays what it is.
    assert _outcome(catalog, [(BAIDU_WRAPPER, 200, {}, UG_BLOCK)], control=(TARGET, item)) \
        is Outcome.BLOCKED


@pytest.mark.parametrize("html", [
    "<title>QQ邮箱</title><p>QQ邮箱 登录</p><form><input name=u><input type=password name=p>"
    "</form>",
    "<title>Anmelden</title><h1>Anmelden</h1><form><input name=u><input type=PASSWORD></form>",
])
def test_a_password_form_is_a_login_wall_in_any_language(catalog: Catalog, html: str) -> None:
    """At a wrapper (QQ Mail's mail_spam asks for a login), a login page in words no marker
    knows read as a block (`structure/no_way_on`); a password field says what it is."""
    url = f"https://mail.qq.com/cgi-bin/mail_spam?url={TARGET}"
    page = parse_page(_page_bytes(html).decode(), url)
    facts = classify_page(page, catalog, platform_for_url(url, catalog), target=TARGET)
    assert (facts.kind, facts.failure) == (PageKind.ERROR, "login_wall")
    # Elsewhere on the platform, a login page that names the target is still a diversion.
    login = html + f"<p>{TARGET}</p>"
    assert _kind(catalog, DOUBAN_PAGE, login)[0] is PageKind.CONTENT
    assert _outcome(catalog, [(BAIDU_WRAPPER, 302, {"location": DOUBAN_PAGE}, ""),
                              (DOUBAN_PAGE, 200, {}, login)]) is Outcome.DIVERTED


@pytest.mark.parametrize(("html", "kind"), [
    # A link through the platform's own wrapper, or to one of its pages carrying the target,
    # labelled in words no marker knows: the way on ("移動する") or not (an appeal, another
    # language), which a person must say. Read as no way on it was a block; read as one, a
    # block page with an appeal link was a warning (two reviews).
    ("<title>確認</title><h2>外部サイトへ移動します</h2>"
     "<a href='/link?url=abcDEF123&confirm=1'>移動する</a>", PageKind.UNRECOGNIZED),
    ("<title>確認</title><h2>外部サイトへ移動します</h2>"
     "<a href='/jump?u=https%3A%2F%2Fshop.example-target.com%2Fitem%2F42'>移動する</a>",
     PageKind.UNRECOGNIZED),
    ("<title>制限</title><h2>このページへのアクセスは制限されています</h2>"
     "<a href='/appeal?url=https://shop.example-target.com/item/42'>異議を申し立てる</a>",
     PageKind.UNRECOGNIZED),
    # Labelled in words the markers know: the way on, or something else.
    ("<title>提示</title><h2>即将离开</h2>"
     "<a href='/jump?u=https%3A%2F%2Fshop.example-target.com%2Fitem%2F42'>继续访问</a>",
     PageKind.WARNED),
    ("<title>提示</title><h2>بۇ تور بېتىنى زىيارەت قىلىش چەكلەندى</h2>"
     "<a href='/report?u=https%3A%2F%2Fshop.example-target.com%2Fitem%2F42'>举报</a>",
     PageKind.BLOCKED),
    # Not a way on: the page itself, a host that only begins like the target's.
    (f"<title>制限</title><h2>アクセスは制限されています</h2><a href='{BAIDU_WRAPPER}'>再読込</a>",
     PageKind.BLOCKED),
    ("<title>制限</title><h2>アクセスは制限されています</h2>"
     "<a href='https://www.baidu.com/help?u=https://shop.example-target.com.evil.cn/'>ヘルプ</a>",
     PageKind.BLOCKED),
    # A link it could not resolve: an error page, not a block.
    ("<title>百度</title><p>链接已过期</p><a href='https://www.baidu.com/'>返回首页</a>",
     PageKind.ERROR),
    ("<title>Error</title><p>Invalid request</p>", PageKind.ERROR),
    # ... unless it also says the link is blocked: a person must say which.
    ("<title>提示</title><p>已停止访问该网页</p><p>Invalid request</p>", PageKind.UNRECOGNIZED),
    ("<title>提示</title><p>已停止访问该网页</p><form><input type=password></form>",
     PageKind.UNRECOGNIZED),
    # A password field hidden by the page's markup makes no login wall.
    ("<title>提示</title><p>已停止访问该网页</p>"
     "<form style='display:none'><input type=password></form>", PageKind.BLOCKED),
])
def test_what_a_wrappers_own_page_says(catalog: Catalog, html: str, kind: PageKind) -> None:
    assert _kind(catalog, BAIDU_WRAPPER, html)[0] is kind


def test_a_block_page_in_the_targets_clothes_at_a_wrapper_is_not_compared(
        catalog: Catalog) -> None:
    """Words that say the link is blocked, at a wrapper's URL, on a copy of the target's
    page: it matched the control fetch and read as `wrapped` (a review). Only a page its
    structure made an interstitial is compared; one its words read is what they say."""
    item = ("<title>Teapot</title><h1>Teapot</h1><p>A ceramic teapot, hand made, ships in "
            "three days.</p><p>价格 ¥99</p>")
    mimic = item + "<p>该链接已被屏蔽</p>"
    assert _outcome(catalog, [(BAIDU_WRAPPER, 200, {}, mimic)], control=(TARGET, item)) \
        is Outcome.BLOCKED


def test_a_wrapper_page_read_as_the_target_keeps_its_words(catalog: Catalog) -> None:
    item = ("<title>Teapot</title><h1>Teapot</h1><p>A ceramic teapot, hand made, ships in "
            "three days.</p><p>价格 ¥99</p>")
    probe = Probe(id="p", source="baidu", surface=SurfaceKind.POST, target_url=TARGET,
                  rendered_as="anchor")
    chain = chains.Chain(probe=probe)
    chains.on_response(chain, chains.Response(
        url=BAIDU_WRAPPER, status=200, headers={"content-type": "text/html"},
        body=_page_bytes(item)), "start", catalog)
    chains.on_control_response(chain, chains.Response(
        url=TARGET, status=200, headers={"content-type": "text/html"},
        body=_page_bytes(item)), catalog)
    observation = chains.observation(chain, run_id="r", method="crawl")
    assert observation.outcome is Outcome.WRAPPED
    assert observation.page is not None
    assert observation.page.kind is PageKind.CONTENT
    assert observation.page.signature == "structure/matches_control"
    assert observation.page.headline == "Teapot" and observation.page.excerpt
