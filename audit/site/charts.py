"""The geometry of the site's SVG charts, computed at build time; the SVG itself is written by
the Jinja2 templates (templates/_charts.html.j2), escaped like every other string on the
page. Pure functions. Colours and the order of outcomes come from audit.judge.outcomes only.

Why no plotting library (docs/site.md): the charts are a heatmap whose cells are links and
small stacked bars; an SVG drawn by a template keeps its text as text (searchable, in the
page's own CJK font, no embedded glyph paths), its cells as <a> elements, and adds no
dependency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from audit.judge.outcomes import NEUTRAL_COLOUR, ORDER, RANK, TABLE
from audit.model import Outcome

CELL = 34  # px, a heatmap cell
LABEL = 150  # px, room for the row labels
HEADER = 120  # px, room for the rotated column labels
INK = {o.value: f.ink for o, f in TABLE.items()}
COLOUR = {o.value: f.colour for o, f in TABLE.items()}


@dataclass(frozen=True)
class HeatCell:
    x: int
    y: int
    fill: str
    ink: str
    text: str
    title: str
    href: str | None


@dataclass(frozen=True)
class Heatmap:
    width: int
    height: int
    cell: int
    rows: list[tuple[int, str, str | None]]  # y, label, href
    columns: list[tuple[int, str, str | None]]  # x, label, href
    cells: list[HeatCell]


def heatmap(rows: Sequence[tuple[str, str, str | None]],
            columns: Sequence[tuple[str, str, str | None]],
            values: Mapping[tuple[str, str], tuple[str | None, int, str | None, str]]
            ) -> Heatmap:
    """rows/columns: (key, label, href); values: (row key, column key) -> (worst outcome,
    count, href, title). A cell is coloured by its worst outcome and shows its count."""
    cells = []
    for i, (rkey, _rl, _rh) in enumerate(rows):
        for j, (ckey, _cl, _ch) in enumerate(columns):
            value = values.get((rkey, ckey))
            if value is None:
                continue
            worst, count, href, title = value
            cells.append(HeatCell(LABEL + j * CELL, HEADER + i * CELL,
                                  COLOUR.get(worst or "", NEUTRAL_COLOUR),
                                  INK.get(worst or "", "#fff"), str(count), title, href))
    return Heatmap(width=LABEL + len(columns) * CELL + 10,
                   height=HEADER + len(rows) * CELL + 10, cell=CELL,
                   rows=[(HEADER + i * CELL + CELL // 2, label, href)
                         for i, (_k, label, href) in enumerate(rows)],
                   columns=[(LABEL + j * CELL + CELL // 2, label, href)
                            for j, (_k, label, href) in enumerate(columns)],
                   cells=cells)


@dataclass(frozen=True)
class Bar:
    x: int
    y: float
    height: float
    fill: str
    title: str


@dataclass(frozen=True)
class Strip:
    """One surface's row of stacked bars, one bar per run."""

    label: str
    y: int
    bars: list[Bar] = field(default_factory=list)


@dataclass(frozen=True)
class Stacks:
    width: int
    height: int
    bar: int
    strip: int
    strips: list[Strip]
    runs: list[tuple[int, str, str]]  # x, label, title
    legend: list[tuple[str, str]]  # outcome value, colour (those that occur)


BAR = 22
GAP = 6
STRIP = 46  # px per surface


def stacks(runs: Sequence[tuple[str, str]],
           surfaces: Sequence[tuple[str, str]],
           counts: Mapping[tuple[str, str], Mapping[str, int]],
           outcome_label: Mapping[str, str]) -> Stacks:
    """runs: (run id, short label), oldest first; surfaces: (key, label); counts: (run id,
    surface) -> outcome -> n. Each bar is one run's outcomes on one surface as shares, best
    outcome at the bottom, in audit.judge.outcomes' order."""
    strips = []
    seen: set[str] = set()
    for i, (surface, label) in enumerate(surfaces):
        top = 20 + i * STRIP
        bars = []
        for j, (run_id, _short) in enumerate(runs):
            values = counts.get((run_id, surface), {})
            total = sum(values.values())
            if not total:
                continue
            y = float(top + STRIP - 8)
            for outcome in sorted(values, key=lambda o: _position(o)):
                n = values[outcome]
                h = (STRIP - 12) * n / total
                y -= h
                seen.add(outcome)
                bars.append(Bar(LABEL + j * (BAR + GAP), round(y, 2), round(h, 2),
                                COLOUR.get(outcome, NEUTRAL_COLOUR),
                                f"{run_id}: {outcome_label.get(outcome, outcome)} {n}/{total}"))
        strips.append(Strip(label, top + STRIP // 2, bars))
    height = 20 + len(surfaces) * STRIP + 80  # room for the rotated run labels
    return Stacks(width=LABEL + max(len(runs), 1) * (BAR + GAP) + 20, height=height, bar=BAR,
                  strip=STRIP, strips=strips,
                  runs=[(LABEL + j * (BAR + GAP) + BAR // 2, short, run_id)
                        for j, (run_id, short) in enumerate(runs)],
                  legend=[(o.value, COLOUR[o.value]) for o in ORDER if o.value in seen])




def _position(outcome: str) -> int:
    """Best first, then unreadable and failed measurements on top (their rank is below 0)."""
    rank = RANK.get(outcome)
    if rank is None:
        return 99
    return rank if rank >= 0 else 20 - rank


def legend_outcomes() -> list[tuple[str, str, str]]:
    """(value, colour, ink) of every outcome, in the documented order."""
    return [(o.value, TABLE[o].colour, TABLE[o].ink) for o in Outcome if o in TABLE]
