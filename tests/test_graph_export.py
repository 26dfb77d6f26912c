"""GraphML and GEXF streamed by audit.graph.export: read back with networkx's readers, they
carry the same nodes, edges, attributes and types as networkx's own writers of the cleaned
graph (the lab scenario's graph at both levels, and a graph of awkward values); what neither
format can carry is replaced or refused as documented; a failed write leaves no file."""

from __future__ import annotations

import io
import logging
import math
import os
import subprocess
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import lxml.etree
import networkx as nx
import numpy as np
import pytest

from audit.graph.build import build, company_graph, export, write_export
from audit.graph.export import ExportError, clean
from audit.judge.cross import evaluate_graph_rules
from audit.lab.policies import write_policies
from audit.lab.scenario import load_scenario
from audit.model import Observation
from audit.policy.catalog import Catalog, load_catalog, policy_dirs
from audit.web.xmlchars import REPLACEMENT

READ: dict[str, Any] = {"graphml": nx.read_graphml, "gexf": nx.read_gexf}
WRITE: dict[str, Any] = {"graphml": nx.write_graphml, "gexf": nx.write_gexf}


@pytest.fixture(scope="module")
def lab_graph(tmp_path_factory: pytest.TempPathFactory) -> nx.DiGraph[str]:
    """The lab scenario's graph: every planned edge of the default scenario observed with its
    planned outcome (three probes each), judged by the cross-target rules, built as a run's
    graph is."""
    directory = tmp_path_factory.mktemp("lab-policies")
    scenario = load_scenario(None)
    write_policies(scenario, directory)
    catalog = load_catalog([*policy_dirs([]), directory])
    observations = [
        Observation(id=f"o{n}-{k}", probe_id=f"p{n}-{k}", source=e.source, surface=e.surface,
                    target_url=f"http://x.{e.target}.lab/item/{n}", target_platform=e.target,
                    outcome=e.outcome, reason=e.reason)
        for n, e in enumerate(scenario.edges) for k in range(3)]
    graph = build(observations, evaluate_graph_rules(observations, catalog), catalog)
    assert graph.number_of_edges() > 50
    return graph


@pytest.fixture(scope="module")
def lab_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    directory = tmp_path_factory.mktemp("lab-policies-2")
    write_policies(load_scenario(None), directory)
    return load_catalog([*policy_dirs([]), directory])


class Colour(StrEnum):
    RED = "红"


def awkward_graph() -> nx.DiGraph[str]:
    graph: nx.DiGraph[str] = nx.DiGraph(level="platform", name="图 <&>", note=["dropped"])
    graph.add_node("微聊", name_zh="微聊", empty="", flag=True, count=0, share=0.25,
                   friction=math.nan, worst=math.inf, low=-math.inf, tiny=1e-300,
                   big=2**40, negative=-7, colour=Colour.RED, np_int=np.int64(5),
                   np_float=np.float64(2.5), surfaces=["im_group", "微信群"],
                   verdicts={"fail": 2, "pass": 1}, nested=[["a", 1], {"k": "v"}],
                   gone=None, tuple_=("x", "y"), ws=" a \t b\n c\r\n ")
    graph.add_node('a&<b>"\'', name_zh="<script>&amp;</script>", flag=False, count=3,
                   share=1.0, empty="x", surfaces=[], verdicts={})
    graph.add_node("", name_zh="empty id")
    graph.add_node("lonely")
    graph.add_edge("微聊", 'a&<b>"\'', typical="direct", friction=0.0, internal=True,
                   observations=12, evidence=[f"o{i}" for i in range(50)], label="边",
                   weight=3.5, empty="")
    graph.add_edge('a&<b>"\'', "微聊", friction=math.inf, internal=False, kind="search",
                   type="search")
    graph.add_edge("微聊", "微聊", friction=math.nan, findings=["f1", "f2"])
    graph.add_edge("", "lonely")
    return graph


