"""The per-observation rules over a run's observations table: Python decides each distinct
kind of case once (audit.judge.evaluate.decide, as for Observation objects), DuckDB applies
the decisions to every row and gives each verdict as its JSON line and its columns, for
verdicts.jsonl and verdicts.parquet in one pass.

A rule's verdict on an observation depends on its source, target platform, surface, outcome
and reason; but the source and the target matter to the decision only through what the rules
ask of them (the category of each, whether they are of one company, whether a rule lists
the source) and to the verdict through their names in its reason and their ids. So rows are
grouped by *kind* (those properties, the surface, outcome and reason, and the target's host
where an exemption could match it): Python decides a kind once, its reasons filled with
stand-ins for the two names, and DuckDB fills in each row's source, target and names. A run
of ten million observations of a few dozen platforms has ~33 million verdicts and a few
thousand kinds; a run of thousands of platforms linking to each other, which has about as
many (source, target) cases as observations, has a few thousand kinds too (Python deciding
per case was most of its judging: docs/benchmarks.md, "Fourteenth session"). A catalog whose
reason templates format a name (`{source!r}`, `{target:>8}`) keeps the source and target in
the kind, and its names filled in by Python (`names_fill_in_later`).

The rows are judged a range at a time (`range_rows`), in a thread of their own a range ahead of
the writing of their lines and table (audit.ahead), each range's verdicts put in the rows'
order by Arrow (`columnar.in_order`: DuckDB's joins give a range of thousands of rows in a
few runs, as its threads made them, which are written where they lie rather than sorted
and copied; a small range may come shuffled, and is copied into order). The kinds decided
are kept, their verdicts in a DuckDB table the ranges join (each naming its pieces, kept
once in another: kinds share them) and their counts in Python, up to KEPT_CASES kinds: a
range whose new kinds would pass that starts the table again with its own (memory stays
bounded whatever the number of kinds: a host per URL where exemptions list domains, a case
per kind where templates format names). A run of thousands of platforms has ~10,000 kinds
met ~120,000 times over a million rows: each is decided and handed to DuckDB once.

The lines are the bundle writer's, byte for byte: a verdict is serialised by pydantic once
per rule, status, exemption, surface and outcome with a stand-in for every field that differs
between observations (id, observation id, probe, source, URL, target platform, evidence, the
names in the reason) and between kinds (the reason's texts, filled in with pydantic's JSON of
them); the line is split at the observations' stand-ins, and DuckDB puts each row's values,
as JSON, between the pieces and in place of the others. DuckDB's JSON for a string is
pydantic's except for the case of the hex digits of a control character's escape (\\u001F
against \\u001f): those rare values are encoded by pydantic (`json_string`).
tests/test_table_verdicts.py holds the two paths to the same bytes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from typing import IO, Any, NamedTuple

from audit.ahead import made_ahead
from audit.evidence import sql
from audit.evidence.bundle import json_string
from audit.evidence.columnar import ColumnarLog, chunk_texts, in_order
from audit.evidence.sql import RunTables, TablesError
from audit.judge.cross import attribute_urls
from audit.judge.evaluate import (
    Case,
    Decision,
    Names,
    decide,
    exemption_domains,
    names_fill_in_later,
    requirement_index,
)
from audit.judge.standins import split_at, stand_ins
from audit.judge.summary import VerdictCounts
from audit.model import BlockReason, Outcome, Severity, Status, SurfaceKind, Text, Verdict
from audit.policy.catalog import Catalog
from audit.web.urls import host_of

# The hosts of the URLs an exemption's domains could match. A host is lower case and, for a
# URL of ASCII characters without tab or line breaks (urlsplit removes those), a part of the
# lower-cased URL; a domain is a suffix of the host it matches. So a URL that holds none of
# the domains, is ASCII and has no tab or line break cannot match one: only the others go to
# Python's host_of. Sound whatever the domains, and few URLs where few links are exempt.
# Whether a URL holds a domain is asked of a regular expression of DOMAINS_A_PATTERN domains
# (their escaped texts as alternatives): DuckDB compiles a constant pattern once and RE2
# tries every alternative in one pass over the URL, where a `contains` per domain took 7.8 s
# for 1,000 domains over a million observations (0.35 s as one pattern); RE2 slows past a
# few thousand alternatives (10,000 in one pattern 10.7 s, in ten 0.65 s).
DOMAINS_A_PATTERN = 1_000


def _hosts_sql(domains: list[str]) -> tuple[str, dict[str, str]]:
    """The statement of the URLs whose hosts Python reads, and its patterns."""
    patterns = {f"domains{n}": "|".join(re.escape(d)
                                        for d in domains[start:start + DOMAINS_A_PATTERN])
                for n, start in enumerate(range(0, len(domains), DOMAINS_A_PATTERN))}
    held = " OR ".join(f"regexp_matches(url, ${name})" for name in patterns) or "false"
    return f"""
