"""The real chain logic (audit.measure.chain) driven on given answers, as the engines drive
it: a link's hops followed from URL to URL, then the control fetch of the target with its own
redirects where the chain wants one. For tests of how pages and chains are read."""

from __future__ import annotations

from audit.measure import chain as chains
from audit.model import Observation, Probe, RenderedAs, SurfaceKind
from audit.policy.catalog import Catalog

TARGET = "https://shop.example-target.com/item/42"
# Zhihu's link wrapper (a declared interception endpoint) for TARGET.
WRAPPER = ("https://link.zhihu.com/?target=https%3A%2F%2Fshop.example-target.com"
           "%2Fitem%2F42")
ARTICLE = "".join(f"<p>Teapot number {n}: ceramic, hand made, glazed in blue and white, ships "
                  f"in {n % 7 + 1} days from the workshop.</p>" for n in range(40))

# URL -> (status, headers, body); a Content-Type of text/html unless the headers give one.
Answers = dict[str, tuple[int, dict[str, str], bytes]]


def drive(catalog: Catalog, start: str, answers: Answers, control: Answers, *,
          target: str = TARGET, source: str = "zhihu",
          rendered_as: RenderedAs = "anchor") -> Observation:
    """The observation of a `source` link to `target` whose chain starts at `start`, each URL
    answered from `answers`; the control fetch, where wanted, from `control`."""
    probe = Probe(id="p", source=source, surface=SurfaceKind.POST, target_url=target,
                  rendered_as=rendered_as)
    chain = chains.Chain(probe=probe)
    via = "start"
    url: str | None = start
    while url is not None:
        status, headers, body = answers[url]
        step = chains.on_response(chain, chains.Response(
            url=url, status=status, headers={"content-type": "text/html", **headers},
            body=body), via, catalog)  # type: ignore[arg-type]
        if step.action != "follow":
            if step.action == "fail":  # as the probe driver records it
                chain.failure = step.failure
            break
        via, url = step.via or "http", step.url
    if chains.wants_control(chain):
        asked: str | None = target
        while asked is not None:
            status, headers, body = control[asked]
            step = chains.on_control_response(chain, chains.Response(
                url=asked, status=status, headers={"content-type": "text/html", **headers},
                body=body), catalog)
            asked = step.url if step.action == "follow" else None
    return chains.observation(chain, run_id="r", method="crawl")
