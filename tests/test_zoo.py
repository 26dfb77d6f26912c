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


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    out = tmp_path_factory.mktemp("zoo")
    policy_dir = policies(out / "policies")
    result = Runs()
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
