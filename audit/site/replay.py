"""Replayable evidence on the site (issue 18, item 3): a run's WARCs as a WACZ in the site
(audit/evidence/wacz.export_wacz, files/<run>/evidence.wacz), the recorded exchanges of its
findings and review queue with each hop's body SHA-256, and ReplayWeb.page's embeddable
viewer (ui.js, sw.js), vendored at install time by scripts/site-vendor.sh into .site-vendor/
and copied into the site's replay/ by the build.

A WACZ is cached by the digest of the bundle's manifest (the sealed bundle it packages), so
every site built from one bundle publishes the same bytes under the same hash, and a rebuild
packages nothing again. py-wacz stamps each package with its creation time and random page
ids: packaging twice would change the file, and the hash a reader was shown, for no reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from audit.evidence.bundle import sha256_file
from audit.evidence.wacz import WaczError, export_wacz

VENDOR_ENV = "HULIAN_SITE_VENDOR"
# The replay's collection settings (wabac's extraConfig): its policy forbids every script, the
# recorded pages' own and the viewer's injected ones. A platform's page replayed on the site's
# origin reached the evidence page around the viewer's rewriting (new Function('return top'))
# and wrote a forged SHA-256 beside it (a review). What is replayed is the page as served,
# its markup and styles.
REPLAY_CONFIG = orjson.dumps({"csp": "default-src 'self' 'unsafe-inline' data: blob:; "
                                     "script-src 'none'; object-src 'none'; "
                                     "form-action 'none'; base-uri 'none'"}).decode()
# The policy holds only for a collection opened with it, and the viewer's service worker
# serves its app at replay/ to any URL: a recorded `Refresh` header pointing there (a
# navigation no script is needed for, which the viewer passes through) opened a second viewer
# of another name for the same WACZ, without the policy, whose replayed script wrote on the
# evidence page (reproduced, 2026-12-07). So the app the worker serves starts with the
# site's guard (wabac's `indexScript`), which loads the viewer only for a frame opened with
# these settings and this worker. ReplayWeb.page appends "?serveIndex=1" to the worker's name
# it is given: the guard's own parameters go before it, and the last one takes that suffix.
GUARD = "guard.js"
SW_NAME = f"sw.js?serveIndex=1&indexScript={GUARD}&hulian="
SW_REGISTERED = SW_NAME + "?serveIndex=1"
VIEWER = "replaywebpage"  # .site-vendor/<VIEWER>/: the files the site's replay/ gets
VIEWER_FILES = ("ui.js", "sw.js", "LICENSE")
WACZ_NAME = "evidence.wacz"
# Hops a reader did not meet as the audited platform served them: hulian's own control
# fetch of the target, and the click through an interstitial (the interstitial is the page).
_NOT_SHOWN = ("control", "continue")


def vendor_dir() -> Path:
    """$HULIAN_SITE_VENDOR, else .site-vendor/ at the top of the checkout."""
    explicit = os.environ.get(VENDOR_ENV)
    if explicit:
        return Path(explicit)
    return Path(__file__).resolve().parents[2] / ".site-vendor"


def viewer_files(vendor: Path | None = None) -> dict[str, Path] | None:
    """The vendored viewer's files by name, or None when any is missing."""
    base = (vendor or vendor_dir()) / VIEWER
    files = {name: base / name for name in VIEWER_FILES}
    return files if all(p.is_file() for p in files.values()) else None


def guard_script(template: str) -> str:
    """The replay's guard (templates/replay-guard.js) with the settings it admits."""
    return (template.replace('"@CONFIG@"', orjson.dumps(REPLAY_CONFIG).decode())
            .replace('"@SW_NAME@"', orjson.dumps(SW_NAME).decode()))


@dataclass(frozen=True)
class Exchange:
    """One recorded request/response of a chain (a hop)."""

    url: str
    status: int | None
    via: str
    body_sha256: str | None
    warc_record_id: str | None


@dataclass(frozen=True)
class Recorded:
    """An observation's recorded chain, and the hop a reader is shown first."""

    observation_id: str
    source: str
    surface: str
    target_url: str
    target_platform: str | None
    outcome: str
    hops: tuple[Exchange, ...]
    shown: int | None  # index into hops; None: nothing recorded to replay

    @property
    def shown_hop(self) -> Exchange | None:
        return self.hops[self.shown] if self.shown is not None else None


