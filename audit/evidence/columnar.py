"""The run bundle's columnar tables: observations.parquet and verdicts.parquet (zstd), for
DuckDB, pandas, Polars and R. The only module that imports pyarrow.

Each table is the columnar copy of its JSON-lines file (observations.jsonl, verdicts.jsonl),
which stays the streamed, resumable record: the Parquet file is written beside it as the run
goes, a row group at a time, and can always be built again from it. Its footer records how
many bytes of the JSON-lines file it holds (`hulian.source_bytes`): a table whose count is
the file's size is current; one that is not (a run still going, killed, resumed, or written
by a hulian without Parquet) is built again from the lines.

Rows are parsed from the very lines written to the JSON-lines file, by Arrow's JSON reader
against a fixed schema (C++, no Python object per row): the two copies cannot disagree, and
writing the table costs the crawl little (docs/benchmarks.md, "Issue 16").

Nested fields stay nested, as Arrow structs and lists (`page.kind`, `comparison.matched`,
`hops[1].status`, `unnest(hops)`): DuckDB, Polars and R query them as they are, pandas gets
dicts and lists; JSON strings would have to be parsed again in every query. The CSV export
flattens structs into dotted columns and writes lists as JSON text. The schemas are
docs/columnar.md's; a change to them is a new SCHEMA_VERSION.

Standard library and pyarrow only (no models): the asyncio engine's recorder process loads it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import shutil
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from audit.ahead import made_ahead
from audit.errors import HulianError
from audit.evidence.cachedir import cache_root, scratch_directory
from audit.evidence.csvcells import CONTROLS_PATTERN, FORMULA_PATTERN

# The system allocator, not Arrow's default jemalloc: jemalloc keeps what a block's parse freed
# for reuse, and a run's memory would then hold every block's peak (bench/crawl.py: 326 MB
# against 288 MB for the whole run's process).
pa.set_memory_pool(pa.system_memory_pool())

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: comparison.text_similarity
# Rows held before they go to the file as one row group during a run, and the most JSON
# held meanwhile (a few huge pages must not hold many MB each). Small on purpose: the block
# is parsed into Arrow at about three times its size, in the crawl's recorder process, whose
# memory counts against the crawl's (docs/benchmarks.md); DuckDB reads 4,096-row groups as
# fast as larger ones at a run's sizes.
ROW_GROUP_ROWS = 4_096
PENDING_BYTES = 4 << 20
# Reading a whole JSON-lines file again: blocks of this much, row groups of this many rows.
REBUILD_BLOCK = 4 << 20
REBUILD_ROW_GROUP = 131_072
PARSED_AHEAD = 2  # blocks parsed ahead of their writing (a table built again)
SOURCE_BYTES = b"hulian.source_bytes"


class ColumnarError(HulianError):
    """A table cannot be written or read; the message names the file (and line)."""


def _text() -> pa.DataType:
    return pa.string()


_HOP = pa.struct([
    ("url", _text()), ("status", pa.int32()), ("location", _text()), ("via", _text()),
    ("elapsed_ms", pa.float64()), ("body_sha256", _text()), ("warc_record_id", _text()),
])
_PAGE = pa.struct([
    ("kind", _text()), ("signature", _text()), ("endpoint", _text()), ("target", _text()),
    ("reason", _text()), ("reason_text", _text()), ("continue_url", _text()),
    ("title", _text()), ("headline", _text()), ("excerpt", _text()), ("failure", _text()),
    ("parse_issue", _text()),
])
_COMPARISON = pa.struct([
    ("control_url", _text()), ("control_status", pa.int32()), ("chain_status", pa.int32()),
    ("status_match", pa.bool_()), ("same_site", pa.bool_()), ("body_proportion", pa.float64()),
    ("title_match", pa.bool_()), ("structure_similarity", pa.float64()),
    ("text_similarity", pa.float64()), ("matched", pa.bool_()),
])

OBSERVATIONS_SCHEMA = pa.schema([
    ("id", _text()), ("probe_id", _text()), ("run_id", _text()), ("source", _text()),
    ("surface", _text()), ("target_url", _text()), ("target_platform", _text()),
    ("method", _text()), ("started_at", pa.timestamp("us", tz="UTC")),
    ("runtime_s", pa.float64()), ("rendered_as", _text()), ("hops", pa.list_(_HOP)),
    ("final_url", _text()), ("page", _PAGE), ("control_ok", pa.bool_()),
    ("comparison", _COMPARISON), ("failure", _text()), ("outcome", _text()),
    ("reason", _text()), ("evidence", pa.list_(_text())),
])

VERDICTS_SCHEMA = pa.schema([
    ("run_id", _text()), ("id", _text()), ("rule_id", _text()), ("observation_id", _text()),
    ("probe_id", _text()), ("source", _text()), ("surface", _text()),
    ("target_url", _text()), ("target_platform", _text()), ("outcome", _text()),
    ("status", _text()), ("severity", _text()),
    ("reason", pa.struct([("zh", _text()), ("en", _text())])), ("exemption", _text()),
    ("requirements", pa.list_(_text())), ("evidence", pa.list_(_text())),
])

SCHEMAS: dict[str, pa.Schema] = {"observations": OBSERVATIONS_SCHEMA,
                                 "verdicts": VERDICTS_SCHEMA}
TABLES = tuple(SCHEMAS)


def parquet_path(jsonl: Path) -> Path:
    """observations.jsonl -> observations.parquet, beside it."""
    return jsonl.with_suffix(".parquet")


def table_of(jsonl: Path) -> str:
    name = jsonl.name.removesuffix(".jsonl")
    if name not in SCHEMAS:
        raise ColumnarError(f"{jsonl}: no columnar table for this file (tables: "
                            + ", ".join(TABLES) + ")")
    return name


def _schema(table: str) -> pa.Schema:
    # Which table and which schema version a file holds, for readers and for is_current.
    return SCHEMAS[table].with_metadata({"hulian.table": table,
                                         "hulian.schema_version": str(SCHEMA_VERSION)})


class ColumnarLog:
    """One table's Parquet file, written beside its JSON-lines file as lines are appended:
    `add` takes each line as written there, a row group goes to the file every
    ROW_GROUP_ROWS rows, `close` writes the footer. Opening one replays what the JSON-lines
    file holds already (a resumed run): the Parquet file is rewritten, never appended to (a
    file cut by a crash has no footer to append after).

    `strict=False` (a run's live copy): a line Arrow cannot read ends the copy with a warning
    instead of the run; the table, left without its byte count, is built again when the
    bundle is sealed, where the error names the line."""

    def __init__(self, jsonl: Path, run_id: str, *, dest: Path | None = None,
                 row_group_rows: int = ROW_GROUP_ROWS, strict: bool = True,
                 threads: bool = False, table: str | None = None):
        """table: the table's name where the lines' file is not named by it (a temporary
        file, renamed once written)."""
        self.jsonl = jsonl
        self.table = table or table_of(jsonl)
        self.run_id = run_id
        self.path = dest or parquet_path(jsonl)
        self.row_group_rows = row_group_rows
        self.strict = strict
        self.threads = threads  # the lines replayed on every core (`_parse`)
        self._broken = False
        self._schema = _schema(self.table)
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._source_bytes = 0
        self._lines_done = 0  # lines already in the file: the line number of an error
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(
            self.path, self._schema, compression="zstd")
        if jsonl.is_file():
            self._guarded(self._replay)

    def add(self, line: str | bytes) -> None:
        """One line as appended to the JSON-lines file (its newline included)."""
        if self._broken:
            return
        data = line.encode("utf-8") if isinstance(line, str) else line
        self._pending.append(data)
        self._pending_bytes += len(data)
        self._source_bytes += len(data)
        if len(self._pending) >= self.row_group_rows or self._pending_bytes >= PENDING_BYTES:
            self.flush()

    def append_batch(self, batch: Any, out: IO[bytes], lines: str = "line") -> None:
        """Rows made elsewhere (an Arrow batch or table from DuckDB, its lines in any number
        of chunks): its `lines` column, each a JSON line with its newline, is appended to the
        JSON-lines file `out`, and its other columns, this table's (run_id may be NULL: the
        run's), go into the table beside them, without parsing the lines again."""
        column = batch.column(lines)
        texts = chunk_texts(column)
        for data in texts:
            out.write(data)
        if self._broken:
            return
        self.flush()  # lines added before these go first
        self._source_bytes += sum(len(data) for data in texts)
        rest = batch.drop_columns([lines])
        table = rest if isinstance(rest, pa.Table) else pa.Table.from_batches([rest])
        self._guarded(lambda: self._write_rows(table, column_count=len(column)))

    def _write_rows(self, table: pa.Table, column_count: int) -> None:
        self._write_table(self._complete(table), column_count)

    def flush(self) -> None:
        """Write what is held as a row group."""
        if not self._pending or self._broken:
            return
        block, count = b"".join(self._pending), len(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        self._guarded(lambda: self._write_block(block, count))

    def _guarded(self, step: Any) -> None:
        try:
            step()
        except ColumnarError as exc:
            if self.strict:
                raise
            logger.warning("%s; %s is built again when the run is sealed", exc, self.path.name)
            self._broken = True
            self._pending.clear()

    def close(self) -> None:
        if self._writer is None:
            return
        try:
            self.flush()
            if self._broken:
                return  # no byte count: not current, built again from the lines
            self._writer.add_key_value_metadata({SOURCE_BYTES.decode(): str(self._source_bytes)})
        finally:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> ColumnarLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _replay(self) -> None:
        # A table built again (threads): each block parsed on every core while the one before
        # is written by the Parquet writer on one, both without the GIL.
        tail: list[bytes] = []
        parsed = self._parsed_blocks(tail)
        if self.threads:
            parsed = made_ahead(parsed, PARSED_AHEAD, "hulian-table-blocks")
        with contextlib.closing(parsed):
            for table, lines, size in parsed:
                self._write_table(table, lines, REBUILD_ROW_GROUP)
                self._source_bytes += size
        if tail and tail[0].strip():
            # A last line without its newline: the bundle's reader keeps it when it is a
            # whole record and skips it when it was cut, and so does the table.
            try:
                self._write_block(tail[0] + b"\n", 1)
                self._source_bytes += len(tail[0])
            except ColumnarError:
                logger.warning("%s: partial last line left out of %s (interrupted write)",
                               self.jsonl, self.path.name)

    def _parsed_blocks(self, tail: list[bytes],
                       ) -> Generator[tuple[pa.Table, int, int], None, None]:
        """The lines file's whole lines a block at a time, each block's table, lines and
        bytes; what follows its last newline is put in `tail`. Reads nothing it writes: it
        may run in a thread of its own."""
        lines_before = self._lines_done
        with self.jsonl.open("rb") as fh:
            rest = b""
            while block := fh.read(REBUILD_BLOCK):
                block = rest + block
                cut = block.rfind(b"\n") + 1
                rest = block[cut:]
                if cut:
                    lines = block.count(b"\n", 0, cut)
                    yield self._parse(block[:cut], self.threads, lines_before), lines, cut
                    lines_before += lines
        tail.append(rest)

    def _write_block(self, block: bytes, lines: int) -> None:
        self._write_table(self._parse(block), lines)

    def _write_table(self, table: pa.Table, lines: int, row_group: int | None = None) -> None:
        assert self._writer is not None, "the table is closed"
        self._writer.write_table(table, row_group_size=row_group or max(1, table.num_rows))
        self._lines_done += lines

    def _parse(self, block: bytes, threads: bool = False,
               lines_before: int | None = None) -> pa.Table:
        # Threads (a table built again from its lines, not a run's live copy): the block in
        # parts Arrow parses on every core, about twice as fast on two (a million
        # observations' verdicts are 2 GB of lines). A line longer than a part cannot be
        # split: then the block is parsed whole.
        table = None
        if threads:
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                table = self._read(block, max(1 << 20, len(block) // 4 + 1), True)
        if table is None:
            try:
                table = self._read(block, len(block) + 1, False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ColumnarError(self._where(block, exc, lines_before)) from None
        return self._complete(table)

    def _complete(self, table: pa.Table) -> pa.Table:
        # The run's id on every row (verdicts do not carry it; captures may not).
        run_id = table.column("run_id").cast(pa.string())
        filled = pc.coalesce(run_id, pa.scalar(self.run_id, pa.string()))
        table = table.set_column(table.schema.get_field_index("run_id"), "run_id", filled)
        return table.select(self._schema.names).cast(self._schema)

    def _read(self, block: bytes, block_size: int, threads: bool) -> pa.Table:
        return pa_json.read_json(
            pa.BufferReader(block),
            read_options=pa_json.ReadOptions(use_threads=threads, block_size=block_size),
            parse_options=pa_json.ParseOptions(explicit_schema=self._schema,
                                               unexpected_field_behavior="ignore"))

    def _where(self, block: bytes, exc: Exception, lines_before: int | None = None) -> str:
        """The first line of a block Arrow refused, by number (the block follows
        `lines_before` lines, by default those in the file): read one by one to find it."""
        first = (self._lines_done if lines_before is None else lines_before) + 1
        for offset, raw in enumerate(block.splitlines(), first):
            if not raw.strip():
                continue
            try:
                pa_json.read_json(pa.BufferReader(raw + b"\n"), parse_options=pa_json.ParseOptions(
                    explicit_schema=self._schema, unexpected_field_behavior="ignore"))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as line_exc:
                return (f"{self.jsonl}:{offset}: cannot be read into the {self.table} table "
                        f"({line_exc})")
        return f"{self.jsonl}: cannot be read into the {self.table} table ({exc})"


def text_bytes(column: Any) -> memoryview:
    """The characters of an Arrow column of text, one value after another, as Arrow holds
    them: gigabytes of JSON lines written without a Python string a line."""
    if column.null_count:
        raise ColumnarError(f"{column.null_count} rows of text are NULL")
    _, offsets, data = column.buffers()
    if data is None:  # only empty texts
        return memoryview(b"")
    wide = pa.types.is_large_string(column.type)
    edges = memoryview(offsets).cast("q" if wide else "i")
    return memoryview(data)[edges[column.offset]:edges[column.offset + len(column)]]


def _whole(table: pa.Table, pieced: str) -> pa.Table:
    """`table` with each column but `pieced` in one chunk: a Parquet writer cuts pages
    where a column's chunks end, so a table written in one piece gives the same bytes
    however its rows arrived."""
    if all(column.num_chunks <= 1 for column in table.columns):
        return table
    return pa.table({name: column if name == pieced else column.combine_chunks()
                     for name, column in zip(table.column_names, table.columns, strict=True)})


def in_order(batches: list[Any], keys: tuple[str, ...], rows: int,
             pieced: str = "line") -> Iterator[pa.Table]:
    """The rows of `batches` in the order of their `keys` columns (no two rows with the same
    keys), in tables of `rows` rows without those columns, each column but `pieced` in one
    chunk. Rows that came in runs (a query's parts made by threads of their own) are sliced
    from where they lie, not copied into a new order: `pieced` (gigabytes of JSON lines,
    written chunk by chunk) is not copied. Rows that came nearly shuffled (a small query
    whose plan DuckDB chose otherwise) are copied into order."""
    if rows < 1:
        raise ValueError(f"in_order: tables of {rows} rows")
    if not batches:
        return
    table = pa.Table.from_batches(batches)
    if not table.num_rows:
        return
    body = table.drop_columns(list(keys))
    order = pc.sort_indices(table.select(list(keys)),
                            sort_keys=[(key, "ascending") for key in keys])
    runs = _runs(order)
    if runs is None:  # in pieces too small to be worth slicing
        body, runs = body.take(order), [(0, len(body))]
    pieces: list[pa.Table] = []
    held = 0
    for at, length in runs:
        while length:
            step = min(length, rows - held)
            pieces.append(body.slice(at, step))
            held, at, length = held + step, at + step, length - step
            if held == rows:
                yield _whole(pa.concat_tables(pieces), pieced)
                pieces, held = [], 0
    if pieces:
        yield _whole(pa.concat_tables(pieces), pieced)


# Runs shorter than this on average are copied into order (Table.take) rather than sliced.
SHORTEST_RUNS = 64


def _runs(order: Any) -> list[tuple[int, int]] | None:
    """Rows in the `order` given (their indices) as runs (start, length) of rows that lie
    one after the other; None where the runs are shorter than SHORTEST_RUNS on average."""
    order = order.cast(pa.int64())  # uint64: their differences would wrap around
    breaks = pc.indices_nonzero(pc.not_equal(pc.pairwise_diff(order).slice(1), 1))
    if len(breaks) * SHORTEST_RUNS > len(order):
        return None
    starts = [0, *(b + 1 for b in breaks.to_pylist()), len(order)]
    return [(order[begin].as_py(), end - begin) for begin, end in itertools.pairwise(starts)]


def chunk_texts(column: Any) -> list[memoryview]:
    """text_bytes of each chunk of a text column (an Array or a ChunkedArray), all read
    before any is written: a NULL line in a later chunk is an error before the earlier
    chunks' lines reach a file."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else (column,)
    return [text_bytes(chunk) for chunk in chunks]


# ---------------------------------------------------------------------------------------
# Whole tables: current or built again
# ---------------------------------------------------------------------------------------


def source_bytes(parquet: Path) -> int | None:
    """How many bytes of its JSON-lines file a finished table holds; None for a file that is
    not a finished table of this schema version (absent, cut by a crash, another version)."""
    try:
        metadata = pq.read_metadata(parquet).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None
    if metadata.get(b"hulian.schema_version") != str(SCHEMA_VERSION).encode():
        return None
    value = metadata.get(SOURCE_BYTES)
    return int(value) if value is not None and value.isdigit() else None


def is_current(jsonl: Path, parquet: Path | None = None) -> bool:
    """The table holds exactly what the JSON-lines file holds (the files only grow)."""
    size = jsonl.stat().st_size if jsonl.is_file() else 0
    return source_bytes(parquet or parquet_path(jsonl)) == size


def build(jsonl: Path, run_id: str, dest: Path | None = None) -> Path:
    """Write the whole table from the JSON-lines file (an empty table if there is none), to
    a temporary file first: a reader never sees a half-built table under the final name."""
    final = dest or parquet_path(jsonl)
    tmp = final.with_name(final.name + ".tmp")
    try:
        with ColumnarLog(jsonl, run_id, dest=tmp, threads=True):
            pass
        os.replace(tmp, final)
    except OSError as exc:  # a full disk most likely: tables of large runs are GBs
        raise ColumnarError(
            f"{final}: cannot build the table from {jsonl} ({exc.strerror or exc}): make room "
            f"there, or build it elsewhere (TMPDIR for a bundle's tables built apart, "
            f"HULIAN_CACHE for the cache)") from None
    finally:
        tmp.unlink(missing_ok=True)
    return final


def ensure(jsonl: Path, run_id: str) -> Path:
    """The bundle's own table, built again unless it is current (a writer's step: before a
    bundle is sealed)."""
    parquet = parquet_path(jsonl)
    return parquet if is_current(jsonl, parquet) else build(jsonl, run_id)


def readable(jsonl: Path, run_id: str, cache: Path | None = None) -> Path:
    """A current table of a bundle, for reading, leaving the bundle untouched: its own file
    when current, else one built into the cache (kept for the next reader, keyed by the
    run and the file's size)."""
    own = parquet_path(jsonl)
    if is_current(jsonl, own):
        return own
    size = jsonl.stat().st_size if jsonl.is_file() else 0
    directory = (cache or cache_root()) / "columnar" / run_id
    cached = directory / f"{table_of(jsonl)}-{size}.parquet"
    if is_current(jsonl, cached):
        return cached
    directory.mkdir(parents=True, exist_ok=True)
    logger.info("%s: building %s in %s", jsonl.parent, own.name, directory)
    return build(jsonl, run_id, cached)


@contextlib.contextmanager
def built_apart(jsonl: Path, run_id: str) -> Iterator[Path]:
    """The table built from the lines into a temporary directory, removed afterwards,
    whatever tables exist: for a bundle that failed verification, whose own table (or the
    cache's) is current by its size but may be older than its lines."""
    directory = scratch_directory("hulian-table-", f"for {jsonl.name}'s table",
                                  ColumnarError)
    try:
        yield build(jsonl, run_id, directory / parquet_path(jsonl).name)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True)
class TableInfo:
    table: str
    schema_version: int
    rows: int
    row_groups: int


def info(parquet: Path) -> TableInfo:
    try:
        metadata = pq.read_metadata(parquet)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ColumnarError(f"{parquet}: not a readable Parquet table ({exc})") from None
    kv = metadata.metadata or {}
    return TableInfo(kv.get(b"hulian.table", b"?").decode(),
                     int(kv.get(b"hulian.schema_version", b"0")), metadata.num_rows,
                     metadata.num_row_groups)


def read_table(parquet: Path) -> pa.Table:
    """A whole table (tests and small runs; exports stream with `batches`)."""
    return pq.read_table(parquet)


# ---------------------------------------------------------------------------------------
# Exports, streamed a record batch at a time
# ---------------------------------------------------------------------------------------

EXPORT_BATCH = 8_192


def batches(parquet: Path, batch_size: int = EXPORT_BATCH) -> Iterator[pa.RecordBatch]:
    yield from pq.ParquetFile(parquet).iter_batches(batch_size=batch_size)


def export_parquet(parquet: Path, out: IO[bytes]) -> int:
    """The table as it is (the file's bytes); the number of rows."""
    with parquet.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            out.write(chunk)
    return info(parquet).rows


def export_jsonl(parquet: Path, out: IO[bytes]) -> int:
    """One JSON object per row, nested fields as nested JSON, times in ISO 8601."""
    rows = 0
    for batch in batches(parquet):
        out.write(b"".join(orjson.dumps(row) + b"\n" for row in batch.to_pylist()))
        rows += batch.num_rows
    return rows


def export_csv(parquet: Path, out: IO[bytes]) -> int:
    """Structs flattened into dotted columns (page.kind, comparison.matched, reason.zh),
    lists (hops, evidence, requirements) as JSON text: every cell a string or number a
    spreadsheet shows. A text cell a spreadsheet would read as a formula (page titles,
    URLs and hosts are a hostile page's) gets a leading apostrophe (audit/evidence/
    csvcells.py); number columns stay numbers."""
    writer: pa_csv.CSVWriter | None = None
    rows = 0
    try:
        for batch in batches(parquet):
            flat = _csv_ready(pa.Table.from_batches([batch]))
            if writer is None:
                writer = pa_csv.CSVWriter(out, flat.schema)
            writer.write_table(flat)
            rows += batch.num_rows
        if writer is None:  # an empty table: the header alone
            writer = pa_csv.CSVWriter(out, _csv_ready(pq.read_schema(parquet).empty_table())
                                      .schema)
    finally:
        if writer is not None:
            writer.close()
    return rows


def _csv_ready(table: pa.Table) -> pa.Table:
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    for index, field in enumerate(table.schema):
        if pa.types.is_list(field.type):
            texts = [None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                     for v in table.column(index).to_pylist()]
            table = table.set_column(index, field.name, pa.array(texts, pa.string()))
    for index, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            table = table.set_column(index, field.name, _defused(table.column(index)))
    return table


def _defused(column: Any) -> Any:
    """csvcells' rule over an Arrow text column, by its pattern (RE2, as Arrow's): a formula
    cell with a leading apostrophe, the others (and nulls) as they are."""
    column = pc.replace_substring_regex(column, CONTROLS_PATTERN, "")
    formula = pc.match_substring_regex(column, FORMULA_PATTERN)
    return pc.if_else(formula, pc.binary_join_element_wise("'", column, ""), column)


def store_table(rows: list[tuple[Any, ...]], columns: list[tuple[str, str]]) -> pa.Table:
    """Rows of a history-store table as Arrow, by column kind (text, int, float, bool,
    timestamp, json): the types stay the same whatever rows a batch holds (even none)."""
    kinds = {"text": pa.string(), "int": pa.int64(), "float": pa.float64(),
             "bool": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC"),
             "json": pa.string()}
    schema = pa.schema([(name, kinds[kind]) for name, kind in columns])
    data = []
    for index, (_, kind) in enumerate(columns):
        values = [row[index] for row in rows]
        if kind == "json":
            values = [None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                      for v in values]
        data.append(pa.array(values, schema.field(index).type))
    return pa.Table.from_arrays(data, schema=schema)


# The Arrow type of each DuckDB type `rows_table` is given; any other is left to pyarrow to
# infer from the values (a struct from dicts, a list of them), which DuckDB then casts.
_DECLARED: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(), "BIGINT": pa.int64(), "INTEGER": pa.int32(),
    "UBIGINT": pa.uint64(), "BOOLEAN": pa.bool_(), "DOUBLE": pa.float64(),
    "VARCHAR[]": pa.list_(pa.string()),
}


def rows_table(columns: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> pa.Table:
    """Rows from Python (RunTables.table) as Arrow columns: of the DuckDB types given where
    _DECLARED has them, else as pyarrow infers them. Arrow takes a text in ~0.1 µs, where
    DuckDB's list parameters took ~1.2 µs a value."""
    return pa.Table.from_arrays(
        [pa.array([row[index] for row in rows], _DECLARED.get(kind))
         for index, (_, kind) in enumerate(columns)],
        names=[name for name, _ in columns])


def scan(paths: list[Path], table: str) -> Any:
    """The tables of many runs as one Arrow dataset (read lazily, columns and row groups as
    a query needs them), for DuckDB to scan without opening files itself."""
    import pyarrow.dataset as pa_dataset

    schema = SCHEMAS[table]
    if not paths:
        return schema.empty_table()
    return pa_dataset.dataset([str(p) for p in paths], schema=schema, format="parquet")
