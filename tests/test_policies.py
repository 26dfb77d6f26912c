"""Tests for policy validation (audit/policy/catalog.py) and `hulian policies validate|list|explain`.

Each broken example is written into a temporary user policy directory that is stacked on the
shipped set; the error must name the file, the line and the field.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from audit.cli import app
from audit.policy.catalog import PolicyError, PolicyProblem, load_catalog, shipped_policies_dir

SHIPPED = shipped_policies_dir()
# Wide console (rich would fold long paths at 80 columns) and no user policy directories.
ENV = {"COLUMNS": "500", "HULIAN_POLICIES": None, "NO_COLOR": "1"}

COMPANIES = """\
- id: democo
  name: {zh: 演示公司, en: Demo Co}
"""

PLATFORM = """\
id: demo
name: {zh: 演示, en: Demo}
company: democo
category: social
domains: [demo.example]
cite: {fact: test}
"""

RULE_HEAD = """\
id: demo-rule
title: {zh: 演示规则, en: Demo rule}
severity: low
"""
RULE_TAIL = """\
fail_outcomes: [blocked]
reason:
  pass: {zh: 通过, en: passes}
  fail: {zh: 不通过, en: fails}
cite:
  - {fact: test}
"""


def hulian(*args: str | Path, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={**ENV, **(env or {})})


def make_user_dir(root: Path, files: dict[str, str | bytes]) -> Path:
    user = root / "user"
    for name, content in {"companies.yaml": COMPANIES, **files}.items():
        path = user / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return user


def problems_of(user: Path) -> list[PolicyProblem]:
    with pytest.raises(PolicyError) as info:
        load_catalog([SHIPPED, user])
    return info.value.problems


def assert_cli_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr
    assert "error" in result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


# ---------------------------------------------------------------------------------------
# Broken examples
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Broken:
    files: dict[str, str | bytes]
    file: str  # which file the problem names, relative to the user dir
    line: int | None
    field: str | None
    message: str


def platform(**replace: str) -> str:
    """PLATFORM with some lines replaced, e.g. platform(category="category: 42")."""
    lines = PLATFORM.splitlines()
    for key, new in replace.items():
        lines = [new if line.startswith(f"{key}:") else line for line in lines]
    return "\n".join(lines) + "\n"


WRAPPER_QUERY_NO_PARAMS = PLATFORM + """\
wrappers:
  - id: go.demo.example
    match:
      hosts: [go.demo.example]
    target: query
    cite: {fact: test}
"""

WRAPPER_BAD_REGEX = PLATFORM + """\
wrappers:
  - id: go.demo.example
    match:
      hosts: [go.demo.example]
      path: "^/(unclosed"
    target: query
    params: [url]
    cite: {fact: test}
"""

TYPO_KEY = PLATFORM + """\
wrapper:
  - id: go.demo.example
    match: {hosts: [go.demo.example]}
    target: page
    cite: {fact: test}
"""

MISSING_NESTED = PLATFORM + """\
wrappers:
  - id: go.demo.example
    match: {hosts: [go.demo.example]}
    target: page
"""

MISSING_TOP = "# a demo platform without its citation\n" + PLATFORM.replace(
    "cite: {fact: test}\n", "")

RULE_UNKNOWN_SOURCE = RULE_HEAD + """\
applies_to:
  sources:
    - weixin
    - nosuch
""" + RULE_TAIL

FRAMEWORK_UNKNOWN_RULE = """\
id: demo-fw
title: {zh: 演示框架, en: Demo framework}
version: "1"
requirements:
  - id: req-1
    title: {zh: 要求, en: Requirement}
    wording: 不得无正当理由限制网址链接的识别、解析、正常访问
    source: {document: 通知}
    rules:
      - im-link-opens-directly
      - no-such-rule
    cite: {fact: test}
