"""`hulian runs list|show|import|trend` (the history store) and `hulian diff RUN_A RUN_B`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from audit.cli.console import fail, shown, stderr, stdout
from audit.cli.runs import AllowUnverified, verified
from audit.errors import (
    EXIT_EMPTY_RUN,
    EXIT_NOT_A_RUN,
    EXIT_NOT_COMPARABLE,
    EXIT_REGRESSION,
    EXIT_UNVERIFIED,
    HulianError,
)
from audit.evidence.bundle import (
    MANIFEST,
    Bundle,
    BundleError,
    NotARun,
    Unverified,
    banner,
    require_verified,
)
from audit.history.diff import EMPTY, diff, unusable
from audit.policy.catalog import PolicyError, catalog_for_run

app = typer.Typer(no_args_is_help=True, help="The history store of runs (SQLite by default, "
                  "PostgreSQL by URL): list, show, import old bundles, metric trends.")

# Every command's help on where the history store is (audit.history.store.default_url).
STORE_HELP = ("History store URL (sqlite:///FILE, postgresql+psycopg://USER@HOST/DB) or a "
              "SQLite file. Default: $HULIAN_DB, else $XDG_DATA_HOME/hulian/history.db "
              "(~/.local/share/hulian/history.db).")
DbOption = Annotated[str | None, typer.Option("--db", help=STORE_HELP)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _engine(db: str | None) -> Any:
    # The store (SQLAlchemy, Alembic: ~2 s to load) and the graph (networkx) are imported by the
    # commands that use them, here and below, so the other commands and --help start without.
    from audit.history.store import StoreError, open_engine

    if db is not None and "://" not in db:
        db = f"sqlite:///{Path(db).resolve()}"
    try:
        return open_engine(db)
    except StoreError as exc:
        fail(str(exc))
        raise typer.Exit(1) from None


@app.command("list")
def list_command(db: DbOption = None, limit: Annotated[int, typer.Option(
        help="At most this many runs, newest first (0: all).")] = 50,
        json_output: JsonOption = False) -> None:
    """The recorded runs, newest first.

    Example:

      hulian runs list --limit 10 --json
    """
    from audit.history.store import list_runs, run_as_dict

    runs = [run_as_dict(r) for r in list_runs(_engine(db), limit or None)]
    if json_output:
        stdout.out(json.dumps(runs, ensure_ascii=False))
        return
    table = Table(title="runs 审计记录")
    for column in ("run", "started", "sources", "observations", "failed", "path"):
        table.add_column(column)
    for run in runs:
        sources = run["sources"]
        table.add_row(shown(run["id"]), run["started_at"] or "",
                      shown(",".join(sources[:4]) + (f" +{len(sources) - 4}"
                                                      if len(sources) > 4 else "")),
                      str(run["observations"]), str(run["failed"]), shown(run["path"] or ""))
    stdout.print(table)


@app.command("show")
def show_command(run_id: Annotated[str, typer.Argument(metavar="RUN_ID")],
                 db: DbOption = None, json_output: JsonOption = False) -> None:
    """One recorded run: its summary, failed verdicts by rule and its run-wide metrics.

    Example:

      hulian runs show 20261128T030000Z-1a2b3c --json
    """
    from audit.history.store import get_run, load_metrics, load_verdicts, run_as_dict

    engine = _engine(db)
    row = get_run(engine, run_id)
    if row is None:
        fail(f"no run {run_id!r} in the history store")
        raise typer.Exit(1)
    data = run_as_dict(row)
    verdicts = load_verdicts(engine, run_id)
    data["failed_by_rule"] = dict(sorted(Counter(
        v.rule_id for v in verdicts if v.status.value == "fail").items()))
    data["metrics"] = {f"{level}.{metric}": value
                       for level, node, metric, value in load_metrics(engine, run_id)
                       if node == ""}
    if json_output:
        stdout.out(json.dumps(data, ensure_ascii=False))
        return
    table = Table(title=f"run {shown(run_id)}", show_header=False)
    for key in ("path", "started_at", "finished_at", "tool_version", "policy_digest",
                "observations", "verdicts", "failed"):
        table.add_row(key, shown(str(data[key])))
    table.add_row("sources", shown(", ".join(data["sources"])))
    for line in data["summary"].get("unverified") or []:
        table.add_row("[bold red]unverified[/]", shown(str(line)))
    table.add_section()
    for rule, n in data["failed_by_rule"].items():
        table.add_row(f"failed {shown(rule)}", str(n))
    table.add_section()
    for name, value in data["metrics"].items():
        table.add_row(shown(name), "" if value is None else f"{value:g}")
    stdout.print(table)


@app.command("import")
def import_command(
    runs: Annotated[list[Path], typer.Argument(metavar="RUN...", help="Run bundle directories "
                                              "(or a directory of them).", exists=True)],
    db: DbOption = None,
    replace: Annotated[bool, typer.Option(
        help="Re-record runs already in the store (e.g. after `hulian evaluate`).")] = False,
    allow_unverified: AllowUnverified = False,
    json_output: JsonOption = False,
) -> None:
    """Record run bundles in the history store. Idempotent: a run already recorded is
    skipped (unless --replace). A bundle's graph findings are recomputed if it has none.

    Each bundle is verified first; one that fails is refused (the others are recorded) and
    the exit status is 6, unless --allow-unverified, which records it with its banner (shown
    by `hulian runs show`, and carried into `hulian diff` of the stored run).

    Examples:

      hulian runs import runs/

      hulian runs import runs/RUN --db postgresql+psycopg://hulian@db/hulian --replace
    """
    from audit.history.store import record_run

    engine = _engine(db)
    bundles: list[Path] = []
    for path in runs:
        if (path / MANIFEST).is_file():
            bundles.append(path)
        elif path.is_dir():
            bundles.extend(sorted(p.parent for p in path.glob(f"*/{MANIFEST}")))
    results, errors, refused = [], 0, 0
    for bundle_path in bundles:
        try:
            problems = require_verified(bundle_path, allow_unverified)
        except (NotARun, Unverified) as exc:
            fail(str(exc))
            refused += 1
            continue
        lines = banner(bundle_path, problems) if problems else None
        for line in lines or []:
            stderr.print(f"[bold red]{shown(line)}[/]")
        try:
            catalog = catalog_for_run(bundle_path)
            bundle = Bundle(bundle_path)
            verdicts = list(bundle.verdicts())
            if not any(v.observation_id is None for v in verdicts):
                # DuckDB: only for this command (the CLI imports every command module).
                from audit.judge.cross import evaluate_graph_rules

                verdicts += evaluate_graph_rules(bundle.observations(), catalog)
            result = record_run(bundle_path, catalog, verdicts, replace=replace, engine=engine,
                                unverified=lines)
        except HulianError as exc:  # this bundle's (its files, policies, tables), not the rest's
            fail(f"{bundle_path}: {exc}")
            errors += 1
            continue
        results.append({"run_id": result.run_id, "path": str(bundle_path),
                        "recorded": result.recorded, "observations": result.observations,
                        "unverified": lines})
        if not json_output:
            state = "recorded 已记录" if result.recorded else "already recorded 已存在, skipped"
            stderr.print(f"{shown(result.run_id)}: {state}")
    if json_output:
        stdout.out(json.dumps(results, ensure_ascii=False))
    if errors:
        raise typer.Exit(1)
    if refused:
        raise typer.Exit(EXIT_UNVERIFIED)


@app.command("trend")
def trend_command(
    metric: Annotated[str, typer.Argument(help="e.g. openness, accessibility, reciprocity, "
                                          "reachable_share, mutual_blocking_pairs")],
    node: Annotated[str, typer.Option(help="Platform or company id; empty: run-wide.")] = "",
    level: Annotated[str, typer.Option(help="platform | company")] = "platform",
    db: DbOption = None, json_output: JsonOption = False,
) -> None:
    """One graph metric over the recorded runs, oldest first (change over time).

    Examples:

      hulian runs trend openness --node weixin

      hulian runs trend reachable_share --level company --json
    """
    from audit.history.store import metric_series

    series = metric_series(_engine(db), metric, level, node)
    rows = [{"run_id": r, "started_at": s.isoformat() if s else None, "value": v}
            for r, s, v in series]
    if json_output:
        stdout.out(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title=f"{shown(metric)} {shown(node or '(run)')} [{level}]")
    for column in ("run", "started", "value"):
        table.add_column(column)
    for row in rows:
        value = row["value"]
        table.add_row(shown(str(row["run_id"])), str(row["started_at"] or ""),
                      "" if value is None else f"{value:g}")
    stdout.print(table)


# ---------------------------------------------------------------------------------------


class _Inputs:
    """What `hulian diff` reads: runs by bundle path (verified once each) or by id from the
    store (opened once), and the unverified banners of those used with --allow-unverified."""

    def __init__(self, db: str | None, allow_unverified: bool):
        self.db = db
        self.allow_unverified = allow_unverified
        self.banners: dict[str, list[str]] = {}
        self._engine: Any = None
        self._checked: set[Path] = set()

    @property
    def engine(self) -> Any:
        if self._engine is None:
            self._engine = _engine(self.db)
        return self._engine

    def check_bundle(self, path: Path) -> None:
        key = path.resolve()
        if key not in self._checked:
            self._checked.add(key)
            problems = verified(path, self.allow_unverified)  # exits 7 or 6
            if problems:
                self.banners[str(path)] = banner(path, problems)

    def check_stored(self, run_id: str, summary: dict[str, Any] | None) -> None:
        """A run recorded by `runs import --allow-unverified` carries its banner along."""
        lines = (summary or {}).get("unverified")
        if not lines:
            return
        if not self.allow_unverified:
            fail(f"{run_id}: recorded in the history store from a bundle that failed "
                 "verification; --allow-unverified uses it anyway, marked as unverified")
            raise typer.Exit(EXIT_UNVERIFIED)
        self.banners[run_id] = [str(line) for line in lines]
        for line in lines:
            stderr.print(f"[bold red]{shown(str(line))}[/]")


def _load(ref: str, inputs: _Inputs) -> Any:
    """A run by bundle path, or by id from the store."""
    # The graph (networkx), DuckDB and the store (SQLAlchemy) behind it: only for this
    # command.
    from audit.evidence.columnar import ColumnarError
    from audit.evidence.sql import TablesError
    from audit.history.rundata import from_bundle, from_store

    path = Path(ref)
    if path.is_dir() or path.is_file():
        if path.is_file():
            fail(f"{ref}: not a run bundle (a file, not a bundle directory)")
            raise typer.Exit(EXIT_NOT_A_RUN)
        inputs.check_bundle(path)
        try:
            # A bundle that failed verification is read from its lines, not from tables that
            # are current by their size only.
            return from_bundle(path, fresh_tables=str(path) in inputs.banners)
        except (BundleError, ColumnarError) as exc:  # passed the gate, cannot be read
            fail(f"{ref}: corrupt run bundle / 运行包已损坏: {exc}")
            raise typer.Exit(EXIT_UNVERIFIED) from None
        except (TablesError, OSError) as exc:  # DuckDB's own failure, an unwritable cache
            fail(f"{ref}: the run's tables cannot be read / 无法读取运行数据表: {exc}")
            raise typer.Exit(1) from None
        except PolicyError as exc:
            fail(f"{ref}: the run's policies cannot be loaded: {exc}")
            raise typer.Exit(1) from None
    engine = inputs.engine
    row_summary = _stored_summary(engine, ref)
    inputs.check_stored(ref, row_summary)
    data = from_store(engine, ref)
    assert data is not None  # _stored_summary exits when the run is not stored
    return data


def _stored_summary(engine: Any, ref: str) -> dict[str, Any] | None:
    from audit.history.store import get_run

    row = get_run(engine, ref)
    if row is None:
        fail(f"{ref}: neither a run bundle directory nor a run in the history store")
        raise typer.Exit(EXIT_NOT_A_RUN)
    summary: dict[str, Any] | None = row.summary
    return summary


def _previous(ref: str, inputs: _Inputs) -> str:
    from audit.history.store import get_run, previous_before

    engine = inputs.engine
    path = Path(ref)
    if path.is_dir():
        inputs.check_bundle(path)
        bundle = Bundle(path)
        manifest = bundle.manifest
        run_id = manifest.run_id
        row = get_run(engine, run_id)
        found = previous_before(engine, row.sources_key if row else _sources_of(bundle),
                                manifest.started_at, run_id)
    else:
        row = get_run(engine, ref)
        if row is None:
            fail(f"no run {ref!r} in the history store")
            raise typer.Exit(EXIT_NOT_A_RUN)
        found = previous_before(engine, row.sources_key, row.started_at, ref)
    if found is None:
        fail(f"{ref}: no earlier run with the same sources in the history store")
        raise typer.Exit(1)
    return found.id


def _sources_of(bundle: Any) -> str:
    from audit.history.store import sources_key

    configured = bundle.manifest.config.get("sources")
    if isinstance(configured, list) and configured:
        return sources_key(str(s) for s in configured)
    return sources_key(o.source for o in bundle.observations())


def diff_command(
    run_a: Annotated[str, typer.Argument(metavar="RUN_A", help="The earlier run: a bundle "
                                         "directory or a run id in the history store.")],
    run_b: Annotated[str | None, typer.Argument(metavar="[RUN_B]", help="The later run.")
                     ] = None,
    against: Annotated[str | None, typer.Option(
        help="'previous': compare RUN_A with the previous stored run with the same sources.")
    ] = None,
    fail_on_regression: Annotated[bool, typer.Option(
        help="Exit with status 4 if an edge got worse or a requirement now fails (CI).")
    ] = False,
    allow_unverified: AllowUnverified = False,
    db: DbOption = None, json_output: JsonOption = False,
) -> None:
    """What changed between two runs: per edge (source, surface, target) better, worse,
    changed, new, gone; per requirement; failed findings new and resolved; graph metrics.

      hulian diff runs/A runs/B

      hulian diff runs/B --against previous --fail-on-regression

    Bundles are verified first. Exit status: 0 compared; 4 a regression with
    --fail-on-regression; 6 a bundle fails `hulian verify`, or is corrupt (refused unless
    --allow-unverified, which puts an UNVERIFIED banner into the output); 7 a RUN is not a
    run (neither a bundle directory nor a run id in the history store); 8 the runs are not
    comparable (no source platform in common, or judged against disjoint frameworks); 9 a
    run has no observations (it cannot show what changed, nor that nothing regressed); 1
    other errors; 2 usage errors.
    """
    inputs = _Inputs(db, allow_unverified)
    if against is not None:
        if against != "previous" or run_b is not None:
            fail("use either RUN_A RUN_B or RUN --against previous")
            raise typer.Exit(2)
        run_a, run_b = _previous(run_a, inputs), run_a
    elif run_b is None:
        fail("give two runs, or one run and --against previous")
        raise typer.Exit(2)
    before, after = _load(run_a, inputs), _load(run_b, inputs)
    problem = unusable(before, after)
    if problem is not None:
        kind, why = problem
        fail(f"cannot diff / 无法比较: {why}")
        raise typer.Exit(EXIT_EMPTY_RUN if kind == EMPTY else EXIT_NOT_COMPARABLE)
    result = diff(before, after)
    if json_output:
        data = result.as_dict()
        if inputs.banners:
            data["unverified"] = inputs.banners
        stdout.out(json.dumps(data, ensure_ascii=False))
    else:
        for lines in inputs.banners.values():
            for line in lines:
                stdout.print(f"[bold red]{shown(line)}[/]")
        _print_diff(result)
    if fail_on_regression and result.regression:
        stderr.print("regression 退步: an edge got worse or a requirement now fails")
        raise typer.Exit(EXIT_REGRESSION)


def _print_diff(result: Any) -> None:
    table = Table(title=f"diff {shown(result.run_a)} → {shown(result.run_b)}")
    for column in ("change", "source", "surface", "target", "before", "after"):
        table.add_column(column)
    colours = {"worse": "red", "better": "green", "new": "cyan", "gone": "yellow"}
    for change in result.edges:
        colour = colours.get(change.kind, "white")
        table.add_row(f"[{colour}]{change.kind}[/]", *(shown(k) for k in change.key),
                      shown(change.before or ""), shown(change.after or ""))
    stdout.print(table)
    for change in result.requirements:
        stdout.print(f"requirement {shown(change.key[0])}: {shown(str(change.before))} → "
                     f"{shown(str(change.after))} ({change.kind})")
    for finding in result.findings_new:
        stdout.print(f"[red]new finding[/] {shown(finding['rule_id'])}: "
                     f"{shown(finding['reason']['zh'])}")
    for finding in result.findings_resolved:
        stdout.print(f"[green]resolved[/] {shown(finding['rule_id'])}: "
                     f"{shown(finding['source'])} → {shown(finding['target'])}")
    stdout.print(f"edges: {result.counts() or 'no change'}; "
                 f"regression: {'yes' if result.regression else 'no'}")
