"""Benchmark of `hulian capture analyze` against a bare `mitmproxy.io.FlowReader` loop.

    .venv/bin/python bench/capture.py [--sizes 10000 100000] [--dir /tmp/hulian-bench-capture]
                                      [--kinds bare analyze reference baseline] [--baseline REV]

Generates flow dumps (10 flows per clicked link: a lab wrapper URL with a probe token answering
302, the target page, eight subresources; HTML gzip-encoded, images binary), then, each in a
fresh process so that peak RSS is per measurement:
  bare      - `for f in FlowReader(fh).stream(): n += 1` (mitmproxy's own reader, nothing else)
  analyze   - `hulian capture analyze DUMP --plan PLAN` (the fast tnetstring path)
  reference - the same analysis fed by FlowReader flow objects (to check identical results)
  baseline  - `analyze` with audit/measure/capture/mitm.py as it was at `--baseline` (a git
              revision, read with git show; by default the last one with hulian's own
              tnetstring parser), to measure what reading through mitmproxy's module costs
  read, read-baseline - the dump reader alone (`iter_mitm`, no analysis), current and at
              `--baseline`
and prints a table (flows/s, speed-up over bare, peak RSS) plus whether results are identical;
the comparisons with `--baseline` give wall-clock and CPU seconds (the process and its forked
reader), the CPU figure being the steadier one on a shared machine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The last commit whose dump reader parsed tnetstrings by hand (before mitmproxy's module).
BASELINE = "876e30f"

# A click in an app loads the page and its subresources: 10 flows per clicked link here
# (the wrapper hop, the target page, eight images/scripts/styles/XHRs).
FLOWS_PER_CHAIN = 10


def generate(path: Path, flows: int, plan_dir: Path) -> None:
    from mitmproxy import io as mio
    from mitmproxy.test import tflow

    from audit.lab.policies import write_policies
    from audit.lab.scenario import load_scenario
    from audit.measure.capture.chains import add_token
    from audit.measure.capture.plan import Plan, new_token, write_plan
    from audit.measure.chain import probe_id
    from audit.model import Probe, SurfaceKind

    chains = flows // FLOWS_PER_CHAIN
    probes = []
    page = ("<!doctype html><html><head><title>Item</title></head><body>"
            + "<p>商品详情 item description text.</p>" * 40 + "</body></html>").encode()
    html = gzip.compress(page)
    image = bytes(range(256)) * 20
    t = 1_700_000_000.0
    with path.open("wb") as fh:
        writer = mio.FlowWriter(fh)  # type: ignore[no-untyped-call]
        template = tflow.tflow(resp=True)
        for i in range(chains):
            token = new_token()
            target = f"http://shop.taoshop.lab/item/{i}"
            link = add_token(f"http://go.wetalk.lab/out?target=http%3A%2F%2Fshop.taoshop.lab"
                             f"%2Fitem%2F{i}&e=bench{i}", token)
            probes.append(Probe(id=probe_id("wetalk", "im_private", target), source="wetalk",
                                surface=SurfaceKind.IM_PRIVATE, target_url=target,
                                target_platform="taoshop", link_url=link, token=token))
            steps: list[tuple[str, int, str, bytes, str | None]] = [
                (link, 302, "text/html", b"", None),
                (target, 200, "text/html; charset=utf-8", html, link),
                (f"http://shop.taoshop.lab/static/{i}.png", 200, "image/png", image, target),
                (f"http://shop.taoshop.lab/static/{i}.js", 200, "application/javascript",
                 b"var x=1;" * 200, target),
                (f"http://shop.taoshop.lab/static/{i}.css", 200, "text/css",
                 b"p{margin:0}" * 100, target),
                (f"http://img.taoshop.lab/{i}/1.jpg", 200, "image/jpeg", image, target),
                (f"http://img.taoshop.lab/{i}/2.jpg", 200, "image/jpeg", image, target),
                (f"http://img.taoshop.lab/{i}/3.jpg", 200, "image/jpeg", image, target),
                (f"http://api.taoshop.lab/item/{i}.json", 200, "application/json",
                 b'{"price": 12, "stock": 3}', target),
                (f"http://shop.taoshop.lab/static/{i}.woff2", 200, "font/woff2", image, target),
            ]
            for url, status, ctype, body, referer in steps:
                flow = template.copy()  # type: ignore[no-untyped-call]
                flow.request.url = url
                flow.request.headers["Host"] = url.split("/")[2]
                flow.request.headers["Sec-Fetch-Dest"] = "document" if ctype == "text/html" \
                    or "html" in ctype else "image"
                if referer:
                    flow.request.headers["Referer"] = referer
                flow.request.timestamp_start = t
                assert flow.response is not None
                flow.response.status_code = status
                flow.response.headers.clear()
                flow.response.headers["Content-Type"] = ctype
                if status == 302:
                    flow.response.headers["Location"] = target
                if body is html:
                    flow.response.headers["Content-Encoding"] = "gzip"
                flow.response.raw_content = body
                flow.response.timestamp_start = t + 0.01
                flow.response.timestamp_end = t + 0.02
                writer.add(flow)
                t += 0.05
    plan = Plan(id=f"bench-{flows}", source="wetalk", surface=SurfaceKind.IM_PRIVATE,
                created="2026-11-28T00:00:00+00:00", probes=probes, policies="policies",
                lab=True)
    write_policies(load_scenario(None), plan_dir / "policies")
    write_plan(plan, plan_dir)


# -- measurements, each run in a child process ----------------------------------------------


def _child(kind: str, dump: Path, plan: Path, out: Path) -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any] = {}
    if kind == "bare":
        from mitmproxy import io as mio

        n = 0
        with dump.open("rb") as fh:
            for _flow in mio.FlowReader(fh).stream():
                n += 1
        result["flows"] = n
    elif kind in ("read", "read-baseline"):
        if kind == "read-baseline":
            _install_baseline_reader(os.environ["HULIAN_BENCH_BASELINE"])
        from audit.measure.capture.mitm import iter_mitm

        result["flows"] = sum(1 for _record in iter_mitm(dump))
    else:
        if kind == "baseline":
            _install_baseline_reader(os.environ["HULIAN_BENCH_BASELINE"])
        from audit.measure.capture.run import CaptureSession

        session = CaptureSession.open(plan=plan, run=out)
        file = session.read(dump, fast=(kind != "reference"))
        session.close()
        session.finish()
        result["flows"] = file.flows
        result["error"] = file.error
        result["outcomes"] = dict(session.builder.outcomes)
    result["seconds"] = time.perf_counter() - started
    # CPU seconds of this process and its forked reader: on a machine shared with other work
    # the wall-clock figures swing with the load, the CPU spent far less.
    result["cpu_seconds"] = sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF),
                      resource.getrusage(resource.RUSAGE_CHILDREN)))
    # Peak RSS of this process: VmHWM, not ru_maxrss, which Linux carries over exec from
    # the parent (the bench, large after generating a dump). The forked reader's own peak:
    # ru_maxrss of the children (no exec there).
    result["max_rss_mb"] = _vm_hwm_kb() / 1024
    result["reader_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def _install_baseline_reader(rev: str) -> None:
    """Put the dump reader of revision `rev` in place of the current one, before anything
    imports it (the rest of the analysis is the current code)."""
    import importlib.util
    import tempfile

    source = subprocess.run(["git", "-C", str(ROOT), "show",
                             f"{rev}:audit/measure/capture/mitm.py"],
                            check=True, capture_output=True).stdout
    path = Path(tempfile.mkdtemp(prefix="hulian-bench-capture-")) / "mitm.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("audit.measure.capture.mitm", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit.measure.capture.mitm"] = module
    spec.loader.exec_module(module)


def _vm_hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _run_child(kind: str, dump: Path, plan: Path, out: Path,
               baseline: str = BASELINE) -> dict[str, Any]:
    output = subprocess.run([sys.executable, __file__, "--child", kind, str(dump), str(plan),
                             str(out)], check=True, capture_output=True, text=True,
                            env={"TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
                                 "PATH": "/usr/bin:/bin",
                                 "HULIAN_BENCH_BASELINE": baseline}).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def _observations(run: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    rows = []
    for line in (run / "observations.jsonl").read_text().splitlines():
        obs = json.loads(line)
        rows.append((obs["probe_id"], obs["outcome"], tuple(h["url"] for h in obs["hops"])))
    return sorted(rows)


def _times(flows: int, result: dict[str, Any]) -> str:
    return (f"{result['seconds']:.1f} s ({flows / result['seconds']:,.0f}/s), "
            f"CPU {result['cpu_seconds']:.1f} s")


def _ratios(new: dict[str, Any], old: dict[str, Any]) -> str:
    return (f"{new['seconds'] / old['seconds']:.2f}× the time, "
            f"{new['cpu_seconds'] / old['cpu_seconds']:.2f}× the CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/hulian-bench-capture"))
    parser.add_argument("--kinds", nargs="+", default=["bare", "analyze", "reference"],
                        choices=["bare", "analyze", "reference", "baseline", "read",
                                 "read-baseline"])
    parser.add_argument("--baseline", default=BASELINE,
                        help="git revision whose dump reader the `baseline` kind runs")
    parser.add_argument("--child", nargs=4, metavar=("KIND", "DUMP", "PLAN", "OUT"))
    args = parser.parse_args()
    if args.child:
        kind, dump, plan, out = args.child
        print(json.dumps(_child(kind, Path(dump), Path(plan), Path(out))))
        return
    import shutil

    args.dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes:
        dump = args.dir / f"flows-{size}.mitm"
        plan = args.dir / f"plan-{size}"
        if not dump.exists() or not (plan / "plan.json").exists():
            started = time.perf_counter()
            generate(dump, size, plan)
            print(f"generated {dump} ({dump.stat().st_size / 1e6:.1f} MB) in "
                  f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
        results = {}
        for kind in args.kinds:
            out = args.dir / f"run-{size}-{kind}"
            shutil.rmtree(out, ignore_errors=True)
            results[kind] = _run_child(kind, dump, plan, out, args.baseline)
            print(f"{size} {kind}: {results[kind]}", file=sys.stderr)
        identical = {other: _observations(args.dir / f"run-{size}-analyze") == _observations(
            args.dir / f"run-{size}-{other}") for other in ("reference", "baseline")
            if other in results}
        rows.append((size, results, identical))
    print("| flows | bare FlowReader | capture analyze | speed-up | speed-up in CPU "
          "| FlowReader-fed analysis | identical | peak RSS analyze |")
    print("|---|---|---|---|---|---|---|---|")
    for size, results, identical in rows:
        if "bare" not in results or "analyze" not in results:
            continue
        bare, fast = results["bare"], results["analyze"]
        ref = results.get("reference")
        same = "not run" if "reference" not in identical \
            else "yes" if identical["reference"] else "NO"
        ref_time = f"{ref['seconds']:.1f} s" if ref else "-"
        print(f"| {size:,} | {bare['seconds']:.1f} s ({size / bare['seconds']:,.0f}/s) | "
              f"{fast['seconds']:.1f} s ({size / fast['seconds']:,.0f}/s) | "
              f"{bare['seconds'] / fast['seconds']:.2f}× | "
              f"{bare['cpu_seconds'] / fast['cpu_seconds']:.2f}× | {ref_time} | {same} | "
              f"{fast['max_rss_mb']:.0f} MB (reader {fast['reader_rss_mb']:.0f} MB) |")
    if any("baseline" in results for _, results, _ in rows):
        print(f"\n| flows | analyze, hand-written tnetstring ({args.baseline}) | analyze, "
              "mitmproxy's tnetstring (current) | current / hand-written | identical |")
        print("|---|---|---|---|---|")
        for size, results, identical in rows:
            if "baseline" not in results or "analyze" not in results:
                continue
            old, fast = results["baseline"], results["analyze"]
            print(f"| {size:,} | {_times(size, old)} | {_times(size, fast)} | "
                  f"{_ratios(fast, old)} | {'yes' if identical['baseline'] else 'NO'} |")
    if any("read" in results and "read-baseline" in results for _, results, _ in rows):
        print(f"\n| flows | reader alone, hand-written ({args.baseline}) | reader alone, "
              "mitmproxy's tnetstring | current / hand-written |")
        print("|---|---|---|---|")
        for size, results, _ in rows:
            if "read" in results and "read-baseline" in results:
                old, new = results["read-baseline"], results["read"]
                print(f"| {size:,} | {_times(size, old)} | {_times(size, new)} | "
                      f"{_ratios(new, old)} |")
    if len(rows) >= 2 and all("analyze" in results for _, results, _ in rows):
        small, large = rows[0][1]["analyze"], rows[-1][1]["analyze"]
        print(f"\npeak RSS of analyze, {rows[-1][0]:,} vs {rows[0][0]:,} flows: "
              f"{large['max_rss_mb'] / small['max_rss_mb']:.2f}×")


if __name__ == "__main__":
    main()
