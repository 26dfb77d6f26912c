"""A bundle's chain of custody: sign and timestamp it at the seal (or later), and say what
each check of `hulian verify` proves.

- file hashes (manifest.json): consistency — the files are those the manifest lists;
  whoever edits a file can recompute the manifest, so they prove nothing more;
- signature.json: origin — the holder of a private key sealed exactly this manifest (and,
  with --trust, that holder is one the reader trusts);
- timestamp.tsr: time — a time-stamping authority saw this manifest's digest at a time
  (checked against the TSA's certificate).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from audit.errors import HulianError
from audit.evidence.bundle import (
    MANIFEST,
    SIGNATURE,
    TIMESTAMP,
    BundleError,
    canonical_manifest,
    manifest_digest,
    read_manifest,
)
from audit.evidence.lock import bundle_lock
from audit.evidence.signing import (
    SignatureCheck,
    Signer,
    check_signature,
    read_signature,
    sign,
    write_signature,
)
from audit.evidence.timestamp import (
    TimestampCheck,
    TimestampError,
    check_token,
    load_certificates,
    request_token,
)

# `hulian verify`: the bundle is consistent and every attestation present holds, but what
# the reader required (--trust, --trusted-keys, --tsa-cert) is not there: unsigned, signed by
# another key, or not timestamped.
EXIT_NOT_ESTABLISHED = 10


def _sealed_digest(run: Path) -> tuple[str, bytes]:
    """The manifest's digest and the canonical bytes it is the sha256 of, as on disk."""
    read_manifest(run)  # a clear error for a path that is no bundle, or a broken manifest
    fields = json.loads((run / MANIFEST).read_bytes())
    if not fields.get("files"):
        raise BundleError(f"{run}: the run was never sealed (no files in its manifest); "
                          "finish it first (`hulian run --resume`)")
    return manifest_digest(fields), canonical_manifest(fields)


def sign_bundle(run: Path, signer: Signer) -> dict[str, str]:
    """Write signature.json over the sealed manifest's digest."""
    digest, _ = _sealed_digest(run)
    document = sign(signer, digest)
    write_signature(run, document)
    return document


def timestamp_bundle(run: Path, tsa_url: str, *, timeout: float = 30.0) -> TimestampCheck:
    """Ask the TSA for a token over the sealed manifest's digest and store it
    (timestamp.tsr, written whole or not at all). An existing token is kept: the earliest
    time is the one worth having."""
    if (run / TIMESTAMP).exists():
        raise TimestampError(f"{run / TIMESTAMP}: the bundle is timestamped already; "
                             "hulian keeps the earliest token")
    digest, canonical = _sealed_digest(run)
    token = request_token(canonical, tsa_url, timeout=timeout)
    tmp = run / (TIMESTAMP + ".tmp")
    tmp.write_bytes(token)
    os.replace(tmp, run / TIMESTAMP)
    return check_token(token, digest)


class CustodyError(HulianError):
    """The run was measured, judged and sealed, but an attestation could not be made."""


def attest_sealed_run(run: Path, signer: Signer | None, tsa_url: str | None) -> list[str]:
    """Sign and/or timestamp a run just sealed (under its writer lock). Returns the lines to
    announce; raises CustodyError, naming what is in the bundle and how to finish, if the
    TSA fails (the signature, already written, stands)."""
    lines: list[str] = []
    if signer is not None:
        document = sign_bundle(run, signer)
        lines.append(f"signed 已签名: {run / SIGNATURE} (key 密钥 {document['fingerprint']})")
    if tsa_url is not None:
        try:
            check = timestamp_bundle(run, tsa_url)
        except TimestampError as exc:
            raise CustodyError(
                f"{exc}. The run is complete and sealed{' and signed' if signer else ''} "
                f"in {run}, without a timestamp; add one later with `hulian timestamp {run} "
                f"--tsa URL` / 运行已完成并封存，但未加时间戳") from None
        lines.append(f"timestamped 已加时间戳: {run / TIMESTAMP} "
                     f"({check.time.isoformat() if check.time else '?'}, {check.tsa or '?'})")
    return lines


def timestamp_later(run: Path, tsa_url: str, *, timeout: float = 30.0) -> TimestampCheck:
    """`hulian timestamp RUN`: only a bundle that verifies is stamped (stamping an altered
    bundle would date the alteration)."""
    from audit.evidence.bundle import describe, verify

    with bundle_lock(run, "timestamp"):
        checked = verify(run)
        if not checked.intact:
            raise BundleError(f"{run}: the bundle fails verification ("
                              + "; ".join(describe(checked.problems()))
                              + f"); see `hulian verify {run}`; it is not timestamped")
        return timestamp_bundle(run, tsa_url, timeout=timeout)


