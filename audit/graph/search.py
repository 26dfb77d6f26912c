"""Search edges beside link edges, and the search metrics (docs/graph.md).

A search engine is a node of its own (`search:<engine id>`, kind `search_engine`, with its
company): an edge engine -> platform (kind `search`) says how far the engine may index the
platform (its hosts together, audit.judge.search.combine_hosts); at company level, engine ->
company over all that company's measured hosts. Engine nodes are not platforms or companies,
so the link metrics (openness, reciprocity, detours, gardens) never see them: the layer is
added to a copy of the link graph, for the files and exports, after the link metrics.
The graph object is networkx's, used through its methods (networkx itself is imported by
audit/graph/build.py only).
"""

from __future__ import annotations

from typing import Any

from audit.graph import EVIDENCE_SEPARATOR
from audit.judge.search import combine_hosts
from audit.judge.search_run import SearchJudgement
from audit.model import SearchClass
from audit.policy.catalog import Catalog

ENGINE_PREFIX = "search:"
INDEXABLE = (SearchClass.OPEN, SearchClass.PARTIAL)


def engine_node(engine_id: str) -> str:
    return f"{ENGINE_PREFIX}{engine_id}"


def _company_of(catalog: Catalog, platform: str | None) -> str:
    return (catalog.company_of(platform) if platform else None) or "(unknown)"


def classes_by_company(judged: SearchJudgement,
                       catalog: Catalog) -> dict[str, dict[str, SearchClass]]:
    """company -> token -> class, over all measured hosts of the company's platforms."""
    hosts: dict[str, list[Any]] = {}
    for host in judged.hosts:
        if host.platform:
            hosts.setdefault(_company_of(catalog, host.platform), []).append(host.barriers)
    return {company: combine_hosts(found, judged.tokens) for company, found in hosts.items()}


def add_search(graph: Any, judged: SearchJudgement, catalog: Catalog,
               level: str = "platform") -> Any:
    """A copy of `graph` (platform or company level) with the engines and search edges;
    every link edge marked kind `link`. `graph` itself is left as it is, and given back as
    it is when there is no search to add (a run without search measurements: a copy of a
    large run's graph was a third of its memory)."""
    if not judged:
        return graph
    out = graph.copy()
    for _, _, data in out.edges(data=True):
        data.setdefault("kind", "link")
    targets = (judged.platforms if level == "platform"
               else classes_by_company(judged, catalog))
    engines = {e.token: e for e in catalog.search_engines.values()}
    for token in judged.tokens:
        engine = engines[token]
        node = engine_node(engine.id)
        name = catalog.company_name(engine.company)
        out.add_node(node, kind="search_engine", token=token, company=engine.company,
                     company_zh=name.zh if name else engine.company,
                     name_zh=engine.name.zh, name_en=engine.name.en)
        for target, classes in sorted(targets.items()):
            cls = classes.get(token)
            if cls is None:
                continue
            if target not in out:
                out.add_node(target, kind="platform" if level == "platform" else "company",
                             company=_company_of(catalog, target) if level == "platform"
                             else target, name_zh=target, name_en=target)
            hosts = ([h for h in judged.hosts if h.platform == target] if level == "platform"
                     else [h for h in judged.hosts
                           if h.platform and _company_of(catalog, h.platform) == target])
            out.add_edge(node, target, kind="search", search_class=cls.value,
                         may_index=cls in INDEXABLE, engine_company=engine.company,
                         hosts=[f"{h.host}={h.barriers.classes[token].value}" for h in hosts],
                         evidence=EVIDENCE_SEPARATOR.join(r for h in hosts for r in h.evidence),
                         self_preferred_over=token in judged.self_preferring.get(target, [])
                         if level == "platform" else False)
    return out


def search_layer(graph: Any) -> Any:
    """The search layer of a graph made by add_search: its search edges and the nodes they
    join (a copy; link edges and nodes without a search edge dropped)."""
    edges = [(u, v) for u, v, data in graph.edges(data=True) if data.get("kind") == "search"]
    return graph.edge_subgraph(edges).copy()


def search_metrics(judged: SearchJudgement, catalog: Catalog) -> dict[str, Any]:
    """Per engine: the share of the measured platforms (and companies) it may index (`open`
    or `partial`), and its count of each class; the company matrix "who may index whom"
    (engine's company -> platform's company -> token -> class); the hosts that discriminate
    and the platforms that prefer their own company's engine."""
    engines = {e.token: e for e in catalog.search_engines.values()}
    by_company = classes_by_company(judged, catalog)
    per_engine: dict[str, Any] = {}
    for token in judged.tokens:
        platform_classes = [c[token] for c in judged.platforms.values() if token in c]
        company_classes = [c[token] for c in by_company.values() if token in c]
        per_engine[token] = {
            "engine": engines[token].id, "company": engines[token].company,
            "platforms": len(platform_classes),
            "may_index": _share(c in INDEXABLE for c in platform_classes),
            "open": _share(c is SearchClass.OPEN for c in platform_classes),
            "companies_may_index": _share(c in INDEXABLE for c in company_classes),
            "classes": {cls.value: sum(1 for c in platform_classes if c is cls)
                        for cls in SearchClass},
        }
    matrix: dict[str, dict[str, dict[str, str]]] = {}
    for token in judged.tokens:
        row = matrix.setdefault(engines[token].company, {})
        for company, classes in sorted(by_company.items()):
            if token in classes:
                row.setdefault(company, {})[token] = classes[token].value
    return {
        "hosts": len(judged.hosts), "platforms": len(judged.platforms),
        "engines": per_engine, "matrix": matrix,
        "platform_classes": {p: {t: c.value for t, c in classes.items()}
                             for p, classes in judged.platforms.items()},
        "discriminating_hosts": sorted(h.host for h in judged.hosts
                                       if h.barriers.discriminates),
        "self_preferring": judged.self_preferring,
    }


def _share(flags: Any) -> float | None:
    values = list(flags)
    return sum(values) / len(values) if values else None
