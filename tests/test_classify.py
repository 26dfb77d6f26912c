"""The classifier: page kinds (catalog signatures and generic markers), the outbound link
inventory, and observation -> outcome."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.judge.classify import (
    classify_observation,
    classify_page,
    outbound_links,
    platform_for_url,
)
from audit.model import Hop, Outcome, PageFacts, PageKind
from audit.policy.catalog import Catalog, load_catalog
from audit.web.page import parse_page


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _kind(catalog: Catalog, html: str, url: str | None = None) -> PageFacts:
    page = parse_page(html, url)
    return classify_page(page, catalog, platform_for_url(url, catalog))


def test_platform_for_url_prefers_the_longest_suffix(catalog: Catalog) -> None:
    weixin = platform_for_url("https://mp.weixin.qq.com/s/x", catalog)
    qq = platform_for_url("https://im.qq.com/", catalog)
    assert weixin is not None and weixin.id == "weixin"
    assert qq is not None and qq.id == "qq"
    assert platform_for_url("https://evilzhihu.com/", catalog) is None


_LABELS = st.sampled_from(["qq", "weixin", "mp", "a", "b", "com", "cn", "x-y", "xqq"])


@settings(max_examples=300)
@given(st.lists(st.lists(st.lists(_LABELS, min_size=1, max_size=3).map(".".join),
                         min_size=1, max_size=3), min_size=1, max_size=5),
       st.lists(_LABELS, min_size=1, max_size=5).map(".".join))
def test_platform_for_url_is_the_longest_claimed_suffix(domains: list[list[str]],
                                                        host: str) -> None:
    # Against a scan of every platform's domains (the first platform claiming the longest
    # domain that is the host or a dot-suffix of it); and platforms added after a lookup
    # are seen by the next one.
    from audit.model import Category, Citation, Platform, Text

    def platform(pid: str, claimed: list[str]) -> Platform:
        return Platform(id=pid, name=Text(zh="平台", en="platform"), company="c",
                        category=Category.IM, domains=claimed, cite=Citation(fact="test"))

    catalog = Catalog()
    for n, claimed in enumerate(domains):
        catalog.platforms[f"p{n}"] = platform(f"p{n}", claimed)

    def scan() -> str | None:
        best: tuple[int, str] | None = None
        for platform in catalog.platforms.values():
            for domain in platform.domains:
                if (host == domain or host.endswith("." + domain)) and (
                        best is None or len(domain) > best[0]):
                    best = (len(domain), platform.id)
        return best[1] if best else None

    found = catalog.platform_for_url(f"https://{host}/path")
    assert (found.id if found else None) == scan()
    catalog.platforms["late"] = platform("late", [host])
    found = catalog.platform_for_url(f"https://{host}/path")
    assert (found.id if found else None) == scan()


# Interstitials of unknown platforms, recognised by the generic markers alone.
GENERIC = [
    ("<title>安全提示</title><p>您即将离开本站，去往：https://target.example.org/a</p>"
     '<a href="https://target.example.org/a">继续访问</a>', PageKind.WARNED, "https://target.example.org/a"),
    ("<h1>You are about to leave Example</h1><p>https://t.example.net/</p>"
     '<a href="https://t.example.net/">Continue</a>', PageKind.WARNED, "https://t.example.net/"),
    ("<p>如需浏览，请长按网址复制后使用浏览器访问</p><p>https://shop.example.com/item/1</p>",
     PageKind.COPY_ONLY, "https://shop.example.com/item/1"),
    ("<h1>已停止访问该网页</h1><p>该网页包含违法或违规内容，被多人投诉。</p>", PageKind.BLOCKED, None),
    ('<p>Redirecting…</p><a href="https://far.example.com/">Proceed</a>', PageKind.WARNED,
     "https://far.example.com/"),
]


@pytest.mark.parametrize(("html", "kind", "target"), GENERIC)
def test_generic_interstitials(catalog: Catalog, html: str, kind: PageKind, target: str | None) -> None:
    facts = _kind(catalog, html, "https://go.unknown-platform.example/redirect")
    assert (facts.kind, facts.target) == (kind, target)
    assert facts.signature is not None and facts.signature.startswith("generic/")


def test_long_article_quoting_a_block_text_is_content(catalog: Catalog) -> None:
    article = "<p>微信曾显示“如需浏览，请长按网址复制后使用浏览器访问”以及“已停止访问该网页”。</p>" + (
        "<p>" + "互联互通的讨论。" * 40 + "</p>") * 10
    assert _kind(catalog, article, "https://blog.example.com/post/1").kind is PageKind.CONTENT
    assert _kind(catalog, article).kind is PageKind.CONTENT


def test_short_content_page_without_markers_is_content(catalog: Catalog) -> None:
    html = '<p>欢迎</p><a href="/a">首页</a><a href="https://other.example/">友情链接</a>'
    assert _kind(catalog, html, "https://site.example.com/").kind is PageKind.CONTENT


def test_block_page_with_continue_button_is_not_blocked(catalog: Catalog) -> None:
    html = '<h1>即将离开</h1><p>此链接已被拦截过</p><a href="https://x.example/">继续访问</a>'
    assert _kind(catalog, html, "https://go.unknown.example/").kind is PageKind.WARNED


@pytest.mark.parametrize(("text", "reason"), [
    ("该网页包含诱导分享内容，被多人投诉。为维护绿色上网环境，已停止访问。", "reward_sharing"),
    ("据用户投诉及腾讯手机管家云网址检测，该网页可能包含恶意欺诈内容。", "phishing"),
    ("该网页包含恶意欺诈内容，被多人投诉。为维护绿色上网环境，已停止访问。", "scam"),
    ("该网页包含侵权内容，被多人投诉。为维护绿色上网环境，已停止访问。", "copyright"),
    ("该网页包含谣言或虚假信息，被多人投诉。为维护绿色上网环境，已停止访问。", "rumor"),
    ("该网页包含违法或违规内容，被多人投诉。为维护绿色上网环境，已停止访问。", "illegal"),
    ("该网页包含色情低俗内容，被多人投诉。为维护绿色上网环境，已停止访问。", "porn"),
    ("该网页包含虚假红包内容，被多人投诉。为维护绿色上网环境，已停止访问。", "lucky_money"),
    ("No access to this page as it's reported of containing nonsecure contents.", "nonsecure"),
    ("No access to this page as it's reported of containing malwares.", "malware"),
    ("This site you are trying to visit is suspected of phishing or hosting malware and has "
     "been blocked by WeChat.", "phishing"),
])
def test_wechat_block_reasons(catalog: Catalog, text: str, reason: str) -> None:
    html = f'<title>已停止访问该网页</title><h1 class="title">已停止访问该网页</h1><p class="desc">{text}</p>'
    url = "https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi?main_type=2"
    for page_url in (url, None):  # with and without a known URL
        facts = _kind(catalog, html, page_url)
        assert facts.kind is PageKind.BLOCKED
        assert facts.reason is not None and facts.reason.value == reason


def test_wechat_copy_only_cgidata(catalog: Catalog) -> None:
    html = ('<div id="app"></div><script>var cgiData = {"retcode": 0, "type": "empty", "title": '
            '"如需浏览，请长按网址复制后使用浏览器访问", "desc": "https:&#x2f;&#x2f;m.tb.cn&#x2f;h.abc"};'
            "</script>")
    facts = _kind(catalog, html, "https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi")
    assert (facts.kind, facts.target) == (PageKind.COPY_ONLY, "https://m.tb.cn/h.abc")


def test_a_script_value_is_read_from_the_syntax_tree(catalog: Catalog) -> None:
    # Review 169: a regex read `desc` in a comment first, and unescaped on its own.
    html = ('<div id="app"></div><script>/* desc: "https://decoy.example/" */\n'
            'var cgiData = {"retcode": 0, "type": "empty", "title": '
            '"如需浏览，请长按网址复制后使用浏览器访问", "desc": "https:\\/\\/m.tb.cn\\u002fh.abc"};'
            "</script>")
    facts = _kind(catalog, html, "https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi")
    assert (facts.kind, facts.target) == (PageKind.COPY_ONLY, "https://m.tb.cn/h.abc")


def test_wechat_cgidata_on_an_ordinary_page_is_content(catalog: Catalog) -> None:
    # domain-facts §2.3b: ordinary WeChat pages define cgiData too.
    html = ("<script>var cgiData = { biz: 'MzAwMDE3MjUyMQ==', pagename: '深度精选' };</script>"
            "<p>" + "正文" * 800 + "</p>")
    assert _kind(catalog, html, "https://mp.weixin.qq.com/mp/homepage?x=1").kind is PageKind.CONTENT


def test_link_inventory_unwraps_and_skips_own_links(catalog: Catalog) -> None:
    html = ('<a href="https://link.zhihu.com/?target=https%3A//item.taobao.com/1">a</a>'
            '<a href="https://link.zhihu.com/?target=https%3A//item.taobao.com/1">again</a>'
            '<a href="https://link.zhihu.com/?target=https%3A//www.zhihu.com/p/1">own via wrapper</a>'
            '<a href="/people/x">own relative</a><a href="javascript:;">js</a>'
            '<a href="https://www.douban.com/link2/?url=https%3A%2F%2Fexample.org">other wrapper</a>'
            "<p>https://www.jd.com/ 纯文本</p>")
    page = parse_page(html, "https://www.zhihu.com/question/1")
    platform = catalog.platforms["zhihu"]
    links = [(link.target, link.via, link.rendered_as, link.count, link.target_platform)
             for link in outbound_links(page, catalog, platform)]
    assert links == [
        ("https://item.taobao.com/1", "link.zhihu.com", "anchor", 2, "taobao"),
        # Another platform's wrapper is just a link to that platform.
        ("https://www.douban.com/link2/?url=https%3A%2F%2Fexample.org", None, "anchor", 1, "douban"),
        ("https://www.jd.com/", None, "text", 1, "jd"),
    ]


def test_opaque_wrapper_hides_target(catalog: Catalog) -> None:
    page = parse_page('<a href="http://www.baidu.com/link?url=OPAQUE123">r</a>',
                      "https://www.baidu.com/s?wd=x")
    (link,) = outbound_links(page, catalog, catalog.platforms["baidu"])
    assert (link.target, link.target_domain, link.via, link.href) == (
        None, None, "www.baidu.com/link", "http://www.baidu.com/link?url=OPAQUE123")


T = "https://item.taobao.com/item.htm?id=1"


def _hop(url: str, status: int = 200, via: str = "start") -> Hop:
    return Hop(url=url, status=status, via=via)


@pytest.mark.parametrize(("kw", "expected"), [
    ({"hops": [_hop(T)]}, Outcome.DIRECT),
    ({"hops": [_hop("https://link.zhihu.com/?target=x", 302), _hop(T, via="http")]}, Outcome.WRAPPED),
    ({"hops": [_hop("https://w.example/", 200)], "page": PageFacts(kind=PageKind.WARNED)}, Outcome.WARNED),
    ({"hops": [_hop("https://w.example/")], "page": PageFacts(kind=PageKind.COPY_ONLY)}, Outcome.COPY_ONLY),
    ({"hops": [_hop("https://w.example/")], "page": PageFacts(kind=PageKind.BLOCKED)}, Outcome.BLOCKED),
    ({"hops": [_hop(T)], "rendered_as": "text"}, Outcome.STRIPPED),
    ({"hops": [_hop("https://w.example/r", 302), _hop("https://app.example/download", via="http")],
      "control_ok": True, "ended_on_known_platform": True}, Outcome.DIVERTED),
    # Ended on a page nobody can vouch for: neither the target nor a known platform's page.
    ({"hops": [_hop("https://w.example/r", 302), _hop("https://app.example/download", via="http")],
      "control_ok": True}, Outcome.UNRECOGNIZED),
    ({"hops": [_hop(T, 503)], "control_ok": False}, Outcome.TARGET_DOWN),
    ({"hops": [_hop(T, 429)], "control_ok": True}, Outcome.ERROR),
    ({"hops": [], "failure": "timeout", "control_ok": False}, Outcome.TARGET_DOWN),
    ({"hops": [], "failure": "anti_bot:403", "control_ok": True}, Outcome.ERROR),
    ({"hops": [], "failure": "redirect_loop"}, Outcome.ERROR),
])
def test_observation_outcomes(kw: dict[str, object], expected: Outcome) -> None:
    args: dict[str, object] = {"target_url": T, "rendered_as": "anchor", "hops": [], "page": None,
                               "failure": None, "control_ok": None}
    args.update(kw)
    outcome, _ = classify_observation(**args)  # type: ignore[arg-type]
    assert outcome is expected


def test_blocked_outcome_carries_the_stated_reason() -> None:
    outcome, reason = classify_observation(
        target_url=T, rendered_as="anchor", hops=[_hop("https://w.example/")],
        page=PageFacts(kind=PageKind.BLOCKED, reason="rumor"), failure=None, control_ok=True)
    assert (outcome, reason) == (Outcome.BLOCKED, "rumor")
