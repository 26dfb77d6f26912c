"""The reports' search-barrier section (issue 15): which search engine may index which
platform, as the HTML/PDF table of engines x platforms, and the failed search verdicts as
rows of findings.csv and cases of junit.xml.

Plain data from the run's search.jsonl, judged by audit.judge.search_run.judge_search with
the run's catalog: the same function and catalog that wrote the search verdicts into
verdicts.jsonl (audit/judge/verdicts.py), so the verdicts here are the bundle's (same ids,
same statuses; findings.json's `cross_target` lists the failed ones).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from audit.judge.search import reason_text, search_verdict_id
from audit.judge.search_run import HostSearch, SearchJudgement, judge_search
from audit.model import SearchClass, SearchRecord, Status, Text, Verdict
from audit.policy.catalog import Catalog

# A search class's colour is that of the link outcome it is closest to in effect for a user
# looking for the platform in that engine (audit/judge/outcomes.py owns the colours, the
# report's CSS classes `o-<outcome>`): readable -> direct, some paths kept out -> warned,
# shut out by a published rule -> blocked, told not to index -> stripped, robots.txt that
# could not be read (nobody published anything) -> target_down's grey.
CLASS_OUTCOME: dict[str, str] = {
    SearchClass.OPEN.value: "direct",
    SearchClass.PARTIAL.value: "warned",
    SearchClass.CLOSED.value: "blocked",
    SearchClass.NOINDEX.value: "stripped",
    SearchClass.UNREACHABLE.value: "target_down",
}
CLASS_ORDER = [SearchClass.OPEN, SearchClass.PARTIAL, SearchClass.NOINDEX,
               SearchClass.CLOSED, SearchClass.UNREACHABLE]
SURFACE = "search_barrier"  # the `surface` of a search verdict's row in findings.csv (not
# SurfaceKind.SEARCH, which is a platform's search results page)


@dataclass(frozen=True)
class EngineColumn:
    token: str
    engine: str  # catalog id
    name: Text
    company: str
    # share of the measured platforms it may index (open or partial); None: none measured
    may_index: float | None


@dataclass(frozen=True)
class HostRow:
    """One measured host, with the pointers to its evidence: the search.jsonl record id and
    the WARC record ids of its robots.txt fetch (each hop) and sitemap checks."""

    host: str
    platform: str | None
    url: str
    status: int | None
    failure: str | None
    classes: dict[str, str]  # token -> class
    discriminates: bool
    reasons: list[Text]
    noindex: dict[str, list[str]]
    sitemaps: int
    record: str  # the id of its line in search.jsonl
    evidence: list[str]

    @property
    def by_class(self) -> list[tuple[str, list[str]]]:
        """(class, tokens) for each class some engine gets, in CLASS_ORDER."""
        return [(c.value, tokens) for c in CLASS_ORDER
                if (tokens := [t for t, k in self.classes.items() if k == c.value])]


@dataclass(frozen=True)
class SelfPreferring:
    platform: str
    own: dict[str, str]  # the own company's engines: token -> class
    worse: dict[str, str]  # rivals' engines less open than the best own one


@dataclass
class SearchSection:
    engines: list[EngineColumn]
    platforms: list[str]  # measured platforms, in order
    cells: dict[tuple[str, str], str]  # (platform, token) -> class
    hosts: list[HostRow]
    self_preferring: list[SelfPreferring]
    verdicts: list[Verdict]  # every search verdict, worst first
    # verdict id -> the host it is about (search-same-class) or the platform's hosts
    verdict_hosts: dict[str, list[str]] = field(default_factory=dict)
    colour: dict[str, str] = field(default_factory=lambda: dict(CLASS_OUTCOME))
    rules: list[str] = field(default_factory=list)  # the catalog's search rules
    guidance: set[str] = field(default_factory=set)  # those standing on guidance only

    @property
    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status in (Status.FAIL, Status.EXEMPT)]

    @property
    def discriminating(self) -> list[HostRow]:
        return [h for h in self.hosts if h.discriminates]

    @property
    def notable(self) -> list[HostRow]:
        """Hosts that discriminate, or whose robots.txt was not read as served (a status,
        a failure, HTML, a cut): the PDF's list (the HTML lists every host)."""
        return [h for h in self.hosts if h.discriminates or h.reasons or h.noindex]

    def host_cells(self, platform: str, token: str) -> list[str]:
        """`host=class` of the platform's hosts for one engine (a cell's tooltip)."""
        return [f"{h.host}={h.classes[token]}" for h in self.hosts
                if h.platform == platform and token in h.classes]

    def robots_urls(self, verdict: Verdict) -> list[str]:
        urls = {h.host: h.url for h in self.hosts}
        return [urls[h] for h in self.verdict_hosts.get(verdict.id, []) if h in urls]


