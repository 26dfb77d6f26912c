"""Every verdict of a run bundle, written as the bundle's JSON lines: the rules per
observation (over the run's observations table: audit.judge.table_verdicts), then the
cross-target rules (non-discrimination, self-preferencing, one source and surface at a time)
and the search rules. Nothing holds the run's observations or verdicts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import IO

from audit.ahead import made_ahead
from audit.collector import collector_paused
from audit.evidence.bundle import Bundle, json_line
from audit.evidence.columnar import ColumnarLog
from audit.evidence.sql import check_records, run_tables
from audit.judge.cross import GraphLine, iter_graph_lines
from audit.judge.search_run import search_verdicts
from audit.judge.summary import VerdictCounts, counted
from audit.judge.table_verdicts import write_observation_verdicts
from audit.policy.catalog import Catalog


@collector_paused()
def write_verdicts(run: Path, catalog: Catalog, out: IO[bytes], table: ColumnarLog | None,
                   *, fresh_tables: bool = False, graph_rules: bool = True) -> VerdictCounts:
    """Judge the run and write its verdicts into `out` as JSON lines, and into their table
    `table` beside them (None: the lines only); their counts.
    fresh_tables: the observations table built again from the lines (a bundle that failed
    verification: audit.evidence.sql.run_tables). graph_rules=False: the per-observation
    rules only (a capture)."""
    counts: VerdictCounts = Counter()
    with run_tables(run, verdicts=False, fresh=fresh_tables) as tables:
        check_records(run, tables)
        counts.update(write_observation_verdicts(tables, catalog, out, table))
        if graph_rules:
            # Made in a thread of their own (the only user of the tables meanwhile): the
            # verdicts table's Parquet work on their lines (parsed and written by pyarrow,
            # without the GIL) goes on beside the making of the next ones.
            # Closed before the tables whatever happens (a full disk): the thread stops.
            with closing(made_ahead(_blocks(iter_graph_lines(tables, catalog), counts),
                                    BLOCKS_AHEAD, "hulian-graph-verdicts")) as made:
                _write((line for block in made for line in block), out, table)
    if graph_rules:
        _write((json_line(v) for v in counted(search_verdicts(Bundle(run).search(), catalog),
                                              counts)), out, table)
    return counts


# Verdict lines handed over a block at a time (a hand-over costs as much as a few lines),
# and blocks made ahead of their writing: ~1.6 KB a cross-target verdict, ~13 MB in all.
BLOCK_LINES = 1_024
BLOCKS_AHEAD = 8


def _blocks(lines: Iterable[GraphLine], counts: VerdictCounts) -> Iterator[list[bytes]]:
    """The lines in blocks, each counted into `counts` as it goes by."""
    block: list[bytes] = []
    for line, counted_by in lines:
        counts[counted_by] += 1
        block.append(line)
        if len(block) >= BLOCK_LINES:
            yield block
            block = []
    if block:
        yield block


def _write(lines: Iterable[bytes], out: IO[bytes], table: ColumnarLog | None) -> None:
    for line in lines:
        out.write(line)
        if table is not None:
            table.add(line)
