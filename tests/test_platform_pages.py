"""Pages of a platform that the catalog declares no interception endpoint for: a wrapper's own
URL answering with a page, and a short page elsewhere on the platform's hosts. In wordings no
marker knows, both read as `diverted` (the platform's own page) until an adversarial review
showed leave pages in Japanese and Korean and a block in Uyghur among them."""

from __future__ import annotations

import pytest

from audit.judge.classify import classify_page, on_target_site, platform_for_url
from audit.judge.compare import looks_alike
from audit.judge.interception import endpoint_at
from audit.measure import chain as chains
from audit.model import Outcome, PageKind, Probe, SurfaceKind
from audit.policy.catalog import Catalog, load_catalog
from audit.web.page import parse_page
from tests.chaindrive import drive

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


def _fed(catalog: Catalog, target: str,
         hops: list[tuple[str, int, dict[str, str], str]]) -> chains.Chain:
    """A chain from Baidu to `target` that was given the responses `hops` (url, status,
    headers, html) in order."""
    probe = Probe(id="p", source="baidu", surface=SurfaceKind.POST, target_url=target,
                  rendered_as="anchor")
    chain = chains.Chain(probe=probe)
    via: str = "start"
    for url, status, headers, html in hops:
        step = chains.on_response(chain, chains.Response(
            url=url, status=status, headers={"content-type": "text/html", **headers},
            body=_page_bytes(html)), via, catalog)  # type: ignore[arg-type]
        via = step.via or "http"
    return chain


def _outcome(catalog: Catalog, hops: list[tuple[str, int, dict[str, str], str]],
             control: tuple[str, str] | None = None) -> Outcome:
    """The outcome of a chain whose responses are `hops` (url, status, headers, html); the
    control fetch of the target succeeds (on `control`'s page (url, html) where given)."""
    chain = _fed(catalog, TARGET, hops)
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


@pytest.mark.parametrize("html", [JA_LEAVE, UG_BLOCK, "<title>QQ邮箱</title><p>QQ邮箱 登录</p>"
                                  "<form><input name=u><input type=password></form>"])
def test_a_wrappers_own_page_in_unknown_words_is_for_review(catalog: Catalog, html: str) -> None:
    """A leave page in Japanese, a block in Uyghur, a login page in words the markers lack,
    at the URL of a wrapper that the catalog declares no endpoint for: read as the platform's
    own page they were `diverted` (a review); read by their structure, the login page was a
    block and a block page carrying the target's text hidden by a style sheet was the target
    reached (the next reviews). A person must look."""
    assert _kind(catalog, BAIDU_WRAPPER, html) == (PageKind.UNRECOGNIZED,
                                                   "structure/wrapper_page")
    assert _outcome(catalog, [(BAIDU_WRAPPER, 200, {}, html)]) is Outcome.UNRECOGNIZED
    # The words the markers know still say what the page is there.
    assert _kind(catalog, BAIDU_WRAPPER, LOGIN) == (PageKind.ERROR, "generic/login_wall")


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


def test_a_platform_page_only_like_the_targets_is_for_review(catalog: Catalog) -> None:
    """A wrapper that answers with the target's page itself (a proxy, transcoding): on a
    platform's page that is not the target's, only alike the control, it cannot be told from
    a block page that shows the target's text beside words no marker knows. At the wrapper's
    URL, or on another page of the platform, a person must look. A block page that carries
    the target's text hidden by its style sheet (a review: it matched the control and read as
    `wrapped`, then went to review) is not like the target's page: what the reader sees is
    compared, and on a platform's page it is a diversion."""
    article = "".join(f"<p>Teapot number {n}: ceramic, hand made, glazed in blue and white, "
                      f"ships in {n % 7 + 1} days from the workshop.</p>" for n in range(40))
    item = f"<title>Teapot</title><h1>Teapot</h1>{article}"
    mimic = ("<title>Teapot</title><style>.z{display:none}</style>"
             f"<h1>此链接因违反平台规定无法访问</h1><div class=z><h1>Teapot</h1>{article}</div>")
    assert _outcome(catalog, [(BAIDU_WRAPPER, 200, {}, item)], control=(TARGET, item)) \
        is Outcome.UNRECOGNIZED
    for page, expected in ((item, Outcome.UNRECOGNIZED), (mimic, Outcome.DIVERTED)):
        outcome = _outcome(catalog, [(BAIDU_WRAPPER, 302, {"location": DOUBAN_PAGE}, ""),
                                     (DOUBAN_PAGE, 200, {}, page)], control=(TARGET, item))
        assert outcome is expected, page
    # On a site of no known platform, alike the control is for review too: a mirror looks
    # like a platform's transcoded copy under a warning bar (a review: `wrapped` at 0.80).
    mirror = "https://mirror.example-elsewhere.net/item/42"
    assert _outcome(catalog, [(BAIDU_WRAPPER, 302, {"location": mirror}, ""),
                              (mirror, 200, {}, item)], control=(TARGET, item)) \
        is Outcome.UNRECOGNIZED
    # Where the target's own page ends on that host, it is the target reached.
    assert _outcome(catalog, [(BAIDU_WRAPPER, 302, {"location": mirror}, ""),
                              (mirror, 200, {}, item)], control=(mirror, item)) \
        is Outcome.WRAPPED


