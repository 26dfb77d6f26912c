"""Cost of writing the WARC evidence: FastWARC's writer (audit/evidence/warc.py) side by side
with the hand-written writer it replaced (the same file at `--baseline`, read with git show).

    .venv/bin/python bench/warc.py [--posts 2000] [--rounds 7] [--baseline fdd3ccf]

The exchanges are the crawl benchmark's (bench/crawl.py's generated site, `--posts` posts):
each post page (~4 kB of Chinese HTML), each distinct `/out` link (a 302 with a Location),
each `/leave` interstitial, each linked product page (~0.5 kB) and the dead targets' 404s,
with nginx's response headers and hulian's request headers: what the recorder process writes
in a crawl of that site. Both writers run in this process, in alternating rounds (so load
from other work on the machine falls on both alike), each round writing every exchange into
a fresh file without a flush per exchange, as the recorder does (`flush_each=False`); both
gzip each record with the same deflate (ISA-L where python-isal is installed). Printed: CPU
µs per exchange (median of the rounds, and the fastest round), bytes per exchange, the ratio,
and what the difference is against a crawl's CPU per request. Both files are then read back
with warcio, digests checked, and must hold the same HTTP messages.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import crawl as site_bench  # type: ignore[import-not-found]  # noqa: E402  # bench/crawl.py, on sys.path

from audit.evidence import warc as current  # noqa: E402

# The last commit with hulian's own WARC writer (before FastWARC).
BASELINE = "876e30f"
PORT = 8080
# A crawl's CPU per request, all processes, on the crawl benchmark's 2,000-post site
# (docs/benchmarks.md, "What changed in the fourth session": 7.1-8.0 CPU s for 7,244
# requests, of which the recorder 1.1 s), to put the difference in proportion: measured
# there, not here.
CRAWL_CPU_US_PER_REQUEST = 1050.0

Headers = list[tuple[str, str]]
Exchange = dict[str, Any]


def _nginx_headers(content_type: str, length: int,
                   extra: tuple[tuple[str, str], ...] = ()) -> Headers:
    return [("Server", "nginx/1.22.1"), ("Date", "Wed, 02 Dec 2026 01:50:37 GMT"),
            ("Content-Type", content_type), ("Content-Length", str(length)),
            ("Connection", "keep-alive"), *extra]


def _request_headers(url: str) -> Headers:
    host = url.split("/")[2]
    return [("Host", host), ("User-Agent", "hulian/0.1 (+link-blocking audit)"),
            ("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
            ("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.5"),
            ("Accept-Encoding", "gzip, deflate")]


def exchanges(site: Path, posts: int) -> list[Exchange]:
    """The crawl's exchanges on the generated site, in crawl order (a post, then its links)."""
    import re

    base = f"http://{site_bench.SITE_HOST}:{PORT}"
    shop = f"http://{site_bench.SHOP_HOST}:{PORT}"
    seen: set[str] = set()
    out: list[Exchange] = []

    def add(url: str, status: int, headers: Headers, payload: bytes) -> None:
        if url in seen:
            return
        seen.add(url)
        out.append({"url": url, "method": "GET", "request_headers": _request_headers(url),
                    "request_body": b"", "status": status, "response_headers": headers,
                    "payload": payload})

    for i in range(posts):
        page = (site / "p" / f"{i}.html").read_bytes()
        add(f"{base}/p/{i}.html", 200, _nginx_headers("text/html", len(page)), page)
        for href in re.findall(rb'href="([^"]+)" rel="nofollow"', page):
            link = href.decode()
            target = link.split("target=", 1)[-1]
            if link.startswith("/out"):
                add(base + link, 302, _nginx_headers("text/html", 145, (("Location", target),)),
                    b"<html>\r\n<head><title>302 Found</title></head>\r\n<body>\r\n<center><h1>"
                    b"302 Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>"
                    b"\r\n</html>\r\n")
            elif link.startswith("/leave"):
                body = site_bench.LEAVE_PAGE.replace("$arg_target", target).encode()
                add(base + link, 200, _nginx_headers("text/html", len(body)), body)
            item = site / "item" / target.removeprefix(f"{shop}/item/")
            if item.exists():
                body = item.read_bytes()
                add(target, 200, _nginx_headers("text/html", len(body)), body)
            else:
                body = b"<html><head><title>404 Not Found</title></head></html>"
                add(target, 404, _nginx_headers("text/html", len(body)), body)
    return out


