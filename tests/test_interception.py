"""Pages hulian has never seen: an interception endpoint's page is never `content`, a chain
that ends on one is never `direct`, and a chain is `direct`/`wrapped` only when it reached
the target (its site, or the control fetch's page)."""

from __future__ import annotations

import functools
import hashlib
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.judge.classify import classify_page, platform_for_url
from audit.judge.forwards import js_location
from audit.lab.policies import write_policies
from audit.lab.scenario import load_scenario
from audit.measure import chain as chains
from audit.model import Endpoint, Lang, Outcome, PageKind, Platform, Probe, SurfaceKind
from audit.policy.catalog import Catalog, load_catalog, shipped_policies_dir
from audit.web.page import parse_page

TARGET = "https://shop.example-target.com/item/42"


@functools.cache
def both_catalogs() -> Catalog:
    """The shipped catalog and the lab's, so that every endpoint either declares is tried."""
    with tempfile.TemporaryDirectory(prefix="hulian-lab-") as directory:
        lab = write_policies(load_scenario(), Path(directory) / "p")
        return load_catalog([shipped_policies_dir(), lab])


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return both_catalogs()


def _endpoints() -> list[tuple[str, str]]:
    catalog = load_catalog()
    found = [(p.id, e.id) for p in catalog.platforms.values() for e in p.endpoints]
    scenario = load_scenario()
    found += [(p.id, "out") for p in scenario.platforms]
    return found


# Interception pages in wordings no signature or generic marker knows, in the three
# interface languages, each with a different structure. {target} is filled in.
MADE_UP = [
    "<h1>Zorblat notice</h1><p>The frobnicator declined this one.</p>",
    "<h1>链路巡检</h1><p>该地址暂未纳入白名单范围。</p><a href='javascript:void(0)'>再想想</a>",
    "<h2>連結巡檢</h2><p>{target}</p><p>此地址已記錄。</p>",
    "<div class=box><h2>Heads up</h2><p>{target}</p><a href='{target}'>Onward</a></div>",
    "<h2>链接已收起</h2><p>请长按复制下方地址，在系统自带的浏览器中打开。</p><p>{target}</p>",
    "<div id='app'></div><script>window.__STATE__ = {{\"t\": 1}};</script>",
    "<p>Qwerty uiop asdf ghjkl.</p><button onclick='go()'>Zxcv</button>",
]


def _endpoint_url(endpoint: Endpoint, path: str) -> str:
    host = endpoint.match.hosts[0]
    host = "x" + host if host.startswith(".") else host
    return f"https://{host}{path}?target={TARGET}"


def _path_strategy(endpoint: Endpoint) -> st.SearchStrategy[str]:
    regex = endpoint.match.path or "^/[a-z]{1,8}$"
    return st.from_regex(regex, fullmatch=True).filter(
        lambda p: p.startswith("/") and all(c.isascii() and c.isprintable() and c not in "?#%"
                                            for c in p)).map(lambda p: p or "/")


# Every endpoint is tried in every example (parametrizing a @given test breaks under
# pytest-twisted, which rewraps the shared inner test for each parameter).
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_a_made_up_page_on_any_endpoint_is_never_content_nor_direct(data: st.DataObject) -> None:
    catalog = both_catalogs()
    for platform_id, endpoint_id in _endpoints():
        platform: Platform = catalog.platforms[platform_id]
        endpoint = platform.endpoint(endpoint_id)
        url = _endpoint_url(endpoint, data.draw(_path_strategy(endpoint)))
        html = data.draw(st.sampled_from(MADE_UP)).format(target=TARGET)
        _never_content_nor_direct(catalog, platform_id, endpoint_id, url, html)


