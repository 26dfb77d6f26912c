"""The graph, its metrics and the cross-target rules on hand-built observations with known
answers (the lab's platforms as the catalog; no crawling)."""

from __future__ import annotations

import itertools
import json
import math
import random
import shutil
from pathlib import Path

import networkx as nx
import pytest

from audit.graph.build import (
    _CountedAttributes,
    build,
    company_graph,
    components,
    detours,
    drop_lists,
    edge_attributes,
    export,
    metrics,
    openness,
    reciprocity,
    render_svg,
)
from audit.graph.paths import UNREACHABLE, all_pairs
from audit.judge.cross import evaluate_graph_rules
from audit.judge.outcomes import GRADE, typical, worst
from audit.lab.policies import write_policies
from audit.lab.scenario import load_scenario
from audit.model import BlockReason, Observation, Outcome, Status, SurfaceKind, Verdict
from audit.policy.catalog import Catalog, load_catalog, policy_dirs

D, W, WA, C, S, B, E, T = (Outcome.DIRECT, Outcome.WRAPPED, Outcome.WARNED, Outcome.COPY_ONLY,
                           Outcome.STRIPPED, Outcome.BLOCKED, Outcome.ERROR, Outcome.TARGET_DOWN)
_ids = itertools.count()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    directory = tmp_path_factory.mktemp("lab-policies")
    write_policies(load_scenario(None), directory)
    return load_catalog([*policy_dirs([]), directory])


def ob(source: str, target: str, outcome: Outcome, surface: str = "im_group",
       reason: BlockReason | None = None) -> Observation:
    n = next(_ids)
    return Observation(id=f"o{n}", probe_id=f"p{n}", source=source, surface=SurfaceKind(surface),
                       target_url=f"http://x.{target}.lab/item/{n}", target_platform=target,
                       outcome=outcome, reason=reason)


def failed(verdicts: list[Verdict]) -> set[tuple[str, str, str]]:
    return {(v.rule_id, v.source, v.target_platform or "") for v in verdicts
            if v.status is Status.FAIL}


# --- treatment -------------------------------------------------------------------------


def test_typical_is_the_lower_median_of_attributable_outcomes() -> None:
    assert typical({D: 1, B: 1}) is D
    assert typical({D: 1, WA: 1, B: 1}) is WA
    assert typical({D: 1, B: 3, E: 10}) is B  # errors do not vote
    assert typical({E: 2, T: 1}) is None
    # One outcome (most groups): itself when attributable and counted, else none.
    assert typical({C: 2}) is C and typical({E: 3}) is None and typical({B: 0}) is None
    assert worst([D, E, C, WA]) is C
    assert GRADE[D] < GRADE[W] < GRADE[WA] < GRADE[C] < GRADE[B] == GRADE[S]


# --- rules -----------------------------------------------------------------------------


def test_discrimination_and_self_preferencing_found_with_both_sides_as_evidence(
        catalog: Catalog) -> None:
    obs = [ob("wetalk", "pinmall", D), ob("wetalk", "taoshop", C)]
    verdicts = evaluate_graph_rules(obs, catalog)
    assert failed(verdicts) == {("same-category-same-friction", "wetalk", "taoshop"),
                                ("no-self-preferencing", "wetalk", "taoshop")}
    for v in verdicts:
        assert v.observation_id is None and sorted(v.evidence) == sorted(o.id for o in obs)
        assert v.outcome is C and v.surface is SurfaceKind.IM_GROUP and v.severity.value == "high"
        assert "淘集" in v.reason.zh and "拼猫" in v.reason.zh and "TaoShop" in v.reason.en


def test_uniform_warner_and_other_categories_produce_no_finding(catalog: Catalog) -> None:
    obs = [ob("tiktak", t, WA, "post") for t in ("larkly", "tendocs", "bolangmail", "taoshop")]
    obs.append(ob("tiktak", "pinmall", D, "post"))  # ecommerce vs ecommerce: TaoShop warned!
    verdicts = evaluate_graph_rules(obs[:4], catalog)
    assert failed(verdicts) == set()
    assert {v.status for v in verdicts} == {Status.PASS}  # productivity group, all alike
    # Adding a directly opened PinMall makes TaoShop (same category, warned) discriminated;
    # self-preferencing needs an own-group target of the category: TikTak has none.
    assert failed(evaluate_graph_rules(obs, catalog)) == {
        ("same-category-same-friction", "tiktak", "taoshop")}


