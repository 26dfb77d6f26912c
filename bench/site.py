"""Scale benchmark of the static site (issue 18): `hulian site build` of a history store of
100 runs × 10,000 observations from scratch, then the incremental rebuild after one new run,
and the largest files the site holds.

    .venv/bin/python bench/site.py [--runs 100] [--observations 10000] [--edges 1200]
        [--dir DIR] [--baseline CHECKOUT]

The history is made through the real recording path, with bundles: each run is a sealed
bundle (audit/evidence/bundle.py's writer, the shipped policies' per-observation verdicts,
Parquet tables, as tests/reportruns.py writes them) recorded into a SQLite store by
`record_run`, as `hulian runs import` does. Bundles, because the site reads them too: the run
pages list the bundle's files and hashes, copy its reports and show its review queue (read
from observations.jsonl), and the names come from the latest bundle's policies.

The runs are tests/siteruns.py's (shared with tests/test_site_scale.py): tests/scaleruns.py's
audit (bench/graph.py's) on the shipped catalog's platforms, one audit of E edges, the same
in every run, and per run 3 % of the observations drawn again (so runs differ: changes,
regressions, requirement streaks) and 2 % left `unrecognized` (a review queue of ~200 per
run). Generated once into DIR (reused when DIR is given again: history-N.db plus the
bundles; not timed). A history generated before the store kept each run's aggregates
(migration 0005) gets them once, untimed, through the store's backfill (the aggregator
`record_run` uses), as a build would on its first read.

Measured, each in its own process (peak RSS = that process's VmHWM; the time of build()
itself, and of the whole process with its imports; the process's CPU time, for a loaded
machine; the build's own counters: runs read from the store, pages rendered and skipped,
bundles read for evidence, diffs computed, aggregates backfilled):
  full         build() into an empty directory from the store of N runs
  incremental  one more run recorded, build() into the same site
  [baseline]   with --baseline CHECKOUT, the same two builds by that checkout's code on the
               same store, side by side (e.g. `git worktree add /tmp/base <commit>`)
Each build also reports where its time went (the builder's steps wrapped with timers, by
name), then the largest page (.html), the largest file, each api/v1 table and the search
index.
Targets: full < 60 s, incremental < 10 s, no page over 2 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGE_LIMIT = 2 * 1024 * 1024


def _peak_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return 0


def history(root: Path, n_runs: int, n_obs: int, n_edges: int) -> Path:
    """root/history-N.db of N runs and N+1 bundles under root/runs (the last one is the run
    the incremental rebuild adds), made once: reused when root holds them."""
    from audit.history.store import open_engine
    from tests.siteruns import write_history

    store = root / f"history-{n_runs}.db"
    if store.is_file():
        backfill(store)
        return store
    runs = root / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    tmp = root / "history.tmp.db"
    tmp.unlink(missing_ok=True)
    engine = open_engine(f"sqlite:///{tmp}")
    write_history(runs, n_runs, n_obs, n_edges, engine, extra=1, progress=True)
    engine.dispose()
    tmp.rename(store)
    return store


def backfill(store: Path) -> None:
    """A history made before the store kept each run's aggregates (migration 0005) gets
    them here, once, untimed: through audit.history.store.backfill_aggregates, the
    aggregator `record_run` feeds while it records a run (what a build would otherwise do
    on its first read of each run)."""
    from audit.history.store import backfill_aggregates, missing_aggregates, open_engine

    engine = open_engine(f"sqlite:///{store}")
    missing = missing_aggregates(engine)
    if missing:
        started = time.perf_counter()
        for run_id in missing:
            backfill_aggregates(engine, run_id)
        print(f"aggregates of {len(missing)} runs recorded before the store kept them "
              f"computed from their rows in {time.perf_counter() - started:.0f} s (once)",
              file=sys.stderr, flush=True)
    engine.dispose()


def _timed_parts(build_module: Any) -> dict[str, float]:
    """Where a build's time goes: the builder's own steps wrapped with timers (by name, so
    a checkout without one of them just does not report it). Nested steps are counted in
    their own line and in their caller's."""
    import functools

    seconds: dict[str, float] = {}
    steps = {"read runs (store or cache)": ("History", "snapshot"),
             "latest run's findings": ("History", "details"),
             "diffs": (None, "_diffs"), "evidence data (bundles)": (None, "_evidence"),
             "all pages and files": (None, "_write"),
             "platform pages": (None, "_platform_page"), "run pages": (None, "_run_page")}
    for label, (cls, name) in steps.items():
        owner = getattr(build_module, cls, None) if cls else build_module
        fn = getattr(owner, name, None)
        if fn is None:
            continue

        def wrap(fn: Any, label: str) -> Any:
            @functools.wraps(fn)
            def timed(*a: Any, **k: Any) -> Any:
                started = time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - started
            return timed

        setattr(owner, name, wrap(fn, label))
    writer = getattr(build_module, "_Writer", None)
    if writer is not None:
        page = writer.page

        def timed_page(self: Any, template: str, path: str, context: Any) -> None:
            started = time.perf_counter()
            page(self, template, path, context)
            key = f"render {template}"
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - started

        writer.page = timed_page
    return seconds


