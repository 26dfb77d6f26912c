"""The source × target heatmap of a run: the one picture of "who lets whom through", drawn
for the HTML/PDF reports (audit/report/render.py) and the static site (audit/site/charts.py
adapts its tables to it). Pure functions: data in, an SVG string out.

Why a heatmap, not a node-link graph: a run of 15 platforms has ~200 edges, and a drawing
of every edge at once is a tangle nobody can read (issue 18, item 4). A matrix shows every
pair at the same size, groups platforms by company on both axes, and never overlaps.
Node-link drawings remain for small selections (audit/report/nodelink.py).

The figure: rows are sources, columns targets, both grouped by company (a band per company
labelled beside the rows and above the columns, a line between companies); a cell's colour
is the worst outcome of its links (colours, ink and the order of outcomes from
audit/judge/outcomes.py only), its number the count of links; a legend of the outcomes that
occur; a <title> and <desc> for screen readers, and a <title> per cell (its pair, outcome
and counts: a tooltip in a browser).

The SVG is built with ElementTree, which escapes every name (a platform or host name is
text from a policy file or an audited URL); it uses presentation attributes, not style
attributes, so the report's Content-Security-Policy (no inline styles) holds; hrefs are
taken only when relative (no scheme), so a cell can never link off the page's site.
Label sizes are estimated (CJK characters one em, others 0.62 em, generous for Noto Sans)
and labels are cut with "…" to the room they have: no label can run into another
(tests/test_heatmap.py checks every box).
"""

from __future__ import annotations

import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlsplit

from audit.judge.outcomes import NEUTRAL_COLOUR, ORDER, TABLE
from audit.model import Text as BiText
from audit.report.data import Matrix

SVG_NS = "http://www.w3.org/2000/svg"
FONT = "Noto Sans CJK SC, Noto Sans SC, Source Han Sans SC, sans-serif"
CELL = 28  # px, a cell's pitch
LABEL_SIZE = 11  # px, axis labels
COUNT_SIZE = 9  # px, the count in a cell
GROUP_SIZE = 11  # px, company labels
LABEL_CAP = 150  # px, the longest axis label before it is cut
GROUP_CAP = 110  # px, the longest company label before it is cut
PAD = 6
EMPTY_FILL = "#f4f4f4"  # a pair with no link measured
BAND_FILLS = ("#ececec", "#f8f8f8")  # alternate company bands
SEPARATOR = "#555555"
UNGROUPED = ""
OTHER = "(other)"  # a report's target that is no catalog platform (audit/report/data.py)
UNKNOWN = "(unknown)"  # the group of a platform of no known company

COLOURS = {o.value: f.colour for o, f in TABLE.items()}
INKS = {o.value: f.ink for o, f in TABLE.items()}

# The picture's own words; outcome labels are passed in (the report's come from its message
# catalog, the site's from audit/site/texts.py: one wording per product surface).
TEXTS: dict[str, tuple[str, str]] = {
    "legend": ("图例", "Legend"),
    "empty": ("未测量", "not measured"),
    "links": ("条链接", "links"),
    "failed": ("条未通过规则", "failing a rule"),
    "desc": ("行：来源{rows}；列：目标{cols}。格子颜色为该对链接中最差的结果，数字为链接数。"
             "共 {n} 对有测量。",
             "Rows: source {rows}; columns: target {cols}. A cell's colour is the worst outcome "
             "of the links of that pair, its number the count of links. {n} pairs measured."),
    "platforms_grouped": ("平台（按公司分组）", "platforms, grouped by company"),
    "platforms": ("平台", "platforms"),
    "companies": ("公司", "companies"),
    "other": ("其他网站", "other sites"),
    "unknown": ("未知公司", "unknown company"),
}


def bilingual(table: Mapping[str, tuple[str, str]], key: str, lang: str) -> str:
    """One (zh, en) entry of a picture's text table, in the reader's language."""
    zh, en = table[key]
    return zh if lang == "zh" else en


