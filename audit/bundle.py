"""The run bundle: an append-only directory of JSONL files plus a manifest of hashes.

Lines are flushed to the operating system as each record is written, so a crash (even
SIGKILL) loses nothing already written; at most a final partial line, which the reader skips
and reports. `finish()` writes manifest.json with the sha256 of every file, atomically.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform as host_platform
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TypeVar

from pydantic import BaseModel, ValidationError

from audit import __version__
from audit.jsonlines import repair_partial_line
from audit.model import Observation, Probe, RunManifest, Verdict

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
PROBES = "probes.jsonl"
OBSERVATIONS = "observations.jsonl"
VERDICTS = "verdicts.jsonl"

R = TypeVar("R", bound=BaseModel)


class BundleError(Exception):
    """A bundle cannot be read or written; the message names the file (and line)."""


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def vantage() -> dict[str, str]:
    """Where the measurement ran from (recorded, never used to decide anything)."""
    return {"hostname": host_platform.node(), "system": host_platform.platform(),
            "python": host_platform.python_version()}


class BundleWriter:
    """Creates runs/<run-id>/ and appends records as they come."""

    def __init__(self, root: Path, *, run_id: str | None = None, policy_digest: str,
                 config: dict[str, object] | None = None, resume: bool = False):
        self.run_id = run_id or new_run_id()
        # The first character must be a letter or digit: "." and ".." would name the runs
        # directory itself or its parent.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.run_id):
            raise BundleError(f"run id {self.run_id!r} must start with a letter or digit and "
                              "may only use letters, digits, '.', '_', '-'")
        self.path = root / self.run_id
        if self.path.exists() and not resume:
            raise BundleError(f"{self.path}: a run with this id already exists")
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "evidence").mkdir(exist_ok=True)
        previous = read_manifest(self.path) if resume and (self.path / MANIFEST).exists() else None
        self.manifest = previous or RunManifest(
            run_id=self.run_id, tool_version=__version__, policy_digest=policy_digest,
            started_at=datetime.now(UTC), config=dict(config or {}), vantage=vantage(),
        )
        self._handles: dict[str, IO[str]] = {}
        self._write_manifest()

    def _append(self, name: str, record: BaseModel) -> None:
        handle = self._handles.get(name)
        if handle is None:
            path = self.path / name
            repair_partial_line(path)
            handle = self._handles[name] = path.open("a", encoding="utf-8")
        handle.write(record.model_dump_json(exclude_none=False) + "\n")
        handle.flush()

    def add_probe(self, probe: Probe) -> None:
        self._append(PROBES, probe)

    def add_observation(self, observation: Observation) -> None:
        self._append(OBSERVATIONS, observation)

    def add_verdict(self, verdict: Verdict) -> None:
        self._append(VERDICTS, verdict)

    def close(self) -> None:
        for handle in self._handles.values():
            os.fsync(handle.fileno())
            handle.close()
        self._handles.clear()

    def finish(self) -> RunManifest:
        """Close the files and seal the bundle: hashes of every file into the manifest."""
        self.close()
        self.manifest.finished_at = datetime.now(UTC)
        seal(self.path, self.manifest)
        return self.manifest

    def _write_manifest(self) -> None:
        write_manifest(self.path, self.manifest)

    def __deepcopy__(self, memo: dict[int, object]) -> BundleWriter:
        # A writer is a resource (open files), not a value: Scrapy deep-copies its settings,
        # where the crawler's writer travels, and every copy must be this same writer.
        return self

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()



def write_manifest(path: Path, manifest: RunManifest) -> None:
    tmp = path / (MANIFEST + ".tmp")
    tmp.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path / MANIFEST)


# Reports are derived from the sealed files and can be rendered again at any time, in either
# language (`hulian report RUN`); they are written after sealing so that they can quote the
# final manifest's sha256, and are therefore not part of the seal.
DERIVED_FILES = frozenset({"report.html", "report.pdf", "findings.json", "findings.csv",
                           "junit.xml"})


def bundle_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()
                  and p.name not in (MANIFEST, MANIFEST + ".tmp")
                  and not (p.parent == path and p.name in DERIVED_FILES))


def seal(path: Path, manifest: RunManifest) -> None:
    manifest.files = {p.relative_to(path).as_posix(): sha256_file(p) for p in bundle_files(path)}
    write_manifest(path, manifest)


def read_manifest(path: Path) -> RunManifest:
    file = path / MANIFEST
    if not file.is_file():
        raise BundleError(f"{path}: not a run bundle (no {MANIFEST})")
    try:
        return RunManifest.model_validate_json(file.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise BundleError(f"{file}: invalid manifest ({loc}: {first['msg']})") from None


@dataclass
class ReadProblems:
    skipped: list[str] = field(default_factory=list)


def iter_records(file: Path, model: type[R], problems: ReadProblems | None = None) -> Iterator[R]:
    """Records of one JSONL file. A final partial line (an interrupted write) is skipped and
    noted; a corrupt line anywhere else is an error naming the file and line."""
    if not file.exists():
        return
    with file.open("rb") as fh:  # streamed: bundles can be larger than memory
        yield from _parse_lines(file, fh, model, problems)


def _parse_lines(file: Path, fh: IO[bytes], model: type[R],
                 problems: ReadProblems | None) -> Iterator[R]:
    for number, raw in enumerate(fh, 1):
        if not raw.strip():
            continue
        try:
            yield model.model_validate_json(raw)
        except ValidationError as exc:
            # Only the last line of a file can lack its newline.
            if not raw.endswith(b"\n"):
                note = f"{file}:{number}: partial last line skipped (interrupted write)"
                logger.warning(note)
                if problems is not None:
                    problems.skipped.append(note)
                return
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise BundleError(f"{file}:{number}: invalid record ({loc}: {first['msg']})") from None


class Bundle:
    """A run bundle on disk, for reading."""

    def __init__(self, path: Path):
        self.path = path
        self.manifest = read_manifest(path)
        self.problems = ReadProblems()

    def probes(self) -> Iterator[Probe]:
        return iter_records(self.path / PROBES, Probe, self.problems)

    def observations(self) -> Iterator[Observation]:
        return iter_records(self.path / OBSERVATIONS, Observation, self.problems)

    def verdicts(self) -> Iterator[Verdict]:
        return iter_records(self.path / VERDICTS, Verdict, self.problems)


@dataclass(frozen=True)
class VerifyReport:
    ok: list[str]
    changed: list[str]
    missing: list[str]
    unlisted: list[str]

    @property
    def intact(self) -> bool:
        return not (self.changed or self.missing or self.unlisted)

    def as_dict(self) -> dict[str, object]:
        return {"intact": self.intact, "ok": len(self.ok), "changed": self.changed,
                "missing": self.missing, "unlisted": self.unlisted}


def verify(path: Path) -> VerifyReport:
    """Recompute the sha256 of every file the manifest lists and name what differs."""
    manifest = read_manifest(path)
    ok, changed, missing = [], [], []
    root = path.resolve()
    for name, expected in sorted(manifest.files.items()):
        file = path / name
        if not file.resolve().is_relative_to(root):
            # A manifest must not make verify read files outside the bundle.
            raise BundleError(f"{path / MANIFEST}: lists a file outside the bundle: {name!r}")
        if not file.is_file():
            missing.append(name)
        elif sha256_file(file) != expected:
            changed.append(name)
        else:
            ok.append(name)
    listed = set(manifest.files)
    unlisted = [p.relative_to(path).as_posix() for p in bundle_files(path)
                if p.relative_to(path).as_posix() not in listed]
    return VerifyReport(ok, changed, missing, unlisted)


def rewrite_verdicts(path: Path, verdicts: list[Verdict], policy_digest: str,
                     unverified: dict[str, object] | None = None) -> RunManifest:
    """Replace verdicts.jsonl (after `hulian evaluate`) and reseal the manifest, recording
    which policy set produced the verdicts. `unverified` (the failed verification of a forced
    evaluation) is recorded too, because resealing would otherwise hide the alteration."""
    manifest = read_manifest(path)
    tmp = path / (VERDICTS + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for verdict in verdicts:
            fh.write(verdict.model_dump_json() + "\n")
    os.replace(tmp, path / VERDICTS)
    evaluations = manifest.config.setdefault("evaluations", [])
    if isinstance(evaluations, list):
        entry: dict[str, object] = {"at": datetime.now(UTC).isoformat(),
                                    "policy_digest": policy_digest, "verdicts": len(verdicts)}
        if unverified is not None:
            entry["forced_despite"] = unverified
        evaluations.append(entry)
    seal(path, manifest)
    return manifest

