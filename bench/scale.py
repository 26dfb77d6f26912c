"""Scale benchmark (issue 16): the cross-target rules, the graph, its metrics and its exports
of a synthetic audit of 1,000,000 observations, computed by DuckDB over the run's Parquet
table (this checkout) and, side by side in the same run, by a checkout with every
observation held as a Python object (--baseline, e.g. the code before issue 16:
`git worktree add /tmp/base <commit>`).

    .venv/bin/python bench/scale.py [--observations 1000000] [--platforms 2000]
        [--companies 200] [--edges 400000] [--baseline /tmp/base] [--previous /tmp/prev]
        [--keep] [--dir DIR]

The audit is tests/scaleruns.py's (bench/graph.py's audit, plus targets recorded without a
platform and phishing blocks): generated once, written as observations.jsonl and built into
observations.parquet (not timed: a run writes them as it goes). Each measured phase runs in
its own subprocess (its peak RSS is that process's VmHWM):

  columnar   this checkout: iter_graph_verdicts over the Parquet table, each verdict written
             as it comes, as a bundle writes them (verdicts.jsonl, then verdicts.parquet:
             one step, since the two interleave); build() over both
             tables; metrics(); graph.graphml and graph.gexf (streamed element by element,
             audit/graph/export.py) and the node-link JSON (streamed), into files
  objects    the --baseline checkout: the observations read into Observation objects (not
             timed, but their memory counts: the old pipeline holds them), then
             evaluate_graph_rules, build, metrics and the same three exports (as that
             checkout writes them)

Not measured here: the per-observation rules (audit/judge/evaluate.py: in Python, one
observation at a time as a run is judged; the README's architecture section says why) and
the report (bench/report.py).
Targets: 1,000,000 observations < 60 s, peak RSS < 1.5 GB; 10,000,000 observations
(`--observations 10000000`: 4.1 GB of JSON lines, ~12 GB of disk with both phases' outputs)
< 10 minutes, peak RSS < 2 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # bench.phases; a measured checkout goes first

from bench.phases import audit_size_options  # noqa: E402


def _peak_mb() -> int:
    """This process's peak RSS: VmHWM of its own memory (ru_maxrss would start from the
    parent's size at the fork that started it, kept across exec by Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


class Steps:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.total = 0.0

    def __call__(self, name: str, fn: Any, timed: bool = True) -> Any:
        started = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - started
        self.seconds[name] = round(seconds, 2)
        if timed:
            self.total += seconds
        print(f"  {name:<28} {seconds:8.2f} s   peak RSS {_peak_mb():6d} MB", file=sys.stderr,
              flush=True)
        return value