def _never_content_nor_direct(catalog: Catalog, platform_id: str, endpoint_id: str, url: str,
                              html: str) -> None:
    page = parse_page(page_bytes(html).decode(), url)
    facts = classify_page(page, catalog, platform_for_url(url, catalog), target=TARGET)
    assert facts.kind is not PageKind.CONTENT, (url, html, facts)
    assert facts.endpoint == f"{platform_id}/{endpoint_id}"

    # The same page at the end of a chain: never `direct` (nor `wrapped`), whatever the
    # target does after a continue link.
    probe = Probe(id="p", source="weixin", surface=SurfaceKind.IM_GROUP, target_url=TARGET,
                  rendered_as="anchor")
    chain = chains.Chain(probe=probe)
    step = chains.on_response(chain, chains.Response(
        url=url, status=200, headers={"content-type": "text/html"},
        body=page_bytes(html)), "start", catalog)
    if step.action == "follow" and step.url:
        chains.on_response(chain, chains.Response(
            url=step.url, status=200, headers={"content-type": "text/html"},
            body=b"<title>item</title><p>the target</p>"), step.via, catalog)
    chains.on_control(chain, 200)
    outcome = chains.observation(chain, run_id="r", method="crawl").outcome
    assert outcome not in (Outcome.DIRECT, Outcome.WRAPPED), (url, html, outcome)


@pytest.mark.parametrize("html", MADE_UP)
def test_each_made_up_page_on_each_endpoint(catalog: Catalog, html: str) -> None:
    """The same, deterministically: every made-up page on every endpoint, at the path the
    endpoint's own pattern gives first."""
    for platform_id, endpoint_id in _endpoints():
        endpoint = catalog.platforms[platform_id].endpoint(endpoint_id)
        path = "/" + (endpoint.match.path or "").strip("^$").replace("\\", "")
        url = _endpoint_url(endpoint, path)
        from audit.web.urls import url_matches
        if url_matches(url, endpoint.match):
            _never_content_nor_direct(catalog, platform_id, endpoint_id, url,
                                      html.format(target=TARGET))


def page_bytes(html: str) -> bytes:
    return f"<html><head><title>x</title></head><body>{html}</body></html>".encode()


def test_every_signature_speaks_every_language_its_platform_ships(catalog: Catalog) -> None:
    missing = []
    for platform in catalog.platforms.values():
        for signature in platform.signatures:
            if not signature.marker_sets:
                continue  # recognised by where it is served or by its structure alone
            langs = {m.lang for m in signature.markers}
            if signature.markers_any or signature.markers_all:
                langs.add(Lang.ZH_HANS)
            missing += [f"{platform.id}/{signature.id}: {lang.value}"
                        for lang in platform.languages if lang not in langs]
    assert not missing


WECHAT = "https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi"


def _wechat_2016(title: str, body: str, lang: str = "zh_CN") -> str:
    """A page shaped like WeChat's 2016 interception page (structure per domain-facts §2.7),
    with our own texts."""
    return (f"<html><head><title>{title}</title></head><body><div class='page_msg'>"
            f"<div class='text_area'>{body}</div>"
            "<div class='extra_area'><a href='javascript:gotoMoreLink();'>{more}</a></div></div>"
            "<script>var url = \"http://tumblr.com\";\n"
            "function gotoMoreLink(){ window.location = \"/redirect/help?lang=" + lang
            + "&url=\" + encodeURIComponent(url); }\n"
            "function gotoURL(){ window.location = \"http://support.weixin.qq.com/cgi-bin/"
            "mmsupport-bin/getpagedata?requrl=\" + encodeURIComponent(url); }"
            "</script></body></html>")


