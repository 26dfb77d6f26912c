"""Scheduled audits: the CLI, the lock, alerts exactly when a lab scenario change makes the
audit regress (a real local webhook receiver), and the daemon starting a run on time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from audit.cli import app
from audit.history.store import open_engine
from audit.ops.schedule import runs_of, schedule_lock

HULIAN = [sys.executable, "-m", "audit.cli"]
SCENARIO = Path(__file__).resolve().parents[1] / "audit" / "lab" / "scenarios" / "default.yaml"


def hulian(env: dict[str, str], *args: str, timeout: float = 240
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HULIAN, *args], capture_output=True, text=True, timeout=timeout,
                          check=False, env={**os.environ, **env})


def in_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI run in this process (typer's CliRunner): the commands that only read and write
    the store, without an interpreter's start (~2 s) per call."""
    result = CliRunner().invoke(app, list(args), env=env)
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout,
                                       result.stderr)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"HULIAN_DB": f"sqlite:///{tmp_path / 'history.db'}",
            "HULIAN_LOCK_DIR": str(tmp_path / "locks"), "COLUMNS": "200"}


def test_add_list_export_remove(env: dict[str, str]) -> None:
    hulian = in_process
    added = hulian(env, "schedule", "add", "nightly", "--cron", "0 3 * * 1-5", "--webhook",
                   "http://127.0.0.1:9/hook", "--", "--lab", "--report-format", "")
    assert added.returncode == 0, added.stderr
    listed = json.loads(hulian(env, "schedule", "list", "--json").stdout)
    assert [(s["name"], s["cron"], s["args"]) for s in listed] == [
        ("nightly", "0 3 * * 1-5", ["--lab", "--report-format", ""])]
    cron = hulian(env, "schedule", "export", "nightly", "--cron").stdout
    assert cron.startswith("0 3 * * 1-5 cd ") and "schedule run-now nightly" in cron
    units = hulian(env, "schedule", "export", "nightly", "--systemd").stdout
    assert "OnCalendar=Mon..Fri *-*-* 03:00:00" in units
    again = hulian(env, "schedule", "add", "nightly", "--cron", "0 3 * * *")
    assert again.returncode == 1 and "exists" in again.stderr
    assert hulian(env, "schedule", "remove", "nightly").returncode == 0
    assert json.loads(hulian(env, "schedule", "list", "--json").stdout) == []


