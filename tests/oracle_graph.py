"""The cross-target rules and the graph's edges as they were computed before DuckDB did the
grouping (hulian at commit c6a872b: audit/judge/cross.py, audit/graph/build.build), kept as
the reference the columnar implementation must match exactly (tests/test_columnar_judging.py).
Test code only: the pipeline has one implementation (audit/judge/cross.py, audit/graph/
build.py). Python objects all the way: every observation in memory.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import networkx as nx

from audit.graph.build import OTHER, _platform_node, edge_attributes
from audit.judge.evaluate import (
    OUTCOME_LABELS,
    REASON_LABELS,
    SURFACE_LABELS,
    fill_template,
    pick,
    requirement_index,
)
from audit.judge.outcomes import GRADE, attributable, typical
from audit.model import (
    Category,
    Exemption,
    Observation,
    Outcome,
    Platform,
    Rule,
    Status,
    SurfaceKind,
    Text,
    Verdict,
)
from audit.policy.catalog import Catalog
from audit.web.urls import host_of

ATTRIBUTABLE = frozenset(o for o in Outcome if attributable(o))

CATEGORY_LABELS: dict[Category, tuple[str, str]] = {
    Category.IM: ("即时通信", "messaging"),
    Category.SOCIAL: ("社交", "social"),
    Category.SEARCH: ("搜索", "search"),
    Category.ECOMMERCE: ("电商", "e-commerce"),
    Category.VIDEO: ("视频", "video"),
    Category.QA: ("问答", "Q&A"),
    Category.TRAVEL: ("出行旅游", "travel"),
    Category.LOCAL_SERVICES: ("本地生活", "local services"),
    Category.LOGISTICS: ("物流", "logistics"),
    Category.PAYMENT: ("支付", "payment"),
    Category.CONTENT: ("内容", "content"),
    Category.DEV: ("开发者", "developer"),
    Category.PRODUCTIVITY: ("办公", "productivity"),
    Category.TICKETING: ("票务", "ticketing"),
    Category.SECURITY: ("安全", "security"),
    Category.NEWS: ("新闻", "news"),
}


@dataclass
class Treatment:
    """How one source treats one target on one surface."""

    target: Platform
    outcome: Outcome  # the typical attributable outcome
    observations: list[Observation] = field(default_factory=list)

    @property
    def grade(self) -> int:
        return GRADE[self.outcome]

    @property
    def evidence(self) -> list[str]:
        return [o.id for o in self.observations]


Group = dict[str, Treatment]  # target platform id -> treatment, one (source, surface)


def evaluate_graph_rules(observations: Iterable[Observation], catalog: Catalog) -> list[Verdict]:
    """Verdicts of every graph-scope rule of the catalog, sorted by id (reference)."""
    observations = list(observations)
    index = requirement_index(catalog)
    verdicts: list[Verdict] = []
    for rule in sorted(catalog.rules.values(), key=lambda r: r.id):
        if rule.scope != "graph" or rule.check is None:
            continue
        groups = treatments([o for o in observations if _in_scope(rule, o, catalog)], catalog)
        check = CHECKS[rule.check]
        for (source_id, surface), group in sorted(groups.items()):
            source = catalog.platforms.get(source_id)
            if source is None:
                continue
            for finding in check(source, group, catalog):
                verdicts.append(_verdict(rule, source, surface, finding, catalog,
                                         index.get(rule.id, [])))
    verdicts.sort(key=lambda v: (v.rule_id, v.source, v.surface or "", v.target_platform or ""))
    return verdicts


def treatments(observations: Iterable[Observation],
               catalog: Catalog) -> dict[tuple[str, SurfaceKind], Group]:
    """Attributable observations grouped by (source, surface) and target platform, each
    target with its typical outcome. Targets unknown to the catalog have no category and
    cannot be compared; links to the source itself are not outbound."""
    collected: dict[tuple[str, SurfaceKind], dict[str, list[Observation]]] = {}
    for obs in observations:
        if obs.outcome not in ATTRIBUTABLE:
            continue
        target_id = obs.target_platform
        if target_id is None:
            found = catalog.platform_for_url(obs.target_url)
            target_id = found.id if found else None
        if target_id is None or target_id == obs.source or target_id not in catalog.platforms:
            continue
        collected.setdefault((obs.source, obs.surface), {}).setdefault(target_id, []).append(obs)
    groups: dict[tuple[str, SurfaceKind], Group] = {}
    for key, by_target in collected.items():
        group: Group = {}
        for target_id, items in by_target.items():
            outcome = typical(Counter(o.outcome for o in items))
            if outcome is not None:
                group[target_id] = Treatment(catalog.platforms[target_id], outcome, items)
        groups[key] = group
    return groups


@dataclass
class Finding:
    """One comparison: `target` judged against the `references` it was compared with."""

    status: Status
    target: Treatment
    references: list[Treatment]
    exemption: Exemption | None = None


Check = Callable[[Platform, Group, Catalog], list[Finding]]


def same_category_same_friction(source: Platform, group: Group,
                                catalog: Catalog) -> list[Finding]:
    findings: list[Finding] = []
    for members in _by_category(group).values():
        if len(members) < 2:
            continue
        best = min(t.grade for t in members)
        references = [t for t in members if t.grade == best]
        if len(references) == len(members):
            # All alike: each target passes, compared with the others.
            for t in members:
                findings.append(Finding(Status.PASS, t, [m for m in members if m is not t]))
            continue
        for t in members:
            if t.grade > best:
                findings.append(Finding(Status.FAIL, t, references))
    return findings


def no_self_preferencing(source: Platform, group: Group, catalog: Catalog) -> list[Finding]:
    findings: list[Finding] = []
    for members in _by_category(group).values():
        own = [t for t in members if t.target.company == source.company]
        rivals = [t for t in members if t.target.company != source.company]
        if not own or not rivals:
            continue
        best = min(t.grade for t in own)
        references = [t for t in own if t.grade == best]
        for t in rivals:
            findings.append(Finding(Status.FAIL if t.grade > best else Status.PASS,
                                    t, references))
    return findings


CHECKS: dict[str, Check] = {
    "same_category_same_friction": same_category_same_friction,
    "no_self_preferencing": no_self_preferencing,
}


def graph_verdict_id(rule_id: str, source: str, surface: str, target: str) -> str:
    """Stable across runs, so `hulian diff` can tell a new finding from a resolved one."""
    return hashlib.sha256(f"{rule_id}\0{source}\0{surface}\0{target}".encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------


def _by_category(group: Group) -> dict[Category, list[Treatment]]:
    out: dict[Category, list[Treatment]] = {}
    for target_id in sorted(group):
        treatment = group[target_id]
        out.setdefault(treatment.target.category, []).append(treatment)
    return out


def _in_scope(rule: Rule, obs: Observation, catalog: Catalog) -> bool:
    scope = rule.applies_to
    if scope.surfaces and obs.surface not in scope.surfaces:
        return False
    if scope.sources and obs.source not in scope.sources:
        return False
    source = catalog.platforms.get(obs.source)
    target = catalog.platforms.get(obs.target_platform or "")
    if scope.source_categories and not (source and source.category in scope.source_categories):
        return False
    if scope.target_categories and not (target and target.category in scope.target_categories):
        return False
    if scope.cross_company_only:
        company = catalog.company_of(obs.source)
        if company is not None and company == catalog.company_of(obs.target_platform):
            return False
    return True


def _exemption(rule: Rule, finding: Finding) -> Exemption | None:
    """An exemption applies when every observation that makes the target worse than the
    references states a reason the rule accepts (e.g. a phishing block)."""
    best = min(r.grade for r in finding.references)
    worse = [o for o in finding.target.observations if GRADE[o.outcome] > best]
    for exemption in rule.exemptions:
        if worse and all(o.reason is not None and o.reason in exemption.reasons for o in worse):
            return exemption
    return None


def _verdict(rule: Rule, source: Platform, surface: SurfaceKind, finding: Finding,
             catalog: Catalog, requirements: list[str]) -> Verdict:
    status, exemption = finding.status, None
    if status is Status.FAIL:
        exemption = _exemption(rule, finding)
        if exemption is not None:
            status = Status.EXEMPT
    target = finding.target
    evidence = list(target.evidence)
    for ref in finding.references:
        evidence.extend(ref.evidence)
    return Verdict(
        id=graph_verdict_id(rule.id, source.id, surface.value, target.target.id),
        rule_id=rule.id,
        observation_id=None,
        source=source.id,
        surface=surface,
        target_url=target.observations[0].target_url if target.observations else None,
        target_platform=target.target.id,
        outcome=target.outcome,
        status=status,
        severity=rule.severity,
        reason=_reason(rule, source, surface, status, finding, exemption),
        exemption=exemption.id if exemption else None,
        requirements=list(requirements),
        evidence=evidence,
    )


def _reason(rule: Rule, source: Platform, surface: SurfaceKind, status: Status,
            finding: Finding, exemption: Exemption | None) -> Text:
    templates = rule.reason
    template = {
        Status.PASS: templates.pass_,
        Status.FAIL: templates.fail,
        Status.EXEMPT: templates.exempt or templates.fail,
        Status.INCONCLUSIVE: templates.inconclusive or templates.fail,
    }[status]
    own = rule.check == "no_self_preferencing"
    filled = []
    for lang in (0, 1):
        values = {
            "source": pick(source.name, lang),
            "surface": SURFACE_LABELS[surface][lang],
            "target": pick(finding.target.target.name, lang),
            "outcome": OUTCOME_LABELS[finding.target.outcome][lang],
            "reason": (_stated_reason(finding, lang) if status is Status.EXEMPT
                       else _comparison(finding, lang, own, status)),
            "justification": pick(exemption.justification, lang) if exemption else "",
        }
        filled.append(fill_template(pick(template, lang), values))
    return Text(zh=filled[0], en=filled[1])


def _comparison(finding: Finding, lang: int, own: bool, status: Status) -> str:
    """The pairs compared, e.g. '同类（电商）的拼猫链接的结果为“直接打开”'."""
    category = CATEGORY_LABELS[finding.target.target.category][lang]
    parts = []
    for ref in finding.references:
        name = pick(ref.target.name, lang)
        outcome = OUTCOME_LABELS[ref.outcome][lang]
        if lang == 0:
            whose = "本集团的" if own else f"同类（{category}）的"
            parts.append(f"{whose}{name}链接的结果为“{outcome}”")
        else:
            whose = "its own group's " if own else ""
            same = "" if own else f", of the same category ({category}),"
            parts.append(f"{whose}{name}{same} ended as '{outcome}'")
    joined = ("；" if lang == 0 else "; ").join(parts)
    if status is Status.PASS and own:
        joined += "，并不更好" if lang == 0 else ", no better"
    return joined


def _stated_reason(finding: Finding, lang: int) -> str:
    reasons = sorted({o.reason for o in finding.target.observations if o.reason is not None})
    if not reasons:
        return "未说明" if lang == 0 else "none stated"
    return ("、" if lang == 0 else ", ").join(REASON_LABELS[r][lang] for r in reasons)




# ---------------------------------------------------------------------------------------
# audit.graph.build.build, before DuckDB


def build_graph(observations: Iterable[Observation], verdicts: Iterable[Verdict],
          catalog: Catalog) -> nx.DiGraph[str]:
    """The platform-level graph of one run."""
    counts: dict[tuple[str, str], Counter[Outcome]] = {}
    evidence: dict[tuple[str, str], list[str]] = {}
    surfaces: dict[tuple[str, str], set[str]] = {}
    unknown: dict[str, str] = {}
    platforms_for: dict[str, str | None] = {}
    for obs in observations:
        target = obs.target_platform
        if target is None:
            # Attribute by host, as the evaluator does; an unknown host becomes its own node.
            host = host_of(obs.target_url) or OTHER
            if host not in platforms_for:
                found = catalog.platform_for_url(obs.target_url)
                platforms_for[host] = found.id if found else None
            target = platforms_for[host] or host
            if platforms_for[host] is None:
                unknown[target] = host
        key = (obs.source, target)
        counts.setdefault(key, Counter())[obs.outcome] += 1
        evidence.setdefault(key, []).append(obs.id)
        surfaces.setdefault(key, set()).add(obs.surface)
    statuses: dict[tuple[str, str], Counter[str]] = {}
    failed_rules: dict[tuple[str, str], set[str]] = {}
    findings: dict[tuple[str, str], list[str]] = {}
    for verdict in verdicts:
        key = (verdict.source, verdict.target_platform or OTHER)
        statuses.setdefault(key, Counter())[verdict.status.value] += 1
        if verdict.status is Status.FAIL:
            failed_rules.setdefault(key, set()).add(verdict.rule_id)
            if verdict.observation_id is None:  # a cross-target (graph rule) finding
                findings.setdefault(key, []).append(verdict.id)
    graph: nx.DiGraph[str] = nx.DiGraph(level="platform")
    for (source, target), outcome_counts in counts.items():
        for node in (source, target):
            if node not in graph:
                graph.add_node(node, **_platform_node(node, catalog, node in unknown))
        status_counts = statuses.get((source, target), Counter())
        attrs = edge_attributes(outcome_counts)
        attrs.update(
            surfaces=sorted(str(s) for s in surfaces[(source, target)]),
            verdicts={k: status_counts[k] for k in sorted(status_counts)},
            failed_verdicts=status_counts.get("fail", 0),
            failed_rules=sorted(failed_rules.get((source, target), set())),
            findings=sorted(findings.get((source, target), [])),
            # One text since the graph stage was aggregated in DuckDB: the ids in order.
            evidence=" ".join(evidence[(source, target)]),
        )
        graph.add_edge(source, target, **attrs)
    return graph