@pytest.mark.parametrize(("html", "kind", "reason", "reason_text"), [
    # 繁體 block page: the traditional-character markers and reason patterns.
    (_wechat_2016("提示", "<h1 class='title'>已停止訪問該網頁</h1><p class='desc'>該網頁包含"
                  "謠言或虛假信息，被多人投訴。為維護綠色上網環境，已停止訪問。</p>"
                  ).replace("{more}", "了解更多資訊"), PageKind.BLOCKED, "rumor", None),
    # English block pages as Citizen Lab recorded their sentences (domain-facts §2.7).
    (_wechat_2016("Notice", "<h1 class='title'>No access to this page</h1><p class='desc'>No "
                  "access to this page as it's reported of containing nonsecure contents.</p>",
                  "en").replace("{more}", "Learn more"), PageKind.BLOCKED, "nonsecure", None),
    (_wechat_2016("Notice", "<p class='desc'>This site you are trying to visit is suspected of "
                  "phishing or hosting malware and has been blocked by WeChat.</p>", "en"
                  ).replace("{more}", "Learn more"), PageKind.BLOCKED, "phishing", None),
    # A reason no slug fits: kept verbatim.
    (_wechat_2016("Notice", "<h1 class='title'>No access to this page</h1><p class='desc'>No "
                  "access to this page as it's reported of containing gambling contents.</p>",
                  "en").replace("{more}", "Learn more"), PageKind.BLOCKED, None,
     "No access to this page as it's reported of containing gambling contents."),
    # A block wording no marker knows: no way on, no target shown -> blocked by structure.
    (_wechat_2016("Notice", "<h1 class='title'>Page unavailable</h1><p class='desc'>Visits to "
                  "this address were suspended after user reports of gambling.</p>", "en"
                  ).replace("{more}", "Learn more"), PageKind.BLOCKED, None,
     "Visits to this address were suspended after user reports of gambling."),
])
def test_wechat_pages_in_other_languages(catalog: Catalog, html: str, kind: PageKind,
                                         reason: str | None, reason_text: str | None) -> None:
    for url in (WECHAT, None):  # on the endpoint, and saved without its address
        facts = classify_page(parse_page(html, url), catalog, catalog.platforms["weixin"])
        assert (facts.kind, facts.reason, facts.reason_text) == (kind, reason, reason_text)
        assert facts.endpoint == "weixin/newredirectconfirmcgi"
        assert facts.target is None  # a block page does not show its target


@pytest.mark.parametrize(("heading", "button"), [
    ("將要訪問", "繼續訪問"), ("You are about to visit", "Continue"), ("Hinweis", "Weiter")])
def test_wechat_2016_warning_in_other_languages(catalog: Catalog, heading: str,
                                                button: str) -> None:
    html = _wechat_2016("提示", f"<p class='title'>{heading}</p><div id='url' class='link'>"
                        "</div><p class='desc'>…</p></div><div class='opr_area'><a "
                        f"href='javascript:gotoURL();' class='btn'>{button}</a>"
                        ).replace("{more}", "了解更多")
    facts = classify_page(parse_page(html, WECHAT), catalog)
    # A known continue label is a way on; an unknown one (German) is a control nobody can
    # read: never content, never blocked.
    expected = PageKind.UNRECOGNIZED if button == "Weiter" else PageKind.WARNED
    assert facts.kind is expected
    assert facts.target == "http://tumblr.com/"


@pytest.mark.parametrize(("html", "failure"), [
    ("", "endpoint_empty"),
    ("<html><body>   </body></html>", "endpoint_empty"),
    ("<h1>500 Internal Server Error</h1><p>nginx</p>", "endpoint_error_page"),
    ("<h1>请先登录</h1><p>登录后查看该链接</p><a href='/login'>登录</a>", "login_wall"),
    ("<h1>Sign in to continue</h1><form><input name=u></form>", "login_wall"),
    ("<title>安全验证</title><p>请输入验证码</p><input name=code>", "anti_bot:captcha"),
    ("<p>Please complete the security check. Are you a robot?</p>"
     "<iframe src=/challenge></iframe>", "anti_bot:captcha"),
])
def test_unjudgeable_endpoint_pages_are_errors(catalog: Catalog, html: str,
                                               failure: str) -> None:
    facts = classify_page(parse_page(html, WECHAT + "?x=1"), catalog)
    assert (facts.kind, facts.failure) == (PageKind.ERROR, failure)
    probe = Probe(id="p", source="weixin", surface=SurfaceKind.IM_GROUP, target_url=TARGET)
    chain = chains.Chain(probe=probe)
    step = chains.on_response(chain, chains.Response(
        url=WECHAT, status=200, headers={"content-type": "text/html"},
        body=html.encode() or b" "), "start", catalog)
    assert (step.action, step.failure) == ("fail", failure)
    chain.failure = step.failure
    chains.on_control(chain, None)  # even with the target down: the auditor saw nothing
    assert chains.observation(chain, run_id="r", method="crawl").outcome is Outcome.ERROR


