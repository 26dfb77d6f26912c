"""The per-observation rules over a run's observations table: Python decides each distinct
case once (audit.judge.evaluate.decide, as for Observation objects), DuckDB applies the
decisions to every row and gives each verdict as its JSON line and its columns, for
verdicts.jsonl and verdicts.parquet in one pass.

A run of ten million observations has ~33 million verdicts but a few thousand cases (source,
target platform, surface, outcome, reason; the target's host and URL only where they change
a verdict). One pass of Python per observation took ~75 µs of rules and pydantic; here Python
works per case and DuckDB per row (docs/benchmarks.md, "The per-observation rules").

The lines are the bundle writer's, byte for byte: each case's verdicts are serialised by
pydantic with a placeholder for every field that differs between observations (id,
observation id, probe, URL, evidence), split at the placeholders, and DuckDB puts each row's
values, as JSON, between the pieces. DuckDB's JSON for a string is pydantic's except for the
case of the hex digits of a control character's escape (\\u001F against \\u001f): those rare
values are encoded by pydantic (`json_string`). tests/test_table_verdicts.py holds the two
paths to the same bytes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import IO, Any, NamedTuple

from pydantic_core import to_json

from audit.evidence.columnar import ColumnarLog, text_bytes
from audit.evidence.sql import RunTables, TablesError
from audit.judge.cross import attribute_urls
from audit.judge.evaluate import (
    Case,
    Decision,
    decide,
    exemption_domains,
    requirement_index,
)
from audit.judge.summary import VerdictCounts
from audit.model import BlockReason, Outcome, SurfaceKind, Verdict
from audit.policy.catalog import Catalog
from audit.web.urls import host_of

# The hosts of the URLs an exemption's domains could match. A host is lower case and, for a
# URL of ASCII characters without tab or line breaks (urlsplit removes those), a part of the
# lower-cased URL; a domain is a suffix of the host it matches. So a URL that holds none of
# the domains, is ASCII and has no tab or line break cannot match one: only the others go to
# Python's host_of. Sound whatever the domains, and few URLs where few links are exempt.
_HOSTS = """
SELECT DISTINCT target_url FROM observations
WHERE regexp_matches(target_url, '[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x7f]')
   OR len(list_filter($domains, lambda d: contains(lower(target_url), d))) > 0
"""

# Each row's case: its attributed target, its host where it matters (url_host) and its URL
# where the catalog does not know the target.
_CASED = """
SELECT o.row, o.id, o.probe_id, o.target_url, o.evidence, o.source,
       coalesce(o.target_platform, u.target) AS target, o.surface, o.outcome, o.reason,
       h.host,
       CASE WHEN coalesce(o.target_platform, u.target) IN (SELECT id FROM catalog_platform)
            THEN NULL ELSE o.target_url END AS unknown_target_url
FROM observations o
LEFT JOIN url_owner u ON o.target_platform IS NULL AND u.url = o.target_url
LEFT JOIN url_host h ON h.url = o.target_url
"""

_CASE_COLUMNS = "source, target, surface, outcome, reason, host, unknown_target_url"

# The cases, each with its number of rows and a hash of its columns: rows find their case by
# the hash (a join on one number; `write_observation_verdicts` checks the hashes differ).
_CASES = f"""
SELECT {_CASE_COLUMNS}, count(*), hash({_CASE_COLUMNS})
FROM ({_CASED}) GROUP BY ALL ORDER BY ALL
"""

# One verdict's line: each row's values as JSON (`encode`: DuckDB's to_json, or pydantic's
# json_string) between its case's pieces.
_LINE = """p.head || id || p.observation_id || {encode}(observation_id)
    || p.probe_id || coalesce({encode}(probe_id), 'null')
    || p.target_url || coalesce({encode}(target_url), 'null')
    || p.evidence || coalesce({encode_list}(evidence), '[]') || p.tail || chr(10)"""

# What `_pieces` gives DuckDB of each verdict of a case: its line's pieces and its columns.
_PIECES_TYPE = ("STRUCT(rule_id VARCHAR, head VARCHAR, observation_id VARCHAR, "
                "probe_id VARCHAR, target_url VARCHAR, evidence VARCHAR, tail VARCHAR, "
                "source VARCHAR, surface VARCHAR, target_platform VARCHAR, outcome VARCHAR, "
                "status VARCHAR, severity VARCHAR, reason_zh VARCHAR, reason_en VARCHAR, "
                "exemption VARCHAR, requirements VARCHAR[])[][]")

# Each verdict of every row, in the rows' order (each row's in the catalog's order of
# rules): its JSON line and the verdicts table's columns. Each row's case number comes
# beside the rows read in their order: a join does not keep DuckDB's insertion order, so the
# (row, case) pairs are sorted (16 bytes a row) and joined by position; `error` stops the
# query if the two were ever out of step. DuckDB's JSON of a text differs from pydantic's
# only in an escape \u00XX (the hex digits' case): a line with one (rare: a control
# character) is made again with pydantic's.
_VERDICTS = f"""
WITH keyed AS (
  SELECT x.row, k.case_id
  FROM (SELECT row, hash({_CASE_COLUMNS}) AS h FROM ({_CASED})) x JOIN cases k USING (h)
  ORDER BY x.row),
verdicts AS (
  SELECT o.row, k.row AS k_row, o.id AS observation_id, o.probe_id, o.target_url,
         o.evidence, unnest(($pieces::{_PIECES_TYPE})[k.case_id + 1]) AS p
  FROM (SELECT row, id, probe_id, target_url, evidence FROM observations) o
  POSITIONAL JOIN keyed k),
