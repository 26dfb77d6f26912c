"""Machine outputs of a report: findings.json, findings.csv and junit.xml (docs/reports.md
documents each). They are written from the same ReportData as the HTML/PDF.

The findings of the two files (a run of ten million observations has ~4 million, 15 GB) are
rendered by DuckDB as it reads them (audit/report/findings.py: each finding's JSON record by
DuckDB's to_json, its CSV cells by SQL, the row by Python's csv; what a finding takes from its
judgement once per judgement), in the order it reads them, and kept in temporary files
(audit/report/spill.py); then written out in report order, a read of each file per finding.
DuckDB does not sort them itself: its ORDER BY of the findings' wide rows ran out of its
memory limit from a million observations on, on one thread or two, whatever the limit (it did
not spill them); their positions in report order are a column of its own narrow sort
(REPORT_ORDER).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import tempfile
from array import array
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from audit import __version__
from audit.evidence.bundle import banner, describe
from audit.evidence.csvcells import DEFUSE_MACRO, defused_row
from audit.evidence.csvcells import FORMULA_STARTS as FORMULA_STARTS
from audit.evidence.through import open_through
from audit.model import Status, Verdict
from audit.report.data import FINDING_STATUSES, ReportData
from audit.report.findings import FINDING_COLUMNS
from audit.report.queries import CASE_LISTED
from audit.report.search import SURFACE as SEARCH_SURFACE
from audit.report.search import SearchSection
from audit.report.spill import SpillFile
from audit.web.xmlchars import xml_comment, xml_text

JSON_SCHEMA = "hulian.findings/1"

CSV_COLUMNS = (
    "id", "status", "severity", "source", "source_company", "surface", "target_platform",
    "target_company", "target_url", "outcome", "block_reason", "block_reason_text", "rules",
    "requirements",
    "reason_zh", "reason_en", "exemptions", "final_url", "hop_count", "hop_chain", "signature",
    "page_title", "excerpt", "control_ok", "failure", "evidence", "observation_id",
)


# findings.json's record of a finding: docs/reports.md's fields, in its order, each from
# its column (the hops as audit.model.Hop.model_dump(mode="json") gives them).
JSON_FIELDS = [(name, name) for name, _ in FINDING_COLUMNS]
JSON_FIELDS[[n for n, _ in JSON_FIELDS].index("title")] = ("page_title", "title")


def json_object(fields: list[tuple[str, str]]) -> str:
    """DuckDB's JSON text of an object of these (key, column) fields, in their order."""
    return ("to_json({" + ", ".join(f"'{key}': {column}" for key, column in fields)
            + "})::VARCHAR")


# A record's fields of its judgement (rules to exemptions: the reasons' sentences, a few
# hundred bytes to kilobytes shared by every finding of that judgement) are rendered once per
# judgement (JUDGEMENT_FIELDS), the others once per finding (before and after them), and each
# record joins the three: DuckDB's JSON of an object is its fields' texts joined by commas,
# so the object cut between two fields is the record. Rendered whole, each finding's query
# built a hash table of every judgement with its sentences (476 MB of DuckDB's 512 at a
# million observations of 2,000 platforms: bench/statements.py).
_JSON_NAMES = [key for key, _ in JSON_FIELDS]
_JUDGED_FIELDS = slice(_JSON_NAMES.index("rules"), _JSON_NAMES.index("exemptions") + 1)

# A CSV cell that a spreadsheet would read as a formula (CSV injection) gets a leading
# apostrophe: audit/evidence/csvcells.py's rule, the one of every CSV hulian writes (the SQL
# macro `defuse` here, `defused_row` for the search rows).

