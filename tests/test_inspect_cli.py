"""`hulian inspect` from the command line: output shape, stdin, directories, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
runner = CliRunner()

PAGE = ('<html><head><link rel="canonical" href="https://www.zhihu.com/question/1/answer/2">'
        "</head><body><p>见 <a href=\"https://link.zhihu.com/?target=https%3A//item.jd.com/1.html\">京东</a>"
        "</p></body></html>")


def _run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_json_shape_is_exactly_the_documented_one(tmp_path: Path) -> None:
    page = tmp_path / "a.html"
    page.write_text(PAGE, encoding="utf-8")
    code, out, _ = _run("inspect", str(page), "--json")
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["url", "platform", "company", "page", "links"]
    assert list(data["page"]) == ["kind", "target", "reason", "signature", "reason_text",
                                  "endpoint", "failure"]
    assert data["url"] == "https://www.zhihu.com/question/1/answer/2"  # from the canonical link
    assert (data["platform"], data["company"]) == ("zhihu", "zhihu")
    (link,) = data["links"]
    assert list(link) == ["href", "target", "target_domain", "target_platform", "via",
                          "rendered_as", "count"]
    assert link["target"] == "https://item.jd.com/1.html"
    assert (link["via"], link["target_platform"], link["rendered_as"]) == ("link.zhihu.com", "jd", "anchor")


def test_url_and_platform_options_override(tmp_path: Path) -> None:
    page = tmp_path / "a.html"
    page.write_text('<a href="https://www.zhihu.com/x">z</a>', encoding="utf-8")
    code, out, _ = _run("inspect", str(page), "--json", "--url", "https://blog.csdn.net/u/1",
                        "--platform", "csdn")
    data = json.loads(out)
    assert code == 0 and data["platform"] == "csdn"
    assert [link["target_platform"] for link in data["links"]] == ["zhihu"]


def test_stdin(tmp_path: Path) -> None:
    code, out, _ = _run("inspect", "-", "--json", stdin=PAGE.encode())
    assert code == 0 and json.loads(out)["platform"] == "zhihu"


def test_directory_gives_one_json_line_per_page() -> None:
    code, out, _ = _run("inspect", str(EXAMPLES), "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert len(lines) == len(list(EXAMPLES.glob("*.html")))
    by_file = {Path(str(d["file"])).name: d for d in lines}
    assert by_file["wechat-copy-only.html"]["page"]["kind"] == "copy_only"
    assert by_file["wechat-block-gbk.html"]["page"]["reason"] == "reward_sharing"
    assert by_file["wechat-block-gbk.html"]["platform"] == "weixin"  # from the signature


def test_readable_table() -> None:
    code, out, _ = _run("inspect", str(EXAMPLES / "zhihu-answer.html"))
    assert code == 0
    assert "link.zhihu.com" in out and "taobao.com" in out and "text" in out
    assert "no interception recognised" in out and "--url" not in out  # it has its URL


def test_content_without_a_url_says_what_was_not_tried(tmp_path: Path) -> None:
    # A page in words no marker knows, saved without its address: `content` only means that
    # nothing recognised it, and the endpoint's reading needs the URL.
    page = tmp_path / "a.html"
    page.write_text("<html><body><h1>このリンクは開けません</h1></body></html>", encoding="utf-8")
    code, out, _ = _run("inspect", str(page))
    assert code == 0
    assert "content 未识别出拦截" in out and "give --url" in out


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty file"),
    (b"   \n\t ", "empty file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "binary"),
    (b"PK\x03\x04 zip", "binary"),
])
def test_bad_files_get_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    page = tmp_path / "bad.html"
    page.write_bytes(content)
    code, out, err = _run("inspect", str(page), "--json")
    assert code == 1
    assert message in err and "bad.html" in err
    assert "Traceback" not in out + err


def test_missing_file_and_unknown_platform(tmp_path: Path) -> None:
    code, _, err = _run("inspect", str(tmp_path / "nope.html"))
    assert code == 1 and "no such file" in err
    page = tmp_path / "a.html"
    page.write_text(PAGE)
    code, _, err = _run("inspect", str(page), "--platform", "myspace")
    assert code == 1 and "unknown platform 'myspace'" in err
    code, _, err = _run("inspect", str(page), "--url", "not-a-url")
    assert code == 1 and "not an absolute http(s) URL" in err


def test_a_bad_file_in_a_directory_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(PAGE)
    (tmp_path / "b.html").write_bytes(b"")
    code, out, _ = _run("inspect", str(tmp_path), "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1  # something failed ...
    assert lines[0]["platform"] == "zhihu"  # ... but nothing was lost
    assert "error" in lines[1] and "empty file" in lines[1]["error"]


def test_gbk_page_with_lying_meta(tmp_path: Path) -> None:
    html = ('<meta charset="utf-8"><title>即将离开知乎</title><p>您即将离开知乎，请注意您的帐号和财产安全。</p>'
            '<p class="link">https://www.example.org/</p>')
    page = tmp_path / "gbk.html"
    page.write_bytes(html.encode("gbk"))
    code, out, _ = _run("inspect", str(page), "--json", "--url",
                        "https://link.zhihu.com/?target=https%3A%2F%2Fwww.example.org%2F")
    data = json.loads(out)
    assert code == 0
    assert (data["page"]["kind"], data["page"]["target"]) == ("warned", "https://www.example.org/")


@pytest.mark.slow
def test_fifty_megabyte_page_is_cut_with_a_warning(tmp_path: Path) -> None:
    block = b'<p>filler text <a href="https://www.example.org/x">x</a></p>\n'
    page = tmp_path / "huge.html"
    page.write_bytes(b"<html><body>" + block * (50 * 1024 * 1024 // len(block)) + b"</body></html>")
    code, out, err = _run("inspect", str(page), "--json")
    assert code == 0
    assert "only the first" in err
    (link,) = json.loads(out)["links"]
    assert link["target"] == "https://www.example.org/x" and link["count"] > 100_000


def test_hostile_markup_is_just_data(tmp_path: Path) -> None:
    html = ('<title><script>alert(1)</script></title><a href="javascript:alert(1)">x</a>'
            '<a href="https://e.example/&quot;onmouseover=&quot;x">y</a>'
            + "<div>" * 5000 + "deep" + "</div>" * 5000)
    page = tmp_path / "h.html"
    page.write_text(html)
    code, out, _ = _run("inspect", str(page), "--json", "--url", "https://site.example/")
    data = json.loads(out)
    assert code == 0
    assert [link["href"] for link in data["links"]] == ['https://e.example/%22onmouseover=%22x']


def test_version_and_help() -> None:
    code, out, _ = _run("--version")
    assert code == 0 and out.startswith("hulian ")
    code, out, _ = _run("inspect", "--help")
    assert code == 0 and "--url" in out and "--json" in out


def test_deep_copy_to_browser_page_is_still_copy_only(tmp_path: Path) -> None:
    """The WeChat copy-to-browser example with its body 10,000 elements deep: libxml2 alone
    stops at 2,048 levels and would read it as an empty content page."""
    source = (EXAMPLES / "wechat-copy-only.html").read_text(encoding="utf-8")
    head, _, body = source.partition("<body")
    body = "<body" + body
    opening = body.index(">") + 1
    closing = body.rindex("</body>")
    deep = (head + body[:opening] + "<div>" * 10_000 + body[opening:closing]
            + "</div>" * 10_000 + body[closing:])
    page = tmp_path / "deep.html"
    page.write_text(deep, encoding="utf-8")
    _, plain, _ = _run("inspect", str(EXAMPLES / "wechat-copy-only.html"), "--json")
    code, out, err = _run("inspect", str(page), "--json")
    assert code == 0, err
    assert json.loads(out)["page"] == json.loads(plain)["page"]
    assert json.loads(out)["page"]["kind"] == "copy_only"
    assert "not inspected" not in err


def test_page_nested_beyond_what_is_parsed_gets_a_warning(tmp_path: Path) -> None:
    page = tmp_path / "deep.html"
    # Deeper than libxml2 parses and longer than the second parser takes: cut, and said so.
    page.write_text('<body><a href="https://www.example.org/a">a</a>' + "<div>" * 220_000
                    + '<a href="https://www.example.org/b">b</a>', encoding="utf-8")
    code, out, err = _run("inspect", str(page), "--json", "--url", "https://site.example/")
    assert code == 0
    assert "nested deeper than the parser follows; what follows was not inspected" in err
    assert [link["target"] for link in json.loads(out)["links"]] == ["https://www.example.org/a"]


def test_every_page_kind_has_a_label_in_the_readable_output() -> None:
    from audit.cli.inspect import KIND_LABELS
    from audit.model import PageKind

    assert set(KIND_LABELS) == set(PageKind)


ENDPOINT = ("https://weixin110.qq.com/cgi-bin/mmspamsupport-bin/newredirectconfirmcgi"
            "?midpagecode=3f2a9c&bancode=9c1e0d2b")


@pytest.mark.parametrize(("body", "label"), [
    # A wording no marker knows (Japanese): a person must look.
    ("<html><body><h1>このリンクは開けません</h1><p>ブラウザでコピーしてください</p>"
     "<button>閉じる</button></body></html>", "unrecognized"),
    ('<html><head><meta http-equiv="refresh" content="0;url=https://item.taobao.com/item.htm?id=1">'
     "</head><body></body></html>", "redirect"),
    ("<html><body></body></html>", "error"),
])
def test_the_readable_output_names_the_kinds_a_person_must_look_at(
        tmp_path: Path, body: str, label: str) -> None:
    # The human output crashed (KeyError) on exactly these kinds, and a directory stopped at
    # the first of them.
    directory = tmp_path / "pages"
    directory.mkdir()
    (directory / "a.html").write_text(body, encoding="utf-8")
    (directory / "b.html").write_text(PAGE, encoding="utf-8")
    code, out, err = _run("inspect", str(directory / "a.html"), "--url", ENDPOINT)
    assert code == 0, err
    assert f"page 页面: {label}" in out
    if label == "error":
        assert "endpoint_empty" in out
    code, out, err = _run("inspect", str(directory), "--url", ENDPOINT)
    assert code == 0, err
    assert f"page 页面: {label}" in out and "b.html" in out