# A target on Baidu's own registrable domain, linked from Baidu (a company's own services).
BAIKE = "https://baike.baidu.com/item/42"
BAIKE_PAGE = ("<title>茶壶_百度百科</title><h1>茶壶</h1>"
              + "".join(f"<p>茶壶第{n}条：陶瓷，手工制作，青花釉色，{n % 7 + 1}日内发货。</p>"
                        for n in range(30)))
NOTICE = "https://www.baidu.com/s/notice"
NOTICE_PAGE = "<title>提示</title><h1>您访问的内容暂时无法查看</h1><p>感谢您的理解</p>"


def _baike_outcome(catalog: Catalog, hops: list[tuple[str, int, dict[str, str], str]],
                   control: tuple[str, str] | None, *, control_ok: bool = True) -> Outcome:
    chain = _fed(catalog, BAIKE, hops)
    assert chains.needs_control(chain) is (control is not None or not control_ok)
    if not control_ok:
        chains.on_control_failure(chain, BAIKE)
    elif control is not None:
        url, html = control
        chains.on_control_response(chain, chains.Response(
            url=url, status=200, headers={"content-type": "text/html"},
            body=_page_bytes(html)), catalog)
    return chains.observation(chain, run_id="r", method="crawl").outcome


def test_a_notice_on_another_host_of_the_targets_domain_is_not_the_target(
        catalog: Catalog) -> None:
    """Baidu's link to Baidu Baike that ends on a page of www.baidu.com in words no marker
    knows: one registrable domain, but neither the target's host nor led to by it, and not
    like the target's page. It read as the target reached (`wrapped`, a known limit); the
    control is fetched now and a person looks. Neither open nor a diversion: the page is of
    the target's own company."""
    hops = [(f"https://www.baidu.com/link?url={BAIKE}", 302, {"location": NOTICE}, ""),
            (NOTICE, 200, {}, NOTICE_PAGE)]
    assert _baike_outcome(catalog, hops, (BAIKE, BAIKE_PAGE)) is Outcome.UNRECOGNIZED
    # With the target down, the site still answered on another host: not `target_down`.
    assert _baike_outcome(catalog, hops, None, control_ok=False) is Outcome.UNRECOGNIZED


def test_another_host_of_the_targets_domain_is_reached_when_the_target_leads_there(
        catalog: Catalog) -> None:
    """The target's own redirect to its mobile host: the target reached, as before (without a
    control fetch). A page there like the target's that the target did not lead to is for
    review: likeness on another host is how a platform's copy of the target looks too."""
    mobile = "https://m.baike.baidu.com/item/42"
    wrapper = f"https://www.baidu.com/link?url={BAIKE}"
    led = [(wrapper, 302, {"location": BAIKE}, ""), (BAIKE, 302, {"location": mobile}, ""),
           (mobile, 200, {}, BAIKE_PAGE)]
    assert _baike_outcome(catalog, led, None) is Outcome.WRAPPED
    alike = [(wrapper, 302, {"location": mobile}, ""), (mobile, 200, {}, BAIKE_PAGE)]
    assert _baike_outcome(catalog, alike, (BAIKE, BAIKE_PAGE)) is Outcome.UNRECOGNIZED
    # The control ends on the chain's own host: one host, the same answer.
    assert _baike_outcome(catalog, alike, (mobile, BAIKE_PAGE)) is Outcome.WRAPPED
    # Unlike on another host, also where that host is the control's: the page says otherwise.
    unlike = [(wrapper, 302, {"location": mobile}, ""), (mobile, 200, {}, NOTICE_PAGE)]
    assert _baike_outcome(catalog, unlike, (BAIKE, BAIKE_PAGE)) is Outcome.UNRECOGNIZED


