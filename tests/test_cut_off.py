"""A page the server never finishes (review 135): a browser draws HTML as it arrives, so a
block notice sent without its end (a Content-Length larger than what comes, a chunked body
without its last chunk, no framing on a connection held open) is what the reader saw. It was
a bare `timeout`: every verdict `inconclusive`, nothing in review.csv, `--fail-on` passed, and
no WARC record of the bytes that came. The asyncio engine now reads what came for an
interstitial, for a person (`structure/answer_cut_off`), and records it `WARC-Truncated:
time`; a page that is no interstitial is the download's `timeout`, as before."""

from __future__ import annotations

import csv
import gzip
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest
from warcio.archiveiterator import ArchiveIterator

from audit.evidence.bundle import Bundle
from audit.model import Outcome
from tests import zoo
from tests.localsite import serve_handler

BLOCK = ("<html><head><meta charset=utf-8><title>安全提示</title></head><body>"
         "<h1>该链接已被屏蔽</h1><p>This link has been blocked</p></body></html>").encode()
TARGET_PAGE = b"<html><head><title>ok</title></head><body><p>a healthy page</p></body></html>"
TIMEOUT_S = 2
HOLD_S = 8.0


class _NeverEnds(BaseHTTPRequestHandler):
    """`CASE.go.test` sends its page and never ends it, CASE naming how; `*.ok.test` is a
    healthy target; `slow.ok.test` never ends the target's own page."""

    protocol_version = "HTTP/1.1"
    shapes: ClassVar[dict[str, tuple[list[tuple[str, str]], bytes]]] = {
        "length": ([("Content-Length", str(len(BLOCK) + 1000))], BLOCK),
        "chunked": ([("Transfer-Encoding", "chunked")], b"%x\r\n%s\r\n" % (len(BLOCK), BLOCK)),
        "unframed": ([], BLOCK),
        "gzip": ([("Content-Encoding", "gzip"), ("Content-Length", "100000")],
                 gzip.compress(BLOCK)[:-8]),
    }

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0]
        name, _, zone = host.partition(".")
        if host == "forum.test":
            links = "".join(f"<a href='http://{shape}.go.test/?url=http%3A%2F%2F{shape}.ok.test"
                            f"%2F'>{shape}</a>" for shape in self.shapes)
            links += "<a href='http://slow.ok.test/'>a slow shop</a>"
            links += ("<a href='http://redirect.go.test/?url=http%3A%2F%2Fredirect.ok.test%2F'>"
                      "a redirect</a>")
            self._send([("Content-Length", str(len(links)))], links.encode(), hold=False)
        elif zone == "go.test" and name in self.shapes:
            self._send(*self.shapes[name], hold=True)
        elif host == "redirect.go.test":  # a 302 whose body never ends, to the block page
            self.send_response(302)
            self.send_header("Location", "http://notice.go.test/")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"<p>moved")
            self.wfile.flush()
            time.sleep(HOLD_S)
            self.close_connection = True
        elif host == "notice.go.test":
            self._send([("Content-Length", str(len(BLOCK)))], BLOCK, hold=False)
        elif name == "slow":
            self._send([("Content-Length", "100000")], TARGET_PAGE, hold=True)
        else:
            self._send([("Content-Length", str(len(TARGET_PAGE)))], TARGET_PAGE, hold=False)

    def _send(self, headers: list[tuple[str, str]], body: bytes, *, hold: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if hold:
            time.sleep(HOLD_S)
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


def _run(tmp_path: Path, seed: str, *extra: str) -> tuple[subprocess.CompletedProcess[str],
                                                          Path]:
    policies = zoo.policies(tmp_path / "policies")
    with serve_handler(_NeverEnds) as url:
        result = subprocess.run(
            [sys.executable, "-m", "audit.cli", "--policies", str(policies), "run", "--seed",
             f"testforum:post:{seed}", "--source", "testforum", "--route", f"*.test={url}",
             "--robots", "ignore", "--out", str(tmp_path / "runs"), "--run-id", "r",
             "--engine", "asyncio", "--timeout", str(TIMEOUT_S), "--report-format", "",
             "--json", *extra],
            capture_output=True, text=True, timeout=180, check=False)
    return result, tmp_path / "runs" / "r"


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[subprocess.CompletedProcess[str], Path, float]:
    started = time.monotonic()
    result, run = _run(tmp_path_factory.mktemp("cut"), "http://forum.test/p", "--fail-on",
                       "high")
    return result, run, time.monotonic() - started


def test_a_block_page_never_finished_is_read_for_a_person(
        crawled: tuple[subprocess.CompletedProcess[str], Path, float]) -> None:
    result, run, took = crawled
    assert result.returncode == 3, result.stderr[-2000:]  # before: 0, every verdict inconclusive
    observations = {o.target_url: o for o in Bundle(run).observations()}
    wrapped = {f"http://{shape}.ok.test/" for shape in _NeverEnds.shapes}
    assert wrapped <= set(observations)
    for target in wrapped:
        observation = observations[target]
        assert observation.outcome is Outcome.UNRECOGNIZED, target  # before: error, timeout
        assert observation.page is not None
        assert observation.page.signature == "structure/answer_cut_off"
        assert observation.failure is None
    with (run / "review.csv").open(encoding="utf-8") as fh:
        reviewed = {row["target_url"] for row in csv.DictReader(fh)}
    assert wrapped <= reviewed
    # the bytes that came are evidence, marked cut by the time limit
    with (run / "evidence" / "crawl.warc.gz").open("rb") as fh:
        cut = [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(fh)
               if r.rec_headers.get_header("WARC-Truncated") == "time"]
    assert {shape for shape in _NeverEnds.shapes
            if any(f"//{shape}.go.test/" in url for url in cut)} == set(_NeverEnds.shapes)
    assert took < len(_NeverEnds.shapes) * HOLD_S  # each costs the timeout, not the hold


def test_a_redirect_whose_body_never_ends_is_followed(
        crawled: tuple[subprocess.CompletedProcess[str], Path, float]) -> None:
    # Review 138: a browser follows a Location once the head has come; read as a timeout,
    # the platform's block page behind it was an `error`.
    _result, run, _took = crawled
    (observation,) = [o for o in Bundle(run).observations()
                      if o.target_url == "http://redirect.ok.test/"]
    assert observation.outcome is Outcome.BLOCKED, (observation.outcome, observation.failure)
    assert [h.url for h in observation.hops][:2] == [
        "http://redirect.go.test/?url=http%3A%2F%2Fredirect.ok.test%2F", "http://notice.go.test/"]


def test_a_target_page_never_finished_is_still_a_timeout(
        crawled: tuple[subprocess.CompletedProcess[str], Path, float]) -> None:
    # Not an interstitial: the download's failure, as before (read as the target reached
    # from half a page, a slow shop would be `direct`).
    _result, run, _took = crawled
    (observation,) = [o for o in Bundle(run).observations()
                      if o.target_url == "http://slow.ok.test/"]
    assert observation.failure == "timeout"
