"""`hulian site build`: the history store (and the bundles it points to) as a static site.

Layout of DIR (docs/site.md): index.html (language choice), zh/ and en/ (the same pages in
each language), api/v1/ (the tables as JSON and CSV), files/<run>/ (each run's rendered
reports, copied), assets/ (CSS, JS), search-index.js, feed.xml and site-state.json (what was
built from what). The bundles' evidence (WARCs, records) is not copied: run pages list it with
its hashes and the bundle's location.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from audit import __version__
from audit.evidence.bundle import MANIFEST, sha256_file
from audit.evidence.cachedir import cache_root
from audit.evidence.review import COLUMNS as REVIEW_COLUMNS
from audit.evidence.review import REVIEW_CSV, review_of
from audit.evidence.wacz import WaczError
from audit.history.diff import Change, Diff, RunSummary, diff, unusable
from audit.history.store import RunRow, default_url, previous_run
from audit.judge.outcomes import css_rules
from audit.model import SurfaceKind
from audit.policy.catalog import Catalog, PolicyError, catalog_for_run, load_catalog
from audit.report.search import CLASS_OUTCOME
from audit.site import charts, feed, replay, search
from audit.site.read import (
    History,
    RunSnapshot,
    SiteError,
    input_hash,
    load_cache,
    open_store,
    save_cache,
    select_runs,
    slug,
)
from audit.site.render import LANGS, render, templates_dir
from audit.site.tables import (
    FINDINGS_SHOWN,
    UNKNOWN_COMPANY,
    Names,
    Table,
    changes_table,
    company_matrix,
    edges_table,
    findings_table,
    headline,
    platform_matrix,
    requirements_table,
    runs_table,
    search_table,
    series_table,
    shown_findings,
)
from audit.site.texts import OUTCOMES, SURFACES

STATE = "site-state.json"
STATE_VERSION = 1
# The build cache: each run's snapshot and its diff against the previous run, so a rebuild
# reads only new runs from the store (and diffs only their pairs).
CACHE = ".build"
# Copied into the site beside the run page: the reports derived from the sealed records.
# The sealed evidence itself (WARCs, JSON lines, Parquet) stays in the bundle.
COPIED = ("report.html", "report.pdf", "findings.json", "findings.csv", "junit.xml",
          REVIEW_CSV)
REVIEW_SHOWN = 100  # review rows on a run page; all of them in api/v1/runs/<run>/review.*
OWN_DIRS = ("zh", "en", "api", "files", "assets", "replay", CACHE)


@dataclass
class BuildResult:
    """What a build did, by its own account (the tests assert these, never times)."""

    out: Path
    runs: list[str]
    pages: int  # pages rendered (each language counts)
    read: list[str] = field(default_factory=list)  # runs whose aggregates came from the store
    written: list[str] = field(default_factory=list)  # files whose content changed
    unchanged: int = 0  # files produced again with the same content, or kept (left alone)
    notes: list[str] = field(default_factory=list)  # said once to the user (no viewer ...)
    # Pages (site paths under each language) not rendered: their content key is the one
    # the previous build rendered them from, and their files are there.
    skipped: list[str] = field(default_factory=list)
    # Runs whose stored aggregates were missing or damaged, computed again (and why).
    backfilled: list[tuple[str, str]] = field(default_factory=list)
    evidence_read: list[str] = field(default_factory=list)  # bundles read for chains
    diffed: list[str] = field(default_factory=list)  # runs whose diff was computed (no cache)


def build(out: Path, store_url: str | None = None, run_ids: list[str] | None = None,
          now: datetime | None = None, publish_replay: bool = True) -> BuildResult:
    """Build (or bring up to date) the site in `out`. Incremental: a run whose store row is
    unchanged since the last build is taken from the build cache, a diff whose two runs are
    unchanged too; every page is rendered, and written only when its content changed (a new
    run rewrites the pages it shows up on, and only those); files of the previous build that
    this one did not produce are removed. `publish_replay`: each run's WARCs as a WACZ in
    the site, replayed by the vendored viewer (docs/site.md); False links the bundle's
    records only."""
    engine = open_store(store_url or default_url())
    rows = select_runs(engine, run_ids)
    _check_out(out)
    state = _cached_state(out)
    pages = state.get("pages", {}) if state else {}
    # From here on the site's pages change: the state left on disk keeps no page keys until
    # this build ends (a build interrupted after rewriting some pages must not leave the
    # previous build's keys for them, which the next build would trust and keep its pages).
    _forget_pages(out)
    hashes = {row.id: input_hash(row) for row in rows}
    history = History(engine, out / CACHE)
    snapshots = [history.snapshot(row) for row in rows]
    # Only the latest run's findings are shown (and held).
    snapshots[-1].findings = history.details(snapshots[-1].row).findings
    catalog = _catalog(snapshots)
    diffs, problems, diffed, diff_keys = _diffs(engine, snapshots, out, hashes, history)
    result = _write(out, snapshots, catalog, diffs, problems, now or datetime.now(UTC), hashes,
                    publish_replay, pages if isinstance(pages, dict) else {}, diff_keys)
    result.read = history.read
    result.backfilled = history.backfilled
    result.diffed = diffed
    return result


# What a page is written with besides its data: a change to one of these (in a checkout,
# under the same version) renders every page again instead of keeping pages by their keys.
# build.py and replay.py make the run and evidence pages' contexts.
PAGE_CODE = ("texts.py", "render.py", "charts.py", "tables.py", "build.py", "replay.py")


def templates_digest() -> str:
    """The templates' and the page code's (PAGE_CODE) digest."""
    digest = hashlib.sha256()
    files = [p for p in sorted(templates_dir().iterdir()) if p.is_file()]
    files += [Path(__file__).with_name(name) for name in PAGE_CODE]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _cached_state(out: Path) -> dict[str, Any] | None:
    """The previous build's state, when its cache may be used: same state format, same
    hulian version and the same templates (otherwise everything is read again)."""
    state = load_cache(out / STATE)
    if (state is None or state.get("version") != STATE_VERSION
            or state.get("tool_version") != __version__
            or state.get("templates") != templates_digest()):
        return None
    return state


def _write_state(out: Path, state: dict[str, Any]) -> None:
    """The site state, whole or not at all: written beside its name and renamed (a build
    stopped while writing it leaves the one before)."""
    target = out / STATE
    partial = target.with_name(f".{STATE}.partial")
    partial.write_text(json.dumps(state, indent=1), encoding="utf-8")
    os.replace(partial, target)


def _forget_pages(out: Path) -> None:
    """The state on disk without its page keys, before the build changes any page."""
    state = load_cache(out / STATE)
    if state is not None and state.get("pages"):
        _write_state(out, {**state, "pages": {}})


def _catalog(snapshots: list[RunSnapshot]) -> Catalog:
    """The latest reachable run's policies (its own platforms included), else the shipped
    and configured ones: names and the framework's requirements come from here."""
    for snap in reversed(snapshots):
        if snap.bundle is not None:
            try:
                return catalog_for_run(snap.bundle)
            except PolicyError:
                continue
    try:
        return load_catalog()
    except PolicyError as exc:
        raise SiteError(f"the policies cannot be loaded:\n{exc}") from None


