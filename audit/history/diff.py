"""What changed between two runs: per edge, per requirement, per failed finding, per graph
metric. Pure functions over observations, verdicts and metric rows (no I/O).

An edge is (source, surface, target platform) — the unit a scenario or a platform's link
policy is written in. Its outcome in a run is the typical outcome of its observations
(audit.judge.outcomes). Two attributable outcomes compare by grade: lower is `better`, higher
`worse`, same grade but another outcome (blocked -> stripped) `changed`; when either side
is an error or a dead target the edge is `changed` (the measurement, not the platform,
moved). A regression is an edge that got worse or a requirement that now fails.

Not every pair of runs can be compared (`unusable`): a run without observations cannot show
that anything held (against it every edge is `gone`, and "no regression" would be a lie), and
two runs that share no source platform, or whose verdicts cite disjoint frameworks, measure
different things (every edge would be new or gone).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from audit.history.aggregate import (
    Aggregator,
    EdgeKey,
    FindingKey,
    RunAggregates,
)
from audit.judge.outcomes import GRADE, attributable, typical
from audit.model import Observation, Outcome, Verdict

STATUS_RANK = {"pass": 0, "inconclusive": 1, "fail": 2}


@dataclass
class RunData:
    run_id: str
    observations: list[Observation]
    verdicts: list[Verdict]
    metrics: list[tuple[str, str, str, float | None]] = field(default_factory=list)
    # (platform, engine token) -> search class (audit.judge.search_run): empty for a run
    # made before search barriers were measured (or recorded before the store kept them).
    search: dict[tuple[str, str], str] = field(default_factory=dict)


@dataclass
class Change:
    kind: str  # better | worse | changed | new | gone
    key: tuple[str, ...]
    before: str | None
    after: str | None

    def as_dict(self, names: tuple[str, ...]) -> dict[str, Any]:
        return {"change": self.kind, **dict(zip(names, self.key, strict=True)),
                "before": self.before, "after": self.after}


@dataclass
class Diff:
    run_a: str
    run_b: str
    edges: list[Change]
    requirements: list[Change]
    findings_new: list[dict[str, Any]]
    findings_resolved: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    search: list[Change] = field(default_factory=list)  # key: (platform, engine token)

    @property
    def regression(self) -> bool:
        """An edge got worse, a requirement now fails, or a platform closed (further) to a
        search engine."""
        return (any(c.kind == "worse" for c in self.edges)
                or any(c.kind == "worse" and c.after == "fail" for c in self.requirements)
                or any(c.kind == "worse" for c in self.search))

    def counts(self) -> dict[str, int]:
        return dict(Counter(c.kind for c in self.edges))

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_a": self.run_a, "run_b": self.run_b, "regression": self.regression,
            "edge_counts": self.counts(),
            "edges": [c.as_dict(("source", "surface", "target")) for c in self.edges],
            "requirements": [c.as_dict(("requirement",)) for c in self.requirements],
            "findings_new": self.findings_new, "findings_resolved": self.findings_resolved,
            "metrics": self.metrics,
            "search": [c.as_dict(("platform", "engine")) for c in self.search],
        }


def edge_counts(observations: Iterable[Observation]) -> dict[EdgeKey, Counter[str]]:
    """(source, surface, target) -> outcome counts; the target is the platform, else the
    URL's host (audit.history.aggregate, what the store keeps for each run)."""
    return aggregate(observations, ()).edges


def edge_outcomes(edges: Mapping[EdgeKey, Mapping[str, int]]) -> dict[EdgeKey, str]:
    """(source, surface, target) -> typical outcome (the most common one when none is
    attributable; a tie goes to the first outcome by name, so the answer does not depend
    on the order the observations were read in)."""
    out: dict[EdgeKey, str] = {}
    member: dict[str, Outcome] = {o.value: o for o in Outcome}  # not Outcome(value) per edge
    for key, counts in edges.items():
        counter = Counter({member[o]: n for o, n in counts.items() if n})
        outcome = typical(counter) or min(counter, key=lambda o: (-counter[o], o.value))
        out[key] = outcome.value
    return out