# findings.csv's row of a finding (CSV_COLUMNS): lists joined by a space (reasons by " / ",
# hops as "<status or -> <url>" by " -> "), a Python bool's text for control_ok, "" for
# none; formula starts defused.
_CSV_VALUES: tuple[str, ...] = (
    "id", "status", "severity", "source", "source_company", "surface", "target_platform",
    "target_company", "target_url", "outcome", "block_reason", "block_reason_text",
    "array_to_string(rules, ' ')", "array_to_string(requirements, ' ')",
    "array_to_string(list_transform(reasons, lambda r: r.zh), ' / ')",
    "array_to_string(list_transform(reasons, lambda r: r.en), ' / ')",
    "array_to_string(exemptions, ' ')", "final_url", "len(hops)::VARCHAR",
    "array_to_string(list_transform(hops, lambda h: coalesce(nullif(h.status, 0)::VARCHAR, '-')"
    " || ' ' || h.url), ' -> ')",
    "signature", "title", "excerpt",
    "CASE control_ok WHEN true THEN 'True' WHEN false THEN 'False' END", "failure",
    "array_to_string(evidence, ' ')", "observation_id",
)
# The cells of a finding's judgement (rules to exemptions: a few hundred bytes to kilobytes
# of the reasons' sentences, shared by every finding of that judgement) are rendered once per
# judgement, the others once per finding, and each row joins the three parts: Python's csv
# quotes each cell on its own, so a row cut between cells is the row.
_JUDGED_CELLS = slice(CSV_COLUMNS.index("rules"), CSV_COLUMNS.index("exemptions") + 1)


def _cells(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"coalesce(defuse({value}), '')" for value in values) + "]"


def _rendered_sql(json_wanted: bool, csv_wanted: bool) -> str:
    """Each finding's place in report order, its JSON record's fields before and after its
    judgement's, its CSV cells before and after its judgement's (each NULL when not wanted),
    and its judgement's number."""
    json_before, json_after = ((json_object(JSON_FIELDS[:_JUDGED_FIELDS.start]),
                                json_object(JSON_FIELDS[_JUDGED_FIELDS.stop:])) if json_wanted
                               else ("NULL", "NULL"))
    before, after = ((_cells(_CSV_VALUES[:_JUDGED_CELLS.start]),
                      _cells(_CSV_VALUES[_JUDGED_CELLS.stop:])) if csv_wanted
                     else ("NULL", "NULL"))
    return (f"SELECT position, {json_before} AS json_before, {json_after} AS json_after, "
            f"{before} AS before, {after} AS after, judgement FROM report_findings")



# Every judgement's CSV cells, and its JSON fields, each in one pass over the judgements
# (`_judgement_parts`; two passes, not one of both: DuckDB makes a few batches ahead, ~17 MB
# each of a million observations' cells, twice that with both, ~90 MB more at the peak).
# Asked for a block of findings' judgements at a time, DuckDB read the whole table each time:
# a run of thousands of platforms has about as many judgements as findings (~290,000 at a
# million observations, millions at ten million, where those reads were most of the 227 s
# findings.csv took).
# Judgements rendered a batch at a time: a judgement's reasons are hundreds of bytes to many
# kilobytes (a paragraph each made batches of 8,192 judgements ~60 MB, ~0.5 GB more at the
# peak with those made ahead and Python's copies).
JUDGEMENT_ROWS = 1_024
JUDGEMENT_CELLS = (f"SELECT judgement, {_cells(_CSV_VALUES[_JUDGED_CELLS])} AS cells "
                   "FROM judgements")
JUDGEMENT_FIELDS = (f"SELECT judgement, {json_object(JSON_FIELDS[_JUDGED_FIELDS])} AS fields "
                    "FROM judgements")


# The findings' rendered parts are written a MB at a time: millions of a few hundred bytes
# to a few KB each (with the default 8 KB buffer the findings of a million observations
# took 13.0-14.2 s, 12.1-12.8 s so; docs/benchmarks.md, "Twenty-third session").
KEPT_BUFFER = 1 << 20


class _Kept:
    """Texts kept in a temporary file by the position they are given, read back by it."""

    def __init__(self, what: str, count: int):
        self._file = SpillFile(what, buffering=KEPT_BUFFER)
        self._at = array("q", bytes(8 * count))
        self._length = array("q", bytes(8 * count))

    def add(self, position: int, blob: bytes) -> None:
        self._at[position] = self._file.append(blob)
        self._length[position] = len(blob)

    def flush(self) -> None:
        self._file.flush()

    def read(self, position: int) -> bytes:
        return self._file.read(self._at[position], self._length[position])

    def close(self) -> None:
        self._file.close()


