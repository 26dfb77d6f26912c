"""What the site reads from the history store and the run bundles, reduced as it is read:
per run, the outcome counts of each edge, the requirement statuses per source platform and
for the whole run, the search classes, and apart from them the failed verdicts and the graph
metrics (the run's *details*: needed only for the latest run's findings and for the diffs).
Aggregating in SQL keeps a history of many large runs out of memory (the store's own readers
build a model object per observation): a build holds every run's snapshot, but at most two
runs' details (`History`).

Read-only. The store module stays the owner of the schema; these are the site's queries over
its tables.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Text, case, cast, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from audit.errors import HulianError
from audit.evidence.bundle import BundleError, read_manifest
from audit.history.diff import RunSummary, finding_entry
from audit.history.store import (
    ObservationRow,
    RunRow,
    StoreError,
    VerdictRow,
    list_runs,
    load_metrics,
    load_search,
    open_engine,
    run_as_dict,
)
from audit.judge.evaluate import RequirementTally
from audit.model import RunManifest
from audit.web.urls import host_of

EdgeKey = tuple[str, str, str]  # source, surface, target (platform id, else host)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,80}$")


def slug(value: str) -> str:
    """The file name of an id's page: the id itself when it is a plain lower-case name,
    otherwise a digest (ids come from policies and stores and may hold anything)."""
    if _SLUG.match(value) and ".." not in value:
        return value
    return "x-" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


class SiteError(HulianError):
    """The site cannot be built: no store, an empty store, an unknown run id ..."""


@dataclass
class RunSnapshot:
    """One stored run as the site shows it."""

    row: RunRow
    edges: dict[EdgeKey, Counter[str]] = field(default_factory=dict)
    # The failed verdicts: filled in for the latest run only (History.findings), the other
    # runs' are in the build cache and the store.
    findings: list[dict[str, Any]] = field(default_factory=list)
    # source platform -> '<framework>/<requirement>' -> pass | fail | inconclusive
    requirements: dict[str, dict[str, str]] = field(default_factory=dict)
    # '<framework>/<requirement>' -> status over the whole run (what `hulian diff` compares)
    run_requirements: dict[str, str] = field(default_factory=dict)
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
                   "target_url", "outcome", "severity", "reason_zh", "reason_en")


def verdicts_of(engine: Engine, run_id: str
                ) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]], dict[str, str]]:
    """The failed verdicts (in id order), the requirement statuses per source platform and
    over the whole run (audit.judge.evaluate.RequirementTally over the verdicts' recorded
    requirements, the decision `hulian diff` makes for a whole run). The tally reads the
    five columns it needs of every verdict in the order the store finds them (no sort, no
    reason texts); a requirement list is parsed once per distinct list (a run has a
    handful). The failed verdicts, a fraction, are read whole."""
    v = VerdictRow
    tally_query = (select(v.source, cast(v.requirements, Text), v.status, v.observation_id,
                          v.id).where(v.run_id == run_id))
    failed_query = (select(*(getattr(v, c) for c in FINDING_COLUMNS),
                           cast(v.requirements, Text), cast(v.evidence, Text))
                    .where(v.run_id == run_id, v.status == "fail").order_by(v.id))
    tallies: dict[str, RequirementTally] = {}
    whole = RequirementTally()
    parsed: dict[str | None, list[str]] = {}

    def requirements_of(text: str | None) -> list[str]:
        got = parsed.get(text)
        if got is None:
            got = parsed[text] = [str(r) for r in json.loads(text or "[]")]
        return got

    failed: list[dict[str, Any]] = []
    with engine.connect() as connection:
        for source, requirements_json, status, observation_id, verdict_id in (
                connection.execute(tally_query)):
            requirements = requirements_of(requirements_json)
            tally = tallies.get(source)
            if tally is None:
                tally = tallies[source] = RequirementTally()
            tally.add(requirements, status, observation_id, verdict_id)
            whole.add(requirements, status, observation_id, verdict_id)
        for *values, requirements_json, evidence_json in connection.execute(failed_query):
            record = dict(zip(FINDING_COLUMNS, values, strict=True))
            record["requirements"] = list(requirements_of(requirements_json))
            record["evidence"] = [str(e) for e in json.loads(evidence_json or "[]")]
            failed.append(record)
    statuses = {source: {k: str(s) for k, s in tally.statuses().items()}
                for source, tally in tallies.items()}
    return failed, statuses, {k: str(s) for k, s in whole.statuses().items()}


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


def input_hash(row: RunRow) -> str:
    """What a run's cached snapshot was read from: its store row (counts, path, times, the
    time it was recorded, so a run imported again is read again)."""
    text = json.dumps(run_as_dict(row), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def snapshot_record(snap: RunSnapshot) -> dict[str, Any]:
    """The store-derived part of a snapshot as JSON (the build cache), details apart."""
    return {"edges": [[*key, dict(counts)] for key, counts in snap.edges.items()],
            "requirements": snap.requirements, "run_requirements": snap.run_requirements,
            "search": [[p, t, c] for (p, t), c in snap.search.items()]}


def snapshot_from_record(row: RunRow, record: dict[str, Any]) -> RunSnapshot:
    bundle, manifest, problem = bundle_of(row)
    return RunSnapshot(
        row=row,
        edges={(str(s), str(sf), str(t)): Counter(counts)
               for s, sf, t, counts in record["edges"]},
        requirements=dict(record["requirements"]),
        run_requirements=dict(record["run_requirements"]),
        search={(str(p), str(t)): str(c) for p, t, c in record["search"]},
        bundle=bundle, manifest=manifest, bundle_problem=problem)


@dataclass
class Details:
    """A run's failed verdicts (FINDING_COLUMNS, requirements, evidence) and graph metrics."""

    findings: list[dict[str, Any]]
    metrics: list[tuple[str, str, str, float | None]]


