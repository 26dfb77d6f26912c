"""`hulian verify RUN` and `hulian evaluate RUN`: check and re-judge a stored run bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from audit.bundle import Bundle, BundleError, rewrite_verdicts, verify
from audit.commands.policies import load_or_exit
from audit.console import fail, stderr, stdout
from audit.runner import judge

RunArg = Annotated[Path, typer.Argument(metavar="RUN",
                                        help="A run bundle directory (runs/<run-id>).")]


def verify_command(
    run: RunArg,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Recompute the sha256 of every file in the bundle and name what changed, went missing
    or was added since the manifest was sealed. Exit status 1 if anything differs."""
    try:
        report = verify(run)
    except BundleError as exc:
        fail(str(exc))
        raise typer.Exit(1) from None
    if json_output:
        stdout.out(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        for name in report.changed:
            stdout.print(f"[red]changed 已改动[/]  {escape(name)}")
        for name in report.missing:
            stdout.print(f"[red]missing 缺失[/]    {escape(name)}")
        for name in report.unlisted:
            stdout.print(f"[yellow]unlisted 未登记[/] {escape(name)}")
        verdict = "intact 完整" if report.intact else "NOT intact 不完整"
        stdout.print(f"{escape(str(run))}: {len(report.ok)} file(s) match the manifest; "
                     f"bundle {verdict}")
    if not report.intact:
        raise typer.Exit(1)


def evaluate_command(
    run: RunArg,
    force: Annotated[bool, typer.Option(
        help="Re-evaluate even if the bundle's stored files fail verification.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print a summary as JSON.")] = False,
) -> None:
    """Recompute the verdicts of a run from its stored observations with the current
    policies (no crawling), replace verdicts.jsonl and reseal the manifest.

    The bundle is verified first: judging altered observations would launder them.
    """
    catalog = load_or_exit()
    try:
        report = verify(run)
        if not report.intact and not force:
            fail(f"{run}: bundle fails verification (changed: {report.changed}, "
                        f"missing: {report.missing}, unlisted: {report.unlisted}); run "
                        f"`hulian verify {run}` or pass --force")
            raise typer.Exit(1)
        bundle = Bundle(run)
        verdicts = judge(run, catalog)
        unverified: dict[str, object] | None = None if report.intact else {
            "changed": report.changed, "missing": report.missing, "unlisted": report.unlisted}
        rewrite_verdicts(run, verdicts, catalog.digest, unverified)
    except BundleError as exc:
        fail(str(exc))
        raise typer.Exit(1) from None
    counts: dict[str, int] = {}
    for verdict in verdicts:
        counts[verdict.status.value] = counts.get(verdict.status.value, 0) + 1
    for note in bundle.problems.skipped:
        stderr.print(f"[yellow]warning[/]: {note}")
    summary = {"run": str(run), "verdicts": len(verdicts), "by_status": counts,
               "policy_digest": catalog.digest}
    if json_output:
        stdout.out(json.dumps(summary, ensure_ascii=False))
    else:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
        stdout.print(f"{run}: {len(verdicts)} verdict(s) 判定 ({parts}); policies "
                     f"{catalog.digest[:16]}")