def load_baseline(rev: str) -> ModuleType:
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:audit/evidence/warc.py"],
                            check=True, capture_output=True).stdout
    path = Path(tempfile.mkdtemp(prefix="hulian-bench-warc-")) / "baseline_warc.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("baseline_warc", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_all(module: ModuleType, items: list[Exchange], path: Path) -> float:
    """CPU seconds to write every exchange (the recorder's work: one exchange() each)."""
    path.unlink(missing_ok=True)
    log = module.WarcLog(path, flush_each=False)
    exchange: Callable[..., str] = log.exchange
    date = 1_796_176_237.0
    started = time.process_time()
    for item in items:
        exchange(date=date, **item)
    log.close()
    return time.process_time() - started


def read_back(path: Path) -> list[tuple[str, str | None, bytes]]:
    """(type, target, block) of every record, digests checked by warcio."""
    from warcio.archiveiterator import ArchiveIterator

    records = []
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream, check_digests="raise"):
            block = (record.http_headers.to_bytes() if record.http_headers else b"") \
                + record.content_stream().read()
            records.append((record.rec_type, record.rec_headers.get_header("WARC-Target-URI"),
                            block))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--baseline", default=BASELINE,
                        help="git revision whose audit/evidence/warc.py is the baseline")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="hulian-bench-warc-"))
    work.mkdir(parents=True, exist_ok=True)
    site = work / "site"
    if not (site / "p" / "0.html").exists():
        site_bench.generate_site(site, PORT, args.posts, 20)
    items = exchanges(site, args.posts)
    baseline = load_baseline(args.baseline)
    writers = {"hand-written (baseline)": baseline, "FastWARC (current)": current}
    deflate = "ISA-L" if current._isal_zlib is not None else "zlib"
    print(f"{len(items):,} exchanges from {args.posts:,} posts "
          f"({sum(len(i['payload']) for i in items) / len(items):,.0f} payload bytes on "
          f"average); deflate: {deflate}; baseline {args.baseline}", file=sys.stderr)
    times: dict[str, list[float]] = {name: [] for name in writers}
    files = {name: work / f"{n}.warc.gz" for n, name in enumerate(writers)}
    for round_no in range(args.rounds):
        order = list(writers.items())
        if round_no % 2:
            order.reverse()
        for name, module in order:
            times[name].append(write_all(module, items, files[name]) / len(items) * 1e6)
        print(f"round {round_no + 1}: " + ", ".join(f"{n} {times[n][-1]:.1f} µs"
                                                     for n in writers), file=sys.stderr)
    base_name, cur_name = list(writers)
    same = read_back(files[base_name]) == read_back(files[cur_name])
    print("| writer | µs per exchange (median) | fastest round | bytes per exchange |")
    print("|---|---:|---:|---:|")
    for name in writers:
        print(f"| {name} | {statistics.median(times[name]):.1f} | {min(times[name]):.1f} | "
              f"{files[name].stat().st_size / len(items):,.0f} |")
    base_us, cur_us = (statistics.median(times[n]) for n in writers)
    print(f"\nratio FastWARC / hand-written: {cur_us / base_us:.2f}× "
          f"({cur_us - base_us:+.1f} µs per exchange; "
          f"{(cur_us - base_us) / CRAWL_CPU_US_PER_REQUEST:+.1%} of a crawl's "
          f"~{CRAWL_CPU_US_PER_REQUEST / 1000:.2f} ms CPU per request)")
    print(f"records read back by warcio, digests checked; same HTTP messages: "
          f"{'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
