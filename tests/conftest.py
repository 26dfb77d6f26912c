"""Test-wide settings and shared fixtures: runs started by tests (also as subprocesses) record
their history in a throw-away database, never in the user's ~/.local/share/hulian/history.db,
and build tables into a throw-away cache, never ~/.cache/hulian; `webhook` receives alerts on
127.0.0.1."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests.localsite import serve_handler

# No per-example deadline: the suite runs two test processes on two cores beside the crawls
# and servers they start, and an example's time there says nothing about the code (a 200 ms
# deadline failed a decoding example that took 370 ms under load). Examples stay bounded by
# max_examples and pytest-timeout.
settings.register_profile("hulian", deadline=None)
settings.load_profile("hulian")

if "HULIAN_DB" not in os.environ:
    # The suite's own history store, removed when the process that made it ends (xdist's
    # workers inherit the controller's, which outlives them).
    _STORE_DIR = Path(tempfile.mkdtemp(prefix="hulian-test-db-"))
    atexit.register(shutil.rmtree, _STORE_DIR, ignore_errors=True)
    os.environ["HULIAN_DB"] = f"sqlite:///{_STORE_DIR / 'history.db'}"

if "HULIAN_CACHE" not in os.environ:
    # Nor the user's ~/.cache/hulian: tables built there are kept by run id and the lines'
    # size, and a test that edits a record read the table an earlier run of the suite had
    # built from another edit of the same size (another line's surface made "nowhere"). A
    # bundle's verification catches edited lines (`hulian report` then builds its tables
    # afresh); the tests that edit lines build the report's data without it. Module-scoped
    # fixtures use this cache; each test has its own (`own_cache`).
    _CACHE_DIR = Path(tempfile.mkdtemp(prefix="hulian-test-cache-"))
    atexit.register(shutil.rmtree, _CACHE_DIR, ignore_errors=True)
    os.environ["HULIAN_CACHE"] = str(_CACHE_DIR)


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test builds the tables it reads into a cache of its own (two tests' runs may have
    one id and lines of one size)."""
    monkeypatch.setenv("HULIAN_CACHE", str(tmp_path_factory.mktemp("cache")))


class Receiver:
    """What a webhook receiver was sent (`bodies`, `hits`), and how it answers: the first
    `fail_first` requests with `status`, each after `delay_s`."""

    def __init__(self, fail_first: int = 0, status: int = 500, delay_s: float = 0.0):
        self.fail_first = fail_first
        self.status = status
        self.delay_s = delay_s
        self.bodies: list[dict[str, Any]] = []
        self.hits = 0
        self.lock = threading.Lock()  # the server answers each request in its own thread


@contextmanager
def webhook_receiver(state: Receiver) -> Iterator[str]:
    """A webhook receiver on 127.0.0.1 answering as `state` says; its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            with state.lock:
                state.hits += 1
                failing = state.hits <= state.fail_first
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.delay_s:
                time.sleep(state.delay_s)
            if failing:
                self.send_response(state.status)
                self.end_headers()
                return
            with state.lock:
                state.bodies.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with serve_handler(Handler) as url:
        yield f"{url}/hook"


@pytest.fixture
def webhook() -> Iterator[tuple[list[dict[str, Any]], str]]:
    """A webhook receiver on 127.0.0.1: the JSON bodies it was sent, and its URL."""
    state = Receiver()
    with webhook_receiver(state) as url:
        yield state.bodies, url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files with slow tests (whole-lab crawls, browsers, servers) first, each file's
    tests in their own order: `make test` hands whole files to its two processes in this
    order, and a long file handed out last would leave one process alone with it at the end
    while the other has nothing left (in alphabetical order test_zoo.py, ~35 s, came last)."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
