"""The site's offline search: an index built at build time and a small script
(templates/search.js) that matches it in the browser. The index is a JavaScript file
(`search-index.js`, one assignment of JSON): a page opened from file:// may load a script
beside it, while Chromium refuses it a fetch() of a JSON file.

An entry: kind, the page (site path below the language directory, with an optional
#fragment), the title in Chinese and English, and the lower-cased text it is found by (both
languages, ids, hosts and URLs).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from audit.policy.catalog import Catalog
from audit.site.read import RunSnapshot
from audit.site.tables import Names, Table, shown_findings, slug
from audit.web.urls import host_of


def _entry(kind: str, page: str, zh: str, en: str, *words: str | None) -> dict[str, Any]:
    text = " ".join(w for w in (zh, en, *words) if w)
    return {"k": kind, "p": page, "t": [zh, en], "s": text.lower()}


def entries(snapshots: Sequence[RunSnapshot], names: Names, platforms: Sequence[str],
            companies: Sequence[str], links: dict[str, dict[str, str]], catalog: Catalog,
            tables: dict[str, Table]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for p in platforms:
        domains = catalog.platforms[p].domains if p in catalog.platforms else []
        found.append(_entry("platform", links["platform"][p], names.platform_name(p, True),
                            names.platform_name(p, False), p, *domains))
    for c in companies:
        found.append(_entry("company", links["company"][c], names.company_name(c, True),
                            names.company_name(c, False), c))
    for s in snapshots:
        found.append(_entry("run", links["run"][s.id], f"运行 {s.id}", f"Run {s.id}", s.id))
    # Targets: every target of the latest run's links, found by its id, name or host, and
    # leading to the source platform that links it.
    targets: dict[str, set[str]] = {}
    for row in tables["edges"].rows:
        targets.setdefault(row["target"], set()).add(row["source"])
    for target, sources in sorted(targets.items()):
        for source in sorted(sources):
            if source not in links["platform"]:
                continue
            found.append(_entry(
                "target", links["platform"][source],
                f"{names.platform_name(source, True)} → {names.platform_name(target, True)}",
                f"{names.platform_name(source, False)} → {names.platform_name(target, False)}",
                target))
    # The findings the platform pages show (each entry leads to its row); the others are
    # in the API files only, and would make this script, which every page loads, megabytes.
    # Found by rule, target (id, names), URL, host and outcome; not by the reason text,
    # which the rule and the names make (in both languages it is most of an entry's size).
    for f in shown_findings(tables["findings"]):
        if f["source"] not in links["platform"]:
            continue
        target = f["target_platform"]
        found.append(_entry(
            "finding", f"{links['platform'][f['source']]}#f-{f['id']}",
            f"{names.platform_name(f['source'], True)}：{f['rule_id']}",
            f"{names.platform_name(f['source'], False)}: {f['rule_id']}",
            f["target_url"], host_of(f["target_url"] or "") if f["target_url"] else None,
            target, names.platform_name(target, True) if target else None,
            names.platform_name(target, False) if target else None, f["outcome"]))
    for framework in catalog.frameworks.values():
        for req in framework.requirements:
            found.append(_entry("requirement",
                                f"requirement/{slug(framework.id + '--' + req.id)}.html",
                                req.title.zh, req.title.en, req.id, req.wording))
    return found


def index_script(found: list[dict[str, Any]]) -> str:
    """The index as a script. ensure_ascii: every non-ASCII character and the line
    separators JSON allows but older JavaScript does not are written as escapes; '<' is
    escaped too, so no text in it can close a script element."""
    body = json.dumps(found, ensure_ascii=True, separators=(",", ":")).replace("<", "\\u003c")
    return f"window.HULIAN_SEARCH = {body};\n"
