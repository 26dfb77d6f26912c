"""Chains from captured flows: a simulated in-app browser clicks every link of every lab
seed page (83 edges, every outcome and fault); the flows are saved as a mitmproxy dump with
secrets planted in them; `capture analyze` must give the lab's truth for every edge, and no
output file may contain a secret. Also: the addon marks flows (taddons/tflow)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from mitmproxy import flow as mflow
from mitmproxy import io as mio
from mitmproxy.test import taddons, tflow

from audit.lab.pages import Site
from audit.lab.policies import write_policies
from audit.lab.scenario import load_scenario, truth
from audit.measure import chain as chains
from audit.measure.capture.addon import CaptureAddon
from audit.measure.capture.chains import find_tokens, normalize
from audit.measure.capture.formats import FlowRecord
from audit.measure.capture.plan import Plan, load_plan, make_lab_plan, write_plan
from audit.measure.capture.run import CaptureSession
from audit.model import Probe, SurfaceKind
from audit.policy.catalog import load_catalog, policy_dirs

SECRETS = ["SESSIONSECRET123", "AUTHSECRET456", "QSECRET789", "13812345678",
           "oPENIDx1234567890abcdefghijk", "BODYTOKEN000"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Plan]:
    """One plan holding every lab edge (all sources and surfaces), with the lab policies."""
    directory = tmp_path_factory.mktemp("plan")
    scenario = load_scenario(None)
    probes: list[Probe] = []
    for source, surface in sorted({(e.source, e.surface) for e in scenario.edges}):
        probes += make_lab_plan(None, source, surface).probes
    plan = make_lab_plan(None, "wetalk", SurfaceKind.IM_PRIVATE)
    plan.probes = probes
    write_policies(scenario, directory / "policies")
    plan.policies = "policies"
    write_plan(plan, directory)
    return directory, plan


def _browse(site: Site, url: str, catalog: object) -> list[tuple[str, object]]:
    """What an in-app browser fetches for one click: redirects, meta refresh and JS followed,
    a warning's continue button pressed once (audit.measure.chain says where each hop goes)."""
    scratch = chains.Chain(probe=Probe(id="x", source="x", surface=SurfaceKind.POST,
                                       target_url="http://x.invalid/"))
    out: list[tuple[str, object]] = []
    via: chains.Via = "start"
    for _ in range(12):
        parts = urlsplit(url)
        answer = site.respond(parts.hostname or "", parts.path or "/", parts.query)
        out.append((url, answer))
        if answer.fault:
            break
        headers = {k.lower(): v for k, v in answer.headers}
        step = chains.on_response(scratch, chains.Response(url, answer.status, headers,
                                                           answer.body), via, catalog)  # type: ignore[arg-type]
        if step.action != "follow" or not step.url:
            break
        url, via = step.url, step.via
    return out


def _flow(url: str, answer: object, t: float, referer: str | None) -> mflow.Flow:
    flow = tflow.tflow(resp=True)
    flow.request.url = url
    flow.request.headers.clear()
    flow.request.headers["Host"] = urlsplit(url).netloc
    flow.request.headers["Sec-Fetch-Dest"] = "document"
    flow.request.headers["Cookie"] = "sid=SESSIONSECRET123; theme=dark"
    flow.request.headers["Authorization"] = "Bearer AUTHSECRET456"
    if referer:
        flow.request.headers["Referer"] = referer
    flow.request.timestamp_start = t
    fault = getattr(answer, "fault", None)
    if fault:
        flow.response = None
        flow.error = mflow.Error("timed out" if fault == "hang" else "connection reset by peer")
        return flow
    assert flow.response is not None
    flow.response.status_code = answer.status  # type: ignore[attr-defined]
    flow.response.headers.clear()
    for name, value in answer.headers:  # type: ignore[attr-defined]
        flow.response.headers.add(name, value)
    flow.response.headers["Set-Cookie"] = "sid=SESSIONSECRET123; Path=/"
    flow.response.content = answer.body  # type: ignore[attr-defined]
    flow.response.timestamp_start = t + 0.01
    flow.response.timestamp_end = t + 0.02
    return flow


def _dump(plan: Plan, catalog_dirs: list[Path], path: Path) -> None:
    site = Site(load_scenario(None))
    catalog = load_catalog(catalog_dirs)
    t = 1_700_000_000.0
    with path.open("wb") as fh:
        writer = mio.FlowWriter(fh)  # type: ignore[no-untyped-call]
        for probe in plan.probes:
            if not probe.link_url:
                continue
            referer = probe.seed_url
            for url, answer in _browse(site, probe.link_url, catalog):
                # Noise between hops: an image with a secret in its query and a phone
                # number in a POST body (a tracking call), attributed to nothing.
                noise = tflow.tflow(resp=True)
                noise.request.url = "http://cdn.example.com/pixel.gif?sid=QSECRET789&openid=" \
                                    "oPENIDx1234567890abcdefghijk"
                noise.request.method = "POST"
                noise.request.content = b"phone=13812345678&token=BODYTOKEN000"
                noise.request.timestamp_start = t
                writer.add(noise)
                writer.add(_flow(url, answer, t, referer))
                referer = url
                t += 0.5
            t += 60  # the next click, after the chain window


