"""Baseline (b) of bench/crawl.py: a minimal asyncio/aiohttp crawler, the practical ceiling
of one Python process for this job.

From page 0 it fetches every page and every wrapper link it finds, with a fixed number of
workers sharing one keep-alive connection pool, regex link extraction, a seen-set (each URL
is fetched once) and redirects followed by hand (a Location is queued like a link, so a
redirect target already fetched is not fetched again). Nothing is parsed beyond the hrefs,
nothing is written. Prints one JSON line with its counters.

    python bench/aiohttp_crawler.py http://127.0.0.1:PORT/p/0.html [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from urllib.parse import urljoin

import aiohttp

HREF = re.compile(rb"""<a\s[^>]*?href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


async def crawl(start: str, concurrency: int) -> dict[str, int]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    seen = {start}
    counts = {"requests": 0, "errors": 0, "redirects": 0, "not_found": 0}
    queue.put_nowait(start)

    def add(url: str) -> None:
        url = url.split("#", 1)[0]
        if url.startswith(("http://", "https://")) and url not in seen:
            seen.add(url)
            queue.put_nowait(url)

    async def worker(session: aiohttp.ClientSession) -> None:
        while True:
            url = await queue.get()
            try:
                counts["requests"] += 1
                async with session.get(url, allow_redirects=False) as response:
                    body = await response.read()
                    if 300 <= response.status < 400 and "Location" in response.headers:
                        counts["redirects"] += 1
                        add(urljoin(url, response.headers["Location"]))
                    elif response.status >= 400:
                        counts["not_found"] += 1
                    elif "html" in response.headers.get("Content-Type", ""):
                        for match in HREF.finditer(body):
                            add(urljoin(url, match.group(1).decode("utf-8", "replace")))
            except (aiohttp.ClientError, TimeoutError):
                counts["errors"] += 1
            finally:
                queue.task_done()

    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        workers = [asyncio.create_task(worker(session)) for _ in range(concurrency)]
        await queue.join()
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    counts["seen"] = len(seen)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("start")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(crawl(args.start, args.concurrency))))


if __name__ == "__main__":
    main()
