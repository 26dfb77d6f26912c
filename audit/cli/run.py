"""`hulian run` (audit end to end) and `hulian crawl` (measure only), with live progress."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from audit.cli.console import fail, shown, stderr, stdout
from audit.errors import EXIT_FAILED_CHECK, HulianError
from audit.judge.summary import Summary
from audit.measure.config import CrawlConfig
from audit.model import Observation, Severity, SurfaceKind


class ReportLang(StrEnum):
    ZH = "zh"
    EN = "en"


class Robots(StrEnum):
    OBEY = "obey"
    IGNORE = "ignore"


class Engine(StrEnum):
    AUTO = "auto"
    ASYNCIO = "asyncio"
    SCRAPY = "scrapy"


# Off a terminal (a log file, CI), a plain progress line this often.
PLAIN_INTERVAL_S = 5.0


class _Progress:
    """Progress on stderr: probes observed/planned, requests and their rate, elapsed time and
    the outcomes so far. On a terminal a live Rich bar; elsewhere a plain line every
    PLAIN_INTERVAL_S and one with the final counts, because Rich redraws nothing off a
    terminal and would leave only its last frame, cut at 80 columns (`p… 196 …`)."""

    def __init__(self, console: Console = stderr, *, interval: float = PLAIN_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.live = console.is_terminal
        self.interval = interval if not self.live else 0.2  # 5 redraws/s: a crawl makes 1,000s
        self.clock = clock
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
            TextColumn("{task.fields[outcomes]}"), console=console, transient=False)
        self.task = self.progress.add_task("probes 探测", total=None, rate="", outcomes="")
        self.requests = 0
        self.planned = 0
        self.observed = 0
        self.outcomes: Counter[str] = Counter()
        self.started = clock()
        self.last = self.started  # a plain line only once there is progress to tell

    def __enter__(self) -> _Progress:
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.progress.stop()

    def __call__(self, kind: str, payload: Any) -> None:
        final = False
        if kind == "response":
            self.requests += 1
        elif kind == "probe":
            self.planned += 1
        elif kind == "planned" and isinstance(payload, int):
            self.planned = payload  # probes planned before the crawl (a list, a resume)
        elif kind == "measured":
            final = True  # the last update shows the final counts
        elif kind == "observation" and isinstance(payload, Observation):
            self.observed += 1
            self.outcomes[payload.outcome.value] += 1
        now = self.clock()
        if not final and now - self.last < self.interval:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-6)
        rate = f"{self.requests} req ({self.requests / elapsed:.0f}/s)"
        outcomes = " ".join(f"{k} {v}" for k, v in self.outcomes.most_common())
        if self.live:
            self.progress.update(self.task, total=max(self.planned, self.observed),
                                 completed=self.observed, rate=rate, outcomes=outcomes)
            return
        # Not markup, not highlighted, never wrapped: one greppable line per report.
        self.console.out(
            f"progress 进度: {self.observed}/{max(self.planned, self.observed)} probes, "
            f"{rate}, {timedelta(seconds=int(elapsed))}" + (f", {outcomes}" if outcomes else ""),
            highlight=False)


def _summary_table(summary: Summary) -> Table:
    table = Table(title=f"run {summary.run_id}", show_header=True)
    table.add_column("outcome 结果")
    table.add_column("n", justify="right")
    for outcome, n in summary.outcomes.most_common():
        table.add_row(outcome, str(n))
    table.add_section()
    for status, n in sorted(summary.verdicts.items()):
        table.add_row(f"verdict {status}", str(n))
    for severity, n in sorted(summary.failed_by_severity.items(),
                              key=lambda kv: -Severity(kv[0]).rank):
        table.add_row(f"failed {severity}", str(n))
    if summary.outcomes.get("unrecognized"):
        table.add_section()
        table.add_row("to review 待人工复核 (review.csv)", str(summary.outcomes["unrecognized"]))
    return table


class UiLanguage(StrEnum):
    ZH_HANS = "zh-Hans"
    ZH_HANT = "zh-Hant"
    EN = "en"


def _parse_seed(value: str) -> tuple[str, SurfaceKind, str]:
    try:
        platform, surface, url = value.split(":", 2)
        return platform, SurfaceKind(surface), url
    except ValueError:
        raise typer.BadParameter(
            f"{value!r}: expected PLATFORM:SURFACE:URL, e.g. zhihu:post:https://...") from None


def _parse_route(value: str) -> tuple[str, str]:
    glob, sep, url = value.partition("=")
    if not sep or not url.startswith("http://"):
        raise typer.BadParameter(f"{value!r}: expected HOSTGLOB=http://HOST:PORT")
    return glob, url


def audit_run(
    lab: Annotated[bool, typer.Option(
        "--lab", help="Start the local lab (a simulated ecosystem on 127.0.0.1), audit it, "
                      "stop it. Implies --allow-private and the lab's own policies.")] = False,
    scenario: Annotated[Path | None, typer.Option(
        help="Lab scenario file (with --lab). Default: the shipped scenario.",
        exists=True, dir_okay=False)] = None,
    source: Annotated[list[str] | None, typer.Option(
        "--source", "-s", help="Audit only these source platforms (repeatable).")] = None,
    seed: Annotated[list[str] | None, typer.Option(
        help="Extra seed page PLATFORM:SURFACE:URL (repeatable).")] = None,
    host: Annotated[list[str] | None, typer.Option(
        "--host", help="Also measure this host's robots.txt for search barriers, HOST or "
        "https://HOST (repeatable). 另测此主机的 robots.txt（搜索壁垒）。")] = None,
    out: Annotated[Path, typer.Option(help="Directory for run bundles.")] = Path("runs"),
    run_id: Annotated[str | None, typer.Option(help="Run id (default: time-based).")] = None,
    resume: Annotated[Path | None, typer.Option(
        help="Continue an interrupted run bundle: planned probes without an observation "
             "are measured, nothing is measured twice.", exists=True, file_okay=False)] = None,
    allow_private: Annotated[bool, typer.Option(
        help="Follow links into private/loopback/link-local addresses (refused by default: "
             "an audited page must not steer the auditor into its own network).")] = False,
    robots: Annotated[Robots, typer.Option(
        help="robots.txt policy, recorded in the manifest.")] = Robots.OBEY,
    targets: Annotated[Path | None, typer.Option(
        help="A target list (Citizen Lab test-list CSV, or YAML) to dial-test through each "
             "--source platform's link wrapper instead of crawling seed pages.",
        exists=True, dir_okay=False)] = None,
    surface: Annotated[SurfaceKind | None, typer.Option(
        help="The surface target-list probes are filed under (default: the source's "
             "first).")] = None,
    route: Annotated[list[str] | None, typer.Option(
        help="Send hosts matching HOSTGLOB through a proxy: HOSTGLOB=http://HOST:PORT.")] = None,
    render: Annotated[bool, typer.Option(
        help="Fetch seed pages through headless Chromium (scrapy-playwright, the [browser] "
             "extra) so script-built links are seen, and store a screenshot of every "
             "interstitial and block page as evidence.")] = False,
    engine: Annotated[Engine, typer.Option(
        help="Crawl engine: asyncio (hulian's own, fast), scrapy (Scrapy's downloader and "
             "middlewares), or auto (asyncio; scrapy for --render and --distributed). Both "
             "make the same measurements; the one used is recorded in the manifest.")
    ] = Engine.AUTO,
    parse_processes: Annotated[int | None, typer.Option(
        min=0, help="Worker processes that parse and classify pages, each page with a time "
                    "budget (default: one per core beyond the first; 0: parse in the crawl "
                    "process).")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(help="Concurrent requests in all.")] = None,
    per_host: Annotated[int | None, typer.Option(help="Concurrent requests per host.")] = None,
    timeout: Annotated[float | None, typer.Option(
        help="Download timeout of each request, seconds (default 20; the lab's 4, its seed "
             "pages 10). A seed page never gets less.")] = None,
    ui_language: Annotated[UiLanguage, typer.Option(
        help="The interface language asked of platforms (Accept-Language): they serve their "
             "warning and block pages in it. Recorded in the manifest.")
    ] = UiLanguage.ZH_HANS,
    lang: Annotated[ReportLang, typer.Option(
        help="Language of the reports (zh: Chinese, en: English).")] = ReportLang.ZH,
    report_formats: Annotated[str, typer.Option(
        "--report-format", help="Reports to write at the end: any of html,pdf,json,csv,junit "
                                "(comma-separated), or '' for none.")
    ] = "html,pdf,json,csv,junit",
    fail_on: Annotated[Severity | None, typer.Option(
        help="Exit with status 3 if a verdict of this severity or worse failed, or was left "
             "inconclusive by a link ending on a page hulian cannot read (outcome "
             "unrecognized: see the review queue), or if a seed page was not read in full "
             "(a seed error or warning). For CI gating.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")
                           ] = False,
    distributed: Annotated[str | None, typer.Option(
        help="Share the crawl's frontier in this Redis (redis://HOST:PORT/DB) with `hulian "
             "worker` processes on any machine; needs --store. See docs/distributed.md."
    )] = None,
    store: Annotated[str | None, typer.Option(
        help="With --distributed: the shared store the workers write observations to "
             "(postgresql+psycopg://...); the finished run is recorded there too.")] = None,
    sign_key: Annotated[Path | None, typer.Option(
        envvar="HULIAN_SIGN_KEY",
        help="Sign the sealed bundle with this Ed25519 private key (`hulian keys generate`): "
             "signature.json, checked by `hulian verify --trust FINGERPRINT`. Read before "
             "the crawl starts. Also $HULIAN_SIGN_KEY.")] = None,
    sign_passphrase_file: Annotated[Path | None, typer.Option(
        envvar="HULIAN_SIGN_PASSPHRASE_FILE",
        help="The file whose first line is --sign-key's passphrase.")] = None,
    tsa: Annotated[str | None, typer.Option(
        envvar="HULIAN_TSA",
        help="Timestamp the sealed bundle at this RFC 3161 time-stamping authority "
             "(timestamp.tsr over the manifest's digest). Also $HULIAN_TSA.")] = None,
) -> None:
    """Audit platforms end to end: crawl their seed pages, follow every outbound link hop by
    hop with a control fetch of the target, classify the outcomes, evaluate the rules, and
    write everything into runs/<run-id>/ (probes, observations, verdicts, WARC evidence,
    manifest with hashes).

    Examples:

      hulian run --lab                      # the demo: audit the local lab

      hulian run --source zhihu --fail-on high

      hulian run --source weixin --targets cn.csv --surface im_private

      hulian run --resume runs/20261128T030000Z-abc123
    """
    # The pipeline loads every stage (networkx, SQLAlchemy, WeasyPrint ...): imported when a
    # run starts, so that `hulian --help` and the other commands start fast.
    from audit.pipeline import RunRequest, run_audit

    config = CrawlConfig(
        sources=list(source or []), extra_seeds=[_parse_seed(s) for s in seed or []],
        routes=dict(_parse_route(r) for r in route or []),
        allow_private=allow_private or lab, robots=robots.value, lab=lab,
        concurrency=concurrency, per_host=per_host, timeout=timeout,
        scenario=str(scenario.resolve()) if scenario else None,
        targets=str(targets.resolve()) if targets else None,
        surface=surface.value if surface else None, render=render, engine=engine.value,
        parse_processes=parse_processes, ui_language=ui_language.value,
        search_hosts=list(host or []),
    )
    request = RunRequest(
        config=config, out=out, run_id=run_id, resume=resume, distributed=distributed,
        store=store, lang=lang.value, sign_key=sign_key,
        sign_passphrase_file=sign_passphrase_file, tsa=tsa,
        report_formats=[f.strip() for f in report_formats.split(",") if f.strip()])
    bar = _Progress()
    try:
        with bar:
            result = run_audit(request, progress=bar, announce=stderr.print)
    except HulianError as exc:
        fail(str(exc))
        raise typer.Exit(exc.exit_code) from None
    except RuntimeError as exc:  # the crawl stopped (a helper process died, an internal error)
        logging.getLogger(__name__).debug("run stopped", exc_info=True)
        fail(str(exc))
        raise typer.Exit(1) from None
    summary = result.summary
    for error in summary.seed_errors:
        stderr.print(f"[yellow]seed failed[/]: {shown(str(error['url']))} "
                     f"({shown(str(error['error']))})")
    if json_output:
        stdout.out(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        stdout.print(_summary_table(summary))
        stdout.print(f"bundle: {summary.path}")
    reason = summary.gate(fail_on) if fail_on is not None else None
    if reason is not None:
        stderr.print(reason)
        raise typer.Exit(EXIT_FAILED_CHECK)
