"""Target lists: Citizen Lab CSV and YAML, errors that name file and line, and a run that
dial-tests each target through a platform's link wrapper."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from audit.evidence.bundle import Bundle
from audit.measure.targets import TargetListError, load_targets, plan_probes, wrapper_link
from audit.model import SurfaceKind
from audit.policy.catalog import load_catalog
from tests import corpus
from tests.localsite import forum_policies, serve

CN = corpus.CORPUS / "testlists" / "cn.csv"


@pytest.mark.skipif(not CN.is_file(), reason=f"Citizen Lab test list not found at {CN}")
def test_real_citizen_lab_list() -> None:
    targets = load_targets(CN)
    assert len(targets) > 500
    assert targets[0].url.startswith("https://")
    assert targets[0].category == "ANON"


def test_yaml_lists(tmp_path: Path) -> None:
    plain = tmp_path / "t.yaml"
    plain.write_text("- https://item.taobao.com/1\n- {url: 'https://v.douyin.com/x/', category: SHOP}\n")
    targets = load_targets(plain)
    assert [(t.url, t.category) for t in targets] == [
        ("https://item.taobao.com/1", None), ("https://v.douyin.com/x/", "SHOP")]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("a.csv", "link,category\nhttps://x.example/\n", "a.csv:1: a test-list CSV needs a 'url'"),
    ("b.csv", "url,category_code\nhttps://ok.example/,X\nnot a url,Y\n", "b.csv:3: not an absolute"),
    ("c.yaml", "targets: [https://ok.example/, 42]\n", "entry 2"),
    ("d.yaml", "- [unclosed\n", "d.yaml:2: invalid YAML"),
    ("e.csv", "url\n", "no targets"),
    # Review 169: a list nested past YAML's depth ended the run as "maximum recursion depth
    # exceeded", a cell over the csv module's bound in a traceback.
    ("f.yaml", "[" * 100_000 + "]" * 100_000, "f.yaml:1: invalid YAML: exceeded maximum nesting"),
    # (a process whose csv limit was raised reads the cell, and refuses it as a URL)
    ("g.csv", 'url\n"' + "a" * 200_000 + '"\n', r"g.csv:[12]: not a[n ][^\n]{0,300}$"),
    ("h.yaml", "- https://ok.example/\n- https://ok.example/\n- {url: x, url: y}\n",
     "h.yaml:3: .*duplicate key .url."),
])
def test_bad_lists_name_file_and_line(tmp_path: Path, name: str, content: str,
                                      message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TargetListError, match=message.replace("(", r"\(")):
        load_targets(path)


def test_a_list_that_cannot_be_read_ends_the_run_before_its_bundle(tmp_path: Path) -> None:
    targets = tmp_path / "deep.yaml"
    targets.write_text("[" * 100_000 + "]" * 100_000)
    result = subprocess.run(
        [sys.executable, "-m", "audit.cli", "run", "--source", "weibo", "--targets",
         str(targets), "--out", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert "deep.yaml:1: invalid YAML" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_wrapper_link_uses_the_platforms_template() -> None:
    catalog = load_catalog()
    link = wrapper_link(catalog.platforms["zhihu"], "https://item.taobao.com/item.htm?id=1")
    assert link == "https://link.zhihu.com/?target=https%3A%2F%2Fitem.taobao.com%2Fitem.htm%3Fid%3D1"
    probes = plan_probes(load_targets_inline(), catalog.platforms["weixin"], SurfaceKind.IM_GROUP,
                         {})
    assert (probes[0].link_url or "").startswith("https://mp.weixinbridge.com/mp/wapredirect?url=")
    with pytest.raises(TargetListError, match="no wrapper with a link_template"):
        wrapper_link(catalog.platforms["taobao"], "https://x.example/")


def load_targets_inline() -> list:  # type: ignore[type-arg]
    from audit.measure.targets import Target

    return [Target("https://item.taobao.com/1")]


WRAPPER = """\
wrappers:
  - id: forum-go
    match: {hosts: [forum.test], path: "^/go$"}
    target: query
    params: [url]
    link_template: "http://forum.test/go?url={target}"
    cite: {fact: "test fixture"}
surfaces: [{kind: post}]
"""


@pytest.mark.slow
def test_run_dial_tests_a_target_list_through_the_wrapper(tmp_path: Path) -> None:
    policies = forum_policies(tmp_path / "policies", WRAPPER)
    targets = tmp_path / "list.csv"
    targets.write_text("url,category_code\nhttp://shop.test/a,COMM\nhttp://news.test/b,NEWS\n")
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {
        # This wrapper sends every link to the shop, whatever the user clicked.
        "forum.test/go": (302, {"Location": "http://shop.test/a"}, b""),
        "shop.test/a": (200, {}, b"<p>a</p>"),
        "news.test/b": (200, {}, b"<p>b</p>"),
    }
    with serve(pages) as site:
        result = subprocess.run(
            [sys.executable, "-m", "audit.cli", "--policies", str(policies), "run", "--source",
             "testforum", "--targets", str(targets), "--route", f"*.test={site.url}",
             "--robots", "ignore", "--out", str(tmp_path / "runs"), "--run-id", "t", "--json"],
            capture_output=True, text=True, timeout=120, check=False)
        asked = list(site.requests)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["planned"] == 2
    observations = {o.target_url: o for o in Bundle(tmp_path / "runs" / "t").observations()}
    assert observations["http://shop.test/a"].outcome.value == "wrapped"
    # The wrapper sent b's probe to the shop, while b itself is up: the chain ended on a page
    # that is neither b (its site, or the page b's control fetch gives) nor a page of any
    # platform the catalog knows — a person must look.
    b = observations["http://news.test/b"]
    assert b.outcome.value == "unrecognized"
    assert b.comparison is not None and not b.comparison.matched
    assert {p.category for p in Bundle(tmp_path / "runs" / "t").probes()} == {"COMM", "NEWS"}
    assert any(a.startswith("forum.test/go?url=http%3A%2F%2Fnews.test%2Fb") for a in asked)
