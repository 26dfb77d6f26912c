"""Per-observation rules benchmark: a bundle's observations judged by the catalog's
observation rules over the run's table, as a run is judged (audit.judge.table_verdicts), and
as Observation objects (Bundle.observations(), one pydantic model a line, judged by
audit.judge.evaluate and each verdict serialised as the bundle writer writes it).

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
  parquet    verdicts.parquet built from the table phase's lines (columnar.build), in each
             checkout

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


def table_phase(run: Path, lines: Path) -> dict[str, Any]:
    from audit.evidence.bundle import verdicts_writing
    from audit.evidence.sql import run_tables
    from audit.judge.table_verdicts import write_observation_verdicts
    from audit.policy.catalog import load_catalog, policy_dirs

    catalog = load_catalog(policy_dirs())
    started = time.perf_counter()
    with (verdicts_writing(lines, "bench", parquet=lines.with_name("made.parquet"))
          as (out, table), run_tables(run, verdicts=False) as tables):
        counts = write_observation_verdicts(tables, catalog, out, table)
        seconds = time.perf_counter() - started
        count = tables.all("SELECT count(*) FROM observations")[0][0]
    digest = hashlib.sha256()
    with lines.open("rb") as fh:
        while block := fh.read(1 << 24):
            digest.update(block)
    return {"phase": "table", "observations": count, "verdicts": sum(counts.values()),
            "verdicts_sha256": digest.hexdigest(), "seconds": round(seconds, 2),
            "us_per_observation": round(seconds / max(count, 1) * 1e6, 1),
            "peak_rss_mb": peak_mb()}


def parquet_phase(lines: Path) -> dict[str, Any]:
    from audit.evidence import columnar

    dest = lines.with_name("built.parquet")
    started = time.perf_counter()
    columnar.build(lines, "bench", dest)
    seconds = time.perf_counter() - started
    size = dest.stat().st_size
    dest.unlink()
    return {"phase": "parquet", "seconds": round(seconds, 2), "parquet_mb": size >> 20,
            "lines_mb": lines.stat().st_size >> 20, "peak_rss_mb": peak_mb()}


def phase(name: str, run: Path, lines: Path | None) -> dict[str, Any]:
    if name == "table":
        assert lines is not None
        return table_phase(run, lines)
    if name == "parquet":
        return parquet_phase(run)
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


def measure(name: str, run: Path, code: Path, lines: Path | None = None) -> dict[str, Any]:
    return run_phase([sys.executable, __file__, "--phase", name, "--run", str(run), "--code",
                      str(code)] + (["--lines", str(lines)] if lines else []), name, code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--observations", type=int, default=200_000)
    parser.add_argument("--run", type=Path, help="judge this bundle instead of generating one")
    parser.add_argument("--baseline", type=Path,
                        help="another checkout to measure side by side (e.g. /tmp/base)")
    parser.add_argument("--keep", action="store_true", help="keep the generated bundle")
    parser.add_argument("--table-only", action="store_true",
                        help="the table phase (and the Parquet built from its lines) only: no "
                             "Observation objects (~14 minutes each at ten million)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--lines", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        sys.path.insert(0, str(args.code.resolve()))  # the code measured
        print(json.dumps(phase(args.phase, args.run, args.lines)))
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
        scratch = Path(tempfile.mkdtemp(prefix="hulian-bench-verdicts-"))
        try:
            lines = scratch / "verdicts.jsonl"
            table = measure("table", run, ROOT, lines)
            # The verdicts table built from those lines, as a run's is once judged.
            built = [measure("parquet", lines, code) for code in codes]
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        results = [] if args.table_only else [
            measure(name, run, code) for code in codes for name in ("read", "evaluate")]
        for result in [table, *built, *results]:
            print(json.dumps(result))
        print(f"table (DuckDB): {table['observations']:,} observations, "
              f"{table['verdicts']:,} verdicts in {table['seconds']} s "
              f"({table['us_per_observation']} us an observation), peak RSS "
              f"{table['peak_rss_mb']} MB")
        for result in built:
            print(f"{result['code']}: verdicts.parquet ({result['parquet_mb']:,} MB) built from "
                  f"the {result['lines_mb']:,} MB of lines in {result['seconds']} s, peak RSS "
                  f"{result['peak_rss_mb']} MB")
        for code in codes if results else []:
            read, judged = (r for r in results if r["code"] == str(code))
            print(f"{code}: {judged['observations']:,} observations, "
                  f"{judged['verdicts']:,} verdicts: read {read['seconds']} s "
                  f"({read['us_per_observation']} us each), read + judged "
                  f"{judged['seconds']} s ({judged['us_per_observation']} us each; the rules "
                  f"{judged['us_per_observation'] - read['us_per_observation']:.1f} us), "
                  f"peak RSS {judged['peak_rss_mb']} MB")
        if results:
            objects = results[1]
            print(f"the table's verdicts are the objects' byte for byte: "
                  f"{table['verdicts_sha256'] == objects['verdicts_sha256']}; ratio "
                  f"{objects['seconds'] / table['seconds']:.2f}x (objects read + judged / table)")
        if results and args.baseline:
            new, old = results[1], results[3]
            print(f"the same verdicts, byte for byte: "
                  f"{new['verdicts_sha256'] == old['verdicts_sha256']}; ratio "
                  f"{old['seconds'] / new['seconds']:.2f}x (objects read + judged)")
    finally:
        if root is not None:
            if args.keep:
                print(f"kept {root}", file=sys.stderr)
            else:
                shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
