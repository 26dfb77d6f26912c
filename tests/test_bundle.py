"""Tests for audit.evidence.bundle: the append-only run bundle, its reader, sealing and verification."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from audit.evidence.bundle import (
    MANIFEST,
    OBSERVATIONS,
    PROBES,
    VERDICTS,
    Bundle,
    BundleError,
    BundleWriter,
    bundle_files,
    read_manifest,
    verify,
)
from audit.evidence.lock import BUNDLE_LOCK
from audit.model import (
    BlockReason,
    Hop,
    Observation,
    Outcome,
    PageFacts,
    PageKind,
    Probe,
    Severity,
    Status,
    SurfaceKind,
    Text,
    Verdict,
)

REPO = Path(__file__).resolve().parent.parent
DIGEST = "d" * 64


def observation(i: int, **extra: object) -> Observation:
    fields: dict[str, object] = {
        "id": f"o{i}", "probe_id": f"p{i}", "run_id": "r1", "source": "weixin",
        "surface": SurfaceKind.IM_PRIVATE, "target_url": f"https://item.taobao.com/{i}",
        "target_platform": "taobao", "outcome": Outcome.COPY_ONLY,
    }
    fields.update(extra)
    return Observation.model_validate(fields)


def rich_observation() -> Observation:
    return observation(
        7,
        started_at=datetime(2024, 5, 1, 12, 30, tzinfo=UTC), runtime_s=1.25,
        hops=[Hop(url="https://weixin110.qq.com/x", status=200, via="start", elapsed_ms=3.5),
              Hop(url="https://item.taobao.com/7", status=None, via="continue")],
        final_url="https://weixin110.qq.com/x",
        page=PageFacts(kind=PageKind.BLOCKED, signature="weixin/blocked",
                       target="https://item.taobao.com/7", reason=BlockReason.REWARD_SHARING,
                       title="已停止访问该网页", excerpt="已停止访问该网页 诱导分享"),
        control_ok=True, outcome=Outcome.BLOCKED, reason=BlockReason.REWARD_SHARING,
        evidence=["urn:uuid:1", "urn:uuid:2"],
    )


PROBE = Probe(id="p7", source="weixin", surface=SurfaceKind.IM_GROUP,
              target_url="https://item.taobao.com/7", target_platform="taobao",
              seed_url="https://mp.weixin.qq.com/s/abc", link_url="https://item.taobao.com/7",
              rendered_as="text", token="tok-1")
VERDICT = Verdict(id="v1", rule_id="im-link-opens-directly", observation_id="o7",
                  probe_id="p7", source="weixin", surface=SurfaceKind.IM_PRIVATE,
                  target_url="https://item.taobao.com/7", target_platform="taobao",
                  outcome=Outcome.BLOCKED, status=Status.FAIL, severity=Severity.HIGH,
                  reason=Text(zh="未能直接打开", en="does not open directly"),
                  requirements=["miit-2021/im-direct"], evidence=["urn:uuid:1"])


def write_bundle(root: Path, run_id: str = "r1", n: int = 3) -> Path:
    writer = BundleWriter(root, run_id=run_id, policy_digest=DIGEST, config={"k": "v"})
    writer.add_probe(PROBE)
    for i in range(n):
        writer.add_observation(observation(i))
    writer.add_verdict(VERDICT)
    writer.finish()
    return writer.path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------
# Round trip and sealing
# ---------------------------------------------------------------------------------------


def test_round_trip_preserves_every_record(tmp_path: Path) -> None:
    obs = [observation(0), rich_observation(), observation(2, outcome=Outcome.DIRECT)]
    with BundleWriter(tmp_path, run_id="rt", policy_digest=DIGEST) as writer:
        writer.add_probe(PROBE)
        for o in obs:
            writer.add_observation(o)
        writer.add_verdict(VERDICT)
        writer.finish()
    bundle = Bundle(tmp_path / "rt")
    assert list(bundle.probes()) == [PROBE]
    assert list(bundle.observations()) == obs
    assert list(bundle.verdicts()) == [VERDICT]
    assert bundle.problems.skipped == []
    assert bundle.manifest.run_id == "rt"
    assert bundle.manifest.policy_digest == DIGEST
    # Each line is one JSON document that re-validates to the same record.
    lines = (tmp_path / "rt" / OBSERVATIONS).read_bytes().splitlines()
    assert [Observation.model_validate_json(line) for line in lines] == obs


def test_finish_lists_every_file_with_its_sha256(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path, run_id="sealed", policy_digest=DIGEST,
                          config={"surfaces": ["im_private"]})
    writer.add_probe(PROBE)
    writer.add_observation(observation(0))
    writer.add_verdict(VERDICT)
    (writer.path / "evidence" / "hop-1.warc.gz").write_bytes(b"\x1f\x8bWARC")
    (writer.path / "graph.graphml").write_text("<graphml/>", encoding="utf-8")
    # Reports are derived views, rendered after sealing: never part of the seal.
    (writer.path / "report.html").write_text("<html>报告</html>", encoding="utf-8")
    manifest = writer.finish()

    path = tmp_path / "sealed"
    # The writer's lock file says who writes the bundle now: not part of the seal either.
    assert (path / BUNDLE_LOCK).is_file()
    expected = {
        p.relative_to(path).as_posix(): sha256(p)
        for p in path.rglob("*")
        if p.is_file() and p.name not in (MANIFEST, "report.html", BUNDLE_LOCK)
    }
    assert set(expected) == {PROBES, OBSERVATIONS, VERDICTS, "evidence/hop-1.warc.gz",
                             "graph.graphml", "observations.parquet", "verdicts.parquet"}
    assert verify(path).intact
    assert manifest.files == expected
    on_disk = read_manifest(path)
    assert on_disk.files == expected
    assert on_disk.finished_at is not None
    assert on_disk.started_at <= on_disk.finished_at
    assert on_disk.config == {"surfaces": ["im_private"]}
    assert not (path / (MANIFEST + ".tmp")).exists()
    assert verify(path).intact


# ---------------------------------------------------------------------------------------
# Interrupted writes
# ---------------------------------------------------------------------------------------


def test_partial_last_line_is_skipped_and_reported(tmp_path: Path) -> None:
    path = write_bundle(tmp_path)
    whole = observation(3).model_dump_json()
    with (path / OBSERVATIONS).open("ab") as fh:  # a crash in the middle of a write
        fh.write(whole[: len(whole) // 2].encode())
    bundle = Bundle(path)
    assert [o.id for o in bundle.observations()] == ["o0", "o1", "o2"]
    assert len(bundle.problems.skipped) == 1
    assert f"{OBSERVATIONS}:4" in bundle.problems.skipped[0]
    assert "partial" in bundle.problems.skipped[0]


def test_resumed_writer_drops_partial_line_and_appends_cleanly(tmp_path: Path) -> None:
    path = write_bundle(tmp_path)
    started = read_manifest(path).started_at
    with (path / OBSERVATIONS).open("ab") as fh:
        fh.write(b'{"id": "o3", "probe_id": "p3", "sour')
    writer = BundleWriter(tmp_path, run_id="r1", resume=True, policy_digest=DIGEST)
    writer.add_observation(observation(4))
    writer.add_observation(observation(5))
    writer.finish()

    raw = (path / OBSERVATIONS).read_bytes()
    assert raw.endswith(b"\n")
    assert b'"sour{' not in raw  # no record glued onto the fragment
    assert b'"o3"' not in raw
    lines = raw.splitlines()
    assert [Observation.model_validate_json(line).id for line in lines] == [
        "o0", "o1", "o2", "o4", "o5"]
    bundle = Bundle(path)
    assert [o.id for o in bundle.observations()] == ["o0", "o1", "o2", "o4", "o5"]
    assert bundle.problems.skipped == []
    assert bundle.manifest.started_at == started  # the resumed run keeps its manifest
    assert bundle.manifest.config == {"k": "v"}
    assert verify(path).intact


def test_resumed_writer_keeps_a_complete_record_missing_only_its_newline(tmp_path: Path) -> None:
    path = write_bundle(tmp_path, n=1)
    with (path / OBSERVATIONS).open("ab") as fh:
        fh.write(observation(1).model_dump_json().encode())  # no "\n"
    assert [o.id for o in Bundle(path).observations()] == ["o0", "o1"]
    writer = BundleWriter(tmp_path, run_id="r1", resume=True, policy_digest=DIGEST)
    writer.add_observation(observation(2))
    writer.finish()
    assert [o.id for o in Bundle(path).observations()] == ["o0", "o1", "o2"]


def test_corrupt_middle_line_names_file_and_line(tmp_path: Path) -> None:
    path = write_bundle(tmp_path, n=4)
    file = path / OBSERVATIONS
    lines = file.read_bytes().splitlines(keepends=True)
    lines[1] = b'{"id": "o1", "broken\n'
    file.write_bytes(b"".join(lines))
    with pytest.raises(BundleError, match=rf"{OBSERVATIONS}:2: invalid record"):
        list(Bundle(path).observations())


def test_record_with_unknown_field_in_middle_names_line_and_field(tmp_path: Path) -> None:
    path = write_bundle(tmp_path, n=3)
    file = path / OBSERVATIONS
    lines = file.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[2])
    record["from_the_future"] = 1
    lines[2] = json.dumps(record).encode() + b"\n"
    file.write_bytes(b"".join(lines))
    with pytest.raises(BundleError) as info:
        list(Bundle(path).observations())
    assert f"{file}:3" in str(info.value)
    assert "from_the_future" in str(info.value)


def test_corrupt_last_line_with_newline_is_an_error_not_a_skip(tmp_path: Path) -> None:
    path = write_bundle(tmp_path, n=2)
    with (path / OBSERVATIONS).open("ab") as fh:
        fh.write(b"garbage\n")
    with pytest.raises(BundleError, match=rf"{OBSERVATIONS}:3"):
        list(Bundle(path).observations())


WRITER_SCRIPT = """
import sys
from pathlib import Path
from audit.evidence.bundle import BundleWriter
from audit.model import Observation

