"""The per-observation rules over a run's table (audit.judge.table_verdicts) against the same
rules over Observation objects (audit.judge.evaluate): the same verdict lines, byte for byte,
whatever the observations hold."""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.evidence import columnar, sql
from audit.evidence.bundle import (
    OBSERVATIONS,
    BundleError,
    BundleWriter,
    ensure_columnar,
    json_line,
    verdicts_writing,
)
from audit.evidence.sql import run_tables
from audit.judge import evaluate as judge_evaluate
from audit.judge import table_verdicts
from audit.judge.evaluate import evaluate, names_fill_in_later
from audit.judge.summary import VerdictCounts, counted
from audit.judge.table_verdicts import write_observation_verdicts
from audit.judge.verdicts import write_verdicts
from audit.model import (
    BlockReason,
    Category,
    Observation,
    Outcome,
    Platform,
    ReasonTemplates,
    Rule,
    Status,
    SurfaceKind,
    Text,
)
from audit.policy.catalog import Catalog
from tests.test_evaluate import (
    CITE,
    COMPANIES,
    DOMAIN_RULE,
    FILTER_RULES,
    PLATFORMS,
    SHIPPED_RULES,
    catalog,
    obs,
)

# The shipped rules, one whose exemption lists domains, and rules that ask of the source and
# target each thing a rule can ask (a category, being listed, being of one company).
CATALOG = catalog(rules={**SHIPPED_RULES, DOMAIN_RULE.id: DOMAIN_RULE, **FILTER_RULES})

# Text as hostile pages leave it in URLs and ids: control characters (whose JSON escapes
# DuckDB and pydantic write differently), quotes, backslashes, a literal "\u001F",
# astral characters.
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6) | \
    st.sampled_from(["\\u001F", "\x1f\x0b", 'a"b\\c', "😀", "\u2028"])
HOSTS = st.sampled_from([
    "item.taobao.com", "im.qq.com", "www.gamble-site.com", "GAMBLE-SITE.COM",
    "gamble-site.com.evil.net", "gamble\t-site.com", "space.coze.cn", "www.coze.cn",
    "exa\u0130mple.com", "www.zhihu.com", "", "[::1]",
])
URLS = st.builds(lambda scheme, host, path: f"{scheme}://{host}/{path}",
                 st.sampled_from(["https", "http", "HTTPS", "ftp"]), HOSTS, TEXT) | TEXT


@st.composite
def observations(draw: st.DrawFn) -> list[Observation]:
    found = []
    for n in range(draw(st.integers(1, 12))):
        found.append(Observation(
            id=f"o{n}" + draw(TEXT), probe_id=draw(TEXT),
            # Sources and targets a hostile bundle names: the verdict's JSON is filled in
            # with them per case (table_verdicts._Lines).
            source=draw(st.sampled_from([*PLATFORMS, "elsewhere"]) | TEXT),
            surface=draw(st.sampled_from(list(SurfaceKind))),
            target_url=draw(URLS),
            target_platform=draw(st.none() | st.sampled_from([*PLATFORMS, "not-listed"])
                                 | TEXT),
            outcome=draw(st.sampled_from(list(Outcome))),
            reason=draw(st.none() | st.sampled_from(list(BlockReason))),
            evidence=draw(st.lists(TEXT, max_size=3))))
    return found


def _bundle(root: Path, records: list[Observation]) -> Path:
    writer = BundleWriter(root, run_id="table", policy_digest="x")
    for record in records:
        writer.add_observation(record)
    writer.close()
    ensure_columnar(writer.path, writer.run_id)
    return writer.path