class _Joined:
    """A file's findings by position (findings.json's records, findings.csv's rows): each
    finding's text before and after its judgement's, and its judgement's number, kept; the
    finding put together when read, with its judgement's text (`parts`, by number, rendered
    once each)."""

    def __init__(self, what: str, count: int, parts: _Kept):
        self._kept = _Kept(what, count)
        self._split = array("q", bytes(8 * count))
        self._number = array("q", bytes(8 * count))
        self._parts = parts

    def add(self, position: int, head: bytes, number: int, tail: bytes) -> None:
        self._kept.add(position, head + tail)
        self._split[position] = len(head)
        self._number[position] = number

    def flush(self) -> None:
        self._kept.flush()

    def read(self, position: int) -> bytes:
        blob, split = self._kept.read(position), self._split[position]
        return blob[:split] + self._parts.read(self._number[position]) + blob[split:]

    def close(self) -> None:
        self._kept.close()
        self._parts.close()


def _judgement_parts(data: ReportData, sql: str, what: str,
                     texts: Callable[[Any], list[str]], trim: slice) -> _Kept:
    """Each judgement's text of one file (`sql`: its number and its text, `texts` a batch's
    texts), by its number (numbers from 1), `trim`med and between the commas that join it
    to a finding's."""
    ((last,),) = data.findings.query("SELECT coalesce(max(judgement), 0) FROM judgements")
    parts = _Kept(what, last + 1)
    try:
        for batch in data.findings.batches(sql, JUDGEMENT_ROWS):
            for number, text in zip(batch.column(0).to_pylist(), texts(batch.column(1)),
                                    strict=True):
                parts.add(number, ("," + text[trim] + ",").encode("utf-8"))
        parts.flush()
    except BaseException:
        parts.close()
        raise
    return parts


def _pylist(column: Any) -> list[str]:
    return column.to_pylist()  # type: ignore[no-any-return]


def _rendered(data: ReportData, json_wanted: bool, csv_wanted: bool
              ) -> tuple[_Joined | None, _Joined | None]:
    """Each finding's JSON record and CSV row (_rendered_sql), kept by position."""
    count = len(data.findings)
    data.findings.execute(DEFUSE_MACRO)
    records = rows = None
    try:
        if json_wanted:  # the object's fields without its braces
            records = _Joined("findings.json's findings", count, _judgement_parts(
                data, JUDGEMENT_FIELDS, "findings.json's judgements", _pylist, slice(1, -1)))
        if csv_wanted:  # the row's cells without its line end
            rows = _Joined("findings.csv's findings", count, _judgement_parts(
                data, JUDGEMENT_CELLS, "findings.csv's judgements", _csv_lines,
                slice(0, -2)))
        for batch in data.findings.batches(_rendered_sql(json_wanted, csv_wanted)):
            positions = batch.column(0).to_pylist()
            numbers = batch.column(5).to_pylist()
            if records is not None:
                for position, before, number, after in zip(
                        positions, batch.column(1).to_pylist(), numbers,
                        batch.column(2).to_pylist(), strict=True):
                    # The objects without the brace that closes the first and the one that
                    # opens the second: the judgement's fields go between.
                    records.add(position, before[:-1].encode("utf-8"), number,
                                after[1:].encode("utf-8"))
            if rows is not None:
                for position, before, number, after in zip(
                        positions, _csv_lines(batch.column(3)), numbers,
                        _csv_lines(batch.column(4)), strict=True):
                    rows.add(position, before[:-2].encode("utf-8"), number,  # no line end
                             after.encode("utf-8"))
    except BaseException:
        for joined in (records, rows):  # each closes its judgements' parts too
            if joined is not None:
                joined.close()
        raise
    for joined in (records, rows):
        if joined is not None:
            joined.flush()
    return records, rows


def integrity_lines(data: ReportData) -> list[str]:
    """The unverified banner (a report made with --allow-unverified) and a note per forced
    evaluation: the lines the CSV and JUnit outputs carry (HTML and PDF translate them)."""
    lines = banner(data.manifest.run_id, data.unverified) if data.unverified else []
    return lines + [f"forced evaluation 强制重新评估: {f.describe()}" for f in data.forced]


