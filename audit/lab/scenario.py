"""The lab's scenario: fictional companies and platforms, and for each source -> target link
(per surface) the outcome the source applies. Loaded from YAML (docs/lab.md documents the
format); errors name the file, line and field like the policy loader does.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from audit.model import (
    BlockReason,
    Category,
    Citation,
    Identifier,
    Lang,
    Outcome,
    ProductToken,
    SearchClass,
    SearchEngine,
    SurfaceKind,
    Text,
)
from audit.policy.catalog import (
    PolicyError,
    PolicyProblem,
    _node_at,
    _validate,
    load_catalog,
    read_yaml,
    shipped_policies_dir,
)
from audit.web.urls import registrable_domain

DEFAULT_SCENARIO = Path(__file__).resolve().parent / "scenarios" / "default.yaml"


class ScenarioError(PolicyError):
    """The scenario file is invalid; `problems` names each file, line and field."""


class Style(StrEnum):
    """Which real platform family a fictional platform's interstitials imitate."""

    WECHAT = "wechat"  # weixin110 style: 将要访问 / 非X官方网页 / 已停止访问该网页 (zh)
    ZHIHU = "zhihu"  # link.zhihu.com style: 即将离开X (zh)
    WEIBO = "weibo"  # t.cn style: 将要访问 + div.desc, "网页链接" labels (zh)
    EN = "en"  # international style: "You are about to leave X" / "No access to this page"


class Fault(StrEnum):
    """How a wrapper makes the measurement fail (outcome `error`)."""

    HANG = "hang"  # never answers (the connection stays open for 300 s)
    RESET = "reset"  # closes the connection with a TCP RST before answering
    REDIRECT_LOOP = "redirect_loop"  # 302 between two URLs forever
    ANTI_BOT_403 = "anti_bot_403"  # 403 "访问被拒绝"
    RATE_LIMIT_429 = "rate_limit_429"  # 429 with Retry-After: 1, always
    CAPTCHA = "captcha"  # 200 page asking for a captcha


class PageFaultKind(StrEnum):
    """How a seed (content) page is served badly."""

    GBK = "gbk"  # GBK bytes, Content-Type charset=gbk
    GBK_LYING_META = "gbk_lying_meta"  # GBK bytes under <meta charset="utf-8">, no header charset
    HUGE_20MB = "huge_20mb"  # links first, then padding to more than 20 MiB


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Host names: lowercase labels under the lab's own top-level name.
HostName = str


class LabCompany(_Model):
    id: Identifier
    name: Text


class LabPlatform(_Model):
    id: Identifier
    name: Text
    company: Identifier
    category: Category
    host: HostName = Field(pattern=r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.lab$",
                           description="where its pages are served")
    wrapper_host: HostName = Field(pattern=r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.lab$",
                                   description="its link redirector (/out?target=...)")
    style: Style
    surfaces: list[SurfaceKind] = Field(min_length=1)
    # Interface languages its interstitials are served in, chosen by the request's
    # Accept-Language (the first is the default). Only the wechat style has all three.
    languages: list[Lang] = Field(default_factory=list)

    @property
    def domains(self) -> list[str]:
        """Registrable domains of its hosts (the platform owns everything under them)."""
        found: list[str] = []
        for host in (self.host, self.wrapper_host):
            domain = registrable_domain(host) or host
            if domain not in found:
                found.append(domain)
        return found

    @property
    def lang(self) -> Literal["zh", "en"]:
        return "en" if self.style is Style.EN else "zh"

    @property
    def ui_languages(self) -> list[Lang]:
        return self.languages or [Lang.EN if self.style is Style.EN else Lang.ZH_HANS]


