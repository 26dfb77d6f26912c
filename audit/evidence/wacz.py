"""A run's evidence as a WACZ package (Webrecorder's format: ReplayWeb.page, browsertrix and
pywb open it): the bundle's WARCs with their CDXJ index, pages.jsonl (each probe's start
and final page) and datapackage.json, made by py-wacz (`wacz create`), the only module that
imports it (pyproject: banned-api).

hulian then adds the bundle's chain of custody to the package: hulian/manifest.json (which
lists the sha256 of each WARC, the very bytes under archive/), signature.json and
timestamp.tsr when the bundle has them, and a `hulian` entry in datapackage.json with the
run id and manifest digest; datapackage-digest.json is recomputed over the result.

Signing (with a key): datapackage-digest.json gets the WACZ signing specification's
`signedData` (its anonymous profile: ECDSA P-384 over the datapackage hash, which
ReplayWeb.page's verifier checks; py-wacz itself can sign only through a remote authsign
server), made with a P-384 key derived from the hulian key (audit/evidence/signing.py says
how), and `hulianSignature`, the Ed25519 signature over the same hash that ties the package
to the fingerprint a reader trusts. datapackage.json names the P-384 public key
(hulian.wacz_public_key), so the Ed25519 signature covers which spec key signed.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import json
import os
import shutil
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from wacz.main import main as wacz_main

from audit.errors import HulianError
from audit.evidence.bundle import (
    MANIFEST,
    SIGNATURE,
    TIMESTAMP,
    Bundle,
    manifest_digest,
    read_manifest,
)
from audit.evidence.signing import (
    SignatureCheck,
    Signer,
    check_signature,
    check_wacz_signed_data,
    sign,
    sign_wacz,
    wacz_public_key,
)

WACZ_SIGNATURE_FORMAT = "hulian-wacz-signature/1"
DATAPACKAGE = "datapackage.json"
DATAPACKAGE_DIGEST = "datapackage-digest.json"
CUSTODY_DIR = "hulian"


class WaczError(HulianError):
    """The bundle cannot be packaged (no WARC evidence, py-wacz refused, the file cannot be
    written); nothing is left at the output path."""


@dataclass(frozen=True)
class WaczExport:
    path: Path
    warcs: list[str]
    pages: int
    manifest_digest: str
    signed_by: str | None


def pages_of(run: Path) -> list[dict[str, str]]:
    """One page per distinct URL a probe started at or ended on, in the order measured (a
    title naming the probe). py-wacz keeps those it finds in the WARCs."""
    seen: set[str] = set()
    pages: list[dict[str, str]] = []
    for observation in Bundle(run).observations():
        label = (f"{observation.source} {observation.surface.value} → "
                 f"{observation.target_platform or '?'}: {observation.outcome.value}")
        start = observation.hops[0].url if observation.hops else None
        for url, role in ((start, "start 起点"), (observation.final_url, "final 终点")):
            if url and url not in seen:
                seen.add(url)
                pages.append({"url": url, "title": f"{label} ({role})"})
    return pages


def export_wacz(run: Path, out: Path, *, signer: Signer | None = None) -> WaczExport:
    """Package a (verified) run bundle as OUT.wacz, written whole or not at all."""
    manifest = read_manifest(run)
    digest = manifest_digest(json.loads((run / MANIFEST).read_bytes()))
    evidence = run / "evidence"
    warcs = sorted(p for p in evidence.glob("*") if p.name.endswith((".warc", ".warc.gz"))
                   ) if evidence.is_dir() else []
    if not warcs:
        raise WaczError(f"{run}: no WARC evidence (evidence/*.warc.gz) to package")
    pages = pages_of(run)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".wacz-", dir=out.parent) as tmp:
        work = Path(tmp)
        pages_file = work / "pages.jsonl"
        with pages_file.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps({"format": "json-pages-1.0", "id": "pages",
                                 "title": f"hulian run {manifest.run_id}"}) + "\n")
            for page in pages:
                fh.write(json.dumps(page, ensure_ascii=False) + "\n")
        raw = work / "raw.wacz"
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log):  # py-wacz reports progress with print()
                status = wacz_main([
                    "create", "-o", str(raw), "--pages", str(pages_file),
                    "--title", f"hulian run {manifest.run_id}",
                    "--desc", f"hulian {manifest.tool_version} run bundle {manifest.run_id}; "
                              f"manifest sha256 {digest}", *map(str, warcs)])
        except Exception as exc:  # py-wacz raises what its readers raise (a bad WARC ...)
            raise WaczError(f"{run}: py-wacz could not package the WARCs ({exc})") from None
        if status != 0 or not raw.is_file():
            raise WaczError(f"{run}: py-wacz refused: {log.getvalue().strip()[-300:]}")
        final = work / "final.wacz"
        packed_pages = _finish(raw, final, run, manifest.run_id, digest, signer)
        try:
            os.replace(final, out)
        except OSError as exc:
            raise WaczError(f"{out}: cannot write ({exc.strerror})") from None
    return WaczExport(out, [p.name for p in warcs], packed_pages, digest,
                      signer.fingerprint if signer else None)


def _finish(raw: Path, final: Path, run: Path, run_id: str, digest: str,
            signer: Signer | None) -> int:
    """Copy py-wacz's package, add the custody files, and write datapackage.json and
    datapackage-digest.json anew. Returns the number of pages packaged."""
    custody = [(f"{CUSTODY_DIR}/{name}", run / name)
               for name in (MANIFEST, SIGNATURE, TIMESTAMP) if (run / name).is_file()]
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(final, "w") as target:
        package = json.loads(source.read(DATAPACKAGE))
        # The header line is not a page.
        pages = (source.read("pages/pages.jsonl").count(b"\n") - 1
                 if "pages/pages.jsonl" in source.namelist() else 0)
        for info in source.infolist():
            if info.filename in (DATAPACKAGE, DATAPACKAGE_DIGEST):
                continue
            # Streamed, each entry with its own compression: the WACZ spec wants archive/ and
            # the index stored, so replay can read ranges of them.
            # A new ZipInfo: writing through the source's would move its offsets.
            entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            entry.compress_type, entry.external_attr = info.compress_type, info.external_attr
            # The size known up front: zipfile then writes a ZIP64 local header only for an
            # entry that needs one. A forced one gives small entries a local extra field
            # their central directory entry lacks, and ReplayWeb.page (wabac.js) takes a
            # central entry without extra to mean a local header without one: it read every
            # entry 20 bytes early and could not load the package.
            entry.file_size = info.file_size
            with source.open(info) as src, target.open(entry, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        for name, path in custody:
            data = path.read_bytes()
            target.writestr(zipfile.ZipInfo(name, date_time=_zip_time(path)), data,
                            compress_type=zipfile.ZIP_DEFLATED)
            package["resources"].append({
                "name": Path(name).name, "path": name,
                "hash": "sha256:" + hashlib.sha256(data).hexdigest(), "bytes": len(data)})
        document = _signature_doc(run)
        package[CUSTODY_DIR] = {
            "run_id": run_id, "manifest_digest": digest, "manifest": f"{CUSTODY_DIR}/{MANIFEST}",
            "signed_by": document.get("fingerprint") if document else None,
            "verify": "the WARCs under archive/ are the files the manifest lists (sha256); "
                      "`hulian verify` on the run bundle, or check hulian/signature.json over "
                      "the manifest digest"}
        created = package.get("created")
        if signer is not None:
            if not isinstance(created, str):
                raise WaczError(f"{run}: py-wacz wrote no `created` time; the WACZ signature "
                                "must carry it")
            package[CUSTODY_DIR]["wacz_public_key"] = wacz_public_key(signer)
        package_bytes = json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")
        target.writestr(zipfile.ZipInfo(DATAPACKAGE, date_time=_now()), package_bytes,
                        compress_type=zipfile.ZIP_DEFLATED)
        package_hash = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
        digest_doc: dict[str, object] = {"path": DATAPACKAGE, "hash": package_hash}
        if signer is not None and isinstance(created, str):
            digest_doc["signedData"] = sign_wacz(signer, package_hash, created)
            digest_doc["hulianSignature"] = sign(signer, package_hash,
                                                 purpose=WACZ_SIGNATURE_FORMAT,
                                                 field="datapackage_hash")
        target.writestr(zipfile.ZipInfo(DATAPACKAGE_DIGEST, date_time=_now()),
                        json.dumps(digest_doc, indent=2).encode("utf-8"),
                        compress_type=zipfile.ZIP_DEFLATED)
    return max(pages, 0)


def _signature_doc(run: Path) -> dict[str, object] | None:
    try:
        document = json.loads((run / SIGNATURE).read_bytes())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _zip_time(path: Path) -> tuple[int, int, int, int, int, int]:
    t = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return (max(t.year, 1980), t.month, t.day, t.hour, t.minute, t.second)


def _now() -> tuple[int, int, int, int, int, int]:
    t = datetime.now(UTC)
    return (t.year, t.month, t.day, t.hour, t.minute, t.second)


def check_wacz_signature(wacz: Path, trusted: set[str] | None = None) -> SignatureCheck:
    """The signatures of a WACZ package, judged against its datapackage.json: hulian's Ed25519
    signature (who, against `trusted`) and the WACZ specification's signedData (made by the
    P-384 key datapackage.json names). State absent without a hulian signature."""
    with zipfile.ZipFile(wacz) as package:
        data = package.read(DATAPACKAGE)
        digest_doc = json.loads(package.read(DATAPACKAGE_DIGEST))
    if not isinstance(digest_doc, dict) or digest_doc.get("hulianSignature") is None:
        return SignatureCheck("absent")
    package_hash = "sha256:" + hashlib.sha256(data).hexdigest()
    check = check_signature(digest_doc["hulianSignature"], package_hash, trusted,
                            purpose=WACZ_SIGNATURE_FORMAT, field="datapackage_hash")
    if not check.valid:
        return check
    try:
        datapackage = json.loads(data)
    except ValueError:
        datapackage = {}
    custody = datapackage.get(CUSTODY_DIR) if isinstance(datapackage, dict) else None
    named_key = custody.get("wacz_public_key") if isinstance(custody, dict) else None
    signed = digest_doc.get("signedData")
    problem = (check_wacz_signed_data(signed, package_hash, datapackage.get("created"))
               if signed is not None else "no signedData (the WACZ specification's signature)")
    if problem is None and isinstance(signed, dict) and signed.get("publicKey") != named_key:
        problem = "signedData's key is not the one datapackage.json names"
    if problem is None:
        return check
    return SignatureCheck("bad_signature", check.fingerprint, check.signed_at, problem,
                          check.trusted)


def validate(wacz: Path) -> tuple[bool, str]:
    """py-wacz's own validator (`wacz validate -f FILE`): (valid, what it printed)."""
    log = io.StringIO()
    # py-wacz's validator (and frictionless under it) leaves files and its temporary directory
    # to the garbage collector: their ResourceWarnings are theirs, not this package's.
    with contextlib.redirect_stdout(log), warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        status = wacz_main(["validate", "-f", str(wacz)])
        gc.collect()
    return status == 0, log.getvalue()