def text(key: str, lang: str) -> str:
    return bilingual(TEXTS, key, lang)


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Axis:
    """One row or column: its key, label, company (group) and an optional relative link."""

    key: str
    label: str
    group: str = UNGROUPED
    group_label: str = ""
    href: str | None = None


@dataclass(frozen=True, slots=True)
class Value:
    """One cell: the worst outcome (an audit.model.Outcome value; None or an unknown value
    is drawn neutral), the count of links and of those failing a rule."""

    worst: str | None
    links: int
    failed: int = 0
    href: str | None = None
    title: str | None = None  # default: "<row> → <column>: <outcome>, n links"


@dataclass(frozen=True)
class Heatmap:
    rows: tuple[Axis, ...]
    columns: tuple[Axis, ...]
    values: Mapping[tuple[str, str], Value]
    grouped: bool = True  # bands per company; False for a company × company matrix

    @cached_property
    def keys_by_end(self) -> tuple[dict[str, list[tuple[str, str]]],
                                   dict[str, list[tuple[str, str]]]]:
        """The cells' keys by row and by column, each in `values`' order: a drawing of one
        platform's links (audit/report/nodelink.py) reads its own cells, not every cell of
        a matrix of hundreds of thousands once per platform drawn."""
        by_row: dict[str, list[tuple[str, str]]] = {}
        by_column: dict[str, list[tuple[str, str]]] = {}
        for key in self.values:
            by_row.setdefault(key[0], []).append(key)
            by_column.setdefault(key[1], []).append(key)
        return by_row, by_column

    def groups(self, axis: Sequence[Axis]) -> list[tuple[str, str, int, int]]:
        """(group, label, first index, count) of consecutive runs of one group."""
        return _runs(axis)


def order(keys: Iterable[str], group: Callable[[str], str]) -> list[str]:
    """Keys grouped: by group, then key; groups that are no company (keys in parentheses,
    like "(other)", or "-", "") after every company."""
    return sorted(set(keys), key=lambda k: (_outside(group(k)), group(k), _outside(k), k))


def _outside(key: str) -> bool:
    return key in ("", "-") or key.startswith("(")


def axes(keys: Iterable[str], *, label: Callable[[str], str],
         group: Callable[[str], str] | None = None,
         group_label: Callable[[str], str] | None = None,
         href: Callable[[str], str | None] | None = None) -> tuple[Axis, ...]:
    """The axis of `keys`, grouped (and ordered) by `group` when given."""
    by = group or (lambda _k: UNGROUPED)
    gl = group_label or (lambda g: g)
    return tuple(Axis(k, label(k), by(k), gl(by(k)) if group else "", href(k) if href else None)
                 for k in order(keys, by))


def from_cells(cells: Mapping[tuple[str, str], tuple[str | None, int, int]], *,
               label: Callable[[str], str], group: Callable[[str], str] | None = None,
               group_label: Callable[[str], str] | None = None,
               href: Callable[[str], str | None] | None = None,
               cell_href: Callable[[str, str], str | None] | None = None,
               rows: Iterable[str] | None = None,
               columns: Iterable[str] | None = None) -> Heatmap:
    """A heatmap of (row, column) -> (worst outcome, links, failed): rows are the keys that
    occur as sources, columns as targets, unless `rows` and `columns` name them (a row
    may then have no cell: it is drawn empty)."""
    row_axis = axes({r for r, _ in cells} if rows is None else rows, label=label, group=group,
                    group_label=group_label, href=href)
    column_axis = axes({c for _, c in cells} if columns is None else columns, label=label,
                       group=group, group_label=group_label, href=href)
    values = {key: Value(w, n, f, cell_href(*key) if cell_href else None)
              for key, (w, n, f) in cells.items()}
    return Heatmap(row_axis, column_axis, values, grouped=group is not None)


