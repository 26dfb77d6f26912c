"""Reports rendered from Jinja2 templates in reports/. The only Jinja2 user.

This is the basic HTML report `hulian run` writes (report.html): run facts, outcomes,
failed verdicts and the source -> target edges. Quoted page content is escaped
(autoescape) and the page forbids scripts (Content-Security-Policy).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from audit import __version__
from audit.model import Observation, RunManifest, Severity, Status, Verdict


def templates_dir() -> Path:
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "_data" / "reports", package_dir.parent / "reports"):
        if (candidate / "basic.html.j2").is_file():
            return candidate
    raise FileNotFoundError("the reports/ templates are missing from this installation")


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_basic(path: Path, manifest: RunManifest, observations: Iterable[Observation],
                 verdicts: Iterable[Verdict], edges: list[dict[str, object]]) -> str:
    observations = list(observations)
    verdicts = list(verdicts)
    failed = sorted((v for v in verdicts if v.status is Status.FAIL),
                    key=lambda v: (-Severity(v.severity).rank, v.source, v.target_url or ""))
    manifest_file = path / "manifest.json"
    manifest_sha = (hashlib.sha256(manifest_file.read_bytes()).hexdigest()
                    if manifest_file.exists() else "")
    context = {
        "manifest": manifest,
        "manifest_sha256": manifest_sha,
        "tool_version": __version__,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "outcomes": Counter(o.outcome.value for o in observations).most_common(),
        "statuses": Counter(v.status.value for v in verdicts).most_common(),
        "failed": failed,
        "edges": edges,
        "observation_count": len(observations),
    }
    return _environment().get_template("basic.html.j2").render(**context)


def write_basic(path: Path, manifest: RunManifest, observations: Iterable[Observation],
                verdicts: Iterable[Verdict], edges: list[dict[str, object]]) -> Path:
    out = path / "report.html"
    out.write_text(render_basic(path, manifest, observations, verdicts, edges), encoding="utf-8")
    return out
