"""What a report says, computed from a run bundle: findings, the source x target matrix,
per-requirement results, the summary and the changes since a previous run.

Plain data, no templating: the HTML/PDF templates (audit/report/render.py) and the machine outputs
(audit/report/exports.py) read the same `ReportData`, so every format states the same facts.

A *finding* is one measured link (one observation) that at least one rule did not pass:
status `fail` (a rule forbids the outcome), `exempt` (it would fail, but an exemption with a
recorded justification applies) or `inconclusive` (the measurement cannot decide: target down,
error). Links that every applicable rule passed, and links no rule applies to (same company),
are counted in the matrix and the summary, not listed. A finding's id is the probe id, a hash
of (source, surface, target URL), so the same link has the same id in every run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

try:  # orjson parses bundle lines 3-4x faster than json; the stdlib is the fallback
    from orjson import loads as _orjson_loads

    _loads: Callable[[bytes], Any] = _orjson_loads
except ImportError:  # pragma: no cover - orjson is a dependency
    _loads = json.loads

from audit.evidence.bundle import (
    MANIFEST,
    OBSERVATIONS,
    VERDICTS,
    Bundle,
    BundleError,
    ForcedEvaluation,
    Problem,
    bundle_files,
    forced_evaluations,
    sha256_file,
)
from audit.evidence.custody import Custody, check_custody
from audit.evidence.review import UNRECOGNIZED, ReviewItem, review_item
from audit.judge.evaluate import (
    RequirementStatus,
    RequirementTally,
    requirement_rules,
)
from audit.judge.outcomes import RANK, worse_of
from audit.model import (
    Framework,
    Outcome,
    RunManifest,
    Severity,
    SurfaceKind,
    Text,
    Verdict,
)
from audit.policy.catalog import Catalog
from audit.report.findings import (
    FINDING_STATUSES,
    SEVERITY_RANK,
    STATUS_RANK,
    Finding,
    FindingHop,
    Findings,
    status_rank,
)
from audit.report.search import SearchSection, search_section

__all__ = ["FINDING_STATUSES", "SEVERITY_RANK", "Finding", "FindingHop", "Findings",
           "ReportData", "build_report_data", "status_rank"]

@dataclass(slots=True)
class Cell:
    """One source x target pair of the matrix."""

    worst: str | None  # worst measured outcome, or target_down/error when nothing else
    links: int = 0
    failed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


@dataclass
class Matrix:
    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell]
    names: dict[str, Text]


@dataclass
class RequirementResult:
    framework: str
    id: str
    title: Text
    wording: str
    source_document: str
    source_date: str | None
    source_url: str | None
    source_status: str | None
    rules: list[tuple[str, Text, str]]  # (rule id, title, severity)
    status: RequirementStatus
    counts: Counter[str]  # verdict statuses of its rules
    finding_ids: list[str]  # findings that failed one of its rules, worst first
    sources_failed: Counter[str]
    cross: list[Verdict]  # graph-scope verdicts of its rules


@dataclass
class EdgeChange:
    source: str
    surface: str
    target: str
    before: str | None
    after: str | None

    @property
    def kind(self) -> str:
        if self.before is None:
            return "new"
        if self.after is None:
            return "gone"
        return "worse" if RANK[self.after] > RANK[self.before] else "better"


@dataclass
class Diff:
    previous_run: str
    changes: list[EdgeChange]
    unchanged: int


@dataclass
class ReportData:
    manifest: RunManifest
    manifest_sha256: str
    path: Path
    frameworks: list[Framework]
    findings: Findings  # worst first, in a temporary file (audit/report/findings.py)
    cross: list[Verdict]  # graph-scope verdicts (no observation) that failed or were exempt
    requirements: list[RequirementResult]
    platform_matrix: Matrix
    company_matrix: Matrix
    observations: int
    outcomes: Counter[str]
    verdict_statuses: Counter[str]
    failed_by_severity: Counter[str]
    sources: list[str]
    targets: list[str]
    platform_names: dict[str, Text]
    company_names: dict[str, Text]
    platform_company: dict[str, str]
    files: list[tuple[str, str]]
    sealed: bool  # False: rendered before the manifest listed the files (hashes computed now)
    diff: Diff | None = None
    # Observations whose outcome is `unrecognized`: the review queue (a section of the
    # report, and review.csv).
    review: list[ReviewItem] = field(default_factory=list)
    # Every `evaluate --force` the manifest records (shown on the cover of every report).
    forced: list[ForcedEvaluation] = field(default_factory=list)
    # Rendered with --allow-unverified: what verification found (the banner of every output).
    unverified: list[Problem] | None = None
    # The bundle's signature and timestamp, judged when the report is rendered (None: it has
    # neither): the cover's chain of custody.
    custody: Custody | None = None
    # Search barriers (audit/report/search.py): engines x platforms, the search verdicts;
    # None when the run measured none.
    search: SearchSection | None = None

    @property
    def failed_count(self) -> int:
        return self.findings.statuses["fail"]

    def requirement_counts(self) -> Counter[str]:
        return Counter(str(r.status) for r in self.requirements)


def manifest_sha256(path: Path) -> str:
    file = path / MANIFEST
    return hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else ""


@dataclass(slots=True)
class _Judged:
    """The verdicts of one observation, reduced to what a finding needs."""

    status: str = "none"
    severity: str | None = None
    rules: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    reasons: list[Text] = field(default_factory=list)
    exemptions: list[str] = field(default_factory=list)


# What a passed observation is judged: one shared entry, no rules nor reasons kept (a pass is
# not a finding; a million-observation run passes most of its links).
_PASSED = _Judged(status="pass")
_PASS_RANK = STATUS_RANK["pass"]


@dataclass
class _Judgement:
    judged: dict[str, _Judged]
    cross: list[Verdict]
    statuses: Counter[str]
    failed_by_severity: Counter[str]
    by_rule: Counter[tuple[str, str]]  # (rule id, status) -> verdicts
    requirement_status: dict[str, RequirementStatus]  # "<framework>/<requirement>" -> status


_OUTCOMES = {o.value: o for o in Outcome}
_SURFACES = {s.value: s for s in SurfaceKind}
_SEVERITIES = {s.value: s for s in Severity}


def _verdict_record(verdict: Verdict) -> dict[str, Any]:
    """A verdict held in memory as the dict _judge reads (the same keys as a bundle line)."""
    return {"id": verdict.id, "rule_id": verdict.rule_id,
            "observation_id": verdict.observation_id, "status": verdict.status.value,
            "severity": verdict.severity.value, "reason": verdict.reason,
            "exemption": verdict.exemption, "requirements": verdict.requirements,
            "source": verdict.source, "target_platform": verdict.target_platform,
            "_verdict": verdict}


def _json_lines(file: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSONL file as dicts (no pydantic validation: the bundle writer validated
    them, `hulian verify` checks their hashes, and validating a million lines would dominate
    a report's time); a partial last line (an interrupted write) is skipped, as the bundle
    reader does."""
    if not file.exists():
        return
    with file.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            try:
                yield _loads(raw)
            except ValueError:
                if not raw.strip():
                    continue
                if not raw.endswith(b"\n"):
                    return
                raise BundleError(f"{file}:{number}: invalid JSON") from None