def _diffs(engine: Engine, snapshots: list[RunSnapshot], out: Path, hashes: dict[str, str],
           history: History
           ) -> tuple[dict[str, tuple[str, Diff]], dict[str, str], list[str], dict[str, str]]:
    """Each run against the stored run before it with the same sources (audit.history.diff,
    as `hulian diff --against previous`, on the runs' aggregates); why not, when the two
    cannot be compared. A diff of two runs unchanged since the last build comes from the
    cache. Also: the runs whose diff was computed, and each diff's key (what it was made
    from: the two runs' store rows)."""
    diffs: dict[str, tuple[str, Diff]] = {}
    problems: dict[str, str] = {}
    computed: list[str] = []
    keys: dict[str, str] = {}
    published = {s.id: s for s in snapshots}
    loaded: dict[str, RunSummary] = {}

    def data(row: RunRow) -> RunSummary:
        if row.id not in loaded:
            got = history.summary(row, published.get(row.id))
            loaded.clear()  # keep at most the previous one: runs come oldest first
            loaded[row.id] = got
        return loaded[row.id]

    for snap in snapshots:
        before = previous_run(engine, snap.id)
        if before is None:
            continue
        key = keys[snap.id] = f"{hashes[snap.id]}|{before.id}|{input_hash(before)}"
        file = out / CACHE / "diffs" / f"{slug(snap.id)}.json"
        cached = load_cache(file)
        if cached is not None and cached.get("key") == key:
            try:
                if cached.get("problem"):
                    problems[snap.id] = str(cached["problem"])
                else:
                    diffs[snap.id] = (before.id, _diff_from(cached["diff"]))
                continue
            except (KeyError, TypeError, ValueError):
                pass
        computed.append(snap.id)
        a = data(before)
        b = data(snap.row)
        reason = unusable(a, b)
        if reason is not None:
            problems[snap.id] = reason[1]
            save_cache(file, {"key": key, "problem": reason[1]})
            continue
        diffs[snap.id] = (before.id, diff(a, b))
        save_cache(file, {"key": key, "diff": _diff_record(diffs[snap.id][1])})
    return diffs, problems, computed, keys


