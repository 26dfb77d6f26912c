"""Integrity before use, through the command line: `verify` covers every manifest field and
finds probes planned or observed twice; `evaluate --force` is recorded and shown by `verify`
and in every report format; `report`, `diff`, `graph` and `runs import` refuse a bundle that
fails verification (exit 6) unless --allow-unverified, which marks every output; `diff`
answers bad input with its own exit codes; a resume refuses an altered bundle."""

from __future__ import annotations

import csv
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from audit.cli import app
from audit.errors import (
    EXIT_EMPTY_RUN,
    EXIT_NOT_A_RUN,
    EXIT_NOT_COMPARABLE,
    EXIT_REGRESSION,
    EXIT_UNVERIFIED,
)
from audit.evidence.bundle import (
    MANIFEST,
    OBSERVATIONS,
    Bundle,
    BundleWriter,
    read_manifest,
    verify,
)
from audit.history.store import StoreError, record_run
from audit.model import (
    Outcome,
    Probe,
    RunManifest,
    Severity,
    Status,
    SurfaceKind,
    Text,
    Verdict,
)
from audit.policy.catalog import Catalog, load_catalog, policy_dirs
from audit.report.data import build_report_data
from audit.report.render import render_html
from tests import reportruns

ENV = {"COLUMNS": "500", "HULIAN_POLICIES": None, "NO_COLOR": "1"}
BANNER = "UNVERIFIED BUNDLE"


