"""DuckDB (embedded, no server) over one run's tables, for the pipeline's aggregations: the
cross-target rules (audit/judge/cross.py) and the graph's edges (audit/graph/build.py) group
and count a run's observations here, a column and a row group at a time, instead of holding
every observation as a Python object (issue 16). The one module that imports duckdb:
`hulian query` (audit/history/query.py) opens its connections through `connect` here.

A run's tables are the bundle's Parquet files (audit/evidence/columnar.py, docs/columnar.md),
built on demand into the cache for a bundle without them; records held in memory (tests,
`hulian graph` over several runs) are written as JSON lines of the columns the queries read,
so that small and large runs take the same queries.

Views: `observations` (the table's columns plus `row`, the record's place in the file, for
"in the order measured") and, when there is one, `verdicts` (plus `row`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
from orjson import dumps

from audit.errors import HulianError
from audit.evidence import columnar
from audit.evidence.bundle import OBSERVATIONS, VERDICTS, Bundle, BundleError
from audit.evidence.cachedir import scratch_directory
from audit.model import (
    BlockReason,
    Observation,
    Outcome,
    Severity,
    Status,
    SurfaceKind,
    Verdict,
)

FETCH_ROWS = 50_000
# Rows of nested columns made into Python objects at a time (a few MB of objects).
NESTED_ROWS = 4_096
COLUMN_ROWS = 65_536  # values of one flat column (`RunTables.column`) made at a time
TEXT_ROWS = 8_192  # rows of a few KB (`RunTables.batches`: verdict lines) at a time
# DuckDB spills to disk past this (its own limit, not the process's): the aggregations
# stream, and the figure keeps a million-observation run well under 1.5 GB.
MEMORY_LIMIT = os.environ.get("HULIAN_DUCKDB_MEMORY", "512MB")
NO_CHECKPOINTS = "1TB"  # a checkpoint threshold no run's scratch tables reach


# The name of each directory DuckDB spills into begins so (under $TMPDIR).
SPILL_PREFIX = "hulian-duckdb-"


class TablesError(HulianError):
    """A run's tables cannot be read (DuckDB's message)."""


_DIFFERENT_ROWS = "a column {} (internal error: the two queries read different rows)"


class ColumnReader:
    """A query's one column, taken in order a count at a time (`RunTables.column`)."""

    def __init__(self, batches: Iterator[list[Any]]):
        self._batches = batches
        self._batch: list[Any] = []
        self._at = 0

    def take(self, count: int) -> list[Any]:
        """The next `count` values; TablesError if the query has fewer left (the counts
        came from another query over other rows: a bug, said as such; `finish` says the
        other half)."""
        taken: list[Any] = []
        while count > 0:
            if self._at == len(self._batch):
                batch = next(self._batches, None)
                if batch is None:
                    raise TablesError(_DIFFERENT_ROWS.format("ended before its counted rows"))
                self._batch, self._at = batch, 0
            piece = self._batch[self._at:self._at + count]
            self._at += len(piece)
            count -= len(piece)
            taken.extend(piece)
        return taken

    def finish(self) -> None:
        """Every value taken: TablesError if the query has more than was counted."""
        while self._at == len(self._batch):
            batch = next(self._batches, None)
            if batch is None:
                return
            self._batch, self._at = batch, 0
        raise TablesError(_DIFFERENT_ROWS.format("has more rows than were counted"))

    def close(self) -> None:
        """Ends the query's reading (before its tables are dropped)."""
        close = getattr(self._batches, "close", None)
        if close is not None:
            close()