def compare_outcomes(before: str, after: str) -> str | None:
    """better | worse | changed, or None when equal."""
    if before == after:
        return None
    a, b = Outcome(before), Outcome(after)
    if not (attributable(a) and attributable(b)):
        return "changed"
    if GRADE[b] < GRADE[a]:
        return "better"
    if GRADE[b] > GRADE[a]:
        return "worse"
    return "changed"


def requirement_statuses(verdicts: Iterable[Verdict]) -> dict[str, str]:
    """'<framework>/<requirement>' -> pass | fail | inconclusive of every requirement a
    verdict names (audit.judge.evaluate.RequirementTally; a diff has no catalog, so a verdict
    counts for the requirements it recorded when it was judged)."""
    return aggregate((), verdicts).run_requirements


def aggregate(observations: Iterable[Observation], verdicts: Iterable[Verdict]
              ) -> RunAggregates:
    """Model objects through the aggregator the store records runs with (one
    implementation of each aggregate), one at a time: streams are never held."""
    agg = Aggregator()
    for o in observations:
        agg.observation(o.source, o.surface.value, o.target_platform, o.target_url,
                        o.outcome.value)
    for v in verdicts:
        agg.add(v)
    return agg.result()


def metric_changes(before: Iterable[tuple[str, str, str, float | None]],
                   after: Iterable[tuple[str, str, str, float | None]],
                   tolerance: float = 1e-9) -> list[dict[str, Any]]:
    """Graph metrics whose value moved: change over time between two runs."""
    a = {(level, node, metric): value for level, node, metric, value in before}
    b = {(level, node, metric): value for level, node, metric, value in after}
    rows = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if va is None and vb is None:
            continue
        if va is not None and vb is not None and abs(va - vb) <= tolerance:
            continue
        rows.append({"level": key[0], "node": key[1], "metric": key[2], "before": va,
                     "after": vb, "delta": (vb - va) if va is not None and vb is not None
                     else None})
    return rows


# How far a search engine may index (audit.model.SearchClass.openness); `unreachable` says
# the measurement failed, not what the platform published: a change to or from it is
# `changed`, never a regression (as an error outcome is for links).
SEARCH_OPENNESS = {"open": 2, "partial": 1, "noindex": 0, "closed": 0}


def compare_search(before: str, after: str) -> str | None:
    """better | worse | changed between two search classes, None when equal."""
    if before == after:
        return None
    if before not in SEARCH_OPENNESS or after not in SEARCH_OPENNESS:
        return "changed"
    delta = SEARCH_OPENNESS[after] - SEARCH_OPENNESS[before]
    return "better" if delta > 0 else "worse" if delta < 0 else "changed"


def search_changes(a: dict[tuple[str, str], str],
                   b: dict[tuple[str, str], str]) -> list[Change]:
    """Per platform and engine; only where both runs measured search barriers (a run without
    them says nothing of the other's)."""
    if not a or not b:
        return []
    changes = []
    for key in sorted(set(a) | set(b)):
        before, after = a.get(key), b.get(key)
        if before is None or after is None:
            changes.append(Change("new" if before is None else "gone", key, before, after))
        elif (kind := compare_search(before, after)) is not None:
            changes.append(Change(kind, key, before, after))
    return changes


