"""Compare `hulian inspect` with the corpus labels (../shared/corpus/labels/pages.jsonl).

Used by tests/test_corpus.py and runnable by hand: `python -m tests.corpus` prints every
difference and the precision/recall of the outbound-link inventory.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from audit.judge.inspect import inspect_bytes
from audit.policy.catalog import Catalog, load_catalog
from audit.web.urls import resolve

CORPUS = Path(os.environ.get("HULIAN_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))
LABELS = CORPUS / "labels" / "pages.jsonl"


@dataclass
class PageResult:
    file: str
    expected_kind: str
    kind: str
    expected_reason: str | None
    reason: str | None
    expected_target: str | None
    target: str | None
    true_pos: int = 0
    false_pos: list[tuple[object, ...]] = field(default_factory=list)
    false_neg: list[tuple[object, ...]] = field(default_factory=list)
    count_mismatch: list[tuple[object, ...]] = field(default_factory=list)

    @property
    def page_ok(self) -> bool:
        return (self.kind, self.reason, self.target) == (
            self.expected_kind, self.expected_reason, self.expected_target)


def _affiliated(domain: str | None, platform_id: str | None, catalog: Catalog) -> bool:
    """Domains of the page's own company: the labels count some of them as outbound
    (labels/README.md: "checks ... ignore such affiliate domains")."""
    if not domain or not platform_id or platform_id not in catalog.platforms:
        return False
    company = catalog.platforms[platform_id].company
    for platform in catalog.platforms.values():
        if platform.company == company and any(
            domain == d or domain.endswith("." + d) or d.endswith("." + domain)
            for d in platform.domains
        ):
            return True
    return False


def _as_recorded(url: object) -> object:
    """A label's URL as hulian records it: as a browser requests it (the labels write a
    target as the page shows it, `http://tumblr.com`; hulian records `http://tumblr.com/`)."""
    return (resolve(None, url) or url) if isinstance(url, str) else url


def compare(label: dict[str, object], catalog: Catalog) -> PageResult:
    data = (CORPUS / str(label["file"])).read_bytes()
    result = inspect_bytes(data, catalog, source=str(label["file"]), url=str(label["url"]),
                           platform_id=str(label["platform"])).result
    page = result["page"]
    assert isinstance(page, dict)
    out = PageResult(str(label["file"]), str(label["page_kind"]), page["kind"],
                     label["block_reason"], page["reason"],  # type: ignore[arg-type]
                     _as_recorded(label["page_target"]), page["target"])  # type: ignore[arg-type]

    def key(link: dict[str, object]) -> tuple[object, ...]:
        target = link["target"] if link.get("target_known", link["target"] is not None) else None
        return (_as_recorded(target or link.get("href") or link["target"]), link["via"],
                link["rendered_as"])

    expected = {key(o): o for o in label["outbound"]  # type: ignore[attr-defined]
                if not _affiliated(o["target_domain"], str(label["platform"]), catalog)}
    links = result["links"]
    assert isinstance(links, list)
    got = {key(o): o for o in links}
    for k, link in got.items():
        if k in expected:
            out.true_pos += 1
            if link["count"] != expected[k]["count"]:
                out.count_mismatch.append((k, expected[k]["count"], link["count"]))
        else:
            out.false_pos.append(k)
    out.false_neg = [k for k in expected if k not in got]
    return out


def run_all(catalog: Catalog | None = None) -> list[PageResult]:
    catalog = catalog or load_catalog()
    labels = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line]
    return [compare(label, catalog) for label in labels]


def totals(results: list[PageResult]) -> tuple[float, float]:
    tp = sum(r.true_pos for r in results)
    fp = sum(len(r.false_pos) for r in results)
    fn = sum(len(r.false_neg) for r in results)
    return (tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0)


if __name__ == "__main__":
    results = run_all()
    for r in results:
        flag = "ok " if r.page_ok and not (r.false_pos or r.false_neg or r.count_mismatch) else "XX "
        print(flag, r.file, f"kind {r.kind}/{r.expected_kind} reason {r.reason}/{r.expected_reason}"
              f" target {r.target}/{r.expected_target} tp={r.true_pos}")
        for k in r.false_pos:
            print("    FP", k)
        for k in r.false_neg:
            print("    FN", k)
        for k in r.count_mismatch:
            print("    COUNT", k)
    precision, recall = totals(results)
    print(f"precision {precision:.3f} recall {recall:.3f}")
