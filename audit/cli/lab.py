"""`hulian lab serve|truth|policies`: the local internet of fictional platforms."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from audit.cli.console import fail, stderr, stdout
from audit.lab.policies import write_policies
from audit.lab.scenario import Scenario, ScenarioError, load_scenario, search_truth, truth
from audit.policy.catalog import PolicyError, load_catalog, shipped_policies_dir

app = typer.Typer(help="The lab: a local web of fictional platforms whose link handling covers "
                       "every outcome (for demos, tests and benchmarks).",
                  no_args_is_help=True)

ScenarioOption = Annotated[Path | None, typer.Option(
    "--scenario", help="Scenario YAML (default: the shipped audit/lab/scenarios/default.yaml; "
                       "format in docs/lab.md).", dir_okay=False)]


def _scenario_or_exit(path: Path | None) -> Scenario:
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        for problem in exc.problems:
            fail(escape(str(problem)))
        raise typer.Exit(1) from None


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.",
                                      min=0, max=65535)] = 0,
    scenario: ScenarioOption = None,
) -> None:
    """Serve the lab on 127.0.0.1 until Ctrl-C or SIGTERM.

    Prints one JSON line {"url", "port"} on stdout. Use the URL as an HTTP proxy for the
    *.lab hosts (e.g. curl -x URL http://chat.wetalk.lab/), or send requests to it with a
    Host header.

    Examples:

      hulian lab serve --port 8081

      curl -x http://127.0.0.1:8081 http://chat.wetalk.lab/
    """
    # The server (h11, asyncio) only for `lab serve`: the CLI imports every command module.
    from audit.lab.server import LabServer

    loaded = _scenario_or_exit(scenario)
    lab = LabServer(loaded, port=port)
    try:
        lab.start()
    except OSError as exc:
        fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}")
        raise typer.Exit(1) from None
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    sys.stdout.write(json.dumps({"url": lab.base_url, "port": lab.port}) + "\n")
    sys.stdout.flush()
    stderr.print(f"hulian lab: {len(loaded.platforms)} platforms, {len(loaded.edges)} edges on "
                 f"{lab.base_url} (use it as the HTTP proxy for *.lab); Ctrl-C to stop",
                 highlight=False)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        lab.stop()
    stderr.print("hulian lab: stopped", highlight=False)


@app.command("truth")
def truth_command(
    scenario: ScenarioOption = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help='Print {"edges": [...], "search": [...]} as JSON.')] = False,
) -> None:
    """Print the scenario's ground truth: for each source -> target link on a surface, the
    outcome the source applies; and for each lab host, the class each search engine gets
    (robots.txt and page directives; the shipped catalog's engines and the lab's).
    实验室真值：各链接的结果，以及各主机对各搜索引擎的抓取权限。"""
    loaded = _scenario_or_exit(scenario)
    rows = truth(loaded)
    search = search_truth(loaded)
    if json_output:
        sys.stdout.write(json.dumps({"edges": rows, "search": search}, ensure_ascii=False,
                                    indent=1) + "\n")
        return
    table = Table(title=f"lab ground truth ({len(rows)} edges)")
    for column in ("source", "surface", "target", "outcome"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["source"], row["surface"], row["target"], row["outcome"])
    stdout.print(table)
    table = Table(title=f"search barriers 搜索壁垒 ({len(search)} hosts)")
    for column in ("host 主机", "platform 平台", "classes 抓取权限 (engine: class)"):
        table.add_column(column, overflow="fold")
    for entry in search:
        engines = entry["engines"]
        assert isinstance(engines, dict)
        common = max(sorted(set(engines.values())), key=list(engines.values()).count)
        others = [f"{t}: {c}" for t, c in engines.items() if c != common]
        table.add_row(str(entry["host"]), str(entry["platform"]),
                      f"{common}" + (f" except {', '.join(others)}" if others else ""))
    stdout.print(table)


@app.command("policies")
def policies_command(
    directory: Annotated[Path, typer.Argument(metavar="DIR", file_okay=False,
                                              help="Directory to write (created if missing).")],
    scenario: ScenarioOption = None,
) -> None:
    """Write a policy directory for the lab's fictional platforms (companies.yaml and
    platforms/<id>.yaml), to be used with `hulian --policies DIR`.

    Example:

      hulian lab policies lab-policies/ && hulian --policies lab-policies/ policies list
    """
    loaded = _scenario_or_exit(scenario)
    write_policies(loaded, directory)
    try:
        load_catalog([shipped_policies_dir(), directory])
    except PolicyError as exc:
        for problem in exc.problems:
            fail(escape(str(problem)))
        raise typer.Exit(1) from None
    stderr.print(f"wrote {len(loaded.platforms)} lab platforms and {len(loaded.companies)} "
                 f"companies to {directory}", highlight=False)
    stdout.out(str(directory))
