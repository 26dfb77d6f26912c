"""The site's build cache and page keys against what can change between two builds (issue
18's review): a run recorded again (`hulian runs import --replace`) is shown as it is now,
its findings included; a build stopped half-way (after rewriting some pages with other
options) leaves nothing the next build keeps by mistake; and a change to the code the
cached entries or the pages are made with (the diff, the aggregates' version, the page
code) reads or renders them again. Each build is compared with a full build into an empty
directory. Real runs: tests/siteruns.py's sealed bundles recorded through the real path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import audit.history.aggregate as aggregate_module
import audit.history.diff as diff_module
import audit.site.read as read_module
from audit.history.store import get_run, open_engine, record_run
from audit.policy.catalog import load_catalog
from audit.site import build as build_module
from audit.site.build import build, templates_digest
from audit.site.read import CACHE_CODE, cache_code
from tests.siteruns import lab_records, run_id, small_history, write_run

RUNS = 3


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    return small_history(tmp_path_factory.mktemp("rebuild"), RUNS)


def _store(history: tuple[Path, list[Path]], tmp_path: Path) -> str:
    target = tmp_path / "history.db"
    target.write_bytes(history[0].read_bytes())
    return f"sqlite:///{target}"


def _tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
            if p.is_file() and p.name != "site-state.json"}


def _findings(out: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(
        (out / "api/v1/findings.json").read_text(encoding="utf-8"))["rows"]
    return rows


def test_a_run_recorded_again_is_shown_as_it_is_now(
        history: tuple[Path, list[Path]], tmp_path: Path) -> None:
    """The latest run recorded again from another bundle: the next build reads it again,
    its snapshot and its failed verdicts (the findings), not the previous build's cache."""
    url = _store(history, tmp_path)
    out = tmp_path / "site"
    build(out, url)
    latest = run_id(RUNS - 1)
    before = _findings(out)
    catalog = load_catalog()
    other = write_run(tmp_path / "again", RUNS - 1, lab_records(catalog, 600, 150), catalog)
    engine = open_engine(url)
    record_run(other, catalog, engine=engine, replace=True)
    row = get_run(engine, latest)
    engine.dispose()
    assert row is not None
    again = build(out, url)
    assert again.read == again.diffed == [latest]
    findings = _findings(out)
    assert len(findings) == row.n_failed and findings != before
    assert {f["run_id"] for f in findings} == {latest}
    full = build(tmp_path / "full", url)
    assert _tree(out) == _tree(tmp_path / "full")
    assert full.read == again.runs


def test_an_interrupted_build_leaves_no_page_the_next_build_keeps(
        history: tuple[Path, list[Path]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Build 1 completes; build 2, with other options (no replay), rewrites some run and
    evidence pages and stops before its end; build 3, with build 1's options, must not keep
    build 2's pages by build 1's keys."""
    url = _store(history, tmp_path)
    out = tmp_path / "site"
    build(out, url)

    class Stopped(Exception):
        pass

    keyed = build_module._Writer.keyed
    rendered: list[str] = []

    def stop_after_two(writer: build_module._Writer, path: str, key: str,
                       files: list[str]) -> None:
        keyed(writer, path, key, files)  # the page has been written
        rendered.append(path)
        if len(rendered) == 2:
            raise Stopped(path)

    with monkeypatch.context() as patch:
        patch.setattr(build_module._Writer, "keyed", stop_after_two)
        with pytest.raises(Stopped):
            build(out, url, publish_replay=False)
    # build 2 did rewrite pages before it stopped (else this test shows nothing)
    full = tmp_path / "full"
    build(full, url)
    assert any((out / "en" / p).read_bytes() != (full / "en" / p).read_bytes()
               for p in rendered)
    third = build(out, url)
    assert not set(rendered) & set(third.skipped)
    assert _tree(out) == _tree(full)
    # the state is whole (written beside its name and renamed), and no partial file stays
    state = json.loads((out / "site-state.json").read_text(encoding="utf-8"))
    assert state["pages"] and not list(out.glob(".site-state.json*"))
    # ... and the build after it keeps every run and evidence page again
    fourth = build(out, url)
    assert len(fourth.skipped) == 2 * RUNS and fourth.written == []


def test_the_cache_follows_the_code_it_was_made_with(
        history: tuple[Path, list[Path]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Another audit/history/diff.py (or aggregates' version): every run's snapshot read
    and every diff computed again, and the site the same as a full build's."""
    url = _store(history, tmp_path)
    out = tmp_path / "site"
    first = build(out, url)
    assert build(out, url).read == []
    diff_py = Path(diff_module.__file__ or "")
    assert diff_py in CACHE_CODE
    digest = read_module._file_digest

    def edited(path: Path) -> str:
        return "edited" if path == diff_py else digest(path)

    code = cache_code()
    monkeypatch.setattr(read_module, "_file_digest", edited)
    assert cache_code() != code
    again = build(out, url)
    assert again.read == first.runs and again.diffed == first.diffed and again.diffed
    assert again.skipped == []  # the run and evidence pages' keys hold the input hashes
    monkeypatch.undo()
    assert cache_code() == code
    monkeypatch.setattr(aggregate_module, "VERSION", aggregate_module.VERSION + 1)
    assert cache_code() != code


def test_the_page_digest_covers_the_code_that_makes_run_and_evidence_pages(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """build.py and replay.py make the run and evidence pages' contexts: a change to either
    renders every page again (the state's digest), like one to the templates."""
    digest = templates_digest()
    read_bytes = Path.read_bytes
    for name in ("build.py", "replay.py", "tables.py"):
        target = Path(build_module.__file__).with_name(name)

        def changed(path: Path, target: Path = target) -> bytes:
            data = read_bytes(path)
            return data + b"\n# changed\n" if path == target else data

        with monkeypatch.context() as patch:
            patch.setattr(Path, "read_bytes", changed)
            assert templates_digest() != digest, name
    assert templates_digest() == digest
