"""What an outcome is worth: its friction, grade, rank and colour, in one table, and the
typical/worst outcome of a set of observations. Pure. Every stage reads outcomes through this
module: the cross-target rules and `hulian diff` (grade), the graph (friction, typical and
worst, edge colours), the report (rank, badge and figure colours).

The table's order is the one documented order of outcomes (docs/graph.md): best to worst for
the user — direct < wrapped < warned < copy_only < stripped < diverted < blocked — then the
outcomes that say nothing about the platform yet: unrecognized (a page nobody has read),
target_down and error (the measurement, not the platform). The declaration order of
`audit.model.Outcome` is not a ranking.

- **friction** (DESIGN.md): the extra user actions needed to reach the target; None where it
  is not attributable to the platform (unrecognized, target_down, error).
- **grade** refines friction for comparisons between targets: friction cannot tell a direct
  link from one routed through the platform's redirector (both 0), yet a search engine that
  links its own forum directly and every rival through its redirector prefers itself. Every
  outcome of infinite friction shares the worst grade (unreachable is unreachable).
- **rank** orders every outcome for "how bad does this look" in a summary of several links
  (a report's matrix cell, a finding's place in the list, a report edge's change): the
  attributable ones in the order above, unrecognized above every one (a cell with a page
  nobody has read must never show as open), target_down and error below every one.
- **colour** fills a badge or a matrix cell and draws a graph edge; **ink** is the text on it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from audit.model import Outcome


@dataclass(frozen=True, slots=True)
class OutcomeFacts:
    friction: float | None
    grade: int | None  # None: not attributable
    rank: int
    colour: str
    ink: str


TABLE: dict[Outcome, OutcomeFacts] = {
    Outcome.DIRECT: OutcomeFacts(0.0, 0, 0, "#2e7d32", "#fff"),
    Outcome.WRAPPED: OutcomeFacts(0.0, 1, 1, "#66bb6a", "#102a12"),
    Outcome.WARNED: OutcomeFacts(1.0, 2, 2, "#f9a825", "#2b1d00"),
    # Dark ink: 5.3:1 on the orange (white had 3:1, under WCAG's 4.5:1 for small text).
    Outcome.COPY_ONLY: OutcomeFacts(2.0, 3, 3, "#ef6c00", "#2b1d00"),
    Outcome.STRIPPED: OutcomeFacts(math.inf, 4, 4, "#c62828", "#fff"),
    Outcome.DIVERTED: OutcomeFacts(math.inf, 4, 5, "#ad1457", "#fff"),
    Outcome.BLOCKED: OutcomeFacts(math.inf, 4, 6, "#7f0000", "#fff"),
    Outcome.UNRECOGNIZED: OutcomeFacts(None, None, 7, "#6a1b9a", "#fff"),
    Outcome.TARGET_DOWN: OutcomeFacts(None, None, -1, "#bdbdbd", "#222"),
    Outcome.ERROR: OutcomeFacts(None, None, -2, "#757575", "#fff"),
}

ORDER: tuple[Outcome, ...] = tuple(TABLE)
# The attributable outcomes, best to worst (typical and worst outcomes are taken in this order).
ATTRIBUTABLE_ORDER: tuple[Outcome, ...] = tuple(o for o in ORDER if TABLE[o].grade is not None)
# The outcomes of a link that opened with no action at all (friction 0): what a platform's
# interception must never read as.
OPEN: frozenset[Outcome] = frozenset(o for o in ORDER if TABLE[o].friction == 0)
FRICTION: dict[Outcome, float | None] = {o: f.friction for o, f in TABLE.items()}
GRADE: dict[Outcome, int] = {o: f.grade for o, f in TABLE.items() if f.grade is not None}
# By value, for records read without building enums (a report reads 100,000 observations).
RANK: dict[str, int] = {o.value: f.rank for o, f in TABLE.items()}
COLOURS: dict[str, str] = {o.value: f.colour for o, f in TABLE.items()}
NEUTRAL_COLOUR = "#616161"  # for a value that is not an outcome
_POSITION = {o: i for i, o in enumerate(ATTRIBUTABLE_ORDER)}


def colour(value: str | None) -> str:
    return COLOURS.get(value or "", NEUTRAL_COLOUR)


def css_rules(also: Mapping[str, str] | None = None) -> str:
    """The `.o-<outcome>` classes of the report's badges and matrix cells, one line each;
    `also`: more classes, each coloured as an outcome (the site's search classes)."""
    colours = {f".o-{o.value}": o.value for o in TABLE} | dict(also or {})
    return "".join(f"{selector} {{ background: {TABLE[Outcome(outcome)].colour}; "
                   f"color: {TABLE[Outcome(outcome)].ink}; }}\n"
                   for selector, outcome in colours.items())


def attributable(outcome: Outcome) -> bool:
    """Whether the outcome says something about the platform (unrecognized, error and
    target_down do not, yet)."""
    return outcome in GRADE


def friction(outcome: Outcome | None) -> float | None:
    return FRICTION.get(outcome) if outcome is not None else None


def worse_of(a: str | None, b: str) -> str:
    """The worse of two outcomes by rank (values, as a report reads them); `a` may be None."""
    return b if a is None or RANK[b] > RANK[a] else a


def worst(outcomes: Iterable[Outcome]) -> Outcome | None:
    """The worst attributable outcome, None if there is none."""
    ranked = [o for o in outcomes if o in _POSITION]
    return max(ranked, key=_POSITION.__getitem__) if ranked else None


def typical(counts: Mapping[Outcome, int]) -> Outcome | None:
    """The median attributable outcome in ATTRIBUTABLE_ORDER (the lower median): at least
    half the links fare this well or better. A median, not a mode, because outcomes are
    ordered and a tie between 'direct' and 'blocked' must not be settled by dictionary order."""
    # Walks the seven attributable outcomes in order (a million-observation run asks this of
    # ~700,000 groups: no sorting per call); most groups have links of one outcome.
    if len(counts) == 1:
        ((outcome, n),) = counts.items()
        return outcome if n > 0 and outcome in _POSITION else None
    total = sum(n for o, n in counts.items() if n > 0 and o in _POSITION)
    if not total:
        return None
    seen = 0
    for outcome in ATTRIBUTABLE_ORDER:
        n = counts.get(outcome, 0)
        if n > 0:
            seen += n
            if 2 * seen >= total:
                return outcome
    raise AssertionError("unreachable: the walk covers every counted outcome")  # pragma: no cover


def typical_of(outcomes: Iterable[Outcome]) -> Outcome | None:
    return typical(Counter(outcomes))


def is_open(outcome: Outcome | None) -> bool:
    """Reached without any extra user action (friction 0)."""
    return outcome is not None and FRICTION.get(outcome) == 0.0


def is_unreachable(outcome: Outcome | None) -> bool:
    value = FRICTION.get(outcome) if outcome is not None else None
    return value is not None and math.isinf(value)
