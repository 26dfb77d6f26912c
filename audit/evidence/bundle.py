"""The run bundle: an append-only directory of JSONL files plus a manifest of hashes.

Lines are flushed to the operating system as each record is written, so a crash (even
SIGKILL) loses nothing already written; at most a final partial line, which the reader skips
and reports. `finish()` writes manifest.json with the sha256 of every file, atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform as host_platform
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar, overload

from pydantic import BaseModel, ValidationError
from pydantic_core import to_json

from audit import __version__
from audit.errors import EXIT_NOT_A_RUN, EXIT_UNVERIFIED, HulianError
from audit.evidence.jsonlines import repair_partial_line
from audit.evidence.lock import BUNDLE_LOCK, bundle_lock
from audit.evidence.through import SYNC_BYTES, open_through
from audit.model import Observation, Probe, RunManifest, SearchRecord, Verdict

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
PROBES = "probes.jsonl"
OBSERVATIONS = "observations.jsonl"
VERDICTS = "verdicts.jsonl"
# The JSON-lines files that have a Parquet copy beside them (observations.parquet ...).
COLUMNAR = (OBSERVATIONS, VERDICTS)
VERDICTS_TABLE = "verdicts.parquet"  # verdicts.jsonl's table (audit.evidence.columnar)
# Search barriers: each host's robots.txt and sitemaps, each seed page's indexing directives
# (audit/measure/search.py); sealed like every measured file.
SEARCH = "search.jsonl"

R = TypeVar("R", bound=BaseModel)


class BundleError(HulianError):
    """A bundle cannot be read or written; the message names the file (and line)."""


# Exit statuses of commands that use a bundle as evidence (report, diff, graph, runs import).


class NotARun(BundleError):
    """The path is not a run bundle (no manifest.json)."""

    exit_code = EXIT_NOT_A_RUN


class Unverified(BundleError):
    """The bundle fails verification and --allow-unverified was not given."""

    exit_code = EXIT_UNVERIFIED

    def __init__(self, message: str, problems: list[tuple[str, str]]):
        super().__init__(message)
        self.problems = problems


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def check_run_id(run_id: str) -> str:
    # The first character must be a letter or digit: "." and ".." would name the runs
    # directory itself or its parent.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", run_id):
        raise BundleError(f"run id {run_id!r} must start with a letter or digit and "
                          "may only use letters, digits, '.', '_', '-'")
    return run_id


@overload
def sha256_file(path: Path, *, drop: bool = False) -> str: ...


@overload
def sha256_file(path: Path, stop: threading.Event, *, drop: bool = False) -> str | None: ...


def sha256_file(path: Path, stop: threading.Event | None = None, *,
                drop: bool = False) -> str | None:
    """The file's SHA-256 (hex); None if `stop` was set before the end (checked between
    megabytes: a hash made beside other work can be given up without reading on).
    drop: what is read leaves the page cache as it goes (a file nothing else reads soon:
    gigabytes read into the cache cost this project's test machine more than reading them,
    3.4 GB 5.2-8.8 s against 2.3-2.4 s; audit.evidence.through)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        advise = getattr(os, "posix_fadvise", None) if drop else None
        read = 0
        while chunk := fh.read(1 << 20):
            if stop is not None and stop.is_set():
                return None
            digest.update(chunk)
            read += len(chunk)
            if advise is not None and read % SYNC_BYTES == 0:
                with suppress(OSError):  # advice only (through.py)
                    advise(fh.fileno(), 0, read, os.POSIX_FADV_DONTNEED)
    return digest.hexdigest()


def vantage() -> dict[str, str]:
    """Where the measurement ran from (recorded, never used to decide anything)."""
    return {"hostname": host_platform.node(), "system": host_platform.platform(),
            "python": host_platform.python_version()}


