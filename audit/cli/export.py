"""`hulian export RUN`: a bundle's observations or verdicts as Parquet, CSV or JSON lines,
streamed a record batch at a time (audit/evidence/columnar.py)."""

from __future__ import annotations

import contextlib
import sys
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated

import typer

from audit.cli import custody
from audit.cli.console import fail, shown, stderr
from audit.errors import EXIT_USAGE, HulianError
from audit.evidence.bundle import OBSERVATIONS, VERDICTS, banner, read_manifest, require_verified


class Format(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"
    JSONL = "jsonl"


class TableName(StrEnum):
    OBSERVATIONS = "observations"
    VERDICTS = "verdicts"


_LINES = {TableName.OBSERVATIONS: OBSERVATIONS, TableName.VERDICTS: VERDICTS}


def export_command(
    run: Annotated[Path, typer.Argument(metavar="RUN",
                                        help="A run bundle directory (runs/<run-id>).")],
    format_: Annotated[Format, typer.Option(
        "--format", help="parquet (the table as it is), csv (structs as dotted columns, "
                         "lists as JSON text) or jsonl (one JSON object per row).")
    ] = Format.PARQUET,
    table: Annotated[TableName, typer.Option("--table", help="Which table.")
                     ] = TableName.OBSERVATIONS,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Where to write; '-' for standard output (csv, jsonl). Default: "
                            "<run id>.<table>.<format> in the current directory.")] = None,
    allow_unverified: Annotated[bool, typer.Option(
        "--allow-unverified", help="Export a bundle that fails `hulian verify` anyway: the "
                                   "table is built again from its JSON lines, and the "
                                   "UNVERIFIED banner goes to stderr (not into the file).")
    ] = False,
    wacz: custody.WaczOut = None,
    sign_key: custody.WaczSignKey = None,
    sign_passphrase_file: custody.WaczPassphrase = None,
) -> None:
    """Export a run's observations or verdicts (one row per record, with run_id), streamed.
    A bundle made before hulian wrote Parquet gets its table built on demand, outside the
    bundle. 导出观测或判定记录（Parquet、CSV、JSON lines）。

    Examples:

      hulian export runs/RUN --format csv --table verdicts --out verdicts.csv

      hulian export runs/RUN --format jsonl --out - | jq .outcome

      hulian export runs/RUN --wacz evidence.wacz --sign-key hulian-signing.key
    """
    # pyarrow is loaded by the commands that use it, not by every `hulian` command.
    from audit.evidence import columnar

    try:
        manifest = read_manifest(run)
        problems = require_verified(run, allow_unverified)
        for line in banner(run, problems) if problems else []:
            stderr.print(shown(line), highlight=False)
        if wacz is not None:
            custody.export_wacz(run, wacz, sign_key, sign_passphrase_file)
            return
        if str(out) == "-" and format_ is Format.PARQUET:
            fail("Parquet is not written to standard output: give --out FILE / "
                 "Parquet 需要 --out 文件")
            raise typer.Exit(EXIT_USAGE)
        lines = run / _LINES[table]
        target = out or Path(f"{manifest.run_id}.{table}.{format_}")
        # An unverified bundle's own table counts as current by its size alone: its lines,
        # which verification found edited, are exported instead (as `report` reads them).
        with (columnar.built_apart(lines, manifest.run_id) if problems
              else contextlib.nullcontext(columnar.readable(lines, manifest.run_id))
              ) as source:
            rows = _write(source, format_, target)
    except HulianError as exc:
        fail(str(exc))
        raise typer.Exit(exc.exit_code) from None
    if str(target) != "-":
        stderr.print(f"{rows} row(s) 行 → {target}", highlight=False)


def _write(source: Path, format_: Format, target: Path) -> int:
    from audit.evidence import columnar

    write = {Format.PARQUET: columnar.export_parquet, Format.CSV: columnar.export_csv,
             Format.JSONL: columnar.export_jsonl}[format_]
    if str(target) == "-":
        sink: IO[bytes] = sys.stdout.buffer
        rows = write(source, sink)
        sink.flush()
        return rows
    tmp = target.with_name(target.name + ".tmp")
    try:
        with tmp.open("wb") as fh:
            rows = write(source, fh)
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise HulianError(f"{target}: cannot write ({exc})") from None
    return rows
