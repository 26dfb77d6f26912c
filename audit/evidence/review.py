"""The review queue: every observation whose outcome is `unrecognized` (an interception page
hulian cannot read, or a chain that ended on a page nobody can vouch for), with what a person
needs to decide it: the page's visible headline and sentences, the URLs, the WARC record of
the page and, with --render, its screenshot. The reports show it as a section; the bundle
keeps it as review.csv (derived from observations.jsonl, like the other reports).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import orjson

from audit.evidence.csvcells import defused_row

REVIEW_CSV = "review.csv"
UNRECOGNIZED = "unrecognized"
# The reading of a link whose tap runs a handler hulian does not run (rendered_as `handled`),
# where the page its address led to says nothing: the link itself is what to look at.
TAP_HANDLED = "link/tap_handled"
# ... and of a captured link the platform's interception endpoint answered the app about (its
# evidence holds the note: audit.measure.capture.chains).
ENDPOINT_ANSWER_NOTE = "endpoint_answer:"
ENDPOINT_ANSWERED = "capture/endpoint_answer"


@dataclass(frozen=True)
class ReviewItem:
    observation_id: str
    probe_id: str
    source: str
    surface: str
    target_url: str
    target_platform: str
    final_url: str  # where the chain ended (the page to review)
    endpoint: str  # the interception endpoint it is on, if any
    reading: str  # how hulian read it: a signature or structure/<reading>
    headline: str
    sentences: str  # the page's visible text, as far as the observation quotes it
    warc_record: str  # the WARC record of the page's response
    screenshot: str  # evidence/ path, with --render


def _reading(record: Mapping[str, Any], page: Mapping[str, Any]) -> str:
    """How hulian read an observation to review: its page's signature; where the page says
    nothing, what sent it to review instead (the link's tap handler, the platform's endpoint
    answering the app in a capture)."""
    if page.get("signature"):
        return str(page["signature"])
    if record.get("rendered_as") == "handled":
        return TAP_HANDLED
    if any(isinstance(e, str) and e.startswith(ENDPOINT_ANSWER_NOTE)
           for e in record.get("evidence") or []):
        return ENDPOINT_ANSWERED
    return ""


def review_item(record: Mapping[str, Any]) -> ReviewItem | None:
    """The queue entry of one observation record (as read from observations.jsonl), or None
    when it needs no review."""
    if record.get("outcome") != UNRECOGNIZED:
        return None
    page = record.get("page") or {}
    hops = [h for h in record.get("hops") or [] if h.get("via") != "control"]
    last = hops[-1] if hops else {}
    screenshot = next((e.split(":", 1)[1] for e in record.get("evidence") or []
                       if isinstance(e, str) and e.startswith("screenshot:")), "")
    return ReviewItem(
        observation_id=str(record.get("id") or ""), probe_id=str(record.get("probe_id") or ""),
        source=str(record.get("source") or ""), surface=str(record.get("surface") or ""),
        target_url=str(record.get("target_url") or ""),
        target_platform=str(record.get("target_platform") or ""),
        final_url=str(record.get("final_url") or last.get("url") or ""),
        endpoint=str(page.get("endpoint") or ""), reading=_reading(record, page),
        headline=str(page.get("headline") or page.get("title") or ""),
        sentences=" ".join(str(page.get("excerpt") or "").split()),
        warc_record=str(last.get("warc_record_id") or ""), screenshot=screenshot)


COLUMNS = [f.name for f in fields(ReviewItem)]


# The records review_item reads, from a run's observations table: the outcome column alone
# is scanned (a few MB of ten million observations' 4 GB of lines, where reading the lines
# for the queue took 8.7 s of a ten-million-observation run's end).
REVIEW_RECORDS = """
SELECT id, probe_id, source, surface, target_url, target_platform, final_url, outcome, page,
       hops, evidence, rendered_as
FROM observations WHERE outcome = 'unrecognized' ORDER BY row
"""


class _Records(Protocol):
    def records(self, sql: str) -> Iterator[dict[str, Any]]: ...


def review_from_tables(tables: _Records) -> Iterator[ReviewItem]:
    """The review queue of a run, from its tables (audit.evidence.sql.RunTables: current
    ones, such as a run's end and a report read)."""
    for record in tables.records(REVIEW_RECORDS):
        item = review_item(record)
        if item is not None:
            yield item


def write_run_review(run: Path) -> None:
    """review.csv of a run whose observations table was just made current (a crawl's or a
    capture's end), from the table, as the report reads it."""
    from audit.evidence.sql import run_tables  # DuckDB: only once a run is measured

    with run_tables(run, verdicts=False) as tables:
        write_review_csv(review_from_tables(tables), run / REVIEW_CSV)


def review_of(bundle: Path) -> Iterator[ReviewItem]:
    """The review queue of a bundle, read from its observations.jsonl (lines that are not
    records, such as a partial last line, are the bundle reader's to report: skipped): for
    readers of bundles whose tables may not be current (the site)."""
    path = bundle / "observations.jsonl"
    if not path.is_file():
        return
    with path.open("rb") as fh:
        for line in fh:
            if b'"unrecognized"' not in line:
                continue  # the common case, without parsing the line
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            item = review_item(record) if isinstance(record, dict) else None
            if item is not None:
                yield item


def write_review_csv(items: Iterable[ReviewItem], path: Path) -> None:
    """UTF-8 with a BOM (Excel reads Chinese correctly), one row per observation to review;
    the header row alone when there is none. The headline, sentences and URLs are the
    page's: a cell a spreadsheet would read as a formula gets a leading apostrophe
    (audit/evidence/csvcells.py)."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for item in items:
            writer.writerow(defused_row(astuple(item)))