class History:
    """The published runs as the build reads them: from the build cache (`cache`, the
    site's .build/) when the run's store row is unchanged since the build that cached it
    (`inputs`, that build's input hashes), else from the store. `read` lists the runs read
    from the store, in order: the build's own account of what an incremental build cost.

    Snapshots are small (aggregates); details (the failed verdicts, the metrics) are kept
    for the last two runs asked for only: the latest run's findings and a diff's two runs."""

    KEEP = 2

    def __init__(self, engine: Engine, cache: Path, inputs: dict[str, str]):
        self.engine = engine
        self.cache = cache
        self.inputs = dict(inputs)  # and the runs this build cached
        self.read: list[str] = []
        self._details: OrderedDict[str, Details] = OrderedDict()

    def _file(self, kind: str, run_id: str) -> Path:
        return self.cache / kind / f"{slug(run_id)}.json"

    def _cached(self, kind: str, row: RunRow) -> dict[str, Any] | None:
        if self.inputs.get(row.id) != input_hash(row):
            return None
        return _load(self._file(kind, row.id))

    def snapshot(self, row: RunRow) -> RunSnapshot:
        cached = self._cached("runs", row)
        if cached is not None:
            try:
                return snapshot_from_record(row, cached)
            except (KeyError, TypeError, ValueError):
                pass  # a cache file of another shape: read the run again
        self.read.append(row.id)
        findings, requirements, whole = verdicts_of(self.engine, row.id)
        bundle, manifest, problem = bundle_of(row)
        snap = RunSnapshot(row=row, edges=edges_of(self.engine, row.id),
                           requirements=requirements, run_requirements=whole,
                           search=load_search(self.engine, row.id), bundle=bundle,
                           manifest=manifest, bundle_problem=problem)
        details = Details(findings, load_metrics(self.engine, row.id))
        _save(self._file("runs", row.id), snapshot_record(snap))
        _save(self._file("details", row.id), {"findings": details.findings,
                                               "metrics": details.metrics})
        self.inputs[row.id] = input_hash(row)
        self._keep(row.id, details)
        return snap

    def _keep(self, run_id: str, details: Details) -> None:
        self._details[run_id] = details
        self._details.move_to_end(run_id)
        while len(self._details) > self.KEEP:
            self._details.popitem(last=False)

    def details(self, row: RunRow) -> Details:
        if row.id in self._details:
            self._details.move_to_end(row.id)
            return self._details[row.id]
        cached = self._cached("details", row)
        if cached is not None:
            try:
                details = Details(list(cached["findings"]),
                                  [(str(a), str(b), str(c), d) for a, b, c, d
                                   in cached["metrics"]])
                self._keep(row.id, details)
                return details
            except (KeyError, TypeError, ValueError):
                pass
        self.snapshot(row)  # reads the run, its details with it
        return self._details[row.id]

    def summary(self, row: RunRow, snap: RunSnapshot | None = None) -> RunSummary:
        """The run as audit.history.diff compares it, from the aggregates (the run may be
        one the site does not publish: the previous run of a published one)."""
        snap = snap or self.snapshot(row)
        details = self.details(row)
        findings = dict(finding_entry(f["rule_id"], f["source"], f["surface"],
                                      f["target_platform"], f["target_url"], f["severity"],
                                      f["outcome"], f["reason_zh"], f["reason_en"])
                        for f in details.findings)
        return RunSummary(run_id=row.id, edges=snap.edges,
                          requirements=snap.run_requirements, findings=findings,
                          metrics=details.metrics, search=snap.search,
                          frameworks={k.split("/", 1)[0] for k in snap.run_requirements
                                      if "/" in k})


# The cache files are orjson's (a run's details are megabytes: several times faster than the
# json module both ways).
def _load(path: Path) -> dict[str, Any] | None:
    try:
        value = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _save(path: Path, value: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(value, default=str))
