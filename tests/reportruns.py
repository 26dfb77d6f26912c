"""Run bundles built by hand for the report tests and the report benchmark: fixed ids, times
and vantage, so that a report of them is byte-for-byte reproducible."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from audit import __version__
from audit.evidence.bundle import BundleWriter, seal
from audit.judge.evaluate import evaluate_observation
from audit.measure.chain import probe_id
from audit.model import BlockReason, Hop, Observation, Outcome, PageFacts, PageKind, SurfaceKind
from audit.policy.catalog import Catalog

START = datetime(2026, 11, 28, 3, 0, 0, tzinfo=UTC)
XSS = '<script>window.__pwned=1;alert(1)</script><img src=x onerror="window.__pwned=2">'


def observation(source: str, surface: SurfaceKind, target_url: str, target: str | None,
                outcome: Outcome, *, n: int = 0, title: str | None = None,
                excerpt: str | None = None, signature: str | None = None,
                reason: BlockReason | None = None, hops: list[Hop] | None = None,
                failure: str | None = None, control_ok: bool | None = None) -> Observation:
    pid = probe_id(source, surface.value, target_url)
    if hops is None:
        hops = [] if outcome is Outcome.STRIPPED else [Hop(
            url=target_url, status=200, via="start", elapsed_ms=12.5,
            body_sha256="0" * 64, warc_record_id=f"urn:uuid:00000000-0000-4000-8000-{n:012d}")]
    page = None if outcome is Outcome.STRIPPED else PageFacts(
        kind={Outcome.BLOCKED: PageKind.BLOCKED, Outcome.COPY_ONLY: PageKind.COPY_ONLY,
              Outcome.WARNED: PageKind.WARNED}.get(outcome, PageKind.CONTENT),
        signature=signature, title=title, excerpt=excerpt, reason=reason)
    return Observation(
        id=f"obs{n:08d}", probe_id=pid, run_id="fixed", source=source, surface=surface,
        target_url=target_url, target_platform=target, started_at=START + timedelta(seconds=n),
        runtime_s=0.2, rendered_as="text" if outcome is Outcome.STRIPPED else "anchor",
        hops=hops, final_url=hops[-1].url if hops else None, page=page,
        control_ok=control_ok, failure=failure, outcome=outcome, reason=reason,
        evidence=[h.warc_record_id for h in hops if h.warc_record_id])


def write_run(root: Path, run_id: str, observations: Iterable[Observation],
              catalog: Catalog, *, graph_rules: bool = False) -> Path:
    """A sealed bundle of these observations and the catalog's verdicts on them (with
    graph_rules, the cross-target rules' after them, as a run writes them: in the order of
    their stream)."""
    writer = BundleWriter(root, run_id=run_id, policy_digest=catalog.digest,
                          config={"robots": "obey", "allow_private": False})
    held: list[Observation] = []
    for obs in observations:  # streamed: the benchmark writes 100,000
        writer.add_observation(obs)
        for verdict in evaluate_observation(obs, catalog):
            writer.add_verdict(verdict)
        if graph_rules:
            held.append(obs)
    if graph_rules:
        from audit.judge.cross import iter_graph_verdicts

        for verdict in iter_graph_verdicts(held, catalog):
            writer.add_verdict(verdict)
    manifest = writer.finish()
    manifest.started_at = START
    manifest.finished_at = START + timedelta(minutes=5)
    manifest.tool_version = __version__
    manifest.vantage = {"hostname": "test-vantage", "system": "Linux", "python": "3.11"}
    seal(writer.path, manifest)
    return writer.path


def small_run(root: Path, catalog: Catalog, run_id: str = "20261128T030000Z-small") -> Path:
    """One link of each interesting kind between real catalog platforms."""
    im = SurfaceKind.IM_PRIVATE
    obs = [
        observation("weixin", im, "https://item.taobao.com/item.htm?id=1", "taobao",
                    Outcome.COPY_ONLY, n=1, title="微信 · 提示", signature="weixin/copy-to-browser",
                    excerpt="如需浏览，请长按网址复制后使用浏览器访问"),
        observation("weixin", im, "https://www.douyin.com/video/2", "douyin", Outcome.BLOCKED,
                    n=2, title="已停止访问该网页", signature="weixin/blocked",
                    excerpt="已停止访问该网页 据用户投诉及微信安全中心检测，该网页包含诱导分享",
                    reason=BlockReason.REWARD_SHARING),
        observation("weixin", im, "https://phish.example.com/login", None, Outcome.BLOCKED,
                    n=3, title="已停止访问该网页", signature="weixin/blocked",
                    excerpt="该网页包含钓鱼内容", reason=BlockReason.PHISHING),
        observation("weixin", im, "https://www.jd.com/", "jd", Outcome.DIRECT, n=4,
                    title="京东"),
        observation("zhihu", SurfaceKind.POST, "https://www.bilibili.com/video/BV1",
                    "bilibili", Outcome.WARNED, n=5, title="即将离开知乎",
                    signature="zhihu/leave-warning", excerpt="即将离开知乎 请注意账号财产安全"),
        observation("zhihu", SurfaceKind.POST, "https://weibo.com/1", "weibo", Outcome.WRAPPED,
                    n=6, title="微博"),
        observation("weibo", SurfaceKind.POST, "https://www.zhihu.com/question/1", "zhihu",
                    Outcome.STRIPPED, n=7),
        observation("weibo", SurfaceKind.POST, "https://down.example.com/", None,
                    Outcome.TARGET_DOWN, n=8, control_ok=False, failure="connect_refused"),
        unrecognized_observation(9),
    ]
    return write_run(root, run_id, obs, catalog)


WECHAT_ENDPOINT = "https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi"


def unrecognized_observation(n: int) -> Observation:
    """A WeChat interception page in a wording nobody knows: the review queue's entry."""
    obs = observation("weixin", SurfaceKind.IM_GROUP, "https://item.taobao.com/item.htm?id=9",
                      "taobao", Outcome.UNRECOGNIZED, n=n, title="提示",
                      hops=[Hop(url=WECHAT_ENDPOINT + "?bancode=9", status=200, via="start",
                                warc_record_id=f"urn:uuid:00000000-0000-4000-8000-{n:012d}")])
    assert obs.page is not None
    obs.page.kind = PageKind.UNRECOGNIZED
    obs.page.endpoint = "weixin/newredirectconfirmcgi"
    obs.page.signature = "structure/target_shown_without_instruction"
    obs.page.headline = "链接安全检测中"
    obs.page.excerpt = "链接安全检测中 https://item.taobao.com/item.htm?id=9 检测结果将以通知形式发送给您。"
    return obs


