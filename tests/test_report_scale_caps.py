"""A report stays openable whatever the number of platforms (issue 16, audit/report/shown.py):
a run of 200 platforms of 60 companies (8,000 source -> target pairs; uncapped, its page was
10 MB, 7.4 MB of it the matrices and the drawings) gives a page under 5 MB that says how many
platforms of how many it shows, in both languages; the shown rows are the sources with the
most failed findings, counted here from the findings themselves; a small run still shows
every platform."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import lxml.html
import orjson
import pytest

from audit.evidence.bundle import OBSERVATIONS
from audit.model import Severity, Status, Text, Verdict
from audit.policy.catalog import Catalog, load_catalog, policy_dirs
from audit.report import shown
from audit.report.data import ReportData, build_report_data
from audit.report.render import render_html, write_reports
from audit.report.search import HostRow, SearchSection
from tests import reportruns, scaleruns

PAGE_LIMIT = 5_000_000  # bytes: issue 16's bound of report.html and report.pdf
PLATFORMS, COMPANIES, PAIRS = 200, 60, 8_000


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """200 synthetic platforms of 60 companies, judged by every shipped rule."""
    catalog = scaleruns.synthetic_catalog(PLATFORMS, COMPANIES)
    catalog.rules = load_catalog().rules
    return catalog


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Path:
    # Every pair measured once; targets all recorded with their platform (the matrix's
    # columns are then the findings' target platforms, which the test counts itself).
    observations = [o for o in scaleruns.observation_objects(
        scaleruns.synthetic_records(PLATFORMS, PAIRS, PAIRS)) if o.target_platform]
    return reportruns.write_run(tmp_path_factory.mktemp("many"), "20261128T030000Z-many",
                                observations, catalog)


@pytest.fixture(scope="module")
def data(run: Path, catalog: Catalog) -> ReportData:
    return build_report_data(run, catalog)


@pytest.fixture(scope="module")
def pages(data: ReportData) -> dict[tuple[str, str], str]:
    return {(lang, mode): render_html(data, lang=lang, mode=mode)
            for lang in ("zh", "en") for mode in ("html", "pdf")}


def _section(page: str, ident: str) -> str:
    start = page.index(f'<section id="{ident}">')
    return page[start:page.index("</section>", start)]


def _doc(page: str) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(page)


def _most(counts: Counter[str], links: Counter[str], keys: set[str], n: int) -> set[str]:
    """The n keys with the most failed findings, then the most links, then by id: the rule
    docs/reports.md states, written plainly."""
    return set(sorted(keys, key=lambda k: (-counts[k], -links[k], k))[:n])


def test_a_run_of_many_platforms_stays_under_the_limit(run: Path, catalog: Catalog,
                                                       tmp_path: Path) -> None:
    write_reports(run, catalog, formats=["html"], lang="zh", out=tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert len(page.encode()) < PAGE_LIMIT
    # The two sections that grew with the platforms: under a megabyte each.
    assert len(_section(page, "matrix").encode()) < 1_000_000
    assert len(_section(page, "neighbourhoods").encode()) < 1_000_000


def test_the_page_says_how_many_of_how_many(data: ReportData,
                                            pages: dict[tuple[str, str], str]) -> None:
    cap, sources, targets = shown.MATRIX_CAP, len(data.sources), len(data.targets)
    companies = len(data.company_matrix.rows)
    assert sources > cap and targets > cap and companies > cap
    for mode in ("html", "pdf"):
        en = re.sub(r"\s+", " ", _doc(pages[("en", mode)]).text_content())
        assert (f"Shown: the {cap} of {sources} source platforms and the {cap} of {targets} "
                "target platforms with the most failed findings") in en
        assert (f"Shown: the {cap} of {companies} source companies and the {cap} of "
                f"{len(data.company_matrix.columns)} target companies") in en
        drawn = shown.NEIGHBOURHOOD_CAP[mode]
        assert f"Drawn: the {drawn} of {sources} source platforms" in en
        assert f"A drawing shows at most {shown.NEIGHBOURS_CAP} platforms on each side" in en
        assert "findings.csv and findings.json list every finding" in en
        zh = re.sub(r"\s+", " ", _doc(pages[("zh", mode)]).text_content())
        # The Chinese page says it in Chinese (reports/locale/zh_CN), numbers as the locale
        # writes them.
        assert (f"此处显示不合规问题最多（其次链接最多）的 {cap} 个来源平台（共 {sources} 个）"
                f"和 {cap} 个目标平台（共 {targets} 个）") in zh
        assert f"此处绘出不合规问题最多（其次链接最多）的 {drawn} 个来源平台（共 {sources} 个）" in zh
        assert "Shown:" not in zh and "Drawn:" not in zh


def _failed_and_links(data: ReportData, run: Path) -> tuple[Counter[str], Counter[str],
                                                             Counter[str], Counter[str]]:
    """Failed findings and links per source and per target, counted from the findings and
    the observations (not from the report's matrix)."""
    failed_from: Counter[str] = Counter()
    failed_to: Counter[str] = Counter()
    for f in data.findings:
        if f.status == "fail":
            failed_from[f.source] += 1
            failed_to[f.target_platform or ""] += 1
    links_from: Counter[str] = Counter()
    links_to: Counter[str] = Counter()
    with (run / OBSERVATIONS).open("rb") as fh:
        for line in fh:
            obs = orjson.loads(line)
            links_from[obs["source"]] += 1
            links_to[obs["target_platform"]] += 1
    return failed_from, links_from, failed_to, links_to


def test_the_rows_shown_have_the_most_failed_findings(
        data: ReportData, run: Path, pages: dict[tuple[str, str], str]) -> None:
    failed_from, links_from, failed_to, links_to = _failed_and_links(data, run)
    cap = shown.MATRIX_CAP
    rows = _most(failed_from, links_from, set(links_from), cap)
    columns = _most(failed_to, links_to, set(links_to), cap)
    # The rows are not merely the busiest: failed findings come first.
    assert rows != _most(Counter(), links_from, set(links_from), cap)
    name = {f"P{i}": f"p{i}" for i in range(PLATFORMS)}
    for mode in ("html", "pdf"):
        doc = _doc(pages[("en", mode)])
        svg = doc.xpath("//figure[@id='heatmap-platforms']/svg")[0]
        labels = svg.xpath(".//text[@class='axis']")
        drawn_rows = {name[t.text] for t in labels if t.get("text-anchor") == "end"}
        drawn_columns = {name[t.text] for t in labels if t.get("transform")}
        assert drawn_rows == rows and drawn_columns == columns
        cells = svg.xpath(".//g[@class='cell']")
        assert len(cells) == sum(1 for r, c in data.platform_matrix.cells
                                 if r in rows and c in columns)
        if mode == "html":  # the table behind the picture shows the same
            table = doc.xpath("//section[@id='matrix']//table[@class='matrix']")[0]
            assert {name[th.text] for th in table.xpath(".//th[@class='row']")} == rows
            assert {name[th.text] for th in table.xpath(".//th[@class='col']")} == columns
    # The drawings: the sources with the most failed findings, each with at most
    # NEIGHBOURS_CAP platforms a side, its headings saying how many of how many.
    doc = _doc(pages[("en", "html")])
    figures = doc.xpath("//section[@id='neighbourhoods']//figure[@class='nodelink']")
    assert {name[f.xpath("figcaption")[0].text] for f in figures} == _most(
        failed_from, links_from, set(links_from), shown.NEIGHBOURHOOD_CAP["html"])
    capped = 0
    for figure in figures:
        svg = figure.xpath("svg")[0]
        nodes = svg.xpath(".//text[@class='node']")
        assert len(nodes) <= 2 * shown.NEIGHBOURS_CAP + 1
        for heading in svg.xpath(".//text[@class='heading']"):
            said = re.fullmatch(r"(\d+) of (\d+) (linking to it|it links to)", heading.text)
            if said:
                capped += 1
                assert int(said[1]) == shown.NEIGHBOURS_CAP < int(said[2])
    assert capped


def test_requirements_name_the_most_failing_sources(data: ReportData,
                                                    pages: dict[tuple[str, str], str]) -> None:
    many = [r for r in data.requirements
            if len(r.sources_failed) > shown.SOURCES_PER_REQUIREMENT["html"]]
    assert many
    section = _section(pages[("en", "html")], "requirements")
    for r in many:
        more = len(r.sources_failed) - shown.SOURCES_PER_REQUIREMENT["html"]
        assert f"and {more} more source platforms (findings.csv lists every finding)" in section


def test_a_small_run_shows_every_platform(tmp_path: Path) -> None:
    catalog = load_catalog(policy_dirs())
    run = reportruns.large_run(tmp_path, catalog, 600, "20261128T030000Z-mixed")
    data = build_report_data(run, catalog)
    try:
        for mode in ("html", "pdf"):
            page = render_html(data, lang="en", mode=mode)
            doc = _doc(page)
            svg = doc.xpath("//figure[@id='heatmap-platforms']/svg")[0]
            assert len(svg.xpath(".//g[@class='cell']")) == len(data.platform_matrix.cells)
            rows = [t for t in svg.xpath(".//text[@class='axis']")
                    if t.get("text-anchor") == "end"]
            assert len(rows) == len(data.sources)
            company = doc.xpath("//figure[@id='heatmap-companies']/svg")[0]
            assert len(company.xpath(".//g[@class='cell']")) == len(data.company_matrix.cells)
            drawings = doc.xpath("//section[@id='neighbourhoods']//figure[@class='nodelink']")
            assert len(drawings) == len(data.sources)
            assert "Shown:" not in page and "Drawn:" not in page and " of " not in "".join(
                t.text or "" for t in doc.xpath("//svg//text[@class='heading']"))
            if mode == "html":
                table = doc.xpath("//table[@class='matrix']")[0]
                assert len(table.xpath(".//th[@class='row']")) == len(data.sources)
                assert len(table.xpath(".//th[@class='col']")) == len(data.targets)
    finally:
        data.findings.close()


def test_ranked_breaks_ties_by_id() -> None:
    totals = {"b": (1, 5), "a": (1, 5), "c": (2, 0), "d": (1, 9), "e": (0, 99)}
    assert shown.ranked(totals) == ["c", "d", "a", "b", "e"]
    items = ["e", "d", "c", "b", "a"]
    assert shown.top(items, 3, key=str, failed=lambda k: totals[k][0],
                     links=lambda k: totals[k][1]) == ["d", "c", "a"]


def _host(host: str, platform: str, *, discriminates: bool = False) -> HostRow:
    return HostRow(host=host, platform=platform, url=f"https://{host}/robots.txt", status=200,
                   failure=None, classes={"bot": "open"}, discriminates=discriminates,
                   reasons=[], noindex={}, sitemaps=0, record=f"robots:{host}", evidence=[])


def test_the_search_section_lists_the_platforms_that_matter_most() -> None:
    platforms = [f"p{i:03d}" for i in range(300)]
    hosts = [_host(f"h{i:03d}.example", p, discriminates=i % 7 == 0)
             for i, p in enumerate(platforms)]
    failing = {"p250", "p120", "p007"}
    verdicts = [Verdict(id=f"v{p}", rule_id="search-rule", source=p, status=Status.FAIL,
                        severity=Severity.HIGH, reason=Text(zh="不", en="no"))
                for p in sorted(failing)]
    section = SearchSection(engines=[], platforms=platforms, cells={}, hosts=hosts,
                            self_preferring=[], verdicts=verdicts)
    for mode, cap in shown.SEARCH_CAP.items():
        view = shown.search_view(section, mode)
        assert len(view.platforms) == cap and failing <= set(view.platforms)
        assert view.platforms == sorted(view.platforms)  # the section's order
        assert view.totals["platforms"] == 300 and len(view.failed) == 3
        listed = {h.host for h in view.hosts}
        assert {h.host for h in section.discriminating} <= listed or len(listed) == cap
        assert view.listed_hosts == listed and len(view.hosts) <= cap
        assert len(view.discriminating) == min(cap, len(section.discriminating))
    small = SearchSection(engines=[], platforms=platforms[:10], cells={}, hosts=hosts[:10],
                          self_preferring=[], verdicts=verdicts)
    view = shown.search_view(small, "html")
    assert view.platforms == platforms[:10] and view.hosts == hosts[:10]
