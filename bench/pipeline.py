"""End-to-end benchmark (issue 16's targets measured in one run): what a crawl's end and
`hulian report` do with one audit's observations, on one bundle, in one run of this script.

    .venv/bin/python bench/pipeline.py [--observations 1000000] [--platforms 2000]
        [--companies 200] [--edges 400000] [--dir DIR] [--keep] [--exports] [--pdf]
        [--rule-copies N] [--longer-reasons N]

bench/scale.py measures the cross-target rules, the graph and its exports over a bare table,
bench/report.py the report of another audit, bench/evaluate.py the per-observation rules:
their figures add up to the issue's, but no run measured the whole. Here the audit is
tests/scaleruns.py's (2,000 platforms, 200 companies, 400,000 seeded edges), judged by the
shipped rules of every scope (the per-observation rules apply to its surfaces), written as a
crawl writes it (a BundleWriter, observation by observation: not timed; the JSON lines only,
as hulian's crawls do by default, their Parquet table built at the crawl's end unless
HULIAN_PARQUET=1 writes it as they go, so `finish` times that build), and then, each in its
own process (its peak RSS is that process's VmHWM):

  finish   audit.pipeline.finish_run, as a crawl ends: the observations' table made current,
           every rule judged with the verdicts' lines and table (write_verdicts), the review
           queue, the graph outputs (graph.graphml, graph-company.graphml, metrics.json,
           graph.svg) and the seal (hashes of every file)
  report   write_reports(html, csv, json, junit) of the sealed bundle, as `hulian report`
           writes them after its verification (--pdf: the PDF too, timed apart)
  exports  (--exports) graph.gexf and the node-link JSON, as `hulian graph --format` writes
           them on demand (timed apart: a run does not write them)

Not timed: generating the bundle, and the verification `hulian report` does before it writes
(`hulian verify`: hashes of every file and a check for repeated ids; docs/benchmarks.md has
its figures). The issue's targets: 1,000,000 observations < 60 s at < 1.5 GB; 10,000,000 <
10 minutes at < 2 GB (`--observations 10000000`: ~45 GB of disk for the bundle and reports).
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.phases import audit_size_options, peak_mb, run_phase  # noqa: E402

RUN_ID = "20261203T000000Z-pipeline"


# A sentence each reason gets `--longer-reasons` times (a catalog whose reasons cite the text).
LONGER_ZH = ("依据《关于开展互联网行业专项整治行动的通知》，"
             "平台不得无正当理由限制网址链接的正常访问。")
LONGER_EN = (" Under MIIT's 2021 campaign, a platform may not restrict normal access to links "
             "without a legitimate reason.")


def _catalog(args: argparse.Namespace) -> Any:
    """The synthetic audit's catalog; --rule-copies N: its per-observation rules N times
    (copies under new ids); --longer-reasons N: every reason template N sentences longer."""
    from audit.model import Text
    from tests.scaleruns import synthetic_catalog

    catalog = synthetic_catalog(args.platforms, args.companies, observation_rules=True)

    def longer(text: Text | None) -> Text | None:
        return None if text is None else Text(zh=text.zh + LONGER_ZH * args.longer_reasons,
                                              en=text.en + LONGER_EN * args.longer_reasons)

    if args.longer_reasons:
        for rule_id, rule in list(catalog.rules.items()):
            reason = rule.reason.model_copy(update={
                name: longer(getattr(rule.reason, name))
                for name in ("pass_", "fail", "exempt", "inconclusive")})
            catalog.rules[rule_id] = rule.model_copy(update={"reason": reason})
    observed = [r for r in catalog.rules.values() if r.scope == "observation"]
    for copy in range(1, args.rule_copies):
        for rule in observed:
            copied = f"{rule.id}-copy{copy}"
            catalog.rules[copied] = rule.model_copy(update={"id": copied})
    return catalog


class Steps:
    """Seconds spent in named functions while a phase runs (each function replaced, for the
    phase, by one that times it), and the phase's own total."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def time(self, module: Any, name: str, label: str | None = None) -> None:
        original: Callable[..., Any] = getattr(module, name)
        key = label or name

        @functools.wraps(original)
        def timed(*a: Any, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                seconds = time.perf_counter() - started
                self.seconds[key] = round(self.seconds.get(key, 0.0) + seconds, 2)
                print(f"  {key:<36} {seconds:8.2f} s   peak RSS {peak_mb():6d} MB",
                      file=sys.stderr, flush=True)

        setattr(module, name, timed)


def generate(run_root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The bundle, written as a crawl writes it, left open (not finished)."""
    from audit.evidence.bundle import BundleWriter
    from tests.scaleruns import observation_objects, synthetic_records

    catalog = _catalog(args)
    writer = BundleWriter(run_root, run_id=RUN_ID, policy_digest=catalog.digest, config={})
    records = synthetic_records(args.platforms, args.edges, args.observations)
    count = 0
    while True:
        chunk = [r for _, r in zip(range(50_000), records, strict=False)]
        if not chunk:
            break
        for observation in observation_objects(iter(chunk)):
            writer.add_observation(observation.model_copy(update={"run_id": RUN_ID}))
            count += 1
    writer.close()
    return {"phase": "generate", "observations": count}


def finish(run_root: Path, args: argparse.Namespace) -> dict[str, Any]:
    import audit.graph.build as graph_build
    import audit.judge.verdicts as verdicts
    from audit import pipeline
    from audit.evidence import bundle
    from audit.evidence.bundle import BundleWriter
    from audit.judge.summary import Summary

    catalog = _catalog(args)
    steps = Steps()
    steps.time(pipeline, "ensure_columnar", "observations table current")
    steps.time(verdicts, "write_verdicts", "judging (every rule, lines + table)")
    steps.time(pipeline, "write_run_review", "review queue")
    steps.time(graph_build, "build", "graph build")
    steps.time(graph_build, "metrics", "metrics")
    steps.time(graph_build, "write_graphml", "graphml (platform, company)")
    steps.time(graph_build, "render_svg", "graph.svg")
    steps.time(bundle, "seal", "seal (hashes)")
    writer = BundleWriter(run_root, run_id=RUN_ID, policy_digest=catalog.digest, resume=True)
    summary = Summary(run_id=RUN_ID, path=writer.path)
    started = time.perf_counter()
    pipeline.finish_run(writer, catalog, summary)
    total = time.perf_counter() - started
    return {"phase": "finish", "total_s": round(total, 2), "steps": steps.seconds,
            "peak_rss_mb": peak_mb(), "verdicts": dict(summary.verdicts),
            "observations": summary.observations}


def report(run_root: Path, args: argparse.Namespace) -> dict[str, Any]:
    from audit.report import exports, render

    catalog = _catalog(args)
    steps = Steps()
    steps.time(render, "build_report_data", "report data")
    steps.time(exports, "write_findings", "findings.json + findings.csv")
    steps.time(render, "write_html", "report.html")
    steps.time(exports, "write_junit", "junit.xml")
    out = run_root / "reports"
    started = time.perf_counter()
    render.write_reports(run_root / RUN_ID, catalog, formats=["html", "csv", "json", "junit"],
                         out=out)
    total = time.perf_counter() - started
    result: dict[str, Any] = {"phase": "report", "total_s": round(total, 2),
                              "steps": steps.seconds, "peak_rss_mb": peak_mb()}
    if args.pdf:
        started = time.perf_counter()
        render.write_reports(run_root / RUN_ID, catalog, formats=["pdf"], out=out)
        result["pdf_s"] = round(time.perf_counter() - started, 2)
        result["peak_rss_mb_with_pdf"] = peak_mb()
    result["files"] = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    return result


def graph_exports(run_root: Path, args: argparse.Namespace) -> dict[str, Any]:
    from audit.evidence.sql import run_tables
    from audit.graph.build import build, write_export

    catalog = _catalog(args)
    run = run_root / RUN_ID
    started = time.perf_counter()
    with run_tables(run) as tables:
        graph = build(tables, None, catalog)
    built = time.perf_counter()
    write_export(graph, "gexf", run_root / "graph.gexf")
    gexf = time.perf_counter()
    write_export(graph, "json", run_root / "graph.json")
    done = time.perf_counter()
    return {"phase": "exports", "graph_s": round(built - started, 2),
            "gexf_s": round(gexf - built, 2), "json_s": round(done - gexf, 2),
            "peak_rss_mb": peak_mb()}


PHASES: dict[str, Callable[[Path, argparse.Namespace], dict[str, Any]]] = {
    "generate": generate, "finish": finish, "report": report, "exports": graph_exports}


def measure(name: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--phase", name, "--run", str(root),
               "--observations", str(args.observations), "--platforms", str(args.platforms),
               "--companies", str(args.companies), "--edges", str(args.edges),
               "--rule-copies", str(args.rule_copies),
               "--longer-reasons", str(args.longer_reasons)]
    if args.pdf:
        command.append("--pdf")
    print(f"{name}:", file=sys.stderr, flush=True)
    started = time.perf_counter()
    result = run_phase(command, name, ROOT, live=True)
    result["process_s"] = round(time.perf_counter() - started, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    audit_size_options(parser)
    parser.add_argument("--dir", type=Path, help="generate the bundle here (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the generated bundle")
    parser.add_argument("--exports", action="store_true",
                        help="also graph.gexf and the node-link JSON (timed apart)")
    parser.add_argument("--pdf", action="store_true", help="also report.pdf (timed apart)")
    parser.add_argument("--rule-copies", type=int, default=1,
                        help="judge with the per-observation rules copied N times")
    parser.add_argument("--longer-reasons", type=int, default=0,
                        help="every reason template N sentences longer")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.run, args)))
        return

    root = args.dir or Path(tempfile.mkdtemp(prefix="hulian-bench-pipeline-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        if (root / RUN_ID).exists():
            raise SystemExit(f"{root / RUN_ID} exists: give an empty --dir")
        generated = measure("generate", root, args)
        print(f"generated {generated['observations']:,} observations in "
              f"{generated['process_s']} s (not timed)", file=sys.stderr)
        results = [measure("finish", root, args), measure("report", root, args)]
        if args.exports:
            results.append(measure("exports", root, args))
        for result in results:
            print(json.dumps(result, ensure_ascii=False))
        timed = results[0]["total_s"] + results[1]["total_s"]
        peak = max(r["peak_rss_mb"] for r in results[:2])
        print(f"\n{args.observations:,} observations, from the crawl's end to the report: "
              f"{timed:.1f} s (finish {results[0]['total_s']} s, report "
              f"{results[1]['total_s']} s), peak RSS {peak} MB")
    finally:
        if args.keep or args.dir:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
