"""A run's findings (audit.report.data builds them) and the store that keeps them off the heap.

A report lists every finding in findings.json and findings.csv, and its page shows groups and
examples of them (audit/report/groups.py). A finding with its hops and reasons is ~4.6 KB of
Python objects: the 100,000-observation benchmark run has 39,081 of them, a million
observations ~400,000, nearly 2 GB if held. `Findings` writes each finding, as it is made, to
an anonymous temporary file (~1.6 KB a finding) and hands each one's sort key to DuckDB
(audit.evidence.sql.KeySort), which sorts them beside the heap; then it keeps 24 bytes a
finding: where it is in the file, in report order, and its place in that order. Reading them
is a pass over the file (~10 us a finding), which each of the report's few uses makes once.

Why a file of pickles rather than a DuckDB table: the findings are Python objects made for the
templates, and what the report does with them is to walk them in order; a table would mean a
column per field and a second mapping between the two (a SQL translation of nothing). The
file is audit/report/spill.py's, which the review queue uses alike.
"""

from __future__ import annotations

import pickle
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import NamedTuple, overload

from audit.evidence.sql import KeySort
from audit.judge.outcomes import RANK
from audit.model import Outcome, Severity, Text
from audit.report.spill import SpillFile, item_or_slice

# Finding statuses, worst first; a link's status is the worst of its rules' answers.
FINDING_STATUSES = ("fail", "exempt", "inconclusive")
STATUS_RANK = {"fail": 3, "exempt": 2, "pass": 1, "inconclusive": 0}
# By text (a Severity is its text): Severity.rank is slow in hot loops.
SEVERITY_RANK: dict[str, int] = {s.value: i for i, s in enumerate(Severity)}


def status_rank(status: str) -> int:
    """A finding status's place in FINDING_STATUSES' order (higher is worse)."""
    return STATUS_RANK[status]


SortKey = tuple[int, int, int, str, str, str]
SORT_KEY_KINDS = ("int", "int", "int", "text", "text", "text")  # KeySort's kinds of a SortKey


class FindingHop(NamedTuple):
    """One hop of a finding's chain: the fields of audit.model.Hop, in its order (read from
    the bundle without building a pydantic model per hop)."""

    url: str
    status: int | None = None
    location: str | None = None
    via: str = "start"
    elapsed_ms: float | None = None
    body_sha256: str | None = None
    warc_record_id: str | None = None


@dataclass(slots=True)
class Finding:
    id: str
    observation_id: str
    status: str
    severity: Severity | None
    source: str
    source_company: str | None
    surface: str
    target_url: str
    target_platform: str | None
    target_company: str | None
    outcome: Outcome
    block_reason: str | None
    block_reason_text: str | None  # the page's own sentence, when no reason slug fits
    rules: list[str]
    requirements: list[str]
    reasons: list[Text]
    exemptions: list[str]
    hops: list[FindingHop]
    final_url: str | None
    signature: str | None
    title: str | None
    excerpt: str | None
    control_ok: bool | None
    failure: str | None
    evidence: list[str]

    @property
    def sort_key(self) -> SortKey:
        return sort_key(self.status, self.severity, self.outcome, self.source, self.surface,
                        self.target_url)


def sort_key(status: str, severity: str | None, outcome: str, source: str, surface: str,
             target_url: str) -> SortKey:
    """Report order: worst status, then worst severity, then worst outcome first; then by
    source, surface and URL."""
    return (-STATUS_RANK[status], -(SEVERITY_RANK[severity] if severity else -1),
            -RANK[outcome], source, surface, target_url)


_FIELDS = [f.name for f in fields(Finding)]
_REASONS, _HOPS = _FIELDS.index("reasons"), _FIELDS.index("hops")
_SEVERITY, _OUTCOME = _FIELDS.index("severity"), _FIELDS.index("outcome")
_KEY_FIELDS = [_FIELDS.index(name) for name in ("status", "severity", "outcome", "source",
                                                "surface", "target_url")]
_SEVERITIES = {s.value: s for s in Severity}
_OUTCOMES = {o.value: o for o in Outcome}

# A finding's plain values (FindingValues): Finding's fields in order, with the reasons as
# (zh, en) pairs, the hops as tuples, the severity and outcome as their texts. What the store
# keeps (a pickle of them: pickling the dataclass, its NamedTuples and its pydantic Texts
# costs several times more to read back), and what a large run's findings are made as: the
# report makes a Finding only of those it reads back.
FindingValues = list[object]