def _tables_error(exc: duckdb.Error) -> TablesError:
    """DuckDB's message; for a query that ran out of memory, what to change here (its own
    advice names SQL settings a user of hulian does not type)."""
    if isinstance(exc, duckdb.OutOfMemoryException):
        first = str(exc).split("\n", 1)[0]
        return TablesError(f"{first}: DuckDB's memory limit is {MEMORY_LIMIT} (set "
                           "HULIAN_DUCKDB_MEMORY higher, e.g. 2GB) and it spills into "
                           f"{tempfile.gettempdir()} past it (set TMPDIR to a directory "
                           "with room)")
    if isinstance(exc, duckdb.IOException) and SPILL_PREFIX in str(exc):
        # Its spill directory full or gone.
        return TablesError(f"{exc} (DuckDB spills into {tempfile.gettempdir()}: set TMPDIR "
                           "to a directory with room)")
    return TablesError(str(exc))


# For the modules that drive DuckDB through this one (`hulian query`).
Connection = duckdb.DuckDBPyConnection
DuckDBError = duckdb.Error


def connect(database: Path | str = ":memory:", *, read_only: bool = False,
            **config: Any) -> Connection:
    """A DuckDB connection that never fetches anything: extensions come from the internet,
    so they are neither installed nor loaded behind a query's back."""
    settings = {"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                **config}
    return duckdb.connect(str(database), read_only=read_only, config=settings)


def table_names(sql: str) -> set[str] | None:
    """The tables a statement names, by DuckDB's own parser; None when it cannot parse it."""
    try:
        return set(duckdb.get_table_names(sql))
    except duckdb.Error:
        return None


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


# Rows of a Python table (`RunTables.table`) handed to DuckDB at a time.
TABLE_ROWS = 16_384


class RunTables:
    """A DuckDB connection with a run's tables as views. Use as a context manager."""

    def __init__(self, observations: Path | None, verdicts: Path | None = None, *,
                 cleanup: Path | None = None,
                 columns: tuple[dict[str, str], dict[str, str]] | None = None):
        """Views over Parquet tables, or (columns given: their names and types) over JSON
        lines of those columns. No tables at all (observations None): a database of the
        caller's own tables (`table`), e.g. the report's findings given as objects."""
        self._cleanup = cleanup
        self._observations = observations
        # The Parquet file behind each view (none for JSON lines): its footer's statistics
        # answer some questions without reading a column (`never_null`).
        self._parquet = {name: path for name, path in (("observations", observations),
                                                       ("verdicts", verdicts))
                         if path is not None and columns is None}
        # Where DuckDB spills past its memory limit: its own temporary directory, removed on
        # close (an in-memory database otherwise spills into ./.tmp of whatever directory
        # the command was started in).
        self._spill: Path | None = scratch_directory(
            SPILL_PREFIX, "for DuckDB to spill into", TablesError)
        # No automatic checkpoints (past 16 MB of changes by default): in a database of
        # scratch tables they keep nothing, and each rewrote the tables made so far,
        # compressed: the report of a million observations 52-53 s with them, 45-46 s
        # without (docs/benchmarks.md, "Seventeenth session").
        self.con = connect(threads=max(1, min(4, os.cpu_count() or 1)),
                           memory_limit=MEMORY_LIMIT, temp_directory=str(self._spill),
                           checkpoint_threshold=NO_CHECKPOINTS)
        try:
            for name, path, types in (("observations", observations, columns and columns[0]),
                                      ("verdicts", verdicts, columns and columns[1])):
                if path is None:
                    continue
                if types:
                    spec = "{" + ", ".join(f"'{c}': '{t}'" for c, t in types.items()) + "}"
                    source = (f"read_json({_literal(path)}, format='newline_delimited', "
                              f"columns={spec})")
                else:
                    source = (f"(SELECT *, file_row_number AS row FROM "
                              f"read_parquet({_literal(path)}, file_row_number=true))")
                self.con.execute(f"CREATE VIEW {name} AS SELECT * FROM {source}")
        except duckdb.Error as exc:
            self.close()
            raise TablesError(f"{observations}: {exc}") from None
        self.has_verdicts = verdicts is not None

    @property
    def observations(self) -> Path:
        """The observations table's file, for a second view of it."""
        if self._observations is None:
            raise TablesError("these tables have no observations")
        return self._observations

    def rows(self, sql: str, params: Sequence[object] | Mapping[str, object] = ()
             ) -> Iterator[tuple[Any, ...]]:
        """The query's rows, fetched in batches (never the whole result at once)."""
        batches = self._batches(sql, params)
        next(batches)  # the column names
        for batch in batches:
            yield from batch

    def records(self, sql: str, params: Sequence[object] = ()) -> Iterator[dict[str, Any]]:
        """The query's rows as dicts (column name -> value; structs are dicts, lists lists)."""
        batches = self._batches(sql, params)
        names = next(batches)
        for batch in batches:
            for row in batch:
                yield dict(zip(names, row, strict=True))

    def nested_rows(self, sql: str,
                    params: Mapping[str, object] | None = None) -> Iterator[tuple[Any, ...]]:
        """The rows of a query, made through Arrow a column at a time: about twice as fast as
        DuckDB's own conversion of rows, those with nested columns (structs, lists of
        structs: the report's findings) as flat ones (the cross-target rules'
        observations). Sums come back as Arrow makes them (decimals): for counts, `rows`."""
        try:
            reader = self.con.cursor().sql(sql, params=params).to_arrow_reader(NESTED_ROWS)
            for batch in reader:
                yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)
        except duckdb.Error as exc:
            raise _tables_error(exc) from None

    def column(self, sql: str) -> ColumnReader:
        """The values of a one-column query in its order, to be taken a count at a time:
        what DuckDB cannot aggregate into lists within its memory (the ids of ten million
        observations), read beside the aggregates that count them."""
        def batches() -> Iterator[list[Any]]:
            try:
                reader = self.con.cursor().sql(sql).to_arrow_reader(COLUMN_ROWS)
                for batch in reader:
                    yield batch.column(0).to_pylist()
            except duckdb.Error as exc:
                raise _tables_error(exc) from None

        return ColumnReader(batches())

    def _batches(self, sql: str,
                 params: Sequence[object] | Mapping[str, object]) -> Iterator[Any]:
        # First the column names, then the rows, FETCH_ROWS at a time.
        try:
            cursor = self.con.cursor()
            cursor.execute(sql, dict(params) if isinstance(params, Mapping) else list(params))
            yield [column[0] for column in cursor.description or ()]
            while True:
                batch = cursor.fetchmany(FETCH_ROWS)
                if not batch:
                    break
                yield batch
        except duckdb.Error as exc:
            raise _tables_error(exc) from None

    def batches(self, sql: str, params: Mapping[str, object],
                rows: int | None = None) -> Iterator[Any]:
        """The query's rows as Arrow record batches of `rows` rows (TEXT_ROWS by default; for
        columnar's writers: a run's verdicts are gigabytes of lines, made by DuckDB, never
        Python strings)."""
        try:
            yield from self.con.sql(sql, params=params).to_arrow_reader(rows or TEXT_ROWS)
        except duckdb.Error as exc:
            raise _tables_error(exc) from None

    def function(self, name: str, function: Callable[[str], str]) -> None:
        """A Python function of one text to a text, callable as `name` in this connection's
        queries (for the rare values DuckDB's own functions cannot give as Python does)."""
        self.con.create_function(name, function, [duckdb.sqltype("VARCHAR")],
                                 duckdb.sqltype("VARCHAR"), side_effects=False)

    def all(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return list(self.rows(sql, params))

    def reduced(self, sql: str, parts: int = 1) -> list[tuple[Any, ...]]:
        """The rows of a query that reduces many rows to a few, read in `parts` parts: the
        query takes $part and $parts and reads that part of its rows (the caller merges the
        parts' rows). Run without DuckDB keeping the order rows were inserted in between
        (its ORDER BY orders all its columns), which lets its grouping spill. Nothing else may
        read from this database meanwhile: the setting is the database's."""
        rows: list[tuple[Any, ...]] = []
        try:
            self.con.execute("SET preserve_insertion_order = false")
            for part in range(parts):
                rows += self.rows(sql, {"part": part, "parts": parts})
            return rows
        except duckdb.Error as exc:
            raise _tables_error(exc) from None
        finally:
            self.con.execute("SET preserve_insertion_order = true")

    def table(self, name: str, columns: Sequence[tuple[str, str]],
              rows: Iterable[Sequence[object]], *, append: bool = False) -> None:
        """A table from Python (catalog facts, a judging's pieces) in the in-memory database
        (not TEMP: the cursors `rows` reads through are connections of their own).
        append: the rows added to the table made so before."""
        # Through Arrow (columnar.rows_table), TABLE_ROWS rows at a time: a judging's pieces
        # can be hundreds of megabytes.
        casts = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in columns)
        insert = f"INSERT INTO {name} SELECT {casts} FROM _python_rows"
        statement = (insert if append else
                     f"CREATE OR REPLACE TABLE {name} AS SELECT {casts} FROM _python_rows")
        chunk: list[tuple[Any, ...]] = []
        for row in rows:
            chunk.append(tuple(row))
            if len(chunk) == TABLE_ROWS:
                self._insert(statement, columns, chunk)
                statement, chunk = insert, []
        if chunk or not append:
            self._insert(statement, columns, chunk)

    def _insert(self, statement: str, columns: Sequence[tuple[str, str]],
                rows: list[tuple[Any, ...]]) -> None:
        self.con.register("_python_rows", columnar.rows_table(list(columns), rows))
        try:
            self.con.execute(statement)
        finally:
            self.con.unregister("_python_rows")

    def execute(self, sql: str, params: Mapping[str, object] | None = None) -> None:
        """A statement that returns nothing worth reading (a table made from the views)."""
        try:
            self.con.execute(sql, params)
        except duckdb.Error as exc:
            raise _tables_error(exc) from None

    def keep_footers(self) -> None:
        """Parse each Parquet table's footer once for this connection, not once a statement:
        for a caller that reads a table in hundreds of ranges. The footer holds every row
        group's statistics of every column: 4.3 MB for ten million observations (1,012 row
        groups), parsed again in ~65 ms by each statement of a range of 32,768 rows that
        scans in 20 (docs/benchmarks.md, "Twenty-fifth session"). Not the default: kept
        parsed, the verdicts' footer of ten million (16.5 MB) held ~90 MB more through a
        report, whose statements each scan the whole table once. Kept for this database only
        (an in-memory one a RunTables), checked against the file's modification time. Set
        here, not given to `connect`: there the Parquet reader whose setting it is has not
        been loaded (nothing is autoloaded) and the connection fails; and as GLOBAL, which is
        this database's (a plain SET leaves it off, silently)."""
        self.execute("SET GLOBAL parquet_metadata_cache = true")

    def never_null(self, table: str, leaves: Sequence[str]) -> bool:
        """Whether the Parquet file behind `table` records no null in any of these columns
        (leaves of nested ones as DuckDB's parquet_metadata names them: 'reason, zh'), from
        its footer's statistics alone: no column read. False where the footer cannot tell
        (JSON lines, a leaf without a null count in some row group, a leaf not there)."""
        path = self._parquet.get(table)
        if path is None or not leaves:
            return False
        ((named, counted, nulls),) = self.all(
            "SELECT count(DISTINCT path_in_schema), count(*) = count(stats_null_count), "
            "coalesce(sum(stats_null_count), 0) FROM parquet_metadata(?) "
            "WHERE list_contains(?, path_in_schema)", [str(path), list(leaves)])
        return bool(named == len(set(leaves)) and counted and nulls == 0)

    def exclude_rules(self, rule_ids: Iterable[str]) -> None:
        """Leave these rules' verdicts out of the verdicts view (the link graph leaves the
        search rules' verdicts to the search edges)."""
        ids = sorted(set(rule_ids))
        if not ids or not self.has_verdicts:
            return
        self.table("excluded_rules", [("rule_id", "VARCHAR")], ((i,) for i in ids))
        self.con.execute("ALTER VIEW verdicts RENAME TO all_verdicts")
        self.con.execute("CREATE VIEW verdicts AS SELECT * FROM all_verdicts "
                         "WHERE rule_id NOT IN (SELECT rule_id FROM excluded_rules)")

    def close(self) -> None:
        self.con.close()
        if self._spill is not None:
            shutil.rmtree(self._spill, ignore_errors=True)
            self._spill = None
        if self._cleanup is not None:
            shutil.rmtree(self._cleanup, ignore_errors=True)
            self._cleanup = None

    def __enter__(self) -> RunTables:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def run_tables(run: Path, *, verdicts: bool = True, fresh: bool = False) -> RunTables:
    """The tables of the bundle at `run` (its own Parquet files when current, else built
    into the cache: the bundle is left untouched). fresh: built from the JSON lines into a
    temporary directory (removed on close), whatever tables exist: for a bundle that failed
    verification, whose tables are current by their size but may be older than its lines."""
    run_id = Bundle(run).manifest.run_id
    if not fresh:
        observations = columnar.readable(run / OBSERVATIONS, run_id)
        verdict_table = columnar.readable(run / VERDICTS, run_id) if verdicts else None
        return RunTables(observations, verdict_table)
    directory = scratch_directory("hulian-tables-", "for the run's tables", TablesError)
    try:
        observations = columnar.build(run / OBSERVATIONS, run_id,
                                      directory / "observations.parquet")
        verdict_table = (columnar.build(run / VERDICTS, run_id, directory / "verdicts.parquet")
                         if verdicts else None)
        return RunTables(observations, verdict_table, cleanup=directory)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


