"""`hulian capture plan|record|analyze`: app testing through a proxy (mitmproxy)."""

from __future__ import annotations

import json
import math
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.table import Table

from audit.cli.console import fail, stderr, stdout
from audit.cli.runs import writing
from audit.evidence.bundle import new_run_id
from audit.evidence.lock import child_env
from audit.measure.capture.chains import DEFAULT_WINDOW_S
from audit.measure.capture.plan import PlanError, make_lab_plan, make_plan, write_plan
from audit.measure.capture.run import CaptureSession, SessionError, first_flow_error
from audit.model import SurfaceKind
from audit.policy.catalog import PolicyError, load_catalog, policy_dirs

app = typer.Typer(help="Proxy captures of app traffic: test plans with probe tokens, a live "
                       "mitmproxy addon, offline analysis of .mitm / HAR / WARC files.",
                  no_args_is_help=True)

ADDON = Path(__file__).resolve().parent.parent / "measure" / "capture" / "addon.py"

KeepSecrets = Annotated[bool, typer.Option(
    "--keep-secrets", help="Keep cookies, Authorization headers, session ids, phone numbers "
                           "and other secrets in evidence and observations (redacted by "
                           "default).")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]


def _window(value: float) -> float:
    """A window of quiet must be a positive number of seconds: 0, a negative number or
    `nan` judged every chain at once and dropped the leads silently (a review)."""
    if not math.isfinite(value) or value <= 0:
        raise typer.BadParameter(f"{value} is not a positive number of seconds "
                                 "(不是正的秒数)")
    return value


Window = Annotated[float, typer.Option(
    callback=_window,
    help="Seconds of quiet after which an undecided chain is judged (> 0).")]


def _default_run(out: Path | None) -> Path:
    return out if out is not None else Path("runs") / new_run_id()