SELECT DISTINCT target_url
FROM (SELECT target_url, lower(target_url) AS url FROM observations)
WHERE regexp_matches(target_url, '[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x7f]') OR {held}
""", patterns


# Each row of a range with its kind: its attributed target, the properties of its source and
# target the rules look at (listed: the source where a rule lists it), its host where it
# matters (url_host), its URL where the catalog does not know the target, and the names its
# verdicts' reasons give the source and target (as evaluate.case_names gives them).
_CASED = """
SELECT o.row, o.id, o.probe_id, o.target_url, o.evidence, o.source,
       coalesce(o.target_platform, u.target) AS target, o.surface, o.outcome, o.reason,
       h.host, CASE WHEN tp.id IS NULL THEN o.target_url END AS unknown_target_url,
       CASE WHEN list_contains($listed, o.source) THEN o.source END AS listed,
       sp.category AS source_category, tp.category AS target_category,
       coalesce(sp.company = tp.company, false) AS one_company,
       coalesce(sp.name_zh, o.source) AS source_zh, coalesce(sp.name_en, o.source) AS source_en,
       coalesce(tp.name_zh, nullif(unknown_target_url, ''), '') AS target_zh,
       coalesce(tp.name_en, nullif(unknown_target_url, ''), '') AS target_en
FROM (SELECT * FROM observations WHERE row >= $start AND row < $stop) o
LEFT JOIN url_owner u ON o.target_platform IS NULL AND u.url = o.target_url
LEFT JOIN url_host h ON h.url = o.target_url
LEFT JOIN judged_platform sp ON sp.id = o.source
LEFT JOIN judged_platform tp ON tp.id = coalesce(o.target_platform, u.target)
"""

# What a kind is made of (`_kind_columns`), and what of it Python decides with (_Judged).
_KIND = ("listed, source_category, target_category, one_company, surface, outcome, reason, "
         "host")
_NAMED_KIND = _KIND + ", source, target, unknown_target_url"


# A kind's number: the rows find their kind's verdicts by it (a join on one number).
# `write_observation_verdicts` checks that no two kinds it keeps have the same.
KIND_HASH = "hash({kind})"


def _kinds_sql(kind: str) -> str:
    """The kinds of a range of rows, each with a case of its own (the rules decide a kind as
    they decide any of its cases), its number of rows and its hash (KIND_HASH)."""
    return f"""
SELECT {kind}, any_value(source), any_value(target), any_value(unknown_target_url), count(*),
       {KIND_HASH.format(kind=kind)}
