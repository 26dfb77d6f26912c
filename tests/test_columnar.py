"""The bundle's Parquet tables (audit/evidence/columnar.py): the same records as the JSON
lines, written in row groups as the run goes, sealed, rewritten by `hulian evaluate`, rebuilt
after a crash (kill -9 of a real lab run, then --resume), built on demand for bundles
without them (left untouched), and exported by `hulian export` as Parquet, CSV, JSON lines."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.evidence import columnar
from audit.evidence.bundle import (
    OBSERVATIONS,
    VERDICTS,
    Bundle,
    BundleError,
    BundleWriter,
    iter_records,
    json_line,
    lines_of,
    read_manifest,
    rewrite_verdicts,
    seal,
    verify,
)
from audit.measure.asyncio.recorder import _Writes
from audit.model import ControlComparison, Hop, Observation, PageFacts, Verdict
from tests.test_bundle import DIGEST, PROBE, VERDICT, observation, rich_observation

HULIAN = [sys.executable, "-m", "audit.cli"]


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("HULIAN_CACHE", str(cache))
    return cache


def _bundle(root: Path, run_id: str = "r1", n: int = 5) -> Path:
    with BundleWriter(root, run_id=run_id, policy_digest=DIGEST) as writer:
        writer.add_probe(PROBE)
        for i in range(n):
            writer.add_observation(observation(i))
        writer.add_observation(rich_observation())
        writer.add_verdict(VERDICT)
        writer.finish()
    return root / run_id


def _rows(parquet: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = columnar.read_table(parquet).to_pylist()
    return rows


def _as_json(records: list[Observation] | list[Verdict]) -> list[dict[str, object]]:
    return [json.loads(r.model_dump_json()) for r in records]


def _normal(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Parquet rows in the records' JSON form (times as pydantic writes them)."""
    out = []
    for row in rows:
        row = dict(row)
        started = row.get("started_at")
        if started is not None:
            row["started_at"] = started.isoformat().replace("+00:00", "Z")  # type: ignore[attr-defined]
        out.append(row)
    return out


# ---------------------------------------------------------------------------------------
# The schema is the records'
# ---------------------------------------------------------------------------------------


def test_the_schemas_have_a_column_for_every_field_of_the_records() -> None:
    """A field added to a record without its column would be dropped from the tables
    silently: this fails first (and the schema version goes up)."""
    schema = columnar.OBSERVATIONS_SCHEMA
    assert schema.names == list(Observation.model_fields)
    assert columnar.VERDICTS_SCHEMA.names == ["run_id", *Verdict.model_fields]
    for column, model in (("page", PageFacts), ("comparison", ControlComparison)):
        assert [f.name for f in schema.field(column).type] == list(model.model_fields)
    hop = schema.field("hops").type.value_type
    assert [f.name for f in hop] == list(Hop.model_fields)


# ---------------------------------------------------------------------------------------
# Written with the bundle
# ---------------------------------------------------------------------------------------


def test_the_tables_hold_the_records_of_the_lines_and_are_sealed(tmp_path: Path) -> None:
    run = _bundle(tmp_path)
    bundle = Bundle(run)
    observed = _normal(_rows(run / "observations.parquet"))
    expected = _as_json(list(bundle.observations()))
    for row in expected:
        row["run_id"] = row["run_id"] or "r1"  # the bundle's id where a record names none
    assert observed == expected
    verdicts = _rows(run / "verdicts.parquet")
    assert verdicts == [{"run_id": "r1", **_as_json([VERDICT])[0]}]
    manifest = read_manifest(run)
    assert {"observations.parquet", "verdicts.parquet"} <= set(manifest.files)
    assert verify(run).intact
    info = columnar.info(run / "observations.parquet")
    assert (info.table, info.schema_version, info.rows) == ("observations",
                                                           columnar.SCHEMA_VERSION, 6)
    assert columnar.is_current(run / OBSERVATIONS)


