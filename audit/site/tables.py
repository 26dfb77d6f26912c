"""The tables behind the site's pages, computed from the run snapshots: the pages render these
rows and the API publishes the same rows as JSON and CSV (api/v1, docs/site.md), so a page
and its file cannot disagree. Pure functions; outcomes are ranked and coloured only by
audit.judge.outcomes.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from audit.evidence.csvcells import defused_cell
from audit.history.diff import Diff
from audit.judge.outcomes import RANK, is_open, worse_of
from audit.model import Outcome, Text
from audit.policy.catalog import Catalog
from audit.site.read import RunSnapshot

# The pages' file names are decided in read.py (the build cache names its files by them too).
from audit.site.read import slug as slug

API_VERSION = 1

UNKNOWN_COMPANY = "-"  # the company of a target no policy names (an outside host)


@dataclass(frozen=True)
class Table:
    """A published table: its name (the file name under api/v1/), its columns and its rows."""

    name: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]

    def as_json(self) -> str:
        # One row a line: readable and diffable, without the indentation that made the
        # series of 100 runs 17 MB. Rows by orjson (the json module's compact output for
        # these values, ten times faster: the series is 140,000 rows, written on every
        # build that adds a run).
        head = json.dumps({"version": API_VERSION, "table": self.name,
                           "columns": list(self.columns)}, ensure_ascii=False)
        # (each decoded at once: orjson's bytes keep their over-allocated buffer, and
        # 140,000 of them held for one join took half a gigabyte)
        dumps = orjson.dumps
        rows = ",\n".join(dumps(row, default=str).decode("utf-8") for row in self.rows)
        body = f"[\n{rows}\n]" if self.rows else "[]"
        return f'{head[:-1]}, "rows": {body}}}\n'

    def as_csv(self) -> str:
        """The rows as CSV. Text cells quote hostile pages (hosts, URLs, the review's
        headlines): one a spreadsheet would read as a formula gets a leading apostrophe
        (audit/evidence/csvcells.py); numbers stay numbers."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        columns = self.columns
        # csv writes None as an empty cell itself; only lists need joining
        rows = ([defused_cell(_cell(v) if isinstance(v, list | tuple) else v) for v in
                 (row.get(c) for c in columns)] for row in self.rows)
        # With "\n" line ends, csv quotes a cell with a line feed but not one with a lone
        # carriage return, which spreadsheets read as a line end: a page's "x\r=HYPERLINK()"
        # would start a row of its own, with a formula. Such a row's text cells are quoted.
        quoted = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
        for cells in rows:
            if any(isinstance(v, str) and "\r" in v for v in cells):
                quoted.writerow(cells)
            else:
                writer.writerow(cells)
        return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    if value is None:
        return ""
    return value


@dataclass(frozen=True)
class Names:
    """Display names and companies from the policy catalog; an id without one shows as
    itself."""

    platforms: dict[str, Text]
    companies: dict[str, Text]
    company_of: dict[str, str]
    engines: dict[str, tuple[str, Text]]  # robots.txt token -> (engine id, name)

    @classmethod
    def of(cls, catalog: Catalog) -> Names:
        companies = {cid: c.name for cid, c in catalog.companies.items()}
        for engine in catalog.search_engines.values():
            name = catalog.company_name(engine.company)
            if name is not None:
                companies.setdefault(engine.company, name)
        return cls(platforms={pid: p.name for pid, p in catalog.platforms.items()},
                   companies=companies,
                   company_of={pid: p.company for pid, p in catalog.platforms.items()},
                   engines={e.token: (e.id, e.name) for e in catalog.search_engines.values()})

    def company(self, platform: str) -> str:
        return self.company_of.get(platform, UNKNOWN_COMPANY)

    def platform_name(self, platform: str, zh: bool) -> str:
        name = self.platforms.get(platform)
        return (name.zh if zh else name.en) if name else platform

    def company_name(self, company: str, zh: bool) -> str:
        if company == UNKNOWN_COMPANY:
            return "其他网站" if zh else "other sites"
        name = self.companies.get(company)
        return (name.zh if zh else name.en) if name else company