def from_matrix(matrix: Matrix, *, lang: str, platform_company: Mapping[str, str] | None = None,
                company_names: Mapping[str, BiText] | None = None) -> Heatmap:
    """The heatmap of a report's matrix (audit/report/data.py): platforms grouped by company
    when `platform_company` is given, otherwise the company × company level (ungrouped).
    Its rows and columns are the matrix's (a part of a matrix, audit/report/shown.py, may
    have a row with no cell among its columns)."""
    zh = lang == "zh"

    def name(names: Mapping[str, BiText], key: str) -> str:
        if key == OTHER:
            return text("other", lang)
        found = names.get(key)
        return (found.zh if zh else found.en) if found else key

    def company(key: str) -> str:
        if key == OTHER:
            return OTHER
        return (platform_company or {}).get(key) or UNKNOWN

    def company_label(key: str) -> str:
        if key == UNKNOWN:
            return text("unknown", lang)
        return name(company_names or {}, key)

    cells = {key: (cell.worst, cell.links, cell.failed) for key, cell in matrix.cells.items()}
    return from_cells(cells, label=lambda k: name(matrix.names, k),
                      group=company if platform_company is not None else None,
                      group_label=company_label, rows=matrix.rows, columns=matrix.columns)


def _runs(axis: Sequence[Axis]) -> list[tuple[str, str, int, int]]:
    out: list[tuple[str, str, int, int]] = []
    for i, a in enumerate(axis):
        if out and out[-1][0] == a.group:
            g, gl, first, n = out[-1]
            out[-1] = (g, gl, first, n + 1)
        else:
            out.append((a.group, a.group_label or a.group, i, 1))
    return out


# ---------------------------------------------------------------------------------------
# Text measure
# ---------------------------------------------------------------------------------------


def text_width(value: str, size: float) -> float:
    """An upper estimate of the drawn width: wide (CJK) characters one em, others 0.62 em."""
    return sum(size if unicodedata.east_asian_width(ch) in "WF" else 0.62 * size
               for ch in value)


def fit(value: str, size: float, room: float) -> str:
    """`value`, cut with "…" to fit `room` px (empty when not even "…" fits)."""
    if text_width(value, size) <= room:
        return value
    ellipsis = text_width("…", size)
    out = ""
    for ch in value:
        if text_width(out + ch, size) + ellipsis > room:
            break
        out += ch
    return out + "…" if ellipsis <= room else ""


def compact(n: int) -> str:
    """A count short enough for a cell: 12345 -> 12k, 2500000 -> 2.5M."""
    if n < 10_000:
        return str(n)
    if n < 1_000_000:
        return f"{n // 1000}k"
    return f"{n / 1_000_000:.1f}M"


# ---------------------------------------------------------------------------------------
# Geometry (pure, tested) and SVG
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Box:
    """A drawn text's or swatch's box: x, y of its top-left corner, width, height."""

    x: float
    y: float
    w: float
    h: float
    kind: str
    text: str = ""

    def intersects(self, other: Box) -> bool:
        return (self.x < other.x + other.w and other.x < self.x + self.w
                and self.y < other.y + other.h and other.y < self.y + self.h)


@dataclass
class Layout:
    width: float
    height: float
    x0: float  # the grid's top-left corner
    y0: float
    labels: list[Box] = field(default_factory=list)  # every text or swatch drawn


def svg(heat: Heatmap, *, lang: str, title: str, outcome_labels: Mapping[str, str],
        ident: str = "heatmap", link: Callable[[str], str] | None = None,
        row_noun: str | None = None, column_noun: str | None = None) -> str:
    """The heatmap as an SVG element (a string to place inline in an HTML page).

    outcome_labels: outcome value -> short label in `lang`; ident: a prefix for the ids of
    its <title>/<desc> (unique per page); link: maps a relative href to the page's URL."""
    root, _layout = _draw(heat, lang=lang, title=title, outcome_labels=outcome_labels,
                          ident=ident, link=link, row_noun=row_noun, column_noun=column_noun)
    return ET.tostring(root, encoding="unicode", short_empty_elements=True)


def layout(heat: Heatmap, *, lang: str, outcome_labels: Mapping[str, str]) -> Layout:
    """Where every label goes (tests check that no two intersect)."""
    return _draw(heat, lang=lang, title="", outcome_labels=outcome_labels, ident="h",
                 link=None, row_noun=None, column_noun=None)[1]