def _head(data: ReportData, generated_at: str) -> dict[str, Any]:
    m = data.manifest
    return {
        "schema": JSON_SCHEMA,
        "run_id": m.run_id,
        "generated_at": generated_at,
        "tool_version": __version__,
        "run_tool_version": m.tool_version,
        "policy_digest": m.policy_digest,
        "manifest_sha256": data.manifest_sha256,
        "started_at": m.started_at.isoformat(),
        "finished_at": m.finished_at.isoformat() if m.finished_at else None,
        # null: the bundle verified (or was just sealed by this run); else what failed.
        "unverified": None if data.unverified is None else {
            "banner": banner(m.run_id, data.unverified),
            "problems": [{"kind": k, "detail": d} for k, d in data.unverified]},
        "forced_evaluations": [
            {"at": f.at, "policy_digest": f.policy_digest,
             "previous_policy_digest": f.previous_policy_digest,
             "despite": [{"kind": k, "detail": d} for k, d in f.despite],
             "note": f.describe()} for f in data.forced],
        "summary": {
            "observations": data.observations,
            "findings": len(data.findings),
            "findings_by_status": {s: n for s in FINDING_STATUSES
                                   if (n := data.findings.statuses[s])},
            "outcomes": dict(data.outcomes),
            "verdicts": dict(data.verdict_statuses),
            "failed_verdicts_by_severity": dict(data.failed_by_severity),
            "requirements": dict(data.requirement_counts()),
            "review": len(data.review),
        },
        # The review queue (also review.csv): links that ended on a page hulian cannot read.
        # Streamed in its place by _json_chunks, as the findings are at the end.
        "review": _REVIEW_PLACE,
        "requirements": [
            {"id": f"{r.framework}/{r.id}", "status": str(r.status),
             "rules": [x[0] for x in r.rules],
             "verdicts": dict(r.counts), "failed_findings": r.failed,
             "failed_sources": dict(r.sources_failed)}
            for r in data.requirements
        ],
        # Streamed in its place too (an audit of thousands of platforms has hundreds of
        # thousands).
        "cross_target": _CROSS_PLACE,
        "changes": None if data.diff is None else {
            "previous_run": data.diff.previous_run, "unchanged_edges": data.diff.unchanged,
            "edges": [{"source": c.source, "surface": c.surface, "target": c.target,
                       "before": c.before, "after": c.after, "change": c.kind}
                      for c in data.diff.changes]},
    }


# What _head puts where the review queue and the cross-target verdicts go, for _json_chunks
# to find: it looks for a line break, one space, the key and this value, which only the
# top-level entry matches (nested keys are indented further, and a value's own line breaks
# are written as \n).
_REVIEW_PLACE = "\0review\0"
_CROSS_PLACE = "\0cross_target\0"


def _json_chunks(data: ReportData, generated_at: str) -> Iterator[str]:
    """findings.json up to its findings' list, as json.dumps(indent=1) writes it, with the
    review queue and the cross-target verdicts streamed in their places a record a line, as
    the findings are. The lists can be hundreds of thousands long (an audit of thousands
    of platforms): json.dumps with an indent encodes in Python (~0.1 ms an item, and a cycle
    of garbage each), without one in C; the cross-target verdicts are written as they were
    kept (DuckDB's JSON of each, as the findings)."""
    rest = json.dumps(_head(data, generated_at), ensure_ascii=False, indent=1)
    streamed = (("review", _REVIEW_PLACE,
                 (json.dumps(asdict(item), ensure_ascii=False) for item in data.review)),
                ("cross_target", _CROSS_PLACE,
                 (blob.decode("utf-8") for blob in data.cross.blobs())))
    for key, place, items in streamed:
        before, rest = rest.split(f'\n "{key}": {json.dumps(place)}', 1)
        yield before + f'\n "{key}": ['
        listed = False
        for text in items:
            yield (",\n\t" if listed else "\n\t") + text
            listed = True
        yield "\n ]" if listed else "]"
    yield rest[:-2] + ',\n "findings": '  # reopen the object for the findings' list


