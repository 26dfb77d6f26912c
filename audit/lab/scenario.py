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

from audit.model import BlockReason, Category, Identifier, Lang, Outcome, SurfaceKind, Text
from audit.policy.catalog import PolicyError, PolicyProblem, _node_at, _read_yaml, _validate
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


class Scenario(_Model):
    name: str = "lab"
    description: str | None = None
    companies: list[LabCompany] = Field(min_length=1)
    platforms: list[LabPlatform] = Field(min_length=1)
    edges: list[Edge] = Field(default_factory=list)
    page_faults: list[PageFault] = Field(default_factory=list)

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
        data, node = _read_yaml(path, content)
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
