"""`hulian site build` / `hulian site serve` (issue 18, first slice): a site built from two real
lab runs (tests/test_query.py's history: the second run on a scenario where WeTalk stopped
blocking TaoShop in moments and DingWork started warning about it), checked page by page —
every page type in both languages, every internal link resolving, nothing loaded from
another host, hostile strings from a store run inert, the JSON/CSV tables agreeing with the
pages, the Atom feed parsing — and the bad inputs (no store, an empty store, a run whose
bundle is gone, a directory that is not a site, a non-loopback preview)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from threading import Thread
from urllib.parse import unquote, urlsplit

import lxml.html
import pytest
from typer.testing import CliRunner

from audit.cli.app import app
from audit.history.store import get_run, ingest, open_engine
from audit.model import Observation, Outcome, Severity, Status, SurfaceKind, Verdict
from audit.model import Text as BiText
from audit.site.build import build
from audit.site.read import SiteError
from audit.site.serve import server
from tests.test_query import history, hulian  # noqa: F401  (the lab history)

pytestmark = pytest.mark.slow

PAGE_LIMIT = 2 * 1024 * 1024
HOSTILE = "<script>alert('x')</script>"
HOSTILE_URL = "javascript:alert(document.cookie)"
HOSTILE_TITLE = '"><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def site(history: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """The site of the two lab runs, with lab-1's HTML report rendered (copied into the
    site) and the bundle of lab-2 left where it was recorded."""
    runs, store = history
    env = {**os.environ, "HULIAN_DB": store}
    result = hulian("report", str(runs / "lab-1"), "--format", "html", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path_factory.mktemp("site") / "site"
    cli = CliRunner().invoke(app, ["site", "build", "--store", store, "--out", str(out)])
    assert cli.exit_code == 0, cli.output
    assert "index.html" in cli.output and "hulian site serve" in cli.output
    return out


@pytest.fixture(scope="module")
def hostile_site(history: tuple[Path, str],  # noqa: F811
                 tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the lab history plus a run, latest of all, whose platform id, target URL and
    finding text are hostile, and whose bundle no longer exists."""
    _runs, store = history
    base = tmp_path_factory.mktemp("hostile")
    db = base / "history.db"
    engine = open_engine(store)
    engine.dispose()
    shutil.copyfile(store.removeprefix("sqlite:///"), db)
    url = f"sqlite:///{db}"
    engine = open_engine(url)
    latest = get_run(engine, "lab-2")
    assert latest is not None and latest.started_at is not None
    started = latest.started_at + timedelta(hours=1)
    observation = Observation(id="evil-o", probe_id="evil-p", source=HOSTILE,
                              surface=SurfaceKind.POST, target_url=HOSTILE_URL,
                              target_platform="taoshop", outcome=Outcome.BLOCKED)
    verdict = Verdict(id="evil-v", rule_id="no-unjustified-blocking", observation_id="evil-o",
                      source=HOSTILE, surface=SurfaceKind.POST, target_url=HOSTILE_URL,
                      target_platform="taoshop", outcome=Outcome.BLOCKED, status=Status.FAIL,
                      severity=Severity.HIGH,
                      reason=BiText(zh=HOSTILE_TITLE + HOSTILE, en=HOSTILE_TITLE + HOSTILE),
                      requirements=["miit-2021/press-2021-09-13"], evidence=[HOSTILE_URL])
    ingest(engine, {"id": "evil-run", "path": str(base / "gone"), "started_at": started,
                    "finished_at": started, "recorded_at": datetime.now(UTC),
                    "tool_version": "0", "policy_digest": "d", "sources_key": HOSTILE,
                    "n_observations": 1, "n_verdicts": 1, "n_failed": 1, "summary": {}},
           [observation], [verdict], [], {(HOSTILE, "Baiduspider"): "closed"})
    engine.dispose()
    out = base / "site"
    build(out, url)
    return out


def pages(out: Path) -> list[Path]:
    """The site's own pages (the copied reports under files/ are the bundles' documents)."""
    return sorted([out / "index.html", *(out / "zh").rglob("*.html"),
                   *(out / "en").rglob("*.html")])


