"""`hulian query`: DuckDB over the history of two real lab runs (the second on a scenario
where WeTalk stopped blocking TaoShop in moments and DingWork started warning about it),
with the SQLite store and with a PostgreSQL store on 127.0.0.1; the README's example
queries, run and checked against the bundles' own records; read-only and malformed queries
answered with DuckDB's message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.evidence.bundle import Bundle
from tests.test_store import postgres_url  # noqa: F401  (the PostgreSQL fixture)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
HULIAN = [sys.executable, "-m", "audit.cli"]
SOURCES = ["--source", "wetalk", "--source", "dingwork"]

# The README's examples ("SQL over the history"), verbatim.
OUTCOME_SHARE = """
SELECT month, outcome, n, round(n / sum(n) OVER (PARTITION BY month), 3) AS share
FROM (SELECT strftime(started_at, '%Y-%m') AS month, outcome, count(*) AS n
      FROM observations WHERE source = 'wetalk' GROUP BY ALL)
ORDER BY month, n DESC, outcome
"""
CHANGED_EDGES = """
WITH edge AS (
  SELECT run_id, source, surface, target_platform, mode(outcome) AS outcome
  FROM observations GROUP BY ALL)
SELECT a.source, a.surface, a.target_platform, a.outcome AS before, b.outcome AS after
FROM edge a JOIN edge b USING (source, surface, target_platform)
WHERE a.run_id = 'lab-1' AND b.run_id = 'lab-2' AND a.outcome <> b.outcome
ORDER BY ALL
"""
BLOCKED_BY_EVERY_IM = """
WITH im(source) AS (VALUES ('wetalk'), ('dingwork')),
obstructed AS (
  SELECT DISTINCT run_id, source, target_platform FROM observations
  WHERE source IN (SELECT source FROM im)
    AND outcome IN ('warned', 'copy_only', 'blocked', 'stripped', 'diverted'))
SELECT run_id, target_platform FROM obstructed
GROUP BY ALL HAVING count(DISTINCT source) = (SELECT count(*) FROM im)
ORDER BY ALL
"""


def hulian(*args: str, env: dict[str, str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HULIAN, *args], capture_output=True, text=True, timeout=timeout,
                          check=False, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Two lab runs recorded in a SQLite store of their own: (runs directory, store URL)."""
    base = tmp_path_factory.mktemp("history")
    store = f"sqlite:///{base / 'history.db'}"
    scenario = (ROOT / "audit/lab/scenarios/default.yaml").read_text(encoding="utf-8")
    changes = {
        "{source: wetalk, surface: moments, target: taoshop, outcome: blocked, "
        "reason: reward_sharing}": "{source: wetalk, surface: moments, target: taoshop, "
                                   "outcome: direct}",
        "{source: dingwork, surface: im_group, target: taoshop, outcome: direct}":
            "{source: dingwork, surface: im_group, target: taoshop, outcome: warned}"}
    changed = scenario
    for old, new in changes.items():
        assert old in scenario
        changed = changed.replace(old, new)
    (base / "changed.yaml").write_text(changed, encoding="utf-8")
    env = {**os.environ, "HULIAN_DB": store, "HULIAN_CACHE": str(base / "cache")}
    for run_id, extra in (("lab-1", []), ("lab-2", ["--scenario", str(base / "changed.yaml")])):
        result = hulian("run", "--lab", *SOURCES, *extra, "--out", str(base / "runs"),
                        "--run-id", run_id, "--report-format", "", "--json", env=env)
        assert result.returncode == 0, result.stderr[-3000:]
    return base / "runs", store


