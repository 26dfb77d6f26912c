"""What of a run's platforms and companies the HTML and PDF reports show (issue 16: a page
stays under 5 MB whatever the run's size; audit/report/groups.py does the same for the
findings).

Everything on the page that grows with the number of platforms or companies is capped here:
the rows and columns of the two matrices (platforms, companies), the source platforms whose
links are drawn, the platforms in each drawing, the source platforms named under a
requirement, and the lists of the search-barrier section. One rule chooses what is shown
everywhere (`ranked`): the platforms (or companies) that matter most, those with the most
failed findings, then the most links, ties broken by id. The page says how many of how many
it shows, and where the rest is: findings.csv and findings.json list every finding with its
source and target, the bundle's graph.graphml (graph-company.graphml) every edge,
search.jsonl every host's robots.txt record.

A run under the caps (the lab: 15 platforms of 7 companies) shows every platform, exactly as
it did before the caps: nothing is reordered, the chosen rows and columns keep the matrix's
order (the heatmap groups them by company as always) and the drawings stay in the order of
their source's id.

Pure functions of the report's data (audit/report/data.py): the HTML and the PDF, the
pictures (audit/report/heatmap.py, nodelink.py), the tables and the search-barrier section
all take what they show from `matrix_views`, `drawn_sources`, `search_view` and `top`, with
the caps below.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from audit.model import Verdict
from audit.report.data import Matrix
from audit.report.search import HostRow, SearchSection, SelfPreferring

# Rows (sources) and columns (targets) of each matrix on the page, in the HTML and the PDF.
# A shown pair costs at most ~0.45 KB of HTML: its heatmap cell (a group with its tooltip,
# square and count) ~300-400 bytes with the two names, its table cell ~50. A full 30 × 30
# matrix of long names is ~0.4 MB, the two matrices ~0.8 MB (40 × 40 would be ~1.4 MB:
# more than the page can spare beside the findings' ~2.5 MB, audit/report/groups.py, and
# the other capped sections). 30 columns also fill the width of an A4 page in the PDF, the
# heatmap's 28 px cells shrunk to ~60 %: more, and its labels would be too small to read.
# The lab (15 platforms, 7 companies) and the test suite's runs are far below it.
MATRIX_CAP = 30

# Source platforms whose links are drawn (audit/report/nodelink.py), and the platforms drawn
# on each side of one: a drawing of NEIGHBOURS_CAP a side is ~20-25 KB (a box per platform,
# a line and a badge with its tooltip per link), so the section stays under ~0.5 MB in the
# HTML and ~0.4 MB in the PDF. The lab has 15 source platforms, and 13 platforms link to its
# busiest one: every lab drawing is drawn, whole.
NEIGHBOURHOOD_CAP = {"html": 20, "pdf": 15}
NEIGHBOURS_CAP = 15

# Source platforms named, with their count of failed findings, under each requirement (the
# most failing first; ~25 bytes each, 14 requirements in the shipped framework).
SOURCES_PER_REQUIREMENT = {"html": 50, "pdf": 20}

T = TypeVar("T")


def ranked(totals: Mapping[str, tuple[int, int]]) -> list[str]:
    """Keys of `totals` (key -> (failed findings, links)), the ones that matter most first:
    the most failed findings, then the most links, then by key."""
    return sorted(totals, key=lambda k: (-totals[k][0], -totals[k][1], k))


def top(items: Sequence[T], cap: int, *, key: Callable[[T], str],
        failed: Callable[[T], int], links: Callable[[T], int]) -> list[T]:
    """The `cap` items that matter most (as `ranked` orders them; keys unique), in the
    order given: all of them when there are no more than `cap`."""
    if len(items) <= cap:
        return list(items)
    totals = {key(item): (failed(item), links(item)) for item in items}
    kept = set(ranked(totals)[:cap])
    return [item for item in items if key(item) in kept]


@dataclass(frozen=True)
class MatrixView:
    """The part of a matrix a page shows: `matrix` holds the shown rows and columns, in the
    whole matrix's order, and the cells between them; `rows` and `columns` count the whole
    matrix's."""

    matrix: Matrix
    rows: int
    columns: int

    @property
    def capped(self) -> bool:
        return len(self.matrix.rows) < self.rows or len(self.matrix.columns) < self.columns


def totals(matrix: Matrix) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
    """(failed findings, links) of each row (as a source) and of each column (as a target)."""
    rows: dict[str, tuple[int, int]] = dict.fromkeys(matrix.rows, (0, 0))
    columns: dict[str, tuple[int, int]] = dict.fromkeys(matrix.columns, (0, 0))
    for (row, column), cell in matrix.cells.items():
        failed, links = rows.get(row, (0, 0))
        rows[row] = (failed + cell.failed, links + cell.links)
        failed, links = columns.get(column, (0, 0))
        columns[column] = (failed + cell.failed, links + cell.links)
    return rows, columns


