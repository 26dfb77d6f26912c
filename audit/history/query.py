"""`hulian query "SQL"`: DuckDB (embedded, no server) over the history, through
audit/evidence/sql.py (the one module that imports duckdb).

What a query sees:
* `observations`, `verdicts`: every stored run's Parquet tables as one table each (a
  `run_id` column tells the runs apart), scanned through Arrow datasets, a column and a row
  group at a time: never all observations in memory. A run whose bundle holds no current
  table (an older run) gets one built on demand into the cache (audit/evidence/columnar.py);
  the bundle is left untouched.
* `runs`: the history store's runs table (id, path, started_at, sources_key, counts ...).
* `store.<table>`: each of the store's tables as it is (store.observations, store.verdicts,
  store.graph_metrics, store.schedules ...); those whose names are free (graph_metrics,
  crawl_probes, schedules ...) also without the prefix. Only the rows of the tables a query
  names are copied.

The store is read through SQLAlchemy, whether SQLite or PostgreSQL, and copied into a
temporary DuckDB file in batches: DuckDB's sqlite and postgres extensions are downloaded at
first use, and hulian never downloads anything; one path serves both stores.

Read-only, enforced by DuckDB itself: the temporary database is opened read-only (INSERT,
CREATE, UPDATE, DELETE, DROP are refused), file access is switched off once the tables are
in place (COPY TO, EXPORT, ATTACH, INSTALL, read_csv('/any/file') are refused: the bundles'
tables are reached through the Arrow datasets registered beforehand, not through paths a
query could write to), extensions are neither installed nor loaded, and the configuration
is locked. A refused or malformed query ends with DuckDB's own message.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, Table, select
from sqlalchemy.engine import Engine

from audit.errors import HulianError
from audit.evidence import columnar
from audit.evidence.bundle import MANIFEST, OBSERVATIONS, VERDICTS
from audit.evidence.sql import Connection, DuckDBError, connect, table_names
from audit.history.store import BATCH, Base, StoreError, open_engine

logger = logging.getLogger(__name__)

# The views over the bundles' tables, and the store's tables they hide at the top level.
BUNDLE_TABLES = {"observations": OBSERVATIONS, "verdicts": VERDICTS}
FETCH_ROWS = 10_000


class QueryError(HulianError):
    """DuckDB refused or could not run the query: its message, as DuckDB says it."""


@dataclass
class History:
    """What a query runs over: the store's tables and the bundles of its runs."""

    engine: Engine
    bundles: dict[str, Path] = field(default_factory=dict)  # run id -> bundle directory
    missing: list[str] = field(default_factory=list)  # runs whose bundle is not on disk


def open_history(url: str) -> History:
    """The store at `url` (opened as it is: no migration, and no SQLite file created where
    there is none) and the bundles of its runs."""
    if url.startswith("sqlite:///"):
        file = url.removeprefix("sqlite:///")
        if file and file != ":memory:" and not Path(file).is_file():
            raise StoreError(f"no history store at {file} (runs are recorded there as they "
                             "finish; `hulian runs import RUN` adds older ones)")
    return history_of(open_engine(url, migrate=False))


def history_of(engine: Engine) -> History:
    """The runs the store knows and the bundles of those still on disk."""
    runs = Base.metadata.tables["runs"]
    history = History(engine)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(runs.c.id, runs.c.path).order_by(runs.c.id)).all()
    except Exception as exc:  # driver errors: the store has no tables, cannot be read ...
        first = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StoreError(f"cannot read the history store {engine.url!r}: {first}") from None
    for run_id, path in rows:
        if path and (Path(path) / MANIFEST).is_file():
            history.bundles[run_id] = Path(path)
        else:
            history.missing.append(run_id)
    return history


def _kind(column: Any) -> str:
    kind = column.type
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, Integer):
        return "int"
    if isinstance(kind, Float):
        return "float"
    if isinstance(kind, DateTime):
        return "timestamp"
    if isinstance(kind, JSON):
        return "json"
    return "text"


def _store_tables() -> dict[str, Table]:
    return {name: table for name, table in Base.metadata.tables.items()}


def _copy_store_table(con: Connection, engine: Engine, table: Table,
                      rows: bool) -> None:
    """One store table into the DuckDB file, BATCH rows at a time (`rows=False`: its columns
    only, for a table the query does not read: a statement that writes to it is then
    refused as a write, not as an unknown table)."""
    columns = [(c.name, _kind(c)) for c in table.columns]
    target = f'store."{table.name}"'
    con.register("_batch", columnar.store_table([], columns))
    con.execute(f"CREATE TABLE {target} AS SELECT * FROM _batch")
    con.unregister("_batch")
    if not rows:
        return
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=BATCH).execute(select(table))
        for part in result.partitions():
            con.register("_batch", columnar.store_table([tuple(r) for r in part], columns))
            con.execute(f"INSERT INTO {target} SELECT * FROM _batch")
            con.unregister("_batch")


def named_tables(sql: str) -> set[str]:
    """The tables a SELECT names (bare or as store.<name>), by DuckDB's own parser; for other
    statements (which DuckDB binds, and refuses, later) none."""
    names = table_names(sql) or set()
    return {name.split(".")[-1].strip('"') for name in names}


def _prepare(directory: Path, history: History, sql: str) -> Path:
    """The temporary database: the store's tables (with their rows where the query names
    them, and always runs) and views over them. Written here, opened read-only for the
    query."""
    database = directory / "history.duckdb"
    wanted = named_tables(sql) | {"runs"}
    tables = _store_tables()
    con = connect(database)
    try:
        con.execute("CREATE SCHEMA store")
        for name, table in tables.items():
            _copy_store_table(con, history.engine, table, rows=name in wanted)
        for name in tables:
            if name not in BUNDLE_TABLES:
                con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM store."{name}"')
    finally:
        con.close()
    return database


def _tables_of(history: History, cache: Path | None) -> dict[str, Any]:
    """The bundles' tables as Arrow datasets, one per view name."""
    found: dict[str, list[Path]] = {name: [] for name in BUNDLE_TABLES}
    for run_id, bundle in sorted(history.bundles.items()):
        for name, lines in BUNDLE_TABLES.items():
            found[name].append(columnar.readable(bundle / lines, run_id, cache))
    return {name: columnar.scan(paths, name) for name, paths in found.items()}


@dataclass
class Answer:
    columns: list[str]
    rows: Iterator[tuple[Any, ...]]


@contextmanager
def run_query(history: History, sql: str, *, cache: Path | None = None) -> Iterator[Answer]:
    """The query's answer (its columns; rows fetched as they are read) while the read-only
    DuckDB session lasts; QueryError with DuckDB's message when it refuses or fails."""
    with tempfile.TemporaryDirectory(prefix="hulian-query-") as tmp:
        database = _prepare(Path(tmp), history, sql)
        sources = _tables_of(history, cache)
        con = connect(database, read_only=True)
        try:
            for name, source in sources.items():
                con.register(name, source)
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            try:
                con.execute(sql)
                columns = [d[0] for d in con.description or []]
            except DuckDBError as exc:
                raise QueryError(str(exc)) from None
            yield Answer(columns, _fetch(con))
        finally:
            con.close()


def _fetch(con: Connection) -> Iterator[tuple[Any, ...]]:
    if con.description is None:  # a statement without a result (SET, CHECKPOINT ...)
        return
    while True:
        try:
            rows = con.fetchmany(FETCH_ROWS)
        except DuckDBError as exc:
            raise QueryError(str(exc)) from None
        if not rows:
            return
        yield from rows
