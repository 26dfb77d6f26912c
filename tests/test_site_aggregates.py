"""Each run's aggregates in the history store (audit/history/aggregate.py, migration 0005):
made while `record_run` streams a run's records, equal to what the aggregator makes of the
run's stored observations and verdicts (`hulian diff`'s summarise, and the per-platform
requirement tally); a run recorded before the store kept them (a store at revision 0004,
upgraded) and a run whose row is damaged get them computed again from the run's rows, and
stored; the site built from such a store says which runs it computed and is the site built
from the intact store. Real runs: sealed bundles of the shipped platforms recorded through
the real path (tests/siteruns.py), small."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import delete, event, text, update
from sqlalchemy.engine import Engine

import audit.history.store as store_module
from audit.history.aggregate import findings_from_record
from audit.history.diff import RunData, summarise
from audit.history.store import (
    RunAggregateRow,
    StoreError,
    backfill_aggregates,
    get_run,
    ingest,
    load_aggregates,
    load_verdicts,
    missing_aggregates,
    open_engine,
    record_run,
)
from audit.judge.evaluate import RequirementTally
from audit.model import Outcome, Status
from audit.policy.catalog import load_catalog
from audit.site.build import build
from audit.site.read import SiteError
from tests.siteruns import lab_records, run_id, small_history, stored_records, write_run
from tests.test_store import obs, postgres_url, run_row, verdict  # noqa: F401

RUNS = 3


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    return small_history(tmp_path_factory.mktemp("aggregates"), RUNS)


def _copy(db: Path, tmp_path: Path) -> tuple[str, Engine]:
    target = tmp_path / "history.db"
    target.write_bytes(db.read_bytes())
    url = f"sqlite:///{target}"
    return url, open_engine(url)


def _per_platform(engine: Engine, rid: str) -> dict[str, dict[str, str]]:
    tallies: dict[str, RequirementTally] = {}
    for v in load_verdicts(engine, rid):
        tallies.setdefault(v.source, RequirementTally()).add(
            v.requirements, v.status, v.observation_id, v.id)
    return {p: {k: str(s) for k, s in t.statuses().items()} for p, t in sorted(tallies.items())}


def test_recorded_aggregates_equal_the_ones_computed_from_the_runs_records(
        history: tuple[Path, list[Path]], tmp_path: Path) -> None:
    _url, engine = _copy(history[0], tmp_path)
    assert missing_aggregates(engine) == []  # record_run stored them
    for i in range(RUNS):
        row = get_run(engine, run_id(i))
        assert row is not None
        stored, why = load_aggregates(engine, row)
        assert why is None  # read as stored, not computed again
        data = stored_records(engine, run_id(i))
        expected = summarise(data)  # the aggregates of the full records
        assert stored.edges == expected.edges
        assert stored.run_requirements == expected.requirements
        assert stored.findings == expected.findings and stored.findings
        assert stored.requirements == _per_platform(engine, run_id(i))
        assert stored.frameworks == {r.split("/", 1)[0] for v in data.verdicts
                                     for r in v.requirements} != set()
        assert (stored.observations, stored.failed) == (row.n_observations, row.n_failed)
        # the summary alone (what a site snapshot reads) is the same summary
        summary_only, _ = load_aggregates(engine, row, findings=False)
        assert summary_only.edges == stored.edges and summary_only.findings == {}
    engine.dispose()


def _alembic(engine: Engine, verb: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location",
                           str(Path(store_module.__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, verb)(config, revision)


def test_a_run_recorded_before_the_migration_is_backfilled(
        history: tuple[Path, list[Path]], tmp_path: Path) -> None:
    url, engine = _copy(history[0], tmp_path)
    intact = {run_id(i): load_aggregates(engine, get_run(engine, run_id(i)))[0]  # type: ignore[arg-type]
              for i in range(RUNS)}
    # A store of revision 0004 (no aggregates), opened by this version: upgraded to 0005,
    # its runs have none yet.
    _alembic(engine, "downgrade", "0004")
    engine.dispose()
    engine = open_engine(url)
    assert missing_aggregates(engine) == [run_id(i) for i in range(RUNS)]
    row = get_run(engine, run_id(1))
    assert row is not None
    got, why = load_aggregates(engine, row)
    assert why is not None and "recorded before" in why
    assert got == intact[run_id(1)]
    assert missing_aggregates(engine) == [run_id(0), run_id(2)]  # stored on the way
    assert load_aggregates(engine, row) == (intact[run_id(1)], None)
    # the site's first build computes the others' (and says so); the next reads them
    site = build(tmp_path / "site", url)
    assert [r for r, _why in site.backfilled] == [run_id(0), run_id(2)]
    assert missing_aggregates(engine) == []
    again = build(tmp_path / "site2", url)
    assert again.backfilled == [] and again.read == site.read
    engine.dispose()


@pytest.mark.parametrize("damage", ["not json", "counts", "version", "findings", "shape",
                                    "entry"])
def test_damaged_aggregates_are_computed_again_from_the_runs_rows(
        history: tuple[Path, list[Path]], tmp_path: Path, damage: str) -> None:
    url, engine = _copy(history[0], tmp_path)
    rid = run_id(2)
    row = get_run(engine, rid)
    assert row is not None
    intact, _ = load_aggregates(engine, row)
    reference = build(tmp_path / "reference", url)
    summary, findings = intact.records()
    # a finding entry without its severity (a diff would fail on it with a KeyError)
    (key, entry), *rest = findings
    broken = [[key, {k: v for k, v in entry.items() if k != "severity"}], *rest]
    values: dict[str, object] = {
        "not json": {"summary": "{not json"},
        "counts": {"summary": orjson.dumps({**summary, "observations": 3}).decode()},
        "version": {"version": 99},
        "findings": {"findings": orjson.dumps({"a": 1}).decode()},
        "shape": {"summary": orjson.dumps({**summary, "edges": [[1, 2]]}).decode()},
        "entry": {"findings": orjson.dumps(broken).decode()},
    }[damage]  # type: ignore[assignment]
    with engine.begin() as connection:
        connection.execute(update(RunAggregateRow).where(RunAggregateRow.run_id == rid)
                           .values(**values))
    got, why = load_aggregates(engine, row)
    assert why is not None and got == intact
    assert load_aggregates(engine, row) == (intact, None)  # repaired in the store
    # and the site of a store damaged so builds the same pages, naming the run it repaired
    with engine.begin() as connection:
        connection.execute(update(RunAggregateRow).where(RunAggregateRow.run_id == rid)
                           .values(**values))
    result = build(tmp_path / "site", url)
    assert [r for r, _why in result.backfilled] == [rid]  # the findings: when a diff reads them

    def tree(out: Path) -> dict[str, bytes]:
        return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
                if p.is_file() and p.name != "site-state.json"}

    assert tree(tmp_path / "site") == tree(tmp_path / "reference")
    assert reference.backfilled == []
    engine.dispose()


def test_a_run_without_rows_is_a_clear_error_naming_it(
        history: tuple[Path, list[Path]], tmp_path: Path) -> None:
    _url, engine = _copy(history[0], tmp_path)
    with pytest.raises(StoreError, match="run no-such-run is not in the history store"):
        backfill_aggregates(engine, "no-such-run")
    engine.dispose()


def test_recording_again_replaces_the_aggregates(history: tuple[Path, list[Path]],
                                                 tmp_path: Path) -> None:
    _url, engine = _copy(history[0], tmp_path)
    with engine.begin() as connection:
        connection.execute(delete(RunAggregateRow))
    assert len(missing_aggregates(engine)) == RUNS
    record_run(history[1][0], engine=engine, replace=True)
    assert run_id(0) not in missing_aggregates(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """tests/test_store.py's two stores: SQLite, and its scratch PostgreSQL on 127.0.0.1."""
    url = (f"sqlite:///{tmp_path / 'history.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    engine = open_engine(url)
    yield engine
    if request.param == "postgresql":  # one database for the module: leave it clean
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM runs"))
    engine.dispose()


def test_aggregates_on_sqlite_and_postgresql(database: Engine) -> None:
    """ingest (what record_run calls) stores them, a damaged row is repaired, on both
    databases."""
    engine = database
    observations = [obs("o1", "wetalk", "taoshop", Outcome.COPY_ONLY),
                    obs("o2", "wetalk", "taoshop", Outcome.DIRECT),
                    obs("o3", "wetalk", "dingwork", Outcome.BLOCKED, surface="post")]
    verdicts = [verdict("v1", Status.FAIL, oid="o1"), verdict("v2", Status.PASS, oid="o2"),
                verdict("v3", Status.FAIL, oid="o3", target="dingwork",
                        requirements=("miit-2021/im-2",))]
    ingest(engine, run_row("agg", 0, "wetalk"), observations, verdicts)
    row = get_run(engine, "agg")
    assert row is not None
    expected = summarise(RunData("agg", observations, verdicts))
    stored, why = load_aggregates(engine, row)
    assert why is None and stored.edges == expected.edges
    assert stored.run_requirements == expected.requirements == {
        "miit-2021/im-1": "fail", "miit-2021/im-2": "fail"}
    assert stored.findings == expected.findings and len(stored.findings) == 2
    assert stored.requirements == {"wetalk": expected.requirements}
    with engine.begin() as connection:
        connection.execute(update(RunAggregateRow).where(RunAggregateRow.run_id == "agg")
                           .values(summary="[]"))
    repaired, why = load_aggregates(engine, row)
    assert why is not None and "damaged" in why and repaired == stored
    assert load_aggregates(engine, row) == (stored, None)


def test_a_finding_entry_without_a_field_is_refused_naming_it(
        history: tuple[Path, list[Path]], tmp_path: Path) -> None:
    """findings_from_record checks every entry (what a diff and the site read of it), not
    only the keys: a damaged entry is a ValueError, which load_aggregates repairs."""
    _url, engine = _copy(history[0], tmp_path)
    row = get_run(engine, run_id(0))
    assert row is not None
    intact, _ = load_aggregates(engine, row)
    engine.dispose()
    _summary, findings = intact.records()
    (key, entry), *_rest = findings
    assert findings_from_record([[key, entry]]) == {tuple(key): entry}
    damaged: list[tuple[dict[str, object], str]] = [
        ({k: v for k, v in entry.items() if k != "severity"}, "'severity'"),
        ({k: v for k, v in entry.items() if k != "outcome"}, "'outcome'"),
        ({k: v for k, v in entry.items() if k != "reason"}, "'reason'"),
        ({**entry, "reason": {"zh": "只有中文"}}, "'reason'"),
        ({**entry, "severity": 3}, "'severity'"),
        ({**entry, "outcome": ["blocked"]}, "'outcome'"),
        ({**entry, "target": None}, "'target'"),
    ]
    for bad, name in damaged:
        with pytest.raises(ValueError, match=f"damaged findings: .*{name}"):
            findings_from_record([[key, bad]])
    assert findings_from_record([[key, {**entry, "outcome": None}]])  # a verdict without one


def test_a_store_that_fails_is_a_store_error_naming_the_run_once(
        history: tuple[Path, list[Path]], tmp_path: Path) -> None:
    url, engine = _copy(history[0], tmp_path)
    rid = run_id(0)
    row = get_run(engine, rid)
    assert row is not None
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE run_aggregates RENAME TO elsewhere"))
    with pytest.raises(StoreError, match=f"^run {rid}: the history store failed: .*"
                                         "no such table: run_aggregates"):
        load_aggregates(engine, row)
    with pytest.raises(SiteError) as caught:
        build(tmp_path / "site", url)
    assert str(caught.value).startswith(f"run {rid}: the history store failed")
    assert f"run {rid}: run" not in str(caught.value)
    engine.dispose()


def test_a_backfill_the_store_refuses_to_keep_is_a_warning_naming_the_run(
        history: tuple[Path, list[Path]], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    _url, engine = _copy(history[0], tmp_path)
    rid = run_id(1)
    row = get_run(engine, rid)
    assert row is not None
    intact, _ = load_aggregates(engine, row)
    with engine.begin() as connection:
        connection.execute(delete(RunAggregateRow).where(RunAggregateRow.run_id == rid))
        # a store that refuses the write (a real database error, raised by SQLite itself)
        connection.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON run_aggregates "
                                "BEGIN SELECT RAISE(ABORT, 'the store refuses writes'); END"))
    with caplog.at_level(logging.WARNING, logger="audit.history.store"):
        got, why = load_aggregates(engine, row)
    assert why is not None and got == intact  # computed all the same
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and rid in warnings[0]
    assert "the store refuses writes" in warnings[0]
    assert rid in missing_aggregates(engine)  # nothing stored: computed again next time
    engine.dispose()


