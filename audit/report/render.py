"""Reports rendered from the Jinja2 templates in reports/: report.html, report.pdf, plus the
machine outputs (findings.json, findings.csv, junit.xml, via audit/report/exports.py).

The only module importing jinja2, weasyprint and babel.support. The HTML and the PDF come
from one template and one stylesheet: the PDF is WeasyPrint's rendering of the HTML with
`mode="pdf"` (a capped per-finding section, a table of contents with page numbers).

Security: everything quoted from audited pages (titles, excerpts, URLs) is escaped by
autoescape; only http(s) URLs ever become links; the page carries a Content-Security-Policy
that forbids every script except the one inline filter/sort script, allowed by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from markupsafe import Markup

from audit import __version__, shipped_dir
from audit.collector import collector_paused
from audit.errors import HulianError
from audit.evidence.bundle import BundleError, Problem
from audit.evidence.review import REVIEW_CSV, write_review_csv
from audit.evidence.sql import TablesError
from audit.judge import outcomes
from audit.judge.evaluate import OUTCOME_LABELS, REASON_LABELS, SURFACE_LABELS
from audit.model import (
    BlockReason,
    Outcome,
    Severity,
    Status,
    SurfaceKind,
)
from audit.model import Text as BiText
from audit.policy.catalog import Catalog
from audit.report import groups, heatmap, nodelink, shown
from audit.report.data import (
    LISTED_PER_REQUIREMENT,
    Finding,
    ReportData,
    build_report_data,
)

logger = logging.getLogger(__name__)

FORMATS = ("html", "pdf", "json", "csv", "junit")
DEFAULT_FORMATS = FORMATS
LANGS = {"zh": "zh_CN", "en": "en"}
DEFAULT_LANG = "zh"
PDF_FINDINGS_CAP = 200  # per-finding detail in a small run's PDF (audit/report/groups.py)
REQUIREMENT_LIST_CAP = {"html": LISTED_PER_REQUIREMENT, "pdf": 12}
CHANGES_CAP = 500  # rows of "changes since the previous run" (`hulian diff` lists them all)
# Findings rendered per call of the finding_rows macro: few calls, and the page still goes to
# the file in pieces of ~3 MB, never as one string.
ROWS_PER_CALL = 1000
FONT_PACKAGE = "fonts-noto-cjk"
OUTPUT_NAMES = {"html": "report.html", "pdf": "report.pdf", "json": "findings.json",
                "csv": "findings.csv", "junit": "junit.xml"}


class ReportError(HulianError):
    """A report cannot be produced (missing fonts, bad format name ...)."""


def _listed_by_requirement(data: ReportData, cap: int) -> dict[str, Finding]:
    """The findings the requirements' lists show (the first `cap` of each), by id, read
    where they are (a large run's findings stay in their file: a pass over them all took
    ~5 s a million observations)."""
    wanted = sorted({p for r in data.requirements for p in r.finding_positions[:cap]})
    return {f.id: f for f in data.findings.read(wanted)}


def templates_dir() -> Path:
    return shipped_dir("reports", "report.html.j2")


# ---------------------------------------------------------------------------------------
# Message catalogs and formatting
# ---------------------------------------------------------------------------------------


@cache
def translations(locale: str) -> Translations:
    """The UI strings of `locale`, compiled from the .po file at load (no stale .mo can
    survive an edit of the .po)."""
    po = templates_dir() / "locale" / locale / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


_NOT_IN_HREF = re.compile(r"[\x00-\x20\x7f]")


def safe_href(url: object) -> str | None:
    """The URL if it may become a link: http(s) only, no whitespace or control characters
    (a `javascript:` or `data:` URL from an audited page must stay inert text)."""
    return _safe_href(url) if isinstance(url, str) else None


@lru_cache(maxsize=4096)  # a finding shows its target URL twice, and often as its first hop
def _safe_href(url: str) -> str | None:
    if _NOT_IN_HREF.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _shorten(text: object, limit: int = 110) -> str:
    value = "" if text is None else str(text)
    return value if len(value) <= limit else value[: limit - 30] + "…" + value[-29:]


COMPILED_GETTEXT = "compiled_gettext"


class _CompiledGettext(Extension):
    """`_("text")` without variables becomes `"text"|compiled_gettext`, a filter of constant
    arguments, which Jinja2 evaluates when it compiles the template: the translation is a
    constant of the compiled code (each language has its own environment, so its own compiled
    templates). The finding macros print a dozen labels per finding, 40,000 findings a run;
    looking them up per finding cost a quarter of the page's time (bench/report.py's run).
    `_(…, n=…)` stays a call.

    The filter is newstyle gettext with autoescape (jinja2.ext._make_new_gettext): the
    translation marked safe, then %-formatted with no variables, so the page is the same.
    Message extraction (reports/babel.cfg) reads the templates' `_()` calls unchanged."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        tokens = list(stream)
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if (token.test("name:_") and not (i and tokens[i - 1].test("dot"))
                    and [t.type for t in tokens[i + 1:i + 4]] == ["lparen", "string", "rparen"]):
                yield Token(token.lineno, "string", tokens[i + 2].value)
                yield Token(token.lineno, "pipe", "|")
                yield Token(token.lineno, "name", COMPILED_GETTEXT)
                i += 4
            else:
                yield token
                i += 1