class BundleWriter:
    """Creates runs/<run-id>/ and appends records as they come."""

    def __init__(self, root: Path, *, run_id: str | None = None, policy_digest: str,
                 config: dict[str, object] | None = None, resume: bool = False):
        self.run_id = check_run_id(run_id or new_run_id())
        self.path = root / self.run_id
        # The directory may exist already, holding only the lock its command took first.
        if not resume and self.path.exists() and any(
                p.name != BUNDLE_LOCK for p in self.path.iterdir()):
            raise BundleError(f"{self.path}: a run with this id already exists")
        self.path.mkdir(parents=True, exist_ok=True)
        # Taken (again, re-entrantly) here too, so that a writer whose command forgot the
        # lock still cannot write beside a live one.
        with bundle_lock(self.path, "write"):
            (self.path / "evidence").mkdir(exist_ok=True)
            previous = (read_manifest(self.path) if resume and (self.path / MANIFEST).exists()
                        else None)
            self.manifest = previous or RunManifest(
                run_id=self.run_id, tool_version=__version__, policy_digest=policy_digest,
                started_at=datetime.now(UTC), config=dict(config or {}), vantage=vantage(),
            )
            self._handles: dict[str, IO[str]] = {}
            # The Parquet copies of observations and verdicts, written beside their lines
            # (audit/evidence/columnar.py; Any: pyarrow is loaded only when one is opened).
            self._tables: dict[str, Any] = {}
            self._write_manifest()

    def _append(self, name: str, record: BaseModel) -> None:
        handle = self._handles.get(name)
        if handle is None:
            path = self.path / name
            repair_partial_line(path)
            handle = self._handles[name] = path.open("a", encoding="utf-8")
            if name in COLUMNAR and columnar_during_run():
                self._tables[name] = _columnar().ColumnarLog(path, self.run_id,
                                                               strict=False)
        line = json_line(record).decode()
        handle.write(line)
        handle.flush()
        table = self._tables.get(name)
        if table is not None:
            table.add(line)

    def add_probe(self, probe: Probe) -> None:
        self._append(PROBES, probe)

    def add_observation(self, observation: Observation) -> None:
        self._append(OBSERVATIONS, observation)

    def add_verdict(self, verdict: Verdict) -> None:
        self._append(VERDICTS, verdict)

    def add_search(self, record: SearchRecord) -> None:
        self._append(SEARCH, record)

    def close(self) -> None:
        for handle in self._handles.values():
            os.fsync(handle.fileno())
            handle.close()
        self._handles.clear()
        for table in self._tables.values():
            table.close()
        self._tables.clear()

    def finish(self, known: EarlyDigests | None = None) -> RunManifest:
        """Close the files and seal the bundle: hashes of every file into the manifest,
        the Parquet tables among them (built from the lines where they are not current:
        a resumed run, a table cut by a crash, lines written by the recorder process).
        known: digests taken before (EarlyDigests), for the files unchanged since."""
        self.close()
        ensure_columnar(self.path, self.run_id)
        self.manifest.finished_at = datetime.now(UTC)
        seal(self.path, self.manifest, known)
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



def _columnar() -> Any:
    # pyarrow (~80 MB, 0.2 s to load) only for the commands that write tables.
    from audit.evidence import columnar

    return columnar


# Whether the Parquet tables are written as the lines are (HULIAN_PARQUET=1) or built from
# the lines in one pass when the run is judged and sealed (the default). Built afterwards by
# default: written during a crawl, they keep pyarrow (~90 MB of RSS) loaded in the crawl's
# recorder process for the whole crawl, which bench/crawl.py's memory target cannot afford,
# and the one pass with Arrow's JSON reader costs about what the row groups cost
# (docs/benchmarks.md). Read here, not in columnar.py: asking must not load pyarrow.
ENV_COLUMNAR_DURING_RUN = "HULIAN_PARQUET"


def columnar_during_run() -> bool:
    """Whether runs write their Parquet tables as they go (HULIAN_PARQUET=1) or build them
    when judged and sealed (the default)."""
    return os.environ.get(ENV_COLUMNAR_DURING_RUN, "0").strip().lower() in (
        "1", "on", "yes", "true")


def ensure_columnar(path: Path, run_id: str, *, rebuild: tuple[str, ...] = ()) -> None:
    """Every columnar table of the bundle current with its lines (those named in `rebuild`
    built again whatever their footer says: a file rewritten, not appended to)."""
    columnar = _columnar()
    for name in COLUMNAR:
        try:
            if name in rebuild:
                columnar.build(path / name, run_id)
            else:
                columnar.ensure(path / name, run_id)
        except columnar.ColumnarError as exc:
            # A line that is no record (a damaged file, an old bug) must not keep the run
            # from being sealed: the lines are the record, sealed as they are, and every
            # reader names the bad line. The table is left out rather than kept stale.
            columnar.parquet_path(path / name).unlink(missing_ok=True)
            logger.warning("%s; sealed without %s", exc, columnar.parquet_path(path / name).name)