def _safe(href: str | None, link: Callable[[str], str] | None) -> str | None:
    """A relative href, mapped by `link`; anything with a scheme (javascript:, http:) or a
    network location is dropped."""
    if not href:
        return None
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or any(ord(ch) < 0x21 for ch in href):
        return None
    return link(href) if link else href


def _draw(heat: Heatmap, *, lang: str, title: str, outcome_labels: Mapping[str, str],
          ident: str, link: Callable[[str], str] | None, row_noun: str | None,
          column_noun: str | None) -> tuple[ET.Element, Layout]:
    rows, cols = heat.rows, heat.columns
    grouped = heat.grouped
    row_groups, col_groups = _runs(rows), _runs(cols)
    # Room for labels: as long as the longest, up to the cap (longer ones are cut).
    label_w = min(LABEL_CAP, max([text_width(a.label, LABEL_SIZE) for a in (*rows, *cols)]
                                 or [0]))
    group_w = min(GROUP_CAP, max([text_width(g[1], GROUP_SIZE) for g in (*row_groups,
                                                                         *col_groups)] or [0]))
    row_band = (group_w + 2 * PAD) if grouped else 0.0
    x0 = row_band + label_w + 2 * PAD
    # Column company labels: across their columns when they fit, else turned upright.
    col_upright = grouped and any(text_width(g[1], GROUP_SIZE) > g[3] * CELL - 4
                                  for g in col_groups)
    col_band = 0.0
    if grouped:
        col_band = (group_w if col_upright else GROUP_SIZE) + 2 * PAD
    y_col_labels = col_band + PAD  # column labels are drawn upright, bottom at y0 - PAD
    y0 = y_col_labels + label_w + PAD
    grid_w, grid_h = len(cols) * CELL, len(rows) * CELL
    has_empty = len(heat.values) < len(rows) * len(cols)
    lay = Layout(width=0, height=0, x0=x0, y0=y0)

    # With links in it the figure is a group (an img role hides its links from assistive
    # technology: axe-core, nested-interactive).
    root = ET.Element("svg", {"xmlns": SVG_NS, "role": "group" if link else "img",
                              "aria-labelledby": f"{ident}-title {ident}-desc",
                              "font-family": FONT, "class": "heatmap"})
    ET.SubElement(root, "title", {"id": f"{ident}-title"}).text = title
    nouns = (row_noun or text("platforms_grouped" if grouped else "companies", lang),
             column_noun or text("platforms_grouped" if grouped else "companies", lang))
    sep = "" if lang == "zh" else " "
    ET.SubElement(root, "desc", {"id": f"{ident}-desc"}).text = text("desc", lang).format(
        rows=sep + nouns[0], cols=sep + nouns[1], n=len(heat.values))

    # Company bands and their labels.
    if grouped:
        for i, (_g, glabel, first, n) in enumerate(row_groups):
            y = y0 + first * CELL
            ET.SubElement(root, "rect", num(x=0, y=y, width=row_band, height=n * CELL,
                                             fill=BAND_FILLS[i % 2]))
            shown = fit(glabel, GROUP_SIZE, group_w)
            ty = y + min(n * CELL, CELL) / 2 + GROUP_SIZE * 0.35
            write_text(root, shown, glabel, x=PAD, y=ty, size=GROUP_SIZE, cls="group",
                  weight="bold")
            lay.labels.append(Box(PAD, ty - GROUP_SIZE * 0.85, text_width(shown, GROUP_SIZE),
                                  GROUP_SIZE * 1.1, "row-group", shown))
        for i, (_g, glabel, first, n) in enumerate(col_groups):
            x = x0 + first * CELL
            ET.SubElement(root, "rect", num(x=x, y=0, width=n * CELL, height=col_band,
                                             fill=BAND_FILLS[i % 2]))
            if col_upright:
                shown = fit(glabel, GROUP_SIZE, group_w)
                tx, ty = x + min(n * CELL, CELL) / 2 + GROUP_SIZE * 0.35, col_band - PAD
                write_text(root, shown, glabel, x=0, y=0, size=GROUP_SIZE, cls="group",
                      weight="bold", transform=f"translate({fmt(tx)},{fmt(ty)}) rotate(-90)")
                w = text_width(shown, GROUP_SIZE)
                lay.labels.append(Box(tx - GROUP_SIZE * 0.85, ty - w, GROUP_SIZE * 1.1, w,
                                      "column-group", shown))
            else:
                shown = fit(glabel, GROUP_SIZE, n * CELL - 4)
                tx, ty = x + n * CELL / 2, PAD + GROUP_SIZE * 0.85
                write_text(root, shown, glabel, x=tx, y=ty, size=GROUP_SIZE, cls="group",
                      weight="bold", anchor="middle")
                w = text_width(shown, GROUP_SIZE)
                lay.labels.append(Box(tx - w / 2, PAD, w, GROUP_SIZE * 1.1, "column-group",
                                      shown))

    # Axis labels (rows: right-aligned before the grid; columns: upright above it).
    for i, a in enumerate(rows):
        shown = fit(a.label, LABEL_SIZE, label_w)
        ty = y0 + i * CELL + CELL / 2 + LABEL_SIZE * 0.35
        parent = anchor(root, a.href, link)
        write_text(parent, shown, a.label, x=x0 - PAD, y=ty, size=LABEL_SIZE, cls="axis",
              anchor="end")
        w = text_width(shown, LABEL_SIZE)
        lay.labels.append(Box(x0 - PAD - w, ty - LABEL_SIZE * 0.85, w, LABEL_SIZE * 1.1,
                              "row", shown))
    for j, a in enumerate(cols):
        shown = fit(a.label, LABEL_SIZE, label_w)
        tx, ty = x0 + j * CELL + CELL / 2 + LABEL_SIZE * 0.35, y0 - PAD
        parent = anchor(root, a.href, link)
        write_text(parent, shown, a.label, x=0, y=0, size=LABEL_SIZE, cls="axis",
              transform=f"translate({fmt(tx)},{fmt(ty)}) rotate(-90)")
        w = text_width(shown, LABEL_SIZE)
        lay.labels.append(Box(tx - LABEL_SIZE * 0.85, ty - w, LABEL_SIZE * 1.1, w, "column",
                              shown))

    # The grid: not-measured background, then one cell per measured pair.
    ET.SubElement(root, "rect", num(x=x0, y=y0, width=grid_w, height=grid_h,
                                     fill=EMPTY_FILL, **{"class": "grid"}))
    row_index = {a.key: i for i, a in enumerate(rows)}
    col_index = {a.key: j for j, a in enumerate(cols)}
    names = {a.key: a.label for a in (*cols, *rows)}
    n_links, n_failed = text("links", lang), text("failed", lang)
    for (r, c), v in heat.values.items():
        if r not in row_index or c not in col_index:
            continue
        x, y = x0 + col_index[c] * CELL, y0 + row_index[r] * CELL
        worst = v.worst or ""
        label = outcome_labels.get(worst, worst or "–")
        tip = v.title or (f"{names[r]} → {names[c]}: {label}, {v.links} {n_links}"
                          + (f", {v.failed} {n_failed}" if v.failed else ""))
        parent = anchor(root, v.href, link)
        g = ET.SubElement(parent, "g", {"class": "cell", "data-outcome": worst})
        ET.SubElement(g, "title").text = tip
        ET.SubElement(g, "rect", num(x=x + 1, y=y + 1, width=CELL - 2, height=CELL - 2,
                                      rx=2, fill=COLOURS.get(worst, NEUTRAL_COLOUR)))
        count = ET.SubElement(g, "text", num(x=x + CELL / 2, y=y + CELL / 2 + COUNT_SIZE * 0.35,
                                              **{"text-anchor": "middle",
                                                 "font-size": COUNT_SIZE,
                                                 "fill": INKS.get(worst, "#fff"),
                                                 "class": "count"}))
        count.text = compact(v.links)
    # Lines between companies, across the whole grid.
    if grouped:
        for _g, _gl, first, _n in row_groups[1:]:
            y = y0 + first * CELL
            ET.SubElement(root, "line", num(x1=0, y1=y, x2=x0 + grid_w, y2=y,
                                             stroke=SEPARATOR, **{"stroke-width": 1.2}))
        for _g, _gl, first, _n in col_groups[1:]:
            x = x0 + first * CELL
            ET.SubElement(root, "line", num(x1=x, y1=0, x2=x, y2=y0 + grid_h,
                                             stroke=SEPARATOR, **{"stroke-width": 1.2}))

    # The legend, flowing in lines under the grid.
    width = max(x0 + grid_w + PAD, 420.0)
    entries = outcome_entries((v.worst for v in heat.values.values()), outcome_labels)
    if has_empty:
        entries.append((EMPTY_FILL, text("empty", lang)))
    y = legend(root, lay, entries, y=y0 + grid_h + 2 * PAD, width=width, lang=lang)
    size(root, lay, width, y + PAD)
    return root, lay