def flat_copy(graph: nx.DiGraph[str]) -> nx.DiGraph[str]:
    """What networkx's writers were given before: the graph copied with its values cleaned
    (the same `clean` the streaming writers use)."""
    flat: nx.DiGraph[str] = nx.DiGraph()
    flat.graph.update({k: v for k, v in graph.graph.items()
                       if isinstance(v, (str, int, float, bool))})

    def cleaned(data: dict[str, Any]) -> dict[str, Any]:
        return {k: c for k, v in data.items() if (c := clean(v)) is not None}

    for node, data in graph.nodes(data=True):
        flat.add_node(node, **cleaned(data))
    for s, t, data in graph.edges(data=True):
        flat.add_edge(s, t, **cleaned(data))
    return flat


def typed(value: Any) -> tuple[str, Any]:
    """A value and its type, NaN comparable."""
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def content(graph: nx.DiGraph[str]) -> tuple[Any, ...]:
    return (
        {k: typed(v) for k, v in graph.graph.items()},
        [(n, {k: typed(v) for k, v in d.items()}) for n, d in graph.nodes(data=True)],
        sorted((s, t, sorted((k, typed(v)) for k, v in d.items()))
               for s, t, d in graph.edges(data=True)),
    )


def read_ours(graph: nx.DiGraph[str], fmt: str, path: Path) -> nx.DiGraph[str]:
    write_export(graph, fmt, path)
    lxml.etree.parse(str(path))  # well-formed XML
    back: nx.DiGraph[str] = READ[fmt](path)
    return back


def read_networkx(graph: nx.DiGraph[str], fmt: str, path: Path) -> nx.DiGraph[str]:
    WRITE[fmt](flat_copy(graph), path)
    back: nx.DiGraph[str] = READ[fmt](path)
    return back


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_lab_graph_reads_back_as_networkx_wrote_it(
        lab_graph: nx.DiGraph[str], lab_catalog: Catalog, fmt: str, tmp_path: Path) -> None:
    for graph in (lab_graph, company_graph(lab_graph, lab_catalog)):
        ours = read_ours(graph, fmt, tmp_path / f"ours.{fmt}")
        theirs = read_networkx(graph, fmt, tmp_path / f"nx.{fmt}")
        assert content(ours) == content(theirs)
        assert ours.number_of_edges() == graph.number_of_edges()
        # The evidence: every observation id, space-joined (one text in the graph too).
        s, t, data = next(iter(graph.edges(data=True)))
        assert isinstance(data["evidence"], str) and len(data["evidence"].split()) > 1
        assert ours.edges[s, t]["evidence"] == data["evidence"]


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_awkward_values_read_back_as_networkx_wrote_them(fmt: str, tmp_path: Path) -> None:
    graph = awkward_graph()
    ours = read_ours(graph, fmt, tmp_path / f"ours.{fmt}")
    theirs = read_networkx(graph, fmt, tmp_path / f"nx.{fmt}")
    if fmt == "gexf":
        # networkx moves an edge's `type` to the edge element, where its reader drops it; the
        # streaming writer keeps it an attribute value. Everything else is the same.
        assert ours.edges['a&<b>"\'', "微聊"].pop("type") == "search"
    assert content(ours) == content(theirs)
    node = ours.nodes["微聊"]
    assert node["empty"] == "" and node["flag"] is True and node["count"] == 0
    assert math.isnan(node["friction"]) and node["worst"] == math.inf
    assert node["low"] == -math.inf and node["big"] == 2**40 and node["colour"] == "红"
    assert node["surfaces"] == "im_group 微信群" and node["verdicts"] == "fail:2 pass:1"
    assert node["nested"] == "['a', 1] {'k': 'v'}" and "gone" not in node
    assert node["ws"] == " a \t b\n c\r\n "
    assert ours.nodes['a&<b>"\'']["name_zh"] == "<script>&amp;</script>"
    assert ours.nodes['a&<b>"\'']["surfaces"] == ""
    assert ours.has_edge("", "lonely") and "" in ours