# Zhihu's declared endpoint: pages there in words no marker knows are read by structure.
ZHIHU_ENDPOINT = f"https://link.zhihu.com/?target={TARGET}"


@pytest.mark.parametrize(("html", "kind"), [
    # A link through the platform's own wrapper, or to one of its pages carrying the target,
    # labelled in words no marker knows: the way on ("移動する") or not (an appeal, another
    # language), which a person must say. Read as no way on it was a block; read as one, a
    # block page with an appeal link was a warning (two reviews).
    ("<title>確認</title><h2>外部サイトへ移動します</h2>"
     "<a href='/?target=abcDEF123&confirm=1'>移動する</a>", PageKind.UNRECOGNIZED),
    ("<title>確認</title><h2>外部サイトへ移動します</h2>"
     "<a href='https://www.zhihu.com/jump?u=https%3A%2F%2Fshop.example-target.com%2Fitem%2F42'>"
     "移動する</a>", PageKind.UNRECOGNIZED),
    ("<title>確認</title><h2>外部サイトへ移動します</h2>"  # encoded three times, in the path
     "<a href='https://www.zhihu.com/jump/https%25253A%25252F%25252Fshop.example-target.com'>"
     "移動する</a>", PageKind.UNRECOGNIZED),
    ("<title>制限</title><h2>このページへのアクセスは制限されています</h2>"
     "<a href='https://www.zhihu.com/appeal?url=https://shop.example-target.com/item/42'>"
     "異議を申し立てる</a>", PageKind.UNRECOGNIZED),
    # A language switch named in its own language is no way on; in another's, it may be.
    ("<title>制限</title><h2>このページへのアクセスは制限されています</h2>"
     f"<a href='{ZHIHU_ENDPOINT}&lang=en'>English</a>", PageKind.BLOCKED),
    ("<title>制限</title><h2>このページへのアクセスは制限されています</h2>"
     f"<a href='{ZHIHU_ENDPOINT}&lang=en'>英語</a>", PageKind.UNRECOGNIZED),
    # Labelled in words the markers know: the way on, or something else.
    ("<title>提示</title><h2>即将离开</h2>"
     "<a href='https://www.zhihu.com/jump?u=https%3A%2F%2Fshop.example-target.com%2Fitem%2F42'>"
     "继续访问</a>", PageKind.WARNED),
    ("<title>提示</title><h2>بۇ تور بېتىنى زىيارەت قىلىش چەكلەندى</h2>"
     "<a href='https://www.zhihu.com/report?u=https%3A%2F%2Fshop.example-target.com'>举报</a>",
     PageKind.BLOCKED),
    # Not a way on: the page itself, a host that only begins like the target's.
    (f"<title>制限</title><h2>アクセスは制限されています</h2><a href='{ZHIHU_ENDPOINT}'>再読込</a>",
     PageKind.BLOCKED),
    ("<title>制限</title><h2>アクセスは制限されています</h2><a href='https://www.zhihu.com/help"
     "?u=https://shop.example-target.com.evil.cn/'>ヘルプ</a>", PageKind.BLOCKED),
    # A link it could not resolve: an error page, not a block.
    ("<title>知乎</title><p>链接已过期</p><a href='https://www.zhihu.com/'>返回首页</a>",
     PageKind.ERROR),
    ("<title>Error</title><p>Invalid request</p>", PageKind.ERROR),
    # Error words in the title alone do not make one (a block page titled so).
    ("<title>Page not found</title><h2>アクセスは制限されています</h2>", PageKind.BLOCKED),
    # A target with an internationalised name, carried in Unicode where it is punycode.
    ("<title>確認</title><h2>外部サイトへ移動します</h2>"
     "<a href='https://www.zhihu.com/jump?u=https://例え.example-target.com/'>移動する</a>",
     PageKind.UNRECOGNIZED),
    # ... unless it also says the link is blocked: a person must say which.
    ("<title>提示</title><p>已停止访问该网页</p><p>Invalid request</p>", PageKind.UNRECOGNIZED),
    # A password field is no login wall (a block page can carry one hidden by a style sheet).
    ("<title>提示</title><style>.h{display:none}</style><p>该地址不予显示</p>"
     "<form class=h><input type=password></form>", PageKind.BLOCKED),
])
def test_what_an_endpoints_page_says(catalog: Catalog, html: str, kind: PageKind) -> None:
    target = ("https://xn--r8jz45g.example-target.com/" if "例え" in html else TARGET)
    url = f"https://link.zhihu.com/?target={target}"
    assert _kind(catalog, url, html, target=target)[0] is kind


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


