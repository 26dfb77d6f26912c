"""`--fail-on`'s decision (audit/judge/summary.py: Summary.gate), case by case."""

from __future__ import annotations

from pathlib import Path

from audit.judge.summary import Summary
from audit.model import Severity


def _summary(**fields: object) -> Summary:
    return Summary(run_id="r", path=Path("r"), **fields)  # type: ignore[arg-type]


def test_a_clean_run_passes() -> None:
    assert _summary().gate(Severity.HIGH) is None


def test_a_failed_verdict_below_the_threshold_passes_and_at_it_fails() -> None:
    summary = _summary()
    summary.failed_by_severity["medium"] += 1
    assert summary.gate(Severity.HIGH) is None
    reason = summary.gate(Severity.MEDIUM)
    assert reason is not None and "medium" in reason


def test_a_seed_page_not_read_fails_the_gate_at_any_threshold() -> None:
    # A platform that times out or refuses the auditor's seed page hides every link on it: no
    # verdict failed because none was made, and the gate must not read that as a pass.
    errors = [{"url": "http://forum.test/spin", "error": "render_timeout"},
              {"url": "http://forum.test/big", "error": "parse_issue:too_many_links"}]
    summary = _summary(seed_errors=errors)
    reason = summary.gate(Severity.CRITICAL)
    assert reason is not None
    assert "2 seed page(s)" in reason and "http://forum.test/spin (render_timeout)" in reason


def test_a_failed_verdict_is_named_before_the_seed_pages() -> None:
    summary = _summary(seed_errors=[{"url": "http://x.test/", "error": "timeout"}])
    summary.failed_by_severity["critical"] += 1
    reason = summary.gate(Severity.HIGH)
    assert reason is not None and reason.startswith("a critical verdict failed")