def test_every_page_type_exists_in_both_languages(site: Path) -> None:
    for lang in ("zh", "en"):
        for page in ("index.html", "runs.html", "requirements.html", "methodology.html",
                     "platform/wetalk.html", "platform/taoshop.html", "run/lab-1.html",
                     "run/lab-2.html"):
            assert (site / lang / page).is_file(), f"{lang}/{page}"
        assert list((site / lang / "company").glob("*.html"))
        assert list((site / lang / "requirement").glob("*.html"))
    for path in pages(site):
        if path.parent == site:
            continue
        lang, rest = path.relative_to(site).parts[0], path.relative_to(site).parts[1:]
        other = site / ("en" if lang == "zh" else "zh") / Path(*rest)
        assert other.is_file()
        doc = lxml.html.parse(str(path)).getroot()
        switch = doc.cssselect("nav a.lang")
        assert len(switch) == 1
        assert (path.parent / switch[0].get("href")).resolve() == other.resolve()
        assert doc.get("lang") == ("zh-CN" if lang == "zh" else "en")
    zh = (site / "zh/index.html").read_text(encoding="utf-8")
    en = (site / "en/index.html").read_text(encoding="utf-8")
    assert "公司 × 公司 互通矩阵" in zh and "Company × company openness matrix" in en


def _links(path: Path) -> list[tuple[str, str]]:
    doc = lxml.html.parse(str(path)).getroot()
    found = []
    for element in doc.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            if name in ("href", "src") or name.endswith("}href"):
                found.append((name, value))
    return found


def _check_links(site: Path) -> int:
    checked = 0
    for path in pages(site):
        for _name, value in _links(path):
            parts = urlsplit(value)
            assert not parts.scheme and not parts.netloc, f"{path}: {value}"
            if not parts.path:
                continue  # a fragment of the same page
            target = (path.parent / unquote(parts.path)).resolve()
            assert target.is_file(), f"{path}: {value} -> {target}"
            assert site.resolve() in target.parents, f"{path}: {value} leaves the site"
            if parts.fragment and target.suffix == ".html":
                ids = {e.get("id") for e in lxml.html.parse(str(target)).getroot().iter()
                       if isinstance(e.tag, str)}
                assert parts.fragment in ids, f"{path}: {value}"
            checked += 1
    return checked


def test_every_internal_link_resolves_and_nothing_comes_from_another_host(site: Path) -> None:
    assert _check_links(site) > 500
    for path in [*pages(site), *site.glob("assets/*"), site / "search-index.js"]:
        text = path.read_text(encoding="utf-8")
        # The audited URLs are shown as text only; no page asks for anything elsewhere.
        assert "//fonts." not in text and "cdn" not in text.lower()
        for _name, value in _links(path) if path.suffix == ".html" else []:
            assert not value.startswith(("http:", "https:", "//")), value
    lab_urls = (site / "en/platform/wetalk.html").read_text(encoding="utf-8")
    assert "taoshop.lab" in lab_urls  # shown ...
    assert not any("taoshop.lab" in v for _n, v in _links(site / "en/platform/wetalk.html"))


def test_no_page_is_over_2_mb(site: Path) -> None:
    assert max(p.stat().st_size for p in pages(site)) < PAGE_LIMIT