class Edge(_Model):
    source: Identifier
    surface: SurfaceKind
    target: Identifier
    outcome: Outcome
    via: Literal["http", "meta_refresh", "js", "direct"] | None = Field(
        default=None, description="wrapped: http|meta_refresh|js; target_down: direct|http")
    reason: BlockReason | None = Field(default=None, description="blocked: the stated reason")
    fault: Fault | None = Field(default=None, description="error: how the wrapper fails")
    # The wording of the wrapper's interstitial: the platform's usual one (in the catalog the
    # lab writes), or a new one that no signature knows, which hulian must read from the
    # page's structure (warned, copy_only, blocked) or report as `unrecognized`.
    wording: Literal["catalog", "new"] = "catalog"
    note: str | None = None

    @property
    def id(self) -> str:
        """Stable edge id, used as the wrapper's `e` parameter."""
        return f"{self.source}.{self.surface.value}.{self.target}"

    @property
    def item(self) -> int:
        """Item number of the target page this edge links (stable: from the edge id)."""
        return zlib.crc32(self.id.encode()) % 90000 + 10000


class PageFault(_Model):
    platform: Identifier
    surface: SurfaceKind
    fault: PageFaultKind


class LabEngine(_Model):
    """A fictional search engine of a lab company (so that lab platforms can prefer their own
    group's engine); written into the lab's policies/search_engines.yaml."""

    id: Identifier
    name: Text
    company: Identifier
    token: ProductToken

    def engine(self) -> SearchEngine:
        return SearchEngine(id=self.id, name=self.name, company=self.company, token=self.token,
                            cite=[Citation(fact="hulian lab (fictional)")])


class LabRobots(_Model):
    """What one lab host serves at /robots.txt, and the class each engine must get.

    `expect` maps product tokens to classes; `"*"` is every engine not named (the shipped
    catalog's and the lab's). Hosts without an entry serve `User-agent: *` / `Allow: /`
    (open). Every file must leave hulian's own crawler (User-Agent `hulian/...`) free to
    fetch what the audit fetches: a lab file that shuts `*` out also has a `hulian` group."""

    host: HostName
    body: str = ""
    status: int = Field(default=200, ge=200, le=599)
    content_type: str = "text/plain; charset=utf-8"
    crlf: bool = False  # line ends CRLF
    bom: bool = False  # a UTF-8 byte order mark first
    # Comment lines after `body` up to this many bytes, then `tail` (which a crawler parsing
    # 500 KiB never reads).
    pad_to: int | None = Field(default=None, gt=0, le=8 * 1024 * 1024)
    tail: str = ""
    # /robots.txt answers 301 to this path on the same host, which serves the file.
    redirect: str | None = Field(default=None, pattern=r"^/[A-Za-z0-9._/-]*$")
    # Sitemap paths served on this host (the file lists them as it likes): path -> status.
    sitemaps: dict[str, int] = Field(default_factory=dict)
    # `<meta name=NAME content=CONTENT>` on the platform's seed pages (noindex and the like).
    page_meta: dict[str, str] = Field(default_factory=dict)
    expect: dict[str, SearchClass]
    note: str | None = None


class Scenario(_Model):
    name: str = "lab"
    description: str | None = None
    companies: list[LabCompany] = Field(min_length=1)
    platforms: list[LabPlatform] = Field(min_length=1)
    edges: list[Edge] = Field(default_factory=list)
    page_faults: list[PageFault] = Field(default_factory=list)
    search_engines: list[LabEngine] = Field(default_factory=list)
    robots: list[LabRobots] = Field(default_factory=list)

    def hosts(self) -> list[tuple[str, str]]:
        """(host, platform id) of every lab host, content host then wrapper host."""
        return [(h, p.id) for p in self.platforms for h in (p.host, p.wrapper_host)]

    def platform(self, platform_id: str) -> LabPlatform:
        for p in self.platforms:
            if p.id == platform_id:
                return p
        raise KeyError(platform_id)


# Outcomes whose interstitial can come in a wording no signature knows.
_NEW_WORDING = (Outcome.WARNED, Outcome.COPY_ONLY, Outcome.BLOCKED, Outcome.UNRECOGNIZED)

# Which fields an outcome needs, and which it may have.
_VIA_FOR = {Outcome.WRAPPED: ("http", "meta_refresh", "js"),
            Outcome.TARGET_DOWN: ("direct", "http")}


