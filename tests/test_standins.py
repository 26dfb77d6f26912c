"""audit.judge.standins: stand-ins no text holds, and a line cut at them only where each is
once and in order (a Verdict whose fields moved is an error, not a line put together wrong)."""

from __future__ import annotations

import json

import pytest

from audit.judge.standins import split_at, stand_ins


def test_stand_ins_are_their_own_json_and_new_each_time() -> None:
    first, second = stand_ins(["id", "url"]), stand_ins(["id", "url"])
    assert set(first) == {"id", "url"} and first["id"] != first["url"]
    assert first["id"] != second["id"]  # a token per call
    for mark in first.values():
        assert json.dumps(mark, ensure_ascii=False) == f'"{mark}"'


def test_a_line_is_cut_at_each_stand_in_in_order() -> None:
    marks = stand_ins(["a", "b"])
    line = f'{{"x":"{marks["a"]}","y":[{marks["b"]}]}}'
    assert split_at(line, [marks["a"], marks["b"]], "a test line") == [
        '{"x":"', '","y":[', "]}"]


@pytest.mark.parametrize("line", ["{a}-{a}-{b}", "{b}-{a}", "{a}-only"])
def test_a_stand_in_missing_repeated_or_out_of_order_is_an_error(line: str) -> None:
    marks = stand_ins(["a", "b"])
    with pytest.raises(AssertionError, match="a test line"):
        split_at(line.format(**marks), [marks["a"], marks["b"]], "a test line")