def test_an_error_status_on_an_endpoint_is_an_error_not_a_block(catalog: Catalog) -> None:
    probe = Probe(id="p", source="weixin", surface=SurfaceKind.IM_GROUP, target_url=TARGET)
    chain = chains.Chain(probe=probe)
    step = chains.on_response(chain, chains.Response(
        url=WECHAT, status=502, headers={"content-type": "text/html"},
        body=b"<p>upstream went away</p>"), "start", catalog)
    assert (step.action, step.failure) == ("fail", "endpoint_error:502")
    chain.failure = step.failure
    chains.on_control(chain, None)
    assert chains.observation(chain, run_id="r", method="crawl").outcome is Outcome.ERROR


@pytest.mark.parametrize("body", [b"<h1>Zorblat</h1><p>Not here.</p>", b""])
def test_451_on_an_endpoint_is_a_block(catalog: Catalog, body: bytes) -> None:
    # Unavailable For Legal Reasons states a refusal of what was asked for: on the
    # platform's interception endpoint that is a block, in whatever words (or none).
    probe = Probe(id="p", source="weixin", surface=SurfaceKind.IM_GROUP, target_url=TARGET)
    chain = chains.Chain(probe=probe)
    step = chains.on_response(chain, chains.Response(
        url=WECHAT, status=451, headers={"content-type": "text/html"}, body=body),
        "start", catalog)
    assert step.action == "stop"
    chains.on_control(chain, 200)
    observation = chains.observation(chain, run_id="r", method="crawl")
    assert observation.outcome is Outcome.BLOCKED
    assert observation.page is not None and observation.page.signature == "structure/status_451"


def test_a_forwarding_page_on_an_endpoint_is_followed(catalog: Catalog) -> None:
    url = "https://link.zhihu.com/?target=" + TARGET
    html = f'<meta http-equiv="refresh" content="0;url={TARGET}"><p>…</p>'
    facts = classify_page(parse_page(html, url), catalog)
    assert facts.kind is PageKind.REDIRECT
    probe = Probe(id="p", source="zhihu", surface=SurfaceKind.POST, target_url=TARGET)
    chain = chains.Chain(probe=probe)
    step = chains.on_response(chain, chains.Response(
        url=url, status=200, headers={"content-type": "text/html"}, body=html.encode()),
        "start", catalog)
    assert (step.action, step.url, step.via) == ("follow", TARGET, "meta_refresh")
    chains.on_response(chain, chains.Response(url=TARGET, status=200, headers={},
                                              body=b"<p>item</p>"), "meta_refresh", catalog)
    assert chains.observation(chain, run_id="r", method="crawl").outcome is Outcome.WRAPPED


def test_script_location_inside_a_function_is_not_a_redirect(catalog: Catalog) -> None:
    html = ("<p>Blocked.</p><script>function report(){ window.location = "
            "'https://report.example/x'; }</script>")
    assert js_location(parse_page(html, WECHAT)) is None
    top_level = "<script>location.replace('https://a.example/');</script>"
    assert js_location(parse_page(top_level, WECHAT)) == "https://a.example/"


# --- reaching the target: its site, or the control fetch's page -------------------------

SHORT = "https://s.example-short.cn/abc"
ARTICLE = ("<html><head><title>Spring sale</title></head><body><div><h1>Spring sale</h1>"
           + "<p>Item text.</p>" * 30 + "<a href='/a'>a</a></div></body></html>")
DOWNLOAD = ("<html><head><title>Get the app</title></head><body><h1>Open in our app</h1>"
            "<a href='https://apps.example/dl'>Download</a></body></html>")


# The page the control ends on, under a parameter a wrapper added: one host, another URL.
TRACKED = "https://www.example-shop.com/sale?from=zhihu"


