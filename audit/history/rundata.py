"""A run as `hulian diff` and the schedules' regression alerts compare it
(audit.history.diff.RunSummary), read from its bundle or from the history store. One reader
for both, so an alert and a diff of the same two runs cannot disagree. Neither holds the
run's observations: a bundle is read as a stream and through its tables (DuckDB), a stored
run through the aggregates the store keeps for it.

From a bundle, the observation verdicts are the bundle's; the graph verdicts (cross-target
rules) and the metrics are derived again with the run's own policies, as `hulian runs import`
records them in the store.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from sqlalchemy.engine import Engine

from audit.evidence.bundle import Bundle
from audit.evidence.sql import run_tables
from audit.graph.build import build, flat_metrics, metrics
from audit.history.diff import RunSummary, aggregate
from audit.history.store import get_run, load_aggregates, load_metrics, load_search
from audit.judge.cross import iter_graph_verdicts
from audit.judge.search_run import class_table, judge_search
from audit.policy.catalog import catalog_for_run


def from_bundle(path: Path) -> RunSummary:
    """The run in a bundle directory. BundleError for a bundle that cannot be read,
    PolicyError for policies that cannot be loaded, TablesError for tables DuckDB cannot
    read; the bundle is not verified here."""
    catalog = catalog_for_run(path)
    bundle = Bundle(path)
    # The graph's metrics read outcomes only: the bundle's verdicts table is not needed.
    with run_tables(path, verdicts=False) as tables:
        verdicts = itertools.chain(
            (v for v in bundle.verdicts() if v.observation_id is not None),
            iter_graph_verdicts(tables, catalog))
        aggregates = aggregate(bundle.observations(), verdicts)
        figures = flat_metrics(metrics(build(tables, None, catalog), catalog, 0))
    search = class_table(judge_search(bundle.search(), catalog))
    return RunSummary.of(bundle.manifest.run_id, aggregates, figures, search)


def from_store(engine: Engine, run_id: str) -> RunSummary | None:
    """A run recorded in the history store (its stored aggregates, computed again when the
    store holds none or damaged ones), None when there is no such run."""
    row = get_run(engine, run_id)
    if row is None:
        return None
    aggregates, _why = load_aggregates(engine, row, findings=True)
    return RunSummary.of(run_id, aggregates, load_metrics(engine, run_id),
                         load_search(engine, run_id))