def test_a_control_that_only_redirects_cannot_vouch_for_a_diversion(catalog: Catalog) -> None:
    """A capture's control is one flow: a short-link target answers 302 and no page. A chain
    that ended on the platform the link leads to (t.cn onto weibo.com) read as `diverted`,
    accusing the source (a review); with nothing to compare it with, a person must look.
    Where the control's page is there and unlike, the diversion stands."""
    probe = Probe(id="p", source="baidu", surface=SurfaceKind.POST, target_url=TARGET,
                  rendered_as="anchor")
    for control, expected in ((302, Outcome.UNRECOGNIZED), (None, Outcome.DIVERTED)):
        chain = chains.Chain(probe=probe)
        for url, status, headers, html in [(BAIDU_WRAPPER, 302, {"location": DOUBAN_PAGE}, ""),
                                           (DOUBAN_PAGE, 200, {}, DOWNLOAD)]:
            chains.on_response(chain, chains.Response(
                url=url, status=status, headers={"content-type": "text/html", **headers},
                body=_page_bytes(html)), "start" if url == BAIDU_WRAPPER else "http", catalog)
        if control is not None:
            chains.on_control(chain, control)
        else:
            chains.on_control_response(chain, chains.Response(
                url=TARGET, status=200, headers={"content-type": "text/html"},
                body=_page_bytes("<title>Teapot</title><p>" + "A teapot. " * 50 + "</p>")),
                catalog)
        assert chains.observation(chain, run_id="r", method="capture").outcome is expected


def test_a_likeness_on_the_targets_own_platform_is_for_review(catalog: Catalog) -> None:
    """Weibo's block page on weibo.cn carrying a weibo.com post's text matched the control
    by likeness and read as `wrapped` (a review): a likeness on any known platform's page,
    the target's own on another domain too, is for a person. Where its style sheet hides the
    post's text, the page is not like the post at all (what a reader sees is compared)."""
    target = "https://weibo.com/1234/AbCdEf"
    article = "".join(f"<p>微博正文第 {n} 段：今天的茶壶很好看，欢迎大家转发评论。</p>" for n in range(40))
    post = f"<title>微博正文</title><h1>微博正文</h1>{article}"
    shown = f"<title>微博正文</title><h1>此内容无法查看</h1><div><h1>微博正文</h1>{article}</div>"
    hidden = ("<title>微博正文</title><style>.z{display:none}</style><h1>此内容无法查看</h1>"
              f"<div class=z><h1>微博正文</h1>{article}</div>")
    probe = Probe(id="p", source="zhihu", surface=SurfaceKind.POST, target_url=target,
                  rendered_as="anchor")
    for notice, alike, outcome in ((shown, True, Outcome.UNRECOGNIZED),
                                   (hidden, False, Outcome.DIVERTED)):
        chain = chains.Chain(probe=probe)
        chains.on_response(chain, chains.Response(
            url="https://weibo.cn/notice/view", status=200,
            headers={"content-type": "text/html"}, body=_page_bytes(notice)), "start", catalog)
        chains.on_control_response(chain, chains.Response(
            url=target, status=200, headers={"content-type": "text/html"},
            body=_page_bytes(post)), catalog)
        observation = chains.observation(chain, run_id="r", method="crawl")
        assert observation.comparison is not None
        assert not observation.comparison.matched  # another host: never the target's page
        assert looks_alike(observation.comparison) is alike
        assert observation.outcome is outcome


@pytest.mark.parametrize("words", ["请使用微信扫描二维码登录", "使用微信扫一扫登录", "帐号密码登录"])
def test_a_qr_code_login_on_an_endpoint_is_a_login_wall(catalog: Catalog, words: str) -> None:
    """Read by its structure, a QR-code login page on an endpoint was a block (a review). A
    password login has its field (login words with no way to log in are for review)."""
    field = "<form><input type=password name=p></form>" if "密码" in words else ""
    html = f"<title>登录</title><h2>{words}</h2><img src='/qr.png'>{field}"
    assert _kind(catalog, ZHIHU_ENDPOINT, html) == (PageKind.ERROR, "generic/login_wall")


