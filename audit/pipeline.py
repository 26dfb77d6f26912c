"""One audit run, end to end — plan → measure → judge → graph → report — into runs/<run-id>/.
The one entry the CLI (`hulian run`/`crawl`), the scheduler (which runs `hulian run`) and the
distributed coordinator go through; commands only parse options and print.

Order of the steps, and why: the bundle is created and locked before anything is written;
a `--lab` run writes the lab's policies into the bundle first, so the run's policy digest
covers them; the crawl streams observations into the bundle; judging, the graph files and
the review queue come next and are sealed with it; the history store and the reports come
after the seal (the reports quote the final manifest's sha256).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.collector import collector_paused
from audit.errors import HulianError, UsageError
from audit.evidence.bundle import (
    VERDICTS,
    Bundle,
    BundleWriter,
    EarlyDigests,
    Unverified,
    bundle_files,
    check_run_id,
    describe,
    ensure_columnar,
    new_run_id,
    read_manifest,
    tally,
    verdicts_writing,
    verify,
)
from audit.evidence.custody import CustodyError, attest_sealed_run
from audit.evidence.lock import bundle_lock
from audit.evidence.review import write_run_review
from audit.evidence.signing import Signer, load_signer, read_passphrase
from audit.evidence.timestamp import check_tsa_url
from audit.graph.search import add_search, search_metrics
from audit.judge.search_run import judge_search
from audit.judge.summary import Summary, summarise
from audit.lab.policies import write_policies
from audit.lab.process import LabProcess, lab_process
from audit.lab.scenario import load_scenario
from audit.measure.config import CrawlConfig
from audit.measure.crawl import crawl, load_entry
from audit.measure.plan import resume_state, target_probes
from audit.measure.targets import load_targets
from audit.model import Verdict
from audit.policy.catalog import RUN_POLICIES, Catalog, catalog_for_run, load_catalog, policy_dirs

logger = logging.getLogger(__name__)

Progress = Callable[[str, Any], None]
DISTRIBUTED_COORDINATOR = "spiders.coordinator:coordinate"


@dataclass
class RunRequest:
    """What a user asked of one run (the CLI's options, parsed)."""

    config: CrawlConfig
    out: Path = Path("runs")
    run_id: str | None = None
    resume: Path | None = None  # an interrupted bundle to continue
    distributed: str | None = None  # redis://… : share the frontier with `hulian worker`s
    store: str | None = None  # the shared store of a distributed run
    report_formats: Sequence[str] = ("html", "pdf", "json", "csv", "junit")
    lang: str = "zh"
    sign_key: Path | None = None  # sign the sealed bundle (signature.json) with this key
    sign_passphrase_file: Path | None = None  # the key's passphrase, if it has one
    tsa: str | None = None  # an RFC 3161 time-stamping authority's URL (timestamp.tsr)


@dataclass
class RunResult:
    summary: Summary
    reports: list[Path] = field(default_factory=list)


class Interrupted(HulianError):
    """The run was stopped (Ctrl-C); everything measured is in the bundle: not judged or
    sealed yet (`--resume` does both), or, `sealed`, only its reports are missing."""

    exit_code = 130

    def __init__(self, bundle: Path | None, *, sealed: bool = False):
        self.bundle = bundle
        if bundle is None:
            message = "interrupted / 已中断"
        elif sealed:
            message = (f"interrupted / 已中断: the run is sealed and complete; its reports "
                       f"(`hulian report {bundle}`) and a timestamp asked for (`hulian "
                       f"timestamp {bundle}`) may be missing / 运行已封存，报告可用 hulian "
                       "report 生成")
        else:
            message = f"interrupted / 已中断: continue with `hulian run --resume {bundle}`"
        super().__init__(message)


class Unfinished(HulianError):
    """The crawl ended with probes it planned and never observed: an engine that stopped
    early without saying so. Nothing is judged or sealed, as after Ctrl-C."""

    def __init__(self, bundle: Path, missing: int):
        self.bundle = bundle
        super().__init__(
            f"the crawl ended with {missing} planned link(s) not measured; the bundle is not "
            f"sealed: continue with `hulian run --resume {bundle}` / 有 {missing} 个已计划的链接"
            "未测量，运行未封存，可用 --resume 继续")


def run_audit(request: RunRequest, *, progress: Progress | None = None,
              announce: Callable[[str], None] = logger.info) -> RunResult:
    """plan → measure → judge → graph → report. Raises HulianError subclasses for anything
    the user must fix (their messages name the file or the option); `announce` receives the
    lines a user follows the run by (the bundle's path, the reports written)."""
    config = request.config
    if config.engine == "asyncio" and (config.render or request.distributed):
        raise UsageError("--render and --distributed need the Scrapy engine "
                         "(scrapy-playwright, scrapy-redis): leave --engine at auto or use "
                         "--engine scrapy")
    if request.distributed:
        config.engine = "scrapy"  # scrapy-redis shares the frontier (recorded)
        if not request.store or request.resume is not None:
            raise UsageError("--distributed needs --store, and cannot --resume (the store "
                             "keeps the state)")
    # The key is read before anything is measured: a wrong passphrase or a missing key ends
    # the run before it has written a bundle that would then be left unsigned.
    signer = signing_key(request)
    if request.tsa is not None:
        check_tsa_url(request.tsa)
    if config.targets and request.resume is None:
        # A target list that cannot be read ends the run before a bundle is written for it
        # (it was read when the run was planned, after its bundle had been made).
        load_targets(Path(config.targets))
    with ExitStack() as lock:  # the bundle's writer lock, to the end (the reports included)
        out, run_id = request.out, request.run_id
        if request.resume is not None:
            read_manifest(request.resume)  # a clear error for a directory that is no bundle
            lock.enter_context(bundle_lock(request.resume, "run --resume"))
            check_resumable(request.resume)
            # A resumed run measures exactly as it started: same sources, lab, robots ...
            manifest = read_manifest(request.resume)
            out, run_id = request.resume.parent, manifest.run_id
            config = CrawlConfig.from_manifest(manifest.config)
        writer: BundleWriter | None = None
        context: AbstractContextManager[LabProcess | None] = (
            lab_process(Path(config.scenario) if config.scenario else None) if config.lab
            else nullcontext())
        try:
            with context as lab:
                if lab is not None:
                    config.routes.setdefault("*.lab", lab.url)
                catalog, writer = open_bundle(config, out, run_id, request.resume, lock)
                announce(f"run {writer.run_id} → {writer.path}")
                summary = measure(catalog, config, writer, request, progress)
        except KeyboardInterrupt:
            raise Interrupted(writer.path if writer is not None else None) from None
        try:
            finish_run(writer, catalog, summary)
        except KeyboardInterrupt:
            # While judging or sealing: the resumed run judges and seals afresh (Ctrl-C
            # there was Click's "Aborted!", exit 1, with no word of what to do).
            raise Interrupted(writer.path) from None
        try:
            return _after_seal(request, writer, catalog, summary, signer, announce)
        except KeyboardInterrupt:
            raise Interrupted(writer.path, sealed=True) from None


def _after_seal(request: RunRequest, writer: BundleWriter, catalog: Catalog, summary: Summary,
                signer: Signer | None, announce: Callable[[str], None]) -> RunResult:
    """A sealed run's signature and timestamp, its history, its reports."""
    custody_failed: CustodyError | None = None
    try:
        for line in attest_sealed_run(writer.path, signer, request.tsa):
            announce(line)
    except CustodyError as exc:  # the reports are still written; the error ends the run
        custody_failed = exc
    # The history store; never fails a run. A distributed run goes to the shared store
    # as well.
    record_after_run(writer.path, catalog)
    if request.store:
        record_after_run(writer.path, catalog, db_url=request.store)
    from audit.report.render import write_reports  # Jinja2 (and WeasyPrint): reports only

    reports = (write_reports(writer.path, catalog, list(request.report_formats),
                             request.lang) if request.report_formats else [])
    for path in reports:
        announce(f"report: {path}")
    if custody_failed is not None:
        raise custody_failed
    return RunResult(summary, reports)


def signing_key(request: RunRequest) -> Signer | None:
    if request.sign_key is None:
        return None
    passphrase = (read_passphrase(request.sign_passphrase_file)
                  if request.sign_passphrase_file else None)
    return load_signer(request.sign_key, passphrase)


def measure(catalog: Catalog, config: CrawlConfig, writer: BundleWriter, request: RunRequest,
            progress: Progress | None) -> Summary:
    """Plan the probes (a target list, or what a resumed bundle planned) and crawl them."""
    if config.lab:
        config.sources = config.sources or lab_sources(catalog, writer.path)
    if request.resume is not None:
        planned, done = resume_state(writer.path)
    else:
        planned, done = {}, set()
        for probe in target_probes(catalog, config):
            planned[probe.id] = probe
            writer.add_probe(probe)
    if progress is not None:
        progress("planned", len(planned))
    if request.distributed and request.store:
        # The coordinator shares the frontier through scrapy-redis: Scrapy's side, named.
        coordinate = load_entry(DISTRIBUTED_COORDINATOR)
        result = coordinate(catalog, config, writer, redis_url=request.distributed,
                            store_url=request.store, planned=planned, progress=progress)
    else:
        result = crawl(catalog, config, writer, planned=planned, done=done, progress=progress)
    if progress is not None:
        progress("measured", None)
    counted = tally(writer.path)  # the bundle's, a resumed run's earlier observations too
    if counted.unobserved:
        # Whatever the engine reported: a bundle sealed with links unmeasured would verify
        # as intact and read as complete (Scrapy stopped by a second Ctrl-C returned as if it
        # had ended, an adversarial review).
        raise Unfinished(writer.path, counted.unobserved)
    summary = Summary(run_id=writer.run_id, path=writer.path, planned=result.planned,
                      seed_errors=result.seed_errors)
    summary.outcomes = counted.outcomes
    summary.observations = sum(summary.outcomes.values())
    return summary


def check_resumable(run: Path) -> None:
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


def open_bundle(config: CrawlConfig, out: Path, run_id: str | None, resume: Path | None,
                lock: ExitStack) -> tuple[Catalog, BundleWriter]:
    """Create (or reopen) the bundle; a lab run carries the lab's policies inside it."""
    if resume is not None:
        catalog = catalog_for_run(resume)
        return catalog, BundleWriter(resume.parent, run_id=resume.name,
                                     policy_digest=catalog.digest, resume=True)
    if config.lab:
        # The lab's policy files are written first, to a staging directory, so that the
        # bundle's policy digest covers them.
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-policies-", dir=out))
        write_policies(load_scenario(Path(config.scenario) if config.scenario else None),
                       staging)
        catalog = load_catalog([*policy_dirs(), staging])
        run_id = _new_bundle(out, run_id, lock)
        writer = BundleWriter(out, run_id=run_id, policy_digest=catalog.digest,
                              config=config.manifest_config())
        shutil.move(str(staging), str(writer.path / RUN_POLICIES))
        return catalog_for_run(writer.path), writer
    catalog = load_catalog(policy_dirs())
    run_id = _new_bundle(out, run_id, lock)
    return catalog, BundleWriter(out, run_id=run_id, policy_digest=catalog.digest,
                                 config=config.manifest_config())


def lab_sources(catalog: Catalog, run: Path) -> list[str]:
    """The lab's platforms: those defined by the run's own policy directory."""
    return sorted(pid for key, path in catalog.sources.items()
                  if key.startswith("platform:") and run in path.parents
                  for pid in [key.split(":", 1)[1]])


def finish_run(writer: BundleWriter, catalog: Catalog, summary: Summary) -> None:
    """Close the crawl's files, judge, write what is sealed with the run (the graphs, their
    metrics, the review queue), and seal."""
    # Judging and the graph load DuckDB, pyarrow and networkx: only once the crawl (and its
    # worker processes) have finished, so that they never add to the crawl's memory.
    from audit.judge.verdicts import write_verdicts

    writer.close()
    # The observations table first (built from the lines where the run did not write it as it
    # went), so that judging reads the bundle's own table rather than a copy in the cache.
    ensure_columnar(writer.path, writer.run_id)
    # Judged afresh (a resumed run too), each verdict written as it is made with its row of
    # the verdicts table (which the graph reads), never all held.
    with verdicts_writing(writer.path / VERDICTS, writer.run_id) as (out, table):
        summarise(summary, write_verdicts(writer.path, catalog, out, table))
    # The files written so far are hashed for the seal while the graph is made.
    with EarlyDigests(bundle_files(writer.path)) as known:
        # The review queue is written whatever reports were asked for (`hulian report`
        # writes it again with them).
        write_run_review(writer.path)
        write_graph_outputs(writer.path, catalog)
        writer.manifest.config["summary"] = summary.as_dict()
        writer.finish(known)


@collector_paused()
def write_graph_outputs(run: Path, catalog: Catalog) -> Any:
    """Write graph.graphml (platforms), graph-company.graphml (both with the search engines'
    edges beside the link edges), metrics.json (with `search`) and graph.svg (links only;
    skipped with a warning when graphviz is missing) into the bundle, before it is sealed.
    Built from the run's tables (its verdicts written): DuckDB counts the edges. Returns the
    platform graph (links only)."""
    from audit.evidence.sql import run_tables  # DuckDB: after the crawl (see finish_run)
    from audit.graph.build import (  # networkx, DuckDB: after the crawl (see finish_run)
        COMPANY_GRAPHML,
        GRAPHML,
        METRICS,
        SVG,
        build,
        company_graph,
        drop_lists,
        metrics,
        render_svg,
        write_graphml,
        write_metrics,
    )

    # The link graph counts the link rules' verdicts; the search rules' are on search edges.
    search_rules = {r.id for r in catalog.rules.values() if r.scope == "search"}
    with run_tables(run) as tables:
        tables.exclude_rules(search_rules)
        graph = build(tables, None, catalog)
    judged = judge_search(Bundle(run).search(), catalog)
    write_graphml(add_search(graph, judged, catalog), run / GRAPHML)
    # The company graph made once, for its GraphML and (without its lists) the metrics.
    company = company_graph(graph, catalog)
    write_graphml(add_search(company, judged, catalog, "company"), run / COMPANY_GRAPHML)
    drop_lists(company)
    write_metrics({**metrics(graph, catalog, company=company),
                   "search": search_metrics(judged, catalog)}, run / METRICS)
    try:
        (run / SVG).write_text(render_svg(graph, "platform"), encoding="utf-8")
    except RuntimeError as exc:
        logger.warning("no graph picture: %s", exc)
    return graph


def record_after_run(run: Path, catalog: Catalog | None = None,
                     verdicts: Sequence[Verdict] | None = None,
                     db_url: str | None = None) -> bool:
    """Record a finished run in the history store; never fails the run (a store that cannot
    be written is a warning). `HULIAN_DB=off` turns recording off. Returns whether the run
    was recorded."""
    from audit.history.store import (  # SQLAlchemy, networkx: after the crawl (see finish_run)
        StoreError,
        record_run,
    )

    if (db_url or os.environ.get("HULIAN_DB", "")).lower() in ("off", "none", "0"):
        return False
    try:
        result = record_run(run, catalog, verdicts, db_url=db_url)
    except (StoreError, OSError) as exc:
        logger.warning("the run was not recorded in the history store: %s", exc)
        return False
    return result.recorded
