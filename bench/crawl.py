"""Crawler benchmark: hulian's crawler against a plain Scrapy spider and a minimal aiohttp
crawler, on one generated lab site served by nginx, in one run on one machine.

    .venv/bin/python bench/crawl.py [--pages 5000] [--links 20] [--keep]

The site (generated into a temp dir, static HTML served by nginx on a free port):

* `http://127.0.0.1:PORT/p/<i>.html`, i < pages: a post of ~4 KB (title, three paragraphs of
  Chinese text) with `--links` anchors: three quarters internal (home, previous, next and
  random other posts, relative hrefs) and one quarter outbound (5 of 20), to distinct random
  targets among 2 × pages target pages on a second host, 127.0.0.2 (another host name: the
  site's platform owns 127.0.0.1 only). How a target is linked is fixed per target, as a
  platform links a given URL the same way everywhere:
    - 60 % direct: `http://127.0.0.2:PORT/item/<t>.html`;
    - 30 % through the site's redirector `/out?target=<url>` (nginx `return 302 $arg_target`);
    - 10 % through a "you are leaving" interstitial `/leave?target=<url>` (nginx answers a
      small page with the target and a 继续访问 continue link, like link.zhihu.com).
  Every 50th target does not exist (404): a dead link, for which hulian makes a control fetch.
* `http://127.0.0.2:PORT/item/<t>.html`: a small product page without links.

Every crawler makes the same fetches: every post, every distinct redirector/interstitial link,
every distinct target once (hulian adds one control fetch per dead target). The crawlers, each
run as its own subprocess:

(a) bench/naive_spider.py: a plain Scrapy spider from post 0, a Request for every link,
    duplicates left to Scrapy's dupefilter, Scrapy defaults (CONCURRENT_REQUESTS 16, 8 per
    host, no autothrottle, redirects on), ROBOTSTXT_OBEY False, LOG_LEVEL INFO;
(b) bench/aiohttp_crawler.py: asyncio + aiohttp, 32 workers, regex hrefs, a seen-set;
(c) `hulian crawl` with everything on: all posts as seeds from a generated policy dir, one
    probe per distinct outbound link followed hop by hop with hop recording, page
    classification against the whole catalog (42 shipped platforms + the bench's two),
    control fetches, gzipped WARC of every request/response, the run bundle, then verdicts,
    graph and the history store (reports are left out: bench/report.py measures them);
    the default engine (asyncio), `--concurrency 32 --per-host 32` (the same concurrency as
    (b); hulian's default is 8 per host, a politeness setting for real platforms),
    `--robots ignore` (as (a) and (b)), `--allow-private` (the site is on loopback).
    AutoThrottle stays on.

Measured for each: requests (nginx's stub_status counter, the same for all three), the crawl
window (first to last request in nginx's own timestamp log: the rate while crawling, start-up
and wind-down excluded for all three alike), the time from spawn to exit (start-up and, for
hulian, judging included), the peak RSS of the largest process (wait4) and the peak summed
RSS and PSS of the whole process tree (sampled from /proc every 0.2 s: hulian forks a parse
worker and a recorder; PSS counts their shared pages once). Prints a table and whether the
targets are met (c/a >= 2, c/b >= 0.5 over the crawl window, peak memory < 300 MB); exits 0
either way.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HULIAN = str(Path(sys.executable).with_name("hulian"))
SITE_HOST = "127.0.0.1"
SHOP_HOST = "127.0.0.2"

TARGET_RATIO = 2.0  # c/a
CEILING_RATIO = 0.5  # c/b
RSS_LIMIT_MB = 300

_TEXT = ("互联网平台之间的链接应当可以直接打开，用户点击其他企业的网址时不应被屏蔽、"
         "被要求复制到浏览器，或者被额外的提示页面阻拦。本文讨论的是日常使用中的体验："
         "一个商品链接、一篇文章、一段视频，分享出去之后能否顺利到达。")


# ---------------------------------------------------------------------------------------
# The site
# ---------------------------------------------------------------------------------------


def target_form(t: int) -> str:
    r = t % 10
    return "direct" if r < 6 else "out" if r < 9 else "leave"


def target_dead(t: int) -> bool:
    return t % 50 == 17


def generate_site(root: Path, port: int, pages: int, links: int) -> dict[str, int]:
    """Write the posts and item pages; return counts of what was linked."""
    targets = 2 * pages
    outbound = max(1, links // 4)
    internal = links - outbound
    shop = f"http://{SHOP_HOST}:{port}"
    (root / "p").mkdir(parents=True)
    (root / "item").mkdir()
    linked: set[int] = set()
    for i in range(pages):
        rng = random.Random(i)
        own = [0, (i - 1) % pages, (i + 1) % pages]
        own += [rng.randrange(pages) for _ in range(internal - len(own))]
        outs = rng.sample(range(targets), outbound)
        linked.update(outs)
        out_html = []
        for n, t in enumerate(outs):
            url = f"{shop}/item/{t}.html"
            href = {"direct": url, "out": f"/out?target={url}",
                    "leave": f"/leave?target={url}"}[target_form(t)]
            out_html.append(f'<p>推荐第 {n + 1} 项：<a href="{href}" rel="nofollow">商品 {t}</a>'
                            f'，来自网友的分享。</p>')
        nav = "".join(f'<li><a href="/p/{j}.html">帖子 {j}</a></li>' for j in own[:3])
        related = "".join(f'<li><a href="/p/{j}.html">相关帖子 {j} 的讨论</a></li>'
                          for j in own[3:])
        body = (
            f'<!doctype html><html lang="zh"><head><meta charset="utf-8">'
            f'<title>帖子 {i} - 基准论坛</title>'
            f'<link rel="canonical" href="http://{SITE_HOST}:{port}/p/{i}.html"></head><body>'
            f'<header><nav><ul>{nav}</ul></nav></header><main><article>'
            f'<h1>第 {i} 号帖子</h1><p>{_TEXT}</p>{"".join(out_html[:2])}<p>{_TEXT}</p>'
            f'{"".join(out_html[2:])}<p>{_TEXT}</p></article>'
            f'<aside><h2>相关</h2><ul>{related}</ul></aside></main>'
            f'<footer><p>© 基准论坛</p></footer></body></html>'
        )
        (root / "p" / f"{i}.html").write_text(body, encoding="utf-8")
    for t in range(targets):
        if target_dead(t):
            continue
        (root / "item" / f"{t}.html").write_text(
            f'<!doctype html><html><head><meta charset="utf-8"><title>商品 {t}</title></head>'
            f'<body><h1>商品 {t}</h1><p>价格 ¥{t % 997}.00，包邮。{_TEXT[:60]}</p></body></html>',
            encoding="utf-8")
    forms = {f: sum(1 for t in linked if target_form(t) == f) for f in ("direct", "out", "leave")}
    return {"pages": pages, "targets_linked": len(linked),
            "dead_linked": sum(1 for t in linked if target_dead(t)), **forms}


LEAVE_PAGE = ("<!doctype html><html><head><meta charset=\"utf-8\"><title>即将离开基准论坛</title>"
              "</head><body><p class=\"info\">您即将离开基准论坛，请注意您的帐号和财产安全。</p>"
              "<p class=\"link\">$arg_target</p>"
              "<a class=\"continue\" href=\"$arg_target\">继续访问</a></body></html>")


def write_nginx_conf(directory: Path, site: Path, port: int) -> Path:
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
error_log {directory}/error.log warn;
pid {directory}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    # One timestamp per request (buffered, written at most every 0.5 s): the crawl window.
    log_format stamp '$msec';
    access_log {directory}/requests.log stamp buffer=256k flush=500ms;
    types {{ text/html html; }}
    default_type text/html;
    charset utf-8;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {directory}/tmp/body;
    proxy_temp_path {directory}/tmp/proxy;
    fastcgi_temp_path {directory}/tmp/fastcgi;
    uwsgi_temp_path {directory}/tmp/uwsgi;
    scgi_temp_path {directory}/tmp/scgi;
    server {{
        listen {SITE_HOST}:{port};
        listen {SHOP_HOST}:{port};
        root {site};
        location = /out {{ return 302 $arg_target; }}
        location = /leave {{ return 200 '{LEAVE_PAGE}'; }}
        location = /nginx_status {{ access_log off; stub_status; }}
    }}
}}
""", encoding="utf-8")
    return conf