def _short_link_chain(catalog: Catalog, final_url: str, final_body: str,
                      control_url: str, control_body: str) -> Outcome:
    """A short-link target: the chain and the control both leave the target's own site."""
    probe = Probe(id="p", source="zhihu", surface=SurfaceKind.POST, target_url=SHORT)
    chain = chains.Chain(probe=probe)
    html = {"content-type": "text/html"}
    step = chains.on_response(chain, chains.Response(
        url="https://link.zhihu.com/?target=x", status=302, headers={"location": final_url},
        body=b""), "start", catalog)
    chains.on_response(chain, chains.Response(url=final_url, status=200, headers=html,
                                              body=final_body.encode()), step.via, catalog)
    assert chains.wants_control(chain)
    step = chains.on_control_response(chain, chains.Response(
        url=SHORT, status=301, headers={"location": control_url}, body=b""), catalog)
    assert (step.action, step.url) == ("follow", control_url)
    step = chains.on_control_response(chain, chains.Response(
        url=control_url, status=200, headers=html, body=control_body.encode()), catalog)
    assert step.action == "stop" and chain.control_ok
    observation = chains.observation(chain, run_id="r", method="crawl")
    assert observation.comparison is not None
    return observation.outcome


def test_a_chain_that_ends_where_the_control_ends_reached_the_target(catalog: Catalog) -> None:
    landing = "https://www.example-shop.com/sale"
    assert _short_link_chain(catalog, landing, ARTICLE, landing, ARTICLE) is Outcome.WRAPPED


def test_a_chain_that_ends_on_an_unknown_page_is_unrecognized(catalog: Catalog) -> None:
    outcome = _short_link_chain(catalog, "https://promo.example-elsewhere.net/app", DOWNLOAD,
                                "https://www.example-shop.com/sale", ARTICLE)
    assert outcome is Outcome.UNRECOGNIZED


def test_a_chain_that_ends_on_a_known_platform_page_is_diverted(catalog: Catalog) -> None:
    outcome = _short_link_chain(catalog, "https://www.zhihu.com/app", DOWNLOAD,
                                "https://www.example-shop.com/sale", ARTICLE)
    assert outcome is Outcome.DIVERTED


def test_comparison_figures_are_recorded(catalog: Catalog) -> None:
    probe = Probe(id="p", source="zhihu", surface=SurfaceKind.POST, target_url=SHORT)
    chain = chains.Chain(probe=probe)
    html = {"content-type": "text/html"}
    chains.on_response(chain, chains.Response(url="https://promo.example-elsewhere.net/a",
                                              status=200, headers=html,
                                              body=DOWNLOAD.encode()), "start", catalog)
    chains.on_control_response(chain, chains.Response(url=SHORT, status=200, headers=html,
                                                      body=ARTICLE.encode()), catalog)
    comparison = chains.observation(chain, run_id="r", method="crawl").comparison
    assert comparison is not None
    assert comparison.status_match and not comparison.same_site and not comparison.matched
    assert comparison.body_proportion == round(len(DOWNLOAD) / len(ARTICLE), 3)
    assert not comparison.title_match and comparison.structure_similarity < 0.6


def test_rules_cannot_pass_or_fail_unrecognized(tmp_path: Path) -> None:
    from audit.model import Rule

    base = {"id": "r", "title": {"zh": "x", "en": "x"}, "severity": "high",
            "fail_outcomes": ["blocked"],
            "reason": {"pass": {"zh": "x", "en": "x"}, "fail": {"zh": "x", "en": "x"}},
            "cite": [{"fact": "x"}]}
    for key in ("pass_outcomes", "fail_outcomes"):
        with pytest.raises(ValueError, match="always inconclusive"):
            Rule.model_validate({**base, key: ["unrecognized"]})


@pytest.mark.parametrize(("body", "content_type", "kind"), [
    (b"", "text/html", PageKind.ERROR),
    (b'{"verdict": "deny"}', "application/json", PageKind.UNRECOGNIZED),
])
def test_no_html_on_an_endpoint_is_never_content(catalog: Catalog, body: bytes,
                                                 content_type: str, kind: PageKind) -> None:
    probe = Probe(id="p", source="weixin", surface=SurfaceKind.IM_GROUP, target_url=TARGET)
    chain = chains.Chain(probe=probe)
    chains.on_response(chain, chains.Response(url=WECHAT, status=200,
                                               headers={"content-type": content_type},
                                               body=body), "start", catalog)
    assert chain.page is not None and chain.page.kind is kind
    chains.on_control(chain, 200)
    outcome = chains.observation(chain, run_id="r", method="crawl").outcome
    assert outcome is (Outcome.ERROR if kind is PageKind.ERROR else Outcome.UNRECOGNIZED)


