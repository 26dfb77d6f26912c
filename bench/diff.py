"""`hulian diff` benchmark: what a diff and a schedule's regression alert read of a bundle
(audit.history.rundata.from_bundle: edge counts, requirement statuses per source, findings,
the graph's metrics), timed on one run, this checkout against another side by side.

    .venv/bin/python bench/diff.py [--observations 100000] [--baseline /tmp/base]
        [--runs DIR] [--keep]

The run is tests/reportruns.py's (as bench/report.py's: real catalog platforms, every
outcome, verdicts from the shipped policies), generated first (not timed); --runs DIR takes
the runs bench/report.py --keep left in DIR (its `big` run) instead. Each measurement runs in
its own subprocess: its time and its peak RSS (VmHWM) are that process's, imports included.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # bench.phases; a measured checkout goes first

from bench.phases import peak_mb, run_phase  # noqa: E402


def phase(run: Path) -> dict[str, object]:
    from audit.history.rundata import from_bundle

    started = time.perf_counter()
    summary = from_bundle(run)
    return {"seconds": round(time.perf_counter() - started, 2), "peak_rss_mb": peak_mb(),
            "edges": len(summary.edges), "findings": len(summary.findings)}


def measure(run: Path, code: Path) -> dict[str, object]:
    return run_phase([sys.executable, __file__, "--phase", "--run", str(run), "--code",
                      str(code)], "from_bundle", code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--observations", type=int, default=100_000)
    parser.add_argument("--baseline", type=Path, help="another checkout, side by side")
    parser.add_argument("--runs", type=Path, help="bench/report.py --keep's directory")
    parser.add_argument("--keep", action="store_true", help="keep the generated run")
    parser.add_argument("--phase", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        sys.path.insert(0, str(args.code.resolve()))
        print(json.dumps(phase(args.run)))
        return

    sys.path.insert(0, str(ROOT))
    from audit.policy.catalog import load_catalog, policy_dirs
    from tests.reportruns import synthetic_observations, write_run

    root = args.runs or Path(tempfile.mkdtemp(prefix="hulian-bench-diff-"))
    try:
        if args.runs:
            run = root / "big"
        else:
            t0 = time.perf_counter()
            run = write_run(root, "big", synthetic_observations(args.observations),
                            load_catalog(policy_dirs()))
            print(f"generated the run in {time.perf_counter() - t0:.1f} s under {root}",
                  file=sys.stderr)
        results = [measure(run, ROOT)]
        if args.baseline:
            results.append(measure(run, args.baseline))
        for result in results:
            print(json.dumps(result))
        if args.baseline:
            new, old = results
            print(f"\nfrom_bundle: {new['seconds']} s (peak {new['peak_rss_mb']} MB) against "
                  f"{old['seconds']} s (peak {old['peak_rss_mb']} MB) for {args.baseline}")
    finally:
        if args.keep or args.runs:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
