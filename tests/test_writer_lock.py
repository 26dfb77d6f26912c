"""One writer per bundle, with real processes: a run that is still live refuses a resume, an
evaluation and a report (exit 5, naming the holder); a run killed with SIGKILL leaves no
stale lock; two resumes started together are one writer (the other exits 5), so no probe is
observed twice and the history store gets the run once; a child process lent the lock can
write, a stranger cannot."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.errors import EXIT_LOCKED
from audit.evidence.bundle import MANIFEST, OBSERVATIONS, PROBES, Bundle, verify
from audit.evidence.lock import BUNDLE_LOCK, bundle_lock, child_env, read_holder
from tests.localsite import forum_policies

TARGETS = 3


@dataclass
class SlowSite:
    """A forum whose seed page links TARGETS pages that answer only once `gate` is set: a
    run against it stays live (holding its lock) for as long as the test wants."""

    url: str
    gate: threading.Event


@pytest.fixture
def site() -> Iterator[SlowSite]:
    gate = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.endswith("/post/1"):
                # Outbound: links to another site's pages (same-site links are no probes).
                body = "".join(f'<a href="http://shop.test/t/{i}">链接 {i}</a>'
                               for i in range(TARGETS)).encode()
            elif "/t/" in self.path:
                gate.wait(90)
                body = b"<html><title>target</title><p>content</p></html>"
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield SlowSite(f"http://127.0.0.1:{server.server_address[1]}", gate)
    finally:
        gate.set()
        server.shutdown()
        server.server_close()


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HULIAN_DB": f"sqlite:///{tmp_path / 'history.db'}",
            "HULIAN_POLICIES": str(forum_policies(tmp_path / "policies"))}


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    # Its own session, so that a SIGKILL reaches the recorder and parse workers as well.
    return subprocess.Popen([sys.executable, "-m", "audit.cli", *args], env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _start_run(tmp_path: Path, site: SlowSite) -> tuple[subprocess.Popen[str], Path]:
    process = _start(tmp_path, "run", "--source", "testforum", "--seed",
                     "testforum:post:http://forum.test/post/1", "--route",
                     f"*.test={site.url}", "--out", str(tmp_path / "runs"), "--run-id", "r",
                     "--timeout", "60", "--robots", "ignore", "--report-format", "", "--json")
    return process, tmp_path / "runs" / "r"


def _wait(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _lines(file: Path) -> int:
    return file.read_bytes().count(b"\n") if file.exists() else 0


def _holder_pid(run: Path) -> object:
    return read_holder(run / BUNDLE_LOCK).get("pid") if (run / BUNDLE_LOCK).exists() else None


def _kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def test_a_live_run_refuses_a_resume_an_evaluation_and_a_report(
        tmp_path: Path, site: SlowSite) -> None:
    live, run = _start_run(tmp_path, site)
    try:
        # Planned and following its links (which do not answer yet): live, holding the lock.
        _wait(lambda: _lines(run / PROBES) == TARGETS and _holder_pid(run) == live.pid,
              "the run to plan its probes")
        manifest_before = (run / MANIFEST).read_bytes()

        resume = subprocess.run(
            [sys.executable, "-m", "audit.cli", "run", "--resume", str(run),
             "--report-format", ""], env=_env(tmp_path), capture_output=True, text=True,
            timeout=60, check=False)
        assert resume.returncode == EXIT_LOCKED, resume.stderr[-2000:]
        assert "locked by another writer" in resume.stderr
        assert f"pid {live.pid}" in resume.stderr  # the holder, by pid, command and time
        assert "run --source testforum" in resume.stderr
        assert "since 20" in resume.stderr
        assert "Traceback" not in resume.stderr

        runner = CliRunner()
        for command in (["evaluate", str(run)], ["report", str(run), "--format", "json"]):
            result = runner.invoke(app, command, env={"COLUMNS": "500"})
            assert result.exit_code == EXIT_LOCKED, (command, result.output)
            assert f"pid {live.pid}" in result.stderr
        # The refused writers wrote nothing.
        assert _lines(run / OBSERVATIONS) == 0
        assert not (run / "findings.json").exists()
        assert (run / MANIFEST).read_bytes() == manifest_before

        site.gate.set()
        _, err = live.communicate(timeout=120)
        assert live.returncode == 0, err[-3000:]
    finally:
        _kill(live)
    observed = [o.probe_id for o in Bundle(run).observations()]
    assert len(observed) == len(set(observed)) == TARGETS
    assert verify(run).intact


def test_a_killed_run_leaves_no_stale_lock_and_two_resumes_are_one_writer(
        tmp_path: Path, site: SlowSite) -> None:
    first, run = _start_run(tmp_path, site)
    try:
        _wait(lambda: _lines(run / PROBES) == TARGETS and _holder_pid(run) == first.pid,
              "the run to plan its probes")
    finally:
        _kill(first)  # SIGKILL: nothing measured, nothing sealed, and no unlock either
    assert _lines(run / OBSERVATIONS) == 0

    resumes = [_start(tmp_path, "run", "--resume", str(run), "--report-format", "", "--json")
               for _ in range(2)]
    try:
        # One of them holds the lock (and waits for the targets); the other is refused.
        _wait(lambda: any(p.poll() is not None for p in resumes), "a resume to be refused")
        refused = next(p for p in resumes if p.poll() is not None)
        writer = next(p for p in resumes if p is not refused)
        _, refused_err = refused.communicate()
        assert refused.returncode == EXIT_LOCKED, refused_err[-3000:]
        assert f"pid {writer.pid}" in refused_err
        assert writer.poll() is None
        site.gate.set()
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err[-3000:]
    finally:
        for process in resumes:
            _kill(process)
    for text in (refused_err, err):
        assert "Traceback" not in text
        assert "IntegrityError" not in text
    assert json.loads(out)["observations"] == TARGETS
    observed = [o.probe_id for o in Bundle(run).observations()]
    assert sorted(observed) == sorted({p.id for p in Bundle(run).probes()})  # each once
    assert verify(run).intact
    shown = CliRunner().invoke(app, ["runs", "show", "r", "--json", "--db",
                                     str(tmp_path / "history.db")])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["observations"] == TARGETS


CHILD = """
import sys
from pathlib import Path
from audit.evidence.lock import Locked, bundle_lock
try:
    with bundle_lock(Path(sys.argv[1]), "child"):
        print("wrote")
