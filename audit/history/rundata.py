"""A run as `hulian diff` and the schedules' regression alerts compare it (audit.history.diff
.RunData), read from its bundle or from the history store. One reader for both, so an alert
and a diff of the same two runs cannot disagree.

From a bundle, the observation verdicts are the bundle's; the graph verdicts (cross-target
rules) and the metrics are derived again with the run's own policies, as `hulian runs import`
records them in the store.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from audit.evidence.bundle import Bundle
from audit.graph.build import build, flat_metrics, metrics
from audit.history.diff import RunData
from audit.history.store import (
    get_run,
    load_metrics,
    load_observations,
    load_search,
    load_verdicts,
)
from audit.judge.cross import evaluate_graph_rules
from audit.judge.search_run import class_table, judge_search
from audit.policy.catalog import catalog_for_run


def from_bundle(path: Path) -> RunData:
    """The run in a bundle directory. BundleError for a bundle that cannot be read,
    PolicyError for policies that cannot be loaded; the bundle is not verified here."""
    catalog = catalog_for_run(path)
    bundle = Bundle(path)
    observations = list(bundle.observations())
    verdicts = [v for v in bundle.verdicts() if v.observation_id is not None]
    verdicts += evaluate_graph_rules(observations, catalog)
    figures = flat_metrics(metrics(build(observations, verdicts, catalog), catalog, 0))
    search = class_table(judge_search(bundle.search(), catalog))
    return RunData(bundle.manifest.run_id, observations, verdicts, figures, search)


def from_store(engine: Engine, run_id: str) -> RunData | None:
    """A run recorded in the history store, None when there is no such run."""
    if get_run(engine, run_id) is None:
        return None
    return RunData(run_id, load_observations(engine, run_id), load_verdicts(engine, run_id),
                   load_metrics(engine, run_id), load_search(engine, run_id))
