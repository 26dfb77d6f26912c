"""findings.csv and findings.json, written by DuckDB from the findings' table
(audit/report/exports.py), against a plain Python rendering of each finding: the record and
the row docs/reports.md describe. The run's pages carry what breaks CSV and JSON writers:
formula starts, quotes, commas, line breaks of every kind, control characters, tabs,
characters outside the BMP, empty texts; hops without a status."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

from audit.model import BlockReason, Hop, Outcome, SurfaceKind
from audit.policy.catalog import Catalog, load_catalog, policy_dirs
from audit.report.data import Finding, build_report_data
from audit.report.exports import CSV_COLUMNS, FORMULA_STARTS
from audit.report.render import write_reports
from tests import reportruns

AWKWARD = ["=HYPERLINK(\"http://evil.example\")", "+1+1", "-2", "@SUM(A1)", "\tTAB", "\rCR",
           "a,b", 'say "hi"', "line\nbreak", "crlf\r\nbreak", "ctrl\x01\x1f", "emoji \U0001f600",
           "中文，标点", "", " lead and trail ", "back\\slash", "\u2028sep\u2029"]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(policy_dirs())


def _awkward_run(root: Path, catalog: Catalog) -> Path:
    im = SurfaceKind.IM_GROUP
    observations = []
    for n, text in enumerate(AWKWARD):
        hops = [Hop(url=f"https://link.example/{n}?q={text}", status=None, via="start"),
                Hop(url=f"https://t.example/{n}", status=0, location=text, via="http",
                    elapsed_ms=1.5, warc_record_id=f"urn:uuid:{n}")]
        observations.append(reportruns.observation(
            "weixin", im, f"https://item.taobao.com/{n}?{text}", "taobao",
            [Outcome.COPY_ONLY, Outcome.BLOCKED, Outcome.ERROR][n % 3], n=n, title=text,
            excerpt=text + text, signature=f"weixin/{text}", hops=hops,
            reason=BlockReason.RUMOR if n % 3 == 1 else None,
            failure=text if n % 3 == 2 else None,
            control_ok=[None, True, False][n % 3]))
    return reportruns.write_run(root, "20261128T030000Z-awkward", observations, catalog)


def _text(value: object) -> str:
    return "" if value is None else str(value)


_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


def _expected_row(f: Finding) -> list[str]:
    row = [
        f.id, f.status, _text(f.severity.value if f.severity else None), f.source,
        _text(f.source_company), f.surface, _text(f.target_platform), _text(f.target_company),
        f.target_url, f.outcome.value, _text(f.block_reason), _text(f.block_reason_text),
        " ".join(f.rules), " ".join(f.requirements), " / ".join(r.zh for r in f.reasons),
        " / ".join(r.en for r in f.reasons), " ".join(f.exemptions), _text(f.final_url),
        str(len(f.hops)), " -> ".join(f"{h.status or '-'} {h.url}" for h in f.hops),
        _text(f.signature), _text(f.title), _text(f.excerpt), _text(f.control_ok),
        _text(f.failure), " ".join(f.evidence), f.observation_id]
    # control characters leave every cell (review 140), then formula starts are defused
    row = [_CONTROLS.sub("", c) for c in row]
    return ["'" + c if c[:1] in FORMULA_STARTS else c for c in row]


def _expected_record(f: Finding) -> dict[str, Any]:
    return {
        "id": f.id, "observation_id": f.observation_id, "status": f.status,
        "severity": f.severity.value if f.severity else None, "source": f.source,
        "source_company": f.source_company, "surface": f.surface, "target_url": f.target_url,
        "target_platform": f.target_platform, "target_company": f.target_company,
        "outcome": f.outcome.value, "block_reason": f.block_reason,
        "block_reason_text": f.block_reason_text, "rules": f.rules,
        "requirements": f.requirements, "reasons": [{"zh": r.zh, "en": r.en} for r in f.reasons],
        "exemptions": f.exemptions, "hops": [h._asdict() for h in f.hops],
        "final_url": f.final_url, "signature": f.signature, "page_title": f.title,
        "excerpt": f.excerpt, "control_ok": f.control_ok, "failure": f.failure,
        "evidence": f.evidence}


def test_the_files_list_every_finding_as_python_renders_it(tmp_path: Path,
                                                           catalog: Catalog) -> None:
    run = _awkward_run(tmp_path, catalog)
    findings = list(build_report_data(run, catalog).findings)
    assert len(findings) == len(AWKWARD)
    out = tmp_path / "out"
    write_reports(run, catalog, ["json", "csv"], "zh", out)
    raw = (out / "findings.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfid,status,")
    with (out / "findings.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[1:] == [_expected_row(f) for f in findings]
    # Every formula start was defused, in the page's title and excerpt alike.
    titles = [row[CSV_COLUMNS.index("page_title")] for row in rows[1:]]
    assert all(t[:1] not in FORMULA_STARTS for t in titles)
    assert "'=HYPERLINK(\"http://evil.example\")" in titles
    document = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert document["findings"] == [_expected_record(f) for f in findings]
    assert document["summary"]["findings"] == len(findings)


def test_a_run_without_findings_writes_empty_lists(tmp_path: Path, catalog: Catalog) -> None:
    run = reportruns.empty_run(tmp_path, catalog)
    out = tmp_path / "out"
    write_reports(run, catalog, ["json", "csv", "junit"], "zh", out)
    assert json.loads((out / "findings.json").read_text(encoding="utf-8"))["findings"] == []
    with (out / "findings.csv").open(encoding="utf-8-sig", newline="") as fh:
        assert list(csv.reader(fh)) == [list(CSV_COLUMNS)]
