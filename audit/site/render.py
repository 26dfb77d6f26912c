"""Pages of the static site from the Jinja2 templates in audit/site/templates/ (autoescape on:
names, titles and URLs quoted from audited pages are hostile text).

Besides audit/report/render.py, the only module importing Jinja2. Every link a template makes
goes through `url()`: relative to the page, so the site works from file:// and from any
directory of any static host.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jinja2
from babel.dates import format_datetime
from babel.numbers import format_decimal, format_percent

from audit import __version__
from audit.site import texts

LANGS = ("zh", "en")
HTML_LANG = {"zh": "zh-CN", "en": "en"}
LOCALE = {"zh": "zh_CN", "en": "en"}
# Scripts and styles only from the site's own files; no request can leave the site.
CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
       "base-uri 'none'; form-action 'none'")
# The replay viewer's pages: ReplayWeb.page's web components need inline styles, its service
# worker and web worker, the WACZ fetched from the site and the replay in a frame of the site;
# still nothing from another origin. The replayed page in the frame gets the replay's own
# policy (the service worker's: no request leaves the site).
VIEWER_CSP = ("default-src 'none'; style-src 'self' 'unsafe-inline'; script-src 'self'; "
              "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
              "worker-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'")


def templates_dir() -> Path:
    return Path(__file__).resolve().parent / "templates"


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1 << 16)  # pages link the same few targets thousands of times
def relative(target: str, page: str) -> str:
    """The link from the page at site path `page` to the site path `target`."""
    base = posixpath.dirname(page) or "."
    link = posixpath.relpath(target or ".", base)
    return link + "/" if target.endswith("/") and not link.endswith("/") else link


def render(template: str, lang: str, path: str, context: dict[str, Any],
           generated_at: datetime) -> str:
    """A page of language `lang` at `<lang>/<path>`, or a language-less page at `path` when
    `lang` is empty (the root chooser)."""
    page = f"{lang}/{path}" if lang else path
    zh = lang != "en"
    locale = LOCALE["zh" if zh else "en"]

    def url(target: str) -> str:
        return relative(target, page)

    def lang_url(target: str) -> str:
        return url(f"{lang}/{target}")

    def when(value: datetime | str | None) -> str:
        if value is None:
            return "–"
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return format_datetime(value, "yyyy-MM-dd HH:mm 'UTC'", tzinfo=UTC, locale=locale)

    def num(value: float | int | None) -> str:
        return "–" if value is None else format_decimal(value, locale=locale)

    def percent(value: float | None) -> str:
        return "–" if value is None else format_percent(value, "#,##0.0%", locale=locale)

    other = "en" if zh else "zh"
    env = environment()
    helpers: dict[str, Callable[..., str]] = {"url": url, "L": lang_url, "when": when,
                                              "num": num, "percent": percent}
    full = {
        **context, **helpers, "lang": lang or "zh", "zh": zh,
        "html_lang": HTML_LANG["zh" if zh else "en"], "csp": CSP, "viewer_csp": VIEWER_CSP,
        "page": page,
        "other_url": url(f"{other}/{path}") if lang else "",
        "root": (url(".") + "/") if url(".") != "." else "",
        "T": texts.texts("zh" if zh else "en"),
        "O": texts.labels(texts.OUTCOMES, "zh" if zh else "en"),
        "SC": texts.labels(texts.SEARCH_CLASSES, "zh" if zh else "en"),
        "SEV": texts.labels(texts.SEVERITIES, "zh" if zh else "en"),
        "ST": texts.labels(texts.STATUSES, "zh" if zh else "en"),
        "tool_version": __version__, "generated_at": generated_at,
    }
    return env.get_template(template).render(**full)