def start_site(prefix: str, pages: int, links: int
               ) -> tuple[Path, int, dict[str, int], subprocess.Popen[bytes]]:
    """A generated site in a new temp dir, served by nginx on a free port (answering once
    this returns): (workdir, port, the site's figures, the nginx process)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(workdir, 0o755)  # nginx workers drop root and must read the site
    port = free_port()
    site = generate_site(workdir / "site", port, pages, links)
    conf = write_nginx_conf(workdir / "nginx", workdir / "site", port)
    nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(workdir / "nginx"),
                              "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
    except RuntimeError:
        stop_nginx(nginx)
        raise
    return workdir, port, site, nginx


def stop_nginx(nginx: subprocess.Popen[bytes]) -> None:
    nginx.terminate()
    try:
        nginx.wait(timeout=10)
    except subprocess.TimeoutExpired:
        nginx.kill()
        nginx.wait()


def write_policies(directory: Path, port: int, pages: int) -> Path:
    cite = '{fact: "bench/crawl.py generated site"}'
    (directory / "platforms").mkdir(parents=True)
    (directory / "companies.yaml").write_text(
        f"- {{id: benchco, name: {{zh: 基准公司, en: Bench Co}}, cite: {cite}}}\n"
        f"- {{id: benchshopco, name: {{zh: 基准商城公司, en: Bench Shop Co}}, cite: {cite}}}\n",
        encoding="utf-8")
    seeds = "".join(f"      - http://{SITE_HOST}:{port}/p/{i}.html\n" for i in range(pages))
    (directory / "platforms" / "benchsite.yaml").write_text(f"""\