def phase(args: argparse.Namespace) -> dict[str, Any]:
    """One build in this process, by the code under --code."""
    sys.path.insert(0, str(Path(args.code).resolve()))
    started = time.perf_counter()
    import audit.site.build as build_module

    parts = _timed_parts(build_module)
    imported = time.perf_counter()
    result = build_module.build(Path(args.out), f"sqlite:///{args.store}")
    done = time.perf_counter()
    cpu = os.times()
    return {"build_s": round(done - imported, 2), "process_s": round(done - started, 2),
            "cpu_s": round(cpu.user + cpu.system, 2),
            "peak_rss_mb": _peak_mb(), "runs": len(result.runs), "read": len(result.read),
            "written": len(result.written), "pages": result.pages,
            "skipped": len(getattr(result, "skipped", [])),
            "backfilled": len(getattr(result, "backfilled", [])),
            "evidence_read": len(getattr(result, "evidence_read", [])),
            "diffed": len(getattr(result, "diffed", [])),
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "parts": {k: round(v, 2) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])}}


def measure(name: str, code: Path, store: Path, out: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--phase", name, "--code", str(code), "--store",
               str(store), "--out", str(out)]
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed (exit {proc.returncode})")
    result: dict[str, Any] = {"phase": name, "code": str(code),
                              **json.loads(proc.stdout.strip().splitlines()[-1])}
    print(f"  {name:<24} build {result['build_s']:7.2f} s  process {result['process_s']:7.2f}"
          f" s  CPU {result['cpu_s']:7.2f} s  peak RSS {result['peak_rss_mb']:5d} MB  runs read "
          f"{result['read']:3d}  files written {result['written']}  pages rendered "
          f"{result['pages']} (skipped {result['skipped']})  bundles read for evidence "
          f"{result['evidence_read']}  diffs computed {result['diffed']}  aggregates "
          f"backfilled {result['backfilled']}  load average after {result['load_after']}",
          file=sys.stderr, flush=True)
    for part, seconds in result["parts"].items():
        print(f"      {part:<34} {seconds:7.2f} s", file=sys.stderr, flush=True)
    return result


def sizes(site: Path) -> dict[str, Any]:
    files = [p for p in site.rglob("*") if p.is_file() and ".build" not in p.parts]
    pages = [p for p in files if p.suffix == ".html"]
    largest = max(pages, key=lambda p: p.stat().st_size)
    biggest = max(files, key=lambda p: p.stat().st_size)
    api = site / "api" / "v1"
    return {"files": len(files), "pages": len(pages),
            "total_mb": round(sum(p.stat().st_size for p in files) / 2**20, 1),
            "largest_page": [largest.relative_to(site).as_posix(), largest.stat().st_size],
            "largest_file": [biggest.relative_to(site).as_posix(), biggest.stat().st_size],
            "pages_over_2mb": sum(p.stat().st_size > PAGE_LIMIT for p in pages),
            "search_index": (site / "search-index.js").stat().st_size,
            "api": {p.name: p.stat().st_size for p in sorted(api.glob("*.json"))}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--observations", type=int, default=10_000)
    parser.add_argument("--edges", type=int, default=1200)
    parser.add_argument("--dir", type=Path, help="generate the history here, or reuse it")
    parser.add_argument("--baseline", type=Path, help="another checkout, measured on the "
                        "same store side by side")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--code", default=str(ROOT), help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args)))
        return

    sys.path.insert(0, str(ROOT))
    from audit.history.store import open_engine, record_run

    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on "
          f"{os.cpu_count()} CPUs", file=sys.stderr, flush=True)
    root = args.dir or Path(tempfile.mkdtemp(prefix="hulian-bench-site-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        pristine = history(root, args.runs, args.observations, args.edges)
        print(f"history of {args.runs} runs × {args.observations:,} observations ready in "
              f"{time.perf_counter() - t0:.0f} s under {root}", file=sys.stderr, flush=True)
        last = root / "runs" / f"site-{args.runs:03d}"
        results: list[dict[str, Any]] = []
        codes = [("", ROOT)] + ([("baseline ", args.baseline)] if args.baseline else [])
        for label, code in codes:
            work = root / "work"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            store = work / "history.db"
            shutil.copyfile(pristine, store)
            site = work / "site"
            full = measure(f"{label}full", code, store, site)
            engine = open_engine(f"sqlite:///{store}")
            record_run(last, engine=engine)
            engine.dispose()
            incremental = measure(f"{label}incremental", code, store, site)
            results.append({"code": str(code), "full": full, "incremental": incremental,
                            "sizes": sizes(site)})
        for r in results:
            print(json.dumps(r, ensure_ascii=False))
        for r in results:
            s = r["sizes"]
            print(f"\n{r['code']}: {args.runs} runs × {args.observations:,} observations: full "
                  f"build {r['full']['build_s']} s (peak RSS {r['full']['peak_rss_mb']} MB), "
                  f"incremental after one run {r['incremental']['build_s']} s (peak RSS "
                  f"{r['incremental']['peak_rss_mb']} MB, {r['incremental']['read']} run "
                  f"read); {s['pages']} pages, largest {s['largest_page'][0]} "
                  f"{s['largest_page'][1] / 2**20:.2f} MB, {s['pages_over_2mb']} over 2 MB; "
                  f"largest file {s['largest_file'][0]} {s['largest_file'][1] / 2**20:.2f} MB")
        if len(results) > 1:
            new, old = results
            full = old["full"]["build_s"] / new["full"]["build_s"]
            incremental = old["incremental"]["build_s"] / new["incremental"]["build_s"]
            print(f"ratio baseline/this: full {full:.1f}x, incremental {incremental:.1f}x")
    finally:
        if args.dir:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
