"""Every verdict of a run bundle: the rules per observation, then the cross-target rules
(non-discrimination, self-preferencing) over the whole run. Reads the bundle's observations
as a stream, then its observations table through DuckDB, rather than holding them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from audit.evidence.bundle import Bundle
from audit.evidence.sql import run_tables
from audit.judge.cross import iter_graph_verdicts
from audit.judge.evaluate import evaluate
from audit.judge.search_run import search_verdicts
from audit.model import Verdict
from audit.policy.catalog import Catalog


def iter_verdicts(run: Path, catalog: Catalog, *, fresh_tables: bool = False
                  ) -> Iterator[Verdict]:
    """The run's verdicts as a stream: one observation's at a time, then the cross-target
    rules' (one source and surface at a time) and the search rules'. A run's verdicts can be
    many times the memory of the rest of the pipeline; the pipeline writes them as they
    come. fresh_tables: the observations table built again from the lines (a bundle that
    failed verification: audit.evidence.sql.run_tables)."""
    yield from evaluate(Bundle(run).observations(), catalog)
    with run_tables(run, verdicts=False, fresh=fresh_tables) as tables:
        yield from iter_graph_verdicts(tables, catalog)
    yield from search_verdicts(Bundle(run).search(), catalog)  # the search rules


def judge_bundle(run: Path, catalog: Catalog) -> list[Verdict]:
    return list(iter_verdicts(run, catalog))
