"""The link-reachability graph: platforms as nodes, one edge per source -> target carrying
the count of each outcome, the worst outcome and the friction. The only networkx user.

This is the basic graph `hulian run` writes (graph.graphml); metrics, the company-level
graph and cross-target rules build on it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import networkx as nx

from audit.catalog import Catalog
from audit.model import FRICTION, SEVERITY_ORDER, Observation, Outcome, Verdict


def worst(outcomes: Iterable[Outcome]) -> Outcome | None:
    ranked = [o for o in outcomes if o in SEVERITY_ORDER]
    return max(ranked, key=SEVERITY_ORDER.index) if ranked else None


def build(observations: Iterable[Observation], verdicts: Iterable[Verdict],
          catalog: Catalog) -> nx.DiGraph[str]:
    graph: nx.DiGraph[str] = nx.DiGraph()
    counts: dict[tuple[str, str], Counter[Outcome]] = {}
    evidence: dict[tuple[str, str], list[str]] = {}
    for obs in observations:
        target = obs.target_platform or "(other)"
        key = (obs.source, target)
        counts.setdefault(key, Counter())[obs.outcome] += 1
        evidence.setdefault(key, []).append(obs.id)
    failed: Counter[tuple[str, str]] = Counter()
    for verdict in verdicts:
        if verdict.status.value == "fail":
            failed[(verdict.source, verdict.target_platform or "(other)")] += 1
    for (source, target), outcome_counts in counts.items():
        for node in (source, target):
            if node not in graph:
                platform = catalog.platforms.get(node)
                graph.add_node(node, company=platform.company if platform else "",
                               category=platform.category.value if platform else "",
                               name_zh=platform.name.zh if platform else node,
                               name_en=platform.name.en if platform else node)
        typical = outcome_counts.most_common(1)[0][0]
        worst_outcome = worst(outcome_counts) or typical
        friction = FRICTION.get(worst_outcome)
        attrs: dict[str, object] = {f"n_{o.value}": n for o, n in outcome_counts.items()}
        attrs.update(
            observations=sum(outcome_counts.values()), worst=worst_outcome.value,
            typical=typical.value,
            friction=friction if friction is not None else math.nan,
            failed_verdicts=failed[(source, target)],
            evidence=" ".join(evidence[(source, target)]),
        )
        graph.add_edge(source, target, **attrs)
    return graph


def write_graphml(graph: nx.DiGraph[str], path: Path) -> None:
    nx.write_graphml(graph, path, encoding="utf-8")


def edge_rows(graph: nx.DiGraph[str]) -> list[dict[str, object]]:
    """Edges as plain rows (for reports), worst first."""
    rows = [{"source": s, "target": t, **data} for s, t, data in graph.edges(data=True)]
    rows.sort(key=lambda r: (-SEVERITY_ORDER.index(Outcome(str(r["worst"])))
                             if r["worst"] in {o.value for o in SEVERITY_ORDER} else 0,
                             str(r["source"]), str(r["target"])))
    return rows
