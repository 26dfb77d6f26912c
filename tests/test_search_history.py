"""Search classes in the history store and in the schedules' alerts (issue 15, part 3): the
search_classes table (Alembic revision 0004, also over a store made before it), `hulian
diff` of stored runs showing a platform that closed to an engine as a regression, and a
scheduled lab run whose platform closed to an engine alerting through a real webhook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, insert, inspect
from typer.testing import CliRunner

from audit.history.rundata import from_store
from audit.history.store import RunRow, ingest, load_search, open_engine
from audit.model import Observation, Outcome, SurfaceKind
from audit.ops.alerts import Alert
from audit.ops.schedule import runs_of

SCENARIO = Path(__file__).resolve().parents[1] / "audit" / "lab" / "scenarios" / "default.yaml"
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def run_row(run_id: str, minutes: int) -> dict[str, object]:
    return {"id": run_id, "path": None, "started_at": T0 + timedelta(minutes=minutes),
            "finished_at": None, "recorded_at": T0, "tool_version": "0", "policy_digest": "d",
            "sources_key": "p,q", "n_observations": 0, "n_verdicts": 0, "n_failed": 0,
            "summary": {}}


def observed(run_id: str) -> list[Observation]:
    """One link, the same in every run: the diff compares search classes, not links."""
    return [Observation(id=f"{run_id}-o", probe_id="probe", source="p",
                        surface=SurfaceKind.POST, target_url="http://q.lab/x",
                        target_platform="q", outcome=Outcome.DIRECT)]


BEFORE = {("p", "Baiduspider"): "open", ("p", "Googlebot"): "partial",
          ("q", "Baiduspider"): "closed"}
AFTER = {("p", "Baiduspider"): "closed", ("p", "Googlebot"): "partial",
         ("q", "Baiduspider"): "open"}


def test_the_store_keeps_search_classes_and_a_stored_diff_shows_them(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    engine = open_engine(db)
    ingest(engine, run_row("a", 0), observed("a"), [], [], BEFORE)
    ingest(engine, run_row("b", 5), observed("b"), [], [], AFTER)
    ingest(engine, run_row("c", 9), observed("c"), [], [])  # without search barriers
    assert load_search(engine, "a") == BEFORE and load_search(engine, "c") == {}
    data = from_store(engine, "b")
    assert data is not None and data.search == AFTER

    import typer

    from audit.cli.history import diff_command

    app = typer.Typer()
    app.command("diff")(diff_command)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["diff", "a", "b", "--json", "--fail-on-regression"],
                                env={"HULIAN_DB": db, "COLUMNS": "200"})
    assert result.exit_code == 4, result.output
    shown = json.loads(result.stdout)
    assert shown["regression"] is True
    assert [(c["change"], c["platform"], c["engine"], c["before"], c["after"])
            for c in shown["search"]] == [("worse", "p", "Baiduspider", "open", "closed"),
                                          ("better", "q", "Baiduspider", "closed", "open")]
    # against a run without search classes nothing is compared (not a regression)
    quiet = CliRunner().invoke(app, ["diff", "a", "c", "--json"], env={"HULIAN_DB": db})
    assert quiet.exit_code == 0, quiet.output
    assert json.loads(quiet.stdout)["search"] == []
    # deleting a run deletes its classes (ON DELETE CASCADE)
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM runs WHERE id = 'a'")
    assert load_search(engine, "a") == {}


def test_a_store_made_before_revision_0004_is_upgraded(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    import audit.history.store

    db = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_engine(db)
    config = Config()
    config.set_main_option("script_location",
                           str(Path(audit.history.store.__file__).parent / "migrations"))
    with old.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
    assert "search_classes" not in inspect(old).get_table_names()
    with old.begin() as connection:
        connection.execute(insert(RunRow), [run_row("old", 0)])
    old.dispose()
    engine = open_engine(db)  # upgraded to head on opening
    assert "search_classes" in inspect(engine).get_table_names()
    data = from_store(engine, "old")
    assert data is not None and data.search == {}
    ingest(engine, run_row("new", 5), [], [], [], AFTER)
    assert load_search(engine, "new") == AFTER


def test_an_alert_carries_the_platforms_that_closed_to_an_engine() -> None:
    closed = [{"change": "worse", "platform": "p", "engine": "Baiduspider", "before": "open",
               "after": "closed"}]
    alert = Alert("nightly", "r2", "r1", search_regressions=closed)
    assert alert.needed
    payload = alert.payload()
    assert payload["search_regressions"] == closed and payload["regressions"] == []
    assert "p/Baiduspider open->closed" in payload["summary"]
    assert "对搜索引擎收紧" in payload["summary"]
    assert not Alert("nightly", "r2", "r1").needed


# ---------------------------------------------------------------------------------------
# End to end: `hulian schedule run-now` on the lab, a robots.txt changed between runs
# ---------------------------------------------------------------------------------------


def _hulian(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audit.cli", *args], capture_output=True,
                          text=True, timeout=600, check=False, env={**os.environ, **env})


@pytest.mark.slow
def test_a_scheduled_run_whose_platform_closed_to_an_engine_alerts(
        tmp_path: Path, webhook: tuple[list[dict[str, Any]], str]) -> None:
    bodies, url = webhook
    env = {"HULIAN_DB": f"sqlite:///{tmp_path / 'history.db'}", "HULIAN_POLICIES": "",
           "HULIAN_LOCK_DIR": str(tmp_path / "locks"), "COLUMNS": "200"}
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO.read_text(encoding="utf-8"), encoding="utf-8")
    # Two platforms, the one that closes and one that does not: the whole lab twice would
    # measure the same thing at several times the cost.
    added = _hulian(env, "schedule", "add", "lab", "--cron", "0 3 * * *", "--webhook", url,
                    "--", "--lab", "--source", "payfly", "--source", "wetalk",
                    "--scenario", str(scenario), "--report-format", "")
    assert added.returncode == 0, added.stderr
    out = tmp_path / "runs"

    def run_now() -> dict[str, Any]:
        result = _hulian(env, "schedule", "run-now", "lab", "--out", str(out), "--json")
        assert result.returncode == 0, result.stderr[-2000:]
        return dict(json.loads(result.stdout))

    first = run_now()
    assert first["status"] == "ok" and bodies == []
    # PayFly's hosts (pay.payfly.lab answered 404, its wrapper go.payfly.lab the default
    # open file) now both shut Googlebot out. Links are unchanged: the only regression is
    # PayFly closing to Google's engine.
    data = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    data["robots"] = [r for r in data["robots"] if r["host"] != "pay.payfly.lab"]
    for host in ("pay.payfly.lab", "go.payfly.lab"):
        data["robots"].append({
            "host": host, "body": "User-agent: hulian\nAllow: /\n\nUser-agent: Googlebot\n"
                                  "Disallow: /\n",
            "expect": {"*": "open", "Googlebot": "closed"}})
    scenario.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    time.sleep(1.1)  # run ids carry the second
    second = run_now()
    assert second["regression"] is True
    (alert,) = bodies
    assert alert["run_id"] == second["run_id"] and alert["previous_run_id"] == first["run_id"]
    assert alert["regressions"] == [] and alert["new_failing_requirements"] == []
    closed = [(r["platform"], r["engine"], r["after"]) for r in alert["search_regressions"]]
    assert ("payfly", "Googlebot", "closed") in closed
    assert {p for p, _, _ in closed} == {"payfly"}  # wetalk, measured too, did not close
    statuses = [r.status for r in runs_of(open_engine(env["HULIAN_DB"]), "lab")]
    assert statuses == ["ok", "ok"]
    # the finished runs were recorded with their search classes: a stored diff shows it
    engine = open_engine(env["HULIAN_DB"])
    searched = load_search(engine, second["run_id"])
    assert searched[("payfly", "Googlebot")] == "closed"
    assert searched[("wetalk", "Googlebot")] != "closed"
