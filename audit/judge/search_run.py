"""A run's search barriers, judged: the records of search.jsonl (audit/measure/search.py)
read with audit/judge/search.py into each host's class per engine, each platform's classes
(its hosts together) and the search rules' verdicts. Pure: the graph, the reports and
`hulian diff` read a run's search barriers through `judge_search`, the verdicts go into
verdicts.jsonl with every other verdict (audit.judge.verdicts)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field

from audit.judge.search import (
    RobotsFetch,
    SearchBarriers,
    combine_hosts,
    engine_tokens,
    evaluate_search_rules,
    judge_robots,
    self_preference,
    token_companies,
)
from audit.model import PageDirective, SearchClass, SearchRecord, SitemapCheck, Verdict
from audit.policy.catalog import Catalog


@dataclass(frozen=True)
class HostSearch:
    """One measured host: its judgement, the robots.txt fetch as measured (final URL,
    status or failure, hops), its sitemaps and its evidence (WARC record ids)."""

    host: str
    platform: str | None
    barriers: SearchBarriers
    url: str
    status: int | None
    failure: str | None
    sitemaps: list[SitemapCheck]
    evidence: list[str]
    pages: list[str]  # the seed pages whose directives were read

    @property
    def reason(self) -> str | None:
        """Why the file decided nothing, if it did not (a status, a failure word)."""
        return self.failure or (None if self.status is None or 200 <= self.status < 300
                                else f"http_{self.status}")


@dataclass
class SearchJudgement:
    tokens: list[str]
    hosts: list[HostSearch] = field(default_factory=list)
    # platform -> token -> class, its hosts together (audit.judge.search.combine_hosts)
    platforms: dict[str, dict[str, SearchClass]] = field(default_factory=dict)
    # platform -> tokens of the rivals' engines its own company's engine is preferred to
    self_preferring: dict[str, list[str]] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.hosts)

    def platform_hosts(self, platform: str) -> list[HostSearch]:
        return [h for h in self.hosts if h.platform == platform]


def fetch_of(record: SearchRecord) -> RobotsFetch:
    """The judge's view of a measured robots.txt fetch."""
    robots = record.robots
    assert robots is not None
    body = base64.b64decode(robots.body_base64) if robots.body_base64 else b""
    return RobotsFetch(status=robots.status, body=body, failure=robots.failure,
                       url=robots.final_url or robots.url, content_type=robots.content_type,
                       truncated=robots.truncated, size=robots.size)


def judge_search(records: Iterable[SearchRecord], catalog: Catalog) -> SearchJudgement:
    """Every host of a run, every platform, every search verdict."""
    tokens = engine_tokens(catalog)
    robots: dict[str, SearchRecord] = {}
    directives: dict[str, list[tuple[str, list[PageDirective]]]] = {}
    pages: dict[str, list[str]] = {}
    for record in records:
        if record.kind == "robots" and record.robots is not None:
            robots[record.host] = record  # a resumed run's later record wins
        elif record.kind == "page":
            directives.setdefault(record.host, []).append((record.page_url or "/",
                                                           record.directives))
            pages.setdefault(record.host, []).append(record.page_url or "")
    judged = SearchJudgement(tokens)
    for host, record in sorted(robots.items()):
        fetch = record.robots
        assert fetch is not None
        barriers = judge_robots(host, fetch_of(record), tokens,
                                pages=directives.get(host, ()))
        evidence = [h.warc_record_id for h in fetch.hops if h.warc_record_id]
        evidence += [s.warc_record_id for s in record.sitemaps if s.warc_record_id]
        judged.hosts.append(HostSearch(
            host=host, platform=record.platform, barriers=barriers, url=fetch.url,
            status=fetch.status, failure=fetch.failure, sitemaps=list(record.sitemaps),
            evidence=evidence, pages=pages.get(host, [])))
    companies = token_companies(catalog)
    for platform in sorted({h.platform for h in judged.hosts if h.platform}):
        hosts = judged.platform_hosts(platform)
        classes = combine_hosts([h.barriers for h in hosts], tokens)
        judged.platforms[platform] = classes
        known = catalog.platforms.get(platform)
        preference = self_preference(classes, known.company if known else None, companies)
        if preference is not None and preference.prefers:
            judged.self_preferring[platform] = sorted(preference.worse)
        if known is not None:
            judged.verdicts += evaluate_search_rules(
                platform, [h.barriers for h in hosts], catalog,
                {h.host: h.evidence for h in hosts})
    return judged


def class_table(judged: SearchJudgement) -> dict[tuple[str, str], str]:
    """(platform, engine token) -> class: what `hulian diff` compares (audit.history.diff
    .RunData.search) and the history store keeps (search_classes)."""
    return {(platform, token): cls.value for platform, classes in judged.platforms.items()
            for token, cls in classes.items()}


def search_verdicts(records: Iterable[SearchRecord], catalog: Catalog) -> list[Verdict]:
    return judge_search(records, catalog).verdicts
