"""The per-observation rules over a run's observations table: Python decides each distinct
case once (audit.judge.evaluate.decide, as for Observation objects), DuckDB applies the
decisions to every row and gives each verdict as its JSON line and its columns, for
verdicts.jsonl and verdicts.parquet in one pass.

A run of ten million observations of a few dozen platforms has ~33 million verdicts but a few
thousand cases (source, target platform, surface, outcome, reason; the target's host and URL
only where they change a verdict). One pass of Python per observation took ~75 µs of rules
and pydantic; here Python works per case and DuckDB per row (docs/benchmarks.md, "The
per-observation rules"). A run of thousands of platforms linking to each other has about as
many cases as observations: the rows are judged a range at a time (RANGE_ROWS), each range
with the pieces of its own cases only, the last KEPT_CASES cases' pieces kept for the next
ranges, so that memory stays bounded whatever the number of cases (all of them handed to
DuckDB at once took 5 GB and three minutes for 100,000 observations of 500 platforms).

The lines are the bundle writer's, byte for byte: a verdict is serialised by pydantic once
per rule, status, exemption, surface and outcome with a placeholder for every field that
differs between observations (id, observation id, probe, URL, evidence) and between cases
(source, target platform, reason texts: filled in per case with pydantic's JSON of them);
the line is split at the observations' placeholders, and DuckDB puts each row's values, as
JSON, between the pieces. DuckDB's JSON for a string is pydantic's except for the
case of the hex digits of a control character's escape (\\u001F against \\u001f): those rare
values are encoded by pydantic (`json_string`). tests/test_table_verdicts.py holds the two
paths to the same bytes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
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
from audit.model import BlockReason, Outcome, Severity, Status, SurfaceKind, Text, Verdict
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

# Each row's case, for a range of rows: its attributed target, its host where it matters
# (url_host) and its URL where the catalog does not know the target.
_CASED = """
SELECT o.row, o.id, o.probe_id, o.target_url, o.evidence, o.source,
       coalesce(o.target_platform, u.target) AS target, o.surface, o.outcome, o.reason,
       h.host,
       CASE WHEN coalesce(o.target_platform, u.target) IN (SELECT id FROM catalog_platform)
            THEN NULL ELSE o.target_url END AS unknown_target_url
FROM (SELECT * FROM observations WHERE row >= $start AND row < $stop) o
LEFT JOIN url_owner u ON o.target_platform IS NULL AND u.url = o.target_url
LEFT JOIN url_host h ON h.url = o.target_url
"""

_CASE_COLUMNS = "source, target, surface, outcome, reason, host, unknown_target_url"

# The cases of a range of rows, each with its number of rows and a hash of its columns: the
# rows find their case's verdicts by the hash (a join on one number;
# `write_observation_verdicts` checks a range's hashes differ).
_CASES = f"""
SELECT {_CASE_COLUMNS}, count(*), hash({_CASE_COLUMNS}) FROM ({_CASED}) GROUP BY ALL
"""

# One verdict's line: each row's values as JSON (`encode`: DuckDB's to_json, or pydantic's
# json_string) between its case's pieces.
_LINE = """c.head || id || c.observation_id || {encode}(observation_id)
    || c.probe_id || coalesce({encode}(probe_id), 'null')
    || c.target_url || coalesce({encode}(target_url), 'null')
    || c.evidence || coalesce({encode_list}(evidence), '[]') || c.tail || chr(10)"""

# A range's verdicts as `_pieces` gives them (their case's hash and their place among the
# case's verdicts, the catalog's order of rules), a row each.
_PIECES_COLUMNS = [("h", "UBIGINT"), ("ordinal", "INTEGER"), ("rule_id", "VARCHAR"),
                   ("head", "VARCHAR"), ("observation_id", "VARCHAR"), ("probe_id", "VARCHAR"),
                   ("target_url", "VARCHAR"), ("evidence", "VARCHAR"), ("tail", "VARCHAR"),
                   ("source", "VARCHAR"), ("surface", "VARCHAR"),
                   ("target_platform", "VARCHAR"), ("outcome", "VARCHAR"),
                   ("status", "VARCHAR"), ("severity", "VARCHAR"), ("reason_zh", "VARCHAR"),
                   ("reason_en", "VARCHAR"), ("exemption", "VARCHAR"),
                   ("requirements", "VARCHAR[]")]

# Each verdict of a range of rows, in the rows' order (each row's in the catalog's order of
# rules): its JSON line and the verdicts table's columns. A range at a time, each ordered by
# DuckDB: a join does not keep the rows' order, and the pieces a range needs are those of its
# own cases (a run of many platforms has about as many cases as observations; holding every
# case's pieces at once took gigabytes). DuckDB's JSON of a text differs from pydantic's only
# in an escape \u00XX (the hex digits' case): a line with one (rare: a control character) is
# made again with pydantic's.
_VERDICTS = f"""
WITH keyed AS (
  SELECT row, id AS observation_id, probe_id, target_url, evidence,
         hash({_CASE_COLUMNS}) AS h
  FROM ({_CASED})),
