"""The site's SVG charts, computed at build time. The heatmap is the reports' own
(audit/report/heatmap.py: one implementation of the source × target picture; this module
only adapts the site's tables and links to it); the stacked bars are computed and written
here (Stacks.svg, every text escaped with markupsafe as the templates escape it). Pure
functions. Colours and the order of outcomes come from
audit.judge.outcomes only.

Why no plotting library (docs/site.md): the charts are a heatmap whose cells are links and
small stacked bars; an SVG written by hand keeps its text as text (searchable, in the
page's own CJK font, no embedded glyph paths), its cells as <a> elements, and adds no
dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from markupsafe import Markup, escape

from audit.judge.outcomes import NEUTRAL_COLOUR, ORDER, RANK, TABLE
from audit.model import Outcome
from audit.report import heatmap as shared
from audit.report import nodelink

LABEL = 150  # px, room for the bar charts' row labels
COLOUR = {o.value: f.colour for o, f in TABLE.items()}


@dataclass(frozen=True)
class Heatmap:
    """A heatmap of the site, drawn by audit/report/heatmap.py when the page is rendered
    (the links are relative to the page)."""

    data: shared.Heatmap
    zh: bool

    def svg(self, link: Callable[[str], str], title: str,
            outcome_labels: Mapping[str, str], ident: str = "heatmap") -> Markup:
        return Markup(shared.svg(self.data, lang="zh" if self.zh else "en", title=title,
                                 outcome_labels=outcome_labels, ident=ident, link=link))

    def neighbourhood(self, platform: str, link: Callable[[str], str],
                      outcome_labels: Mapping[str, str], ident: str = "nbh") -> Markup | None:
        """One platform's in- and out-links as a node-link drawing (audit/report/nodelink.py);
        None when it has no link in this heatmap."""
        drawn = nodelink.neighbourhood_svg(self.data, platform, lang="zh" if self.zh else "en",
                                           outcome_labels=outcome_labels, ident=ident,
                                           link=link)
        return Markup(drawn) if drawn else None

    def company_pair(self, a: str, b: str, link: Callable[[str], str],
                     outcome_labels: Mapping[str, str], ident: str = "pair") -> Markup | None:
        """The links between companies a and b, both ways (a grouped heatmap only)."""
        drawn = nodelink.company_pair_svg(self.data, a, b, lang="zh" if self.zh else "en",
                                          outcome_labels=outcome_labels, ident=ident,
                                          link=link)
        return Markup(drawn) if drawn else None


def heatmap(rows: Sequence[tuple[str, str, str | None]],
            columns: Sequence[tuple[str, str, str | None]],
            values: Mapping[tuple[str, str], tuple[str | None, int, str | None, str]],
            *, group: Callable[[str], tuple[str, str]] | None = None,
            zh: bool = True) -> Heatmap:
    """rows/columns: (key, label, href), in order; values: (row key, column key) -> (worst
    outcome, count, href, title); group: key -> (company, its label), to band the axes by
    company (the axes are then ordered by company, keeping the given order within one)."""

    def axis(items: Sequence[tuple[str, str, str | None]]) -> tuple[shared.Axis, ...]:
        out = [shared.Axis(k, label, *(group(k) if group else (shared.UNGROUPED, "")), href)
               for k, label, href in items]
        if group:
            first: dict[str, int] = {}
            for a in out:
                first.setdefault(a.group, len(first))
            out.sort(key=lambda a: first[a.group])
        return tuple(out)

    cells = {key: shared.Value(worst, count, failed=0, href=href, title=title)
             for key, (worst, count, href, title) in values.items()}
    return Heatmap(shared.Heatmap(axis(rows), axis(columns), cells, grouped=group is not None),
                   zh)


@dataclass(frozen=True, slots=True)
class Bar:
    """One outcome's share of one run's bar; its title ("<run>: <outcome> n/total") is
    written in the chart's language when the chart is (Stacks.svg)."""

    x: int
    y: float
    height: float
    fill: str
    run_id: str
    outcome: str
    n: int
    total: int


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
    outcome_label: Mapping[str, str] = field(default_factory=dict)

    def relabelled(self, surfaces: Sequence[str], outcome_label: Mapping[str, str]
                   ) -> Stacks:
        """The same chart with the strips' labels and the outcomes' names of another
        language (the geometry is computed once for both)."""
        return replace(self, strips=[replace(strip, label=label)
                                     for strip, label in zip(self.strips, surfaces,
                                                             strict=True)],
                       outcome_label=outcome_label)

    def svg(self, label: str) -> Markup:
        """The chart as a <figure>, every text escaped. Written here, not by a template
        loop: a platform page's chart of 100 runs has thousands of bars, and Jinja2's
        per-bar macro calls and escapes made it most of the page's time (each new run
        renders every platform page again)."""
        memo: dict[str, str] = {}

        def e(text: str) -> str:  # run ids, names and colours repeat thousands of times
            got = memo.get(text)
            if got is None:
                got = memo[text] = str(escape(text))
            return got

        lab = e(label)
        out = [f'<figure class="chart">\n<svg xmlns="http://www.w3.org/2000/svg" '
               f'width="{self.width}" height="{self.height}" viewBox="0 0 {self.width} '
               f'{self.height}" role="img" aria-label="{lab}">\n<title>{lab}</title>\n']
        names = self.outcome_label
        for strip in self.strips:
            out.append(f'<text x="144" y="{strip.y + 4}" text-anchor="end" class="axis">'
                       f"{e(strip.label)}</text>\n")
            # escaping is per character: the title's parts escaped apart are the title
            # escaped whole (": ", the counts and "/" need none)
            out.extend(f'<rect x="{b.x}" y="{b.y}" width="{self.bar}" height="{b.height}" '
                       f'fill="{e(b.fill)}"><title>{e(b.run_id)}: '
                       f"{e(names.get(b.outcome, b.outcome))} {b.n}/{b.total}</title></rect>"
                       for b in strip.bars)
        for x, short, title in self.runs:
            out.append(f'<text transform="translate({x - 2},{self.height - 72}) rotate(60)" '
                       f'class="axis small"><title>{e(title)}</title>{e(short)}</text>\n')
        out.append("</svg>\n</figure>")
        return Markup("".join(out))


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
            for outcome in sorted(values, key=_position):
                n = values[outcome]
                h = (STRIP - 12) * n / total
                y -= h
                seen.add(outcome)
                bars.append(Bar(LABEL + j * (BAR + GAP), round(y, 2), round(h, 2),
                                COLOUR.get(outcome, NEUTRAL_COLOUR), run_id, outcome, n,
                                total))
        strips.append(Strip(label, top + STRIP // 2, bars))
    height = 20 + len(surfaces) * STRIP + 80  # room for the rotated run labels
    return Stacks(width=LABEL + max(len(runs), 1) * (BAR + GAP) + 20, height=height, bar=BAR,
                  strip=STRIP, strips=strips,
                  runs=[(LABEL + j * (BAR + GAP) + BAR // 2, short, run_id)
                        for j, (run_id, short) in enumerate(runs)],
                  legend=[(o.value, COLOUR[o.value]) for o in ORDER if o.value in seen],
                  outcome_label=outcome_label)




def _position(outcome: str) -> int:
    """Best first, then unreadable and failed measurements on top (their rank is below 0)."""
    rank = RANK.get(outcome)
    if rank is None:
        return 99
    return rank if rank >= 0 else 20 - rank


def legend_outcomes() -> list[tuple[str, str, str]]:
    """(value, colour, ink) of every outcome, in the documented order."""
    return [(o.value, TABLE[o].colour, TABLE[o].ink) for o in Outcome if o in TABLE]