@pytest.mark.parametrize(("args", "message"), [
    (["--cron", "0 25 * * *"], "hour: 25 is out of range"),
    (["--cron", "daily"], "expected 5 fields"),
    (["--cron", "0 3 * * *", "--webhook", "ftp://x"], "url"),
])
def test_bad_schedules_are_refused(env: dict[str, str], args: list[str], message: str) -> None:
    result = in_process(env, "schedule", "add", "bad", *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_held_lock_refuses_a_second_run(env: dict[str, str], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    in_process(env, "schedule", "add", "locked", "--cron", "0 3 * * *", "--", "--lab")
    # run-now in another process: the lock is a file lock, which never conflicts within one.
    monkeypatch.setenv("HULIAN_LOCK_DIR", env["HULIAN_LOCK_DIR"])
    with schedule_lock("locked") as held:
        assert held
        result = hulian(env, "schedule", "run-now", "locked", "--out", str(tmp_path / "r"))
    assert result.returncode == 5
    (row,) = runs_of(open_engine(env["HULIAN_DB"]), "locked")
    assert row.status == "locked"
    assert not (tmp_path / "r").exists()  # nothing was started


@pytest.mark.slow
def test_alerts_exactly_when_a_scenario_change_regresses(
        env: dict[str, str], tmp_path: Path,
        webhook: tuple[list[dict[str, Any]], str]) -> None:
    bodies, url = webhook
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO.read_text(encoding="utf-8"), encoding="utf-8")
    data = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    changed = next(e for e in data["edges"] if e["outcome"] == "direct")
    # The changed edge's platform only: three runs of the whole lab would measure the same
    # thing at three times the cost.
    added = hulian(env, "schedule", "add", "lab", "--cron", "0 3 * * *", "--webhook", url,
                   "--", "--lab", "--source", changed["source"], "--scenario", str(scenario),
                   "--report-format", "")
    assert added.returncode == 0, added.stderr
    out = tmp_path / "runs"

    def run_now() -> dict[str, Any]:
        result = hulian(env, "schedule", "run-now", "lab", "--out", str(out), "--json")
        assert result.returncode == 0, result.stderr[-2000:]
        return dict(json.loads(result.stdout))

    first = run_now()
    assert first["status"] == "ok" and first["regression"] is None and bodies == []
    time.sleep(1.1)  # run ids carry the second
    second = run_now()  # same scenario: no regression, no alert
    assert second["regression"] is False and bodies == []

    changed["outcome"] = "copy_only"
    scenario.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    time.sleep(1.1)
    third = run_now()
    assert third["regression"] is True
    (alert,) = bodies
    assert alert["schedule"] == "lab" and alert["run_id"] == third["run_id"]
    assert alert["previous_run_id"] == second["run_id"]
    assert [(r["source"], r["surface"], r["target"], r["before"], r["after"])
            for r in alert["regressions"]] == [
        (changed["source"], changed["surface"], changed["target"], "direct", "copy_only")]
    statuses = [r.status for r in runs_of(open_engine(env["HULIAN_DB"]), "lab")]
    assert statuses == ["ok", "ok", "ok"]

    # A previous run that can no longer be read: the new run is still recorded, not compared.
    broken = out / third["run_id"]
    (broken / "observations.jsonl").write_text("not json\n", encoding="utf-8")
    (broken / "observations.parquet").unlink(missing_ok=True)
    time.sleep(1.1)
    fourth = run_now()
    assert fourth["status"] == "ok" and fourth["regression"] is None and len(bodies) == 1
    statuses = [r.status for r in runs_of(open_engine(env["HULIAN_DB"]), "lab")]
    assert statuses == ["ok", "ok", "ok", "ok"]


@dataclass
class Daemon:
    env: dict[str, str]
    started: float
    process: subprocess.Popen[str]


@pytest.fixture(scope="module", autouse=True)
def minutely_daemon(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[Daemon | None]:
    """The daemon of test_daemon_runs_a_schedule_on_time, started before this module's other
    tests: it waits for the top of the next minute (up to 60 s) whatever happens, and the other
    tests run meanwhile instead of after it. Not started when that test is not selected."""
    if not any(item.name == "test_daemon_runs_a_schedule_on_time"
               for item in request.session.items):
        yield None
        return
    base = tmp_path_factory.mktemp("daemon")
    env = {"HULIAN_DB": f"sqlite:///{base / 'history.db'}",
           "HULIAN_LOCK_DIR": str(base / "locks"), "COLUMNS": "200"}
    added = in_process(env, "schedule", "add", "minutely", "--cron", "* * * * *", "--",
                       "--lab", "--report-format", "")
    assert added.returncode == 0, added.stderr
    started = time.time()
    # The test stops it (Ctrl-C) once its run is recorded; --max-runtime only bounds a daemon
    # that never fires: past the second top of a minute after its start.
    process = subprocess.Popen(
        [*HULIAN, "schedule", "daemon", "--out", str(base / "runs"), "--poll", "5",
         "--max-runtime", str(120 - started % 60 + 60)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, **env})
    daemon = Daemon(env, started, process)
    try:
        yield daemon
    finally:
        if process.poll() is None:  # its test was not run (or failed before waiting)
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


# Last in the module: its daemon has been running since the module's first test.
@pytest.mark.slow
def test_daemon_runs_a_schedule_on_time(minutely_daemon: Daemon | None) -> None:
    assert minutely_daemon is not None
    daemon = minutely_daemon
    engine = open_engine(daemon.env["HULIAN_DB"])
    # A run is recorded when it ends; the daemon started at most two minutes ago, and a lab run
    # beside this module's other tests takes well under a minute.
    deadline = time.monotonic() + 240
    while not runs_of(engine, "minutely") and daemon.process.poll() is None:
        assert time.monotonic() < deadline, "the daemon recorded no run"
        time.sleep(0.5)
    daemon.process.send_signal(signal.SIGINT)  # Ctrl-C: how a foreground daemon ends
    _, stderr = daemon.process.communicate(timeout=60)
    assert daemon.process.returncode == 0, stderr[-2000:]
    rows = runs_of(engine, "minutely")
    assert rows, stderr[-2000:]
    assert rows[0].status == "ok"
    # It fired at the top of a minute after the daemon started (the first, or the second when
    # the daemon's own start straddled the first), within the seconds a process takes to
    # start on a loaded machine: not at its start, nor whenever it liked.
    top = daemon.started - daemon.started % 60 + 60
    fired = rows[0].started_at
    fired_at = (fired if fired.tzinfo else fired.replace(tzinfo=UTC)).timestamp()
    assert top <= fired_at <= top + 90 and fired_at % 60 <= 30, (daemon.started, fired)
