"""The report's questions to a run's tables, asked of DuckDB (audit.evidence.sql.RunTables).

DuckDB groups, counts and joins a run's observations and verdicts a column and a row group at a
time; Python receives only what the report shows: the matrix's cells (each pair's links and
worst outcome), the review queue's records, counts per (rule, status, severity), the graph-scope
verdicts that failed, each requirement's units reduced to their ranks, and each finding's
observation joined with the verdicts of its worst status. A million-observation run is 3.3
million verdict lines (2.8 GB of JSON): read as Parquet columns they are a fraction of a second
of DuckDB's time at 100,000 observations, where parsing their JSON took four seconds.

Every query orders what it returns by the records' places in their files (`row`): the report
lists, counts and breaks ties in the order things were measured, as when it read the lines.
The decisions stay in Python, in the functions every caller uses: which status is worst
(audit.report.findings.STATUS_RANK), a requirement's status (RequirementTally), an
outcome's rank (audit.judge.outcomes.RANK); the SQL orders and picks by them through the
tables audit.report.findings.rank_tables makes of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from audit.evidence.sql import RunTables
from audit.judge.evaluate import (
    STATUS_OF_UNIT_RANK,
    UNIT_RANK,
    RequirementTally,
    fewest_units,
    unit_parts,
    units_by_rank_sql,
)
from audit.model import Status, Verdict
from audit.report.findings import JUDGEMENT_COLUMNS, Findings

# A target no platform of the catalog owns is one column of the matrix.
OTHER_TARGET = "(other)"

# The order a bundle's verdicts are read in: as written (the per-observation rules', then the
# cross-target rules', then the search rules'), but the cross-target rules' rule by rule. Their
# stream goes source by source with every rule at once (audit.judge.cross.iter_graph_verdicts);
# bundles judged before it wrote them rule by rule, and the report lists them so from either.
_KIND = ("CASE WHEN nullif(observation_id, '') IS NOT NULL THEN 0 "
         "WHEN surface IS NOT NULL THEN 1 ELSE 2 END")
_GRAPH_RULE = ("CASE WHEN nullif(observation_id, '') IS NULL AND surface IS NOT NULL "
               "THEN rule_id END")

# The observations with their matrix column: the target platform, or OTHER_TARGET.
_TARGETED = f"""
SELECT source, surface, coalesce(nullif(target_platform, ''), '{OTHER_TARGET}') AS target,
       outcome, row
FROM observations
"""
# The worst of a group's outcomes, as audit.judge.outcomes.worse_of picks it: the highest
# rank (the `outcome_ranks` table: its RANK), of equal ranks the first measured.
_WORST = "arg_max(outcome, {'rank': r.rank, 'first': -first})"

# The matrix's cells at a level (platform: a pair's source and target; company: their
# companies by the `companies` table, a platform of none as itself): each pair's links and
# worst outcome, in the order of the pair's first observation. A million observations of
# 2,000 platforms are ~790,000 (source, surface, target, outcome) groups, which Python summed
# into cells in ~1.9 s; DuckDB gives the ~400,000 cells.
_CELL_KEYS = {
    "platform": ("o.source", "o.target"),
    "company": ("coalesce(cs.company, o.source)", "coalesce(ct.company, o.target)"),
}
MATRIX_CELLS = {level: f"""
WITH g AS (
  SELECT {row} AS row_key, {column} AS column_key, outcome, count(*) AS links,
         min(o.row) AS first
  FROM ({_TARGETED}) o
  LEFT JOIN companies cs ON cs.platform = o.source
  LEFT JOIN companies ct ON ct.platform = o.target
  GROUP BY ALL)
SELECT row_key, column_key, {_WORST}, sum(links)::BIGINT
FROM g JOIN outcome_ranks r USING (outcome)
GROUP BY row_key, column_key ORDER BY min(first)
""" for level, (row, column) in _CELL_KEYS.items()}

OUTCOME_COUNTS = "SELECT outcome, count(*) FROM observations GROUP BY outcome ORDER BY min(row)"

# Each edge's (source, surface, target) worst outcome.
EDGE_WORST = f"""
WITH g AS (SELECT source, surface, target, outcome, min(row) AS first
           FROM ({_TARGETED}) GROUP BY ALL)