def _scaleruns() -> Any:
    """tests/scaleruns.py of this checkout (a baseline checkout may not have it), on the
    models of the checkout measured."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("scaleruns", ROOT / "tests" / "scaleruns.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scaleruns"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def phase(name: str, run: Path, args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(args.code.resolve()))  # the code measured
    steps = Steps()
    catalog = steps("catalog", lambda: _scaleruns().synthetic_catalog(
        args.platforms, args.companies), timed=False)
    out = run / f"out-{name}-{args.code.resolve().name}"
    out.mkdir(exist_ok=True)
    if name == "columnar":
        from audit.evidence import columnar
        from audit.evidence.sql import RunTables
        from audit.graph.build import build, metrics, write_export, write_graphml
        from audit.judge.cross import iter_graph_verdicts

        parquet = run / "observations.parquet"

        def rules_to_table() -> tuple[Path, int]:
            # As finish_run does: each verdict written as it comes, none held.
            lines, count = out / "verdicts.jsonl", 0
            with RunTables(parquet) as tables, lines.open("w", encoding="utf-8") as fh:
                for verdict in iter_graph_verdicts(tables, catalog):
                    fh.write(verdict.model_dump_json() + "\n")
                    count += 1
            return columnar.build(lines, "synthetic"), count

        verdict_table, n_verdicts = steps("cross-target rules + table", rules_to_table)

        def graph_of() -> Any:
            with RunTables(parquet, verdict_table) as tables:
                return build(tables, None, catalog)

        graph = steps("build graph", graph_of)
        data = steps("metrics (both levels)", lambda: metrics(graph, catalog))
        steps("export graphml", lambda: write_graphml(graph, out / "graph.graphml"))
        steps("export gexf", lambda: write_export(graph, "gexf", out / "graph.gexf"))
        steps("export json (node-link)", lambda: write_export(graph, "json",
                                                              out / "graph.json"))
    else:
        from audit.graph.build import build, export, metrics, write_graphml
        from audit.judge.cross import evaluate_graph_rules
        from audit.model import BlockReason, Observation, Outcome, SurfaceKind

        def load() -> list[Any]:
            import orjson

            construct = Observation.model_construct
            with (run / "observations.jsonl").open("rb") as fh:
                return [construct(**{**r, "surface": SurfaceKind(r["surface"]),
                                     "outcome": Outcome(r["outcome"]),
                                     "reason": BlockReason(r["reason"]) if r["reason"]
                                     else None})
                        for r in map(orjson.loads, fh)]

        observations = steps("read observations (untimed)", load, timed=False)
        verdicts = steps("cross-target rules",
                         lambda: evaluate_graph_rules(observations, catalog))
        n_verdicts = len(verdicts)
        graph = steps("build graph", lambda: build(observations, verdicts, catalog))
        data = steps("metrics (both levels)", lambda: metrics(graph, catalog))
        steps("export graphml", lambda: write_graphml(graph, out / "graph.graphml"))
        steps("export gexf", lambda: (out / "graph.gexf").write_text(
            export(graph, "gexf"), encoding="utf-8"))
        steps("export json (node-link)", lambda: (out / "graph.json").write_text(
            export(graph, "json"), encoding="utf-8"))
    sizes = {p.name: p.stat().st_size for p in out.iterdir()}
    return {"phase": name, "code": str(args.code), "steps": steps.seconds,
            "total_s": round(steps.total, 2), "peak_rss_mb": _peak_mb(),
            "verdicts": n_verdicts, "nodes": graph.number_of_nodes(),
            "edges": graph.number_of_edges(),
            "detours": data["platform"]["detours"]["detour_count"], "files": sizes}


def measure(name: str, run: Path, code: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--phase", name, "--run", str(run), "--code",
               str(code), "--platforms", str(args.platforms), "--companies",
               str(args.companies)]
    print(f"{name} ({code}):", file=sys.stderr, flush=True)
    proc = subprocess.run(command, capture_output=False, stdout=subprocess.PIPE, text=True,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    audit_size_options(parser)
    parser.add_argument("--baseline", type=Path, help="a checkout holding observations as "
                        "Python objects, measured side by side (e.g. /tmp/base)")
    parser.add_argument("--previous", type=Path, help="also the columnar phase with another "
                        "checkout's code (e.g. before an optimisation), side by side")
    parser.add_argument("--keep", action="store_true", help="keep the generated run")
    parser.add_argument("--dir", type=Path, help="generate the run here, or reuse the one "
                        "there (kept)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.run, args)))
        return

    sys.path.insert(0, str(ROOT))
    from tests.scaleruns import synthetic_records, write_observations

    root = args.dir or Path(tempfile.mkdtemp(prefix="hulian-bench-scale-"))
    try:
        if not (root / "observations.parquet").is_file():
            t0 = time.perf_counter()
            write_observations(root, synthetic_records(args.platforms, args.edges,
                                                       args.observations))
            print(f"generated {args.observations:,} observations in "
                  f"{time.perf_counter() - t0:.1f} s under {root}", file=sys.stderr)
        results = [measure("columnar", root, ROOT, args)]
        if args.baseline:
            results.append(measure("objects", root, args.baseline, args))
        previous = measure("columnar", root, args.previous, args) if args.previous else None
        for r in results + ([previous] if previous else []):
            print(json.dumps(r, ensure_ascii=False))
        new = results[0]
        line = (f"\n{args.observations:,} observations: DuckDB {new['total_s']} s, peak RSS "
                f"{new['peak_rss_mb']} MB ({new['verdicts']:,} cross-target verdicts, "
                f"{new['edges']:,} edges)")
        if len(results) > 1:
            old = results[1]
            same = all(new[k] == old[k] for k in ("verdicts", "nodes", "edges", "detours"))
            line += (f"; objects ({args.baseline}) {old['total_s']} s, peak RSS "
                     f"{old['peak_rss_mb']} MB; ratio {old['total_s'] / new['total_s']:.1f}x "
                     f"time, {old['peak_rss_mb'] / new['peak_rss_mb']:.1f}x memory; same "
                     f"counts: {same}")
        if previous:
            same = all(new[k] == previous[k] for k in ("verdicts", "nodes", "edges", "detours"))
            line += (f"\nprevious columnar ({args.previous}) {previous['total_s']} s, peak RSS "
                     f"{previous['peak_rss_mb']} MB; ratio "
                     f"{previous['total_s'] / new['total_s']:.2f}x time; same counts: {same}")
        print(line)
    finally:
        if args.keep or args.dir:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
