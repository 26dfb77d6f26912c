"""DuckDB's statements in one step of a run, each with its time and the most memory DuckDB
held while it ran: where to look first when a step got slower or ran out of DuckDB's memory
limit (`HULIAN_DUCKDB_MEMORY`, 512 MB by default).

    .venv/bin/python bench/statements.py --run RUN_DIR [--step report|judge|graph]
        [--catalog synthetic|run] [--platforms 2000 --companies 200] [--top 15]
        [--every-ms 25] [--json FILE]

  judge    every rule judged (audit.judge.verdicts.write_verdicts), the verdicts' lines and
           table written into a temporary directory: the bundle is left as it is
  graph    the platform graph built from the run's tables (audit.graph.build.build, as the
           crawl's end builds it before its GraphML and metrics)
  report   `hulian report`'s html, csv, json and junit (audit.report.render.write_reports)
           into a temporary directory, without the verification before it

--catalog synthetic: tests/scaleruns.py's audit of --platforms and --companies (the bundles
of bench/pipeline.py and bench/scale.py: `--phase generate` and `finish` with --dir);
run: the shipped policies and the bundle's own (a lab or real run).

Every statement the step gives DuckDB through audit.evidence.sql.RunTables is timed from
its start until its rows were all read (a streamed statement's time includes what its reader
did between batches), and one thread samples `duckdb_memory()` every --every-ms while any
runs: a statement's memory is the most DuckDB held at once, by tag, besides its tables'
blocks (BASE_TABLE, IN_MEMORY_TABLE and the file caches, which it evicts or spills rather than
fail). Statements open at the same time (the graph's edges and their ids) share what was
sampled. Printed: the slowest statements, those that held the most, and the totals of each
statement's shape (its first words: the ranges of one statement add up). Nothing leaves
127.0.0.1: the step reads the bundle only.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.phases import peak_mb  # noqa: E402

# duckdb_memory()'s tags for a database's own blocks: DuckDB evicts them to its temporary
# directory (or drops file caches) when a statement needs room, so they do not make one fail.
TABLE_TAGS = ("BASE_TABLE", "IN_MEMORY_TABLE", "EXTERNAL_FILE_CACHE", "OBJECT_CACHE")
MEMORY_SQL = ("SELECT tag, memory_usage_bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0 "
              f"AND tag NOT IN {TABLE_TAGS}")
SHAPE_WORDS = 6  # a statement's shape: its first words, whitespace folded


@dataclass
class Statement:
    sql: str
    started: float
    seconds: float = 0.0
    peak: dict[str, int] = field(default_factory=dict)  # tag -> most bytes sampled
    held: int = 0  # the most bytes of all tags sampled at once

    @property
    def shape(self) -> str:
        return " ".join(self.sql.split()[:SHAPE_WORDS])

    def row(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 3), "held_mb": round(self.held / 2**20, 1),
                "peak_mb": {tag: round(n / 2**20, 1) for tag, n in sorted(self.peak.items())},
                "sql": " ".join(self.sql.split())}


class Recorder:
    """Statements as they run, and a thread sampling DuckDB's memory while any is open."""

    def __init__(self, every_s: float):
        self.every_s = every_s
        self.done: list[Statement] = []
        self._open: list[Statement] = []
        self._samplers: dict[int, Any] = {}  # id(connection) -> a cursor of its own
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="statements-sampler",
                                        daemon=True)

    def start(self, connection: Any, sql: str) -> Statement:
        statement = Statement(sql, time.perf_counter())
        with self._lock:
            if id(connection) not in self._samplers:
                self._samplers[id(connection)] = connection.cursor()
            self._open.append(statement)
        return statement

    def end(self, statement: Statement) -> None:
        statement.seconds = time.perf_counter() - statement.started
        with self._lock:
            self._open.remove(statement)
            self.done.append(statement)

    def closed(self, connection: Any) -> None:
        with self._lock:
            sampler = self._samplers.pop(id(connection), None)
        if sampler is not None:
            sampler.close()

    def _sample(self) -> None:
        while not self._stop.wait(self.every_s):
            with self._lock:
                if not self._open:
                    continue
                by_tag: dict[str, int] = {}
                for sampler in list(self._samplers.values()):
                    try:
                        for tag, used in sampler.execute(MEMORY_SQL).fetchall():
                            by_tag[tag] = by_tag.get(tag, 0) + used
                    except Exception:  # a database closing under the sampler
                        continue
                held = sum(by_tag.values())
                for statement in self._open:
                    statement.held = max(statement.held, held)
                    for tag, used in by_tag.items():
                        statement.peak[tag] = max(statement.peak.get(tag, 0), used)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for sampler in self._samplers.values():
            sampler.close()


