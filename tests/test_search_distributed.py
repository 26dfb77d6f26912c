"""Search barriers in a distributed crawl (issue 15, part 3): the coordinator measures every
lab host's robots.txt once the workers are done, as the lab's truth says, with its evidence in
evidence/search.warc.gz; seed pages' noindex directives are not measured there (no seed page
is fetched by the coordinator), so a noindex class reads as the robots.txt class."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from audit.evidence.bundle import Bundle
from audit.judge.search_run import judge_search
from audit.policy.catalog import catalog_for_run
from tests.test_distributed import coordinator, finished, redis_url  # noqa: F401  (fixtures)
from tests.test_store import postgres_url  # noqa: F401  (a fixture, reused)

pytestmark = pytest.mark.slow
HULIAN = [sys.executable, "-m", "audit.cli"]


def test_the_coordinator_measures_search_barriers_as_the_truth_says(
        tmp_path: Path, redis_url: str, postgres_url: str) -> None:  # noqa: F811
    truth = json.loads(subprocess.run([*HULIAN, "lab", "truth", "--json"], capture_output=True,
                                      text=True, check=True).stdout)
    expected = {row["host"]: {t: ("open" if c == "noindex" else c)
                              for t, c in row["engines"].items()} for row in truth["search"]}
    finished(coordinator(tmp_path, "dist", redis_url, postgres_url), timeout=400)
    run = tmp_path / "dist"
    judged = judge_search(Bundle(run).search(), catalog_for_run(run))
    measured = {h.host: {t: c.value for t, c in h.barriers.classes.items()}
                for h in judged.hosts}
    assert measured == expected
    assert (run / "evidence" / "search.warc.gz").stat().st_size > 0
    assert all(h.evidence for h in judged.hosts if h.failure != "timeout")
    assert subprocess.run([*HULIAN, "verify", str(run)], capture_output=True,
                          check=False).returncode == 0