FROM ({_CASED}) GROUP BY {kind}
"""


# One verdict's line: each row's values as JSON (`encode`: DuckDB's to_json, or pydantic's
# json_string; `inner`: the same inside a JSON string) between its kind's pieces and in
# place of the stand-ins for its source, target platform and names.
# One `concat` rather than a chain of `||`, which DuckDB does a pair at a time, copying the
# line so far at each step (20 parts over 2 million rows: 2.4 s against 0.6). concat reads a
# NULL as '' where || gives a NULL line: no part is NULL (check_records holds the id, probe,
# source and URL; the rest are coalesced).
_LINE = """concat(c.head, id, c.observation_id, {encode}(observation_id),
    c.probe_id, coalesce({encode}(probe_id), 'null'),
    replace(c.target_url, $source_mark, {encode}(source)),
    coalesce({encode}(target_url), 'null'),
    replace(replace(replace(replace(replace(c.evidence,
         $target_mark, coalesce({encode}(target), 'null')),
         $source_zh, {inner}(source_zh)), $source_en, {inner}(source_en)),
         $target_zh, {inner}(target_zh)), $target_en, {inner}(target_en)),
    coalesce({encode_list}(evidence), '[]'), c.tail, chr(10))"""

# The kinds' verdicts: a kind's hash and the numbers of its verdicts' pieces, in the
# catalog's order of rules, a row a kind (judged_kinds)...
_KINDS_COLUMNS = [("h", "UBIGINT"), ("pieces", "INTEGER[]")]
# ... and each distinct verdict's pieces, as `_Lines.pieces` gives them, once by their number
# (judged_pieces): kinds differ in what the rules look at, their verdicts' pieces far less
# (the 2,000-platform audit: 34,682 verdicts of 8,002 kinds, 123 distinct pieces; each
# kind's own held 49 MB of DuckDB's memory, and with reasons of kilobytes ran out of it).
_PIECES_COLUMNS = [
    ("piece", "INTEGER"), ("rule_id", "VARCHAR"), ("head", "VARCHAR"),
    ("observation_id", "VARCHAR"), ("probe_id", "VARCHAR"), ("target_url", "VARCHAR"),
    ("evidence", "VARCHAR"), ("tail", "VARCHAR"), ("surface", "VARCHAR"), ("outcome", "VARCHAR"),
    ("status", "VARCHAR"), ("severity", "VARCHAR"), ("reason_zh", "VARCHAR"),
    ("reason_en", "VARCHAR"), ("exemption", "VARCHAR"), ("requirements", "VARCHAR[]")]


def _verdicts_sql(kind: str) -> str:
    """Each verdict of a range of rows: its JSON line and the verdicts table's columns, and
    its row and place among the row's verdicts (`in_order_row`, `in_order_ordinal`: DuckDB's
    joins do not keep the rows' order, `in_order` puts them back in it). DuckDB's JSON of a
    text differs from pydantic's only in an escape \\u00XX (the hex digits' case): a line
    with one (rare: a control character) is made again with pydantic's."""
    fast = _LINE.format(encode="to_json", inner="json_inner_fast", encode_list="to_json")
    exact = _LINE.format(encode="json_string", inner="json_inner", encode_list="json_list")
    return f"""
WITH keyed AS (
  SELECT row, id AS observation_id, probe_id, target_url, evidence, source, target,
         source_zh, source_en, target_zh, target_en, {KIND_HASH.format(kind=kind)} AS h
  FROM ({_CASED})),
-- A kind's verdicts as one list of pieces, unnested in the catalog's order of rules: one
-- match a row, where a row a verdict made DuckDB's join give a range's first verdicts of
-- every row, then the second ones (its probe goes match by match).
kinded AS (
  SELECT k.*, unnest(j.pieces) AS piece, generate_subscripts(j.pieces, 1) AS ordinal
  FROM keyed k JOIN judged_kinds j USING (h)),
identified AS (
  SELECT k.*, c, substr(sha256(c.rule_id || chr(0) || k.observation_id), 1, 16) AS id
  FROM kinded k JOIN judged_pieces c USING (piece)),
lines AS (SELECT *, {fast} AS fast FROM identified)
SELECT CASE WHEN contains(fast, '\\u00') THEN {exact} ELSE fast END AS line,
       NULL::VARCHAR AS run_id, id, c.rule_id, observation_id, probe_id, source,
       c.surface, target_url, target AS target_platform, c.outcome, c.status, c.severity,
       {{'zh': replace(replace(c.reason_zh, $source_zh, source_zh), $target_zh, target_zh),
         'en': replace(replace(c.reason_en, $source_en, source_en), $target_en, target_en)}}
         AS reason,
       c.exemption, c.requirements, evidence, row AS in_order_row, ordinal AS in_order_ordinal
FROM lines
"""


