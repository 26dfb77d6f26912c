"""The run's pictures (audit/report/heatmap.py, audit/report/nodelink.py): the heatmap's data
from a small hand-made run (company grouping, worst outcome per cell, counts), its SVG (parses,
a cell per pair with its outcome's fill, no overlapping labels, hostile names inert), the
node-link drawings of one platform and one company pair, and the site's use of the same
implementation."""

from __future__ import annotations

import itertools
from pathlib import Path

import lxml.etree
import pytest

from audit.judge.outcomes import COLOURS
from audit.model import Outcome, SurfaceKind
from audit.policy.catalog import Catalog, load_catalog, policy_dirs
from audit.report import heatmap, nodelink
from audit.report.data import build_report_data
from audit.report.render import render_html
from tests import reportruns

SVG = "{http://www.w3.org/2000/svg}"
LABELS = {o.value: o.value.replace("_", " ") for o in Outcome}
IM = SurfaceKind.IM_PRIVATE


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(policy_dirs())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Path:
    """Tencent (weixin, qq) and Alibaba (taobao, tmall) platforms linking to each other and to
    an outside host; the weixin → taobao cell holds three outcomes."""
    o = reportruns.observation
    obs = [
        o("weixin", IM, "https://item.taobao.com/1", "taobao", Outcome.DIRECT, n=1),
        o("weixin", IM, "https://item.taobao.com/2", "taobao", Outcome.COPY_ONLY, n=2),
        o("weixin", IM, "https://item.taobao.com/3", "taobao", Outcome.WARNED, n=3),
        o("weixin", IM, "https://detail.tmall.com/4", "tmall", Outcome.BLOCKED, n=4),
        o("qq", IM, "https://item.taobao.com/5", "taobao", Outcome.WRAPPED, n=5),
        o("qq", IM, "https://weixin.qq.com/6", "weixin", Outcome.DIRECT, n=6),
        o("taobao", SurfaceKind.POST, "https://weixin.qq.com/7", "weixin", Outcome.STRIPPED,
          n=7),
        o("tmall", SurfaceKind.POST, "https://example.org/8", None, Outcome.TARGET_DOWN, n=8,
          control_ok=False, failure="connect_refused"),
    ]
    return reportruns.write_run(tmp_path_factory.mktemp("heat"), "20261128T030000Z-heat", obs,
                                catalog)


def _heat(run: Path, catalog: Catalog, lang: str = "en") -> heatmap.Heatmap:
    data = build_report_data(run, catalog)
    return heatmap.from_matrix(data.platform_matrix, lang=lang,
                               platform_company=data.platform_company,
                               company_names=data.company_names)


def test_data_grouping_worst_and_counts(run: Path, catalog: Catalog) -> None:
    heat = _heat(run, catalog)
    # Rows: the sources, grouped by company (alibaba before tencent), then by id.
    assert [(a.group, a.key) for a in heat.rows] == [
        ("alibaba", "taobao"), ("alibaba", "tmall"), ("tencent", "qq"), ("tencent", "weixin")]
    # Columns: the targets; the outside host ("other sites") after every company.
    assert [(a.group, a.key) for a in heat.columns] == [
        ("alibaba", "taobao"), ("alibaba", "tmall"), ("tencent", "weixin"),
        ("(other)", "(other)")]
    assert [a.label for a in heat.columns] == ["Taobao", "Tmall", "WeChat", "other sites"]
    assert heat.columns[0].group_label == catalog.companies["alibaba"].name.en
    cells = {k: (v.worst, v.links, v.failed) for k, v in heat.values.items()}
    assert cells[("weixin", "taobao")][:2] == ("copy_only", 3)  # worst of direct/warned/copy
    assert cells[("weixin", "taobao")][2] >= 1  # copy_only across companies fails a rule
    assert cells[("weixin", "tmall")][:2] == ("blocked", 1)
    assert cells[("qq", "weixin")][:2] == ("direct", 1)
    assert cells[("tmall", "(other)")][:2] == ("target_down", 1)
    assert len(cells) == 6
    assert heat.groups(heat.rows) == [("alibaba", catalog.companies["alibaba"].name.en, 0, 2),
                                      ("tencent", catalog.companies["tencent"].name.en, 2, 2)]
    zh = _heat(run, catalog, "zh")
    assert [a.label for a in zh.columns][-1] == "其他网站"
    assert zh.rows[-1].label == "微信"


