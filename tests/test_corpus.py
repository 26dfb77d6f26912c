"""`hulian inspect` against the labelled real pages in ../shared/corpus (skipped when absent)."""

from __future__ import annotations

import pytest

from tests import corpus

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not corpus.LABELS.is_file(),
                       reason=f"corpus labels not found at {corpus.LABELS}; set HULIAN_CORPUS"),
]


@pytest.fixture(scope="module")
def results() -> list[corpus.PageResult]:
    return corpus.run_all()


def test_every_page_kind_reason_and_target_is_right(results: list[corpus.PageResult]) -> None:
    wrong = [(r.file, (r.kind, r.reason, r.target), (r.expected_kind, r.expected_reason,
                                                      r.expected_target))
             for r in results if not r.page_ok]
    assert wrong == []


def test_outbound_links_precision_and_recall(results: list[corpus.PageResult]) -> None:
    precision, recall = corpus.totals(results)
    details = {r.file: (r.false_pos, r.false_neg) for r in results if r.false_pos or r.false_neg}
    assert precision >= 0.95, details
    assert recall >= 0.95, details


def test_link_counts_match_labels(results: list[corpus.PageResult]) -> None:
    assert [(r.file, r.count_mismatch) for r in results if r.count_mismatch] == []


def test_every_labelled_page_was_compared(results: list[corpus.PageResult]) -> None:
    assert len(results) >= 14
