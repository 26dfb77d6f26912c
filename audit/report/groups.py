"""What of a run's findings the HTML and PDF reports can show in full, and the groups they
show instead when a run is large (issue 16: a report a person can open at any scale).

A report page must stay openable — under 5 MB — whatever the run's size; findings.csv and
findings.json (audit/report/exports.py) keep listing every finding with its evidence.

- **Small runs** (the lab, a day of a few platforms) list every finding with its evidence, as
  they always did: at most FULL_LIST_MAX findings whose evidence blocks fit FULL_BUDGET.
  A finding's row and evidence block cost ~3 KB of HTML (the 100,000-observation benchmark
  run: 123 MB for 39,081 findings), so 500 findings are ~1.5 MB: a lab run (tens of findings)
  is far below, and a run of many hundreds is already too long to read finding by finding.
  The byte budget (an upper estimate of each block, detail_size) keeps the bound when the
  findings carry long URLs and full hop chains.
- **Large runs**: findings grouped by source × surface × target platform × outcome × stated
  reason, worst first, each with its count per verdict status, its worst severity, its rules,
  and up to EXAMPLES_PER_GROUP example links with their full evidence; groups are listed up
  to GROUP_ROWS, examples given while EXAMPLE_BUDGET lasts.

Pure functions over audit.report.data.Finding; the templates (reports/report.html.j2) render
what `layout` returns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from audit.judge.outcomes import RANK
from audit.model import Outcome, Severity, Text
from audit.report.data import SEVERITY_RANK, Finding, status_rank

FULL_LIST_MAX = 500
# Bytes of evidence blocks: the whole list (small runs), the examples (large runs). The rest
# of a page (matrix, requirements, review queue, appendix, figure) is bounded by the caps
# below and the catalog's size, and stays under ~2 MB.
FULL_BUDGET = {"html": 2_500_000, "pdf": 1_000_000}
EXAMPLE_BUDGET = {"html": 1_500_000, "pdf": 600_000}
GROUP_ROWS = {"html": 2_000, "pdf": 300}
EXAMPLES_PER_GROUP = 3
# Rows of the review queue (review.csv has them all), of cross-target verdicts per
# requirement and of the appendix's file list (manifest.json has them all).
REVIEW_CAP = {"html": 500, "pdf": 200}
CROSS_CAP = {"html": 50, "pdf": 12}
FILES_CAP = 1_000


@dataclass(slots=True)
class FindingGroup:
    """Findings of one source × surface × target platform × outcome × stated reason."""

    source: str
    surface: str
    target_platform: str | None
    outcome: Outcome
    block_reason: str | None  # the reason slug the page stated
    block_reason_text: str | None  # the page's own sentence, when no slug fits
    count: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    status: str = "inconclusive"  # the worst of its findings
    severity: Severity | None = None  # the worst of its failed or exempt findings
    rules: list[str] = field(default_factory=list)
    explanation: list[Text] = field(default_factory=list)  # its worst finding's reasons
    examples: list[Finding] = field(default_factory=list)  # worst first

    @property
    def sort_key(self) -> tuple[int, int, int, int, str, str, str, str, str]:
        return (-status_rank(self.status),
                -(SEVERITY_RANK[self.severity] if self.severity else -1),
                -self.count, -RANK[self.outcome], self.source, self.surface,
                self.target_platform or "", self.block_reason or "",
                self.block_reason_text or "")


@dataclass
class Layout:
    """What a page shows of the findings. full: every finding in `detailed` (the HTML's
    table; the PDF details the first pdf_cap); otherwise `groups` (the first `shown_groups`
    of them listed) with examples, and `detailed` holds those examples."""

    full: bool
    detailed: list[Finding]
    groups: list[FindingGroup]
    shown_groups: int
    examples: int  # findings shown as examples


def group_findings(findings: Sequence[Finding]) -> list[FindingGroup]:
    """The groups of `findings` (given worst first, ReportData.findings' order), worst
    first; each group keeps its first EXAMPLES_PER_GROUP findings as examples."""
    groups: dict[tuple[str, str, str | None, str, str | None, str | None], FindingGroup] = {}
    for f in findings:
        key = (f.source, f.surface, f.target_platform, f.outcome.value, f.block_reason,
               None if f.block_reason else f.block_reason_text)
        group = groups.get(key)
        if group is None:
            group = groups[key] = FindingGroup(f.source, f.surface, f.target_platform,
                                               f.outcome, key[4], key[5], status=f.status,
                                               severity=f.severity,
                                               explanation=list(f.reasons))
        group.count += 1
        group.statuses[f.status] += 1
        if status_rank(f.status) > status_rank(group.status):
            group.status = f.status
            group.explanation = list(f.reasons)
        if f.severity is not None and (group.severity is None or SEVERITY_RANK[f.severity]
                                       > SEVERITY_RANK[group.severity]):
            group.severity = f.severity
        for rule in f.rules:
            if rule not in group.rules:
                group.rules.append(rule)
        if len(group.examples) < EXAMPLES_PER_GROUP:
            group.examples.append(f)
    return sorted(groups.values(), key=lambda g: g.sort_key)


def detail_size(f: Finding) -> int:
    """An upper estimate of the bytes a finding's row and evidence block take in the page
    (reports/_macros.html.j2: finding_rows, finding_detail): the markup and labels, every URL
    up to three times (link, escaped text; `&` escapes to 5 bytes), page text as UTF-8 (3
    bytes a CJK character), as shortened by the macros."""
    urls = len(f.target_url) * 4 + sum(len(h.url) * 3 + min(len(h.location or ""), 100) * 3
                                       + 120 for h in f.hops)
    text = 3 * (min(len(f.title or ""), 200) + min(len(f.excerpt or ""), 600)
                + len(f.block_reason_text or "")
                + sum(len(r.zh) + len(r.en) for r in f.reasons))
    listed = sum(len(x) + 20 for x in (*f.rules, *f.exemptions)) + sum(
        len(e) * 2 + 90 for e in f.evidence)
    return 2_000 + urls + text + listed + 2 * len(f.signature or "") + len(f.failure or "")


def layout(findings: Sequence[Finding], mode: str, pdf_cap: int) -> Layout:
    """What a page in `mode` (html or pdf) shows of `findings` (worst first)."""
    if len(findings) <= FULL_LIST_MAX:
        shown = findings if mode == "html" else findings[:pdf_cap]
        if sum(detail_size(f) for f in shown) <= FULL_BUDGET[mode]:
            return Layout(True, list(shown), [], 0, 0)
    groups = group_findings(findings)
    shown_groups = min(len(groups), GROUP_ROWS[mode])
    budget = EXAMPLE_BUDGET[mode]
    detailed: list[Finding] = []
    # The worst groups get their examples, in order, until the budget is out; the groups
    # past the listed ones get none.
    for i, group in enumerate(groups):
        kept: list[Finding] = []
        for f in group.examples if i < shown_groups else ():
            size = detail_size(f)
            if size > budget:
                budget = -1
                break
            budget -= size
            kept.append(f)
        group.examples = kept
        detailed.extend(kept)
    return Layout(False, detailed, groups, shown_groups, len(detailed))
