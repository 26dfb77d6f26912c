"""Benchmark of the page reading on the corpus's real pages: what a crawl pays for each page
it reads, apart from the network.

    .venv/bin/python bench/pages.py [--corpus ../shared/corpus] [--rounds 5]
    PYTHONPATH=OTHER_TREE .venv/bin/python bench/pages.py   # the same on another checkout

For every page labelled in the corpus (labels/pages.jsonl) and its two interstitials, each
measured alone and summed over the pages, best of `--rounds` rounds:
  parse    - audit.web.page.parse_page on the decoded text
  plan     - audit.measure.chain.plan_probes on the bytes (a seed page's probes: decoding,
             parsing, the outbound links and how each is met, `rendered_as`)
  forward  - audit.judge.forwards.page_forward on a parsed page (its refresh and scripts read)
and prints the totals in milliseconds with the probes planned (the same count on two trees
means the same plan). Nothing touches the network; the corpus is read from disk (skipped with
a message where it is absent).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # a PYTHONPATH given first (another tree) wins


def _fresh() -> None:
    """Forget what a reading keeps for the same page's next reading (a page's parsed style
    sheets, where the tree has that cache): a crawl meets each page once, so each round is
    timed as a first meeting."""
    from audit.web import stylesheet

    cache = getattr(stylesheet, "_parsed", None)
    if cache is not None and hasattr(cache, "cache_clear"):
        cache.cache_clear()


def _best(function: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        _fresh()
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    labels = args.corpus / "labels" / "pages.jsonl"
    if not labels.exists():
        print(f"no corpus at {args.corpus} (labels/pages.jsonl): nothing measured")
        return 0

    import audit
    from audit.judge.forwards import page_forward
    from audit.measure.chain import plan_probes
    from audit.model import SurfaceKind
    from audit.policy.catalog import load_catalog
    from audit.web.decode import decode_html
    from audit.web.page import parse_page

    catalog = load_catalog()
    entries = [json.loads(line) for line in labels.read_text().splitlines() if line.strip()]
    pages = [(args.corpus / entry["file"], entry["url"], entry.get("platform") or "unknown")
             for entry in entries]
    pages += [(path, "https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi",
               "wechat") for path in sorted((args.corpus / "interstitials").glob("*.htm"))]
    parse_s = plan_s = forward_s = 0.0
    probes = 0
    for path, url, platform in pages:
        body = path.read_bytes()
        text = decode_html(body, "text/html").text
        parse_s += _best(lambda: parse_page(text, url), args.rounds)  # noqa: B023
        plan_s += _best(lambda: plan_probes(body, "text/html", url, source=platform,  # noqa: B023
                                            surface=SurfaceKind.POST, catalog=catalog),
                        args.rounds)
        probes += len(plan_probes(body, "text/html", url, source=platform,
                                  surface=SurfaceKind.POST, catalog=catalog).probes)
        # Each round on a page of its own (parsed, not timed): a page keeps what its reading
        # found (Page.navigations, Page.halts), as a crawl asks it several times.
        fresh = [parse_page(text, url) for _ in range(args.rounds)]
        forward_s += _best(lambda: page_forward(fresh.pop()), args.rounds)  # noqa: B023
    print(f"tree: {Path(audit.__file__).resolve().parents[1]}")
    print(f"pages: {len(pages)}, rounds: {args.rounds} (best of each, summed)")
    print(f"parse_page   {parse_s * 1e3:9.1f} ms")
    print(f"plan_probes  {plan_s * 1e3:9.1f} ms  ({probes} probes)")
    print(f"page_forward {forward_s * 1e3:9.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
