"""The zoo of hostile servers (tests/zoo.py) crawled by both engines, each in ONE `hulian run`
with every case linked from one seed page, the two runs side by side: every case must end in
the outcome and failure word its table says, on both engines, both where the hostile server
is the platform's link wrapper (the target healthy: `error`) and where it is the target
itself (its control fetch fails too: `target_down`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit.evidence.bundle import Bundle
from audit.measure.failures import known
from tests.zoo import CASES, TIMEOUT_S, Case, policies, zoo

pytestmark = pytest.mark.slow

ENGINES = ("asyncio", "scrapy")
Measured = dict[str, tuple[str, str | None]]  # target URL -> (outcome, failure)


class Runs:
    def __init__(self) -> None:
        self.measured: dict[str, Measured] = {}
        self.summaries: dict[str, dict[str, object]] = {}
        self.seconds: dict[str, float] = {}
        self.seen: dict[str, int] = {}
        self.out = Path()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    out = tmp_path_factory.mktemp("zoo")
    policy_dir = policies(out / "policies")
    result = Runs()
    result.out = out
    with zoo() as server:
        started = time.monotonic()
        processes = {engine: subprocess.Popen(
            [sys.executable, "-m", "audit.cli", "--policies", str(policy_dir), "run",
             "--seed", "testforum:post:http://forum.test/post/1", "--source", "testforum",
             "--route", f"*.test={server.url}", "--allow-private", "--robots", "ignore",
             # Every probe at once: the slow cases then cost their timeouts only once.
             "--timeout", str(TIMEOUT_S), "--concurrency", "128", "--engine", engine,
             "--out", str(out), "--run-id", engine, "--json", "--report-format", ""],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for engine in ENGINES}
        for engine, process in processes.items():
            stdout, stderr = process.communicate(timeout=240)
            result.seconds[engine] = round(time.monotonic() - started, 1)
            assert process.returncode == 0, f"{engine}: {stderr[-3000:]}"
            result.summaries[engine] = json.loads(stdout)
            result.measured[engine] = {o.target_url: (o.outcome.value, o.failure)
                                       for o in Bundle(out / engine).observations()}
        result.seen = dict(server.seen)
    print(f"zoo: {len(CASES)} cases x 2 positions; seconds per engine {result.seconds}")
    return result


def _expected(case: Case) -> dict[str, tuple[str, str | None]]:
    return {f"http://{case.name}.ok.test/": (case.wrapper, case.failure),
            f"http://{case.name}.bad.test/": (case.target, case.failure)}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_both_engines_answer_the_case_alike(runs: Runs, case: Case) -> None:
    expected = _expected(case)
    for engine in ENGINES:
        got = {url: runs.measured[engine].get(url) for url in expected}
        assert got == expected, engine
    # The hostile server was met, in both positions and by both engines.
    assert runs.seen.get(f"{case.name}.go.test", 0) >= 2
    assert runs.seen.get(f"{case.name}.bad.test", 0) >= 2


def test_no_probe_is_lost_and_every_word_is_in_the_vocabulary(runs: Runs) -> None:
    for engine in ENGINES:
        summary = runs.summaries[engine]
        assert summary["seed_errors"] == [], engine
        assert len(runs.measured[engine]) == 2 * len(CASES), engine
        words = {failure for _, failure in runs.measured[engine].values() if failure}
        assert all(known(word) for word in words), (engine, words)


def _unreadable_records(run: Path) -> dict[str, tuple[dict[str, str], bytes]]:
    """The `resource` records of unreadable answers in a run's WARCs, by record id."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    found: dict[str, tuple[dict[str, str], bytes]] = {}
    for path in sorted((run / "evidence").glob("*.warc.gz")):
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh, record_types=WarcRecordType.resource):
                headers = dict(record.headers)
                found[headers["WARC-Record-ID"].strip("<>")] = (headers,
                                                                record.reader.read())
    return found


@pytest.mark.parametrize("engine", ENGINES)
def test_an_unreadable_answers_bytes_are_kept_as_evidence(runs: Runs, engine: str) -> None:
    """Every hop that met an answer that is not HTTP cites a WARC record of the bytes that
    came back (before, the bundle kept only the word `bad_response`): the first 64 KiB, cut
    where there were more."""
    from audit.measure.failures import RECEIVED_KEEP_BYTES

    records = _unreadable_records(runs.out / engine)
    bad = [case.name for case in CASES if case.failure == "download_error:bad_response"]
    cited = 0
    for observation in Bundle(runs.out / engine).observations():
        case = observation.target_url.split("//")[1].split(".")[0]
        if case not in bad:
            continue
        failed = [h for h in observation.hops if h.status is None]
        assert failed, (engine, observation.target_url)
        for hop in failed:
            assert hop.warc_record_id in records, (engine, case, hop)
            headers, block = records[hop.warc_record_id]
            assert headers["WARC-Hulian-Failure"] == "download_error:bad_response"
            assert headers["WARC-Target-URI"] == hop.url
            assert block, (engine, case)
            assert len(block) <= RECEIVED_KEEP_BYTES
            if case == "huge-head":  # more than a megabyte of head: its first 64 KiB
                assert headers.get("WARC-Truncated") == "length"
                assert len(block) == RECEIVED_KEEP_BYTES
            elif case in ("status-000", "status-600", "status-999", "status-2000", "status-text",
                          "status-missing"):  # a few bytes, whole
                assert "WARC-Truncated" not in headers
                assert block.startswith(b"HTTP/1.1") and block.endswith(b"ok"), block
            assert hop.warc_record_id in observation.evidence
            cited += 1
        if case == "http09":
            assert {records[h.warc_record_id or ""][1] for h in failed} == {
                b"<html><body><p>no status line</p></body></html>"}
    assert cited >= 2 * len(bad), engine