def test_a_platform_page_a_chain_ends_on_says_what_it_says(catalog: Catalog) -> None:
    """A diversion's page, and one only like the target's (for review), were recorded as
    content without a word of what they said: the finding and the reviewer are shown its
    headline and text now. The target's own pages are not (they are the target's)."""
    page = parse_page(_page_bytes(DOWNLOAD).decode(), DOUBAN_PAGE)
    facts = classify_page(page, catalog, platform_for_url(DOUBAN_PAGE, catalog), target=TARGET)
    assert facts.kind is PageKind.CONTENT
    assert facts.headline == "下载豆瓣App" and facts.excerpt and "在App中打开" in facts.excerpt
    own = "https://movie.douban.com/subject/1"
    facts = classify_page(page, catalog, platform_for_url(DOUBAN_PAGE, catalog), target=own)
    assert facts.headline is None and facts.excerpt is None


# The fourth review of unseen interstitials (2026-12-06): three ways a page that is no open
# link read as one.
ZHIHU_WRAPPER = "https://link.zhihu.com/?target=https%3A%2F%2Fshop.example-target.com%2Fitem%2F42"
ZHIHU_NOTICE = "https://www.zhihu.com/notice/leave?id=9"
THIRD_PARTY = "https://safe.linkguard-example.net/check?id=9"
COUNTDOWN = f'<meta http-equiv="refresh" content="10;url={TARGET}">'


def _zhihu_outcome(catalog: Catalog, hops: list[tuple[str, int, dict[str, str], str]],
                   control: tuple[str, str] | None = None) -> Outcome:
    answers = {url: (status, headers, html.encode() if html.lstrip().startswith("<html")
                     else _page_bytes(html)) for url, status, headers, html in hops}
    control_url, control_html = control or (TARGET, "<title>Teapot</title><p>a teapot</p>")
    return drive(catalog, hops[0][0], answers,
                 {control_url: (200, {}, _page_bytes(control_html))}).outcome


@pytest.mark.parametrize("words", [
    '<img src="/warn.png" alt="即将离开知乎，10秒后跳转到第三方网站，请注意安全">',
    '<svg width="400" height="60"><text x="0" y="30">You are leaving. Redirecting in 10 s</text>'
    '</svg>',
    '<input readonly value="このリンクは安全でない可能性があります。10秒後に移動します">',
    '<style>body::before{content:"此链接可能存在风险，10秒后将自动跳转"}</style>',
    '<iframe srcdoc="&lt;p&gt;Warning: unsafe site, redirecting in 10s&lt;/p&gt;"></iframe>',
])
@pytest.mark.parametrize("at", [ZHIHU_NOTICE, THIRD_PARTY])
def test_a_countdown_whose_words_are_not_text_is_no_open_link(
        catalog: Catalog, words: str, at: str) -> None:
    """A page that waits 10 s before it forwards to the target, its words in a picture's alt,
    an <svg>, a field, a style sheet's `content` or a frame: a page without text was passed
    through as if it forwarded at once, and the link read as open (`wrapped`)."""
    outcome = _zhihu_outcome(catalog, [(ZHIHU_WRAPPER, 302, {"location": at}, ""),
                                       (at, 200, {}, COUNTDOWN + words)])
    assert outcome is Outcome.UNRECOGNIZED


def test_a_countdown_through_the_platforms_own_wrapper_leads_off_it(catalog: Catalog) -> None:
    """A leave page in Japanese that forwards after 10 s to the platform's own wrapper (which
    sends the reader on to the target) counted as staying on the platform, and the chain went
    on to the target: `wrapped`. The wrapper leads off the platform."""
    confirm = ZHIHU_WRAPPER + "&confirm=1"
    leave = (f'<meta http-equiv="refresh" content="10;url={confirm}"><title>外部サイトへ移動</title>'
             "<h2>知乎を離れようとしています</h2><p>このリンク先は安全性が確認されていません。"
             f"10秒後に自動的に移動します。</p><p>{TARGET}</p>")
    outcome = _zhihu_outcome(catalog, [(ZHIHU_WRAPPER, 302, {"location": ZHIHU_NOTICE}, ""),
                                       (ZHIHU_NOTICE, 200, {}, leave),
                                       (confirm, 302, {"location": TARGET}, ""),
                                       (TARGET, 200, {}, "<title>Teapot</title><p>a teapot</p>")])
    assert outcome is Outcome.UNRECOGNIZED