@pytest.mark.parametrize("fmt", ["graphml", "gexf", "json", "dot"])
def test_export_text_is_the_file(fmt: str, tmp_path: Path) -> None:
    graph = awkward_graph()
    if fmt == "json":  # node-link JSON keeps values as they are: json has no numpy numbers
        for key in ("np_int", "np_float"):
            del graph.nodes["微聊"][key]
    write_export(graph, fmt, tmp_path / "g")
    assert export(graph, fmt) == (tmp_path / "g").read_text(encoding="utf-8")


def test_gexf_is_1_2draft_with_typed_declarations(tmp_path: Path) -> None:
    write_export(awkward_graph(), "gexf", tmp_path / "g.gexf")
    root = lxml.etree.parse(str(tmp_path / "g.gexf")).getroot()
    ns = {"g": "http://www.gexf.net/1.2draft"}
    assert root.tag == "{http://www.gexf.net/1.2draft}gexf" and root.get("version") == "1.2"
    graph = root.find("g:graph", ns)
    assert graph is not None and graph.get("defaultedgetype") == "directed"
    declared = {(a.getparent().get("class"), a.get("title")): a.get("type")
                for a in graph.iterfind("g:attributes/g:attribute", ns)}
    assert declared[("node", "flag")] == "boolean" and declared[("node", "count")] == "long"
    assert declared[("node", "share")] == "double" and declared[("edge", "typical")] == "string"
    ids = [a.get("id") for a in graph.iterfind("g:attributes/g:attribute", ns)]
    assert len(ids) == len(set(ids))
    assert [e.get("id") for e in graph.iterfind("g:edges/g:edge", ns)] == ["0", "1", "2", "3"]


def test_characters_xml_cannot_carry_become_replacement_characters(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_node("a", title="bell\x07 nul\x00 esc\x1b \ufffe end", ok="tab\tok")
    graph.add_edge("a", "b", reason="\x0bvt")
    for fmt in ("graphml", "gexf"):
        with caplog.at_level(logging.WARNING, logger="audit.graph.export"):
            back = read_ours(graph, fmt, tmp_path / f"g.{fmt}")
        assert back.nodes["a"]["title"] == f"bell{REPLACEMENT} nul{REPLACEMENT} " \
            f"esc{REPLACEMENT} {REPLACEMENT} end"
        assert back.nodes["a"]["ok"] == "tab\tok"
        assert back.edges["a", "b"]["reason"] == f"{REPLACEMENT}vt"
        assert "2 value(s)" in caplog.text and "node 'a', attribute 'title'" in caplog.text
        caplog.clear()
    # networkx: its GraphML writer refuses them, its GEXF writer writes what no parser reads.
    with pytest.raises(ValueError, match="XML compatible"):
        nx.write_graphml(graph, io.BytesIO())
    broken = io.BytesIO()
    nx.write_gexf(graph, broken)
    with pytest.raises(lxml.etree.XMLSyntaxError):
        lxml.etree.fromstring(broken.getvalue())


def test_ids_and_names_xml_cannot_carry_are_refused(tmp_path: Path) -> None:
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_node("bad\x01id")
    with pytest.raises(ExportError, match=r"node 'bad\\x01id': its id"):
        write_export(graph, "graphml", tmp_path / "g.graphml")
    graph = nx.DiGraph()
    graph.add_node("a", **{"na\x02me": 1})
    with pytest.raises(ExportError, match=r"node 'a': the attribute name"):
        write_export(graph, "gexf", tmp_path / "g.gexf")
    assert list(tmp_path.iterdir()) == []


def test_mixed_types_gexf_declares_one_readable_type(tmp_path: Path) -> None:
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_node("a", n=1, x=1)
    graph.add_node("b", n=2.5, x="text")
    back = read_ours(graph, "gexf", tmp_path / "g.gexf")
    assert back.nodes["a"]["n"] == 1.0 and back.nodes["b"]["n"] == 2.5
    assert back.nodes["a"]["x"] == "1" and back.nodes["b"]["x"] == "text"
    # GraphML declares one key per type, as networkx does: each value keeps its type.
    back = read_ours(graph, "graphml", tmp_path / "g.graphml")
    assert back.nodes["a"]["x"] == 1 and back.nodes["b"]["x"] == "text"


@pytest.mark.parametrize("value", [b"bytes", object(), 3 + 4j])
def test_unwritable_value_is_refused_naming_the_item(value: Any, tmp_path: Path) -> None:
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_edge("a", "b", fine=1)
    graph.add_edge("b", "c", payload=value)
    for fmt in ("graphml", "gexf"):
        path = tmp_path / f"g.{fmt}"
        path.write_text("the previous export", encoding="utf-8")
        with pytest.raises(ExportError, match=r"edge 'b' -> 'c', attribute 'payload': a value "
                           rf"of type {type(value).__name__}"):
            write_export(graph, fmt, path)
        assert path.read_text(encoding="utf-8") == "the previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.gexf", "g.graphml"]


