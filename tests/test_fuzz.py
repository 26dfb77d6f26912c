"""Fuzzing the readers (issue 13): saved pages (decode, parse, classify through
`inspect_bytes`), HAR, mitmproxy dumps, WARC/ARC, policy YAML and robots.txt (Protego, as the
engines call it).

The property: a reader returns a result or raises the project's own error for bad input
(InspectError, CaptureError, PolicyError), never another exception; and it does so in bounded
time (a per-example deadline in the long run) and memory (the long run caps the address
space, so an unbounded read meets MemoryError, which fails the property).

In the suite every reader gets a few dozen examples (all of them together well under 30 s);
`make fuzz` (HULIAN_FUZZ=long) runs thousands each. Inputs are generated from each format's
vocabulary and mutated from the real files in ../shared/corpus. Every crash ever found is kept
under tests/fuzz_regressions/<reader>/ (one file per input, replayed by
`test_regressions`), so a fixed crash stays fixed: the long run writes the input of a failure
there as `found-latest`, to be renamed after what it broke and committed with the fix.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import shutil
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mitmproxy.io import tnetstring
from protego import Protego

from audit.judge.forwards import page_forward, script_targets
from audit.judge.inspect import InspectError, inspect_bytes
from audit.measure.capture.formats import CaptureError, iter_har, iter_warc
from audit.measure.capture.mitm import iter_mitm
from audit.policy.catalog import Catalog, PolicyError, load_catalog, shipped_policies_dir
from audit.web.page import parse_page

LONG = os.environ.get("HULIAN_FUZZ") == "long"
HERE = Path(__file__).resolve().parent
REGRESSIONS = HERE / "fuzz_regressions"
CORPUS = Path(os.environ.get("HULIAN_CORPUS", HERE.parents[1] / "shared" / "corpus"))
SHIPPED = shipped_policies_dir()

settings.register_profile(
    "fuzz-quick", max_examples=25, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture])
settings.register_profile(
    "fuzz-long", max_examples=int(os.environ.get("HULIAN_FUZZ_EXAMPLES", "3000")),
    deadline=timedelta(seconds=20),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture])
FUZZ = settings.get_profile("fuzz-long" if LONG else "fuzz-quick")


@pytest.fixture(scope="module", autouse=True)
def _bounded_memory() -> Iterator[None]:
    """The long run caps this process's address space: a reader that holds an unbounded
    input fails with MemoryError instead of taking the machine down."""
    if not LONG:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (6 * 1024**3, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _corpus(pattern: str, *, max_bytes: int = 300_000) -> list[bytes]:
    if not CORPUS.is_dir():
        return []
    return [p.read_bytes() for p in sorted(CORPUS.glob(pattern))
            if p.is_file() and p.stat().st_size <= max_bytes]


def _mutated(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """Real files, cut, spliced and sprinkled with bytes: damage as it happens."""
    if not seeds:
        return st.binary(max_size=2000)

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(0, 6))):
            if not data:
                break
            at = draw(st.integers(0, len(data) - 1))
            action = draw(st.sampled_from(["cut", "drop", "insert", "flip", "repeat"]))
            if action == "cut":
                del data[at:]
            elif action == "drop":
                del data[at:at + draw(st.integers(1, 4096))]
            elif action == "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=64))
            elif action == "flip":
                data[at] ^= draw(st.integers(1, 255))
            else:
                piece = bytes(data[at:at + draw(st.integers(1, 512))])
                data[at:at] = piece * draw(st.integers(1, 50))
        return bytes(data)

    return mutate()


# Text with everything a hostile file may hold: lone surrogates, controls, CJK, markers.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
WORDS = st.sampled_from([
    "如需浏览，请长按网址复制后使用浏览器访问", "已停止访问该网页", "继续访问", "将要访问",
    "https://item.taobao.com/item.htm?id=1", "https://link.zhihu.com/?target=https%3A//a.cn/",
    "www.example.com/x", "javascript:alert(1)", "&amp;", "&#0;", "&#xD800;", "\x00", "\u2028",
    " ", "\n", "<", ">", "\"", "'", "=", "//", "\ufeff", "\ud800", "\udcff", "0001-01-01T00:00:00+14:00"])


@st.composite
def html_bytes(draw: st.DrawFn) -> bytes:
    """Markup as tokens, balanced or not, sometimes nested deeper than libxml2 parses."""
    tags = ["div", "span", "a", "p", "b", "i", "script", "style", "template", "table", "tr",
            "td", "title", "meta", "base", "link", "svg", "noscript", "iframe", "textarea",
            "select", "option", "button", "br", "img", "form", "html", "head", "body", "x-y",
            "a\"b", "math", "frameset", "plaintext", "xmp", "object"]
    attrs = st.one_of(
        st.tuples(st.sampled_from(["href", "content", "http-equiv", "rel", "property", "name",
                                   "style", "hidden", "charset", "@click", "v-on:x", "a\"b"]),
                  st.one_of(WORDS, ANY_TEXT)).map(lambda kv: f' {kv[0]}="{kv[1]}"'),
        st.just(" hidden"), st.just(' style="display:none"'))
    tokens = st.one_of(
        WORDS, ANY_TEXT,
        st.tuples(st.sampled_from(tags), st.lists(attrs, max_size=3)).map(
            lambda t: f"<{t[0]}{''.join(t[1])}>"),
        st.sampled_from(tags).map(lambda t: f"</{t}>"),
        st.sampled_from(["<!--", "-->", "<![CDATA[", "]]>", "<?xml version='1.0'?>",
                         "<!DOCTYPE html>", '<meta charset="gbk">', '<meta charset="utf-16">']))
    body = "".join(draw(st.lists(tokens, max_size=60)))
    depth = draw(st.sampled_from([0, 0, 0, 300, 2100, 4000]))
    tag = draw(st.sampled_from(["div", "b", "a", "table", "span"]))
    text = f"<{tag}>" * depth + body + f"</{tag}>" * draw(st.integers(0, depth))
    encoding = draw(st.sampled_from(["utf-8", "gb18030", "utf-16", "big5", "latin-1"]))
    return text.encode(encoding, "replace")


@st.composite
def har_bytes(draw: st.DrawFn) -> bytes:
    json_value = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
        max_leaves=8)
    headers = st.lists(st.fixed_dictionaries({"name": st.one_of(WORDS, ANY_TEXT),
                                              "value": st.one_of(WORDS, ANY_TEXT)}), max_size=3)
    body = st.one_of(ANY_TEXT, WORDS, st.binary(max_size=50).map(
        lambda b: base64.b64encode(b).decode()))
    entry = st.fixed_dictionaries({
        "startedDateTime": st.one_of(ANY_TEXT, st.just("2024-01-01T00:00:00Z"),
                                     st.just("0001-01-01T00:00:00+14:00")),
        "time": st.one_of(st.integers(), st.floats(), json_value),
        "request": st.one_of(json_value, st.fixed_dictionaries({
            "method": st.one_of(ANY_TEXT, st.just("GET")), "url": st.one_of(WORDS, ANY_TEXT),
            "headers": st.one_of(headers, json_value),
            "postData": st.one_of(json_value, st.fixed_dictionaries({"text": body}))})),
        "response": st.one_of(json_value, st.fixed_dictionaries({
            "status": st.one_of(st.integers(), json_value),
            "headers": st.one_of(headers, json_value),
            "content": st.fixed_dictionaries({
                "text": st.one_of(body, json_value),
                "encoding": st.sampled_from(["base64", "", "utf-8"]),
                "mimeType": st.sampled_from(["text/html", "", "image/png"])})})),
    })
    entries = st.lists(st.one_of(entry, json_value), max_size=4)
    document = draw(st.one_of(
        st.fixed_dictionaries({"log": st.fixed_dictionaries({"version": st.just("1.2"),
                                                             "entries": entries})}),
        json_value))
    text = json.dumps(document, ensure_ascii=draw(st.booleans()))
    deep = draw(st.sampled_from([0, 0, 5000]))
    if deep:
        text = text.replace('"entries": [', '"entries": [' + "[" * deep, 1)
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    if draw(st.integers(0, 5)) == 0:
        data = zlib.compress(data)  # .zhar
    return data


def _flow_state(draw: st.DrawFn) -> dict[str, Any]:
    from mitmproxy.test import tflow

    state: dict[str, Any] = tflow.tflow(resp=draw(st.booleans()),
                                        err=draw(st.booleans())).get_state()
    scalar = st.none() | st.booleans() | st.integers() | st.binary(max_size=20) | ANY_TEXT
    for _ in range(draw(st.integers(0, 4))):
        where = draw(st.sampled_from(["top", "request", "response"]))
        target = state if where == "top" else state.get(where)
        if isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target)))
            target[key] = draw(st.one_of(scalar, st.lists(scalar, max_size=3)))
    if draw(st.integers(0, 3)) == 0:
        state["version"] = draw(st.integers(0, 30))  # older versions take the migration path
    return state


@st.composite
def mitm_bytes(draw: st.DrawFn) -> bytes:
    data = b"".join(tnetstring.dumps(_flow_state(draw))
                    for _ in range(draw(st.integers(1, 3))))
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    return data


@st.composite
def warc_bytes(draw: st.DrawFn) -> bytes:
    records = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["response", "request", "resource", "revisit", "warcinfo",
                                     "metadata", "bogus"]))
        status = draw(st.sampled_from(["HTTP/1.1 200 OK", "HTTP/1.1 HTTP/1.1 302 Found",
                                       "HTTP/1.0 999", "GET / HTTP/1.1", "garbage", ""]))
        http_headers = draw(st.lists(st.sampled_from([
            "Content-Type: text/html", "Transfer-Encoding: chunked", "Content-Encoding: gzip",
            "Content-Encoding: br", "Location: /x", "Referer: https://a.example/",
            "Content-Length: 5", "X: " + "y" * 100]), max_size=4))
        payload = draw(st.one_of(st.binary(max_size=80), html_bytes(),
                                 st.just(b"5\r\nhello\r\n0\r\n\r\n")))
        block = ("\r\n".join([status, *http_headers]) + "\r\n\r\n").encode() + payload
        length = draw(st.one_of(st.just(len(block)), st.integers(-5, 10**12)))
        header_lines = [
            "WARC/1.0", f"WARC-Type: {kind}",
            f"WARC-Target-URI: {draw(st.one_of(WORDS, ANY_TEXT))}",
            f"WARC-Record-ID: <urn:uuid:{draw(st.uuids())}>",
            f"WARC-Date: {draw(st.sampled_from(['2024-01-01T00:00:00Z', 'x', '']))}",
            "Content-Type: application/http; msgtype=response", f"Content-Length: {length}"]
        records.append(("\r\n".join(header_lines) + "\r\n\r\n").encode("utf-8", "replace")
                       + block + b"\r\n\r\n")
    data = b"".join(records)
    if draw(st.booleans()):
        import gzip

        data = b"".join(gzip.compress(record) for record in records)
    return data


@st.composite
def policy_bytes(draw: st.DrawFn) -> bytes:
    seeds = sorted((SHIPPED / "platforms").glob("*.yaml"))[:6]
    lines = draw(st.sampled_from(seeds)).read_text(encoding="utf-8").splitlines()
    for _ in range(draw(st.integers(0, 5))):
        at = draw(st.integers(0, max(0, len(lines) - 1)))
        action = draw(st.sampled_from(["drop", "repeat", "indent", "insert"]))
        if not lines:
            break
        if action == "drop":
            del lines[at]
        elif action == "repeat":
            lines.insert(at, lines[at])
        elif action == "indent":
            lines[at] = " " * draw(st.integers(1, 3)) + lines[at]
        else:
            lines.insert(at, draw(st.one_of(st.sampled_from([
                "x: &a [1, 2]", "y: *a", "<<: *a", "!!python/object:os.system", "{", "[",
                "key: {a: 1, a: 2}", "? [a]\n: b", "%YAML 1.1", "---", "...", "\t", "z: !!binary x"]),
                ANY_TEXT)))
    return "\n".join(lines).encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------------------------------
@st.composite
def script_bytes(draw: st.DrawFn) -> bytes:
    """Scripts as tokens of JavaScript around navigations: nested, unclosed, in strings,
    comments and templates, the shapes tree-sitter's error recovery has to cope with."""
    tokens = st.one_of(
        st.sampled_from([
            "location", "location.href", "window.location", "top.location", "document.location",
            ".replace(", ".assign(", " = ", "==", "=>", "(", ")", "{", "}", "[", "]", ";", ",",
            "\n", "'", '"', "`", "${", "\\", "/*", "*/", "//", "<!--", "-->", "/re/g", "if",
            "else", "function", "async", "await", "!", "?", ":", "&&", "||", "+", ".call(this)",
            "try", "catch(e)", "for(;;)", "return", "var x", "'https://item.taobao.com/'",
            '"\\u0068ttps:\\/\\/a.cn\\/"', "`https://a.cn/${x}`", '"/go?u=" + u',
            "</script>", "\u2028"]),
        WORDS, ANY_TEXT)
    script = "".join(draw(st.lists(tokens, max_size=80)))
    depth = draw(st.sampled_from([0, 0, 0, 500, 70_000]))
    script = draw(st.sampled_from(["(", "{", "[", "if(a)"])) * depth + script
    return f"<script>{script}</script><p>x</p>".encode("utf-8", "surrogatepass")