def worst_of(counts: Counter[str]) -> str | None:
    worst: str | None = None
    for outcome, n in counts.items():
        if n and outcome in RANK:
            worst = worse_of(worst, outcome)
    return worst


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def runs_table(snapshots: Sequence[RunSnapshot], regressions: dict[str, bool | None]) -> Table:
    rows = [{"run_id": s.id, "started_at": _iso(s.row.started_at),
             "finished_at": _iso(s.row.finished_at), "tool_version": s.row.tool_version,
             "policy_digest": s.row.policy_digest,
             "sources": s.row.sources_key.split(",") if s.row.sources_key else [],
             "observations": s.row.n_observations, "verdicts": s.row.n_verdicts,
             "failed": s.row.n_failed, "bundle": "present" if s.bundle else "missing",
             "regression": regressions.get(s.id)} for s in snapshots]
    return Table("runs", ("run_id", "started_at", "finished_at", "tool_version",
                          "policy_digest", "sources", "observations", "verdicts", "failed",
                          "bundle", "regression"), rows)


def _failed_pairs(findings: Iterable[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((f["source"], f["target_platform"] or "") for f in findings)


def platform_matrix(run: RunSnapshot, names: Names) -> Table:
    """Source platform × target: links, worst outcome, failed findings (the latest run)."""
    cells: dict[tuple[str, str], Counter[str]] = {}
    for (source, _surface, target), counts in run.edges.items():
        cells.setdefault((source, target), Counter()).update(counts)
    failed = _failed_pairs(run.findings)
    rows = [{"source": s, "source_company": names.company(s), "target": t,
             "target_company": names.company(t), "links": sum(c.values()),
             "worst": worst_of(c), "failed": failed[(s, t)]}
            for (s, t), c in sorted(cells.items())]
    return Table("platform_matrix", ("source", "source_company", "target", "target_company",
                                     "links", "worst", "failed"), rows)


def company_matrix(platforms: Table) -> Table:
    """Company × company, from the platform matrix: links summed, the worst outcome of any
    link, failed findings summed."""
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for row in platforms.rows:
        key = (row["source_company"], row["target_company"])
        cell = cells.setdefault(key, {"links": 0, "worst": None, "failed": 0})
        cell["links"] += row["links"]
        cell["failed"] += row["failed"]
        if row["worst"] is not None:
            cell["worst"] = worse_of(cell["worst"], row["worst"])
    rows = [{"source_company": s, "target_company": t, **cell}
            for (s, t), cell in sorted(cells.items())]
    return Table("company_matrix", ("source_company", "target_company", "links", "worst",
                                    "failed"), rows)


def series_table(snapshots: Sequence[RunSnapshot]) -> Table:
    """Outcome counts per run, source platform and surface: the charts' data."""
    rows = []
    for s in snapshots:
        totals: Counter[tuple[str, str, str]] = Counter()
        for (source, surface, _target), counts in s.edges.items():
            for outcome, n in counts.items():
                totals[(source, surface, outcome)] += n
        run_id, started = s.id, _iso(s.row.started_at)  # once a run, not once a row
        rows += [{"run_id": run_id, "started_at": started, "source": source,
                  "surface": surface, "outcome": outcome, "n": n}
                 for (source, surface, outcome), n in sorted(totals.items())]
    return Table("series", ("run_id", "started_at", "source", "surface", "outcome", "n"), rows)


def edges_table(run: RunSnapshot) -> Table:
    rows = [{"source": s, "surface": surface, "target": t, "outcome": o, "n": n}
            for (s, surface, t), counts in sorted(run.edges.items())
            for o, n in sorted(counts.items(), key=lambda kv: RANK.get(kv[0], 0))]
    return Table("edges", ("source", "surface", "target", "outcome", "n"), rows)


# Rows of a platform page's findings table (the worst first): a large run has thousands of
# findings per platform, which would make the page megabytes long. All of them are in
# api/v1/platforms/<id>/findings.json and .csv, which the page links; the search index holds
# the ones shown (its entries lead to their rows).
FINDINGS_SHOWN = 50


def shown_findings(findings: Table) -> list[dict[str, Any]]:
    """The findings the platform pages show: the first FINDINGS_SHOWN of each source."""
    seen: Counter[str] = Counter()
    shown = []
    for f in findings.rows:
        seen[f["source"]] += 1
        if seen[f["source"]] <= FINDINGS_SHOWN:
            shown.append(f)
    return shown


SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def findings_table(run: RunSnapshot) -> Table:
    """The latest run's failed verdicts, worst first."""
    rows = sorted(run.findings, key=lambda f: (SEVERITY_ORDER.get(f["severity"], 9),
                                               -RANK.get(f["outcome"] or "", 0),
                                               f["source"], f["rule_id"], f["id"]))
    return Table("findings", ("id", "rule_id", "source", "surface", "target_platform",
                              "target_url", "outcome", "severity", "reason_zh", "reason_en",
                              "requirements", "evidence", "observation_id"),
                 [{"run_id": run.id, **f} for f in rows])


def requirements_table(snapshots: Sequence[RunSnapshot], catalog: Catalog) -> Table:
    """Every framework requirement × platform that fails it in the latest run, with the
    first run of the unbroken streak of failing runs that leads to it."""
    latest = snapshots[-1]
    rows = []
    for framework in catalog.frameworks.values():
        for req in framework.requirements:
            key = f"{framework.id}/{req.id}"
            for platform in sorted(latest.requirements):
                if latest.requirements[platform].get(key) != "fail":
                    continue
                since = latest
                for earlier in reversed(snapshots[:-1]):
                    if earlier.requirements.get(platform, {}).get(key) != "fail":
                        break
                    since = earlier
                rows.append({"framework": framework.id, "requirement": req.id,
                             "platform": platform, "status": "fail", "since_run": since.id,
                             "since": _iso(since.row.started_at)})
    return Table("requirement_failures", ("framework", "requirement", "platform", "status",
                                          "since_run", "since"), rows)


def search_table(run: RunSnapshot, names: Names) -> Table:
    rows = [{"platform": p, "engine": names.engines.get(token, (token, None))[0],
             "token": token, "class": cls} for (p, token), cls in sorted(run.search.items())]
    return Table("search", ("platform", "engine", "token", "class"), rows)


def changes_table(diffs: dict[str, tuple[str, Diff]]) -> Table:
    """What changed in each run since the run before it with the same sources (audit.history
    .diff): edges, requirements and search classes that got better or worse."""
    rows = []
    for run_id, (previous, d) in diffs.items():
        for c in d.edges:
            if c.kind in ("better", "worse"):
                rows.append({"run_id": run_id, "previous": previous, "subject": "edge",
                             "change": c.kind, "key": "/".join(c.key), "before": c.before,
                             "after": c.after})
        for c in d.requirements:
            if c.kind in ("better", "worse"):
                rows.append({"run_id": run_id, "previous": previous, "subject": "requirement",
                             "change": c.kind, "key": c.key[0], "before": c.before,
                             "after": c.after})
        for c in d.search:
            if c.kind in ("better", "worse"):
                rows.append({"run_id": run_id, "previous": previous, "subject": "search",
                             "change": c.kind, "key": "/".join(c.key), "before": c.before,
                             "after": c.after})
    return Table("changes", ("run_id", "previous", "subject", "change", "key", "before",
                             "after"), rows)


def headline(run: RunSnapshot) -> dict[str, Any]:
    """The overview's figures for the latest run."""
    outcomes: Counter[str] = Counter()
    for counts in run.edges.values():
        outcomes.update(counts)
    links = sum(outcomes.values())
    open_links = sum(n for o, n in outcomes.items() if o in RANK and is_open(Outcome(o)))
    failing = {k for statuses in run.requirements.values()
               for k, s in statuses.items() if s == "fail"}
    return {"run_id": run.id, "platforms": len({s for s, _, _ in run.edges}),
            "links": links, "open": open_links,
            "open_share": round(open_links / links, 4) if links else None,
            # The store's count: only the latest run keeps its findings in the build.
            "failed_findings": run.row.n_failed, "failing_requirements": len(failing),
            "outcomes": dict(outcomes)}
