"""A run's findings (audit.report.data builds them): a DuckDB table in report order.

A report lists every finding in findings.json and findings.csv, and its page shows groups and
examples of them (audit/report/groups.py). Ten million observations make ~4 million findings,
15 GB as those two files: made in Python, a finding at a time, they were most of a large
report's time. So a run's findings stay in DuckDB (audit.evidence.sql.RunTables): a view
(`report_findings`) joins each finding's observation, in the run's Parquet table, to its
judgement (decided by DuckDB once per distinct one: queries.JUDGEMENTS), and `report_order`
numbers them in report order. DuckDB writes the two files (`copy`), groups and counts them
(`query`); Python makes Finding objects only of the few a page shows (`read`).

Findings given as objects (tests; `Findings(findings)`) go to a table of their own with the
same columns, ordered by the same statement.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple, overload

from audit.ahead import made_ahead
from audit.evidence.sql import RunTables
from audit.judge.outcomes import RANK
from audit.model import Outcome, Severity, Text
from audit.report.spill import item_or_slice

# Finding statuses, in the order a report lists them. A link's status is its rules' answer
# that says the most: a fail, then an exemption, then a pass; inconclusive only where no rule
# could say anything (a pass of one rule beside another's inconclusive is no finding). Not
# the order of a requirement's statuses (audit/history/diff.py: pass, inconclusive, fail)
# nor of a unit's verdicts (audit/judge/evaluate.py, UNIT_RANK): each says something else.
FINDING_STATUSES = ("fail", "exempt", "inconclusive")
STATUS_RANK = {"fail": 3, "exempt": 2, "pass": 1, "inconclusive": 0}
# By text (a Severity is its text): Severity.rank is slow in hot loops.
SEVERITY_RANK: dict[str, int] = {s.value: i for i, s in enumerate(Severity)}


def status_rank(status: str) -> int:
    """A finding status's place in FINDING_STATUSES' order (higher is worse)."""
    return STATUS_RANK[status]


class FindingHop(NamedTuple):
    """One hop of a finding's chain: the fields of audit.model.Hop, in its order (read from
    the bundle without building a pydantic model per hop)."""

    url: str
    status: int | None = None
    location: str | None = None
    via: str = "start"
    elapsed_ms: float | None = None
    body_sha256: str | None = None
    warc_record_id: str | None = None


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
    block_reason_text: str | None  # the page's own sentence, when no reason slug fits
    rules: list[str]
    requirements: list[str]
    reasons: list[Text]
    exemptions: list[str]
    hops: list[FindingHop]
    final_url: str | None
    signature: str | None
    title: str | None
    excerpt: str | None
    control_ok: bool | None
    failure: str | None
    evidence: list[str]


# The columns of a finding (Finding's fields in order) in DuckDB: those of its judgement, one
# per distinct judgement (`judgements`, by number), and the others, of its observation
# (`finding_rows`, with its judgement's number).
HOP_TYPE = ("STRUCT(url VARCHAR, status INTEGER, location VARCHAR, via VARCHAR, "
            "elapsed_ms DOUBLE, body_sha256 VARCHAR, warc_record_id VARCHAR)")
REASON_TYPE = "STRUCT(zh VARCHAR, en VARCHAR)"
FINDING_COLUMNS = [
    ("id", "VARCHAR"), ("observation_id", "VARCHAR"), ("status", "VARCHAR"),
    ("severity", "VARCHAR"), ("source", "VARCHAR"), ("source_company", "VARCHAR"),
    ("surface", "VARCHAR"), ("target_url", "VARCHAR"), ("target_platform", "VARCHAR"),
    ("target_company", "VARCHAR"), ("outcome", "VARCHAR"), ("block_reason", "VARCHAR"),
    ("block_reason_text", "VARCHAR"), ("rules", "VARCHAR[]"), ("requirements", "VARCHAR[]"),
    ("reasons", f"{REASON_TYPE}[]"), ("exemptions", "VARCHAR[]"), ("hops", f"{HOP_TYPE}[]"),
    ("final_url", "VARCHAR"), ("signature", "VARCHAR"), ("title", "VARCHAR"),
    ("excerpt", "VARCHAR"), ("control_ok", "BOOLEAN"), ("failure", "VARCHAR"),
    ("evidence", "VARCHAR[]"),
]
JUDGED = ("status", "severity", "rules", "requirements", "reasons", "exemptions")
JUDGEMENT_COLUMNS = [("judgement", "BIGINT"),
                     *((name, kind) for name, kind in FINDING_COLUMNS if name in JUDGED)]
OBSERVED_COLUMNS = [(name, kind) for name, kind in FINDING_COLUMNS if name not in JUDGED]

# Report order, the one statement of it: worst status, then worst severity, then worst
# outcome first (the ranks are Python's: STATUS_RANK, SEVERITY_RANK, outcomes.RANK, given as
# tables); then by source, surface and URL (texts by their UTF-8 bytes, which is code point
# order); then in the order measured (`added`). `position` numbers the findings in it, and
# each keeps its judgement's number: a query over the findings then joins their
# observations and no other table of millions of rows (one hash join less, ~200 MB at ten
# million observations). `relation`: the findings' `added`, judgement number, outcome,
# source, surface, target_url.
REPORT_ORDER = """
CREATE OR REPLACE TABLE report_order AS
SELECT row_number() OVER (ORDER BY s.rank DESC, coalesce(v.rank, -1) DESC, o.rank DESC,
                          f.source, f.surface, f.target_url, f.added) - 1 AS position,
       f.added, f.judgement