def test_only_attributable_outcomes_are_compared(catalog: Catalog) -> None:
    obs = [ob("wetalk", "pinmall", D), ob("wetalk", "taoshop", E), ob("wetalk", "taoshop", T)]
    assert evaluate_graph_rules(obs, catalog) == []
    # An error beside a real copy-only does not change the typical outcome.
    obs.append(ob("wetalk", "taoshop", C))
    assert ("no-self-preferencing", "wetalk", "taoshop") in failed(
        evaluate_graph_rules(obs, catalog))


def test_surfaces_are_compared_separately(catalog: Catalog) -> None:
    obs = [ob("wetalk", "pinmall", D, "im_group"), ob("wetalk", "taoshop", C, "im_private")]
    assert evaluate_graph_rules(obs, catalog) == []


def test_direct_versus_wrapped_is_self_preferencing(catalog: Catalog) -> None:
    obs = [ob("baidoo", "dubar", D, "search"), ob("baidoo", "xinbo", W, "search")]
    assert failed(evaluate_graph_rules(obs, catalog)) == {
        ("same-category-same-friction", "baidoo", "xinbo"),
        ("no-self-preferencing", "baidoo", "xinbo")}
    # Both through the redirector: alike.
    obs[0] = ob("baidoo", "dubar", W, "search")
    assert failed(evaluate_graph_rules(obs, catalog)) == set()


def test_own_group_treated_worse_is_not_self_preferencing(catalog: Catalog) -> None:
    obs = [ob("payfly", "pinmall", C, "profile"), ob("payfly", "taoshop", D, "profile")]
    verdicts = evaluate_graph_rules(obs, catalog)
    assert failed(verdicts) == {("same-category-same-friction", "payfly", "pinmall")}
    own = [v for v in verdicts if v.rule_id == "no-self-preferencing"]
    assert [(v.target_platform, v.status) for v in own] == [("taoshop", Status.PASS)]


def test_a_stated_unlawful_reason_exempts_the_worse_treatment(catalog: Catalog) -> None:
    obs = [ob("wetalk", "pinmall", D), ob("wetalk", "taoshop", B, reason=BlockReason.PHISHING)]
    verdicts = evaluate_graph_rules(obs, catalog)
    assert {v.status for v in verdicts} == {Status.EXEMPT}
    assert {v.exemption for v in verdicts} == {"unlawful-target"}
    # reward_sharing (诱导分享) is a marketing rule, not a ground of law: it fails.
    obs[1] = ob("wetalk", "taoshop", B, reason=BlockReason.REWARD_SHARING)
    assert {v.status for v in evaluate_graph_rules(obs, catalog)} == {Status.FAIL}


def test_verdict_ids_are_stable_across_runs(catalog: Catalog) -> None:
    first = evaluate_graph_rules([ob("wetalk", "pinmall", D), ob("wetalk", "taoshop", C)],
                                 catalog)
    second = evaluate_graph_rules([ob("wetalk", "pinmall", D), ob("wetalk", "taoshop", WA)],
                                  catalog)
    assert [v.id for v in first] == [v.id for v in second]


# --- graph -----------------------------------------------------------------------------


def test_edges_aggregate_surfaces_and_attach_findings(catalog: Catalog) -> None:
    obs = [ob("wetalk", "taoshop", C, "im_group"), ob("wetalk", "taoshop", WA, "im_private"),
           ob("wetalk", "taoshop", B, "moments"), ob("wetalk", "pinmall", D),
           ob("wetalk", "taoshop", E, "article")]
    unknown = Observation(id="u", probe_id="pu", source="wetalk", surface=SurfaceKind.POST,
                          target_url="https://example.org/a", outcome=D)
    verdicts = evaluate_graph_rules(obs, catalog)
    graph = build([*obs, unknown], verdicts, catalog)
    edge = graph.edges["wetalk", "taoshop"]
    assert (edge["n_copy_only"], edge["n_warned"], edge["n_blocked"], edge["n_error"]) == \
        (1, 1, 1, 1)
    assert edge["observations"] == 4 and edge["attributable"] == 3
    assert edge["typical"] == "copy_only" and edge["worst"] == "blocked"
    assert edge["friction"] == 2 and math.isinf(edge["friction_worst"])
    assert edge["surfaces"] == ["article", "im_group", "im_private", "moments"]
    assert len(edge["findings"]) == 2 and edge["failed_verdicts"] == 2
    assert graph.nodes["example.org"]["kind"] == "unknown"
    assert graph.nodes["wetalk"]["company"] == "tenhub" and graph.nodes["wetalk"]["name_zh"] == "微聊"
    only_errors = edge_attributes(__import__("collections").Counter({E: 2}))
    assert only_errors["typical"] == "error" and math.isnan(only_errors["friction"])