def test_a_page_with_text_is_not_like_a_target_that_has_none(catalog: Catalog) -> None:
    """The target's page is built by its script (no text); a block page off any platform with
    its title and skeleton and words no marker knows: the text measure said nothing, and
    title, length and structure made it the target (`wrapped`)."""
    head = "<title>商品详情-淘宝网</title><script src='/app.js'></script>"
    spa = head + f"<script>window.state='{'a' * 300}'</script><div id=app></div>"
    block = head + (f"<script>window.state='{'b' * 200}'</script>"
                    "<div id=app>このリンクは規約違反のため開けません。アクセスは停止されました。</div>")
    outcome = _zhihu_outcome(catalog, [(ZHIHU_WRAPPER, 302, {"location": THIRD_PARTY}, ""),
                                       (THIRD_PARTY, 200, {}, block)], control=(TARGET, spa))
    assert outcome is Outcome.UNRECOGNIZED
    # Two pages that both show nothing (the script-built page with a tracking parameter the
    # wrapper added) are still alike.
    tracked = f"{TARGET}?from=zhihu"
    assert _zhihu_outcome(catalog, [(ZHIHU_WRAPPER, 302, {"location": tracked}, ""),
                                    (tracked, 200, {}, spa)], control=(TARGET, spa)) \
        is Outcome.WRAPPED


@pytest.mark.parametrize("where", ["header", "meta"])
def test_a_policy_header_that_forbids_inline_scripts_keeps_the_page(
        catalog: Catalog, where: str) -> None:
    """A block page at the wrapper's URL whose inline script forwards to the target, under a
    Content-Security-Policy that forbids inline scripts: a browser shows the block page. In a
    <meta> this was read; in the response's header it was not, and the link read as open."""
    policy = "script-src 'self'"
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">' \
        if where == "meta" else ""
    page = (f"<html><head><meta charset=utf-8>{meta}<title>アクセスできません</title></head>"
            "<body><h2>このリンクは開けません</h2><p>このページは規約違反のため表示できません。</p>"
            f"<script>location.replace('{TARGET}')</script></body></html>")
    headers = {"content-security-policy": f"default-src *, {policy}"} if where == "header" else {}
    outcome = _zhihu_outcome(catalog, [(ZHIHU_WRAPPER, 200, headers, page),
                                       (TARGET, 200, {}, "<title>Teapot</title><p>a teapot</p>")])
    assert outcome is Outcome.BLOCKED


WECHAT_ENDPOINT = ("https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi"
                   "?click=abc")


@pytest.mark.parametrize("url", [WECHAT_ENDPOINT, ZHIHU_WRAPPER])
@pytest.mark.parametrize("html", [
    "<title>提示</title><h2>该链接暂时无法打开</h2><p>该网页因违反平台规范，已被限制打开。"
    "如有异议，请先登录后提交申诉。</p>",
    "<title>提示</title><h2>此連結暫時無法開啟</h2><p>此網頁違反平台規範，已被限制開啟。"
    "如有異議，請先登入後提出申訴。</p>",
])
def test_login_words_with_no_way_to_log_in_are_no_login_wall(
        catalog: Catalog, url: str, html: str) -> None:
    """A block page in words no marker knows whose appeal line says to log in first: read as
    a login wall, an `error`, it fell out of the findings (a review). Nothing on it logs
    anyone in (no form, field, button, frame, script, picture or login link): a person looks."""
    assert _kind(catalog, url, html) == (PageKind.UNRECOGNIZED, "generic/login_words_only")


@pytest.mark.parametrize("way", ["<a href='/login'>登录</a>", "<form><input name=u></form>",
                                 "<script src='/login.js'></script>"])
def test_a_login_wall_with_a_way_to_log_in_stays_an_error(catalog: Catalog, way: str) -> None:
    html = f"<title>提示</title><h2>请先登录</h2><p>登录后查看完整内容</p>{way}"
    assert _kind(catalog, ZHIHU_ENDPOINT, html) == (PageKind.ERROR, "generic/login_wall")


@pytest.mark.parametrize(("at", "outcome"), [(ZHIHU_NOTICE, Outcome.BLOCKED),
                                             (THIRD_PARTY, Outcome.UNRECOGNIZED)])
def test_unavailable_for_legal_reasons_off_an_endpoint_is_no_error(
        catalog: Catalog, at: str, outcome: Outcome) -> None:
    """A 451 in words no marker knows, after the wrapper sent the link to a page of the
    platform (a refusal: `blocked`) or of a third party (whose refusal, a person says): read
    as a failed hop, both were an `error`, out of the findings (a review)."""
    block = "<title>アクセスできません</title><h2>このリンクは開けません</h2>"
    assert _zhihu_outcome(catalog, [(ZHIHU_WRAPPER, 302, {"location": at}, ""),
                                    (at, 451, {}, block)]) is outcome