def query(store: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`hulian query` in this process (CliRunner): the command's own code, without paying an
    interpreter's start and DuckDB's import for each of the dozens of queries here (the
    subprocess path is exercised by test_a_malformed_query_gets_duckdbs_message_and_exit_1)."""
    argv = ["query", "--store", store, *args]
    result = CliRunner().invoke(app, argv)
    return subprocess.CompletedProcess(argv, result.exit_code, result.stdout, result.stderr)


def rows_of(store: str, sql: str) -> list[dict[str, object]]:
    result = query(store, sql, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    answer: list[dict[str, object]] = json.loads(result.stdout)
    return answer


def _observations(runs: Path) -> dict[str, list[tuple[str, str, str, str]]]:
    return {run: [(o.source, o.surface.value, o.target_platform or "", o.outcome.value)
                  for o in Bundle(runs / run).observations()] for run in ("lab-1", "lab-2")}


def test_the_views_hold_every_run_and_the_store(history: tuple[Path, str]) -> None:
    runs, store = history
    counted = rows_of(store, "SELECT run_id, count(*) AS n FROM observations GROUP BY 1 "
                             "ORDER BY 1")
    assert counted == [{"run_id": run, "n": len(rows)}
                       for run, rows in _observations(runs).items()]
    joined = rows_of(store, "SELECT r.id, r.n_verdicts, count(v.id) AS verdicts FROM runs r "
                            "JOIN verdicts v ON v.run_id = r.id GROUP BY ALL ORDER BY 1")
    assert [(r["id"], r["n_verdicts"]) for r in joined] == [
        (r["id"], r["verdicts"]) for r in joined]
    assert rows_of(store, "SELECT count(*) AS n FROM store.observations")[0]["n"] == sum(
        len(rows) for rows in _observations(runs).values())
    nested = rows_of(store, "SELECT page.kind AS kind, hops[1].status AS first FROM "
                            "observations WHERE outcome = 'blocked' LIMIT 1")
    assert nested[0]["kind"] == "blocked"


def test_the_readme_examples_answer_what_the_bundles_say(history: tuple[Path, str]) -> None:
    runs, store = history
    observed = _observations(runs)
    # A platform's outcome share per month.
    share = rows_of(store, OUTCOME_SHARE)
    wetalk = Counter(o for rows in observed.values() for s, _, _, o in rows if s == "wetalk")
    assert {r["outcome"]: r["n"] for r in share} == dict(wetalk)
    assert abs(sum(float(str(r["share"])) for r in share) - 1) < 0.01
    # Edges that changed between the two runs: the two the second scenario changed.
    changed = rows_of(store, CHANGED_EDGES)
    assert [(r["source"], r["surface"], r["target_platform"], r["before"], r["after"])
            for r in changed] == [("dingwork", "im_group", "taoshop", "direct", "warned"),
                                  ("wetalk", "moments", "taoshop", "blocked", "direct")]
    # Targets every IM platform obstructs: TaoShop, once DingWork warns about it too.
    every = rows_of(store, BLOCKED_BY_EVERY_IM)
    expected = []
    for run, rows in observed.items():
        by_target: dict[str, set[str]] = defaultdict(set)
        for source, _, target, outcome in rows:
            if outcome in ("warned", "copy_only", "blocked", "stripped", "diverted"):
                by_target[target].add(source)
        expected += [{"run_id": run, "target_platform": t} for t, sources in
                     sorted(by_target.items()) if sources == {"wetalk", "dingwork"}]
    assert every == expected
    assert {"run_id": "lab-2", "target_platform": "taoshop"} in every
    assert {"run_id": "lab-1", "target_platform": "taoshop"} not in every


def test_output_as_a_table_and_as_csv_and_from_a_file(history: tuple[Path, str],
                                                       tmp_path: Path) -> None:
    _, store = history
    table = query(store, "SELECT run_id, count(*) AS n FROM verdicts GROUP BY 1 ORDER BY 1")
    assert table.returncode == 0, table.stderr
    assert "lab-1" in table.stdout and "lab-2" in table.stdout and "run_id" in table.stdout
    sql = tmp_path / "q.sql"
    sql.write_text("SELECT source, page FROM observations WHERE page.kind = 'blocked' "
                   "ORDER BY id LIMIT 2", encoding="utf-8")
    as_csv = query(store, "--file", str(sql), "--csv")
    assert as_csv.returncode == 0, as_csv.stderr
    lines = as_csv.stdout.splitlines()
    assert lines[0] == "source,page" and len(lines) == 3
    assert '""kind"": ""blocked""' in lines[1]  # a struct as JSON text in its cell


@pytest.mark.parametrize("sql", [
    "INSERT INTO store.runs (id) VALUES ('x')",
    "CREATE TABLE x (a INTEGER)",
    "DELETE FROM store.verdicts",
    "COPY (SELECT * FROM observations) TO '{out}'",
    "ATTACH '{out}' AS other",
    "INSTALL sqlite",
    "LOAD sqlite",
    "SELECT * FROM read_csv('{out}')",
])
def test_a_writing_query_is_refused_with_duckdbs_message(
        history: tuple[Path, str], tmp_path: Path, sql: str) -> None:
    runs, store = history
    before = {p: p.stat().st_mtime_ns for p in runs.rglob("*.parquet")}
    result = query(store, sql.format(out=tmp_path / "out.parquet"))
    assert result.returncode == 1
    assert "error" in result.stderr and "Traceback" not in result.stderr
    assert any(word in result.stderr for word in (
        "read-only mode", "file system operations are disabled",
        "Loading external extensions is disabled")), result.stderr
    assert not (tmp_path / "out.parquet").exists()
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("*.parquet")} == before
    assert rows_of(store, "SELECT count(*) AS n FROM store.runs")[0]["n"] == 2


def test_a_malformed_query_gets_duckdbs_message_and_exit_1(history: tuple[Path, str]) -> None:
    _, store = history
    for sql, message in (("SELEC 1", "Parser Error: syntax error"),
                         ("SELECT nope FROM observations", "Binder Error"),
                         ("SELECT * FROM no_such_table", "Catalog Error")):
        result = query(store, sql)
        assert result.returncode == 1, sql
        assert message in result.stderr and "Traceback" not in result.stderr
    both = hulian("query")
    assert both.returncode == 2 and "--file" in both.stderr


def test_the_same_answers_from_a_postgresql_store(
        history: tuple[Path, str], postgres_url: str) -> None:  # noqa: F811
    runs, sqlite_store = history
    for run in ("lab-1", "lab-2"):
        imported = hulian("runs", "import", str(runs / run), "--db", postgres_url)
        assert imported.returncode == 0, imported.stderr[-2000:]
    for sql in (CHANGED_EDGES, BLOCKED_BY_EVERY_IM,
                "SELECT id, sources_key, n_observations, n_failed FROM runs ORDER BY id",
                "SELECT run_id, level, count(*) AS n FROM store.graph_metrics GROUP BY ALL "
                "ORDER BY ALL"):
        assert rows_of(postgres_url, sql) == rows_of(sqlite_store, sql)
