"""Following a link hop by hop: the pure decisions of audit.measure.chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.measure import chain as chains
from audit.model import Outcome, Probe, SurfaceKind
from audit.policy.catalog import Catalog, load_catalog

TARGET = "https://item.taobao.com/item.htm?id=1"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _chain(rendered_as: str = "anchor") -> chains.Chain:
    probe = Probe(id="p1", source="zhihu", surface=SurfaceKind.POST, target_url=TARGET,
                  target_platform="taobao", rendered_as=rendered_as)
    return chains.Chain(probe=probe)


def _resp(url: str, status: int = 200, body: str = "<p>ok</p>", **headers: str) -> chains.Response:
    return chains.Response(url=url, status=status, headers={"content-type": "text/html",
                                                            **headers}, body=body.encode())


def _outcome(chain: chains.Chain) -> Outcome:
    return chains.observation(chain, run_id="r", method="crawl").outcome


def test_http_redirect_then_target_is_wrapped(catalog: Catalog) -> None:
    chain = _chain()
    step = chains.on_response(chain, _resp("https://link.zhihu.com/?target=x", 302, "",
                                           location=TARGET), "start", catalog)
    assert (step.action, step.url, step.via) == ("follow", TARGET, "http")
    step = chains.on_response(chain, _resp(TARGET), step.via, catalog)
    assert step.action == "stop"
    assert not chains.needs_control(chain)
    assert _outcome(chain) is Outcome.WRAPPED


def test_a_location_in_raw_utf8_is_followed_where_a_browser_goes(catalog: Catalog) -> None:
    """The engines keep a header's bytes as latin-1 characters; resolved as they were, a
    redirect to `/dest/目标` sent raw went to `/dest/%C3%A7%C2%9B…`, where no browser goes
    (an adversarial review). A browser reads the bytes as UTF-8."""
    chain = _chain()
    raw = "/dest/目标".encode().decode("latin-1")
    step = chains.on_response(chain, _resp("https://link.zhihu.com/?target=x", 302, "",
                                           location=raw), "start", catalog)
    assert step.url == "https://link.zhihu.com/dest/%E7%9B%AE%E6%A0%87"
    # Bytes that are no UTF-8 are read one character each, as before.
    chain = _chain()
    step = chains.on_response(chain, _resp("https://link.zhihu.com/?target=x", 302, "",
                                           location="/dest/\xff"), "start", catalog)
    assert step.url == "https://link.zhihu.com/dest/%C3%BF"


def test_meta_refresh_and_js_location_are_followed(catalog: Catalog) -> None:
    chain = _chain()
    step = chains.on_response(chain, _resp(
        "https://go.example/1", body=f'<meta http-equiv="refresh" content="0;url={TARGET}">'),
        "start", catalog)
    assert (step.action, step.via, step.url) == ("follow", "meta_refresh", TARGET)
    chain = _chain()
    step = chains.on_response(chain, _resp(
        "https://go.example/2", body=f'<script>window.location.href = "{TARGET}";</script>'),
        "start", catalog)
    assert (step.action, step.via, step.url) == ("follow", "js", TARGET)


def test_js_location_on_a_long_content_page_is_not_followed(catalog: Catalog) -> None:
    body = "<p>" + "正文" * 2000 + f'</p><script>location.href="{TARGET}"</script>'
    step = chains.on_response(_chain(), _resp("https://blog.example/1", body=body), "start",
                              catalog)
    assert step.action == "stop"


def test_warning_continue_is_followed_once_and_outcome_is_warned(catalog: Catalog) -> None:
    chain = _chain()
    warning = ('<title>即将离开</title><p>您即将离开本站，去往：' + TARGET + '</p>'
               f'<a href="{TARGET}">继续访问</a>')
    step = chains.on_response(chain, _resp("https://go.unknown.example/w", body=warning),
                              "start", catalog)
    assert (step.action, step.via, step.url) == ("follow", "continue", TARGET)
    step = chains.on_response(chain, _resp(TARGET), "continue", catalog)
    assert step.action == "stop"
    assert _outcome(chain) is Outcome.WARNED  # the target page does not erase the warning


def test_redirect_loop_and_hop_limit(catalog: Catalog) -> None:
    chain = _chain()
    a, b = "https://go.example/a", "https://go.example/b"
    assert chains.on_response(chain, _resp(a, 302, "", location=b), "start", catalog).url == b
    step = chains.on_response(chain, _resp(b, 302, "", location=a), "http", catalog)
    assert (step.action, step.failure) == ("fail", "redirect_loop")
    chain = _chain()
    for i in range(chains.MAX_HOPS):
        step = chains.on_response(chain, _resp(f"https://go.example/{i}", 302, "",
                                               location=f"https://go.example/{i + 1}"),
                                  "http", catalog)
    assert (step.action, step.failure) == ("fail", f"hop_limit:{chains.MAX_HOPS}")


@pytest.mark.parametrize(("status", "body", "failure"), [
    (429, "", "rate_limited:429"),
    (403, "<p>访问被拒绝</p>", "anti_bot:403"),
    (566, "", "anti_bot:566"),
    (200, "<title>安全验证</title><p>请输入验证码</p><input name=code>", "anti_bot:captcha"),
])
def test_refusals_of_the_auditor_are_errors_never_blocks(catalog: Catalog, status: int,
                                                         body: str, failure: str) -> None:
    chain = _chain()
    step = chains.on_response(chain, _resp("https://go.example/x", status, body), "start",
                              catalog)
    assert (step.action, step.failure) == ("fail", failure)
    chain.failure = step.failure
    chains.on_control(chain, 200)
    assert _outcome(chain) is Outcome.ERROR


def test_a_platform_interstitial_served_with_403_is_what_the_platform_showed(
        catalog: Catalog) -> None:
    # WeChat's block page as its endpoint might serve it, with 403: the catalog's own
    # signature reads it, so it is a block, not an anti-bot refusal (it was anti_bot:403).
    endpoint = ("https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi"
                "?midpagecode=3f2a9c&bancode=9c1e0d2b")
    examples = Path(__file__).resolve().parents[1] / "policies" / "examples" / "weixin"
    body = (examples / "weixin-blocked-phishing.html").read_text(encoding="utf-8")
    chain = _chain()
    step = chains.on_response(chain, _resp(endpoint, 403, body), "start", catalog)
    assert step.action == "stop"
    chains.on_control(chain, 200)
    assert _outcome(chain) is Outcome.BLOCKED
    # A CDN's refusal in generic words stays the auditor's refusal.
    chain = _chain()
    step = chains.on_response(chain, _resp("https://go.example/x", 403,
                                           "<h1>Sorry, this request has been blocked</h1>"),
                              "start", catalog)
    assert (step.action, step.failure) == ("fail", "anti_bot:403")


def test_failed_hop_with_failed_control_is_target_down(catalog: Catalog) -> None:
    chain = _chain()
    chains.on_failure(chain, TARGET, "connection_refused", "start")
    assert chains.needs_control(chain)
    chains.on_control(chain, None)
    obs = chains.observation(chain, run_id="r", method="crawl")
    assert (obs.outcome, obs.failure, obs.control_ok) == (Outcome.TARGET_DOWN, "connection_refused",
                                                         False)


def test_block_page_stops_with_reason(catalog: Catalog) -> None:
    chain = _chain()
    body = ('<title>已停止访问该网页</title><h1>已停止访问该网页</h1>'
            '<p>该网页包含侵权内容，被多人投诉。为维护绿色上网环境，已停止访问。</p>')
    step = chains.on_response(chain, _resp(
        "https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi?x=1", body=body),
        "start", catalog)
    assert step.action == "stop"
    obs = chains.observation(chain, run_id="r", method="crawl")
    assert (obs.outcome, obs.reason) == (Outcome.BLOCKED, "copyright")


def test_text_link_is_stripped_without_fetching() -> None:
    assert _outcome(_chain("text")) is Outcome.STRIPPED


def test_probe_ids_are_stable_and_distinct() -> None:
    a = chains.probe_id("zhihu", "post", TARGET)
    assert a == chains.probe_id("zhihu", "post", TARGET)
    assert a != chains.probe_id("zhihu", "comment", TARGET)


def test_a_seed_page_cannot_plan_unbounded_probes(catalog: Catalog) -> None:
    # A page of a million links planned 1.4 million probes (5.5 GB); ten 1 MB links ran
    # judging out of memory. Past the caps the seed is warned about, the rest planned.
    many = "".join(f'<a href="https://shop{i}.example.com/">{i}</a>'
                   for i in range(chains.MAX_PROBES_PER_SEED + 50))
    long_link = "https://shop.example.com/?q=" + "x" * chains.MAX_TARGET_URL_CHARS
    body = f'<html><body><a href="{long_link}">long</a>{many}</body></html>'.encode()
    plan = chains.plan_probes(body, "text/html", "https://www.zhihu.com/question/1",
                              source="zhihu", surface=SurfaceKind.POST, catalog=catalog)
    assert len(plan.probes) == chains.MAX_PROBES_PER_SEED
    assert plan.parse_issue == "long_links+too_many_links"
    assert all(len(p.target_url) <= chains.MAX_TARGET_URL_CHARS for p in plan.probes)
    warning = chains.seed_warning("https://www.zhihu.com/question/1", plan.parse_issue)
    assert warning["error"] == "parse_issue:long_links+too_many_links"
    from audit.measure.failures import known

    assert known(warning["error"])
