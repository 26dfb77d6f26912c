"""Distributed crawl: `hulian crawl --distributed redis://... --store postgresql+psycopg://...`
(the coordinator, which also works) and `hulian worker --distributed ...` (more workers,
anywhere). The frontier is a scrapy-redis queue in Redis; observations go to the shared SQL
store; the coordinator re-runs the probes of dead workers, declares the run done when the
frontier is drained, and writes the local run bundle from the store. Design, deployment and
caveats: docs/distributed.md. The Scrapy side is spiders/distributed.py.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from sqlalchemy.engine import make_url

from audit.errors import HulianError
from audit.evidence.bundle import BundleWriter
from audit.history.store import _safe as safe_url
from audit.history.store import add_crawl_probes, crawl_records, open_engine
from audit.judge.compare import sketch_key, use_sketch_key
from audit.measure.asyncio.run import measure_search
from audit.measure.config import CrawlConfig, CrawlResult
from audit.measure.plan import seeds_for
from audit.policy.catalog import Catalog, load_catalog
from spiders.distributed import CURRENT_RUN, KEY_TTL_S, RunKeys, internal_errors, run_spider
from spiders.runner import build_settings


class DistributedError(HulianError):
    """The shared frontier or store cannot be used; the message says why."""


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _redis(url: str, name: str) -> Any:
    # Named, so that Redis' CLIENT LIST tells an operator which coordinator and workers are
    # connected, including a worker still waiting for a run to join.
    client = redis.Redis.from_url(url, client_name=name)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise DistributedError(f"cannot reach Redis at {_safe(url)}: {exc}") from exc
    return client


def _safe(url: str) -> str:
    return safe_url(url)


def _has_password(url: str) -> bool:
    try:
        return make_url(url).password is not None
    except Exception:
        return True


def _settings(config: CrawlConfig, writer: BundleWriter | None, evidence: Path,
              progress: Callable[[str, Any], None] | None, redis_url: str, run_id: str,
              worker: str) -> Any:
    report = None
    if progress is not None:
        def report(kind: str, payload: Any) -> None:  # a function: Scrapy deep-copies settings
            progress(kind, payload)

    settings = build_settings(config, writer, report, evidence=evidence)
    keys = RunKeys(run_id)
    settings.setdict({
        "SCHEDULER": "spiders.distributed.LeasingScheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        # Persist: one worker closing must not flush the queue the others still work.
        "SCHEDULER_PERSIST": True,
        # A sorted set: chain hops (priority 1) and controls (2) go before new seeds.
        "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.PriorityQueue",
        "SCHEDULER_QUEUE_KEY": keys.requests,
        "SCHEDULER_DUPEFILTER_KEY": keys.dupefilter,
        "REDIS_URL": redis_url,
        "ITEM_PIPELINES": {"spiders.distributed.StorePipeline": 300},
        "HULIAN_WARC_PATH": str(evidence / f"{worker}.warc.gz"),
    }, priority="cmdline")
    return settings


# ---------------------------------------------------------------------------------------
# The coordinator
# ---------------------------------------------------------------------------------------


def coordinate(catalog: Catalog, config: CrawlConfig, writer: BundleWriter, *,
               redis_url: str, store_url: str, planned: dict[str, Any] | None = None,
               progress: Callable[[str, Any], None] | None = None) -> CrawlResult:
    """Publish the run, work it, watch the workers, and fill `writer` from the store once
    the frontier is drained (blocking; once per process, like crawl())."""
    worker = new_worker_id()
    client = _redis(redis_url, f"hulian-coordinator:{worker}")
    engine = open_engine(store_url)  # migrated here, once, before any worker writes
    keys = RunKeys(writer.run_id)
    stale = list(client.scan_iter(keys.key("*")))
    if stale:  # a run id reused: start from a clean frontier
        client.delete(*stale)
    seeds = seeds_for(catalog, config)
    add_crawl_probes(engine, writer.run_id, (planned or {}).values())
    client.set(keys.info, json.dumps({
        "config": config.manifest_config(), "routes": config.routes,
        "policy_digest": catalog.digest,
        "policies": {n: base64.b64encode(b).decode() for n, b in catalog.files.items()},
        # One key for every worker's page fingerprints, which are compared with each other's
        # (a probe's chain and its control fetch may be fetched by two workers).
        "sketch_key": sketch_key().hex(),
        # Workers may reuse the coordinator's store URL unless it carries a password.
        "store": None if _has_password(store_url) else store_url,
    }))
    client.set(CURRENT_RUN, writer.run_id)
    evidence = writer.path / "evidence"
    client.hset(keys.warcs, worker, json.dumps({
        "host": socket.gethostname(), "path": str((evidence / f"{worker}.warc.gz").resolve()),
        "in_bundle": f"evidence/{worker}.warc.gz"}))
    stats = run_spider(
        _settings(config, writer, evidence, progress, redis_url, writer.run_id, worker),
        seeds=seeds, all_seeds=seeds, catalog=catalog, run_id=writer.run_id,
        planned=planned, redis_url=redis_url, worker_id=worker, coordinator=True,
        store_url=store_url, parse_processes=config.parse_processes)
    try:
        lost = internal_errors(client, keys)
        if lost or not client.exists(keys.done):
            client.set(keys.aborted, "1", ex=KEY_TTL_S)  # workers stop instead of waiting
            raise DistributedError(lost or "the crawl stopped before the frontier was drained "
                                   "(interrupted?); the store keeps what was observed")
        outcomes, n_planned, seed_errors = export_to_bundle(engine, writer, client)
        # Search barriers: measured here, by the asyncio engine's search measurement, once
        # the workers are done (they measure links only; docs/distributed.md).
        measure_search(catalog, config, writer, progress=progress)
    finally:
        # Ended either way, the run's keys go after an hour and workers started later wait
        # for the next run: a stopped run's stayed `hulian:current` forever, and every
        # worker restarted after the hour joined it and waited without end (a review).
        for key in client.scan_iter(keys.key("*")):
            client.expire(key, KEY_TTL_S)
        if (client.get(CURRENT_RUN) or b"").decode() == writer.run_id:
            client.delete(CURRENT_RUN)
        engine.dispose()
    return CrawlResult(planned=n_planned, observations=sum(outcomes.values()),
                       outcomes=outcomes, seed_errors=seed_errors,
                       stats={k: v for k, v in stats.items() if not isinstance(v, list)})


def export_to_bundle(engine: Any, writer: BundleWriter, client: Any
                     ) -> tuple[Counter[str], int, list[dict[str, str]]]:
    """The run's probes and observations from the store into the local bundle, and each
    worker's evidence file (and share of the work) into the manifest."""
    keys = RunKeys(writer.run_id)
    probes, observations = crawl_records(engine, writer.run_id)
    for probe in probes:
        writer.add_probe(probe)
    per_worker: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for worker, observation in observations:
        writer.add_observation(observation)
        per_worker[worker] += 1
        outcomes[observation.outcome.value] += 1
    workers = {}
    for name, raw in client.hgetall(keys.warcs).items():
        entry = json.loads(raw)
        entry["observations"] = per_worker.get(name.decode(), 0)
        workers[name.decode()] = entry
    seed_errors = [{"url": url.decode(), "error": error.decode()}
                   for url, error in client.hgetall(keys.seeds).items() if error]
    writer.manifest.config["distributed"] = {"workers": workers}
    return outcomes, len(probes), seed_errors


