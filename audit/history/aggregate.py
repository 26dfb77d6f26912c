"""A run's aggregates: the outcome counts of each edge, the requirement statuses per source
platform and over the whole run, and the failed findings keyed by what they are about. One
implementation (`Aggregator`), fed one record at a time, for everything that aggregates a
run: the history store when it records a run (store.ingest streams the records through it
and keeps the result in `run_aggregates`), the store's backfill of runs recorded before it
kept them (from its own rows), and `hulian diff` of records in memory (diff.summarise). The
static site reads the stored rows: a run of 10,000 observations is a few hundred kB of JSON
instead of 40,000 verdict rows.

Pure: no I/O. The stored form is JSON (`records` / `from_records`), checked when it is read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from audit.judge.evaluate import RequirementTally
from audit.model import Status, Verdict
from audit.web.urls import host_of

EdgeKey = tuple[str, str, str]  # source, surface, target (platform id, else host)
FindingKey = tuple[str, str, str, str]  # rule, source, surface, target
# The stored form's version: a row of another version is computed again from the run's rows.
VERSION = 1


def edge_target(target_platform: str | None, target_url: str | None) -> str:
    """What an edge points at: the target platform, else the URL's host (else the URL)."""
    return target_platform or host_of(target_url or "") or target_url or ""


def finding_entry(rule_id: str, source: str, surface: str | None, target_platform: str | None,
                  target_url: str | None, severity: str, outcome: str | None,
                  reason_zh: str, reason_en: str) -> tuple[FindingKey, dict[str, Any]]:
    """A failed verdict as a diff lists it, keyed by what it is about: observation ids (and
    so observation-rule verdict ids) change from run to run; what a finding is about does
    not."""
    target = edge_target(target_platform, target_url)
    key = (rule_id, source, surface or "", target)
    return key, {"rule_id": rule_id, "source": source, "surface": surface or "",
                 "target": target, "severity": severity, "outcome": outcome,
                 "reason": {"zh": reason_zh, "en": reason_en}}


def frameworks_of(requirement_keys: Iterable[str]) -> set[str]:
    """The frameworks of requirement keys ('miit-2021/scenario-1' -> 'miit-2021')."""
    return {k.split("/", 1)[0] for k in requirement_keys if "/" in k}


@dataclass
class RunAggregates:
    """What the aggregator made of a run. `observations` and `failed` count what went in:
    a stored row whose counts disagree with the run's row is damaged."""

    edges: dict[EdgeKey, Counter[str]]
    requirements: dict[str, dict[str, str]]  # source platform -> requirement -> status
    run_requirements: dict[str, str]  # requirement -> status over the whole run
    findings: dict[FindingKey, dict[str, Any]]  # of each key, the failed verdict of largest id
    observations: int
    failed: int

    @property
    def frameworks(self) -> set[str]:
        """The frameworks the run's verdicts cite."""
        return frameworks_of(self.run_requirements)

    def records(self) -> tuple[dict[str, Any], list[Any]]:
        """The stored form: the summary (small: what a site snapshot needs) and the findings
        (larger: what a diff lists), kept apart so a reader of one skips the other."""
        summary = {"version": VERSION, "observations": self.observations,
                   "failed": self.failed,
                   "edges": [[*key, dict(counts)] for key, counts in self.edges.items()],
                   "requirements": self.requirements,
                   "run_requirements": self.run_requirements}
        return summary, [[list(key), entry] for key, entry in self.findings.items()]