@pytest.mark.parametrize("fmt", ["graphml", "gexf", "json"])
def test_disk_full_midway_leaves_no_partial_file(fmt: str, tmp_path: Path) -> None:
    """A file size limit (RLIMIT_FSIZE: the write fails with EFBIG, as on a full disk) in a
    child process stops the export midway; the final name never appears."""
    path = tmp_path / f"g.{fmt}"
    script = f"""
import resource, signal, sys
import networkx as nx
from audit.graph.build import write_export
graph = nx.DiGraph()
for i in range(5000):
    graph.add_edge(f"n{{i}}", f"n{{i + 1}}", evidence=[f"obs-{{i}}-{{k}}" for k in range(20)])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
try:
    write_export(graph, {fmt!r}, __import__("pathlib").Path({str(path)!r}))
except OSError as exc:
    print("failed:", exc.errno)
    sys.exit(3)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], check=False, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "failed: 27" in done.stdout  # EFBIG
    assert list(tmp_path.iterdir()) == []


def test_graph_attributes_of_subclass_types_are_written_as_their_plain_type(
        tmp_path: Path) -> None:
    class Level(StrEnum):
        PLATFORM = "platform"

    graph: nx.DiGraph[str] = nx.DiGraph(level=Level.PLATFORM, share=np.float64(0.5),
                                        runs=np.int64(3))
    graph.add_edge("a", "b")
    back = read_ours(graph, "graphml", tmp_path / "g.graphml")
    assert {k: typed(v) for k, v in back.graph.items() if not k.endswith("_default")} == {
        "level": ("str", "platform"), "share": ("float", 0.5), "runs": ("int", 3)}


def test_an_export_file_gets_the_mode_of_any_new_file(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        write_export(awkward_graph(), "graphml", tmp_path / "g.graphml")
    finally:
        os.umask(previous)
    assert (tmp_path / "g.graphml").stat().st_mode & 0o777 == 0o644


def test_a_missing_directory_is_named_as_asked(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=r"cannot write .*missing/g\.gexf"):
        write_export(awkward_graph(), "gexf", tmp_path / "missing" / "g.gexf")


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_a_key_equal_to_a_plain_name_is_declared_under_its_own(fmt: str,
                                                               tmp_path: Path) -> None:
    # An attribute key of a str subclass that equals a name already declared but is written
    # as another (an old-style str Enum writes "Key.A") gets its own declaration: the
    # writers' memory of declared names takes plain text keys only.
    from enum import Enum

    class Key(str, Enum):  # noqa: UP042 - the old style is the point: str() is "Key.A"
        A = "a"

    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_node("n1", a="x")
    graph.add_node("n2", **{Key.A: "y"})
    back = read_ours(graph, fmt, tmp_path / f"g.{fmt}")
    assert back.nodes["n1"]["a"] == "x" and back.nodes["n2"][str(Key.A)] == "y"


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_elements_filled_again_are_the_elements_made_one_by_one(
        lab_graph: nx.DiGraph[str], fmt: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The writers fill one element per shape again for each node and edge; past LIMIT shapes
    they make each element. Both ways write the same bytes (the awkward graph's items all
    differ in shape, the lab's edges mostly share one)."""
    import audit.graph.export as export_module

    for name, graph in (("lab", lab_graph), ("awkward", awkward_graph())):
        write_export(graph, fmt, tmp_path / f"{name}-copied")
        monkeypatch.setattr(export_module._Elements, "LIMIT", 0)
        write_export(graph, fmt, tmp_path / f"{name}-made")
        monkeypatch.undo()
        copied = (tmp_path / f"{name}-copied").read_bytes()
        assert copied == (tmp_path / f"{name}-made").read_bytes()
        assert copied.count(b"<edge ") == graph.number_of_edges()


