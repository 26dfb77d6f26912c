"""Table-driven cases for every wrapper and every page signature in the shipped catalog.

The cases are data (tests/cases/wrappers.yaml, tests/cases/signatures.yaml and the hand-made
pages in tests/cases/signatures/); the coverage tests make a new catalog entry without a case
fail. A case may carry `xfail: "<why>"` for a known limitation of the classifier code: it is
then expected to fail (strictly, so a fix shows up).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from audit.judge.classify import classify_page, platform_for_url
from audit.policy.catalog import Catalog, load_catalog
from audit.web.page import parse_page
from audit.web.urls import find_wrapper, unwrap

CASES = Path(__file__).parent / "cases"
# Pages of catalog signatures are the signatures' own examples (policies/examples/<platform>/);
# pages of generic and content cases are here.
EXAMPLES = Path(__file__).resolve().parents[1] / "policies" / "examples"
GENERIC_PAGES = CASES / "signatures"


def page_file(name: str) -> Path:
    here = GENERIC_PAGES / name
    return here if here.exists() else next(EXAMPLES.rglob(name), here)


def _case_pages() -> set[str]:
    return {p.name for p in (*GENERIC_PAGES.glob("*.html"), *EXAMPLES.rglob("*.html"))}


def _load(name: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((CASES / name).read_text(encoding="utf-8"))
    assert isinstance(data, list), f"{name} must be a list of cases"
    return data


WRAPPER_CASES = _load("wrappers.yaml")
SIGNATURE_CASES = _load("signatures.yaml")


def _params(cases: list[dict[str, Any]], key: str) -> list[Any]:
    params = []
    for i, case in enumerate(cases):
        marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if "xfail" in case else []
        params.append(pytest.param(case, id=f"{i:03d}-{case[key]}", marks=marks))
    return params


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# ---------------------------------------------------------------------------------------
# Wrappers
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _params(WRAPPER_CASES, "wrapper"))
def test_wrapper_case(case: dict[str, Any], catalog: Catalog) -> None:
    platform_id, wrapper_id = case["wrapper"].split("/", 1)
    platform = catalog.platforms[platform_id]
    assert wrapper_id in {w.id for w in platform.wrappers}, f"unknown wrapper {case['wrapper']}"
    url = case["url"]
    unwrapped = unwrap(url, [platform])
    if case["via"] is None:
        # Not a wrapper: no wrapper anywhere in the catalog takes it, the link is itself.
        assert find_wrapper(url, list(catalog.platforms.values())) is None
        assert unwrapped.via is None
        assert unwrapped.target == url == case["target"]
        return
    found = find_wrapper(url, [platform])
    assert found is not None, f"{url} is not recognised as {case['wrapper']}"
    assert found[0].id == wrapper_id
    assert unwrapped.wrapper is not None and unwrapped.wrapper.id == wrapper_id
    assert unwrapped.via == case["via"]
    assert unwrapped.target == case["target"]


# ---------------------------------------------------------------------------------------
# Page signatures
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _params(SIGNATURE_CASES, "file"))
def test_signature_case(case: dict[str, Any], catalog: Catalog) -> None:
    html = page_file(case["file"]).read_text(encoding="utf-8")
    url = case.get("url")
    page = parse_page(html, url)
    facts = classify_page(page, catalog, platform_for_url(url, catalog))
    expected = case["signature"]
    if expected == "generic":
        assert facts.signature is not None and facts.signature.startswith("generic/"), facts
    else:
        assert facts.signature == expected, facts
    assert facts.kind == case["kind"], facts
    assert facts.target == case.get("target"), facts
    assert (facts.reason.value if facts.reason else None) == case.get("reason"), facts
    if "continue_url" in case:
        assert facts.continue_url == case["continue_url"], facts


def test_signature_case_files_exist_and_are_used() -> None:
    named = {c["file"] for c in SIGNATURE_CASES}
    on_disk = _case_pages()
    assert named <= on_disk, f"missing pages: {sorted(named - on_disk)}"
    assert on_disk <= named, f"pages without a case: {sorted(on_disk - named)}"


# ---------------------------------------------------------------------------------------
# Coverage: a new catalog entry without a case fails
# ---------------------------------------------------------------------------------------


def test_every_wrapper_has_a_case(catalog: Catalog) -> None:
    covered = {c["wrapper"] for c in WRAPPER_CASES if c["via"] is not None}
    known = {f"{p.id}/{w.id}" for p in catalog.platforms.values() for w in p.wrappers}
    assert not known - covered, f"wrappers without a positive case: {sorted(known - covered)}"
    assert not {c["wrapper"] for c in WRAPPER_CASES} - known, "cases name unknown wrappers"


def test_every_signature_has_a_case(catalog: Catalog) -> None:
    covered = {c["signature"] for c in SIGNATURE_CASES if "xfail" not in c}
    known = {f"{p.id}/{s.id}" for p in catalog.platforms.values() for s in p.signatures}
    assert not known - covered, f"signatures without a passing case: {sorted(known - covered)}"
    named = {c["signature"] for c in SIGNATURE_CASES} - {"generic", None}
    assert not named - known, f"cases name unknown signatures: {sorted(named - known)}"


def test_signatures_tried_per_host_decide_as_trying_them_all(
        catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """classify_page tries only the signatures a page's host can match (cached per host).
    Every case page, served at every case URL and at none, must be classified exactly as
    when every signature of the catalog is tried."""
    from audit.judge import classify

    urls = [*sorted({c["url"] for c in SIGNATURE_CASES if c["url"]}), None, "file:///x.html",
            "https://unknown.example/"]
    pages = sorted({c["file"] for c in SIGNATURE_CASES})
    texts = {f: page_file(f).read_text(encoding="utf-8") for f in pages}

    def facts() -> list[Any]:
        found = []
        for url in urls:
            for name in pages:
                page = parse_page(texts[name], url)
                for platform in (platform_for_url(url, catalog), None):
                    found.append(classify_page(page, catalog, platform).model_dump())
        return found

    filtered = facts()

    def every_signature(catalog: Catalog, host: str | None) -> tuple[Any, ...]:
        return tuple((rank, platform, signature)
                     for rank, platform in enumerate(catalog.platforms.values())
                     for signature in platform.signatures)

    monkeypatch.setattr(classify, "_signatures_for_host", every_signature)
    assert facts() == filtered
    assert len(filtered) == len(urls) * len(pages) * 2
