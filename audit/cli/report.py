"""`hulian report RUN`: render a run bundle's reports (HTML, PDF, JSON, CSV, JUnit)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from audit.cli.console import fail, stdout
from audit.cli.runs import AllowUnverified, verified, writing
from audit.evidence.bundle import BundleError
from audit.policy.catalog import PolicyError, catalog_for_run

RunArg = Annotated[Path, typer.Argument(metavar="RUN",
                                        help="A run bundle directory (runs/<run-id>).")]


def parse_formats(value: str) -> list[str]:
    """'html,pdf' -> ['html', 'pdf']; 'all' -> every format."""
    # The renderer (Jinja2, Babel) only for the commands that render, here and below.
    from audit.report.render import FORMATS

    if value.strip() == "all":
        return list(FORMATS)
    return [f.strip().lower() for f in value.split(",") if f.strip()]


def report_command(
    run: RunArg,
    formats: Annotated[str, typer.Option(
        "--format", "-f", metavar="LIST",
        help="Comma-separated: html, pdf, json, csv, junit (or 'all').")
    ] = "html,pdf,json,csv,junit",
    lang: Annotated[str, typer.Option("--lang", help="Report language: zh or en.")] = "zh",
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="DIR", file_okay=False,
        help="Write the reports here instead of into the run bundle.")] = None,
    previous: Annotated[Path | None, typer.Option(
        "--previous", metavar="RUN",
        help="An earlier run bundle: the report lists what changed since it.")] = None,
    allow_unverified: AllowUnverified = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the written files as JSON.")
                           ] = False,
) -> None:
    """Render the reports of a run bundle: report.html (one self-contained file), report.pdf
    (A4, Chinese fonts embedded), findings.json, findings.csv and junit.xml.

    Reports are derived from the bundle's observations and verdicts and can be rendered
    again at any time, in either language, without touching the sealed evidence.

    Examples:

      hulian report runs/20261128T030000Z-1a2b3c

      hulian report runs/RUN --lang en --format html,pdf --out /tmp/report-en

      hulian report runs/NEW --previous runs/OLD

    The bundle (and the --previous one) must pass `hulian verify`. Exit status: 0 written;
    5 another process is writing the bundle; 6 a bundle fails verification (refused unless
    --allow-unverified, which puts an UNVERIFIED banner into every report file); 7 RUN is
    not a run bundle; 1 other errors.
    """
    from audit.report.render import ReportError, write_reports

    elsewhere = out is not None and out.resolve() != run.resolve()
    try:
        with writing(run, "report", read_only_ok=elsewhere):
            problems = verified(run, allow_unverified)
            if previous is not None:
                # The changes section is made from the previous bundle: its problems are
                # the report's too.
                earlier = verified(previous, allow_unverified) or []
                problems = (problems or []) + [(k, f"{previous}: {d}") for k, d in earlier] \
                    or None
            catalog = catalog_for_run(run)
            written = write_reports(run, catalog, parse_formats(formats), lang, out,
                                    previous=previous, unverified=problems)
    except (ReportError, BundleError, PolicyError, OSError) as exc:
        fail(str(exc))
        raise typer.Exit(1) from None
    if json_output:
        stdout.out(json.dumps({"run": str(run), "files": [str(p) for p in written]},
                              ensure_ascii=False))
    else:
        for path in written:
            stdout.print(escape(str(path)))