@app.command("plan")
def plan_command(
    source: Annotated[str, typer.Option("--source", "-s", help="The platform under test.")],
    surface: Annotated[SurfaceKind, typer.Option(help="Where the links are sent and clicked.")],
    targets: Annotated[Path | None, typer.Option(
        help="Target list (Citizen Lab CSV or YAML). Default: the home page of every platform "
             "of another company in the policies.", exists=True, dir_okay=False)] = None,
    lab: Annotated[bool, typer.Option(
        help="Plan the links the lab's page shows for this source and surface (the lab's "
             "chat rooms stand in for an app), with the lab's policies.")] = False,
    scenario: Annotated[Path | None, typer.Option(
        help="Lab scenario (with --lab).", exists=True, dir_okay=False)] = None,
    out: Annotated[Path | None, typer.Option(
        help="Directory for plan.json, plan.md and plan.html (default: plans/<plan-id>).")
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Write a test plan: the links to send and click on one surface of one platform, each
    with a probe token, as a checklist (plan.md, printable plan.html with QR codes) and as
    plan.json for `capture record` and `capture analyze`.

    Examples:

      hulian capture plan --source weixin --surface im_private --targets cn.csv

      hulian capture plan --lab --source wetalk --surface im_group --out plans/wt
    """
    from audit.measure.targets import TargetListError, load_targets

    try:
        if lab:
            plan = make_lab_plan(scenario, source, surface)
        else:
            catalog = load_catalog(policy_dirs())
            plan = make_plan(catalog, source, surface,
                             load_targets(targets) if targets else None)
        directory = out or Path("plans") / plan.id
        if lab:
            from audit.lab.policies import write_policies
            from audit.lab.scenario import load_scenario

            write_policies(load_scenario(scenario), directory / "policies")
            plan.policies = "policies"
        files = write_plan(plan, directory)
    except (PlanError, PolicyError, TargetListError) as exc:
        fail(str(exc))
        raise typer.Exit(1) from None
    if json_output:
        stdout.out(json.dumps({"plan": str(files[0]), "id": plan.id,
                               "probes": len(plan.probes),
                               "files": [str(f) for f in files]}, ensure_ascii=False))
    else:
        stdout.print(f"plan {plan.id}: {len(plan.probes)} links → {directory}")
        for file in files:
            stdout.print(f"  {file}")


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise typer.BadParameter(f"{value!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host or "127.0.0.1", int(port)


def _wait_listening(host: str, port: int, process: subprocess.Popen[bytes],
                    timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


@app.command("record")
def record_command(
    plan: Annotated[Path | None, typer.Option(
        help="The plan (plan.json or its directory) whose tokens attribute flows.",
        exists=True)] = None,
    listen: Annotated[str, typer.Option(
        help="Proxy address HOST:PORT (port 0 picks a free one).")] = "127.0.0.1:8080",
    out: Annotated[Path | None, typer.Option(
        help="The run bundle directory (default: runs/<run-id>).")] = None,
    upstream: Annotated[str | None, typer.Option(
        help="Send all traffic through this HTTP proxy (mitmproxy upstream mode), e.g. the "
             "lab's URL.")] = None,
    window: Window = DEFAULT_WINDOW_S,
    keep_secrets: KeepSecrets = False,
    json_output: JsonOutput = False,
) -> None:
    """Run mitmdump with hulian's addon until Ctrl-C / SIGTERM: every flow is attributed to
    its probe, marked (visible in mitmweb), and judged as its chain completes; observations
    and the (redacted) raw flows go into the run bundle, which is evaluated and sealed at
    the end. Prints {"proxy": URL, "run": PATH} on stdout once listening.

    Examples:

      hulian capture record --plan plans/wt --listen 0.0.0.0:8080   # phone's proxy: this host

      hulian capture record --plan plans/wt --upstream http://127.0.0.1:8081 --out runs/wt
    """
    host, port = _parse_listen(listen)
    run = _default_run(out)
    # One writer per bundle: this command holds the lock until the bundle is sealed, and
    # lends it to the addon in mitmdump, which writes on its behalf.
    with writing(run, "capture record", create=True) as lock_fd:
        _record(run, plan, host, port, upstream, window, keep_secrets, json_output, lock_fd)


def _record(run: Path, plan: Path | None, host: str, port: int, upstream: str | None,
            window: float, keep_secrets: bool, json_output: bool, lock_fd: int | None) -> None:
    try:
        session = CaptureSession.open(plan=plan, run=run, keep_secrets=keep_secrets,
                                      window_s=window, config={"method": "capture record"})
        session.close()  # the bundle exists; the addon (another process) appends to it
    except SessionError as exc:
        fail(str(exc))
        raise typer.Exit(1) from None
    port = port or _free_port(host)
    mitmdump = Path(sys.executable).with_name("mitmdump")
    command = [str(mitmdump if mitmdump.exists() else "mitmdump"), "--listen-host", host,
               "-p", str(port), "-q", "-s", str(ADDON),
               "--set", f"hulian_run={run.resolve()}", "--set", f"hulian_window={window}",
               "--set", f"hulian_keep_secrets={'true' if keep_secrets else 'false'}"]
    if plan is not None:
        command += ["--set", f"hulian_plan={plan.resolve()}"]
    if upstream:
        command += ["--mode", f"upstream:{upstream}"]
    lent = () if lock_fd is None else (lock_fd,)
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, pass_fds=lent,
                               env=child_env(lock_fd) if lock_fd is not None else None)

    def forward(signum: int, frame: FrameType | None) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # mitmdump runs its addons' `done` on SIGINT

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if not _wait_listening(host, port, process):
            fail(f"mitmdump did not start on {host}:{port} (exit status {process.poll()})")
            forward(signal.SIGINT, None)
            process.wait(timeout=10)
            raise typer.Exit(1)
        stdout.out(json.dumps({"proxy": f"http://{host}:{port}", "run": str(run)}))
        sys.stdout.flush()
        stderr.print(f"recording through http://{host}:{port} → {run} (Ctrl-C to stop)")
        process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _finish(run, plan, keep_secrets, json_output)


def _finish(run: Path, plan: Path | None, keep_secrets: bool, json_output: bool) -> None:
    """Reopen the bundle the addon wrote to: evaluate and seal it, print the summary."""
    from audit.evidence.bundle import Bundle

    try:
        session = CaptureSession.open(plan=plan, run=run, keep_secrets=keep_secrets)
    except SessionError as exc:
        fail(str(exc))
        raise typer.Exit(1) from None
    summary_file = run / "capture.json"
    recorded: dict[str, Any] = (json.loads(summary_file.read_text(encoding="utf-8"))
                                if summary_file.exists() else {})
    outcomes = Counter(o.outcome.value for o in Bundle(run).observations())
    session.builder.outcomes = outcomes
    session.finish()
    _print({**recorded, "run": str(run), "observations": sum(outcomes.values()),
            "outcomes": dict(sorted(outcomes.items()))}, json_output)


@app.command("analyze")
def analyze_command(
    files: Annotated[list[Path], typer.Argument(
        help=".mitm flow dumps (any version mitmproxy 11 migrates), HAR (.har, .zhar) or "
             "WARC/ARC files.", exists=True, dir_okay=False)],
    plan: Annotated[Path | None, typer.Option(
        help="The plan whose tokens attribute flows (without one, chains are discovered "
             "from the policies' wrappers and outbound navigations).", exists=True)] = None,
    out: Annotated[Path | None, typer.Option(
        help="The run bundle directory (default: runs/<run-id>).")] = None,
    surface: Annotated[SurfaceKind | None, typer.Option(
        help="Surface for discovered (unplanned) links (default: the source's first).")
    ] = None,
    window: Window = DEFAULT_WINDOW_S,
    keep_secrets: KeepSecrets = False,
    json_output: JsonOutput = False,
) -> None:
    """Read capture files as a stream, group their flows into link-follow chains (by probe
    token, redirect chain, Referer, time window), judge each chain with the crawler's
    classifier, and write observations, verdicts and a summary into a run bundle.

    A damaged file is reported with its offset; every flow read before the damage is
    analysed. Exit status 1 if any file could not be read completely.

    Examples:

      hulian capture analyze phone.mitm --plan plans/wt/plan.json

      hulian capture analyze session.har --surface im_group --out runs/har-run
    """
    run = _default_run(out)
    # A bundle is made only for files that give something: when every file fails before its
    # first flow, nothing is written (no empty bundle to mistake for a clean capture).
    errors = [first_flow_error(file) for file in files]
    if all(error is not None for error in errors):
        for error in errors:
            fail(str(error))
        fail("no flow could be read from any file; no run bundle was written")
        raise typer.Exit(1)
    with writing(run, "capture analyze", create=True):
        try:
            session = CaptureSession.open(plan=plan, run=run, keep_secrets=keep_secrets,
                                          window_s=window, surface=surface,
                                          config={"method": "capture analyze",
                                                  "files": [str(f) for f in files]})
        except SessionError as exc:
            fail(str(exc))
            raise typer.Exit(1) from None
        for file, result in zip(files, session.read_all(files), strict=True):
            if result.error:
                where = f" at offset {result.offset}" if result.offset is not None else ""
                fail(f"{file}{where}: {result.error} ({result.flows} flows before it were "
                     "analysed)")
        session.close()
        session.finish()
    summary = session.summary()
    _print(summary, json_output)
    if any(f.error for f in session.files):
        raise typer.Exit(1)


def _print(summary: dict[str, Any], json_output: bool) -> None:
    if json_output:
        stdout.out(json.dumps(summary, ensure_ascii=False))
        return
    table = Table(title=f"capture → {summary.get('run')}")
    table.add_column("")
    table.add_column("n", justify="right")
    for file in summary.get("files", []):
        state = "ok" if not file["error"] else f"error at {file['offset']}"
        kind = file["format"] or "not a capture"  # None: refused before its format was known
        table.add_row(f"{file['path']} ({kind}, {state})", str(file["flows"]))
    table.add_section()
    for kind, n in summary.get("flow_kinds", {}).items():
        table.add_row(f"flows: {kind}", str(n))
    table.add_section()
    for outcome, n in summary.get("outcomes", {}).items():
        table.add_row(f"outcome {outcome}", str(n))
    if summary.get("not_observed"):
        table.add_row("planned, not observed", str(len(summary["not_observed"])))
    stdout.print(table)



if __name__ == "__main__":  # `python -m audit.cli.capture` until the CLI registers it
    app()
