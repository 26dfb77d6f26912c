"""`hulian verify RUN` and `hulian evaluate RUN`: check and re-judge a stored run bundle.
Also the two guards every command that writes or uses a bundle goes through: the writer's
lock (`writing`) and the verification gate (`verified`)."""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer

from audit.cli import custody
from audit.cli.console import fail, shown, stderr, stdout
from audit.cli.policies import load_or_exit
from audit.errors import EXIT_LOCKED, EXIT_NOT_A_RUN, HulianError
from audit.evidence.bundle import (
    MANIFEST,
    OBSERVATIONS,
    PROBLEM_LABELS,
    BundleError,
    NotARun,
    Problem,
    Unverified,
    VerdictSink,
    banner,
    check_run_id,
    read_manifest,
    require_verified,
    rewrite_verdicts,
    verify,
)
from audit.evidence.jsonlines import partial_last_line
from audit.evidence.lock import BUNDLE_LOCK, Locked, bundle_lock

RunArg = Annotated[Path, typer.Argument(metavar="RUN",
                                        help="A run bundle directory (runs/<run-id>).")]

AllowUnverified = Annotated[bool, typer.Option(
    "--allow-unverified",
    help="Use a bundle that fails `hulian verify` anyway: every output is marked with an "
         "UNVERIFIED banner (and the banner goes to stderr). Without it such a bundle is "
         "refused with exit status 6.")]


@contextmanager
def writing(run: Path, command: str, *, create: bool = False,
            read_only_ok: bool = False) -> Iterator[int | None]:
    """Hold the bundle's writer lock for the block (yielding its descriptor, for a child
    process that writes on this one's behalf); another writer holding it ends the command
    with its name and exit status 5. create: the bundle may be new (its directory is made);
    otherwise RUN must be a bundle (exit 7). read_only_ok: a command that writes nothing
    into the bundle (a report rendered elsewhere) may read a bundle on read-only storage,
    where no lock file can be made and no writer can work either."""
    made: Path | None = None  # the first directory this command creates for the bundle
    if create:
        try:
            check_run_id(run.name)
        except BundleError as exc:
            fail(str(exc))
            raise typer.Exit(1) from None
        for directory in (run, *run.parents):
            if directory.exists():
                break
            made = directory
        run.mkdir(parents=True, exist_ok=True)
    elif not (run / MANIFEST).is_file():
        fail(f"{run}: not a run bundle (no {MANIFEST})")
        raise typer.Exit(EXIT_NOT_A_RUN)
    lock = ExitStack()
    fd: int | None = None
    try:
        fd = lock.enter_context(bundle_lock(run, command))
    except Locked as exc:
        fail(str(exc))
        raise typer.Exit(EXIT_LOCKED) from None
    except OSError as exc:
        if not (read_only_ok and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)):
            raise
    try:
        with lock:
            yield fd
    except BaseException:
        # A command that refused its input (a bad plan, a capture that cannot be read, a
        # proxy that did not start) leaves no empty bundle to be mistaken for a clean one.
        if made is not None:
            _discard_unwritten(run, made)
        raise


def _discard_unwritten(run: Path, made: Path) -> None:
    """Remove the bundle directory `run` if nothing but its lock was written into it, and
    the directories above it up to `made` that were created for it and are empty."""
    if any(entry.name != BUNDLE_LOCK for entry in run.iterdir()):
        return
    (run / BUNDLE_LOCK).unlink(missing_ok=True)
    for directory in (run, *run.parents):
        try:
            directory.rmdir()
        except OSError:  # not empty: something else lives there now
            return
        if directory == made:
            return


def verified(run: Path, allow_unverified: bool) -> list[Problem] | None:
    """The verification gate for the command line: None when the bundle verifies; with
    --allow-unverified, its problems (the banner is printed on stderr here; the caller puts
    it into its outputs). Exit 7 for a path that is not a run bundle, 6 for a bundle that
    fails verification."""
    try:
        problems = require_verified(run, allow_unverified)
    except (NotARun, Unverified) as exc:
        fail(str(exc))
        raise typer.Exit(exc.exit_code) from None
    if problems:
        for line in banner(run, problems):
            stderr.print(f"[bold red]{shown(line)}[/]")
    return problems