identified AS (
  SELECT k.*, c, substr(sha256(c.rule_id || chr(0) || k.observation_id), 1, 16) AS id
  FROM keyed k JOIN range_pieces c USING (h)),
lines AS (
  SELECT *, {_LINE.format(encode="to_json", encode_list="to_json")} AS fast FROM identified)
SELECT CASE WHEN contains(fast, '\\u00')
              THEN {_LINE.format(encode="json_string", encode_list="json_list")}
            ELSE fast END AS line,
       NULL::VARCHAR AS run_id, id, c.rule_id, observation_id, probe_id, c.source,
       c.surface, target_url, c.target_platform, c.outcome, c.status, c.severity,
       {{'zh': c.reason_zh, 'en': c.reason_en}} AS reason, c.exemption, c.requirements,
       evidence
FROM lines ORDER BY row, c.ordinal
"""

# Rows judged at a time: a range's lines are sorted by DuckDB (~0.9 KB a verdict, ~3 a row).
RANGE_ROWS = 65_536
# Cases whose pieces are kept from one range to the next: a run of a few platforms has a few
# thousand cases, all kept; one of thousands has about as many as observations, each met
# once or twice (a case's pieces are ~1.5 KB a rule).
KEPT_CASES = 8_192

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


class _Marks(NamedTuple):
    """Placeholders in a verdict's JSON: for the values that differ between observations (id,
    observation, probe, URL, evidence), split at, and for those that differ between the cases
    of a rule's decision (source, target platform, the reason's two texts), filled in."""
    id: str
    obs: str
    probe: str
    url: str
    ev: str
    source: str
    target: str
    zh: str
    en: str

    def splits(self) -> tuple[str, ...]:
        """The texts a line is split at: the id's, observation's, probe's and URL's JSON,
        then the evidence list's."""
        return (*(json_string(m) for m in (self.id, self.obs, self.probe, self.url)),
                "[" + json_string(self.ev) + "]")


def _marks() -> _Marks:
    # No policy text can hold them: NUL and a random token, made once per judging.
    token = "\0" + uuid.uuid4().hex
    return _Marks(*(f"{token}{name}" for name in _Marks._fields))