SELECT source, surface, target, {_WORST} FROM g JOIN outcome_ranks r USING (outcome)
GROUP BY ALL
"""

VERDICT_COUNTS = f"""
SELECT rule_id, status, severity, count(*) AS verdicts
FROM verdicts GROUP BY ALL ORDER BY min({_KIND}), min({_GRAPH_RULE}), min(row)
"""

# Each as a Verdict's JSON, by DuckDB: its fields in the model's order (the table has the
# run's id and the row's place besides), its lists never null (the model's defaults).
_LISTS = {"requirements", "evidence"}
_GRAPH_VERDICTS = "observation_id IS NULL AND status IN ('fail', 'exempt')"
# Their groups in the report's order; then each group's verdicts as JSON in file order. Not
# one query sorted by group and row: the sort holds every verdict's JSON (~600 MB at a
# million observations of 2,000 platforms, most of the report's peak), where a scan without
# ORDER BY streams them in the file's order (DuckDB keeps a Parquet file's order where
# nothing reorders: preserve_insertion_order, its default).
GRAPH_VERDICT_GROUPS = f"""
SELECT DISTINCT {_KIND} AS kind, {_GRAPH_RULE} AS rule FROM verdicts WHERE {_GRAPH_VERDICTS}
ORDER BY kind, rule
"""
GRAPH_VERDICT_JSON = f"""
SELECT rule_id, to_json({{{", ".join(
    f"'{name}': coalesce({name}, []::VARCHAR[])" if name in _LISTS else f"'{name}': {name}"
    for name in Verdict.model_fields)}}})::VARCHAR
FROM verdicts
WHERE {_GRAPH_VERDICTS} AND {_KIND} = $kind AND {_GRAPH_RULE} IS NOT DISTINCT FROM $rule
"""

# The rules that failed a verdict (each fails every requirement listing it).
FAILING_RULES = "SELECT DISTINCT rule_id FROM verdicts WHERE status = 'fail'"

# The verdicts counted for each requirement, with their units (RequirementTally's: an
# observation, or a graph verdict on its own), reduced to one unit of each rank.
REQUIREMENT_UNITS = units_by_rank_sql("""
  SELECT r.requirement, coalesce(nullif(v.observation_id, ''), 'verdict:' || v.id) AS unit,
         v.status
  FROM verdicts v JOIN rule_requirements r USING (rule_id)""")

# The findings: each observation whose worst verdict is not a pass, by its place in the
# file, with that worst status's rank. A table (a few bytes a finding): the queries below
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

# The verdicts of each finding's worst status, by the row of its observation, each with its
# reason's hash (REASON_HASH), which `number_reasons` turns into the row of the reason's first
# verdict; or, when two reasons have one hash, the reasons' places among the distinct ones (a
# join on the texts). A verdict then finds its reason's number without a join on its texts (a
# million observations of 2,000 platforms: ~550,000 distinct reasons; the join was ~3 s of
# the report's data).
# `reason_check`, a second hash of the texts, finds two reasons with one number.
# Not sorted: FINDING_KEYS reads a range of observations at a time, which reads few of the
# table's row groups when they are in the observations' order, and the join gives them in
# nearly that order (the verdicts' file order: 2 places out of order among 877,508 rows at a
# million observations, where the threads' parts meet). Sorted, they spilled out of DuckDB's
# memory at ten million (40 s; bench/statements.py). Any order gives the same keys.
REASON_HASH = "hash({reason})"
REASON_CHECK = "hash({reason}.en, {reason}.zh)"
FINDING_VERDICTS_TABLE = """
CREATE OR REPLACE TABLE finding_verdicts AS
SELECT f.row AS observation_row, v.row, v.status, v.rule_id, {reason_id} AS reason_id,
       {reason_check} AS reason_check, v.exemption, v.requirements, v.severity
