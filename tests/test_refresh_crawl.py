"""Refreshes followed as Chromium follows them, by both engines end to end: the response's
Refresh header (which neither engine read) and a refresh whose URL carries `url=` in its
query (which was read as the target). So are a Content-Security-Policy header that forbids a
block page's inline forward (the Scrapy engine did not pass it on), a 300 with a Location (a
page to a browser), a type with a vertical tab after it (text to a browser) and a script's
forward after a dialog."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.localsite import crawl_forum, serve

SEED = (b"<p>post</p><a href='http://go.test/header'>a</a>"
        b"<a href='http://go.test/query'>b</a><a href='http://go.test/csp'>c</a>"
        b"<a href='http://go.test/multiple'>d</a><a href='http://go.test/vt'>f</a>"
        b"<a href='http://forum.test/go?u=http%3A%2F%2Fshop.test%2Fd'>e</a>")
# The forum's own link wrapper: a page it answers before the target is the platform's.
WRAPPER = """\
wrappers:
  - id: forum.test-go
    match:
      hosts: [forum.test]
      path: "^/go$"
    target: query
    params: [u]
    cite: {fact: test}
"""
NOTICE = "<h2>このリンクは開けません</h2><p>このページは規約違反のため表示できません。</p>"
PAGES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "forum.test/p": (200, {}, SEED),
    "go.test/header": (200, {"Refresh": "0; url=http://shop.test/item"},
                       "<p>外部网站 风险提示 仅供参考</p>".encode()),
    "go.test/query": (200, {}, b'<meta http-equiv="refresh" content="0; '
                               b'http://go.test/risk?url=http://shop.test/other"><p>x</p>'),
    "go.test/risk": (200, {}, "<h2>该网页可能存在风险</h2><p>非官方网址，暂不支持访问</p>".encode()),
    "go.test/csp": (200, {"Content-Security-Policy": "script-src 'self'"},
                    (NOTICE + "<script>location.replace('http://shop.test/c')</script>").encode()),
    "go.test/multiple": (300, {"Location": "http://shop.test/m"}, NOTICE.encode()),
    # A type Chromium shows as text (it trims only space and tab): the refresh never runs.
    # Both engines' parsers trimmed \x0b too, and read a page that forwards (a review).
    "go.test/vt": (200, {"Content-Type": "text/html\x0b"},
                   b'<meta http-equiv="refresh" content="0; url=http://shop.test/vt">'),
    "forum.test/go": (200, {}, "<script>alert('该链接已被屏蔽');"
                               "location.href='http://shop.test/d'</script>".encode()),
    "shop.test/item": (200, {}, b"<p>an item</p>"),
    "shop.test/other": (200, {}, b"<p>another item</p>"),
}


@pytest.mark.parametrize("engine", ["asyncio", "scrapy"])
def test_both_engines_follow_refreshes_as_chromium_does(tmp_path: Path, engine: str) -> None:
    with serve(PAGES) as site:
        _, observations = crawl_forum(tmp_path, site.url, ["p"], engine, WRAPPER)
    hops = {o["target_url"]: [(h["url"], h["via"]) for h in o["hops"]
                              if h["via"] != "control"] for o in observations}
    assert hops["http://go.test/header"] == [("http://go.test/header", "start"),
                                             ("http://shop.test/item", "meta_refresh")]
    assert hops["http://go.test/query"] == [
        ("http://go.test/query", "start"),
        ("http://go.test/risk?url=http://shop.test/other", "meta_refresh")]
    for stays in ("csp", "multiple", "vt"):  # a browser stays on the page
        assert hops[f"http://go.test/{stays}"] == [(f"http://go.test/{stays}", "start")]
    # The wrapper's page shows a dialog before it forwards: held for a person to read.
    assert hops["http://shop.test/d"] == [("http://forum.test/go?u=http%3A%2F%2Fshop.test%2Fd",
                                           "start")]
