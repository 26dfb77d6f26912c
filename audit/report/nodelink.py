"""Node-link drawings of small selections of a run: one platform's neighbourhood (the
platforms linking to it, the platforms it links to) and one company pair (its platforms'
links both ways). The whole graph is the heatmap's job (audit/report/heatmap.py); these
drawings stay small enough to read.

A layout of our own, in columns, so that no label can overlap another by construction
(tests/test_heatmap.py checks every box): nodes are boxes stacked in a column, edges run
only from one column to the next, and each edge ends on its own badge — the count of its
links, filled with the colour of their worst outcome — in a slot of the target's box (a box
is as tall as its incoming edges need). Lines may cross; labels never do. Graphviz's `dot`
places edge labels well too, but its SVG puts every glyph where *its* font metrics say, in a
subprocess, and cannot be checked without parsing its output; this layout is pure and has
no dependency.

For the site: `neighbourhood_svg(heat, platform, ...)` and `company_pair_svg(heat, a, b, ...)`
take the platform-level heatmap data the site already builds (audit/site/charts.py).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from audit.judge.outcomes import NEUTRAL_COLOUR
from audit.report import shown
from audit.report.heatmap import (
    COLOURS,
    FONT,
    INKS,
    LABEL_SIZE,
    PAD,
    SVG_NS,
    Axis,
    Box,
    Heatmap,
    Layout,
    anchor,
    bilingual,
    compact,
    fit,
    legend,
    num,
    outcome_entries,
    size,
    text_width,
    write_text,
)

NODE_W = 140
GAP = 130  # px between two columns: the lines and the badges
SLOT = 26  # px per incoming edge of a box
BADGE_W = 38
BADGE_H = 18
HEAD = 24  # px for the column headings

TEXTS: dict[str, tuple[str, str]] = {
    "in": ("链接到它的平台", "platforms linking to it"),
    "out": ("它链接到的平台", "platforms it links to"),
    # A drawing limited to some of its platforms (neighbourhood's `limit`): how many of how
    # many (short: a heading has ~200 px).
    "in_of": ("链接到它的平台（{k}/{n}）", "{k} of {n} linking to it"),
    "out_of": ("它链接到的平台（{k}/{n}）", "{k} of {n} it links to"),
    "links": ("条链接", "links"),
    "failed": ("条未通过规则", "failing a rule"),
    "desc_n": ("{name} 的链接：{i} 个平台链接到它，它链接到 {o} 个平台。箭头终点的数字为链接数，"
               "颜色为最差结果。",
               "Links of {name}: {i} platforms link to it, it links to {o} platforms. The "
               "number where an arrow ends is the count of links, its colour the worst outcome."),
    "desc_p": ("{a} 与 {b} 之间的链接（两个方向）。箭头终点的数字为链接数，颜色为最差结果。",
               "Links between {a} and {b}, both ways. The number where an arrow ends is the "
               "count of links, its colour the worst outcome."),
    "from": ("{a}（来源）", "{a} (source)"),
    "to": ("{a}（目标）", "{a} (target)"),
}


def _t(key: str, lang: str) -> str:
    return bilingual(TEXTS, key, lang)


@dataclass(frozen=True, slots=True)
class Link:
    source: str
    target: str
    worst: str | None
    links: int
    failed: int = 0


@dataclass(frozen=True, slots=True)
class Node:
    column: int
    key: str
    label: str
    x: float
    y: float
    h: float
    href: str | None = None


def layout(columns: Sequence[Sequence[Axis]], links: Sequence[Sequence[Link]],
           headings: Sequence[str]) -> tuple[list[Node], list[tuple[Link, Node, Node, float]],
                                             Layout]:
    """Boxes for `columns` (each a list of nodes, top to bottom) and the edges of
    `links[i]` from column i to column i+1: (link, source node, target node, slot y)."""
    nodes: list[list[Node]] = []
    placed: list[tuple[Link, Node, Node, float]] = []
    lay = Layout(width=0, height=0, x0=PAD, y0=PAD + HEAD)
    bottom = lay.y0
    for c, column in enumerate(columns):
        x = PAD + c * (NODE_W + GAP)
        incoming = links[c - 1] if c > 0 else []
        order = {n.key: i for i, n in enumerate(nodes[c - 1])} if c > 0 else {}
        y = lay.y0
        placed_column: list[Node] = []
        for axis in column:
            ports = sorted((e for e in incoming if e.target == axis.key),
                           key=lambda e: order.get(e.source, 0))
            h = max(1, len(ports)) * SLOT
            node = Node(c, axis.key, axis.label, x, y, h - 4, axis.href)
            placed_column.append(node)
            for k, link in enumerate(ports):
                source = next(n for n in nodes[c - 1] if n.key == link.source)
                placed.append((link, source, node, y + k * SLOT + (SLOT - 4) / 2))
            y += h
        nodes.append(placed_column)
        bottom = max(bottom, y)
        heading = fit(headings[c], LABEL_SIZE, NODE_W + GAP / 2) if c < len(headings) else ""
        if heading:
            lay.labels.append(Box(x, PAD, text_width(heading, LABEL_SIZE), LABEL_SIZE * 1.3,
                                  "heading", heading))
    for column_nodes in nodes:
        for n in column_nodes:
            shown = fit(n.label, LABEL_SIZE, NODE_W - 10)
            lay.labels.append(Box(n.x + 5, n.y + (n.h - LABEL_SIZE * 1.1) / 2 if n.h < SLOT
                                  else n.y + 4, text_width(shown, LABEL_SIZE),
                                  LABEL_SIZE * 1.1, "node", shown))
    for _link, _s, target, slot in placed:
        lay.labels.append(Box(target.x - BADGE_W - 3, slot - BADGE_H / 2, BADGE_W, BADGE_H,
                              "badge"))
    lay.width = PAD + len(columns) * NODE_W + (len(columns) - 1) * GAP + PAD
    lay.height = bottom + PAD
    return [n for column_nodes in nodes for n in column_nodes], placed, lay


def draw(columns: Sequence[Sequence[Axis]], links: Sequence[Sequence[Link]],
         headings: Sequence[str], *, lang: str, title: str, description: str,
         outcome_labels: Mapping[str, str], ident: str,
         link: Callable[[str], str] | None = None) -> tuple[str, Layout]:
    nodes, placed, lay = layout(columns, links, headings)
    root = ET.Element("svg", {"xmlns": SVG_NS, "role": "img",
                              "aria-labelledby": f"{ident}-title {ident}-desc",
                              "font-family": FONT, "class": "nodelink"})
    ET.SubElement(root, "title", {"id": f"{ident}-title"}).text = title
    ET.SubElement(root, "desc", {"id": f"{ident}-desc"}).text = description
    for c, heading in enumerate(headings[:len(columns)]):
        shown = fit(heading, LABEL_SIZE, NODE_W + GAP / 2)
        write_text(root, shown, heading, x=PAD + c * (NODE_W + GAP), y=PAD + LABEL_SIZE,
                   size=LABEL_SIZE, cls="heading", weight="bold")
    lines = ET.SubElement(root, "g", {"class": "edges", "fill": "none"})
    for edge, source, target, slot in placed:
        x1, y1 = source.x + NODE_W, source.y + min(source.h, SLOT - 4) / 2
        x2 = target.x - BADGE_W - 3
        bend = (x2 - x1) / 2
        colour = COLOURS.get(edge.worst or "", NEUTRAL_COLOUR)
        ET.SubElement(lines, "path", num(
            d=f"M{x1:.1f} {y1:.1f} C{x1 + bend:.1f} {y1:.1f} {x2 - bend:.1f} {slot:.1f} "
              f"{x2:.1f} {slot:.1f}", stroke=colour,
            **{"stroke-width": 2.6 if edge.failed else 1.4}))
    for node in nodes:
        parent = anchor(root, node.href, link)
        ET.SubElement(parent, "rect", num(x=node.x, y=node.y, width=NODE_W, height=node.h,
                                          rx=4, fill="#f5f5f5", stroke="#9e9e9e"))
        shown = fit(node.label, LABEL_SIZE, NODE_W - 10)
        y = node.y + node.h / 2 + LABEL_SIZE * 0.35 if node.h < SLOT else \
            node.y + 4 + LABEL_SIZE * 0.85
        write_text(parent, shown, node.label, x=node.x + 5, y=y, size=LABEL_SIZE, cls="node")
    n_links, n_failed = _t("links", lang), _t("failed", lang)
    labels = {n.key: n.label for n in nodes}
    for edge, _source, target, slot in placed:
        worst = edge.worst or ""
        g = ET.SubElement(root, "g", {"class": "badge", "data-outcome": worst})
        ET.SubElement(g, "title").text = (
            f"{labels[edge.source]} → {labels[edge.target]}: "
            f"{outcome_labels.get(worst, worst or '–')}, {edge.links} {n_links}"
            + (f", {edge.failed} {n_failed}" if edge.failed else ""))
        x = target.x - BADGE_W - 3
        ET.SubElement(g, "rect", num(x=x, y=slot - BADGE_H / 2, width=BADGE_W, height=BADGE_H,
                                     rx=3, fill=COLOURS.get(worst, NEUTRAL_COLOUR)))
        count = ET.SubElement(g, "text", num(x=x + BADGE_W / 2, y=slot + 3.5, fill=INKS.get(
            worst, "#fff"), **{"text-anchor": "middle", "font-size": 10, "class": "count"}))
        count.text = compact(edge.links)
    bottom = legend(root, lay, outcome_entries((e.worst for e, *_ in placed), outcome_labels),
                    y=lay.height + PAD, width=max(lay.width, 360.0), lang=lang)
    size(root, lay, max(lay.width, 360.0), bottom + PAD)
    return ET.tostring(root, encoding="unicode"), lay


def _axes(heat: Heatmap) -> dict[str, Axis]:
    return {a.key: a for a in (*heat.columns, *heat.rows)}


def _links(heat: Heatmap, keep: Callable[[str, str], bool]) -> list[Link]:
    return _links_at(heat, [key for key in heat.values if keep(*key)])


def _links_at(heat: Heatmap, keys: Sequence[tuple[str, str]]) -> list[Link]:
    """The links of these cells of `heat` (Heatmap.keys_by_end), in the order given."""
    return [Link(r, c, v.worst, v.links, v.failed)
            for (r, c), v in ((key, heat.values[key]) for key in keys)]


def _ordered(heat: Heatmap, keys: set[str]) -> list[Axis]:
    seen: set[str] = set()
    out = []
    for a in (*heat.rows, *heat.columns):
        if a.key in keys and a.key not in seen:
            seen.add(a.key)
            out.append(a)
    order = {a.key: i for i, a in enumerate(heat.columns)}
    return sorted(out, key=lambda a: order.get(a.key, -1))


def _most(links: list[Link], limit: int | None, key: Callable[[Link], str]) -> list[Link]:
    """The `limit` links that matter most (audit/report/shown.py: the most failing links,
    then the most links, then by the other end's key), in the order given."""
    if limit is None:
        return links
    return shown.top(links, limit, key=key, failed=lambda e: e.failed, links=lambda e: e.links)


def neighbourhood(heat: Heatmap, platform: str, *, lang: str, outcome_labels: Mapping[str, str],
                  ident: str = "nbh", link: Callable[[str], str] | None = None,
                  limit: int | None = None) -> tuple[str, Layout] | None:
    """`platform`'s in- and out-edges as three columns: who links to it, it, whom it links
    to. None when the platform has no edge in `heat`. limit: at most this many platforms in
    each outer column (the ones that matter most, audit/report/shown.py; its heading then
    says how many of how many): a drawing of a platform linked with hundreds stays small."""
    by_row, by_column = heat.keys_by_end
    all_ins = _links_at(heat, by_column.get(platform, ()))
    all_outs = _links_at(heat, by_row.get(platform, ()))
    if not all_ins and not all_outs:
        return None
    ins = _most(all_ins, limit, key=lambda e: e.source)
    outs = _most(all_outs, limit, key=lambda e: e.target)
    axes = _axes(heat)
    focus = axes.get(platform, Axis(platform, platform))
    columns: list[list[Axis]] = []
    links: list[list[Link]] = []
    headings: list[str] = []
    if ins:
        columns.append(_ordered(heat, {e.source for e in ins}))
        links.append(ins)
        headings.append(_t("in", lang) if len(ins) == len(all_ins) else
                        _t("in_of", lang).format(k=len(ins), n=len(all_ins)))
    columns.append([focus])
    headings.append(focus.label)
    if outs:
        columns.append(_ordered(heat, {e.target for e in outs}))
        links.append(outs)
        headings.append(_t("out", lang) if len(outs) == len(all_outs) else
                        _t("out_of", lang).format(k=len(outs), n=len(all_outs)))
    sources = {e.source for e in all_ins}
    return draw(columns, links, headings, lang=lang, title=focus.label,
                description=_t("desc_n", lang).format(name=focus.label, i=len(sources),
                                                      o=len({e.target for e in all_outs})),
                outcome_labels=outcome_labels, ident=ident, link=link)


def neighbourhood_svg(heat: Heatmap, platform: str, *, lang: str,
                      outcome_labels: Mapping[str, str], ident: str = "nbh",
                      link: Callable[[str], str] | None = None,
                      limit: int | None = None) -> str | None:
    """neighbourhood() as an SVG string (None: the platform has no edge)."""
    drawn = neighbourhood(heat, platform, lang=lang, outcome_labels=outcome_labels,
                          ident=ident, link=link, limit=limit)
    return drawn[0] if drawn else None


def company_pair(heat: Heatmap, a: str, b: str, *, lang: str, outcome_labels: Mapping[str, str],
                 ident: str = "pair", link: Callable[[str], str] | None = None
                 ) -> tuple[str, Layout] | None:
    """The links between companies `a` and `b` (groups of `heat`'s axes): a's platforms
    (sources), b's platforms, a's platforms again (targets); a → b on the left, b → a on
    the right. None when there is no link between them."""
    group = {x.key: x.group for x in (*heat.rows, *heat.columns)}
    names = {x.group: x.group_label or x.group for x in (*heat.rows, *heat.columns)}
    ab = _links(heat, lambda r, c: group.get(r) == a and group.get(c) == b)
    ba = _links(heat, lambda r, c: group.get(r) == b and group.get(c) == a)
    if not ab and not ba:
        return None
    middle = _ordered(heat, {e.target for e in ab} | {e.source for e in ba})
    columns = [_ordered(heat, {e.source for e in ab}), middle,
               _ordered(heat, {e.target for e in ba})]
    la, lb = names.get(a, a), names.get(b, b)
    headings = [_t("from", lang).format(a=la), lb, _t("to", lang).format(a=la)]
    return draw(columns, [ab, ba], headings, lang=lang, title=f"{la} ⇄ {lb}",
                description=_t("desc_p", lang).format(a=la, b=lb),
                outcome_labels=outcome_labels, ident=ident, link=link)


def company_pair_svg(heat: Heatmap, a: str, b: str, *, lang: str,
                     outcome_labels: Mapping[str, str], ident: str = "pair",
                     link: Callable[[str], str] | None = None) -> str | None:
    """company_pair() as an SVG string (None: no link between the two companies)."""
    drawn = company_pair(heat, a, b, lang=lang, outcome_labels=outcome_labels, ident=ident,
                         link=link)
    return drawn[0] if drawn else None