except Locked as exc:
    print(exc)
    sys.exit(3)
"""


def test_a_child_lent_the_lock_may_write_and_a_stranger_may_not(tmp_path: Path) -> None:
    """How `hulian capture record` lets its mitmdump addon write the bundle it holds."""
    run = tmp_path / "run"
    run.mkdir()

    def child(env: dict[str, str] | None, fds: tuple[int, ...] = ()) -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-c", CHILD, str(run)], env=env, pass_fds=fds,
                              capture_output=True, text=True, timeout=60, check=False)
        return done.returncode, done.stdout

    with bundle_lock(run, "capture record") as fd:
        assert read_holder(run / BUNDLE_LOCK)["pid"] == os.getpid()
        assert child(child_env(fd), (fd,)) == (0, "wrote\n")
        code, said = child(None)
        assert code == 3
        assert f"pid {os.getpid()}" in said and "capture record" in said
        # The child's release did not release the lender's lock.
        assert child(None)[0] == 3
    assert child(None) == (0, "wrote\n")  # released when the holder let go


def test_a_refused_writer_waits_for_the_holder_to_name_itself(tmp_path: Path) -> None:
    # A holder locks the file first and writes who it is after; the file may still name the
    # killed writer before it. A writer refused in between reads the file again, for up to
    # HOLDER_WAIT, until it names a living process: it says whom it waits for.
    import fcntl
    import json
    import os
    import socket
    import threading
    import time

    from audit.evidence.lock import Locked, exclusive

    lock_file = tmp_path / ".hulian.lock"
    lock_file.write_text(json.dumps({"pid": 2**22 + 12345, "host": socket.gethostname()}))
    fd = os.open(lock_file, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a holder that has not written itself

    def name_itself() -> None:
        time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
                  .encode(), 0)

    namer = threading.Thread(target=name_itself)
    namer.start()
    try:
        with pytest.raises(Locked, match=f"pid {os.getpid()} on "), exclusive(lock_file, "t"):
            pass
    finally:
        namer.join()
        os.close(fd)