def _judge(records: Iterable[dict[str, Any]], frameworks: list[Framework]) -> _Judgement:
    """One pass over the verdicts: group them per observation keeping only the worst status's
    rules and reasons (memory follows observations, not verdicts), count them, and decide
    every requirement (audit.judge.evaluate.RequirementTally, with the catalog's rules)."""
    judged: dict[str, _Judged] = {}
    cross: list[Verdict] = []
    statuses: Counter[str] = Counter()
    failed_by_severity: Counter[str] = Counter()
    by_rule: Counter[tuple[str, str]] = Counter()
    rules_of = requirement_rules(frameworks)
    rule_reqs: dict[str, list[str]] = {}
    for key, rules in rules_of.items():
        for rule_id in rules:
            rule_reqs.setdefault(rule_id, []).append(key)
    tally = RequirementTally(rules_of)
    texts: dict[tuple[str, str], Text] = {}  # one Text per distinct reason
    status_rank = STATUS_RANK
    try:
        for rec in records:
            rule_id = rec["rule_id"]
            status = rec["status"]
            obs_id = rec.get("observation_id")
            by_rule[(rule_id, status)] += 1
            statuses[status] += 1
            if status == "fail":
                failed_by_severity[rec["severity"]] += 1
            reqs = rule_reqs.get(rule_id)
            if reqs:
                tally.add(reqs, status, obs_id, rec["id"])
            if obs_id is None:
                if status in ("fail", "exempt"):
                    verdict = rec.get("_verdict")
                    cross.append(verdict if isinstance(verdict, Verdict)
                                 else Verdict.model_validate(rec))
                continue
            entry = judged.get(obs_id)
            if entry is _PASSED or (entry is None and status == "pass"):
                if status == "pass" or status_rank[status] < _PASS_RANK:
                    judged[obs_id] = _PASSED
                    continue
                entry = None
            if entry is None:
                entry = judged[obs_id] = _Judged()
            if entry.status != status:
                if entry.status != "none" and status_rank[status] < status_rank[entry.status]:
                    continue
                if status == "pass":
                    judged[obs_id] = _PASSED
                    continue
                entry.status, entry.severity = status, None
                entry.rules, entry.reasons, entry.exemptions = [], [], []
                entry.requirements = []
            entry.rules.append(rule_id)
            reason = rec["reason"]
            if isinstance(reason, dict):
                pair = (reason["zh"], reason["en"])
                text = texts.get(pair)
                if text is None:
                    text = texts[pair] = Text.model_construct(zh=pair[0], en=pair[1])
                reason = text
            elif not isinstance(reason, Text):  # a verdict held in memory carries its Text
                raise TypeError(f"reason {reason!r} is not a {{zh, en}} text")
            entry.reasons.append(reason)
            exemption = rec.get("exemption")
            if exemption:
                entry.exemptions.append(exemption)
            for req in rec.get("requirements") or ():
                if req not in entry.requirements:
                    entry.requirements.append(req)
            severity = rec["severity"]
            if (entry.severity is None
                    or SEVERITY_RANK[_SEVERITIES[severity]]
                    > SEVERITY_RANK[_SEVERITIES[entry.severity]]):
                entry.severity = severity
    except (KeyError, TypeError) as exc:
        raise BundleError(f"verdicts: invalid record ({exc!r})") from None
    return _Judgement(judged, cross, statuses, failed_by_severity, by_rule, tally.statuses())


