"""The one table of what an outcome is worth (audit/judge/outcomes.py) and the summaries read
through it: every stage that ranks, grades or colours an outcome must agree with it."""

from __future__ import annotations

import math
import re

from audit.graph.build import edge_rows
from audit.judge import outcomes
from audit.model import Outcome
from audit.report.render import _style

Oc = Outcome


def test_every_outcome_has_one_row() -> None:
    assert set(outcomes.TABLE) == set(Outcome)
    assert set(outcomes.RANK) == {o.value for o in Outcome}


def test_friction_grade_and_rank_agree_on_the_attributable_order() -> None:
    attributable = outcomes.ATTRIBUTABLE_ORDER
    assert attributable == (Oc.DIRECT, Oc.WRAPPED, Oc.WARNED, Oc.COPY_ONLY, Oc.STRIPPED,
                            Oc.DIVERTED, Oc.BLOCKED)
    frictions = [outcomes.FRICTION[o] for o in attributable]
    grades = [outcomes.GRADE[o] for o in attributable]
    ranks = [outcomes.RANK[o.value] for o in attributable]
    assert frictions == sorted(frictions, key=lambda f: math.inf if f is None else f)
    assert grades == sorted(grades) and ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)  # a summary never ties two outcomes


def test_a_page_nobody_has_read_outranks_every_outcome_and_failures_rank_below() -> None:
    top = max(outcomes.RANK.values())
    assert outcomes.RANK["unrecognized"] == top
    attributable_ranks = [outcomes.RANK[o.value] for o in outcomes.ATTRIBUTABLE_ORDER]
    assert outcomes.RANK["target_down"] < min(attributable_ranks)
    assert outcomes.RANK["error"] < min(attributable_ranks)
    assert outcomes.worse_of("blocked", "unrecognized") == "unrecognized"
    assert outcomes.worse_of("direct", "error") == "direct"
    assert outcomes.worse_of(None, "error") == "error"


def test_unattributable_outcomes_have_no_friction_and_no_grade() -> None:
    for outcome in (Oc.UNRECOGNIZED, Oc.TARGET_DOWN, Oc.ERROR):
        assert outcomes.friction(outcome) is None
        assert not outcomes.attributable(outcome)
        assert not outcomes.is_open(outcome) and not outcomes.is_unreachable(outcome)
    assert outcomes.is_open(Oc.WRAPPED) and not outcomes.is_open(Oc.WARNED)
    assert outcomes.is_unreachable(Oc.DIVERTED) and not outcomes.is_unreachable(Oc.COPY_ONLY)


def test_typical_is_the_lower_median_of_attributable_outcomes() -> None:
    assert outcomes.typical({Oc.DIRECT: 1, Oc.BLOCKED: 1}) is Oc.DIRECT
    assert outcomes.typical({Oc.DIRECT: 1, Oc.BLOCKED: 2}) is Oc.BLOCKED
    assert outcomes.typical({Oc.WARNED: 3, Oc.ERROR: 50, Oc.TARGET_DOWN: 9}) is Oc.WARNED
    assert outcomes.typical({Oc.ERROR: 2}) is None
    assert outcomes.typical_of([Oc.COPY_ONLY, Oc.DIRECT, Oc.COPY_ONLY]) is Oc.COPY_ONLY
    assert outcomes.worst([Oc.DIRECT, Oc.STRIPPED, Oc.WARNED, Oc.ERROR]) is Oc.STRIPPED
    assert outcomes.worst([Oc.UNRECOGNIZED, Oc.ERROR]) is None


def test_the_report_css_carries_the_table_colours() -> None:
    css = _style()
    for outcome, facts in outcomes.TABLE.items():
        rule = re.search(rf"\.o-{outcome.value} \{{ background: ([^;]+); color: ([^;]+); }}", css)
        assert rule is not None, outcome
        assert (rule[1], rule[2]) == (facts.colour, facts.ink)
    assert outcomes.colour("no-such-outcome") == outcomes.NEUTRAL_COLOUR


def test_graph_edges_are_listed_worst_first_by_the_same_rank() -> None:
    import networkx as nx

    graph: nx.DiGraph[str] = nx.DiGraph()
    for target, worst in (("a", "direct"), ("b", "unrecognized"), ("c", "blocked"),
                          ("d", "error")):
        graph.add_edge("s", target, worst=worst)
    assert [row["target"] for row in edge_rows(graph)] == ["b", "c", "a", "d"]
