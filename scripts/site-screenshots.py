"""Screenshots of the static site for the docs (docs/screenshots/, shown in the README): a lab
run recorded into a store of its own, its site built with `hulian site build`, served by
`hulian site serve` on 127.0.0.1, and Debian's Chromium (Playwright) photographing the
overview, a platform page, a run page and the replay viewer on the lab's copy-to-browser
interstitial. Everything runs on this machine: the lab on loopback, nothing from elsewhere.

    .venv/bin/python scripts/site-screenshots.py [--out docs/screenshots] [--lang en]

Needs the vendored viewer (bash scripts/site-vendor.sh) for the replay picture.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
HULIAN = [sys.executable, "-m", "audit.cli"]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
SOURCES = ["--source", "wetalk", "--source", "dingwork"]


def run(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run([*HULIAN, *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, check=False, timeout=600)
    if result.returncode != 0:
        sys.exit(f"hulian {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def replayed(page: Page, text: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "/replay/w/" in frame.url:
                try:
                    if text in frame.evaluate("document.body ? document.body.innerText : ''"):
                        return
                except Exception:  # the frame navigated meanwhile
                    continue
        page.wait_for_timeout(250)
    sys.exit(f"the replay viewer did not show {text!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/screenshots")
    parser.add_argument("--lang", choices=("zh", "en"), default="en")
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hulian-shots-") as tmp:
        base = Path(tmp)
        env = {**os.environ, "HULIAN_DB": f"sqlite:///{base / 'history.db'}",
               "HULIAN_CACHE": str(base / "cache")}
        for run_id in ("lab-1", "lab-2"):
            run("run", "--lab", *SOURCES, "--out", str(base / "runs"), "--run-id", run_id,
                "--report-format", "", env=env)
        run("site", "build", "--out", str(base / "site"), env=env)
        server = subprocess.Popen([*HULIAN, "site", "serve", str(base / "site"), "--port", "0"],
                                  cwd=ROOT, env={**env, "PYTHONUNBUFFERED": "1"},
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            found = re.search(r"http://127\.0\.0\.1:\d+/", server.stdout.readline())
            if not found:
                sys.exit("hulian site serve did not start")
            url = found.group(0) + options.lang + "/"
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                for name, path in (("overview", "index.html"),
                                   ("platform", "platform/wetalk.html"),
                                   ("run", "run/lab-2.html")):
                    page.goto(url + path)
                    page.wait_for_load_state("load")
                    page.screenshot(path=str(options.out / f"site-{name}.png"))
                page.goto(url + "platform/wetalk.html")
                row = page.locator("tr.finding", has=page.locator(".badge.o-copy_only")).first
                row.locator("a.replay-link").click()
                replayed(page, "如需浏览")
                page.wait_for_timeout(500)
                page.locator("#viewer-section").scroll_into_view_if_needed()
                page.screenshot(path=str(options.out / "site-replay.png"))
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    for png in sorted(options.out.glob("site-*.png")):
        print(png.relative_to(ROOT) if png.is_relative_to(ROOT) else png)


if __name__ == "__main__":
    main()
