"""The report's questions to a run's tables, asked of DuckDB (audit.evidence.sql.RunTables).

DuckDB groups, counts and joins a run's observations and verdicts a column and a row group at a
time; Python receives only what the report shows: counts per (source, surface, target,
outcome), the review queue's records, counts per (rule, status, severity), the graph-scope
verdicts that failed, each requirement's units reduced to their ranks, and each finding's
observation joined with the verdicts of its worst status. A million-observation run is 3.3
million verdict lines (2.8 GB of JSON): read as Parquet columns they are a fraction of a second
of DuckDB's time at 100,000 observations, where parsing their JSON took four seconds.

Every query orders what it returns by the records' places in their files (`row`): the report
lists, counts and breaks ties in the order things were measured, as when it read the lines.
The decisions stay in Python, in the functions every caller uses: which status is worst
(audit.report.findings.STATUS_RANK), a requirement's status (RequirementTally), an
outcome's rank (worse_of); the SQL only groups by them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from audit.evidence.sql import RunTables
from audit.judge.evaluate import (
    STATUS_OF_UNIT_RANK,
    UNIT_RANK,
    RequirementTally,
    fewest_units,
    unit_parts,
    units_by_rank_sql,
)
from audit.model import Verdict
from audit.report.findings import FINDING_STATUSES, STATUS_RANK

# A target no platform of the catalog owns is one column of the matrix.
OTHER_TARGET = "(other)"

OBSERVATION_COUNTS = f"""
SELECT source, surface, coalesce(nullif(target_platform, ''), '{OTHER_TARGET}') AS target,
       outcome, count(*) AS links
FROM observations GROUP BY ALL ORDER BY min(row)
"""

# review_item reads these fields of a record (audit/evidence/review.py).
REVIEW_RECORDS = """
SELECT id, probe_id, source, surface, target_url, target_platform, final_url, outcome, page,
       hops, evidence
FROM observations WHERE outcome = 'unrecognized' ORDER BY row
"""

VERDICT_COUNTS = """
SELECT rule_id, status, severity, count(*) AS verdicts
FROM verdicts GROUP BY ALL ORDER BY min(row)
"""

# A Verdict's fields (the table has the run's id and the row's place besides).
GRAPH_VERDICTS = f"""
SELECT {", ".join(Verdict.model_fields)} FROM verdicts
WHERE observation_id IS NULL AND status IN ('fail', 'exempt') ORDER BY row
"""

# The verdicts counted for each requirement, with their units (RequirementTally's: an
# observation, or a graph verdict on its own), reduced to one unit of each rank.
REQUIREMENT_UNITS = units_by_rank_sql("""
  SELECT r.requirement, coalesce(nullif(v.observation_id, ''), 'verdict:' || v.id) AS unit,
         v.status
  FROM verdicts v JOIN rule_requirements r USING (rule_id)""")

# The findings: each observation whose worst verdict is not a pass, by its place in the
# file, with that worst status's rank. A table (a few bytes a finding): the two queries below
# read it.
FINDINGS_TABLE = """
CREATE OR REPLACE TABLE findings AS
WITH worst AS (
  SELECT v.observation_id, max(s.rank) AS rank
  FROM verdicts v JOIN status_ranks s USING (status)
  WHERE v.observation_id IS NOT NULL GROUP BY v.observation_id
  HAVING max(s.rank) IN (SELECT rank FROM status_ranks WHERE finding))
SELECT o.row, o.id, w.rank FROM observations o JOIN worst w ON w.observation_id = o.id
"""

# The fields a finding shows of its observation, of the observations in a range of rows, in
# the order measured. A range at a time keeps the sort small whatever the run's size: DuckDB
# reads only the Parquet row groups of the range (`row` is the file's row number).
FINDING_OBSERVATIONS = """
SELECT o.row, o.probe_id, o.id, o.source, o.surface, o.target_url, o.target_platform,
       o.outcome, o.reason, o.page.reason_text, o.hops, o.final_url, o.page.signature,
       o.page.title, o.page.excerpt, o.control_ok, o.failure, o.evidence
FROM observations o SEMI JOIN findings f ON f.row = o.row
WHERE o.row >= $start AND o.row < $stop
ORDER BY o.row
"""

# The distinct reasons of the findings' verdicts, numbered: the verdicts below carry the
# number (a reason is two sentences, ~1.3 KB, and a million observations have ~800,000
# such verdicts but a few thousand distinct reasons).
REASONS_TABLE = """
CREATE OR REPLACE TABLE reasons AS
SELECT reason, row_number() OVER () AS reason_id
FROM (SELECT DISTINCT v.reason FROM verdicts v SEMI JOIN findings f ON f.id = v.observation_id)
"""

# The verdicts of each finding's worst status, by the row of its observation: a table of a
# few small columns, read a range of observations at a time like the observations.
FINDING_VERDICTS_TABLE = """
CREATE OR REPLACE TABLE finding_verdicts AS
SELECT f.row AS observation_row, v.row, v.status, v.rule_id, r.reason_id, v.exemption,
       v.requirements, v.severity
