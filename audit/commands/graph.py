"""`hulian graph RUN`: the run's reachability graph for Gephi, Cytoscape or networkx."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from audit.bundle import Bundle, BundleError
from audit.catalog import PolicyError
from audit.console import fail, stderr


class LevelChoice(StrEnum):
    PLATFORM = "platform"
    COMPANY = "company"


class FormatChoice(StrEnum):
    GRAPHML = "graphml"
    GEXF = "gexf"
    JSON = "json"
    DOT = "dot"
    SVG = "svg"


def graph_command(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="A run bundle directory.",
                                        exists=True, file_okay=False)],
    level: Annotated[LevelChoice, typer.Option(
        help="Nodes are platforms, or companies (platform edges contracted).")
    ] = LevelChoice.PLATFORM,
    fmt: Annotated[FormatChoice, typer.Option(
        "--format", "-f", help="graphml (Gephi, Cytoscape, yEd), gexf (Gephi), json "
        "(networkx node-link: nx.node_link_graph(data, edges='links')), dot (Graphviz), "
        "svg (a picture, needs graphviz)")] = FormatChoice.GRAPHML,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write here instead of standard output.")] = None,
) -> None:
    """Export the reachability graph of a run: one edge per source -> target with the
    count of each outcome, the worst and typical outcome, the friction, the surfaces, the
    verdicts and the evidence (observation ids). Graph-rule findings are recomputed from the
    observations with the run's policies, so older bundles get them too.

      hulian graph runs/RUN --format gexf --out run.gexf

      hulian graph runs/RUN --level company --format json | jq '.links[]'
    """
    from audit.graph import at_level, build, export, render_svg
    from audit.graph_rules import evaluate_graph_rules
    from audit.runner import catalog_for_run

    try:
        catalog = catalog_for_run(run)
        bundle = Bundle(run)
        observations = list(bundle.observations())
        verdicts = [v for v in bundle.verdicts() if v.observation_id is not None]
        verdicts += evaluate_graph_rules(observations, catalog)
        graph = build(observations, verdicts, catalog)
        if fmt is FormatChoice.SVG:
            text = render_svg(graph, level.value, catalog)
        else:
            text = export(at_level(graph, level.value, catalog), fmt.value)
    except (BundleError, PolicyError, RuntimeError) as exc:
        fail(str(exc))
        raise typer.Exit(1) from None
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        stderr.print(f"{fmt.value} ({level.value} level) → {out}")