def _semantic_problems(s: Scenario) -> Iterable[tuple[tuple[int | str, ...], str]]:
    """Cross-references the schema cannot express, as (location, message)."""
    company_ids = {c.id for c in s.companies}
    seen: set[str] = set()
    for i, c in enumerate(s.companies):
        if c.id in seen:
            yield ("companies", i, "id"), f"duplicate company id {c.id!r}"
        seen.add(c.id)
    platforms: dict[str, LabPlatform] = {}
    hosts: dict[str, str] = {}
    domains: dict[str, str] = {}
    for i, p in enumerate(s.platforms):
        if p.id in platforms:
            yield ("platforms", i, "id"), f"duplicate platform id {p.id!r}"
        platforms[p.id] = p
        if p.company not in company_ids:
            yield ("platforms", i, "company"), f"unknown company {p.company!r}"
        for name in ("host", "wrapper_host"):
            host = getattr(p, name)
            if host in hosts and hosts[host] != p.id:
                yield ("platforms", i, name), f"host {host!r} is also used by {hosts[host]!r}"
            hosts.setdefault(host, p.id)
        for domain in p.domains:
            if domain in domains and domains[domain] != p.id:
                yield ("platforms", i, "host"), (
                    f"domain {domain!r} is also owned by {domains[domain]!r} "
                    "(each platform needs its own <name>.lab)")
            domains.setdefault(domain, p.id)
    pairs: set[tuple[str, str, str]] = set()
    for i, e in enumerate(s.edges):
        loc: tuple[int | str, ...] = ("edges", i)
        source = platforms.get(e.source)
        if source is None:
            yield (*loc, "source"), f"unknown platform {e.source!r}"
        elif e.surface not in source.surfaces:
            yield (*loc, "surface"), (f"platform {e.source!r} has no surface {e.surface.value!r} "
                                      f"(it has {', '.join(x.value for x in source.surfaces)})")
        if e.target not in platforms:
            yield (*loc, "target"), f"unknown platform {e.target!r}"
        if e.target == e.source:
            yield (*loc, "target"), "a platform's links to itself are internal, not edges"
        key = (e.source, e.surface.value, e.target)
        if key in pairs:
            yield loc, f"duplicate edge {e.source} -> {e.target} on {e.surface.value}"
        pairs.add(key)
        allowed_via = _VIA_FOR.get(e.outcome, ())
        if e.outcome is Outcome.WRAPPED and e.via is None:
            yield (*loc, "via"), "a wrapped edge needs 'via' (http, meta_refresh or js)"
        if e.via is not None and e.via not in allowed_via:
            yield (*loc, "via"), (f"'via: {e.via}' does not apply to outcome {e.outcome.value!r}"
                                  + (f" (use {', '.join(allowed_via)})" if allowed_via else ""))
        if e.outcome is Outcome.BLOCKED and e.reason is None and e.wording == "catalog":
            yield (*loc, "reason"), "a blocked edge needs 'reason' (or 'wording: new')"
        if e.outcome is not Outcome.BLOCKED and e.reason is not None:
            yield (*loc, "reason"), "'reason' applies to blocked edges only"
        if e.outcome is Outcome.UNRECOGNIZED and e.wording != "new":
            yield (*loc, "wording"), "an unrecognized edge is served in a new wording: add " \
                                     "'wording: new'"
        if e.wording == "new" and e.outcome not in _NEW_WORDING:
            yield (*loc, "wording"), (f"'wording: new' applies to "
                                      f"{', '.join(o.value for o in _NEW_WORDING)} edges")
        if (e.outcome is Outcome.ERROR) != (e.fault is not None):
            yield (*loc, "fault"), ("an error edge needs 'fault'" if e.fault is None
                                    else "'fault' applies to error edges only")
    for i, engine in enumerate(s.search_engines):
        if engine.company not in company_ids:
            yield ("search_engines", i, "company"), f"unknown company {engine.company!r}"
    tokens = [e.token.lower() for e in s.search_engines]
    for i, engine in enumerate(s.search_engines):
        if tokens.count(engine.token.lower()) > 1:
            yield ("search_engines", i, "token"), f"token {engine.token!r} named twice"
    robots_hosts: set[str] = set()
    for i, r in enumerate(s.robots):
        if r.host not in hosts:
            yield ("robots", i, "host"), f"unknown host {r.host!r} (not a platform's host)"
        if r.host in robots_hosts:
            yield ("robots", i, "host"), f"a second robots.txt for {r.host!r}"
        robots_hosts.add(r.host)
        if "*" not in r.expect:
            yield ("robots", i, "expect"), "'expect' needs '*' (every engine not named)"
        if r.page_meta and r.host not in {p.host for p in s.platforms}:
            yield ("robots", i, "page_meta"), "seed pages are served on a platform's host"
        if r.tail and r.pad_to is None:
            yield ("robots", i, "tail"), "'tail' follows the padding: set 'pad_to'"
    faults: set[tuple[str, str]] = set()
    for i, f in enumerate(s.page_faults):
        owner = platforms.get(f.platform)
        if owner is None:
            yield ("page_faults", i, "platform"), f"unknown platform {f.platform!r}"
        elif f.surface not in owner.surfaces:
            yield ("page_faults", i, "surface"), (
                f"platform {f.platform!r} has no surface {f.surface.value!r}")
        if (f.platform, f.surface.value) in faults:
            yield ("page_faults", i), "one page fault per page"
        faults.add((f.platform, f.surface.value))