def _changes(changes: list[Change]) -> list[list[Any]]:
    return [[c.kind, list(c.key), c.before, c.after] for c in changes]


def _diff_record(d: Diff) -> dict[str, Any]:
    return {"run_a": d.run_a, "run_b": d.run_b, "edges": _changes(d.edges),
            "requirements": _changes(d.requirements), "search": _changes(d.search),
            "findings_new": d.findings_new, "findings_resolved": d.findings_resolved,
            "metrics": d.metrics}


def _diff_from(record: dict[str, Any]) -> Diff:
    def changes(rows: list[list[Any]]) -> list[Change]:
        return [Change(str(k), tuple(str(x) for x in key), b, a) for k, key, b, a in rows]

    return Diff(run_a=str(record["run_a"]), run_b=str(record["run_b"]),
                edges=changes(record["edges"]), requirements=changes(record["requirements"]),
                findings_new=list(record["findings_new"]),
                findings_resolved=list(record["findings_resolved"]),
                metrics=list(record["metrics"]), search=changes(record["search"]))


def _check_out(out: Path) -> None:
    """An empty or new directory, or a site this command built before (brought up to date);
    any other directory is refused rather than overwritten."""
    if out.exists() and not out.is_dir():
        raise SiteError(f"{out}: not a directory / 不是目录")
    if out.is_dir() and any(out.iterdir()) and not (out / STATE).is_file():
        raise SiteError(f"{out}: the directory is not empty and holds no site built by "
                        f"hulian ({STATE} missing); choose an empty or new directory / "
                        "目录非空且不是 hulian 生成的站点")
    out.mkdir(parents=True, exist_ok=True)


class _Writer:
    """Writes the site's files, each only when its content changed, and remembers every
    file this build produced (the rest of the site's own directories is stale)."""

    def __init__(self, out: Path, now: datetime, before: dict[str, Any]):
        self.out = out
        self.now = now
        self.pages = 0
        self.produced: set[str] = set()
        self.written: list[str] = []
        self.unchanged = 0
        # Content keys: site path -> {"key", "files"} of the previous build (`before`) and
        # of this one (`after`, saved in the site state).
        self.before = before
        self.after: dict[str, dict[str, Any]] = {}
        self.skipped: list[str] = []

    def unchanged_page(self, path: str, key: str) -> bool:
        """True when the page at `path` (each language) was rendered by the previous build
        from the same content key and its files (the pages and the files made with them,
        `keyed`) are all there: they are kept, not rendered again. A key must cover every
        input the page shows; the site-wide ones (names, links, the viewer) are in
        `site_key`."""
        previous = self.before.get(path)
        if not isinstance(previous, dict) or previous.get("key") != key:
            return False
        files = [f"{lang}/{path}" for lang in LANGS] + [str(f) for f in
                                                        previous.get("files", [])]
        if not all((self.out / f).is_file() for f in files):
            return False
        for f in files:
            self.keep(f)
        self.after[path] = previous
        self.skipped.append(path)
        return True

    def keyed(self, path: str, key: str, files: list[str]) -> None:
        """The page at `path` was rendered from `key`, with `files` made beside it."""
        self.after[path] = {"key": key, "files": files}

    def text(self, path: str, content: str) -> None:
        target = self.out / path
        data = content.encode("utf-8")
        self.produced.add(path)
        try:
            if target.read_bytes() == data:
                self.unchanged += 1
                return
        except OSError:
            target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.written.append(path)

    def copy(self, source: Path, path: str) -> None:
        target = self.out / path
        self.produced.add(path)
        if target.is_file() and filecmp.cmp(source, target, shallow=False):
            self.unchanged += 1
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        self.written.append(path)

    def keep(self, path: str) -> None:
        """A file left as the previous build wrote it (a large copy known unchanged)."""
        self.produced.add(path)
        self.unchanged += 1

    def page(self, template: str, path: str, context: dict[str, Any]) -> None:
        for lang in LANGS:
            self.text(f"{lang}/{path}", render(template, lang, path, context, self.now))
            self.pages += 1

    def table(self, table: Table, prefix: str = "api/v1") -> None:
        self.text(f"{prefix}/{table.name}.json", table.as_json())
        self.text(f"{prefix}/{table.name}.csv", table.as_csv())

    def remove_stale(self, keep_cache: set[str]) -> None:
        """Files of an earlier build in the site's own directories that this build did not
        produce (a run no longer published, a platform gone); cache files of runs kept."""
        for name in OWN_DIRS:
            base = self.out / name
            if not base.is_dir():
                continue
            for path in sorted(base.rglob("*"), reverse=True):
                rel = path.relative_to(self.out).as_posix()
                if path.is_file() and rel not in self.produced and rel not in keep_cache:
                    path.unlink()
                elif path.is_dir() and not any(path.iterdir()):
                    path.rmdir()