"""

BROKEN: dict[str, Broken] = {
    "wrong-type-category": Broken(
        {"platforms/demo.yaml": platform(category="category: 42")},
        "platforms/demo.yaml", 4, "category", "Input should be"),
    "wrong-type-domains-string": Broken(
        {"platforms/demo.yaml": platform(domains="domains: demo.example")},
        "platforms/demo.yaml", 5, "domains", "valid list"),
    "unknown-key-typo": Broken(
        {"platforms/demo.yaml": TYPO_KEY}, "platforms/demo.yaml", 7, "wrapper", "unknown key"),
    "missing-required-top-level": Broken(
        {"platforms/demo.yaml": MISSING_TOP}, "platforms/demo.yaml", 2, "cite", "required"),
    "missing-required-nested": Broken(
        {"platforms/demo.yaml": MISSING_NESTED}, "platforms/demo.yaml", 8, "wrappers.0.cite",
        "required"),
    "duplicate-id-of-shipped-platform": Broken(
        {"platforms/zhihu.yaml": platform(id="id: zhihu",
                                          domains="domains: [other.example]")},
        "platforms/zhihu.yaml", 1, "id", "duplicate platform id 'zhihu'"),
    "duplicate-id-two-user-files": Broken(
        {"platforms/demo.yaml": PLATFORM,
         "platforms/demo.yml": platform(domains="domains: [demo2.example]")},
        "platforms/demo.yml", 1, "id", "duplicate platform id 'demo'"),
    "file-name-not-id": Broken(
        {"platforms/other.yaml": "# comment first\n" + PLATFORM},
        "platforms/other.yaml", 2, "id", "must equal the file name 'other'"),
    "rule-names-missing-platform": Broken(
        {"rules/demo-rule.yaml": RULE_UNKNOWN_SOURCE},
        "rules/demo-rule.yaml", 7, "applies_to.sources.1", "unknown platform 'nosuch'"),
    "framework-names-missing-rule": Broken(
        {"frameworks/demo-fw.yaml": FRAMEWORK_UNKNOWN_RULE},
        "frameworks/demo-fw.yaml", 11, "requirements.0.rules.1",
        "unknown rule 'no-such-rule'"),
    "unknown-company": Broken(
        {"platforms/demo.yaml": platform(company="company: nosuchco")},
        "platforms/demo.yaml", 3, "company", "unknown company 'nosuchco'"),
    "invalid-yaml-syntax": Broken(
        {"platforms/demo.yaml": platform(category="category: social: oops")},
        "platforms/demo.yaml", 4, None, "invalid YAML"),
    "not-utf8": Broken(
        {"platforms/demo.yaml": PLATFORM.encode("gbk")},  # first non-ASCII text: line 2
        "platforms/demo.yaml", 2, None, "not UTF-8"),
    "empty-file": Broken(
        {"platforms/demo.yaml": ""}, "platforms/demo.yaml", None, None, "empty file"),
    "comments-only-file": Broken(
        {"platforms/demo.yaml": "# nothing here yet\n"}, "platforms/demo.yaml", None, None,
        "empty file"),
    "bad-regex-in-wrapper-path": Broken(
        {"platforms/demo.yaml": WRAPPER_BAD_REGEX},
        "platforms/demo.yaml", 11, "wrappers.0.match.path", "bad regular expression"),
    "wrapper-query-without-params": Broken(
        {"platforms/demo.yaml": WRAPPER_QUERY_NO_PARAMS},
        "platforms/demo.yaml", 8, "wrappers.0", "needs 'params'"),
    # Duplicate keys: YAML would keep the last one silently (issue 13, item 7).
    "duplicate-top-level-key": Broken(
        {"platforms/demo.yaml": PLATFORM + "category: shopping\n"},
        "platforms/demo.yaml", 7, "category", "duplicate key 'category' (first on line 4)"),
    "duplicate-nested-key": Broken(
        {"platforms/demo.yaml": PLATFORM.replace(
            "name: {zh: 演示, en: Demo}", "name:\n  zh: 演示\n  en: Demo\n  zh: 別名")},
        "platforms/demo.yaml", 5, "zh", "duplicate key 'zh' (first on line 3)"),
    "duplicate-key-in-one-line": Broken(
        {"platforms/demo.yaml": platform(cite="cite: {fact: a, fact: b}")},
        "platforms/demo.yaml", 6, "fact", "duplicate key 'fact'"),
    "duplicate-key-in-a-list-item": Broken(
        {"companies.yaml": COMPANIES + "- id: other\n  name: {zh: 他, en: Other}\n  id: x\n"},
        "companies.yaml", 5, "id", "duplicate key 'id' (first on line 3)"),
    "alias-bomb": Broken(
        {"platforms/demo.yaml": PLATFORM + "x0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
            f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 9))},
        "platforms/demo.yaml", 12, None, "aliases expand to more than"),  # x5: 10^6 nodes
    "recursive-alias": Broken(
        {"platforms/demo.yaml": PLATFORM + "loop: &l [*l]\n"},
        "platforms/demo.yaml", 7, None, "an alias refers to a node that contains it"),
    "larger-than-a-policy": Broken(
        {"platforms/demo.yaml": PLATFORM + "# " + "x" * (1024 * 1024) + "\n"},
        "platforms/demo.yaml", None, None, "larger than 1 MB: not a policy file"),
}


@pytest.mark.parametrize("case", BROKEN.values(), ids=BROKEN.keys())
def test_broken_policy_names_file_line_and_field(tmp_path: Path, case: Broken) -> None:
    user = make_user_dir(tmp_path, case.files)
    problems = problems_of(user)
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.path == user / case.file
    assert problem.line == case.line
    assert problem.field == case.field
    assert case.message in problem.message


@pytest.mark.parametrize("case", BROKEN.values(), ids=BROKEN.keys())
def test_cli_validate_reports_broken_policy(tmp_path: Path, case: Broken) -> None:
    user = make_user_dir(tmp_path, case.files)
    where = f"{user / case.file}:{case.line}:" if case.line else f"{user / case.file}:"
    needles = [where, case.message]
    if case.field:
        needles.append(f"[{case.field}]")
    assert_cli_error(hulian("policies", "validate", user), *needles)


def test_cli_validate_json_lists_problems(tmp_path: Path) -> None:
    user = make_user_dir(tmp_path, BROKEN["unknown-key-typo"].files)
    result = hulian("policies", "validate", user, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["problems"] == [{
        "file": str(user / "platforms/demo.yaml"), "line": 7, "field": "wrapper",
        "message": "unknown key (not in the schema; check the spelling)"}]


def test_duplicate_message_names_the_other_file(tmp_path: Path) -> None:
    user = make_user_dir(tmp_path, BROKEN["duplicate-id-of-shipped-platform"].files)
    [problem] = problems_of(user)
    assert str(SHIPPED / "platforms" / "zhihu.yaml") in problem.message


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    user = make_user_dir(tmp_path, {
        "platforms/demo.yaml": platform(category="category: 42"),
        "platforms/other.yaml": platform(id="id: other", domains="domains: 7"),
        "platforms/third.yaml": b"\xff",
    })
    found = {(p.path.name, p.field) for p in problems_of(user)}
    assert found == {("demo.yaml", "category"), ("other.yaml", "domains"),
                     ("third.yaml", None)}


def test_other_commands_refuse_a_broken_user_set(tmp_path: Path) -> None:
    user = make_user_dir(tmp_path, BROKEN["unknown-company"].files)
    result = hulian("--policies", user, "policies", "list", "--json")
    assert_cli_error(result, f"{user / 'platforms/demo.yaml'}:3:", "[company]",
                     "1 problem(s)")
    assert result.stdout == ""


# ---------------------------------------------------------------------------------------
# The shipped set and valid user additions
# ---------------------------------------------------------------------------------------


def test_shipped_set_validates() -> None:
    result = hulian("policies", "validate")
    assert result.exit_code == 0, result.output
    assert "policies OK" in result.stdout
    result = hulian("policies", "validate", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["platforms"] == len(list((SHIPPED / "platforms").glob("*.yaml")))
    assert summary["rules"] == len(list((SHIPPED / "rules").glob("*.yaml")))
    assert summary["frameworks"] >= 1
    assert len(summary["digest"]) == 64


def test_valid_user_platform_and_company_are_accepted(tmp_path: Path) -> None:
    user = make_user_dir(tmp_path, {"platforms/demo.yaml": PLATFORM})
    catalog = load_catalog([SHIPPED, user])
    assert catalog.platforms["demo"].company == "democo"
    assert catalog.sources["platform:demo"] == user / "platforms/demo.yaml"
    assert catalog.digest != load_catalog([SHIPPED]).digest

    result = hulian("policies", "validate", user)
    assert result.exit_code == 0, result.output

    result = hulian("--policies", user, "policies", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert rows["demo"] == {"id": "demo", "name_zh": "演示", "name_en": "Demo",
                            "company": "democo", "category": "social", "wrappers": 0,
                            "signatures": 0, "surfaces": []}
    assert "zhihu" in rows

    result = hulian("--policies", user, "policies", "list", "companies", "--json")
    assert result.exit_code == 0, result.output
    companies = {row["id"]: row for row in json.loads(result.stdout)}
    assert companies["democo"]["platforms"] == ["demo"]

    # Without the option the user platform is not there.
    result = hulian("policies", "list", "--json")
    assert "demo" not in {row["id"] for row in json.loads(result.stdout)}


def test_user_directory_from_environment(tmp_path: Path) -> None:
    user = make_user_dir(tmp_path, {"platforms/demo.yaml": PLATFORM})
    result = hulian("policies", "explain", "demo", env={"HULIAN_POLICIES": str(user)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["company"] == "democo"


def test_global_option_rejects_a_missing_directory(tmp_path: Path) -> None:
    result = hulian("--policies", tmp_path / "nope", "policies", "list")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


@pytest.mark.parametrize("kind", ["platforms", "rules", "frameworks", "companies"])
def test_list_kinds(kind: str) -> None:
    result = hulian("policies", "list", kind, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows
    assert all("id" in row for row in rows)
    result = hulian("policies", "list", kind)
    assert result.exit_code == 0
    assert f"{kind} ({len(rows)})" in result.stdout


def test_list_unknown_kind() -> None:
    result = hulian("policies", "list", "widgets")
    assert result.exit_code == 2
    assert "unknown kind" in result.stderr


def test_explain_platform_prints_its_wrappers() -> None:
    result = hulian("policies", "explain", "zhihu")
    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout)
    assert entry["id"] == "zhihu"
    wrapper = next(w for w in entry["wrappers"] if w["id"] == "link.zhihu.com")
    assert wrapper["target"] == "query"
    assert wrapper["params"] == ["target"]
    assert "link.zhihu.com" in wrapper["match"]["hosts"]
    assert "platform zhihu from" in result.stderr
    assert "zhihu.yaml" in result.stderr


def test_explain_rule_uses_aliases_and_names_requirements() -> None:
    result = hulian("policies", "explain", "im-link-opens-directly")
    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout)
    assert "pass" in entry["reason"]
    assert "pass_" not in entry["reason"]
    assert "used by requirements" in result.stderr


def test_explain_unknown_id() -> None:
    result = hulian("policies", "explain", "nope")
    assert_cli_error(result, "'nope'")
    assert result.stdout == ""


def test_fifo_or_directory_under_a_policy_name_is_refused(tmp_path: Path) -> None:
    user = make_user_dir(tmp_path, {})
    (user / "platforms").mkdir()
    os.mkfifo(user / "platforms" / "pipe.yaml")  # read as a file it would hang forever
    (user / "rules").mkdir()
    (user / "rules" / "dir.yaml").mkdir()
    problems = problems_of(user)
    assert {(p.path.name, p.message) for p in problems} == {
        ("pipe.yaml", "not a regular file"), ("dir.yaml", "not a regular file")}


def test_lab_scenario_duplicate_key_names_file_and_line(tmp_path: Path) -> None:
    from audit.lab.scenario import DEFAULT_SCENARIO, ScenarioError, load_scenario

    text = DEFAULT_SCENARIO.read_text(encoding="utf-8")
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("companies:"))
    broken = tmp_path / "scenario.yaml"
    # The same top-level key again at the end: the last one would replace the whole list.
    broken.write_text(text + "\ncompanies: []\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(broken)
    (problem,) = caught.value.problems
    assert problem.path == broken and problem.field == "companies"
    assert problem.line == len(lines) + 2
    assert f"duplicate key 'companies' (first on line {first + 1})" in problem.message


def test_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    """`<<: *base` then a key of the base again is an override, not a duplicate."""
    user = make_user_dir(tmp_path, {"platforms/demo.yaml": PLATFORM.replace(
        "cite: {fact: test}", "base: &base {fact: test, note: a}\ncite:\n  <<: *base\n  note: b")})
    problems = problems_of(user)
    # Only the schema's complaint about the extra `base` key, no duplicate-key problem.
    assert [p.field for p in problems] == ["base"]