@dataclass(frozen=True)
class Custody:
    """The attestations of a bundle, judged: what `hulian verify` adds to the hashes."""

    digest: str | None
    signature: SignatureCheck
    timestamp: TimestampCheck
    trust_asked: bool = False
    time_asked: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def broken(self) -> bool:
        """An attestation is present and fails: the bundle is not what was signed or
        stamped (or the file was edited)."""
        return (self.signature.state not in ("valid", "absent")
                or self.timestamp.state not in ("valid", "unchecked", "absent"))

    @property
    def established(self) -> bool:
        """What the reader asked for holds: a trusted signer, a checked timestamp."""
        origin = not self.trust_asked or (self.signature.valid and bool(self.signature.trusted))
        time = not self.time_asked or self.timestamp.state == "valid"
        return origin and time

    def lines(self) -> list[tuple[str, str, str]]:
        """(check, state, what it proves) for the terminal."""
        sig, ts = self.signature, self.timestamp
        rows: list[tuple[str, str, str]] = []
        if sig.state == "absent":
            rows.append(("origin 来源", "unsigned 未签名",
                         "unsigned: consistency only 仅证明一致性 (no signature.json)"))
        elif sig.valid:
            trust = ("" if sig.trusted is None else
                     ", a trusted key 可信密钥" if sig.trusted else
                     ", NOT a trusted key 非可信密钥")
            rows.append(("origin 来源", "signed 已签名",
                         f"key {sig.fingerprint} sealed exactly this manifest at "
                         f"{sig.signed_at}{trust}"
                         + ("" if sig.trusted is not None else
                            "; pass --trust FINGERPRINT to require this signer")))
        else:
            rows.append(("origin 来源", f"FAILS 不成立 ({sig.state})", sig.detail))
        if ts.state == "absent":
            rows.append(("time 时间", "not timestamped 无时间戳", "no timestamp.tsr"))
        elif ts.state == "valid":
            rows.append(("time 时间", "timestamped 已加时间戳",
                         f"the manifest existed by {_when(ts)} (TSA {ts.tsa}, its signature "
                         "checked against the given certificate)"))
        elif ts.state == "unchecked":
            rows.append(("time 时间", "timestamp not checked 未校验",
                         f"the token says {_when(ts)} (TSA {ts.tsa}); pass --tsa-cert FILE to "
                         "check the TSA's signature"))
        else:
            rows.append(("time 时间", f"FAILS 不成立 ({ts.state})", ts.detail))
        return rows

    def as_dict(self) -> dict[str, object]:
        return {"manifest_digest": self.digest, "broken": self.broken,
                "established": self.established,
                "signature": {"state": self.signature.state,
                              "fingerprint": self.signature.fingerprint,
                              "signed_at": self.signature.signed_at,
                              "trusted": self.signature.trusted,
                              "detail": self.signature.detail},
                "timestamp": {"state": self.timestamp.state,
                              "time": _when(self.timestamp) if self.timestamp.time else None,
                              "tsa": self.timestamp.tsa, "detail": self.timestamp.detail}}


def _when(check: TimestampCheck) -> str:
    return check.time.isoformat() if check.time else "?"


def check_custody(run: Path, *, trusted: Iterable[str] | None = None,
                  tsa_certs: Iterable[Path] = ()) -> Custody:
    """Judge signature.json and timestamp.tsr against the manifest as it is on disk.
    trusted: fingerprints the reader accepts (None: no trust asked); tsa_certs: certificate
    files to check the TSA's signature with."""
    try:
        digest: str | None = manifest_digest(json.loads((run / MANIFEST).read_bytes()))
    except (OSError, ValueError, AttributeError):
        digest = None
    document = read_signature(run)
    signature = (SignatureCheck("absent") if document is None
                 else check_signature(document, digest, trusted))
    certs = [cert for path in tsa_certs for cert in load_certificates(path)]
    token = run / TIMESTAMP
    timestamp = (check_token(token.read_bytes(), digest, certs) if token.is_file()
                 else TimestampCheck("absent"))
    return Custody(digest, signature, timestamp, trust_asked=trusted is not None,
                   time_asked=bool(certs))
