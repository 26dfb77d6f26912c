"""Who recorded a run: Ed25519 signing keys and the bundle's signature.json.

The manifest's hashes prove consistency only: whoever edits a file can recompute them. A
signature over the manifest's digest (which pins every file's sha256 and every manifest
field) proves that the holder of a private key sealed exactly this bundle; `hulian verify
--trust FINGERPRINT` then says whether that holder is the one the reader trusts.

The only module that imports cryptography's signing API (pyproject: banned-api). Keys are
PEM files (PKCS#8 private, SubjectPublicKeyInfo public); a key's fingerprint is the sha256
of its raw 32-byte public key, in hex.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from audit.errors import HulianError
from audit.evidence.bundle import SIGNATURE as SIGNATURE_FILE

SIGNATURE_FORMAT = "hulian-signature/1"
PRIVATE_NAME = "hulian-signing.key"
PUBLIC_NAME = "hulian-signing.pub"
PASSPHRASE_FILE_ENV = "HULIAN_SIGN_PASSPHRASE_FILE"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class SigningError(HulianError):
    """A key cannot be made, read or used; the message names the file and what to do."""


@dataclass(frozen=True)
class Signer:
    """A loaded private key, ready to sign; never written anywhere."""

    key: Ed25519PrivateKey
    path: Path

    @property
    def public_raw(self) -> bytes:
        return raw_public(self.key.public_key())

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.public_raw)


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()


def normalise_fingerprint(text: str) -> str | None:
    """A fingerprint as typed (any case, with or without a `sha256:` prefix, colons or
    spaces) in its stored form, or None if it is not one. The whole 64 hex digits: a prefix
    would let another key pass for the trusted one."""
    value = re.sub(r"[\s:]", "", text.strip().lower().removeprefix("sha256:"))
    return value if _HEX64.fullmatch(value) else None


def read_passphrase(path: Path) -> bytes:
    """The passphrase in a file: its first line, without the line end."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(f"{path}: cannot read the passphrase file ({exc.strerror})") from None
    passphrase = data.splitlines()[0] if data else b""
    if not passphrase:
        raise SigningError(f"{path}: the passphrase file is empty")
    return passphrase


# --- keys -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyFiles:
    private: Path
    public: Path
    fingerprint: str


def generate_key(out: Path, passphrase: bytes | None = None) -> KeyFiles:
    """Write a new Ed25519 key pair into `out`: hulian-signing.key (mode 0600, encrypted
    with the passphrase if one is given) and hulian-signing.pub. Refuses to replace an
    existing key; on any failure nothing is left behind."""
    private_path, public_path = out / PRIVATE_NAME, out / PUBLIC_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise SigningError(f"{path}: already exists; hulian never replaces a key "
                               "(choose another --out, or remove it yourself)")
    key = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase
        else serialization.NoEncryption())
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8, encryption)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_new(private_path, private_pem, 0o600)
        try:
            _write_new(public_path, public_pem, 0o644)
        except BaseException:
            private_path.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise SigningError(f"{out}: cannot write the key ({exc.strerror})") from None
    return KeyFiles(private_path, public_path, fingerprint_of(raw_public(key.public_key())))