# Rows judged at a time: a range's verdicts are held until the range is judged, then put in
# order (~0.9-1.4 KB a verdict, 3-5 a row). Half the ranges of 65,536 rows they were: a
# range's batches fit in the queue of those made ahead (BATCHES_AHEAD), so DuckDB judges the
# next range while they are written (a million observations of 2,000 platforms: the
# per-observation rules 37 -> 30 s, the same lines; docs/benchmarks.md, "Sixteenth
# session").
RANGE_ROWS = 32_768
# ... and fewer where a range's verdicts could take more than RANGE_BYTES (as DuckDB's Arrow
# batches), were each per-observation rule to give each row a verdict as large as the
# largest of the ranges judged so far gave on average (`range_rows`; the first range, of
# FIRST_RANGE_VERDICTS verdicts at most, measures). DuckDB sorted them until the twenty-fourth
# session and did not dependably spill that sort of wide rows (DuckDB 2.0.1): ranges of
# 32,768 rows ran out of its 512 MB judged by 30 rules (the shipped six copied five times)
# or by the six with reasons of ~1.6 KB. Held in Arrow, a range is still memory of its own:
# the shipped catalog's ~1.4 KB verdicts, ~4.3 a row, take ~194 MB a range, and two are
# alive at most in this thread (one being judged, the last one's tables in the queue).
RANGE_BYTES = 288 * 2**20
FIRST_RANGE_VERDICTS = 12_288  # 2,048 rows of the shipped catalog
# Kinds whose pieces are kept from one range to the next: a run has a few thousand kinds
# (~10,000 for 2,000 platforms of 200 companies), all kept, unless exemptions list domains
# its URLs' hosts hold (a kind per such host) or its templates format a name (a kind per
# case: `_NAMED_KIND`). A kind is its hash and its verdicts' piece numbers in DuckDB's
# memory, their distinct pieces ~1.5 KB each (a piece per case's verdict where templates
# format names).
KEPT_CASES = 16_384
# Batches of verdicts made ahead of their writing: a range's (~17 batches of a range of 2,000
# platforms). A batch holds TEXT_ROWS verdicts, or fewer where they could take more than
# BATCH_BYTES as measured (`batch_rows`): ~11 MB a batch of the shipped catalog, ~230 MB
# at most in all; reasons of kilobytes made batches of ~60 MB, 1.2 GB ahead of the writing.
BATCHES_AHEAD = 20
BATCH_BYTES = 12 * 2**20

# The columns a range's verdicts are put in order by (_verdicts_sql).
IN_ORDER = ("in_order_row", "in_order_ordinal")

# pydantic's JSON of a list of texts, and of a text inside a JSON string; DuckDB's of the
# latter.
_MACROS = """CREATE OR REPLACE MACRO json_list(l) AS
  '[' || array_to_string(list_transform(l, lambda s: json_string(s)), ',') || ']';
CREATE OR REPLACE MACRO json_inner(s) AS json_string(s)[2:-2];
CREATE OR REPLACE MACRO json_inner_fast(s) AS (to_json(s)::VARCHAR)[2:-2]"""


class _Pieces(NamedTuple):
    """A verdict's JSON line around the values that differ between observations, and the
    kind's values (_PIECES_COLUMNS)."""
    rule_id: str
    head: str  # ... `"id":"` ; the id's 16 hex digits go after it
    observation_id: str
    probe_id: str
    target_url: str  # holds the source's stand-in
    evidence: str  # holds the target platform's and the names' stand-ins
    tail: str
    surface: str
    outcome: str
    status: str
    severity: str
    reason_zh: str
    reason_en: str
    exemption: str | None
    requirements: list[str]