# The readers under test, each with the errors it may raise
# ---------------------------------------------------------------------------------------

_CATALOG: list[Catalog] = []


def _catalog() -> Catalog:
    if not _CATALOG:
        _CATALOG.append(load_catalog())
    return _CATALOG[0]


def read_page(data: bytes, tmp: Path) -> None:
    try:
        inspect_bytes(data, _catalog(), source="fuzz.html", url="https://mp.weixin.qq.com/s/x")
        inspect_bytes(data, _catalog(), source="fuzz.html")
    except InspectError:
        pass


def _capture(reader: Callable[[Path], Iterator[object]], suffix: str) -> Callable[[bytes, Path],
                                                                                   None]:
    def read(data: bytes, tmp: Path) -> None:
        path = tmp / f"fuzz{suffix}"
        path.write_bytes(data)
        message = ""
        try:
            for _ in reader(path):
                pass
        except CaptureError as exc:
            message = str(exc)
        assert not message or str(path) in message  # the error names the file

    return read


read_har = _capture(iter_har, ".har")
read_mitm = _capture(iter_mitm, ".mitm")
read_warc = _capture(iter_warc, ".warc")


def read_script(data: bytes, tmp: Path) -> None:
    page = parse_page(data.decode("utf-8", "replace"), "https://weixin110.qq.com/cgi-bin/x")
    forward = page_forward(page)
    targets = script_targets(page)
    if forward is not None and forward.via == "js":
        assert forward.url in targets  # what is followed is one of the places it may lead