def instrument(recorder: Recorder) -> None:
    """RunTables' ways of running a statement, each recorded (the rows of `rows`, `records`
    and `all` come through `_batches`)."""
    from audit.evidence import sql

    def immediate(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def recorded(self: Any, statement: str, *args: Any, **kwargs: Any) -> Any:
            started = recorder.start(self.con, statement)
            try:
                return original(self, statement, *args, **kwargs)
            finally:
                recorder.end(started)
        return recorded

    def streamed(original: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        @functools.wraps(original)
        def recorded(self: Any, statement: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
            started = recorder.start(self.con, statement)
            try:
                yield from original(self, statement, *args, **kwargs)
            finally:
                recorder.end(started)
        return recorded

    def table(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def recorded(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
            started = recorder.start(self.con, f"[table {name} from Python rows]")
            try:
                return original(self, name, *args, **kwargs)
            finally:
                recorder.end(started)
        return recorded

    def close(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def recorded(self: Any) -> Any:
            recorder.closed(self.con)
            return original(self)
        return recorded

    tables = sql.RunTables
    tables.execute = immediate(tables.execute)  # type: ignore[method-assign]
    tables.table = table(tables.table)  # type: ignore[method-assign]
    tables.close = close(tables.close)  # type: ignore[method-assign]
    for name in ("_batches", "nested_rows", "batches"):
        setattr(tables, name, streamed(getattr(tables, name)))
    column = tables.column

    @functools.wraps(column)
    def recorded_column(self: sql.RunTables, statement: str) -> sql.ColumnReader:
        # A ColumnReader reads its batches lazily: timed from the first to the last.
        reader = column(self, statement)
        batches = reader._batches  # the reader's own iterator, wrapped

        def timed() -> Iterator[Any]:
            started = recorder.start(self.con, statement)
            try:
                yield from batches
            finally:
                recorder.end(started)

        reader._batches = timed()
        return reader

    tables.column = recorded_column  # type: ignore[method-assign,assignment]


def _catalog(args: argparse.Namespace, run: Path) -> Any:
    if args.catalog == "synthetic":
        from tests.scaleruns import synthetic_catalog

        return synthetic_catalog(args.platforms, args.companies, observation_rules=True)
    from audit.policy.catalog import catalog_for_run

    return catalog_for_run(run)


def judge(run: Path, catalog: Any, scratch: Path) -> None:
    from audit.evidence.bundle import VERDICTS, Bundle, verdicts_writing
    from audit.judge.verdicts import write_verdicts

    lines = scratch / VERDICTS
    with verdicts_writing(lines, Bundle(run).manifest.run_id,
                          parquet=lines.with_suffix(".parquet")) as (out, table):
        write_verdicts(run, catalog, out, table)


def report(run: Path, catalog: Any, scratch: Path) -> None:
    from audit.report.render import write_reports

    write_reports(run, catalog, formats=["html", "csv", "json", "junit"], out=scratch)


def graph(run: Path, catalog: Any, scratch: Path) -> None:
    from audit.evidence.sql import run_tables
    from audit.graph.build import build

    with run_tables(run) as tables:
        build(tables, None, catalog)


STEPS: dict[str, Callable[[Path, Any, Path], None]] = {"judge": judge, "graph": graph,
                                                       "report": report}


def _print(title: str, statements: list[Statement]) -> None:
    print(f"\n{title}")
    print(f"{'seconds':>8} {'held MB':>8}  tags (MB)  statement")
    for s in statements:
        tags = " ".join(f"{tag}:{n / 2**20:.0f}" for tag, n in
                        sorted(s.peak.items(), key=lambda kv: -kv[1]) if n >= 2**20)
        print(f"{s.seconds:8.2f} {s.held / 2**20:8.0f}  {tags or '-'}  "
              f"{' '.join(s.sql.split())[:100]}")


def _shapes(statements: list[Statement]) -> list[tuple[str, int, float, int]]:
    """(shape, statements, seconds, most held) per shape, the slowest first."""
    by_shape: dict[str, tuple[int, float, int]] = {}
    for s in statements:
        count, seconds, held = by_shape.get(s.shape, (0, 0.0, 0))
        by_shape[s.shape] = (count + 1, seconds + s.seconds, max(held, s.held))
    return sorted(((shape, *v) for shape, v in by_shape.items()), key=lambda r: -r[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a sealed run bundle")
    parser.add_argument("--step", choices=sorted(STEPS), default="report")
    parser.add_argument("--catalog", choices=("synthetic", "run"), default="synthetic")
    parser.add_argument("--platforms", type=int, default=2000)
    parser.add_argument("--companies", type=int, default=200)
    parser.add_argument("--top", type=int, default=15, help="statements listed per table")
    parser.add_argument("--every-ms", type=float, default=25.0,
                        help="how often DuckDB's memory is sampled")
    parser.add_argument("--json", type=Path, help="every statement's figures, as JSON")
    args = parser.parse_args()
    if not (args.run / "manifest.json").is_file():
        raise SystemExit(f"{args.run}: not a run bundle (no manifest.json); give the run's "
                         "own directory, e.g. DIR/20261203T000000Z-pipeline")
    catalog = _catalog(args, args.run)
    recorder = Recorder(args.every_ms / 1000)
    instrument(recorder)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hulian-bench-statements-") as scratch, recorder:
        STEPS[args.step](args.run, catalog, Path(scratch))
    total = time.perf_counter() - started
    statements = recorder.done
    in_duckdb = sum(s.seconds for s in statements)
    _print(f"the {args.top} slowest statements", sorted(statements, key=lambda s: -s.seconds)[
        :args.top])
    _print(f"the {args.top} that held the most", sorted(statements, key=lambda s: -s.held)[
        :args.top])
    print("\nby shape (a statement's first words)")
    print(f"{'seconds':>8} {'count':>6} {'held MB':>8}  shape")
    for shape, count, seconds, held in _shapes(statements)[:args.top]:
        print(f"{seconds:8.2f} {count:6d} {held / 2**20:8.0f}  {shape}")
    print(f"\n{args.step}: {total:.2f} s, {len(statements)} statements open for {in_duckdb:.2f} s "
          f"(streamed ones include their readers' time), peak RSS {peak_mb()} MB")
    if args.json:
        args.json.write_text(json.dumps({"step": args.step, "seconds": round(total, 2),
                                         "peak_rss_mb": peak_mb(),
                                         "statements": [s.row() for s in statements]},
                                        ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main()