def size(root: ET.Element, lay: Layout, width: float, height: float) -> None:
    lay.width, lay.height = width, height
    root.set("width", fmt(width))
    root.set("height", fmt(height))
    root.set("viewBox", f"0 0 {fmt(width)} {fmt(height)}")


def outcome_entries(outcomes: Iterable[str | None],
                    outcome_labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """(colour, label) of the outcomes that occur, in the documented order."""
    present = sorted({o or "" for o in outcomes}, key=_legend_position)
    return [(COLOURS.get(o, NEUTRAL_COLOUR), outcome_labels.get(o, o or "–")) for o in present]


def legend(root: ET.Element, lay: Layout, entries: Sequence[tuple[str, str]], *, y: float,
           width: float, lang: str) -> float:
    """Swatches and labels from (PAD, y), wrapped at `width`; returns the bottom."""
    head = text("legend", lang) + ("：" if lang == "zh" else ":")
    write_text(root, head, head, x=PAD, y=y + LABEL_SIZE, size=LABEL_SIZE, cls="legend",
          weight="bold")
    hw = text_width(head, LABEL_SIZE)
    lay.labels.append(Box(PAD, y, hw, LABEL_SIZE * 1.3, "legend", head))
    x = PAD + hw + PAD
    group = ET.SubElement(root, "g", {"class": "legend"})
    for fill, label in entries:
        shown = fit(label, LABEL_SIZE, width - 2 * PAD - 16)
        w = 12 + 4 + text_width(shown, LABEL_SIZE)
        if x + w > width - PAD:
            x, y = PAD, y + LABEL_SIZE * 1.3 + 4
        ET.SubElement(group, "rect", num(x=x, y=y + 1, width=12, height=12, rx=2, fill=fill,
                                          stroke="#999", **{"stroke-width": 0.5}))
        write_text(group, shown, label, x=x + 16, y=y + LABEL_SIZE, size=LABEL_SIZE, cls="legend")
        lay.labels.append(Box(x, y, w, LABEL_SIZE * 1.3, "legend", shown))
        x += w + 2 * PAD
    return y + LABEL_SIZE * 1.3


def _legend_position(outcome: str) -> int:
    values = [o.value for o in ORDER]
    return values.index(outcome) if outcome in values else len(values)


def anchor(parent: ET.Element, href: str | None,
            link: Callable[[str], str] | None) -> ET.Element:
    target = _safe(href, link)
    return ET.SubElement(parent, "a", {"href": target}) if target else parent


def write_text(parent: ET.Element, shown: str, full: str, *, x: float, y: float, size: float,
          cls: str, anchor: str | None = None, weight: str | None = None,
          transform: str | None = None) -> ET.Element:
    attrs = num(x=x, y=y, **{"font-size": size, "class": cls})
    if anchor:
        attrs["text-anchor"] = anchor
    if weight:
        attrs["font-weight"] = weight
    if transform:
        attrs["transform"] = transform
    node = ET.SubElement(parent, "text", attrs)
    node.text = shown
    if shown != full:  # cut: the whole name as its tooltip
        ET.SubElement(node, "title").text = full
    return node


def fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def num(**attrs: object) -> dict[str, str]:
    return {k: fmt(v) if isinstance(v, (int, float)) else str(v) for k, v in attrs.items()}
