"""Stand-ins for what differs between verdicts decided alike: a Verdict made once with a
stand-in in each such field and serialised by pydantic gives the JSON around those values,
and each verdict's line is that JSON with its own values in their places (the cross-target
verdicts' in Python, audit.judge.cross; the per-observation ones' by DuckDB,
audit.judge.table_verdicts). The lines are then the bundle writer's, byte for byte, without
a Verdict made and serialised per verdict."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from audit.evidence.bundle import json_string


def stand_ins(names: Iterable[str]) -> dict[str, str]:
    """A stand-in for each name. A character of Unicode's private use area and a random
    token made once per call: no name, URL or policy text holds one. JSON leaves such
    characters as they are, so a stand-in reads the same inside a reason and inside its JSON
    string."""
    token = "\ue000" + uuid.uuid4().hex
    marks = {name: f"{token}{name}\ue001" for name in names}
    assert all(json_string(mark) == f'"{mark}"' for mark in marks.values())
    return marks


def split_at(line: str, splits: Sequence[str], what: str) -> list[str]:
    """`line` cut at each of `splits`, which it holds once each and in this order: the
    pieces before, between and after them. AssertionError naming `what` otherwise (a
    Verdict whose fields are no longer in the order its caller splits them in)."""
    pieces = []
    for split in splits:
        before, found, line = line.partition(split)
        if not found or split in line:
            raise AssertionError(f"a stand-in is not once and in its place in {what}: update "
                                 "it to Verdict's fields")
        pieces.append(before)
    pieces.append(line)
    return pieces