def test_edges_counted_alike_share_their_attributes_but_not_their_dicts(
        catalog: Catalog) -> None:
    # The graph asks once per distinct counting (outcomes in measured order): the measured
    # order still settles a tie between outcomes that say nothing about the platform ...
    obs = [ob("wetalk", "taoshop", E), ob("wetalk", "taoshop", T),
           ob("wetalk", "pinmall", T), ob("wetalk", "pinmall", E)]
    graph = build(obs, [], catalog)
    assert graph.edges["wetalk", "taoshop"]["typical"] == "error"
    assert graph.edges["wetalk", "pinmall"]["typical"] == "target_down"
    # ... each edge gets a dict of its own (what one adds to it is not the next one's), and
    # at most LIMIT countings are kept.
    counted = _CountedAttributes()
    first = counted(["error", "target_down"], [1, 1])
    first["evidence"] = "o1 o2"
    again = counted(("error", "target_down"), (1, 1))
    assert again is not first and "evidence" not in again
    assert (again["typical"], again["n_error"], again["n_target_down"]) == ("error", 1, 1)
    assert counted(["target_down", "error"], [1, 1])["typical"] == "target_down"
    for n in range(_CountedAttributes.LIMIT + 10):
        counted(["direct"], [n + 1])
    assert len(counted._known) == _CountedAttributes.LIMIT


def _graph(edges: dict[tuple[str, str], Outcome], companies: dict[str, str]) -> nx.DiGraph[str]:
    graph: nx.DiGraph[str] = nx.DiGraph(level="platform")
    for node, company in companies.items():
        graph.add_node(node, company=company, name_zh=node)
    from collections import Counter
    for (s, t), outcome in edges.items():
        graph.add_edge(s, t, **edge_attributes(Counter({outcome: 1})))
    return graph


def test_openness_reciprocity_and_mutual_blocking() -> None:
    companies = {"a": "x", "a2": "x", "b": "y", "c": "z"}
    graph = _graph({("a", "a2"): D, ("a", "b"): C, ("a", "c"): W, ("b", "a"): B, ("c", "a"): D,
                    ("a2", "a"): D, ("b", "c"): E, ("c", "b"): S, ("b", "a2"): WA}, companies)
    o = openness(graph)
    assert o["a"]["openness"] == pytest.approx(2 / 3) and o["a"]["reach"] == 1.0
    assert o["a"]["openness_rivals"] == pytest.approx(1 / 2)  # c yes, b no; a2 is own
    assert o["b"]["linked"] == 2 and o["b"]["openness"] == 0.0  # the error edge is not counted
    assert o["a"]["accessibility"] == pytest.approx(2 / 3) and o["c"]["linked_by"] == 1
    r = reciprocity(graph)
    # Attributable edges 8; reciprocated: a<->a2, a<->b, a<->c (b->c is an error).
    assert r["edges"] == 8 and r["pairs"] == 3 and r["reciprocity"] == pytest.approx(6 / 8)
    assert r["open_reciprocity"] == pytest.approx(2 / 3)
    assert [(m["a"], m["b"], m["kind"]) for m in r["mutual_blocking"]] == [("a", "b", "obstruction")]
    graph.add_edge("b", "a", **graph.edges["b", "a"])  # unchanged
    graph.edges["a", "b"].update(edge_attributes(__import__("collections").Counter({S: 1})))
    assert reciprocity(graph)["mutual_blocking"][0]["kind"] == "blocking"


