"""Report benchmark: 100,000 observations -> report.html + findings.csv + findings.json, and
report.pdf of a run with 3,000 findings; against a bare Jinja2 render of the same rows.

    .venv/bin/python bench/report.py [--observations 100000] [--pdf-findings 3000] [--keep]
        [--baseline /tmp/base] [--no-pdf] [--runs DIR]

--baseline CHECKOUT runs the html+csv+json, pdf and pdf-big phases also with the code of
another checkout (e.g. `git worktree add /tmp/base HEAD` before a change), on the same
generated runs, in the same benchmark run: the figures side by side. --runs DIR measures the
runs an earlier --keep left in DIR again, without generating them (a million observations take
six minutes to generate).

The runs are generated first (not timed) with tests/reportruns.py: observations over real
catalog platforms with a mix of every outcome, verdicts from the shipped policies. Each
measured phase runs in its own subprocess, so its peak RSS (ru_maxrss of that process) and its
time include reading the bundle:

  html+csv+json  write_reports(run, formats=html,csv,json)   (one process, one data build)
                 (--phase html+csv+json+junit: with junit.xml, as `hulian report` writes)
  bare-jinja2    a plain Jinja2 template rendering the same findings as table rows (the id,
                 status, severity, source, surface, target URL, outcome, reason columns;
                 no macros, no translations, no evidence detail): the floor any templated
                 HTML of these rows pays
  pdf            write_reports(run3000, formats=pdf)         (WeasyPrint)
  pdf-big        write_reports(run, formats=pdf)             (the 100,000-observation run)

peak_rss_mb is the phase's process (DuckDB's threads included), peak_rss_children_mb the
largest child process it started, if any (ru_maxrss of RUSAGE_CHILDREN: the report forks
none since its findings stay in DuckDB; an older checkout measured with --baseline may),
cpu_s the CPU time of the process and its children together.

Targets: html+csv+json < 15 s, pdf < 90 s, peak RSS < 1.5 GB; report.html and report.pdf of
the 100,000-observation run < 5 MB each (issue 16).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BARE = """<table>{% for f in findings %}<tr><td>{{ f.id }}</td><td>{{ f.status }}</td>
<td>{{ f.severity.value if f.severity else "" }}</td><td>{{ f.source }}</td><td>{{ f.surface }}</td>
<td><a href="{{ f.target_url }}">{{ f.target_url }}</a></td><td>{{ f.outcome.value }}</td>
<td>{{ f.reasons[0].zh if f.reasons else "" }}</td></tr>
{% endfor %}</table>"""


def phase(name: str, run: Path, out: Path) -> dict[str, object]:
    from audit.policy.catalog import load_catalog, policy_dirs

    catalog = load_catalog(policy_dirs())
    started = time.perf_counter()
    result: dict[str, object] = {"phase": name}
    if name == "bare-jinja2":
        import jinja2

        from audit.report.data import build_report_data

        data = build_report_data(run, catalog)
        built = time.perf_counter()
        html = jinja2.Environment(autoescape=True).from_string(BARE).render(
            findings=data.findings)
        result.update(findings=len(data.findings), bytes=len(html),
                      render_s=round(time.perf_counter() - built, 2),
                      data_s=round(built - started, 2))
    else:
        from audit.report.render import write_reports

        formats = name.split("+") if name.startswith("html+") else ["pdf"]
        steps: dict[str, float] = {}
        for fmt in formats if not name.startswith("html+") else ["all"]:
            t0 = time.perf_counter()
            written = write_reports(run, catalog, formats, "zh", out)
            steps[fmt] = round(time.perf_counter() - t0, 2)
        result.update(files={p.name: p.stat().st_size for p in written})
    result["seconds"] = round(time.perf_counter() - started, 2)
    own, children = (resource.getrusage(resource.RUSAGE_SELF),
                     resource.getrusage(resource.RUSAGE_CHILDREN))
    result["peak_rss_mb"] = round(own.ru_maxrss / 1024)
    result["peak_rss_children_mb"] = round(children.ru_maxrss / 1024)
    result["cpu_s"] = round(own.ru_utime + own.ru_stime + children.ru_utime
                            + children.ru_stime, 2)
    return result


def measure(name: str, run: Path, code: Path = ROOT, label: str = "") -> dict[str, object]:
    """The phase in a subprocess importing hulian from the checkout `code`."""
    t0 = time.perf_counter()
    out = run / f"bench-out-{label or 'current'}-{name}"
    proc = subprocess.run([sys.executable, __file__, "--phase", name, "--run", str(run),
                           "--code", str(code), "--out", str(out)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{name} ({code}) failed:\n{proc.stderr}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = round(time.perf_counter() - t0, 2)
    if label:
        result["code"] = label
    return result


def _mb(result: dict[str, object], name: str) -> str:
    files = result.get("files")
    size = files.get(name) if isinstance(files, dict) else None
    return "–" if size is None else f"{size / 1e6:.2f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--observations", type=int, default=100_000)
    parser.add_argument("--pdf-findings", type=int, default=3_000)
    parser.add_argument("--keep", action="store_true", help="keep the generated runs")
    parser.add_argument("--runs", type=Path,
                        help="the runs an earlier --keep left (the directory it printed): "
                             "measured again without generating them")
    parser.add_argument("--no-pdf", action="store_true",
                        help="measure html+csv+json only (large runs: the PDF phases are "
                             "WeasyPrint's time, not the data's)")
    parser.add_argument("--baseline", type=Path,
                        help="another checkout to measure side by side (e.g. /tmp/base)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        sys.path.insert(0, str(args.code.resolve()))  # before ROOT: the code measured
        print(json.dumps(phase(args.phase, args.run, args.out)))
        return

    from audit.policy.catalog import load_catalog, policy_dirs
    from tests.reportruns import synthetic_observations, write_run

    catalog = load_catalog(policy_dirs())
    root = args.runs or Path(tempfile.mkdtemp(prefix="hulian-bench-report-"))
    try:
        t0 = time.perf_counter()
        if args.runs:
            big, pdf_run = root / "big", root / "pdf"
            with (big / "observations.jsonl").open("rb") as lines:
                args.observations = sum(1 for _ in lines)
        else:
            big = write_run(root, "big", synthetic_observations(args.observations), catalog)
            # Only copy_only links on IM surfaces between companies: nearly all fail a rule;
            # generate enough to get at least --pdf-findings findings.
            pdf_run = write_run(root, "pdf", synthetic_observations(
                int(args.pdf_findings * 1.12), weights=[0, 0, 0, 1, 0, 0, 0, 0, 0]), catalog)
            print(f"generated runs in {time.perf_counter() - t0:.1f} s under {root}",
                  file=sys.stderr)
        results = [measure("html+csv+json", big), measure("bare-jinja2", big)]
        if not args.no_pdf:
            results += [measure("pdf", pdf_run), measure("pdf-big", big)]
        base: list[dict[str, object]] = []
        if args.baseline:
            base = [measure("html+csv+json", big, args.baseline, "baseline")]
            if not args.no_pdf:
                base += [measure("pdf", pdf_run, args.baseline, "baseline"),
                         measure("pdf-big", big, args.baseline, "baseline")]
        for r in results + base:
            print(json.dumps(r, ensure_ascii=False))
        if args.no_pdf:
            html, bare = results
            print(f"\nobservations {args.observations:,}: findings {bare['findings']:,}; "
                  f"html+csv+json {html['seconds']} s (peak RSS {html['peak_rss_mb']} MB, "
                  f"helpers {html['peak_rss_children_mb']} MB); report.html "
                  f"{_mb(html, 'report.html')}")
            if base:
                print(f"baseline ({args.baseline}): html+csv+json {base[0]['seconds']} s "
                      f"(peak RSS {base[0]['peak_rss_mb']} MB, helpers "
                      f"{base[0]['peak_rss_children_mb']} MB), report.html "
                      f"{_mb(base[0], 'report.html')}")
            return
        html, bare, pdf, pdf_big = results
        print(f"\nobservations {args.observations:,}: findings {bare['findings']:,}; "
              f"html+csv+json {html['seconds']} s (peak RSS {html['peak_rss_mb']} MB, "
              f"helpers {html['peak_rss_children_mb']} MB, CPU {html['cpu_s']} s); "
              f"bare Jinja2 rows {bare['render_s']} s (+ {bare['data_s']} s reading the "
              f"bundle); pdf ({args.pdf_findings:,}+ findings) {pdf['seconds']} s "
              f"(peak RSS {pdf['peak_rss_mb']} MB)")
        print(f"sizes: report.html {_mb(html, 'report.html')}, report.pdf of the "
              f"{args.observations:,}-observation run {_mb(pdf_big, 'report.pdf')} "
              f"({pdf_big['seconds']} s), findings.csv {_mb(html, 'findings.csv')}, "
              f"findings.json {_mb(html, 'findings.json')}")
        if base:
            b_html, b_pdf, b_big = base
            print(f"baseline ({args.baseline}): html+csv+json {b_html['seconds']} s "
                  f"(peak RSS {b_html['peak_rss_mb']} MB), report.html "
                  f"{_mb(b_html, 'report.html')}; pdf {b_pdf['seconds']} s; pdf of the "
                  f"{args.observations:,}-observation run {b_big['seconds']} s, "
                  f"{_mb(b_big, 'report.pdf')}")
    finally:
        if args.keep or args.runs:  # --runs: not ours to remove
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
