"""The history store on SQLite and on a real PostgreSQL (a scratch cluster started here with
Debian's postgresql 15 binaries on 127.0.0.1), and `hulian diff` on hand-built runs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from audit.history.diff import RunData, compare_outcomes, diff, requirement_statuses
from audit.history.store import (
    StoreError,
    default_url,
    ingest,
    list_runs,
    load_metrics,
    load_observations,
    load_verdicts,
    metric_series,
    open_engine,
    previous_before,
    previous_run,
)
from audit.model import Observation, Outcome, Severity, Status, SurfaceKind, Text, Verdict

PG_BIN = Path(os.environ.get("HULIAN_PG_BIN", "/usr/lib/postgresql/15/bin"))
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def obs(oid: str, source: str, target: str, outcome: Outcome,
        surface: str = "im_group") -> Observation:
    return Observation(id=oid, probe_id=f"p-{oid}", source=source,
                       surface=SurfaceKind(surface), target_url=f"http://{target}.lab/x",
                       target_platform=target, outcome=outcome)


def verdict(vid: str, status: Status, rule: str = "no-copy-to-browser",
            requirements: tuple[str, ...] = ("miit-2021/im-1",), oid: str | None = None,
            target: str = "taoshop") -> Verdict:
    return Verdict(id=vid, rule_id=rule, observation_id=oid if oid else vid, source="wetalk",
                   surface=SurfaceKind.IM_GROUP, target_platform=target, status=status,
                   severity=Severity.HIGH, reason=Text(zh="理由", en="reason"),
                   requirements=list(requirements), evidence=["w1"])


def run_row(run_id: str, minutes: int, sources: str = "a,b") -> dict[str, object]:
    return {"id": run_id, "path": f"/runs/{run_id}", "started_at": T0 + timedelta(minutes=minutes),
            "finished_at": None, "recorded_at": T0, "tool_version": "0", "policy_digest": "d",
            "sources_key": sources, "n_observations": 0, "n_verdicts": 0, "n_failed": 0,
            "summary": {"k": [1, "二"]}}


# --- engines ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        pytest.skip(f"PostgreSQL binaries not found in {PG_BIN} (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="the [postgres] extra (psycopg) is not installed")
    # Not under pytest's tmp dir: as root the cluster runs as 'nobody', who cannot enter
    # /tmp/pytest-of-root (mode 700).
    base = Path(tempfile.mkdtemp(prefix="hulian-pg-"))
    data = base / "data"
    user = "hulian"
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as 'nobody'
        run_as = ["runuser", "-u", "nobody", "--"]
        shutil.chown(base, "nobody")
    done = subprocess.run([*run_as, str(PG_BIN / "initdb"), "-D", str(data), "-U", user,
                           "--auth=trust", "-E", "UTF8"], capture_output=True, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    port = _free_port()
    subprocess.run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l",
                    str(base / "log"), "-o", f"-h 127.0.0.1 -p {port} -k {base}", "start"],
                   check=True, capture_output=True, env=env)
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True, env=env, check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'history.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = open_engine(url)
    yield engine
    if request.param == "postgresql":  # one database for the module: start clean
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM runs"))
    engine.dispose()


# --- store ------------------------------------------------------------------------------


def test_migrations_create_the_schema_and_rerun_harmlessly(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"runs", "observations", "verdicts", "graph_metrics", "alembic_version"} <= tables
    from audit.history.store import upgrade

    upgrade(engine)  # already at head: nothing to do
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from audit.history.store import Base

    with engine.connect() as connection:  # the migrations build exactly the models
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import audit.history.store

    config = Config()
    config.set_main_option("script_location", str(Path(audit.history.store.__file__).parent / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None and head >= "0002"
    with engine.connect() as connection:  # upgraded to the newest migration
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == \
            head
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_distributed_crawl_tables_keep_each_probe_once(engine: Engine) -> None:
    from sqlalchemy import delete

    from audit.history.store import (
        CrawlObservationRow,
        CrawlProbeRow,
        add_crawl_observation,
        add_crawl_probes,
        crawl_missing,
        crawl_records,
    )
    from audit.model import Probe

    probes = [Probe(id=f"p-{i}", source="wetalk", surface=SurfaceKind.IM_GROUP,
                    target_url=f"http://t{i}.lab/") for i in range(3)]
    assert add_crawl_probes(engine, "d", probes) == 3
    assert add_crawl_probes(engine, "d", probes[:1]) == 0  # planned twice: stored once
    first = obs("0", "wetalk", "taoshop", Outcome.DIRECT)
    again = obs("0", "wetalk", "taoshop", Outcome.BLOCKED)  # a requeued probe measured again
    assert add_crawl_observation(engine, "d", first, "w1") is True
    assert add_crawl_observation(engine, "d", again, "w2") is False
    assert {p.id for p in crawl_missing(engine, "d")} == {"p-1", "p-2"}
    planned, observed = crawl_records(engine, "d")
    assert len(planned) == 3
    assert [(w, o.outcome) for w, o in observed] == [("w1", Outcome.DIRECT)]
    with engine.begin() as connection:  # the module's PostgreSQL is shared: leave it clean
        connection.execute(delete(CrawlProbeRow))
        connection.execute(delete(CrawlObservationRow))


def test_ingest_and_read_back(engine: Engine) -> None:
    observations = [obs(f"o{i}", "wetalk", "taoshop", Outcome.COPY_ONLY) for i in range(3)]
    verdicts = [verdict("v1", Status.FAIL), verdict("g1", Status.PASS, "no-self-preferencing")]
    counted = ingest(engine, run_row("r1", 0), observations, verdicts,
                     [("platform", "wetalk", "openness", 0.5), ("platform", "", "nodes", 2.0),
                      ("company", "", "reciprocity", None)])
    assert (counted.observations, counted.verdicts, counted.failed) == (3, 2, 1)
    row = list_runs(engine)[0]
    assert (row.n_observations, row.n_verdicts, row.n_failed) == (3, 2, 1)
    assert load_observations(engine, "r1") == [o.model_copy(update={"run_id": "r1"})
                                               for o in observations]
    assert load_verdicts(engine, "r1") == sorted(verdicts, key=lambda v: v.id)
    assert ("platform", "wetalk", "openness", 0.5) in load_metrics(engine, "r1")
    assert list_runs(engine)[0].summary == {"k": [1, "二"]}


def test_previous_run_has_the_same_sources_and_started_earlier(engine: Engine) -> None:
    for run_id, minutes, sources in (("old", 0, "a,b"), ("other", 5, "a"), ("mid", 10, "a,b"),
                                     ("new", 20, "a,b")):
        ingest(engine, run_row(run_id, minutes, sources), [], [],
               [("platform", "a", "openness", minutes / 100)])
    assert previous_run(engine, "new").id == "mid"  # type: ignore[union-attr]
    assert previous_run(engine, "mid").id == "old"  # type: ignore[union-attr]
    assert previous_run(engine, "old") is None
    assert previous_before(engine, "a", T0 + timedelta(hours=1), "x").id == "other"  # type: ignore[union-attr]
    series = metric_series(engine, "openness", "platform", "a")
    assert [(r, v) for r, _, v in series] == [("old", 0.0), ("other", 0.05), ("mid", 0.1),
                                              ("new", 0.2)]


def test_deleting_a_run_cascades(engine: Engine) -> None:
    ingest(engine, run_row("r1", 0), [obs("o1", "a", "b", Outcome.DIRECT)],
           [verdict("v1", Status.PASS)], [("platform", "", "nodes", 1.0)])
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM runs WHERE id = 'r1'"))
    assert load_observations(engine, "r1") == [] and load_verdicts(engine, "r1") == []
    assert load_metrics(engine, "r1") == []


def test_store_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HULIAN_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_url() == f"sqlite:///{tmp_path}/hulian/history.db"
    monkeypatch.setenv("HULIAN_DB", str(tmp_path / "h.db"))
    assert default_url() == f"sqlite:///{tmp_path / 'h.db'}"
    monkeypatch.setenv("HULIAN_DB", "off")
    with pytest.raises(StoreError):
        default_url()
    with pytest.raises(StoreError, match="cannot open"):
        open_engine("postgresql+psycopg://nobody:secret@127.0.0.1:1/none")


# --- diff -------------------------------------------------------------------------------


def test_compare_outcomes() -> None:
    assert compare_outcomes("copy_only", "direct") == "better"
    assert compare_outcomes("direct", "wrapped") == "worse"
    assert compare_outcomes("blocked", "stripped") == "changed"
    assert compare_outcomes("error", "direct") == "changed"
    assert compare_outcomes("warned", "warned") is None


def test_diff_per_edge_requirement_and_finding() -> None:
    a = RunData("a", [obs("1", "w", "t", Outcome.COPY_ONLY), obs("2", "w", "p", Outcome.DIRECT),
                      obs("3", "w", "x", Outcome.BLOCKED), obs("4", "w", "gone", Outcome.DIRECT),
                      obs("5", "w", "same", Outcome.WARNED)],
                 [verdict("v1", Status.FAIL, target="t"), verdict("v2", Status.PASS, target="p")],
                 [("platform", "w", "openness", 0.5), ("platform", "w", "reach", 1.0)])
    b = RunData("b", [obs("1b", "w", "t", Outcome.DIRECT), obs("2b", "w", "p", Outcome.WARNED),
                      obs("3b", "w", "x", Outcome.STRIPPED), obs("6", "w", "new", Outcome.DIRECT),
                      obs("5b", "w", "same", Outcome.WARNED)],
                 [verdict("v1b", Status.PASS, target="t"),
                  verdict("v2b", Status.FAIL, target="p")],
                 [("platform", "w", "openness", 0.25), ("platform", "w", "reach", 1.0)])
    result = diff(a, b)
    assert {c.key[2]: c.kind for c in result.edges} == {
        "t": "better", "p": "worse", "x": "changed", "gone": "gone", "new": "new"}
    assert result.regression
    assert [(f["target"]) for f in result.findings_new] == ["p"]
    assert [(f["target"]) for f in result.findings_resolved] == ["t"]
    assert result.requirements == []  # fail before (t), fail after (p)
    assert result.metrics == [{"level": "platform", "node": "w", "metric": "openness",
                               "before": 0.5, "after": 0.25, "delta": -0.25}]
    same = diff(a, a)
    assert not same.edges and not same.regression and not same.metrics


def test_requirement_statuses_combine_per_observation() -> None:
    verdicts = [verdict("v1", Status.FAIL, oid="o1"),
                verdict("v2", Status.PASS, rule="other", oid="o1"),
                verdict("v3", Status.EXEMPT, oid="o2"),
                verdict("v4", Status.INCONCLUSIVE, requirements=("miit-2021/im-2",), oid="o3")]
    assert requirement_statuses(verdicts) == {"miit-2021/im-1": "fail",
                                              "miit-2021/im-2": "inconclusive"}
    better = diff(RunData("a", [], verdicts), RunData("b", [], [verdict("v9", Status.PASS)]))
    assert [(c.key, c.kind, c.after) for c in better.requirements] == [
        (("miit-2021/im-1",), "better", "pass"), (("miit-2021/im-2",), "gone", None)]
    assert not better.regression
    worse = diff(RunData("b", [], [verdict("v9", Status.PASS)]), RunData("a", [], verdicts))
    assert worse.regression