def canonical_manifest(fields: Mapping[str, object]) -> bytes:
    """A manifest's fields other than the digest itself, as canonical JSON (sorted keys, no
    spaces): what manifest_digest hashes, and what a time-stamping authority is asked to
    stamp (its sha256 is the digest, so the token names the digest)."""
    body = {k: v for k, v in fields.items() if k != "manifest_digest"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


def manifest_digest(fields: Mapping[str, object]) -> str:
    """sha256 of canonical_manifest: it pins what the manifest says, whatever its layout on
    disk."""
    return hashlib.sha256(canonical_manifest(fields)).hexdigest()


def write_manifest(path: Path, manifest: RunManifest) -> None:
    # Digested from the JSON as written and read back, exactly as verify will read it.
    manifest.manifest_digest = manifest_digest(json.loads(manifest.model_dump_json()))
    tmp = path / (MANIFEST + ".tmp")
    tmp.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path / MANIFEST)


# Reports are derived from the sealed files and can be rendered again at any time, in either
# language (`hulian report RUN`); they are written after sealing so that they can quote the
# final manifest's sha256, and are therefore not part of the seal.
# Derived from the sealed records and written again at will (`hulian report`): not sealed.
DERIVED_FILES = frozenset({"report.html", "report.pdf", "findings.json", "findings.csv",
                           "junit.xml", "review.csv"})


# Attestations over the sealed manifest: who sealed it (signature.json) and when it existed
# (timestamp.tsr, an RFC 3161 token). They cover the manifest's digest, so the manifest cannot
# list them; `hulian verify` checks them against it (audit/evidence/custody.py).
SIGNATURE = "signature.json"
TIMESTAMP = "timestamp.tsr"
ATTESTATIONS = frozenset({SIGNATURE, TIMESTAMP})


def bundle_files(path: Path) -> list[Path]:
    # The lock file says who writes the bundle now: not part of what was measured.
    return sorted(p for p in path.rglob("*") if p.is_file()
                  and p.name not in (MANIFEST, MANIFEST + ".tmp")
                  and not (p.parent == path and (p.name in DERIVED_FILES
                                                 or p.name == BUNDLE_LOCK
                                                 or p.name in ATTESTATIONS)))


def seal(path: Path, manifest: RunManifest, known: EarlyDigests | None = None) -> None:
    """Hashes of every bundle file into the manifest, written. known: digests taken before
    (EarlyDigests), used for the files unchanged since."""
    with bundle_lock(path, "seal"):
        manifest.files = {p.relative_to(path).as_posix():
                          known.digest(p) if known is not None else sha256_file(p)
                          for p in bundle_files(path)}
        write_manifest(path, manifest)


