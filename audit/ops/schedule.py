"""Scheduled audits: schedules stored in the history database, one-shot runs under a lock,
alerts on regression, and a daemon (APScheduler 3.x) that starts due runs.

Each audit runs in its own process (`hulian run ...`): Scrapy's reactor starts once per
process, and a crashing audit must not take the daemon down. Two runs of one schedule never
overlap: a run holds an exclusive `flock` on the schedule's lock file, which the kernel
releases when the process ends, so a crash never leaves a stale lock behind.

Missed runs: the daemon coalesces missed firings into one and runs it if it is at most
MISFIRE_GRACE_S late (the daemon was busy or briefly down); a firing later than that is
skipped and recorded as `missed`. For catch-up after a machine was off, use the systemd timer
export (Persistent=true).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from audit.errors import HulianError
from audit.evidence.lock import Locked, exclusive
from audit.history.diff import diff
from audit.history.rundata import from_bundle
from audit.history.store import ScheduleRow, ScheduleRunRow
from audit.ops.alerts import Alert, Channel, deliver
from audit.ops.export import validate_cron

logger = logging.getLogger(__name__)

MISFIRE_GRACE_S = 3600

_CHANNELS = TypeAdapter(list[Channel])


class ScheduleError(HulianError):
    """A schedule cannot be added, found or run; the message says why."""


def add(engine: Engine, name: str, cron: str, args: list[str],
        channels: list[dict[str, Any]]) -> ScheduleRow:
    validate_cron(cron)
    _CHANNELS.validate_python(channels)  # refuse a bad channel now, not at 3 a.m.
    with Session(engine) as session:
        if session.get(ScheduleRow, name) is not None:
            raise ScheduleError(f"a schedule named {name!r} exists; remove it first")
        row = ScheduleRow(name=name, cron=cron, args=args, channels=channels,
                          created_at=datetime.now(UTC))
        session.add(row)
        session.commit()
        session.refresh(row)
        session.expunge(row)
        return row


def remove(engine: Engine, name: str) -> None:
    with Session(engine) as session:
        row = session.get(ScheduleRow, name)
        if row is None:
            raise ScheduleError(f"no schedule named {name!r}")
        session.query(ScheduleRunRow).filter(ScheduleRunRow.schedule == name).delete()
        session.delete(row)
        session.commit()


def get(engine: Engine, name: str) -> ScheduleRow:
    with Session(engine) as session:
        row = session.get(ScheduleRow, name)
        if row is None:
            raise ScheduleError(f"no schedule named {name!r} (see `hulian schedule list`)")
        session.expunge(row)
        return row


def all_schedules(engine: Engine) -> list[ScheduleRow]:
    with Session(engine) as session:
        rows = list(session.scalars(select(ScheduleRow).order_by(ScheduleRow.name)))
        for row in rows:
            session.expunge(row)
        return rows


def runs_of(engine: Engine, name: str) -> list[ScheduleRunRow]:
    with Session(engine) as session:
        rows = list(session.scalars(select(ScheduleRunRow).where(
            ScheduleRunRow.schedule == name).order_by(ScheduleRunRow.id)))
        for row in rows:
            session.expunge(row)
        return rows


def _record(engine: Engine, **fields: Any) -> None:
    with Session(engine) as session:
        session.add(ScheduleRunRow(**fields))
        session.commit()


def lock_dir() -> Path:
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return Path(os.environ.get("HULIAN_LOCK_DIR") or base / "hulian" / "locks")


@contextmanager
def schedule_lock(name: str) -> Iterator[bool]:
    """Yield True while holding the schedule's exclusive lock, False if another run has it."""
    directory = lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        try:
            stack.enter_context(exclusive(directory / f"schedule-{name}.lock",
                                          f"schedule run-now {name}"))
        except Locked:
            yield False
            return
        yield True


@dataclass(frozen=True)
class Outcome:
    status: str
    run_id: str | None
    exit_code: int | None
    regression: bool | None
    deliveries: list[dict[str, Any]]


def _previous_ok(engine: Engine, name: str) -> ScheduleRunRow | None:
    ok = [r for r in runs_of(engine, name) if r.status == "ok" and r.run_path]
    return ok[-1] if ok else None


def _audit_command(row: ScheduleRow, out: Path, run_id: str) -> list[str]:
    return [sys.executable, "-m", "audit.cli", "run", *row.args, "--out", str(out),
            "--run-id", run_id, "--json"]