# ---------------------------------------------------------------------------------------
# A worker
# ---------------------------------------------------------------------------------------


@dataclass
class WorkerResult:
    run_id: str
    worker: str
    warc: str
    stats: dict[str, Any] = field(default_factory=dict)


def wait_for_run(client: Any, run_id: str | None, wait_s: float) -> str:
    deadline = time.monotonic() + wait_s
    while True:
        current = run_id or (client.get(CURRENT_RUN) or b"").decode()
        if current and client.exists(RunKeys(current).info):
            return current
        if time.monotonic() >= deadline:
            raise DistributedError(f"no run to join after {wait_s:.0f} s "
                                   f"({'run ' + run_id if run_id else 'no current run'})")
        time.sleep(0.2)


def _catalog_from(info: dict[str, Any], directory: Path) -> Catalog:
    """The coordinator's exact policy set, rebuilt from the run info: the same files under
    the same directory indexes, hence the same digest."""
    files: dict[str, str] = info["policies"]
    count = 1 + max((int(n.split("/", 1)[0]) for n in files), default=0)
    dirs = [directory / str(i) for i in range(count)]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        index, rel = name.split("/", 1)
        target = directory / index / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(content))
    catalog = load_catalog(dirs)
    if catalog.digest != info["policy_digest"]:
        raise DistributedError("the policy set rebuilt from the run differs from the "
                               "coordinator's (digest mismatch)")
    return catalog


def work(*, redis_url: str, store_url: str | None, run_id: str | None, evidence: Path,
         wait_s: float = 60.0) -> WorkerResult:
    """Join a distributed run (the given one, or the current one) and work its frontier
    until the coordinator declares it done (blocking; once per process)."""
    worker = new_worker_id()
    client = _redis(redis_url, f"hulian-worker:{worker}")
    run = wait_for_run(client, run_id, wait_s)
    keys = RunKeys(run)
    info = json.loads(client.get(keys.info))
    store = store_url or info.get("store")
    if not store:
        raise DistributedError("the run's store URL carries a password: pass --store")
    open_engine(store, migrate=False).dispose()  # fail early on a wrong URL
    config = CrawlConfig.from_manifest(info["config"])
    config.routes = dict(info["routes"])
    # The coordinator's key (from a coordinator without one, an empty key, as every worker's).
    use_sketch_key(bytes.fromhex(info.get("sketch_key", "")))
    evidence = evidence / run
    warc = evidence / f"{worker}.warc.gz"
    client.hset(keys.warcs, worker, json.dumps({"host": socket.gethostname(),
                                                "path": str(warc.resolve())}))
    with tempfile.TemporaryDirectory(prefix="hulian-worker-policies-") as tmp:
        catalog = _catalog_from(info, Path(tmp))
        if client.exists(keys.done, keys.aborted):
            return WorkerResult(run, worker, str(warc))
        stats = run_spider(
            _settings(config, None, evidence, None, redis_url, run, worker),
            seeds=[], catalog=catalog, run_id=run, redis_url=redis_url, worker_id=worker,
            coordinator=False, store_url=store, parse_processes=config.parse_processes)
    lost = internal_errors(client, keys)
    if lost:
        raise DistributedError(lost)
    return WorkerResult(run, worker, str(warc), stats)