@dataclass
class RunSummary:
    """What a diff compares of a run, aggregated: outcome counts per edge, requirement
    statuses, failed findings by what they are about, metrics, search classes. Made from a
    RunData (`summarise`) or from the history store's aggregates (audit/site/read.py), so a
    history of large runs is compared without holding their observations."""

    run_id: str
    edges: Mapping[EdgeKey, Mapping[str, int]]  # outcome counts
    requirements: dict[str, str]
    findings: dict[FindingKey, dict[str, Any]]  # the last failed verdict of each key
    metrics: list[tuple[str, str, str, float | None]]
    search: dict[tuple[str, str], str]
    frameworks: set[str]  # those the run's verdicts cite

    @property
    def sources(self) -> set[str]:
        return {source for source, _surface, _target in self.edges}

    @classmethod
    def of(cls, run_id: str, aggregates: RunAggregates,
           metrics: list[tuple[str, str, str, float | None]],
           search: dict[tuple[str, str], str]) -> RunSummary:
        return cls(run_id=run_id, edges=aggregates.edges,
                   requirements=aggregates.run_requirements, findings=aggregates.findings,
                   metrics=metrics, search=search, frameworks=aggregates.frameworks)

    @cached_property
    def outcomes(self) -> dict[EdgeKey, str]:
        """The typical outcome of each edge (a run is compared with the run before it and
        the run after it: decided once)."""
        return edge_outcomes(self.edges)


def summarise(run: RunData | RunSummary) -> RunSummary:
    if isinstance(run, RunSummary):
        return run
    return RunSummary.of(run.run_id, aggregate(run.observations, run.verdicts),
                         list(run.metrics), dict(run.search))


def diff(run_a: RunData | RunSummary, run_b: RunData | RunSummary) -> Diff:
    a, b = summarise(run_a), summarise(run_b)
    edges_a, edges_b = a.outcomes, b.outcomes
    edges: list[Change] = []
    for key in sorted(set(edges_a) | set(edges_b)):
        before, after = edges_a.get(key), edges_b.get(key)
        if before is None:
            edges.append(Change("new", key, None, after))
        elif after is None:
            edges.append(Change("gone", key, before, None))
        else:
            kind = compare_outcomes(before, after)
            if kind is not None:
                edges.append(Change(kind, key, before, after))
    req_a, req_b = a.requirements, b.requirements
    requirements: list[Change] = []
    for req in sorted(set(req_a) | set(req_b)):
        before_s, after_s = req_a.get(req), req_b.get(req)
        if before_s == after_s:
            continue
        if before_s is None or after_s is None:
            kind = "new" if before_s is None else "gone"
        else:
            kind = "worse" if STATUS_RANK[after_s] > STATUS_RANK[before_s] else "better"
        requirements.append(Change(kind, (req,), before_s, after_s))
    failed_a, failed_b = a.findings, b.findings
    return Diff(
        run_a=a.run_id, run_b=b.run_id, edges=edges, requirements=requirements,
        findings_new=[failed_b[k] for k in sorted(set(failed_b) - set(failed_a))],
        findings_resolved=[failed_a[k] for k in sorted(set(failed_a) - set(failed_b))],
        metrics=metric_changes(a.metrics, b.metrics),
        search=search_changes(a.search, b.search),
    )


EMPTY = "empty"
NOT_COMPARABLE = "not_comparable"


def unusable(run_a: RunData | RunSummary, run_b: RunData | RunSummary
             ) -> tuple[str, str] | None:
    """(EMPTY | NOT_COMPARABLE, why) when the two runs cannot be diffed, else None."""
    a, b = summarise(run_a), summarise(run_b)
    for run in (a, b):
        if not run.edges:
            return EMPTY, (f"run {run.run_id} has no observations: an empty run cannot show "
                           "what changed, nor that nothing regressed")
    sources_a, sources_b = a.sources, b.sources
    if not sources_a & sources_b:
        return NOT_COMPARABLE, (f"runs {a.run_id} and {b.run_id} share no source platform "
                                f"({', '.join(sorted(sources_a))} vs "
                                f"{', '.join(sorted(sources_b))})")
    frameworks_a, frameworks_b = a.frameworks, b.frameworks
    if frameworks_a and frameworks_b and not frameworks_a & frameworks_b:
        return NOT_COMPARABLE, (f"runs {a.run_id} and {b.run_id} were judged against "
                                f"different frameworks ({', '.join(sorted(frameworks_a))} vs "
                                f"{', '.join(sorted(frameworks_b))})")
    return None