def _both(records: list[Observation], judge: Catalog = CATALOG) -> tuple[bytes, bytes]:
    """The verdict lines of the table path and of the objects' path; the table path's
    Parquet rows checked against the table built again from its lines."""
    root = Path(tempfile.mkdtemp(prefix="hulian-test-table-verdicts-"))
    try:
        run = _bundle(root, records)
        lines = root / "verdicts.jsonl"
        with (verdicts_writing(lines, "table", parquet=root / "made.parquet") as (out, table),
              run_tables(run, verdicts=False) as tables):
            counts = write_observation_verdicts(tables, judge, out, table)
        expected: VerdictCounts = VerdictCounts()
        objects = b"".join(json_line(v) for v in counted(evaluate(records, judge), expected))
        assert counts == expected
        made = columnar.read_table(root / "made.parquet")
        rebuilt = columnar.read_table(columnar.build(lines, "table", root / "rebuilt.parquet"))
        assert made.schema == rebuilt.schema
        assert made.to_pylist() == rebuilt.to_pylist()
        assert columnar.is_current(lines, root / "made.parquet")
        return lines.read_bytes(), objects
    finally:
        shutil.rmtree(root, ignore_errors=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(observations())
def test_the_table_gives_the_objects_verdicts_byte_for_byte(records: list[Observation]) -> None:
    table, objects = _both(records)
    assert table == objects


def _renamed(names: dict[str, Text]) -> dict[str, Platform]:
    return {pid: p.model_copy(update={"name": names.get(pid, p.name)})
            for pid, p in PLATFORMS.items()}


# Names DuckDB fills into the lines and the reasons: JSON's escapes (a quote, a backslash, a
# control character, a line separator), a field of a template, a private-use character such
# as the stand-ins begin with.
HOSTILE_NAMES = Catalog(
    platforms=_renamed({
        "wechat": Text(zh='微"信\\\x1f', en="{target} \u2028"),
        "taobao": Text(zh="\ue000淘宝\ue001", en="Tao\\u001Fbao"),
    }),
    companies=COMPANIES, rules=CATALOG.rules, frameworks=CATALOG.frameworks)


def _formatting(rule_id: str) -> Rule:
    # A template that formats a name: filled in by stand-ins first, it would differ.
    rule = FILTER_RULES["any-company"]
    return rule.model_copy(update={"id": rule_id, "reason": ReasonTemplates.model_validate({
        "pass": {"zh": "{source!r}→{target:>12}", "en": "{source[0]} {target}"},
        "fail": {"zh": "不通过 {source}", "en": "fail {target.__class__.__name__}"},
    })})


FORMATTING = catalog(rules={**CATALOG.rules, "formatting": _formatting("formatting")})


def test_names_are_filled_in_later_unless_a_template_formats_them() -> None:
    assert names_fill_in_later(CATALOG) and names_fill_in_later(HOSTILE_NAMES)
    assert not names_fill_in_later(FORMATTING)
    # A template of fields only could be filled into an empty reason (a source named "" in
    # a hostile bundle), which stand-ins would hide.
    bare = FILTER_RULES["any-company"].model_copy(update={
        "id": "bare", "reason": ReasonTemplates.model_validate({
            "pass": {"zh": "{target}", "en": "to {target}"},
            "fail": {"zh": "不通过", "en": "fail"}})})
    assert not names_fill_in_later(catalog(rules={"bare": bare}))


def test_platforms_are_found_by_the_catalogs_keys() -> None:
    # A catalog made in code may key a platform otherwise than by its id: the table looks
    # them up as `decide` does, by key.
    rekeyed = Catalog(platforms={("wx" if key == "wechat" else key): platform
                                 for key, platform in PLATFORMS.items()},
                      companies=COMPANIES, rules=CATALOG.rules, frameworks=CATALOG.frameworks)
    records = [obs(Outcome.DIRECT, source=source, oid=source)
               for source in ("wechat", "wx", "qq")]
    table, objects = _both(records, rekeyed)
    assert table == objects


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(observations(), st.sampled_from(["hostile names", "formatting"]))
def test_hostile_names_and_formatted_names_give_the_objects_bytes(
        records: list[Observation], judge: str) -> None:
    table, objects = _both(records, {"hostile names": HOSTILE_NAMES,
                                     "formatting": FORMATTING}[judge])
    assert table == objects


def _decisions_counted(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The cases the table path decides, as it decides them (`decide` made to note each)."""
    decided: list[object] = []
    real_decide = judge_evaluate.decide

    def counting(*args: object) -> object:
        decided.append(args[0])
        return real_decide(*args)  # type: ignore[arg-type]

    monkeypatch.setattr("audit.judge.table_verdicts.decide", counting)
    return decided


def test_many_sources_and_targets_of_one_kind_are_decided_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 20 messengers of 20 companies linking to 20 shops of 20 others: 400 cases, which the
    # rules ask the same of (categories, other companies): one kind per outcome.
    platforms = {
        f"{kind}{n}": Platform(id=f"{kind}{n}", name=Text(zh=f"{kind}{n}号", en=f"{kind} {n}"),
                               company=f"{kind}-co{n}", category=category,
                               domains=[f"{kind}{n}.example"], cite=CITE)
        for kind, category in (("im", Category.IM), ("shop", Category.ECOMMERCE))
        for n in range(20)}
    judge = Catalog(platforms=platforms, companies={}, rules=SHIPPED_RULES,
                    frameworks=CATALOG.frameworks)
    records = [obs(outcome, source=f"im{s}", target=f"shop{t}", url=f"https://shop{t}.example/",
                   oid=f"o{outcome.value}{s}-{t}")
               for outcome in (Outcome.DIRECT, Outcome.COPY_ONLY)
               for s in range(20) for t in range(20)]
    decided = _decisions_counted(monkeypatch)
    table, objects = _both(records, judge)
    assert table == objects
    assert len(decided) == 2
    assert "im7号".encode() in table and b"shop 13" in table  # each row's own names


def test_many_listed_domains_exempt_what_the_objects_exempt(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Whether a URL holds an exemption's domain is asked of regular expressions of
    # DOMAINS_A_PATTERN domains each, their texts escaped: two a pattern, five domains (two
    # with characters a pattern reads as syntax) exempt the links the objects' path exempts,
    # and not their look-alikes.
    domains = ["gamble-site.com", "space.coze.cn", "x(y).example", "a+b.example",
               "last.example"]
    exemption = DOMAIN_RULE.exemptions[0].model_copy(update={"target_domains": domains})
    rule = DOMAIN_RULE.model_copy(update={"exemptions": [exemption]})
    urls = [f"https://{d}/p" for d in domains] + [
        "https://xy.example/", "https://aab.example/", "https://www.last.example/",
        "https://last.example.evil.net/"]
    records = [obs(Outcome.BLOCKED, target=None, url=url, oid=f"o{n}")
               for n, url in enumerate(urls)]
    monkeypatch.setattr(table_verdicts, "DOMAINS_A_PATTERN", 2)
    table, objects = _both(records, catalog(rules={rule.id: rule}, frameworks={}))
    assert table == objects
    assert table.count(b'"status":"exempt"') == 6 and table.count(b'"status":"fail"') == 3


def test_a_run_of_many_cases_in_order() -> None:
    # Rows of one case apart, cases interleaved: each row's verdicts where its line is.
    records = [obs(outcome, source=source, target=target, oid=f"o{n}")
               for n, (outcome, source, target) in enumerate(
                   (o, s, t) for o in Outcome for s in ("wechat", "qq", "douyin")
                   for t in ("taobao", "zhihu", None))]
    table, objects = _both(records)
    assert table == objects and table.count(b"\n") > len(records)


def test_ranges_of_rows_and_forgotten_cases_change_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A run is judged RANGE_ROWS rows at a time, each range with its own kinds' pieces, and
    # only KEPT_CASES kinds are remembered between ranges: with ranges of 4 rows and 2 kinds
    # kept, kinds recur across ranges and are decided again after being forgotten; the lines
    # (in row order, each row's in rule order) and the counts stay the objects'.
    records = [obs(outcome, source=source, target=target, oid=f"o{n}")
               for n, (outcome, source, target) in enumerate(
                   (o, s, t) for _ in range(2) for o in (Outcome.BLOCKED, Outcome.COPY_ONLY,
                                                         Outcome.DIRECT)
                   for s in ("wechat", "douyin") for t in ("taobao", None))]
    whole = _both(records)
    monkeypatch.setattr(table_verdicts, "RANGE_ROWS", 4)
    monkeypatch.setattr(table_verdicts, "KEPT_CASES", 2)
    decided = _decisions_counted(monkeypatch)
    ranged, objects = _both(records)
    assert ranged == objects == whole[0]
    distinct = len({(r.source, r.target_platform, r.outcome) for r in records})
    assert len(decided) > distinct  # forgotten kinds were decided again (a kind a case here)


def _lengthened(rule: Rule, rule_id: str, paragraphs: int = 1) -> Rule:
    """`rule` as `rule_id`, its reasons `paragraphs` paragraphs longer."""
    pad = Text(zh="依据工业和信息化部2021年专项整治行动，平台不得无正当理由限制网址链接的正常访问。"
               * 4 * paragraphs,
               en=" Under MIIT's 2021 campaign a platform may not restrict normal access to "
                  "links without a legitimate reason." * 3 * paragraphs)
    reasons = {name: Text(zh=text.zh + pad.zh, en=text.en + pad.en)
               for name in ("pass_", "fail", "exempt", "inconclusive")
               if (text := getattr(rule.reason, name)) is not None}
    return rule.model_copy(update={"id": rule_id,
                                   "reason": rule.reason.model_copy(update=reasons)})


def test_many_rules_with_long_reasons_are_judged_fewer_rows_at_a_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A range's lines are sorted by DuckDB, which does not dependably spill them (ranges of
    # 32,768 rows ran out of its 512 MB with 30 rules, or with reasons of ~1.6 KB): a range
    # holds as many rows as RANGE_BYTES allows were every rule to give every row a verdict
    # as large as those measured so far (range_rows). Here 30 rules whose reasons are a
    # paragraph longer, over 3,000 rows, within 64 MB of DuckDB's memory, ranges of at most
    # 8 MB after a first of 16 rows: the objects' lines (in one range of every row, or in
    # ranges of 2,048 rows, it ran out of the 64 MB).
    assert table_verdicts.range_rows(6, None) == 2_048
    assert table_verdicts.range_rows(30, None) == table_verdicts.FIRST_RANGE_VERDICTS // 30
    assert table_verdicts.range_rows(6, 1_445) == table_verdicts.RANGE_ROWS  # the shipped
    assert table_verdicts.range_rows(30, 4_000) == table_verdicts.RANGE_BYTES // 120_000
    assert table_verdicts.range_rows(1, 10**12) == 1
    many = catalog(rules={f"{rule.id}-{n}": _lengthened(rule, f"{rule.id}-{n}")
                          for n in range(5) for rule in SHIPPED_RULES.values()})
    assert sum(1 for rule in many.rules.values() if rule.scope == "observation") >= 30
    records = [obs(outcome, source=source, target=target, oid=f"o{n}")
               for n, (outcome, source, target) in enumerate(
                   (o, s, t) for _ in range(100) for o in (Outcome.BLOCKED, Outcome.COPY_ONLY,
                                                           Outcome.DIRECT, Outcome.WARNED,
                                                           Outcome.WRAPPED)
                   for s in ("wechat", "douyin", "qq") for t in ("taobao", None))]
    assert len(records) == 3_000
    monkeypatch.setattr(sql, "MEMORY_LIMIT", "64MB")
    monkeypatch.setattr(table_verdicts, "RANGE_BYTES", 8 * 2**20)
    monkeypatch.setattr(table_verdicts, "FIRST_RANGE_VERDICTS", 30 * 16)
    table, objects = _both(records, many)
    assert table == objects and len(table) > 100 * 2**20


@pytest.mark.slow
def test_thousands_of_kinds_with_long_reasons_keep_each_piece_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A kind's verdicts name their pieces (the line around the observation's values, the
    # reason's texts), each kept once however many kinds share it, and a range joins its
    # rows to their kinds before the pieces: joined the other way, DuckDB built a hash table
    # of every kind's verdicts with their pieces, which with reasons of kilobytes ran out of
    # its memory (the 2,000-platform audit with reasons ~12 sentences longer: 284 of 512 MB).
    # Here an audit of 300 platforms, ~3,000 kinds, 30,000 rows, reasons ~1.8 KB longer,
    # within 64 MB: it ran out in its first ranges. The lines are those judged within
    # DuckDB's usual memory and ranges.
    from tests import scaleruns

    audit = scaleruns.synthetic_catalog(300, 40, observation_rules=True)
    audit.rules = {rule_id: _lengthened(rule, rule_id, paragraphs=2) if rule.scope ==
                   "observation" else rule for rule_id, rule in audit.rules.items()}
    records = scaleruns.observation_objects(scaleruns.synthetic_records(300, 6_000, 30_000))
    root = Path(tempfile.mkdtemp(prefix="hulian-test-table-verdicts-"))
    try:
        run = _bundle(root, records)

        def judged() -> tuple[bytes, VerdictCounts]:
            out = io.BytesIO()
            with run_tables(run, verdicts=False) as tables:
                counts = write_observation_verdicts(tables, audit, out, None)
            return out.getvalue(), counts

        usual = judged()
        monkeypatch.setattr(sql, "MEMORY_LIMIT", "64MB")
        monkeypatch.setattr(table_verdicts, "RANGE_BYTES", 8 * 2**20)
        monkeypatch.setattr(table_verdicts, "FIRST_RANGE_VERDICTS", 6 * 16)
        small = judged()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert small == usual
    assert len(small[0]) > 250 * 2**20
    assert sum(small[1].values()) == small[0].count(b"\n")


def test_batches_of_long_verdicts_hold_fewer_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # Batches are made BATCHES_AHEAD ahead of their writing: with reasons of kilobytes,
    # batches of TEXT_ROWS verdicts held ~60 MB each (1.2 GB ahead). After the first range
    # measures them, a batch holds what BATCH_BYTES allows: here 64 KB, verdicts of ~5 KB.
    assert table_verdicts.batch_rows(None) == sql.TEXT_ROWS
    assert table_verdicts.batch_rows(1_445) == sql.TEXT_ROWS  # the shipped catalog's
    assert table_verdicts.batch_rows(7_200) == table_verdicts.BATCH_BYTES // 7_200
    assert table_verdicts.batch_rows(10**12) == 1
    long = catalog(rules={rule_id: _lengthened(rule, rule_id, paragraphs=2)
                          for rule_id, rule in SHIPPED_RULES.items()})
    records = [obs(outcome, source=source, target="taobao", oid=f"o{n}")
               for n, (outcome, source) in enumerate(
                   (o, s) for _ in range(100) for o in (Outcome.BLOCKED, Outcome.DIRECT)
                   for s in ("wechat", "douyin", "qq"))]
    monkeypatch.setattr(table_verdicts, "BATCH_BYTES", 64 * 2**10)
    monkeypatch.setattr(table_verdicts, "FIRST_RANGE_VERDICTS", 6 * 16)
    sizes: list[tuple[int, int]] = []

    class Table:
        def append_batch(self, batch: Any, out: io.BytesIO) -> None:
            sizes.append((batch.num_rows, batch.nbytes))
            for data in columnar.chunk_texts(batch.column("line")):
                out.write(data)

    out = io.BytesIO()
    root = Path(tempfile.mkdtemp(prefix="hulian-test-table-verdicts-"))
    try:
        with run_tables(_bundle(root, records), verdicts=False) as tables:
            write_observation_verdicts(tables, long, out, Table())  # type: ignore[arg-type]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert out.getvalue() == b"".join(json_line(v) for v in evaluate(records, long))
    first = sizes[0][1]
    assert first > 2 * table_verdicts.BATCH_BYTES  # measured: the first range in one batch
    assert len(sizes) > 20
    assert max(size for _, size in sizes[1:]) < 1.5 * table_verdicts.BATCH_BYTES


def test_kinds_met_again_in_later_ranges_are_decided_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Kept kinds' pieces stay in DuckDB's table from one range to the next: with ranges of
    # 4 rows, each kind recurs in several ranges and is decided once.
    records = [obs(outcome, source=source, target=target, oid=f"o{n}")
               for n, (outcome, source, target) in enumerate(
                   (o, s, t) for _ in range(3) for o in (Outcome.BLOCKED, Outcome.DIRECT)
                   for s in ("wechat", "douyin") for t in ("taobao", None))]
    whole = _both(records)
    monkeypatch.setattr(table_verdicts, "RANGE_ROWS", 4)
    decided = _decisions_counted(monkeypatch)
    ranged, objects = _both(records)
    assert ranged == objects == whole[0]
    distinct = len({(r.source, r.target_platform, r.outcome) for r in records})
    assert len(decided) == distinct < len(records)


@pytest.mark.parametrize("range_rows", [65_536, 1])
def test_two_kinds_of_one_hash_stop_the_judging(monkeypatch: pytest.MonkeyPatch,
                                                 range_rows: int) -> None:
    # Rows find their kind's verdicts by its hash: two kinds with one hash, in one range or
    # in two (the second would join the first's kept pieces), end the judging with a
    # message rather than give a row another kind's verdicts.
    monkeypatch.setattr(table_verdicts, "KIND_HASH", "hash(outcome)")
    monkeypatch.setattr(table_verdicts, "RANGE_ROWS", range_rows)
    records = [obs(Outcome.BLOCKED, source="wechat", oid="a"),
               obs(Outcome.BLOCKED, source="douyin", oid="b")]
    with pytest.raises(sql.TablesError, match="same hash"):
        _both(records)
    # Kinds of one hash that are one kind (the same columns) are judged as one.
    same = [obs(Outcome.BLOCKED, source="wechat", oid="a"),
            obs(Outcome.BLOCKED, source="wechat", oid="b")]
    table, objects = _both(same)
    assert table == objects


def test_a_python_table_goes_to_duckdb_in_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    # RunTables.table hands DuckDB TABLE_ROWS rows a statement (a judging's pieces can be
    # hundreds of megabytes): every row arrives, in order, whatever the parts.
    monkeypatch.setattr(sql, "TABLE_ROWS", 3)
    rows = [(n, f"t{n}", [f"r{n}"] * (n % 3)) for n in range(10)]
    with sql.RunTables(None) as tables:
        tables.table("t", [("n", "BIGINT"), ("t", "VARCHAR"), ("l", "VARCHAR[]")], iter(rows))
        assert tables.all("SELECT n, t, l FROM t ORDER BY n") == rows
        tables.table("t", [("n", "BIGINT"), ("t", "VARCHAR"), ("l", "VARCHAR[]")], [])
        assert tables.all("SELECT count(*) FROM t") == [(0,)]


def test_a_host_split_by_a_tab_is_exempt_as_the_objects_find() -> None:
    # urlsplit drops the tab: the host is gamble-site.com, which the exemption lists, though
    # the URL's text does not hold it. The table must send such a URL to Python's host_of.
    record = obs(Outcome.BLOCKED, target=None, url="https://gamble\t-site.com/x")
    table, objects = _both([record])
    assert table == objects
    assert b'"exemption":"listed-gambling"' in table


def test_rows_without_verdicts_write_nothing() -> None:
    # A case no rule applies to gives an empty text per row; Arrow then has no data buffer.
    none_apply = catalog(rules={}, frameworks={})
    some_apply = catalog(rules={DOMAIN_RULE.id: DOMAIN_RULE}, frameworks={})
    records = [obs(Outcome.DIRECT, oid="a"), obs(Outcome.BLOCKED, oid="b")]
    assert _both(records, none_apply) == (b"", b"")
    table, objects = _both(records, some_apply)
    assert table == objects and table.count(b"\n") == 2


def test_an_unknown_reason_is_named_by_file_and_line(tmp_path: Path) -> None:
    run = _bundle(tmp_path, [obs(Outcome.BLOCKED, oid="a"), obs(Outcome.BLOCKED, oid="b")])
    lines = (run / OBSERVATIONS).read_text().splitlines()
    lines[1] = lines[1].replace('"reason":null', '"reason":"because"')
    (run / OBSERVATIONS).write_text("\n".join(lines) + "\n")
    ensure_columnar(run, "table", rebuild=(OBSERVATIONS,))
    with pytest.raises(BundleError, match=rf"{OBSERVATIONS}:2: invalid record \(reason because\)"):
        write_verdicts(run, CATALOG, io.BytesIO(), None)


def test_the_counts_are_the_summary_of_the_lines(tmp_path: Path) -> None:
    records = [obs(o, oid=f"o{n}") for n, o in enumerate(Outcome)]
    run = _bundle(tmp_path, records)
    out = io.BytesIO()
    counts = write_verdicts(run, CATALOG, out, None)
    assert sum(counts.values()) == out.getvalue().count(b"\n")
    assert counts[(Status.FAIL, SHIPPED_RULES["im-link-opens-directly"].severity,
                   Outcome.BLOCKED)] >= 1


def test_batches_made_ahead_of_their_writing_change_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # DuckDB judges in a thread of its own, BATCHES_AHEAD batches of TEXT_ROWS verdicts ahead
    # of their writing: with batches of 2 verdicts, one ahead and ranges of 3 rows, the
    # thread waits on the writer throughout; the lines and table are the objects'.
    records = [obs(outcome, source=source, target=target, oid=f"o{n}")
               for n, (outcome, source, target) in enumerate(
                   (o, s, t) for o in (Outcome.BLOCKED, Outcome.COPY_ONLY, Outcome.DIRECT)
                   for s in ("wechat", "douyin") for t in ("taobao", None))]
    whole = _both(records)
    monkeypatch.setattr(sql, "TEXT_ROWS", 2)
    monkeypatch.setattr(table_verdicts, "BATCHES_AHEAD", 1)
    monkeypatch.setattr(table_verdicts, "RANGE_ROWS", 3)
    table, objects = _both(records)
    assert table == objects == whole[0]


class _FullDisk(io.BytesIO):
    """A verdicts file whose disk fills after `room` bytes."""

    def __init__(self, room: int):
        super().__init__()
        self.room = room

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.room:
            raise OSError(28, "No space left on device")
        return super().write(data)


def test_a_writer_that_fails_mid_judging_stops_the_judging(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The disk fills while the lines are written: the error reaches the caller as it was,
    # the judging thread has stopped (no DuckDB query left running on tables about to be
    # closed), and the run's tables close.
    import threading

    monkeypatch.setattr(sql, "TEXT_ROWS", 2)
    monkeypatch.setattr(table_verdicts, "RANGE_ROWS", 2)
    records = [obs(Outcome.BLOCKED, oid=f"o{n}") for n in range(40)]
    run = _bundle(tmp_path, records)
    out = _FullDisk(room=2_000)
    with (pytest.raises(OSError, match="No space left"),
          run_tables(run, verdicts=False) as tables):
        write_observation_verdicts(tables, CATALOG, out, None)
    assert 0 < out.tell() <= 2_000
    assert not any(t.name == "hulian-judging" for t in threading.enumerate())
