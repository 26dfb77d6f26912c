"""Graph export benchmark (issue 16, deliverable 4): GraphML and GEXF of bench/graph.py's
400,000-edge graph written by hulian's streaming writers (audit/graph/export.py, lxml's
incremental writer over the graph's items) and, side by side in the same run, by networkx's
writers as hulian called them before (a cleaned copy of the graph, then `nx.write_graphml`,
networkx's lxml writer, and `nx.write_gexf`, which builds the whole document).

    .venv/bin/python bench/export.py [--platforms 2000] [--companies 200] [--edges 400000]
        [--observations 1000000] [--dir DIR]

The audit is tests/scaleruns.py's (bench/scale.py's); its platform graph is built once from
the run's Parquet table (audit.graph.build over DuckDB, not timed) and pickled. Each writer
then runs in its own process: it loads the graph, resets its peak RSS (/proc/self/clear_refs),
writes the file and reports the time, the RSS before writing (the graph) and the peak while
writing (VmHWM). Prints the load average (`uptime`) before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.phases import audit_size_options  # noqa: E402

WRITERS = ["streamed graphml", "networkx graphml", "streamed gexf", "networkx gexf"]


def _status(field: str) -> int:
    """A /proc/self/status figure in MB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024)
    raise RuntimeError(f"no {field} in /proc/self/status")


def _networkx_copy(graph: Any) -> Any:
    """What hulian gave networkx's writers before: a copy of the graph with cleaned values
    (the old build._flat, which used the same cleaning)."""
    import networkx as nx

    from audit.graph.export import clean

    flat: Any = nx.DiGraph()
    flat.graph.update({k: v for k, v in graph.graph.items()
                       if isinstance(v, (str, int, float, bool))})
    for node, data in graph.nodes(data=True):
        flat.add_node(node, **{k: c for k, v in data.items() if (c := clean(v)) is not None})
    for s, t, data in graph.edges(data=True):
        flat.add_edge(s, t, **{k: c for k, v in data.items() if (c := clean(v)) is not None})
    return flat


def phase(name: str, graph_file: Path, out: Path) -> dict[str, Any]:
    import networkx as nx

    from audit.graph.build import write_export

    with graph_file.open("rb") as fh:
        graph = pickle.load(fh)
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS: the writer's peak alone
    started = time.perf_counter()
    cpu = time.process_time()
    fmt = name.split()[1]
    if name.startswith("streamed"):
        write_export(graph, fmt, out)
    elif fmt == "graphml":
        nx.write_graphml(_networkx_copy(graph), out, encoding="utf-8")
    else:
        nx.write_gexf(_networkx_copy(graph), out, encoding="utf-8")
    return {"writer": name, "seconds": round(time.perf_counter() - started, 1),
            "cpu_s": round(time.process_time() - cpu, 1), "rss_before_mb": before,
            "peak_mb": _status("VmHWM"), "bytes": out.stat().st_size,
            "edges": graph.number_of_edges()}


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    audit_size_options(parser)
    parser.add_argument("--dir", type=Path, help="generate the run and the graph here, or "
                        "reuse them (kept)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--graph", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.graph, args.out)))
        return
    root = args.dir or Path(tempfile.mkdtemp(prefix="hulian-bench-export-"))
    graph_file = root / "graph.pickle"
    try:
        if not graph_file.is_file():
            from audit.evidence.sql import RunTables
            from audit.graph.build import build
            from tests.scaleruns import synthetic_catalog, synthetic_records, write_observations

            t0 = time.perf_counter()
            if not (root / "observations.parquet").is_file():
                write_observations(root, synthetic_records(args.platforms, args.edges,
                                                           args.observations))
            with RunTables(root / "observations.parquet") as tables:
                graph = build(tables, None, synthetic_catalog(args.platforms, args.companies))
            with graph_file.open("wb") as fh:
                pickle.dump(graph, fh, protocol=pickle.HIGHEST_PROTOCOL)
            print(f"graph of {graph.number_of_edges():,} edges built in "
                  f"{time.perf_counter() - t0:.1f} s under {root}", file=sys.stderr, flush=True)
            del graph
        print(f"load before: {_uptime()}", flush=True)
        results = []
        for name in WRITERS:
            out = root / ("out-" + name.replace(" ", "."))
            done = subprocess.run([sys.executable, __file__, "--phase", name, "--graph",
                                   str(graph_file), "--out", str(out)], stdout=subprocess.PIPE,
                                  text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{name} failed (exit {done.returncode})")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(result)
            out.unlink()
            print(f"  {name:<18} {result['seconds']:7.1f} s ({result['cpu_s']:.1f} s CPU)  "
                  f"graph {result['rss_before_mb']:5d} MB, peak while writing "
                  f"{result['peak_mb']:5d} MB (+{result['peak_mb'] - result['rss_before_mb']} MB)"
                  f"  {result['bytes'] / 1e6:.1f} MB", flush=True)
        print(f"load after: {_uptime()}", flush=True)
        by = {r["writer"]: r for r in results}
        for fmt in ("graphml", "gexf"):
            new, old = by[f"streamed {fmt}"], by[f"networkx {fmt}"]
            print(f"{fmt}: networkx/streamed time {old['seconds'] / new['seconds']:.1f}x, "
                  f"memory added while writing {old['peak_mb'] - old['rss_before_mb']} MB / "
                  f"{new['peak_mb'] - new['rss_before_mb']} MB")
        print(json.dumps(results))
    finally:
        if args.dir:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