class _Marks(NamedTuple):
    """Stand-ins in a verdict: for the values that differ between observations (id,
    observation, probe, URL, evidence), split at; for the source, the target platform and
    the four names (which DuckDB fills in per row), replaced; and for the reason's two texts
    (filled in per kind)."""
    id: str
    obs: str
    probe: str
    url: str
    ev: str
    source: str
    target: str
    source_zh: str
    source_en: str
    target_zh: str
    target_en: str
    zh: str
    en: str

    def splits(self) -> tuple[str, ...]:
        """The texts a line is split at: the id's, observation's, probe's and URL's JSON,
        then the evidence list's."""
        return (*(json_string(m) for m in (self.id, self.obs, self.probe, self.url)),
                "[" + json_string(self.ev) + "]")

    def params(self) -> dict[str, str]:
        """The stand-ins DuckDB replaces, as they are in a line (`_LINE`) and in a reason."""
        return {"source_mark": json_string(self.source), "target_mark": json_string(self.target),
                "source_zh": self.source_zh, "source_en": self.source_en,
                "target_zh": self.target_zh, "target_en": self.target_en}

    def names(self) -> Names:
        return (self.source_zh, self.source_en), (self.target_zh, self.target_en)


def _marks() -> _Marks:
    return _Marks(**stand_ins(_Marks._fields))


class _Lines:
    """Each decision's verdict line, split into its pieces (_Pieces). pydantic serialises a
    verdict once per rule, status, exemption, requirements, surface and outcome, with
    stand-ins for its reason's texts, which each kind fills in with their JSON (pydantic's,
    `json_string`)."""

    def __init__(self, marks: _Marks) -> None:
        self._marks = marks
        self._splits = marks.splits()
        self._fills = (json_string(marks.zh), json_string(marks.en))
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
            self._check(template)
        return template

    def _check(self, template: str) -> None:
        """The stand-ins DuckDB replaces are in the pieces `_LINE` replaces them in: the
        source's before the URL, the target platform's and the reason's between the URL and
        the evidence (the order of Verdict's fields)."""
        marks = self._marks
        after_url = template.split(self._splits[3])[1]
        between = after_url.split(self._splits[4])[0]
        before_url = template.split(self._splits[3])[0].split(self._splits[2])[1]
        if (json_string(marks.source) not in before_url
                or json_string(marks.target) not in between
                or not all(fill in between for fill in self._fills)):
            raise AssertionError("Verdict's fields are not in the order table_verdicts "
                                 "puts them in: update _LINE and _Lines")

    def pieces(self, case: Case, decision: Decision) -> _Pieces:
        zh, en = self._fills
        line = (self._template(case, decision)
                .replace(zh, json_string(decision.reason.zh))
                .replace(en, json_string(decision.reason.en)))
        head, observation_id, probe_id, target_url, evidence, tail = split_at(
            line, self._splits, "a verdict's line")
        return _Pieces(decision.rule.id, head + '"', '"' + observation_id, probe_id,
                       target_url, evidence, tail, case.surface.value, case.outcome.value,
                       decision.status.value, decision.rule.severity.value,
                       decision.reason.zh, decision.reason.en,
                       decision.exemption.id if decision.exemption else None,
                       list(decision.requirements))