def test_detours_find_least_friction_paths_through_others() -> None:
    companies = {n: n for n in "abcde"}
    graph = _graph({("a", "b"): B, ("a", "c"): W, ("c", "d"): WA, ("d", "b"): D,
                    ("a", "e"): C, ("e", "b"): D, ("b", "a"): D}, companies)
    result = detours(graph)
    rows = {(r["source"], r["target"]): r for r in result["detours"]}
    # a->b is blocked; via c, d costs 1 (warned) in 3 hops, via e costs 2: the first wins.
    assert rows[("a", "b")]["detour_friction"] == 1 and rows[("a", "b")]["hops"] == 3
    assert rows[("a", "b")]["path"] == ["a", "c", "d", "b"]
    assert rows[("a", "b")]["direct_friction"] == "inf"
    assert set(rows) == {("a", "b")}
    assert result["ordered_pairs"] == 20
    # Reachable pairs: from a: b c d e; b: a + a's; c: d b a e; d: b a c e; e: b a c d.
    assert result["reachable"] == 20


def test_all_pairs_matches_dijkstra_on_random_graphs() -> None:
    rng = random.Random(7)
    for _ in range(60):
        n = rng.randint(2, 14)
        nodes = [f"n{i}" for i in range(n)]
        edges = {(u, v): rng.choice([0, 0, 1, 2, 7]) for u, v in itertools.permutations(nodes, 2)
                 if rng.random() < 0.3}
        pairs = all_pairs(nodes, edges)
        ref: nx.DiGraph[str] = nx.DiGraph()
        ref.add_nodes_from(nodes)
        for (u, v), w in edges.items():
            ref.add_edge(u, v, w=w * 1000 + 1)  # friction first, then hops
        lengths = dict(nx.all_pairs_dijkstra_path_length(ref, weight="w"))
        for i, u in enumerate(nodes):
            for j, v in enumerate(nodes):
                if v in lengths[u]:
                    expected = divmod(int(lengths[u][v]), 1000)
                    assert (pairs.friction[i, j], pairs.hops[i, j]) == expected
                else:
                    assert pairs.friction[i, j] == UNREACHABLE and pairs.hops[i, j] == -1


def test_all_pairs_falls_back_when_frictions_leave_float_range() -> None:
    nodes = [str(i) for i in range(300)]
    pairs = all_pairs(nodes, {(str(i), str(i + 1)): 2 for i in range(299)})
    assert pairs.friction[0, 299] == 598 and pairs.hops[0, 299] == 299
    assert pairs.friction[299, 0] == UNREACHABLE


def test_open_components_walled_gardens_and_communities() -> None:
    companies = {"a1": "a", "a2": "a", "b1": "b", "b2": "b", "c": "c"}
    graph = _graph({("a1", "a2"): D, ("a2", "a1"): D, ("b1", "b2"): W, ("b2", "b1"): D,
                    ("a1", "b1"): C, ("b1", "a1"): B, ("a2", "c"): D, ("c", "a2"): WA,
                    ("b2", "c"): S, ("c", "b2"): D}, companies)
    result = components(graph)
    gardens = {tuple(c["members"]): c for c in result["open_components"]}
    assert set(gardens) == {("a1", "a2"), ("b1", "b2")}
    # a's boundary: a1->b1 C, b1->a1 B, a2->c D, c->a2 WA: 1 of 4 open.
    assert gardens[("a1", "a2")]["boundary_openness"] == pytest.approx(0.25)
    assert gardens[("a1", "a2")]["walled_garden"] and gardens[("a1", "a2")]["companies"] == ["a"]
    assert sorted(result["communities"]) == [["a1", "a2"], ["b1", "b2"]]


