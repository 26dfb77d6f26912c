"""What a run amounts to: counts of outcomes and verdicts, the worst failure, the review
queue's weight, and the CI gate (`--fail-on`). Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from audit.model import Outcome, Severity, Status, Verdict


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
        not pass while a page nobody could read stands where a link should open. Or a seed
        page was not read, or not in full (a seed error or warning): its links were never
        judged, and a platform that times out, refuses or overloads the auditor's seed pages
        must not get a pass for the links it hid."""
        failed, review = self.worst_failed(), self.worst_review()
        if failed is not None and failed.rank >= threshold.rank:
            return f"a {failed.value} verdict failed (--fail-on {threshold.value}) / 存在不合规项"
        if review is not None and review.rank >= threshold.rank:
            return (f"{self.outcomes.get('unrecognized', 0)} link(s) ended on a page hulian "
                    f"cannot read, under a {review.value} rule (--fail-on {threshold.value}): "
                    "see the review queue / 存在待人工复核的链接")
        if self.seed_errors:
            first = self.seed_errors[0]
            return (f"{len(self.seed_errors)} seed page(s) not read in full, so some or all "
                    f"of their links were not judged (--fail-on {threshold.value}), first "
                    f"{first['url']} ({first['error']}) / 有种子页面未能完整读取，部分或全部链接"
                    "未经检测")
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


# Verdicts counted by what a run's summary reports of them (a run's verdicts are written as
# they are judged, never held: these counts are what is kept).
VerdictCounts = Counter[tuple[Status, Severity, Outcome | None]]


def counted(verdicts: Iterable[Verdict], counts: VerdictCounts) -> Iterator[Verdict]:
    """The verdicts, each counted into `counts` as it goes by."""
    for verdict in verdicts:
        counts[(verdict.status, verdict.severity, verdict.outcome)] += 1
        yield verdict


def summarise(summary: Summary, counts: VerdictCounts) -> None:
    for (status, severity, outcome), n in counts.items():
        summary.verdicts[status.value] += n
        if status is Status.FAIL:
            summary.failed_by_severity[severity.value] += n
        elif status is Status.INCONCLUSIVE and outcome is Outcome.UNRECOGNIZED:
            summary.review_by_severity[severity.value] += n