def test_svg_cells_fills_and_labels(run: Path, catalog: Catalog) -> None:
    heat = _heat(run, catalog)
    svg = heatmap.svg(heat, lang="en", title="Platforms", outcome_labels=LABELS, ident="t")
    root = lxml.etree.fromstring(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "t-title t-desc"
    assert root.find(f"{SVG}title").text == "Platforms"
    assert "grouped by company" in root.find(f"{SVG}desc").text
    cells = root.findall(f".//{SVG}g[@class='cell']")
    assert len(cells) == len(heat.values)
    found = {}
    for g in cells:
        title = g.find(f"{SVG}title").text
        fill = g.find(f"{SVG}rect").get("fill")
        count = g.find(f"{SVG}text").text
        found[title.split(":")[0]] = (g.get("data-outcome"), fill, count)
    assert found["WeChat → Taobao"] == ("copy_only", COLOURS["copy_only"], "3")
    assert found["Tmall → other sites"] == ("target_down", COLOURS["target_down"], "1")
    for outcome, fill, _count in found.values():
        assert fill == COLOURS[outcome]
    # Company bands: both companies labelled (rows and columns), a line between them.
    groups = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "group"]
    assert groups.count(catalog.companies["tencent"].name.en) == 2
    assert len(root.findall(f"{SVG}line")) == 1 + 2  # one between row groups, two columns
    legend = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "legend"]
    # The outcomes that are some cell's worst, in the documented order (audit.judge.outcomes).
    assert legend == ["Legend:", "direct", "wrapped", "copy only", "stripped", "blocked",
                      "target down", "not measured"]


def _no_overlap(boxes: list[heatmap.Box]) -> None:
    for a, b in itertools.combinations(boxes, 2):
        assert not a.intersects(b), (a, b)


def test_no_labels_overlap_with_long_names_and_many_groups() -> None:
    names = {f"p{i}": ("平台名称非常非常长的一个平台" if i % 3 == 0 else f"Platform {i}")
             for i in range(24)}
    company = {f"p{i}": f"c{i // 5}" for i in range(24)}
    group_names = {f"c{i}": ("一家名字很长很长的互联网公司" if i % 2 else f"C{i}") for i in range(5)}
    outcomes = [o.value for o in Outcome]
    cells = {(f"p{i}", f"p{j}"): (outcomes[(i + j) % len(outcomes)], i * j + 1, 0)
             for i in range(24) for j in range(24) if (i + 2 * j) % 3}
    heat = heatmap.from_cells(cells, label=names.__getitem__, group=company.__getitem__,
                              group_label=group_names.__getitem__)
    lay = heatmap.layout(heat, lang="zh", outcome_labels=LABELS)
    kinds = {b.kind for b in lay.labels}
    assert {"row", "column", "row-group", "column-group", "legend"} <= kinds
    _no_overlap(lay.labels)
    # Every label is inside the picture, and none runs into the grid.
    for b in lay.labels:
        assert b.x >= 0 and b.y >= 0 and b.x + b.w <= lay.width and b.y + b.h <= lay.height, b
        if b.kind in ("row", "row-group"):
            assert b.x + b.w <= lay.x0
        if b.kind in ("column", "column-group"):
            assert b.y + b.h <= lay.y0
    # A cut label keeps its full name as a tooltip.
    svg = heatmap.svg(heat, lang="zh", title="t", outcome_labels=LABELS)
    root = lxml.etree.fromstring(svg)
    cut = [t for t in root.iter(f"{SVG}text") if t.text and t.text.endswith("…")]
    assert cut and all(t.find(f"{SVG}title") is not None for t in cut)


def test_hostile_names_are_escaped() -> None:
    evil = '<script>alert(1)</script>"onload="alert(2)'
    cells = {(evil, "b&c"): ("blocked", 2, 1), ("b&c", evil): ("direct", 1, 0)}
    heat = heatmap.from_cells(
        cells, label=lambda k: k, group=lambda k: "g" + k, group_label=lambda g: g + "]]>",
        href=lambda k: "javascript:alert(3)" if k == evil else "platform/b.html",
        cell_href=lambda r, c: "//evil.example/x")
    svg = heatmap.svg(heat, lang="en", title=evil, outcome_labels=LABELS)
    root = lxml.etree.fromstring(svg)  # well-formed
    assert not [e for e in root.iter() if isinstance(e.tag, str) and e.tag.endswith("script")]
    assert not [(e.tag, a) for e in root.iter() for a in e.attrib if a.lower().startswith("on")]
    hrefs = [a.get("href") for a in root.iter(f"{SVG}a")]
    assert hrefs == ["platform/b.html", "platform/b.html"]  # no javascript:, no other host
    assert evil in "".join(root.itertext())
    assert "<script>" not in svg
    nbh = nodelink.neighbourhood_svg(heat, evil, lang="en", outcome_labels=LABELS)
    assert nbh is not None and "<script>" not in nbh
    tree = lxml.etree.fromstring(nbh)
    assert not [(e.tag, a) for e in tree.iter() for a in e.attrib if a.lower().startswith("on")]