FROM verdicts v JOIN status_ranks s USING (status)
JOIN findings f ON f.id = v.observation_id AND f.rank = s.rank
{join}
"""

# Numbers that name one reason each: no number has two checks (REASON_CHECK). Two reasons
# whose two hashes are both the same (~2^-128 a pair of reasons) would go unseen.
REASONS_ONE_A_NUMBER = """
SELECT count(*) = 0 FROM (SELECT reason_id FROM finding_verdicts GROUP BY reason_id
                          HAVING min(reason_check) <> max(reason_check))
"""

# Each reason's texts, read from its first verdict: a hash a group of a few bytes, where the
# distinct texts themselves (~1 KB a reason) filled DuckDB's 512 MB at a million observations
# and spilled at ten million (32 s there; bench/statements.py). The reason is then numbered by
# its first verdict's row, and the table holds the reasons in about that order (the join
# keeps the verdicts' order nearly): a range of judgements names reasons first met among its
# own findings (all of them, at a million observations of 2,000 platforms), so that JUDGEMENTS
# reads the few row groups of its own reasons (DuckDB's filter of a join by the range of its
# keys), not every reason's texts (69 times at ten million, where they are GBs).
FIRST_VERDICTS = """
CREATE OR REPLACE TABLE first_verdicts AS
SELECT reason_id, min(row) AS row FROM finding_verdicts GROUP BY reason_id
"""
REASONS_BY_FIRST_VERDICT = """
CREATE OR REPLACE TABLE reasons AS
SELECT v.reason, v.row::UBIGINT AS reason_id FROM verdicts v SEMI JOIN first_verdicts f USING (row)
"""
FINDING_VERDICTS_BY_FIRST = """
CREATE OR REPLACE TABLE finding_verdicts_numbered AS
SELECT v.* REPLACE (f.row AS reason_id)
FROM finding_verdicts v JOIN first_verdicts f USING (reason_id)
"""

# The distinct reasons of the findings' worst verdicts in order, numbered by it: the numbers
# where two reasons have one hash.
REASONS_IN_ORDER = """
CREATE OR REPLACE TABLE reasons AS
SELECT reason, row_number() OVER () AS reason_id
FROM (SELECT DISTINCT v.reason FROM verdicts v JOIN status_ranks s USING (status)
      SEMI JOIN findings f ON f.id = v.observation_id AND f.rank = s.rank)
"""


def number_reasons(tables: RunTables) -> None:
    """`finding_verdicts` (FINDING_VERDICTS_TABLE) with their reasons' numbers, and `reasons`
    (reason, reason_id): a reason numbered by its first verdict's row, found by its hash,
    where no two reasons share one; else the distinct texts numbered in order."""
    check = REASON_CHECK.format(reason="v.reason")
    tables.execute(FINDING_VERDICTS_TABLE.format(
        reason_id=REASON_HASH.format(reason="v.reason"), reason_check=check, join=""))
    _numbered(tables, REASONS_ONE_A_NUMBER, by_hash=(
        FIRST_VERDICTS, REASONS_BY_FIRST_VERDICT, FINDING_VERDICTS_BY_FIRST,
        "DROP TABLE finding_verdicts",
        "ALTER TABLE finding_verdicts_numbered RENAME TO finding_verdicts",
        "DROP TABLE first_verdicts"), by_value=(
        REASONS_IN_ORDER, FINDING_VERDICTS_TABLE.format(
            reason_id="r.reason_id", reason_check=check,
            join="JOIN reasons r ON r.reason = v.reason")))


def _numbered(tables: RunTables, one_a_number: str, *, by_hash: Sequence[str],
              by_value: Sequence[str]) -> None:
    """The statements that number values by their hashes (`by_hash`) where `one_a_number`
    finds no hash shared by two values (its second hash), else those that number them by
    comparing the values themselves (`by_value`)."""
    ((alone,),) = tables.all(one_a_number)
    for sql in by_hash if alone else by_value:
        tables.execute(sql)


# What a finding's judgement is made of (JUDGEMENTS decides it): its worst
# verdicts' rules, reason numbers, exemptions, requirements and severities, in the verdicts'
# order. Gathered a range of observations at a time: lists held for millions of findings at
# once are more than DuckDB's memory limit, and it cannot spill them.
# Each key has two hashes (`key`, `key_check`: its lists in two orders), which number the
# judgements without comparing lists (number_judgements).
KEY_HASH = "hash(status, rules, reasons, exemptions, requirements, severities)"
KEY_CHECK = "hash(severities, requirements, exemptions, reasons, rules, status)"
FINDING_KEYS_TABLE = """
CREATE OR REPLACE TABLE finding_keys (observation_row BIGINT, status VARCHAR, rules VARCHAR[],
  reasons UBIGINT[], exemptions VARCHAR[], requirements VARCHAR[][], severities VARCHAR[],
  key UBIGINT, key_check UBIGINT)