def test_a_block_page_in_the_targets_clothes_did_not_reach_the_target(catalog: Catalog) -> None:
    # The target's title, length and layout, and words no marker knows that say the link is
    # blocked: it matched the control on length, title and structure, and read as `wrapped`
    # (an adversarial review). Its text does not match.
    # On the host the control ends on (another URL of it: a parameter the wrapper added),
    # where the pages' likeness decides.
    mimic = ARTICLE.replace("Item text.", "Not allowed")
    assert _short_link_chain(catalog, TRACKED, mimic,
                             "https://www.example-shop.com/sale", ARTICLE) \
        is Outcome.UNRECOGNIZED
    # The same page there still matches: texts alike.
    assert _short_link_chain(catalog, TRACKED, ARTICLE,
                             "https://www.example-shop.com/sale", ARTICLE) is Outcome.WRAPPED


def test_a_block_page_behind_the_targets_long_menu_did_not_reach_the_target(
        catalog: Catalog) -> None:
    """The target's title and a menu of more than 8,000 characters copied, then a message in
    words no marker knows: comparing the texts' first 8,000 characters, the two matched and
    the block read as `wrapped`. The texts are compared whole now."""
    def words(seed: str, count: int) -> str:  # made-up Chinese words, as varied as real text
        digest = hashlib.shake_256(seed.encode()).digest(2 * count)
        return "".join(chr(0x4E00 + int.from_bytes(digest[i:i + 2], "big") % 20000)
                       for i in range(0, 2 * count, 2))

    menu = "".join(f"<li><a href='/c/{n}'>{words(f'menu{n}', 25)}</a></li>" for n in range(400))
    target = ("<html><head><title>Spring sale</title></head><body><ul>" + menu + "</ul>"
              + "".join(f"<p>{words(f'item{n}', 40)}</p>" for n in range(300))
              + "</body></html>")
    mimic = ("<html><head><title>Spring sale</title></head><body><ul>" + menu + "</ul>"
             + "".join(f"<p>{words(f'zorblat{n}', 40)}</p>" for n in range(300))
             + "</body></html>")
    assert len(parse_page(mimic, "https://x.example/").text) > 8000
    assert _short_link_chain(catalog, TRACKED, mimic,
                             "https://www.example-shop.com/sale", target) \
        is Outcome.UNRECOGNIZED
    assert _short_link_chain(catalog, TRACKED, target,
                             "https://www.example-shop.com/sale", target) is Outcome.WRAPPED


def test_the_text_sketch_estimates_the_similarity_of_long_texts() -> None:
    """Beyond SKETCH_SIZE distinct trigrams the sketch estimates the Jaccard similarity;
    below it, it is exact."""
    from audit.judge.compare import SKETCH_SIZE, _text, _trigrams

    words = [f"word{n}" for n in range(6000)]
    first, second = " ".join(words[:4000]), " ".join(words[2000:])
    a, b = _trigrams(first), _trigrams(second)
    assert len(a) == len(b) == SKETCH_SIZE
    exact_a = {first.encode()[i:i + 3] for i in range(len(first) - 2)}
    exact_b = {second.encode()[i:i + 3] for i in range(len(second) - 2)}
    exact = len(exact_a & exact_b) / len(exact_a | exact_b)
    estimate = _text(a, b)
    assert estimate is not None and abs(estimate - exact) < 0.06, (estimate, exact)
    assert _text(_trigrams("a short text"), _trigrams("a short text")) == 1.0


def test_the_text_similarity_is_recorded_and_says_nothing_without_text() -> None:
    from audit.judge.compare import compare, fingerprint

    article = parse_page(ARTICLE, "https://a.example/")
    first = fingerprint(article, "https://a.example/", 200, ARTICLE.encode())
    second = fingerprint(parse_page(ARTICLE, "https://b.example/"), "https://b.example/", 200,
                         ARTICLE.encode())
    assert compare(first, second).text_similarity == 1.0
    empty = fingerprint(parse_page("<html><head><title>Spring sale</title></head><body>"
                                   "<div id=app></div></body></html>", "https://c.example/"),
                        "https://c.example/", 200, ARTICLE.encode())
    assert compare(empty, second).text_similarity is None


