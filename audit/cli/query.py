"""`hulian query "SQL"`: SQL over the history (audit/history/query.py), printed as a table,
JSON or CSV."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from audit.cli.console import fail, shown, stderr, stdout
from audit.cli.history import STORE_HELP
from audit.errors import EXIT_USAGE, HulianError
from audit.evidence.csvcells import defused_cell, defused_row

if TYPE_CHECKING:
    from audit.history.query import History


def query_command(
    sql: Annotated[str | None, typer.Argument(
        metavar="SQL", help="The query (DuckDB's SQL). Views: observations, verdicts (every "
                            "run's Parquet tables, with run_id), runs, store.<table>.")] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", exists=True, dir_okay=False, help="Read the query from a file.")] = None,
    store: Annotated[str | None, typer.Option(
        "--store", "--db", help=STORE_HELP)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Rows as a JSON array.")] = False,
    csv_output: Annotated[bool, typer.Option(
        "--csv", help="Rows as CSV, with a header. A text cell a spreadsheet would read as a "
                      "formula (starting with = + - @, a tab or a carriage return, after any "
                      "spaces) gets a leading apostrophe: the cells quote hostile pages. "
                      "Number columns are written as they are.")] = False,
) -> None:
    """Run SQL over the history with DuckDB (embedded), read-only: every stored run's
    observations and verdicts (Parquet, built on demand for older runs), the store's runs
    and tables. A writing or malformed query ends with DuckDB's message (exit status 1).
    Text from the audited pages (titles, URLs, hosts) is made safe to print: the table shows
    control characters as symbols (and never as terminal escapes), --csv defuses formulas;
    --json gives every value exactly.
    用 SQL 查询历史记录（只读）。

    Examples:

      hulian query "SELECT run_id, outcome, count(*) FROM observations GROUP BY ALL"

      hulian query --file monthly.sql --csv > monthly.csv
    """
    if (sql is None) == (file is None):
        fail("give the query as an argument or with --file, not both / 请给出查询语句或 --file")
        raise typer.Exit(EXIT_USAGE)
    if json_output and csv_output:
        fail("--json and --csv cannot go together / --json 与 --csv 只能选一个")
        raise typer.Exit(EXIT_USAGE)
    text = sql if sql is not None else _read(file)
    # DuckDB and pyarrow are loaded by this command only, not by every `hulian` command.
    from audit.history.query import open_history, run_query
    from audit.history.store import default_url

    try:
        url = store or default_url()
        if "://" not in url:
            url = f"sqlite:///{Path(url).resolve()}"
        history = open_history(url)
        try:
            _note_missing(history)
            with run_query(history, text) as answer:
                if json_output:
                    _print_json(answer.columns, answer.rows)
                elif csv_output:
                    _print_csv(answer.columns, answer.rows)
                else:
                    _print_table(answer.columns, answer.rows)
        finally:
            history.engine.dispose()  # the store's pooled connections, closed now
    except HulianError as exc:
        fail(str(exc))
        raise typer.Exit(exc.exit_code) from None


def _read(file: Path | None) -> str:
    assert file is not None
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{file}: cannot read the query ({exc})")
        raise typer.Exit(EXIT_USAGE) from None


def _note_missing(history: History) -> None:
    if history.missing:
        missing = ", ".join(history.missing[:5]) + (" …" if len(history.missing) > 5 else "")
        stderr.print(f"note 注意: {len(history.missing)} stored run(s) have no bundle on disk; "
                     f"their observations and verdicts are not in the views: {shown(missing)}",
                     highlight=False)


def _plain(value: Any) -> Any:
    """JSON for what DuckDB returns beyond JSON's types: times in ISO 8601, decimals as
    numbers, the rest (UUIDs, intervals) as text."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _cell(value: Any) -> Any:
    """Nested values (structs, lists) as JSON text, the rest as they are."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=_plain)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def _print_table(columns: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
    table = Table(*[shown(c) for c in columns], show_lines=False)
    count = 0
    for row in rows:
        table.add_row(*["" if v is None else shown(str(_cell(v))) for v in row])
        count += 1
    if columns:
        stdout.print(table)
    stderr.print(f"{count} row(s) 行", highlight=False)


def _print_json(columns: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
    out = sys.stdout
    out.write("[")
    for index, row in enumerate(rows):
        out.write(("," if index else "") + "\n" + json.dumps(
            dict(zip(columns, row, strict=True)), ensure_ascii=False, default=_plain))
    out.write("\n]\n")
    out.flush()


def _print_csv(columns: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
    """The query is the user's, its cells the pages': text cells a spreadsheet would read
    as formulas are defused (audit/evidence/csvcells.py), numbers written as they are."""
    writer = csv.writer(sys.stdout)
    writer.writerow(defused_row(columns))
    for row in rows:
        writer.writerow([defused_cell(_cell(v)) for v in row])
    sys.stdout.flush()