def test_every_lab_edge_from_a_capture_equals_the_truth(lab: tuple[Path, Plan],
                                                        tmp_path: Path) -> None:
    directory, plan = lab
    dump = tmp_path / "lab.mitm"
    _dump(plan, [*policy_dirs(), directory / "policies"], dump)
    session = CaptureSession.open(plan=directory, run=tmp_path / "run")
    result = session.read(dump)
    session.close()
    session.finish()
    assert result.error is None
    measured = {}
    for line in (tmp_path / "run" / "observations.jsonl").read_text().splitlines():
        obs = json.loads(line)
        measured[(obs["source"], obs["surface"], obs["target_platform"])] = obs["outcome"]
    expected = {(r["source"], r["surface"], r["target"]): r["outcome"]
                for r in truth(load_scenario(None))}
    assert measured == expected
    # The review queue, written from the run's table at its end: DingWork's unreadable page,
    # as the lines have it.
    from dataclasses import astuple

    from audit.evidence.review import review_of

    queued = list(csv.reader(io.StringIO(
        (tmp_path / "run" / "review.csv").read_text(encoding="utf-8-sig"))))[1:]
    assert len(queued) == 1 and "dingwork" in queued[0]
    assert queued == [list(astuple(i)) for i in review_of(tmp_path / "run")]
    # Privacy: nothing planted survives into any file of the bundle.
    for file in (tmp_path / "run").rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            for secret in SECRETS:
                assert secret.encode() not in data, (file, secret)


def test_keep_secrets_keeps_them(lab: tuple[Path, Plan], tmp_path: Path) -> None:
    directory, plan = lab
    small = Plan(id=plan.id, source=plan.source, surface=plan.surface, created=plan.created,
                 probes=[p for p in plan.probes if p.target_url.startswith("http://www.zhiwen")
                         and p.source == "wetalk"], policies="policies")
    write_plan(small, directory / "small")
    (directory / "small" / "policies").symlink_to(directory / "policies")
    dump = tmp_path / "small.mitm"
    _dump(small, [*policy_dirs(), directory / "policies"], dump)
    session = CaptureSession.open(plan=directory / "small", run=tmp_path / "run",
                                  keep_secrets=True)
    session.read(dump)
    session.close()
    assert session.builder.outcomes


def test_tokens_survive_encodings() -> None:
    token = "hpabcdefgh23"
    url = "http://go.x.example/out?target=http%253A%252F%252Fa.example%252F%253Fhulian_probe%253D" + token
    record = FlowRecord(file="f", index=0, offset=None, started=None, method="GET", url=url)
    assert ("p", "abcdefgh23") in find_tokens(record)
    import base64

    b64 = base64.urlsafe_b64encode(f"http://a.example/?hulian_probe={token}".encode()).decode()
    record.url = f"http://go.x.example/out?u={b64}"
    assert ("p", "abcdefgh23") in find_tokens(record)
    assert normalize("HTTP://A.example:80/x?hulian_probe=hpabcdefgh23#f") == "http://a.example/x"


def test_addon_marks_flows_and_writes_observations(lab: tuple[Path, Plan],
                                                   tmp_path: Path) -> None:
    directory, plan = lab
    probe = next(p for p in plan.probes if p.source == "wetalk"
                 and p.surface is SurfaceKind.IM_GROUP and p.target_platform == "taoshop")
    assert probe.link_url
    site = Site(load_scenario(None))
    catalog = load_catalog([*policy_dirs(), directory / "policies"])
    addon = CaptureAddon()
    run = tmp_path / "run"
    with taddons.context(addon) as tctx:  # type: ignore[no-untyped-call]
        tctx.configure(addon, hulian_plan=str(directory), hulian_run=str(run))
        for url, answer in _browse(site, probe.link_url, catalog):
            flow = _flow(url, answer, 1_700_000_000.0, None)
            addon.response(flow)  # type: ignore[arg-type]
        assert flow.metadata["hulian"]["kind"] == "interstitial"
        assert flow.metadata["hulian"]["outcome"] == "copy_only"
        assert flow.marked and "copy_only" in flow.comment
        addon.done()
    observations = [json.loads(x) for x in (run / "observations.jsonl").read_text().splitlines()]
    # The decided chain, then (at the end) the planned links shown as plain text.
    assert observations[0]["outcome"] == "copy_only"
    assert {o["outcome"] for o in observations[1:]} == {"stripped"}
    with (run / "evidence" / "flows.mitm").open("rb") as fh:
        flows = list(mio.FlowReader(fh).stream())
    assert len(flows) == 1
    assert b"SESSIONSECRET123" not in (run / "evidence" / "flows.mitm").read_bytes()
    assert load_plan(directory)[0].id == plan.id


def test_plan_files_tokens_and_qr(tmp_path: Path) -> None:
    from audit.measure.capture.plan import make_plan
    from audit.measure.targets import Target

    catalog = load_catalog(policy_dirs())
    targets = [Target("https://www.taobao.com/"), Target("https://www.taobao.com/"),
               Target("https://www.douyin.com/?x=1")]
    plan = make_plan(catalog, "weixin", SurfaceKind.IM_GROUP, targets)
    assert len(plan.probes) == 2  # duplicates dropped: targets identify probes too
    assert len({p.token for p in plan.probes}) == 2
    assert plan.probes[1].link_url == f"https://www.douyin.com/?x=1&hulian_probe={plan.probes[1].token}"
    files = write_plan(plan, tmp_path)
    assert (tmp_path / "plan.html").read_text().count("<svg") == 2
    assert "hulian_probe=hc" in (tmp_path / "plan.md").read_text()
    loaded, directory = load_plan(files[0])
    assert loaded.probes == plan.probes and directory == tmp_path
