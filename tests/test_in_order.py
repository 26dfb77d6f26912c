"""columnar.in_order: a range's verdicts as DuckDB's joins give them (in runs, or shuffled)
come out in their rows' order, in tables of a given size, their lines written where they lie
and the rest in one chunk, so that the Parquet file is the same bytes however they arrived."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.evidence import columnar

KEYS = ("in_order_row", "in_order_ordinal")


def _verdicts(count: int) -> list[dict[str, object]]:
    """Rows with 1-3 verdicts each, in order: a line, a value and the two keys."""
    rows: list[dict[str, object]] = []
    chooser = random.Random(7)
    row = 0
    while len(rows) < count:
        for ordinal in range(1, chooser.randint(1, 3) + 1):
            rows.append({"line": f'{{"row":{row},"ordinal":{ordinal}}}\n',
                         "value": f"v{row}-{ordinal}" * chooser.randint(1, 4),
                         KEYS[0]: row * 7, KEYS[1]: ordinal})
        row += 1
    return rows[:count]


def _batches(rows: list[dict[str, object]], size: int) -> list[pa.RecordBatch]:
    return [pa.RecordBatch.from_pylist(rows[start:start + size])
            for start in range(0, len(rows), size)]


def _in_runs(rows: list[dict[str, object]], runs: int, seed: int) -> list[dict[str, object]]:
    """The rows cut into `runs` runs, the runs shuffled (as threads hand over their parts)."""
    cuts = sorted(random.Random(seed).sample(range(1, len(rows)), runs - 1))
    parts = [rows[a:b] for a, b in zip([0, *cuts], [*cuts, len(rows)], strict=True)]
    random.Random(seed + 1).shuffle(parts)
    return [row for part in parts for row in part]


def _written(tables: list[pa.Table]) -> tuple[bytes, bytes]:
    """The lines as they are written (chunk by chunk), and the rest as a Parquet file of a
    row group a table."""
    lines = b"".join(bytes(data) for table in tables
                     for data in columnar.chunk_texts(table.column("line")))
    sink = io.BytesIO()
    rest = [table.drop_columns(["line"]) for table in tables]
    with pq.ParquetWriter(sink, rest[0].schema, compression="zstd") as writer:
        for table in rest:
            writer.write_table(table, row_group_size=table.num_rows)
    return lines, sink.getvalue()


@pytest.mark.parametrize("runs", [1, 2, 9, 40])
def test_runs_come_out_in_order_as_if_they_had_come_in_it(runs: int) -> None:
    rows = _verdicts(5_000)
    expected = _written(list(columnar.in_order(_batches(rows, 1_000), KEYS, 1_000)))
    tables = list(columnar.in_order(_batches(_in_runs(rows, runs, runs), 333), KEYS, 1_000))
    assert [t.num_rows for t in tables] == [1_000] * 5
    assert all(t.column_names == ["line", "value"] for t in tables)
    assert all(t.column("value").num_chunks == 1 for t in tables)
    assert _written(tables) == expected
    assert expected[0] == "".join(str(r["line"]) for r in rows).encode()


def test_the_lines_are_not_copied_into_their_order() -> None:
    # Runs are sliced: each table's lines point into the buffers DuckDB's batches came in.
    rows = _in_runs(_verdicts(4_000), 4, 3)
    batches = _batches(rows, 4_000)
    data = batches[0].column(0).buffers()[2]
    assert data is not None
    for table in columnar.in_order(batches, KEYS, 1_500):
        for chunk in table.column("line").chunks:
            held = chunk.buffers()[2]
            assert held is not None and held.address == data.address


def test_shuffled_rows_are_copied_into_order() -> None:
    # Runs shorter than SHORTEST_RUNS on average: copied (Table.take), the same result.
    rows = _verdicts(3_000)
    shuffled = rows[:]
    random.Random(5).shuffle(shuffled)
    order = sorted(range(len(shuffled)), key=lambda i: rows.index(shuffled[i]))
    assert columnar._runs(pa.array(order, pa.uint64())) is None
    assert columnar._runs(pa.array(range(len(rows)), pa.uint64())) == [(0, len(rows))]
    tables = list(columnar.in_order(_batches(shuffled, 700), KEYS, 1_024))
    assert [t.num_rows for t in tables] == [1_024, 1_024, 952]
    assert _written(tables)[0] == "".join(str(r["line"]) for r in rows).encode()


def test_nothing_in_gives_nothing_out() -> None:
    assert list(columnar.in_order([], KEYS, 10)) == []
    empty = pa.RecordBatch.from_pylist([], schema=_batches(_verdicts(1), 1)[0].schema)
    assert list(columnar.in_order([empty], KEYS, 10)) == []


def test_tables_of_no_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="tables of 0 rows"):
        list(columnar.in_order(_batches(_verdicts(3), 3), KEYS, 0))


def test_a_null_line_in_any_chunk_writes_none_of_them(tmp_path: Path) -> None:
    # append_batch takes in_order's tables (lines in several chunks): a NULL line in a later
    # chunk is an error before the earlier chunks' lines reach the file.
    schema = columnar.SCHEMAS["verdicts"]
    rest = pa.Table.from_pylist([dict.fromkeys(schema.names)] * 2, schema=schema)
    lines = pa.chunked_array([pa.array(['{"a":1}\n'], pa.string()),
                              pa.array([None], pa.string())])
    table = rest.append_column("line", lines)
    out = io.BytesIO()
    with (columnar.ColumnarLog(tmp_path / "verdicts.jsonl", "r") as log,
          pytest.raises(columnar.ColumnarError, match="NULL")):
        log.append_batch(table, out)
    assert out.getvalue() == b""
