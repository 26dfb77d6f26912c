"""Scheduled audits: the CLI, the lock, alerts exactly when a lab scenario change makes the
audit regress (a real local webhook receiver), and the daemon starting a run on time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from audit.history.store import open_engine
from audit.ops.schedule import runs_of, schedule_lock

HULIAN = [sys.executable, "-m", "audit.cli"]
SCENARIO = Path(__file__).resolve().parents[1] / "audit" / "lab" / "scenarios" / "default.yaml"


def hulian(env: dict[str, str], *args: str, timeout: float = 240
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HULIAN, *args], capture_output=True, text=True, timeout=timeout,
                          check=False, env={**os.environ, **env})


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"HULIAN_DB": f"sqlite:///{tmp_path / 'history.db'}",
            "HULIAN_LOCK_DIR": str(tmp_path / "locks"), "COLUMNS": "200"}


def test_add_list_export_remove(env: dict[str, str]) -> None:
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
    result = hulian(env, "schedule", "add", "bad", *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_held_lock_refuses_a_second_run(env: dict[str, str], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    hulian(env, "schedule", "add", "locked", "--cron", "0 3 * * *", "--", "--lab")
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


@pytest.mark.slow
def test_daemon_runs_a_schedule_on_time(env: dict[str, str], tmp_path: Path) -> None:
    hulian(env, "schedule", "add", "minutely", "--cron", "* * * * *", "--", "--lab",
           "--report-format", "")
    started = time.time()
    result = hulian(env, "schedule", "daemon", "--out", str(tmp_path / "runs"), "--poll", "5",
                    "--max-runtime", str(62 - started % 60 + 30), timeout=150)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = runs_of(open_engine(env["HULIAN_DB"]), "minutely")
    assert rows, result.stderr[-2000:]
    assert rows[0].status == "ok"
    # It fired at the top of the minute (within a few seconds), not whenever it liked.
    assert rows[0].started_at.second <= 10
