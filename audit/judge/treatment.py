"""How well a link is treated: grades that compare outcomes, and the typical/worst outcome of
a set of observations. Pure; shared by the graph, the cross-target rules and `hulian diff`.

Friction (DESIGN.md) counts the extra user actions; it cannot tell a direct link from one
routed through the platform's redirector (both 0). Comparisons between targets need that
distinction — a search engine that links its own forum directly and every rival through its
redirector prefers itself — so they use the *grade*, which refines friction: every outcome
with infinite friction (the target cannot be reached from the link) shares the worst grade.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

from audit.model import FRICTION, SEVERITY_ORDER, Outcome

GRADE: dict[Outcome, int] = {
    Outcome.DIRECT: 0,
    Outcome.WRAPPED: 1,
    Outcome.WARNED: 2,
    Outcome.COPY_ONLY: 3,
    Outcome.STRIPPED: 4,
    Outcome.DIVERTED: 4,
    Outcome.BLOCKED: 4,
}


def attributable(outcome: Outcome) -> bool:
    """Whether the outcome says something about the platform (error and target_down do not)."""
    return FRICTION.get(outcome) is not None


def friction(outcome: Outcome | None) -> float | None:
    return FRICTION.get(outcome) if outcome is not None else None


def worst(outcomes: Iterable[Outcome]) -> Outcome | None:
    ranked = [o for o in outcomes if o in SEVERITY_ORDER]
    return max(ranked, key=SEVERITY_ORDER.index) if ranked else None


def typical(counts: Mapping[Outcome, int]) -> Outcome | None:
    """The median attributable outcome in SEVERITY_ORDER (the lower median): at least half
    the links fare this well or better. A median, not a mode, because outcomes are ordered
    and a tie between 'direct' and 'blocked' must not be settled by dictionary order."""
    ranked = sorted((o for o in counts if o in SEVERITY_ORDER and counts[o] > 0),
                    key=SEVERITY_ORDER.index)
    total = sum(counts[o] for o in ranked)
    if not total:
        return None
    seen = 0
    for outcome in ranked:
        seen += counts[outcome]
        if 2 * seen >= total:
            return outcome
    return ranked[-1]  # pragma: no cover - the loop always returns


def typical_of(outcomes: Iterable[Outcome]) -> Outcome | None:
    return typical(Counter(outcomes))


def is_open(outcome: Outcome | None) -> bool:
    """Reached without any extra user action (friction 0)."""
    return outcome is not None and FRICTION.get(outcome) == 0.0


def is_unreachable(outcome: Outcome | None) -> bool:
    value = FRICTION.get(outcome) if outcome is not None else None
    return value is not None and math.isinf(value)
