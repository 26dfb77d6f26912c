"""End to end with real components, loopback only: headless Chromium → `hulian capture
record` (mitmdump + hulian's addon, upstream = the lab) → the lab's chat rooms. A script
"sends" every planned link (puts it in the chat as the platform renders it) and clicks it,
pressing "继续访问" once where a warning offers it. The recorded outcomes must equal the
lab's truth and what `hulian run --lab` measures for the same links; so must `capture
analyze` of the recorded dump."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.lab.process import lab_process
from audit.lab.scenario import load_scenario, truth

pytestmark = pytest.mark.slow

# Warned (continue pressed), copy-only, wrapped, direct, and a dead target (no control
# fetch captured: the chain's own answer from the target's host stands for it).
PLANS = [("wetalk", "im_private"), ("wetalk", "im_group"), ("dingwork", "im_private")]
CHROMIUM = Path("/usr/bin/chromium")


def _capture_cli() -> list[str]:
    """`hulian capture` once the CLI registers it; the module until then."""
    from audit.cli import app

    names = {group.name for group in app.registered_groups}
    if "capture" in names:
        return [sys.executable, "-m", "audit.cli", "capture"]
    return [sys.executable, "-m", "audit.cli.capture"]


def _click_all(proxy: str, plan: dict[str, object]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox"], proxy={"server": proxy})
        try:
            page = browser.new_context(ignore_https_errors=True).new_page()
            page.set_default_timeout(15_000)
            for probe in plan["probes"]:  # type: ignore[attr-defined]
                if not probe["link_url"]:
                    continue  # shown as text: nothing to click
                page.goto(probe["seed_url"])
                link = probe["link_url"]
                plain = link.replace(f"&hulian_probe={probe['token']}", "").replace(
                    f"?hulian_probe={probe['token']}", "")
                # "Send" the tokenised link: the chat shows it where the platform renders it.
                found = page.evaluate(
                    """([plain, link]) => { for (const a of document.querySelectorAll('a')) {
                         if (a.href === plain) { a.href = link; a.id = 'hulian-probe';
                                                 return true; } } return false; }""",
                    [plain, link])
                assert found, plain
                with page.expect_navigation(wait_until="load"):
                    page.click("#hulian-probe")
                proceed = page.locator("a", has_text="继续访问")
                if proceed.count() == 1:
                    with page.expect_navigation(wait_until="load"):
                        proceed.click()
        finally:
            browser.close()


@pytest.fixture(scope="module")
def lab_url() -> Iterator[str]:
    with lab_process() as lab:
        yield lab.url
        if lab.process.stdout is not None:
            lab.process.stdout.close()


def _observations(run: Path) -> dict[tuple[str, str, str], str]:
    out = {}
    for line in (run / "observations.jsonl").read_text().splitlines():
        obs = json.loads(line)
        out[(obs["source"], obs["surface"], obs["target_platform"])] = obs["outcome"]
    return out


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium")
def test_browser_through_capture_record_equals_truth_and_crawl(lab_url: str,
                                                                tmp_path: Path) -> None:
    pytest.importorskip("playwright")
    cli = _capture_cli()
    env = {**os.environ, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
    recorded: dict[tuple[str, str, str], str] = {}
    analysed: dict[tuple[str, str, str], str] = {}
    for source, surface in PLANS:
        plan_dir = tmp_path / f"plan-{source}-{surface}"
        subprocess.run([*cli, "plan", "--lab", "--source", source, "--surface", surface,
                        "--out", str(plan_dir)], check=True, env=env, capture_output=True)
        plan = json.loads((plan_dir / "plan.json").read_text())
        run = tmp_path / f"run-{source}-{surface}"
        recorder = subprocess.Popen(
            [*cli, "record", "--plan", str(plan_dir), "--listen", "127.0.0.1:0", "--out",
             str(run), "--upstream", lab_url, "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        try:
            assert recorder.stdout is not None
            proxy = json.loads(recorder.stdout.readline())["proxy"]
            _click_all(proxy, plan)
        finally:
            recorder.send_signal(signal.SIGINT)
            out, err = recorder.communicate(timeout=60)
        assert recorder.returncode == 0, err
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["observations"] == len(plan["probes"])
        recorded.update(_observations(run))
        assert (run / "evidence" / "flows.mitm").stat().st_size > 0
        # The same dump, analysed offline, gives the same observations.
        again = tmp_path / f"again-{source}-{surface}"
        subprocess.run([*cli, "analyze", str(run / "evidence" / "flows.mitm"), "--plan",
                        str(plan_dir), "--out", str(again), "--json"], check=True, env=env,
                       capture_output=True)
        analysed.update(_observations(again))

    wanted = {(s, f) for s, f in PLANS}
    expected = {(r["source"], r["surface"], r["target"]): r["outcome"]
                for r in truth(load_scenario(None)) if (r["source"], r["surface"]) in wanted}
    assert recorded == expected
    assert analysed == expected

    crawl = subprocess.run(
        [sys.executable, "-m", "audit.cli", "run", "--lab", "--source", "wetalk", "--source",
         "dingwork", "--out", str(tmp_path / "crawl"), "--json", "--report-format", ""],
        check=True, env=env, capture_output=True, text=True)
    crawl_run = Path(json.loads(crawl.stdout.strip().splitlines()[-1])["path"])
    crawled = {k: v for k, v in _observations(crawl_run).items() if (k[0], k[1]) in wanted}
    assert crawled == recorded
