"""A history of synthetic runs for the site's scale test and bench/site.py: sealed bundles
recorded into a SQLite store through the real recording path (`record_run`, as `hulian runs
import` does).

The observations are tests/scaleruns.py's audit (bench/graph.py's) on the shipped catalog's
platforms — its platform i is the catalog's i-th platform, its hosts that platform's first
domain — so names, companies and the MIIT framework resolve as in a real run. Every run
measures the same edges; per run 3 % of the observations are drawn again (so runs differ:
changes, regressions, requirement streaks) and 2 % are left `unrecognized` (a review queue).
Each observation gets the shipped policies' per-observation verdicts (as tests/reportruns.py
writes a run); runs start 8 hours apart.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from audit import __version__
from audit.evidence.bundle import BundleWriter, read_manifest, seal
from audit.history.diff import RunData
from audit.history.store import (
    load_metrics,
    load_observations,
    load_search,
    load_verdicts,
    open_engine,
    record_run,
)
from audit.judge.evaluate import evaluate_observation
from audit.model import Outcome
from audit.policy.catalog import Catalog, load_catalog
from tests.scaleruns import OUTCOMES, WEIGHTS, observation_objects, synthetic_records

START = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
_HOST = re.compile(r"^http://p(\d+)\.example/")


def lab_records(catalog: Catalog, n_obs: int, n_edges: int) -> list[dict[str, Any]]:
    """tests/scaleruns.py's audit on the catalog's platforms (ids and domains)."""
    ids = sorted(catalog.platforms)
    domains = [catalog.platforms[p].domains[0] for p in ids]
    records = []
    for r in synthetic_records(len(ids), n_edges, n_obs):
        r["source"] = ids[int(r["source"][1:])]
        if r["target_platform"] is not None:
            r["target_platform"] = ids[int(r["target_platform"][1:])]
        r["target_url"] = _HOST.sub(lambda m: f"https://{domains[int(m[1])]}/", r["target_url"])
        records.append(r)
    return records


def run_id(i: int) -> str:
    return f"site-{i:03d}"


def write_run(root: Path, i: int, base: list[dict[str, Any]], catalog: Catalog) -> Path:
    """Run number i of the history: the base records, varied with seed i, as a sealed
    bundle under root."""
    rng = random.Random(1000 + i)
    records = []
    for r in base:
        roll = rng.random()
        outcome = r["outcome"]
        if roll < 0.02:
            outcome = Outcome.UNRECOGNIZED.value
        elif roll < 0.05:
            outcome = rng.choices(OUTCOMES, WEIGHTS)[0].value
        records.append({**r, "run_id": run_id(i), "outcome": outcome,
                        "reason": r["reason"] if outcome == r["outcome"] else None})
    writer = BundleWriter(root, run_id=run_id(i), policy_digest=catalog.digest,
                          config={"robots": "obey", "allow_private": False})
    for obs in observation_objects(iter(records)):
        writer.add_observation(obs)
        for verdict in evaluate_observation(obs, catalog):
            writer.add_verdict(verdict)
    writer.finish()
    manifest = read_manifest(writer.path)
    # Several runs a day: the order `previous run` and the charts follow.
    manifest.started_at = START + timedelta(hours=8 * i)
    manifest.finished_at = manifest.started_at + timedelta(minutes=20)
    manifest.tool_version = __version__
    seal(writer.path, manifest)
    return writer.path


def write_history(root: Path, n_runs: int, n_obs: int, n_edges: int, engine: Engine,
                  extra: int = 0, progress: bool = False) -> list[Path]:
    """n_runs bundles under root, recorded into the store, and `extra` more not recorded
    (the runs an incremental build adds); the bundles' paths, oldest first."""
    catalog = load_catalog()
    base = lab_records(catalog, n_obs, n_edges)
    paths = []
    for i in range(n_runs + extra):
        paths.append(write_run(root, i, base, catalog))
        if i < n_runs:
            record_run(paths[-1], catalog, engine=engine)
        if progress:
            print(f"  run {i + 1}/{n_runs + extra} written"
                  f"{' and recorded' if i < n_runs else ''}", flush=True)
    return paths


def small_history(root: Path, n_runs: int = 3) -> tuple[Path, list[Path]]:
    """A SQLite store of n_runs small runs (900 observations, 150 edges each) under root:
    its file and the bundles' paths, oldest first."""
    engine = open_engine(f"sqlite:///{root / 'history.db'}")
    paths = write_history(root / "runs", n_runs, 900, 150, engine)
    engine.dispose()
    return root / "history.db", paths


def stored_records(engine: Engine, run_id: str) -> RunData:
    """A stored run's full records (observations and verdicts as model objects): the
    reference that the store's aggregates, which `hulian diff` reads, are checked against."""
    return RunData(run_id, load_observations(engine, run_id), load_verdicts(engine, run_id),
                   load_metrics(engine, run_id), load_search(engine, run_id))