def verify_command(
    run: RunArg,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    trust: custody.Trust = None,
    trusted_keys: custody.TrustedKeys = None,
    tsa_cert: custody.TsaCert = None,
) -> None:
    """Check a bundle against its seal: the sha256 of every file, a digest over the
    manifest's own fields (configuration, times, versions, policy digest, run id, history),
    probes planned or observed more than once, and every `evaluate --force` recorded. Names
    what changed, went missing or was added since sealing. Exit status 1 if anything differs,
    or if a forced evaluation resealed the bundle over a failed verification.

    Then what the hashes cannot prove: the signature (signature.json: origin, who sealed
    it; --trust or --trusted-keys to require a signer) and the timestamp (timestamp.tsr: the
    time the manifest existed by; --tsa-cert to check the TSA's signature). Exit status 1 if
    either is present and fails, 10 if what --trust/--tsa-cert require is not there.

    Examples:

      hulian verify runs/20261128T030000Z-1a2b3c

      hulian verify runs/RUN --trusted-keys keys.txt --tsa-cert tsa-ca.pem --json
    """
    try:
        report = verify(run)
    except BundleError as exc:
        fail(str(exc))
        raise typer.Exit(1) from None
    attested = custody.check(run, trust, trusted_keys, tsa_cert)
    if json_output:
        stdout.out(json.dumps({**report.as_dict(), "custody": attested.as_dict()},
                              ensure_ascii=False))
    else:
        for name in report.changed:
            stdout.print(f"[red]changed 已改动[/]  {shown(name)}")
        for name in report.missing:
            stdout.print(f"[red]missing 缺失[/]    {shown(name)}")
        for name in report.unlisted:
            stdout.print(f"[yellow]unlisted 未登记[/] {shown(name)}")
        for kind, detail in report.problems():
            if kind not in ("changed", "missing", "unlisted"):
                stdout.print(f"[red]{shown(PROBLEM_LABELS[kind])}[/]: {shown(detail)}")
        for forced in report.forced:
            if not forced.despite:  # those over a failure are listed above
                stdout.print(f"[yellow]forced evaluation 强制重新评估[/]: "
                             f"{shown(forced.describe())}")
        verdict = "intact 完整" if report.intact else "NOT intact 不完整"
        stdout.print(f"{shown(str(run))}: {len(report.ok)} file(s) match the manifest; "
                     f"bundle {verdict}")
        custody.print_lines(attested, report.intact)
    status = custody.exit_status(attested, report.intact)
    if status:
        raise typer.Exit(status)


def evaluate_command(
    run: RunArg,
    force: Annotated[bool, typer.Option(
        help="Re-evaluate even if the bundle fails verification. Recorded in the manifest "
             "(time, policy digests), shown by `hulian verify` and in every report; a bundle "
             "resealed over a failed verification fails `hulian verify` from then on.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print a summary as JSON.")] = False,
) -> None:
    """Recompute the verdicts of a run from its stored observations with the current
    policies (no crawling), replace verdicts.jsonl and reseal the manifest.

    The bundle is verified first: judging altered observations would launder them. Exit
    status 5 if another process is writing the bundle.

    Examples:

      hulian evaluate runs/20261128T030000Z-1a2b3c

      hulian --policies mine/ evaluate runs/RUN --json
    """
    catalog = load_or_exit()
    counts: dict[str, int] = {}  # by status

    try:
        read_manifest(run)  # a clear error for a path that is no bundle, before any lock
        with writing(run, "evaluate"):
            report = verify(run)
            if not report.intact and not force:
                fail(f"{run}: bundle fails verification (changed: {report.changed}, "
                     f"missing: {report.missing}, unlisted: {report.unlisted}"
                     + "".join(f"; {line}" for line in _other_problems(report.problems()))
                     + f"); run `hulian verify {run}` or pass --force")
                raise typer.Exit(1)
            # DuckDB and pyarrow only for this command: the CLI imports every command module.
            from audit.judge.verdicts import write_verdicts

            # Streamed into the bundle as judged, never all held. Forced over a bundle that
            # fails verification: the rules read a table built again from the lines.
            def judged(sink: VerdictSink) -> int:
                out, table = sink
                by_kind = write_verdicts(run, catalog, out, table,
                                         fresh_tables=not report.intact)
                for (status, _, _), n in by_kind.items():
                    counts[status.value] = counts.get(status.value, 0) + n
                return sum(by_kind.values())

            rewrite_verdicts(run, judged, catalog.digest, report, forced=force)
    except HulianError as exc:  # the bundle's, its tables' (file and line) and DuckDB's
        fail(str(exc))
        raise typer.Exit(1) from None
    if force:
        stderr.print("[yellow]forced evaluation recorded in the manifest / 已记录强制重新评估"
                      + ("" if report.intact else "; the bundle now fails `hulian verify`")
                      + "[/]")
    cut = partial_last_line(run / OBSERVATIONS)
    if cut is not None:
        stderr.print(f"[yellow]warning[/]: {run / OBSERVATIONS}:{cut}: partial last line "
                     "skipped (interrupted write)")
    total = sum(counts.values())
    summary = {"run": str(run), "verdicts": total, "by_status": counts,
               "policy_digest": catalog.digest, "forced": force}
    if json_output:
        stdout.out(json.dumps(summary, ensure_ascii=False))
    else:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
        stdout.print(f"{run}: {total} verdict(s) 判定 ({parts}); policies "
                     f"{catalog.digest[:16]}")


def _other_problems(problems: list[Problem]) -> list[str]:
    return [f"{PROBLEM_LABELS[k]}: {d}" for k, d in problems
            if k not in ("changed", "missing", "unlisted")]

