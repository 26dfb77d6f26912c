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

DuckDB groups the findings where they are (audit.report.findings.Findings, GROUPS_SQL): a run
of ten million observations has millions of findings, and a platform that writes a different
sentence on every page makes a group of each; Python receives the listed groups alone, and
makes Finding objects of their examples. The templates (reports/report.html.j2) render what
`layout` returns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from audit.model import Outcome, Severity, Text
from audit.report.findings import FINDING_STATUSES, Finding, Findings

FULL_LIST_MAX = 500
# Bytes of evidence blocks: the whole list (small runs), the examples (large runs). The rest
# of a page is bounded by the caps below, audit/report/shown.py's (the matrices, drawings
# and other lists that grow with the platforms) and the catalog's size, and stays under
# ~2 MB in the runs measured.
FULL_BUDGET = {"html": 2_500_000, "pdf": 1_000_000}
EXAMPLE_BUDGET = {"html": 1_500_000, "pdf": 600_000}
GROUP_ROWS = {"html": 2_000, "pdf": 300}
# Bytes of the group rows without their examples, an upper estimate of each (`row_size`):
# 2,000 rows of the 2,000-platform audit take ~1.6 MB, but reasons of a paragraph each made
# them 4.8 MB (a 6.8 MB page), so the rows past this are not listed.
GROUP_BUDGET = {"html": 2_400_000, "pdf": 480_000}
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
    rules: list[str] = field(default_factory=list)  # in the order its findings name them
    explanation: list[Text] = field(default_factory=list)  # its worst finding's reasons
    examples: list[Finding] = field(default_factory=list)  # worst first


@dataclass
class Layout:
    """What a page shows of the findings. full: every finding in `detailed` (the HTML's
    table; the PDF details the first pdf_cap); otherwise the first `groups` of all
    `group_count` (listed, with examples; `unlisted` findings are in the groups past them),
    and `detailed` holds those examples."""

    full: bool
    detailed: list[Finding]
    groups: list[FindingGroup]
    group_count: int
    unlisted: int
    examples: int  # findings shown as examples

    @property
    def shown_groups(self) -> int:
        return len(self.groups)


# A finding's group, and its place in it (from 1, worst first): the group is numbered by its
# first finding's position. Of each finding the table keeps its judgement's number, not the
# judgement (`finding_rows`: a few bytes a finding; there can be millions). Both numbers
# from one window definition (in position order the first is the smallest); DuckDB's
# window memory was the same as with two (~290 MB at ten million observations, spilled).
_GROUP = """PARTITION BY source, surface, target_platform, outcome, block_reason,
             CASE WHEN coalesce(block_reason, '') = '' THEN block_reason_text END"""
GROUPED_TABLE = f"""
CREATE OR REPLACE TABLE grouped AS
SELECT position, judgement, first_value(position) OVER grouping AS grp,
       row_number() OVER grouping AS nth
FROM finding_rows WINDOW grouping AS ({_GROUP} ORDER BY position)
"""

# The groups, worst first: the worst status, the worst severity, the most findings, the worst
# outcome, then by source, surface, target platform and reason; each with its first (worst)
# finding's fields. The ranks are the report's (findings.rank_tables). Each group counts its
# findings of each status (FINDING_STATUSES: fixed columns, which DuckDB spills; a map of
# each of a million groups it could not), and only the listed ones are joined to their
# first finding's judgement (its reasons' texts).
_ORDER = """status_rank DESC, severity_rank DESC, count DESC, outcome_rank DESC, source,
         surface, coalesce(target_platform, ''), coalesce(block_reason, ''),
         coalesce(reason_text, ''), grp"""
GROUPS_SQL = f"""
WITH counts AS (
  SELECT g.grp, count(*) AS count,
         {", ".join(f"count_if(j.status = '{status}')::BIGINT AS {status}"
                    for status in FINDING_STATUSES)},
         max(s.rank) AS status_rank, max(coalesce(v.rank, -1)) AS severity_rank
  FROM grouped g JOIN judgements j USING (judgement)
  JOIN status_ranks s ON s.status = j.status
  LEFT JOIN severity_ranks v ON v.severity = j.severity GROUP BY g.grp),
listed AS (
  SELECT c.*, f.judgement, f.source, f.surface, f.target_platform, f.outcome, f.block_reason,
         CASE WHEN coalesce(f.block_reason, '') = '' THEN f.block_reason_text END
           AS reason_text, o.rank AS outcome_rank
  FROM counts c JOIN finding_rows f ON f.position = c.grp
  JOIN outcome_ranks o ON o.outcome = f.outcome
  ORDER BY {_ORDER} LIMIT $limit)
SELECT l.grp, l.count, [{", ".join(f"l.{status}" for status in FINDING_STATUSES)}],
       l.severity_rank, j.status, l.source, l.surface, l.target_platform, l.outcome,
       l.block_reason, l.reason_text, j.reasons
FROM listed l JOIN judgements j USING (judgement)
ORDER BY {_ORDER}
"""

GROUP_COUNT = "SELECT count(DISTINCT grp) FROM grouped"