# A review of the fixes above (2026-12-06): ways around them, and what they broke.
def test_an_open_redirect_on_the_targets_host_does_not_make_the_target_reached(
        catalog: Catalog) -> None:
    """The wrapper sends the link through a URL of the target's host that redirects on (an
    open redirect) to the platform's own page: passing the target's host made it `wrapped`.
    The chain reached the target only by asking for the target's own URL, or ending on its
    host."""
    notice = "https://www.zhihu.com/notice/leave?id=9"
    bounce = f"https://shop.example-target.com/out?url={notice}"
    outcome = _zhihu_outcome(catalog, [(ZHIHU_WRAPPER, 302, {"location": bounce}, ""),
                                       (bounce, 302, {"location": notice}, ""),
                                       (notice, 200, {}, NOTICE_PAGE)])
    assert outcome is Outcome.DIVERTED


@pytest.mark.parametrize("onward", ["https://link.zhihu.com/?id=Zx81kq",
                                    "https://www.zhihu.com/redirect/9",
                                    ZHIHU_NOTICE + "&go=1"])
def test_a_countdown_to_any_url_before_the_target_is_for_review(
        catalog: Catalog, onward: str) -> None:
    """A leave page counting down 10 s to a platform URL no wrapper reads (an opaque token,
    another path, its own `&go=1`), which then sends the reader to the target: followed as
    content, the chain read as `wrapped`."""
    leave = (f'<meta http-equiv="refresh" content="10;url={onward}"><title>外部サイトへ移動</title>'
             "<h2>知乎を離れようとしています</h2><p>10秒後に自動的に移動します。</p>")
    outcome = _zhihu_outcome(catalog, [(ZHIHU_WRAPPER, 302, {"location": ZHIHU_NOTICE}, ""),
                                       (ZHIHU_NOTICE, 200, {}, leave),
                                       (onward, 302, {"location": TARGET}, ""),
                                       (TARGET, 200, {}, "<title>Teapot</title><p>a teapot</p>")])
    assert outcome is Outcome.UNRECOGNIZED
    # The target's own splash page counting down within its site is the target reached.
    splash = f'<meta http-equiv="refresh" content="5;url={TARGET}?home"><p>Welcome</p>'
    assert _zhihu_outcome(catalog, [(ZHIHU_WRAPPER, 302, {"location": TARGET}, ""),
                                    (TARGET, 200, {}, splash),
                                    (TARGET + "?home", 200, {}, "<p>home</p>")]) \
        is Outcome.WRAPPED


@pytest.mark.parametrize("words", [
    "<div style=\"background:url('/warn.png')\"></div>",
    "<style>body{background-image:URL(/warn.png)}</style>",
    "<link rel=stylesheet href=/warn.css>",
    "<style>@import '/warn.css';</style>",
    "<html><head><title></title></head><body background=/warn.png></body></html>",
    # A review of the above: what a browser reads in CSS (case, escapes, comments), other
    # properties that write text, a declarative shadow root, the parser's <image>.
    '<style>body::before{CONTENT:"10秒后跳转"}</style>',
    '<style>body::before{c\\ontent:"10秒后跳转"}</style>',
    '<style>body::before{content/**/:"10秒后跳转"}</style>',
    "<style>body{background:u\\rl(/warn.png)}</style>",
    "<style>@\\import '/warn.css';</style>",
    "<link rel=StyleSheet href=/warn.css>",
    '<style>ul{list-style-type:"10秒后跳转"}</style><ul><li></li></ul>',
    '<style>q{quotes:"10秒后跳转" ""}</style><q></q>',
    '<style>p::before{content:attr(title)}</style><p title="10秒后跳转"></p>',
    "<div><template shadowrootmode=open><p>10秒后跳转</p></template></div>",
    "<image src=/warn.png>",
    # The next review: an event handler's script, a sheet a script loads, a counter style.
    "<html><head><title></title></head><body onload=\"document.body.textContent='10秒后跳转'\">"
    "</body></html>",
    "<link rel=preload as=style href=/warn.css onload=\"this.rel='stylesheet'\">",
    '<style>@counter-style w{symbols:"10秒后跳转"} ul{list-style:w}</style><ul><li></li></ul>',
])
def test_a_countdown_whose_words_are_a_picture_or_an_outside_sheet_is_not_blank(
        catalog: Catalog, words: str) -> None:
    page = words.replace("<head>", f"<head>{COUNTDOWN}") if words.startswith("<html") \
        else COUNTDOWN + words
    outcome = _zhihu_outcome(catalog, [(ZHIHU_WRAPPER, 302, {"location": THIRD_PARTY}, ""),
                                       (THIRD_PARTY, 200, {}, page),
                                       (TARGET, 200, {}, "<title>Teapot</title><p>a teapot</p>")])
    assert outcome is Outcome.UNRECOGNIZED