def finding_values(finding: Finding) -> FindingValues:
    values: FindingValues = [getattr(finding, name) for name in _FIELDS]
    values[_REASONS] = [(r.zh, r.en) for r in finding.reasons]
    values[_HOPS] = [tuple(h) for h in finding.hops]
    values[_SEVERITY] = finding.severity.value if finding.severity else None
    values[_OUTCOME] = finding.outcome.value
    return values


class Findings(Sequence[Finding]):
    """Findings in report order — worst first (Finding.sort_key), then in the order they were
    added (the order measured) — stored in a temporary file.

    `add` every finding, then read: the first read sorts the index (adding after it is an
    error). Iterating reads the file in report order; `findings[i]` and slices read what they
    ask for. `statuses` counts the findings by status as they are added."""

    def __init__(self, findings: Iterable[Finding] = ()) -> None:
        self._file = SpillFile("the report's findings")
        # While findings are added: each one's sort key, which DuckDB sorts (KeySort: a few
        # MB of Python objects at any size, where Python's own sort held ~220 bytes a finding
        # beside its URL), and where its pickle is, in the order added. Then, in report
        # order, the arrays alone.
        self._keys: KeySort | None = KeySort(SORT_KEY_KINDS)
        self._offsets = array("q")
        self._lengths = array("q")
        self._positions = array("q")
        self._texts: dict[tuple[str, str], Text] = {}  # each distinct reason made once
        self.statuses: Counter[str] = Counter()
        for finding in findings:
            self.add(finding)

    def add(self, finding: Finding) -> None:
        self.add_values(finding_values(finding))

    def add_values(self, values: FindingValues) -> None:
        """A finding given as its plain values (finding_values' form)."""
        if self._keys is None:
            raise RuntimeError("findings are added before they are read")
        blob = pickle.dumps(values, pickle.HIGHEST_PROTOCOL)
        self._offsets.append(self._file.append(blob))
        self._keys.add(sort_key(*(values[i] for i in _KEY_FIELDS)))  # type: ignore[arg-type]
        self._lengths.append(len(blob))
        self.statuses[values[_KEY_FIELDS[0]]] += 1  # type: ignore[index]

    def _sealed(self) -> None:
        if self._keys is None:
            return
        self._file.flush()
        order = self._keys.order()  # equal keys stay in the order added
        self._keys = None
        offsets, lengths = self._offsets, self._lengths
        self._offsets = array("q", (offsets[added] for added in order))
        self._lengths = array("q", (lengths[added] for added in order))
        self._positions = array("q", bytes(8 * len(order)))
        for position, added in enumerate(order):
            self._positions[added] = position

    def positions(self) -> array[int]:
        """Where each finding is in report order, by the order they were added (from 0): a
        caller that kept something of the findings as they were added puts it in report
        order with this, without reading them again."""
        self._sealed()
        return self._positions

    def __len__(self) -> int:
        return len(self._keys) if self._keys is not None else len(self._offsets)

    @overload
    def __getitem__(self, index: int) -> Finding: ...

    @overload
    def __getitem__(self, index: slice) -> list[Finding]: ...

    def __getitem__(self, index: int | slice) -> Finding | list[Finding]:
        self._sealed()
        return item_or_slice(index, len(self), self._read)

    def __iter__(self) -> Iterator[Finding]:
        """Every finding in report order, a read of the file each (report order is not the
        file's: a finding is written when its observation is read)."""
        self._sealed()
        read = self._file.read
        for offset, length in zip(self._offsets, self._lengths, strict=True):
            yield self._decode(read(offset, length))

    def _read(self, position: int) -> Finding:
        return self._decode(self._file.read(self._offsets[position], self._lengths[position]))

    def _decode(self, blob: bytes) -> Finding:
        row = pickle.loads(blob)  # this process's own file, written by add()
        texts = self._texts
        reasons = []
        for pair in row[_REASONS]:
            text = texts.get(pair)
            if text is None:
                text = texts[pair] = Text.model_construct(zh=pair[0], en=pair[1])
            reasons.append(text)
        row[_REASONS] = reasons
        row[_HOPS] = [FindingHop(*h) for h in row[_HOPS]]
        row[_SEVERITY] = _SEVERITIES[row[_SEVERITY]] if row[_SEVERITY] else None
        row[_OUTCOME] = _OUTCOMES[row[_OUTCOME]]
        return Finding(*row)

    def close(self) -> None:
        if self._keys is not None:
            self._keys.close()
        self._file.close()

    def __repr__(self) -> str:
        return f"<Findings: {len(self)}>"
