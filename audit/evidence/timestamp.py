"""When a run existed: RFC 3161 trusted timestamps over a bundle's manifest digest.

A time-stamping authority (TSA) signs "this digest existed at time T". The digest stamped is
the manifest's own (audit/evidence/bundle.manifest_digest: the sha256 of the canonical
manifest, which pins every file's hash), so the token can also be checked without hulian:
`openssl ts -verify -digest <manifest_digest> -in timestamp.tsr -CAfile tsa-ca.pem`.

The only module that imports rfc3161-client (pyproject: banned-api). The request goes out by
HTTP POST (RFC 3161 §3.4) through the standard library; the answer is checked (status,
nonce, message imprint) before it is stored, and stored as received (timestamp.tsr, a DER
TimeStampResp, what `openssl ts -reply` writes).
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from audit.errors import HulianError

# A TimeStampResp is a few KB (the token and the TSA's certificates); a TSA that sends more is
# not answering the question.
MAX_RESPONSE = 1 << 20


class TimestampError(HulianError):
    """The TSA cannot be reached, refused, or answered something that is not a token for
    the digest asked about; or a certificate file cannot be read."""


def check_tsa_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise TimestampError(f"--tsa {url!r}: a time-stamping authority is an http:// or "
                             "https:// URL")
    return url


def request_token(canonical_manifest: bytes, tsa_url: str, *, timeout: float = 30.0) -> bytes:
    """Ask the TSA for a token over sha256(canonical_manifest) (= the manifest digest) and
    return its answer, checked: granted, our nonce, our digest."""
    check_tsa_url(tsa_url)
    request = (TimestampRequestBuilder().data(canonical_manifest)
               .hash_algorithm(HashAlgorithm.SHA256).nonce(nonce=True)
               .cert_request(cert_request=True).build())
    http = urllib.request.Request(
        tsa_url, data=request.as_bytes(), method="POST",
        headers={"Content-Type": "application/timestamp-query",
                 "Accept": "application/timestamp-reply"})
    try:
        # The URL is the user's own choice of TSA (never a page's): plain urllib is right.
        with urllib.request.urlopen(http, timeout=timeout) as answer:
            body: bytes = answer.read(MAX_RESPONSE + 1)
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the connection
        raise TimestampError(f"{tsa_url}: the time-stamping authority answered HTTP "
                             f"{exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TimestampError(f"{tsa_url}: the time-stamping authority cannot be reached "
                             f"({reason})") from None
    if len(body) > MAX_RESPONSE:
        raise TimestampError(f"{tsa_url}: the answer is larger than {MAX_RESPONSE} bytes; "
                             "not a timestamp")
    response = _decode(body, tsa_url)
    if PKIStatus(response.status) not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        text = "; ".join(response.status_string) or "no reason given"
        raise TimestampError(f"{tsa_url}: the time-stamping authority refused "
                             f"(status {response.status}: {text})")
    if response.tst_info.nonce != request.nonce:
        raise TimestampError(f"{tsa_url}: the token answers another request (nonce differs)")
    if response.tst_info.message_imprint.message != hashlib.sha256(canonical_manifest).digest():
        raise TimestampError(f"{tsa_url}: the token is for another digest than the one sent")
    return body


def _decode(body: bytes, source: str) -> TimeStampResponse:
    try:
        response = decode_timestamp_response(body)
        response.tst_info  # noqa: B018 - the token itself must parse, not only the envelope
    except (ValueError, TypeError) as exc:
        raise TimestampError(f"{source}: not an RFC 3161 timestamp response ({exc})") from None
    return response


def load_certificates(path: Path) -> list[x509.Certificate]:
    """The certificates in a PEM (or single DER) file: the TSA's CA, or its own cert."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TimestampError(f"{path}: cannot read the TSA certificate ({exc.strerror})"
                             ) from None
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise TimestampError(f"{path}: not a PEM or DER X.509 certificate") from None


@dataclass(frozen=True)
class TimestampCheck:
    """What a timestamp token proves. state: valid (the TSA's signature checked against the
    given certificates) | unchecked (read, but no certificate given to check it with) |
    other_manifest (a token over another digest) | bad_token (not a token, or its signature
    fails) | absent."""

    state: str
    time: datetime | None = None
    tsa: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state in ("valid", "unchecked")


def check_token(data: bytes, manifest_digest: str | None,
                roots: list[x509.Certificate] | None = None) -> TimestampCheck:
    """Judge a stored token against the bundle's manifest digest; with `roots` (the TSA's
    CA or its certificate) also the TSA's signature and certificate chain."""
    try:
        response = _decode(data, "timestamp.tsr")
        info = response.tst_info
    except TimestampError as exc:
        return TimestampCheck("bad_token", detail=str(exc))
    when, tsa = info.gen_time, _tsa_name(response)
    if manifest_digest is None or info.message_imprint.message.hex() != manifest_digest:
        return TimestampCheck("other_manifest", when, tsa,
                              f"stamped digest {info.message_imprint.message.hex()[:16]}…")
    if not roots:
        return TimestampCheck("unchecked", when, tsa, "no TSA certificate given "
                              "(--tsa-cert): the time is the token's claim")
    builder = VerifierBuilder()
    for cert in roots:
        builder = builder.add_root_certificate(cert)
    try:
        builder.build().verify(response, bytes.fromhex(manifest_digest))
    except (VerificationError, ValueError) as exc:
        return TimestampCheck("bad_token", when, tsa, f"the TSA's signature does not verify "
                                                      f"with the given certificate ({exc})")
    return TimestampCheck("valid", when, tsa)


def _tsa_name(response: TimeStampResponse) -> str | None:
    """The signing certificate's subject, else the name the token gives (or None)."""
    try:
        signer = next(iter(response.signed_data.signer_infos))
        for der in response.signed_data.certificates:
            cert = x509.load_der_x509_certificate(der)
            if cert.issuer == signer.issuer and cert.serial_number == signer.serial_number:
                return cert.subject.rfc4514_string()
    except (StopIteration, ValueError):
        pass
    try:
        name = response.tst_info.name
    except ValueError:
        return None
    return str(getattr(name, "value", name)) if name is not None else None