def _write(out: Path, snapshots: list[RunSnapshot], catalog: Catalog,
           diffs: dict[str, tuple[str, Diff]], problems: dict[str, str],
           now: datetime, hashes: dict[str, str], publish_replay: bool,
           before: dict[str, Any], diff_keys: dict[str, str]) -> BuildResult:
    names = Names.of(catalog)
    latest = snapshots[-1]
    w = _Writer(out, now, before)
    regressions: dict[str, bool | None] = {s.id: None for s in snapshots}
    regressions.update({run: d.regression for run, (_p, d) in diffs.items()})
    pm = platform_matrix(latest, names)
    tables = {t.name: t for t in (
        runs_table(snapshots, regressions), pm, company_matrix(pm), series_table(snapshots),
        edges_table(latest), findings_table(latest), requirements_table(snapshots, catalog),
        search_table(latest, names), changes_table(diffs))}
    for table in tables.values():
        w.table(table)

    platforms = _platforms(snapshots, names)
    companies = sorted({names.company(p) for p in platforms} - {UNKNOWN_COMPANY})
    links = {"platform": {p: f"platform/{slug(p)}.html" for p in platforms},
             "company": {c: f"company/{slug(c)}.html" for c in companies},
             "run": {s.id: f"run/{slug(s.id)}.html" for s in snapshots}}
    common: dict[str, Any] = {
        "names": names, "links": links, "latest": latest, "snapshots": snapshots,
        "slug": slug, "P": names.platform_name, "C": names.company_name,
        "surface_label": SURFACES, "outcome_order": list(OUTCOMES),
        "legend": charts.legend_outcomes(), "api_tables": sorted(tables),
        "domains": {pid: p.domains for pid, p in catalog.platforms.items()},
    }
    notes = _viewer(w, common, publish_replay)
    # What every page may show of the site besides its own inputs: names, the pages that
    # exist to link to (platforms, companies), the data files, the viewer. The runs' links
    # are not in it (a new run would change every key): a run or evidence page keys the
    # runs it links itself.
    common["site_key"] = _digest(catalog.digest, repr(names), platforms, companies,
                                 sorted(tables), common["viewer"], publish_replay,
                                 sorted(common["domains"].items()))
    # The evidence a page links: the latest run's findings its platform pages list, every
    # run's review rows its run page lists.
    shown = [str(f["observation_id"]) for f in shown_findings(tables["findings"])
             if f.get("observation_id")]
    evidence_read: list[str] = []
    common["evidence"] = {s.id: _evidence(w, s, hashes[s.id], publish_replay,
                                          shown if s is latest else [], evidence_read)
                          for s in snapshots if s.bundle is not None}
    _overview(w, common, tables, names, diffs, problems, catalog, platforms)
    w.page("runs.html.j2", "runs.html", {**common, "rows": tables["runs"].rows})
    by_platform = _PlatformRows.of(tables)
    for p in platforms:
        _platform_page(w, common, by_platform, names, p)
    for c in companies:
        _company_page(w, common, tables, names, c, platforms)
    for snap in snapshots:
        _run_page(w, common, snap, diffs.get(snap.id), problems.get(snap.id),
                  f"{hashes[snap.id]}|{diff_keys.get(snap.id)}")
        ev = common["evidence"].get(snap.id)
        if ev is not None:
            key = _digest(common["site_key"], hashes[snap.id], ev.digest,
                          snap.id in links["run"])
            if not w.unchanged_page(ev.page, key):
                w.page("evidence.html.j2", ev.page, {**common, "snap": snap, "ev": ev})
                w.keyed(ev.page, key, [])
    _requirement_pages(w, common, tables, catalog, latest)
    w.page("methodology.html.j2", "methodology.html", common)
    w.text("index.html", render("choose.html.j2", "", "index.html", common, now))
    _assets(w)
    w.text("search-index.js", search.index_script(
        search.entries(snapshots, names, platforms, companies, links, catalog, tables)))
    # The feed is as new as the newest run (not the build): an unchanged history rebuilds it
    # byte for byte.
    w.text("feed.xml", feed.atom(snapshots, diffs, latest.row.started_at or now, names,
                                 links["run"]))
    kept = {f"{CACHE}/{kind}/{slug(s.id)}.json" for s in snapshots
            for kind in ("runs", "evidence")}
    kept |= {f"{CACHE}/diffs/{slug(r)}.json" for r in diff_keys}  # runs with a run before
    kept.add(f"{CACHE}/details/{slug(latest.id)}.json")  # only the latest run's is read
    w.remove_stale(kept)
    _write_state(out, {
        "version": STATE_VERSION, "tool_version": __version__,
        "templates": templates_digest(), "built_at": now.isoformat(),
        "runs": [s.id for s in snapshots], "inputs": hashes, "pages": w.after})
    return BuildResult(out, [s.id for s in snapshots], w.pages, written=w.written,
                       unchanged=w.unchanged, notes=notes, skipped=w.skipped,
                       evidence_read=evidence_read)


