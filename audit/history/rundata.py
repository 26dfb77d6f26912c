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

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.engine import Engine

from audit.collector import collector_paused
from audit.evidence.bundle import Bundle
from audit.evidence.sql import RunTables, check_records, run_tables
from audit.graph.build import build, flat_metrics, metrics
from audit.history.aggregate import Aggregator, RunAggregates
from audit.history.diff import RunSummary
from audit.history.store import get_run, load_aggregates, load_metrics, load_search
from audit.judge.cross import iter_graph_verdicts
from audit.judge.evaluate import (
    STATUS_OF_UNIT_RANK,
    UNIT_RANK,
    fewest_units,
    unit_parts,
    units_by_rank_sql,
)
from audit.judge.search_run import class_table, judge_search
from audit.model import Verdict
from audit.policy.catalog import catalog_for_run

# What the aggregator (audit/history/aggregate.py) is fed from a bundle's tables: groups
# rather than records. A target's URL only where it has no platform, as the aggregator reads
# it (a million links to one platform are one group, not a million).
_URL = "CASE WHEN coalesce(target_platform, '') = '' THEN target_url END"

# Observations alike in what an edge counts, with their number.
EDGE_GROUPS = f"""
SELECT source, surface, target_platform, {_URL}, outcome, count(*)
FROM observations GROUP BY ALL ORDER BY ALL
"""

# The observation verdicts counted for each requirement they name, by source, with their
# units (an observation), reduced to one unit of each rank.
REQUIREMENT_UNITS = units_by_rank_sql("""
  SELECT source, unnest(requirements) AS requirement,
         coalesce(nullif(observation_id, ''), 'verdict:' || id) AS unit, status
  FROM verdicts WHERE observation_id IS NOT NULL""", keys=("source",))

VERDICT_SOURCES = """
SELECT DISTINCT source FROM verdicts WHERE observation_id IS NOT NULL ORDER BY source
"""

# Failed verdicts of a rule about the same target, with their number and the fields of the
# one of the largest id (the aggregator keeps, per finding key, the largest).
FAILED_GROUPS = f"""
SELECT rule_id, source, surface, target_platform, {_URL} AS url, count(*), max(id),
       arg_max({{'severity': severity, 'outcome': outcome, 'reason': reason}}, id)
FROM verdicts WHERE observation_id IS NOT NULL AND status = 'fail'
GROUP BY rule_id, source, surface, target_platform, url ORDER BY ALL
"""


def aggregate_tables(tables: RunTables, graph_verdicts: Iterable[Verdict]) -> RunAggregates:
    """A bundle's aggregates from its tables (its observation verdicts; the graph verdicts,
    derived again, as model objects): what `aggregate` makes of every record, from a few
    groups of them (tests/test_graph_lab.py compares the two)."""
    agg = Aggregator()
    for source, surface, platform, url, outcome, count in tables.rows(EDGE_GROUPS):
        agg.observation(source, surface, platform, url, outcome, count)
    for (source,) in tables.rows(VERDICT_SOURCES):
        agg.source(source)
    tables.table("unit_ranks", [("status", "VARCHAR"), ("rank", "INTEGER")], UNIT_RANK.items())
    ((verdicts,),) = tables.all("SELECT count(*) FROM verdicts")
    parts = tables.reduced(REQUIREMENT_UNITS, unit_parts(verdicts))
    for source, requirement, rank, unit in fewest_units(parts):
        agg.verdict("", source, (requirement,), STATUS_OF_UNIT_RANK[rank], unit)
    # One arg_max of the fields together: arg_max of each would skip a NULL outcome and take
    # another verdict's.
    for (rule_id, source, surface, platform, url, count, verdict_id,
         fields) in tables.rows(FAILED_GROUPS):
        agg.failed(verdict_id, rule_id, source, surface, platform, url, fields["severity"],
                   fields["outcome"], fields["reason"]["zh"], fields["reason"]["en"], count)
    for verdict in graph_verdicts:
        agg.add(verdict)
    return agg.result()


@collector_paused()
def from_bundle(path: Path, *, fresh_tables: bool = False) -> RunSummary:
    """The run in a bundle directory. BundleError for a bundle that cannot be read,
    PolicyError for policies that cannot be loaded, TablesError for tables DuckDB cannot
    read; the bundle is not verified here. fresh_tables: its tables built again from its
    JSON lines (a bundle that failed verification)."""
    catalog = catalog_for_run(path)
    bundle = Bundle(path)
    # The graph and its rules read the observations only: a view without the verdicts table
    # (the same file), so that the graph's build does not aggregate every verdict per edge
    # for metrics that do not read it.
    with (run_tables(path, fresh=fresh_tables) as tables,
          RunTables(tables.observations) as observed):
        check_records(path, tables)
        aggregates = aggregate_tables(tables, iter_graph_verdicts(observed, catalog))
        figures = flat_metrics(metrics(build(observed, None, catalog), catalog, 0))
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