def matrix_view(matrix: Matrix, cap: int) -> MatrixView:
    """At most `cap` rows and `cap` columns of `matrix`: the sources, and apart from them
    the targets, with the most failed findings, then the most links (`ranked`)."""
    if len(matrix.rows) <= cap and len(matrix.columns) <= cap:
        return MatrixView(matrix, len(matrix.rows), len(matrix.columns))
    row_totals, column_totals = totals(matrix)
    keep_rows = set(ranked(row_totals)[:cap])
    keep_columns = set(ranked(column_totals)[:cap])
    shown = Matrix(
        rows=[r for r in matrix.rows if r in keep_rows],
        columns=[c for c in matrix.columns if c in keep_columns],
        cells={(r, c): cell for (r, c), cell in matrix.cells.items()
               if r in keep_rows and c in keep_columns},
        names=matrix.names)
    return MatrixView(shown, len(matrix.rows), len(matrix.columns))


def matrix_views(platforms: Matrix, companies: Matrix,
                 cap: int = MATRIX_CAP) -> dict[str, MatrixView]:
    """What a page (the HTML and the PDF alike) shows of the platform and company
    matrices: their pictures and their tables."""
    return {"platforms": matrix_view(platforms, cap), "companies": matrix_view(companies, cap)}


def drawn_sources(matrix: Matrix, mode: str) -> list[str]:
    """The source platforms (rows of the platform matrix) whose links a page in `mode`
    draws: the NEIGHBOURHOOD_CAP that matter most (`ranked`), in the order of their ids."""
    rows, _columns = totals(matrix)
    return sorted(ranked(rows)[:NEIGHBOURHOOD_CAP[mode]])


def neighbours_capped(matrix: Matrix, sources: Iterable[str]) -> bool:
    """Whether the drawing of one of `sources` leaves platforms out: more than
    NEIGHBOURS_CAP platforms link to it, or it links to more."""
    wanted = set(sources)
    ins: Counter[str] = Counter()
    outs: Counter[str] = Counter()
    for row, column in matrix.cells:
        if row in wanted:
            outs[row] += 1
        if column in wanted:
            ins[column] += 1
    return any(n > NEIGHBOURS_CAP for n in (*ins.values(), *outs.values()))


# Rows of each list of the search-barrier section (audit/report/search.py): measured
# platforms (engines × platforms), hosts that discriminate, platforms that prefer their own
# engine, failed search rules, measured hosts. A row is ~0.3-0.8 KB (a platform's row has a
# cell per engine, a host's its evidence ids), so the section stays under ~0.3 MB in the
# HTML. The lab measures 15 platforms on fewer than 40 hosts: all listed.
SEARCH_CAP = {"html": 100, "pdf": 40}


@dataclass(frozen=True)
class SearchView:
    """What a page shows of the search-barrier section: each list's first rows (those that
    matter most), and how long each list is."""

    platforms: list[str]  # engines × platforms' rows, in the section's order
    hosts: list[HostRow]  # measured hosts (the PDF: those of note only)
    discriminating: list[HostRow]
    self_preferring: list[SelfPreferring]
    failed: list[Verdict]
    totals: dict[str, int]  # list -> its whole length
    listed_hosts: frozenset[str]  # hosts with a row (a link to a host needs one)


def search_view(section: SearchSection, mode: str) -> SearchView:
    """The rows of `section` a page in `mode` shows: the platforms with the most failed
    search rules (then the most hosts), the hosts of note (discriminating, then not read as
    served) before the others, each list's first rows otherwise (the failed rules come worst
    first)."""
    cap = SEARCH_CAP[mode]
    failed = section.failed
    by_platform: Counter[str] = Counter(v.source for v in failed if v.source)
    hosts_of: Counter[str] = Counter(h.platform for h in section.hosts if h.platform)
    platforms = top(section.platforms, cap, key=str, failed=by_platform.__getitem__,
                    links=hosts_of.__getitem__)
    hosts = section.notable if mode == "pdf" else section.hosts
    listed = top(hosts, cap, key=lambda h: h.host,
                 failed=lambda h: 2 * h.discriminates + bool(h.reasons or h.noindex),
                 links=lambda h: 0)
    return SearchView(
        platforms=platforms, hosts=listed, discriminating=section.discriminating[:cap],
        self_preferring=section.self_preferring[:cap], failed=failed[:cap],
        totals={"platforms": len(section.platforms), "hosts": len(hosts),
                "discriminating": len(section.discriminating),
                "self_preferring": len(section.self_preferring), "failed": len(failed)},
        listed_hosts=frozenset(h.host for h in listed))