def _digest(*parts: Any) -> str:
    """A content key: the SHA-256 of the parts as JSON."""
    text = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _platforms(snapshots: list[RunSnapshot], names: Names) -> list[str]:
    """Every platform a page is made for: each source measured, each target that is a
    known platform."""
    found: set[str] = set()
    for snap in snapshots:
        for source, _surface, target in snap.edges:
            found.add(source)
            if target in names.platforms:
                found.add(target)
        found.update(p for p, _t in snap.search)
    return sorted(found)


def _overview(w: _Writer, common: dict[str, Any], tables: dict[str, Table], names: Names,
              diffs: dict[str, tuple[str, Diff]], problems: dict[str, str],
              catalog: Catalog, platforms: list[str]) -> None:
    latest: RunSnapshot = common["latest"]
    rows = tables["company_matrix"].rows
    order = sorted({r["source_company"] for r in rows} | {r["target_company"] for r in rows},
                   key=lambda c: (c == UNKNOWN_COMPANY, c))

    def heat(zh: bool) -> charts.Heatmap:
        def axis(c: str) -> tuple[str, str, str | None]:
            href = common["links"]["company"].get(c)
            return c, names.company_name(c, zh), href

        values = {(r["source_company"], r["target_company"]): (
            r["worst"], r["links"],
            (common["links"]["company"][r["source_company"]] + "#to-" +
             slug(r["target_company"])) if r["source_company"] in common["links"]["company"]
            else None,
            f"{names.company_name(r['source_company'], zh)} → "
            f"{names.company_name(r['target_company'], zh)}: "
            f"{OUTCOMES.get(r['worst'] or '', ('–', '–'))[0 if zh else 1]}, {r['links']}")
            for r in rows}
        return charts.heatmap([axis(c) for c in order], [axis(c) for c in order], values,
                              zh=zh)

    engines = sorted({r["token"] for r in tables["search"].rows})
    searched = sorted({r["platform"] for r in tables["search"].rows})
    classes = {(r["token"], r["platform"]): r["class"] for r in tables["search"].rows}
    change = diffs.get(latest.id)
    w.page("overview.html.j2", "index.html", {
        **common, "heat": {True: heat(True), False: heat(False)},
        "figures": headline(latest), "change": change,
        "change_problem": problems.get(latest.id),
        "engines": engines, "searched": searched, "classes": classes,
        "platforms": platforms,
        "companies": sorted(common["links"]["company"]),
    })


