"""URL helpers: registrable domains offline, look-alike-safe host matching, unwrapping."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.model import Citation, Platform, TargetLocation, Text, UrlMatch, Wrapper
from audit.web.urls import (
    host_matches,
    host_of,
    registrable_domain,
    resolve,
    target_from_wrapper,
    unwrap,
    wrapper_label,
)

CITE = Citation(fact="test")


def _platform(*wrappers: Wrapper) -> Platform:
    return Platform(id="p", name=Text(zh="平台", en="P"), company="c", category="qa",
                    domains=["example-platform.com"], wrappers=list(wrappers), cite=CITE)


ZHIHU = Wrapper(id="zh", match=UrlMatch(hosts=["link.zhihu.com"], path=r"^/?$"),
                target=TargetLocation.QUERY, params=["target"], cite=CITE)
ZAKER = Wrapper(id="zaker", match=UrlMatch(hosts=["iphone.myzaker.com"], path="^/zaker/link.php$"),
                target=TargetLocation.BASE64, params=["b"], cite=CITE)
BAIDU = Wrapper(id="bd", match=UrlMatch(hosts=["www.baidu.com"], path="^/link$"),
                target=TargetLocation.OPAQUE, params=["url"], cite=CITE)
CTO = Wrapper(id="cto", match=UrlMatch(hosts=["blog.51cto.com"], path="^/transfer$"),
              target=TargetLocation.WHOLE_QUERY, cite=CITE)
TIEBA = Wrapper(id="tb", match=UrlMatch(hosts=[".bdimg.com"], path="^/safecheck"),
                target=TargetLocation.OPAQUE, cite=CITE)
PLATFORM = _platform(ZHIHU, ZAKER, BAIDU, CTO, TIEBA)


@pytest.mark.parametrize(("value", "expected"), [
    ("https://item.taobao.com/item.htm?id=1", "taobao.com"),
    ("mp.weixin.qq.com", "qq.com"),
    ("http://news.sina.com.cn/x", "sina.com.cn"),
    ("https://a.b.gov.cn", "b.gov.cn"),
    ("https://user.github.io/page", "user.github.io"),  # private PSL section
    ("http://t.cn/RgAKoPE", "t.cn"),
    ("https://127.0.0.1:8080/x", "127.0.0.1"),
    ("localhost", None),
    ("not a url at all", None),
])
def test_registrable_domain(value: str, expected: str | None) -> None:
    assert registrable_domain(value) == expected


@pytest.mark.parametrize(("host", "suffixes", "expected"), [
    ("zhihu.com", ["zhihu.com"], True),
    ("www.zhihu.com", ["zhihu.com"], True),
    ("evilzhihu.com", ["zhihu.com"], False),
    ("zhihu.com.evil.cn", ["zhihu.com"], False),
    ("WWW.ZHIHU.COM.", ["zhihu.com"], True),
    ("weixin.qq.com", ["mp.weixin.qq.com"], False),
])
def test_host_matches_is_lookalike_safe(host: str, suffixes: list[str], expected: bool) -> None:
    assert host_matches(host, suffixes) is expected


@pytest.mark.parametrize(("url", "target", "via"), [
    ("https://link.zhihu.com/?target=https%3A//github.com/x", "https://github.com/x", "link.zhihu.com"),
    # double-encoded target
    ("https://link.zhihu.com/?target=https%253A%252F%252Fgithub.com%252Fx", "https://github.com/x",
     "link.zhihu.com"),
    # scheme-less target
    ("https://link.zhihu.com/?target=www.example.com/a", "http://www.example.com/a", "link.zhihu.com"),
    # missing or broken targets: the wrapper is recognised, the target is unknown
    ("https://link.zhihu.com/?utm=1", None, "link.zhihu.com"),
    ("https://link.zhihu.com/?target=", None, "link.zhihu.com"),
    ("https://link.zhihu.com/?target=javascript:alert(1)", None, "link.zhihu.com"),
    ("http://iphone.myzaker.com/zaker/link.php?pk=1&b=aHR0cHM6Ly93d3cuY2hpbmFuZXdzLmNvbS5jbi8=",
     "https://www.chinanews.com.cn/", "iphone.myzaker.com/zaker/link.php"),
    ("http://www.baidu.com/link?url=Ci_Hg-mPd2q", None, "www.baidu.com/link"),
    ("http://jump2.bdimg.com/safecheck/index?url=x", None, "jump2.bdimg.com/safecheck/index"),
    ("https://blog.51cto.com/transfer?https://www.example.com/a?b=1", "https://www.example.com/a?b=1",
     "blog.51cto.com/transfer"),
    ("https://www.example.com/", "https://www.example.com/", None),
])
def test_unwrap(url: str, target: str | None, via: str | None) -> None:
    result = unwrap(url, [PLATFORM])
    assert (result.target, result.via) == (target, via)


def test_nested_wrappers_are_followed_to_the_end() -> None:
    inner = "https://link.zhihu.com/?target=" + quote("https://github.com/a", safe="")
    outer = "https://link.zhihu.com/?target=" + quote(inner, safe="")
    assert unwrap(outer, [PLATFORM]).target == "https://github.com/a"


def test_wrapper_loop_ends_without_target() -> None:
    url = "https://link.zhihu.com/?target=https%3A%2F%2Flink.zhihu.com%2F%3Ftarget%3D"
    for _ in range(8):
        url = "https://link.zhihu.com/?target=" + quote(url, safe="")
    assert unwrap(url, [PLATFORM]).target is None


def test_wrapper_label() -> None:
    assert wrapper_label("https://link.zhihu.com/?target=x") == "link.zhihu.com"
    assert wrapper_label("http://www.baidu.com/link?url=x") == "www.baidu.com/link"


@pytest.mark.parametrize(("base", "href", "expected"), [
    ("https://a.com/x/y", "../z", "https://a.com/z"),
    ("https://a.com/", "//b.com/p", "https://b.com/p"),
    ("https://a.com/", "javascript:void(0)", None),
    ("https://a.com/", "mailto:x@y.z", None),
    ("https://a.com/", "#top", None),
    ("https://a.com/", "   ", None),
    ("https://a.com/", "http://[::1", None),  # malformed IPv6 literal
    (None, "relative/path", None),
])
def test_resolve(base: str | None, href: str, expected: str | None) -> None:
    assert resolve(base, href) == expected


# Property: whatever URL goes into a query-parameter wrapper (encoded once or twice) or a
# base64 wrapper comes back out unchanged.
_paths = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e,
                                        blacklist_characters="#%"), max_size=40)
_hosts = st.from_regex(r"[a-z][a-z0-9]{0,10}\.(com|cn|org|net)", fullmatch=True)


@given(host=_hosts, path=_paths, twice=st.booleans())
def test_query_wrapper_round_trip(host: str, path: str, twice: bool) -> None:
    target = f"https://{host}/{path}"
    encoded = quote(target, safe="")
    if twice:
        encoded = quote(encoded, safe="")
    assert target_from_wrapper(f"https://link.zhihu.com/?target={encoded}", ZHIHU) == target.strip()


@given(host=_hosts, path=_paths)
def test_base64_wrapper_round_trip(host: str, path: str) -> None:
    target = f"https://{host}/{path}"
    b = base64.urlsafe_b64encode(target.encode()).decode()
    assert target_from_wrapper(f"http://iphone.myzaker.com/zaker/link.php?b={b}", ZAKER) == target.strip()


@given(st.text(max_size=200))
def test_unwrap_never_raises(garbage: str) -> None:
    result = unwrap("https://link.zhihu.com/?target=" + garbage, [PLATFORM])
    assert result.via == "link.zhihu.com"
    assert result.target is None or result.target.startswith(("http://", "https://"))


def test_resolve_fast_paths_agree_with_the_general_path() -> None:
    """resolve() concatenates where Ada's join would give the same; on random hrefs built from
    the characters that make a join differ (dot segments, empty '?', schemes, whitespace,
    hosts it rewrites, characters it escapes) both paths must give the same answer."""
    import random

    from audit.web.urls import URL_SPACE, _resolve_general, resolve

    def general(base: str | None, href: str) -> str | None:
        href = href.strip(URL_SPACE).replace("\n", "").replace("\t", "").replace("\r", "")
        if not href or href.startswith("#"):
            return None
        return _resolve_general(base, href)

    parts = ["/", "a", ".", "..", "?", "#", ";", "x=1", "%20", "HTTP://", "http://",
             "https://", "h.com", ":8080", "//", "@", "é", " ", "\\", "\t", "[::1]", "http:",
             # what the WHATWG reading escapes, rewrites or refuses
             "'", '"', "<", "{", "}", "^", "|", "`", "H.COM", "1.2", "0x7f", "xn--a", "xn--fsqu00a",
             "%2e", "%2E", "例", ":443", ":80", "_", "-", "~", "!", "$", "[", "]", "%zz", "\x00",
             "127.0.0.1", "256.1.1.1", "01.2.3.4", "1.2.3.4.5", ":65536", ":0", ":08080",
             ":9999", "http://127.0.0.2:56293/item/1.html"]
    bases = ["http://ex.com/a/b.html", "https://ex.com:8443/a/", "http://ex.com",
             "http://ex.com/a/b?q=1#f", "HTTP://Ex.com/x", "http://[::1]:80/p",
             "http://u@ex.com/p/", "http://ex.com/;p?q", "http://ex.com?x", None,
             "http://:80/x", "http://u@/p", "https://ex.com:99999/"]  # odd hosts, odd ports
    rng = random.Random(20261128)
    for _ in range(40000):
        href = "".join(rng.choice(parts) for _ in range(rng.randint(1, 8)))
        base = rng.choice(bases)
        assert resolve(base, href) == general(base, href), (base, href)


@pytest.mark.parametrize(("base", "href", "expected"), [
    # Where urlsplit/urljoin and a browser disagree on the host, hulian reads as the browser.
    ("https://weibo.com/a", "https://item.taobao.com\\@weibo.com/x", "https://item.taobao.com/@weibo.com/x"),
    ("https://weibo.com/a", "/\\item.taobao.com/x", "https://item.taobao.com/x"),
    ("https://weibo.com/a", "https:////item.taobao.com/x", "https://item.taobao.com/x"),
    ("https://weibo.com/a", "///item.taobao.com/x", "https://item.taobao.com/x"),
    ("https://weibo.com/a", "http:item.taobao.com/x", "http://item.taobao.com/x"),
    ("https://weibo.com/a", "https://%69tem.taobao.com/x", "https://item.taobao.com/x"),
    ("https://weibo.com/a", "https://0x7f.1/", "https://127.0.0.1/"),
    # Recorded as a browser requests it.
    ("https://weibo.com/a", "https://www.douyin.com", "https://www.douyin.com/"),
    ("https://weibo.com/a", "https://例子.cn/a b", "https://xn--fsqu00a.cn/a%20b"),
    ("https://weibo.com/a", "https://a.cn:99999/", None),  # no such port
    ("https://weibo.com/a", "http://a b.cn/", None),  # no such host
    # A browser strips only C0 controls and spaces from the ends: an ideographic space keeps
    # the link on the page's own site.
    ("https://weibo.com/a/", "\u3000https://item.taobao.com/x",
     "https://weibo.com/a/%E3%80%80https://item.taobao.com/x"),
    ("https://weibo.com/a/", "\x01", None),
])
def test_links_are_resolved_as_a_browser_resolves_them(base: str, href: str,
                                                       expected: str | None) -> None:
    assert resolve(base, href) == expected


@pytest.mark.parametrize(("url", "host"), [
    ("https://item.taobao.com\\@weibo.com/x", "item.taobao.com"),
    ("https://127.0.0.1\\@public.example/", "127.0.0.1"),
    ("https://user:pw@weibo.com@item.taobao.com/", "item.taobao.com"),
    ("HTTPS://WEIBO.COM./", "weibo.com"),
    ("http://[::1]:8080/", "::1"),
    ("//t.cn/x", "t.cn"),
    ("ftp://weibo.com/", None),
    ("weibo.com/x", None),
])
def test_the_host_is_the_one_a_browser_connects_to(url: str, host: str | None) -> None:
    assert host_of(url) == host


def test_an_origin_is_read_as_a_browser_reads_it() -> None:
    # Review 169: robots.txt's origin was `urlsplit`'s netloc, as written.
    from audit.web.urls import origin_of

    assert origin_of("HTTPS://Example.COM:443/a?b") == "https://example.com"
    assert origin_of("https://user:pw@a.example/x") == "https://a.example"
    assert origin_of("http://a.example:8080/x") == "http://a.example:8080"
    assert origin_of("http://[::1]:80/") == "http://[::1]"
