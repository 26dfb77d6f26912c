"""`hulian worker`: one more worker for a distributed crawl
(spiders/coordinator.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from audit.cli.console import fail, stderr, stdout
from audit.policy.catalog import PolicyError


def worker_command(
    distributed: Annotated[str, typer.Option(
        "--distributed", help="The run's Redis: redis://HOST:PORT/DB.")],
    store: Annotated[str | None, typer.Option(
        help="The shared store (postgresql+psycopg://...). Default: the coordinator's URL, "
             "when it carries no password.")] = None,
    run_id: Annotated[str | None, typer.Option(
        help="The run to join (default: the current run in that Redis).")] = None,
    evidence: Annotated[Path, typer.Option(
        help="Where this worker writes its WARC evidence (<dir>/<run-id>/<worker>.warc.gz); "
             "the coordinator's manifest lists it.")] = Path("hulian-evidence"),
    wait: Annotated[float, typer.Option(
        help="Seconds to wait for a run to join.")] = 60.0,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")
                           ] = False,
) -> None:
    """Work a distributed crawl's shared frontier until its coordinator declares it done.

    Example: hulian worker --distributed redis://10.0.0.5:6379/0
    """
    # Scrapy, scrapy-redis and SQLAlchemy (~3 s to load) only in a worker.
    from audit.history.store import StoreError
    from spiders.coordinator import DistributedError, work

    try:
        result = work(redis_url=distributed, store_url=store, run_id=run_id,
                      evidence=evidence, wait_s=wait)
    except (DistributedError, StoreError, PolicyError) as exc:
        fail(str(exc))
        raise typer.Exit(1) from None
    observed = sum(v for k, v in result.stats.items()
                   if k.startswith("hulian/outcome/") and isinstance(v, int))
    if json_output:
        stdout.out(json.dumps({"run_id": result.run_id, "worker": result.worker,
                               "warc": result.warc, "observations": observed,
                               "requeued": result.stats.get("hulian/requeued", 0)}))
    else:
        stderr.print(f"worker {result.worker}: {observed} observations in run "
                     f"{result.run_id}; evidence {result.warc}")
