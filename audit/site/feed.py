"""The site's Atom feed (RFC 4287) of regressions: one entry per run that got worse than the
run before it with the same sources (audit.history.diff). Written with the standard
library's ElementTree, which escapes every text and attribute, never by concatenation."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime

from audit.history.diff import Diff
from audit.site.read import RunSnapshot
from audit.site.tables import Names

ATOM = "http://www.w3.org/2005/Atom"
FEED_ID = "urn:hulian:site:regressions"


def _when(value: datetime | None, default: datetime) -> str:
    value = value or default
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _sub(parent: ET.Element, tag: str, text: str | None = None,
         **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attributes)
    if text is not None:
        element.text = text
    return element


def regression_lines(d: Diff, names: Names) -> list[str]:
    """What got worse, one line each (English and Chinese platform names)."""
    lines = []
    for c in d.edges:
        if c.kind == "worse":
            source, surface, target = c.key
            lines.append(f"{names.platform_name(source, False)} ({surface}) → "
                         f"{names.platform_name(target, False)}: {c.before} → {c.after}")
    for c in d.requirements:
        if c.kind == "worse" and c.after == "fail":
            lines.append(f"requirement {c.key[0]}: {c.before} → {c.after}")
    for c in d.search:
        if c.kind == "worse":
            lines.append(f"search {names.platform_name(c.key[0], False)} / {c.key[1]}: "
                         f"{c.before} → {c.after}")
    return lines


def atom(snapshots: Sequence[RunSnapshot], diffs: dict[str, tuple[str, Diff]],
         now: datetime, names: Names, run_path: dict[str, str] | None = None) -> str:
    """The feed as XML text; entry links are relative to the site's root (the feed sits
    there), so the feed moves with the site."""
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed")
    _sub(root, "id", FEED_ID)
    _sub(root, "title", "hulian: regressions / 互联指数：变差记录")
    _sub(root, "updated", _when(now, now))
    _sub(root, "link", rel="self", href="feed.xml")
    _sub(root, "link", rel="alternate", href="en/index.html")
    author = _sub(root, "author")
    _sub(author, "name", "hulian")
    for snap in reversed(snapshots):
        entry = diffs.get(snap.id)
        if entry is None or not entry[1].regression:
            continue
        previous, d = entry
        lines = regression_lines(d, names)
        item = _sub(root, "entry")
        _sub(item, "id", f"urn:hulian:run:{snap.id}:regressions")
        _sub(item, "title", f"Regressions in run {snap.id} (since {previous}) / "
                            f"运行 {snap.id} 出现变差")
        _sub(item, "updated", _when(snap.row.started_at, now))
        href = (run_path or {}).get(snap.id)
        if href:
            _sub(item, "link", rel="alternate", href=f"en/{href}")
        _sub(item, "summary", f"{len(lines)} regression(s) / {len(lines)} 处变差")
        _sub(item, "content", "\n".join(lines), type="text")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