FROM verdicts v JOIN status_ranks s USING (status)
JOIN findings f ON f.id = v.observation_id AND f.rank = s.rank
JOIN reasons r ON r.reason = v.reason
"""

FINDING_VERDICTS = """
SELECT observation_row, status, rule_id, reason_id, exemption, requirements, severity
FROM finding_verdicts WHERE observation_row >= $start AND observation_row < $stop
ORDER BY observation_row, row
"""

# Observation rows a range: with ~40 % of links findings, ~26,000 findings (~30 MB in
# DuckDB's sort) at a time.
RANGE_ROWS = 65_536


def observation_counts(tables: RunTables) -> Iterator[tuple[str, str, str, str, int]]:
    """(source, surface, target platform or OTHER_TARGET, outcome, links), each group in the
    order of its first observation."""
    yield from tables.rows(OBSERVATION_COUNTS)


def review_records(tables: RunTables) -> Iterator[dict[str, Any]]:
    """The records of the observations whose outcome is `unrecognized`, as review_item reads
    them (nested fields as dicts and lists)."""
    yield from tables.records(REVIEW_RECORDS)


def verdict_counts(tables: RunTables) -> Iterator[tuple[str, str, str, int]]:
    """(rule id, status, severity, verdicts), each group in the order of its first verdict."""
    if tables.has_verdicts:
        yield from tables.rows(VERDICT_COUNTS)


def graph_verdicts(tables: RunTables) -> Iterator[dict[str, Any]]:
    """The graph-scope verdicts (no observation) that failed or were exempt, as the fields a
    Verdict validates (those without a value left out)."""
    if tables.has_verdicts:
        for record in tables.records(GRAPH_VERDICTS):
            yield {name: value for name, value in record.items() if value is not None}


def requirement_statuses(tables: RunTables,
                         rules_of: Mapping[str, list[str]]) -> dict[str, Any]:
    """Each requirement's status (RequirementTally, the one decision), from one unit of each
    rank (audit.judge.evaluate.units_by_rank_sql: a million observations are a few rows)."""
    tally = RequirementTally(rules_of)
    if tables.has_verdicts:
        tables.table("rule_requirements", [("rule_id", "VARCHAR"), ("requirement", "VARCHAR")],
                     [(rule, key) for key, rules in rules_of.items() for rule in rules])
        tables.table("unit_ranks", [("status", "VARCHAR"), ("rank", "INTEGER")],
                     UNIT_RANK.items())
        ((verdicts,),) = tables.all("SELECT count(*) FROM verdicts")
        parts = tables.reduced(REQUIREMENT_UNITS, unit_parts(verdicts))
        for requirement, rank, unit in fewest_units(parts):
            tally.add((requirement,), STATUS_OF_UNIT_RANK[rank], unit, "")
    return tally.statuses()


Reason = tuple[str, str]  # (zh, en)


def finding_rows(tables: RunTables) -> tuple[dict[int, Reason], Iterator[tuple[Any, ...]]]:
    """The findings' distinct reasons by number, and one row per finding, in the order of the
    observations: FINDING_OBSERVATIONS' columns, then the status and the lists of rules,
    reason numbers, exemptions, requirements and severities of its worst verdicts (two
    sorted streams, merged here a range of rows at a time)."""
    if not tables.has_verdicts:
        return {}, iter(())
    tables.table("status_ranks",
                 [("status", "VARCHAR"), ("rank", "INTEGER"), ("finding", "BOOLEAN")],
                 [(status, rank, status in FINDING_STATUSES)
                  for status, rank in STATUS_RANK.items()])
    tables.execute(FINDINGS_TABLE)
    tables.execute(REASONS_TABLE)
    tables.execute(FINDING_VERDICTS_TABLE)
    reasons = {number: (reason["zh"], reason["en"])
               for reason, number in tables.rows("SELECT reason, reason_id FROM reasons")}
    ((last,),) = tables.all("SELECT coalesce(max(row), -1) FROM findings")
    return reasons, _merged(tables, last + 1)


def _merged(tables: RunTables, stop: int) -> Iterator[tuple[Any, ...]]:
    for start in range(0, stop, RANGE_ROWS):
        bounds = {"start": start, "stop": start + RANGE_ROWS}
        verdicts = tables.nested_rows(FINDING_VERDICTS, bounds)
        pending = next(verdicts, None)
        for observation in tables.nested_rows(FINDING_OBSERVATIONS, bounds):
            row = observation[0]
            status = ""
            columns: tuple[list[Any], ...] = ([], [], [], [], [])
            while pending is not None and pending[0] == row:
                status = pending[1]
                for column, value in zip(columns, pending[2:], strict=True):
                    column.append(value)
                pending = next(verdicts, None)
            yield (*observation, status, *columns)