def test_an_element_filled_again_keeps_nothing_of_the_previous_item(tmp_path: Path) -> None:
    """Edges with the same values but not the same element attributes (a GEXF edge's weight
    and label) are different shapes: the second edge gets no weight from the first."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_edge("a", "b", weight=2.5, label="first", n=1)
    graph.add_edge("b", "c", n=2)
    graph.add_edge("c", "a", weight=1.0, n=3)
    back = read_ours(graph, "gexf", tmp_path / "g.gexf")
    assert back.edges["a", "b"]["weight"] == 2.5 and back.edges["a", "b"]["label"] == "first"
    assert "label" not in back.edges["b", "c"] and back.edges["b", "c"].get("weight", 1.0) == 1.0
    assert "label" not in back.edges["c", "a"] and back.edges["c", "a"]["n"] == 3
    text = (tmp_path / "g.gexf").read_text(encoding="utf-8")
    assert text.count('weight="') == 2 and text.count('label="first"') == 1


class Key(str):
    """A key equal to a plain text key that writes another name."""

    def __str__(self) -> str:
        return "other-name"


def mixed_shapes_graph() -> nx.DiGraph[str]:
    """Edges of one data shape many times, interleaved with items of the same keys whose
    values change type (None, a float for an int, a StrEnum, numpy numbers), a key of a str
    subclass equal to a plain one, and values XML cannot carry in a shape met before."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    for i in range(40):
        graph.add_node(f"n{i}", name=f"节点{i}", count=i)
    for i in range(39):
        data: dict[Any, Any] = {"count": i, "kind": "wrapped", "share": i / 7,
                                "surfaces": ["im_group", "post"], "verdicts": {"fail": i},
                                "ok": i % 2 == 0}
        if i % 5 == 1:
            data["count"] = None
        elif i % 5 == 2:
            data["count"] = float(i)
        elif i % 5 == 3:
            data["kind"] = Colour.RED
            data["share"] = np.float64(i)
        elif i % 5 == 4:
            data["kind"] = "bell\x07"
            data["surfaces"] = ["esc\x1b"]
        if i == 20:
            data = {Key("count"): i, "kind": "wrapped"}
        graph.add_edge(f"n{i}", f"n{i + 1}", **data)
    return graph


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_items_of_a_shape_are_written_as_each_value_cleaned_alone(
        fmt: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What an item's data shape decides once (audit.graph.export._Filled) is what cleaning
    each value as it comes writes: the same bytes, and the same values replaced."""
    graph = mixed_shapes_graph()
    with caplog.at_level(logging.WARNING, logger="audit.graph.export"):
        write_export(graph, fmt, tmp_path / f"planned.{fmt}")
        planned_log = caplog.text
        caplog.clear()
        # Every shape as one the writers do not plan for: each value cleaned alone.
        monkeypatch.setattr("audit.graph.export._decisive", lambda shape: False)
        write_export(graph, fmt, tmp_path / f"each.{fmt}")
    planned = (tmp_path / f"planned.{fmt}").read_bytes()
    assert planned == (tmp_path / f"each.{fmt}").read_bytes()
    assert planned_log.replace("planned.", "each.") == caplog.text
    assert "14 value(s)" in planned_log and "edge 'n4' -> 'n5', attribute 'kind'" in planned_log
    assert b"other-name" in planned and b"&#" not in planned
