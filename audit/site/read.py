"""What the site reads from the history store and the run bundles, reduced as it is read:
per run, the outcome counts of each edge, the failed verdicts, the requirement statuses per
source platform and the search classes. Aggregating in SQL keeps a history of many large runs
out of memory (the store's own readers build a model object per observation).

Read-only. The store module stays the owner of the schema; these are the site's queries over
its tables.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from audit.errors import HulianError
from audit.evidence.bundle import BundleError, read_manifest
from audit.history.store import (
    ObservationRow,
    RunRow,
    StoreError,
    VerdictRow,
    list_runs,
    load_search,
    open_engine,
    run_as_dict,
)
from audit.judge.evaluate import RequirementTally
from audit.model import RunManifest
from audit.web.urls import host_of

EdgeKey = tuple[str, str, str]  # source, surface, target (platform id, else host)


class SiteError(HulianError):
    """The site cannot be built: no store, an empty store, an unknown run id ..."""


@dataclass
class RunSnapshot:
    """One stored run as the site shows it."""

    row: RunRow
    edges: dict[EdgeKey, Counter[str]] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)  # failed verdicts
    # source platform -> '<framework>/<requirement>' -> pass | fail | inconclusive
    requirements: dict[str, dict[str, str]] = field(default_factory=dict)
    search: dict[tuple[str, str], str] = field(default_factory=dict)  # (platform, token)
    bundle: Path | None = None  # the bundle directory, when it is still there
    manifest: RunManifest | None = None
    bundle_problem: str | None = None  # why the bundle cannot be shown

    @property
    def id(self) -> str:
        return self.row.id


def open_store(url: str) -> Engine:
    """The store at `url`, which must exist: building a site never creates an empty store
    (a mistyped path would otherwise publish an empty site)."""
    if url.startswith("sqlite:///"):
        file = url.removeprefix("sqlite:///")
        if file and file != ":memory:" and not Path(file).is_file():
            raise SiteError(f"no history store at {file} (record runs with `hulian run`, or "
                            f"import bundles with `hulian runs import`) / 历史库不存在：{file}")
    try:
        return open_engine(url)
    except StoreError as exc:
        raise SiteError(str(exc)) from None


def select_runs(engine: Engine, run_ids: list[str] | None) -> list[RunRow]:
    """The runs to publish, oldest first: all stored runs, or the ones named."""
    stored = list(reversed(list_runs(engine)))
    if not stored:
        raise SiteError("the history store holds no runs: nothing to publish (record runs "
                        "with `hulian run` or `hulian runs import`) / 历史库中没有任何运行记录")
    if not run_ids:
        return stored
    known = {r.id: r for r in stored}
    missing = [r for r in run_ids if r not in known]
    if missing:
        raise SiteError(f"run(s) not in the history store: {', '.join(missing)} "
                        f"(`hulian runs list` shows the stored runs) / 历史库中没有这些运行")
    wanted = set(run_ids)
    return [r for r in stored if r.id in wanted]


def edges_of(engine: Engine, run_id: str) -> dict[EdgeKey, Counter[str]]:
    """(source, surface, target) -> outcome counts; the target is the platform, else the
    host of the URL (as audit.history.diff.edge_outcomes keys an edge)."""
    o = ObservationRow
    unowned = case((o.target_platform.is_(None), o.target_url), else_=None)
    query = (select(o.source, o.surface, o.target_platform, unowned, o.outcome, func.count())
             .where(o.run_id == run_id)
             .group_by(o.source, o.surface, o.target_platform, unowned, o.outcome))
    edges: dict[EdgeKey, Counter[str]] = {}
    with Session(engine) as session:
        for source, surface, platform, url, outcome, n in session.execute(query):
            target = platform or host_of(url or "") or url or ""
            edges.setdefault((source, surface, target), Counter())[outcome] += n
    return edges


FINDING_COLUMNS = ("id", "rule_id", "observation_id", "source", "surface", "target_platform",
                   "target_url", "outcome", "severity", "reason_zh", "reason_en",
                   "requirements", "evidence")


def verdicts_of(engine: Engine, run_id: str
                ) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    """The failed verdicts, and the requirement statuses per source platform
    (audit.judge.evaluate.RequirementTally over the verdicts' recorded requirements, the
    decision `hulian diff` makes for a whole run)."""
    v = VerdictRow
    query = (select(v.id, v.rule_id, v.observation_id, v.source, v.surface, v.target_platform,
                    v.target_url, v.outcome, v.severity, v.reason_zh, v.reason_en,
                    v.requirements, v.evidence, v.status)
             .where(v.run_id == run_id).order_by(v.id))
    failed: list[dict[str, Any]] = []
    tallies: dict[str, RequirementTally] = {}
    with Session(engine) as session:
        for row in session.execute(query):
            *values, status = row
            record = dict(zip(FINDING_COLUMNS, values, strict=True))
            tallies.setdefault(record["source"], RequirementTally()).add(
                record["requirements"] or [], status, record["observation_id"], record["id"])
            if status == "fail":
                record["requirements"] = list(record["requirements"] or [])
                record["evidence"] = list(record["evidence"] or [])
                failed.append(record)
    statuses = {source: {k: str(s) for k, s in tally.statuses().items()}
                for source, tally in tallies.items()}
    return failed, statuses


def bundle_of(row: RunRow) -> tuple[Path | None, RunManifest | None, str | None]:
    """The run's bundle and manifest, or why they cannot be read."""
    if not row.path:
        return None, None, "the store does not know where the bundle is / 历史库未记录证据包位置"
    path = Path(row.path)
    if not path.is_dir():
        return None, None, f"the bundle is gone: {path} / 证据包已不在原处"
    try:
        return path, read_manifest(path), None
    except BundleError as exc:
        return None, None, str(exc)


def snapshot(engine: Engine, row: RunRow) -> RunSnapshot:
    findings, requirements = verdicts_of(engine, row.id)
    bundle, manifest, problem = bundle_of(row)
    return RunSnapshot(row=row, edges=edges_of(engine, row.id), findings=findings,
                       requirements=requirements, search=load_search(engine, row.id),
                       bundle=bundle, manifest=manifest, bundle_problem=problem)


def input_hash(row: RunRow) -> str:
    """What a run's cached snapshot was read from: its store row (counts, path, times, the
    time it was recorded, so a run imported again is read again)."""
    text = json.dumps(run_as_dict(row), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def snapshot_record(snap: RunSnapshot) -> dict[str, Any]:
    """The store-derived part of a snapshot as JSON (the build cache)."""
    return {"edges": [[*key, dict(counts)] for key, counts in snap.edges.items()],
            "findings": snap.findings, "requirements": snap.requirements,
            "search": [[p, t, c] for (p, t), c in snap.search.items()]}


def snapshot_from_record(row: RunRow, record: dict[str, Any]) -> RunSnapshot:
    bundle, manifest, problem = bundle_of(row)
    return RunSnapshot(
        row=row,
        edges={(str(s), str(sf), str(t)): Counter(counts)
               for s, sf, t, counts in record["edges"]},
        findings=list(record["findings"]), requirements=dict(record["requirements"]),
        search={(str(p), str(t)): str(c) for p, t, c in record["search"]},
        bundle=bundle, manifest=manifest, bundle_problem=problem)