def _table(site: Path, name: str) -> list[dict[str, object]]:
    document = json.loads((site / "api/v1" / f"{name}.json").read_text(encoding="utf-8"))
    assert document["version"] == 1 and document["table"] == name.rsplit("/", 1)[-1]
    rows: list[dict[str, object]] = document["rows"]
    with (site / "api/v1" / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
        read = list(csv.DictReader(fh))
    assert list(read[0]) == document["columns"] if read else True
    assert len(read) == len(rows)
    for from_csv, from_json in zip(read, rows, strict=True):
        for key, value in from_json.items():
            if key in from_csv and not isinstance(value, list | dict) and value is not None:
                assert from_csv[key] == str(value), (name, key)
    return rows


def test_the_tables_parse_and_agree_with_the_pages(site: Path, history: tuple[Path, str]  # noqa: F811
                                                   ) -> None:
    runs, _store = history
    listed = _table(site, "runs")
    assert [r["run_id"] for r in listed] == ["lab-1", "lab-2"]
    assert listed[1]["regression"] is True
    # findings: the platform page shows the latest run's failed verdicts of that platform
    findings = _table(site, "findings")
    lab2 = [json.loads(line) for line in (runs / "lab-2/verdicts.jsonl").read_text().splitlines()]
    assert len(findings) >= sum(v["status"] == "fail" for v in lab2) > 0
    per_source = Counter(str(f["source"]) for f in findings)
    for source, n in per_source.items():
        page = site / "en/platform" / f"{source}.html"
        rows = lxml.html.parse(str(page)).getroot().cssselect("tr.finding")
        assert len(rows) == n, source
    # the heatmap: a cell per company pair of the table, with its count
    matrix = _table(site, "company_matrix")
    doc = lxml.html.parse(str(site / "en/index.html")).getroot()
    counts = [t.text for t in doc.iter("{http://www.w3.org/2000/svg}text", "text")
              if t.get("class") == "count"]
    assert sorted(counts) == sorted(str(r["links"]) for r in matrix)
    links = sum(int(str(r["links"])) for r in _table(site, "platform_matrix"))
    assert links == len((runs / "lab-2/observations.jsonl").read_text().splitlines())
    figure = doc.get_element_by_id("fig-links").text_content()
    assert figure.replace(",", "") == str(links)
    # the change since the previous run: the scenario's two edges
    changes = _table(site, "changes")
    edges = {(c["key"], c["change"], c["before"], c["after"]) for c in changes
             if c["subject"] == "edge"}
    assert ("dingwork/im_group/taoshop", "worse", "direct", "warned") in edges
    assert ("wetalk/moments/taoshop", "better", "blocked", "direct") in edges
    # requirement failures name the run since which they fail
    failures = _table(site, "requirement_failures")
    assert failures and {f["since_run"] for f in failures} <= {"lab-1", "lab-2"}
    # search barriers: engines × platforms as on the overview
    search = _table(site, "search")
    assert search and len(doc.cssselect("#search-barriers td .badge")) == len(search)
    assert _table(site, "series") and _table(site, "edges")
    # the run page: its reports copied, file hashes from the manifest, the review queue
    run1 = lxml.html.parse(str(site / "en/run/lab-1.html")).getroot()
    assert [a.text for a in run1.cssselect("#reports a")] == ["report.html", "review.csv"]
    manifest = json.loads((runs / "lab-1/manifest.json").read_text())
    shown = run1.text_content()
    assert all(digest in shown for digest in manifest["files"].values())
    review = _table(site, "runs/lab-1/review")
    assert len(run1.cssselect("tr.review-row")) == min(len(review), 100)


def test_the_feed_is_atom_and_names_the_regression(site: Path) -> None:
    root = ET.parse(site / "feed.xml").getroot()
    atom = "{http://www.w3.org/2005/Atom}"
    assert root.tag == f"{atom}feed"
    assert root.find(f"{atom}id") is not None and root.find(f"{atom}updated") is not None
    entries = root.findall(f"{atom}entry")
    assert [e.findtext(f"{atom}id") for e in entries] == ["urn:hulian:run:lab-2:regressions"]
    content = entries[0].findtext(f"{atom}content") or ""
    assert "DingWork" in content and "direct → warned" in content
    link = entries[0].find(f"{atom}link")
    assert link is not None and (site / link.get("href", "")).is_file()


def _index(site: Path) -> list[dict[str, object]]:
    text = (site / "search-index.js").read_text(encoding="utf-8")
    prefix = "window.HULIAN_SEARCH = "
    assert text.startswith(prefix)
    entries: list[dict[str, object]] = json.loads(text[len(prefix):].rstrip().rstrip(";"))
    return entries


def test_the_search_index_finds_platforms_targets_and_findings(site: Path) -> None:
    entries = _index(site)
    kinds = Counter(str(e["k"]) for e in entries)
    assert {"platform", "company", "run", "target", "finding", "requirement"} <= set(kinds)
    # a lab target by host, by Chinese name and by English name
    for word in ("shop.taoshop.lab", "淘集", "taoshop"):
        assert any(word.lower() in str(e["s"]) for e in entries), word
    for e in entries:
        page = str(e["p"]).split("#")[0]
        assert (site / "zh" / page).is_file() and (site / "en" / page).is_file()


def test_hostile_strings_stay_inert(hostile_site: Path) -> None:
    assert _check_links(hostile_site) > 0
    seen = False
    for path in pages(hostile_site):
        text = path.read_text(encoding="utf-8")
        assert "<script>alert" not in text and "<img src=x" not in text, path
        doc = lxml.html.parse(str(path)).getroot()
        for element in doc.iter():
            if not isinstance(element.tag, str):
                continue
            for name, value in element.attrib.items():
                assert not name.lower().startswith("on"), (path, name)
                assert not value.strip().lower().startswith("javascript:") or name not in (
                    "href", "src"), (path, name, value)
            if element.tag == "script":
                assert element.get("src") and not (element.text or "").strip()
        seen = seen or HOSTILE in doc.text_content()
    assert seen  # shown, as text
    index = (hostile_site / "search-index.js").read_text(encoding="utf-8")
    assert "<script" not in index and "</" not in index
    # the hostile run is the latest: the overview shows it, its bundle is missing
    run = lxml.html.parse(str(hostile_site / "en/run/evil-run.html")).getroot()
    assert run.get_element_by_id("bundle-missing") is not None
    assert "the bundle is gone" in run.text_content()


def test_bad_inputs_end_with_a_clear_error(tmp_path: Path, history: tuple[Path, str],  # noqa: F811
                                           site: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["site", "build", "--store", str(tmp_path / "none.db"),
                                  "--out", str(tmp_path / "a")])
    assert missing.exit_code == 1 and "no history store at" in missing.output
    assert not (tmp_path / "none.db").exists()  # not created by the attempt
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    open_engine(empty).dispose()
    result = runner.invoke(app, ["site", "build", "--store", empty, "--out",
                                 str(tmp_path / "b")])
    assert result.exit_code == 1 and "holds no runs" in result.output
    _runs, store = history
    unknown = runner.invoke(app, ["site", "build", "--store", store, "--out",
                                  str(tmp_path / "c"), "--runs", "lab-9"])
    assert unknown.exit_code == 1 and "lab-9" in unknown.output
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep.txt").write_text("mine")
    refused = runner.invoke(app, ["site", "build", "--store", store, "--out",
                                  str(tmp_path / "d")])
    assert refused.exit_code == 1 and "not empty" in refused.output
    assert (tmp_path / "d" / "keep.txt").read_text() == "mine"
    with pytest.raises(SiteError, match="not a site"):
        server(tmp_path / "d")
    public = runner.invoke(app, ["site", "serve", str(site), "--host", "0.0.0.0"])
    assert public.exit_code == 1 and "--public" in public.output


def _tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
            if p.is_file() and p.name != "site-state.json"}