def hulian(*args: str | Path, db: Path | None = None) -> Result:
    env = dict(ENV, HULIAN_DB=f"sqlite:///{db}" if db else "off")
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def assert_refused(result: Result, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "error" in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(policy_dirs())


@pytest.fixture
def small(tmp_path: Path, catalog: Catalog) -> Path:
    return reportruns.small_run(tmp_path / "runs", catalog, run_id="20261128T030000Z-b")


@pytest.fixture
def earlier(tmp_path: Path, catalog: Catalog) -> Path:
    return reportruns.small_run(tmp_path / "runs", catalog, run_id="20261128T020000Z-a")


def tamper(run: Path) -> None:
    file = run / OBSERVATIONS
    data = file.read_bytes()
    assert b'"outcome":"copy_only"' in data
    file.write_bytes(data.replace(b'"outcome":"copy_only"', b'"outcome":"direct"', 1))


def edit_manifest(run: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit manifest.json as a hand (or a script unaware of the digest) would."""
    file = run / MANIFEST
    data = json.loads(file.read_bytes())
    change(data)
    file.write_text(json.dumps(data, indent=2), encoding="utf-8")


# ---------------------------------------------------------------------------------------
# verify: every manifest field, duplicates
# ---------------------------------------------------------------------------------------


def _altered(value: object) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):  # a time a year earlier; any other text with a suffix
        return f"{int(value[:4]) - 1}{value[4:]}" if value[:4].isdigit() else value + "x"
    if isinstance(value, dict):
        return {**value, "added": "by hand"}
    if value is None:
        return "2026-11-28T05:00:00Z"
    raise AssertionError(f"no alteration for {value!r}")


@pytest.mark.parametrize("field", sorted(set(RunManifest.model_fields) - {"manifest_digest"}))
def test_verify_catches_an_edit_of_every_manifest_field(small: Path, field: str) -> None:
    """Every field, including any added later: the digest covers the manifest as a whole."""
    assert hulian("verify", small).exit_code == 0
    edit_manifest(small, lambda data: data.update({field: _altered(data[field])}))
    result = hulian("verify", small)
    assert result.exit_code == 1, result.output
    assert "manifest fields changed since sealing" in result.stdout
    assert "NOT intact" in result.stdout
    assert json.loads(hulian("verify", small, "--json").stdout)["manifest"] == "changed"


def test_verify_catches_an_edited_configuration_and_a_removed_digest(small: Path) -> None:
    edit_manifest(small, lambda data: data["config"].update(allow_private=True))
    checked = verify(small)
    assert checked.manifest == "changed" and not checked.intact
    assert checked.changed == checked.missing == checked.unlisted == []  # files untouched

    # Dropping the digest does not make the edit acceptable.
    edit_manifest(small, lambda data: data.pop("manifest_digest"))
    result = hulian("verify", small)
    assert result.exit_code == 1
    assert "manifest fields not sealed" in result.stdout


def test_verify_names_probes_planned_and_observed_twice(tmp_path: Path) -> None:
    """What two writers on one bundle used to seal, and verify used to call intact."""
    one = reportruns.observation("weixin", SurfaceKind.IM_PRIVATE, "https://www.jd.com/", "jd",
                                 Outcome.DIRECT, n=1)
    writer = BundleWriter(tmp_path, run_id="twice", policy_digest="d")
    probe = Probe(id=one.probe_id, source="weixin", surface=SurfaceKind.IM_PRIVATE,
                  target_url=one.target_url)
    for _ in range(2):
        writer.add_probe(probe)
        writer.add_observation(one)
    writer.finish()
    result = hulian("verify", writer.path)
    assert result.exit_code == 1, result.output
    assert "probe ids planned more than once" in result.stdout
    assert "probes observed more than once" in result.stdout
    assert one.probe_id in result.stdout
    data = json.loads(hulian("verify", writer.path, "--json").stdout)
    assert data["duplicate_probes"] == data["duplicate_observations"] == [one.probe_id]
    assert data["intact"] is False
    # Nor can the store take them: a clean error, not an IntegrityError.
    with pytest.raises(StoreError, match="duplicate ids"):
        record_run(writer.path, db_url=f"sqlite:///{tmp_path / 'h.db'}")


def test_resume_refuses_a_bundle_whose_configuration_was_edited(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "runs", run_id="cut", policy_digest="d",
                          config={"sources": ["weixin"], "allow_private": False})
    writer.close()  # interrupted: never sealed
    edit_manifest(writer.path, lambda data: data["config"].update(allow_private=True))
    before = (writer.path / MANIFEST).read_bytes()
    result = hulian("run", "--resume", writer.path, "--report-format", "")
    assert_refused(result, EXIT_UNVERIFIED, "cannot resume", "manifest fields changed")
    assert (writer.path / MANIFEST).read_bytes() == before


# ---------------------------------------------------------------------------------------
# evaluate --force: recorded, shown by verify and in every report
# ---------------------------------------------------------------------------------------


def test_a_forced_evaluation_over_a_failed_verification_stays_visible(small: Path) -> None:
    old_digest = read_manifest(small).policy_digest
    tamper(small)
    assert hulian("evaluate", small).exit_code == 1  # refused without --force
    result = hulian("evaluate", small, "--force", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["forced"] is True

    entry = read_manifest(small).config["evaluations"][-1]  # type: ignore[index]
    assert entry["forced"] is True and entry["at"]
    assert entry["policy_digest"] == json.loads(result.stdout)["policy_digest"]
    assert entry["previous_policy_digest"] == old_digest
    assert entry["previous_verdicts_sha256"]
    assert ["changed", OBSERVATIONS] in entry["forced_despite"]["problems"]

    # The reseal does not launder: verify names the forced evaluation and fails.
    shown = hulian("verify", small)
    assert shown.exit_code == 1, shown.output
    assert "evaluate --force" in shown.stdout and OBSERVATIONS in shown.stdout
    assert "NOT intact" in shown.stdout
    data = json.loads(hulian("verify", small, "--json").stdout)
    assert data["changed"] == [] and data["forced_evaluations"][0]["despite"]
    # ... and so does everything that uses the bundle.
    assert_refused(hulian("report", small, "--format", "json"), EXIT_UNVERIFIED,
                   "evaluate --force")
    assert hulian("evaluate", small).exit_code == 1


def _report(run: Path, out: Path, *extra: str) -> Result:
    return hulian("report", run, "--format", "all", "--lang", "en", "--out", out, *extra)


def _csv_rows(file: Path) -> list[list[str]]:
    with file.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout


def test_a_forced_evaluation_is_shown_in_every_report_format(
        small: Path, tmp_path: Path, catalog: Catalog) -> None:
    assert hulian("evaluate", small, "--force").exit_code == 0
    shown = hulian("verify", small)
    assert shown.exit_code == 0, shown.output  # nothing was overridden: still intact
    assert "forced evaluation" in shown.stdout and "nothing was overridden" in shown.stdout

    out = tmp_path / "out"
    result = hulian("report", small, "--format", "html,json,csv,junit", "--lang", "en",
                    "--out", out)
    assert result.exit_code == 0, result.output
    digest = read_manifest(small).config["evaluations"][-1]["policy_digest"][:16]  # type: ignore[index]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Re-evaluated with --force" in html and digest in html
    assert BANNER not in html
    findings = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert findings["unverified"] is None
    assert [f["policy_digest"][:16] for f in findings["forced_evaluations"]] == [digest]
    rows = _csv_rows(out / "findings.csv")
    assert rows[0][0].startswith("# forced evaluation") and digest in rows[0][0]
    assert rows[1][0] == "id"  # then the table as before
    junit = (out / "junit.xml").read_text(encoding="utf-8")
    assert 'name="hulian/integrity"' in junit and "evaluate --force at" in junit
    # The PDF is this page in print mode (WeasyPrint's run is left to the gate test).
    pdf_page = render_html(build_report_data(small, catalog), lang="en", mode="pdf")
    assert "Re-evaluated with --force" in pdf_page and digest in pdf_page
    zh = hulian("report", small, "--format", "html", "--out", tmp_path / "zh")
    assert zh.exit_code == 0
    assert "已使用 --force 重新评估" in (tmp_path / "zh" / "report.html").read_text("utf-8")


# ---------------------------------------------------------------------------------------
# The gate: report, graph, diff, runs import
# ---------------------------------------------------------------------------------------


def test_report_refuses_an_unverified_bundle_unless_allowed_then_marks_every_file(
        small: Path, tmp_path: Path) -> None:
    tamper(small)
    out = tmp_path / "out"
    assert_refused(_report(small, out), EXIT_UNVERIFIED, "fails verification", OBSERVATIONS,
                   "--allow-unverified")
    assert not out.exists() or not any(out.iterdir())

    result = _report(small, out, "--allow-unverified")
    assert result.exit_code == 0, result.output
    assert BANNER in result.stderr
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="unverified"' in html and "changed since sealing" in html
    assert html.index('id="unverified"') < html.index('id="cover"')  # first thing on the page
    findings = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert {"kind": "changed", "detail": OBSERVATIONS} in findings["unverified"]["problems"]
    assert BANNER in findings["unverified"]["banner"][0]
    first = _csv_rows(out / "findings.csv")[0]
    assert first[0].startswith(f"# {BANNER}")
    junit = (out / "junit.xml").read_text(encoding="utf-8")
    assert "<!-- " + BANNER in junit
    assert 'name="bundle verifies"><failure' in junit
    assert "UNVERIFIED" in _pdf_text(out / "report.pdf")


def test_report_refuses_an_unverified_previous_run(small: Path, earlier: Path) -> None:
    tamper(earlier)
    result = hulian("report", small, "--format", "json", "--previous", earlier)
    assert_refused(result, EXIT_UNVERIFIED, str(earlier))
    assert not (small / "findings.json").exists()


@pytest.mark.parametrize(("fmt", "mark"), [
    ("graphml", "<!-- " + BANNER), ("gexf", "<!-- " + BANNER), ("svg", "<!-- " + BANNER),
    ("dot", "// " + BANNER), ("json", '"hulian_unverified"')])
def test_graph_refuses_an_unverified_bundle_unless_allowed(small: Path, fmt: str,
                                                           mark: str) -> None:
    tamper(small)
    assert_refused(hulian("graph", small, "--format", fmt), EXIT_UNVERIFIED, OBSERVATIONS)
    result = hulian("graph", small, "--format", fmt, "--allow-unverified")
    assert result.exit_code == 0, result.output
    assert mark in result.stdout
    assert BANNER in result.stderr
    if fmt == "json":
        assert BANNER in json.loads(result.stdout)["graph"]["hulian_unverified"][0]
    elif fmt != "dot":
        assert result.stdout.lstrip().startswith(("<?xml", "<!--"))  # still well-formed
        import xml.dom.minidom

        xml.dom.minidom.parseString(result.stdout.encode())


def same_size_edit(run: Path) -> None:
    """weixin's link to jd.com recorded as a link to QQ: the lab's same-category rule no longer
    compares Taobao's copy page with JD's open link, and observations.jsonl keeps its size,
    so the bundle's Parquet table still counts as current by its size."""
    file = run / OBSERVATIONS
    size = file.stat().st_size
    lines = file.read_bytes().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if b'"target_platform":"jd"' in line)
    lines[index] = lines[index].replace(b'"target_platform":"jd"', b'"target_platform":"qq"')
    file.write_bytes(b"".join(lines))
    assert file.stat().st_size == size


def _graph_verdicts(run: Path, catalog: Catalog, *, fresh: bool) -> list[tuple[str, ...]]:
    from audit.evidence.sql import run_tables
    from audit.judge.cross import iter_graph_verdicts

    with run_tables(run, verdicts=False, fresh=fresh) as tables:
        return sorted((v.rule_id, v.source, str(v.target_platform), v.status.value,
                       v.reason.en) for v in iter_graph_verdicts(tables, catalog))


def test_an_unverified_bundle_is_graphed_and_evaluated_from_its_lines(
        small: Path, catalog: Catalog) -> None:
    # `hulian graph --allow-unverified` and `hulian evaluate --force` of a bundle edited in
    # place judge the cross-target rules from the lines the edges are counted from, not
    # from the bundle's observations table, which its size keeps "current".
    stale = _graph_verdicts(small, catalog, fresh=False)
    same_size_edit(small)
    lines = _graph_verdicts(small, catalog, fresh=True)
    assert lines != stale and _graph_verdicts(small, catalog, fresh=False) == stale

    result = hulian("graph", small, "--format", "json", "--allow-unverified")
    assert result.exit_code == 0, result.output
    edges = {(e["source"], e["target"]): e for e in json.loads(result.stdout)["links"]}
    assert ("weixin", "qq") in edges and ("weixin", "jd") not in edges
    assert ("same-category-same-friction", "weixin", "taobao", "fail") in {
        v[:4] for v in stale}
    # The edge's failed rules: the bundle's own per-observation verdicts and the
    # cross-target rules' judged again, of which the same-category rule passes now.
    assert "im-link-opens-directly" in edges["weixin", "taobao"]["failed_rules"]
    assert "same-category-same-friction" not in edges["weixin", "taobao"]["failed_rules"]

    result = hulian("evaluate", small, "--force")
    assert result.exit_code == 0, result.output
    written = sorted((v.rule_id, v.source, str(v.target_platform), v.status.value,
                      v.reason.en) for v in Bundle(small).verdicts()
                     if v.observation_id is None)  # the run has no search records
    assert written == lines


def test_an_unverified_bundle_is_exported_from_its_lines(
        small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `hulian export --allow-unverified` of a bundle edited in place to the same size writes
    # the edited lines' rows, not the bundle's own table (current by its size alone), and
    # leaves no table behind.
    import tempfile

    def targets(exported: Path) -> list[str]:
        return [json.loads(line)["target_platform"]
                for line in exported.read_text("utf-8").splitlines()]

    before = tmp_path / "before.jsonl"
    assert hulian("export", small, "--format", "jsonl", "--out", before).exit_code == 0
    own_table = (small / "observations.parquet").read_bytes()
    same_size_edit(small)
    assert_refused(hulian("export", small, "--format", "jsonl", "--out", tmp_path / "x"),
                   EXIT_UNVERIFIED, OBSERVATIONS)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    after = tmp_path / "after.jsonl"
    result = hulian("export", small, "--format", "jsonl", "--out", after,
                    "--allow-unverified")
    assert result.exit_code == 0, result.output
    assert BANNER in result.stderr
    changed = [(b, a) for b, a in zip(targets(before), targets(after), strict=True) if b != a]
    assert changed == [("jd", "qq")]
    assert (small / "observations.parquet").read_bytes() == own_table  # the bundle untouched
    assert list(scratch.iterdir()) == []  # the table built apart is gone


def test_a_reports_unverified_previous_run_is_compared_from_its_lines(
        small: Path, earlier: Path, catalog: Catalog) -> None:
    # The changes section of `hulian report --previous OLD --allow-unverified`, OLD edited in
    # place: OLD's edges as its lines have them, not as its size-current table does.
    same_size_edit(earlier)
    diff = build_report_data(small, catalog, previous=earlier, fresh_tables=True).diff
    assert diff is not None
    changes = {(c.source, c.target, c.before, c.after) for c in diff.changes}
    assert ("weixin", "qq", "direct", None) in changes  # the edited bundle's qq link, gone
    assert ("weixin", "jd", None, "direct") in changes  # jd, new against it


def test_diff_refuses_an_unverified_bundle_unless_allowed(small: Path, earlier: Path) -> None:
    assert hulian("diff", earlier, small).exit_code == 0
    tamper(small)
    assert_refused(hulian("diff", earlier, small), EXIT_UNVERIFIED, OBSERVATIONS)
    result = hulian("diff", earlier, small, "--allow-unverified")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(BANNER)
    data = json.loads(hulian("diff", earlier, small, "--allow-unverified", "--json").stdout)
    assert list(data["unverified"]) == [str(small)]


def test_diff_names_tables_it_cannot_build_and_does_not_call_the_bundle_corrupt(
        small: Path, earlier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An edited bundle's tables are built again from its lines, in a temporary directory; a
    # temporary directory that cannot be made is named as such (exit 1), with TMPDIR, not
    # reported as a corrupt bundle, and no traceback.
    import tempfile

    tamper(small)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setattr(tempfile, "tempdir", str(blocker))
    result = hulian("diff", earlier, small, "--allow-unverified")
    assert_refused(result, 1, "cannot be read", "not-a-directory", "TMPDIR")
    assert "corrupt" not in result.stderr


def test_runs_import_refuses_an_unverified_bundle_unless_allowed(
        small: Path, earlier: Path, tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    tamper(small)
    result = hulian("runs", "import", small.parent, "--json", db=db)
    assert_refused(result, EXIT_UNVERIFIED, OBSERVATIONS)
    assert [r["run_id"] for r in json.loads(result.stdout)] == [earlier.name]  # others go in
    assert hulian("runs", "show", small.name, db=db).exit_code == 1

    result = hulian("runs", "import", small, "--allow-unverified", "--json", db=db)
    assert result.exit_code == 0, result.output
    assert BANNER in json.loads(result.stdout)[0]["unverified"][0]
    shown = json.loads(hulian("runs", "show", small.name, "--json", db=db).stdout)
    assert BANNER in shown["summary"]["unverified"][0]
    # The stored run carries its banner into a diff by id.
    assert_refused(hulian("diff", earlier.name, small.name, db=db), EXIT_UNVERIFIED)
    allowed = hulian("diff", earlier.name, small.name, "--allow-unverified", db=db)
    assert allowed.exit_code == 0, allowed.output
    assert BANNER in allowed.stdout


# ---------------------------------------------------------------------------------------
# diff: bad input, runs that cannot be compared
# ---------------------------------------------------------------------------------------


def test_diff_names_what_is_not_a_run(small: Path, tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("hello", encoding="utf-8")
    assert_refused(hulian("diff", tmp_path / "notes", small), EXIT_NOT_A_RUN,
                   "not a run bundle")
    assert_refused(hulian("diff", small, tmp_path / "notes" / "a.txt"), EXIT_NOT_A_RUN,
                   "not a run bundle")
    assert_refused(hulian("diff", small, "no-such-run", db=tmp_path / "h.db"), EXIT_NOT_A_RUN,
                   "neither a run bundle directory nor a run in the history store")


def test_diff_of_a_corrupt_bundle_is_a_clear_error(small: Path, earlier: Path) -> None:
    (small / MANIFEST).write_text('{"run_id": [1]', encoding="utf-8")
    assert_refused(hulian("diff", earlier, small), EXIT_UNVERIFIED, "cannot be verified")
    assert_refused(hulian("diff", earlier, small, "--allow-unverified"), EXIT_UNVERIFIED)
    # A cut line in the middle of the observations: allowed past the gate, still unreadable.
    with (earlier / OBSERVATIONS).open("r+b") as fh:
        lines = fh.read().splitlines(keepends=True)
        fh.seek(0)
        fh.truncate()
        fh.write(b"".join([lines[0][:40] + b"\n", *lines[1:]]))
    result = hulian("diff", earlier, earlier, "--allow-unverified")
    assert_refused(result, EXIT_UNVERIFIED, "corrupt run bundle", f"{OBSERVATIONS}:1")


def test_diff_refuses_runs_that_share_no_source(small: Path, tmp_path: Path,
                                                catalog: Catalog) -> None:
    other = reportruns.write_run(tmp_path / "runs", "20261128T040000Z-other", [
        reportruns.observation("douyin", SurfaceKind.POST, "https://www.zhihu.com/q/1", "zhihu",
                               Outcome.DIRECT, n=1)], catalog)
    assert_refused(hulian("diff", small, other), EXIT_NOT_COMPARABLE, "share no source",
                   "douyin")


def test_diff_refuses_runs_judged_against_disjoint_frameworks(small: Path,
                                                              tmp_path: Path) -> None:
    obs = reportruns.observation("weixin", SurfaceKind.IM_PRIVATE, "https://www.jd.com/", "jd",
                                 Outcome.DIRECT, n=1)
    writer = BundleWriter(tmp_path / "runs", run_id="elsewhere", policy_digest="d")
    writer.add_observation(obs)
    writer.add_verdict(Verdict(
        id="v1", rule_id="some-rule", observation_id=obs.id, source="weixin",
        status=Status.PASS, severity=Severity.LOW, reason=Text(zh="好", en="fine"),
        requirements=["other-framework/req-1"]))
    writer.finish()
    assert_refused(hulian("diff", small, writer.path), EXIT_NOT_COMPARABLE,
                   "different frameworks", "other-framework", "miit-2021")


@pytest.mark.parametrize("gate", [[], ["--fail-on-regression"]])
def test_diff_against_an_empty_run_is_an_error_not_a_pass(
        small: Path, tmp_path: Path, catalog: Catalog, gate: list[str]) -> None:
    empty = reportruns.empty_run(tmp_path / "runs", catalog)
    for pair in ((small, empty), (empty, small)):
        result = hulian("diff", *pair, *gate)
        assert_refused(result, EXIT_EMPTY_RUN, "no observations")
        assert result.exit_code not in (0, EXIT_REGRESSION)


def test_diff_help_documents_its_exit_codes() -> None:
    text = hulian("diff", "--help").stdout
    for code in ("4", "6", "7", "8", "9"):
        assert f" {code} " in text, code


@pytest.mark.parametrize("bits", [1 << 29, 8])
def test_verify_finds_exactly_the_repeated_ids_whatever_the_bitmap(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bits: int) -> None:
    # Repeats are found by a bitmap, then counted exactly: with 8 bits every id is a
    # candidate, and still only those written twice are named.
    from audit.evidence import bundle

    monkeypatch.setattr(bundle, "MAX_REPEAT_BITS", bits)
    writer = BundleWriter(tmp_path, run_id="many", policy_digest="d")
    records = [reportruns.observation("weixin", SurfaceKind.IM_PRIVATE,
                                      f"https://www.jd.com/{n}", "jd", Outcome.DIRECT, n=n)
               for n in range(3_000)]
    for record in [*records, records[7], records[2_000], records[2_000]]:
        writer.add_observation(record)
    writer.finish()
    report = verify(writer.path)
    assert report.duplicate_observations == sorted({records[7].probe_id,
                                                    records[2_000].probe_id})


def test_finding_repeats_holds_no_set_of_the_ids() -> None:
    # Ten million observations' ids and probe ids in sets held ~1.9 GB in `hulian verify`
    # (and in every command that verifies first); the bitmap does not grow with the ids.
    import tracemalloc

    from audit.evidence.bundle import _Repeats

    ids = [f"obs{n:08d}" for n in range(200_000)]
    tracemalloc.start()
    repeats = _Repeats(len(ids))
    for value in ids:
        repeats.add(value)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert held < 3_000_000  # 2 MB of bitmap, a few candidates; a set of the ids: ~8 MB more
    assert len(repeats.candidates) < len(ids) // 1_000