@cache
def _environment(lang: str) -> jinja2.Environment:
    """One environment per language and process: templates are compiled once."""
    locale = LANGS[lang]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n", _CompiledGettext],
    )
    catalog = translations(locale)
    # newstyle: `_("%(n)s links", n=3)` formats inside gettext (dependencies.md §8).
    env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
    env.filters[COMPILED_GETTEXT] = lambda message: Markup(catalog.gettext(message)) % {}
    zh = lang == "zh"

    def text(value: BiText | tuple[str, str] | None) -> str:
        if value is None:
            return ""
        if isinstance(value, tuple):
            return value[0] if zh else value[1]
        return value.zh if zh else value.en

    def num(value: float | int) -> str:
        return format_decimal(value, locale=locale)

    def when(value: datetime | None) -> str:
        return format_datetime(value, "long", tzinfo=UTC, locale=locale) if value else "–"

    def surface(value: str | None) -> str:
        return text(SURFACE_LABELS.get(SurfaceKind(value))) if value else ""

    def block_reason(value: str | None) -> str:
        return text(REASON_LABELS.get(BlockReason(value))) if value else ""

    def outcome_long(value: str | None) -> str:
        return text(OUTCOME_LABELS.get(Outcome(value))) if value else ""

    env.filters.update(t=text, num=num, when=when, surface=surface, block_reason=block_reason,
                       outcome_long=outcome_long, safe_href=safe_href, shorten=_shorten)
    return env


# ---------------------------------------------------------------------------------------
# The pictures: heatmaps of the matrix (audit/report/heatmap.py), node-link drawings of each
# source platform's links (audit/report/nodelink.py)
# ---------------------------------------------------------------------------------------

