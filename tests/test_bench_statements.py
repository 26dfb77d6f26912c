"""bench/statements.py, the per-statement view of DuckDB's time and memory: it runs a step of
a real bundle and names the statements that step gave DuckDB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from audit.policy.catalog import load_catalog, policy_dirs
from tests.reportruns import small_run

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "statements.py"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_run(tmp_path_factory.mktemp("statements"), load_catalog(policy_dirs()))


def _statements(run: Path, step: str, out: Path) -> tuple[str, dict[str, object]]:
    done = subprocess.run([sys.executable, str(SCRIPT), "--run", str(run), "--step", step,
                           "--catalog", "run", "--every-ms", "5", "--json", str(out)],
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(out.read_text())


def test_the_report_step_lists_its_statements_with_time_and_memory(run: Path,
                                                                  tmp_path: Path) -> None:
    printed, figures = _statements(run, "report", tmp_path / "report.json")
    statements = figures["statements"]
    assert isinstance(statements, list)
    sqls = [s["sql"] for s in statements]
    # The findings' judgements and their report order are DuckDB's statements of a report.
    assert any(sql.startswith("INSERT INTO judgements") for sql in sqls)
    assert any("report_order" in sql for sql in sqls)
    assert all(s["seconds"] >= 0 and s["held_mb"] >= 0 for s in statements)
    assert "the 15 slowest statements" in printed and "by shape" in printed
    assert "report: " in printed and f"{len(statements)} statements" in printed
    # The bundle is read, not written: the report went to a temporary directory.
    assert not (run / "report.html").exists()


def test_the_judge_step_leaves_the_bundle_as_it_was(run: Path, tmp_path: Path) -> None:
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    _, figures = _statements(run, "judge", tmp_path / "judge.json")
    sqls = [s["sql"] for s in figures["statements"]]  # type: ignore[attr-defined]
    assert any("judged_pieces" in sql for sql in sqls)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_the_graph_step_lists_the_edges_statements(run: Path, tmp_path: Path) -> None:
    _, figures = _statements(run, "graph", tmp_path / "graph.json")
    sqls = [s["sql"] for s in figures["statements"]]  # type: ignore[attr-defined]
    assert any("CREATE OR REPLACE TABLE graph_edges" in sql for sql in sqls)


def test_a_directory_that_is_not_a_bundle_is_refused_by_name(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--run", str(tmp_path)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode != 0
    assert f"{tmp_path}: not a run bundle" in done.stderr