def load_scenario(path: Path | None = None) -> Scenario:
    """Read and check a scenario file (None: the shipped default). Raises ScenarioError."""
    path = DEFAULT_SCENARIO if path is None else path
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ScenarioError([PolicyProblem(path, None, None, f"cannot read: {exc.strerror}")]
                            ) from None
    try:
        data, node = read_yaml(path, content)
        if data is None:
            raise ScenarioError([PolicyProblem(path, None, None, "empty file")])
        scenario = _validate(Scenario, data, path, node)
    except ScenarioError:
        raise
    except PolicyError as exc:
        raise ScenarioError(exc.problems) from None
    problems = [
        PolicyProblem(path, _node_at(node, loc).start_mark.line + 1 if node is not None else None,
                      ".".join(map(str, loc)), message)
        for loc, message in _semantic_problems(scenario)
    ]
    if problems:
        raise ScenarioError(problems)
    return scenario


def truth(scenario: Scenario) -> list[dict[str, str]]:
    """The ground truth: one row per edge, sorted (source, surface, target)."""
    rows = [{"source": e.source, "surface": e.surface.value, "target": e.target,
             "outcome": e.outcome.value} for e in scenario.edges]
    return sorted(rows, key=lambda r: (r["source"], r["surface"], r["target"]))


# The class of an engine that no entry names on a host without its own robots.txt.
DEFAULT_ROBOTS = "User-agent: *\nAllow: /\n"


def search_truth(scenario: Scenario,
                 tokens: Iterable[str] | None = None) -> list[dict[str, object]]:
    """The search ground truth: one row per lab host, {host, platform, engines: {token:
    class}} for `tokens` (default: the shipped catalog's engines) and the lab's engines,
    sorted by host."""
    if tokens is None:
        tokens = [e.token for e in load_catalog([shipped_policies_dir()]).search_engines.values()]
    tokens = list(dict.fromkeys([*tokens, *(e.token for e in scenario.search_engines)]))
    entries = {r.host: r for r in scenario.robots}
    rows: list[dict[str, object]] = []
    for host, platform in sorted(scenario.hosts()):
        entry = entries.get(host)
        expect = entry.expect if entry else {"*": SearchClass.OPEN}
        lowered = {k.lower(): v for k, v in expect.items()}
        rows.append({"host": host, "platform": platform,
                     "engines": {t: lowered.get(t.lower(), expect["*"]).value
                                 for t in tokens}})
    return rows