def pictures(data: ReportData, lang: str, mode: str,
             views: dict[str, shown.MatrixView] | None = None) -> dict[str, Any]:
    """The report's SVG figures, inline (WeasyPrint draws inline SVG in the PDF; a browser
    keeps their text as text, in the page's font). Every name in them is escaped by
    ElementTree; they carry no script and no style attribute (the page's CSP).

    The heatmaps draw the matrices' rows and columns the page shows (`views`, default
    audit/report/shown.py's: the tables show the same); the node-link drawings,
    the links of the source platforms shown.drawn_sources chooses, each with at most
    shown.NEIGHBOURS_CAP platforms a side."""
    labels = _labels(lang)["outcome"]
    zh = lang == "zh"
    views = views or shown.matrix_views(data.platform_matrix, data.company_matrix)
    out: dict[str, Any] = {
        "platforms": Markup(heatmap.svg(
            heatmap.from_matrix(views["platforms"].matrix, lang=lang,
                                platform_company=data.platform_company,
                                company_names=data.company_names),
            lang=lang, outcome_labels=labels, ident="heat-platforms",
            title="来源平台 × 目标平台" if zh else "Source platform × target platform")),
        "companies": Markup(heatmap.svg(
            heatmap.from_matrix(views["companies"].matrix, lang=lang),
            lang=lang, outcome_labels=labels, ident="heat-companies",
            title="来源公司 × 目标公司" if zh else "Source company × target company")),
        "neighbourhoods": [],
        "neighbours_capped": False,
    }
    # Every link of a drawn platform is in the whole matrix (a drawing picks its own
    # neighbours), not only in the part the heatmap shows.
    platforms = heatmap.from_matrix(data.platform_matrix, lang=lang,
                                    platform_company=data.platform_company,
                                    company_names=data.company_names)
    for i, pid in enumerate(shown.drawn_sources(data.platform_matrix, mode)):
        drawn = nodelink.neighbourhood(platforms, pid, lang=lang, outcome_labels=labels,
                                       ident=f"nbh-{i}", limit=shown.NEIGHBOURS_CAP)
        if drawn:
            out["neighbourhoods"].append((pid, Markup(drawn[0])))
    out["neighbours_capped"] = shown.neighbours_capped(
        data.platform_matrix, [pid for pid, _ in out["neighbourhoods"]])
    return out


# ---------------------------------------------------------------------------------------
# HTML and PDF
# ---------------------------------------------------------------------------------------


def _asset(name: str) -> str:
    return (templates_dir() / name).read_text(encoding="utf-8")


OUTCOME_CSS = "/* .o-<outcome> rules: audit/judge/outcomes.py */\n"


def _style() -> str:
    """report.css with the outcome colours of audit/judge/outcomes.py, which also colour
    the heatmaps: a badge and the cell it explains cannot disagree."""
    css = _asset("report.css")
    if OUTCOME_CSS not in css:
        raise ReportError(f"reports/report.css lacks the line {OUTCOME_CSS.strip()}")
    return css.replace(OUTCOME_CSS, outcomes.css_rules())


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_html(data: ReportData, *, lang: str = DEFAULT_LANG, mode: str = "html",
                figures: bool = True, generated_at: datetime | None = None,
                evidence_href: str | None = None, pdf_cap: int = PDF_FINDINGS_CAP) -> str:
    """The report as one self-contained HTML page (mode "html") or as the page WeasyPrint
    turns into the PDF (mode "pdf")."""
    return "".join(html_chunks(data, lang=lang, mode=mode, figures=figures,
                               generated_at=generated_at, evidence_href=evidence_href,
                               pdf_cap=pdf_cap))


def write_html(data: ReportData, out: Path, **options: Any) -> Path:
    """render_html streamed into a file (a 40,000-finding page is never one string)."""
    with out.open("w", encoding="utf-8") as fh:
        fh.writelines(html_chunks(data, **options))
    return out