def shown_hop(hops: Sequence[Exchange]) -> int | None:
    """The page the platform served the reader: the last recorded hop that is neither
    hulian's control fetch nor the click through an interstitial (a warning, a copy-only
    or a block page is then the page itself; a redirect ends on the page it led to); else
    the last recorded hop at all."""
    recorded = [i for i, h in enumerate(hops) if h.warc_record_id]
    served = [i for i in recorded if hops[i].via not in _NOT_SHOWN]
    if served:
        return served[-1]
    return recorded[-1] if recorded else None


def recorded(bundle: Path, ids: Iterable[str]) -> dict[str, Recorded]:
    """The chains of the observations `ids` from the bundle's observations.jsonl, streamed
    as JSON (the hops of the few wanted; the others' lines are not turned into model
    objects). Observations the bundle does not hold, and lines that are not records (the
    bundle reader's to report), are left out."""
    wanted = set(ids)
    found: dict[str, Recorded] = {}
    path = bundle / "observations.jsonl"
    if not wanted or not path.is_file():
        return found
    try:
        with path.open("rb") as fh:
            for line in fh:
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(record, dict) or record.get("id") not in wanted:
                    continue
                item = _recorded(record)
                if item is not None:
                    found[item.observation_id] = item
                    if len(found) == len(wanted):
                        break
    except OSError:
        return found  # the run page says what is wrong with the bundle
    return found


def _recorded(record: dict[str, Any]) -> Recorded | None:
    try:
        hops = tuple(Exchange(str(h["url"]), h.get("status"), str(h.get("via") or "start"),
                              h.get("body_sha256"), h.get("warc_record_id"))
                     for h in record.get("hops") or [])
        return Recorded(str(record["id"]), str(record["source"]), str(record["surface"]),
                        str(record["target_url"]), record.get("target_platform"),
                        str(record["outcome"]), hops, shown_hop(hops))
    except (KeyError, TypeError, AttributeError):
        return None


def as_record(item: Recorded) -> dict[str, Any]:
    return asdict(item)


def from_record(record: dict[str, Any]) -> Recorded:
    hops = tuple(Exchange(str(h["url"]), h["status"], str(h["via"]), h["body_sha256"],
                          h["warc_record_id"]) for h in record["hops"])
    return Recorded(str(record["observation_id"]), str(record["source"]),
                    str(record["surface"]), str(record["target_url"]),
                    record["target_platform"], str(record["outcome"]), hops,
                    record["shown"])


@dataclass(frozen=True)
class Package:
    """A run's WACZ, ready to be copied into the site."""

    path: Path
    sha256: str
    size: int


def package(bundle: Path, manifest_digest: str, cache: Path) -> Package:
    """The bundle's WACZ from the cache (`cache/<manifest digest>.wacz`), packaged by
    export_wacz when it is not there yet. Raises WaczError (no WARC evidence, py-wacz
    refused)."""
    if not manifest_digest or any(c not in "0123456789abcdef" for c in manifest_digest):
        raise WaczError(f"{bundle}: unexpected manifest digest {manifest_digest!r}")
    path = cache / f"{manifest_digest}.wacz"
    if not path.is_file():
        export_wacz(bundle, path)
    return Package(path, sha256_file(path), path.stat().st_size)


@dataclass
class Evidence:
    """A run's replayable evidence as the site publishes it: the viewer page (a site path
    under each language), the recorded chains it lists, the WACZ (a site path) with its
    SHA-256 and size, or why there is none."""

    page: str
    items: dict[str, Recorded]
    wacz: str | None = None
    sha256: str | None = None
    size: int | None = None
    problem: str | None = None
    digest: str = ""  # of `record()`: the evidence page's content key (the build's)

    def record(self) -> dict[str, Any]:
        return {"page": self.page, "items": [as_record(i) for i in self.items.values()],
                "wacz": self.wacz, "sha256": self.sha256, "size": self.size,
                "problem": self.problem}

    @classmethod
    def of_record(cls, record: dict[str, Any]) -> Evidence:
        items = [from_record(r) for r in record["items"]]
        size = record["size"]
        return cls(str(record["page"]), {i.observation_id: i for i in items},
                   record["wacz"], record["sha256"], int(size) if size is not None else None,
                   record["problem"])