def test_a_countdown_in_frames_is_not_blank(catalog: Catalog) -> None:
    page = (f"<html><head>{COUNTDOWN}</head><frameset><frame src=/warn.html></frameset>"
            "</html>")
    outcome = _zhihu_outcome(catalog, [(ZHIHU_WRAPPER, 302, {"location": THIRD_PARTY}, ""),
                                       (THIRD_PARTY, 200, {}, page),
                                       (TARGET, 200, {}, "<title>Teapot</title><p>a teapot</p>")])
    assert outcome is Outcome.UNRECOGNIZED


@pytest.mark.parametrize("url", [ZHIHU_ENDPOINT, TARGET])
def test_too_many_requests_asks_nothing_and_stays_an_error(catalog: Catalog, url: str) -> None:
    """Words of a wait need no field to be what they say (they went to review with the
    security check's words that do: a review)."""
    html = "<title>提示</title><p>访问过于频繁，请稍后再试</p>"
    assert _kind(catalog, url, html) == (PageKind.ERROR, "generic/anti_bot")


def test_a_logo_is_no_way_to_log_in_and_a_qr_code_is(catalog: Catalog) -> None:
    appeal = ("<title>提示</title><img src=/logo.png><h2>该链接暂时无法打开</h2>"
              "<p>该网页因违反平台规范，已被限制打开。如有异议，请先登录后提交申诉。</p>")
    assert _kind(catalog, WECHAT_ENDPOINT, appeal) == (PageKind.UNRECOGNIZED,
                                                      "generic/login_words_only")
    qr = "<title>登录</title><h2>请先登录</h2><p>打开微信扫一扫</p><img src=/qr.png>"
    assert _kind(catalog, ZHIHU_ENDPOINT, qr) == (PageKind.ERROR, "generic/login_wall")


def test_a_meta_policy_after_the_head_still_forbids_the_forward(catalog: Catalog) -> None:
    """HTML5 puts a meta that follows </head> back into <head>, and Chromium obeys its policy;
    libxml2 leaves it outside. Read as in <body>, the block page's forward ran: `wrapped`."""
    page = ("<html><head><meta charset=utf-8><title>アクセスできません</title></head>"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'self'\">"
            "<body><h2>このリンクは開けません</h2><p>このページは規約違反のため表示できません。</p>"
            f"<script>location.replace('{TARGET}')</script></body></html>")
    assert _zhihu_outcome(catalog, [(ZHIHU_WRAPPER, 200, {}, page),
                                    (TARGET, 200, {}, "<title>Teapot</title><p>a teapot</p>")]
                          ) is Outcome.BLOCKED


@pytest.mark.parametrize(("slot", "outcome"), [
    ("", Outcome.UNRECOGNIZED),  # no slot
    # The next review: slots that show nothing of the host's children.
    ("<slot name=none></slot>", Outcome.UNRECOGNIZED),
    ("<span><template shadowrootmode=open><slot></slot></template></span>", Outcome.UNRECOGNIZED),
    ("<template><slot></slot></template>", Outcome.UNRECOGNIZED),
    ("<slot hidden></slot>", Outcome.UNRECOGNIZED),
    # A slot that shows them: the page is the target's (with a parameter the wrapper added).
    ("<slot></slot>", Outcome.WRAPPED),
])
def test_a_shadow_hosts_unslotted_children_are_not_what_the_reader_sees(
        catalog: Catalog, slot: str, outcome: Outcome) -> None:
    """A block page whose host carries the target's article as children its shadow root does
    not slot: a browser shows only the root's words, but the article was read as shown,
    matched the control and read as `wrapped` (two reviews)."""
    article = "".join(f"<p>Teapot number {n}: ceramic, hand made, glazed in blue and white, "
                      f"ships in {n % 7 + 1} days.</p>" for n in range(40))
    item = f"<title>Teapot</title><h1>Teapot</h1>{article}"
    block = (f"<title>Teapot</title><div><template shadowrootmode=open>{slot}</template>"
             f"<h1>Teapot</h1>{article}</div>")
    tracked = f"{TARGET}?from=zhihu"
    assert _zhihu_outcome(catalog, [(ZHIHU_WRAPPER, 302, {"location": tracked}, ""),
                                    (tracked, 200, {}, block)], control=(TARGET, item)
                          ) is outcome
