"""What the site reads from the history store and the run bundles: per run, the aggregates
the store made when it recorded the run (audit/history/aggregate.py: the outcome counts of
each edge, the requirement statuses per source platform and for the whole run, the failed
findings by what they are about), its search classes and graph metrics, and for the latest
run its failed verdicts (the findings the site lists). A build holds every run's snapshot
(small), but the findings of at most two runs (`History`).

Reads the store (a run whose aggregates are missing or damaged has them computed again and
stored by audit.history.store.load_aggregates); the store module stays the owner of the
schema.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Text, cast, select
from sqlalchemy.engine import Engine

from audit.errors import HulianError
from audit.evidence.bundle import BundleError, read_manifest
from audit.history import aggregate
from audit.history import diff as diff_module
from audit.history.aggregate import FindingKey, RunAggregates, frameworks_of
from audit.history.diff import RunSummary
from audit.history.store import (
    RunRow,
    StoreError,
    VerdictRow,
    list_runs,
    load_aggregates,
    load_metrics,
    load_search,
    open_engine,
    run_as_dict,
)
from audit.model import RunManifest

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
    # outcome counts (plain dicts: a build holds 100 runs × thousands of edges)
    edges: dict[EdgeKey, dict[str, int]] = field(default_factory=dict)
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


FINDING_COLUMNS = ("id", "rule_id", "observation_id", "source", "surface", "target_platform",
                   "target_url", "outcome", "severity", "reason_zh", "reason_en")


def failed_verdicts(engine: Engine, run_id: str) -> list[dict[str, Any]]:
    """The run's failed verdicts in id order (FINDING_COLUMNS, requirements, evidence): the
    latest run's findings. A fraction of the run's verdicts, read whole."""
    v = VerdictRow
    query = (select(*(getattr(v, c) for c in FINDING_COLUMNS), cast(v.requirements, Text),
                    cast(v.evidence, Text))
             .where(v.run_id == run_id, v.status == "fail").order_by(v.id))
    parsed: dict[str | None, list[str]] = {}
    failed: list[dict[str, Any]] = []
    with engine.connect() as connection:
        for *values, requirements_json, evidence_json in connection.execute(query):
            record = dict(zip(FINDING_COLUMNS, values, strict=True))
            names = parsed.get(requirements_json)
            if names is None:  # a handful of distinct lists a run
                names = parsed[requirements_json] = [
                    str(r) for r in json.loads(requirements_json or "[]")]
            record["requirements"] = list(names)
            record["evidence"] = [str(e) for e in json.loads(evidence_json or "[]")]
            failed.append(record)
    return failed


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


# The code a cached snapshot, a run's details and a diff are made with besides the run's
# row: the diff (audit/history/diff.py) and, through `cache_code`, the version of the
# stored aggregates. A change to either reads every run again instead of keeping what the
# older code made.
CACHE_CODE = (Path(diff_module.__file__),)


@functools.cache
def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cache_code() -> str:
    """The digest of what the build cache's entries are made with besides the runs' rows
    (CACHE_CODE and the aggregates' version)."""
    parts = [f"aggregates {aggregate.VERSION}", *(_file_digest(p) for p in CACHE_CODE)]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def input_hash(row: RunRow) -> str:
    """What a run's cached snapshot was read from: its store row (counts, path, times, the
    time it was recorded, so a run imported again is read again), and the code it was made
    with (`cache_code`)."""
    text = json.dumps([run_as_dict(row), cache_code()], sort_keys=True, default=str)
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
        # the cache's own JSON (strings, ints): taken as it is, 3,400 edges × 100 runs
        edges={(s, sf, t): counts for s, sf, t, counts in record["edges"]},
        requirements=dict(record["requirements"]),
        run_requirements=dict(record["run_requirements"]),
        search={(str(p), str(t)): str(c) for p, t, c in record["search"]},
        bundle=bundle, manifest=manifest, bundle_problem=problem)


@dataclass
class Details:
    """A run's failed verdicts (FINDING_COLUMNS, requirements, evidence) and graph metrics:
    read for the latest run only (its findings are shown)."""

    findings: list[dict[str, Any]]
    metrics: list[tuple[str, str, str, float | None]]


