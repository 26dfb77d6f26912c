"""Tests for `hulian verify RUN` and `hulian evaluate RUN` (audit/cli/runs.py)."""

from __future__ import annotations

import json
from pathlib import Path
from unittest.mock import ANY

import pytest
from typer.testing import CliRunner, Result

from audit.cli import app
from audit.evidence.bundle import (
    OBSERVATIONS,
    VERDICTS,
    Bundle,
    BundleWriter,
    read_manifest,
    verify,
)
from audit.model import Observation, Outcome, Severity, Status, SurfaceKind, Text, Verdict

# Wide console (rich would fold long paths at 80 columns) and no user policy directories.
ENV = {"COLUMNS": "500", "HULIAN_POLICIES": None, "NO_COLOR": "1"}


def hulian(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env=ENV)


def obs(oid: str, outcome: Outcome, target_platform: str = "taobao",
        target_url: str = "https://item.taobao.com/item.htm?id=1") -> Observation:
    return Observation(id=oid, probe_id=f"p-{oid}", run_id="r1", source="weixin",
                       surface=SurfaceKind.IM_PRIVATE, target_url=target_url,
                       target_platform=target_platform, outcome=outcome)


STALE = Verdict(id="stale", rule_id="retired-rule", observation_id="copy", source="weixin",
                status=Status.PASS, severity=Severity.LOW, reason=Text(zh="旧", en="old"))


@pytest.fixture
def run(tmp_path: Path) -> Path:
    writer = BundleWriter(tmp_path / "runs", run_id="r1", policy_digest="old-digest")
    writer.add_observation(obs("copy", Outcome.COPY_ONLY))
    writer.add_observation(obs("direct", Outcome.DIRECT, "zhihu", "https://www.zhihu.com/q/1"))
    writer.add_verdict(STALE)
    writer.finish()
    return writer.path


def tamper(run: Path) -> None:
    file = run / OBSERVATIONS
    file.write_bytes(file.read_bytes().replace(b'"copy_only"', b'"direct"'))


def assert_clean_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    assert "error" in result.stderr
    for needle in needles:
        assert needle in result.stderr


# ---------------------------------------------------------------------------------------
# hulian verify
# ---------------------------------------------------------------------------------------


def test_verify_intact_bundle(run: Path) -> None:
    result = hulian("verify", run)
    assert result.exit_code == 0, result.output
    assert "intact" in result.stdout
    assert "NOT intact" not in result.stdout
    # observations and verdicts, each as JSON lines and as a Parquet table
    assert "4 file(s) match" in result.stdout


def test_verify_tampered_bundle_names_the_changed_file(run: Path) -> None:
    tamper(run)
    result = hulian("verify", run)
    assert result.exit_code == 1
    assert "NOT intact" in result.stdout
    changed = [line for line in result.stdout.splitlines() if "changed" in line]
    assert len(changed) == 1
    assert OBSERVATIONS in changed[0]
    assert VERDICTS not in result.stdout


def test_verify_json(run: Path) -> None:
    clean = {"manifest": "ok", "duplicate_probes": [], "duplicate_observations": [],
             "duplicate_observation_ids": [], "forced_evaluations": [],
             "custody": ANY}  # signature and timestamp: tests/test_signing.py
    result = hulian("verify", run, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"intact": True, "ok": 4, "changed": [], "missing": [],
                                         "unlisted": [], "problems": [], **clean}

    tamper(run)
    (run / VERDICTS).unlink()
    (run / "evidence" / "late.warc.gz").write_bytes(b"x")
    result = hulian("verify", run, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        # ok: the two Parquet tables
        "intact": False, "ok": 2, "changed": [OBSERVATIONS], "missing": [VERDICTS],
        "unlisted": ["evidence/late.warc.gz"], **clean,
        "problems": [f"changed since sealing 封存后被改动: {OBSERVATIONS}",
                     f"missing 缺失: {VERDICTS}",
                     "not in the manifest 未登记: evidence/late.warc.gz"]}


def test_verify_names_an_unlisted_file_whose_name_looks_like_markup(run: Path) -> None:
    (run / "[bold]planted").write_bytes(b"x")
    result = hulian("verify", run)
    assert result.exit_code == 1
    assert "[bold]planted" in result.stdout


@pytest.mark.parametrize("command", ["verify", "evaluate"])
def test_not_a_bundle_is_a_clear_error(tmp_path: Path, command: str) -> None:
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    result = hulian(command, tmp_path)
    assert_clean_error(result, "not a run bundle", "manifest.json")
    result = hulian(command, tmp_path / "missing")
    assert_clean_error(result, "not a run bundle")


def test_invalid_manifest_is_a_clear_error(run: Path) -> None:
    (run / "manifest.json").write_text('{"run_id": [1]}', encoding="utf-8")
    assert_clean_error(hulian("verify", run), "manifest.json", "invalid manifest")


# ---------------------------------------------------------------------------------------
# hulian evaluate
# ---------------------------------------------------------------------------------------