def test_a_backfill_does_not_store_a_run_recorded_again_meanwhile(
        history: tuple[Path, list[Path]], tmp_path: Path) -> None:
    """A backfill reads the run's rows in several statements; a `runs import --replace` of
    the run that commits between them must not get the backfill's (mixed) aggregates
    stored over its own."""
    url, engine = _copy(history[0], tmp_path)
    rid = run_id(2)
    with engine.begin() as connection:
        connection.execute(delete(RunAggregateRow).where(RunAggregateRow.run_id == rid))
    # the same run id recorded again from another bundle (fewer observations)
    catalog = load_catalog()
    other = write_run(tmp_path / "again", 2, lab_records(catalog, 600, 100), catalog)
    replacer = open_engine(url)
    fired: list[str] = []

    def replace_between_reads(_conn: object, _cursor: object, statement: str,
                              *_args: object) -> None:
        # before the backfill's last read (the failed verdicts): the replace commits
        if "verdicts.status" in statement and not fired:
            fired.append(statement)
            record_run(other, catalog, engine=replacer, replace=True)

    event.listen(engine, "before_cursor_execute", replace_between_reads)
    try:
        backfill_aggregates(engine, rid)
    finally:
        event.remove(engine, "before_cursor_execute", replace_between_reads)
    assert fired
    row = get_run(engine, rid)
    assert row is not None and row.n_observations == 600
    stored, why = load_aggregates(engine, row)
    assert why is None  # the new recording's own aggregates, as it stored them
    assert stored.edges == summarise(stored_records(engine, rid)).edges
    replacer.dispose()
    engine.dispose()