def _findings_only(judged: dict[str, _Judged]) -> dict[str, _Judged]:
    """The judgements that make findings (all the findings need), identical ones as one
    object: a million-observation run has ~400,000 findings but a few thousand distinct
    judgements, and this dict is what the judging helper sends back to the report's process
    (pickle keeps the sharing)."""
    shared: dict[tuple[object, ...], _Judged] = {}
    kept: dict[str, _Judged] = {}
    for obs_id, entry in judged.items():
        if entry.status in FINDING_STATUSES:
            # The reasons are one Text per distinct text already (_judge): their ids say it.
            key = (entry.status, entry.severity, *entry.rules, None, *entry.requirements,
                   None, *map(id, entry.reasons), None, *entry.exemptions)
            kept[obs_id] = shared.setdefault(key, entry)
    return kept


def _hop(h: dict[str, Any]) -> FindingHop:
    return FindingHop(h["url"], h.get("status"), h.get("location"), h.get("via", "start"),
                      h.get("elapsed_ms"), h.get("body_sha256"), h.get("warc_record_id"))


def _finding(record: dict[str, Any], judged: _Judged, company: dict[str, str]) -> Finding:
    page = record.get("page") or {}
    source = record["source"]
    target = record.get("target_platform")
    severity = judged.severity if judged.status in ("fail", "exempt") else None
    return Finding(
        id=record["probe_id"], observation_id=record["id"], status=judged.status,
        severity=_SEVERITIES[severity] if severity else None,
        source=source, source_company=company.get(source),
        surface=_SURFACES[record["surface"]].value, target_url=record["target_url"],
        target_platform=target, target_company=company.get(target) if target else None,
        outcome=_OUTCOMES[record["outcome"]], block_reason=record.get("reason"),
        block_reason_text=page.get("reason_text"),
        rules=judged.rules, requirements=judged.requirements, reasons=judged.reasons,
        exemptions=judged.exemptions, hops=[_hop(h) for h in record.get("hops") or ()],
        final_url=record.get("final_url"), signature=page.get("signature"),
        title=page.get("title"), excerpt=page.get("excerpt"),
        control_ok=record.get("control_ok"), failure=record.get("failure"),
        evidence=list(record.get("evidence") or ()),
    )