def write_findings(data: ReportData, *, json_out: Path | None = None,
                   csv_out: Path | None = None, generated_at: str = "") -> None:
    """findings.json and/or findings.csv, their findings rendered once (_rendered) and
    written in report order:
    - findings.json: the summary, then the findings' list (a record a line, tab-indented),
      then the object's end;
    - findings.csv: the integrity lines, the header, the findings' rows, the search rows.
      Lines end in CR LF, as Python's csv writes them."""
    records, rows = _rendered(data, json_out is not None, csv_out is not None)
    # Each file is written beside itself and renamed when complete: a report that fails
    # midway leaves no half file (nor removes the one a report made before).
    parts = {out: out.with_name(f".{out.name}.part") for out in (json_out, csv_out) if out}
    with contextlib.ExitStack() as stack:
        for kept in (records, rows):
            if kept is not None:
                stack.callback(kept.close)
        for part in parts.values():
            stack.callback(part.unlink, missing_ok=True)
        json_file = csv_file = None
        if json_out is not None:
            # Gigabytes at a million observations: written through to the disk as they grow.
            json_file = stack.enter_context(open_through(parts[json_out], buffering=1 << 20))
            for chunk in _json_chunks(data, generated_at):  # one at a time: the cross-target
                json_file.write(chunk.encode("utf-8"))      # verdicts can be 100s of MB
            json_file.write(b"[" if len(data.findings) else b"[]")
        if csv_out is not None:
            csv_file = stack.enter_context(open_through(parts[csv_out], buffering=1 << 20))
            # The BOM makes Excel read the file as UTF-8 (Chinese would be mojibake).
            csv_file.write(_csv_text([
                # Before the header, where no reader can miss it (nor skip it as data).
                *(["# " + line] for line in integrity_lines(data)), list(CSV_COLUMNS)],
                "utf-8-sig"))
        for position in range(len(data.findings)):
            if json_file is not None and records is not None:
                json_file.write(b",\n\t" if position else b"\n\t")
                json_file.write(records.read(position))
            if csv_file is not None and rows is not None:
                csv_file.write(rows.read(position))
        if json_file is not None:
            json_file.write(b"\n]\n}\n" if len(data.findings) else b"\n}\n")
            json_file.close()
        if csv_file is not None:
            csv_file.write(_csv_text([defused_row(row) for row in search_csv_rows(data)]))
            csv_file.close()
        for out, part in parts.items():
            part.replace(out)


class _Lines:
    """A file for csv.writer that keeps each row it is given (the writer writes a row at
    a time), in place of a StringIO cut at its positions afterwards: ~6 % of the cells'
    time at a million observations."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, line: str) -> int:
        self.lines.append(line)
        return len(line)


def _csv_lines(column: Any) -> list[str]:
    """Each row of an Arrow column of cell lists as Python's csv writes it (with its line
    end, CR LF)."""
    rows = _Lines()
    writer = csv.writer(rows)
    for cells in column.to_pylist():
        writer.writerow(cells)
    return rows.lines


def _csv_text(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    text = io.StringIO(newline="")
    csv.writer(text).writerows(rows)
    return text.getvalue().encode(encoding)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def search_csv_rows(data: ReportData) -> list[list[str]]:
    """The failed search verdicts as findings.csv rows after the links' (docs/reports.md):
    surface `search`, the platform as source, the robots.txt URL(s) judged as target_url,
    no outcome nor observation; evidence = the robots.txt fetches' WARC record ids."""
    section = data.search
    if section is None:
        return []
    rows = []
    for v in section.failed:
        values = {
            "id": v.id, "status": v.status.value, "severity": v.severity.value,
            "source": v.source, "source_company": data.platform_company.get(v.source, ""),
            "surface": SEARCH_SURFACE, "target_url": " ".join(section.robots_urls(v)),
            "rules": v.rule_id, "requirements": " ".join(v.requirements),
            "reason_zh": v.reason.zh, "reason_en": v.reason.en,
            "exemptions": v.exemption or "", "evidence": " ".join(v.evidence)}
        rows.append([values.get(column, "") for column in CSV_COLUMNS])
    return rows


JUNIT_LISTED = CASE_LISTED

# A JUnit case's message lists its first findings a line each: "id surface target_url
# outcome" (an unread case's all end in `unrecognized`: CASES lists only those). Read by
# position, of their observations alone: thousands of platforms make tens of thousands of
# cases, ~200,000 lines at a million observations, millions at ten million.
_LISTED_LINES = ("SELECT f.position, f.id || ' ' || f.surface || ' ' || f.target_url || ' ' "
                 "|| f.outcome FROM finding_rows f SEMI JOIN wanted USING (position)")
# A failed case's message names its first finding's severity and first reason.
_FIRST = "SELECT position, severity, reasons[1].en FROM wanted_findings"


@dataclass
class _Case:
    """The findings of one JUnit test case: how many, the lines of the first JUNIT_LISTED
    (listed in its message; findings.csv has them all), and its first finding's severity and
    first reason (English)."""

    count: int = 0
    lines: list[str] = field(default_factory=list)
    severity: str | None = None
    reason_en: str | None = None

    def __bool__(self) -> bool:
        return self.count > 0


