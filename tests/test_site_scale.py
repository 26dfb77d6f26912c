"""The site at scale (issue 18, "Scale"), on a small synthetic history: 5 runs × 4,000
observations recorded through the real path (tests/siteruns.py), then a sixth. A platform has
more findings than its page lists: the page lists the worst FINDINGS_SHOWN, says how many
more there are and links the JSON/CSV files that hold all of them. The incremental build
after the sixth run reads only that run from the store (the build's own counter, not a
time), gives the site a full build gives, and its diffs — made from the store's aggregates —
are `hulian diff`'s on the runs' full records. bench/site.py measures the full size."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import lxml.html
import pytest

from audit.history.diff import diff
from audit.history.store import get_run, open_engine, record_run
from audit.site.build import REVIEW_SHOWN, build
from audit.site.tables import FINDINGS_SHOWN, changes_table, slug
from tests.siteruns import run_id, stored_records, write_history

pytestmark = pytest.mark.slow

RUNS = 5
OBSERVATIONS = 4000
PAGE_LIMIT = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[Path]]:
    root = tmp_path_factory.mktemp("sitescale")
    url = f"sqlite:///{root / 'history.db'}"
    engine = open_engine(url)
    paths = write_history(root / "runs", RUNS, OBSERVATIONS, 400, engine, extra=1)
    engine.dispose()
    return url, paths


@pytest.fixture(scope="module")
def site(history: tuple[str, list[Path]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    url, _paths = history
    out = tmp_path_factory.mktemp("site") / "site"
    result = build(out, url, [run_id(i) for i in range(RUNS)])
    assert result.read == [run_id(i) for i in range(RUNS)]
    return out


def _api(path: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))["rows"]
    return rows


def test_a_platform_page_lists_the_worst_findings_and_links_all_of_them(
        site: Path, history: tuple[str, list[Path]]) -> None:
    url, _paths = history
    findings = _api(site / "api/v1/findings.json")
    engine = open_engine(url)
    latest = get_run(engine, run_id(RUNS - 1))
    engine.dispose()
    assert latest is not None and len(findings) == latest.n_failed  # the API holds all
    per_source: dict[str, int] = {}
    for f in findings:
        per_source[str(f["source"])] = per_source.get(str(f["source"]), 0) + 1
    big = [p for p, n in per_source.items() if n > FINDINGS_SHOWN]
    assert big, f"no platform with more than {FINDINGS_SHOWN} findings: {per_source}"
    for pid in big:
        total = per_source[pid]
        for lang in ("zh", "en"):
            page = site / lang / "platform" / f"{slug(pid)}.html"
            doc = lxml.html.fromstring(page.read_bytes())
            rows = doc.xpath('//section[@id="findings"]//tr[@class="finding"]')
            assert len(rows) == FINDINGS_SHOWN
            # the worst first: the rows are the first of the platform's API rows
            own = [f for f in findings if f["source"] == pid]
            assert [r.get("id") for r in rows] == [f"f-{f['id']}" for f in own[:FINDINGS_SHOWN]]
            more = doc.xpath('//p[contains(@class, "findings-more")]')[0]
            text = " ".join(more.text_content().split())
            assert re.search(rf"\b{total - FINDINGS_SHOWN:,}\b", text), text
            links = {a.text_content(): a.get("href") for a in more.xpath(".//a")}
            assert set(links) == {"findings.json", "findings.csv"}
            for name, href in links.items():
                file = (page.parent / href).resolve()
                assert file == (site / f"api/v1/platforms/{slug(pid)}/{name}").resolve()
            heading = doc.xpath('//section[@id="findings"]/h2')[0].text_content()
            assert f"{total:,}" in heading
        api = site / f"api/v1/platforms/{slug(pid)}"
        assert [f["id"] for f in _api(api / "findings.json")] == [f["id"] for f in own]
        with (api / "findings.csv").open(encoding="utf-8") as fh:
            assert [r["id"] for r in csv.DictReader(fh)] == [f["id"] for f in own]


def test_no_page_is_over_its_cap_and_the_search_index_lists_only_shown_findings(
        site: Path) -> None:
    pages = list(site.rglob("*.html"))
    assert len(pages) > 100
    assert max(p.stat().st_size for p in pages) < PAGE_LIMIT
    text = (site / "search-index.js").read_text(encoding="utf-8")
    entries = json.loads(text.removeprefix("window.HULIAN_SEARCH = ").rstrip().rstrip(";"))
    shown = [e for e in entries if e["k"] == "finding"]
    per_page: dict[str, int] = {}
    for e in shown:
        page, fragment = str(e["p"]).split("#")
        per_page[page] = per_page.get(page, 0) + 1
        # every finding in the index leads to a row of its page
        assert f'id="{fragment}"' in (site / "en" / page).read_text(encoding="utf-8")
    assert shown and max(per_page.values()) == FINDINGS_SHOWN


def test_an_incremental_build_after_one_run_reads_only_that_run(
        site: Path, history: tuple[str, list[Path]], tmp_path: Path) -> None:
    url, paths = history
    engine = open_engine(url)
    new = run_id(RUNS)
    if get_run(engine, new) is None:
        record_run(paths[RUNS], engine=engine)
    result = build(site, url)
    assert result.read == [new]  # the other runs from the build cache, diffs too
    assert result.runs[-1] == new and f"en/run/{new}.html" in result.written
    assert f"en/run/{run_id(0)}.html" not in result.written
    # By the build's own counters: one diff computed, one bundle read for evidence (the
    # run before lists its review rows now, a subset of what it listed, from the cache),
    # and the run and evidence pages of the runs before it not rendered at all (their
    # content keys unchanged). The run before the new one: its evidence page no longer
    # lists the findings (another run is the latest), so its pages are rendered again.
    assert result.diffed == [new] and result.evidence_read == [new]
    assert result.backfilled == []
    older = [run_id(i) for i in range(RUNS - 1)]
    assert sorted(result.skipped) == sorted([f"run/{r}.html" for r in older]
                                            + [f"evidence/{r}.html" for r in older])
    # a page skipped is not written (in neither language)
    assert not any(f"{lang}/{p}" in result.written for p in result.skipped
                   for lang in ("zh", "en"))
    # a build with nothing new renders no run or evidence page and reads nothing
    again = build(site, url)
    assert again.read == [] and again.diffed == [] and again.evidence_read == []
    assert sorted(again.skipped) == sorted(
        [f"run/{r}.html" for r in result.runs] + [f"evidence/{r}.html" for r in result.runs])
    assert again.written == []
    # other templates or page code (the state's digest): every page rendered, none kept;
    # the runs' snapshots still come from the cache (each file holds the input hash it was
    # made from, which the page code is not part of: tests/test_site_rebuild.py)
    state = json.loads((site / "site-state.json").read_text(encoding="utf-8"))
    state["templates"] = "0" * 64
    (site / "site-state.json").write_text(json.dumps(state), encoding="utf-8")
    redone = build(site, url)
    assert redone.skipped == [] and redone.read == [] and redone.written == []
    # ... and the site is the one a full build makes
    full = build(tmp_path / "full", url)
    assert full.read == result.runs

    def tree(out: Path) -> dict[str, bytes]:
        return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
                if p.is_file() and p.name != "site-state.json"}

    assert tree(site) == tree(tmp_path / "full")
    assert full.skipped == [] and full.evidence_read == full.runs
    # The site's diffs, made from the store's aggregates, are a diff of the runs' full
    # records (observations and verdicts as model objects).
    before, after = stored_records(engine, run_id(RUNS - 1)), stored_records(engine, new)
    engine.dispose()
    expected = changes_table({new: (before.run_id, diff(before, after))}).rows
    published = [r for r in _api(site / "api/v1/changes.json") if r["run_id"] == new]
    assert published == expected and expected


def test_evidence_pages_list_the_chains_the_site_links(site: Path) -> None:
    """The latest run's evidence page lists the chains of the findings its platform pages
    list (the first FINDINGS_SHOWN of each source platform) and of the review rows its run
    page lists; an older run's lists its review rows' only. Every replay link leads to a
    listed chain, and nothing is listed that no page links."""
    runs = [str(r["run_id"]) for r in _api(site / "api/v1/runs.json")]  # oldest first
    latest = runs[-1]  # (the sixth run, when the incremental build's test ran first)
    findings = _api(site / "api/v1/findings.json")
    shown: dict[str, int] = {}
    expected_findings = []
    for f in findings:
        shown[str(f["source"])] = shown.get(str(f["source"]), 0) + 1
        if shown[str(f["source"])] <= FINDINGS_SHOWN and f["observation_id"]:
            expected_findings.append(str(f["observation_id"]))
    assert len(expected_findings) < len(findings)  # a cap, not every failed verdict

    def listed(run: str) -> list[str]:
        doc = lxml.html.parse(str(site / "en/evidence" / f"{run}.html")).getroot()
        return [a.get("id") for a in doc.xpath('//article[@class="exchange"]')]

    def review(run: str) -> list[str]:
        rows = _api(site / f"api/v1/runs/{run}/review.json")
        return [str(r["observation_id"]) for r in rows[:REVIEW_SHOWN]]

    def ids(observations: list[str]) -> list[str]:
        return [f"o-{slug(o)}" for o in dict.fromkeys(observations)]

    assert listed(latest) == ids(expected_findings + review(latest))
    for run in runs[:-1]:
        assert listed(run) == ids(review(run)) and review(run)
    # every replay link of the site leads to a chain its evidence page lists (these
    # synthetic runs record no WARC hop, so they have none: tests/test_site_replay.py's lab
    # runs do, and their links are followed there)
    for page in [*site.glob("en/platform/*.html"), *site.glob("en/run/*.html")]:
        doc = lxml.html.parse(str(page)).getroot()
        for a in doc.xpath('//a[@class="replay-link"]'):
            target, fragment = a.get("href").split("#")
            evidence = (page.parent / target).resolve()
            assert fragment in listed(evidence.stem), (page, fragment)
