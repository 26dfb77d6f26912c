"""What a report says, computed from a run bundle: findings, the source x target matrix,
per-requirement results, the summary and the changes since a previous run.

Plain data, no templating: the HTML/PDF templates (audit/report.py) and the machine outputs
(audit/exports.py) read the same `ReportData`, so every format states the same facts.

A *finding* is one measured link (one observation) that at least one rule did not pass:
status `fail` (a rule forbids the outcome), `exempt` (it would fail, but an exemption with a
recorded justification applies) or `inconclusive` (the measurement cannot decide: target down,
error). Links that every applicable rule passed, and links no rule applies to (same company),
are counted in the matrix and the summary, not listed. A finding's id is the probe id, a hash
of (source, surface, target URL), so the same link has the same id in every run.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, cast

from audit.bundle import (
    MANIFEST,
    OBSERVATIONS,
    VERDICTS,
    Bundle,
    BundleError,
    bundle_files,
    sha256_file,
)
from audit.catalog import Catalog
from audit.evaluate import RequirementStatus, requirement_status
from audit.model import (
    SEVERITY_ORDER,
    Framework,
    Hop,
    Observation,
    Outcome,
    RunManifest,
    Severity,
    Status,
    Text,
    Verdict,
)

# Finding statuses, worst first; a link's status is the worst of its rules' answers.
FINDING_STATUSES = ("fail", "exempt", "inconclusive")
_STATUS_RANK = {"fail": 3, "exempt": 2, "pass": 1, "inconclusive": 0}
SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}  # Severity.rank is slow in hot loops

# Outcome order for "worst outcome" comparisons; target_down and error rank below every
# measured outcome because they say nothing about the platform.
OUTCOME_RANK: dict[str, int] = {"error": -2, "target_down": -1,
                                **{o.value: i for i, o in enumerate(SEVERITY_ORDER)}}


@dataclass(slots=True)
class Finding:
    id: str
    observation_id: str
    status: str
    severity: Severity | None
    source: str
    source_company: str | None
    surface: str
    target_url: str
    target_platform: str | None
    target_company: str | None
    outcome: Outcome
    block_reason: str | None
    rules: list[str]
    requirements: list[str]
    reasons: list[Text]
    exemptions: list[str]
    hops: list[Hop]
    final_url: str | None
    signature: str | None
    title: str | None
    excerpt: str | None
    control_ok: bool | None
    failure: str | None
    evidence: list[str]

    @property
    def sort_key(self) -> tuple[int, int, int, str, str, str]:
        return (-_STATUS_RANK[self.status],
                -(SEVERITY_RANK[self.severity] if self.severity else -1),
                -OUTCOME_RANK.get(self.outcome.value, 0), self.source, self.surface,
                self.target_url)


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
        return "worse" if OUTCOME_RANK[self.after] > OUTCOME_RANK[self.before] else "better"


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
    findings: list[Finding]
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

    @property
    def failed_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "fail"]

    def requirement_counts(self) -> Counter[str]:
        return Counter(str(r.status) for r in self.requirements)


def manifest_sha256(path: Path) -> str:
    file = path / MANIFEST
    return hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else ""


@dataclass(slots=True)
class _Judged:
    """The verdicts of one observation, reduced to what a finding needs."""

    status: str = "none"
    severity: Severity | None = None
    rules: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    reasons: list[Text] = field(default_factory=list)
    exemptions: list[str] = field(default_factory=list)


# What requirement_status needs of a verdict: (rule id, observation id, verdict id, status).
# Kept as tuples because a large run has millions of verdicts.
_Slim = tuple[str, str | None, str, Status]


@dataclass
class _Judgement:
    judged: dict[str, _Judged]
    cross: list[Verdict]
    statuses: Counter[str]
    failed_by_severity: Counter[str]
    slim: list[_Slim]
    by_rule: Counter[tuple[str, str]]  # (rule id, status) -> verdicts

    def verdicts(self) -> Iterable[Verdict]:
        # requirement_status reads only id, rule_id, observation_id and status; building
        # real Verdicts for a million rows would cost more than the whole report.
        slim = (_SlimVerdict(verdict_id, rule_id, obs_id, status)
                for rule_id, obs_id, verdict_id, status in self.slim)
        return cast(Iterable[Verdict], slim)


class _SlimVerdict(NamedTuple):
    id: str
    rule_id: str
    observation_id: str | None
    status: Status


class _V(NamedTuple):
    """The part of a verdict a report reads, parsed without pydantic validation: a large run
    has millions of verdict lines, and validating them would dominate the report's time."""

    id: str
    rule_id: str
    observation_id: str | None
    status: Status
    severity: Severity
    reason: Text
    exemption: str | None
    requirements: list[str]


