"""One audit run, end to end: plan -> crawl -> classify -> evaluate -> graph -> report, into
runs/<run-id>/. Also starts and stops the lab for `--lab` runs (in a child process, so the
lab's server does not compete with the crawler for the interpreter lock)."""

from __future__ import annotations

import ctypes
import json
import logging
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.evidence.bundle import VERDICTS, Bundle, BundleWriter
from audit.judge.evaluate import evaluate
from audit.model import Outcome, Severity, Status, Verdict
from audit.policy.catalog import Catalog, load_catalog, policy_dirs
from audit.report.review import REVIEW_CSV, review_of, write_review_csv

logger = logging.getLogger(__name__)

RUN_POLICIES = "policies"  # a run's own policy directory (e.g. the lab's platforms)


class LabError(Exception):
    """The lab could not be started."""


@dataclass
class LabProcess:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _die_with_parent() -> None:
    """In the lab child: get SIGTERM when the auditing process dies, even by SIGKILL, so no
    orphaned lab keeps its port (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)
    except OSError:
        pass


@contextmanager
def lab_process(scenario: Path | None = None, port: int = 0) -> Iterator[LabProcess]:
    """Start `hulian lab serve` in a child process on a free loopback port."""
    command = [sys.executable, "-m", "audit.cli", "lab", "serve", "--port", str(port)]
    if scenario is not None:
        command += ["--scenario", str(scenario)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               preexec_fn=_die_with_parent)
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        url = str(json.loads(line)["url"])
    except (ValueError, KeyError):
        process.kill()
        raise LabError(f"the lab did not start (said {line[:200]!r})") from None
    lab = LabProcess(url, process)
    try:
        yield lab
    finally:
        lab.stop()


def catalog_for_run(run: Path, extra: list[Path] | None = None) -> Catalog:
    """The shipped policies, the user's, and the run's own (if it carries any)."""
    dirs = policy_dirs(extra or [])
    own = run / RUN_POLICIES
    if own.is_dir():
        dirs.append(own)
    return load_catalog(dirs)


@dataclass
class Summary:
    run_id: str
    path: Path
    planned: int = 0
    observations: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    failed_by_severity: Counter[str] = field(default_factory=Counter)
    # Verdicts left inconclusive because the link ended on a page nobody has read yet
    # (outcome `unrecognized`), by the rule's severity: the review queue's weight.
    review_by_severity: Counter[str] = field(default_factory=Counter)
    seed_errors: list[dict[str, str]] = field(default_factory=list)

    def worst_failed(self) -> Severity | None:
        return _worst(self.failed_by_severity)

    def worst_review(self) -> Severity | None:
        return _worst(self.review_by_severity)

    def gate(self, threshold: Severity) -> str | None:
        """Why `--fail-on threshold` fails the run, or None. A verdict of that severity or
        worse failed; or one was left inconclusive by an `unrecognized` page: a CI gate must
        not pass while a page nobody could read stands where a link should open."""
        failed, review = self.worst_failed(), self.worst_review()
        if failed is not None and failed.rank >= threshold.rank:
            return f"a {failed.value} verdict failed (--fail-on {threshold.value}) / 存在不合规项"
        if review is not None and review.rank >= threshold.rank:
            return (f"{self.outcomes.get('unrecognized', 0)} link(s) ended on a page hulian "
                    f"cannot read, under a {review.value} rule (--fail-on {threshold.value}): "
                    "see the review queue / 存在待人工复核的链接")
        return None

    def as_dict(self) -> dict[str, object]:
        worst = self.worst_failed()
        review = self.worst_review()
        return {"run_id": self.run_id, "path": str(self.path), "planned": self.planned,
                "observations": self.observations, "outcomes": dict(self.outcomes),
                "verdicts": dict(self.verdicts),
                "failed_by_severity": dict(self.failed_by_severity),
                "worst_failed": worst.value if worst else None,
                "review": self.outcomes.get("unrecognized", 0),
                "review_by_severity": dict(self.review_by_severity),
                "worst_review": review.value if review else None,
                "seed_errors": self.seed_errors}


def _worst(counts: Counter[str]) -> Severity | None:
    present = [Severity(s) for s, n in counts.items() if n]
    return max(present, key=lambda s: s.rank) if present else None


def judge(run: Path, catalog: Catalog) -> list[Verdict]:
    """Every verdict of a bundle: the rules per observation, then the cross-target rules
    (non-discrimination, self-preferencing) over the whole run."""
    from audit.judge.cross import evaluate_graph_rules

    verdicts = list(evaluate(Bundle(run).observations(), catalog))
    verdicts += evaluate_graph_rules(Bundle(run).observations(), catalog)
    return verdicts


def summarise(summary: Summary, verdicts: list[Verdict]) -> None:
    for verdict in verdicts:
        summary.verdicts[verdict.status.value] += 1
        if verdict.status is Status.FAIL:
            summary.failed_by_severity[verdict.severity.value] += 1
        elif verdict.status is Status.INCONCLUSIVE and verdict.outcome is Outcome.UNRECOGNIZED:
            summary.review_by_severity[verdict.severity.value] += 1


def finish_run(writer: BundleWriter, catalog: Catalog, summary: Summary,
               after: Callable[[Path, Catalog, list[Verdict]], Any] | None = None) -> None:
    """Close the crawl's files, evaluate, run the follow-up steps (graph, report) and seal."""
    writer.close()
    verdicts = judge(writer.path, catalog)
    (writer.path / VERDICTS).unlink(missing_ok=True)  # a resumed run is judged afresh
    for verdict in verdicts:
        writer.add_verdict(verdict)
    writer.close()
    summarise(summary, verdicts)
    # The review queue is written whatever reports were asked for (`hulian report` writes it
    # again with them).
    write_review_csv(review_of(writer.path), writer.path / REVIEW_CSV)
    if after is not None:
        after(writer.path, catalog, verdicts)
    writer.manifest.config["summary"] = summary.as_dict()
    writer.finish()