def _matrix(pairs: Counter[tuple[str, str, str]], failed: Counter[tuple[str, str]],
            names: dict[str, Text]) -> Matrix:
    cells: dict[tuple[str, str], Cell] = {}
    for (row, col, outcome), n in pairs.items():
        cell = cells.setdefault((row, col), Cell(worst=None))
        cell.links += n
        cell.outcomes[outcome] += n
        cell.worst = worse_of(cell.worst, outcome)
    for key, cell in cells.items():
        cell.failed = failed[key]
    rows = sorted({r for r, _ in cells})
    columns = sorted({c for _, c in cells})
    return Matrix(rows, columns, cells, names)


def build_report_data(path: Path, catalog: Catalog, *,
                      verdicts: Iterable[Verdict] | None = None,
                      previous: Path | None = None, parallel: bool = False) -> ReportData:
    """Read the bundle at `path` (streaming, each file once) and compute everything a report
    shows. `verdicts` may be passed when the caller already holds them (the end of
    `hulian run`). parallel: judge the verdicts in a forked helper process while this one
    reads the observations."""
    bundle = Bundle(path)
    frameworks = list(catalog.frameworks.values())

    def judge_verdicts(send: Callable[[object], None]) -> None:
        records = (map(_verdict_record, verdicts) if verdicts is not None
                   else _json_lines(path / VERDICTS))
        judgement = _judge(records, frameworks)
        judgement.judged = _findings_only(judgement.judged)
        send(judgement)

    worker = Worker(judge_verdicts) if parallel and can_fork() else InlineWorker(judge_verdicts)
    try:
        return _build(path, catalog, bundle, frameworks, worker, previous)
    finally:
        worker.close()


