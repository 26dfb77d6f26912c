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

import yaml

from audit.errors import HulianError
from audit.measure.chain import probe_id
from audit.model import Platform, Probe, SurfaceKind
from audit.web.urls import host_of


class TargetListError(HulianError):
    """A target list cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Target:
    url: str
    category: str | None = None


def load_targets(path: Path) -> list[Target]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise TargetListError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise TargetListError(f"{path}: not UTF-8 (byte {exc.start})") from None
    targets = _from_yaml(path, text) if path.suffix.lower() in (".yaml", ".yml") else (
        _from_csv(path, text))
    if not targets:
        raise TargetListError(f"{path}: no targets in this file")
    return targets


def _check(path: Path, line: int, url: str) -> str:
    url = url.strip()
    if host_of(url) is None or not url.lower().startswith(("http://", "https://")):
        raise TargetListError(f"{path}:{line}: not an absolute http(s) URL: {url!r}")
    return url


def _from_csv(path: Path, text: str) -> list[Target]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "url" not in reader.fieldnames:
        raise TargetListError(f"{path}:1: a test-list CSV needs a 'url' column "
                              "(Citizen Lab format: url,category_code,...)")
    targets = []
    for row in reader:
        line = reader.line_num
        if not (row.get("url") or "").strip():
            continue
        targets.append(Target(_check(path, line, row["url"]),
                              (row.get("category_code") or "").strip() or None))
    return targets


def _from_yaml(path: Path, text: str) -> list[Target]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise TargetListError(f"{path}:{line}: invalid YAML") from None
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