def test_company_graph_and_block_matrix(catalog: Catalog) -> None:
    obs = [ob("wetalk", "pinmall", D), ob("wetalk", "taoshop", C), ob("pinmall", "taoshop", S),
           ob("taoshop", "wetalk", B), ob("wetalk", "tendocs", D)]
    graph = build(obs, [], catalog)
    company = company_graph(graph, catalog)
    assert set(company.nodes) == {"tenhub", "baliba"}
    assert company.edges["tenhub", "tenhub"]["internal"] and \
        company.edges["tenhub", "tenhub"]["n_direct"] == 2
    assert company.edges["tenhub", "baliba"]["n_copy_only"] == 1
    assert company.edges["tenhub", "baliba"]["worst"] == "stripped"
    # A company edge's evidence: its platform edges' ids, one text; the metrics' company
    # graph goes without it, its findings and its platform edges, and is otherwise the same.
    pairs = [(s, t) for s, t in graph.edges
             if (graph.nodes[s]["company"], graph.nodes[t]["company"]) == ("tenhub", "baliba")]
    assert len(pairs) == 2
    assert company.edges["tenhub", "baliba"]["evidence"] == " ".join(
        graph.edges[p]["evidence"] for p in pairs)
    assert company.edges["tenhub", "baliba"]["platform_edges"] == [f"{s}->{t}" for s, t in pairs]
    bare = company_graph(graph, catalog, lists=False)
    assert list(bare.edges(data=True)) == [
        (s, t, {k: v for k, v in d.items()
                if k not in ("evidence", "findings", "platform_edges")})
        for s, t, d in company.edges(data=True)]
    data = metrics(graph, catalog)
    # The crawl's end makes the company graph once: exported with its lists, then without
    # them (drop_lists) the metrics' own.
    drop_lists(company)
    assert list(company.edges(data=True)) == list(bare.edges(data=True))
    assert list(company.nodes(data=True)) == list(bare.nodes(data=True))
    assert metrics(graph, catalog, company=company) == data
    matrix = data["company"]["block_matrix"]
    assert matrix["tenhub"]["baliba"]["friction"] == 2.0  # typical: copy_only (lower median)
    assert matrix["baliba"]["tenhub"]["friction"] == "inf"
    assert data["company"]["openness"]["tenhub"]["openness"] == 0.0  # self-loop excluded
    json.dumps(data)  # JSON-ready: no inf/NaN floats left


def test_exports_round_trip(catalog: Catalog, tmp_path: Path) -> None:
    graph = build([ob("wetalk", "pinmall", D), ob("wetalk", "taoshop", B)], [], catalog)
    data = json.loads(export(graph, "json"))
    back = nx.node_link_graph(data, edges="links")
    assert back.edges["wetalk", "taoshop"]["friction"] == "inf"
    (tmp_path / "g.graphml").write_text(export(graph, "graphml"), encoding="utf-8")
    assert nx.read_graphml(tmp_path / "g.graphml").edges["wetalk", "pinmall"]["typical"] == "direct"
    (tmp_path / "g.gexf").write_text(export(graph, "gexf"), encoding="utf-8")
    assert nx.read_gexf(tmp_path / "g.gexf").number_of_edges() == 2
    assert '"微聊"' in export(graph, "dot")


def test_a_graph_too_large_for_a_picture_is_refused_at_once(
        catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    # Not handed to graphviz (which would run into its timeout on a large audit's graph):
    # refused before anything is laid out, with the figures and what to use instead.
    graph = build([ob("wetalk", "pinmall", D), ob("wetalk", "taoshop", B),
                   ob("taoshop", "wetalk", S)], [], catalog)
    monkeypatch.setattr("audit.graph.build.PICTURE_EDGES", 2)
    monkeypatch.setattr("audit.graph.build.subprocess.run", None)  # never reached
    with pytest.raises(RuntimeError, match=r"3 nodes and 3 edges.*gexf"):
        render_svg(graph, "platform")
    monkeypatch.setattr("audit.graph.build.PICTURE_EDGES", 3)
    monkeypatch.setattr("audit.graph.build.PICTURE_NODES", 2)
    with pytest.raises(RuntimeError, match="more than a picture shows"):
        render_svg(graph, "platform")


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
def test_render_svg_has_chinese_labels(catalog: Catalog) -> None:
    graph = build([ob("wetalk", "pinmall", D), ob("wetalk", "taoshop", B),
                   ob("taoshop", "wetalk", S)], [], catalog)
    svg = render_svg(graph, "platform")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "微聊" in svg and "Noto Sans CJK SC" in svg and "腾汇" in svg
    assert "巴里巴" in render_svg(graph, "company", catalog)
