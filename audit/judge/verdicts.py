"""Every verdict of a run bundle, written as the bundle's JSON lines: the rules per
observation (over the run's observations table: audit.judge.table_verdicts), then the
cross-target rules (non-discrimination, self-preferencing, one source and surface at a time)
and the search rules. Nothing holds the run's observations or verdicts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from audit.evidence.bundle import Bundle, json_line
from audit.evidence.columnar import ColumnarLog
from audit.evidence.sql import check_records, run_tables
from audit.judge.cross import iter_graph_verdicts
from audit.judge.search_run import search_verdicts
from audit.judge.summary import VerdictCounts, counted
from audit.judge.table_verdicts import write_observation_verdicts
from audit.model import Verdict
from audit.policy.catalog import Catalog


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
            _write(counted(iter_graph_verdicts(tables, catalog), counts), out, table)
    if graph_rules:
        _write(counted(search_verdicts(Bundle(run).search(), catalog), counts), out, table)
    return counts


def _write(verdicts: Iterable[Verdict], out: IO[bytes], table: ColumnarLog | None) -> None:
    for verdict in verdicts:
        line = json_line(verdict)
        out.write(line)
        if table is not None:
            table.add(line)