def _build(path: Path, catalog: Catalog, bundle: Bundle, frameworks: list[Framework],
           worker: Worker | InlineWorker, previous: Path | None) -> ReportData:
    outcomes: Counter[str] = Counter()
    platform_pairs: Counter[tuple[str, str, str]] = Counter()
    company_pairs: Counter[tuple[str, str, str]] = Counter()
    platform_failed: Counter[tuple[str, str]] = Counter()
    company_failed: Counter[tuple[str, str]] = Counter()
    edges: dict[tuple[str, str, str], str] = {}
    company = {pid: p.company for pid, p in catalog.platforms.items()}
    review: list[ReviewItem] = []
    number = 0
    try:
        for record in _json_lines(path / OBSERVATIONS):
            number += 1
            source, outcome = record["source"], record["outcome"]
            target = record.get("target_platform") or "(other)"
            outcomes[outcome] += 1
            platform_pairs[(source, target, outcome)] += 1
            company_pairs[(company.get(source, source), company.get(target, target),
                           outcome)] += 1
            key = (source, record["surface"], target)
            edges[key] = worse_of(edges.get(key), outcome)
            if outcome == UNRECOGNIZED:
                item = review_item(record)
                if item is not None:
                    review.append(item)
    except (KeyError, TypeError, AttributeError) as exc:
        raise BundleError(f"{path / OBSERVATIONS}:{number}: invalid record ({exc!r})") from None
    judgement_all: _Judgement = worker.receive()
    judged = judgement_all.judged
    findings = Findings()
    # The observations are read a second time rather than held until the verdicts are judged:
    # a parsed record with its hops is kilobytes, and a million of them would be gigabytes;
    # the second read costs ~10 us a line.
    number = 0
    try:
        for number, record in enumerate(_json_lines(path / OBSERVATIONS), 1):  # noqa: B007
            judgement = judged.get(record["id"])
            if judgement is None:
                continue
            if judgement.status == "fail":
                source = record["source"]
                target = record.get("target_platform") or "(other)"
                platform_failed[(source, target)] += 1
                company_failed[(company.get(source, source), company.get(target, target))] += 1
            findings.add(_finding(record, judgement, company))
    except (KeyError, TypeError, AttributeError) as exc:
        findings.close()
        raise BundleError(f"{path / OBSERVATIONS}:{number}: invalid record ({exc!r})") from None
    del judged
    judgement_all.judged = {}  # each judgement is in its finding now
    platform_names = {pid: p.name for pid, p in catalog.platforms.items()}
    company_names = {cid: c.name for cid, c in catalog.companies.items()}
    data = ReportData(
        manifest=bundle.manifest, manifest_sha256=manifest_sha256(path), path=path,
        frameworks=frameworks, findings=findings, cross=judgement_all.cross,
        requirements=_requirements(frameworks, catalog, judgement_all, findings),
        platform_matrix=_matrix(platform_pairs, platform_failed, platform_names),
        company_matrix=_matrix(company_pairs, company_failed, company_names),
        observations=sum(outcomes.values()), outcomes=outcomes,
        verdict_statuses=judgement_all.statuses,
        failed_by_severity=judgement_all.failed_by_severity,
        sources=sorted({s for s, _, _ in edges}), targets=sorted({t for _, _, t in edges}),
        platform_names=platform_names, company_names=company_names,
        platform_company=company,
        files=sorted((bundle.manifest.files or _current_files(path)).items()),
        sealed=bool(bundle.manifest.files), forced=forced_evaluations(bundle.manifest),
        review=review,
    )
    if previous is not None:
        data.diff = diff_edges(previous, edges)
    data.search = search_section(bundle.search(), catalog)
    custody = check_custody(path)
    if custody.signature.state != "absent" or custody.timestamp.state != "absent":
        data.custody = custody
    return data


# ---------------------------------------------------------------------------------------
# A helper process (the report uses both cores of a small machine)
# ---------------------------------------------------------------------------------------


def can_fork() -> bool:
    """Fork a helper process? Only where fork exists and a second core is there to use;
    HULIAN_REPORT_JOBS=1 keeps everything in one process."""
    return (hasattr(os, "fork") and (os.cpu_count() or 1) > 1
            and os.environ.get("HULIAN_REPORT_JOBS", "") != "1")


class Worker:
    """`work(send)` run in a forked child (which shares the parent's memory as it was at the
    fork, without copying); each `send(value)` is pickled back and returned, in order, by
    `receive()`. An exception in the child is raised again by `receive()`."""

    def __init__(self, work: Callable[[Callable[[object], None]], None]):
        read_end, write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            code = 1
            try:
                os.close(read_end)
                with os.fdopen(write_end, "wb") as pipe:
                    def send(value: object) -> None:
                        pickle.dump(("ok", value), pipe, protocol=pickle.HIGHEST_PROTOCOL)
                        pipe.flush()

                    try:
                        work(send)
                        code = 0
                    except BaseException as exc:
                        with contextlib.suppress(BaseException):
                            try:
                                pickle.dump(("error", exc), pipe)
                            except Exception:
                                pickle.dump(("error", RuntimeError(traceback.format_exc())),
                                            pipe)
                            pipe.flush()
            finally:
                os._exit(code)
        os.close(write_end)
        self._pipe: Any = os.fdopen(read_end, "rb")

    def receive(self) -> Any:
        try:
            kind, value = pickle.load(self._pipe)
        except EOFError:
            raise BundleError("the report's helper process ended without an answer") from None
        if kind == "error":
            raise value
        return value

    def close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
            os.waitpid(self.pid, 0)