def _fast_verdicts(path: Path) -> Iterator[_V | Verdict]:
    for record in _json_lines(path / VERDICTS):
        if record.get("observation_id") is None:
            yield Verdict.model_validate(record)  # graph verdicts: few, shown in full
            continue
        reason = record["reason"]
        yield _V(record["id"], record["rule_id"], record["observation_id"],
                 Status(record["status"]), Severity(record["severity"]),
                 Text.model_construct(zh=reason["zh"], en=reason["en"]),
                 record.get("exemption"), record.get("requirements") or [])


def _json_lines(file: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSONL file as dicts; a partial last line (an interrupted write) is
    skipped, as the bundle reader does."""
    if not file.exists():
        return
    with file.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                yield json.loads(raw)
            except ValueError:
                if not raw.endswith(b"\n"):
                    return
                raise BundleError(f"{file}:{number}: invalid JSON") from None


def _judge(verdicts: Iterable[_V | Verdict]) -> _Judgement:
    """Group verdicts per observation, keeping only the worst status's rules and reasons
    (memory stays proportional to observations, not to verdicts)."""
    judged: dict[str, _Judged] = {}
    cross: list[Verdict] = []
    statuses: Counter[str] = Counter()
    failed_by_severity: Counter[str] = Counter()
    slim: list[_Slim] = []
    by_rule: Counter[tuple[str, str]] = Counter()
    for verdict in verdicts:
        slim.append((verdict.rule_id, verdict.observation_id, verdict.id, verdict.status))
        status = verdict.status.value
        by_rule[(verdict.rule_id, status)] += 1
        statuses[status] += 1
        if verdict.status is Status.FAIL:
            failed_by_severity[verdict.severity.value] += 1
        if verdict.observation_id is None:
            if verdict.status in (Status.FAIL, Status.EXEMPT) and isinstance(verdict, Verdict):
                cross.append(verdict)
            continue
        entry = judged.setdefault(verdict.observation_id, _Judged())
        rank = _STATUS_RANK[status]
        if entry.status == "none" or rank > _STATUS_RANK[entry.status]:
            entry.status, entry.severity = status, verdict.severity
            entry.rules, entry.reasons, entry.exemptions = [], [], []
            entry.requirements = []
        if status == entry.status:
            entry.rules.append(verdict.rule_id)
            entry.reasons.append(verdict.reason)
            if verdict.exemption:
                entry.exemptions.append(verdict.exemption)
            for req in verdict.requirements:
                if req not in entry.requirements:
                    entry.requirements.append(req)
            if (entry.severity is None
                    or SEVERITY_RANK[verdict.severity] > SEVERITY_RANK[entry.severity]):
                entry.severity = verdict.severity
    return _Judgement(judged, cross, statuses, failed_by_severity, slim, by_rule)


def _finding(obs: Observation, judged: _Judged, catalog: Catalog) -> Finding:
    page = obs.page
    return Finding(
        id=obs.probe_id, observation_id=obs.id, status=judged.status,
        severity=judged.severity if judged.status in ("fail", "exempt") else None,
        source=obs.source, source_company=catalog.company_of(obs.source),
        surface=obs.surface.value, target_url=obs.target_url,
        target_platform=obs.target_platform,
        target_company=catalog.company_of(obs.target_platform),
        outcome=obs.outcome, block_reason=obs.reason.value if obs.reason else None,
        rules=judged.rules, requirements=judged.requirements, reasons=judged.reasons,
        exemptions=judged.exemptions, hops=obs.hops, final_url=obs.final_url,
        signature=page.signature if page else None, title=page.title if page else None,
        excerpt=page.excerpt if page else None, control_ok=obs.control_ok,
        failure=obs.failure, evidence=obs.evidence,
    )


def _worse(a: str | None, b: str) -> str:
    return b if a is None or OUTCOME_RANK[b] > OUTCOME_RANK[a] else a


def _matrix(pairs: Counter[tuple[str, str, str]], failed: Counter[tuple[str, str]],
            names: dict[str, Text]) -> Matrix:
    cells: dict[tuple[str, str], Cell] = {}
    for (row, col, outcome), n in pairs.items():
        cell = cells.setdefault((row, col), Cell(worst=None))
        cell.links += n
        cell.outcomes[outcome] += n
        cell.worst = _worse(cell.worst, outcome)
    for key, cell in cells.items():
        cell.failed = failed[key]
    rows = sorted({r for r, _ in cells})
    columns = sorted({c for _, c in cells})
    return Matrix(rows, columns, cells, names)


def build_report_data(path: Path, catalog: Catalog, *,
                      verdicts: Iterable[Verdict] | None = None,
                      previous: Path | None = None) -> ReportData:
    """Read the bundle at `path` (streaming) and compute everything a report shows.
    `verdicts` may be passed when the caller already holds them (the end of `hulian run`)."""
    bundle = Bundle(path)
    judgement_all = _judge(verdicts if verdicts is not None else _fast_verdicts(path))
    judged = judgement_all.judged
    findings: list[Finding] = []
    outcomes: Counter[str] = Counter()
    platform_pairs: Counter[tuple[str, str, str]] = Counter()
    company_pairs: Counter[tuple[str, str, str]] = Counter()
    platform_failed: Counter[tuple[str, str]] = Counter()
    company_failed: Counter[tuple[str, str]] = Counter()
    sources: set[str] = set()
    targets: set[str] = set()
    edges: dict[tuple[str, str, str], str] = {}
    empty = _Judged()
    company = {pid: p.company for pid, p in catalog.platforms.items()}
    # Dicts first, a validated Observation only for findings (see _V for why).
    for record in _json_lines(path / OBSERVATIONS):
        source, outcome = record["source"], record["outcome"]
        target = record.get("target_platform") or "(other)"
        source_company = company.get(source, source)
        target_company = company.get(target, target)
        outcomes[outcome] += 1
        sources.add(source)
        targets.add(target)
        platform_pairs[(source, target, outcome)] += 1
        company_pairs[(source_company, target_company, outcome)] += 1
        key = (source, record["surface"], target)
        edges[key] = _worse(edges.get(key), outcome)
        judgement = judged.get(record["id"], empty)
        if judgement.status == "fail":
            platform_failed[(source, target)] += 1
            company_failed[(source_company, target_company)] += 1
        if judgement.status in FINDING_STATUSES:
            findings.append(_finding(Observation.model_validate(record), judgement, catalog))
    findings.sort(key=lambda f: f.sort_key)
    platform_names = {pid: p.name for pid, p in catalog.platforms.items()}
    company_names = {cid: c.name for cid, c in catalog.companies.items()}
    frameworks = list(catalog.frameworks.values())
    data = ReportData(
        manifest=bundle.manifest, manifest_sha256=manifest_sha256(path), path=path,
        frameworks=frameworks, findings=findings, cross=judgement_all.cross,
        requirements=_requirements(frameworks, catalog, judgement_all, findings),
        platform_matrix=_matrix(platform_pairs, platform_failed, platform_names),
        company_matrix=_matrix(company_pairs, company_failed, company_names),
        observations=sum(outcomes.values()), outcomes=outcomes,
        verdict_statuses=judgement_all.statuses,
        failed_by_severity=judgement_all.failed_by_severity, sources=sorted(sources),
        targets=sorted(targets), platform_names=platform_names,
        company_names=company_names,
        platform_company={pid: p.company for pid, p in catalog.platforms.items()},
        files=sorted((bundle.manifest.files or _current_files(path)).items()),
        sealed=bool(bundle.manifest.files),
    )
    if previous is not None:
        data.diff = diff_edges(previous, edges)
    return data


def _requirements(frameworks: list[Framework], catalog: Catalog, judgement: _Judgement,
                  findings: list[Finding]) -> list[RequirementResult]:
    # One pass over the findings for all requirements (large runs: no per-requirement scan).
    failed_by_req: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.status == "fail":
            for key in finding.requirements:
                failed_by_req.setdefault(key, []).append(finding)
    results: list[RequirementResult] = []
    for framework in frameworks:
        statuses = requirement_status(judgement.verdicts(), framework)
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
                status=statuses[req.id], counts=counts, finding_ids=[f.id for f in failed],
                sources_failed=Counter(f.source for f in failed),
                cross=[v for v in judgement.cross if v.rule_id in rules],
            ))
    return results


def _current_files(path: Path) -> dict[str, str]:
    return {p.relative_to(path).as_posix(): sha256_file(p) for p in bundle_files(path)}


def edge_outcomes(path: Path) -> dict[tuple[str, str, str], str]:
    """Worst outcome per (source, surface, target platform) of a run."""
    edges: dict[tuple[str, str, str], str] = {}
    for obs in Bundle(path).observations():
        key = (obs.source, obs.surface.value, obs.target_platform or "(other)")
        edges[key] = _worse(edges.get(key), obs.outcome.value)
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
