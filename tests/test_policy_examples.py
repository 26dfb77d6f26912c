"""`hulian policies test` (every signature against its examples) and `hulian policies
suggest` (a draft signature for a page hulian cannot read), round trip included: a draft,
saved with its page as the example, is recognised."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from audit.cli import app

runner = CliRunner()

COMPANIES = "- {id: newco, name: {zh: 新公司, en: NewCo}, cite: {fact: test}}\n"
PLATFORM = {
    "id": "newchat", "name": {"zh": "新聊", "en": "NewChat"}, "company": "newco",
    "category": "im", "domains": ["newchat.example"], "cite": {"fact": "test"},
}
NEW_WORDING = ("<html><head><title>提示</title></head><body><div class='box'>"
               "<h2 class='hd'>链接安全检测中</h2><p class='url'>https://shop.example.com/item/9</p>"
               "<p>检测结果将以通知形式发送给您。</p></div></body></html>")
URL = "https://go.newchat.example/check?u=https%3A%2F%2Fshop.example.com%2Fitem%2F9"


@pytest.fixture(autouse=True)
def _own_policy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--policies` sets $HULIAN_POLICIES for the process: restore it after each test."""
    monkeypatch.setenv("HULIAN_POLICIES", "")


def hulian(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def _policy_dir(root: Path, platform: Mapping[str, object]) -> Path:
    (root / "platforms").mkdir(parents=True)
    (root / "companies.yaml").write_text(COMPANIES, encoding="utf-8")
    (root / "platforms" / "newchat.yaml").write_text(
        yaml.safe_dump(platform, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return root


def test_every_shipped_signature_has_an_example_and_recognises_it() -> None:
    result = hulian("policies", "test", "--json", "--strict")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["failed"] == 0 and report["without_example"] == []
    assert len(report["results"]) >= 21
    assert all(r["ok"] for r in report["results"])


def test_stale_and_missing_examples_are_listed(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    (root / "examples").mkdir(parents=True)
    (root / "examples" / "old.html").write_text("<p>页面已改版</p>", encoding="utf-8")
    platform = {**PLATFORM, "endpoints": [{
        "id": "check", "match": {"hosts": ["go.newchat.example"], "path": "^/check$"},
        "shows": ["blocked"], "cite": {"fact": "test"}}], "signatures": [
        {"id": "newchat-blocked", "kind": "blocked", "endpoint": "check",
         "markers": [{"lang": "zh-Hans", "any": ["已拦截该链接"]}],
         "examples": [{"file": "examples/old.html", "url": URL}], "cite": {"fact": "test"}},
        {"id": "newchat-warned", "kind": "warned", "endpoint": "check",
         "markers": [{"lang": "zh-Hans", "any": ["即将离开新聊"]}], "cite": {"fact": "test"}},
    ]}
    _policy_dir(root, platform)
    result = hulian("--policies", root, "policies", "test", root)
    assert result.exit_code == 1
    assert "newchat/newchat-blocked: examples/old.html" in result.stderr
    assert "not newchat/newchat-blocked" in result.stderr
    assert "no example" in result.stderr and "newchat/newchat-warned" in result.stderr
    # Only the directory asked for is tested: the shipped examples are not in the count.
    assert "0/1 examples" in result.stdout


def test_a_suggested_draft_with_its_page_is_recognised(tmp_path: Path) -> None:
    page = tmp_path / "seen.html"
    page.write_text(NEW_WORDING, encoding="utf-8")
    result = hulian("policies", "suggest", page, "--url", URL)
    assert result.exit_code == 0, result.output
    assert "链接安全检测中" in result.stdout
    drafts = [d for d in yaml.safe_load_all(result.stdout.replace("\n# Add", "\n---\n# Add"))
              if d]
    assert len(drafts) == 2, (result.stdout, drafts)
    endpoint, signature = drafts[0][0], drafts[1][0]
    assert endpoint["match"] == {"hosts": ["go.newchat.example"], "path": "^/check$"}
    assert signature["endpoint"] == endpoint["id"]
    assert signature["target"] == [{"kind": "selector", "selector": "p.url"}]
    assert "https://shop.example.com/item/9" not in signature["markers"][0]["any"]

    root = tmp_path / "mine"
    example = root / signature["examples"][0]["file"]
    example.parent.mkdir(parents=True)
    example.write_text(NEW_WORDING, encoding="utf-8")
    # The person reviewing the draft fills in the cite; nothing else is changed.
    signature["id"] = "newchat-copy-only-draft"
    signature["examples"][0]["file"] = str(example.relative_to(root))
    _policy_dir(root, {**PLATFORM, "endpoints": [endpoint], "signatures": [signature]})
    result = hulian("--policies", root, "policies", "test", root, "--strict")
    assert result.exit_code == 0, result.output
    assert "1/1 examples" in result.stdout


def test_suggest_refuses_a_relative_url(tmp_path: Path) -> None:
    page = tmp_path / "seen.html"
    page.write_text(NEW_WORDING, encoding="utf-8")
    result = hulian("policies", "suggest", page, "--url", "/check")
    assert result.exit_code == 2 and "not an absolute" in result.stderr