class InlineWorker:
    """Worker's interface without a process: `work` runs at once, in this one."""

    def __init__(self, work: Callable[[Callable[[object], None]], None]):
        self._results: list[object] = []
        work(self._results.append)

    def receive(self) -> Any:
        return self._results.pop(0)

    def close(self) -> None:
        self._results.clear()


def _requirements(frameworks: list[Framework], catalog: Catalog, judgement: _Judgement,
                  findings: Findings) -> list[RequirementResult]:
    # One pass over the findings for all requirements (large runs: no per-requirement scan),
    # keeping of each failed finding its id and source.
    failed_by_req: dict[str, list[tuple[str, str]]] = {}
    for finding in findings:
        if finding.status == "fail":
            for key in finding.requirements:
                failed_by_req.setdefault(key, []).append((finding.id, finding.source))
    results: list[RequirementResult] = []
    for framework in frameworks:
        for req in framework.requirements:
            key = f"{framework.id}/{req.id}"
            rules = set(req.rules)
            counts: Counter[str] = Counter()
            for (rule_id, status), n in judgement.by_rule.items():
                if rule_id in rules:
                    counts[status] += n
            failed = failed_by_req.get(key, [])
            rule_rows = [(rid, catalog.rules[rid].title, catalog.rules[rid].severity.value)
                         for rid in req.rules if rid in catalog.rules]
            results.append(RequirementResult(
                framework=framework.id, id=req.id, title=req.title, wording=req.wording,
                source_document=req.source.document, source_date=req.source.date,
                source_url=req.source.url, source_status=req.source.status, rules=rule_rows,
                status=judgement.requirement_status[key], counts=counts,
                finding_ids=[finding_id for finding_id, _ in failed],
                sources_failed=Counter(source for _, source in failed),
                cross=[v for v in judgement.cross if v.rule_id in rules],
            ))
    return results


def _current_files(path: Path) -> dict[str, str]:
    return {p.relative_to(path).as_posix(): sha256_file(p) for p in bundle_files(path)}


def edge_outcomes(path: Path) -> dict[tuple[str, str, str], str]:
    """Worst outcome per (source, surface, target platform) of a run."""
    edges: dict[tuple[str, str, str], str] = {}
    for record in _json_lines(path / OBSERVATIONS):
        key = (record["source"], record["surface"], record.get("target_platform") or "(other)")
        edges[key] = worse_of(edges.get(key), record["outcome"])
    return edges


def diff_edges(previous: Path, current: dict[tuple[str, str, str], str]) -> Diff:
    """A simple per-edge comparison of worst outcomes (a full diff is `hulian diff`'s job)."""
    before = edge_outcomes(previous)
    changes: list[EdgeChange] = []
    unchanged = 0
    for key in sorted(set(before) | set(current)):
        old, new = before.get(key), current.get(key)
        if old == new:
            unchanged += 1
        else:
            changes.append(EdgeChange(*key, before=old, after=new))
    order = {"worse": 0, "new": 1, "better": 2, "gone": 3}
    changes.sort(key=lambda c: (order[c.kind], c.source, c.surface, c.target))
    return Diff(previous_run=Bundle(previous).manifest.run_id, changes=changes,
                unchanged=unchanged)


def time_span(manifest: RunManifest) -> tuple[datetime, datetime | None]:
    return manifest.started_at, manifest.finished_at