def test_by_default_the_crawl_leaves_the_tables_to_the_judging(tmp_path: Path) -> None:
    """Without HULIAN_PARQUET the recorder writes no table (it never loads pyarrow: the
    crawl's memory), and the bundle's writer none either; sealing builds both."""
    run = tmp_path / "rec"
    (run / "evidence").mkdir(parents=True)
    writes = _Writes(run / "evidence" / "crawl.warc.gz", run / OBSERVATIONS)
    writes.apply(("o", observation(0).model_dump_json() + "\n"))
    writes.close()
    assert not (run / "observations.parquet").exists()
    writer = BundleWriter(tmp_path, run_id="plain", policy_digest=DIGEST)
    writer.add_observation(observation(1))
    writer.add_verdict(VERDICT)
    writer.close()
    assert not (tmp_path / "plain" / "observations.parquet").exists()
    writer.finish()
    assert columnar.is_current(tmp_path / "plain" / OBSERVATIONS)
    assert columnar.is_current(tmp_path / "plain" / VERDICTS)


def test_rows_go_to_the_file_in_row_groups_as_lines_come(tmp_path: Path) -> None:
    lines = tmp_path / "observations.jsonl"
    log = columnar.ColumnarLog(lines, "r", row_group_rows=2)
    with lines.open("a", encoding="utf-8") as fh:
        for i in range(5):
            line = observation(i).model_dump_json() + "\n"
            fh.write(line)
            log.add(line)
            if i == 1:
                # The first row group is on disk before the run ends (no footer yet).
                assert (tmp_path / "observations.parquet").stat().st_size > 4
    log.close()
    info = columnar.info(tmp_path / "observations.parquet")
    assert (info.rows, info.row_groups) == (5, 3)
    assert columnar.is_current(lines)


