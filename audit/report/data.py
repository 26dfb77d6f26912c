"""What a report says, computed from a run bundle: findings, the source x target matrix,
per-requirement results, the summary and the changes since a previous run. DuckDB reads the
run's tables (audit/report/queries.py); this module turns what it returns into the report's
data, with the decisions made in Python (the worst status, a requirement's status, each distinct
judgement; report order is SQL over Python's ranks: audit/report/findings.py).

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

import hashlib
import heapq
import pickle
from collections import Counter
from collections.abc import Sequence
from dataclasses import astuple, dataclass, field
from pathlib import Path

from pydantic import ValidationError

from audit.evidence.bundle import (
    MANIFEST,
    OBSERVATIONS,
    Bundle,
    BundleError,
    ForcedEvaluation,
    Problem,
    bundle_files,
    forced_evaluations,
    sha256_file,
)
from audit.evidence.columnar import ColumnarError
from audit.evidence.custody import Custody, check_custody
from audit.evidence.review import ReviewItem, review_from_tables
from audit.evidence.sql import RunTables, TablesError, check_records, run_tables
from audit.judge.evaluate import RequirementStatus, requirement_rules
from audit.judge.outcomes import RANK
from audit.model import (
    Framework,
    RunManifest,
    Text,
    Verdict,
)
from audit.policy.catalog import Catalog
from audit.report import queries
from audit.report.findings import (
    FINDING_STATUSES,
    SEVERITY_RANK,
    Finding,
    FindingHop,
    Findings,
    rank_tables,
    status_rank,
)
from audit.report.groups import CROSS_CAP
from audit.report.search import SearchSection, search_section
from audit.report.spill import Spilled

__all__ = ["FINDING_STATUSES", "SEVERITY_RANK", "Finding", "FindingHop", "Findings",
           "ReportData", "build_report_data", "status_rank"]

@dataclass(slots=True)
class Cell:
    """One source x target pair of the matrix (a few hundred thousand of them where
    thousands of platforms link to each other: what the report shows of a pair, no more)."""

    worst: str | None  # worst measured outcome, or target_down/error when nothing else
    links: int = 0
    failed: int = 0


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
    failed: int  # findings that failed one of its rules
    finding_ids: list[str]  # the first LISTED_PER_REQUIREMENT of them, worst first
    finding_positions: list[int]  # where those are in ReportData.findings
    sources_failed: Counter[str]
    cross: list[Verdict]  # the first CROSS_LISTED graph-scope verdicts of its rules
    cross_count: int  # all of them


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
    findings: Findings  # worst first, in DuckDB (audit/report/findings.py)
    # Graph-scope verdicts (no observation) that failed or were exempt, in a temporary file
    # (an audit of thousands of platforms has hundreds of thousands: 1.7 GB as objects), each
    # as its JSON (`cross.blobs()`: findings.json's cross_target).
    cross: Spilled[Verdict]
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
    # Kept in a temporary file when built from a bundle (audit/report/spill.py): a platform
    # whose interstitial changed its wording sends every link it wraps here.
    review: Sequence[ReviewItem] = field(default_factory=list)
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
    # The findings each requirement x source failed, and could not read (queries.CASES):
    # (status, "<framework>/<requirement>", source) -> how many, the first positions.
    cases: dict[tuple[str, str, str], queries.Case] = field(default_factory=dict)

    @property
    def failed_count(self) -> int:
        return self.findings.statuses["fail"]

    def requirement_counts(self) -> Counter[str]:
        return Counter(str(r.status) for r in self.requirements)


def manifest_sha256(path: Path) -> str:
    file = path / MANIFEST
    return hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else ""


@dataclass
class _VerdictFigures:
    cross: Spilled[Verdict]
    cross_listed: dict[str, list[Verdict]]  # requirement -> its first CROSS_LISTED
    cross_counts: Counter[str]  # requirement -> its graph-scope verdicts
    statuses: Counter[str]
    failed_by_severity: Counter[str]
    by_rule: Counter[tuple[str, str]]  # (rule id, status) -> verdicts
    requirement_status: dict[str, RequirementStatus]  # "<framework>/<requirement>" -> status


def _verdict_figures(tables: RunTables, frameworks: list[Framework]) -> _VerdictFigures:
    statuses: Counter[str] = Counter()
    failed_by_severity: Counter[str] = Counter()
    by_rule: Counter[tuple[str, str]] = Counter()
    for rule_id, status, severity, count in queries.verdict_counts(tables):
        statuses[status] += count
        by_rule[(rule_id, status)] += count
        if status == "fail":
            failed_by_severity[severity] += count
    rules_of = requirement_rules(frameworks)
    requirements_of: dict[str, list[str]] = {}
    for key, rules in rules_of.items():
        for rule in rules:
            requirements_of.setdefault(rule, []).append(key)
    listed: dict[str, list[Verdict]] = {}
    counts: Counter[str] = Counter()
    # Kept as DuckDB wrote each (findings.json's cross_target has them so), and each
    # requirement's first CROSS_LISTED listed (the page shows no more), in the order the
    # verdicts are read. Only those listed are made Verdicts: the table's checks
    # (check_records) already refused any the model would (~9 us a verdict, 3.5 s of a
    # million observations' ~390,000).
    cross: Spilled[Verdict] = Spilled("the report's cross-target verdicts",
                                      decode=Verdict.model_validate_json)
    try:
        for rule_id, text in queries.graph_verdict_json(tables):
            verdict: Verdict | None = None
            for key in requirements_of.get(rule_id, ()):
                counts[key] += 1
                if len(kept := listed.setdefault(key, [])) < CROSS_LISTED:
                    verdict = verdict or _graph_verdict(text)
                    kept.append(verdict)
            cross.add_blob(text.encode("utf-8"))
        cross.flush()
    except BaseException:
        cross.close()  # its temporary file, whatever ended the reading (DuckDB, a full disk)
        raise
    return _VerdictFigures(cross, listed, counts, statuses, failed_by_severity, by_rule,
                           queries.requirement_statuses(tables, rules_of))


def _graph_verdict(text: str) -> Verdict:
    try:
        return Verdict.model_validate_json(text)
    except ValidationError as exc:  # what the table's checks let by (none the model refuses)
        raise BundleError(f"verdicts: invalid graph verdict ({exc})") from None


def _encode_review(item: ReviewItem) -> bytes:
    return pickle.dumps(astuple(item), pickle.HIGHEST_PROTOCOL)


def _decode_review(blob: bytes) -> ReviewItem:
    return ReviewItem(*pickle.loads(blob))  # the report's own file (audit/report/spill.py)


def _cells(tables: RunTables, level: str) -> dict[tuple[str, str], Cell]:
    """The matrix's cells at a level (queries.matrix_cells), in the order of their first
    observations."""
    return {(row, column): Cell(worst=worst, links=links)
            for row, column, worst, links in queries.matrix_cells(tables, level)}


def _matrix(cells: dict[tuple[str, str], Cell], failed: Counter[tuple[str, str]],
            names: dict[str, Text]) -> Matrix:
    for key, cell in cells.items():
        cell.failed = failed[key]
    rows = sorted({r for r, _ in cells})
    columns = sorted({c for _, c in cells})
    return Matrix(rows, columns, cells, names)


def build_report_data(path: Path, catalog: Catalog, *, previous: Path | None = None,
                      fresh_tables: bool = False) -> ReportData:
    """Compute everything a report shows from the bundle at `path`: DuckDB reads its tables
    (audit/report/queries.py; the bundle's Parquet files, built into the cache for a bundle
    without current ones) and keeps the findings (audit/report/findings.py: the tables are
    the findings' from then on). fresh_tables: the tables of the bundle and of `previous`
    built again from the JSON lines (a report with --allow-unverified: either bundle failed
    verification)."""
    bundle = Bundle(path)
    try:
        tables = run_tables(path, fresh=fresh_tables)
    except (ColumnarError, TablesError) as exc:
        raise BundleError(str(exc)) from None
    try:
        return _build(path, catalog, bundle, tables, previous, fresh_tables)
    except (ColumnarError, TablesError) as exc:
        tables.close()
        raise BundleError(str(exc)) from None
    except BaseException:
        tables.close()
        raise


def _findings(tables: RunTables) -> Findings:
    """The run's findings, each with its judgement (queries.judge_findings: DuckDB decides
    each distinct one once), in report order. Needs rank_tables."""
    queries.judge_findings(tables)
    return Findings.of_run(tables, queries.RUN_FINDING_KEYS, queries.RUN_FINDINGS_VIEW)


def _build(path: Path, catalog: Catalog, bundle: Bundle, tables: RunTables,
           previous: Path | None, fresh_tables: bool) -> ReportData:
    frameworks = list(catalog.frameworks.values())
    check_records(path, tables)
    platform_failed: Counter[tuple[str, str]] = Counter()
    company_failed: Counter[tuple[str, str]] = Counter()
    company = {pid: p.company for pid, p in catalog.platforms.items()}
    rank_tables(tables, company)
    outcomes = Counter(dict(queries.outcome_counts(tables)))
    platform_cells = _cells(tables, "platform")
    company_cells = _cells(tables, "company")
    try:
        review = Spilled("the report's review queue", review_from_tables(tables),
                         encode=_encode_review, decode=_decode_review)
    except (KeyError, TypeError, AttributeError) as exc:
        raise BundleError(f"{path / OBSERVATIONS}: invalid record ({exc!r})") from None
    figures = _verdict_figures(tables, frameworks)
    findings = _findings(tables)
    for source, target, count in queries.failed_pairs(findings):
        platform_failed[(source, target)] += count
        company_failed[(company.get(source, source), company.get(target, target))] += count
    cases = queries.cases(findings, max(LISTED_PER_REQUIREMENT, queries.CASE_LISTED))
    platform_names = {pid: p.name for pid, p in catalog.platforms.items()}
    company_names = {cid: c.name for cid, c in catalog.companies.items()}
    data = ReportData(
        manifest=bundle.manifest, manifest_sha256=manifest_sha256(path), path=path,
        frameworks=frameworks, findings=findings, cross=figures.cross,
        requirements=_requirements(frameworks, catalog, figures, findings, cases),
        platform_matrix=_matrix(platform_cells, platform_failed, platform_names),
        company_matrix=_matrix(company_cells, company_failed, company_names),
        observations=sum(outcomes.values()), outcomes=outcomes,
        verdict_statuses=figures.statuses,
        failed_by_severity=figures.failed_by_severity,
        sources=sorted({source for source, _ in platform_cells}),
        targets=sorted({target for _, target in platform_cells}),
        platform_names=platform_names, company_names=company_names,
        platform_company=company,
        files=sorted((bundle.manifest.files or _current_files(path)).items()),
        sealed=bool(bundle.manifest.files), forced=forced_evaluations(bundle.manifest),
        review=review, cases=cases,
    )
    if previous is not None:
        # The report's problems are the previous bundle's too: read from its lines alike.
        # This run's edges from its open tables (a second pass over its groups, not a
        # second build of its tables from the lines when they are fresh).
        data.diff = diff_edges(previous, queries.edge_worst(tables),
                               fresh_tables=fresh_tables)
    data.search = search_section(bundle.search(), catalog)
    custody = check_custody(path)
    if custody.signature.state != "absent" or custody.timestamp.state != "absent":
        data.custody = custody
    return data


# A requirement lists this many of its cross-target verdicts (the HTML shows them all, the
# PDF fewer: groups.CROSS_CAP); its count is of all of them.
CROSS_LISTED = max(CROSS_CAP.values())

# A requirement lists this many of its failed findings, the worst (the HTML shows 50, the
# PDF 12: audit/report/render.py); the count and the sources are of all of them.
LISTED_PER_REQUIREMENT = 50


def _requirements(frameworks: list[Framework], catalog: Catalog, judgement: _VerdictFigures,
                  findings: Findings, cases: dict[tuple[str, str, str], queries.Case],
                  ) -> list[RequirementResult]:
    # Each requirement's failed findings by source (cases come in the order of their worst
    # finding): listed, the worst few of all its sources.
    listed: dict[str, list[int]] = {}
    sources: dict[str, Counter[str]] = {}
    failed: Counter[str] = Counter()
    for (status, key, source), case in cases.items():
        if status != "fail":
            continue
        failed[key] += case.findings
        sources.setdefault(key, Counter())[source] = case.findings
        listed[key] = heapq.nsmallest(LISTED_PER_REQUIREMENT,
                                      [*listed.get(key, ()), *case.first])
    wanted = sorted({p for positions in listed.values() for p in positions})
    ids = dict(zip(wanted, (f.id for f in findings.read(wanted)), strict=True))
    results: list[RequirementResult] = []
    for framework in frameworks:
        for req in framework.requirements:
            key = f"{framework.id}/{req.id}"
            rules = set(req.rules)
            counts: Counter[str] = Counter()
            for (rule_id, status), n in judgement.by_rule.items():
                if rule_id in rules:
                    counts[status] += n
            rule_rows = [(rid, catalog.rules[rid].title, catalog.rules[rid].severity.value)
                         for rid in req.rules if rid in catalog.rules]
            positions = listed.get(key, [])
            results.append(RequirementResult(
                framework=framework.id, id=req.id, title=req.title, wording=req.wording,
                source_document=req.source.document, source_date=req.source.date,
                source_url=req.source.url, source_status=req.source.status, rules=rule_rows,
                status=judgement.requirement_status[key], counts=counts,
                failed=failed[key], finding_ids=[ids[p] for p in positions],
                finding_positions=positions, sources_failed=sources.get(key, Counter()),
                cross=judgement.cross_listed.get(key, []),
                cross_count=judgement.cross_counts[key],
            ))
    return results


def _current_files(path: Path) -> dict[str, str]:
    return {p.relative_to(path).as_posix(): sha256_file(p) for p in bundle_files(path)}


def edge_outcomes(path: Path, *, fresh_tables: bool = False
                  ) -> dict[tuple[str, str, str], str]:
    """Worst outcome per (source, surface, target platform) of a run. fresh_tables: read
    from its lines (a bundle that failed verification: audit.evidence.sql.run_tables)."""
    try:
        with run_tables(path, verdicts=False, fresh=fresh_tables) as tables:
            rank_tables(tables, {})
            return queries.edge_worst(tables)
    except (ColumnarError, TablesError) as exc:
        raise BundleError(str(exc)) from None


def diff_edges(previous: Path, current: dict[tuple[str, str, str], str], *,
               fresh_tables: bool = False) -> Diff:
    """A simple per-edge comparison of worst outcomes (a full diff is `hulian diff`'s job)."""
    before = edge_outcomes(previous, fresh_tables=fresh_tables)
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