def junit_cases(data: ReportData) -> tuple[dict[tuple[str, str], _Case],
                                           dict[tuple[str, str], _Case]]:
    """The findings of each JUnit case (requirement x source): the failed ones, and those no
    one could read (unrecognized pages), from data.cases (queries.CASES), their listed lines
    read in one query and the failed cases' first findings in another."""
    findings = data.findings
    lines = dict(findings.at(_LISTED_LINES, {
        p for case in data.cases.values() for p in case.first[:JUNIT_LISTED]}))
    first = {position: (severity, reason_en) for position, severity, reason_en in findings.at(
        _FIRST, {case.first[0] for (status, _, _), case in data.cases.items()
                 if status == "fail"})}
    failed: dict[tuple[str, str], _Case] = {}
    unread: dict[tuple[str, str], _Case] = {}
    for (status, key, source), case in data.cases.items():
        listed = [lines[p] for p in case.first[:JUNIT_LISTED]]
        if status == "fail":
            failed[(key, source)] = _Case(case.findings, listed, *first[case.first[0]])
        else:
            unread[(key, source)] = _Case(case.findings, listed)
    return failed, unread


def write_junit(data: ReportData, out: Path) -> Path:
    """One test case per requirement x source platform; one test suite per requirement.
    The suites go into a temporary file beside `out` as they are made, and after the root
    element's counts (which they decide) into `out`: a run of thousands of platforms has
    tens of megabytes of them, which as one text were a few copies in memory at once."""
    findings_by, review_by = junit_cases(data)
    total = failures = skipped = errors = 0
    with tempfile.TemporaryFile(dir=out.parent) as body:
        def put(lines: list[str]) -> None:
            body.write("".join(line + "\n" for line in lines).encode("utf-8"))

        for req in data.requirements:
            key = f"{req.framework}/{req.id}"
            cases = []
            for source in data.sources:
                total += 1
                name = quoteattr(source)
                cls = quoteattr(f"{req.framework}.{req.id}")
                failed = findings_by.get((key, source), _Case())
                unread = review_by.get((key, source), _Case())
                if req.status == "manual":
                    skipped += 1
                    body_xml = '<skipped message="manual check (人工核查)"/>'
                elif unread and not failed:
                    # Not a pass: a link ended on a page nobody could read. An <error> (the
                    # case could not be judged) keeps a CI gate from reading it as green.
                    errors += 1
                    message = quoteattr(f"{unread.count} link(s) need review: unrecognized "
                                        "page (待人工复核; see review.csv)")
                    detail = "\n".join(unread.lines)
                    body_xml = (f'<error message={message} type="unrecognized">'
                                f"{_xml_text(detail)}</error>")
                elif failed:
                    failures += 1
                    summary = f"{failed.count} link(s) failed"
                    if failed.reason_en is not None:
                        summary += f"; e.g. {failed.reason_en}"
                    message = quoteattr(_clean(summary))
                    kind = failed.severity or "fail"
                    detail = "\n".join(failed.lines)
                    body_xml = (f'<failure message={message} type="{kind}">'
                                f"{_xml_text(detail)}</failure>")
                else:
                    body_xml = ""
                cases.append(f"    <testcase classname={cls} name={name}>{body_xml}</testcase>")
            suite_failures = sum(1 for c in cases if "<failure" in c)
            suite_skipped = sum(1 for c in cases if "<skipped" in c)
            suite_errors = sum(1 for c in cases if "<error" in c)
            put([f"  <testsuite name={quoteattr(key)} tests=\"{len(cases)}\" "
                 f"failures=\"{suite_failures}\" skipped=\"{suite_skipped}\" "
                 f"errors=\"{suite_errors}\">", *cases, "  </testsuite>"])
        head = ['<?xml version="1.0" encoding="UTF-8"?>']
        if data.search is not None:
            search = _search_suites(data.search)
            total += sum(1 for line in search if "<testcase" in line)
            failures += sum(1 for line in search if "<failure" in line)
            skipped += sum(1 for line in search if "<skipped" in line)
            put(search)
        integrity = _integrity_suite(data)
        if integrity:
            total += len(integrity) - 2
            failures += sum(1 for c in integrity if "<failure" in c)
            put(integrity)
            # Also above everything, for whoever reads the file rather than a CI summary.
            head += [xml_comment(line) for line in integrity_lines(data)]
        head.append(f"<testsuites name={quoteattr('hulian ' + data.manifest.run_id)} "
                    f"tests=\"{total}\" failures=\"{failures}\" skipped=\"{skipped}\" "
                    f"errors=\"{errors}\">")
        body.seek(0)
        with out.open("wb") as fh:
            fh.write("".join(line + "\n" for line in head).encode("utf-8"))
            shutil.copyfileobj(body, fh, 1 << 20)
            fh.write(b"</testsuites>\n")
    return out