"""

FINDING_KEYS = """
INSERT INTO finding_keys
SELECT *, {key} AS key, {check} AS key_check
FROM (SELECT observation_row, any_value(status) AS status, list(rule_id ORDER BY row) AS rules,
             list(reason_id ORDER BY row) AS reasons, list(exemption ORDER BY row) AS exemptions,
             list(requirements ORDER BY row) AS requirements,
             list(severity ORDER BY row) AS severities
      FROM finding_verdicts WHERE observation_row >= $start AND observation_row < $stop
      GROUP BY observation_row)
"""

# The distinct ones, numbered: a million observations have ~400,000 findings and from a few
# thousand distinct judgements (a few dozen platforms) to ~290,000 (2,000 platforms). By their
# keys' hashes: a number a hash, in the order of each one's first finding, where no hash has
# two checks (KEYS_ONE_A_NUMBER; two keys whose two hashes are both the same would go
# unseen); the lists of each from its first finding; each finding's number by its hash. A
# DISTINCT of the lists and a join on them held 470 and 478 MB of DuckDB's 512 at ten million
# observations, and spilled (9.3 s and 15.5 s); the hashes are a few bytes a finding.
KEYS_ONE_A_NUMBER = """
SELECT count(*) = 0 FROM (SELECT key FROM finding_keys GROUP BY key
                          HAVING min(key_check) <> max(key_check))
"""
JUDGEMENT_NUMBERS = """
CREATE OR REPLACE TABLE judgement_numbers AS
SELECT key, first, row_number() OVER (ORDER BY first) AS judgement
FROM (SELECT key, min(observation_row) AS first FROM finding_keys GROUP BY key)
"""
# In about the judgements' order (the keys' table is in the observations' order a range at a
# time, the join keeps it nearly): JUDGEMENTS reads a range of judgements at a time.
JUDGEMENT_KEYS_BY_NUMBER = """
CREATE OR REPLACE TABLE judgement_keys AS
SELECT n.judgement, k.status, k.rules, k.reasons, k.exemptions, k.requirements, k.severities
FROM finding_keys k JOIN judgement_numbers n ON n.first = k.observation_row
"""
FINDING_JUDGEMENTS_BY_NUMBER = """
CREATE OR REPLACE TABLE finding_judgements AS
SELECT k.observation_row, n.judgement FROM finding_keys k JOIN judgement_numbers n USING (key)
"""

# Where two keys have one hash: the distinct lists numbered, each finding's number by a join
# on them (lists compare element by element, NULLs as equal).
JUDGEMENT_KEYS_TABLE = """
CREATE OR REPLACE TABLE judgement_keys AS
SELECT row_number() OVER () AS judgement, *
FROM (SELECT DISTINCT status, rules, reasons, exemptions, requirements, severities
      FROM finding_keys)