id: benchsite
name: {{zh: 基准论坛, en: Bench Forum}}
company: benchco
category: social
domains: ["{SITE_HOST}"]
cite: {cite}
wrappers:
  - id: bench-out
    match: {{hosts: ["{SITE_HOST}"], path: "^/out$"}}
    target: query
    params: [target]
    cite: {cite}
  - id: bench-leave
    match: {{hosts: ["{SITE_HOST}"], path: "^/leave$"}}
    target: query
    params: [target]
    cite: {cite}
signatures:
  - id: bench-leave
    kind: warned
    match: {{hosts: ["{SITE_HOST}"], path: "^/leave$"}}
    markers_any: [您即将离开基准论坛]
    target:
      - {{kind: selector, selector: p.link}}
      - {{kind: query, param: target}}
    continue_link:
      - {{kind: selector, selector: a.continue, attribute: href}}
    cite: {cite}
surfaces:
  - kind: post
    seeds:
{seeds}""", encoding="utf-8")
    (directory / "platforms" / "benchshop.yaml").write_text(f"""\
id: benchshop
name: {{zh: 基准商城, en: Bench Shop}}
company: benchshopco
category: ecommerce
domains: ["{SHOP_HOST}"]
cite: {cite}
""", encoding="utf-8")
    return directory


# ---------------------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------------------


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind((SITE_HOST, 0))
            port = int(s.getsockname()[1])
        with socket.socket() as s:
            try:
                s.bind((SHOP_HOST, port))
            except OSError:
                continue
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((SITE_HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nginx did not start on port {port}")


def served_requests(port: int) -> int:
    """nginx's own request counter (stub_status); the status request itself is included."""
    with urllib.request.urlopen(f"http://{SITE_HOST}:{port}/nginx_status", timeout=5) as r:
        text = r.read().decode()
    numbers = re.search(r"\n\s*(\d+)\s+(\d+)\s+(\d+)", text)
    if numbers is None:
        raise RuntimeError(f"unexpected stub_status output: {text!r}")
    return int(numbers.group(3))


def wrk_check(port: int) -> float | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    result = subprocess.run([wrk, "-t1", "-c32", "-d3s", f"http://{SITE_HOST}:{port}/p/1.html"],
                            capture_output=True, text=True, check=False)
    match = re.search(r"Requests/sec:\s*([\d.]+)", result.stdout)
    return float(match.group(1)) if match else None


# ---------------------------------------------------------------------------------------
# Running one crawler
# ---------------------------------------------------------------------------------------


@dataclass
class Measured:
    key: str
    name: str
    seconds: float  # spawn to exit
    window: float  # first to last request nginx logged: the crawl itself
    served: int  # requests nginx answered during the run
    peak_rss_mb: float  # the largest single process (wait4)
    peak_tree_rss_mb: float  # the whole process tree at once (sampled), forked workers included
    peak_tree_pss_mb: float  # the same, shared pages counted once
    exit_status: int
    output: dict[str, object] = field(default_factory=dict)
    probes: int | None = None

    @property
    def rps(self) -> float:
        """Requests per second while crawling (the crawl window)."""
        return self.served / self.window if self.window else 0.0

    @property
    def rps_end_to_end(self) -> float:
        return self.served / self.seconds if self.seconds else 0.0

    @property
    def probes_per_s(self) -> float | None:
        return self.probes / self.window if self.probes is not None and self.window else None