def hostile_run(root: Path, catalog: Catalog) -> Path:
    """Every place a page can put text into the report carries a script payload."""
    im = SurfaceKind.IM_PRIVATE
    js_url = "javascript:window.__pwned=3;alert(3)//https://item.taobao.com/"
    hops = [Hop(url="https://link.example.com/?u=\"><script>window.__pwned=4</script>",
                status=302, location="javascript:alert(5)", via="start",
                warc_record_id='urn:uuid:"><script>window.__pwned=6</script>'),
            Hop(url="data:text/html,<script>alert(7)</script>", status=200, via="http")]
    obs = [
        observation("weixin", im, js_url, "taobao", Outcome.COPY_ONLY, n=1, title=XSS,
                    excerpt=XSS + " 如需浏览，请长按网址复制后使用浏览器访问",
                    signature=f"weixin/{XSS}", hops=hops),
        observation("weixin", im, f"https://www.douyin.com/{XSS}", "douyin", Outcome.BLOCKED,
                    n=2, title=XSS, excerpt=XSS, reason=BlockReason.RUMOR),
        observation("zhihu", SurfaceKind.POST, "https://x.example.com/a?b=</style><script>alert(8)</script>",
                    None, Outcome.STRIPPED, n=3),
    ]
    path = write_run(root, "20261128T030000Z-hostile", obs, catalog)
    return path


def errors_run(root: Path, catalog: Catalog) -> Path:
    obs = [observation("weixin", SurfaceKind.IM_PRIVATE, f"https://item.taobao.com/{i}",
                       "taobao", Outcome.ERROR, n=i, failure="timeout", hops=[])
           for i in range(5)]
    return write_run(root, "20261128T030000Z-errors", obs, catalog)


def empty_run(root: Path, catalog: Catalog) -> Path:
    return write_run(root, "20261128T030000Z-empty", [], catalog)


PAIRS = [("weixin", SurfaceKind.IM_GROUP), ("weixin", SurfaceKind.IM_PRIVATE),
         ("qq", SurfaceKind.IM_GROUP), ("zhihu", SurfaceKind.POST),
         ("weibo", SurfaceKind.POST), ("douyin", SurfaceKind.COMMENT),
         ("xiaohongshu", SurfaceKind.POST), ("baidu", SurfaceKind.SEARCH),
         ("feishu", SurfaceKind.IM_GROUP), ("taobao", SurfaceKind.COMMENT)]
TARGETS = ["taobao", "jd", "pinduoduo", "douyin", "bilibili", "zhihu", "weibo", "meituan",
           "ctrip", "kuaishou", "xiaohongshu", "baidu", "weixin", "qq", "csdn"]
OUTCOMES = [Outcome.DIRECT, Outcome.WRAPPED, Outcome.WARNED, Outcome.COPY_ONLY,
            Outcome.BLOCKED, Outcome.STRIPPED, Outcome.DIVERTED, Outcome.TARGET_DOWN,
            Outcome.ERROR]


def synthetic_observations(count: int, *, seed: int = 7,
                           weights: list[float] | None = None) -> Iterable[Observation]:
    """`count` observations over real catalog platforms, a mix of every outcome."""
    rng = random.Random(seed)
    weights = weights or [30, 20, 12, 10, 10, 6, 4, 4, 4]
    for n in range(count):
        source, surface = PAIRS[n % len(PAIRS)]
        target = rng.choice(TARGETS)
        outcome = rng.choices(OUTCOMES, weights)[0]
        url = f"https://www.{target}.com/item/{n}"
        hops = None if outcome is not Outcome.WARNED else [
            Hop(url=f"https://link.{source}.com/?target={url}", status=200, via="start",
                warc_record_id=f"urn:uuid:10000000-0000-4000-8000-{n:012d}"),
            Hop(url=url, status=200, via="continue",
                warc_record_id=f"urn:uuid:20000000-0000-4000-8000-{n:012d}")]
        yield observation(
            source, surface, url, target, outcome, n=n, hops=hops,
            title="已停止访问该网页" if outcome is Outcome.BLOCKED else f"页面 {n}",
            excerpt=("如需浏览，请长按网址复制后使用浏览器访问" if outcome is Outcome.COPY_ONLY
                     else None),
            signature=f"{source}/interstitial" if outcome in (
                Outcome.WARNED, Outcome.COPY_ONLY, Outcome.BLOCKED) else None,
            failure="timeout" if outcome is Outcome.ERROR else None,
            control_ok=False if outcome is Outcome.TARGET_DOWN else None)


def large_run(root: Path, catalog: Catalog, count: int, run_id: str) -> Path:
    return write_run(root, run_id, synthetic_observations(count), catalog)
