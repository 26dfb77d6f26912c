"""`hulian run` (audit end to end) and `hulian crawl` (measure only), with live progress."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections import Counter
from contextlib import AbstractContextManager, ExitStack, nullcontext
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from audit.cli.console import fail, stderr, stdout
from audit.evidence.bundle import (
    BundleError,
    BundleWriter,
    Unverified,
    check_run_id,
    describe,
    new_run_id,
    read_manifest,
    verify,
)
from audit.evidence.lock import EXIT_LOCKED, Locked, bundle_lock
from audit.model import Observation, Severity, SurfaceKind
from audit.pipeline import (
    RUN_POLICIES,
    LabError,
    LabProcess,
    Summary,
    catalog_for_run,
    finish_run,
    lab_process,
)
from audit.policy.catalog import Catalog, PolicyError

EXIT_FAILED_CHECK = 3


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


class _Progress:
    """Rich progress on stderr: requests, probes planned/observed, outcomes so far, rate."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
            TextColumn("{task.fields[outcomes]}"), console=stderr, transient=False,
            # Off a terminal nothing is redrawn, so no refresh thread (it would only contend
            # with the crawl for the GIL); __call__ updates the task five times a second.
            auto_refresh=stderr.is_terminal,
        )
        self.task = self.progress.add_task("probes 探测", total=None, rate="", outcomes="")
        self.requests = 0
        self.planned = 0
        self.observed = 0
        self.outcomes: Counter[str] = Counter()
        self.started = time.monotonic()
        self.last = 0.0

    def refresh(self) -> None:
        self.last = float("-inf")
        self("refresh", None)

    def __call__(self, kind: str, payload: Any) -> None:
        if kind == "response":
            self.requests += 1
        elif kind == "probe":
            self.planned += 1
        elif kind == "observation" and isinstance(payload, Observation):
            self.observed += 1
            self.outcomes[payload.outcome.value] += 1
        now = time.monotonic()
        if now - self.last < 0.2:  # five redraws a second are plenty; a crawl makes 1,000s
            return
        self.last = now
        elapsed = max(now - self.started, 1e-6)
        self.progress.update(
            self.task, total=max(self.planned, self.observed), completed=self.observed,
            rate=f"{self.requests} req ({self.requests / elapsed:.0f}/s)",
            outcomes=" ".join(f"{k} {v}" for k, v in self.outcomes.most_common()),
        )


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
        min=0, help="asyncio engine: worker processes that parse and classify pages "
                    "(default: one per core beyond the first; 0: parse in the crawl process).")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(help="Concurrent requests in all.")] = None,
    per_host: Annotated[int | None, typer.Option(help="Concurrent requests per host.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Download timeout, seconds.")] = None,
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
             "unrecognized: see the review queue). For CI gating.")
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
    from audit.history.store import StoreError
    from audit.measure.crawl import CrawlConfig, crawl, resume_state, target_probes
    from audit.measure.scrapy.distributed import DistributedError
    from audit.measure.targets import TargetListError

    config = CrawlConfig(
        sources=list(source or []), extra_seeds=[_parse_seed(s) for s in seed or []],
        routes=dict(_parse_route(r) for r in route or []),
        allow_private=allow_private or lab, robots=robots.value, lab=lab,
        concurrency=concurrency, per_host=per_host, timeout=timeout,
        scenario=str(scenario.resolve()) if scenario else None,
        targets=str(targets.resolve()) if targets else None,
        surface=surface.value if surface else None, render=render, engine=engine.value,
        parse_processes=parse_processes, ui_language=ui_language.value,
    )
    if engine is Engine.ASYNCIO and (render or distributed):
        fail("--render and --distributed need the Scrapy engine (scrapy-playwright, "
             "scrapy-redis): leave --engine at auto or use --engine scrapy")
        raise typer.Exit(2)
    if distributed:
        config.engine = Engine.SCRAPY.value  # scrapy-redis shares the frontier (recorded)
    if distributed and (not store or resume is not None):
        fail("--distributed needs --store, and cannot --resume (the store keeps the state)")
        raise typer.Exit(2)
    bundle_path: Path | None = None  # for the message if the run is interrupted
    # The bundle's writer lock, held to the end of the command (the reports included).
    lock = ExitStack()
    try:
        if resume is not None:
            read_manifest(resume)  # a clear error for a directory that is no bundle
            lock.enter_context(bundle_lock(resume, "run --resume"))
            _check_resumable(resume)
            # A resumed run measures exactly as it started: same sources, lab, robots ...
            manifest = read_manifest(resume)
            out, run_id = resume.parent, manifest.run_id
            config = CrawlConfig.from_manifest(manifest.config)
            lab = config.lab
            scenario = Path(config.scenario) if config.scenario else None
        writer_path = out / run_id if run_id else None
        context: AbstractContextManager[LabProcess | None] = (
            lab_process(scenario) if lab else nullcontext())
        with context as lab_handle:
            if lab_handle is not None:
                config.routes.setdefault("*.lab", lab_handle.url)
            catalog, writer = _open_bundle(out, run_id, resume, config, lab, scenario,
                                           writer_path, lock)
            bundle_path = writer.path
            if lab:
                config.sources = config.sources or _lab_sources(catalog, writer.path)
            if resume:
                planned, done = resume_state(writer.path)
            else:
                planned, done = {}, set()
                for probe in target_probes(catalog, config):
                    planned[probe.id] = probe
                    writer.add_probe(probe)
            summary = Summary(run_id=writer.run_id, path=writer.path)
            stderr.print(f"run {writer.run_id} → {writer.path}")
            bar = _Progress()
            bar.planned = len(planned)
            with bar.progress:
                if distributed and store:
                    from audit.measure.scrapy.distributed import coordinate

                    result = coordinate(catalog, config, writer, redis_url=distributed,
                                        store_url=store, planned=planned, progress=bar)
                else:
                    result = crawl(catalog, config, writer, planned=planned, done=done,
                                   progress=bar)
                bar.refresh()
            summary.planned = result.planned
            summary.outcomes = Counter(
                o.outcome.value for o in _observations(writer.path))
            summary.observations = sum(summary.outcomes.values())
            summary.seed_errors = result.seed_errors
            finish_run(writer, catalog, summary, after=_after_steps)
            from audit.graph.run import record_after_run

            # The history store; never fails a run. A distributed run is recorded in the
            # shared store as well.
            record_after_run(writer.path, catalog)
            if store:
                record_after_run(writer.path, catalog, db_url=store)
            # Reports come after the seal: the cover quotes the final manifest's sha256.
            if report_formats:
                from audit.report.render import write_reports

                formats = [f.strip() for f in report_formats.split(",") if f.strip()]
                for path in write_reports(writer.path, catalog, formats, lang.value):
                    stderr.print(f"report: {path}")
    except Locked as exc:
        fail(str(exc))
        raise typer.Exit(EXIT_LOCKED) from None
    except Unverified as exc:
        fail(str(exc))
        raise typer.Exit(exc.exit_code) from None
    except (LabError, BundleError, PolicyError, TargetListError, ValueError,
            DistributedError, StoreError) as exc:
        fail(str(exc))
        raise typer.Exit(1) from None
    except RuntimeError as exc:  # the crawl stopped (a helper process died, an internal error)
        logging.getLogger(__name__).debug("run stopped", exc_info=True)
        fail(str(exc))
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        # Everything measured so far is in the bundle; nothing is judged or sealed yet.
        if bundle_path is not None:
            stderr.print(f"interrupted / 已中断: continue with `hulian run --resume "
                         f"{bundle_path}`")
        else:
            stderr.print("interrupted / 已中断")
        raise typer.Exit(130) from None
    finally:
        lock.close()
    for error in summary.seed_errors:
        stderr.print(f"[yellow]seed failed[/]: {error['url']} ({error['error']})")
    if json_output:
        stdout.out(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        stdout.print(_summary_table(summary))
        stdout.print(f"bundle: {writer.path}")
    reason = summary.gate(fail_on) if fail_on is not None else None
    if reason is not None:
        stderr.print(reason)
        raise typer.Exit(EXIT_FAILED_CHECK)


def _observations(path: Path) -> list[Observation]:
    from audit.evidence.bundle import Bundle

    return list(Bundle(path).observations())


def _check_resumable(run: Path) -> None:
    """A resumed run continues the bundle its run left, nothing else: the manifest's fields
    (whose configuration the resumed run reuses) as sealed, no probe planned or observed
    twice, and, if the run had finished, every file as sealed. Resuming an altered bundle
    would seal the alteration into a bundle that verifies."""
    checked = verify(run)
    if checked.consistent and (checked.intact or not checked.sealed):
        return
    raise Unverified(f"{run}: cannot resume a bundle that fails verification / 未通过校验 ("
                     + "; ".join(describe(checked.problems()))
                     + f"); see `hulian verify {run}`", checked.problems())


def _new_bundle(out: Path, run_id: str | None, lock: ExitStack) -> str:
    """The new run's directory, created and locked before anything is written into it (two
    runs given the same --run-id at once: one of them gets the lock, the other exit 5)."""
    run_id = check_run_id(run_id or new_run_id())
    (out / run_id).mkdir(parents=True, exist_ok=True)
    lock.enter_context(bundle_lock(out / run_id, "run"))
    return run_id


def _open_bundle(out: Path, run_id: str | None, resume: Path | None, config: Any, lab: bool,
                 scenario: Path | None, writer_path: Path | None,
                 lock: ExitStack) -> tuple[Catalog, BundleWriter]:
    """Create (or reopen) the bundle; a lab run carries the lab's policies inside it."""
    if lab and resume is None:
        # Write the lab's policy files first, to a staging directory, so the bundle's
        # policy digest covers them.
        from audit.lab.policies import write_policies
        from audit.lab.scenario import load_scenario

        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-policies-", dir=out))
        write_policies(load_scenario(scenario), staging)
        catalog = _load_with(staging)
        run_id = _new_bundle(out, run_id, lock)
        writer = BundleWriter(out, run_id=run_id, policy_digest=catalog.digest,
                              config=config.manifest_config())
        shutil.move(str(staging), str(writer.path / RUN_POLICIES))
        return catalog_for_run(writer.path), writer
    if resume is not None:
        catalog = catalog_for_run(resume)
        writer = BundleWriter(resume.parent, run_id=resume.name, policy_digest=catalog.digest,
                              resume=True)
        return catalog, writer
    from audit.policy.catalog import load_catalog, policy_dirs

    catalog = load_catalog(policy_dirs())
    run_id = _new_bundle(out, run_id, lock)
    writer = BundleWriter(out, run_id=run_id, policy_digest=catalog.digest,
                          config=config.manifest_config())
    return catalog, writer


def _load_with(directory: Path) -> Catalog:
    from audit.policy.catalog import load_catalog, policy_dirs

    return load_catalog([*policy_dirs(), directory])


def _lab_sources(catalog: Catalog, run: Path) -> list[str]:
    """The lab's platforms: those defined by the run's own policy directory."""
    return sorted(pid for key, path in catalog.sources.items()
                  if key.startswith("platform:") and run in path.parents
                  for pid in [key.split(":", 1)[1]])


def _after_steps(run: Path, catalog: Catalog, verdicts: list[Any]) -> None:
    """Steps whose files belong to the sealed bundle: the graphs (platform and company
    GraphML, SVG) and their metrics (metrics.json)."""
    from audit.graph.run import write_graph_outputs

    write_graph_outputs(run, catalog, verdicts)