def test_an_incremental_build_reads_only_new_runs_and_rewrites_only_what_they_touch(
        tmp_path: Path, history: tuple[Path, str]) -> None:  # noqa: F811
    _runs, store = history
    out = tmp_path / "inc"
    first = build(out, store, ["lab-1"])
    assert first.runs == first.read == ["lab-1"]
    assert not (out / "en/run/lab-2.html").exists()
    assert _table(out, "changes") == []
    (out / "en/old-page.html").write_text("stale")  # not produced again: removed
    second = build(out, store)  # lab-2 is new
    assert second.runs == ["lab-1", "lab-2"] and second.read == ["lab-2"]
    assert "en/run/lab-2.html" in second.written and "en/index.html" in second.written
    assert "en/run/lab-1.html" not in second.written  # untouched by lab-2
    assert "en/methodology.html" not in second.written and second.unchanged > 0
    assert not (out / "en/old-page.html").exists()
    third = build(out, store)  # nothing new: nothing read, nothing written
    assert third.read == [] and third.written == []
    # ... and the result is the site a full build makes
    full = build(tmp_path / "full", store)
    assert full.read == ["lab-1", "lab-2"]
    assert _tree(out) == _tree(tmp_path / "full")
    # a cache that cannot be read is read again from the store, not trusted
    (out / ".build/runs/lab-1.json").write_text("{")
    fourth = build(out, store)
    assert fourth.read == ["lab-1"] and fourth.written == []
    assert _tree(out) == _tree(tmp_path / "full")


def test_the_preview_serves_the_site_on_loopback(site: Path) -> None:
    httpd = server(site, "127.0.0.1", 0)
    thread = Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        port = httpd.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/en/index.html",
                                    timeout=10) as answer:
            body = answer.read().decode("utf-8")
        assert "The interconnection index" in body
    finally:
        httpd.shutdown()
        httpd.server_close()

