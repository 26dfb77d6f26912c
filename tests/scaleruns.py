"""A synthetic audit at any size for the columnar judging tests and bench/scale.py: N platforms
of M companies with random categories, E distinct source -> target edges measured by O
observations (every edge once, the rest at random; 3 surfaces), each edge with an outcome
policy that 80 % of its observations follow (bench/graph.py's audit). Also what the pipeline
must handle beyond bench/graph.py's: targets recorded without a platform (attributed by the
URL's host, known or unknown to the catalog) and blocks with a stated reason (phishing: the
cross-target rules' exemption).

Records are written as a bundle writes them (observations.jsonl) and built into
observations.parquet by audit/evidence/columnar.py, or returned as Observation objects for
the pre-DuckDB reference (tests/oracle_graph.py).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orjson import dumps

from audit.evidence.bundle import OBSERVATIONS
from audit.model import (
    BlockReason,
    Category,
    Citation,
    Company,
    Observation,
    Outcome,
    Platform,
    SurfaceKind,
    Text,
)
from audit.policy.catalog import Catalog, load_catalog

OUTCOMES = [Outcome.DIRECT, Outcome.WRAPPED, Outcome.WARNED, Outcome.COPY_ONLY,
            Outcome.BLOCKED, Outcome.STRIPPED, Outcome.DIVERTED, Outcome.ERROR,
            Outcome.TARGET_DOWN]
WEIGHTS = [0.35, 0.25, 0.12, 0.08, 0.06, 0.04, 0.02, 0.05, 0.03]
SURFACES = [SurfaceKind.IM_PRIVATE, SurfaceKind.IM_GROUP, SurfaceKind.POST]


def synthetic_catalog(n_platforms: int, n_companies: int, seed: int = 1, *,
                      observation_rules: bool = False) -> Catalog:
    """N platforms of M companies, with the shipped graph rules and frameworks (and, with
    `observation_rules`, every shipped rule: bench/pipeline.py judges the whole run)."""
    rng = random.Random(seed)
    cite = Citation(fact="synthetic")
    catalog = Catalog()
    categories = list(Category)
    for c in range(n_companies):
        catalog.companies[f"c{c}"] = Company(id=f"c{c}", name=Text(zh=f"公司{c}", en=f"C{c}"))
    for p in range(n_platforms):
        catalog.platforms[f"p{p}"] = Platform(
            id=f"p{p}", name=Text(zh=f"平台{p}", en=f"P{p}"), company=f"c{p % n_companies}",
            category=rng.choice(categories), domains=[f"p{p}.example"], cite=cite)
    shipped = load_catalog()  # the shipped graph rules and frameworks, as data
    catalog.rules = {k: r for k, r in shipped.rules.items()
                     if observation_rules or r.scope == "graph"}
    catalog.frameworks = shipped.frameworks
    return catalog


def synthetic_records(n_platforms: int, n_edges: int, n_obs: int,
                      seed: int = 1) -> Iterator[dict[str, Any]]:
    """Observation records (the bundle's JSON fields), in measured order."""
    if n_edges > n_platforms * (n_platforms - 1):  # the loop below would never end
        raise ValueError(f"{n_platforms} platforms have fewer than {n_edges} edges")
    rng = random.Random(seed)
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < n_edges:
        s, t = rng.randrange(n_platforms), rng.randrange(n_platforms)
        if s != t:
            pairs.add((s, t))
    edges = sorted(pairs)
    policy = {e: rng.choices(OUTCOMES, WEIGHTS)[0] for e in edges}
    for i in range(n_obs):
        s, t = edges[i] if i < n_edges else edges[rng.randrange(n_edges)]
        outcome = policy[(s, t)] if rng.random() < 0.8 else rng.choices(OUTCOMES, WEIGHTS)[0]
        roll = rng.random()
        target: str | None = f"p{t}"
        url = f"http://p{t}.example/item/{i}"
        if roll < 0.004:  # recorded without a platform: the host tells (p{t}.example)
            target = None
        elif roll < 0.005:  # a host no platform owns
            target, url = None, f"http://u{t % 50}.example/item/{i}"
        reason = (BlockReason.PHISHING.value
                  if outcome is Outcome.BLOCKED and rng.random() < 0.3 else None)
        yield {"id": f"{rng.getrandbits(80):020x}", "probe_id": f"{rng.getrandbits(80):020x}",
               "run_id": "synthetic", "source": f"p{s}", "surface": SURFACES[i % 3].value,
               "target_url": url, "target_platform": target, "method": "crawl",
               "started_at": None, "runtime_s": None, "rendered_as": "anchor", "hops": [],
               "final_url": None, "page": None, "control_ok": None, "comparison": None,
               "failure": None, "outcome": outcome.value, "reason": reason, "evidence": []}


def write_observations(run: Path, records: Iterator[dict[str, Any]]) -> Path:
    """observations.jsonl and observations.parquet of the records in `run`; the Parquet
    file's path."""
    from audit.evidence import columnar  # here: bench/scale.py's baseline checkout has none

    run.mkdir(parents=True, exist_ok=True)
    lines = run / OBSERVATIONS
    with lines.open("wb") as fh:
        for record in records:
            fh.write(dumps(record) + b"\n")
    return columnar.build(lines, "synthetic")


def observation_objects(records: Iterator[dict[str, Any]]) -> list[Observation]:
    """The records as Observation objects (built without validation: they are well formed),
    enums and all, as a bundle reader gives them."""
    construct = Observation.model_construct
    return [construct(**{**r, "surface": SurfaceKind(r["surface"]),
                         "outcome": Outcome(r["outcome"]),
                         "reason": BlockReason(r["reason"]) if r["reason"] else None})
            for r in records]
