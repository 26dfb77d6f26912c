"""The static site in a real browser (issue 18): Debian's Chromium, driven by Playwright, opens
the overview, a platform page and a run page in both languages from file:// and finds no
console error, no request to anything but file://, and the offline search finding a lab
target. Skipped, saying why, without /usr/bin/chromium or Playwright."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_query import history  # noqa: F401  (the lab history)
from tests.test_site import site  # noqa: F401  (its site)

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
PAGES = ("index.html", "platform/wetalk.html", "run/lab-2.html")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is missing (Debian package chromium): no browser test")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright for Python is not installed")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _watched(browser: Any) -> tuple[Any, list[str], list[str]]:
    page = browser.new_page()
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    return page, problems, requests


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_pages_open_from_file_without_errors_or_outside_requests(
        browser: Any, site: Path, lang: str) -> None:  # noqa: F811
    page, problems, requests = _watched(browser)
    try:
        for name in PAGES:
            page.goto((site / lang / name).as_uri())
            page.wait_for_load_state("load")
            assert page.locator("main h1").count() == 1, name
            # the stylesheet and scripts applied (CSP allows the site's own files)
            assert page.evaluate("Array.isArray(window.HULIAN_SEARCH)"), name
            assert page.evaluate(
                "getComputedStyle(document.querySelector('header.top')).display") == "flex"
        assert problems == []
        assert requests and all(url.startswith("file://") for url in requests), requests
    finally:
        page.close()


def test_the_search_finds_a_lab_target_in_both_languages(browser: Any, site: Path  # noqa: F811
                                                         ) -> None:
    page, problems, requests = _watched(browser)
    try:
        for lang, word, expected in (("en", "taoshop", "TaoShop"), ("zh", "淘集", "淘集")):
            page.goto((site / lang / "platform/wetalk.html").as_uri())
            page.fill("#q", word)
            hits = page.locator("#results a.hit")
            hits.first.wait_for()
            texts = hits.all_text_contents()
            assert any(expected in t for t in texts), texts
            page.locator("#results a.hit", has_text=expected).first.click()
            page.wait_for_load_state("load")
            assert page.url.startswith((site / lang).as_uri())
            assert page.locator("main h1").count() == 1
        page.goto((site / "en/index.html").as_uri())
        page.fill("#q", "shop.taoshop.lab")
        page.locator("#results a.hit").first.wait_for()
        assert problems == []
        assert all(url.startswith("file://") for url in requests), requests
    finally:
        page.close()


def test_the_root_page_sends_the_reader_to_a_language(browser: Any, site: Path  # noqa: F811
                                                     ) -> None:
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        page.goto((site / "index.html").as_uri())
        page.wait_for_url("**/zh/index.html")
        assert "互联指数" in page.title()
    finally:
        context.close()