def test_evaluate_recomputes_verdicts_and_reseals(run: Path) -> None:
    result = hulian("evaluate", run, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)

    verdicts = list(Bundle(run).verdicts())
    assert summary["verdicts"] == len(verdicts)
    assert STALE not in verdicts
    assert {v.observation_id for v in verdicts} == {"copy", "direct"}
    by_obs = {oid: {v.status for v in verdicts if v.observation_id == oid}
              for oid in ("copy", "direct")}
    assert Status.FAIL in by_obs["copy"]
    assert Status.FAIL not in by_obs["direct"]
    assert Status.PASS in by_obs["direct"]
    im_rule = {(v.observation_id, v.status) for v in verdicts
               if v.rule_id == "im-link-opens-directly"}
    assert im_rule == {("copy", Status.FAIL), ("direct", Status.PASS)}
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v.status.value] = counts.get(v.status.value, 0) + 1
    assert summary["by_status"] == counts

    report = verify(run)
    assert report.intact, report
    manifest = read_manifest(run)
    evaluations = manifest.config["evaluations"]
    assert isinstance(evaluations, list)
    assert len(evaluations) == 1
    assert evaluations[0]["policy_digest"] == summary["policy_digest"]
    assert evaluations[0]["verdicts"] == len(verdicts)
    assert "forced_despite" not in evaluations[0]
    assert manifest.policy_digest == "old-digest"  # the measuring policy set stays recorded

    # Evaluating again gives the same judgements and one more entry in the history.
    result = hulian("evaluate", run)
    assert result.exit_code == 0, result.output
    assert f"{len(verdicts)} verdict(s)" in result.stdout
    again = list(Bundle(run).verdicts())
    assert [(v.id, v.status) for v in again] == [(v.id, v.status) for v in verdicts]
    assert len(read_manifest(run).config["evaluations"]) == 2  # type: ignore[arg-type]
    assert hulian("verify", run).exit_code == 0


def test_evaluate_refuses_a_tampered_bundle(run: Path) -> None:
    tamper(run)
    before = (run / VERDICTS).read_bytes()
    manifest_before = (run / "manifest.json").read_bytes()
    result = hulian("evaluate", run)
    assert_clean_error(result, "fails verification", OBSERVATIONS, "--force")
    assert (run / VERDICTS).read_bytes() == before
    assert (run / "manifest.json").read_bytes() == manifest_before
    assert not verify(run).intact


def test_evaluate_refuses_a_bundle_with_an_unlisted_file(run: Path) -> None:
    (run / "evidence" / "planted.warc.gz").write_bytes(b"x")
    result = hulian("evaluate", run)
    assert_clean_error(result, "fails verification", "evidence/planted.warc.gz")


def test_evaluate_force_records_what_failed_verification(run: Path) -> None:
    tamper(run)
    result = hulian("evaluate", run, "--force")
    assert result.exit_code == 0, result.output
    verdicts = list(Bundle(run).verdicts())
    # The tampered observation now says "direct", so nothing fails any more.
    assert verdicts
    assert all(v.status != Status.FAIL for v in verdicts)
    # The files match the new seal, but the bundle was resealed over a failed verification:
    # it stays unverified (tests/test_integrity.py shows where that is seen).
    checked = verify(run)
    assert checked.changed == [] and not checked.intact
    assert checked.forced[0].despite == [("changed", OBSERVATIONS)]
    evaluations = read_manifest(run).config["evaluations"]
    assert isinstance(evaluations, list)
    assert evaluations[-1]["forced"] is True
    assert evaluations[-1]["previous_policy_digest"] == "old-digest"
    assert evaluations[-1]["forced_despite"] == {
        "changed": [OBSERVATIONS], "missing": [], "unlisted": [],
        "problems": [["changed", OBSERVATIONS]]}


def test_evaluate_corrupt_observation_names_file_and_line(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path, run_id="bad", policy_digest="x")
    writer.add_observation(obs("a", Outcome.DIRECT))
    writer.close()
    with (writer.path / OBSERVATIONS).open("ab") as fh:
        fh.write(b'{"id": "half"\n')
    writer = BundleWriter(tmp_path, run_id="bad", policy_digest="x", resume=True)
    writer.add_observation(obs("b", Outcome.DIRECT))
    writer.finish()  # sealed all the same: the lines are the record; no table disagrees
    assert not (writer.path / "observations.parquet").exists()
    assert hulian("verify", writer.path).exit_code == 0
    result = hulian("evaluate", writer.path)
    assert_clean_error(result, f"{OBSERVATIONS}:2")


def test_evaluate_warns_about_a_partial_last_line(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path, run_id="cut", policy_digest="x")
    writer.add_observation(obs("copy", Outcome.COPY_ONLY))
    writer.close()
    with (writer.path / OBSERVATIONS).open("ab") as fh:
        fh.write(b'{"id": "cut-off", "pro')
    writer.finish()  # sealed with the partial line, as after a crash and `finish`
    result = hulian("evaluate", writer.path, "--json")
    assert result.exit_code == 0, result.output
    assert "partial last line" in result.stderr
    assert {v.observation_id for v in Bundle(writer.path).verdicts()} == {"copy"}