def summary_from_record(record: Any) -> tuple[dict[EdgeKey, Counter[str]],
                                              dict[str, dict[str, str]], dict[str, str],
                                              int, int]:
    """(edges, requirements per platform, requirements of the run, observations, failed)
    of a stored summary. ValueError when it is not one of this version's."""
    if not isinstance(record, dict) or record.get("version") != VERSION:
        raise ValueError(f"not a version-{VERSION} summary")
    try:
        edges = {(str(s), str(sf), str(t)): Counter({str(o): int(n) for o, n in c.items()})
                 for s, sf, t, c in record["edges"]}
        requirements = {str(p): {str(k): str(v) for k, v in statuses.items()}
                        for p, statuses in record["requirements"].items()}
        whole = {str(k): str(v) for k, v in record["run_requirements"].items()}
        return edges, requirements, whole, int(record["observations"]), int(record["failed"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"a damaged summary: {exc!r}") from None


# An entry's fields (finding_entry's) and what each must be: a diff, `hulian diff` and the
# site read them all.
_ENTRY_TEXT = ("rule_id", "source", "surface", "target", "severity")


def _check_entry(entry: Any) -> dict[str, Any]:
    """A stored finding entry as finding_entry makes it; TypeError naming what is wrong."""
    if not isinstance(entry, dict):
        raise TypeError("an entry is not an object")
    for name in _ENTRY_TEXT:
        if not isinstance(entry.get(name), str):
            raise TypeError(f"an entry's {name!r} is not a string: {entry.get(name)!r}")
    if "outcome" not in entry or not isinstance(entry["outcome"], str | None):
        raise TypeError(f"an entry's 'outcome' is missing or not a string: "
                        f"{entry.get('outcome')!r}")
    reason = entry.get("reason")
    if not (isinstance(reason, dict) and isinstance(reason.get("zh"), str)
            and isinstance(reason.get("en"), str)):
        raise TypeError(f"an entry's 'reason' is not {{zh, en}} texts: {reason!r}")
    return entry


def findings_from_record(record: Any) -> dict[FindingKey, dict[str, Any]]:
    """The findings of a stored record. ValueError when it is not a list of [key, entry]
    whose entries have finding_entry's fields."""
    if not isinstance(record, list):
        raise ValueError("the findings are not a list")
    try:
        findings: dict[FindingKey, dict[str, Any]] = {}
        for key, entry in record:
            rule, source, surface, target = (str(k) for k in key)
            findings[(rule, source, surface, target)] = _check_entry(entry)
        return findings
    except (TypeError, ValueError) as exc:
        raise ValueError(f"damaged findings: {exc!r}") from None


class Aggregator:
    """Fed a run's observations and verdicts one at a time (any order: the result does not
    depend on it), makes its RunAggregates. Edges are counted by the raw target and folded
    to hosts at the end (a run has far fewer distinct URLs than observations)."""

    __slots__ = ("_edges", "_failed", "_findings", "_observations", "_tallies", "_whole")

    def __init__(self) -> None:
        self._edges: Counter[tuple[str, str, str | None, str | None, str]] = Counter()
        self._tallies: dict[str, RequirementTally] = {}
        self._whole = RequirementTally()
        self._findings: dict[FindingKey, tuple[str, dict[str, Any]]] = {}
        self._observations = 0
        self._failed = 0

    def observation(self, source: str, surface: str, target_platform: str | None,
                    target_url: str | None, outcome: str, count: int = 1) -> None:
        """An observation (count: that many alike, as a table's group counts them)."""
        self._observations += count
        self._edges[(source, surface, target_platform,
                     None if target_platform else target_url, outcome)] += count

    def source(self, source: str) -> None:
        """A source platform with verdicts, whether or not they name requirements (`verdict`
        registers its source; a table's reduction of the verdicts names only those that
        do)."""
        if source not in self._tallies:
            self._tallies[source] = RequirementTally()

    def verdict(self, verdict_id: str, source: str, requirements: Iterable[str], status: str,
                observation_id: str | None) -> None:
        """Any verdict (its requirements as it recorded them; status: a Status or its
        value)."""
        tally = self._tallies.get(source)
        if tally is None:
            tally = self._tallies[source] = RequirementTally()
        requirements = list(requirements)
        tally.add(requirements, status, observation_id, verdict_id)
        self._whole.add(requirements, status, observation_id, verdict_id)

    def failed(self, verdict_id: str, rule_id: str, source: str, surface: str | None,
               target_platform: str | None, target_url: str | None, severity: str,
               outcome: str | None, reason_zh: str, reason_en: str, count: int = 1) -> None:
        """A failed verdict, besides `verdict`: of the findings about the same thing, the
        one of the largest id is kept (the last in id order, as the store lists them).
        count: that many failed verdicts about the same target URL, of which this is the
        one of the largest id (a table's group)."""
        self._failed += count
        key, entry = finding_entry(rule_id, source, surface, target_platform, target_url,
                                   severity, outcome, reason_zh, reason_en)
        kept = self._findings.get(key)
        if kept is None or kept[0] < verdict_id:
            self._findings[key] = (verdict_id, entry)

    def add(self, verdict: Verdict) -> None:
        """A verdict as a model object: `verdict`, and `failed` when it failed."""
        v = verdict
        self.verdict(v.id, v.source, v.requirements, v.status, v.observation_id)
        if v.status is Status.FAIL:
            self.failed(v.id, v.rule_id, v.source, v.surface.value if v.surface else None,
                        v.target_platform, v.target_url, v.severity.value,
                        v.outcome.value if v.outcome else None, v.reason.zh, v.reason.en)

    def result(self) -> RunAggregates:
        edges: dict[EdgeKey, Counter[str]] = {}
        for (source, surface, platform, url, outcome), n in sorted(
                self._edges.items(), key=lambda kv: tuple(x or "" for x in kv[0])):
            key = (source, surface, edge_target(platform, url))
            edges.setdefault(key, Counter())[outcome] += n
        # Sorted throughout: the same run gives the same aggregates (and the same stored
        # bytes) whichever order its records came in (a bundle's, the store's).
        requirements = {source: {k: str(s) for k, s in sorted(tally.statuses().items())}
                        for source, tally in sorted(self._tallies.items())}
        return RunAggregates(
            edges=edges, requirements=requirements,
            run_requirements={k: str(s) for k, s in sorted(self._whole.statuses().items())},
            findings={k: entry for k, (_id, entry) in sorted(self._findings.items())},
            observations=self._observations, failed=self._failed)