def run_now(engine: Engine, name: str, out: Path, env: dict[str, str] | None = None,
            timeout_s: float | None = None) -> Outcome:
    """Run one schedule's audit now (in a child process), record it with the schedule, and
    alert its channels if the audit regressed against the schedule's previous run."""
    row = get(engine, name)
    started = datetime.now(UTC)
    with schedule_lock(name) as held:
        if not held:
            _record(engine, schedule=name, status="locked", started_at=started,
                    finished_at=datetime.now(UTC), alerts=[])
            return Outcome("locked", None, None, None, [])
        previous = _previous_ok(engine, name)
        run_id = f"{name}-{started:%Y%m%dT%H%M%SZ}"
        process = subprocess.run(_audit_command(row, out, run_id), capture_output=True,
                                 text=True, timeout=timeout_s, check=False,
                                 env={**os.environ, **(env or {})})
        run_path = out / run_id
        # 0: audit complete; 3: complete, and a --fail-on threshold was crossed.
        ok = process.returncode in (0, 3) and (run_path / "manifest.json").exists()
        regression = None
        deliveries: list[dict[str, Any]] = []
        if ok and previous is not None and previous.run_path:
            try:
                alert = regression_alert(name, Path(previous.run_path), run_path)
            except (HulianError, OSError) as exc:
                # The audit itself succeeded: it is recorded, not compared, rather than lost
                # because the previous run (or its tables) cannot be read.
                logger.warning("schedule %s: run %s was not compared with the previous run "
                               "(%s): %s", name, run_id, previous.run_path, exc)
            else:
                regression = alert.needed
                channels = _CHANNELS.validate_python(row.channels)
                deliveries = [d.__dict__ for d in deliver(alert, channels, dict(os.environ))]
        elif not ok:
            logger.warning("schedule %s: the audit failed (exit %s): %s", name,
                           process.returncode, process.stderr[-2000:])
        _record(engine, schedule=name, run_id=run_id if ok else None,
                run_path=str(run_path) if ok else None, status="ok" if ok else "failed",
                started_at=started, finished_at=datetime.now(UTC),
                exit_code=process.returncode, regression=regression, alerts=deliveries)
        return Outcome("ok" if ok else "failed", run_id if ok else None, process.returncode,
                       regression, deliveries)


def regression_alert(name: str, before: Path, after: Path) -> Alert:
    """The alert for `after` compared with `before` (the schedule's previous run), from
    the same comparison as `hulian diff` (graph verdicts and metrics included)."""
    result = diff(from_bundle(before), from_bundle(after))
    regressions = [c.as_dict(("source", "surface", "target")) for c in result.edges
                   if c.kind == "worse"]
    failing = [c.key[0] for c in result.requirements if c.kind == "worse" and c.after == "fail"]
    closed = [c.as_dict(("platform", "engine")) for c in result.search if c.kind == "worse"]
    return Alert(schedule=name, run_id=result.run_b, previous_run_id=result.run_a,
                 regressions=regressions, new_failing_requirements=failing,
                 search_regressions=closed)


def daemon(engine: Engine, out: Path, *, poll_s: float = 30.0,
           max_runtime_s: float | None = None) -> None:
    """Run due schedules until stopped. Each firing starts `hulian schedule run-now NAME`
    in its own process; schedules added or removed meanwhile are picked up every poll_s."""
    # APScheduler only in the daemon: the one-shot schedule commands never load it.
    from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    scheduler = BlockingScheduler(timezone="UTC")
    known: dict[str, str] = {}

    def fire(name: str) -> None:
        command = [sys.executable, "-m", "audit.cli", "schedule", "run-now", name,
                   "--out", str(out)]
        logger.warning("schedule %s: starting %s", name, " ".join(command))
        subprocess.run(command, check=False)

    def missed(event: JobExecutionEvent) -> None:
        name = str(event.job_id)
        logger.warning("schedule %s: a firing was missed by more than %s s; skipped", name,
                       MISFIRE_GRACE_S)
        _record(engine, schedule=name, status="missed", started_at=datetime.now(UTC),
                finished_at=datetime.now(UTC), alerts=[])

    def sync() -> None:
        rows = {r.name: r.cron for r in all_schedules(engine)}
        for name in set(known) - set(rows):
            scheduler.remove_job(name)
            known.pop(name)
        for name, cron in rows.items():
            if known.get(name) != cron:
                if name in known:
                    scheduler.remove_job(name)
                scheduler.add_job(fire, CronTrigger.from_crontab(cron, timezone="UTC"),
                                  args=[name], id=name, coalesce=True, max_instances=1,
                                  misfire_grace_time=MISFIRE_GRACE_S)
                known[name] = cron

    sync()
    scheduler.add_job(sync, "interval", seconds=poll_s, id="__sync__")
    scheduler.add_listener(missed, EVENT_JOB_MISSED)
    if max_runtime_s is not None:
        scheduler.add_job(lambda: scheduler.shutdown(wait=False), "date",
                          run_date=datetime.fromtimestamp(
                              datetime.now(UTC).timestamp() + max_runtime_s, UTC),
                          id="__stop__")
    scheduler.start()


def as_dict(row: ScheduleRow) -> dict[str, Any]:
    return {"name": row.name, "cron": row.cron, "args": row.args,
            "channels": json.loads(json.dumps(row.channels)),
            "created_at": row.created_at.isoformat() if row.created_at else None}
