"""`hulian graph RUN`: the run's reachability graph for Gephi, Cytoscape or networkx."""

from __future__ import annotations

import itertools
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from audit.cli.console import fail, stderr
from audit.cli.runs import AllowUnverified, verified
from audit.collector import collector_paused
from audit.errors import EXIT_UNVERIFIED
from audit.evidence.bundle import Bundle, BundleError, banner
from audit.policy.catalog import PolicyError, catalog_for_run
from audit.web.xmlchars import xml_comment


class LevelChoice(StrEnum):
    PLATFORM = "platform"
    COMPANY = "company"


class LayerChoice(StrEnum):
    ALL = "all"
    LINKS = "links"
    SEARCH = "search"


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
    layer: Annotated[LayerChoice, typer.Option(
        help="all: link edges and search edges (engines as nodes of kind search_engine), as "
        "in the bundle's graph files; links: the link graph only (platforms or companies); "
        "search: the engines and their search edges only.")] = LayerChoice.ALL,
    allow_unverified: AllowUnverified = False,
) -> None:
    """Export the reachability graph of a run: one edge per source -> target with the
    count of each outcome, the worst and typical outcome, the friction, the surfaces, the
    verdicts and the evidence (observation ids). Graph-rule findings are recomputed from the
    observations with the run's policies, so older bundles get them too.

      hulian graph runs/RUN --format gexf --out run.gexf

      hulian graph runs/RUN --level company --format json | jq '.links[]'

    The bundle must pass `hulian verify` (exit 6 otherwise, 7 if RUN is no bundle);
    --allow-unverified exports it anyway, with an UNVERIFIED banner in the export (a
    comment in GraphML, GEXF, SVG and DOT, a "hulian_unverified" graph attribute in JSON).
    """
    # networkx (~1 s to load) only for this command: the CLI imports every command module.
    from audit.evidence.columnar import ColumnarError
    from audit.evidence.sql import TablesError, memory_tables, run_tables
    from audit.graph.build import at_level, build, export, render_svg, write_export, write_stream
    from audit.graph.export import ExportError
    from audit.judge.cross import iter_graph_verdicts

    problems = verified(run, allow_unverified)
    # The graph of a large run is 400,000 edge dicts: no cyclic collection while it is
    # built and written (audit.collector).
    with collector_paused():
        try:
            catalog = catalog_for_run(run)
            bundle = Bundle(run)
            # Streamed, never all observations or verdicts at once: the graph verdicts come from
            # the bundle's observations table, and go with the bundle's own observation verdicts
            # into the tables the graph is counted from. A bundle that failed verification: its
            # tables are built again from the lines the graph is counted from (a table is current
            # by its size, which a same-size edit keeps).
            with run_tables(run, verdicts=False, fresh=bool(problems)) as observed:
                verdicts = itertools.chain(
                    (v for v in bundle.verdicts() if v.observation_id is not None),
                    iter_graph_verdicts(observed, catalog))
                with memory_tables(bundle.observations(), verdicts) as judged:
                    graph = build(judged, None, catalog)
            if fmt is FormatChoice.SVG:
                text = render_svg(graph, level.value, catalog)
            else:
                # The search engines' edges beside the link edges (issue 15); docs/graph.md.
                from audit.graph.search import add_search, search_layer
                from audit.judge.search_run import judge_search

                shown = at_level(graph, level.value, catalog)
                if layer is not LayerChoice.LINKS:
                    shown = add_search(shown, judge_search(bundle.search(), catalog), catalog,
                                       level.value)
                    if layer is LayerChoice.SEARCH:
                        shown = search_layer(shown)
                if fmt in (FormatChoice.GRAPHML, FormatChoice.GEXF) or not problems:
                    # Streamed (a large run's graph is never one document in memory); the
                    # unverified banner is the XML formats' own comment.
                    comments = banner(run, problems) if problems else []
                    if out is None:
                        sys.stdout.flush()
                        write_stream(shown, fmt.value, sys.stdout.buffer, comments)
                        sys.stdout.buffer.flush()
                    else:
                        write_export(shown, fmt.value, out, comments)
                        stderr.print(f"{fmt.value} ({level.value} level) → {out}")
                    return
                text = export(shown, fmt.value)
        except (BundleError, ColumnarError, TablesError) as exc:  # passed the gate, unreadable
            fail(str(exc))
            raise typer.Exit(EXIT_UNVERIFIED if problems else 1) from None
        except (PolicyError, RuntimeError, ExportError, OSError) as exc:
            fail(str(exc))
            raise typer.Exit(1) from None
    if problems:
        text = with_banner(text, fmt, banner(run, problems))
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        stderr.print(f"{fmt.value} ({level.value} level) → {out}")


def with_banner(text: str, fmt: FormatChoice, lines: list[str]) -> str:
    """The export with the unverified banner where its format allows one: a comment (XML
    formats, DOT) or a graph attribute (JSON)."""
    if fmt is FormatChoice.JSON:
        data = json.loads(text)
        target = data.get("graph") if isinstance(data.get("graph"), dict) else data
        target["hulian_unverified"] = lines
        return json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    if fmt is FormatChoice.DOT:
        return "".join(f"// {line}\n" for line in lines) + text

    # After the XML declaration, if any: nothing may precede it.
    comment = "".join(xml_comment(line) + "\n" for line in lines)
    if text.startswith("<?xml"):
        end = text.index("?>") + 2
        return text[:end] + "\n" + comment + text[end:].lstrip("\n")
    return comment + text
