"""Reports: golden HTML of a hand-built run, PDF text with Chinese headings, machine outputs,
a real headless Chromium rendering, hostile page content, and empty / error-only / 10,000-
finding runs.

Regenerate the golden files after an intended change with
`HULIAN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_report.py` and review the diff.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from audit.evidence.bundle import verify
from audit.judge.outcomes import worse_of
from audit.model import Outcome, SurfaceKind
from audit.policy.catalog import Catalog, load_catalog, policy_dirs
from audit.report.data import (
    LISTED_PER_REQUIREMENT,
    ReportData,
    build_report_data,
    edge_outcomes,
)
from audit.report.findings import Finding
from audit.report.queries import OTHER_TARGET
from audit.report.render import REQUIREMENT_LIST_CAP, render_html, safe_href, write_reports
from tests import reportruns

GOLDEN = Path(__file__).resolve().parent / "golden"
GENERATED = datetime(2026, 11, 28, 4, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(policy_dirs())


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Path:
    return reportruns.small_run(tmp_path_factory.mktemp("runs"), catalog)


@pytest.fixture(scope="module")
def small_reports(small: Path, catalog: Catalog) -> Path:
    write_reports(small, catalog, generated_at=GENERATED)
    return small


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_html_matches_golden(small: Path, catalog: Catalog, lang: str) -> None:
    data = build_report_data(small, catalog)
    html = render_html(data, lang=lang, generated_at=GENERATED, evidence_href="evidence")
    golden = GOLDEN / f"report-small.{lang}.html"
    if os.environ.get("HULIAN_UPDATE_GOLDEN"):
        golden.write_text(html, encoding="utf-8")
    assert html == golden.read_text(encoding="utf-8")


def test_all_formats_written_and_bundle_still_verifies(small_reports: Path) -> None:
    for name in ("report.html", "report.pdf", "findings.json", "findings.csv", "junit.xml"):
        assert (small_reports / name).stat().st_size > 0, name
    # Reports are derived views: writing them must not break the sealed bundle.
    assert verify(small_reports).intact


def test_pdf_text_has_chinese_headings_and_figures(small_reports: Path) -> None:
    text = subprocess.run(["pdftotext", "-layout", str(small_reports / "report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    for heading in ("网址链接互联互通审计报告", "目录", "摘要", "来源 × 目标矩阵",
                    "各来源平台的链接", "逐条要求", "问题明细", "方法与局限", "附录：运行包文件"):
        assert heading in text, heading
    # The heatmaps and drawings are inline SVG: WeasyPrint draws their labels as text.
    assert text.count("图例：") >= 3 and "它链接到的平台" in text and "腾讯" in text
    assert "20261128T030000Z-small" in text  # running header and cover
    assert "如需浏览，请长按网址复制后使用浏览器访问" in text  # quoted page text
    assert "不能要求用户手动复制链接后转至系统浏览器打开" in text  # exact requirement wording
    info = subprocess.run(["pdffonts", str(small_reports / "report.pdf")], capture_output=True,
                          text=True, check=True).stdout
    assert "CJK" in info and " yes " in info  # an embedded CJK font


def test_machine_outputs(small_reports: Path, catalog: Catalog) -> None:
    data = json.loads((small_reports / "findings.json").read_text(encoding="utf-8"))
    assert data["schema"] == "hulian.findings/1"
    by_target = {f["target_url"]: f for f in data["findings"]}
    copy = by_target["https://item.taobao.com/item.htm?id=1"]
    assert copy["status"] == "fail" and copy["outcome"] == "copy_only"
    assert copy["evidence"] == ["urn:uuid:00000000-0000-4000-8000-000000000001"]
    phishing = by_target["https://phish.example.com/login"]
    assert phishing["status"] == "exempt"  # blocking phishing is justified
    assert "https://www.jd.com/" not in by_target  # passing links are not findings
    raw = (small_reports / "findings.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert {r["id"] for r in rows} == {f["id"] for f in data["findings"]}
    suites = ET.parse(small_reports / "junit.xml").getroot()
    cases = suites.findall(".//testcase")
    assert len(cases) == len(data["requirements"]) * 3  # requirement x source platform
    failed = {(c.get("classname"), c.get("name")) for c in cases
              if c.find("failure") is not None}
    assert ("miit-2021.im-standard-3-no-extra-steps", "weixin") in failed
    assert junit_cases_checked(small_reports / "junit.xml",
                               build_report_data(small_reports, catalog)) > 0


def junit_cases_checked(junit: Path, data: ReportData) -> int:
    """Checks each requirement x source case of junit.xml against the findings walked in
    report order: a failure names how many failed, its first one's first reason (English)
    and severity, and lists the first JUNIT_LISTED ("id surface target_url outcome"); an
    error (no failure) lists the unrecognized links; otherwise the case has neither.
    Returns the cases with findings checked."""
    from audit.report.exports import JUNIT_LISTED

    failed: dict[tuple[str, str], list[Finding]] = {}
    unread: dict[tuple[str, str], list[Finding]] = {}
    for f in data.findings:
        into = failed if f.status == "fail" else unread if (
            f.status == "inconclusive" and f.outcome == Outcome.UNRECOGNIZED) else None
        if into is not None:
            for requirement in f.requirements:
                into.setdefault((requirement, f.source), []).append(f)

    def lines(found: list[Finding]) -> str:
        return "\n".join(f"{f.id} {f.surface} {f.target_url} {f.outcome.value}"
                         for f in found[:JUNIT_LISTED])

    keys = {f"{r.framework}/{r.id}" for r in data.requirements if r.status != "manual"}
    checked = 0
    for suite in ET.parse(junit).getroot().iter("testsuite"):
        if suite.get("name") not in keys:
            continue
        for case in suite.iter("testcase"):
            key = (suite.get("name") or "", case.get("name") or "")
            failure, error = case.find("failure"), case.find("error")
            if key in failed:
                first = failed[key][0]
                message = f"{len(failed[key])} link(s) failed"
                if first.reasons:
                    message += f"; e.g. {first.reasons[0].en}"
                assert failure is not None and failure.get("message") == message, key
                assert failure.get("type") == (first.severity or "fail"), key
                assert failure.text == lines(failed[key]), key
            elif key in unread:
                assert error is not None and error.text == lines(unread[key]), key
                assert error.get("message", "").startswith(f"{len(unread[key])} link(s)")
            else:
                assert failure is None and error is None, key
                continue
            checked += 1
    return checked


def test_english_report(small: Path, catalog: Catalog, tmp_path: Path) -> None:
    write_reports(small, catalog, ["html"], "en", tmp_path)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Link interoperability audit report" in html and "Executive summary" in html
    assert 'lang="en"' in html


def test_previous_run_changes(small: Path, catalog: Catalog, tmp_path: Path) -> None:
    obs = [reportruns.observation("weixin", SurfaceKind.IM_PRIVATE,
                                  "https://item.taobao.com/item.htm?id=1", "taobao",
                                  Outcome.DIRECT, n=1)]
    newer = reportruns.write_run(tmp_path, "newer", obs, catalog)
    data = build_report_data(newer, catalog, previous=small)
    assert data.diff is not None
    kinds = {(c.source, c.surface, c.target): c.kind for c in data.diff.changes}
    assert kinds[("weixin", "im_private", "taobao")] == "better"
    assert kinds[("weixin", "im_private", "douyin")] == "gone"


def test_safe_href() -> None:
    assert safe_href("https://a.example/x") == "https://a.example/x"
    for bad in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,x",
                " javascript:alert(1)", "java\tscript:alert(1)", "//evil.example", None):
        assert safe_href(bad) is None


def test_gettext_without_variables_is_compiled_in() -> None:
    # _CompiledGettext turns `_("text")` into a constant of the compiled template; it must
    # print what the runtime call prints (marked safe, %-formatted), in every language.
    from audit.report.render import _environment

    for lang in ("zh", "en"):
        env = _environment(lang)
        for message in ("Finding id", "Evidence (WARC records)", "100%% <b>'&'</b>"):
            source = "{{ _(" + repr(message) + ") }}|{{ gettext(" + repr(message) + ") }}"
            compiled, runtime = env.from_string(source).render().split("|")
            assert compiled == runtime
        code = env.compile('{{ _("Finding id") }}', raw=True)
        assert "yield " + repr("问题编号" if lang == "zh" else "Finding id") in code
        # With variables it stays a call, formatted at render time.
        assert env.from_string('{{ _("%(n)s links", n=3) }}').render().startswith("3")


# ---------------------------------------------------------------------------------------
# Real browser


CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")


@needs_chromium
def test_html_renders_in_headless_chromium(small_reports: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1600",
         f"--screenshot={shot}", (small_reports / "report.html").as_uri()],
        capture_output=True, timeout=90, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


@needs_chromium
def test_hostile_page_content_runs_no_script(tmp_path: Path, catalog: Catalog) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    run = reportruns.hostile_run(tmp_path, catalog)
    write_reports(run, catalog, ["html"], "zh", generated_at=GENERATED)
    html = (run / "report.html").read_text(encoding="utf-8")
    assert html.count("<script") == 1  # ours; every payload is escaped text
    assert "onerror=" not in html.replace("onerror=&#34;", "")
    assert 'href="javascript:' not in html.lower() and 'href="data:' not in html
    dialogs: list[str] = []
    violations: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        def on_dialog(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("console", lambda m: violations.append(m.text))
        page.goto((run / "report.html").as_uri())
        page.wait_for_timeout(300)
        pwned = page.evaluate("() => window.__pwned === undefined ? null : window.__pwned")
        # Our own script ran (the CSP hash allows it): the filter controls are shown.
        controls_shown = page.evaluate("() => !document.getElementById('f-controls').hidden")
        page.fill("#f-query", "douyin")
        shown = page.inner_text("#f-count")
        browser.close()
    assert dialogs == [] and pwned is None
    assert controls_shown and shown == "1"
    assert not [v for v in violations if "Content Security Policy" in v and "script" in v
                and "inline" not in v], violations


@pytest.mark.parametrize("mode", ["html", "pdf"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_hostile_page_content_stays_text(tmp_path: Path, catalog: Catalog, mode: str,
                                         lang: str) -> None:
    # Without a browser: every element of the page is one the templates wrote. The finding
    # macros write their links out (no `url` macro call per URL), so each copy is checked.
    import lxml.html

    data = build_report_data(reportruns.hostile_run(tmp_path, catalog), catalog)
    page = render_html(data, lang=lang, mode=mode, generated_at=GENERATED,
                       evidence_href="evidence")
    tree = lxml.html.fromstring(page)
    assert len(tree.xpath("//script")) == (1 if mode == "html" else 0)
    assert not [(el.tag, name) for el in tree.iter() if isinstance(el.tag, str)
                for name in el.attrib if name.lower().startswith("on")]
    links = tree.xpath("//a[@href]")
    urls = [a for a in links if "url" in a.get("class", "").split()]
    assert urls and all(a.get("href", "").startswith(("https://", "http://"))
                        and a.get("rel") == "noopener noreferrer nofollow" for a in urls)
    assert all(a.get("href", "").startswith(("#", "https://", "http://", "evidence/"))
               for a in links)
    text = tree.text_content()
    assert "<script>window.__pwned=1;alert(1)</script>" in text  # the page title, as text
    assert "javascript:window.__pwned=3" in text and "data:text/html,<script>" in text
    assert 'urn:uuid:"><script>window.__pwned=6</script>' in text


# ---------------------------------------------------------------------------------------
# Edge sizes


def test_zero_findings_run(tmp_path: Path, catalog: Catalog) -> None:
    run = reportruns.empty_run(tmp_path, catalog)
    written = write_reports(run, catalog, generated_at=GENERATED)
    assert len(written) == 6  # the five formats and review.csv
    text = subprocess.run(["pdftotext", str(run / "report.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "没有问题。" in text
    assert json.loads((run / "findings.json").read_text(encoding="utf-8"))["findings"] == []


def test_errors_only_run(tmp_path: Path, catalog: Catalog) -> None:
    run = reportruns.errors_run(tmp_path, catalog)
    write_reports(run, catalog, ["html", "json", "csv", "junit"], generated_at=GENERATED)
    data = json.loads((run / "findings.json").read_text(encoding="utf-8"))
    assert {f["status"] for f in data["findings"]} == {"inconclusive"}
    assert {f["failure"] for f in data["findings"]} == {"timeout"}
    assert "测量失败" in (run / "report.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_ten_thousand_findings(tmp_path: Path, catalog: Catalog) -> None:
    # Every link fails a rule: copy_only between companies on IM surfaces. Too many to list
    # one by one: the page groups them (audit/report/groups.py); the machine outputs keep
    # every finding.
    from audit.report.groups import EXAMPLES_PER_GROUP, GROUP_ROWS, group_findings

    run = reportruns.write_run(tmp_path, "big", reportruns.synthetic_observations(
        10_000, weights=[0, 0, 0, 1, 0, 0, 0, 0, 0]), catalog)
    write_reports(run, catalog, ["html", "json", "csv", "junit"], generated_at=GENERATED)
    data = build_report_data(run, catalog)
    assert len(data.findings) >= 8_000
    html = (run / "report.html").read_text(encoding="utf-8")
    groups, count = group_findings(data.findings)
    assert len(groups) == count and sum(g.count for g in groups) == len(data.findings)
    assert html.count('<tr id="g-') == min(count, GROUP_ROWS["html"])
    assert html.count('<tr data-rank="') == 0 and "本次运行共有" in html
    assert len(html.encode()) < 5_000_000
    examples = html.count('<div class="example" id="f-')
    assert 0 < examples <= EXAMPLES_PER_GROUP * len(groups)
    assert len(json.loads((run / "findings.json").read_text(encoding="utf-8"))["findings"]) \
        == len(data.findings)
    with (run / "findings.csv").open(encoding="utf-8-sig") as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == len(data.findings)
    pdf_html = render_html(data, mode="pdf", generated_at=GENERATED)
    assert pdf_html.count('<tr id="g-') == min(len(groups), GROUP_ROWS["pdf"])
    assert 0 < pdf_html.count('<div class="finding" id="f-') < examples
    assert len(pdf_html.encode()) < 2_000_000
    # JUnit's cases (more than JUNIT_LISTED failed findings a case here) are the same
    # written alone as with the other formats.
    write_reports(run, catalog, ["junit"], out=tmp_path / "alone", generated_at=GENERATED)
    assert (tmp_path / "alone" / "junit.xml").read_bytes() == (run / "junit.xml").read_bytes()
    assert junit_cases_checked(run / "junit.xml", data) > 0
    # Each requirement lists its worst failed findings, read by their positions.
    listed = 0
    for r in data.requirements:
        key = f"{r.framework}/{r.id}"
        worst = [f.id for f in data.findings
                 if f.status == "fail" and key in f.requirements][:LISTED_PER_REQUIREMENT]
        assert r.finding_ids == worst
        assert [data.findings[p].id for p in r.finding_positions] == worst
        listed += len(worst)
        for fid in worst[:REQUIREMENT_LIST_CAP["html"]]:
            assert fid in html
    assert listed >= LISTED_PER_REQUIREMENT


# ---------------------------------------------------------------------------------------
# The machine outputs: DuckDB writes the findings of findings.json and findings.csv

def test_json_and_csv_written_together_are_those_written_alone(
        small: Path, catalog: Catalog, tmp_path: Path) -> None:
    # The two files' findings are rendered in one pass: the same bytes as each written on
    # its own.
    write_reports(small, catalog, ["json", "csv"], "zh", tmp_path / "both",
                  generated_at=GENERATED)
    for fmt, name in (("json", "findings.json"), ("csv", "findings.csv")):
        write_reports(small, catalog, [fmt], "zh", tmp_path / fmt, generated_at=GENERATED)
        assert ((tmp_path / "both" / name).read_bytes()
                == (tmp_path / fmt / name).read_bytes()), name


def test_a_file_that_cannot_be_written_fails_the_report(small: Path, catalog: Catalog,
                                                        tmp_path: Path) -> None:
    # findings.csv cannot be written (a directory of that name): the error reaches the
    # caller, and no file is left half written (each is renamed into place when whole).
    out = tmp_path / "out"
    (out / "findings.csv").mkdir(parents=True)
    with pytest.raises(IsADirectoryError):
        write_reports(small, catalog, ["html", "json", "csv"], "zh", out,
                      generated_at=GENERATED)
    assert not list(out.glob(".*.part"))
    # What was written is whole: findings.json, complete before findings.csv failed.
    assert json.loads((out / "findings.json").read_text(encoding="utf-8"))["findings"]


MACHINE = ("report.html", "findings.json", "findings.csv", "junit.xml", "review.csv")


def test_findings_read_a_range_of_rows_at_a_time_are_the_same(
        small: Path, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The findings come from DuckDB a range of observation rows at a time (bounded memory at
    # any size): ranges of two rows, so that findings and their verdicts straddle every
    # boundary, give the same files as one range.
    from audit.report import queries

    formats = ["html", "json", "csv", "junit"]
    write_reports(small, catalog, formats, "zh", tmp_path / "one", generated_at=GENERATED)
    monkeypatch.setattr(queries, "RANGE_ROWS", 2)
    monkeypatch.setattr(queries, "JUDGED_AT_ONCE", 2)
    write_reports(small, catalog, formats, "zh", tmp_path / "ranges", generated_at=GENERATED)
    assert len(build_report_data(small, catalog).findings) > 4
    for name in MACHINE:
        assert ((tmp_path / "one" / name).read_bytes()
                == (tmp_path / "ranges" / name).read_bytes()), name


@pytest.mark.parametrize("damage", ["removed", "cut"])
def test_a_bundle_without_current_tables_is_reported_the_same(
        small: Path, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        damage: str) -> None:
    # An older bundle (no Parquet files) or one whose tables a crash cut: the report builds
    # the tables into the cache from the JSON lines, leaves the bundle as it was, and says
    # the same as from the bundle's own tables.
    monkeypatch.setenv("HULIAN_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    shutil.copytree(small, run)
    for table in ("observations.parquet", "verdicts.parquet"):
        if damage == "removed":
            (run / table).unlink()
        else:
            data = (run / table).read_bytes()
            (run / table).write_bytes(data[: len(data) // 2])
    before = sorted((p.name, p.stat().st_size) for p in run.iterdir())
    formats = ["html", "json", "csv", "junit"]
    write_reports(small, catalog, formats, "zh", tmp_path / "own", generated_at=GENERATED)
    write_reports(run, catalog, formats, "zh", tmp_path / "built", generated_at=GENERATED)
    for name in ("findings.json", "findings.csv", "junit.xml", "review.csv"):
        assert ((tmp_path / "own" / name).read_bytes()
                == (tmp_path / "built" / name).read_bytes()), name
    assert sorted((p.name, p.stat().st_size) for p in run.iterdir()) == before
    assert len(list((tmp_path / "cache").rglob("*.parquet"))) == 2


def test_an_unverified_bundle_is_reported_from_its_lines(
        small: Path, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A verdict edited from pass to fail keeps verdicts.jsonl's size, so its tables still
    # look current by their size: a report of the bundle as it failed verification
    # (--allow-unverified) is made from the lines, not from those tables.
    import json

    monkeypatch.setenv("HULIAN_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    shutil.copytree(small, run)
    lines = (run / "verdicts.jsonl").read_bytes().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if b'"status":"pass"' in line)
    lines[index] = lines[index].replace(b'"status":"pass"', b'"status":"fail"')
    (run / "verdicts.jsonl").write_bytes(b"".join(lines))
    assert (run / "verdicts.jsonl").stat().st_size == (small / "verdicts.jsonl").stat().st_size

    def statuses(out: Path) -> dict[str, int]:
        result: dict[str, int] = json.loads(
            (out / "findings.json").read_text(encoding="utf-8"))["summary"]["verdicts"]
        return result

    write_reports(small, catalog, ["json"], "zh", tmp_path / "before", generated_at=GENERATED)
    write_reports(run, catalog, ["json"], "zh", tmp_path / "after", generated_at=GENERATED,
                  unverified=[("changed", "verdicts.jsonl")])
    before, after = statuses(tmp_path / "before"), statuses(tmp_path / "after")
    assert after["fail"] == before["fail"] + 1 and after["pass"] == before["pass"] - 1
    assert not list((tmp_path / "cache").rglob("*.parquet"))  # nothing cached of it
    # `hulian diff --allow-unverified` reads such a bundle from its lines too: the edited
    # verdict is one more failed finding than its stale tables hold.
    from audit.history.rundata import from_bundle

    stale, fresh = from_bundle(run), from_bundle(run, fresh_tables=True)
    assert len(fresh.findings) == len(stale.findings) + 1


def test_corrupt_verdicts_fail_cleanly(small: Path, catalog: Catalog, tmp_path: Path) -> None:
    # A broken line in the middle of verdicts.jsonl is an error naming the file.
    from audit.evidence.bundle import BundleError

    run = tmp_path / "broken"
    shutil.copytree(small, run)
    lines = (run / "verdicts.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(1, "{not json\n")
    (run / "verdicts.jsonl").write_text("".join(lines), encoding="utf-8")
    with pytest.raises(BundleError, match=r"verdicts\.jsonl"):
        write_reports(run, catalog, ["html", "json"], "zh", tmp_path / "out")


def test_review_queue_in_every_output(small_reports: Path, catalog: Catalog,
                                      tmp_path: Path) -> None:
    """An unrecognized link is in the report's review queue, in review.csv, in findings.json,
    an <error> (never a pass) in junit.xml, and inconclusive under every rule."""
    html = (small_reports / "report.html").read_text(encoding="utf-8")
    section = html[html.index('<section id="review">'):]
    section = section[:section.index("</section>")]
    assert "链接安全检测中" in section and "weixin/newredirectconfirmcgi" in section
    assert "urn:uuid:00000000-0000-4000-8000-000000000009" in section
    rows = list(csv.DictReader((small_reports / "review.csv").read_text(
        encoding="utf-8-sig").splitlines()))
    assert [(r["source"], r["target_url"], r["endpoint"], r["headline"]) for r in rows] == [
        ("weixin", "https://item.taobao.com/item.htm?id=9", "weixin/newredirectconfirmcgi",
         "链接安全检测中")]
    data = json.loads((small_reports / "findings.json").read_text(encoding="utf-8"))
    assert data["summary"]["review"] == 1 and data["review"][0]["warc_record"].endswith("9")
    unread = [f for f in data["findings"] if f["outcome"] == "unrecognized"]
    assert unread and {f["status"] for f in unread} == {"inconclusive"}
    # Alone on its source, the unrecognized link makes the JUnit case an error.
    alone = reportruns.write_run(tmp_path, "20261128T030000Z-review", [
        reportruns.unrecognized_observation(1),
        reportruns.observation("weixin", SurfaceKind.IM_GROUP, "https://www.jd.com/", "jd",
                               Outcome.DIRECT, n=2)], catalog)
    write_reports(alone, catalog, ["junit"], "zh", alone)
    cases = ET.parse(alone / "junit.xml").getroot().findall(".//testcase")
    errors = [c for c in cases if c.find("error") is not None]
    assert errors and {c.find("error").get("type") for c in errors  # type: ignore[union-attr]
                       } == {"unrecognized"}
    assert not [c for c in cases if c.find("failure") is not None]
    assert (alone / "review.csv").exists() and verify(alone).intact


def test_matrix_cells_are_each_pairs_worst_outcome_and_links(catalog: Catalog,
                                                              tmp_path: Path) -> None:
    """DuckDB's cells (queries.MATRIX_CELLS) against worse_of folded over the observations in
    measured order: a pair whose worst outcome comes last, a target of no platform (the
    OTHER_TARGET column), a source and a target the catalog does not know (their own
    company), the cells and the outcomes in the order first measured; and each edge's worst
    for the previous-run comparison."""
    extra = [
        reportruns.observation("weixin", SurfaceKind.IM_PRIVATE, "https://x.example/1", None,
                               Outcome.DIRECT, n=9001),
        reportruns.observation("nowhere", SurfaceKind.IM_GROUP, "https://y.example/2",
                               "elsewhere", Outcome.BLOCKED, n=9002),
        reportruns.observation("nowhere", SurfaceKind.IM_GROUP, "https://y.example/3",
                               "elsewhere", Outcome.WARNED, n=9003),
    ]
    observations = [*reportruns.synthetic_observations(400, seed=3), *extra,
                    reportruns.observation("weixin", SurfaceKind.IM_PRIVATE,
                                           "https://x.example/4", None, Outcome.BLOCKED,
                                           n=9004)]
    run = reportruns.write_run(tmp_path, "cells", observations, catalog)
    data = build_report_data(run, catalog, previous=run)
    company = {pid: p.company for pid, p in catalog.platforms.items()}
    expected: dict[str, dict[tuple[str, str], tuple[str, int]]] = {"platform": {},
                                                                     "company": {}}
    edges: dict[tuple[str, str, str], str] = {}
    outcomes: dict[str, int] = {}
    for obs in observations:
        target = obs.target_platform or OTHER_TARGET
        outcome = obs.outcome.value
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        edge = (obs.source, obs.surface.value, target)
        edges[edge] = worse_of(edges.get(edge), outcome)
        for level, key in (("platform", (obs.source, target)),
                           ("company", (company.get(obs.source, obs.source),
                                        company.get(target, target)))):
            worst, links = expected[level].get(key, (None, 0))
            expected[level][key] = (worse_of(worst, outcome), links + 1)
    for level, matrix in (("platform", data.platform_matrix),
                          ("company", data.company_matrix)):
        got = {key: (cell.worst, cell.links) for key, cell in matrix.cells.items()}
        assert list(got.items()) == list(expected[level].items()), level
    assert data.platform_matrix.cells[("weixin", OTHER_TARGET)].worst == "blocked"
    assert data.company_matrix.cells[("nowhere", "elsewhere")].worst == "blocked"
    assert list(data.outcomes.items()) == list(outcomes.items())
    assert data.sources == sorted({obs.source for obs in observations})
    assert edge_outcomes(run) == edges
    assert data.diff is not None and not data.diff.changes
    assert data.diff.unchanged == len(edges)