class History:
    """The published runs as the build reads them: from the build cache (`cache`, the
    site's .build/) when the run's store row is unchanged since the build that cached it
    (each cache file holds the input hash it was made from: a run recorded again, or a
    build interrupted after writing some files, never pairs one file with another row),
    else from the store's aggregates of the run (audit/history/aggregate.py, stored when
    the run was recorded). `read` lists the runs
    whose aggregates were read from the store, in order: the build's own account of what an
    incremental build cost; `backfilled` the runs whose aggregates the store did not hold
    (recorded before it kept them) or held damaged, computed again from the run's rows
    (and stored), with why.

    Snapshots are small (edge counts, requirement statuses, search classes); a run's
    findings by key (what a diff compares) are kept for the last two runs asked for only."""

    KEEP = 2

    def __init__(self, engine: Engine, cache: Path):
        self.engine = engine
        self.cache = cache
        self.read: list[str] = []
        self.backfilled: list[tuple[str, str]] = []
        self._findings: OrderedDict[str, dict[FindingKey, dict[str, Any]]] = OrderedDict()

    def _file(self, kind: str, run_id: str) -> Path:
        return self.cache / kind / f"{slug(run_id)}.json"

    def _cached(self, kind: str, row: RunRow) -> Any:
        """The cached value of the run's row as it is now, else None."""
        cached = load_cache(self._file(kind, row.id))
        if cached is None or cached.get("input") != input_hash(row):
            return None
        return cached.get("value")

    def _store(self, kind: str, row: RunRow, value: dict[str, Any]) -> None:
        save_cache(self._file(kind, row.id), {"input": input_hash(row), "value": value})

    def _aggregates(self, row: RunRow, findings: bool) -> RunAggregates:
        try:
            aggregates, why = load_aggregates(self.engine, row, findings)
        except StoreError as exc:  # it names the run
            raise SiteError(str(exc)) from None
        if why is not None:
            self.backfilled.append((row.id, why))
        return aggregates

    def snapshot(self, row: RunRow) -> RunSnapshot:
        cached = self._cached("runs", row)
        if cached is not None:
            try:
                return snapshot_from_record(row, cached)
            except (KeyError, TypeError, ValueError):
                pass  # a cache file of another shape: read the run again
        self.read.append(row.id)
        aggregates = self._aggregates(row, findings=False)
        bundle, manifest, problem = bundle_of(row)
        snap = RunSnapshot(row=row, edges={k: dict(c) for k, c in aggregates.edges.items()},
                           requirements=aggregates.requirements,
                           run_requirements=aggregates.run_requirements,
                           search=load_search(self.engine, row.id), bundle=bundle,
                           manifest=manifest, bundle_problem=problem)
        self._store("runs", row, snapshot_record(snap))
        return snap

    def findings(self, row: RunRow) -> dict[FindingKey, dict[str, Any]]:
        """The run's failed findings by what they are about (the stored aggregates)."""
        if row.id not in self._findings:
            self._findings[row.id] = self._aggregates(row, findings=True).findings
            while len(self._findings) > self.KEEP:
                self._findings.popitem(last=False)
        self._findings.move_to_end(row.id)
        return self._findings[row.id]

    def details(self, row: RunRow) -> Details:
        """The run's failed verdicts and metrics, from the build cache or the store."""
        cached = self._cached("details", row)
        if cached is not None:
            try:
                return Details(list(cached["findings"]),
                               [(str(a), str(b), str(c), d) for a, b, c, d
                                in cached["metrics"]])
            except (KeyError, TypeError, ValueError):
                pass
        details = Details(failed_verdicts(self.engine, row.id),
                          load_metrics(self.engine, row.id))
        self._store("details", row, {"findings": details.findings,
                                     "metrics": details.metrics})
        return details

    def summary(self, row: RunRow, snap: RunSnapshot | None = None) -> RunSummary:
        """The run as audit.history.diff compares it, from the aggregates (the run may be
        one the site does not publish: the previous run of a published one)."""
        snap = snap or self.snapshot(row)
        return RunSummary(run_id=row.id, edges=snap.edges,
                          requirements=snap.run_requirements, findings=self.findings(row),
                          metrics=load_metrics(self.engine, row.id), search=snap.search,
                          frameworks=frameworks_of(snap.run_requirements))


# The build cache's files (here and in build.py) are orjson's: a run's details are megabytes,
# and an incremental build reads every run's diff (25 MB at 100 runs); several times faster
# than the json module both ways.
def load_cache(path: Path) -> dict[str, Any] | None:
    try:
        value = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def save_cache(path: Path, value: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(value, default=str))