def test_the_recorder_process_writes_the_table_beside_its_lines(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With HULIAN_PARQUET=1 the asyncio engine's recorder (a child process in a crawl) feeds
    observations.parquet with the lines it appends: the table is current when it closes, not
    rebuilt later."""
    monkeypatch.setenv("HULIAN_PARQUET", "1")
    run = tmp_path / "rec"
    (run / "evidence").mkdir(parents=True)
    writes = _Writes(run / "evidence" / "crawl.warc.gz", run / OBSERVATIONS)
    for i in range(3):
        writes.apply(("o", observation(i).model_dump_json() + "\n"))
    writes.commit()
    writes.apply(("o", rich_observation().model_dump_json() + "\n"))
    writes.close()
    assert columnar.is_current(run / OBSERVATIONS)
    rows = _rows(run / "observations.parquet")
    expected = [o.id for o in iter_records(run / OBSERVATIONS, Observation)]
    assert [r["id"] for r in rows] == expected == [*(f"o{i}" for i in range(3)),
                                                   rich_observation().id]
    # Records that name no run get the bundle's id (the directory is named by it).
    assert all(r["run_id"] for r in rows)


def test_evaluate_rewrites_the_verdicts_table(tmp_path: Path) -> None:
    run = _bundle(tmp_path)
    other = VERDICT.model_copy(update={"id": "v2", "rule_id": "other-rule"})
    rewrite_verdicts(run, lines_of([other, VERDICT, other.model_copy(update={"id": "v3"})]),
                     DIGEST)
    assert [r["id"] for r in _rows(run / "verdicts.parquet")] == ["v2", VERDICT.id, "v3"]
    assert verify(run).intact


def test_evaluation_failing_midway_leaves_the_verdicts_as_they_were(tmp_path: Path) -> None:
    # `hulian evaluate` streams the verdicts into the bundle as they are judged: a judgement
    # that fails midway must leave the sealed verdicts and no half-written file.
    run = _bundle(tmp_path)
    before = (run / "verdicts.jsonl").read_bytes()

    def judged() -> Iterator[Verdict]:
        yield VERDICT
        raise BundleError("observations.jsonl:7: invalid record")

    with pytest.raises(BundleError, match=r"observations\.jsonl:7"):
        rewrite_verdicts(run, lines_of(judged()), DIGEST)
    assert (run / "verdicts.jsonl").read_bytes() == before
    assert not list(run.glob("*.tmp"))
    assert verify(run).intact


def test_a_line_arrow_cannot_read_is_named_by_file_and_line(tmp_path: Path) -> None:
    lines = tmp_path / "verdicts.jsonl"
    good = VERDICT.model_dump_json()
    lines.write_text(f"{good}\n{good}\n{{\"id\": \"x\", \"requirements\": 5}}\n{good}\n",
                     encoding="utf-8")
    with pytest.raises(columnar.ColumnarError, match=r"verdicts.jsonl:3: cannot be read"):
        columnar.build(lines, "r")
    assert not (tmp_path / "verdicts.parquet").exists()  # nothing half-built left behind
    assert not (tmp_path / "verdicts.parquet.tmp").exists()


def test_a_bad_line_blocks_into_a_rebuild_is_named_by_its_number(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A table built again parses its blocks ahead of their writing (a thread of their own):
    # a line Arrow refuses blocks into the file is still named by its own number, and
    # nothing is left behind. The writing slowed, so that the parsing is blocks ahead of it.
    writer = sys.modules["pyarrow.parquet"].ParquetWriter  # the one columnar.py writes with
    write_table = writer.write_table

    def slow(self: Any, *args: Any, **kwargs: Any) -> None:
        time.sleep(0.2)
        write_table(self, *args, **kwargs)

    monkeypatch.setattr(writer, "write_table", slow)
    lines = tmp_path / "verdicts.jsonl"
    good = [json_line(VERDICT.model_copy(update={"id": f"v{n}"})) for n in range(50_000)]
    good[40_000] = b'{"id": "x", "requirements": 5}\n'
    lines.write_bytes(b"".join(good))
    assert 40_000 * len(good[0]) > 2 * columnar.REBUILD_BLOCK  # past the second block
    with pytest.raises(columnar.ColumnarError, match=r"verdicts.jsonl:40001: cannot be read"):
        columnar.build(lines, "r")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["verdicts.jsonl"]


def test_a_table_cut_by_a_crash_is_rewritten_by_the_resumed_writer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer killed mid-run (HULIAN_PARQUET=1) leaves a Parquet file without its footer;
    the resumed run's writer replays observations.jsonl into a new file and goes on
    appending."""
    monkeypatch.setenv("HULIAN_PARQUET", "1")  # the subprocess inherits it
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from audit.evidence.bundle import BundleWriter\n"
        "from tests.test_bundle import DIGEST, PROBE, observation\n"
        "w = BundleWriter(Path(sys.argv[1]), run_id='cut', policy_digest=DIGEST)\n"
        "w.add_probe(PROBE)\n"
        "for i in range(40): w.add_observation(observation(i))\n"
        "w._tables['observations.jsonl'].flush()\n"  # a row group on disk, no footer
        "os.kill(os.getpid(), 9)\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=False,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == -signal.SIGKILL
    run = tmp_path / "cut"
    assert (run / "observations.parquet").stat().st_size > 0
    assert columnar.source_bytes(run / "observations.parquet") is None  # cut: no footer
    assert not columnar.is_current(run / OBSERVATIONS)
    with pytest.raises(columnar.ColumnarError, match="not a readable Parquet table"):
        columnar.info(run / "observations.parquet")

    writer = BundleWriter(tmp_path, run_id="cut", policy_digest=DIGEST, resume=True)
    writer.add_observation(observation(40))
    writer.add_verdict(VERDICT)
    writer.finish()
    rows = _rows(run / "observations.parquet")
    assert [r["id"] for r in rows] == [o.id for o in Bundle(run).observations()]
    assert len(rows) == 41
    assert verify(run).intact


@pytest.mark.slow
def test_kill_9_of_a_lab_run_and_resume_rewrite_observations_parquet(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real thing: `hulian run --lab` writing its tables as it goes (HULIAN_PARQUET=1)
    killed with SIGKILL (its whole process group, the recorder process included) mid-crawl,
    then `--resume`: the table holds every observation of the resumed bundle, once, and the
    bundle verifies."""
    monkeypatch.setenv("HULIAN_PARQUET", "1")  # the commands inherit it
    # The whole lab (83 probes): two sources' probes were all observed within a poll or two
    # on a quiet machine, and the kill then came after the table was complete.
    process = subprocess.Popen([*HULIAN, "run", "--lab", "--out", str(tmp_path), "--run-id",
                                "killed", "--report-format", ""], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    lines = tmp_path / "killed" / OBSERVATIONS
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if lines.exists() and lines.read_bytes().count(b"\n") >= 5:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    run = tmp_path / "killed"
    assert not (run / VERDICTS).exists()  # it died mid-crawl
    assert not columnar.is_current(run / OBSERVATIONS)

    resumed = subprocess.run([*HULIAN, "run", "--resume", str(run), "--report-format", "",
                              "--json"], capture_output=True, text=True, timeout=300,
                             check=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    observed = [o.id for o in Bundle(run).observations()]
    rows = _rows(run / "observations.parquet")
    assert sorted(str(r["id"]) for r in rows) == sorted(observed)
    assert len(set(observed)) == len(observed) > 5
    assert len(_rows(run / "verdicts.parquet")) == sum(1 for _ in Bundle(run).verdicts())
    assert columnar.is_current(run / OBSERVATIONS) and columnar.is_current(run / VERDICTS)
    assert subprocess.run([*HULIAN, "verify", str(run)], capture_output=True,
                          check=False).returncode == 0


# ---------------------------------------------------------------------------------------
# Older bundles: built on demand, outside the bundle
# ---------------------------------------------------------------------------------------


def _older_bundle(tmp_path: Path) -> Path:
    """A sealed bundle as hulian wrote them before Parquet: no tables in it or its manifest."""
    run = _bundle(tmp_path, run_id="old")
    for name in ("observations.parquet", "verdicts.parquet"):
        (run / name).unlink()
    manifest = read_manifest(run)
    seal(run, manifest)
    assert verify(run).intact
    return run


def test_a_bundle_without_tables_gets_them_built_in_the_cache_and_stays_as_it_was(
        tmp_path: Path, cache: Path) -> None:
    run = _older_bundle(tmp_path)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    table = columnar.readable(run / OBSERVATIONS, "old")
    assert table.is_relative_to(cache)
    assert len(_rows(table)) == 6
    again = columnar.readable(run / OBSERVATIONS, "old")
    assert again == table and columnar.is_current(run / OBSERVATIONS, again)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert verify(run).intact


# ---------------------------------------------------------------------------------------
# hulian export
# ---------------------------------------------------------------------------------------


def test_export_writes_each_format_streamed(tmp_path: Path) -> None:
    run = _bundle(tmp_path)
    runner = CliRunner()
    out = tmp_path / "out"
    out.mkdir()
    for fmt, table in (("parquet", "observations"), ("csv", "observations"),
                       ("jsonl", "verdicts"), ("csv", "verdicts")):
        target = out / f"{table}.{fmt}"
        result = runner.invoke(app, ["export", str(run), "--format", fmt, "--table", table,
                                     "--out", str(target)])
        assert result.exit_code == 0, result.output
    assert (out / "observations.parquet").read_bytes() == \
        (run / "observations.parquet").read_bytes()
    rows = list(csv.DictReader(io.StringIO((out / "observations.csv").read_text("utf-8"))))
    assert len(rows) == 6
    rich = next(r for r in rows if r["id"] == rich_observation().id)
    assert rich["page.kind"] == rich_observation().page.kind.value  # type: ignore[union-attr]
    assert json.loads(rich["hops"])[0]["url"] == rich_observation().hops[0].url
    verdicts = [json.loads(line) for line in
                (out / "verdicts.jsonl").read_text("utf-8").splitlines()]
    assert verdicts == [{"run_id": "r1", **_as_json([VERDICT])[0]}]
    header = (out / "verdicts.csv").read_text("utf-8").splitlines()[0]
    assert '"reason.zh","reason.en"' in header


def test_export_to_stdout_and_default_name(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    run = _bundle(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(run), "--format", "jsonl", "--out", "-"])
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 6
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["export", str(run), "--format", "csv", "--table", "verdicts"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r1.verdicts.csv").is_file()
    refused = runner.invoke(app, ["export", str(run), "--out", "-"])
    assert refused.exit_code == 2 and "Parquet" in refused.output


def test_export_of_an_older_bundle_builds_the_table_and_leaves_the_bundle(
        tmp_path: Path) -> None:
    run = _older_bundle(tmp_path)
    result = CliRunner().invoke(app, ["export", str(run), "--format", "parquet", "--out",
                                      str(tmp_path / "o.parquet")])
    assert result.exit_code == 0, result.output
    assert len(_rows(tmp_path / "o.parquet")) == 6
    assert not (run / "observations.parquet").exists()
    assert verify(run).intact


def test_export_bad_input_says_what_and_where(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(tmp_path)])
    assert result.exit_code == 7 and "not a run bundle" in result.output
    run = _older_bundle(tmp_path)
    # An altered bundle is refused; with --allow-unverified the corrupt line is named.
    with (run / OBSERVATIONS).open("a", encoding="utf-8") as fh:
        fh.write('{"id": "bad", "hops": "not a list"}\n')
    refused = runner.invoke(app, ["export", str(run), "--out", str(tmp_path / "x.csv"),
                                  "--format", "csv"])
    assert refused.exit_code == 6 and "verification" in refused.output
    named = runner.invoke(app, ["export", str(run), "--out", str(tmp_path / "x.csv"),
                                "--format", "csv", "--allow-unverified"])
    assert named.exit_code == 1
    assert "observations.jsonl:7" in named.output
    assert "Traceback" not in named.output
    assert not (tmp_path / "x.csv").exists()
    shutil.rmtree(run)


def test_duckdb_spills_into_its_own_directory_not_the_working_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from audit.evidence.sql import memory_tables

    monkeypatch.chdir(tmp_path)
    tables = memory_tables([observation(1)])
    with tables:
        (spill,) = tables.all("SELECT current_setting('temp_directory')")[0]
        assert Path(spill).is_dir() and not Path(spill).is_relative_to(tmp_path)
        assert tables.all("SELECT count(*) FROM observations") == [(1,)]
    assert not Path(spill).exists()
    assert not (tmp_path / ".tmp").exists()


def _many_row_groups(path: Path, first: int) -> int:
    """A Parquet table of 20,000 rows in row groups of 10 (a footer of ~400 KB, as ten
    million observations' 4 MB is to its ranges), its values from `first`; its footer's
    size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = list(range(first, first + 20_000))
    pq.write_table(pa.table({"n": values, "text": [str(v) for v in values]}), path,
                   row_group_size=10)
    return int(pq.ParquetFile(path).metadata.serialized_size)


def test_a_parquet_footer_kept_is_read_once_a_connection_not_once_a_statement(
        tmp_path: Path) -> None:
    # Ranges of a big table are read by hundreds of statements (the per-observation rules):
    # without DuckDB's metadata cache each parsed the whole footer again (ten million
    # observations: ~65 ms of a statement that scans in 20).
    from audit.evidence.sql import RunTables

    table = tmp_path / "observations.parquet"
    footer = _many_row_groups(table, 0)
    statement = "SELECT sum(n) FROM observations WHERE row >= 100 AND row < 120"

    def bytes_read(tables: RunTables) -> int:
        assert tables.all(statement) == [(sum(range(100, 120)),)]
        (_, profile), = tables.all("EXPLAIN (ANALYZE, FORMAT JSON) " + statement)
        return int(json.loads(profile)["io"]["total_bytes_read"])

    with RunTables(table) as tables:
        assert bytes_read(tables) >= footer  # by default, the footer a statement
        tables.keep_footers()
        tables.all(statement)
        assert bytes_read(tables) < footer // 10
    # Kept for that connection only: a table rewritten (most likely within the same second
    # of modification time) is read as it is now by the next one.
    _many_row_groups(table, 1)
    with RunTables(table) as tables:
        tables.keep_footers()
        assert tables.all(statement) == [(sum(range(101, 121)),)]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_a_table_without_room_says_where_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A table (gigabytes of a large run) built where the disk is full: ColumnarError naming
    # the file and what to set (`export`, `graph` and `evaluate` show a HulianError's
    # message), not a traceback; built apart, its directory is removed. The disk full is
    # /dev/full's, written through the table's temporary file.
    import tempfile

    run = _bundle(tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    apart = scratch / "hulian-table-x"

    def prepared(prefix: str = "") -> str:
        apart.mkdir()
        (apart / "observations.parquet.tmp").symlink_to("/dev/full")
        return str(apart)

    monkeypatch.setattr(tempfile, "mkdtemp", prepared)
    expected = r"observations\.parquet: cannot build the table .*No space left.*TMPDIR"
    with (pytest.raises(columnar.ColumnarError, match=expected),
          columnar.built_apart(run / OBSERVATIONS, "r1")):
        pass
    assert list(scratch.iterdir()) == []

    (tmp_path / "full.parquet.tmp").symlink_to("/dev/full")
    with pytest.raises(columnar.ColumnarError, match=r"full\.parquet: cannot build .*No space"):
        columnar.build(run / OBSERVATIONS, "r1", tmp_path / "full.parquet")
    assert not (tmp_path / "full.parquet").exists()


def test_a_footer_tells_a_column_has_no_null_only_where_it_can(tmp_path: Path) -> None:
    # The record checks leave out reading every verdict's reason where the table's footer
    # counts no null in its texts; anything the footer cannot vouch for is read.
    import pyarrow as pa
    import pyarrow.parquet as pq

    from audit.evidence.sql import RunTables, memory_tables

    def table(name: str, reasons: list[Any],
              statistics: bool = True) -> Path:
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({"id": [str(n) for n in range(len(reasons))],
                                 "reason": reasons}), path, row_group_size=2,
                       write_statistics=statistics)
        return path

    leaves = ("reason, zh", "reason, en")
    whole = [{"zh": "中", "en": "x"}] * 5
    for reasons, statistics, expected in (
            (whole, True, True),
            ([*whole, {"zh": None, "en": "x"}], True, False),  # a text missing
            ([*whole, None], True, False),  # the reason itself missing
            (whole, False, False)):  # a footer without counts vouches for nothing
        path = table("verdicts", reasons, statistics)
        with RunTables(path, path) as tables:
            assert tables.never_null("verdicts", leaves) is expected, (reasons, statistics)
            assert tables.never_null("verdicts", ("reason, de",)) is False  # not there
    with memory_tables([observation(1)], [VERDICT]) as tables:  # JSON lines: no footer
        assert tables.never_null("verdicts", leaves) is False


def test_a_table_built_again_on_every_core_holds_every_line(tmp_path: Path) -> None:
    # The lines are parsed in parts of ~1 MB on every core; a line longer than a part (a huge
    # reason text) cannot be split, and its block is parsed whole instead.
    lines = tmp_path / "verdicts.jsonl"
    huge = VERDICT.model_copy(update={"id": "huge", "reason": VERDICT.reason.model_copy(
        update={"en": "x" * (3 << 20)})})
    records = [VERDICT.model_copy(update={"id": f"v{n}"}) for n in range(20_000)]
    records.insert(7_000, huge)
    lines.write_bytes(b"".join(json_line(r) for r in records))
    assert lines.stat().st_size > 2 * columnar.REBUILD_BLOCK  # several blocks, several parts
    columnar.build(lines, "run")
    rows = _rows(tmp_path / "verdicts.parquet")
    assert [r["id"] for r in rows] == [r.id for r in records]
    assert len(str(rows[7_000]["reason"])) > 3 << 20
    assert columnar.is_current(lines)