def _tree(pid: int) -> list[int]:
    """pid and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB; zeros if it is gone."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class TreeMemory:
    """Samples the summed RSS and PSS of a process tree every 0.2 s, keeping the peaks."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak_rss_kb = self.peak_pss_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            totals = [_memory_kb(p) for p in _tree(self.pid)]
            self.peak_rss_kb = max(self.peak_rss_kb, sum(r for r, _ in totals))
            self.peak_pss_kb = max(self.peak_pss_kb, sum(p for _, p in totals))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def crawl_window(log: Path, offset: int) -> tuple[float, int]:
    """Seconds from the first to the last request nginx logged after `offset`, and the new
    end of the log. nginx flushes its buffer every 0.5 s: wait that long before calling."""
    with log.open("rb") as handle:
        handle.seek(offset)
        stamps = [float(x) for x in handle.read().split()]
        end = handle.tell()
    if len(stamps) < 2:
        return 0.0, end
    return max(stamps) - min(stamps), end


def run_crawler(key: str, name: str, argv: list[str], port: int, workdir: Path,
                log: Path) -> Measured:
    """Spawn one crawler, wait for it with wait4 (rusage of that child alone), sampling the
    memory of its process tree meanwhile."""
    out_path, err_path = workdir / f"{key}.out", workdir / f"{key}.err"
    time.sleep(0.6)  # let nginx flush the log of whatever came before
    offset = log.stat().st_size
    before = served_requests(port)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, cwd=ROOT, env=env)
        memory = TreeMemory(process.pid)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        memory.stop()
    process.returncode = os.waitstatus_to_exitcode(status)
    served = served_requests(port) - before - 1  # minus our own status request
    time.sleep(0.6)
    window, _ = crawl_window(log, offset)
    output: dict[str, object] = {}
    for line in reversed(out_path.read_text(encoding="utf-8", errors="replace").splitlines()):
        if line.startswith("{"):
            output = json.loads(line)
            break
    if process.returncode != 0:
        tail = err_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        print(f"!! {name} exited with {process.returncode}:\n{tail}", file=sys.stderr)
    return Measured(key, name, seconds, window, served, usage.ru_maxrss / 1024,
                    memory.peak_rss_kb / 1024, memory.peak_pss_kb / 1024, process.returncode,
                    output)


# ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--links", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=32,
                        help="for (b) and (c); (a) keeps Scrapy's defaults")
    parser.add_argument("--only", default="abc",
                        help="which crawlers to run (default abc; d: hulian on its Scrapy "
                             "engine, for comparison; e: hulian writing Parquet during the "
                             "crawl)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of a, b, c in turn; the table shows each crawler's median")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (site, runs)")
    args = parser.parse_args()
    if not shutil.which("nginx"):
        print("nginx is needed: apt-get install -y nginx", file=sys.stderr)
        return 1

    workdir, port, site, nginx = start_site("hulian-bench-crawl-", args.pages, args.links)
    policies = write_policies(workdir / "policies", port, args.pages)
    results: list[Measured] = []
    try:
        wrk_rps = wrk_check(port)
        start = f"http://{SITE_HOST}:{port}/p/0.html"
        c = str(args.concurrency)
        hulian_argv = [
            HULIAN, "--policies", str(policies), "crawl", "--source", "benchsite",
            "--allow-private", "--robots", "ignore", "--concurrency", c, "--per-host", c,
            "--out", str(workdir / "runs"), "--run-id", "bench", "--json",
            # Reports have their own benchmark (bench/report.py); verdicts, graph and the
            # history store still run after the crawl.
            "--report-format", ""]
        runs = {
            "a": ("a  plain Scrapy", [PYTHON, "bench/naive_spider.py", start]),
            "b": ("b  aiohttp", [PYTHON, "bench/aiohttp_crawler.py", start, "--concurrency", c]),
            "c": ("c  hulian crawl", hulian_argv),
            # Not a target, for comparison: the same crawl on hulian's Scrapy engine.
            "d": ("d  hulian (scrapy)", [*hulian_argv, "--engine", "scrapy"]),
            # (c) writing observations.parquet during the crawl (HULIAN_PARQUET=1; by default
            # the tables are built from the lines when the run is judged), for the cost of
            # each way: `--only ce` (docs/benchmarks.md).
            "e": ("e  hulian, pq live", ["env", "HULIAN_PARQUET=1", *hulian_argv]),
        }
        print(f"site: {site['pages']} posts × {args.links} links "
              f"({args.links - max(1, args.links // 4)} internal, {max(1, args.links // 4)} "
              f"outbound); {site['targets_linked']} distinct targets linked "
              f"({site['direct']} direct, {site['out']} via /out 302, {site['leave']} via /leave "
              f"interstitial; {site['dead_linked']} dead)", flush=True)
        print(f"nginx on 127.0.0.1/127.0.0.2:{port}, 1 worker; wrk -t1 -c32: "
              + (f"{wrk_rps:,.0f} requests/s" if wrk_rps else "wrk not installed"), flush=True)
        for round_ in range(args.repeat):
            for key in args.only:
                name, argv = runs[key]
                print(f"round {round_ + 1}: {name} ...", flush=True)
                shutil.rmtree(workdir / "runs", ignore_errors=True)  # a fresh bundle each time
                measured = run_crawler(key, name, argv, port, workdir,
                                       workdir / "nginx" / "requests.log")
                if key in ("c", "d", "e"):
                    observations = measured.output.get("observations")
                    measured.probes = int(observations) if isinstance(observations, int) else 0
                results.append(measured)
                print(f"   {measured.served} requests in a {measured.window:.1f} s crawl window "
                      f"({measured.rps:.0f}/s), {measured.seconds:.1f} s spawn to exit "
                      f"({measured.rps_end_to_end:.0f}/s); peak RSS: largest process "
                      f"{measured.peak_rss_mb:.0f} MB, process tree "
                      f"{measured.peak_tree_rss_mb:.0f} MB (PSS {measured.peak_tree_pss_mb:.0f}); "
                      f"own report: {json.dumps(measured.output)[:200]}", flush=True)
    finally:
        stop_nginx(nginx)
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"{'crawler':<18}{'requests':>9}{'window s':>10}{'req/s':>8}{'probes/s':>9}"
          f"{'e2e s':>8}{'e2e req/s':>10}{'RSS MB':>8}{'tree RSS':>9}{'tree PSS':>9}{'exit':>5}")
    by_key: dict[str, Measured] = {}
    for key in args.only:
        runs_of = sorted((m for m in results if m.key == key), key=lambda m: m.rps)
        if not runs_of:
            continue
        m = runs_of[len(runs_of) // 2]  # the median run (by requests/s)
        by_key[key] = m
        pps = f"{m.probes_per_s:.0f}" if m.probes_per_s is not None else "n/a"
        print(f"{m.name:<18}{m.served:>9}{m.window:>10.1f}{m.rps:>8.0f}{pps:>9}"
              f"{m.seconds:>8.1f}{m.rps_end_to_end:>10.0f}"
              f"{max(r.peak_rss_mb for r in runs_of):>8.0f}"
              f"{max(r.peak_tree_rss_mb for r in runs_of):>9.0f}"
              f"{max(r.peak_tree_pss_mb for r in runs_of):>9.0f}{m.exit_status:>5}")
    if args.repeat > 1:
        print(f"(median of {args.repeat} rounds by crawl-window requests/s; memory: the highest "
              "of the rounds)")
    hulian = by_key.get("c")
    if hulian is not None:
        for other, target, label in (("a", TARGET_RATIO, "c/a"), ("b", CEILING_RATIO, "c/b")):
            if other not in by_key:
                continue
            ratio = hulian.rps / by_key[other].rps
            e2e = hulian.rps_end_to_end / by_key[other].rps_end_to_end
            met = "met" if ratio >= target else "NOT met"
            print(f"{label} = {ratio:.2f} over the crawl window (target >= {target}: {met}); "
                  f"{e2e:.2f} spawn to exit")
        rss = max(m.peak_tree_rss_mb for m in results if m.key == "c")
        met = "met" if rss < RSS_LIMIT_MB else "NOT met"
        print(f"hulian peak RSS of the whole process tree = {rss:.0f} MB  "
              f"(target < {RSS_LIMIT_MB} MB: {met})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
