"""The `hulian` command line: thin commands that parse options and call one function each."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from audit import __version__
from audit.cli import capture, history, keys, lab, policies, schedule, site
from audit.cli.console import setup_logging, stdout
from audit.cli.custody import timestamp_command
from audit.cli.export import export_command
from audit.cli.graph import graph_command
from audit.cli.help import HelpGroup
from audit.cli.inspect import inspect
from audit.cli.query import query_command
from audit.cli.report import report_command
from audit.cli.run import audit_run
from audit.cli.runs import evaluate_command, verify_command
from audit.cli.search import search_barriers_command
from audit.cli.worker import worker_command
from audit.policy.catalog import POLICIES_ENV

app = typer.Typer(
    name="hulian",
    cls=HelpGroup,
    help="hulian 互联 — audit whether platforms block, obstruct or discriminate against links "
         "to other companies' services (MIIT 2021 屏蔽网址链接 rectification).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(policies.app, name="policies")
app.add_typer(lab.app, name="lab")
app.add_typer(capture.app, name="capture")
app.add_typer(schedule.app, name="schedule")
app.add_typer(keys.app, name="keys")
app.add_typer(site.app, name="site")
app.command()(inspect)
app.command("run")(audit_run)
app.command("crawl", help="Same as `hulian run` (measure, then judge); kept as the name the "
            "resume and distributed workflows use.\n\nExamples:\n\n"
            "  hulian crawl --resume runs/20261128T030000Z-1a2b3c\n\n"
            "  hulian crawl --source zhihu --distributed redis://127.0.0.1:6379/0 "
            "--store postgresql+psycopg://hulian@127.0.0.1/hulian")(audit_run)
app.command("verify")(verify_command)
app.command("timestamp")(timestamp_command)
app.command("report")(report_command)
app.command("graph")(graph_command)
app.add_typer(history.app, name="runs")
app.command("diff")(history.diff_command)
app.command("worker")(worker_command)
app.command("evaluate")(evaluate_command)
app.command("export")(export_command)
app.command("query")(query_command)
app.command("search-barriers")(search_barriers_command)


def _version(value: bool) -> None:
    if value:
        stdout.out(f"hulian {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help="More log output on stderr (-vv for debug).")] = 0,
    policies_dir: Annotated[list[Path] | None, typer.Option(
        "--policies", help="Add a policy directory (your own platforms, rules, frameworks) "
                           "to the shipped set. Repeatable; also $HULIAN_POLICIES.",
        exists=True, file_okay=False)] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    setup_logging(verbose)
    if policies_dir:
        existing = [p for p in os.environ.get(POLICIES_ENV, "").split(os.pathsep) if p]
        os.environ[POLICIES_ENV] = os.pathsep.join([*existing, *map(str, policies_dir)])


def main() -> None:
    app()


if __name__ == "__main__":
    main()