def search_section(records: Iterable[SearchRecord], catalog: Catalog) -> SearchSection | None:
    """The section of a run, None when the run measured no search barriers (a bundle made
    before they were, or a capture)."""
    judged = judge_search(records, catalog)
    if not judged:
        return None
    return _section(judged, catalog)


_STATUS_ORDER = {Status.FAIL: 0, Status.EXEMPT: 1, Status.INCONCLUSIVE: 2, Status.PASS: 3}


def _section(judged: SearchJudgement, catalog: Catalog) -> SearchSection:
    engines = {e.token: e for e in catalog.search_engines.values()}
    platforms = sorted(judged.platforms)
    columns = []
    for token in judged.tokens:
        measured = [judged.platforms[p][token] for p in platforms if token in judged.platforms[p]]
        share = (sum(1 for c in measured if c.openness > 0) / len(measured)) if measured else None
        engine = engines[token]
        columns.append(EngineColumn(token, engine.id, engine.name, engine.company, share))
    cells = {(p, t): c.value for p, classes in judged.platforms.items()
             for t, c in classes.items()}
    hosts = [_host_row(h) for h in judged.hosts]
    preferring = []
    companies = {t: e.company for t, e in engines.items()}
    for platform, worse in sorted(judged.self_preferring.items()):
        company = catalog.company_of(platform)
        classes = judged.platforms[platform]
        preferring.append(SelfPreferring(
            platform,
            own={t: c.value for t, c in classes.items() if companies.get(t) == company},
            worse={t: classes[t].value for t in worse if t in classes}))
    verdict_hosts: dict[str, list[str]] = {}
    for platform in platforms:
        on = [h.host for h in judged.platform_hosts(platform)]
        for rule in catalog.rules.values():
            if rule.scope != "search":
                continue
            verdict_hosts[search_verdict_id(rule.id, platform, None)] = on
            for host in on:
                verdict_hosts[search_verdict_id(rule.id, platform, host)] = [host]
    verdicts = sorted(judged.verdicts, key=lambda v: (_STATUS_ORDER.get(v.status, 4),
                                                      -v.severity.rank, v.rule_id, v.source,
                                                      v.id))
    rules = sorted(r.id for r in catalog.rules.values() if r.scope == "search")
    return SearchSection(columns, platforms, cells, hosts, preferring, verdicts,
                         verdict_hosts, rules=rules,
                         guidance={r for r in rules if catalog.rules[r].guidance})


def _host_row(host: HostSearch) -> HostRow:
    barriers = host.barriers
    reasons = [Text(zh=zh, en=en) for zh, en in map(reason_text, barriers.reasons)]
    return HostRow(
        host=host.host, platform=host.platform, url=host.url, status=host.status,
        failure=host.failure, classes={t: c.value for t, c in barriers.classes.items()},
        discriminates=barriers.discriminates, reasons=reasons,
        noindex={t: list(d) for t, d in barriers.noindex.items()},
        sitemaps=len(host.sitemaps), record=f"robots:{host.host}",
        evidence=list(host.evidence))