writer = BundleWriter(Path(sys.argv[1]), run_id="killed", policy_digest="d" * 64)
i = 0
while True:
    writer.add_observation(Observation(
        id=f"o{i}", probe_id=f"p{i}", source="weixin", surface="im_private",
        target_url="https://item.taobao.com/" + "x" * (i % 7 * 3000), outcome="copy_only"))
    i += 1
"""


def test_sigkill_mid_write_loses_no_complete_line(tmp_path: Path) -> None:
    file = tmp_path / "killed" / OBSERVATIONS
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = tmp_path / "writer.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(tmp_path)], env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if file.exists() and file.read_bytes().count(b"\n") >= 200:
                break
            if proc.poll() is not None:
                pytest.fail(f"writer exited early: {log.read_text(errors='replace')}")
            time.sleep(0.01)
        else:
            pytest.fail("the writer did not write 200 lines in 20 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    raw = file.read_bytes()
    complete = raw.count(b"\n")
    assert complete >= 200
    bundle = Bundle(tmp_path / "killed")
    ids = [o.id for o in bundle.observations()]  # no exception
    assert ids == [f"o{i}" for i in range(complete)]
    if raw.endswith(b"\n"):
        assert bundle.problems.skipped == []
    else:
        assert len(bundle.problems.skipped) == 1
    # The killed run can be resumed and sealed.
    writer = BundleWriter(tmp_path, run_id="killed", resume=True, policy_digest=DIGEST)
    writer.add_observation(observation(99999))
    writer.finish()
    resumed = Bundle(tmp_path / "killed")
    assert [o.id for o in resumed.observations()] == [*ids, "o99999"]
    assert resumed.problems.skipped == []
    assert verify(tmp_path / "killed").intact


# ---------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------


def test_verify_intact(tmp_path: Path) -> None:
    path = write_bundle(tmp_path)
    report = verify(path)
    assert report.intact
    # The Parquet copies of observations and verdicts are sealed like the lines.
    assert sorted(report.ok) == sorted([PROBES, OBSERVATIONS, VERDICTS, "observations.parquet",
                                        "verdicts.parquet"])
    assert report.as_dict() == {"intact": True, "ok": 5, "changed": [], "missing": [],
                                "unlisted": [], "manifest": "ok", "duplicate_probes": [],
                                "duplicate_observations": [], "duplicate_observation_ids": [],
                                "forced_evaluations": [], "problems": []}


def test_verify_names_changed_missing_and_unlisted_files(tmp_path: Path) -> None:
    path = write_bundle(tmp_path)
    obs = path / OBSERVATIONS
    obs.write_bytes(obs.read_bytes().replace(b"copy_only", b"direct", 1))
    (path / PROBES).unlink()
    (path / "evidence" / "planted.warc.gz").write_bytes(b"x")
    report = verify(path)
    assert not report.intact
    assert report.changed == [OBSERVATIONS]
    assert report.missing == [PROBES]
    assert report.unlisted == ["evidence/planted.warc.gz"]
    assert report.ok == ["observations.parquet", VERDICTS, "verdicts.parquet"]
    assert report.as_dict()["intact"] is False


@pytest.mark.parametrize("kind", ["changed", "missing", "unlisted"])
def test_each_kind_of_difference_alone_breaks_integrity(tmp_path: Path, kind: str) -> None:
    path = write_bundle(tmp_path)
    if kind == "changed":
        with (path / VERDICTS).open("ab") as fh:
            fh.write(b"\n")
    elif kind == "missing":
        (path / VERDICTS).unlink()
    else:
        (path / "notes.txt").write_text("added later", encoding="utf-8")
    report = verify(path)
    assert not report.intact
    assert getattr(report, kind) == [VERDICTS if kind != "unlisted" else "notes.txt"]


# ---------------------------------------------------------------------------------------
# Manifests and run ids
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [
    b"{not json",
    b'{"run_id": 5}',
    b"[]",
    b"",
    b'{"run_id": "r1", "tool_version": "0", "policy_digest": "x", "started_at": "yesterday"}',
])
def test_invalid_manifest_is_a_bundle_error(tmp_path: Path, content: bytes) -> None:
    path = write_bundle(tmp_path)
    (path / MANIFEST).write_bytes(content)
    with pytest.raises(BundleError, match=r"manifest\.json: invalid manifest"):
        Bundle(path)
    with pytest.raises(BundleError, match="invalid manifest"):
        verify(path)


def test_directory_without_manifest_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a run bundle"):
        Bundle(tmp_path)
    with pytest.raises(BundleError, match="not a run bundle"):
        verify(tmp_path / "does-not-exist")


def test_duplicate_run_id_is_refused(tmp_path: Path) -> None:
    path = write_bundle(tmp_path, run_id="twice")
    before = (path / OBSERVATIONS).read_bytes()
    with pytest.raises(BundleError, match="already exists"):
        BundleWriter(tmp_path, run_id="twice", policy_digest=DIGEST)
    assert (path / OBSERVATIONS).read_bytes() == before
    assert verify(path).intact


@pytest.mark.parametrize("run_id", ["..", ".", "a/b", "../escape", "x y", "-rf", "a\nb", "é"])
def test_bad_run_id_is_refused(tmp_path: Path, run_id: str) -> None:
    root = tmp_path / "runs"
    with pytest.raises(BundleError, match="run id"):
        BundleWriter(root, run_id=run_id, policy_digest=DIGEST, resume=True)
    assert not (tmp_path / MANIFEST).exists()
    assert not (tmp_path / "evidence").exists()


def test_generated_run_ids_are_unique_and_valid(tmp_path: Path) -> None:
    first = BundleWriter(tmp_path, policy_digest=DIGEST)
    second = BundleWriter(tmp_path, policy_digest=DIGEST)
    assert first.run_id != second.run_id
    assert (tmp_path / first.run_id / MANIFEST).is_file()
    assert read_manifest(tmp_path / second.run_id).run_id == second.run_id


def test_verify_refuses_a_manifest_pointing_outside_the_bundle(tmp_path: Path) -> None:
    from audit.evidence.bundle import (
        BundleError,
        BundleWriter,
        read_manifest,
        verify,
        write_manifest,
    )

    (tmp_path / "secret.txt").write_text("outside")
    writer = BundleWriter(tmp_path / "runs", run_id="r1", policy_digest="d")
    writer.finish()
    manifest = read_manifest(writer.path)
    manifest.files["../../secret.txt"] = "0" * 64
    write_manifest(writer.path, manifest)
    with pytest.raises(BundleError, match="outside the bundle"):
        verify(writer.path)


def test_early_digests_count_only_for_files_unchanged_since(tmp_path: Path) -> None:
    # The seal takes a digest made early (while a crawl's end makes its graph) only for a
    # file as it was then: one rewritten since, even to the same size with its modification
    # time put back, is hashed again; one written after the early hashing is hashed at the
    # seal. The sealed bundle verifies.
    import threading

    from audit.evidence.bundle import EarlyDigests, seal

    writer = BundleWriter(tmp_path, run_id="20261204T000000Z-early", policy_digest="x")
    writer.add_observation(observation(0))
    writer.close()
    run = writer.path
    (run / "kept.bin").write_bytes(b"k" * 3_000_000)
    (run / "changed.bin").write_bytes(b"a" * 1_000)
    stat = (run / "changed.bin").stat()
    with EarlyDigests(bundle_files(run)) as known:
        known.digest(run / "kept.bin")  # waits for the early hashing
        (run / "changed.bin").write_bytes(b"b" * 1_000)
        os.utime(run / "changed.bin", ns=(stat.st_atime_ns, stat.st_mtime_ns))
        (run / "later.bin").write_bytes(b"later")
        manifest = read_manifest(run)
        seal(run, manifest, known)
    files = read_manifest(run).files
    for name in ("kept.bin", "changed.bin", "later.bin"):
        assert files[name] == hashlib.sha256((run / name).read_bytes()).hexdigest(), name
    assert verify(run).intact
    assert not any(t.name == "hulian-early-digests" for t in threading.enumerate())


def test_early_digests_stop_when_left_and_a_lost_file_is_reported_when_asked(
        tmp_path: Path) -> None:
    import threading

    from audit.evidence.bundle import EarlyDigests

    big = tmp_path / "big.bin"
    with big.open("wb") as fh:
        fh.truncate(512 << 20)  # sparse: a long hashing, cut short by leaving
    started = time.perf_counter()
    with EarlyDigests([big]):
        pass
    assert time.perf_counter() - started < 0.5
    assert not any(t.name == "hulian-early-digests" for t in threading.enumerate())
    gone = tmp_path / "gone.bin"
    with EarlyDigests([gone]) as known, pytest.raises(FileNotFoundError):
        known.digest(gone)