def test_neighbourhood_and_company_pair(run: Path, catalog: Catalog) -> None:
    heat = _heat(run, catalog)
    drawn = nodelink.neighbourhood(heat, "weixin", lang="en", outcome_labels=LABELS)
    assert drawn is not None
    svg, lay = drawn
    root = lxml.etree.fromstring(svg)
    badges = root.findall(f"{SVG}g[@class='badge']")
    # In: qq and taobao link to weixin; out: weixin links to taobao and tmall.
    assert len(badges) == 4
    tips = {g.find(f"{SVG}title").text.split(":")[0]: g.find(f"{SVG}rect").get("fill")
            for g in badges}
    assert tips == {"QQ → WeChat": COLOURS["direct"], "Taobao → WeChat": COLOURS["stripped"],
                    "WeChat → Taobao": COLOURS["copy_only"],
                    "WeChat → Tmall": COLOURS["blocked"]}
    assert len(root.findall(f".//{SVG}path")) == 4
    _no_overlap(lay.labels)
    assert nodelink.neighbourhood(heat, "nobody", lang="en", outcome_labels=LABELS) is None
    pair = nodelink.company_pair(heat, "tencent", "alibaba", lang="zh", outcome_labels=LABELS)
    assert pair is not None
    svg, lay = pair
    root = lxml.etree.fromstring(svg)
    # tencent → alibaba: weixin→taobao, weixin→tmall, qq→taobao; alibaba → tencent:
    # taobao→weixin. (tmall → other sites is no pair link.)
    assert len(root.findall(f"{SVG}g[@class='badge']")) == 4
    _no_overlap(lay.labels)
    assert nodelink.company_pair(heat, "tencent", "(other)", lang="zh",
                                 outcome_labels=LABELS) is None


def test_many_links_drawing_has_no_overlap() -> None:
    n = 30
    cells = {(f"s{i}", f"t{j}"): ("warned", i + j, 0) for i in range(n) for j in range(n)
             if (i * j) % 4 == 1}
    cells.update({("hub", f"t{j}"): ("direct", 1, 0) for j in range(n)})
    cells.update({(f"s{i}", "hub"): ("blocked", 1, 1) for i in range(n)})
    group = {**{f"s{i}": "A" for i in range(n)}, **{f"t{j}": "B" for j in range(n)},
             "hub": "A"}
    heat = heatmap.from_cells(cells, label=lambda k: k * 8, group=group.__getitem__)
    for drawn in (nodelink.neighbourhood(heat, "hub", lang="en", outcome_labels=LABELS),
                  nodelink.company_pair(heat, "A", "B", lang="en", outcome_labels=LABELS)):
        assert drawn is not None
        _no_overlap(drawn[1].labels)


def test_report_shows_the_heatmaps(run: Path, catalog: Catalog) -> None:
    data = build_report_data(run, catalog)
    for mode in ("html", "pdf"):
        page = render_html(data, lang="zh", mode=mode)
        doc = lxml.etree.fromstring(page.encode(), lxml.etree.HTMLParser())
        svgs = doc.xpath("//figure[@class='heatmap']/svg")
        assert len(svgs) == 2
        assert len(svgs[0].xpath(".//g[@class='cell']")) == len(data.platform_matrix.cells)
        assert len(svgs[1].xpath(".//g[@class='cell']")) == len(data.company_matrix.cells)
        drawings = doc.xpath("//section[@id='neighbourhoods']//figure[@class='nodelink']")
        assert len(drawings) == len(data.sources)
        # The old whole-graph figure is gone.
        assert not doc.xpath("//section[@id='graph']") and "<img" not in page
        # The table stays in the HTML (folded), as the numbers behind the picture.
        assert bool(doc.xpath("//table[@class='matrix']")) == (mode == "html")
    plain = render_html(data, lang="en", figures=False)
    assert "<svg" not in plain and 'class="matrix"' in plain


def test_site_uses_the_same_heatmap() -> None:
    # audit/site/charts.py adapts the site's tables to audit/report/heatmap.py: its cells,
    # bands and links are the report's, with the page's relative links.
    from audit.site import charts

    rows = [("weixin", "微信", "platform/weixin.html"), ("taobao", "淘宝", None)]
    columns = [("taobao", "淘宝", None), ("weixin", "微信", "platform/weixin.html")]
    values = {("weixin", "taobao"): ("blocked", 4, "company/tencent.html#to-alibaba", "微信 → 淘宝"),
              ("taobao", "weixin"): ("direct", 1, "javascript:alert(1)", "淘宝 → 微信")}
    company = {"weixin": ("tencent", "腾讯"), "taobao": ("alibaba", "阿里巴巴")}
    h = charts.heatmap(rows, columns, values, zh=True, group=company.__getitem__)
    assert isinstance(h.data, heatmap.Heatmap) and h.data.grouped
    svg = h.svg(lambda href: "../" + href, "矩阵", {"blocked": "被拦截", "direct": "直接打开"})
    root = lxml.etree.fromstring(str(svg))
    cells = root.findall(f".//{SVG}g[@class='cell']")
    assert sorted(g.find(f"{SVG}rect").get("fill") for g in cells) == sorted(
        [COLOURS["blocked"], COLOURS["direct"]])
    assert sorted(a.get("href") for a in root.iter(f"{SVG}a")) == [
        "../company/tencent.html#to-alibaba", "../platform/weixin.html",
        "../platform/weixin.html"]
    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "group"].count(
        "腾讯") == 2
    assert "图例：" in "".join(root.itertext())
    assert h.neighbourhood("weixin", lambda x: x, {}) is not None
    assert h.company_pair("tencent", "alibaba", lambda x: x, {}) is not None
