"""Search barriers in the reports (issue 15, part 3): the engines x platforms section of the
HTML (zh/en), the failed search verdicts as findings.csv rows and junit.xml cases, the same
verdicts as findings.json's cross_target; a run without search barriers shows no section."""

from __future__ import annotations

import base64
import csv
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from audit.evidence.bundle import BundleWriter
from audit.judge.search_run import judge_search
from audit.model import RobotsTxtFetch, SearchHop, SearchRecord
from audit.policy.catalog import Catalog, load_catalog, policy_dirs
from audit.report.data import build_report_data
from audit.report.render import render_html, write_reports
from audit.report.search import CLASS_OUTCOME, SURFACE
from tests.localsite import forum_policies

# Two hosts of testforum: www closes Baiduspider, m closes it too and keeps everyone out of
# /private; bad.forum.test answers 503 (unreachable, not a published rule).
FILES = {
    "www.forum.test": (200, b"User-agent: Baiduspider\nDisallow: /\n\nUser-agent: *\n"
                            b"Allow: /\n"),
    "m.forum.test": (200, b"User-agent: Baiduspider\nDisallow: /\n\nUser-agent: *\n"
                          b"Disallow: /private\n"),
    "bad.forum.test": (503, b"busy"),
}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return load_catalog(policy_dirs([forum_policies(tmp_path_factory.mktemp("p"))]))


def _bundle(root: Path, catalog: Catalog, search: bool = True) -> Path:
    writer = BundleWriter(root, run_id="s", policy_digest=catalog.digest)
    records = []
    for host, (status, body) in FILES.items():
        url = f"http://{host}/robots.txt"
        records.append(SearchRecord(
            id=f"robots:{host}", kind="robots", host=host, platform="testforum",
            robots=RobotsTxtFetch(url=url, final_url=url, status=status, size=len(body),
                                  body_base64=base64.b64encode(body).decode(),
                                  hops=[SearchHop(url=url, status=status,
                                                  warc_record_id=f"urn:uuid:{host}")])))
    if search:
        for record in records:
            writer.add_search(record)
        for verdict in judge_search(records, catalog).verdicts:
            writer.add_verdict(verdict)
    writer.finish()
    return writer.path


def test_the_section_engines_by_platforms_with_evidence(tmp_path: Path,
                                                        catalog: Catalog) -> None:
    run = _bundle(tmp_path, catalog)
    data = build_report_data(run, catalog)
    section = data.search
    assert section is not None
    assert section.platforms == ["testforum"]
    assert section.cells[("testforum", "Baiduspider")] == "closed"
    # www open, m partial, bad unreachable: some host lets Googlebot in -> partial
    assert section.cells[("testforum", "Googlebot")] == "partial"
    assert [h.host for h in section.discriminating] == ["m.forum.test", "www.forum.test"]
    by_host = {h.host: h for h in section.hosts}
    assert by_host["bad.forum.test"].evidence == ["urn:uuid:bad.forum.test"]
    assert by_host["bad.forum.test"].record == "robots:bad.forum.test"
    assert {v.rule_id for v in section.failed} == {"search-same-class", "search-open-to-engines"}
    # the failed search verdicts are the bundle's (findings.json's cross_target)
    assert {v.id for v in section.failed} == {
        v.id for v in data.cross if v.rule_id.startswith("search-")}
    for lang, words in (("en", ["Search barriers", "Engines × platforms", "closed",
                                "partial", "unreachable"]),
                        ("zh", ["搜索壁垒", "搜索引擎 × 平台", "禁止", "部分开放",
                                "无法获取（视为禁止）"])):
        page = render_html(data, lang=lang, evidence_href="evidence")
        block = page[page.index('<section id="search">'):]
        block = block[:block.index("</section>")]
        for word in words:
            assert word in block, (lang, word)
        assert '<a href="#search">' in page  # in the contents
        # the class's colour is an outcome's CSS class; the evidence links into the WARC
        assert f'class="o-{CLASS_OUTCOME["closed"]}"' in block
        assert 'href="evidence/crawl.warc.gz#urn:uuid:www.forum.test"' in block
        assert "search.jsonl robots:m.forum.test" in block
        assert "<script" not in block


def test_failed_search_verdicts_in_findings_csv_json_and_junit(tmp_path: Path,
                                                               catalog: Catalog) -> None:
    run = _bundle(tmp_path, catalog)
    out = tmp_path / "out"
    write_reports(run, catalog, ["json", "csv", "junit"], out=out, figure=False)
    cross = json.loads((out / "findings.json").read_text(encoding="utf-8"))["cross_target"]
    failed = {v["id"]: v for v in cross if v["rule_id"].startswith("search-")}
    with (out / "findings.csv").open(encoding="utf-8-sig") as fh:
        rows = [r for r in csv.DictReader(fh) if r["surface"] == SURFACE]
    assert {r["id"] for r in rows} == set(failed) and rows
    same = next(r for r in rows if r["rules"] == "search-same-class")
    assert same["source"] == "testforum" and same["source_company"] == "testco"
    assert same["status"] == "fail" and same["outcome"] == "" and same["observation_id"] == ""
    assert re.fullmatch(r"http://(www|m)\.forum\.test/robots\.txt", same["target_url"])
    assert same["evidence"] == f"urn:uuid:{same['target_url'].split('/')[2]}"
    assert "Baiduspider" in same["reason_en"] and "Baiduspider" in same["reason_zh"]
    closed = next(r for r in rows if r["rules"] == "search-open-to-engines")
    assert closed["target_url"].split() == [f"http://{h}/robots.txt" for h in sorted(FILES)]
    root = ET.parse(out / "junit.xml").getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    same_suite = suites["search/search-same-class"]
    (case,) = same_suite.iter("testcase")
    assert case.get("name") == "testforum"
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "medium"
    assert "2 search verdict(s) failed" in (failure.get("message") or "")
    # a rule that stands on guidance only is shown, not failed
    (guidance,) = suites["search/search-open-to-engines"].iter("testcase")
    skipped = guidance.find("skipped")
    assert guidance.find("failure") is None and skipped is not None
    assert (skipped.get("message") or "").startswith("guidance, not a rule")
    cases = list(root.iter("testcase"))
    assert root.get("tests") == str(len(cases))
    assert root.get("failures") == str(sum(1 for c in cases if c.find("failure") is not None))
    assert root.get("skipped") == str(sum(1 for c in cases if c.find("skipped") is not None))


def test_a_run_without_search_barriers_has_no_section_nor_rows(tmp_path: Path,
                                                               catalog: Catalog) -> None:
    run = _bundle(tmp_path, catalog, search=False)
    data = build_report_data(run, catalog)
    assert data.search is None
    page = render_html(data, lang="en")
    assert 'id="search"' not in page and 'href="#search"' not in page
    out = tmp_path / "out"
    write_reports(run, catalog, ["csv", "junit"], out=out, figure=False)
    assert SURFACE not in (out / "findings.csv").read_text(encoding="utf-8-sig")
    assert "search/" not in (out / "junit.xml").read_text(encoding="utf-8")