# The listed groups' examples (their first EXAMPLES_PER_GROUP findings) and their rules, in
# the order their findings name them.
EXAMPLES_SQL = """
SELECT grp, position FROM grouped
WHERE nth <= $examples AND list_contains($groups, grp) ORDER BY position
"""
RULES_SQL = """
SELECT g.grp, j.rules, min(g.position) AS first
FROM grouped g JOIN judgements j USING (judgement)
WHERE list_contains($groups, g.grp) GROUP BY g.grp, j.rules ORDER BY g.grp, first
"""

_SEVERITIES = list(Severity)  # by SEVERITY_RANK
_OUTCOMES = {o.value: o for o in Outcome}


def group_findings(findings: Findings, limit: int | None = None
                   ) -> tuple[list[FindingGroup], int]:
    """The first `limit` groups of `findings` (all without one), worst first, each with its
    first EXAMPLES_PER_GROUP findings as examples; and how many groups there are."""
    findings.execute(GROUPED_TABLE)
    ((count,),) = findings.query(GROUP_COUNT)
    rows = findings.query(GROUPS_SQL, {"limit": count if limit is None else limit})
    groups: dict[int, FindingGroup] = {}
    for (grp, size, statuses, severity, status, source, surface, target, outcome, reason,
         reason_text, reasons) in rows:
        groups[grp] = FindingGroup(
            source, surface, target, _OUTCOMES[outcome], reason, reason_text, count=size,
            statuses=Counter({name: n for name, n in zip(FINDING_STATUSES, statuses,
                                                           strict=True) if n}),
            status=status,
            severity=_SEVERITIES[severity] if severity >= 0 else None,
            explanation=[Text.model_construct(zh=r["zh"], en=r["en"]) for r in reasons])
    numbers = {"groups": list(groups)}
    for grp, rules, _ in findings.query(RULES_SQL, numbers):
        group = groups[grp]
        group.rules.extend(rule for rule in rules if rule not in group.rules)
    examples = findings.query(EXAMPLES_SQL, {**numbers, "examples": EXAMPLES_PER_GROUP})
    for (grp, _), example in zip(examples, findings.read(p for _, p in examples),
                                 strict=True):
        groups[grp].examples.append(example)
    return list(groups.values()), count


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


def _escaped_size(text: str) -> int:
    """The bytes of `text` in the page: UTF-8, each character HTML escapes as up to 5."""
    return len(text.encode()) + 4 * sum(text.count(c) for c in "&<>\"'")


def _text_size(text: Text) -> int:
    """The bytes of the longer of a text's two languages in the page."""
    return max(_escaped_size(text.zh), _escaped_size(text.en))


def row_size(g: FindingGroup, names: Mapping[str, Text] | None = None) -> int:
    """An upper estimate of the bytes a group's row takes in the page without its examples
    (reports/_macros.html.j2, the groups' table): the markup and badges, its source's and
    target's ids (in its attributes) and names (`names`, a platform's by id as the page
    shows them; else the id), its first reason, its rules, its stated reason as shortened
    (200 characters of up to 6 bytes, escaped); each text in the longer of its two
    languages."""
    names = names or {}
    reason = max(map(_text_size, g.explanation[:1]), default=0)
    shown = 0
    for platform in (g.source, g.target_platform or ""):
        name = names.get(platform)
        shown += 2 * _escaped_size(platform) + (
            _text_size(name) if name is not None else _escaped_size(platform))
    return (650 + reason + sum(len(rule) + 2 for rule in g.rules)
            + 6 * min(len(g.block_reason_text or ""), 200) + shown)


def _fitting(groups: list[FindingGroup], budget: int,
             names: Mapping[str, Text] | None) -> list[FindingGroup]:
    """The first groups whose rows fit `budget` (at least one)."""
    for n, group in enumerate(groups):
        budget -= row_size(group, names)
        if budget < 0:
            return groups[:max(1, n)]
    return groups


def layout(findings: Findings, mode: str, pdf_cap: int,
           names: Mapping[str, Text] | None = None) -> Layout:
    """What a page in `mode` (html or pdf) shows of `findings` (worst first); `names`: the
    platforms' names the page shows, by id."""
    if len(findings) <= FULL_LIST_MAX:
        shown = findings[:] if mode == "html" else findings[:pdf_cap]
        if sum(detail_size(f) for f in shown) <= FULL_BUDGET[mode]:
            return Layout(True, shown, [], 0, 0, 0)
    groups, count = group_findings(findings, GROUP_ROWS[mode])
    groups = _fitting(groups, GROUP_BUDGET[mode], names)
    budget = EXAMPLE_BUDGET[mode]
    detailed: list[Finding] = []
    # The worst groups get their examples, in order, until the budget is out.
    for group in groups:
        kept: list[Finding] = []
        for f in group.examples:
            size = detail_size(f)
            if size > budget:
                budget = -1
                break
            budget -= size
            kept.append(f)
        group.examples = kept
        detailed.extend(kept)
    return Layout(False, detailed, groups, count,
                  len(findings) - sum(g.count for g in groups), len(detailed))