def _search_suites(section: SearchSection) -> list[str]:
    """One test suite per search rule (`search/<rule>`), one case per measured platform:
    a failure per failed verdict (a host of search-same-class each), skipped when the rule
    could not decide (robots.txt unreachable) or stands on guidance only (a reported
    intention of a regulator, not a rule: shown, not failed)."""
    by_case: dict[tuple[str, str], list[Verdict]] = {}
    for v in section.verdicts:
        by_case.setdefault((v.rule_id, v.source), []).append(v)
    lines = []
    for rule in section.rules:
        cases = []
        for platform in section.platforms:
            verdicts = by_case.get((rule, platform))
            if not verdicts:
                continue
            failed = [v for v in verdicts if v.status is Status.FAIL]
            cls, name = quoteattr(f"search.{rule}"), quoteattr(platform)
            detail = _xml_text("\n".join(f"{v.id} {v.reason.en} [{' '.join(v.evidence)}]"
                                          for v in failed[:50]))
            if failed and rule in section.guidance:
                message = quoteattr(_clean("guidance, not a rule (仅为指导): "
                                           + failed[0].reason.en))
                body = f"<skipped message={message}/><system-out>{detail}</system-out>"
            elif failed:
                message = quoteattr(_clean(f"{len(failed)} search verdict(s) failed; e.g. "
                                           f"{failed[0].reason.en}"))
                body = (f'<failure message={message} type="{failed[0].severity.value}">'
                        f"{detail}</failure>")
            elif all(v.status is Status.INCONCLUSIVE for v in verdicts):
                message = quoteattr(_clean(f"inconclusive (无法判定): {verdicts[0].reason.en}"))
                body = f"<skipped message={message}/>"
            else:
                body = ""
            cases.append(f"    <testcase classname={cls} name={name}>{body}</testcase>")
        if not cases:
            continue
        lines.append(f"  <testsuite name={quoteattr('search/' + rule)} tests=\"{len(cases)}\" "
                     f"failures=\"{sum(1 for c in cases if '<failure' in c)}\" "
                     f"skipped=\"{sum(1 for c in cases if '<skipped' in c)}\" errors=\"0\">")
        lines += cases
        lines.append("  </testsuite>")
    return lines


def _integrity_suite(data: ReportData) -> list[str]:
    """A test suite about the bundle itself when there is something to say: a failing case
    for a bundle reported on despite failing verification, a case per forced evaluation
    (failing if it resealed a bundle that failed verification)."""
    cases = []
    if data.unverified:
        message = quoteattr(_clean("bundle fails `hulian verify` (--allow-unverified)"))
        detail = _xml_text("\n".join(describe(data.unverified)))
        cases.append(f'    <testcase classname="hulian.integrity" name="bundle verifies">'
                     f'<failure message={message} type="unverified">{detail}</failure>'
                     "</testcase>")
    for forced in data.forced:
        name = quoteattr(f"evaluate --force at {forced.at}")
        note = _xml_text(forced.describe())
        body = (f'<failure message="forced over a failed verification" type="forced">{note}'
                "</failure>" if forced.despite else f"<system-out>{note}</system-out>")
        cases.append(f'    <testcase classname="hulian.integrity" name={name}>{body}'
                     "</testcase>")
    if not cases:
        return []
    failed = sum(1 for c in cases if "<failure" in c)
    return [f'  <testsuite name="hulian/integrity" tests="{len(cases)}" failures="{failed}" '
            'skipped="0" errors="0">', *cases, "  </testsuite>"]


def _clean(text: str) -> str:
    return xml_text(text)


def _xml_text(text: str) -> str:
    return _clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