@dataclass
class _PlatformRows:
    """The tables' rows grouped by platform once (a platform page picks its own; scanning
    every table once per platform cost seconds at 100 runs)."""

    series: dict[str, list[dict[str, Any]]]
    findings: dict[str, list[dict[str, Any]]]
    failing: dict[str, list[dict[str, Any]]]
    search: dict[str, list[dict[str, Any]]]
    outgoing: dict[str, list[dict[str, Any]]]
    incoming: dict[str, list[dict[str, Any]]]
    edges: dict[str, list[dict[str, Any]]]
    findings_columns: tuple[str, ...]

    @classmethod
    def of(cls, tables: dict[str, Table]) -> _PlatformRows:
        def group(table: str, column: str) -> dict[str, list[dict[str, Any]]]:
            grouped: dict[str, list[dict[str, Any]]] = {}
            for row in tables[table].rows:
                grouped.setdefault(row[column], []).append(row)
            return grouped

        return cls(group("series", "source"), group("findings", "source"),
                   group("requirement_failures", "platform"), group("search", "platform"),
                   group("platform_matrix", "source"), group("platform_matrix", "target"),
                   group("edges", "source"), tables["findings"].columns)


def _platform_page(w: _Writer, common: dict[str, Any], rows: _PlatformRows, names: Names,
                   pid: str) -> None:
    snapshots: list[RunSnapshot] = common["snapshots"]
    counts: dict[tuple[str, str], Counter[str]] = {}
    for row in rows.series.get(pid, []):
        cell = counts.get((row["run_id"], row["surface"]))
        if cell is None:  # not setdefault: a Counter made per row costs seconds at scale
            cell = counts[(row["run_id"], row["surface"])] = Counter()
        cell[row["outcome"]] += row["n"]
    surfaces = sorted({s for _r, s in counts}, key=_surface_order)
    # Only the runs that measured the platform: a run of other platforms leaves its page as
    # it was (an incremental build does not rewrite it).
    measured = {r for r, _s in counts}
    runs = [(s.id, s.row.started_at.strftime("%m-%d %H:%M") if s.row.started_at else s.id[:6])
            for s in snapshots if s.id in measured]

    def labels(zh: bool) -> tuple[list[str], dict[str, str]]:
        return ([SURFACES.get(s, (s, s))[0 if zh else 1] for s in surfaces],
                {k: v[0 if zh else 1] for k, v in OUTCOMES.items()})

    chart: dict[bool, charts.Stacks] | None = None
    if surfaces:  # one geometry, two languages
        zh_surfaces, zh_outcomes = labels(True)
        geometry = charts.stacks(runs, list(zip(surfaces, zh_surfaces, strict=True)), counts,
                                 zh_outcomes)
        chart = {True: geometry, False: geometry.relabelled(*labels(False))}

    # the platform's findings, in the findings table's order (grouped once, _PlatformRows)
    findings = Table("findings", rows.findings_columns, rows.findings.get(pid, []))
    w.table(findings, f"api/v1/platforms/{slug(pid)}")
    w.page("platform.html.j2", common["links"]["platform"][pid], {
        **common, "pid": pid, "company": names.company(pid),
        "chart": chart,
        "findings": findings.rows[:FINDINGS_SHOWN], "findings_total": len(findings.rows),
        "findings_api": f"api/v1/platforms/{slug(pid)}/findings",
        "failing": rows.failing.get(pid, []),
        "search_rows": rows.search.get(pid, []),
        "outgoing": rows.outgoing.get(pid, []),
        "incoming": rows.incoming.get(pid, []),
        "edges": rows.edges.get(pid, []),
    })


def _surface_order(surface: str) -> tuple[int, str]:
    order = [s.value for s in SurfaceKind]
    return (order.index(surface) if surface in order else len(order), surface)


def _company_page(w: _Writer, common: dict[str, Any], tables: dict[str, Table], names: Names,
                  cid: str, platforms: list[str]) -> None:
    own = [p for p in platforms if names.company(p) == cid]
    rows = [r for r in tables["platform_matrix"].rows if r["source_company"] == cid]
    targets = sorted({r["target"] for r in rows},
                     key=lambda t: (names.company(t), t))

    def heat(zh: bool) -> charts.Heatmap:
        values = {(r["source"], r["target"]): (
            r["worst"], r["links"], common["links"]["platform"].get(r["source"]),
            f"{names.platform_name(r['source'], zh)} → {names.platform_name(r['target'], zh)}")
            for r in rows}
        return charts.heatmap(
            [(p, names.platform_name(p, zh), common["links"]["platform"].get(p))
             for p in sorted({r["source"] for r in rows})],
            [(t, names.platform_name(t, zh), common["links"]["platform"].get(t))
             for t in targets], values, zh=zh,
            group=lambda p: (names.company(p), names.company_name(names.company(p), zh)))

    w.page("company.html.j2", common["links"]["company"][cid], {
        **common, "cid": cid, "own": own,
        "heat": {True: heat(True), False: heat(False)} if rows else None,
        "outgoing": [r for r in tables["company_matrix"].rows if r["source_company"] == cid],
        "incoming": [r for r in tables["company_matrix"].rows if r["target_company"] == cid],
    })


