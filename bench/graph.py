"""Benchmark of the graph and the history store on a synthetic audit.

2,000 platforms of 200 companies, 400,000 source -> target edges measured by 1,000,000
observations (1 to 4 per edge, over 3 surfaces): building the graph, the cross-target rules,
every metric at both levels, the exports; the all-pairs detour paths against scipy's
csgraph Dijkstra on the same graph (same lexicographic friction-then-hops weights) in the
same run; and ingesting the 1,000,000 observations into a fresh SQLite store.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/graph.py [--platforms 2000] [--edges 400000] [--observations 1000000]
        [--only graph|ingest]

Prints one line per step (seconds, peak RSS so far) and a JSON summary at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.graph.build import _attributable_edges, build, export, metrics, write_graphml
from audit.graph.paths import all_pairs
from audit.history.store import ingest, open_engine
from audit.judge.cross import evaluate_graph_rules
from audit.model import (
    Category,
    Citation,
    Company,
    Observation,
    Outcome,
    Platform,
    SurfaceKind,
    Text,
)
from audit.policy.catalog import Catalog
from bench.phases import audit_size_options

T = TypeVar("T")
OUTCOMES = [Outcome.DIRECT, Outcome.WRAPPED, Outcome.WARNED, Outcome.COPY_ONLY,
            Outcome.BLOCKED, Outcome.STRIPPED, Outcome.DIVERTED, Outcome.ERROR,
            Outcome.TARGET_DOWN]
WEIGHTS = [0.35, 0.25, 0.12, 0.08, 0.06, 0.04, 0.02, 0.05, 0.03]
SURFACES = [SurfaceKind.IM_PRIVATE, SurfaceKind.IM_GROUP, SurfaceKind.POST]
RESULTS: dict[str, Any] = {}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step(name: str, fn: Callable[[], T]) -> T:
    started = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - started
    RESULTS[name] = round(seconds, 3)
    print(f"{name:<34} {seconds:8.2f} s   peak RSS {peak_mb():7.0f} MB", flush=True)
    return value


def synthetic_catalog(n_platforms: int, n_companies: int, rng: random.Random) -> Catalog:
    cite = Citation(fact="synthetic")
    catalog = Catalog()
    categories = list(Category)
    for c in range(n_companies):
        catalog.companies[f"c{c}"] = Company(id=f"c{c}", name=Text(zh=f"公司{c}", en=f"C{c}"))
    for p in range(n_platforms):
        catalog.platforms[f"p{p}"] = Platform(
            id=f"p{p}", name=Text(zh=f"平台{p}", en=f"P{p}"), company=f"c{p % n_companies}",
            category=rng.choice(categories), domains=[f"p{p}.example"], cite=cite)
    # The two shipped graph rules, as data.
    from audit.policy.catalog import load_catalog

    shipped = load_catalog()
    catalog.rules = {k: r for k, r in shipped.rules.items() if r.scope == "graph"}
    catalog.frameworks = shipped.frameworks
    return catalog


def synthetic_observations(n_platforms: int, n_edges: int, n_obs: int,
                           rng: random.Random) -> list[Observation]:
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < n_edges:
        s, t = rng.randrange(n_platforms), rng.randrange(n_platforms)
        if s != t:
            pairs.add((s, t))
    edges = sorted(pairs)
    # Every edge once, then the rest spread at random: 1 to several observations per edge.
    chosen = edges + [edges[rng.randrange(n_edges)] for _ in range(n_obs - n_edges)]
    # Each edge has a policy (one outcome) most observations follow, as platforms do.
    policy = {e: rng.choices(OUTCOMES, WEIGHTS)[0] for e in edges}
    observations = []
    construct = Observation.model_construct
    for i, (s, t) in enumerate(chosen):
        outcome = policy[(s, t)] if rng.random() < 0.8 else rng.choices(OUTCOMES, WEIGHTS)[0]
        # Ids like the crawler's (sha256 prefixes): random, as the store's B-tree sees them.
        observations.append(construct(
            id=f"{rng.getrandbits(80):020x}", probe_id=f"{rng.getrandbits(80):020x}",
            run_id="bench", source=f"p{s}",
            surface=SURFACES[i % 3], target_url=f"http://p{t}.example/item/{i}",
            target_platform=f"p{t}", method="crawl", outcome=outcome, reason=None,
            rendered_as="anchor", hops=[], evidence=[]))
    return observations


def scipy_floor(graph: Any) -> tuple[float, Any]:
    """scipy.sparse.csgraph.dijkstra, all sources, weights friction * n + 1 (friction first,
    then hops: the same lexicographic order as audit.graph.paths)."""
    import numpy as np
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    edges = {k: int(f) for k, f in _attributable_edges(graph).items() if not math.isinf(f)}
    nodes = sorted(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    n = len(nodes)
    rows = np.fromiter((index[s] for s, _ in edges), dtype=np.int64, count=len(edges))
    cols = np.fromiter((index[t] for _, t in edges), dtype=np.int64, count=len(edges))
    weights = np.fromiter(edges.values(), dtype=np.float64, count=len(edges)) * n + 1
    matrix = csr_matrix((weights, (rows, cols)), shape=(n, n))
    started = time.perf_counter()
    distances = dijkstra(matrix, directed=True)
    return time.perf_counter() - started, (distances, n, nodes, edges)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    audit_size_options(parser)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=["graph", "ingest"], default=None,
                        help="Run one half of the benchmark.")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    RESULTS["config"] = vars(args)

    catalog = step("synthetic catalog", lambda: synthetic_catalog(
        args.platforms, args.companies, rng))
    observations = step("synthetic observations (not timed)", lambda: synthetic_observations(
        args.platforms, args.edges, args.observations, rng))
    if args.only != "ingest":
        bench_graph(catalog, observations)
    if args.only != "graph":
        bench_ingest(observations)
    RESULTS["peak RSS MB"] = round(peak_mb())
    print(json.dumps(RESULTS, ensure_ascii=False))


def bench_graph(catalog: Catalog, observations: list[Observation]) -> None:
    total = time.perf_counter()
    findings = step("cross-target rules", lambda: evaluate_graph_rules(observations, catalog))
    graph = step("build platform graph", lambda: build(observations, findings, catalog))
    data = step("all metrics (both levels)", lambda: metrics(graph, catalog))
    with tempfile.TemporaryDirectory() as tmp:
        step("export graphml", lambda: write_graphml(graph, Path(tmp) / "g.graphml"))
        step("export json (node-link)", lambda: len(export(graph, "json")))
    RESULTS["graph+rules+metrics+export total"] = round(time.perf_counter() - total, 3)
    print(f"{'graph+rules+metrics+export total':<34} "
          f"{RESULTS['graph+rules+metrics+export total']:8.2f} s", flush=True)

    # The path computation alone, ours and scipy's, on the same edges.
    edges = {k: int(f) for k, f in _attributable_edges(graph).items() if not math.isinf(f)}
    nodes = sorted(graph.nodes)
    ours = step("all-pairs paths (audit.graph.paths)", lambda: all_pairs(nodes, edges))
    scipy_seconds, (distances, n, _, _) = scipy_floor(graph)
    RESULTS["all-pairs paths (scipy dijkstra)"] = round(scipy_seconds, 3)
    print(f"{'all-pairs paths (scipy dijkstra)':<34} {scipy_seconds:8.2f} s", flush=True)
    import numpy as np

    finite = np.isfinite(distances)
    agree = bool(
        (ours.friction[finite] == (distances[finite] // n).astype(np.int64)).all()
        and (ours.hops[finite] == (distances[finite] % n).astype(np.int64)).all()
        and (ours.friction[~finite] == np.iinfo(np.int32).max).all())
    ratio = RESULTS["all-pairs paths (audit.graph.paths)"] / scipy_seconds
    RESULTS["paths ratio vs scipy"] = round(ratio, 2)
    RESULTS["paths agree with scipy"] = agree
    print(f"paths ratio vs scipy: {ratio:.2f}x; identical results: {agree}", flush=True)
    RESULTS["graph"] = {"nodes": graph.number_of_nodes(), "edges": graph.number_of_edges(),
                        "findings": len(findings),
                        "detours": data["platform"]["detours"]["detour_count"],
                        "open_components": len(data["platform"]["open_components"])}



def bench_ingest(observations: list[Observation]) -> None:
    from datetime import UTC, datetime

    from audit.history.store import _observation_rows

    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(f"sqlite:///{tmp}/history.db")
        run = {"id": "bench", "path": tmp, "started_at": datetime.now(UTC), "finished_at": None,
               "recorded_at": datetime.now(UTC), "tool_version": "bench",
               "policy_digest": "-", "sources_key": "synthetic",
               "n_observations": len(observations), "n_verdicts": 0, "n_failed": 0,
               "summary": {}}
        count = step("ingest observations into SQLite",
                     lambda: ingest(engine, run, iter_obs(observations), []).observations)
        rate = count / RESULTS["ingest observations into SQLite"]
        RESULTS["ingest rate (observations/s)"] = round(rate)
        engine.dispose()
        # The floor: sqlite3's executemany of the same rows, prebuilt, into the same table
        # layout (primary key (run_id, id), WAL, same pragmas), without SQLAlchemy.
        import sqlite3

        rows = list(_observation_rows("bench", observations))
        raw = sqlite3.connect(f"{tmp}/raw.db")
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536"):
            raw.execute(f"PRAGMA {pragma}")
        raw.execute("CREATE TABLE observations (run_id, id, probe_id, source, surface, "
                    "target_url, target_platform, outcome, reason, method, "
                    "PRIMARY KEY (run_id, id))")

        def floor() -> None:
            raw.executemany("INSERT INTO observations VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            raw.commit()

        step("ingest floor (raw sqlite3)", floor)
        raw.close()
        floor_rate = len(rows) / RESULTS["ingest floor (raw sqlite3)"]
        RESULTS["ingest floor rate (rows/s)"] = round(floor_rate)
        print(f"ingest: {count} observations, {rate:,.0f}/s; raw sqlite3 floor "
              f"{floor_rate:,.0f} rows/s ({floor_rate / rate:.2f}x)", flush=True)


def iter_obs(observations: list[Observation]) -> Iterator[Observation]:
    yield from observations


if __name__ == "__main__":
    main()
