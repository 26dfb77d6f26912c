"""Target lists: URLs to test through a platform's link wrapper, from a Citizen Lab test-list
CSV (`url,category_code,category_description,date_added,source,notes`) or a YAML list.

Testing a target through the wrapper is how regulators dial-test link handling (拨测验证):
the crawler asks the platform's redirector to open each target, as a user's click would.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from audit.bounded import describe, read_file_bounded
from audit.errors import HulianError
from audit.measure.chain import probe_id
from audit.model import Platform, Probe, SurfaceKind
from audit.policy.catalog import PolicyError, read_yaml
from audit.web.urls import host_of


class TargetListError(HulianError):
    """A target list cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Target:
    url: str
    category: str | None = None


# Citizen Lab's largest list is ~200 KB; a list a thousand times that is no list.
MAX_TARGET_LIST_BYTES = 256 * 1024 * 1024


def load_targets(path: Path) -> list[Target]:
    """The targets of a Citizen Lab test-list CSV or a YAML list; TargetListError names the
    file and line of what cannot be read (before, a YAML list nested 100,000 deep ended the
    run as "maximum recursion depth exceeded" and a CSV cell over 128 KiB in a traceback:
    review 169)."""
    try:
        read = read_file_bounded(path, MAX_TARGET_LIST_BYTES)
    except OSError as exc:
        raise TargetListError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if read.more:
        raise TargetListError(f"{path}: larger than {describe(MAX_TARGET_LIST_BYTES)}: "
                              "not a target list")
    if path.suffix.lower() in (".yaml", ".yml"):
        targets = _from_yaml(path, read.data)
    else:
        try:
            text = read.data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TargetListError(f"{path}: not UTF-8 (byte {exc.start})") from None
        targets = _from_csv(path, text)
    if not targets:
        raise TargetListError(f"{path}: no targets in this file")
    return targets


def _check(path: Path, line: int, url: str) -> str:
    url = url.strip()
    if host_of(url) is None or not url.lower().startswith(("http://", "https://")):
        shown = url if len(url) <= 200 else url[:200] + "…"
        raise TargetListError(f"{path}:{line}: not an absolute http(s) URL: {shown!r}")
    return url


def _from_csv(path: Path, text: str) -> list[Target]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "url" not in reader.fieldnames:
        raise TargetListError(f"{path}:1: a test-list CSV needs a 'url' column "
                              "(Citizen Lab format: url,category_code,...)")
    targets = []
    try:
        for row in reader:
            line = reader.line_num
            if not (row.get("url") or "").strip():
                continue
            targets.append(Target(_check(path, line, row["url"]),
                                  (row.get("category_code") or "").strip() or None))
    except csv.Error as exc:  # a cell over the csv module's 128 KiB, a NUL byte
        raise TargetListError(f"{path}:{reader.line_num}: not a test-list row ({exc})"
                              ) from None
    return targets


def _from_yaml(path: Path, content: bytes) -> list[Target]:
    try:
        data, _node = read_yaml(path, content)
    except PolicyError as exc:
        raise TargetListError(str(exc)) from None
    if isinstance(data, dict):
        data = data.get("targets")
    if not isinstance(data, list):
        raise TargetListError(f"{path}:1: expected a list of URLs (or of {{url, category}})")
    targets = []
    for index, item in enumerate(data, 1):
        if isinstance(item, str):
            targets.append(Target(_check(path, index, item)))
        elif isinstance(item, dict) and isinstance(item.get("url"), str):
            category = item.get("category")
            targets.append(Target(_check(path, index, item["url"]),
                                  str(category) if category else None))
        else:
            raise TargetListError(f"{path}: entry {index}: expected a URL or {{url: ...}}")
    return targets


def wrapper_link(platform: Platform, target: str) -> str:
    """The link a user of `platform` would click for `target`: its wrapper's template."""
    for wrapper in platform.wrappers:
        if wrapper.link_template:
            return wrapper.link_template.replace("{target}", quote(target, safe=""))
    raise TargetListError(
        f"platform {platform.id!r} has no wrapper with a link_template; a target list is "
        "tested through a platform's link wrapper")


def plan_probes(targets: list[Target], platform: Platform, surface: SurfaceKind,
                target_platform: dict[str, str | None]) -> list[Probe]:
    probes = []
    for target in targets:
        probes.append(Probe(
            id=probe_id(platform.id, surface.value, target.url), source=platform.id,
            surface=surface, target_url=target.url,
            target_platform=target_platform.get(target.url),
            link_url=wrapper_link(platform, target.url), category=target.category,
        ))
    return probes