def _run_page(w: _Writer, common: dict[str, Any], snap: RunSnapshot,
              change: tuple[str, Diff] | None, problem: str | None, input_key: str) -> None:
    """The run's page, with the reports it copies and its review table; not rendered when
    its content key is the previous build's: the run's store row and its diff's inputs (the
    previous run's row: input_key), its sealed bundle (the manifest's hash: files, config,
    records, review queue), the copied reports' sizes and times, the evidence it links, and
    the site's names and links."""
    sid = slug(snap.id)
    path = common["links"]["run"][snap.id]
    manifest_sha: str | None = None
    reports: list[Any] = []
    if snap.bundle is not None and snap.manifest is not None:
        manifest_sha = sha256_file(snap.bundle / MANIFEST)
        for name in COPIED:
            try:
                st = (snap.bundle / name).stat()
            except OSError:
                continue
            reports.append([name, st.st_size, st.st_mtime_ns])
    ev = common["evidence"].get(snap.id)
    key = _digest(common["site_key"], input_key, snap.bundle_problem, manifest_sha, reports,
                  [change[0], change[0] in common["links"]["run"]] if change else None,
                  problem, ev.digest if ev else None, REVIEW_SHOWN)
    if w.unchanged_page(path, key):
        return
    copied: list[tuple[str, str]] = []
    files: list[dict[str, Any]] = []
    review: list[dict[str, str]] = []
    config: list[tuple[str, str]] = []
    made: list[str] = []
    if snap.bundle is not None and snap.manifest is not None:
        for name, _size, _mtime in reports:
            w.copy(snap.bundle / name, f"files/{sid}/{name}")
            copied.append((name, f"files/{sid}/{name}"))
        for rel, digest in sorted(snap.manifest.files.items()):
            file = snap.bundle / rel
            files.append({"file": rel, "sha256": digest,
                          "size": file.stat().st_size if file.is_file() else None})
        config = [(k, json.dumps(v, ensure_ascii=False, default=str))
                  for k, v in sorted(snap.manifest.config.items())
                  if k != "summary" and v not in (None, [], {}, "")]
        items = [dict(zip(REVIEW_COLUMNS, (getattr(i, c) for c in REVIEW_COLUMNS), strict=True))
                 for i in review_of(snap.bundle)]
        w.table(Table("review", tuple(REVIEW_COLUMNS), items), f"api/v1/runs/{sid}")
        review = items
        made = [p for _n, p in copied] + [f"api/v1/runs/{sid}/review.{x}"
                                          for x in ("json", "csv")]
    w.page("run.html.j2", path, {
        **common, "snap": snap, "copied": copied, "files": files, "review": review,
        "review_shown": REVIEW_SHOWN, "manifest_sha": manifest_sha, "config": config,
        "change": change, "change_problem": problem, "sid": sid,
        "figures": headline(snap),
    })
    w.keyed(path, key, made)


def _viewer(w: _Writer, common: dict[str, Any], publish_replay: bool) -> list[str]:
    """The vendored replay viewer copied into replay/ (with its licence); what to tell the
    user when it is not there."""
    files = replay.viewer_files() if publish_replay else None
    common["viewer"] = files is not None
    if files is None:
        return [] if not publish_replay else [
            f"the replay viewer is not vendored ({replay.vendor_dir()}; scripts/site-vendor.sh "
            "installs it): evidence pages link each run's WACZ without replaying it / "
            "未安装回放查看器，证据页只提供 WACZ 文件"]
    for name, path in files.items():
        w.copy(path, f"replay/{name}")
    guard = (templates_dir() / "replay-guard.js").read_text(encoding="utf-8")
    w.text(f"replay/{replay.GUARD}", replay.guard_script(guard))
    common["replay_config"] = replay.REPLAY_CONFIG
    common["replay_sw_name"] = replay.SW_NAME
    common["replay_sw"] = replay.SW_REGISTERED
    return []