def range_rows(rules: int, verdict_bytes: float | None) -> int:
    """Rows of the next range: as many as RANGE_BYTES holds were each of the catalog's
    `rules` per-observation rules to give each row a verdict of `verdict_bytes` (None before
    any was measured: FIRST_RANGE_VERDICTS verdicts), at most RANGE_ROWS."""
    rules = max(1, rules)
    rows = (FIRST_RANGE_VERDICTS // rules if verdict_bytes is None
            else int(RANGE_BYTES // (rules * verdict_bytes)))
    return max(1, min(RANGE_ROWS, rows))


def batch_rows(verdict_bytes: float | None) -> int:
    """Verdicts in a batch: TEXT_ROWS, or as many as BATCH_BYTES holds of verdicts of
    `verdict_bytes` (None: not measured yet, the first range's)."""
    if verdict_bytes is None:
        return sql.TEXT_ROWS
    return max(1, min(sql.TEXT_ROWS, int(BATCH_BYTES // verdict_bytes)))


def _judged_platforms(catalog: Catalog) -> Iterator[tuple[str, str, str, str, str]]:
    # By the catalog's keys, as `decide` looks platforms up (a catalog made in code may key
    # a platform otherwise than by its id).
    for key, platform in catalog.platforms.items():
        yield (key, platform.category.value, platform.company, platform.name.zh,
               platform.name.en)


def write_observation_verdicts(tables: RunTables, catalog: Catalog, out: IO[bytes],
                               table: ColumnarLog | None) -> VerdictCounts:
    """The verdicts of the per-observation rules for every row of the run's observations
    table, in its order (each row's in the catalog's order of rules), as the bundle's JSON
    lines into `out` and as rows of the verdicts table `table` (the lines' table; None: the
    lines only); their counts. The records must have been checked (check_records)."""
    tables.keep_footers()  # the rows are read a range at a time, hundreds of ranges
    attribute_urls(tables, catalog)
    domains = exemption_domains(catalog)
    hosts = ([(url, host) for (url,) in tables.rows(*_hosts_sql(domains))
              if (host := host_of(url)) is not None] if domains else [])
    tables.table("url_host", [("url", "VARCHAR"), ("host", "VARCHAR")], hosts)
    tables.table("judged_platform", [("id", "VARCHAR"), ("category", "VARCHAR"),
                                     ("company", "VARCHAR"), ("name_zh", "VARCHAR"),
                                     ("name_en", "VARCHAR")], _judged_platforms(catalog))
    tables.function("json_string", json_string)
    for macro in _MACROS.split(";"):
        tables.execute(macro)
    named = names_fill_in_later(catalog)
    kind = _KIND if named else _NAMED_KIND
    marks = _marks()
    judged = _Judged(catalog, marks, named)
    listed = sorted({source for rule in catalog.rules.values() if rule.scope == "observation"
                     for source in rule.applies_to.sources})
    counts: VerdictCounts = Counter()
    # The kinds whose verdicts are in the judged_kinds table, by hash: their columns and
    # their verdicts' (status, severity) pairs; and the pieces in judged_pieces, by value
    # (a few hundred). A catalog whose templates format names has a piece per case's
    # verdict (up to KEPT_CASES kinds' worth): none shared, none held here.
    kept: dict[int, tuple[tuple[Any, ...], list[tuple[Status, Severity]]]] = {}
    numbers: dict[tuple[Any, ...], int] = {}
    columns = len(kind.split(","))

    def new_rows(kinds: list[_Kind]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The verdicts of kinds not kept (_KINDS_COLUMNS) and the pieces not kept among
        them (_PIECES_COLUMNS), kept as they go."""
        kind_rows: list[tuple[Any, ...]] = []
        piece_rows: list[tuple[Any, ...]] = []
        for key, example, _, h in kinds:
            pieces, judgements = judged(key, key[4:8] + example)
            kept[h] = (key, judgements)
            numbered: list[int] = []
            for piece in pieces:
                value = (*piece[:-1], tuple(piece.requirements)) if named else (len(numbers),)
                number = numbers.get(value)
                if number is None:
                    number = numbers[value] = len(numbers)
                    piece_rows.append((number, *piece))
                numbered.append(number)
            kind_rows.append((h, numbered))
        return kind_rows, piece_rows

    def judge_kinds(bounds: dict[str, Any]) -> None:
        """The judged_kinds and judged_pieces tables hold the range's kinds, which are
        counted."""
        kinds: list[_Kind] = []
        hashes: set[int] = set()
        for row in tables.rows(_kinds_sql(kind), bounds):
            key, h = row[:columns], row[-1]
            known = kept.get(h)
            if h in hashes or (known is not None and known[0] != key):
                raise TablesError("two kinds of the run's observations have the same hash: "
                                  "this run cannot be judged by hash (report it)")
            hashes.add(h)
            kinds.append(_Kind(key, row[columns:-2], int(row[-2]), h))
        new = [k for k in kinds if k.h not in kept]
        again = len(kept) + len(new) > KEPT_CASES
        if again:
            kept.clear()
            numbers.clear()
            new = kinds
        kind_rows, piece_rows = new_rows(new)
        tables.table("judged_kinds", _KINDS_COLUMNS, kind_rows, append=not again)
        tables.table("judged_pieces", _PIECES_COLUMNS, piece_rows, append=not again)
        for key, _, rows, h in kinds:
            outcome = Outcome(key[5])
            for status, severity in kept[h][1]:
                counts[(status, severity, outcome)] += rows

    ((total,),) = tables.all("SELECT count(*) FROM observations")
    verdicts = _verdicts_sql(kind)
    rules = sum(1 for rule in catalog.rules.values() if rule.scope == "observation")
    tables.table("judged_kinds", _KINDS_COLUMNS, ())
    tables.table("judged_pieces", _PIECES_COLUMNS, ())

    def judged_batches() -> Iterator[Any]:
        """Each range's verdicts as Arrow tables (their lines in pieces, the rest whole), a
        range after the other, each range as long as range_rows allows after the ones
        before."""
        start, verdict_bytes = 0, None
        while start < total:
            stop = start + range_rows(rules, verdict_bytes)
            bounds: dict[str, Any] = {"start": start, "stop": stop, "listed": listed}
            judge_kinds(bounds)
            # The range's verdicts as DuckDB made them, then in order: sorting them in the
            # statement (ORDER BY) cost DuckDB ~9 s of CPU a million observations, most of it
            # moving the wide rows and faulting in the memory its sort takes (RANGE_BYTES).
            made = list(tables.batches(verdicts, {**bounds, **marks.params()},
                                       batch_rows(verdict_bytes)))
            lines = sum(batch.num_rows for batch in made)
            size = sum(batch.nbytes - sum(batch.column(key).nbytes for key in IN_ORDER)
                       for batch in made)
            yield from in_order(made, IN_ORDER, batch_rows(verdict_bytes))
            del made  # held by the queue's tables only, not while the next range is judged
            if lines:
                verdict_bytes = max(verdict_bytes or 0, size / lines)
            start = stop

    # Judged in a thread of their own (the only user of the tables meanwhile) while this one
    # writes: DuckDB judges the next range as the last one's lines and table are written.
    with closing(made_ahead(judged_batches(), BATCHES_AHEAD, "hulian-judging")) as made:
        for batch in made:  # closed (the thread stopped) before the tables, whatever happens
            if table is None:
                for data in chunk_texts(batch.column("line")):
                    out.write(data)
            else:
                table.append_batch(batch, out)
    return counts


class _Kind(NamedTuple):
    """A kind of a range's rows (_kinds_sql): its columns, the rest of a case of it (source,
    target, unknown target URL), its number of rows, its hash."""
    key: tuple[Any, ...]
    example: tuple[Any, ...]
    rows: int
    h: int


# A kind's verdicts' pieces, and their (status, severity) pairs.
_KindVerdicts = tuple[list[_Pieces], list[tuple[Status, Severity]]]


class _Judged:
    """A kind's verdicts as `_pieces` gives them, and their (status, severity) pairs."""

    def __init__(self, catalog: Catalog, marks: _Marks, named: bool):
        self._catalog = catalog
        self._index = requirement_index(catalog)
        self._lines = _Lines(marks)
        # The names' stand-ins, which DuckDB replaces per row; None: the case's own names
        # (a kind of one source and target).
        self._names = marks.names() if named else None

    def __call__(self, key: tuple[Any, ...], case: tuple[Any, ...]) -> _KindVerdicts:
        """key: the kind's columns; case: (surface, outcome, reason, host, source, target,
        unknown target URL) of one of its rows."""
        surface, outcome, reason, host, source, target, unknown = case
        example = Case(source, target, SurfaceKind(surface), Outcome(outcome),
                       None if reason is None else BlockReason(reason), host, unknown)
        decisions = decide(example, self._catalog, self._index, self._names)
        return ([self._lines.pieces(example, d) for d in decisions],
                [(d.status, d.rule.severity) for d in decisions])