identified AS (
  SELECT *, substr(sha256(p.rule_id || chr(0) || observation_id), 1, 16) AS id
  FROM verdicts),
lines AS (
  SELECT *, {_LINE.format(encode="to_json", encode_list="to_json")} AS fast FROM identified)
SELECT CASE WHEN row <> k_row THEN error('rows out of step at ' || row::VARCHAR)
            WHEN contains(fast, '\\u00')
              THEN {_LINE.format(encode="json_string", encode_list="json_list")}
            ELSE fast END AS line,
       NULL::VARCHAR AS run_id, id, p.rule_id, observation_id, probe_id, p.source,
       p.surface, target_url, p.target_platform, p.outcome, p.status, p.severity,
       {{'zh': p.reason_zh, 'en': p.reason_en}} AS reason, p.exemption, p.requirements,
       evidence
FROM lines
"""

# pydantic's JSON of a list of texts.
_JSON_LIST = """CREATE OR REPLACE MACRO json_list(l) AS
  '[' || array_to_string(list_transform(l, lambda s: json_string(s)), ',') || ']'"""


def json_string(text: str) -> str:
    return to_json(text).decode()


class _Pieces(NamedTuple):
    """A verdict's JSON line around the values that differ between observations, and the
    values that do not (_PIECES_TYPE)."""
    rule_id: str
    head: str  # ... `"id":"` ; the id's 16 hex digits go after it
    observation_id: str
    probe_id: str
    target_url: str
    evidence: str
    tail: str
    source: str
    surface: str
    target_platform: str | None
    outcome: str
    status: str
    severity: str
    reason_zh: str
    reason_en: str
    exemption: str | None
    requirements: list[str]


def _pieces(case: Case, decision: Decision) -> _Pieces:
    # Placeholders no policy text can hold: NUL and a fresh random token.
    token = "\0" + uuid.uuid4().hex
    marks = {name: f"{token}{name}" for name in ("id", "obs", "probe", "url", "ev")}
    line = Verdict(
        id=marks["id"], rule_id=decision.rule.id, observation_id=marks["obs"],
        probe_id=marks["probe"], source=case.source, surface=case.surface,
        target_url=marks["url"], target_platform=case.target_platform, outcome=case.outcome,
        status=decision.status, severity=decision.rule.severity, reason=decision.reason,
        exemption=decision.exemption.id if decision.exemption else None,
        requirements=list(decision.requirements), evidence=[marks["ev"]],
    ).model_dump_json()
    parts = []
    for name in ("id", "obs", "probe", "url"):
        before, line = line.split(json_string(marks[name]))
        parts.append(before)
    before, tail = line.split("[" + json_string(marks["ev"]) + "]")
    parts.append(before)
    head, observation_id, probe_id, target_url, evidence = parts
    return _Pieces(decision.rule.id, head + '"', '"' + observation_id, probe_id, target_url,
                   evidence, tail, case.source, case.surface.value, case.target_platform,
                   case.outcome.value, decision.status.value, decision.rule.severity.value,
                   decision.reason.zh, decision.reason.en,
                   decision.exemption.id if decision.exemption else None,
                   list(decision.requirements))


def _case(row: tuple[Any, ...]) -> Case:
    source, target, surface, outcome, reason, host, unknown = row
    return Case(source, target, SurfaceKind(surface), Outcome(outcome),
                None if reason is None else BlockReason(reason), host, unknown)


def write_observation_verdicts(tables: RunTables, catalog: Catalog, out: IO[bytes],
                               table: ColumnarLog | None) -> VerdictCounts:
    """The verdicts of the per-observation rules for every row of the run's observations
    table, in its order (each row's in the catalog's order of rules), as the bundle's JSON
    lines into `out` and as rows of the verdicts table `table` (the lines' table; None: the
    lines only); their counts. The records must have been checked (check_records)."""
    attribute_urls(tables, catalog)
    domains = exemption_domains(catalog)
    hosts = ([(url, host) for (url,) in tables.rows(_HOSTS, {"domains": domains})
              if (host := host_of(url)) is not None] if domains else [])
    tables.table("url_host", [("url", "VARCHAR"), ("host", "VARCHAR")], hosts)
    index = requirement_index(catalog)
    counts: VerdictCounts = Counter()
    cases: list[tuple[Any, ...]] = []
    pieces: list[list[_Pieces]] = []
    for row in tables.rows(_CASES):
        case, rows = _case(row[:-2]), int(row[-2])
        decisions = decide(case, catalog, index)
        cases.append((*row[:-2], row[-1]))
        pieces.append([_pieces(case, d) for d in decisions])
        for d in decisions:
            counts[(d.status, d.rule.severity, case.outcome)] += rows
    tables.table("cases", [("source", "VARCHAR"), ("target", "VARCHAR"),
                           ("surface", "VARCHAR"), ("outcome", "VARCHAR"),
                           ("reason", "VARCHAR"), ("host", "VARCHAR"),
                           ("unknown_target_url", "VARCHAR"), ("h", "UBIGINT"),
                           ("case_id", "INTEGER")],
                 ((*c, n) for n, c in enumerate(cases)))
    if len({c[-1] for c in cases}) < len(cases):
        raise TablesError("two cases of the run's observations have the same hash: "
                          "this run cannot be judged by hash (report it)")
    tables.function("json_string", json_string)
    tables.execute(_JSON_LIST)
    for batch in tables.batches(_VERDICTS,
                                {"pieces": [[p._asdict() for p in ps] for ps in pieces]}):
        if table is None:
            out.write(text_bytes(batch.column("line")))
        else:
            table.append_batch(batch, out)
    return counts