def html_chunks(data: ReportData, *, lang: str = DEFAULT_LANG, mode: str = "html",
                figures: bool = True, generated_at: datetime | None = None,
                evidence_href: str | None = None,
                pdf_cap: int = PDF_FINDINGS_CAP) -> Iterator[str]:
    """The pieces of render_html's page, in order."""
    if lang not in LANGS:
        raise ReportError(f"unknown language {lang!r} (use one of {', '.join(LANGS)})")
    style = _style()
    script = _asset("report.js") if mode == "html" else ""
    script_src = _csp_hash(script) if script else "'none'"
    csp = (f"default-src 'none'; img-src data:; style-src {_csp_hash(style)}; "
           f"script-src {script_src}; base-uri 'none'; form-action 'none'")
    # Small runs: every finding with its evidence; large runs: findings grouped, with
    # examples (audit/report/groups.py keeps the page under 5 MB at any run size).
    findings_layout = groups.layout(data.findings, mode, pdf_cap, data.platform_names)
    detailed = findings_layout.detailed
    evidence = evidence_href if evidence_href and safe_href(
        "http://x/" + evidence_href) else None
    # The matrices' rows and columns the page shows, in its pictures and its tables alike
    # (audit/report/shown.py: every one in a run under the cap).
    views = shown.matrix_views(data.platform_matrix, data.company_matrix)
    context: dict[str, Any] = {
        "d": data, "lang": lang, "html_lang": "zh-CN" if lang == "zh" else "en",
        "mode": mode, "style": style, "script": script, "csp": csp,
        "tool_version": __version__,
        "generated_at": generated_at or datetime.now(UTC),
        "figures": pictures(data, lang, mode, views) if figures else None,
        "views": views, "sources_cap": shown.SOURCES_PER_REQUIREMENT[mode],
        "neighbours_cap": shown.NEIGHBOURS_CAP, "changes_cap": CHANGES_CAP,
        "search_view": shown.search_view(data.search, mode) if data.search else None,
        "graph_files": {name for name, _ in data.files if name.endswith(".graphml")},
        "detailed": detailed, "detailed_ids": {f.id for f in detailed},
        "by_id": _listed_by_requirement(data, REQUIREMENT_LIST_CAP[mode]),
        "pdf_cap": pdf_cap, "list_cap": REQUIREMENT_LIST_CAP[mode],
        "evidence_href": evidence,
        "severities": [s.value for s in reversed(Severity)],
        "statuses": [s.value for s in Status],
        "outcome_order": [o.value for o in outcomes.ORDER],
        "layout": findings_layout,
        # review.csv lists every page to review, manifest.json every file; the page a cap.
        "review_cap": groups.REVIEW_CAP[mode], "cross_cap": groups.CROSS_CAP[mode],
        "files_cap": groups.FILES_CAP, "examples_per_group": groups.EXAMPLES_PER_GROUP,
        # Report order puts the failed ones first.
        "worst": [f for f in data.findings[:5] if f.status == "fail"],
        "sev_rank": {s.value: i for i, s in enumerate(Severity)},
        "outcome_rank": outcomes.RANK,
    }
    env = _environment(lang)
    zh = lang == "zh"
    # What the finding macros of _macros.html.j2 read (once per report, not per finding).
    context["L"] = _labels(lang)
    context["P"] = _Names({pid: (n.zh if zh else n.en) for pid, n in data.platform_names.items()})
    context["C"] = _Names({cid: (n.zh if zh else n.en) for cid, n in data.company_names.items()})
    context["sev_rank"] = {"": -1, **context["sev_rank"]}
    context["rows_per_call"] = ROWS_PER_CALL
    context["zh"] = zh
    yield from env.get_template("report.html.j2").generate(**context)


class _Names(dict[str | None, str]):
    """Names by id; an id without a name shows as itself (a subscript in a template costs a
    tenth of a `.get()` call)."""

    def __missing__(self, key: str | None) -> str | None:
        return key


@cache
def _labels(lang: str) -> dict[str, dict[str, str]]:
    """The labels of values a finding shows (its status, severity, outcome ...), looked up
    once: a label macro call per finding of a 40,000-finding table costs seconds (the macros
    in _macros.html.j2 define the texts)."""
    macros: Any = _environment(lang).get_template("_macros.html.j2").make_module({"d": None})
    zh = lang == "zh"
    return {
        "status": {s: str(macros.status_label(s))
                   for s in ("fail", "pass", "exempt", "inconclusive", "manual", "none")},
        "severity": {s.value: str(macros.severity_label(s.value)) for s in Severity},
        "outcome": {o.value: str(macros.outcome_label(o.value)) for o in Outcome},
        "outcome_long": {o.value: v[0] if zh else v[1] for o, v in OUTCOME_LABELS.items()},
        "surface": {k.value: v[0] if zh else v[1] for k, v in SURFACE_LABELS.items()},
        "reason": {k.value: v[0] if zh else v[1] for k, v in REASON_LABELS.items()},
    }


def check_cjk_fonts() -> None:
    """WeasyPrint draws tofu boxes, silently, without a Chinese font: refuse instead."""
    fc_list = shutil.which("fc-list")
    found = ""
    if fc_list:
        found = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True,
                               text=True, timeout=30, check=False).stdout.strip()
    if not found:
        raise ReportError(
            "no Chinese font found (`fc-list :lang=zh` is empty): the PDF would show boxes "
            f"instead of Chinese text. Install the Debian package {FONT_PACKAGE} "
            f"(apt-get install -y {FONT_PACKAGE}). / 未找到中文字体，请安装 {FONT_PACKAGE}。")


