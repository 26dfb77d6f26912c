"""A single-page app's hash route (`#/item/1`) is the page a user sees, and its server answers
every route with the same page: a wrapper that sends the link to another route (`#/`, the
home) has not opened it (an adversarial review, 2026-12-07)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from audit.measure.capture.chains import ChainBuilder, add_token
from audit.measure.capture.formats import FlowRecord
from audit.model import Observation, Outcome, Probe, SurfaceKind
from audit.policy.catalog import Catalog, load_catalog
from tests import zoo
from tests.chaindrive import drive
from tests.localsite import serve

SHOP = "https://shop.example-target.com/"
T0 = 1_764_000_000.0  # a plausible time (2025-11-24)
ROUTE = SHOP + "#/item/42"
SHELL = (b"<html><head><title>shop</title></head><body><div id=app></div>"
         b"<script src=/app.js></script></body></html>")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _through_zhihu(catalog: Catalog, target: str, location: str) -> Outcome:
    wrapper = "https://link.zhihu.com/?target=" + quote(target, safe="")
    answers = {wrapper: (302, {"location": location}, b""), location: (200, {}, SHELL)}
    return drive(catalog, wrapper, answers, {target: (200, {}, SHELL), SHOP: (200, {}, SHELL)},
                 target=target).outcome


@pytest.mark.parametrize(("location", "outcome"), [
    (SHOP + "#/", Outcome.UNRECOGNIZED),  # the home route (it read `wrapped`)
    (SHOP, Outcome.UNRECOGNIZED),  # no fragment: the wrapper's own request had none
    (SHOP + "#top", Outcome.UNRECOGNIZED),  # a place on the page, not the route
    (ROUTE, Outcome.WRAPPED),
    (SHOP + "#!/item/42", Outcome.UNRECOGNIZED),  # another router's route is another route
])
def test_a_wrapper_must_keep_the_route(catalog: Catalog, location: str,
                                       outcome: Outcome) -> None:
    assert _through_zhihu(catalog, ROUTE, location) is outcome


def test_a_fragment_that_is_no_route_is_a_place_on_the_page(catalog: Catalog) -> None:
    assert _through_zhihu(catalog, SHOP + "#reviews", SHOP) is Outcome.WRAPPED
    assert drive(catalog, ROUTE, {ROUTE: (200, {}, SHELL)}, {ROUTE: (200, {}, SHELL)},
                 target=ROUTE).outcome is Outcome.DIRECT


def _flow(url: str, status: int = 200, *, t: float, location: str | None = None) -> FlowRecord:
    return FlowRecord(file="t.har", index=0, offset=None, started=t, method="GET", url=url,
                      request_headers={"sec-fetch-dest": "document"}, status=status,
                      response_headers={"content-type": "text/html",
                                        **({"location": location} if location else {})},
                      response_body=b"" if location else SHELL)


def _captured(catalog: Catalog, flows: list[FlowRecord], token: str) -> list[Observation]:
    probe = Probe(id="p", source="weixin", surface=SurfaceKind.IM_PRIVATE, target_url=ROUTE,
                  link_url=add_token(ROUTE, token), token=token)
    builder = ChainBuilder(catalog, [probe])
    out: list[Observation] = []
    for flow in flows:
        out += builder.feed(flow).observations
    return [o for o in out + builder.close() if o.hops]


def test_a_capture_knows_a_route_only_from_a_location(catalog: Catalog) -> None:
    # A browser never sends a fragment: the captured request for the link is the shop's page
    # with no route to see, which is not taken for a lost one.
    token = "hpfragroutes"
    link = add_token(ROUTE, token).partition("#")[0]
    (opened,) = _captured(catalog, [_flow(link, t=T0)], token)
    assert opened.outcome is Outcome.DIRECT
    # A redirect's Location does carry one: the home route is not the target.
    wrapper = "https://mp.weixinbridge.com/mp/wapredirect?url=" + quote(add_token(ROUTE, token),
                                                                        safe="")
    # A Location without one after a wrapper's URL, which has none of its own: the route is
    # lost (it read `wrapped`: the review of this test's fix).
    for location, outcome in ((SHOP + "#/", Outcome.UNRECOGNIZED), (ROUTE, Outcome.WRAPPED),
                              (SHOP, Outcome.UNRECOGNIZED)):
        flows = [_flow(wrapper, 302, t=T0, location=location), _flow(SHOP, t=T0 + 0.2)]
        (observation,) = _captured(catalog, flows, token)
        assert observation.outcome is outcome, location


@pytest.mark.parametrize("engine", ["asyncio", "scrapy"])
def test_both_engines_record_the_route_they_navigate(tmp_path: Path, engine: str) -> None:
    # Scrapy's download handlers drop the fragment from a response's URL: a direct link to a
    # route read as a lost route there, and `direct` here.
    seed = (b"<p>post</p><a href='http://shop.test/#/item/1'>d</a>"
            b"<a href='http://go.test/?url=http%3A%2F%2Fshop.test%2F%23%2Fitem%2F2'>w</a>")
    pages = {"forum.test/p": (200, {}, seed), "shop.test/": (200, {}, SHELL),
             "go.test/": (302, {"Location": "http://shop.test/#/"}, b"")}
    with serve(pages) as site:
        result = subprocess.run(
            [sys.executable, "-m", "audit.cli", "--policies", str(zoo.policies(tmp_path / "p")),
             "run", "--seed", "testforum:post:http://forum.test/p", "--source", "testforum",
             "--route", f"*.test={site.url}", "--robots", "ignore", "--out",
             str(tmp_path / "runs"), "--run-id", "r", "--report-format", "", "--json",
             "--engine", engine], capture_output=True, text=True, timeout=240, check=False,
            env={**os.environ, "HULIAN_DB": "off"})
    assert result.returncode == 0, result.stderr[-3000:]
    lines = (tmp_path / "runs" / "r" / "observations.jsonl").read_text().splitlines()
    outcomes = {json.loads(line)["target_url"]: json.loads(line)["outcome"] for line in lines}
    assert outcomes == {"http://shop.test/#/item/1": "direct",
                        "http://shop.test/#/item/2": "unrecognized"}