def _identity(path: Path) -> tuple[int, ...]:
    """What changes when a file is written, replaced or truncated."""
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class EarlyDigests:
    """SHA-256 of a bundle's files taken in a thread of their own while the run goes on, for
    the seal. A crawl's end writes its verdicts (4 GB at a million observations of 2,000
    platforms), then spends ~40 s of Python on the graph: hashlib lets go of the GIL, so the
    files judged are hashed meanwhile rather than after (~6 s of its seal; ~45 s at ten
    million). A digest counts only for a file unchanged (device, inode, size, modification
    and change times) from before its hashing to after it and to its use; any other file is
    hashed when asked (`digest`), as `seal` always did. A context manager: leaving it stops
    the hashing at its next megabyte and waits for the thread."""

    def __init__(self, paths: Iterable[Path]):
        self._paths = list(paths)
        self._known: dict[Path, tuple[tuple[int, ...], str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._hash_all, name="hulian-early-digests",
                                         daemon=True)
        self._thread.start()

    def _hash_all(self) -> None:
        for path in self._paths:
            try:
                before = _identity(path)
                # The JSON lines (gigabytes) are the record: the run's steps read its tables.
                digest = sha256_file(path, self._stop, drop=path.suffix == ".jsonl")
                if digest is None:
                    return
                if _identity(path) == before:
                    self._known[path] = (before, digest)
            except OSError:
                continue  # hashed again when asked, which reports what is wrong

    def digest(self, path: Path) -> str:
        """The file's SHA-256: the early one if the file is as it was then."""
        self._thread.join()
        known = self._known.get(path)
        if known is not None and _identity(path) == known[0]:
            return known[1]
        return sha256_file(path)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> EarlyDigests:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_manifest(path: Path) -> RunManifest:
    file = path / MANIFEST
    if not file.is_file():
        raise NotARun(f"{path}: not a run bundle (no {MANIFEST})")
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

    def search(self) -> Iterator[SearchRecord]:
        """search.jsonl (none in runs made before search barriers were measured)."""
        return iter_records(self.path / SEARCH, SearchRecord, self.problems)


@dataclass
class Tally:
    """What a crawl's end needs of a bundle: its observations' outcomes, counted, and how many
    of its probes have no observation (none, when a crawl has measured everything it
    planned)."""

    outcomes: Counter[str]
    unobserved: int


# An observation's outcome as model_dump_json writes it: the key cannot occur inside a string
# (JSON escapes its quotes) and no nested record has one.
_OUTCOME = re.compile(rb'"outcome":"([a-z_]+)"')


def tally(path: Path) -> Tally:
    """One pass over the records' lines, read for their ids and outcomes, not into models
    (the models of a million observations took ~9 s, their ids and outcomes ~3 s)."""
    observed: set[object] = set()
    outcomes: Counter[str] = Counter()
    for line in _lines(path / OBSERVATIONS):
        if (ids := _record_ids(line, with_probe=True)) is None:
            continue  # a cut last line, as the models' reader skips it
        found = _OUTCOME.search(line)
        if found is not None:
            outcome = found.group(1).decode()
        else:  # written otherwise (another writer's key order, escapes): read it whole
            try:
                outcome = str(json.loads(line).get("outcome"))
            except ValueError:
                continue  # cut by a crash after its first fields: not an observation
        observed.add(ids[1])
        outcomes[outcome] += 1
    missing = sum(1 for line in _lines(path / PROBES)
                  if (ids := _record_ids(line, with_probe=False)) is not None
                  and ids[0] not in observed)
    return Tally(outcomes, missing)


def _lines(file: Path) -> Iterator[bytes]:
    if file.is_file():
        with file.open("rb") as lines:
            yield from (line for line in lines if line.strip())


# A problem verify found: (kind, detail). Kinds are fixed words (the reports translate them);
# details name files, ids or dates.
Problem = tuple[str, str]

PROBLEM_LABELS: dict[str, str] = {
    "changed": "changed since sealing 封存后被改动",
    "missing": "missing 缺失",
    "unlisted": "not in the manifest 未登记",
    "manifest_changed": "manifest fields changed since sealing (configuration, times, "
                        "versions, history) 清单字段被改动",
    "manifest_absent": "manifest fields not sealed (no manifest_digest) 清单字段未封存",
    "manifest_unreadable": "manifest unreadable 清单无法读取",
    "duplicate_probes": "probe ids planned more than once 重复的探测",
    "duplicate_observations": "probes observed more than once (two writers?) 重复的观测",
    "duplicate_observation_ids": "observation ids used more than once 重复的观测编号",
    "forced": "resealed by `hulian evaluate --force` over a failed verification 强制重新评估",
}


def _names(values: list[str], limit: int = 8) -> str:
    shown = ", ".join(values[:limit]) + (", …" if len(values) > limit else "")
    return f"{len(values)}: {shown}" if len(values) > 1 else shown


@dataclass(frozen=True)
class ForcedEvaluation:
    """One `hulian evaluate --force`, as the manifest records it."""

    at: str
    policy_digest: str
    previous_policy_digest: str | None
    despite: list[Problem]  # what failed verification then; empty: --force overrode nothing

    def describe(self) -> str:
        text = (f"evaluate --force at {self.at} with policies {self.policy_digest[:16]} "
                f"(previous {(self.previous_policy_digest or '–')[:16]})")
        if self.despite:
            return text + "; over a failed verification: " + "; ".join(describe(self.despite))
        return text + "; the bundle verified then (nothing was overridden)"


@dataclass(frozen=True)
class VerifyReport:
    ok: list[str]
    changed: list[str]
    missing: list[str]
    unlisted: list[str]
    manifest: str = "ok"  # the manifest's own fields: ok | changed | absent
    duplicate_probes: list[str] = field(default_factory=list)
    duplicate_observations: list[str] = field(default_factory=list)  # probe ids
    duplicate_observation_ids: list[str] = field(default_factory=list)
    forced: list[ForcedEvaluation] = field(default_factory=list)
    sealed: bool = True  # False: the run never finished (the manifest lists no files)

    @property
    def consistent(self) -> bool:
        """Everything but the file hashes holds: the manifest's fields are as sealed, no probe
        is planned or observed twice, no forced evaluation resealed an altered bundle. What a
        resumed (never sealed) run must satisfy."""
        return (self.manifest == "ok" and not self.duplicate_probes
                and not self.duplicate_observations and not self.duplicate_observation_ids
                and not any(f.despite for f in self.forced))

    @property
    def intact(self) -> bool:
        return self.consistent and not (self.changed or self.missing or self.unlisted)

    def problems(self) -> list[Problem]:
        found: list[Problem] = [(kind, name) for kind, names in (
            ("changed", self.changed), ("missing", self.missing),
            ("unlisted", self.unlisted)) for name in names]
        if self.manifest != "ok":
            found.append((f"manifest_{self.manifest}", MANIFEST))
        for kind, ids in (("duplicate_probes", self.duplicate_probes),
                          ("duplicate_observations", self.duplicate_observations),
                          ("duplicate_observation_ids", self.duplicate_observation_ids)):
            if ids:
                found.append((kind, _names(ids)))
        found += [("forced", f.describe()) for f in self.forced if f.despite]
        return found

    def as_dict(self) -> dict[str, object]:
        return {"intact": self.intact, "ok": len(self.ok), "changed": self.changed,
                "missing": self.missing, "unlisted": self.unlisted, "manifest": self.manifest,
                "duplicate_probes": self.duplicate_probes,
                "duplicate_observations": self.duplicate_observations,
                "duplicate_observation_ids": self.duplicate_observation_ids,
                "forced_evaluations": [_forced_dict(f) for f in self.forced],
                "problems": describe(self.problems())}


def _forced_dict(forced: ForcedEvaluation) -> dict[str, object]:
    return {"at": forced.at, "policy_digest": forced.policy_digest,
            "previous_policy_digest": forced.previous_policy_digest,
            "despite": describe(forced.despite)}


def describe(problems: list[Problem]) -> list[str]:
    """One line per problem, for the terminal and for every output's unverified banner."""
    return [f"{PROBLEM_LABELS.get(kind, kind)}: {detail}" for kind, detail in problems]


def banner(run: Path | str, problems: list[Problem]) -> list[str]:
    """The banner of an output made from a bundle that failed verification (written with
    --allow-unverified): the same lines in a report, a diff, a graph export and on stderr."""
    return [f"UNVERIFIED BUNDLE 未通过校验: {run} fails `hulian verify`; used with "
            "--allow-unverified. Do not rely on it as evidence. 不可作为证据。",
            *describe(problems)]


# The first fields of a record as model_dump_json writes them: read without parsing the rest.
_IDS = re.compile(rb'\{"id":"([^"\\]*)"(?:,"probe_id":"([^"\\]*)")?')


class _Repeats:
    """The values seen more than once, found in memory that does not grow with the values
    (a set of ten million observation ids and their probe ids held ~1.9 GB): each value sets
    two bits of a bitmap (by its hash), and one whose two bits were already set is a
    candidate — seen before, or sharing its bits with values seen. The candidates, few, are
    then counted exactly in a second pass over the same values (`count`), so `repeated` is
    exact. A bitmap of 64 bits or more per expected value keeps them under 0.1 %."""

    def __init__(self, expected: int) -> None:
        bits = min(MAX_REPEAT_BITS, max(1 << 16, 1 << (64 * max(1, expected)).bit_length()))
        self._bitmap = bytearray(bits >> 3)
        self._mask = bits - 1
        self.candidates: set[str] = set()
        self._counts: dict[str, int] | None = None

    @classmethod
    def of(cls, file: Path) -> _Repeats:
        """For the records of `file`: a record is rarely under 128 bytes."""
        return cls(file.stat().st_size // 128 if file.is_file() else 0)

    def add(self, value: object) -> None:
        if not isinstance(value, str):
            return
        h = hash(value)
        first, second = h & self._mask, (h >> 32) & self._mask
        bitmap = self._bitmap
        seen = (bitmap[first >> 3] >> (first & 7)) & (bitmap[second >> 3] >> (second & 7)) & 1
        if seen:
            self.candidates.add(value)
        else:
            bitmap[first >> 3] |= 1 << (first & 7)
            bitmap[second >> 3] |= 1 << (second & 7)

    def count(self, value: object) -> None:
        """The second pass: each value again, in any order."""
        if self._counts is None:
            self._counts = dict.fromkeys(self.candidates, 0)
        if isinstance(value, str) and value in self._counts:
            self._counts[value] += 1

    @property
    def repeated(self) -> set[str]:
        return {value for value, n in (self._counts or {}).items() if n > 1}


# The largest bitmap of a _Repeats: 64 MB (past ~67 million records, more candidates).
MAX_REPEAT_BITS = 1 << 29


def _record_ids(line: bytes, with_probe: bool) -> tuple[object, object] | None:
    """A record's id and (with_probe) probe_id, from its first fields where they come first
    as model_dump_json writes them, else from the parsed line; None for a line that is no
    JSON object (a cut last line)."""
    fast = _IDS.match(line)
    if fast is not None and (not with_probe or fast.group(2) is not None):
        return (fast.group(1).decode("utf-8", "replace"),
                fast.group(2).decode("utf-8", "replace") if with_probe else None)
    try:
        record = json.loads(line)
    except ValueError:
        return None  # a cut last line; whether it was sealed so, the hash says
    if not isinstance(record, dict):
        return None
    return record.get("id"), record.get("probe_id")


def _hash_and_scan(file: Path, ids: _Repeats, probe_ids: _Repeats | None) -> str:
    """sha256 of a JSONL file, noting each record's id (and probe_id) on the way: one read,
    and a second over the ids where some may repeat (_Repeats)."""
    digest = hashlib.sha256()
    with_probe = probe_ids is not None
    with file.open("rb") as fh:
        for line in fh:
            digest.update(line)
            found = _record_ids(line, with_probe)
            if found is not None:
                ids.add(found[0])
                if probe_ids is not None:
                    probe_ids.add(found[1])
    if ids.candidates or (probe_ids is not None and probe_ids.candidates):
        with file.open("rb") as fh:
            for line in fh:
                found = _record_ids(line, with_probe)
                if found is not None:
                    ids.count(found[0])
                    if probe_ids is not None:
                        probe_ids.count(found[1])
    return digest.hexdigest()


def verify(path: Path) -> VerifyReport:
    """Recompute the sha256 of every file the manifest lists and of the manifest's own fields,
    look for probes planned or observed twice, and name what differs. Every command that
    uses a bundle as evidence calls this (through require_verified, below)."""
    manifest = read_manifest(path)
    raw = json.loads((path / MANIFEST).read_bytes())
    recorded = raw.get("manifest_digest")
    manifest_state = ("absent" if not recorded
                      else "ok" if recorded == manifest_digest(raw) else "changed")
    probe_repeats = _Repeats.of(path / PROBES)
    observation_repeats, observed_repeats = (_Repeats.of(path / OBSERVATIONS),
                                             _Repeats.of(path / OBSERVATIONS))
    scans = {PROBES: (probe_repeats, None),
             OBSERVATIONS: (observation_repeats, observed_repeats)}
    ok: list[str] = []
    changed: list[str] = []
    missing: list[str] = []
    root = path.resolve()
    for name, expected in sorted(manifest.files.items()):
        file = path / name
        if not file.resolve().is_relative_to(root):
            # A manifest must not make verify read files outside the bundle.
            raise BundleError(f"{path / MANIFEST}: lists a file outside the bundle: {name!r}")
        if not file.is_file():
            missing.append(name)
            continue
        scan = scans.pop(name, None)
        actual = _hash_and_scan(file, *scan) if scan else sha256_file(file)
        (ok if actual == expected else changed).append(name)
    for name, scan in scans.items():  # not listed (an unsealed run): still scanned
        if (path / name).is_file():
            _hash_and_scan(path / name, *scan)
    listed = set(manifest.files)
    unlisted = [p.relative_to(path).as_posix() for p in bundle_files(path)
                if p.relative_to(path).as_posix() not in listed]
    return VerifyReport(
        ok, changed, missing, unlisted, manifest=manifest_state,
        duplicate_probes=sorted(probe_repeats.repeated),
        duplicate_observations=sorted(observed_repeats.repeated),
        # In a crawl an observation id derives from its probe id: named once, as the probe.
        duplicate_observation_ids=[] if observed_repeats.repeated
        else sorted(observation_repeats.repeated),
        forced=forced_evaluations(manifest), sealed=bool(manifest.files))


def forced_evaluations(manifest: RunManifest) -> list[ForcedEvaluation]:
    """Every `evaluate --force` the manifest records (also those of hulian versions that
    recorded only a forced evaluation over a failed verification)."""
    evaluations = manifest.config.get("evaluations")
    found = []
    for entry in evaluations if isinstance(evaluations, list) else []:
        if not isinstance(entry, dict) or not (entry.get("forced")
                                               or entry.get("forced_despite")):
            continue
        despite = entry.get("forced_despite")
        previous = entry.get("previous_policy_digest")
        found.append(ForcedEvaluation(
            at=str(entry.get("at", "?")), policy_digest=str(entry.get("policy_digest", "?")),
            previous_policy_digest=str(previous) if previous else None,
            despite=_stored_problems(despite) if isinstance(despite, dict) else []))
    return found


def _stored_problems(stored: dict[str, object]) -> list[Problem]:
    problems = stored.get("problems")
    if isinstance(problems, list):
        return [(str(p[0]), str(p[1])) for p in problems
                if isinstance(p, list | tuple) and len(p) == 2]
    # Recorded by an older hulian: the file lists only.
    found: list[Problem] = []
    for kind in ("changed", "missing", "unlisted"):
        names = stored.get(kind)
        found += [(kind, str(name)) for name in names] if isinstance(names, list) else []
    return found


def json_line(record: BaseModel) -> bytes:
    """A record as a line of the bundle's JSON-lines files (every field, None as null)."""
    return record.model_dump_json(exclude_none=False).encode() + b"\n"


def json_string(text: str) -> str:
    """A text as json_line writes it in a record (pydantic's JSON of a string): for lines
    put together from a record serialised once with stand-ins (audit.judge.table_verdicts,
    audit.judge.cross)."""
    return to_json(text).decode()


# Verdicts being written: their JSON-lines file, and their table (columnar.ColumnarLog)
# written beside it in step.
VerdictSink = tuple[IO[bytes], Any]


@contextmanager
def verdicts_writing(lines: Path, run_id: str, *, parquet: Path | None = None
                     ) -> Iterator[VerdictSink]:
    """`lines` written afresh, with the verdicts table (`parquet`, by default beside it)
    written as the lines go: what a judge writes, a line and a row at a time or a batch of
    both, never all held. Both files are flushed to disk when the block ends; the lines go
    to it as they are written (gigabytes: audit.evidence.through)."""
    columnar = _columnar()
    with open_through(lines) as out:
        with columnar.ColumnarLog(lines, run_id, dest=parquet, table="verdicts") as table:
            yield out, table
        out.flush()
        os.fsync(out.fileno())


def lines_of(records: Iterable[BaseModel]) -> Callable[[VerdictSink], int]:
    """A `write` for rewrite_verdicts of records at hand: their lines and rows, and how
    many."""
    def write(sink: VerdictSink) -> int:
        out, table = sink
        written = 0
        for record in records:
            line = json_line(record)
            out.write(line)
            table.add(line)
            written += 1
        return written

    return write


def rewrite_verdicts(path: Path, write: Callable[[VerdictSink], int], policy_digest: str,
                     checked: VerifyReport | None = None, forced: bool = False) -> RunManifest:
    """Replace verdicts.jsonl (after `hulian evaluate`) and reseal the manifest, recording
    which policy set produced the verdicts and which one produced those they replace. A
    forced evaluation is recorded as such, with what failed verification (`checked`), because
    resealing would otherwise hide the alteration: verify shows every forced evaluation and
    fails a bundle resealed over a failed verification."""
    with bundle_lock(path, "evaluate"):
        manifest = read_manifest(path)
        evaluations = manifest.config.setdefault("evaluations", [])
        earlier = [e for e in evaluations if isinstance(e, dict)] \
            if isinstance(evaluations, list) else []
        previous_digest = (earlier[-1].get("policy_digest") if earlier
                           else manifest.policy_digest)
        previous_file = path / VERDICTS
        previous_sha = sha256_file(previous_file) if previous_file.is_file() else None
        tmp = path / (VERDICTS + ".tmp")
        table = path / (VERDICTS_TABLE + ".tmp")
        try:
            # `write` judges and writes the verdicts as they come (never all held), with
            # their table beside them, and says how many it wrote.
            with verdicts_writing(tmp, manifest.run_id, parquet=table) as sink:
                written = write(sink)
        except BaseException:  # judging failed midway: the bundle keeps its verdicts
            tmp.unlink(missing_ok=True)
            table.unlink(missing_ok=True)
            raise
        os.replace(tmp, path / VERDICTS)
        os.replace(table, path / VERDICTS_TABLE)
        if isinstance(evaluations, list):
            entry: dict[str, object] = {
                "at": datetime.now(UTC).isoformat(), "policy_digest": policy_digest,
                "previous_policy_digest": previous_digest,
                "previous_verdicts_sha256": previous_sha, "verdicts": written}
            if forced:
                entry["forced"] = True
                if checked is not None and not checked.intact:
                    entry["forced_despite"] = {
                        "changed": checked.changed, "missing": checked.missing,
                        "unlisted": checked.unlisted,
                        "problems": [list(p) for p in checked.problems()]}
            superseded = _attestations_of(path)
            if superseded:
                entry["superseded_attestations"] = superseded
            evaluations.append(entry)
        seal(path, manifest)
        # A signature or timestamp covers the manifest as it was sealed before: resealed, the
        # bundle is no longer what was signed. They are recorded above and removed, so the
        # bundle reads as unsigned (consistency only) until it is signed again.
        for name in ATTESTATIONS:
            (path / name).unlink(missing_ok=True)
        return manifest


def _attestations_of(path: Path) -> dict[str, object]:
    """What the signature and timestamp files said, for the evaluation history (read
    leniently: they are recorded, not judged)."""
    found: dict[str, object] = {}
    if (path / SIGNATURE).is_file():
        try:
            doc = json.loads((path / SIGNATURE).read_bytes())
        except ValueError:
            doc = None
        found[SIGNATURE] = ({k: doc.get(k) for k in ("fingerprint", "signed_at",
                                                     "manifest_digest")}
                            if isinstance(doc, dict) else {"unreadable": True})
    if (path / TIMESTAMP).is_file():
        found[TIMESTAMP] = {"sha256": sha256_file(path / TIMESTAMP)}
    return found


def require_verified(path: Path, allow_unverified: bool = False) -> list[Problem] | None:
    """The gate before a bundle is used as evidence (report, diff, graph, runs import):
    None when it verifies; its problems when it does not but the caller was
    told to go on (the caller then marks every output it writes with `banner`). Raises
    NotARun, or Unverified for a bundle that fails verification or cannot be read at all."""
    if not (path / MANIFEST).is_file():
        raise NotARun(f"{path}: not a run bundle (no {MANIFEST})")
    try:
        checked = verify(path)
    except BundleError as exc:
        raise Unverified(f"{path}: the bundle cannot be verified / 无法校验: {exc}",
                         [("manifest_unreadable", str(exc))]) from None
    if checked.intact:
        return None
    problems = checked.problems()
    if allow_unverified:
        return problems
    raise Unverified(f"{path}: the bundle fails verification / 未通过校验 ("
                     + "; ".join(describe(problems)) + f"); see `hulian verify {path}`. "
                     "--allow-unverified uses it anyway, marking every output as unverified",
                     problems)