FROM ({relation}) f JOIN judgements j USING (judgement)
JOIN status_ranks s ON s.status = j.status
LEFT JOIN severity_ranks v ON v.severity = j.severity
JOIN outcome_ranks o ON o.outcome = f.outcome
ORDER BY position
"""

# Findings given as objects: their table (OBSERVED_COLUMNS, `added` and `judgement`).
VALUE_ROWS_VIEW = """
CREATE OR REPLACE VIEW finding_rows AS
SELECT p.position, v.* EXCLUDE (added) FROM report_order p JOIN finding_values v USING (added)
"""

_FINDING_SELECT = ", ".join(
    f"j.{name}" if name in JUDGED else f"r.{name}" for name, _ in FINDING_COLUMNS)

# The findings as the report lists them (`position`, FINDING_COLUMNS, and the number of the
# judgement whose fields they have: `judgements`). A LEFT JOIN (every finding has its
# judgement) because DuckDB does not reorder those: it joins the judgements last, building
# its hash table of them (of the columns a query names). As an inner join it could join
# them first, and then build one of every finding with its reasons' sentences (~1.3 KB a
# finding), more than its memory limit at a million observations.
REPORT_FINDINGS_VIEW = f"""
CREATE OR REPLACE VIEW report_findings AS
SELECT r.position, {_FINDING_SELECT}, r.judgement
FROM finding_rows r LEFT JOIN judgements j USING (judgement)
"""

# The same of some findings (`which`: a condition on `finding_rows`), joined to those
# findings' judgements alone: a run of thousands of platforms has about as many judgements
# as findings (millions at ten million observations), and a hash table of all of them with
# their reasons was most of DuckDB's memory limit to read five findings.
SOME_FINDINGS = f"""
WITH r AS (SELECT * FROM finding_rows WHERE {{which}}),
j AS (SELECT * FROM judgements SEMI JOIN r USING (judgement))
SELECT r.position, {_FINDING_SELECT}, r.judgement FROM r LEFT JOIN j USING (judgement)
"""
# Those at the positions in `wanted` (Findings.at).
WANTED_FINDINGS_VIEW = "CREATE OR REPLACE VIEW wanted_findings AS " + SOME_FINDINGS.format(
    which="position IN (SELECT position FROM wanted)")


def rank_tables(tables: RunTables, company: Mapping[str, str]) -> None:
    """The decisions the report's SQL orders and counts by, as tables: each status's rank
    (and whether it makes a finding), each severity's, each outcome's; and each platform's
    company."""
    tables.table("status_ranks",
                 [("status", "VARCHAR"), ("rank", "INTEGER"), ("finding", "BOOLEAN")],
                 [(status, rank, status in FINDING_STATUSES)
                  for status, rank in STATUS_RANK.items()])
    tables.table("severity_ranks", [("severity", "VARCHAR"), ("rank", "INTEGER")],
                 SEVERITY_RANK.items())
    tables.table("outcome_ranks", [("outcome", "VARCHAR"), ("rank", "INTEGER")], RANK.items())
    tables.table("companies", [("platform", "VARCHAR"), ("company", "VARCHAR")],
                 company.items())


_SEVERITIES = {s.value: s for s in Severity}
_OUTCOMES = {o.value: o for o in Outcome}
READ_ROWS = 65_536  # findings read at a time when walking them all
BATCHES_AHEAD = 4  # Arrow batches (8,192 rows) DuckDB makes ahead of `batches`' caller
Judgement = tuple[object, ...]  # JUDGEMENT_COLUMNS


def judgement_row(number: int, values: Mapping[str, object]) -> Judgement:
    """A judgement as a row of JUDGEMENT_COLUMNS: its number, then its JUDGED fields (texts,
    lists of texts, reasons as {zh, en})."""
    return (number, *(values[name] for name in JUDGED))


class Findings(Sequence[Finding]):
    """Findings in report order (REPORT_ORDER) in a DuckDB database: a run's (`of_run`), or
    those given (`Findings(findings)`). `findings[i]`, slices and `read` make Finding objects
    of those asked for; iterating walks them all, READ_ROWS at a time (small runs, tests).
    `statuses`: the findings by status. `query` and `batches` ask DuckDB about them in SQL
    over the view `report_findings` (`position`, from 0 in report order, FINDING_COLUMNS and
    `judgement`)."""

    def __init__(self, findings: Iterable[Finding] = ()) -> None:
        tables = RunTables(None)
        try:
            rank_tables(tables, {})
            rows, judgements = [], []
            for added, finding in enumerate(findings):
                observed, judged = _value_rows(finding)
                rows.append((added, added + 1, *observed))
                judgements.append((added + 1, *judged))
            tables.table("finding_values",
                         [("added", "BIGINT"), ("judgement", "BIGINT"), *OBSERVED_COLUMNS],
                         rows)
            self._open(tables, judgements, "SELECT * FROM finding_values", VALUE_ROWS_VIEW)
        except BaseException:
            tables.close()
            raise

    @classmethod
    def of_run(cls, tables: RunTables, relation: str, view: str) -> Findings:
        """A run's findings: the tables hold their `judgements` (JUDGEMENT_COLUMNS, numbered
        from 1) and the rank tables, `relation` gives REPORT_ORDER the keys of each, `view`
        makes `finding_rows` of `report_order` (OBSERVED_COLUMNS, `position` and
        `judgement`). The tables are the store's from here: closed with it."""
        findings = cls.__new__(cls)
        findings._open(tables, None, relation, view)
        return findings

    def _open(self, tables: RunTables, judgements: Iterable[Judgement] | None, relation: str,
              view: str) -> None:
        """judgements: the `judgements` table's rows (None: the table is there)."""
        self._tables = tables
        self._closer = weakref.finalize(self, tables.close)
        if judgements is not None:
            tables.table("judgements", JUDGEMENT_COLUMNS, judgements)
        tables.execute(REPORT_ORDER.format(relation=relation))
        tables.execute(view)
        tables.execute(REPORT_FINDINGS_VIEW)
        tables.table("wanted", [("position", "BIGINT")], [])
        tables.execute(WANTED_FINDINGS_VIEW)
        self._texts: dict[tuple[str, str], Text] = {}  # each distinct reason made once
        self.statuses: Counter[str] = Counter(dict(tables.all(
            "SELECT j.status, count(*) FROM report_order JOIN judgements j USING (judgement) "
            "GROUP BY ALL")))
        self._length = sum(self.statuses.values())

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> Finding: ...

    @overload
    def __getitem__(self, index: slice) -> list[Finding]: ...

    def __getitem__(self, index: int | slice) -> Finding | list[Finding]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._length)
            if step == 1:
                return self._range(start, stop)
        return item_or_slice(index, self._length, lambda i: self.read([i])[0])

    def __iter__(self) -> Iterator[Finding]:
        for start in range(0, self._length, READ_ROWS):
            yield from self._range(start, start + READ_ROWS)

    def _range(self, start: int, stop: int) -> list[Finding]:
        return self._findings(
            SOME_FINDINGS.format(which="position >= $start AND position < $stop")
            + "ORDER BY position", {"start": start, "stop": stop})

    def read(self, positions: Iterable[int]) -> list[Finding]:
        """The findings at these positions, in the order given (one query whatever their
        number: each query reads the observations' table)."""
        wanted = list(positions)
        if not wanted:
            return []
        rows = self.at("SELECT * FROM wanted_findings ORDER BY position", set(wanted))
        found = dict(zip(sorted(set(wanted)), map(self._finding, rows), strict=True))
        return [found[p] for p in wanted]

    def at(self, sql: str, positions: Iterable[int]) -> Iterator[tuple[Any, ...]]:
        """A query's rows over the findings at `positions` (distinct), given to it as the
        table `wanted` (`position`) to join, or through the view `wanted_findings` (those
        findings as `report_findings` has them): DuckDB makes a filter of the join's
        positions and applies it as it scans `report_order`, before it joins their
        observations and judgements. The rows come as they are read: read them before the
        next call, which replaces `wanted`."""
        self._tables.table("wanted", [("position", "BIGINT")], ((p,) for p in positions))
        return self._tables.nested_rows(sql)

    def _findings(self, sql: str, params: Mapping[str, object] | None = None
                  ) -> list[Finding]:
        return [self._finding(row) for row in self._tables.nested_rows(sql, params)]

    def _finding(self, row: tuple[Any, ...]) -> Finding:
        values = list(row[1:-1])  # without the position and the judgement's number
        texts = self._texts
        reasons = []
        for reason in values[_REASONS]:
            pair = (reason["zh"], reason["en"])
            text = texts.get(pair)
            if text is None:
                text = texts[pair] = Text.model_construct(zh=pair[0], en=pair[1])
            reasons.append(text)
        values[_REASONS] = reasons
        values[_HOPS] = [FindingHop(*h.values()) for h in values[_HOPS]]
        values[_SEVERITY] = _SEVERITIES[values[_SEVERITY]] if values[_SEVERITY] else None
        values[_OUTCOME] = _OUTCOMES[values[_OUTCOME]]
        return Finding(*values)

    def query(self, sql: str, params: Mapping[str, object] | None = None
              ) -> list[tuple[Any, ...]]:
        """A query's rows (SQL over `report_findings` and the rank tables), nested columns as
        Python lists and dicts."""
        return list(self._tables.nested_rows(sql, params))

    def execute(self, sql: str) -> None:
        """A statement over the findings (a table of them a few queries then read)."""
        self._tables.execute(sql)

    def batches(self, sql: str, rows: int | None = None) -> Generator[Any, None, None]:
        """A query's rows (SQL over `report_findings`) as Arrow record batches, in the order
        DuckDB makes them: no ORDER BY of the findings' wide rows (it does not spill them:
        audit/report/exports.py). DuckDB makes them in a thread of its own, a few batches
        ahead of the caller (it lets go of the GIL while it works: a caller that formats
        each batch in Python works beside it)."""
        return made_ahead(self._tables.batches(sql, {}, rows), BATCHES_AHEAD,
                          "hulian-findings-batches")

    def close(self) -> None:
        self._closer()

    def __repr__(self) -> str:
        return f"<Findings: {len(self)}>"


_FIELDS = [f.name for f in fields(Finding)]
_REASONS, _HOPS = _FIELDS.index("reasons"), _FIELDS.index("hops")
_SEVERITY, _OUTCOME = _FIELDS.index("severity"), _FIELDS.index("outcome")
_OBSERVED = [name for name, _ in OBSERVED_COLUMNS]


def _value_rows(finding: Finding) -> tuple[list[object], list[object]]:
    """A finding's values as a row of OBSERVED_COLUMNS and of its judgement (JUDGED), nested
    values as dicts."""
    observed = [getattr(finding, name) for name in _OBSERVED]
    observed[_OBSERVED.index("hops")] = [h._asdict() for h in finding.hops]
    observed[_OBSERVED.index("outcome")] = finding.outcome.value
    return observed, list(judgement_row(0, {
        "status": finding.status,
        "severity": finding.severity.value if finding.severity else None,
        "rules": finding.rules, "requirements": finding.requirements,
        "reasons": [{"zh": r.zh, "en": r.en} for r in finding.reasons],
        "exemptions": finding.exemptions})[1:])
