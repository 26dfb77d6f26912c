"""`hulian schedule add|list|remove|run-now|daemon|export`: scheduled audits with alerts."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from audit.cli.console import fail, stderr, stdout
from audit.cli.history import STORE_HELP

app = typer.Typer(help="Scheduled audits: nightly runs, alerts when something regresses.",
                  no_args_is_help=True)

DbOption = Annotated[str | None, typer.Option("--db", help=STORE_HELP)]
OutOption = Annotated[Path, typer.Option(help="Directory for the scheduled runs' bundles.")]
ScheduleName = Annotated[str, typer.Argument(
    help="The schedule's name (see `hulian schedule list`).")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _engine(db: str | None) -> Any:
    from audit.history.store import StoreError, open_engine

    try:
        return open_engine(db)
    except StoreError as exc:
        fail(str(exc))
        raise typer.Exit(1) from None


def _guard(action: Any) -> Any:
    from audit.ops.export import CronError
    from audit.ops.schedule import ScheduleError

    try:
        return action()
    except (ScheduleError, CronError, ValueError) as exc:
        fail(str(exc))
        raise typer.Exit(1) from None


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The schedule's name.")],
    cron: Annotated[str, typer.Option(help='When, in crontab syntax (UTC): "0 3 * * *".')],
    webhook: Annotated[list[str] | None, typer.Option(
        help="POST a JSON alert to this URL on regression (repeatable).")] = None,
    email: Annotated[list[str] | None, typer.Option(
        help="Mail an alert to this address on regression (repeatable).")] = None,
    smtp: Annotated[str, typer.Option(help="SMTP server HOST:PORT for --email.")
                    ] = "127.0.0.1:25",
    db: DbOption = None,
) -> None:
    """Add a schedule. Everything after `--` is passed to `hulian run`.

    For example:

      hulian schedule add nightly --cron "0 3 * * *" --webhook "$HOOK_URL" -- --lab
      hulian schedule add wechat --cron "30 2 * * 1-5" --email ops@x.cn -- -s weixin
    """
    from audit.ops.schedule import add as add_schedule

    host, _, port = smtp.rpartition(":")
    channels: list[dict[str, Any]] = [{"kind": "webhook", "url": u} for u in webhook or []]
    if email:
        channels.append({"kind": "email", "to": list(email), "smtp_host": host or "127.0.0.1",
                         "smtp_port": int(port or 25)})
    row = _guard(lambda: add_schedule(_engine(db), name, cron, list(ctx.args), channels))
    stdout.print(f"schedule {row.name} added: {row.cron} → hulian run {' '.join(row.args)}")


@app.command("list")
def list_(db: DbOption = None,
          json_output: JsonOutput = False) -> None:
    """List schedules with their last run."""
    from audit.ops.schedule import all_schedules, as_dict, runs_of

    engine = _engine(db)
    rows = []
    for row in all_schedules(engine):
        runs = runs_of(engine, row.name)
        last = runs[-1] if runs else None
        rows.append({**as_dict(row), "runs": len(runs),
                     "last_status": last.status if last else None,
                     "last_run_id": last.run_id if last else None})
    if json_output:
        stdout.out(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title=f"schedules ({len(rows)})")
    for column in ("name", "cron", "run options", "channels", "runs", "last"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["name"], r["cron"], " ".join(r["args"]), str(len(r["channels"])),
                      str(r["runs"]), f"{r['last_status'] or '-'} {r['last_run_id'] or ''}")
    stdout.print(table)


@app.command()
def remove(name: ScheduleName, db: DbOption = None) -> None:
    """Remove a schedule and its run records (the run bundles stay).

    Example:

      hulian schedule remove nightly
    """
    from audit.ops.schedule import remove as remove_schedule

    _guard(lambda: remove_schedule(_engine(db), name))
    stdout.print(f"schedule {name} removed")


@app.command("run-now")
def run_now(
    name: ScheduleName,
    out: OutOption = Path("runs"),
    db: DbOption = None,
    json_output: JsonOutput = False,
) -> None:
    """Run a schedule's audit now, record it with the schedule, and alert on regression
    against the schedule's previous run. This is what the daemon, cron and systemd call.
    Exit status 5 when another run of the same schedule is still going.

    Example:

      hulian schedule run-now nightly --out /srv/hulian/runs
    """
    from audit.errors import EXIT_LOCKED
    from audit.ops.schedule import run_now as run_schedule

    result = _guard(lambda: run_schedule(_engine(db), name, out))
    payload = {"schedule": name, "status": result.status, "run_id": result.run_id,
               "exit_code": result.exit_code, "regression": result.regression,
               "alerts": result.deliveries}
    if json_output:
        stdout.out(json.dumps(payload, ensure_ascii=False, default=str))
    else:
        stdout.print(f"schedule {name}: {result.status} run {result.run_id or '-'}"
                     f"{'; regression, alerts sent' if result.regression else ''}")
    if result.status == "locked":
        stderr.print(f"another run of {name} holds its lock; nothing started")
        raise typer.Exit(EXIT_LOCKED)
    if result.status == "failed":
        raise typer.Exit(1)


@app.command()
def daemon(
    out: OutOption = Path("runs"),
    db: DbOption = None,
    poll: Annotated[float, typer.Option(help="Seconds between re-reads of the schedules.")
                    ] = 30.0,
    max_runtime: Annotated[float | None, typer.Option(
        help="Stop after this many seconds (for tests and supervised restarts).")] = None,
) -> None:
    """Run due schedules until stopped (APScheduler). Each audit runs in its own process;
    a firing missed by more than an hour is skipped and recorded as `missed`.

    Example:

      hulian schedule daemon --out /srv/hulian/runs --db postgresql+psycopg://hulian@db/hulian
    """
    from audit.ops.schedule import daemon as run_daemon

    stderr.print("schedule daemon started (UTC); Ctrl-C to stop")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a foreground daemon ends
        run_daemon(_engine(db), out, poll_s=poll, max_runtime_s=max_runtime)


@app.command()
def export(
    name: ScheduleName,
    cron_format: Annotated[bool, typer.Option("--cron", help="Print a crontab line.")] = False,
    systemd: Annotated[bool, typer.Option(
        "--systemd", help="Print a systemd service + timer pair.")] = False,
    db: DbOption = None,
) -> None:
    """Print the schedule for the system's scheduler: a crontab line or systemd units that
    call the same one-shot `hulian schedule run-now NAME`.

    Examples:

      hulian schedule export nightly --cron     # a line for your crontab (crontab -e)

      hulian schedule export nightly --systemd
    """
    from audit.ops.export import crontab_line, systemd_units
    from audit.ops.schedule import get

    if cron_format == systemd:
        fail("choose one of --cron or --systemd")
        raise typer.Exit(2)
    row = _guard(lambda: get(_engine(db), name))
    # The hulian next to this interpreter (the virtualenv's), else the one on PATH.
    beside = Path(sys.executable).parent / "hulian"
    executable = str(beside) if beside.exists() else (shutil.which("hulian") or "hulian")
    if cron_format:
        stdout.out(crontab_line(row.name, row.cron, executable, Path.cwd()))
        return
    for file_name, text in systemd_units(row.name, row.cron, executable, Path.cwd()).items():
        stdout.out(f"# {file_name}\n{text}")