class _Lines:
    """Each decision's verdict line, split into its pieces (_Pieces). pydantic serialises a
    verdict once per rule, status, exemption, requirements, surface and outcome, with
    placeholders for the case's source, target platform and reason texts, which each case
    fills in with their JSON (pydantic's, `json_string`): an audit of thousands of platforms
    has a case per link or two, and a verdict made and serialised per case was most of its
    judging's time."""

    def __init__(self) -> None:
        self._marks = _marks()
        self._splits = self._marks.splits()
        self._fills = tuple(json_string(m) for m in (self._marks.source, self._marks.target,
                                                     self._marks.zh, self._marks.en))
        self._templates: dict[tuple[Any, ...], str] = {}

    def _template(self, case: Case, decision: Decision) -> str:
        exemption = decision.exemption.id if decision.exemption else None
        key = (decision.rule.id, decision.status, exemption, decision.requirements,
               case.surface, case.outcome)
        template = self._templates.get(key)
        if template is None:
            marks = self._marks
            template = self._templates[key] = Verdict(
                id=marks.id, rule_id=decision.rule.id, observation_id=marks.obs,
                probe_id=marks.probe, source=marks.source, surface=case.surface,
                target_url=marks.url, target_platform=marks.target, outcome=case.outcome,
                status=decision.status, severity=decision.rule.severity,
                reason=Text(zh=marks.zh, en=marks.en), exemption=exemption,
                requirements=list(decision.requirements), evidence=[marks.ev],
            ).model_dump_json()
        return template

    def pieces(self, case: Case, decision: Decision) -> _Pieces:
        source, target, zh, en = self._fills
        line = (self._template(case, decision)
                .replace(source, json_string(case.source))
                .replace(target, "null" if case.target_platform is None
                         else json_string(case.target_platform))
                .replace(zh, json_string(decision.reason.zh))
                .replace(en, json_string(decision.reason.en)))
        parts = []
        for split in self._splits[:4]:
            before, line = line.split(split)
            parts.append(before)
        before, tail = line.split(self._splits[4])
        parts.append(before)
        head, observation_id, probe_id, target_url, evidence = parts
        return _Pieces(decision.rule.id, head + '"', '"' + observation_id, probe_id,
                       target_url, evidence, tail, case.source, case.surface.value,
                       case.target_platform, case.outcome.value, decision.status.value,
                       decision.rule.severity.value, decision.reason.zh, decision.reason.en,
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
    tables.function("json_string", json_string)
    tables.execute(_JSON_LIST)
    judged = _Judged(catalog)
    counts: VerdictCounts = Counter()

    def range_pieces(bounds: dict[str, int]) -> Iterator[tuple[Any, ...]]:
        """The verdicts of a range's cases (_PIECES_COLUMNS), counted as they go."""
        hashes: set[int] = set()
        for row in tables.rows(_CASES, bounds):
            key, rows, h = row[:-2], int(row[-2]), row[-1]
            if h in hashes:
                raise TablesError("two cases of the run's observations have the same hash: "
                                  "this run cannot be judged by hash (report it)")
            hashes.add(h)
            pieces, judgements = judged(key)
            outcome = Outcome(key[3])
            for status, severity in judgements:
                counts[(status, severity, outcome)] += rows
            for ordinal, piece in enumerate(pieces):
                yield (h, ordinal, *piece)

    ((total,),) = tables.all("SELECT count(*) FROM observations")
    for start in range(0, total, RANGE_ROWS):
        bounds = {"start": start, "stop": start + RANGE_ROWS}
        tables.table("range_pieces", _PIECES_COLUMNS, range_pieces(bounds))
        for batch in tables.batches(_VERDICTS, bounds):
            if table is None:
                out.write(text_bytes(batch.column("line")))
            else:
                table.append_batch(batch, out)
    return counts


# A case's verdicts' pieces, and their (status, severity) pairs.
_CaseVerdicts = tuple[list[_Pieces], list[tuple[Status, Severity]]]


class _Judged:
    """Each case's verdicts as `_pieces` gives them, and their (status, severity) pairs, by
    the case's columns (_CASE_COLUMNS): decided once while kept (the last KEPT_CASES)."""

    def __init__(self, catalog: Catalog):
        self._catalog = catalog
        self._index = requirement_index(catalog)
        self._lines = _Lines()
        self._kept: dict[tuple[Any, ...], _CaseVerdicts] = {}

    def __call__(self, key: tuple[Any, ...]) -> _CaseVerdicts:
        found = self._kept.get(key)
        if found is None:
            case = _case(key)
            decisions = decide(case, self._catalog, self._index)
            found = ([self._lines.pieces(case, d) for d in decisions],
                     [(d.status, d.rule.severity) for d in decisions])
            if len(self._kept) >= KEPT_CASES:
                del self._kept[next(iter(self._kept))]  # the oldest
            self._kept[key] = found
        return found