def write_pdf(html: str, out: Path, base_url: Path) -> Path:
    check_cjk_fonts()
    import weasyprint  # type: ignore[import-untyped]  # imported late: loading Pango costs a second, and only PDFs need it

    # WeasyPrint logs every unsupported CSS property at WARNING; those are not the user's
    # concern, real errors still raise.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    weasyprint.HTML(string=html, base_url=str(base_url)).write_pdf(out)
    return out


def write_reports(run_path: Path, catalog: Catalog, formats: Sequence[str] = DEFAULT_FORMATS,
                  lang: str = DEFAULT_LANG, out: Path | None = None, *,
                  previous: Path | None = None,
                  generated_at: datetime | None = None, figure: bool = True,
                  unverified: list[Problem] | None = None) -> list[Path]:
    """Write the reports of the run bundle at `run_path` into `out` (default: the bundle).

    formats: any of html, pdf, json, csv, junit. lang: zh or en. previous: an earlier run
    bundle to compare with. unverified: what verification found when the bundle
    is reported on with --allow-unverified (every format then carries the banner). Returns
    the files written.
    """

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ReportError(f"unknown report format(s) {', '.join(unknown)} "
                          f"(use {', '.join(FORMATS)})")
    if lang not in LANGS:
        raise ReportError(f"unknown language {lang!r} (use one of {', '.join(LANGS)})")
    if "pdf" in formats:
        check_cjk_fonts()  # before the work, so a missing font fails fast
    out = out or run_path
    out.mkdir(parents=True, exist_ok=True)
    # A report builds a few million small objects that all live until it is written: the
    # collector would rescan them again and again (a third of the time) to free nothing.
    with collector_paused():
        return _write_reports(run_path, catalog, formats, lang, out, previous=previous,
                              generated_at=generated_at, figure=figure,
                              unverified=unverified)


def _write_reports(run_path: Path, catalog: Catalog, formats: Sequence[str], lang: str,
                   out: Path, *, previous: Path | None,
                   generated_at: datetime | None, figure: bool,
                   unverified: list[Problem] | None = None) -> list[Path]:
    from audit.report import exports

    # DuckDB reads the run's tables and keeps the findings (audit/report/findings.py); it
    # writes findings.json's and findings.csv's rows itself, on every core, and the page
    # asks it for the few findings it shows.
    # A bundle that failed verification is read from its lines: its tables are current by
    # their size, and an edit that kept a file's size would not be in them.
    data = build_report_data(run_path, catalog, previous=previous,
                             fresh_tables=bool(unverified))
    data.unverified = unverified
    generated = generated_at or datetime.now(UTC)
    evidence = os.path.relpath(run_path / "evidence", out)
    try:
        # The review queue is written with every report, whatever the formats: it is the
        # list a person must work through before the run's findings are complete.
        write_review_csv(data.review, out / REVIEW_CSV)
        exports.write_findings(
            data, json_out=out / OUTPUT_NAMES["json"] if "json" in formats else None,
            csv_out=out / OUTPUT_NAMES["csv"] if "csv" in formats else None,
            generated_at=generated.isoformat())
        for fmt in formats:
            target = out / OUTPUT_NAMES[fmt]
            if fmt in ("json", "csv"):
                continue
            if fmt == "junit":
                exports.write_junit(data, target)
            elif fmt == "html":
                write_html(data, target, lang=lang, mode="html", figures=figure,
                           generated_at=generated, evidence_href=evidence)
            else:
                html = render_html(data, lang=lang, mode="pdf", figures=figure,
                                   generated_at=generated, evidence_href=evidence)
                write_pdf(html, target, out)
    except TablesError as exc:  # DuckDB's, asked about the findings
        raise BundleError(str(exc)) from None
    finally:
        data.findings.close()
    return [*(out / OUTPUT_NAMES[fmt] for fmt in formats), out / REVIEW_CSV]