def read_policy(data: bytes, tmp: Path) -> None:
    user = tmp / "policies"
    shutil.rmtree(user, ignore_errors=True)
    (user / "platforms").mkdir(parents=True)
    for name in ("companies.yaml", "markers.yaml"):
        shutil.copy(SHIPPED / name, user / name)
    (user / "platforms" / "fuzz.yaml").write_bytes(data)
    problems: list[object] = []
    try:
        load_catalog([user])
    except PolicyError as exc:
        problems = list(exc.problems) or [None]
    assert None not in problems  # a PolicyError always says what is wrong


def read_robots(data: bytes, tmp: Path) -> None:
    # As the engine does: decode, parse (a parse failure is tolerated there), then ask.
    rules = Protego.parse(data.decode("utf-8-sig", errors="ignore"))
    for path in ("/", "/s?wd=1", "/%E4%B8%AD", "/a/../b", "//x", "/?" + "a" * 300):
        assert isinstance(rules.can_fetch("https://www.example.com" + path, "hulian"), bool)
    rules.crawl_delay("hulian")


READERS: dict[str, tuple[Callable[[bytes, Path], None], st.SearchStrategy[bytes]]] = {
    "page": (read_page, st.one_of(html_bytes(), _mutated(_corpus("pages/*.html", max_bytes=60_000)
                                                          + _corpus("interstitials/*")))),
    "har": (read_har, st.one_of(har_bytes(), _mutated(_corpus("captures/har/*.har")))),
    "mitm": (read_mitm, st.one_of(mitm_bytes(), _mutated(_corpus("captures/mitmproxy/*.mitm")))),
    "warc": (read_warc, st.one_of(warc_bytes(), _mutated(_corpus("warc/*.warc"))
                                  | _mutated(_corpus("warc/*.gz")))),
    "policy": (read_policy, policy_bytes()),
    "script": (read_script, script_bytes()),
    "robots": (read_robots, st.one_of(
        _mutated(_corpus("robots/*.txt")),
        st.lists(st.sampled_from(["User-agent: *", "User-agent: hulian", "Disallow: /",
                                  "Allow: /s", "Disallow: /*?", "Disallow: /$", "Crawl-delay: x",
                                  "Crawl-delay: 1e309", "Sitemap: :", "Request-rate: 1/0",
                                  "Disallow: /%", "Allow: *" * 50, "Disallow: " + "*" * 300])
                 | ANY_TEXT, max_size=20).map(lambda ls: "\n".join(ls).encode(
                     "utf-8", "surrogatepass")))),
}


