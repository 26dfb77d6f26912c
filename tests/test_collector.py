"""The cyclic collector is paused while a stage builds the objects that live until it ends
(audit.collector): judging, the graph's outputs, a report; and runs again after."""

from __future__ import annotations

import gc
import io
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from audit import collector
from audit.collector import collector_paused
from audit.history.rundata import from_bundle
from audit.history.store import record_run
from audit.judge.verdicts import write_verdicts
from audit.pipeline import write_graph_outputs
from audit.policy.catalog import catalog_for_run
from audit.report.render import write_reports
from tests.test_columnar_judging import lab_run  # noqa: F401  (the lab's bundle, shared)

# Passes started before a stage pauses the collector (its arguments, its context manager)
# and after.
ENTERING = 20


@pytest.fixture
def passes() -> Iterator[Callable[[Callable[[], Any]], int]]:
    """Counts the collector's passes started while a call runs, with the collector set to
    pass at every allocation (so that a stage not paused starts thousands)."""
    started = [0]

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] += 1

    def during(call: Callable[[], Any]) -> int:
        before = started[0]
        call()
        return started[0] - before

    thresholds = gc.get_threshold()
    gc.set_threshold(1, 1, 1)
    gc.callbacks.append(record)
    try:
        yield during
    finally:
        gc.callbacks.remove(record)
        gc.set_threshold(*thresholds)


def test_paused_then_running_again_and_nesting() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer stage still holds it
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()


def test_paused_after_an_error_runs_again() -> None:
    with pytest.raises(ValueError, match="a stage failed"), collector_paused():
        raise ValueError("a stage failed")
    assert gc.isenabled()


def test_judging_graph_and_report_start_no_collection(
        lab_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        passes: Callable[[Callable[[], Any]], int]) -> None:
    run = tmp_path / "lab"
    shutil.copytree(lab_run, run)
    catalog = catalog_for_run(run)
    out = io.BytesIO()
    # A few passes at most, as the pause is entered (its context manager is made) and left;
    # a stage not paused starts one at every allocation (thousands).
    assert passes(lambda: write_verdicts(run, catalog, out, None)) <= ENTERING
    assert out.getvalue() == (run / "verdicts.jsonl").read_bytes()
    assert passes(lambda: write_graph_outputs(run, catalog)) <= ENTERING
    assert passes(lambda: write_reports(run, catalog, ["html", "json"], "en",
                                        tmp_path / "reports")) <= ENTERING
    # `hulian diff`'s and the alerts' summaries of a bundle, and recording it in a store.
    assert passes(lambda: from_bundle(run)) <= ENTERING
    assert passes(lambda: record_run(run, catalog,
                                     db_url=f"sqlite:///{tmp_path / 'h.db'}")) <= ENTERING
    assert gc.isenabled()
    # The same stage with a pause that does not pause starts a pass at every allocation.
    monkeypatch.setattr(collector, "gc", SimpleNamespace(
        isenabled=gc.isenabled, disable=lambda: None, enable=gc.enable))
    assert passes(lambda: write_graph_outputs(run, catalog)) > 100 * ENTERING
