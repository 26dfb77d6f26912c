"""HTTP client cost: CPU per GET for aiohttp and for hulian's own client
(audit/measure/asyncio/http1.py, responses parsed by llhttp through httptools; through
audit/measure/asyncio/fetch.Fetcher, as the crawl engine uses it), each on the standard
asyncio loop and on uvloop, against the same nginx and pages as bench/crawl.py. The figures
behind the choice of the asyncio engine's client (README "Architecture decisions",
docs/benchmarks.md "Crawler" and "Issue 14: HTTP parsing on httptools/h11").

    .venv/bin/python bench/http_client.py [--pages 2000] [--rounds 3]

Each client fetches every page (posts on 127.0.0.1, products on 127.0.0.2) with 32 workers over
one keep-alive pool; rounds alternate the four variants; the table shows each one's median
CPU per request and its ratio to aiohttp on the standard loop, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.crawl import SHOP_HOST, SITE_HOST, start_site, stop_nginx

WORKERS = 32


async def with_aiohttp(urls: list[str]) -> None:
    import aiohttp

    queue = list(urls)
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=WORKERS),
                                     timeout=timeout, auto_decompress=False) as session:
        async def worker() -> None:
            while queue:
                async with session.get(queue.pop(), allow_redirects=False) as response:
                    await response.read()

        await asyncio.gather(*(worker() for _ in range(WORKERS)))


async def with_hulian(urls: list[str]) -> None:
    from audit.measure.asyncio.fetch import Fetcher

    queue = list(urls)
    async with Fetcher(user_agent="hulian-bench", timeout_s=20, max_bytes=1 << 25,
                       pool_size=WORKERS) as fetcher:
        async def worker() -> None:
            while queue:
                await fetcher.fetch(queue.pop())

        await asyncio.gather(*(worker() for _ in range(WORKERS)))


Client = Callable[[list[str]], Coroutine[Any, Any, None]]


def measure(client: Client, urls: list[str], loop: str) -> tuple[float, float]:
    """(CPU µs per request, requests per second) of one pass."""
    started, cpu = time.perf_counter(), time.process_time()
    if loop == "uvloop":
        import uvloop

        uvloop.run(client(urls))
    else:
        asyncio.run(client(urls))
    wall = time.perf_counter() - started
    return (time.process_time() - cpu) / len(urls) * 1e6, len(urls) / wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("nginx"):
        print("nginx is needed: apt-get install -y nginx", file=sys.stderr)
        return 1
    workdir, port, _, nginx = start_site("hulian-bench-http-", args.pages, 20)
    urls = ([f"http://{SITE_HOST}:{port}/p/{n}.html" for n in range(args.pages)]
            + [f"http://{SHOP_HOST}:{port}/item/{n}.html" for n in range(args.pages)])
    variants: dict[str, tuple[Client, str]] = {
        "aiohttp, asyncio loop": (with_aiohttp, "asyncio"),
        "aiohttp, uvloop": (with_aiohttp, "uvloop"),
        "hulian http1, asyncio loop": (with_hulian, "asyncio"),
        "hulian http1, uvloop": (with_hulian, "uvloop"),
    }
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    rate: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for client, loop in variants.values():  # warm-up: imports, page cache
            measure(client, urls[:200], loop)
        for round_number in range(1, args.rounds + 1):
            for name, (client, loop) in variants.items():
                us, rps = measure(client, urls, loop)
                cpu[name].append(us)
                rate[name].append(rps)
                print(f"round {round_number}: {name:28} {us:6.0f} µs CPU/request "
                      f"{rps:7.0f} requests/s", flush=True)
    finally:
        stop_nginx(nginx)
        shutil.rmtree(workdir, ignore_errors=True)
    baseline = statistics.median(cpu["aiohttp, asyncio loop"])
    print(f"\n{len(urls)} GETs a pass, {WORKERS} workers, median of {args.rounds} rounds")
    print(f"{'client':28} {'µs CPU/req':>10} {'req/s':>8} {'CPU vs aiohttp':>15}")
    for name in variants:
        us = statistics.median(cpu[name])
        print(f"{name:28} {us:10.0f} {statistics.median(rate[name]):8.0f} "
              f"{us / baseline:14.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