def test_a_page_cannot_choose_the_trigrams_its_sketch_is_made_of() -> None:
    """A block page that carries, hidden, the target's trigrams whose plain CRC-32s are
    smallest (a review: 0.91 for texts 0.14 alike), or all of those of one top-bit cluster
    (the next review: a CRC from a secret start value is affine, and that cluster won for
    15-28 % of keys). Keyed BLAKE2b, the sketch estimates the texts' real similarity for
    every key."""
    import heapq
    import os
    import zlib

    from audit.judge import compare

    def words(seed: str, count: int) -> str:
        digest = hashlib.shake_256(seed.encode()).digest(2 * count)
        return "".join(chr(0x4E00 + int.from_bytes(digest[i:i + 2], "big") % 20000)
                       for i in range(0, 2 * count, 2))

    def grams(text: str) -> set[str]:
        return {text[i:i + 3] for i in range(len(text) - 2)}

    def crc(gram: str) -> int:
        return zlib.crc32(gram.encode())

    target = words("article", 9500)
    own = words("blocked", 2000)
    cheapest = sorted(grams(target), key=crc)[:1100]
    cluster = [g for g in grams(target) if crc(g) >> 30 == 0]  # one top-2-bit cluster
    for stuffing in (cheapest, cluster):
        mimic = own + "".join(stuffing)
        exact = len(grams(target) & grams(mimic)) / len(grams(target) | grams(mimic))
        assert exact < compare.TEXT_MIN
        # With plain CRC-32s the page chose its sketch (the cheapest stuffing matched).
        a = set(heapq.nsmallest(compare.SKETCH_SIZE, {crc(g) for g in grams(target)}))
        b = set(heapq.nsmallest(compare.SKETCH_SIZE, {crc(g) for g in grams(mimic)}))
        plain = compare._text(frozenset(a), frozenset(b))
        if stuffing is cheapest:
            assert plain is not None and plain > compare.TEXT_MIN
        key = compare.sketch_key()
        try:
            for _ in range(12):
                compare.use_sketch_key(os.urandom(16))
                keyed = compare._text(compare._trigrams(target), compare._trigrams(mimic))
                assert keyed is not None and abs(keyed - exact) < 0.06, (keyed, exact)
        finally:
            compare.use_sketch_key(key)


DOUYIN_ENDPOINT = ("https://link.wtturl.cn/?aid=1128&scene=im&target="
                   "https%3A%2F%2Fwww.taobao.com%2F")


@pytest.mark.parametrize(("body", "kind"), [
    # Block words, and a "continue" back into the platform: a block (it read `warned`, the
    # platform's home its target).
    ("<h2>已停止访问该网页</h2><p>该网页包含违规内容，被多人投诉。</p>"
     "<a href='https://www.douyin.com/'>继续浏览其他内容</a>", PageKind.BLOCKED),
    # Words no marker knows and the same way back: the structure says no way on.
    ("<h2>该网页暂时无法访问</h2><p>经用户举报，该网页涉嫌违规，为保障您的安全已限制访问。</p>"
     "<a href='https://www.douyin.com/'>继续浏览抖音</a>", PageKind.BLOCKED),
    # A script-driven "continue" on a page whose scripts go nowhere off the platform: where
    # it leads cannot be read (it read `warned`).
    ("<h2>This page can't be opened</h2><p>It was reported by users and is restricted.</p>"
     "<button onclick='history.back()'>Continue browsing TikTok</button>",
     PageKind.UNRECOGNIZED),
    # Positive controls: a continue that leads off the platform, or a script-driven one on a
    # page whose script leads off it, is a way on.
    ("<h2>即将离开抖音</h2><p>请注意账号安全。</p>"
     "<a href='https://www.taobao.com/'>继续访问</a>", PageKind.WARNED),
    ("<h2>提示</h2><p>外部链接。</p><a href='javascript:;' id=go>继续访问</a>"
     "<script>document.getElementById('go').onclick=function(){location.href="
     "decodeURIComponent(location.search.split('target=')[1])}</script>", PageKind.WARNED),
])
def test_a_continue_back_into_the_platform_is_no_way_on(catalog: Catalog, body: str,
                                                        kind: PageKind) -> None:
    page = parse_page(page_bytes(body).decode(), DOUYIN_ENDPOINT)
    facts = classify_page(page, catalog, platform_for_url(DOUYIN_ENDPOINT, catalog),
                          target="https://www.taobao.com/")
    assert facts.kind is kind, facts