# The columns the pipeline's queries read, for records held in memory.
OBSERVATION_COLUMNS = {"id": "VARCHAR", "source": "VARCHAR", "surface": "VARCHAR",
                       "target_url": "VARCHAR", "target_platform": "VARCHAR",
                       "outcome": "VARCHAR", "reason": "VARCHAR", "row": "BIGINT"}
VERDICT_COLUMNS = {"id": "VARCHAR", "rule_id": "VARCHAR", "observation_id": "VARCHAR",
                   "status": "VARCHAR", "source": "VARCHAR", "target_platform": "VARCHAR",
                   "row": "BIGINT"}


def _value(value: object) -> object:
    return None if value is None else str(value)  # enums as their values


def memory_tables(observations: Iterable[Observation],
                  verdicts: Iterable[Verdict] | None = None) -> RunTables:
    """Tables of records held in memory (tests, `hulian graph` over several runs): the
    columns the queries read, as JSON lines in a temporary directory (removed on close) that
    DuckDB reads with a fixed schema. Serialising whole records (hops, pages) through the
    bundle's Parquet writer would cost ten times as much for columns no query reads."""
    directory = scratch_directory("hulian-tables-", "for the records' tables", TablesError)
    try:
        obs_lines = directory / OBSERVATIONS
        with obs_lines.open("wb") as fh:
            for row, obs in enumerate(observations):
                fh.write(dumps({"id": obs.id, "source": obs.source,
                                "surface": _value(obs.surface),
                                "target_url": obs.target_url,
                                "target_platform": obs.target_platform,
                                "outcome": _value(obs.outcome),
                                # the report's figure passes only the fields the graph
                                # reads (audit.report.data.GraphObservation): no reason
                                "reason": _value(getattr(obs, "reason", None)),
                                "row": row}) + b"\n")
        verdict_lines = None
        if verdicts is not None:
            verdict_lines = directory / VERDICTS
            with verdict_lines.open("wb") as fh:
                for row, verdict in enumerate(verdicts):
                    fh.write(dumps({"id": verdict.id, "rule_id": verdict.rule_id,
                                    "observation_id": verdict.observation_id,
                                    "status": _value(verdict.status),
                                    "source": verdict.source,
                                    "target_platform": verdict.target_platform,
                                    "row": row}) + b"\n")
        return RunTables(obs_lines, verdict_lines, cleanup=directory, columns=(
            OBSERVATION_COLUMNS, VERDICT_COLUMNS))
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


