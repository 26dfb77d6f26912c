"""A report a person can open at any run size (audit/report/groups.py): small runs list every
finding, large runs group them with examples; the page stays under its byte budget even when
findings carry long URLs and full hop chains; hostile page text stays text in group rows."""

from __future__ import annotations

import json
import pickle
import re
import tempfile
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.judge.outcomes import RANK
from audit.model import BlockReason, Outcome, SurfaceKind, Text
from audit.policy.catalog import Catalog, load_catalog, policy_dirs
from audit.report import groups
from audit.report.data import Finding, FindingHop, Findings, ReportData, build_report_data
from audit.report.findings import SEVERITY_RANK, STATUS_RANK
from audit.report.render import render_html
from audit.report.spill import Spilled
from tests import reportruns

GENERATED = datetime(2026, 11, 28, 4, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(policy_dirs())


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> list[Finding]:
    run = reportruns.write_run(tmp_path_factory.mktemp("runs"), "mixed",
                               reportruns.synthetic_observations(600, seed=5), catalog)
    findings = list(build_report_data(run, catalog).findings)
    assert len(findings) > 150
    return findings


def _copies(findings: list[Finding], n: int) -> list[Finding]:
    """n findings cycled from `findings`, each with its own id (the layout reads ids)."""
    return [replace(findings[i % len(findings)], id=f"{i:020x}") for i in range(n)]


def _report_key(f: Finding) -> tuple[int, int, int, str, str, str]:
    """Report order as docs/reports.md states it, written plainly in Python: what
    REPORT_ORDER's SQL is checked against (a stable sort: equal keys in the order given)."""
    return (-STATUS_RANK[f.status], -(SEVERITY_RANK[f.severity.value] if f.severity else -1),
            -RANK[f.outcome.value], f.source, f.surface, f.target_url)


def _in_report_order(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=_report_key)


def streamed_head(text: str) -> dict[str, Any]:
    """findings.json's object without its findings, checked: json.dumps(indent=1)'s text,
    but for the review queue and the cross-target verdicts, which are a record a line
    (tab-indented, as the findings are)."""
    import json

    document = json.loads(text)
    head = {key: value for key, value in document.items() if key != "findings"}
    rest = text[:text.index(',\n "findings": ')]
    places = {}
    for key in ("review", "cross_target"):
        opened = rest.index(f'\n "{key}": [') + len(f'\n "{key}": ')
        closed = opened + 2 if rest.startswith("[]", opened) else rest.index("\n ]", opened) + 3
        lines = rest[opened + 1:closed - 3].split("\n\t")[1:] if closed > opened + 2 else []
        assert all(line.endswith(",") for line in lines[:-1])
        assert [json.loads(line.removesuffix(",")) for line in lines] == head[key]
        places[key] = f"\0{key}\0"
        rest = rest[:opened] + json.dumps(places[key]) + rest[closed:]
    assert rest + "\n}" == json.dumps({**head, **places}, ensure_ascii=False, indent=1)
    return head


def test_small_runs_list_every_finding(mixed: list[Finding]) -> None:
    at_cap = _copies(mixed, groups.FULL_LIST_MAX)
    shown = groups.layout(Findings(at_cap), "html", 200)
    assert shown.full and shown.detailed == _in_report_order(at_cap) and shown.groups == []
    pdf = groups.layout(Findings(at_cap), "pdf", 200)
    assert pdf.full and pdf.detailed == _in_report_order(at_cap)[:200]


def test_past_the_threshold_findings_are_grouped(mixed: list[Finding]) -> None:
    findings = _in_report_order(_copies(mixed, groups.FULL_LIST_MAX + 1))
    shown = groups.layout(Findings(findings), "html", 200)
    assert not shown.full
    assert sum(g.count for g in shown.groups) == len(findings)
    assert shown.group_count == len(shown.groups) and shown.unlisted == 0
    keys = [(g.source, g.surface, g.target_platform, g.outcome, g.block_reason,
             g.block_reason_text) for g in shown.groups]
    assert len(set(keys)) == len(keys)
    for g in shown.groups:
        members = [f for f in findings if (f.source, f.surface, f.target_platform, f.outcome,
                                           f.block_reason) == (g.source, g.surface,
                                                               g.target_platform, g.outcome,
                                                               g.block_reason)]
        assert len(members) == g.count
        assert g.statuses == Counter(f.status for f in members)
        assert all(type(n) is int for n in g.statuses.values())  # not DuckDB's decimals
        assert g.examples == members[:len(g.examples)]  # the worst first
        assert len(g.examples) <= groups.EXAMPLES_PER_GROUP
        assert g.rules == list(dict.fromkeys(r for f in members for r in f.rules))
        assert g.explanation == members[0].reasons and g.status == members[0].status
        worst = max((f.severity for f in members if f.severity),
                    key=lambda s: SEVERITY_RANK[s.value], default=None)
        assert g.severity == worst
    # Worst status first, then severity, then the larger group, then the worst outcome.
    keys_sorted = [(-STATUS_RANK[g.status],
                    -(SEVERITY_RANK[g.severity.value] if g.severity else -1), -g.count,
                    -RANK[g.outcome.value], g.source, g.surface, g.target_platform or "",
                    g.block_reason or "", g.block_reason_text or "") for g in shown.groups]
    assert keys_sorted == sorted(keys_sorted)
    assert shown.detailed == [f for g in shown.groups for f in g.examples]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> ReportData:
    return build_report_data(reportruns.small_run(tmp_path_factory.mktemp("small"), catalog),
                             catalog)


def test_long_urls_and_hop_chains_keep_the_page_small(mixed: list[Finding],
                                                      small: ReportData) -> None:
    # 100 findings of 10 hops with 4 KB tracking URLs: a small count, yet their evidence
    # blocks alone would pass 5 MB; the byte budget groups them.
    long_url = "https://t.example.com/r?" + "&".join(f"k{i}=v{i}" for i in range(500))
    hops = [FindingHop(long_url + str(i), 302, long_url, "http") for i in range(10)]
    heavy = [replace(f, target_url=long_url, hops=hops) for f in _copies(mixed, 100)]
    assert sum(groups.detail_size(f) for f in heavy) > groups.FULL_BUDGET["html"]
    shown = groups.layout(Findings(heavy), "html", 200)
    assert not shown.full
    assert sum(groups.detail_size(f) for f in shown.detailed) <= groups.EXAMPLE_BUDGET["html"]
    for mode in ("html", "pdf"):
        page = render_html(replace(small, findings=Findings(heavy), requirements=[]), mode=mode, generated_at=GENERATED,
                           evidence_href="evidence")
        assert len(page.encode()) < 3_000_000, mode


def test_detail_size_bounds_the_rendered_rows(catalog: Catalog, tmp_path: Path,
                                              mixed: list[Finding]) -> None:
    # The estimate must not be below what the macros write for a finding (its row and its
    # evidence block), also for hostile text that escaping makes longer.
    data = build_report_data(reportruns.hostile_run(tmp_path, catalog), catalog)
    for findings in (data.findings, Findings(mixed[:200])):
        page = render_html(replace(data, findings=findings, requirements=[]), mode="html",
                           generated_at=GENERATED, evidence_href="evidence")
        rows = re.findall(r'<tr data-rank=.*?</details></td></tr>', page, re.S)
        assert len(rows) == len(findings)
        for row, finding in zip(rows, list(findings), strict=True):
            assert f'id="f-{finding.id}"' in row
            assert len(row.encode()) <= groups.detail_size(finding), finding.id


def _own_groups(findings: list[Finding], reason: Text) -> list[Finding]:
    """Each finding a group of its own (its own target platform), with `reason`."""
    return [replace(f, target_platform=f"t{i:05d}", reasons=[reason])
            for i, f in enumerate(findings)]


def test_long_reasons_keep_the_group_rows_small(mixed: list[Finding],
                                                small: ReportData) -> None:
    # A group's row shows its first reason in full: 3,000 groups whose reasons are a
    # paragraph of 1,000 characters (3 KB) would make 2,000 rows of ~6 MB; the rows are
    # listed while GROUP_BUDGET lasts and the page says how many of how many it lists.
    reason = Text(zh="平台不得无正当理由限制网址链接的正常访问。" * 50, en="a" * 1_000)
    heavy = _in_report_order(_own_groups(_copies(mixed, 3_000), reason))
    every, count = groups.group_findings(Findings(heavy), groups.GROUP_ROWS["html"])
    assert count == 3_000 and sum(map(groups.row_size, every)) > 2 * groups.GROUP_BUDGET["html"]
    for mode in ("html", "pdf"):
        shown = groups.layout(Findings(heavy), mode, 200, small.platform_names)
        assert 1 < len(shown.groups) < groups.GROUP_ROWS[mode]
        assert sum(groups.row_size(g, small.platform_names)
                   for g in shown.groups) <= groups.GROUP_BUDGET[mode]
        assert shown.unlisted == len(heavy) - sum(g.count for g in shown.groups)
        page = render_html(replace(small, findings=Findings(heavy), requirements=[]),
                           mode=mode, generated_at=GENERATED, evidence_href="evidence")
        assert len(page.encode()) < 4_000_000, mode
        assert (f"此处列出 3,000 组中的前 {len(shown.groups):,} 组；其余 "
                f"{shown.unlisted:,} 个问题见 findings.csv 和 findings.json。") in page


@pytest.mark.parametrize(("mode", "lang"), [("html", "zh"), ("html", "en"), ("pdf", "zh")])
def test_row_size_bounds_the_rendered_group_rows(mixed: list[Finding], small: ReportData,
                                                 mode: str, lang: str) -> None:
    # The estimate must not be below what the macros write for a group's row (without its
    # examples), also for text that escaping makes longer and for platforms whose names are
    # much longer than their ids.
    hostile = "<b>&\"'</b> 中文 " * 40
    findings = _in_report_order([replace(f, block_reason_text=hostile if i % 2 else None)
                                 for i, f in enumerate(_own_groups(
                                     _copies(mixed, groups.FULL_LIST_MAX + 200),
                                     Text(zh=hostile, en=hostile + "&" * 100)))])
    names = {**small.platform_names,
             **{f.source: Text(zh="名" * 300, en="<N>" * 100) for f in findings[:50]},
             **{f"t{i:05d}": Text(zh="目标" * 100, en="T&" * 100) for i in range(0, 700, 3)}}
    data = replace(small, findings=Findings(findings), requirements=[], platform_names=names)
    shown = groups.layout(data.findings, mode, 200, names)
    assert not shown.full and len(shown.groups) > 100
    page = render_html(data, lang=lang, mode=mode, generated_at=GENERATED,
                       evidence_href="evidence")
    rows = re.findall(r'<tr id="g-\d+".*?</tr>', page, re.S)
    assert len(rows) == len(shown.groups)
    for row, group in zip(rows, shown.groups, strict=True):
        bare = re.sub(r"<details>.*?</details>", "", row, flags=re.S)
        assert len(bare.encode()) <= groups.row_size(group, names), group.target_platform


def test_caps_of_the_other_lists(small: ReportData) -> None:
    # The review queue and the appendix's file list are capped on the page (review.csv and
    # manifest.json have them all) and say how many more there are.
    item = small.review[0]
    many = replace(small, review=[replace(item, observation_id=f"o{i}") for i in range(1_200)],
                   files=[(f"evidence/shot-{i}.png", "0" * 64) for i in range(3_000)])
    page = render_html(many, mode="html", generated_at=GENERATED)
    assert page.count('<tr id="r-o') == groups.REVIEW_CAP["html"]
    assert "另有 700 条见 review.csv。" in page
    assert page.count("evidence/shot-") == groups.FILES_CAP
    assert "另有 2,000 个文件及其 sha256 见 manifest.json。" in page


@pytest.mark.parametrize("mode", ["html", "pdf"])
def test_hostile_page_content_stays_text_in_groups(tmp_path: Path, catalog: Catalog,
                                                   mode: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The grouped view of the hostile run (every run grouped: FULL_LIST_MAX 0): group rows
    # and examples write page text and URLs escaped, links only for http(s).
    import lxml.html

    monkeypatch.setattr(groups, "FULL_LIST_MAX", 0)
    data = build_report_data(reportruns.hostile_run(tmp_path, catalog), catalog)
    page = render_html(data, mode=mode, generated_at=GENERATED, evidence_href="evidence")
    assert page.count('<tr id="g-') == len(data.findings)  # one link per group here
    tree = lxml.html.fromstring(page)
    assert len(tree.xpath("//script")) == (1 if mode == "html" else 0)
    assert not [(el.tag, name) for el in tree.iter() if isinstance(el.tag, str)
                for name in el.attrib if name.lower().startswith("on")]
    links = tree.xpath("//a[@href]")
    assert all(a.get("href", "").startswith(("#", "https://", "http://", "evidence/"))
               for a in links)
    text = tree.text_content()
    assert "<script>window.__pwned=1;alert(1)</script>" in text
    assert "javascript:window.__pwned=3" in text and "data:text/html,<script>" in text


# ---------------------------------------------------------------------------------------
# The findings' store (audit/report/findings.py): report order, off the heap
# ---------------------------------------------------------------------------------------


def test_the_store_gives_findings_in_report_order(mixed: list[Finding]) -> None:
    # Given in a shuffled order, read worst first and, among equals, in the order given, by
    # iteration, index, slice and positions alike.
    import random

    shuffled = _copies(mixed, 1_500)
    random.Random(7).shuffle(shuffled)
    expected = _in_report_order(shuffled)
    store = Findings(shuffled)
    assert len(store) == len(shuffled)
    assert list(store) == expected
    assert store[0] == expected[0] and store[-1] == expected[-1]
    assert store[10:20] == expected[10:20] and store[::500] == expected[::500]
    assert store.read([7, 3, 7]) == [expected[7], expected[3], expected[7]]
    assert store.read([]) == [] and Findings([]).read([]) == [] and list(Findings([])) == []
    with pytest.raises(IndexError):
        store[len(expected)]
    assert store.statuses == Counter(f.status for f in shuffled)
    # The reasons read back are shared, one object per distinct text.
    reasons = [r for f in store for r in f.reasons]
    assert len({id(r) for r in reasons}) == len({(r.zh, r.en) for r in reasons})
    store.close()


def test_report_order_sorts_texts_as_python_does(mixed: list[Finding]) -> None:
    # DuckDB orders the findings' texts by their UTF-8 bytes, which is Python's code point
    # order: Chinese, emoji outside the BMP, combining marks, case, empty text, prefixes,
    # NUL; equal keys in the order given.
    import random

    rng = random.Random(3)
    words = ["", "a", "A", "ab", "a\u0301", "\u00e1", "z", "\u5fae\u4fe1", "\u6dd8\u5b9d",
             "\U0001f600", "\uffff", "\U0001f600a", "https://a.example/\u8def", "a b",
             "a\x00", "a\x00b", "https://www.taobao.com/item/1",
             "https://www.taobao.com/item/10", "https://www.taobao.com/item/1\u00e9"]
    given = [replace(f, id=f"{i:020x}", source=rng.choice(words), surface=rng.choice(words),
                     target_url=rng.choice(words))
             for i, f in enumerate(_copies(mixed, 1_000))]
    assert [f.id for f in Findings(given)] == [f.id for f in _in_report_order(given)]


def test_a_closed_store_leaves_no_directory_behind(mixed: list[Finding], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # DuckDB spills into a directory of its own under $TMPDIR: gone when the store is
    # closed, or collected (a report that failed midway).
    import gc

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    closed, dropped = Findings(mixed), Findings(mixed)
    assert len(list(tmp_path.iterdir())) == 2
    closed.close()
    del dropped
    gc.collect()
    assert list(tmp_path.iterdir()) == []


def test_the_spilled_list_keeps_items_off_the_heap() -> None:
    # The review queue's store: items in the order added, read back by iteration, index and
    # slice, holding 16 bytes an item (measured against the list of the same items).
    import gc
    import tracemalloc

    items = [(f"o{i}", "链接安全检测中 " * 20, i) for i in range(5_000)]
    blobs = [pickle.dumps(item) for item in items]
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        held_list = [pickle.loads(b) for b in blobs]
        in_list = tracemalloc.get_traced_memory()[0] - base
        del held_list
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        store: Spilled[Any] = Spilled("test items")
        for blob in blobs:
            store.add(pickle.loads(blob))
        gc.collect()
        in_store = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    # 16 bytes an item in two arrays, plus their spare room and the file's buffer: 17-22.
    assert in_store / len(items) < 32 and in_store * 20 < in_list, (in_store, in_list)
    assert len(store) == len(items) and bool(store) and not Spilled("none")
    assert list(store) == items and store[0] == items[0] and store[-1] == items[-1]
    assert store[10:20] == items[10:20] and store[::999] == items[::999]
    with pytest.raises(IndexError):
        store[len(items)]
    store.close()


def test_the_review_queue_is_kept_off_the_heap_and_streamed(
        tmp_path: Path, catalog: Catalog) -> None:
    # A platform whose interstitial changed its wording sends every link it wraps to the
    # review queue: the report keeps the queue in a temporary file and writes it, in
    # findings.json and review.csv, one entry at a time, as json.dumps would have written it.
    import csv
    import json
    from dataclasses import asdict

    from audit.evidence.review import review_of
    from audit.report.render import write_reports

    run = reportruns.write_run(tmp_path, "review", [
        *reportruns.synthetic_observations(60),
        *(reportruns.unrecognized_observation(1_000 + n) for n in range(250))], catalog)
    expected = list(review_of(run))
    assert len(expected) == 250
    data = build_report_data(run, catalog)
    assert isinstance(data.review, Spilled)
    assert list(data.review) == expected and data.review[:3] == expected[:3]
    write_reports(run, catalog, ["json", "csv"], "zh", tmp_path / "out")
    text = (tmp_path / "out" / "findings.json").read_text(encoding="utf-8")
    document = json.loads(text)
    assert document["review"] == [asdict(item) for item in expected]
    assert document["summary"]["review"] == 250
    # Everything before the findings is what json.dumps(indent=1) writes of it, the queue
    # a record a line.
    assert streamed_head(text)["review"] == document["review"]
    with (tmp_path / "out" / "review.csv").open(encoding="utf-8-sig", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 250


def test_an_empty_review_queue_is_an_empty_list(tmp_path: Path, catalog: Catalog) -> None:
    import json

    from audit.report.render import write_reports

    run = reportruns.write_run(tmp_path, "none", reportruns.synthetic_observations(30), catalog)
    write_reports(run, catalog, ["json"], "zh", tmp_path / "out")
    text = (tmp_path / "out" / "findings.json").read_text(encoding="utf-8")
    assert '\n "review": [],\n' in text and json.loads(text)["review"] == []


_STATUSES = ("pass", "fail", "exempt", "inconclusive")


def _judged(verdicts: list[dict[str, Any]], observations: int,
            fields: str = "status, rules, reasons") -> dict[str, Any]:
    # queries.judge_findings over tables made from these verdicts and `observations`
    # observations o0, o1 ... (the Parquet files of a bundle, written by the bundle's writer
    # of tables): each finding's judgement's `fields` by observation id (reasons as (zh, en)).
    import tempfile

    import orjson

    from audit.evidence import columnar
    from audit.evidence.sql import RunTables
    from audit.report import queries
    from audit.report.findings import rank_tables

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "observations.jsonl").write_bytes(b"".join(
            orjson.dumps({"id": f"o{n}", "probe_id": f"p{n}", "source": "wechat",
                          "surface": "im_chat", "target_url": f"https://t.example/{n}",
                          "outcome": "copy_only"}) + b"\n" for n in range(observations)))
        (root / "verdicts.jsonl").write_bytes(
            b"".join(orjson.dumps(v) + b"\n" for v in verdicts))
        tables = [columnar.build(root / f"{name}.jsonl", "run") for name in
                  ("observations", "verdicts")]
        with RunTables(*tables) as run:
            rank_tables(run, {})
            queries.judge_findings(run)
            keys = list(run.nested_rows(f"SELECT judgement, {fields} FROM judgements "
                                        "ORDER BY judgement"))
            assert [key[0] for key in keys] == list(range(1, len(keys) + 1))  # each once
            by_number = {number: tuple([(r["zh"], r["en"]) for r in value] if name == "reasons"
                                       else value for name, value in
                                       zip(fields.split(", "), values, strict=True))
                         for number, *values in keys}
            return {observation: by_number[number] for observation, number in run.all(
                "SELECT o.id, fj.judgement FROM finding_judgements fj "
                "JOIN observations o ON o.row = fj.observation_row ORDER BY o.row")}


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(_STATUSES),
                          st.sampled_from(("r1", "r2", "r3"))), max_size=40))
