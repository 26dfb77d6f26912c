"""Per-observation rules benchmark: a bundle's observations read (Bundle.observations(), one
pydantic model a line) and judged by the catalog's observation rules (audit.judge.evaluate,
as `iter_verdicts` judges a run), each verdict serialised as the bundle writer writes it.

    .venv/bin/python bench/evaluate.py [--observations 200000] [--baseline /tmp/base]
        [--run BUNDLE] [--keep]

The bundle is tests/reportruns.py's synthetic run (real catalog platforms, every outcome;
generated first, not timed) unless --run names one (e.g. a run bench/report.py --keep left).
Each phase runs in its own subprocess, for this
checkout and, with --baseline CHECKOUT, another one, on the same bundle in the same run:

  read       the observations read, nothing judged (what any judging pays first)
  evaluate   read + judged + each verdict serialised (model_dump_json): Observation objects
  table      the run's observations table judged by DuckDB and written as JSON lines
             (audit.judge.table_verdicts, as a run is judged; this checkout only)

Figures: seconds, microseconds an observation, verdicts, peak RSS (VmHWM) of each phase.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # bench.phases; a measured checkout goes first

from bench.phases import peak_mb, run_phase  # noqa: E402


def table_phase(run: Path) -> dict[str, Any]:
    from audit.evidence.sql import run_tables
    from audit.judge.table_verdicts import write_observation_verdicts
    from audit.policy.catalog import load_catalog, policy_dirs

    catalog = load_catalog(policy_dirs())
    out = Path(tempfile.mkdtemp(prefix="hulian-bench-verdicts-")) / "verdicts.jsonl"
    try:
        started = time.perf_counter()
        with out.open("wb") as fh, run_tables(run, verdicts=False) as tables:
            counts = write_observation_verdicts(tables, catalog, fh)
            seconds = time.perf_counter() - started
            count = tables.all("SELECT count(*) FROM observations")[0][0]
        digest = hashlib.sha256()
        with out.open("rb") as fh:
            while block := fh.read(1 << 24):
                digest.update(block)
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    return {"phase": "table", "observations": count, "verdicts": sum(counts.values()),
            "verdicts_sha256": digest.hexdigest(), "seconds": round(seconds, 2),
            "us_per_observation": round(seconds / max(count, 1) * 1e6, 1),
            "peak_rss_mb": peak_mb()}


def phase(name: str, run: Path) -> dict[str, Any]:
    if name == "table":
        return table_phase(run)
    from audit.evidence.bundle import Bundle
    from audit.judge.evaluate import evaluate
    from audit.policy.catalog import load_catalog, policy_dirs

    catalog = load_catalog(policy_dirs())
    observations = Bundle(run).observations()
    started = time.perf_counter()
    count = verdicts = 0
    digest = hashlib.sha256()
    if name == "read":
        for _ in observations:
            count += 1
    else:
        def counted() -> Any:
            nonlocal count
            for observation in observations:
                count += 1
                yield observation

        for verdict in evaluate(counted(), catalog):
            verdicts += 1
            digest.update(verdict.model_dump_json().encode() + b"\n")
    seconds = time.perf_counter() - started
    return {"phase": name, "observations": count, "verdicts": verdicts,
            "verdicts_sha256": digest.hexdigest(), "seconds": round(seconds, 2),
            "us_per_observation": round(seconds / max(count, 1) * 1e6, 1),
            "peak_rss_mb": peak_mb()}


def measure(name: str, run: Path, code: Path) -> dict[str, Any]:
    return run_phase([sys.executable, __file__, "--phase", name, "--run", str(run), "--code",
                      str(code)], name, code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--observations", type=int, default=200_000)
    parser.add_argument("--run", type=Path, help="judge this bundle instead of generating one")
    parser.add_argument("--baseline", type=Path,
                        help="another checkout to measure side by side (e.g. /tmp/base)")
    parser.add_argument("--keep", action="store_true", help="keep the generated bundle")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        sys.path.insert(0, str(args.code.resolve()))  # the code measured
        print(json.dumps(phase(args.phase, args.run)))
        return

    sys.path.insert(0, str(ROOT))
    root = None
    run = args.run
    try:
        if run is None:
            from audit.evidence.bundle import BundleWriter
            from audit.policy.catalog import load_catalog, policy_dirs
            from tests.reportruns import synthetic_observations

            root = Path(tempfile.mkdtemp(prefix="hulian-bench-evaluate-"))
            t0 = time.perf_counter()
            catalog = load_catalog(policy_dirs())
            writer = BundleWriter(root, run_id="evaluate", policy_digest=catalog.digest,
                                  config={})
            for observation in synthetic_observations(args.observations):
                writer.add_observation(observation)
            writer.finish()
            run = writer.path
            print(f"generated {args.observations:,} observations in "
                  f"{time.perf_counter() - t0:.1f} s under {root}", file=sys.stderr)
        codes = [ROOT] + ([args.baseline] if args.baseline else [])
        results = [measure(name, run, code)
                   for code in codes for name in ("read", "evaluate")]
        table = measure("table", run, ROOT)
        for result in [*results, table]:
            print(json.dumps(result))
        for code in codes:
            read, judged = (r for r in results if r["code"] == str(code))
            print(f"{code}: {judged['observations']:,} observations, "
                  f"{judged['verdicts']:,} verdicts: read {read['seconds']} s "
                  f"({read['us_per_observation']} us each), read + judged "
                  f"{judged['seconds']} s ({judged['us_per_observation']} us each; the rules "
                  f"{judged['us_per_observation'] - read['us_per_observation']:.1f} us), "
                  f"peak RSS {judged['peak_rss_mb']} MB")
        objects = results[1]
        print(f"table (DuckDB): {table['seconds']} s ({table['us_per_observation']} us an "
              f"observation), peak RSS {table['peak_rss_mb']} MB; the objects' verdicts byte "
              f"for byte: {table['verdicts_sha256'] == objects['verdicts_sha256']}; ratio "
              f"{objects['seconds'] / table['seconds']:.2f}x (objects read + judged / table)")
        if args.baseline:
            new, old = results[1], results[3]
            print(f"the same verdicts, byte for byte: "
                  f"{new['verdicts_sha256'] == old['verdicts_sha256']}; ratio "
                  f"{old['seconds'] / new['seconds']:.2f}x (read + judged)")
    finally:
        if root is not None:
            if args.keep:
                print(f"kept {root}", file=sys.stderr)
            else:
                shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
