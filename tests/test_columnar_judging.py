"""The cross-target rules and the graph computed by DuckDB over a run's tables
(audit/evidence/sql.py) give exactly what the pre-DuckDB code gave (tests/oracle_graph.py):
the same verdicts, the same graph (nodes, edges, every attribute, in the same order) and the
same metrics, on the lab's run and on a 100,000-observation synthetic audit; through a
bundle's Parquet tables and through records held in memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from audit.evidence import columnar
from audit.evidence.bundle import VERDICTS, Bundle
from audit.evidence.sql import RunTables, TablesError, memory_tables, run_tables
from audit.graph.build import build, metrics
from audit.judge import evaluate
from audit.judge.cross import evaluate_graph_rules, iter_graph_verdicts
from audit.judge.evaluate import fewest_units
from audit.model import AppliesTo, Category, Status, SurfaceKind, Verdict
from audit.policy.catalog import catalog_for_run
from tests import oracle_graph, scaleruns


def _same_graph(a: nx.DiGraph[str], b: nx.DiGraph[str]) -> None:
    assert a.graph == b.graph
    assert list(a.nodes(data=True)) == list(b.nodes(data=True))
    assert list(a.edges(data=True)) == list(b.edges(data=True))


def _write_verdicts(run: Path, verdicts: list[Verdict]) -> Path:
    lines = run / VERDICTS
    with lines.open("w", encoding="utf-8") as fh:
        for verdict in verdicts:
            fh.write(verdict.model_dump_json() + "\n")
    return columnar.build(lines, "synthetic")


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lab")
    env = {**os.environ, "HULIAN_DB": f"sqlite:///{out / 'h.db'}", "HULIAN_POLICIES": ""}
    done = subprocess.run([sys.executable, "-m", "audit.cli", "run", "--lab", "--out", str(out),
                           "--run-id", "lab", "--json", "--report-format", "json"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "lab"


@pytest.mark.slow
def test_lab_run_identical(lab_run: Path) -> None:
    catalog = catalog_for_run(lab_run)
    observations = list(Bundle(lab_run).observations())
    expected = oracle_graph.evaluate_graph_rules(observations, catalog)
    assert [v for v in expected if v.status is Status.FAIL]  # the lab plants some
    with run_tables(lab_run, verdicts=False) as tables:
        assert evaluate_graph_rules(tables, catalog) == expected
    assert evaluate_graph_rules(observations, catalog) == expected
    # The graph the run wrote was built from the bundle's verdicts (with the cross ones).
    verdicts = list(Bundle(lab_run).verdicts())
    reference = oracle_graph.build_graph(observations, verdicts, catalog)
    with run_tables(lab_run) as tables:
        graph = build(tables, None, catalog)
    _same_graph(graph, reference)
    _same_graph(build(observations, verdicts, catalog), reference)
    assert metrics(graph, catalog) == metrics(reference, catalog)


@pytest.mark.slow
def test_synthetic_hundred_thousand_identical(tmp_path: Path) -> None:
    catalog = scaleruns.synthetic_catalog(300, 40)
    records = list(scaleruns.synthetic_records(300, 40_000, 100_000))
    observations = scaleruns.observation_objects(iter(records))
    parquet = scaleruns.write_observations(tmp_path, iter(records))
    expected = oracle_graph.evaluate_graph_rules(observations, catalog)
    assert {v.status for v in expected} >= {Status.FAIL, Status.PASS, Status.EXEMPT}
    with RunTables(parquet) as tables:
        found = evaluate_graph_rules(tables, catalog)
    assert found == expected
    reference = oracle_graph.build_graph(observations, expected, catalog)
    assert any(d["kind"] == "unknown" for _, d in reference.nodes(data=True))
    with RunTables(parquet, _write_verdicts(tmp_path, expected)) as tables:
        graph = build(tables, None, catalog)
    _same_graph(graph, reference)
    assert metrics(graph, catalog) == metrics(reference, catalog)


def test_small_in_memory_records_take_the_same_queries() -> None:
    # A few records held in memory: the same results as the reference, through the same
    # queries (a target recorded without a platform, one of an unknown host, a phishing block).
    catalog = scaleruns.synthetic_catalog(30, 6)
    records = list(scaleruns.synthetic_records(30, 200, 2_000, seed=4))
    observations = scaleruns.observation_objects(iter(records))
    expected = oracle_graph.evaluate_graph_rules(observations, catalog)
    assert evaluate_graph_rules(observations, catalog) == expected
    _same_graph(build(observations, expected, catalog),
                oracle_graph.build_graph(observations, expected, catalog))
    assert build([], [], catalog).number_of_edges() == 0
    assert evaluate_graph_rules([], catalog) == []


def test_a_reduction_in_parts_merges_to_the_whole() -> None:
    # RunTables.reduced reads a reduction a part of its units at a time ($part of $parts,
    # each unit whole in one part), without DuckDB keeping insertion order; fewest_units
    # merges the parts' rows into what one pass gives. The setting is back afterwards, also
    # after a query that failed.
    records = list(scaleruns.synthetic_records(30, 200, 2_000, seed=4))
    sql = ("SELECT source, outcome, min(id) FROM observations "
           "WHERE hash(id) % $parts = $part GROUP BY ALL ORDER BY ALL")
    setting = "SELECT current_setting('preserve_insertion_order')"
    with memory_tables(scaleruns.observation_objects(iter(records))) as tables:
        whole = tables.reduced(sql)
        assert len(whole) > 5 and fewest_units(whole) == whole
        parts = tables.reduced(sql, 7)
        assert len(parts) > len(whole) and fewest_units(parts) == whole
        assert tables.all(setting) == [(True,)]
        with pytest.raises(TablesError):
            tables.reduced("SELECT no_such_column FROM observations WHERE $part < $parts")
        assert tables.all(setting) == [(True,)]


def test_ids_taken_across_batches_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    # The graph's evidence comes from a column of ids read beside the edges' counts: batches
    # far smaller than an edge's ids give the same graph.
    from audit.evidence import sql

    monkeypatch.setattr(sql, "COLUMN_ROWS", 3)
    monkeypatch.setattr(sql, "NESTED_ROWS", 5)
    catalog = scaleruns.synthetic_catalog(30, 6)
    records = list(scaleruns.synthetic_records(30, 200, 2_000, seed=5))
    observations = scaleruns.observation_objects(iter(records))
    expected = oracle_graph.evaluate_graph_rules(observations, catalog)
    assert any(len(v.evidence) > 3 for v in expected)
    assert evaluate_graph_rules(observations, catalog) == expected
    _same_graph(build(observations, expected, catalog),
                oracle_graph.build_graph(observations, expected, catalog))


def test_a_column_that_disagrees_with_its_counts_is_an_error() -> None:
    from audit.evidence.sql import ColumnReader

    reader = ColumnReader(iter([["a", "b"], ["c"]]))
    assert reader.take(1) == ["a"] and reader.take(2) == ["b", "c"]
    reader.finish()  # all taken
    with pytest.raises(TablesError, match="ended before its counted rows"):
        reader.take(1)
    # ... and one with rows left over once every count is taken.
    longer = ColumnReader(iter([["a"], [], ["b"]]))
    assert longer.take(1) == ["a"]
    with pytest.raises(TablesError, match="more rows than were counted"):
        longer.finish()


def test_the_cross_target_rules_hold_one_source_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The stream gives the list's verdicts, source and surface by source and surface (every
    # rule of one before the next), but holds only one source and surface's observations
    # and verdicts (and one fetched batch of rows) at a time.
    import tracemalloc

    from audit.evidence import sql

    monkeypatch.setattr(sql, "FETCH_ROWS", 500)
    monkeypatch.setattr(sql, "NESTED_ROWS", 500)
    catalog = scaleruns.synthetic_catalog(80, 16)
    parquet = scaleruns.write_observations(
        tmp_path, scaleruns.synthetic_records(80, 3_000, 30_000, seed=7))
    with RunTables(parquet) as tables:
        tracemalloc.start()
        try:
            count = sum(1 for _ in iter_graph_verdicts(tables, catalog))
            streamed = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            held = evaluate_graph_rules(tables, catalog)
            listed = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        stream = list(iter_graph_verdicts(tables, catalog))
    # (The list's order, rule first, is the previous code's: the oracle tests above.)
    assert stream == sorted(held, key=lambda v: (v.source, v.surface or "", v.rule_id,
                                                 v.target_platform or ""))
    assert len({v.rule_id for v in held}) == 2
    assert count == len(held) > 3_000
    assert streamed * 5 < listed, (streamed, listed)


def test_unreadable_table_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "observations.parquet"
    broken.write_bytes(b"PAR1 not a parquet file")
    with pytest.raises(TablesError, match=r"observations\.parquet"):
        RunTables(broken)
    with memory_tables([]) as tables:
        assert tables.all("SELECT count(*) FROM observations") == [(0,)]


def test_node_link_json_is_streamed_a_line_per_item() -> None:
    # The streamed writer gives the data of the whole document (nested attributes, CJK text,
    # quotes, infinite and NaN frictions, empty lists and graphs), each node and link on a
    # line of its own, and networkx reads the graph back.
    import json
    import math

    from audit.graph.build import node_link, node_link_chunks

    graph: nx.DiGraph[str] = nx.DiGraph(level="platform", runs=["a", "b"])
    graph.add_node("weixin", name_zh='微信 "引号"\n', tags=["im"], extra={"k": [1, {"z": 2}]})
    graph.add_node("other")
    graph.add_edge("weixin", "other", friction=math.inf, friction_worst=math.nan,
                   evidence=["o1", "o2"], verdicts={"fail": 1}, surfaces=[], none={})
    for g in (graph, nx.DiGraph(), nx.DiGraph(level="company")):
        text = "".join(node_link_chunks(g))
        assert json.loads(text) == node_link(g)
        lines = text.splitlines()
        assert sum(1 for line in lines if line.startswith("  {")) == (
            g.number_of_nodes() + g.number_of_edges())
        assert all(json.loads(line.rstrip(",")) for line in lines if line.startswith("  {"))
        back = nx.node_link_graph(json.loads(text), edges="links")
        assert sorted(back.edges) == sorted(g.edges)
    assert '"name_zh": "微信 \\"引号\\"\\n"' in "".join(node_link_chunks(graph))


def test_a_bundles_aggregates_from_its_tables_are_those_of_its_records(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `hulian diff` of a bundle feeds the aggregator groups from DuckDB (audit/history/
    # rundata.py) instead of every record: the same aggregates as every record fed one at a
    # time, with targets that have no platform (counted by URL host), verdicts that name no
    # requirement, several failed verdicts about one finding (the largest id kept), and
    # graph verdicts (not in the tables' reduction: derived again, fed as records).
    import random

    from audit.history.diff import aggregate
    from audit.history.rundata import aggregate_tables
    from audit.model import Severity, Text

    rng = random.Random(5)
    records = list(scaleruns.synthetic_records(60, 400, 3_000))
    observations = scaleruns.observation_objects(iter(records))
    assert any(o.target_platform is None for o in observations)
    statuses = [Status.PASS, Status.FAIL, Status.EXEMPT, Status.INCONCLUSIVE]
    verdicts: list[Verdict] = []
    for o in observations:
        for rule in rng.sample(["r1", "r2", "r3"], rng.randint(1, 3)):
            verdicts.append(Verdict(
                id=f"v{rng.randrange(10**9):09d}", rule_id=rule, observation_id=o.id,
                probe_id=o.probe_id, source=o.source, surface=o.surface,
                target_url=o.target_url, target_platform=o.target_platform,
                outcome=o.outcome, status=rng.choice(statuses),
                severity=rng.choice(list(Severity)),
                reason=Text(zh=f"{rule} 理由 {o.outcome.value}", en=f"{rule} {o.outcome.value}"),
                requirements=rng.sample(["f/a", "f/b", "g/c"], rng.randint(0, 2))))
    # Three failed verdicts about one finding (two on one URL of a host, one on another): the
    # largest id's is kept.
    from audit.web.urls import host_of

    by_host: dict[str, list[Any]] = {}
    for o in observations:
        if o.target_platform is None:
            by_host.setdefault(host_of(o.target_url) or "", []).append(o)
    pair = next(group for group in by_host.values()
                if len({o.target_url for o in group}) > 1)
    pair = sorted({o.target_url: o for o in pair}.values(), key=lambda o: o.target_url)[:2]
    for o, vid, severity in [(pair[0], "vzzz", Severity.LOW), (pair[0], "va00", Severity.MEDIUM),
                             (pair[1], "vmmm", Severity.HIGH)]:
        verdicts.append(Verdict(
            id=vid, rule_id="r9", observation_id=o.id, source=pair[0].source,
            surface=pair[0].surface, target_url=o.target_url, outcome=o.outcome,
            status=Status.FAIL, severity=severity, reason=Text(zh="九", en="nine")))
    # Two failed verdicts about one URL, the larger id's without an outcome: its fields are
    # kept together (an outcome taken from the other verdict would be wrong).
    for vid, outcome in [("vn1", pair[0].outcome), ("vn9", None)]:
        verdicts.append(Verdict(
            id=vid, rule_id="r8", observation_id=pair[0].id, source=pair[0].source,
            surface=pair[0].surface, target_url=pair[0].target_url, outcome=outcome,
            status=Status.FAIL, severity=Severity.LOW, reason=Text(zh="八", en="eight")))
    # A source whose verdicts name no requirement is still one of the run's sources.
    verdicts.append(Verdict(id="vlonely", rule_id="r1", observation_id=observations[0].id,
                            source="lonely", status=Status.PASS, severity=Severity.LOW,
                            reason=Text(zh="独", en="alone")))
    graph = [Verdict(id=f"g{n}", rule_id="cross", source=f"p{n}", status=status,
                     severity=Severity.HIGH, reason=Text(zh="图", en="graph"),
                     requirements=["f/a"])
             for n, status in enumerate([Status.FAIL, Status.PASS])]
    assert sum(v.status is Status.FAIL for v in verdicts) > 1_000
    expected = aggregate(observations, [*verdicts, *graph])
    parquet = scaleruns.write_observations(tmp_path, iter(records))
    with RunTables(parquet, _write_verdicts(tmp_path, [*verdicts, *graph])) as tables:
        found = aggregate_tables(tables, graph)
        assert found == expected
        # The requirements' units read in parts (a run of many millions of verdicts): the same.
        monkeypatch.setattr(evaluate, "UNIT_PART_VERDICTS", 1_000)
        assert evaluate.unit_parts(len(verdicts) + len(graph)) > 5
        assert aggregate_tables(tables, graph) == expected
    assert expected.findings and expected.run_requirements and expected.requirements
    kept = expected.findings[("r9", pair[0].source, pair[0].surface.value,
                              host_of(pair[0].target_url) or "")]
    assert kept["severity"] == "low"  # vzzz > vmmm > va00
    assert expected.requirements["lonely"] == {}
    assert expected.findings[("r8", pair[0].source, pair[0].surface.value,
                              host_of(pair[0].target_url) or "")]["outcome"] is None


def test_cross_target_lines_made_ahead_are_the_bundles_and_a_full_disk_stops_them(
        lab_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The cross-target verdicts' lines are made in a thread of their own, blocks of
    # BLOCK_LINES at most BLOCKS_AHEAD ahead: with blocks of 2 lines, one ahead, the lines
    # are the bundle's own, in its order. A disk that fills while they are written ends the
    # judging with its error, the thread stopped before the tables close.
    import io
    import threading

    from audit.judge import verdicts as judge_verdicts

    catalog = catalog_for_run(lab_run)
    monkeypatch.setattr(judge_verdicts, "BLOCK_LINES", 2)
    monkeypatch.setattr(judge_verdicts, "BLOCKS_AHEAD", 1)
    out = io.BytesIO()
    judge_verdicts.write_verdicts(lab_run, catalog, out, None)
    written = (lab_run / VERDICTS).read_bytes()
    assert out.getvalue() == written
    lines = written.splitlines(keepends=True)
    first = next(n for n, line in enumerate(lines) if b'"observation_id":null' in line)
    assert sum(b'"observation_id":null' in line for line in lines) > 4  # several blocks
    room = sum(map(len, lines[:first + 3]))  # the disk fills at the fourth cross verdict

    class FullDisk(io.BytesIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            if self.tell() + len(data) > room:
                raise OSError(28, "No space left on device")
            return super().write(data)

    with pytest.raises(OSError, match="No space left"):
        judge_verdicts.write_verdicts(lab_run, catalog, FullDisk(), None)
    assert not any(t.name.startswith("hulian-") and "verdicts" in t.name
                   for t in threading.enumerate())


@pytest.mark.parametrize("scope", [
    AppliesTo(surfaces=[SurfaceKind.IM_GROUP], cross_company_only=False),  # of the source
    AppliesTo(source_categories=[Category.IM, Category.SOCIAL, Category.VIDEO],
              cross_company_only=False),
    AppliesTo(cross_company_only=True),  # of each target: a part in scope, another not
    AppliesTo(target_categories=[Category.ECOMMERCE, Category.SEARCH, Category.NEWS],
              cross_company_only=False),
], ids=["surfaces", "source-categories", "cross-company", "target-categories"])
def test_graph_rules_of_a_narrower_scope_match_the_reference(scope: AppliesTo) -> None:
    # A scope of the source and surface alone is checked once per source and surface
    # (audit.judge.cross._per_target), one of the target per part: both as the reference
    # reads each observation.
    catalog = scaleruns.synthetic_catalog(30, 6)
    catalog.rules = {rule_id: rule.model_copy(update={"applies_to": scope})
                     for rule_id, rule in catalog.rules.items()}
    records = list(scaleruns.synthetic_records(30, 200, 2_000, seed=6))
    observations = scaleruns.observation_objects(iter(records))
    expected = oracle_graph.evaluate_graph_rules(observations, catalog)
    everything = scaleruns.synthetic_catalog(30, 6)
    assert 0 < len(expected) < len(oracle_graph.evaluate_graph_rules(observations, everything))
    assert evaluate_graph_rules(observations, catalog) == expected


# Names and URLs whose JSON needs escapes: quotes, backslashes, control characters, line and
# paragraph separators, characters outside the BMP, braces a template could read.
HOSTILE = ['引号"与\\反斜杠', "tab\tand\x01\x1f", "line\u2028para\u2029", "emoji 🚫 {target}",
           "\ue000private"]


def test_cross_target_lines_are_the_verdicts_json_lines(lab_run: Path) -> None:
    # What judging writes (iter_graph_lines: pieces of a Verdict serialised once per rule,
    # status, exemption, surface and outcome) is json_line of each Verdict the rules give,
    # with what each is counted by: on the lab's run and on a synthetic audit whose platform
    # names and URLs need escapes (a line that put a value in unescaped, or in the wrong
    # piece, would differ).
    from audit.evidence.bundle import json_line
    from audit.judge.cross import iter_graph_lines
    from audit.model import Text

    catalog = scaleruns.synthetic_catalog(30, 6)
    catalog.platforms = {
        key: platform.model_copy(update={"name": Text(zh=HOSTILE[n % 5] + f"{n}",
                                                      en=HOSTILE[(n + 2) % 5] + f"{n}")})
        for n, (key, platform) in enumerate(catalog.platforms.items())}
    records = list(scaleruns.synthetic_records(30, 200, 2_000, seed=3))  # 3 exempt
    for n, record in enumerate(records):
        record["target_url"] += "?q=" + HOSTILE[n % 5]
    cases = [(scaleruns.observation_objects(iter(records)), catalog, {Status.EXEMPT}),
             (list(Bundle(lab_run).observations()), catalog_for_run(lab_run), set())]
    for observations, judged_by, also in cases:
        verdicts = list(iter_graph_verdicts(observations, judged_by))
        assert {v.status for v in verdicts} >= {Status.PASS, Status.FAIL, *also}
        with memory_tables(observations) as tables:
            lines = list(iter_graph_lines(tables, judged_by))
        assert [line for line, _ in lines] == [json_line(v) for v in verdicts]
        assert [counted_by for _, counted_by in lines] == [
            (v.status, v.severity, v.outcome) for v in verdicts]


def test_a_cross_target_reason_filled_empty_is_the_models_error() -> None:
    # A reason template that fills to nothing (here: only the exemption's justification, on
    # a verdict without one) is refused as a Verdict refuses it, whichever way it is written.
    from pydantic import ValidationError

    from audit.judge.cross import iter_graph_lines

    catalog = scaleruns.synthetic_catalog(30, 6)
    catalog.rules = {
        rule_id: rule.model_copy(update={"reason": rule.reason.model_copy(update={
            "pass_": rule.reason.fail.model_copy(update={"en": "{justification}"})})})
        for rule_id, rule in catalog.rules.items()}
    observations = scaleruns.observation_objects(
        scaleruns.synthetic_records(30, 200, 2_000, seed=4))
    with pytest.raises(ValidationError, match="at least 1 character"):
        list(iter_graph_verdicts(observations, catalog))
    with memory_tables(observations) as tables, pytest.raises(ValidationError,
                                                              match="at least 1 character"):
        list(iter_graph_lines(tables, catalog))