def _write_new(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL: never through an existing file or symlink; the mode is set at creation, so the
    # private key is never readable by others, not even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    os.chmod(path, mode)  # the umask may have taken bits away from the public key's mode


def _read_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SigningError(f"{path}: no such key file") from None
    except IsADirectoryError:
        raise SigningError(f"{path}: is a directory, not a key file") from None
    except OSError as exc:
        raise SigningError(f"{path}: cannot read the key ({exc.strerror})") from None


def load_signer(path: Path, passphrase: bytes | None = None) -> Signer:
    """The private key in `path`, for signing; a clear error for a missing or unreadable
    file, a file that is not a private key, a key that is not Ed25519, a missing or wrong
    passphrase."""
    data = _read_key_file(path)
    if b"PRIVATE KEY-----" not in data:
        hint = (" (this is a public key: sign with the private one, hulian-signing.key)"
                if b"PUBLIC KEY-----" in data else "")
        raise SigningError(f"{path}: not a PEM private key{hint}")
    encrypted = b"ENCRYPTED PRIVATE KEY-----" in data
    if encrypted and passphrase is None:
        raise SigningError(f"{path}: the key is protected by a passphrase; give the file "
                           "that holds it (--passphrase-file; when signing a run "
                           f"--sign-passphrase-file or ${PASSPHRASE_FILE_ENV})")
    try:
        key = serialization.load_pem_private_key(data, passphrase)
    except TypeError:
        raise SigningError(f"{path}: the key is not protected by a passphrase; "
                           "do not give one") from None
    except (ValueError, UnsupportedAlgorithm):
        if encrypted:
            raise SigningError(f"{path}: wrong passphrase (or a damaged key file)") from None
        raise SigningError(f"{path}: not a readable PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: not an Ed25519 key (hulian signs with Ed25519; "
                           "make one with `hulian keys generate`)")
    return Signer(key, path)


def load_public(path: Path, passphrase: bytes | None = None) -> bytes:
    """The raw public key of a public key file, or of a private key file."""
    data = _read_key_file(path)
    if b"PUBLIC KEY-----" not in data:
        return load_signer(path, passphrase).public_raw
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise SigningError(f"{path}: not a readable PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{path}: not an Ed25519 public key")
    return raw_public(key)


def load_trusted(path: Path) -> set[str]:
    """A trusted-keys file: one fingerprint per line (anything after it on the line is a
    name for people), `#` comments, and PEM public keys (hulian-signing.pub) pasted whole."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningError(f"{path}: cannot read the trusted keys ({exc})") from None
    found: set[str] = set()
    pem: list[str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if pem is not None:
            pem.append(stripped)
            if stripped.startswith("-----END"):
                found.add(_pem_fingerprint(path, number, "\n".join(pem)))
                pem = None
            continue
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("-----BEGIN PUBLIC KEY"):
            pem = [stripped]
            continue
        value = normalise_fingerprint(stripped.split()[0])
        if value is None:
            raise SigningError(f"{path}:{number}: not a key fingerprint (64 hex digits, as "
                               f"`hulian keys show` prints) nor a PEM public key: "
                               f"{stripped[:40]!r}")
        found.add(value)
    if pem is not None:
        raise SigningError(f"{path}: a PEM public key is not closed (no -----END line)")
    if not found:
        raise SigningError(f"{path}: lists no trusted key")
    return found


def _pem_fingerprint(path: Path, line: int, pem: str) -> str:
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError):
        raise SigningError(f"{path}:{line}: not a readable PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{path}:{line}: not an Ed25519 public key")
    return fingerprint_of(raw_public(key))


# --- signatures -------------------------------------------------------------------------


def signed_message(digest: str, signed_at: str, purpose: str = SIGNATURE_FORMAT) -> bytes:
    """What is signed: what the signature is for (its format), the digest and the signing
    time, so that none of them can be edited, and a signature made for one purpose (a WACZ
    package) cannot pass for another (a run bundle)."""
    return f"{purpose}\n{digest}\n{signed_at}\n".encode("ascii")


def sign(signer: Signer, digest: str, now: datetime | None = None, *,
         purpose: str = SIGNATURE_FORMAT, field: str = "manifest_digest") -> dict[str, str]:
    """A signature document over a digest: signature.json over a bundle's manifest digest
    (the defaults), or another purpose's (`purpose` names the format, `field` the digest)."""
    signed_at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    signature = signer.key.sign(signed_message(digest, signed_at, purpose))
    return {"format": purpose, "algorithm": "Ed25519", field: digest, "signed_at": signed_at,
            "public_key": base64.b64encode(signer.public_raw).decode("ascii"),
            "fingerprint": signer.fingerprint,
            "signature": base64.b64encode(signature).decode("ascii")}


def write_signature(run: Path, document: Mapping[str, str]) -> Path:
    """signature.json, written whole or not at all."""
    target = run / SIGNATURE_FILE
    tmp = run / (SIGNATURE_FILE + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target


@dataclass(frozen=True)
class SignatureCheck:
    """What a signature.json proves about a bundle. state: valid | other_manifest |
    bad_signature | malformed | absent. trusted: None when no trust was asked for."""

    state: str
    fingerprint: str | None = None
    signed_at: str | None = None
    detail: str = ""
    trusted: bool | None = None

    @property
    def valid(self) -> bool:
        return self.state == "valid"


def check_signature(document: object, manifest_digest: str | None,
                    trusted: Iterable[str] | None = None, *, purpose: str = SIGNATURE_FORMAT,
                    field: str = "manifest_digest") -> SignatureCheck:
    """Judge a signature document (parsed JSON) against the bundle's manifest digest (or,
    with purpose/field, another digest): a pure function. `trusted`: the fingerprints the
    reader accepts (None: no trust asked for)."""
    trust = set(trusted) if trusted is not None else None
    if isinstance(document, str):  # read_signature's reason for a file that is not JSON
        return SignatureCheck("malformed", detail=document)
    fields = ("format", field, "signed_at", "public_key", "fingerprint", "signature")
    if not isinstance(document, dict) or not all(
            isinstance(document.get(k), str) for k in fields):
        missing = [k for k in fields if not isinstance(document, dict)
                   or not isinstance(document.get(k), str)]
        return SignatureCheck("malformed", detail=f"fields missing or not text: {missing}")
    doc: dict[str, str] = {k: document[k] for k in fields}
    if doc["format"] != purpose or document.get("algorithm", "Ed25519") != "Ed25519":
        return SignatureCheck("malformed", detail=f"unknown format {doc['format']!r}")
    try:
        public_raw = base64.b64decode(doc["public_key"], validate=True)
        signature = base64.b64decode(doc["signature"], validate=True)
        public = Ed25519PublicKey.from_public_bytes(public_raw)
    except (binascii.Error, ValueError):
        return SignatureCheck("malformed", detail="public_key or signature is not a base64 "
                                                  "Ed25519 value")
    fingerprint = fingerprint_of(public_raw)
    signed_at = doc["signed_at"]
    is_trusted = None if trust is None else fingerprint in trust
    if doc["fingerprint"] != fingerprint:
        return SignatureCheck("malformed", fingerprint, signed_at,
                              "the fingerprint does not belong to the public key", is_trusted)
    try:
        public.verify(signature, signed_message(doc[field], signed_at, purpose))
    except (InvalidSignature, UnicodeEncodeError):
        return SignatureCheck("bad_signature", fingerprint, signed_at,
                              "the signature does not verify (signature.json was edited)",
                              is_trusted)
    if doc[field] != manifest_digest:
        return SignatureCheck("other_manifest", fingerprint, signed_at,
                              f"signed {field} {doc[field][:16]}…, the bundle's "
                              f"is {(manifest_digest or '–')[:16]}…", is_trusted)
    return SignatureCheck("valid", fingerprint, signed_at, "", is_trusted)


def read_signature(run: Path) -> object | None:
    """The parsed signature.json of a bundle; None if there is none; a string (the reason)
    if it is not JSON, which check_signature judges malformed."""
    path = run / SIGNATURE_FILE
    if not path.is_file():
        return None
    try:
        document: object = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        return f"not JSON: {exc}"
    return document


# --- WACZ signatures (the WACZ signing specification's anonymous profile) -----------------
#
# The specification (Webrecorder, "WACZ Signing and Verification" 0.1.0) signs the hash
# string in datapackage-digest.json with ECDSA P-384 over SHA-256; `signedData` carries the
# hash, the creation time (equal to datapackage.json's `created`), the software, the
# signature (base64 of r||s, WebCrypto's form) and the public key (base64 SubjectPublicKeyInfo
# DER). ReplayWeb.page's verifier (wabac.js verifyWACZSignature) accepts exactly that.
#
# hulian's keys are Ed25519, which the specification does not allow. Rather than a second key
# file to keep, protect and trust, the P-384 key is derived from the Ed25519 private key by
# HKDF (its own info label, so neither key reveals the other); hulian then binds the two by
# naming the P-384 public key inside datapackage.json, whose hash the Ed25519 key signs too.

WACZ_SPEC_SOFTWARE = "hulian"
_P384_ORDER = int("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
                  "581a0db248b0a77aecec196accc52973", 16)
_P384_BYTES = 48


def wacz_key(signer: Signer) -> ec.EllipticCurvePrivateKey:
    """The ECDSA P-384 key of a hulian key, for WACZ's signedData: derived, deterministic."""
    seed = signer.key.private_bytes(serialization.Encoding.Raw,
                                    serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
    # 64 bytes reduced mod n-1, plus 1: uniform in [1, n-1] up to a 2^-128 bias.
    material = HKDF(hashes.SHA384(), 64, salt=None,
                    info=b"hulian wacz-signing ECDSA P-384/1").derive(seed)
    return ec.derive_private_key(int.from_bytes(material, "big") % (_P384_ORDER - 1) + 1,
                                 ec.SECP384R1())


def wacz_public_key(signer: Signer) -> str:
    """The derived P-384 public key as signedData names it (base64 SPKI DER)."""
    spki = wacz_key(signer).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(spki).decode("ascii")


def sign_wacz(signer: Signer, package_hash: str, created: str) -> dict[str, str]:
    """signedData for datapackage-digest.json: the WACZ specification's anonymous signature
    over the datapackage hash string."""
    der = wacz_key(signer).sign(package_hash.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(_P384_BYTES, "big") + s.to_bytes(_P384_BYTES, "big")
    return {"hash": package_hash, "created": created, "software": WACZ_SPEC_SOFTWARE,
            "signature": base64.b64encode(raw).decode("ascii"),
            "publicKey": wacz_public_key(signer)}


def check_wacz_signed_data(signed: object, package_hash: str, created: object) -> str | None:
    """Judge signedData against the package's datapackage hash and `created`, as the
    specification's verifier does: None when it holds, else what is wrong."""
    fields = ("hash", "created", "signature", "publicKey")
    if not isinstance(signed, dict) or not all(isinstance(signed.get(k), str) for k in fields):
        return f"signedData lacks {', '.join(fields)} as text"
    if signed["hash"] != package_hash:
        return "signedData signs another datapackage.json"
    if signed["created"] != created:
        return "signedData's created differs from datapackage.json's"
    try:
        public = serialization.load_der_public_key(
            base64.b64decode(signed["publicKey"], validate=True))
        raw = base64.b64decode(signed["signature"], validate=True)
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        return "signedData's publicKey or signature is not base64 DER"
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp384r1" \
            or len(raw) != 2 * _P384_BYTES:
        return "signedData's key is not ECDSA P-384 (the specification's anonymous profile)"
    der = encode_dss_signature(int.from_bytes(raw[:_P384_BYTES], "big"),
                               int.from_bytes(raw[_P384_BYTES:], "big"))
    try:
        public.verify(der, signed["hash"].encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, UnicodeEncodeError):
        return "signedData's signature does not verify"
    return None
