"""A crawl that stops before it has measured what it planned is never sealed: Ctrl-C (once or
twice, with the Scrapy engine too) and an engine that loses a probe without saying so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit.evidence.bundle import BundleWriter, tally
from tests.localsite import forum_policies, serve
from tests.test_bundle import DIGEST, PROBE, observation

SEED = (b"<html><body><p>post</p><a href='http://fast.test/y'>fast</a>"
        b"<a href='http://slow.test/x'>slow</a></body></html>")
PAGES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "forum.test/p": (200, {}, SEED),
    "fast.test/y": (200, {}, b"<p>y</p>"),
    "slow.test/x": (200, {}, b"<p>x</p>"),
}

# The run's CLI with a Scrapy spider that drops the slow link's probe without a word, as an
# engine bug would.
DROPPING = ("import sys\n"
            "from spiders.audit import LinkAuditSpider\n"
            "original = LinkAuditSpider._begin\n"
            "async def dropping(self, probe):\n"
            "    if 'slow.test' in probe.target_url:\n"
            "        return\n"
            "    async for item in original(self, probe):\n"
            "        yield item\n"
            "LinkAuditSpider._begin = dropping\n"
            "from audit.cli import main\n"
            "sys.argv = ['hulian', *sys.argv[1:]]\n"
            "main()\n")


def _command(tmp_path: Path, site_url: str, *extra: str) -> list[str]:
    return [
        "--policies", str(forum_policies(tmp_path / "policies")), "run", "--seed",
        "testforum:post:http://forum.test/p", "--source", "testforum", "--route",
        f"*.test={site_url}", "--robots", "ignore", "--out", str(tmp_path / "runs"),
        "--run-id", "r", "--report-format", "", *extra]


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_two_ctrl_c_stop_the_scrapy_engine_unsealed(tmp_path: Path) -> None:
    # Scrapy's second signal stops its reactor before the spider is closed, so no finish
    # reason is recorded: the run was judged and sealed with the in-flight link missing, and
    # exited 0 (an adversarial review). It must stop as one Ctrl-C does.
    with serve(PAGES, delays={"slow.test/x": 10.0}) as site:
        process = subprocess.Popen(
            [sys.executable, "-m", "audit.cli",
             *_command(tmp_path, site.url, "--engine", "scrapy", "--timeout", "4")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        run = tmp_path / "runs" / "r"
        deadline = time.monotonic() + 120
        while _lines(run / "observations.jsonl") < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _lines(run / "observations.jsonl") == 1  # the fast link; the slow one waits
        process.send_signal(signal.SIGINT)
        time.sleep(1.0)  # within the graceful stop, which waits for the slow download
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    assert "hulian run --resume" in err
    assert not (run / "verdicts.jsonl").exists()
    assert tally(run).unobserved == 1


def test_an_engine_that_loses_a_probe_silently_leaves_the_run_unsealed(
        tmp_path: Path) -> None:
    with serve(PAGES) as site:
        result = subprocess.run(
            [sys.executable, "-c", DROPPING, *_command(tmp_path, site.url, "--engine", "scrapy")],
            capture_output=True, text=True, timeout=240, check=False,
            env={**os.environ, "HULIAN_DB": "off"})
    assert result.returncode == 1, result.stderr[-3000:]
    assert "1 planned link(s) not measured" in result.stderr
    run = tmp_path / "runs" / "r"
    assert not (run / "verdicts.jsonl").exists()
    assert tally(run).unobserved == 1


def test_unobserved_counts_planned_probes_without_an_observation(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path, run_id="u", policy_digest=DIGEST)
    writer.add_probe(PROBE.model_copy(update={"id": "p1"}))
    writer.add_probe(PROBE.model_copy(update={"id": "p2"}))
    writer.close()
    assert tally(writer.path).unobserved == 2
    writer = BundleWriter(tmp_path, run_id="u", policy_digest=DIGEST, resume=True)
    writer.add_observation(observation(1))
    writer.close()
    assert tally(writer.path).unobserved == 1


def test_the_tally_counts_what_the_models_say(tmp_path: Path) -> None:
    from collections import Counter

    from audit.evidence.bundle import Bundle

    writer = BundleWriter(tmp_path, run_id="t", policy_digest=DIGEST)
    for i in range(3):
        writer.add_probe(PROBE.model_copy(update={"id": f"p{i}"}))
        writer.add_observation(observation(i, outcome="blocked" if i else "direct"))
    writer.close()
    # A line written by another writer, its keys in another order: read whole.
    with (writer.path / "observations.jsonl").open("a", encoding="utf-8") as lines:
        lines.write(json.dumps({"outcome": "warned", "probe_id": "p9", "id": "o9",
                                "source": "weixin", "surface": "im_private",
                                "target_url": "https://a.example/"}) + "\n")
        lines.write('{"id":"o10","probe_id":"p10","outcome":"dir')  # cut by a crash
    counted = tally(writer.path)
    assert counted.outcomes == Counter({"blocked": 2, "direct": 1, "warned": 1})
    assert counted.outcomes == Counter(o.outcome.value for o in Bundle(writer.path).observations())
    assert counted.unobserved == 0


# The run's CLI with Ctrl-C (a KeyboardInterrupt) arriving at a chosen stage after the crawl.
INTERRUPTING = ("import sys\n"
                "import audit.pipeline as pipeline\n"
                "import audit.report.render as render\n"
                "def ctrl_c(*args, **kwargs):\n"
                "    raise KeyboardInterrupt\n"
                "if sys.argv[1] == 'judging':\n"
                "    pipeline.write_run_review = ctrl_c\n"
                "else:\n"
                "    render.write_reports = ctrl_c\n"
                "from audit.cli import main\n"
                "sys.argv = ['hulian', *sys.argv[2:]]\n"
                "main()\n")


def test_ctrl_c_while_judging_stops_unsealed_and_resumable(tmp_path: Path) -> None:
    # It was Click's "Aborted!" with exit 1 and no word of what to do.
    with serve(PAGES) as site:
        result = subprocess.run(
            [sys.executable, "-c", INTERRUPTING, "judging", *_command(tmp_path, site.url)],
            capture_output=True, text=True, timeout=240, check=False)
        assert result.returncode == 130, result.stderr[-3000:]
        run = tmp_path / "runs" / "r"
        assert f"hulian run --resume {run}" in result.stderr
        assert not json.loads((run / "manifest.json").read_text())["files"]  # not sealed
        resumed = subprocess.run(
            [sys.executable, "-m", "audit.cli", *_command(tmp_path, site.url)[:2], "run",
             "--resume", str(run), "--report-format", "", "--json"],
            capture_output=True, text=True, timeout=240, check=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)["observations"] == 2
    assert json.loads((run / "manifest.json").read_text())["files"]  # sealed now


def test_ctrl_c_while_writing_reports_says_the_run_is_sealed(tmp_path: Path) -> None:
    with serve(PAGES) as site:
        result = subprocess.run(
            [sys.executable, "-c", INTERRUPTING, "reports",
             *_command(tmp_path, site.url)[:-2], "--report-format", "html"],
            capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 130, result.stderr[-3000:]
    run = tmp_path / "runs" / "r"
    assert f"hulian report {run}" in result.stderr
    assert json.loads((run / "manifest.json").read_text())["files"]


# The run's CLI with judging held (as a large run's is): a file says when it has begun.
SLOW_JUDGING = ("import sys, time, pathlib\n"
                "import audit.pipeline as pipeline\n"
                "marker = pathlib.Path(sys.argv[1])\n"
                "def held(*args, **kwargs):\n"
                "    marker.write_text('judging')\n"
                "    time.sleep(120)\n"
                "pipeline.write_run_review = held\n"
                "from audit.cli import main\n"
                "sys.argv = ['hulian', *sys.argv[2:]]\n"
                "main()\n")


@pytest.mark.parametrize("engine", ["asyncio", "scrapy"])
def test_a_real_ctrl_c_while_judging_stops_the_run(tmp_path: Path, engine: str) -> None:
    # Scrapy left its own handler installed after the crawl: a Ctrl-C while judging did
    # nothing and a second was ignored (an adversarial review).
    marker = tmp_path / "judging"
    with serve(PAGES) as site:
        process = subprocess.Popen(
            [sys.executable, "-c", SLOW_JUDGING, str(marker),
             *_command(tmp_path, site.url, "--engine", engine)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists()
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=60)
        finally:
            process.kill()  # a run that ignored the signal must not outlive the test
    assert process.returncode == 130, err[-3000:]
    assert "hulian run --resume" in err
