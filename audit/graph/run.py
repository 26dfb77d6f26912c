"""The graph steps at the end of a run: graph files, metrics and the history record.

Kept apart from audit/graph/build.py (which computes) so that the computing stays free of bundle
paths and store side effects."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audit.model import Verdict
from audit.policy.catalog import Catalog

logger = logging.getLogger(__name__)

GRAPHML = "graph.graphml"
COMPANY_GRAPHML = "graph-company.graphml"
METRICS = "metrics.json"
SVG = "graph.svg"


def write_graph_outputs(run: Path, catalog: Catalog, verdicts: Sequence[Verdict]) -> Any:
    """Write graph.graphml (platforms), graph-company.graphml, metrics.json and graph.svg
    (skipped with a warning when graphviz is missing) into the bundle, before it is sealed.
    Returns the platform graph (for audit.graph.build.edge_rows)."""
    from audit.evidence.bundle import Bundle
    from audit.graph.build import (
        build,
        company_graph,
        metrics,
        render_svg,
        write_graphml,
        write_metrics,
    )

    graph = build(Bundle(run).observations(), verdicts, catalog)
    write_graphml(graph, run / GRAPHML)
    write_graphml(company_graph(graph, catalog), run / COMPANY_GRAPHML)
    write_metrics(metrics(graph, catalog), run / METRICS)
    try:
        (run / SVG).write_text(render_svg(graph, "platform"), encoding="utf-8")
    except RuntimeError as exc:
        logger.warning("no graph picture: %s", exc)
    return graph


def record_after_run(run: Path, catalog: Catalog | None = None,
                     verdicts: Sequence[Verdict] | None = None,
                     db_url: str | None = None) -> bool:
    """Record a finished run in the history store; never fails the run (a store that cannot
    be written is a warning). `HULIAN_DB=off` turns recording off. Returns whether the run
    was recorded."""
    from audit.history.store import StoreError, record_run

    if (db_url or os.environ.get("HULIAN_DB", "")).lower() in ("off", "none", "0"):
        return False
    try:
        result = record_run(run, catalog, verdicts, db_url=db_url)
    except (StoreError, OSError) as exc:
        logger.warning("the run was not recorded in the history store: %s", exc)
        return False
    return result.recorded