def test_a_link_is_judged_by_its_worst_verdict(verdicts: list[tuple[int, str, str]]) -> None:
    # The report keeps, of each observation, its worst status's rules in the verdicts' order
    # (an observation whose worst verdict passed is no finding), whatever order its verdicts
    # come in; against a plain reference.
    from audit.report.findings import FINDING_STATUSES

    records: list[dict[str, Any]] = [{"id": f"v{i}", "rule_id": rule, "observation_id": f"o{obs}",
                "source": "wechat", "status": status, "severity": "high",
                "reason": {"zh": rule, "en": rule}, "exemption": None, "requirements": []}
               for i, (obs, status, rule) in enumerate(verdicts)]
    judged = _judged(records, 6)
    expected: dict[str, tuple[str, list[str]]] = {}
    for obs in {r["observation_id"] for r in records}:
        mine = [r for r in records if r["observation_id"] == obs]
        worst = max((r["status"] for r in mine), key=STATUS_RANK.__getitem__)
        if worst in FINDING_STATUSES:
            expected[obs] = (worst, [r["rule_id"] for r in mine if r["status"] == worst])
    assert {obs: (status, rules) for obs, (status, rules, _) in judged.items()} == expected
    assert all(reasons == [(rule, rule) for rule in rules]
               for _, rules, reasons in judged.values())