def _run(name: str, data: bytes, tmp: Path, *, keep: bool = False) -> None:
    started = time.monotonic()
    try:
        READERS[name][0](data, tmp)
    except BaseException:
        if keep:
            # Hypothesis runs the shrunk example last, so this file ends as the minimal
            # input: give it a name that says what it broke, and commit it.
            (REGRESSIONS / name).mkdir(parents=True, exist_ok=True)
            (REGRESSIONS / name / "found-latest").write_bytes(data)
        raise
    # Bounded time: generous for a slow shared machine, far below "hangs".
    assert time.monotonic() - started < 60, f"{name}: {len(data)} bytes took too long"


@pytest.mark.parametrize("name", sorted(READERS))
def test_reader_fuzz(name: str, tmp_path: Path) -> None:
    @FUZZ
    @given(data=READERS[name][1])
    def check(data: bytes) -> None:
        _run(name, data, tmp_path, keep=LONG)

    check()


def _regressions() -> list[tuple[str, Path]]:
    return [(case.parent.name, case) for case in sorted(REGRESSIONS.glob("*/*"))
            if case.is_file() and case.parent.name in READERS]


@pytest.mark.parametrize(("name", "case"), _regressions(),
                         ids=[f"{n}/{c.name}" for n, c in _regressions()])
def test_regressions(name: str, case: Path, tmp_path: Path) -> None:
    """Every input the fuzzer (or a person) ever found crashing a reader."""
    _run(name, case.read_bytes(), tmp_path)


def test_regression_directories_name_readers() -> None:
    """A case filed under a misspelt reader would never be replayed."""
    assert {d.name for d in REGRESSIONS.iterdir() if d.is_dir()} <= set(READERS)
    assert len(_regressions()) >= 10
