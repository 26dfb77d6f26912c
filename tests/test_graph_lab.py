"""The graph, the cross-target rules, the history store and `hulian diff` on real lab runs:
the default scenario and a copy with four edges changed, both run with `hulian run --lab` in
subprocesses (in parallel, to keep the suite fast)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner, Result

from audit.cli.graph import graph_command
from audit.cli.history import app as runs_app
from audit.cli.history import diff_command
from audit.evidence.bundle import Bundle
from audit.graph.build import build, company_graph, flat_metrics, metrics
from audit.history.diff import RunData, diff, summarise
from audit.history.rundata import from_bundle
from audit.history.store import list_runs, load_metrics, open_engine, record_run, run_figures
from audit.judge.cross import evaluate_graph_rules
from audit.judge.search_run import class_table, judge_search
from audit.lab.scenario import load_scenario
from audit.model import Status
from audit.policy.catalog import catalog_for_run

pytestmark = pytest.mark.slow

DEFAULT_SCENARIO = Path(__file__).resolve().parents[1] / "audit/lab/scenarios/default.yaml"

# The edges the modified scenario changes: (source, surface, target) -> (new outcome, change).
CHANGED = {
    ("wetalk", "im_group", "taoshop"): ("direct", "better"),     # was copy_only
    ("zhiwen", "post", "taoshop"): ("warned", "worse"),          # was wrapped
    ("larkly", "im_group", "tiktak"): ("copy_only", "worse"),    # was direct
    ("meiwei", "comment", "pinmall"): ("warned", "better"),      # was stripped
}

# Every cross-target failure the default scenario must produce, and nothing else.
# (rule, source, surface, worse-treated target). docs/lab.md stages WeTalk's discrimination of
# TaoShop against its own PinMall (4 surfaces, both rules) and Baidoo's self-preferencing of
# DuBar over XinBo (both rules: same category "social"). Two more follow from the scenario's
# edges under the non-discrimination rule, which counts own-group targets too: PayFly shows
# its own group's PinMall copy-only but TaoShop directly, and Meiwei strips PinMall while
# warning for TaoShop. Neither is self-preferencing (PayFly treats its own group worse; Meiwei
# has no own ecommerce). TikTak, the uniform warner, must not appear.
EXPECTED_FAILURES = {
    ("same-category-same-friction", "wetalk", s, "taoshop")
    for s in ("im_group", "im_private", "moments", "article")
} | {
    ("no-self-preferencing", "wetalk", s, "taoshop")
    for s in ("im_group", "im_private", "moments", "article")
} | {
    ("same-category-same-friction", "baidoo", "search", "xinbo"),
    ("no-self-preferencing", "baidoo", "search", "xinbo"),
    ("same-category-same-friction", "payfly", "profile", "pinmall"),
    ("same-category-same-friction", "meiwei", "comment", "pinmall"),
}


def _env(db: Path) -> dict[str, str]:
    return {**os.environ, "HULIAN_DB": f"sqlite:///{db}", "HULIAN_POLICIES": ""}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("graph-lab")
    scenario = yaml.safe_load(DEFAULT_SCENARIO.read_text(encoding="utf-8"))
    for edge in scenario["edges"]:
        key = (edge["source"], edge["surface"], edge["target"])
        if key in CHANGED:
            edge["outcome"] = CHANGED[key][0]
            edge.pop("via", None)
    modified = base / "modified.yaml"
    modified.write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    load_scenario(modified)  # the copy must be a valid scenario
    # Two output directories: concurrent runs into one --out race on its staging area.
    out_a, out_b = base / "runs-a", base / "runs-b"
    commands = {
        "a": ["run", "--lab", "--out", str(out_a), "--run-id", "a", "--json", "--report-format", ""],
        "b": ["run", "--lab", "--scenario", str(modified), "--out", str(out_b), "--run-id",
              "b", "--json", "--report-format", ""],
    }
    processes: dict[str, subprocess.Popen[str]] = {}
    for name, args in commands.items():
        processes[name] = subprocess.Popen([sys.executable, "-m", "audit.cli", *args],
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True, env=_env(base / "hook.db"))
        if name == "a":
            # Run b alongside a, but let a start first: "previous" means started earlier.
            deadline = time.monotonic() + 120
            while not (out_a / "a" / "manifest.json").exists() and time.monotonic() < deadline:
                if processes["a"].poll() is not None:
                    break
                time.sleep(0.1)
            time.sleep(0.5)
    outputs = {name: process.communicate(timeout=240) for name, process in processes.items()}
    for name, (stdout, stderr) in outputs.items():
        assert processes[name].returncode == 0, stderr[-3000:]
        summary = json.loads(stdout)
        assert summary["observations"] == 83, (name, summary["seed_errors"])
    return {"a": out_a / "a", "b": out_b / "b", "base": base}


def _findings(run: Path) -> list[object]:
    catalog = catalog_for_run(run)
    return list(evaluate_graph_rules(Bundle(run).observations(), catalog))


def test_planted_discrimination_and_self_preferencing_found_without_false_findings(
        runs: dict[str, Path]) -> None:
    verdicts = evaluate_graph_rules(Bundle(runs["a"]).observations(), catalog_for_run(runs["a"]))
    failed = {(v.rule_id, v.source, v.surface.value if v.surface else "", v.target_platform)
              for v in verdicts if v.status is Status.FAIL}
    assert failed == EXPECTED_FAILURES
    assert not [v for v in verdicts if v.status is Status.EXEMPT]
    assert not [v for v in verdicts if v.source == "tiktak"]  # the uniform warner
    by_key = {(v.rule_id, v.source, v.surface.value if v.surface else "", v.target_platform): v
              for v in verdicts}
    wetalk = by_key[("no-self-preferencing", "wetalk", "im_group", "taoshop")]
    assert "拼猫" in wetalk.reason.zh and "淘集" in wetalk.reason.zh
    assert "PinMall" in wetalk.reason.en and wetalk.outcome is not None
    assert wetalk.observation_id is None and len(wetalk.evidence) == 2
    observations = {o.id: o for o in Bundle(runs["a"]).observations()}
    sides = {observations[e].target_platform for e in wetalk.evidence}
    assert sides == {"pinmall", "taoshop"}
    assert "miit-2021" in " ".join(wetalk.requirements)
    # PayFly treats its own group worse: a pass for self-preferencing, not a finding.
    assert by_key[("no-self-preferencing", "payfly", "profile", "taoshop")].status is Status.PASS


def test_lab_graph_metrics(runs: dict[str, Path]) -> None:
    run = runs["a"]
    catalog = catalog_for_run(run)
    observations = list(Bundle(run).observations())
    graph = build(observations, evaluate_graph_rules(observations, catalog), catalog)
    assert graph.number_of_nodes() == 15
    assert sum(d["observations"] for _, _, d in graph.edges(data=True)) == 83
    edge = graph.edges["wetalk", "taoshop"]
    assert (edge["n_copy_only"], edge["n_warned"], edge["n_blocked"], edge["n_stripped"]) == \
        (1, 1, 1, 1)
    assert edge["worst"] == "blocked" and edge["typical"] == "copy_only"
    assert len(edge["findings"]) == 8 and edge["surfaces"] == [
        "article", "im_group", "im_private", "moments"]
    data = metrics(graph, catalog)
    platform = data["platform"]
    # WeTalk opens PinMall, TenDocs, Zhiwen (wrapped) without friction; not TaoShop, TikTak, XinBo.
    assert platform["openness"]["wetalk"]["openness"] == pytest.approx(3 / 6)
    assert platform["openness"]["wetalk"]["openness_rivals"] == pytest.approx(1 / 4)
    gardens = {tuple(c["members"]) for c in platform["open_components"]}
    assert ("baidoo", "dubar") in gardens and ("dingwork", "taoshop") in gardens
    assert ["pinmall", "tendocs", "wetalk"] in platform["communities"]
    mutual = {(r["a"], r["b"]) for r in platform["reciprocity"]["mutual_blocking"]}
    assert ("taoshop", "wetalk") in mutual and ("pinmall", "taoshop") in mutual
    detour = {(r["source"], r["target"]): r for r in platform["detours"]["detours"]}
    # DuBar blocks XinBo, but a user gets there through Baidoo without friction.
    assert detour[("dubar", "xinbo")]["path"] == ["dubar", "baidoo", "xinbo"]
    assert detour[("dubar", "xinbo")]["detour_friction"] == 0
    company = data["company"]
    assert company["block_matrix"]["tenhub"]["tenhub"]["typical"] == "direct"
    assert company["block_matrix"]["tenhub"]["baliba"]["worst"] == "blocked"
    assert set(company_graph(graph, catalog).nodes) == {
        "tenhub", "baliba", "zhiwen-inc", "bolang", "bytejump", "baidoo-inc", "meituo"}


def test_diff_of_two_lab_scenarios_reports_exactly_the_changed_edges(
        runs: dict[str, Path]) -> None:
    def load(run: Path) -> RunData:
        catalog = catalog_for_run(run)
        observations = list(Bundle(run).observations())
        verdicts = list(Bundle(run).verdicts()) + evaluate_graph_rules(observations, catalog)
        return RunData(run.name, observations, verdicts)

    result = diff(load(runs["a"]), load(runs["b"]))
    assert {c.key: c.kind for c in result.edges} == {k: v[1] for k, v in CHANGED.items()}
    assert result.regression
    resolved = {(f["rule_id"], f["source"], f["surface"], f["target"])
                for f in result.findings_resolved}
    assert ("no-self-preferencing", "wetalk", "im_group", "taoshop") in resolved
    assert ("same-category-same-friction", "meiwei", "comment", "pinmall") in resolved


def test_a_bundle_is_compared_without_its_observations_held(runs: dict[str, Path]) -> None:
    # `hulian diff` and the schedules' alerts read a bundle as a stream and through its
    # tables; what they compare is what the full records (model objects) give.
    summaries = {}
    for name in ("a", "b"):
        run = runs[name]
        catalog = catalog_for_run(run)
        observations = list(Bundle(run).observations())
        verdicts = [v for v in Bundle(run).verdicts() if v.observation_id is not None]
        verdicts += evaluate_graph_rules(observations, catalog)
        figures = flat_metrics(metrics(build(observations, verdicts, catalog), catalog, 0))
        search = class_table(judge_search(Bundle(run).search(), catalog))
        expected = summarise(RunData(Bundle(run).manifest.run_id, observations, verdicts,
                                     figures, search))
        summaries[name] = from_bundle(run)
        assert summaries[name] == expected
        assert expected.findings and expected.metrics and expected.frameworks
    assert diff(summaries["a"], summaries["b"]).as_dict() == diff(
        *(summarise(s) for s in (summaries["a"], summaries["b"]))).as_dict()
    assert {c.key: c.kind for c in diff(summaries["a"], summaries["b"]).edges} == {
        k: v[1] for k, v in CHANGED.items()}


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("graph")(graph_command)
    app.command("diff")(diff_command)
    app.add_typer(runs_app, name="runs")
    return app


def _invoke(db: Path, *args: str | Path) -> Result:
    return CliRunner().invoke(_cli(), [str(a) for a in args],
                              env={"HULIAN_DB": f"sqlite:///{db}", "COLUMNS": "300"})


def test_graph_command_exports_every_format(runs: dict[str, Path], tmp_path: Path) -> None:
    import networkx as nx

    db = tmp_path / "h.db"
    result = _invoke(db, "graph", runs["a"], "--format", "json")
    assert result.exit_code == 0, result.output
    graph = nx.node_link_graph(json.loads(result.stdout), edges="links")
    # Both layers, told apart by `kind` (docs/graph.md): the 15 platforms and the 11 lab
    # engines (the catalog's 8 and the scenario's 3), link edges and search edges.
    kinds = {n: d["kind"] for n, d in graph.nodes(data=True)}
    assert sum(1 for k in kinds.values() if k != "search_engine") == 15
    assert sum(1 for k in kinds.values() if k == "search_engine") == 11
    assert graph.edges["wetalk", "taoshop"]["worst"] == "blocked"
    assert graph.edges["wetalk", "taoshop"]["kind"] == "link"
    assert graph.edges["search:baidu-search", "taoshop"]["search_class"] == "partial"
    assert {d["kind"] for _, _, d in graph.edges(data=True)} == {"link", "search"}
    links = _invoke(db, "graph", runs["a"], "--format", "json", "--layer", "links")
    assert links.exit_code == 0, links.output
    link_graph = nx.node_link_graph(json.loads(links.stdout), edges="links")
    assert link_graph.number_of_nodes() == 15
    assert link_graph.number_of_edges() == graph.number_of_edges() - sum(
        1 for _, _, d in graph.edges(data=True) if d["kind"] == "search")
    search = _invoke(db, "graph", runs["a"], "--format", "json", "--layer", "search")
    assert search.exit_code == 0, search.output
    search_graph = nx.node_link_graph(json.loads(search.stdout), edges="links")
    assert {d["kind"] for _, _, d in search_graph.edges(data=True)} == {"search"}
    for fmt in ("graphml", "gexf", "dot"):
        out = tmp_path / f"g.{fmt}"
        result = _invoke(db, "graph", runs["a"], "--level", "company", "--format", fmt,
                         "--out", out)
        assert result.exit_code == 0, result.output
        assert "tenhub" in out.read_text(encoding="utf-8")
    for read in (nx.read_graphml, nx.read_gexf):  # 7 companies beside 11 engines
        nodes = read(tmp_path / f"g.{'graphml' if read is nx.read_graphml else 'gexf'}").nodes(
            data=True)
        assert sum(1 for _, d in nodes if d.get("kind") != "search_engine") == 7
        assert sum(1 for _, d in nodes if d.get("kind") == "search_engine") == 11


def test_runs_import_list_show_and_diff_commands(runs: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    result = _invoke(db, "runs", "import", runs["a"], runs["b"], "--json")
    assert result.exit_code == 0, result.output
    assert [r["recorded"] for r in json.loads(result.stdout)] == [True, True]
    again = _invoke(db, "runs", "import", runs["a"].parent, "--json")  # idempotent
    assert [r["recorded"] for r in json.loads(again.stdout)] == [False]
    listed = json.loads(_invoke(db, "runs", "list", "--json").stdout)
    assert [r["id"] for r in listed] == ["b", "a"]
    shown = json.loads(_invoke(db, "runs", "show", "a", "--json").stdout)
    assert shown["failed_by_rule"]["no-self-preferencing"] == 5
    assert shown["failed_by_rule"]["same-category-same-friction"] == 7
    assert shown["metrics"]["platform.nodes"] == 15
    trend = json.loads(_invoke(db, "runs", "trend", "openness", "--node", "larkly",
                               "--json").stdout)
    assert [r["run_id"] for r in trend] == ["a", "b"] and trend[1]["value"] < trend[0]["value"]
    # By store id, with --against previous, and gating CI with exit status 4.
    result = _invoke(db, "diff", "b", "--against", "previous", "--json",
                     "--fail-on-regression")
    assert result.exit_code == 4, result.output
    data = json.loads(result.stdout)
    assert (data["run_a"], data["run_b"]) == ("a", "b")
    assert {(e["source"], e["surface"], e["target"]) for e in data["edges"]} == set(CHANGED)
    assert any(m["node"] == "larkly" and m["metric"] == "openness" for m in data["metrics"])
    # By bundle path: a run against itself changes nothing.
    result = _invoke(db, "diff", runs["a"], runs["a"], "--fail-on-regression")
    assert result.exit_code == 0, result.output
    assert "no change" in result.stdout
    # A run that is neither a bundle nor stored.
    assert _invoke(db, "diff", "nope", "a").exit_code == 7  # not a run


def test_store_records_lab_run_once_and_reads_it_back(runs: dict[str, Path],
                                                      tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'h.db'}")
    first = record_run(runs["a"], engine=engine)
    assert first.recorded and first.observations == 83 and first.metrics > 0
    assert not record_run(runs["a"], engine=engine).recorded
    assert record_run(runs["a"], engine=engine, replace=True).recorded
    assert [r.id for r in list_runs(engine)] == ["a"]


def test_stored_metrics_are_the_sealed_ones_and_a_damaged_file_is_recomputed(
        runs: dict[str, Path], tmp_path: Path) -> None:
    """record_run stores the run's sealed metrics.json; they are the figures computed afresh
    from the run's observations and verdicts, and a metrics.json that cannot be read (an
    older or damaged bundle) is computed afresh instead, never stored half."""
    catalog = catalog_for_run(runs["a"])
    verdicts = list(Bundle(runs["a"]).verdicts())
    computed = sorted(run_figures(runs["a"], verdicts, catalog))
    assert sorted(run_figures(runs["a"], None, catalog)) == computed
    damaged = tmp_path / "a"
    shutil.copytree(runs["a"], damaged)
    (damaged / "metrics.json").write_text('{"platform": [1, 2', encoding="utf-8")
    assert sorted(run_figures(damaged, None, catalog)) == computed
    engine = open_engine(f"sqlite:///{tmp_path / 'h.db'}")
    assert record_run(damaged, engine=engine).recorded
    assert sorted(load_metrics(engine, "a")) == computed