@pytest.mark.parametrize(("body", "kind"), [
    # Forwards a browser makes at once without `location`: a block with no way on, the
    # critical rule failed (a review).
    ("<p>正在打开，请稍候…</p><form id=f method=get action='https://www.taobao.com/'></form>"
     "<script>document.getElementById('f').submit();</script>", PageKind.UNRECOGNIZED),
    ("<p>正在打开，请稍候…</p><script>window.open('https://www.taobao.com/', '_self')</script>",
     PageKind.UNRECOGNIZED),
    ("<p>正在打开，请稍候…</p><a id=a href='https://www.taobao.com/'></a>"
     "<script>document.getElementById('a').click()</script>", PageKind.WARNED),
    # A form's button labelled as the way on leads where its form goes: off the platform a
    # way on; to the platform's own page, where the server may forward anywhere, unread.
    ("<p>链路巡检</p><form action='https://www.taobao.com/'><button>继续访问</button></form>",
     PageKind.WARNED),
    ("<p>链路巡检</p><form method=post action='/confirm'><button>继续访问</button></form>",
     PageKind.UNRECOGNIZED),
    # Positive control: no script, no way on.
    ("<p>该网页暂时无法访问</p><a href='https://www.douyin.com/'>返回首页</a>", PageKind.BLOCKED),
    # Navigations in other forms, and in event handler attributes (each read as a block with
    # no way on: the review of the fix above).
    *[(f"<p>正在打开，请稍候…</p><form action='https://www.taobao.com/'></form>{tail}",
       PageKind.UNRECOGNIZED) for tail in (
        "<script>window['open']('https://www.taobao.com/','_self')</script>",
        "<script>(0,open)('https://www.taobao.com/','_self')</script>",
        "<script>HTMLFormElement.prototype.submit.call(document.forms[0])</script>",
        "<script>document.forms[0]['submit']()</script>",
        "<script>document.write('<meta http-equiv=refresh content=0;url=/x>')</script>",
        "<img src=x onerror='document.forms[0].submit()'>",
        "<svg onload=\"location.href=decodeURIComponent('https%3A%2F%2Fwww.taobao.com')\"></svg>")],
    ("<html><head><title>x</title></head><body onload='document.forms[0].submit()'>"
     "<p>正在打开，请稍候…</p><form action='https://www.taobao.com/'></form></body></html>",
     PageKind.UNRECOGNIZED),
    # A handler's plain navigation back into the platform is no way on.
    ("<p>该网页暂时无法访问</p><button onclick=\"location.href='https://www.douyin.com/'\">"
     "返回首页</button>", PageKind.BLOCKED),
    # Scripts that navigate nothing: an XHR's `open`, a database's, `performance.navigation`,
    # jQuery binding a click handler (each sent the block to review: the fix's review).
    ("<p>该网页暂时无法访问</p><a href='https://www.douyin.com/'>返回首页</a><script>"
     "var t=performance.navigation.type;var x=new XMLHttpRequest();x.open('POST','/log');"
     "indexedDB.open('d');$('#b').click(function(){})</script>", PageKind.BLOCKED),
])
def test_a_forward_without_location_is_a_possible_way_on(catalog: Catalog, body: str,
                                                         kind: PageKind) -> None:
    page = parse_page(body if body.startswith("<html") else page_bytes(body).decode(),
                      DOUYIN_ENDPOINT)
    facts = classify_page(page, catalog, platform_for_url(DOUYIN_ENDPOINT, catalog),
                          target="https://www.taobao.com/")
    assert facts.kind is kind, facts