def _forty_verdicts() -> list[dict[str, Any]]:
    # Seven observations' findings of every finding status, three rules, five reasons.
    return [{"id": f"v{i}", "rule_id": f"r{i % 3}", "observation_id": f"o{i % 7}",
             "source": "wechat", "status": ("fail", "exempt", "inconclusive")[i % 3],
             "severity": "high", "reason": {"zh": f"理由{i % 5}", "en": f"reason {i % 5}"},
             "exemption": None, "requirements": []} for i in range(40)]


def test_reasons_that_share_a_hash_are_numbered_in_order_and_judged_alike(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A verdict finds its reason's number by the reason's hash; two reasons with one hash
    # (every reason here, with a hash of nothing) are numbered in order instead, joined on
    # their texts: every finding keeps its own reasons.
    from audit.report import queries

    records = _forty_verdicts()
    hashed = _judged(records, 7)
    monkeypatch.setattr(queries, "REASON_HASH", "hash('one for all')")
    numbered = _judged(records, 7)
    assert numbered == hashed
    assert len({reason for _, _, reasons in hashed.values() for reason in reasons}) == 5


def test_keys_that_share_a_hash_are_numbered_by_their_lists_and_judged_alike(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The findings' judgements are numbered by their keys' hash; keys with one hash (every
    # key here, with a hash of nothing) are found by the second hash and numbered by their
    # lists instead: every finding keeps its own judgement.
    from audit.report import queries

    records = _forty_verdicts()
    fields = "status, severity, rules, reasons, exemptions"
    hashed = _judged(records, 7, fields)
    monkeypatch.setattr(queries, "KEY_HASH", "hash('one for all')")
    numbered = _judged(records, 7, fields)
    assert numbered == hashed
    assert len({str(judgement) for judgement in hashed.values()}) > 2


def test_judgements_read_a_range_at_a_time_are_the_same(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The findings' keys are gathered RANGE_ROWS observations at a time, the judgements (and
    # their reasons' texts) decided JUDGED_AT_ONCE at a time (DuckDB cannot spill the lists
    # it gathers): ranges of two give every finding the same judgement, reasons in their
    # verdicts' order, as one range does.
    from audit.report import queries

    records = _forty_verdicts()
    whole = _judged(records, 7)
    monkeypatch.setattr(queries, "RANGE_ROWS", 2)
    monkeypatch.setattr(queries, "JUDGED_AT_ONCE", 2)
    ranged = _judged(records, 7)
    assert ranged == whole and len({str(v) for v in whole.values()}) > 2
    assert all(len(reasons) == len(rules) for _, rules, reasons in whole.values())


def test_judgement_cells_are_rendered_once_each_into_their_findings_rows(
        tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    # findings.csv and findings.json render every judgement's cells and fields in a query
    # each over the judgements and put each finding's row and record together from its own parts
    # and its judgement's: with batches of 16 rows, each row's and record's judgement columns
    # are its finding's, and the files are the ones made with the usual batches.
    import csv
    import io

    from audit.evidence import sql
    from audit.report import exports
    from audit.report.findings import Findings
    from audit.report.render import write_reports

    run = reportruns.write_run(tmp_path, "cells", reportruns.synthetic_observations(400),
                               catalog)
    write_reports(run, catalog, ["csv", "json"], "zh", tmp_path / "usual",
                  generated_at=datetime(2026, 12, 5, tzinfo=UTC))
    asked: list[str] = []
    batches = Findings.batches

    def counting(self: Findings, sql_text: str, rows: int | None = None) -> Any:
        asked.append(sql_text)
        return batches(self, sql_text, rows)

    monkeypatch.setattr(sql, "TEXT_ROWS", 16)
    monkeypatch.setattr(exports, "JUDGEMENT_ROWS", 16)
    monkeypatch.setattr(Findings, "batches", counting)
    write_reports(run, catalog, ["csv", "json"], "zh", tmp_path / "small",
                  generated_at=datetime(2026, 12, 5, tzinfo=UTC))
    assert asked.count(exports.JUDGEMENT_CELLS) == asked.count(exports.JUDGEMENT_FIELDS) == 1
    for name in ("findings.csv", "findings.json"):
        assert (tmp_path / "small" / name).read_bytes() == (tmp_path / "usual" / name).read_bytes()
    written = (tmp_path / "small" / "findings.csv").read_bytes()
    records = json.loads((tmp_path / "small" / "findings.json").read_text("utf-8"))["findings"]
    data = build_report_data(run, catalog)
    try:
        findings = list(data.findings)
    finally:
        data.findings.close()
    rows = list(csv.DictReader(io.StringIO(written.decode("utf-8-sig"), newline="")))
    listed = rows[:len(findings)]  # the search barriers' rows come after them
    assert len(findings) > 150 and len(rows) >= len(findings)
    assert len({tuple(f.rules) + tuple(r.en for r in f.reasons) for f in findings}) > 2
    for finding, row in zip(findings, listed, strict=True):
        assert row["id"] == finding.id
        assert row["rules"] == " ".join(finding.rules)
        assert row["requirements"] == " ".join(finding.requirements)
        assert row["reason_zh"] == " / ".join(r.zh for r in finding.reasons)
        assert row["reason_en"] == " / ".join(r.en for r in finding.reasons)
        assert row["exemptions"] == " ".join(finding.exemptions)
    for finding, record in zip(findings, records, strict=True):
        assert record["id"] == finding.id and record["rules"] == finding.rules
        assert record["reasons"] == [{"zh": r.zh, "en": r.en} for r in finding.reasons]
        assert record["requirements"] == finding.requirements
        assert record["exemptions"] == finding.exemptions


def test_a_record_joined_from_its_parts_is_the_record_rendered_whole(
        tmp_path: Path, catalog: Catalog) -> None:
    # findings.json's records are put together from each finding's fields before and after
    # its judgement's and its judgement's, rendered apart (exports.JUDGEMENT_JSON): the same
    # bytes as DuckDB's JSON of the whole record, awkward texts and all.
    from audit.report import exports
    from audit.report.render import write_reports

    observations = list(reportruns.synthetic_observations(300))
    observations += [reportruns.observation(
        "weixin", SurfaceKind.IM_GROUP, f"https://item.taobao.com/{n}?q={text}", "taobao",
        Outcome.BLOCKED, n=1000 + n, title=text, excerpt=text, signature=f"weixin/{text}",
        reason=BlockReason.RUMOR) for n, text in enumerate(
            ['say "hi" {}', "a,b", "line\nbreak", "ctrl\x01", "emoji \U0001f600", "中文"])]
    run = reportruns.write_run(tmp_path, "joined", observations, catalog)
    write_reports(run, catalog, ["json"], "zh", tmp_path / "out")
    listed = (tmp_path / "out" / "findings.json").read_bytes().split(b'\n "findings": [')[1]
    written = [line[1:].rstrip(b",") for line in listed.split(b"\n") if line.startswith(b"\t")]
    data = build_report_data(run, catalog)
    try:
        whole = [text.encode("utf-8") for (text,) in data.findings.query(
            f"SELECT {exports.json_object(exports.JSON_FIELDS)} FROM report_findings "
            "ORDER BY position")]
        count = len(data.findings)
    finally:
        data.findings.close()
    assert len(written) == count > 100
    assert written == whole


def test_a_judgement_is_made_of_its_worst_verdicts() -> None:
    # A finding's judgement (DuckDB's, queries.JUDGEMENTS) from its worst verdicts:
    # requirements once each in the order first named, the worst severity (none for an
    # inconclusive finding), the exemptions that were given, the reasons as (zh, en) in the
    # verdicts' order; a finding's better verdicts count for nothing.
    def verdict(n: int, obs: int, status: str, rule: str, reason: str, severity: str,
                requirements: list[str] | None, exemption: str | None = None
                ) -> dict[str, Any]:
        return {"id": f"v{n}", "rule_id": rule, "observation_id": f"o{obs}",
                "source": "wechat", "status": status, "severity": severity,
                "reason": {"zh": reason + "中", "en": reason}, "exemption": exemption,
                "requirements": requirements}

    records = [
        verdict(0, 0, "fail", "r1", "a", "low", ["f/q"]),
        verdict(1, 0, "pass", "r3", "ok", "critical", ["f/z"]),
        verdict(2, 0, "fail", "r2", "a", "high", ["f/p", "f/q"]),
        verdict(3, 1, "exempt", "r1", "a", "medium", None, "allowlisted"),
        verdict(4, 1, "exempt", "r2", "b", "low", [], ""),
        verdict(5, 2, "inconclusive", "r1", "c", "high", ["f/q"]),
    ]
    judged = _judged(records, 3, "status, severity, rules, requirements, reasons, exemptions")
    assert judged["o0"] == ("fail", "high", ["r1", "r2"], ["f/q", "f/p"],
                            [("a中", "a"), ("a中", "a")], [])
    assert judged["o1"] == ("exempt", "medium", ["r1", "r2"], [],
                            [("a中", "a"), ("b中", "b")], ["allowlisted"])
    assert judged["o2"] == ("inconclusive", None, ["r1"], ["f/q"], [("c中", "c")], [])


def test_no_room_for_the_findings_is_said_with_the_directory(
        tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    # The findings' temporary file, or DuckDB's directory to spill into, cannot be made
    # (TMPDIR gone, or full): `hulian report` ends with exit 1 and a message naming the
    # directory and TMPDIR, and writes no report.
    import tempfile

    from typer.testing import CliRunner

    from audit.cli import app
    from audit.evidence.sql import TablesError

    run = reportruns.small_run(tmp_path, catalog)
    missing = tmp_path / "no-such-tmp"
    monkeypatch.setattr(tempfile, "tempdir", str(missing))
    with pytest.raises(TablesError, match=r"no-such-tmp.*TMPDIR"):
        Findings()
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(out),
                                      "--format", "html"])
    assert result.exit_code == 1, result.output
    assert re.search(r"under \S*no-such-tmp \(set TMPDIR", result.output), result.output
    assert not (out / "report.html").exists()


@pytest.mark.parametrize(("table", "field", "value", "why"), [
    ("observations", "surface", "carrier_pigeon", "surface carrier_pigeon"),
    ("observations", "outcome", "weird", "outcome weird"),
    ("observations", "source", None, "no source"),
    ("verdicts", "status", "bogus", "status bogus"),
    ("verdicts", "reason", None, r"no \{zh, en\} reason"),
    ("verdicts", "reason", {"en": "English alone"}, r"no \{zh, en\} reason"),
    ("verdicts", "severity", None, "severity missing"),
    ("verdicts", "surface", "nowhere", "surface nowhere"),
    ("verdicts", "outcome", "weird", "outcome weird"),
])
def test_a_record_the_report_cannot_read_is_named_by_file_and_line(
        tmp_path: Path, catalog: Catalog, table: str, field: str, value: object,
        why: str) -> None:
    # A record edited by hand (a bundle read with --allow-unverified): the report and
    # `hulian diff`'s reading of the bundle end with the file, the record's line and what is
    # wrong, instead of a traceback from deep in the aggregation or a verdict left out.
    import json

    from audit.evidence.bundle import BundleError
    from audit.history.rundata import from_bundle

    run = reportruns.small_run(tmp_path, catalog)
    lines = (run / f"{table}.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[2])
    if value is None:
        record.pop(field)
    else:
        record[field] = value
    lines[2] = json.dumps(record, ensure_ascii=False)
    (run / f"{table}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = rf"{table}\.jsonl:3: invalid record \({why}\)"
    with pytest.raises(BundleError, match=expected):
        build_report_data(run, catalog)
    with pytest.raises(BundleError, match=expected):
        from_bundle(run)


def test_a_graph_verdict_the_model_refuses_ends_the_report_with_a_message(
        tmp_path: Path) -> None:
    # The cross-target verdicts reach the report as DuckDB's JSON, made Verdicts only for the
    # few the page lists: one the model refuses (a surface no surface is), among those not
    # listed too, ends the report with its line and what is wrong (the table's checks), not a
    # traceback or a verdict left unchecked in findings.json.
    import json

    from audit.evidence.bundle import BundleError
    from audit.model import Observation
    from tests import scaleruns

    catalog = scaleruns.synthetic_catalog(40, 8)
    observations = [Observation.model_validate(record)
                    for record in scaleruns.synthetic_records(40, 600, 1_000, seed=3)]
    run = reportruns.write_run(tmp_path, "graph", observations, catalog, graph_rules=True)
    path = run / "verdicts.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    graph = [n for n, line in enumerate(lines)
             if json.loads(line)["observation_id"] is None
             and json.loads(line)["status"] in ("fail", "exempt")]
    data = build_report_data(run, catalog)
    listed = {v.id for requirement in data.requirements for v in requirement.cross}
    assert len(graph) > len(listed) > 0  # some are listed, some only counted
    at = next(n for n in graph if json.loads(lines[n])["id"] not in listed)
    record = json.loads(lines[at])
    record["surface"] = "nowhere"
    lines[at] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(BundleError, match=rf"verdicts\.jsonl:{at + 1}: invalid record "
                                          r"\(surface nowhere\)"):
        build_report_data(run, catalog)


def test_duckdb_out_of_memory_says_which_setting_to_change(
        tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    # DuckDB runs out of its memory limit: `hulian report` ends with exit 1 and a message
    # naming the limit, HULIAN_DUCKDB_MEMORY and where DuckDB spills (not DuckDB's advice to
    # type SET statements), and writes no report.
    from typer.testing import CliRunner

    from audit.cli import app
    from audit.evidence import sql

    run = reportruns.small_run(tmp_path, catalog)
    monkeypatch.setattr(sql, "MEMORY_LIMIT", "1MB")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(out),
                                      "--format", "html"])
    assert result.exit_code == 1, result.output
    assert "Out of Memory" in result.output and "limit is 1MB" in result.output
    assert "set HULIAN_DUCKDB_MEMORY higher" in result.output and "TMPDIR" in result.output
    assert "SET memory_limit" not in result.output
    assert not (out / "report.html").exists()


def test_a_full_disk_under_the_findings_is_one_clear_error(tmp_path: Path,
                                                           catalog: Catalog) -> None:
    # The findings' temporary file stops growing (a full disk; here a file-size limit on the
    # process): `hulian report` says where the findings were going and what to set, and
    # exits 1, with no second error when the file is closed, and no report written.
    import subprocess
    import sys

    run = reportruns.write_run(tmp_path, "full", reportruns.synthetic_observations(600, seed=5),
                               catalog)
    out = tmp_path / "out"
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))\n"
        "from audit.cli import main\n"
        f"sys.argv = ['hulian', 'report', {str(run)!r}, '--out', {str(out)!r},"
        " '--format', 'json']\n"
        "main()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    # Its judgements' texts are kept first, then its findings': whichever fills it is named.
    assert re.search(r"cannot keep findings\.json's (judgements|findings) in a temporary file",
                     done.stderr)
    assert "File too large" in done.stderr and "set TMPDIR" in done.stderr
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr
    assert not (out / "findings.json").exists()


def test_a_verdict_whose_reason_is_no_text_is_named(tmp_path: Path, catalog: Catalog) -> None:
    # A verdicts.jsonl line whose reason is not a {zh, en} text is an error naming the file
    # and the line (it used to surface later, named after observations.jsonl).
    import json

    from audit.evidence.bundle import BundleError

    run = reportruns.small_run(tmp_path, catalog)
    lines = (run / "verdicts.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["reason"] = "only a string"
    lines[0] = json.dumps(first, ensure_ascii=False)
    (run / "verdicts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(BundleError,
                       match=r"verdicts\.jsonl:1: cannot be read into the verdicts table"):
        build_report_data(run, catalog)


def test_requirement_statuses_read_in_parts_are_the_same(
        tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ten million observations' requirement units are grouped a part at a time
    # (audit.judge.evaluate.unit_parts): each requirement's status, count and sources are
    # what one pass gives.
    from audit.judge import evaluate

    run = reportruns.write_run(tmp_path, "parts", [
        *reportruns.synthetic_observations(400),
        *(reportruns.unrecognized_observation(1_000 + n) for n in range(5))], catalog)

    def statuses() -> list[tuple[str, str, int]]:
        data = build_report_data(run, catalog)
        return [(r.id, str(r.status), r.failed) for r in data.requirements]

    whole = statuses()
    monkeypatch.setattr(evaluate, "UNIT_PART_VERDICTS", 50)
    assert evaluate.unit_parts(1_000) == 20
    assert statuses() == whole and len({s for _, s, _ in whole}) > 1


def test_the_report_lists_the_cross_target_verdicts_rule_by_rule(tmp_path: Path) -> None:
    # A run writes the cross-target rules' verdicts source by source (every rule at once);
    # the report lists them rule by rule, as it did when runs wrote them so.
    from audit.evidence.bundle import Bundle
    from audit.judge.cross import evaluate_graph_rules
    from audit.model import Observation
    from tests import scaleruns

    catalog = scaleruns.synthetic_catalog(40, 8)
    observations = [Observation.model_validate(record)
                    for record in scaleruns.synthetic_records(40, 600, 3_000, seed=3)]
    run = reportruns.write_run(tmp_path, "graph", observations, catalog, graph_rules=True)
    listed = [v.id for v in build_report_data(run, catalog).cross]
    by_rule = [v.id for v in evaluate_graph_rules(observations, catalog)
               if v.status.value in ("fail", "exempt")]
    assert listed == by_rule
    written = [v.id for v in Bundle(run).verdicts() if v.id in set(by_rule)]
    assert written != by_rule  # the file's own order is not the report's
    data = build_report_data(run, catalog)
    assert len({v.rule_id for v in data.cross}) == 2
    # Each requirement lists its first CROSS_LISTED in that order, and counts them all.

    from audit.report.data import CROSS_LISTED
    from audit.report.render import write_reports

    requirements = [r for r in data.requirements if r.cross_count]
    assert requirements and any(r.cross_count > CROSS_LISTED for r in requirements)
    for r in requirements:
        mine = [v.id for v in data.cross
                if v.rule_id in {rule for rule, _, _ in r.rules}]
        assert [v.id for v in r.cross] == mine[:CROSS_LISTED] and r.cross_count == len(mine)
    data.findings.close()
    # findings.json has every one of them, streamed in its place a verdict a line, the
    # rest as json.dumps(indent=1) writes it.
    write_reports(run, catalog, formats=["json"], out=tmp_path / "out")
    text = (tmp_path / "out" / "findings.json").read_text(encoding="utf-8")
    parsed = streamed_head(text)
    assert [v["id"] for v in parsed["cross_target"]] == by_rule
    again = build_report_data(run, catalog)
    assert parsed["cross_target"] == [v.model_dump(mode="json") for v in again.cross]
    # Streamed with the collector paused (as a report runs), the items leave no cyclic
    # garbage (json.dumps with an indent left ~30 objects an item).
    import gc

    from audit.report import exports

    assert len(again.cross) >= 100
    gc.disable()
    try:
        gc.collect()
        for _ in exports._json_chunks(again, "now"):
            pass
        left = gc.collect()
    finally:
        gc.enable()
    assert left < len(again.cross)
    again.findings.close()


def test_graph_verdicts_are_read_in_file_order_across_row_groups(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # queries.graph_verdict_json reads a rule's verdicts without sorting them: DuckDB keeps
    # the file's order, also across the row groups its threads scan apart.
    import pyarrow.parquet as pq

    from audit.evidence import columnar
    from audit.evidence.sql import RunTables
    from audit.model import Severity, Status, SurfaceKind, Text, Verdict
    from audit.report import queries

    monkeypatch.setattr(columnar, "REBUILD_ROW_GROUP", 64)
    statuses = [Status.FAIL, Status.PASS, Status.EXEMPT, Status.INCONCLUSIVE]
    verdicts = []
    for n in range(3_000):
        graph, search = n % 3 == 0, n % 7 == 0
        verdicts.append(Verdict(
            id=f"v{n}", rule_id=("zeta", "alpha", "mid")[n % 5 % 3],
            observation_id=None if graph or search else f"o{n}", source=f"p{n % 11}",
            surface=None if search and not graph else SurfaceKind.IM_PRIVATE,
            status=statuses[n % 4], severity=Severity.HIGH,
            reason=Text(zh=f"理由 {n}", en=f"reason {n}"), evidence=[f"o{n}"]))
    lines = tmp_path / "verdicts.jsonl"
    lines.write_bytes(b"".join(v.model_dump_json().encode() + b"\n" for v in verdicts))
    table = columnar.build(lines, "run", tmp_path / "verdicts.parquet")
    assert pq.ParquetFile(table).num_row_groups > 40
    expected = sorted(
        (v for v in verdicts if v.observation_id is None
         and v.status in (Status.FAIL, Status.EXEMPT)),
        key=lambda v: (v.surface is None, v.rule_id if v.surface else "", int(v.id[1:])))
    with RunTables(None, table) as tables:
        pairs = list(queries.graph_verdict_json(tables))
        read = [Verdict.model_validate_json(text) for _, text in pairs]
    assert [rule for rule, _ in pairs] == [v.rule_id for v in read]
    assert [v.id for v in read] == [v.id for v in expected]
    assert read == expected


@pytest.mark.parametrize("outcomes", ["mixed", "all open"])
def test_requirement_statuses_are_the_tallys_of_every_verdict(
        tmp_path: Path, catalog: Catalog, outcomes: str) -> None:
    # The report decides the requirements a failed verdict fails without grouping their
    # units, and groups the units of the others: every status is the one RequirementTally
    # gives when it is handed every verdict of the run, one at a time.
    from audit.evidence.bundle import Bundle
    from audit.judge.evaluate import RequirementTally, requirement_index, requirement_rules

    observations = reportruns.synthetic_observations(300, weights=(
        None if outcomes == "mixed" else [1, 0, 0, 0, 0, 0, 0, 0, 0]))
    run = reportruns.write_run(tmp_path, "tally", [
        *observations, *(reportruns.unrecognized_observation(1_000 + n) for n in range(3))],
        catalog)
    rules_of = requirement_rules(catalog.frameworks.values())
    index = requirement_index(catalog)
    tally = RequirementTally(rules_of)
    for verdict in Bundle(run).verdicts():
        tally.add(index.get(verdict.rule_id, []), verdict.status, verdict.observation_id,
                  verdict.id)
    expected = tally.statuses()
    found = {f"{r.framework}/{r.id}": str(r.status)
             for r in build_report_data(run, catalog).requirements}
    assert found == {key: str(status) for key, status in expected.items()}
    kinds = set(found.values())
    assert ("fail" in kinds) is (outcomes == "mixed")
    assert "inconclusive" in kinds  # decided by their units
    assert ("pass" in kinds) is (outcomes == "all open")


def test_the_stores_batches_come_from_a_thread_that_stops_with_the_caller(
        mixed: list[Finding]) -> None:
    # DuckDB makes the batches in a thread of its own: its error is raised in the caller, and
    # a caller that stops early stops the thread (no thread left behind).
    import threading

    from audit.evidence.sql import TablesError

    store = Findings(_copies(mixed, 300))
    rows = sum(batch.num_rows for batch in store.batches(
        "SELECT position FROM report_findings, range(100)"))
    assert rows == 30_000
    with pytest.raises(TablesError, match="no_such_column"):
        list(store.batches("SELECT no_such_column FROM report_findings"))
    batches = store.batches("SELECT position FROM report_findings, range(100)")
    next(batches)
    batches.close()  # stopped after one of several batches
    assert not [t for t in threading.enumerate() if t.name == "hulian-findings-batches"]
    store.close()


def test_groups_of_many_long_judgements_within_a_small_memory_limit(
        mixed: list[Finding], monkeypatch: pytest.MonkeyPatch) -> None:
    # 20,000 findings, each with a judgement of its own carrying 8 KB of reasons (~160 MB of
    # judgements, as a run of thousands of platforms has about as many judgements as
    # findings): the page's groups and the findings read by position join only the
    # judgements they show, so they come within 64 MB of DuckDB's memory and say the same as
    # with its default. (Joining every group's first finding through `report_findings`, as
    # the code before did, ran out of DuckDB's default 512 MB here.)
    from audit.evidence import sql

    long = [replace(f, id=f"{i:020x}", reasons=[Text(zh=f"原因{i}" + "甲" * 4_000,
                                                     en=f"reason {i} " + "a" * 4_000)])
            for i, f in enumerate(_copies(mixed, 20_000))]
    roomy = Findings(long)
    expected = (groups.group_findings(roomy, 50), roomy[:5], roomy.read([3, 9_999, 7]))
    roomy.close()
    monkeypatch.setattr(sql, "MEMORY_LIMIT", "64MB")
    tight = Findings(long)
    try:
        found = (groups.group_findings(tight, 50), tight[:5], tight.read([3, 9_999, 7]))
    finally:
        tight.close()
    assert found == expected
    assert len(expected[0][0]) == 50 and expected[0][1] > 50


def test_the_scratch_database_is_not_checkpointed() -> None:
    # DuckDB checkpoints after 16 MB of changes by default, rewriting the tables made so far
    # (compressed): for scratch tables that keeps nothing and cost the report of a million
    # observations ~7 s of ~52 (docs/benchmarks.md). RunTables sets the threshold past any
    # run's tables.
    from audit.evidence import sql

    setting = "SELECT current_setting('checkpoint_threshold')"
    default = sql.connect().execute(setting).fetchall()
    with sql.RunTables(None) as tables:
        assert tables.all(setting) != default
        assert tables.all(setting) == tables.con.execute(
            f"SET checkpoint_threshold = '{sql.NO_CHECKPOINTS}'; {setting}").fetchall()