# The first record of a table that the report and `hulian diff` cannot read, with why: the
# fields they group, join and count by, as the models require them (a bundle's writer
# validated every record; one edited by hand, read with --allow-unverified, may not be).
INVALID_OBSERVATION = """
SELECT row, CASE
  WHEN id IS NULL THEN 'no id' WHEN probe_id IS NULL THEN 'no probe_id'
  WHEN source IS NULL THEN 'no source' WHEN target_url IS NULL THEN 'no target_url'
  WHEN surface IS NULL OR NOT list_contains(?, surface)
    THEN 'surface ' || coalesce(surface, 'missing')
  WHEN outcome IS NULL OR NOT list_contains(?, outcome)
    THEN 'outcome ' || coalesce(outcome, 'missing')
  ELSE 'reason ' || reason END
FROM observations
WHERE id IS NULL OR probe_id IS NULL OR source IS NULL OR target_url IS NULL
   OR NOT list_contains(?, surface) OR NOT list_contains(?, outcome)
   OR surface IS NULL OR outcome IS NULL OR NOT list_contains(?, coalesce(reason, ''))
ORDER BY row LIMIT 1
"""

# A verdict's surface and outcome may be missing (a graph or search verdict has none), not
# unknown: with these checks the report reads its cross-target verdicts without validating
# each as a Verdict (~9 us each, 3.5 s of a million observations' ~390,000).
# A reason is checked only where the table's footer cannot tell that none is null
# (RunTables.never_null): reading every verdict's texts to find none missing took 8 of the
# check's 10.6 s at ten million observations (43 million verdicts), the footer 0.8 s.
_NO_REASON = "reason IS NULL OR reason.zh IS NULL OR reason.en IS NULL"
_REASON_LEAVES = ("reason, zh", "reason, en")
INVALID_VERDICT = """
SELECT row, CASE
  WHEN id IS NULL THEN 'no id' WHEN rule_id IS NULL THEN 'no rule_id'
  WHEN source IS NULL THEN 'no source'
  WHEN {no_reason} THEN 'no {{zh, en}} reason'
  WHEN status IS NULL OR NOT list_contains(?, status)
    THEN 'status ' || coalesce(status, 'missing')
  WHEN surface IS NOT NULL AND NOT list_contains(?, surface) THEN 'surface ' || surface
  WHEN outcome IS NOT NULL AND NOT list_contains(?, outcome) THEN 'outcome ' || outcome
  ELSE 'severity ' || coalesce(severity, 'missing') END
FROM verdicts
WHERE id IS NULL OR rule_id IS NULL OR source IS NULL
   OR {no_reason}
   OR status IS NULL OR NOT list_contains(?, status)
   OR (surface IS NOT NULL AND NOT list_contains(?, surface))
   OR (outcome IS NOT NULL AND NOT list_contains(?, outcome))
   OR severity IS NULL OR NOT list_contains(?, severity)
ORDER BY row LIMIT 1
"""


def check_records(run: Path, tables: RunTables) -> None:
    """BundleError naming the file and line of the first record of the run's tables that
    cannot be read (the line: the record's number, blank lines not counted)."""
    surfaces, outcomes = [s.value for s in SurfaceKind], [o.value for o in Outcome]
    reasons = ["", *(r.value for r in BlockReason)]  # '': none
    checks = [(OBSERVATIONS, INVALID_OBSERVATION,
               [surfaces, outcomes, surfaces, outcomes, reasons])]
    if tables.has_verdicts:
        statuses, severities = [s.value for s in Status], [s.value for s in Severity]
        no_reason = ("false" if tables.never_null("verdicts", _REASON_LEAVES)
                     else _NO_REASON)
        checks.append((VERDICTS, INVALID_VERDICT.format(no_reason=no_reason),
                       [statuses, surfaces, outcomes, statuses, surfaces, outcomes,
                        severities]))
    for name, sql, params in checks:
        for row, why in tables.rows(sql, params):
            raise BundleError(f"{run / name}:{row + 1}: invalid record ({why})")