"""
FINDING_JUDGEMENTS_TABLE = """
CREATE OR REPLACE TABLE finding_judgements AS
SELECT k.observation_row, j.judgement
FROM finding_keys k JOIN judgement_keys j
  ON k.status = j.status AND k.rules = j.rules AND k.reasons = j.reasons
 AND k.exemptions = j.exemptions AND k.requirements = j.requirements
 AND k.severities = j.severities
"""


def number_judgements(tables: RunTables) -> None:
    """`judgement_keys` (each distinct key of `finding_keys` with its number) and
    `finding_judgements` (each finding's number): by the keys' hashes where no two keys
    share one, else by their lists."""
    _numbered(tables, KEYS_ONE_A_NUMBER, by_hash=(
        JUDGEMENT_NUMBERS, JUDGEMENT_KEYS_BY_NUMBER, FINDING_JUDGEMENTS_BY_NUMBER,
        "DROP TABLE judgement_numbers"), by_value=(
        JUDGEMENT_KEYS_TABLE, FINDING_JUDGEMENTS_TABLE))


# Judgements decided by one statement: each gathers its judgements' reasons' texts into
# lists and sorts them, which DuckDB holds in its memory while the statement runs (~1 KB of
# text a judgement of thousands of platforms: 65,536 at once reached its 512 MB, 16,384 take
# ~210 MB, and a million observations' report data then builds within 256 MB; ~0.9 s more
# of ~23 s at the default).
JUDGED_AT_ONCE = 16_384

# Statuses whose findings carry a severity (their worst verdicts' worst); an inconclusive
# finding has none.
SEVERE_STATUSES = ("fail", "exempt")

# The judgement of each key, the one decision of what a finding takes from its worst
# verdicts, into `judgements` (findings.JUDGEMENT_COLUMNS): its status; its worst severity
# (severity_ranks); its rules, reasons ({zh, en}) and the exemptions given, in the verdicts'
# order; its requirements once each, in the order first named. DuckDB decides them all: a run
# of thousands of platforms has about as many distinct judgements as findings (~290,000 at a
# million observations, 25 s when each was read into Python and decided there). A range of
# judgements at a time: the reasons' texts are gathered into lists, which DuckDB cannot spill.
JUDGEMENTS = """
INSERT INTO judgements BY NAME
WITH keys AS (
  SELECT *, flatten(list_filter(requirements, lambda r: r IS NOT NULL)) AS named
  FROM judgement_keys WHERE judgement >= $start AND judgement < $stop),
numbered AS (
  SELECT judgement, unnest(reasons) AS reason_id, unnest(range(len(reasons))) AS i FROM keys),
texts AS (
  SELECT n.judgement, list(r.reason ORDER BY n.i) AS reasons
  FROM numbered n JOIN reasons r USING (reason_id) GROUP BY n.judgement),
severities AS (
  SELECT judgement, unnest(severities) AS severity FROM keys
  WHERE list_contains($severe, status)),
worst AS (
  SELECT s.judgement, arg_max(s.severity, r.rank) AS severity
  FROM severities s JOIN severity_ranks r USING (severity) GROUP BY s.judgement)
SELECT k.judgement, k.status, w.severity, k.rules,
       list_filter(k.named, lambda name, i: list_position(k.named, name) = i) AS requirements,
       coalesce(t.reasons, []) AS reasons,
       list_filter(k.exemptions, lambda e: coalesce(e, '') <> '') AS exemptions
FROM keys k LEFT JOIN texts t USING (judgement) LEFT JOIN worst w USING (judgement)
ORDER BY k.judgement
"""

# A run's findings in the order measured, as REPORT_ORDER reads them.
RUN_FINDING_KEYS = """
SELECT fj.observation_row AS added, fj.judgement, o.outcome, o.source, o.surface, o.target_url
FROM finding_judgements fj JOIN observations o ON o.row = fj.observation_row
"""

# A run's findings' columns of their observations (findings.OBSERVED_COLUMNS) and their
# judgements' numbers. A view: a query reads only the columns it names (DuckDB reads only
# those columns of the Parquet file).
RUN_FINDINGS_VIEW = """
CREATE OR REPLACE VIEW finding_rows AS
SELECT p.position, p.judgement, o.probe_id AS id, o.id AS observation_id, o.source,
       cs.company AS source_company, o.surface, o.target_url, o.target_platform,
       CASE WHEN o.target_platform <> '' THEN ct.company END AS target_company,
       o.outcome, o.reason AS block_reason, o.page.reason_text AS block_reason_text,
       list_transform(coalesce(o.hops, []), lambda h: {
         'url': h.url, 'status': h.status, 'location': h.location,
         'via': coalesce(nullif(h.via, ''), 'start'), 'elapsed_ms': h.elapsed_ms,
         'body_sha256': h.body_sha256, 'warc_record_id': h.warc_record_id}) AS hops,
       o.final_url, o.page.signature AS signature, o.page.title AS title,
       o.page.excerpt AS excerpt, o.control_ok, o.failure, coalesce(o.evidence, []) AS evidence
FROM report_order p JOIN observations o ON o.row = p.added
LEFT JOIN companies cs ON cs.platform = o.source
LEFT JOIN companies ct ON ct.platform = o.target_platform
"""

# The failed findings of each requirement x source (a JUnit case, a requirement's sources),
# and those of its inconclusive ones that ended on a page no one could read (JUnit's errors):
# how many, and the first few, worst first; in the order of each one's worst finding.
CASES = """
SELECT status, requirement, source, count(*) AS findings, min(position, {listed}) AS first
FROM (SELECT position, status, source, unnest(requirements) AS requirement
      FROM report_findings
      WHERE status = 'fail' OR (status = 'inconclusive' AND outcome = 'unrecognized'))
GROUP BY ALL ORDER BY min(position)
"""
CASE_LISTED = 50  # a JUnit case lists this many of its findings (findings.csv has them all)

# The failed findings of each source x target platform (the matrix's failed links).
FAILED_PAIRS = f"""
SELECT source, coalesce(nullif(target_platform, ''), '{OTHER_TARGET}') AS target, count(*)
FROM report_findings WHERE status = 'fail' GROUP BY ALL ORDER BY min(position)
"""


class Case(NamedTuple):
    findings: int
    first: list[int]  # positions in report order


# Observation rows a range: with ~40 % of links findings, ~26,000 findings at a time.
RANGE_ROWS = 65_536

def matrix_cells(tables: RunTables, level: str) -> Iterator[tuple[str, str, str, int]]:
    """(row, column, worst outcome, links) of each cell of the matrix at `level` (platform or
    company: MATRIX_CELLS), in the order of its first observation. Needs the tables of
    audit.report.findings.rank_tables."""
    yield from tables.rows(MATRIX_CELLS[level])


def outcome_counts(tables: RunTables) -> Iterator[tuple[str, int]]:
    """(outcome, observations), in the order of each outcome's first observation."""
    yield from tables.rows(OUTCOME_COUNTS)


def edge_worst(tables: RunTables) -> dict[tuple[str, str, str], str]:
    """The worst outcome of each (source, surface, target platform or OTHER_TARGET). Needs
    the tables of audit.report.findings.rank_tables."""
    return {(source, surface, target): worst
            for source, surface, target, worst in tables.rows(EDGE_WORST)}


def verdict_counts(tables: RunTables) -> Iterator[tuple[str, str, str, int]]:
    """(rule id, status, severity, verdicts), each group in the order of its first verdict."""
    if tables.has_verdicts:
        yield from tables.rows(VERDICT_COUNTS)


def graph_verdict_json(tables: RunTables) -> Iterator[tuple[str, str]]:
    """The graph-scope verdicts (no observation) that failed or were exempt, each as its
    rule and the JSON a Verdict validates (DuckDB's: a run of thousands of platforms has
    hundreds of thousands, and a Python dict of each took ~12 s of a million observations'
    report)."""
    if not tables.has_verdicts:
        return
    for kind, rule in tables.all(GRAPH_VERDICT_GROUPS):
        yield from tables.nested_rows(GRAPH_VERDICT_JSON, {"kind": kind, "rule": rule})


def requirement_statuses(tables: RunTables,
                         rules_of: Mapping[str, list[str]]) -> dict[str, Any]:
    """Each requirement's status (RequirementTally, the one decision), from one unit of each
    rank (audit.judge.evaluate.units_by_rank_sql: a million observations are a few rows)."""
    tally = RequirementTally(rules_of)
    if not tables.has_verdicts:
        return tally.statuses()
    # A failed verdict fails its unit, and a failed unit its requirement, whatever its
    # other units did: one such verdict decides the requirement (as `add` decides it), and
    # only the requirements no verdict failed need their units grouped. Grouping every unit
    # was ~80 s of a ten-million-observation report; a run with findings fails most
    # requirements.
    failing = {rule for (rule,) in tables.rows(FAILING_RULES)}
    undecided: list[tuple[str, str]] = []
    for key, rules in rules_of.items():
        if failing.intersection(rules):
            tally.add((key,), Status.FAIL.value, None, "")
        else:
            undecided += ((rule, key) for rule in rules)
    if not undecided:
        return tally.statuses()
    tables.table("rule_requirements", [("rule_id", "VARCHAR"), ("requirement", "VARCHAR")],
                 undecided)
    tables.table("unit_ranks", [("status", "VARCHAR"), ("rank", "INTEGER")],
                 UNIT_RANK.items())
    ((verdicts,),) = tables.all("SELECT count(*) FROM verdicts WHERE rule_id IN "
                                "(SELECT rule_id FROM rule_requirements)")
    parts = tables.reduced(REQUIREMENT_UNITS, unit_parts(verdicts))
    for requirement, rank, unit in fewest_units(parts):
        tally.add((requirement,), STATUS_OF_UNIT_RANK[rank], unit, "")
    return tally.statuses()


def cases(findings: Findings, listed: int) -> dict[tuple[str, str, str], Case]:
    """CASES: (status, requirement, source) -> how many findings, the first `listed`."""
    return {(status, requirement, source): Case(count, list(first))
            for status, requirement, source, count, first
            in findings.query(CASES.format(listed=int(listed)))}


def failed_pairs(findings: Findings) -> list[tuple[str, str, int]]:
    """(source, target platform or OTHER_TARGET, failed findings)."""
    return [(source, target, count) for source, target, count
            in findings.query(FAILED_PAIRS)]


def judge_findings(tables: RunTables) -> None:
    """The run's findings' judgements (`judgements`, JUDGEMENT_COLUMNS, numbered from 1),
    each decided once by JUDGEMENTS, and each finding's number (`finding_judgements`: the
    row of its observation, its judgement's number). The rank tables must be there
    (findings.rank_tables)."""
    tables.table("judgements", JUDGEMENT_COLUMNS, ())
    if not tables.has_verdicts:
        tables.execute("CREATE OR REPLACE TABLE finding_judgements "
                       "(observation_row BIGINT, judgement BIGINT)")
        return
    tables.execute(FINDINGS_TABLE)
    number_reasons(tables)
    ((last,),) = tables.all("SELECT coalesce(max(row), -1) FROM findings")
    tables.execute(FINDING_KEYS_TABLE)
    for start in range(0, last + 1, RANGE_ROWS):
        tables.execute(FINDING_KEYS.format(key=KEY_HASH, check=KEY_CHECK),
                       {"start": start, "stop": start + RANGE_ROWS})
    number_judgements(tables)
    for table in ("finding_keys", "finding_verdicts", "findings"):
        tables.execute(f"DROP TABLE {table}")
    ((count,),) = tables.all("SELECT count(*) FROM judgement_keys")
    for start in range(1, count + 1, JUDGED_AT_ONCE):
        tables.execute(JUDGEMENTS, {"start": start, "stop": start + JUDGED_AT_ONCE,
                                    "severe": list(SEVERE_STATUSES)})
    tables.execute("DROP TABLE judgement_keys")
    tables.execute("DROP TABLE reasons")
