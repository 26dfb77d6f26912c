"""Distributed crawl benchmark: the crawler benchmark's generated site (bench/crawl.py, served
by nginx) crawled by 1, 2 and 4 hulian worker processes on this machine, sharing one Redis
frontier and one PostgreSQL store (both started here on 127.0.0.1).

    .venv/bin/python bench/distributed.py [--pages 300] [--links 20] [--workers 1,2,4]

For N workers: N-1 `hulian worker` processes are started first (they wait for the run), then
the coordinator `hulian crawl --distributed ... --store ...` (the N-th worker). The crawl time
is from the coordinator's spawn until it sets the run's `done` key in Redis (so it includes
start-up, not the verdicts/graph/bundle that follow). Printed per worker count: probes,
crawl seconds, probes/s, speed-up over 1 worker, CPU seconds of all hulian processes per
probe (the per-worker cost), and Redis commands per probe (the frontier's cost), from which
the scaling on N machines is estimated. Exits 0 either way.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import crawl as site_bench  # type: ignore[import-not-found]  # bench/crawl.py, on sys.path above

PG_BIN = Path(os.environ.get("HULIAN_PG_BIN", "/usr/lib/postgresql/15/bin"))
WORKER = [site_bench.PYTHON, "-m", "audit.cli", "worker"]


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = site_bench.free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", str(workdir)],
                              stdout=subprocess.DEVNULL)
    site_bench.wait_for_port(port)
    return server, f"redis://127.0.0.1:{port}/0"


def start_postgres(base: Path) -> tuple[list[str], Path, str]:
    run_as = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    if run_as:
        shutil.chown(base, "nobody")
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    subprocess.run([*run_as, str(PG_BIN / "initdb"), "-D", str(base / "data"), "-U", "hulian",
                    "--auth=trust", "-E", "UTF8"], check=True, capture_output=True, env=env)
    port = site_bench.free_port()
    subprocess.run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(base / "data"), "-w", "-l",
                    str(base / "log"), "-o", f"-h 127.0.0.1 -p {port} -k {base}", "start"],
                   check=True, capture_output=True, env=env)
    return run_as, base, f"postgresql+psycopg://hulian@127.0.0.1:{port}/postgres"


def redis_commands(client: object) -> int:
    return int(client.info("stats")["total_commands_processed"])  # type: ignore[attr-defined]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(n: int, args: argparse.Namespace, policies: Path, workdir: Path, redis_url: str,
             store: str) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(redis_url)
    run_id = f"w{n}"
    c = str(args.concurrency)
    workers = [subprocess.Popen(
        [*WORKER, "--distributed", redis_url, "--store", store, "--run-id", run_id,
         "--evidence", str(workdir / "evidence")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n - 1)]
    time.sleep(0.5)  # let them import; they then poll for the run
    commands0, cpu0 = redis_commands(client), children_cpu()
    started = time.monotonic()
    coordinator = subprocess.Popen(
        [site_bench.HULIAN, "--policies", str(policies), "crawl", "--source", "benchsite",
         "--allow-private", "--robots", "ignore", "--concurrency", c, "--per-host", c,
         "--out", str(workdir / "runs"), "--run-id", run_id, "--json", "--report-format", "",
         "--distributed", redis_url, "--store", store],
        stdout=subprocess.PIPE, stderr=(workdir / f"{run_id}.log").open("w"), text=True,
        env={**os.environ, "HULIAN_DB": "off"})
    done_key = f"hulian:{run_id}:done"
    crawl_s = None
    while coordinator.poll() is None:
        if crawl_s is None and client.exists(done_key):
            crawl_s = time.monotonic() - started
            commands = redis_commands(client) - commands0
        time.sleep(0.02)
    out, _ = coordinator.communicate()
    for w in workers:
        w.wait(60)
    if crawl_s is None:
        raise RuntimeError(f"{n} workers: the run did not finish (exit {coordinator.returncode})")
    summary = json.loads(out)
    probes = int(summary["observations"])
    manifest = json.loads((workdir / "runs" / run_id / "manifest.json").read_text())
    shares = sorted((int(w["observations"]) for w in
                     manifest["config"]["distributed"]["workers"].values()), reverse=True)
    rerun = (workdir / f"{run_id}.log").read_text().count("re-running")
    return {"workers": n, "probes": probes, "seconds": crawl_s, "probes_s": probes / crawl_s,
            "cpu_per_probe_ms": 1000 * (children_cpu() - cpu0) / probes,
            "redis_per_probe": commands / probes, "shares": shares, "rerun": rerun}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--links", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    for tool in ("nginx", "redis-server"):
        if not shutil.which(tool):
            print(f"{tool} is needed (apt-get install -y {tool})", file=sys.stderr)
            return 1
    workdir = Path(tempfile.mkdtemp(prefix="hulian-bench-dist-"))
    os.chmod(workdir, 0o755)  # nginx workers drop root and must read the site
    pg_base = Path(tempfile.mkdtemp(prefix="hulian-bench-pg-"))
    port = site_bench.free_port()
    site = site_bench.generate_site(workdir / "site", port, args.pages, args.links)
    policies = site_bench.write_policies(workdir / "policies", port, args.pages)
    conf = site_bench.write_nginx_conf(workdir / "nginx", workdir / "site", port)
    nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(workdir / "nginx"),
                              "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    redis_server, redis_url = start_redis(workdir)
    run_as, pg_base, store = start_postgres(pg_base)
    results = []
    try:
        site_bench.wait_for_port(port)
        print(f"site: {site['pages']} posts × {args.links} links, {site['targets_linked']} "
              f"distinct targets; nproc {os.cpu_count()}", flush=True)
        for n in (int(x) for x in args.workers.split(",")):
            result = run_once(n, args, policies, workdir, redis_url, store)
            results.append(result)
            print(f"  {n} worker(s): {result['probes']:.0f} probes in "
                  f"{result['seconds']:.1f} s = {result['probes_s']:.1f} probes/s; "
                  f"observations per worker {result['shares']}; dead-worker re-runs "
                  f"{result['rerun']}", flush=True)
    finally:
        nginx.terminate()
        redis_server.terminate()
        subprocess.run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(pg_base / "data"), "-m",
                        "immediate", "stop"], capture_output=True, check=False)
        nginx.wait(10)
        redis_server.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(pg_base, ignore_errors=True)
    if not results:
        return 0
    base = results[0]["probes_s"]
    print()
    print(f"{'workers':>8}{'probes':>8}{'seconds':>9}{'probes/s':>10}{'speed-up':>10}"
          f"{'CPU ms/probe':>14}{'Redis cmds/probe':>18}")
    for r in results:
        print(f"{r['workers']:>8.0f}{r['probes']:>8.0f}{r['seconds']:>9.1f}"
              f"{r['probes_s']:>10.1f}{r['probes_s'] / base:>10.2f}"
              f"{r['cpu_per_probe_ms']:>14.1f}{r['redis_per_probe']:>18.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