def _evidence(w: _Writer, snap: RunSnapshot, key: str, publish_replay: bool,
              findings: list[str], read: list[str]) -> replay.Evidence:
    """The run's evidence page's data: the recorded chains of the observations the site
    links to it — `findings` (the latest run's findings its platform pages list) and the
    review rows its run page lists — read from the bundle, and its WACZ (packaged once per
    bundle, replay.package). Cached while the run is unchanged: the review rows' ids, and
    the chains of the observations listed; a run that stops being the latest lists a subset
    of what it listed (its review rows), read from the cache. `read` gets the runs whose
    bundle was read. The viewer page is rendered later with the other pages."""
    assert snap.bundle is not None
    sid = slug(snap.id)
    file = w.out / CACHE / "evidence" / f"{sid}.json"
    wacz_path = f"files/{sid}/{replay.WACZ_NAME}"
    key = f"{key}|{publish_replay}"
    cached = load_cache(file)
    review: list[str] | None = None
    known: dict[str, replay.Recorded] = {}
    looked: set[str] = set()
    wacz: dict[str, Any] | None = None
    if cached is not None and cached.get("key") == key:
        try:
            review = [str(i) for i in cached["review"]]
            looked = {str(i) for i in cached["looked"]}
            previous = replay.Evidence.of_record(cached["evidence"])
            known = previous.items
            wacz = {"wacz": previous.wacz, "sha256": previous.sha256, "size": previous.size,
                    "problem": previous.problem}
        except (KeyError, TypeError, ValueError):
            review, known, looked, wacz = None, {}, set(), None  # another shape
    if review is None:
        review = [i.observation_id for i in islice(review_of(snap.bundle), REVIEW_SHOWN)]
    wanted = list(dict.fromkeys(findings + review))
    if not set(wanted) <= looked:
        read.append(snap.id)
        known = replay.recorded(snap.bundle, wanted)
    items = {i: known[i] for i in wanted if i in known}
    ev = replay.Evidence(f"evidence/{sid}.html", items)
    target = w.out / wacz_path
    if wacz is not None and wacz["wacz"] is None:
        ev.problem = wacz["problem"]  # none published (--no-replay), or why not
    elif (wacz is not None and target.is_file()
          and target.stat().st_size == wacz["size"]):
        w.keep(wacz_path)
        ev.wacz, ev.sha256, ev.size = wacz_path, wacz["sha256"], int(wacz["size"])
    elif publish_replay:
        try:
            package = replay.package(snap.bundle, sha256_file(snap.bundle / MANIFEST),
                                     cache_root() / "wacz")
        except (WaczError, OSError) as exc:
            ev.problem = str(exc)
        else:
            w.copy(package.path, wacz_path)
            ev.wacz, ev.sha256, ev.size = wacz_path, package.sha256, package.size
    record = ev.record()
    ev.digest = _digest(record)
    # What a full build of the same history caches: the listed chains only.
    save_cache(file, {"key": key, "review": review, "looked": wanted, "evidence": record})
    return ev


def _requirement_pages(w: _Writer, common: dict[str, Any], tables: dict[str, Table],
                       catalog: Catalog, latest: RunSnapshot) -> None:
    index = []
    for framework in catalog.frameworks.values():
        for req in framework.requirements:
            key = f"{framework.id}/{req.id}"
            path = f"requirement/{slug(framework.id + '--' + req.id)}.html"
            failing = [r for r in tables["requirement_failures"].rows
                       if r["framework"] == framework.id and r["requirement"] == req.id]
            statuses = {p: s[key] for p, s in sorted(latest.requirements.items()) if key in s}
            index.append({"framework": framework, "req": req, "path": path,
                          "failing": len(failing)})
            w.page("requirement.html.j2", path, {
                **common, "framework": framework, "req": req, "failing": failing,
                "statuses": statuses,
                "rule_titles": {r: catalog.rules[r].title for r in req.rules
                                if r in catalog.rules}})
    w.page("requirements.html.j2", "requirements.html", {**common, "index": index})


def _assets(w: _Writer) -> None:
    source = templates_dir()
    css = (source / "site.css").read_text(encoding="utf-8")
    # A search class badge takes its outcome's colour, as in the report (CLASS_OUTCOME).
    w.text("assets/site.css", css + "\n/* outcome colours: audit/judge/outcomes.py */\n"
           + css_rules({f".c-{cls}": outcome for cls, outcome in CLASS_OUTCOME.items()}))
    for name in ("search.js", "choose.js", "viewer.js"):
        w.text(f"assets/{name}", (source / name).read_text(encoding="utf-8"))
